"""Describe both servers, synthesise a sentence on the TTS server and transcribe it on the STT server.

Usage: roundtrip.py HOST TTS_PORT STT_PORT TEXT. Prints both programs' names and the transcript; exits
non-zero on any protocol error. Used by the NixOS VM test (vm.nix); needs only the `wyoming` package.
"""

import asyncio
import sys

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize


async def describe(host: str, port: int) -> Info:
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=30)
            if event is None:
                raise RuntimeError(f"{host}:{port} closed the connection before info")
            if Info.is_type(event.type):
                return Info.from_event(event)


async def synthesize(host: str, port: int, text: str) -> tuple[AudioStart, bytes]:
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Synthesize(text=text).event())
        start, audio = None, bytearray()
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=120)
            if event is None:
                raise RuntimeError("TTS server closed the connection")
            if Error.is_type(event.type):
                raise RuntimeError(f"TTS error: {Error.from_event(event).text}")
            if AudioStart.is_type(event.type):
                start = AudioStart.from_event(event)
            elif AudioChunk.is_type(event.type):
                audio.extend(AudioChunk.from_event(event).audio)
            elif AudioStop.is_type(event.type):
                if start is None or not audio:
                    raise RuntimeError("TTS sent no audio")
                return start, bytes(audio)


async def transcribe(host: str, port: int, start: AudioStart, audio: bytes) -> str:
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=start.rate, width=start.width, channels=start.channels).event())
        step = start.rate * start.width * start.channels // 10
        for i in range(0, len(audio), step):
            chunk = AudioChunk(rate=start.rate, width=start.width, channels=start.channels, audio=audio[i : i + step])
            await client.write_event(chunk.event())
        await client.write_event(AudioStop().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=120)
            if event is None:
                raise RuntimeError("STT server closed the connection")
            if Error.is_type(event.type):
                raise RuntimeError(f"STT error: {Error.from_event(event).text}")
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text


async def main() -> None:
    host, tts_port, stt_port, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tts_info = await describe(host, tts_port)
    stt_info = await describe(host, stt_port)
    assert tts_info.tts, "the TTS server lists no tts program"
    assert stt_info.asr, "the STT server lists no asr program"
    print("tts:", ", ".join(p.name for p in tts_info.tts))
    print("asr:", ", ".join(p.name for p in stt_info.asr))
    start, audio = await synthesize(host, tts_port, text)
    print(f"audio: {len(audio)} bytes at {start.rate} Hz")
    print("transcript:", await transcribe(host, stt_port, start, audio))


if __name__ == "__main__":
    asyncio.run(main())
