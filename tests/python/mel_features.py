"""faster-whisper's log-mel features of float32 samples, for the parity test of our mel.

Usage: mel_features.py IN.f32 OUT.f32 N_MELS
Reads raw little-endian float32 16 kHz samples; writes pad_or_trim(FeatureExtractor(...)(audio)) as raw
float32, shape [N_MELS, 3000], exactly what faster-whisper feeds its encoder for the first window.
"""

import sys

import numpy as np
from faster_whisper.audio import pad_or_trim
from faster_whisper.feature_extractor import FeatureExtractor


def main(src: str, dst: str, n_mels: int) -> None:
    audio = np.fromfile(src, dtype="<f4")
    features = FeatureExtractor(feature_size=n_mels)(audio)
    pad_or_trim(features).astype("<f4").tofile(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
