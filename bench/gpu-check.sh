#!/usr/bin/env bash
# The STT benchmark on an NVIDIA GPU, on a machine with a CUDA toolkit (nvcc), cmake, a Rust toolchain
# and no network: builds wyoming-whisper-gpu with CUDA for the card that is present (bundled
# CTranslate2, CUDA_ARCH_LIST from nvidia-smi) from this repository and the archive made by
# bench/pack-gpu-check.sh, then runs bench/stt.py against it on the GPU and prints the figures, which go
# into bench/RESULTS.md with the card's name.
#
#   bench/gpu-check.sh gpu-check.tar
#
# Silero VAD runs natively (no ONNX Runtime needed).
# Not run yet: no GPU has been available to this project (see bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
archive="${1:?usage: bench/gpu-check.sh gpu-check.tar (from bench/pack-gpu-check.sh)}"
work="${GPU_CHECK_DIR:-/tmp/wyoming-gpu-check}"
mkdir -p "$work"
tar -C "$work" -xf "$archive"
deps="$work/gpu-check"

command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi: not a GPU machine" >&2; exit 1; }
card="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)"
arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1)"
echo "gpu-check: $card, compute capability $arch"

# Offline build: crates from the archive, CTranslate2 compiled with CUDA for this card only.
export CARGO_HOME="$work/cargo-home"
mkdir -p "$CARGO_HOME"
cat >"$CARGO_HOME/config.toml" <<TOML
[source.crates-io]
replace-with = "vendored"
[source.vendored]
directory = "$deps/vendor"
[net]
offline = true
TOML
export CUDA_ARCH_LIST="$arch" CMAKE_PARALLEL="$(nproc)"
cargo build --release --locked -p wyoming-whisper-gpu --no-default-features --features ct2-bundled,cuda
bin="${CARGO_TARGET_DIR:-target}/release/wyoming-whisper-gpu"

python3 -m pip install -q --no-index --no-deps --target "$work/site" "$deps"/wheels/*.whl
export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

echo "gpu-check: card: $card"
python3 bench/stt.py --ours "$bin" --model "$deps/model" --silero-model "$deps/silero_vad.onnx" \
  --device cuda --reference none --corpus "$deps/corpus" --rounds "${ROUNDS:-3}" --threads 4
