# Helpers shared by the wyoming-rs NixOS modules. Only `builtins` and a few `lib` functions, so that the
# evaluation test (tests/eval.nix) can load them with the stub library.
{ lib }:

let
  inherit (builtins)
    isString
    isPath
    isInt
    isFloat
    isAttrs
    match
    replaceStrings
    toJSON
    ;
in
rec {
  # One argument for an ExecStart= line, quoted the way nixpkgs' `utils.escapeSystemdExecArg` does: a JSON
  # string (systemd reads C-style escapes in double quotes) with `%` and `$` doubled, so that systemd neither
  # expands specifiers nor environment variables in it. What the binary receives is exactly `arg`.
  escapeSystemdExecArg =
    arg:
    let
      s =
        if isString arg || isPath arg then
          "${arg}"
        else if isInt arg then
          toString arg
        else if isFloat arg then
          toJSON arg
        else if isAttrs arg && arg ? outPath then
          "${arg}"
        else
          throw "escapeSystemdExecArg: cannot render ${toJSON arg}";
    in
    replaceStrings [ "%" "$" ] [ "%%" "$$" ] (toJSON s);

  escapeSystemdExecArgs = args: lib.concatMapStringsSep " " escapeSystemdExecArg args;

  # A number as a command-line value: integers as they are, floats without Nix's six fixed decimals
  # (toString 0.667 is "0.667000"; toJSON gives "0.667").
  num = x: if isFloat x then toJSON x else toString x;

  # The TCP port of a tcp://HOST:PORT URI, or null (unix://, stdio://).
  uriPort =
    uri:
    let
      m = match "tcp://.*:([0-9]+)/?" uri;
    in
    if m == null then null else lib.toInt (builtins.head m);

  # A name usable as a shell variable and a systemd credential id.
  credentialNameRegex = "[A-Za-z_][A-Za-z0-9_]*";

  # The bridge's ExecStart wrapper: exports each systemd credential (LoadCredential=NAME:FILE) as the
  # environment variable NAME, then runs its arguments. The bridge's config file refers to them as
  # ${NAME}. The secrets live only in $CREDENTIALS_DIRECTORY (a private, unswappable ramfs that systemd
  # fills at start and removes at stop), never in the Nix store nor in the unit file.
  credentialScript =
    names:
    ''
      set -eu
      if [ -z "''${CREDENTIALS_DIRECTORY:-}" ]; then
        echo "wyoming-rs: CREDENTIALS_DIRECTORY is not set (start this through its systemd unit)" >&2
        exit 1
      fi
    ''
    + lib.concatMapStrings (name: ''
      ${name}="$(< "$CREDENTIALS_DIRECTORY/${name}")"
      export ${name}
    '') names
    + ''
      exec "$@"
    '';

  # NVIDIA device nodes a CUDA process opens (as in nixpkgs' wyoming-faster-whisper unit).
  nvidiaDevices = [
    "char-nvidia-uvm"
    "char-nvidia-frontend"
    "char-nvidia-caps"
    "char-nvidiactl"
  ];

  # The systemd hardening every wyoming-rs unit gets; `cuda` opens the NVIDIA devices, `zeroconf` allows
  # the netlink socket mdns-sd needs to list interface addresses.
  hardening =
    {
      cuda ? false,
      zeroconf ? false,
    }:
    {
      DynamicUser = true;
      CapabilityBoundingSet = "";
      AmbientCapabilities = "";
      NoNewPrivileges = true;
      DevicePolicy = "closed";
      DeviceAllow = if cuda then nvidiaDevices else "";
      PrivateDevices = !cuda;
      LockPersonality = true;
      # CTranslate2's oneDNN JIT kernels, ONNX Runtime (Piper, LuxTTS) and the CUDA driver's JIT map
      # writable+executable memory.
      MemoryDenyWriteExecute = false;
      PrivateTmp = true;
      PrivateUsers = true;
      # "all": CTranslate2 and ONNX Runtime read /proc/cpuinfo to choose their kernels.
      ProcSubset = "all";
      ProtectClock = true;
      ProtectControlGroups = true;
      ProtectHome = true;
      ProtectHostname = true;
      ProtectKernelLogs = true;
      ProtectKernelModules = true;
      ProtectKernelTunables = true;
      ProtectProc = "invisible";
      ProtectSystem = "strict";
      RemoveIPC = true;
      RestrictAddressFamilies = [
        "AF_INET"
        "AF_INET6"
        "AF_UNIX"
      ]
      ++ lib.optional zeroconf "AF_NETLINK";
      RestrictNamespaces = true;
      RestrictRealtime = true;
      RestrictSUIDSGID = true;
      SystemCallArchitectures = "native";
      SystemCallFilter = [
        "@system-service"
        "~@privileged"
      ];
      UMask = "0077";
      Restart = "on-failure";
      RestartSec = 5;
    };
}
