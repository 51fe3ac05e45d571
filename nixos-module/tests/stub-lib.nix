# A small stand-in for the parts of nixpkgs' `lib` that the wyoming-rs module uses, plus a miniature of
# the module system (`evalModules`), so that CI can evaluate the module with `nix-instantiate --eval`
# without a nixpkgs checkout and without fetching anything.
#
# What it implements: options with defaults, `apply`, `readOnly` and type checks; submodules (with
# `name` and their own `config`), attrsOf/listOf/nullOr/either/enum/strMatching and the scalar types;
# `mkIf` and `mkMerge` anywhere, pushed down lazily as the real module system does; merging of
# definitions from several modules (attribute sets recursively, lists concatenated, other values must
# agree); `imports`; an error for an undeclared option under a declared namespace (a typo in
# services.wyoming-rs.*), while paths nobody here declares (systemd.services, networking.firewall,
# assertions) are merged freely. What it does not: priorities (mkDefault, mkForce, mkOverride), mkOrder,
# option documentation, and the real NixOS option types of systemd units (see the README).
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    genList
    hasAttr
    head
    isAttrs
    isBool
    isFloat
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    map
    match
    replaceStrings
    stringLength
    substring
    toJSON
    ;

  showPath = path: concatStringsSep "." path;

  lib = rec {
    inherit (builtins)
      attrNames
      attrValues
      concatLists
      concatStringsSep
      elem
      filter
      foldl'
      head
      isAttrs
      isList
      isString
      length
      listToAttrs
      mapAttrs
      toJSON
      ;

    # ---- lists, attribute sets, strings ------------------------------------------------------------------
    last = list: builtins.elemAt list (length list - 1);
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: set: if cond then set else { };
    optionalString = cond: s: if cond then s else "";
    concatMap = f: list: concatLists (map f list);
    concatMapStrings = f: list: concatStringsSep "" (map f list);
    concatMapStringsSep =
      sep: f: list:
      concatStringsSep sep (map f list);
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
    mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
    filterAttrs =
      pred: set:
      listToAttrs (
        concatMap (n: if pred n set.${n} then [ (nameValuePair n set.${n}) ] else [ ]) (attrNames set)
      );
    recursiveUpdate =
      lhs: rhs:
      lhs
      // builtins.mapAttrs (
        n: v: if isAttrs v && isAttrs (lhs.${n} or null) then recursiveUpdate lhs.${n} v else v
      ) rhs;
    hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
    toInt =
      s:
      let
        n = builtins.fromJSON s;
      in
      if match "[0-9]+" s != null && isInt n then n else throw "toInt: ${s} is not a decimal integer";
    # As nixpkgs: safe characters unquoted, everything else in single quotes.
    escapeShellArg =
      arg:
      let
        s = toString arg;
      in
      if match "[[:alnum:],._+:@%/-]+" s == null then "'${replaceStrings [ "'" ] [ "'\\''" ] s}'" else s;
    escapeShellArgs = concatMapStringsSep " " escapeShellArg;
    makeLibraryPath = paths: concatStringsSep ":" (map (p: "${getLib p}/lib") paths);
    getLib = p: p.lib or p;
    getDev = p: p.dev or p;
    assertMsg = pred: msg: pred || throw msg;
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    fileset = {
      toSource = { root, fileset }: "/nix/store/00000000000000000000000000000000-source";
      unions = list: list;
      difference = a: b: a;
      maybeMissing = p: p;
    };
    licenses = {
      mit = "MIT";
      asl20 = "Apache-2.0";
      gpl3Plus = "GPL-3.0-or-later";
    };

    # ---- options and properties ----------------------------------------------------------------------------
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = "Whether to enable ${name}.";
      };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };

    types =
      let
        scalar = name: check: { inherit name check; };
      in
      rec {
        bool = scalar "bool" isBool;
        str = scalar "str" isString;
        int = scalar "int" isInt;
        float = scalar "float" isFloat;
        number = scalar "number" (v: isInt v || isFloat v);
        port = scalar "port" (v: isInt v && v >= 0 && v <= 65535);
        path = scalar "path" (v: isPath v || (isString v && hasPrefix "/" v));
        package = scalar "package" (v: isAttrs v && v ? outPath);
        anything = {
          name = "anything";
          check = _: true;
          merge = "free";
        };
        attrs = anything // {
          name = "attrs";
          check = isAttrs;
        };
        ints = {
          unsigned = scalar "ints.unsigned" (v: isInt v && v >= 0);
          positive = scalar "ints.positive" (v: isInt v && v > 0);
          between = lo: hi: scalar "ints.between" (v: isInt v && v >= lo && v <= hi);
        };
        enum = values: scalar "one of ${toJSON values}" (v: elem v values);
        strMatching = re: scalar "string matching ${re}" (v: isString v && match re v != null);
        nullOr = elemType: {
          name = "null or ${elemType.name}";
          check = v: v == null || elemType.check v;
          nested = "nullOr";
          inherit elemType;
        };
        either = a: b: {
          name = "${a.name} or ${b.name}";
          check = v: a.check v || b.check v;
          nested = "either";
          alternatives = [
            a
            b
          ];
        };
        listOf = elemType: {
          name = "list of ${elemType.name}";
          check = isList;
          nested = "listOf";
          inherit elemType;
        };
        attrsOf = elemType: {
          name = "attribute set of ${elemType.name}";
          check = isAttrs;
          nested = "attrsOf";
          inherit elemType;
        };
        submodule = module: {
          name = "submodule";
          check = isAttrs;
          nested = "submodule";
          inherit module;
        };
      };
  };

  # ---- the miniature module system -------------------------------------------------------------------------
  isOption = v: isAttrs v && (v._type or null) == "option";
  absent = {
    _type = "absent";
  };

  # Attribute names a definition defines, without evaluating any mkIf condition.
  namesOf =
    def:
    if !isAttrs def then
      [ ]
    else if def._type or null == "if" then
      namesOf def.content
    else if def._type or null == "merge" then
      lib.unique (lib.concatMap namesOf def.contents)
    else
      attrNames def;

  # The definitions of attribute `name` inside a definition, conditions pushed down (not evaluated).
  defsAt =
    name: def:
    if !isAttrs def then
      [ ]
    else if def._type or null == "if" then
      map (d: lib.mkIf def.condition d) (defsAt name def.content)
    else if def._type or null == "merge" then
      lib.concatMap (defsAt name) def.contents
    else if hasAttr name def then
      [ def.${name} ]
    else
      [ ];

  # Plain values of a list of definitions: conditions evaluated, merges flattened, false mkIfs dropped.
  strip =
    def:
    if isAttrs def && def._type or null == "if" then
      (if def.condition then strip def.content else [ ])
    else if isAttrs def && def._type or null == "merge" then
      lib.concatMap strip def.contents
    else
      [ def ];

  isPlainAttrs = v: isAttrs v && !(v ? outPath) && !(v ? _type);

  # Free merge for undeclared paths and `anything`: attribute sets recursively, lists concatenated,
  # other values must agree.
  mergeFree =
    path: defs:
    let
      vals = lib.concatMap strip defs;
    in
    if vals == [ ] then
      absent
    else if builtins.all isPlainAttrs vals then
      let
        names = lib.unique (lib.concatMap attrNames vals);
        merged = map (n: {
          name = n;
          value = mergeFree (path ++ [ n ]) (lib.concatMap (defsAt n) vals);
        }) names;
      in
      listToAttrs (filter (x: x.value != absent) merged)
    else if builtins.all isList vals then
      concatLists vals
    else if builtins.all (v: v == head vals) vals then
      head vals
    else
      throw "The option `${showPath path}' has conflicting definitions: ${toJSON vals}";

  checked =
    type: path: v:
    if type.check v then
      v
    else
      throw "The option `${showPath path}' is not of type `${type.name}': ${toJSON v}";

  # The value of an option of `type` from its (stripped) definitions.
  valueOf =
    type: path: name: vals:
    let
      nested = type.nested or null;
    in
    if nested == "submodule" then
      evalSubmodule type.module name path (map (checked type path) vals)
    else if nested == "attrsOf" then
      let
        sets = map (checked type path) vals;
        names = lib.unique (lib.concatMap attrNames sets);
      in
      listToAttrs (
        map (n: {
          name = n;
          value = valueOf type.elemType (path ++ [ n ]) n (lib.concatMap (s: lib.concatMap strip (defsAt n s)) sets);
        }) names
      )
    else if nested == "listOf" then
      lib.concatMap (
        l: map (e: valueOf type.elemType path name (strip e)) (checked type path l)
      ) vals
    else if nested == "nullOr" then
      (if builtins.all (v: v == null) vals then null else valueOf type.elemType path name (filter (v: v != null) vals))
    else if nested == "either" then
      let
        fitting = filter (t: builtins.all t.check vals) type.alternatives;
      in
      if fitting == [ ] then
        throw "The option `${showPath path}' is not of type `${type.name}': ${toJSON vals}"
      else
        valueOf (head fitting) path name vals
    else if (type.merge or null) == "free" then
      let
        merged = mergeFree path vals;
      in
      checked type path (if merged == absent then { } else merged)
    else if builtins.all (v: v == head vals) vals then
      checked type path (head vals)
    else
      throw "The option `${showPath path}' has conflicting definitions: ${toJSON vals}";

  evalOption =
    decl: path: defs:
    let
      vals = lib.concatMap strip defs;
      type = decl.type or lib.types.anything;
      value =
        if decl.readOnly or false && vals != [ ] then
          throw "The option `${showPath path}' is read-only."
        else if vals != [ ] then
          valueOf type path (lib.last path) vals
        else if decl ? default then
          valueOf type path (lib.last path) [ decl.default ]
        else
          throw "The option `${showPath path}' is used but not defined.";
    in
    if decl ? apply then decl.apply value else value;

  # An options tree applied to definitions. `strict`: an undeclared name is an error (inside a declared
  # namespace); otherwise it is merged freely.
  evalTree =
    decls: path: strict: defs:
    let
      names = lib.unique (attrNames decls ++ lib.concatMap namesOf defs);
      one =
        n:
        let
          sub = lib.concatMap (defsAt n) defs;
        in
        if hasAttr n decls then
          (
            if isOption decls.${n} then
              evalOption decls.${n} (path ++ [ n ]) sub
            else
              evalTree decls.${n} (path ++ [ n ]) (path != [ ]) sub
          )
        else if strict then
          throw "The option `${showPath (path ++ [ n ])}' does not exist."
        else
          let
            v = mergeFree (path ++ [ n ]) sub;
          in
          if v == absent then { } else v;
      result = listToAttrs (
        map (n: {
          name = n;
          value = one n;
        }) names
      );
      undeclared = filter (n: !hasAttr n decls) names;
    in
    # Inside a declared namespace every defined name must be declared, whether or not it is used.
    if strict && undeclared != [ ] then
      throw "The option `${showPath (path ++ [ (head undeclared) ])}' does not exist."
    else
      result;

  evalSubmodule =
    module: name: path: defs:
    let
      m = if isFunction module then module (args // { inherit name config; }) else module;
      args = {
        inherit lib;
      };
      config = evalTree (m.options or { }) path true defs;
    in
    config;

  # Options trees of several modules, merged (the same option declared twice is an error).
  mergeDecls =
    path: a: b:
    a
    // builtins.mapAttrs (
      n: v:
      if !(hasAttr n a) then
        v
      else if isOption v || isOption a.${n} then
        throw "The option `${showPath (path ++ [ n ])}' is declared twice."
      else
        mergeDecls (path ++ [ n ]) a.${n} v
    ) b;

  evalModules =
    {
      modules,
      specialArgs ? { },
    }:
    let
      args = specialArgs // {
        inherit lib config;
        options = { };
      };
      load =
        m:
        let
          imported = if isPath m || isString m then import m else m;
          r = if isFunction imported then imported args else imported;
          shaped =
            if r ? options || r ? config then
              r
            else
              {
                imports = r.imports or [ ];
                config = removeAttrs r [ "imports" ];
              };
        in
        [ shaped ] ++ lib.concatMap load (shaped.imports or [ ]);
      loaded = lib.concatMap load modules;
      decls = foldl' (mergeDecls [ ]) { } (map (m: m.options or { }) loaded);
      config = evalTree decls [ ] false (map (m: m.config or { }) loaded);
    in
    {
      inherit config;
    };
in
lib // { inherit evalModules; }
