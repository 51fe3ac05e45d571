# wyoming-rs developer entry points.
#
#   make setup   provision native libraries, test models and Python peers (scripts/setup.sh)
#   make test    fmt check + clippy (-D warnings) + cargo test, with the test environment loaded
#   make run     build and run wyoming-whisper-gpu (10300) and wyoming-luxtts (10200) together
#   make fuzz    fuzz a parser for FUZZ_SECONDS (cargo-fuzz, nightly): FUZZ_CRATE=wyoming-bridge FUZZ_TARGET=voice_packet
#   make bench-stt / bench-tts / bench-e2e   benchmarks against the Python servers (results in bench/RESULTS.md)
#
# Everything provisioned lives outside the clone, in $(WYOMING_RS_CACHE)
# (default ~/.cache/wyoming-rs); every recipe sources $(WYOMING_RS_CACHE)/env.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := test

WYOMING_RS_CACHE ?= $(HOME)/.cache/wyoming-rs
export WYOMING_RS_CACHE
ENV_FILE := $(WYOMING_RS_CACHE)/env
LOAD_ENV := source "$(ENV_FILE)"

# Extra cargo arguments, e.g. `make test CARGO_ARGS="--features ct2-system"`.
CARGO_ARGS ?=

WHISPER_URI ?= tcp://0.0.0.0:10300
LUXTTS_URI ?= tcp://0.0.0.0:10200
# The default models are the provisioned test models (see scripts/setup.sh).
WHISPER_ARGS ?= --model "$$WYOMING_TEST_WHISPER_TINY_EN" --silero-model "$$WYOMING_TEST_SILERO_VAD"
# piper-tts's espeak-ng data, which the Piper voices were trained with (Debian's reads some words differently).
LUXTTS_ARGS ?= --voice "$$WYOMING_TEST_PIPER_VOICE" --espeak-data "$$WYOMING_RS_ESPEAK_DATA"

# FUZZ_CRATE: wyoming-proto (target decode) or wyoming-bridge (voice_packet, control_frames).
FUZZ_CRATE ?= wyoming-proto
FUZZ_TARGET ?= decode
FUZZ_SECONDS ?= 60

.PHONY: setup test run fuzz

setup:
	bash scripts/setup.sh

test: setup
	@$(LOAD_ENV)
	# Tests that need a provisioned peer or model fail instead of skipping.
	export WYOMING_RS_REQUIRE_PEERS=1
	set -x
	cargo fmt --all --check
	cargo clippy --workspace --all-targets $(CARGO_ARGS) -- -D warnings
	cargo test --workspace $(CARGO_ARGS)

# Builds both servers first, then runs them in the foreground together. Ctrl-C
# (or either server exiting) stops both; the exit status is the first one to exit.
run: setup
	@$(LOAD_ENV)
	cargo build --release $(CARGO_ARGS) -p wyoming-whisper-gpu -p wyoming-luxtts
	bin="$${CARGO_TARGET_DIR:-target}/release"
	pids=()
	stop() { trap - INT TERM EXIT; kill "$${pids[@]}" 2>/dev/null || true; wait "$${pids[@]}" 2>/dev/null || true; }
	trap 'stop; exit 130' INT TERM
	trap stop EXIT
	"$$bin/wyoming-whisper-gpu" --uri "$(WHISPER_URI)" $(WHISPER_ARGS) & pids+=($$!)
	"$$bin/wyoming-luxtts" --uri "$(LUXTTS_URI)" $(LUXTTS_ARGS) & pids+=($$!)
	echo "[run] wyoming-whisper-gpu on $(WHISPER_URI) (pid $${pids[0]}), wyoming-luxtts on $(LUXTTS_URI) (pid $${pids[1]}); Ctrl-C stops both"
	rc=0
	wait -n "$${pids[@]}" || rc=$$?
	echo "[run] a server exited with status $$rc; stopping the other"
	exit "$$rc"

# Runs `cargo +nightly fuzz run $(FUZZ_TARGET)` in wyoming-proto (its fuzz/ crate).
# Installs cargo-fuzz if missing. Without a nightly toolchain, falls back to the
# pinned stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
fuzz: setup
	@$(LOAD_ENV)
	if ! cargo fuzz --version >/dev/null 2>&1; then
	  cargo install cargo-fuzz --locked
	fi
	cd $(FUZZ_CRATE)
	if rustup run nightly rustc --version >/dev/null 2>&1; then
	  cargo +nightly fuzz run $(FUZZ_TARGET) -- -max_total_time=$(FUZZ_SECONDS)
	else
	  echo "[fuzz] no nightly toolchain; using RUSTC_BOOTSTRAP=1 with the pinned toolchain"
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $(FUZZ_TARGET) -- -max_total_time=$(FUZZ_SECONDS)
	fi

# STT benchmark against wyoming-faster-whisper (same model, int8, beam 1); see bench/stt.py.
.PHONY: bench-stt
bench-stt: setup
	@$(LOAD_ENV)
	cargo build --release -p wyoming-whisper-gpu
	"$$WYOMING_RS_PYTHON" bench/stt.py --ours "$${CARGO_TARGET_DIR:-target}/release/wyoming-whisper-gpu" --model "$$WYOMING_TEST_WHISPER_TINY_EN" --silero-model "$$WYOMING_TEST_SILERO_VAD"

# TTS benchmark against wyoming-piper 2.5.2 (same joe voice and texts); see bench/tts.py.
.PHONY: bench-tts
bench-tts: setup
	@$(LOAD_ENV)
	cargo build --release -p wyoming-luxtts
	"$$WYOMING_RS_PYTHON" bench/tts.py --ours "$${CARGO_TARGET_DIR:-target}/release/wyoming-luxtts" --voice "$$WYOMING_TEST_PIPER_VOICE"

# End-to-end bridge benchmark: twenty turns and five barge-ins through real processes; see
# wyoming-bridge/benches/e2e.rs. Release builds of all three binaries first (the bench finds them next to its own).
.PHONY: bench-e2e
bench-e2e: setup
	@$(LOAD_ENV)
	cargo build --release -p wyoming-whisper-gpu -p wyoming-luxtts -p wyoming-bridge
	cargo bench -p wyoming-bridge --bench e2e
