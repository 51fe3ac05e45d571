"""A tiny random-weight multilingual Whisper model in CTranslate2 format (native-and-models.md §8), for
tests of the multilingual code paths: language detection, language and task prompts, unknown languages. It
loads and decodes; its text is meaningless. Seeded, so every run writes the same model (about 750 KB).

Usage: make_tiny_whisper.py OUT_DIR   (needs the `ctranslate2` package, 4.8.4 like the runtime)
"""

import os
import sys

import numpy as np
from ctranslate2.specs import whisper_spec, model_spec

D, F, M = 64, 128, 80
rng = np.random.default_rng(0)
byte_alphabet = sorted({chr(c) for c in list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))} |
                       {chr(0x100 + i) for i in range(68)})
tokens = byte_alphabet + ["Ġhello", "Ġworld", "Ġtest", "", "<|endoftext|>", "<|startoftranscript|>", "<|en|>",
                          "<|de|>", "<|fr|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                          "<|nospeech|>", "<|notimestamps|>"] + [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
V = len(tokens)
spec = whisper_spec.WhisperSpec(1, 2, 1, 2)


def rand(*shape):
    return (rng.standard_normal(shape) * 0.05).astype(np.float32)


def shape_of(path):
    parts = path.split("/")
    leaf, owner = parts[-1], parts[-2]
    if path.startswith("encoder/conv1"):
        return {"weight": (D, M, 3), "bias": (D,)}.get(leaf)
    if path.startswith("encoder/conv2"):
        return {"weight": (D, D, 3), "bias": (D,)}.get(leaf)
    if owner == "layer_norm":
        return (D,)
    if "self_attention" in parts:
        out = 3 * D if owner == "linear_0" else D
        return {"weight": (out, D), "bias": (out,)}.get(leaf)
    if "attention" in parts:
        out = 2 * D if owner == "linear_1" else D
        return {"weight": (out, D), "bias": (out,)}.get(leaf)
    if "ffn" in parts:
        return {"weight": (F, D) if owner == "linear_0" else (D, F), "bias": (F,) if owner == "linear_0" else (D,)}.get(leaf)
    return None


embeddings = rand(V, D)
assignments = {}


def plan(s, name, value):
    leaf = name.split("/")[-1]
    if name == "decoder/embeddings/weight":
        assignments[name] = embeddings
    elif name == "decoder/projection/weight":
        assignments[name] = embeddings
    elif name == "decoder/projection/bias":
        assignments[name] = np.zeros(V, np.float32)
    elif name == "encoder/position_encodings/encodings":
        assignments[name] = rand(1500, D)
    elif name == "decoder/position_encodings/encodings":
        assignments[name] = rand(448, D)
    elif leaf in ("weight", "bias", "gamma", "beta") and (value is None or (isinstance(value, str) and leaf == "bias")):
        shape = shape_of(name)
        if shape is None:
            raise SystemExit(f"no shape for {name}")
        if leaf == "gamma":
            assignments[name] = np.ones(shape, np.float32)
        elif leaf in ("beta", "bias"):
            assignments[name] = np.zeros(shape, np.float32)
        else:
            assignments[name] = rand(*shape)


model_spec.visit_spec(spec, plan)
for name, value in assignments.items():
    obj = spec
    for part in name.split("/")[:-1]:
        base, _, index = part.rpartition("_")
        if index.isdigit() and isinstance(getattr(obj, base, None), list):
            obj = getattr(obj, base)[int(index)]
        else:
            obj = getattr(obj, part)
    setattr(obj, name.split("/")[-1], value)

ids = {t: i for i, t in enumerate(tokens)}
spec.config.lang_ids = [ids["<|en|>"], ids["<|de|>"], ids["<|fr|>"]]
spec.config.suppress_ids = [ids["<|startoflm|>"]]
spec.config.suppress_ids_begin = [ids["<|endoftext|>"]]
spec.config.alignment_heads = [[0, 0], [0, 1]]
spec.register_vocabulary(tokens)
spec.validate()
spec.optimize(quantization="int8")
os.makedirs(sys.argv[1], exist_ok=True)
spec.save(sys.argv[1])
