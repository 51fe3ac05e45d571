# Stand-ins for the nixpkgs packages and builders the wyoming-rs module and package expressions use.
# A "derivation" here is an attribute set with a fake store path; builders return their arguments, so
# the evaluation test can look at what would be built (features, environment, wrapper) without building.
{ lib }:

let
  drv =
    name: extra:
    let
      self = {
        type = "derivation";
        inherit name;
        # Distinct fake store paths for distinct builds (CPU and CUDA variants share a name).
        outPath = "/nix/store/${builtins.hashString "md5" (name + (extra.hashInput or ""))}-${name}";
        override =
          args:
          drv name (
            extra
            // {
              overriddenWith = (extra.overriddenWith or { }) // args;
              hashInput = (extra.hashInput or "") + builtins.toJSON args;
            }
          );
        overrideAttrs =
          f:
          let
            attrs = f (extra.attrs or { });
          in
          drv name (
            extra
            // {
              overriddenAttrs = (extra.overriddenAttrs or { }) // attrs;
              hashInput = (extra.hashInput or "") + builtins.toJSON attrs;
            }
          );
      }
      // extra;
    in
    self;
  withVersion = name: version: drv "${name}-${version}" { inherit version; };
  callPackageWith =
    autoArgs: fn: overrides:
    let
      f = if builtins.isFunction fn then fn else import fn;
      wanted = builtins.functionArgs f;
      args = builtins.intersectAttrs wanted autoArgs // overrides;
    in
    f args;
  pkgs = {
    inherit lib;
    config = {
      cudaSupport = false;
    };
    callPackage = callPackageWith pkgs;
    # A functor, so that `rustPlatform.buildRustPackage.override { stdenv = ...; }` works as in nixpkgs.
    rustPlatform.buildRustPackage = rec {
      __functor =
        _: attrs:
        drv "${attrs.pname}-${attrs.version}" {
          inherit attrs;
          hashInput = builtins.toJSON [
            attrs.buildFeatures
            attrs.passthru.cudaSupport
          ];
        };
      override = _: { inherit __functor override; };
    };
    runCommand =
      name: env: script:
      drv name { inherit env script; };
    symlinkJoin = attrs: drv attrs.name { inherit attrs; };
    fetchurl = attrs: drv attrs.name { inherit attrs; };
    fetchPypi = attrs: drv "${attrs.pname}-${attrs.version}-${attrs.python}-none-any.whl" { inherit attrs; };
    writeText = name: text: drv name { inherit text; };
    writeShellScript = name: text: drv name { inherit text; };
    ctranslate2 = withVersion "ctranslate2" "4.6.1";
    onnxruntime = withVersion "onnxruntime" "1.24.4";
    espeak-ng = withVersion "espeak-ng" "1.52.0";
    libopus = withVersion "libopus" "1.5.2";
    protobuf = withVersion "protobuf" "32.1";
    pkg-config = drv "pkg-config" { };
    cmake = drv "cmake" { };
    unzip = drv "unzip" { };
    binutils = drv "binutils" { };
    makeWrapper = drv "make-wrapper" { };
    autoAddDriverRunpath = drv "auto-add-driver-runpath-hook" { };
    cudaPackages = {
      backendStdenv = drv "cuda-backend-stdenv" { };
      cuda_nvcc = drv "cuda_nvcc" { };
      cuda_cudart = drv "cuda_cudart" { };
      cuda_cccl = drv "cuda_cccl" { };
      libcublas = drv "libcublas" { };
    };
  };
in
pkgs
