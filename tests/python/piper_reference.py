"""The Python `piper-tts` engine's output for texts, as the reference for our Piper engine.

Usage: piper_reference.py OUT_DIR < texts.json   (a JSON list of strings)
Writes OUT_DIR/reference.json: for each text, the phoneme ids of each sentence and the audio file
OUT_DIR/NNN.raw (float32 little-endian, the concatenated per-sentence chunks, normalised as piper does by
default). Noise is off (noise_scale = noise_w = 0) so that the output is deterministic. Also records
`espeak_data`: the directory holding the espeak-ng-data that piper-tts uses, so that our engine can read the
same dictionaries.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.phonemize_espeak import ESPEAK_DATA_DIR


def main(out_dir: Path) -> None:
    texts = json.load(sys.stdin)
    voice = PiperVoice.load(os.environ["WYOMING_TEST_PIPER_VOICE"])
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, text in enumerate(texts):
        ids, audio = [], []
        for chunk in voice.synthesize(text, syn_config=config):
            ids.append([int(x) for x in chunk.phoneme_ids])
            audio.append(chunk.audio_float_array.astype("<f4"))
        samples = np.concatenate(audio) if audio else np.zeros(0, dtype="<f4")
        samples.tofile(out_dir / f"{i:03d}.raw")
        results.append({"text": text, "ids": ids, "samples": int(samples.shape[0])})
    json.dump(
        {"espeak_data": str(Path(ESPEAK_DATA_DIR).parent), "results": results},
        open(out_dir / "reference.json", "w"),
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
