# services.wyoming-rs.bridge: the Mumble voice bot (wyoming-bridge). Its settings are the Python bot's
# config.yaml as a Nix attribute set; secrets come from files through systemd credentials.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.wyoming-rs.bridge;
  rs = config.services.wyoming-rs;
  helpers = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption types;
  stateDir = "/var/lib/wyoming-rs/bridge";

  # Environment variable -> file, for every secret.
  credentials =
    cfg.credentials
    // lib.optionalAttrs (cfg.llmApiKeyFile != null) { LLM_API_KEY = cfg.llmApiKeyFile; }
    // lib.optionalAttrs (cfg.mumblePasswordFile != null) { MUMBLE_PASSWORD = cfg.mumblePasswordFile; };

  # The settings as written to the file: the secrets replaced by ${VAR} references, which the bridge
  # expands from its environment when it loads the file.
  settings = lib.recursiveUpdate cfg.settings (
    lib.optionalAttrs (cfg.llmApiKeyFile != null) { llm.api_key = "\${LLM_API_KEY}"; }
    // lib.optionalAttrs (cfg.mumblePasswordFile != null) { mumble.password = "\${MUMBLE_PASSWORD}"; }
  );

  # The local servers the bridge talks to: started before it.
  serverUnits =
    lib.mapAttrsToList (name: _: "wyoming-rs-faster-whisper-${name}.service") (
      lib.filterAttrs (_: s: s.enable) rs.faster-whisper.servers
    )
    ++ lib.mapAttrsToList (name: _: "wyoming-rs-piper-${name}.service") (
      lib.filterAttrs (_: s: s.enable) rs.piper.servers
    );
  units = serverUnits ++ cfg.dependsOn;

  # A literal secret in the settings would be world-readable in the Nix store.
  literalSecret =
    section: key:
    let
      v = (cfg.settings.${section} or { }).${key} or null;
    in
    builtins.isString v && v != "" && builtins.match ".*[$][{].*" v == null;
in
{
  options.services.wyoming-rs.bridge = {
    enable = mkEnableOption "the wyoming-rs Mumble voice bridge";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./packages/wyoming-rs.nix { crate = "wyoming-bridge"; };
      defaultText = lib.literalExpression ''pkgs.callPackage ./packages/wyoming-rs.nix { crate = "wyoming-bridge"; }'';
      description = "The wyoming-bridge package.";
    };

    settings = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      example = lib.literalExpression ''
        {
          mumble = { host = "mumble.example.org"; user = "VoiceBot"; channel = "Lounge"; };
          llm = { endpoint = "http://127.0.0.1:8000/v1/chat/completions"; model = "LiquidAI/LFM2.5-1.2B-Instruct"; };
          stt = { wyoming_host = "127.0.0.1"; wyoming_port = 10300; };
          tts = { wyoming_host = "127.0.0.1"; wyoming_port = 10200; voice = "alice"; };
        }
      '';
      description = ''
        The bot's configuration: the sections and keys of the Python bot's `config.yaml` (llm, tts, stt,
        mumble, bot, models, tools, soul), written to the Nix store as YAML (in its JSON form). Never put a
        secret here; use {option}`llmApiKeyFile`, {option}`mumblePasswordFile` or {option}`credentials`.
        `''${VAR}` in a string is replaced by the environment variable VAR when the bridge loads it.
      '';
    };

    configFile = mkOption {
      type = types.package;
      readOnly = true;
      default = pkgs.writeText "wyoming-bridge.yaml" (builtins.toJSON settings);
      defaultText = lib.literalExpression "the settings rendered to YAML";
      description = "The configuration file the bridge is started with (read-only; for inspection).";
    };

    llmApiKeyFile = mkOption {
      type = types.nullOr (types.strMatching "/.*");
      default = null;
      example = "/run/secrets/llm-api-key";
      description = ''
        File holding the LLM API key (for example from agenix or sops-nix). It is passed to the unit as a
        systemd credential, exported as `LLM_API_KEY`, and `llm.api_key` is set to `''${LLM_API_KEY}`. A
        string, not a Nix path, so the file never enters the Nix store.
      '';
    };

    mumblePasswordFile = mkOption {
      type = types.nullOr (types.strMatching "/.*");
      default = null;
      example = "/run/secrets/mumble-password";
      description = "File holding the Mumble server password (exported as `MUMBLE_PASSWORD`; sets `mumble.password`).";
    };

    credentials = mkOption {
      type = types.attrsOf (types.strMatching "/.*");
      default = { };
      example = {
        OPENROUTER_API_KEY = "/run/secrets/openrouter";
      };
      description = ''
        More secrets: environment variable name -> file. Each file is loaded with systemd's
        `LoadCredential=` and exported to the bridge under that name, for `''${NAME}` references in
        {option}`settings`.
      '';
    };

    credentialWrapper = mkOption {
      type = types.package;
      internal = true;
      readOnly = true;
      default = pkgs.writeShellScript "wyoming-bridge-credentials" (
        helpers.credentialScript (builtins.attrNames credentials)
      );
      description = "The ExecStart wrapper that exports the credentials (internal).";
    };

    dependsOn = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "vllm.service" ];
      description = ''
        More units the bridge wants and starts after, besides the enabled wyoming-rs servers (which it
        always starts after): typically the LLM server.
      '';
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "Extra environment variables (never secrets: they end up in the Nix store).";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra arguments to pass to wyoming-bridge.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = lib.mapAttrsToList (var: file: {
      assertion = builtins.match helpers.credentialNameRegex var != null && !lib.hasPrefix "/nix/store/" file;
      message = "services.wyoming-rs.bridge.credentials.${var}: the name must be a shell variable name and the file must not be in the Nix store (it would be world-readable).";
    }) credentials;

    warnings =
      lib.optional (literalSecret "llm" "api_key" && cfg.llmApiKeyFile == null)
        "services.wyoming-rs.bridge.settings.llm.api_key holds a literal key: it is world-readable in the Nix store. Use llmApiKeyFile."
      ++ lib.optional (literalSecret "mumble" "password" && cfg.mumblePasswordFile == null)
        "services.wyoming-rs.bridge.settings.mumble.password holds a literal password: it is world-readable in the Nix store. Use mumblePasswordFile.";

    systemd.services.wyoming-rs-bridge = {
      description = "Wyoming Mumble voice bridge (wyoming-bridge)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ] ++ units;
      after = [ "network-online.target" ] ++ units;
      environment = cfg.environment;
      serviceConfig = helpers.hardening { } // {
        User = "wyoming-rs-bridge";
        StateDirectory = [ "wyoming-rs/bridge" ];
        WorkingDirectory = stateDir;
        LoadCredential = lib.mapAttrsToList (var: file: "${var}:${file}") credentials;
        ExecStart = helpers.escapeSystemdExecArgs (
          lib.optional (credentials != { }) cfg.credentialWrapper
          ++ [
            "${cfg.package}/bin/wyoming-bridge"
            "--config"
            cfg.configFile
            # Trust-on-first-use server fingerprints (a dynamic user has no home directory).
            "--data-dir"
            stateDir
          ]
          ++ cfg.extraArgs
        );
      };
    };
  };
}
