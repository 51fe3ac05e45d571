"""An independent NumPy implementation of one LuxTTS synthesis pass (reference luxtts.md §4-§10), run with
onnxruntime on the same graphs, for tests/luxtts_pipeline.rs and tests/luxtts_features.rs.

Usage:
  luxtts_reference.py features IN.f32 OUT.f32     log-mel features (§4, not yet x 0.1) of raw float32 24 kHz audio
  luxtts_reference.py synth CONFIG.json           one pass; CONFIG names the inputs and OUT_DIR (see below)

The synth config: model_dir, wav (24 kHz mono 16-bit), ref_duration, target_rms, prompt_tokens, text_tokens,
noise (raw float32 [F, 100] file), num_steps, guidance_scale, t_shift, speed, min_frames, out_dir. It writes
raw float32 files prompt_features (x 0.1), text_condition, vocoder_input, audio_48k, audio_24k, merged, output,
and plan.json.

Written from the reference document's formulas, not from the Rust code: float64 DFT-based features, the
duration rules with the adjusted speed, the shifted schedule, the Euler update, the 12 kHz mask merge with
band-limited (spectrum zero-padding) 2x upsampling, clamp and volume match.
"""

import json
import math
import sys
import wave
from pathlib import Path

import numpy as np
import onnxruntime as ort

SR, N_FFT, HOP, N_MELS, F_MAX = 24000, 1024, 256, 100, 12000.0


def mel_filterbank():
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(F_MAX), N_MELS + 2))
    fb = np.zeros((N_FFT // 2 + 1, N_MELS))
    for m in range(N_MELS):
        down = (freqs - edges[m]) / (edges[m + 1] - edges[m])
        up = (edges[m + 2] - freqs) / (edges[m + 2] - edges[m + 1])
        fb[:, m] = np.maximum(0.0, np.minimum(down, up))
    return fb


def log_mel(audio):
    x = np.asarray(audio, dtype=np.float64)
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    frames = (len(x) + HOP // 2) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(padded[idx] * window, axis=1))
    return np.log(np.maximum(spec @ mel_filterbank(), 1e-7)).astype(np.float32)


def read_wav(path, seconds):
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    return data[: int(round(seconds * SR))]


def plan(fp, p, l, speed, min_frames):
    f32 = np.float32

    def onnx_frames(s):
        return int(np.ceil(f32(fp) / f32(p) * f32(p + l) / f32(s)))

    s = float(f32(f32(1.3) * f32(speed)))
    if math.ceil(fp * l / (p * s)) < min_frames:
        s = float(f32(fp * l / (p * min_frames)))
    s_adj = f32((p + l) / (p + l / s))
    while onnx_frames(s_adj) < fp + min_frames:
        s_adj = f32(s_adj * f32(0.999))
    return s_adj, onnx_frames(s_adj)


def merge(a48, a24):
    n24 = len(a24)
    n = 2 * n24
    low = np.zeros(n // 2 + 1, dtype=np.complex128)
    x = np.fft.rfft(a24.astype(np.float64))
    low[: len(x)] = 2.0 * x
    if n24 % 2 == 0:
        low[n24 // 2] *= 0.5
    high48 = np.zeros(n)
    m = min(n, len(a48))
    high48[:m] = a48[:m]
    high = np.fft.rfft(high48)
    bins = n // 2 + 1
    c = int(math.floor(12000 / 24000 * bins))
    a, b = max(0, c - 4), min(bins, c + 4)
    mask = np.zeros(bins)
    mask[b:] = 1.0
    u = np.linspace(0.0, 1.0, b - a)
    mask[a:b] = 3 * u**2 - 2 * u**3
    return np.fft.irfft(high * mask + low * (1 - mask), n).astype(np.float32)


def synth(cfg):
    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = {name: ort.InferenceSession(str(Path(cfg["model_dir"]) / f"{name}.onnx"), opts)
            for name in ["text_encoder", "fm_decoder", "vocos"]}

    audio = read_wav(cfg["wav"], cfg["ref_duration"])
    prompt_rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if 0 < prompt_rms < cfg["target_rms"]:
        audio = audio * np.float32(cfg["target_rms"] / prompt_rms)
    prompt_features = log_mel(audio) * np.float32(0.1)
    fp = prompt_features.shape[0]

    prompt_tokens = np.array([cfg["prompt_tokens"]], dtype=np.int64)
    tokens = np.array([cfg["text_tokens"]], dtype=np.int64)
    p, l = prompt_tokens.shape[1], tokens.shape[1]
    speed, predicted = plan(fp, p, l, cfg["speed"], cfg["min_frames"])

    text_condition = sess["text_encoder"].run(None, {
        "tokens": tokens, "prompt_tokens": prompt_tokens,
        "prompt_features_len": np.array(fp, dtype=np.int64), "speed": np.array(speed, dtype=np.float32)})[0]
    F = text_condition.shape[1]
    speech_condition = np.zeros_like(text_condition)
    speech_condition[0, :fp] = prompt_features

    x = np.fromfile(cfg["noise"], dtype=np.float32).reshape(1, F, N_MELS)
    n = cfg["num_steps"]
    tau = cfg["t_shift"]
    times = [tau * (i / n) / (1 + (tau - 1) * (i / n)) for i in range(n + 1)]
    for i in range(n):
        v = sess["fm_decoder"].run(None, {
            "t": np.array(times[i], dtype=np.float32), "x": x, "text_condition": text_condition,
            "speech_condition": speech_condition, "guidance_scale": np.array(cfg["guidance_scale"], dtype=np.float32)})[0]
        x = x + np.float32(times[i + 1] - times[i]) * v

    vocoder_input = np.ascontiguousarray((x[0, fp:] / np.float32(0.1)).T[None])
    a48, a24 = sess["vocos"].run(["audio_48k", "audio_24k"], {"features": vocoder_input})
    merged = merge(a48[0], a24[0])
    gain = np.float32(prompt_rms / 0.1) if prompt_rms < 0.1 else np.float32(1.0)
    output = np.clip(merged, -1.0, 1.0) * gain

    for name, value in [("prompt_features", prompt_features), ("text_condition", text_condition),
                        ("vocoder_input", vocoder_input), ("audio_48k", a48), ("audio_24k", a24),
                        ("merged", merged), ("output", output)]:
        np.asarray(value, dtype=np.float32).tofile(out / name)
    (out / "plan.json").write_text(json.dumps({
        "encoder_speed": float(speed), "predicted_frames": predicted, "total_frames": F, "prompt_frames": fp,
        "prompt_rms": prompt_rms}))


def main():
    if sys.argv[1] == "features":
        audio = np.fromfile(sys.argv[2], dtype=np.float32)
        log_mel(audio).tofile(sys.argv[3])
    elif sys.argv[1] == "synth":
        synth(json.loads(Path(sys.argv[2]).read_text()))
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]!r}")


if __name__ == "__main__":
    main()
