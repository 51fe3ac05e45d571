# Evaluates the wyoming-rs module with the stub library (stub-lib.nix) and stub packages (stub-pkgs.nix)
# for a configuration, and returns what the tests check, as JSON-able data:
#
#   nix-instantiate --eval --strict --json nixos-module/tests/eval.nix
#   nix-instantiate --eval --strict --json -E 'import ./nixos-module/tests/eval.nix { configuration = { ... }; }'
{
  configuration ? ./sample-config.nix,
}:

let
  lib = import ./stub-lib.nix;
  pkgs = import ./stub-pkgs.nix { inherit lib; };
  eval = lib.evalModules {
    modules = [
      ./stub-nixos.nix
      ../default.nix
      configuration
    ];
    specialArgs = { inherit pkgs; };
  };
  cfg = eval.config;
  rs = cfg.services.wyoming-rs;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) cfg.assertions);

  # What the tests need from a (stub) package: its build settings, not the derivation itself.
  describePackage = p: {
    storePath = p.outPath;
    inherit (p.attrs)
      pname
      cargoBuildFlags
      buildNoDefaultFeatures
      buildFeatures
      dontUseCmakeConfigure
      doCheck
      postFixup
      ;
    env = builtins.mapAttrs (_: toString) p.attrs.env;
    nativeBuildInputs = map (d: d.name) p.attrs.nativeBuildInputs;
    buildInputs = map (d: d.name) p.attrs.buildInputs;
    lockFile = baseNameOf (toString p.attrs.cargoLock.lockFile);
  };
  packages = {
    whisper = rs.faster-whisper.package;
    whisperCuda = rs.faster-whisper.cudaPackage;
    tts = rs.piper.package;
    ttsCuda = rs.piper.cudaPackage;
    bridge = rs.bridge.package;
  };
in
{
  # As in NixOS, a failed assertion stops the build before any unit is used.
  units = if failedAssertions == [ ] then cfg.systemd.services else { };
  firewall = cfg.networking.firewall;
  inherit failedAssertions;
  inherit (cfg) warnings;
  packages = builtins.mapAttrs (_: describePackage) packages;
  # Store path of each package's binary -> the Cargo binary it stands for.
  binaries = builtins.listToAttrs (
    map
      (p: {
        name = "${p.package}/bin/${p.bin}";
        value = p.bin;
      })
      [
        {
          package = packages.whisper;
          bin = "wyoming-whisper-gpu";
        }
        {
          package = packages.whisperCuda;
          bin = "wyoming-whisper-gpu";
        }
        {
          package = packages.tts;
          bin = "wyoming-luxtts";
        }
        {
          package = packages.ttsCuda;
          bin = "wyoming-luxtts";
        }
        {
          package = packages.bridge;
          bin = "wyoming-bridge";
        }
      ]
  );
  # Generated files (store path -> content): the bridge's config and its credential wrapper.
  files = {
    "${rs.bridge.configFile}" = rs.bridge.configFile.text;
    "${rs.bridge.credentialWrapper}" = rs.bridge.credentialWrapper.text;
  };
}
