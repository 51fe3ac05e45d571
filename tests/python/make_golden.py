"""Writes the golden wire captures of wyoming.md §6 with the real Python `wyoming` 1.10.2 writer.

Run once with the venv's Python; the outputs are committed under wyoming-proto/tests/golden/ and the
Rust golden tests compare our encoder and decoder with them byte for byte. Payloads, elided in the
reference captures, are a fixed pattern so the files are reproducible.
"""

import io
import sys
from pathlib import Path

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import write_event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info
from wyoming.tts import SynthesizeChunk, Synthesize, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

LANGS = "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo yue zh".split()


def payload(n: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 256 for i in range(n))


def write(path: Path, events) -> None:
    buf = io.BytesIO()
    for e in events:
        write_event(e.event(), buf)
    path.write_bytes(buf.getvalue())


def main(out: Path) -> None:
    info = Info(
        asr=[
            AsrProgram(
                name="faster-whisper",
                attribution=Attribution(name="Guillaume Klein", url="https://github.com/guillaumekln/faster-whisper/"),
                installed=True,
                description="Faster Whisper transcription with CTranslate2",
                version="3.8.1",
                models=[
                    AsrModel(
                        name="tiny-int8",
                        attribution=Attribution(name="Systran", url="https://huggingface.co/Systran"),
                        installed=True,
                        description="tiny-int8",
                        version="1.2.1",
                        languages=LANGS,
                    )
                ],
                supports_transcript_streaming=False,
                requires_external_vad=True,
                prefers_auto_gain_enabled=True,
                prefers_noise_reduction_enabled=True,
            )
        ]
    )
    write(out / "describe_info.client.bin", [Describe()])
    write(out / "describe_info.server.bin", [info])

    fmt = dict(rate=16000, width=2, channels=1)
    write(
        out / "ha_stt.client.bin",
        [Transcribe(language="en"), AudioStart(**fmt)]
        + [AudioChunk(audio=payload(2048, i), **fmt) for i in range(3)]
        + [AudioStop()],
    )
    write(out / "ha_stt.server.bin", [Transcript(text=" Turn on the living room lamp.")])

    voice = SynthesizeVoice(name="en_US-lessac-medium")
    write(
        out / "ha_tts_stream.client.bin",
        [
            SynthesizeStart(voice=voice),
            SynthesizeChunk(text="Hello world. "),
            SynthesizeChunk(text="How are"),
            SynthesizeChunk(text=" you today?"),
            Synthesize(text="Hello world. How are you today?", voice=voice),
            SynthesizeStop(),
        ],
    )
    tts = dict(rate=22050, width=2, channels=1)
    cycle = lambda seed: [
        AudioStart(**tts),
        AudioChunk(audio=payload(2048, seed), **tts),
        AudioChunk(audio=payload(952, seed + 1), **tts),
        AudioStop(),
    ]
    write(out / "ha_tts_stream.server.bin", cycle(10) + cycle(20) + [SynthesizeStopped()])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
