# services.wyoming-rs.faster-whisper: wyoming-whisper-gpu, with the option names of nixpkgs'
# services.wyoming.faster-whisper so that switching is a rename.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.wyoming-rs.faster-whisper;
  helpers = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption types;
  stateDir = "/var/lib/wyoming-rs/faster-whisper";
  usesCuda = server: server.device != "cpu";
  enabled = lib.filterAttrs (_: s: s.enable) cfg.servers;
in
{
  options.services.wyoming-rs.faster-whisper = {
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./packages/wyoming-rs.nix { crate = "wyoming-whisper-gpu"; };
      defaultText = lib.literalExpression ''pkgs.callPackage ./packages/wyoming-rs.nix { crate = "wyoming-whisper-gpu"; }'';
      description = "The CPU build of wyoming-whisper-gpu, used by servers with `device = \"cpu\"`.";
    };

    cudaCapabilities = mkOption {
      type = types.listOf types.str;
      default = [ "7.5" ];
      example = [ "8.6" ];
      description = ''
        CUDA compute capabilities CTranslate2 is compiled for in {option}`cudaPackage` (7.5: Turing, such
        as the T1000). Listing only the card you have keeps the nvcc build short.
      '';
    };

    cudaPackage = mkOption {
      type = types.package;
      default = pkgs.callPackage ./packages/wyoming-rs.nix {
        crate = "wyoming-whisper-gpu";
        cudaSupport = true;
        inherit (cfg) cudaCapabilities;
      };
      defaultText = lib.literalExpression "the CUDA build for {option}`cudaCapabilities`";
      description = ''
        The CUDA build of wyoming-whisper-gpu, used by servers with `device = "cuda"` or `"auto"`. CUDA is
        unfree: building it needs `nixpkgs.config.allowUnfree` (or an allowUnfreePredicate for the CUDA
        packages). It also runs on machines without a GPU (cuBLAS is opened at run time).
      '';
    };

    servers = mkOption {
      default = { };
      description = "Attribute set of wyoming-whisper-gpu instances to spawn.";
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              enable = mkEnableOption "Wyoming speech-to-text server (wyoming-whisper-gpu)";

              zeroconf = {
                enable = mkEnableOption "zeroconf (mDNS) discovery" // {
                  default = true;
                };
                name = mkOption {
                  type = types.str;
                  default = "faster-whisper-${name}";
                  description = "The advertised name for zeroconf discovery.";
                };
              };

              sttLibrary = mkOption {
                type = types.enum [
                  "auto"
                  "faster-whisper"
                ];
                default = "auto";
                description = ''
                  Accepted so that a nixpkgs configuration keeps evaluating; wyoming-rs always uses Whisper
                  through CTranslate2 (what `faster-whisper` means in nixpkgs).
                '';
              };

              model = mkOption {
                type = types.str;
                default = "auto";
                example = "small-int8";
                description = ''
                  Model: a size such as `tiny-int8`, `base-int8`, `small`, `medium.en`, `large-v3` (the same
                  names as wyoming-faster-whisper), a model-hub repository id, or a directory holding a
                  CTranslate2 Whisper model. `auto` is `base-int8`. Names are downloaded into the state
                  directory on first start unless {option}`localFilesOnly` is set.
                '';
              };

              uri = mkOption {
                type = types.strMatching "^(tcp|unix)://.*$";
                default = "tcp://0.0.0.0:10300";
                example = "tcp://127.0.0.1:10300";
                description = "URI to bind the wyoming server to.";
              };

              device = mkOption {
                type = types.enum [
                  "cpu"
                  "cuda"
                  "auto"
                ];
                default = "cpu";
                description = ''
                  Where CTranslate2 runs. `cuda` and `auto` use {option}`cudaPackage` and open the NVIDIA
                  device nodes to the unit; `auto` falls back to the CPU when no GPU is visible.
                '';
              };

              language = mkOption {
                type = types.str;
                default = "auto";
                example = "en";
                description = "Default language (`auto`: detect it; English-only models always use English).";
              };

              initialPrompt = mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "Kitchen Lamp, Living Room, Mumble.";
                description = "Text to condition the decoder on: names and spellings it should prefer.";
              };

              beamSize = mkOption {
                type = types.ints.unsigned;
                default = 1;
                example = 5;
                description = "Beam size; 1 is greedy decoding, the fastest. 0 is wyoming-faster-whisper's auto: 5 (1 on ARM).";
              };

              computeType = mkOption {
                type = types.str;
                default = "int8";
                example = "int8_float16";
                description = "CTranslate2 compute type: int8, int8_float16, int8_float32, float16, float32, auto, ...";
              };

              cpuThreads = mkOption {
                type = types.nullOr types.ints.positive;
                default = null;
                description = "CPU threads for inference (default: the number of cores, at most 4).";
              };

              localFilesOnly = mkOption {
                type = types.bool;
                default = false;
                description = "Never download a model; use only what is in the data directories.";
              };

              dataDirs = mkOption {
                type = types.listOf types.str;
                default = [ ];
                description = ''
                  More directories searched for models, after the state directory (they must be readable by
                  a dynamic user, for example paths in the Nix store).
                '';
              };

              sileroModel = mkOption {
                type = types.nullOr (types.either types.path types.str);
                default = "${(pkgs.callPackage ./packages/models.nix { }).sileroVad}/silero_vad.onnx";
                defaultText = lib.literalExpression "Silero VAD v6 from the PyPI silero-vad 6.2.3 wheel";
                description = ''
                  Silero VAD model for the early final (decoding starts after {option}`earlyFinalMs` of
                  silence, before the client's audio-stop). `null` turns the early final off.
                '';
              };

              earlyFinalMs = mkOption {
                type = types.nullOr types.ints.unsigned;
                default = null;
                description = ''
                  Silence after speech before the early final starts decoding (0: off). `null`: the server's
                  default, 300 ms on CUDA and 100 ms on the CPU (where a decode takes longer).
                '';
              };

              partialTranscripts = mkOption {
                type = types.bool;
                default = false;
                description = "Send transcript-start/-chunk/-stop while audio arrives.";
              };

              openFirewall = mkOption {
                type = types.bool;
                default = false;
                description = "Open the TCP port of {option}`uri`, and UDP 5353 (mDNS) when zeroconf is on.";
              };

              environment = mkOption {
                type = types.attrsOf types.str;
                default = { };
                example = {
                  HF_ENDPOINT = "https://hf-mirror.example";
                };
                description = "Extra environment variables (never secrets: they end up in the Nix store).";
              };

              package = mkOption {
                type = types.nullOr types.package;
                default = null;
                description = "Override the package for this server (default: by {option}`device`).";
              };

              extraArgs = mkOption {
                type = types.listOf types.str;
                default = [ ];
                example = [
                  "--vad-endpointing"
                  "0.8"
                ];
                description = "Extra arguments to pass to the server command line.";
              };
            };
          }
        )
      );
    };
  };

  config = lib.mkIf (enabled != { }) {
    systemd.services = lib.mapAttrs' (
      name: server:
      let
        package =
          if server.package != null then
            server.package
          else if usesCuda server then
            cfg.cudaPackage
          else
            cfg.package;
        argv = [
          "${package}/bin/wyoming-whisper-gpu"
          "--uri"
          server.uri
          "--model"
          server.model
          "--data-dir"
          stateDir
        ]
        ++ lib.concatMap (dir: [
          "--data-dir"
          dir
        ]) server.dataDirs
        ++ [
          "--download-dir"
          stateDir
          "--device"
          server.device
          "--compute-type"
          server.computeType
          "--beam-size"
          (toString server.beamSize)
          "--language"
          server.language
        ]
        ++ lib.optionals (server.earlyFinalMs != null) [
          "--early-final-ms"
          (toString server.earlyFinalMs)
        ]
        ++ lib.optionals (server.initialPrompt != null) [
          "--initial-prompt"
          server.initialPrompt
        ]
        ++ lib.optionals (server.cpuThreads != null) [
          "--cpu-threads"
          (toString server.cpuThreads)
        ]
        ++ lib.optional server.localFilesOnly "--local-files-only"
        ++ lib.optional server.partialTranscripts "--partial-transcripts"
        ++ lib.optionals (server.sileroModel != null) [
          "--silero-model"
          "${server.sileroModel}"
        ]
        ++ lib.optionals server.zeroconf.enable [
          "--zeroconf"
          server.zeroconf.name
        ]
        ++ server.extraArgs;
      in
      lib.nameValuePair "wyoming-rs-faster-whisper-${name}" {
        description = "Wyoming speech-to-text server (wyoming-whisper-gpu) ${name}";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        environment = server.environment;
        serviceConfig =
          helpers.hardening {
            cuda = usesCuda server;
            zeroconf = server.zeroconf.enable;
          }
          // {
            User = "wyoming-rs-faster-whisper";
            StateDirectory = [ "wyoming-rs/faster-whisper" ];
            WorkingDirectory = stateDir;
            ExecStart = helpers.escapeSystemdExecArgs argv;
          };
      }
    ) enabled;

    networking.firewall = lib.mkMerge (
      lib.mapAttrsToList (
        _: server:
        lib.mkIf server.openFirewall {
          allowedTCPPorts = lib.optional (helpers.uriPort server.uri != null) (helpers.uriPort server.uri);
          allowedUDPPorts = lib.optional server.zeroconf.enable 5353;
        }
      ) enabled
    );
  };
}
