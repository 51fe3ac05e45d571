"""Synthesises test speech with the Python `piper-tts` engine and the provisioned joe voice.

Usage: synthesize.py OUT_DIR < sentences.json   (a JSON list of strings)
Writes OUT_DIR/000.wav, 001.wav, ... (22,050 Hz, 16-bit, mono), one per sentence. The voice's noise is
turned off (noise_scale = noise_w = 0) so that every run synthesises the same audio: with noise, piper's
output differs from run to run and a test could pass or fail by chance.
"""

import json
import os
import sys
import wave
from pathlib import Path

from piper import PiperVoice, SynthesisConfig


DETERMINISTIC = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


def main(out_dir: Path) -> None:
    sentences = json.load(sys.stdin)
    voice = PiperVoice.load(os.environ["WYOMING_TEST_PIPER_VOICE"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, sentence in enumerate(sentences):
        with wave.open(str(out_dir / f"{i:03d}.wav"), "wb") as wav:
            voice.synthesize_wav(sentence, wav, syn_config=DETERMINISTIC)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
