# One binary of the wyoming-rs Cargo workspace, with the native libraries that binary needs:
#
#   wyoming-whisper-gpu  CTranslate2 (nixpkgs' when its version is the 4.8.4 that ct2rs 0.10.3 is written
#                        against, otherwise the copy bundled in ct2rs, compiled here), optionally with CUDA
#                        for `cudaCapabilities` (Silero VAD is computed natively).
#   wyoming-luxtts       ONNX Runtime (CUDA optional), espeak-ng.
#   wyoming-bridge       libopus (Silero VAD is computed natively).
#
# ONNX Runtime is opened at run time by the TTS server only (ort's load-dynamic, API level 24): its wrapper
# sets ORT_DYLIB_PATH to nixpkgs' library, which must be 1.24 or newer.
{
  lib,
  rustPlatform,
  pkg-config,
  cmake,
  makeWrapper,
  runCommand,
  symlinkJoin,
  binutils,
  ctranslate2,
  onnxruntime,
  espeak-ng,
  libopus,
  cudaPackages,
  autoAddDriverRunpath,

  crate ? "wyoming-whisper-gpu",
  # CUDA: CTranslate2 for the STT server, ONNX Runtime for the others. Unfree (allowUnfree).
  cudaSupport ? false,
  # Compute capabilities CTranslate2 is compiled for (7.5: Turing, e.g. the T1000).
  cudaCapabilities ? [ "7.5" ],
  # null: nixpkgs' ctranslate2 when its version is ct2Version, else the bundled source.
  useSystemCTranslate2 ? null,
  src ? null,
}:

let
  ct2Version = "4.8.4";
  isStt = crate == "wyoming-whisper-gpu";
  systemCt2 = if useSystemCTranslate2 == null then ctranslate2.version == ct2Version else useSystemCTranslate2;
  archList = lib.concatStringsSep ";" cudaCapabilities;

  ort = if cudaSupport then onnxruntime.override { cudaSupport = true; } else onnxruntime;

  # nixpkgs' CTranslate2, with CUDA for the chosen cards only (its CMake default "Auto" cannot see a GPU in
  # the build sandbox and would fall back to every architecture).
  ct2 =
    if cudaSupport then
      (ctranslate2.override {
        withCUDA = true;
        withCuDNN = false;
      }).overrideAttrs
        (old: {
          cmakeFlags = (old.cmakeFlags or [ ]) ++ [ "-DCUDA_ARCH_LIST=${archList}" ];
        })
    else
      ctranslate2;

  # ct2rs `system` asks the linker for these even though a shared libctranslate2 already contains them
  # (see native-and-models.md 5.3): empty archives satisfy it.
  ct2LinkStubs = runCommand "ct2rs-link-stubs" { nativeBuildInputs = [ binutils ]; } ''
    mkdir -p $out/lib
    for name in cpu_features cublas_static cublasLt_static culibos cudart_static; do
      ar rcs $out/lib/lib$name.a
    done
  '';

  # The bundled CTranslate2's CMake wants one CUDA root with include/cuda.h, nvcc and the static cudart;
  # cuBLAS is opened at run time (feature cuda-dynamic-loading), so only its headers are needed here.
  cudaRoot = symlinkJoin {
    name = "cuda-root-for-ct2rs";
    paths = with cudaPackages; [
      cuda_nvcc
      (lib.getDev cuda_nvcc)
      (lib.getDev cuda_cudart)
      (lib.getLib cuda_cudart)
      (cuda_cudart.static or cuda_cudart)
      (lib.getDev cuda_cccl)
      (lib.getDev libcublas)
      (lib.getLib libcublas)
    ];
  };

  sttFeatures =
    if systemCt2 then
      [ "ct2-system" ]
    else
      [ "ct2-bundled" ] ++ lib.optional cudaSupport "cuda";

  buildRustPackage =
    if isStt && cudaSupport && !systemCt2 then
      rustPlatform.buildRustPackage.override { stdenv = cudaPackages.backendStdenv; }
    else
      rustPlatform.buildRustPackage;

  # Only what Cargo needs: the workspace manifests, the lock file and the member crates.
  source =
    if src != null then
      src
    else
      lib.fileset.toSource {
        root = ../..;
        fileset = lib.fileset.difference (lib.fileset.unions [
          ../../Cargo.toml
          ../../Cargo.lock
          ../../wyoming-proto
          ../../wyoming-whisper-gpu
          ../../wyoming-luxtts
          ../../wyoming-bridge
          ../../tests
        ]) (lib.fileset.maybeMissing ../../wyoming-proto/fuzz);
      };

  runtimeLibraryPath = lib.makeLibraryPath (
    lib.optionals (isStt && cudaSupport && !systemCt2) [ (lib.getLib cudaPackages.libcublas) ]
  );
in
assert lib.assertMsg (builtins.compareVersions ort.version "1.24" >= 0)
  "wyoming-rs loads ONNX Runtime at API level 24: nixpkgs' onnxruntime ${ort.version} is too old (1.24 or newer needed).";
assert lib.assertMsg (builtins.elem crate [
  "wyoming-whisper-gpu"
  "wyoming-luxtts"
  "wyoming-bridge"
]) "wyoming-rs.nix: unknown crate ${crate}";
buildRustPackage {
  pname = crate;
  version = "0.1.0";
  src = source;
  cargoLock.lockFile = ../../Cargo.lock;

  cargoBuildFlags = [
    "-p"
    crate
  ];
  buildNoDefaultFeatures = isStt;
  buildFeatures = lib.optionals isStt sttFeatures;

  nativeBuildInputs = [
    pkg-config
    makeWrapper
  ]
  ++ lib.optionals (isStt && !systemCt2) [ cmake ]
  # libopus is found with pkg-config; cmake only in case the opus crate falls back to its bundled copy.
  ++ lib.optionals (crate == "wyoming-bridge") [ cmake ]
  ++ lib.optionals (isStt && cudaSupport && !systemCt2) [ cudaPackages.cuda_nvcc ]
  ++ lib.optionals cudaSupport [ autoAddDriverRunpath ];

  buildInputs =
    lib.optionals (isStt && systemCt2) [ ct2 ]
    ++ lib.optionals (crate == "wyoming-luxtts") [ espeak-ng ]
    ++ lib.optionals (crate == "wyoming-bridge") [ libopus ];

  # cmake is here for crates' build scripts (ct2rs bundled, opus), not to configure this package.
  dontUseCmakeConfigure = true;

  env =
    lib.optionalAttrs (isStt && systemCt2) {
      CMAKE_LIBRARY_PATH = lib.makeLibraryPath [
        ct2
        ct2LinkStubs
      ];
      # The shared CTranslate2's directory in the binary's rpath (read by wyoming-whisper-gpu's build.rs).
      WYOMING_CT2_RPATH = "${lib.getLib ct2}/lib";
    }
    // lib.optionalAttrs (isStt && cudaSupport && !systemCt2) {
      CUDA_TOOLKIT_ROOT_DIR = "${cudaRoot}";
      CUDA_ARCH_LIST = archList;
    };

  # The tests need the provisioned models and Python peers (scripts/setup.sh); CI runs them.
  doCheck = false;

  postFixup = ''
    wrapProgram $out/bin/${crate} ${
      lib.optionalString (crate == "wyoming-luxtts")
        "--set-default ORT_DYLIB_PATH ${lib.getLib ort}/lib/libonnxruntime.so"
    } ${lib.optionalString (runtimeLibraryPath != "") "--suffix LD_LIBRARY_PATH : ${runtimeLibraryPath}"}
  '';

  passthru = {
    onnxruntime = if crate == "wyoming-luxtts" then ort else null;
    inherit cudaSupport cudaCapabilities;
    ctranslate2 = if isStt && systemCt2 then ct2 else null;
  };

  meta = {
    description =
      {
        wyoming-whisper-gpu = "Wyoming speech-to-text server: Whisper through CTranslate2 (drop-in for wyoming-faster-whisper)";
        wyoming-luxtts = "Wyoming streaming text-to-speech server: LuxTTS voice cloning and Piper voices";
        wyoming-bridge = "Mumble voice bot on Wyoming STT/TTS and an OpenAI-compatible LLM";
      }
      .${crate};
    mainProgram = crate;
    # wyoming-luxtts links libespeak-ng (GPL-3.0-or-later), which makes the binary GPL-3.0-or-later.
    license =
      if crate == "wyoming-luxtts" then
        [ lib.licenses.gpl3Plus ]
      else
        [
          lib.licenses.mit
          lib.licenses.asl20
        ];
    platforms = [ "x86_64-linux" ];
  };
}
