#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine without network into one archive:
# every crate (cargo vendor), the Whisper model, Silero VAD, the benchmark's WAVs and the Python
# `wyoming` wheel. Run here, where the registries are reachable:  bench/pack-gpu-check.sh OUT.tar
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bench/pack-gpu-check.sh OUT.tar}"
# shellcheck source=/dev/null
source "${WYOMING_RS_CACHE:-$HOME/.cache/wyoming-rs}/env"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu-check"
cargo vendor --locked --versioned-dirs "$stage/gpu-check/vendor" >/dev/null
cp -rL "$WYOMING_TEST_WHISPER_TINY_EN" "$stage/gpu-check/model"
cp "$WYOMING_TEST_SILERO_VAD" "$stage/gpu-check/silero_vad.onnx"
"$WYOMING_RS_PYTHON" bench/stt.py --write-corpus "$stage/gpu-check/corpus"
"$WYOMING_RS_PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$stage/gpu-check/wheels" wyoming==1.10.2
tar -C "$stage" -cf "$out" gpu-check
echo "wrote $out ($(du -h "$out" | cut -f1))"
