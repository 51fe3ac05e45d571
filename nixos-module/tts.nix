# services.wyoming-rs.piper: wyoming-luxtts (LuxTTS voice cloning, or Piper voices), with the option names
# of nixpkgs' services.wyoming.piper so that switching is a rename.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.wyoming-rs.piper;
  helpers = import ./lib.nix { inherit lib; };
  inherit (lib) mkOption mkEnableOption types;
  stateDir = "/var/lib/wyoming-rs/tts";
  usesCuda = server: server.device != "cpu";
  enabled = lib.filterAttrs (_: s: s.enable) cfg.servers;
  optionalNum =
    flag: value:
    lib.optionals (value != null) [
      flag
      (helpers.num value)
    ];
in
{
  options.services.wyoming-rs.piper = {
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./packages/wyoming-rs.nix { crate = "wyoming-luxtts"; };
      defaultText = lib.literalExpression ''pkgs.callPackage ./packages/wyoming-rs.nix { crate = "wyoming-luxtts"; }'';
      description = "wyoming-luxtts with the CPU ONNX Runtime of nixpkgs (servers with `device = \"cpu\"`).";
    };

    cudaPackage = mkOption {
      type = types.package;
      default = pkgs.callPackage ./packages/wyoming-rs.nix {
        crate = "wyoming-luxtts";
        cudaSupport = true;
      };
      defaultText = lib.literalExpression "wyoming-luxtts with onnxruntime.override { cudaSupport = true; }";
      description = ''
        wyoming-luxtts with the CUDA build of ONNX Runtime (servers with `device = "cuda"` or `"auto"`).
        Needs `nixpkgs.config.allowUnfree`; set `nixpkgs.config.cudaCapabilities` to your card to shorten
        the ONNX Runtime build.
      '';
    };

    servers = mkOption {
      default = { };
      description = "Attribute set of wyoming-luxtts instances to spawn.";
      type = types.attrsOf (
        types.submodule (
          { name, config, ... }:
          {
            options = {
              enable = mkEnableOption "Wyoming text-to-speech server (wyoming-luxtts)";

              zeroconf = {
                enable = mkEnableOption "zeroconf (mDNS) discovery" // {
                  default = true;
                };
                name = mkOption {
                  type = types.str;
                  default = "piper-${name}";
                  description = "The advertised name for zeroconf discovery.";
                };
              };

              uri = mkOption {
                type = types.strMatching "^(tcp|unix)://.*$";
                default = "tcp://0.0.0.0:10200";
                example = "tcp://127.0.0.1:10200";
                description = "URI to bind the wyoming server to.";
              };

              engine = mkOption {
                type = types.enum [
                  "piper"
                  "luxtts"
                ];
                default = "piper";
                description = ''
                  `piper`: Piper (VITS) voices, light enough for the CPU. `luxtts`: LuxTTS voice cloning from
                  reference recordings ({option}`voices`), with {option}`model`; best on a GPU.
                '';
              };

              voice = mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "en_US-lessac-medium";
                description = "Piper voice: a name looked up in the data directories, or a path to its `.onnx`.";
              };

              speaker = mkOption {
                type = types.ints.unsigned;
                default = 0;
                description = "ID of a specific speaker in a multi-speaker Piper model.";
              };

              lengthScale = mkOption {
                type = types.number;
                default = 1.0;
                description = "Piper phoneme length (larger is slower speech).";
              };

              noiseScale = mkOption {
                type = types.number;
                default = 0.667;
                description = "Piper generator noise.";
              };

              noiseWidth = mkOption {
                type = types.number;
                default = 0.333;
                description = "Piper phoneme width noise (`--noise-w`).";
              };

              useCUDA = mkOption {
                type = types.bool;
                default = pkgs.config.cudaSupport or false;
                defaultText = lib.literalExpression "pkgs.config.cudaSupport";
                description = "Run ONNX Runtime with CUDA (sets the default of {option}`device` to `cuda`).";
              };

              device = mkOption {
                type = types.enum [
                  "auto"
                  "cpu"
                  "cuda"
                ];
                default = if config.useCUDA then "cuda" else "cpu";
                defaultText = lib.literalExpression ''if useCUDA then "cuda" else "cpu"'';
                description = "Where ONNX Runtime runs; `cuda` and `auto` open the NVIDIA device nodes to the unit.";
              };

              model = mkOption {
                type = types.nullOr (types.either types.path types.str);
                default = null;
                example = "/var/lib/models/LuxTTS";
                description = "LuxTTS model directory (as the model hub repository YatharthS/LuxTTS publishes it).";
              };

              voices = mkOption {
                default = { };
                description = ''
                  LuxTTS cloned voices: a reference recording (a few seconds of clean speech) per voice name.
                  Without a transcript, the server asks the STT server at {option}`sttUri` for one; encoded
                  prompts are cached in the state directory.
                '';
                type = types.attrsOf (
                  types.submodule {
                    options = {
                      refAudio = mkOption {
                        type = types.either types.path types.str;
                        example = "./voices/alice.wav";
                        description = "Reference recording (WAV).";
                      };
                      transcript = mkOption {
                        type = types.nullOr types.str;
                        default = null;
                        description = "What the reference recording says.";
                      };
                    };
                  }
                );
              };

              sttUri = mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "tcp://127.0.0.1:10300";
                description = "STT server that transcribes reference recordings without a transcript.";
              };

              numSteps = mkOption {
                type = types.nullOr types.ints.positive;
                default = null;
                description = "LuxTTS flow-matching steps (server default: 4).";
              };

              guidanceScale = mkOption {
                type = types.nullOr types.number;
                default = null;
                description = "LuxTTS classifier-free guidance scale (server default: 3.0).";
              };

              tShift = mkOption {
                type = types.nullOr types.number;
                default = null;
                description = "LuxTTS time-step shift.";
              };

              speed = mkOption {
                type = types.nullOr types.number;
                default = null;
                description = "LuxTTS speaking-rate multiplier.";
              };

              maxConcurrent = mkOption {
                type = types.nullOr types.ints.positive;
                default = null;
                description = "Most syntheses run at the same time.";
              };

              dataDirs = mkOption {
                type = types.listOf types.str;
                default = [ ];
                description = "More directories searched for voices, after the state directory.";
              };

              openFirewall = mkOption {
                type = types.bool;
                default = false;
                description = "Open the TCP port of {option}`uri`, and UDP 5353 (mDNS) when zeroconf is on.";
              };

              environment = mkOption {
                type = types.attrsOf types.str;
                default = { };
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
                description = "Extra arguments to pass to the server command line.";
              };
            };
          }
        )
      );
    };
  };

  config = lib.mkIf (enabled != { }) {
    assertions = lib.concatLists (
      lib.mapAttrsToList (name: server: [
        {
          assertion = server.engine == "piper" -> server.voice != null;
          message = "services.wyoming-rs.piper.servers.${name}: the piper engine needs `voice`.";
        }
        {
          assertion = server.engine == "luxtts" -> (server.model != null && server.voices != { });
          message = "services.wyoming-rs.piper.servers.${name}: the luxtts engine needs `model` and at least one entry in `voices`.";
        }
      ]) enabled
    );

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
        piperArgs =
          lib.optionals (server.voice != null) [
            "--voice"
            server.voice
          ]
          ++ [
            "--speaker"
            (toString server.speaker)
            "--length-scale"
            (helpers.num server.lengthScale)
            "--noise-scale"
            (helpers.num server.noiseScale)
            "--noise-w"
            (helpers.num server.noiseWidth)
          ];
        luxttsArgs =
          lib.optionals (server.model != null) [
            "--model"
            "${server.model}"
          ]
          ++ lib.concatLists (
            lib.mapAttrsToList (
              voice: v:
              [
                "--voice"
                "${voice}=${v.refAudio}"
              ]
              ++ lib.optionals (v.transcript != null) [
                "--voice-transcript"
                "${voice}=${v.transcript}"
              ]
            ) server.voices
          )
          ++ lib.optionals (server.sttUri != null) [
            "--stt-uri"
            server.sttUri
          ]
          ++ optionalNum "--num-steps" server.numSteps
          ++ optionalNum "--guidance-scale" server.guidanceScale
          ++ optionalNum "--t-shift" server.tShift
          ++ optionalNum "--speed" server.speed;
        argv = [
          "${package}/bin/wyoming-luxtts"
          "--uri"
          server.uri
          "--engine"
          server.engine
          "--device"
          server.device
          "--data-dir"
          stateDir
        ]
        ++ lib.concatMap (dir: [
          "--data-dir"
          dir
        ]) server.dataDirs
        ++ (if server.engine == "piper" then piperArgs else luxttsArgs)
        ++ optionalNum "--max-concurrent" server.maxConcurrent
        ++ lib.optionals server.zeroconf.enable [
          "--zeroconf"
          server.zeroconf.name
        ]
        ++ server.extraArgs;
      in
      lib.nameValuePair "wyoming-rs-piper-${name}" {
        description = "Wyoming text-to-speech server (wyoming-luxtts) ${name}";
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
            User = "wyoming-rs-tts";
            StateDirectory = [ "wyoming-rs/tts" ];
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
