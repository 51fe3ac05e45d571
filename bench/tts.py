"""TTS benchmark: wyoming-luxtts (Piper engine) against wyoming-piper 2.5.2, same machine, same run, same joe
voice (en_US-joe-medium), same texts.

Measures, alternating blocks of requests to the two servers (each block on an otherwise idle machine, which
server goes first alternating by round):
- plain `synthesize`: time to the first `audio-chunk`, and the real-time factor (time to `audio-stop` divided by
  the audio's duration);
- streamed LLM-style text (`synthesize-start`, 3-word `synthesize-chunk`s 30 ms apart, the compatibility
  `synthesize`, `synthesize-stop`, as Home Assistant streams an LLM reply): time from the first chunk to the
  first `audio-chunk`;
- 4 concurrent clients, each sending every text once as a plain request: total wall time (median of rounds;
  ours opens its single-thread sessions during the first round, when requests first overlap);
- RSS after loading and one request.
Prints the figures and the ratios ours/theirs. Run with `make bench-tts` (it builds the release binary and
sources the environment), or:

    python bench/tts.py --ours target/release/wyoming-luxtts --voice "$WYOMING_TEST_PIPER_VOICE"



"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped
from common import free_port, rss_mib, wait_ready

# LLM-style replies: a short opener, then a few sentences.
TEXTS = [
    "Sure, I can help with that. The kitchen lights are now on, and the thermostat is set to twenty degrees.",
    "Good morning! Today will be mostly sunny, with a high of eighteen degrees and a light breeze from the west.",
    "Of course. I've added milk, eggs and bread to your shopping list. Is there anything else you need?",
    "Here's a quick tip: boil the pasta in plenty of salted water, and stir it during the first minute.",
    "The next train to the city leaves at seven fifteen from platform two. It takes about forty minutes.",
    "Okay, your timer is set for ten minutes. I'll let you know when it's done, so you can relax until then.",
]


async def plain(port, text):
    """(seconds to the first audio-chunk, seconds to audio-stop, seconds of audio)."""
    async with AsyncClient.from_uri(f"tcp://127.0.0.1:{port}") as client:
        start = time.monotonic()
        await client.write_event(Synthesize(text=text).event())
        first, samples, rate = None, 0, 1
        while True:
            event = await client.read_event()
            if event is None:
                raise RuntimeError("closed before audio-stop")
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                first = first or time.monotonic() - start
                samples += len(chunk.audio) // (chunk.width * chunk.channels)
                rate = chunk.rate
            elif AudioStop.is_type(event.type):
                return first, time.monotonic() - start, samples / rate


async def streamed(port, text, gap=0.03):
    """Seconds from the first synthesize-chunk to the first audio-chunk."""
    async with AsyncClient.from_uri(f"tcp://127.0.0.1:{port}") as client:
        words = text.split(" ")
        chunks = [" ".join(words[i : i + 3]) + " " for i in range(0, len(words), 3)]
        first = asyncio.get_running_loop().create_future()

        async def reader():
            while True:
                event = await client.read_event()
                if event is None:
                    raise RuntimeError("closed before synthesize-stopped")
                if AudioChunk.is_type(event.type) and not first.done():
                    first.set_result(time.monotonic())
                if SynthesizeStopped.is_type(event.type):
                    return

        task = asyncio.create_task(reader())
        await client.write_event(SynthesizeStart().event())
        start = time.monotonic()
        for chunk in chunks:
            await client.write_event(SynthesizeChunk(text=chunk).event())
            await asyncio.sleep(gap)
        await client.write_event(Synthesize(text=text).event())
        await client.write_event(SynthesizeStop().event())
        await task
        return first.result() - start


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2


async def main(args):
    data = Path(tempfile.mkdtemp())
    name = Path(args.voice).name[: -len(".onnx")]
    shutil.copy(args.voice, data / f"{name}.onnx")
    shutil.copy(args.voice + ".json", data / f"{name}.onnx.json")
    ports = {"ours": free_port(), "theirs": free_port()}
    servers = {
        "ours": subprocess.Popen(
            [args.ours, "--uri", f"tcp://127.0.0.1:{ports['ours']}", "--voice", name, "--data-dir", str(data)]
            + args.ours_arg,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        "theirs": subprocess.Popen(
            [sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{ports['theirs']}", "--voice", name,
             "--data-dir", str(data), "--local-files-only"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    try:
        for who, proc in servers.items():
            await wait_ready(ports[who], proc)
        for who in servers:  # warm-up (wyoming-piper loads the voice on first use)
            await plain(ports[who], "Warming up.")
        rss = {who: rss_mib(proc.pid) for who, proc in servers.items()}
        results = {who: {"ttfa": [], "rtf": [], "stream": [], "concurrent": []} for who in servers}
        for round in range(args.rounds):
            # Blocks, not request-by-request interleaving: ONNX Runtime's threads may spin on after a run,
            # which would be charged to the other server's next request. Alternating which server goes
            # first spreads the machine's drift over both.
            for who in servers if round % 2 == 0 else reversed(servers):
                await asyncio.sleep(1)
                for text in TEXTS:
                    first, total, audio = await plain(ports[who], text)
                    results[who]["ttfa"].append(first)
                    results[who]["rtf"].append(total / audio)
                for text in TEXTS:
                    results[who]["stream"].append(await streamed(ports[who], text))
        for round in range(args.concurrent_rounds):
            for who in servers if round % 2 == 0 else reversed(servers):
                await asyncio.sleep(1)
                start = time.monotonic()

                async def client():
                    for text in TEXTS:
                        await plain(ports[who], text)

                await asyncio.gather(*(client() for _ in range(4)))
                results[who]["concurrent"].append(time.monotonic() - start)
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)

    print(f"# TTS benchmark ({len(TEXTS)} LLM-style texts x {args.rounds} rounds, 4 clients x {args.concurrent_rounds} rounds, voice {name}, CPU)\n")
    print("| metric | ours | wyoming-piper 2.5.2 | ratio | target |")
    print("|---|---|---|---|---|")

    def row(label, o, t, fmt, target=""):
        print(f"| {label} | {o:{fmt}} | {t:{fmt}} | {o / t:.2f} | {target} |")

    o, t = results["ours"], results["theirs"]
    row("first audio, streamed LLM-style text, median (ms)", median(o["stream"]) * 1000, median(t["stream"]) * 1000, ".0f", "≤ 0.5")
    row("first audio, plain synthesize, median (ms)", median(o["ttfa"]) * 1000, median(t["ttfa"]) * 1000, ".0f")
    row("real-time factor, plain, median", median(o["rtf"]), median(t["rtf"]), ".3f", "≤ 1.0")
    row(f"4 concurrent clients x {len(TEXTS)} texts, total, median (s)", median(o["concurrent"]), median(t["concurrent"]), ".2f", "≤ 0.7")
    row("RSS after load and one request (MiB)", rss["ours"], rss["theirs"], ".0f")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True)
    parser.add_argument("--voice", default=os.environ.get("WYOMING_TEST_PIPER_VOICE"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrent-rounds", type=int, default=4)
    parser.add_argument("--ours-arg", action="append", default=[], help="extra flag for our server (repeatable)")
    args = parser.parse_args()
    if not args.voice:
        parser.error("--voice (or WYOMING_TEST_PIPER_VOICE) is required")
    asyncio.run(main(args))
