"""Converts raw PCM chunk by chunk with the real `wyoming.audio.AudioChunkConverter` (audioop).

The reference for wyoming-proto/tests/audio_python_parity.rs:

    python audio_convert.py IN OUT --from RATE,WIDTH,CHANNELS --to RATE,WIDTH,CHANNELS --chunks 100,250

reads IN, cuts it after each listed byte count (the rest is the last chunk), converts the chunks in
order with one converter (so `ratecv` state crosses the cuts, as in the Python servers) and writes
the concatenated output to OUT. Python has no flush: what `ratecv` still holds is not written.
"""

import argparse
from itertools import accumulate
from pathlib import Path

from wyoming.audio import AudioChunk, AudioChunkConverter


def audio_format(text: str):
    rate, width, channels = (int(v) for v in text.split(","))
    return rate, width, channels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--from", dest="source", type=audio_format, required=True)
    parser.add_argument("--to", dest="target", type=audio_format, required=True)
    parser.add_argument("--chunks", default="", help="comma-separated chunk sizes in bytes")
    args = parser.parse_args()

    data = args.input.read_bytes()
    sizes = [int(v) for v in args.chunks.split(",") if v]
    rate, width, channels = args.source
    converter = AudioChunkConverter(*args.target)

    out = bytearray()
    start = 0
    for end in [*accumulate(sizes), len(data)]:
        end = min(max(end, start), len(data))
        chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=data[start:end])
        out += converter.convert(chunk).audio
        start = end
    args.output.write_bytes(bytes(out))


if __name__ == "__main__":
    main()
