"""TTS benchmark: wyoming-luxtts (Piper engine) against wyoming-piper 2.5.2, same machine, same run, same joe
voice (en_US-joe-medium), same texts.

Measures, on an otherwise idle machine:
- plain `synthesize`: time to the first `audio-chunk`, and the real-time factor (time to `audio-stop` divided by
  the audio's duration);
- streamed LLM-style text (`synthesize-start`, 3-word `synthesize-chunk`s 30 ms apart, the compatibility
  `synthesize`, `synthesize-stop`, as Home Assistant streams an LLM reply): time from the first chunk to the
  first `audio-chunk`;
- 4 concurrent clients, each sending every text once as a plain request: total wall time, and the server
  process's CPU time per second of audio it sent in those rounds (what the total is made of on a CPU-bound
  machine). A server's speed here is set when its process starts (wyoming-piper's CPU cost per second of
  audio varied by up to 25% between starts, steady within one), so both servers are started afresh several
  times (`--concurrent-starts`), and each start gets a warm-up round that is not counted (ours opens its
  single-thread sessions in it, when requests first overlap) and `--concurrent-rounds` measured ones;
- RSS after loading and one request.

The two servers are measured in pairs, close in time, so that the machine's drift (±5-10% over a minute on
the project's VM) falls on both: for the single requests, each text goes to one server and then the other
(which one first alternates), with a pause before each request so that ONNX Runtime threads still spinning
after a run are not charged to the other server; for 4 clients, one round of each server back to back, on the same pair of starts.
"ratio" is ours/theirs of the medians, as the targets are stated; beside it, the median of the per-pair
ratios and their middle half (interquartile range) show how consistent it is.
Prints the figures and the ratios ours/theirs. Run with `make bench-tts` (it builds the release binary and
sources the environment), or:

    python bench/tts.py --ours target/release/wyoming-luxtts --voice "$WYOMING_TEST_PIPER_VOICE"



"""

import argparse
import asyncio
import importlib.util
import json
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
from common import cpu_seconds, free_port, rss_mib, wait_ready

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


WHO = ("ours", "theirs")


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2


async def main(args):
    data = Path(tempfile.mkdtemp())
    name = Path(args.voice).name[: -len(".onnx")]
    shutil.copy(args.voice, data / f"{name}.onnx")
    shutil.copy(args.voice + ".json", data / f"{name}.onnx.json")
    # The espeak-ng data wyoming-piper phonemizes with (piper-tts's own), so that both say the same phonemes.
    espeak_data = importlib.util.find_spec("piper").submodule_search_locations[0]

    async def start():
        ports = {"ours": free_port(), "theirs": free_port()}
        servers = {
            "ours": subprocess.Popen(
                [args.ours, "--uri", f"tcp://127.0.0.1:{ports['ours']}", "--voice", name, "--data-dir", str(data),
                 "--espeak-data", espeak_data]
                + args.ours_arg,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            "theirs": subprocess.Popen(
                [sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{ports['theirs']}", "--voice",
                 name, "--data-dir", str(data), "--local-files-only"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        }
        try:
            for who, proc in servers.items():
                await wait_ready(ports[who], proc)
            for who in servers:  # warm-up (wyoming-piper loads the voice on first use)
                await plain(ports[who], "Warming up.")
        except BaseException:
            stop(servers)
            raise
        return servers, ports

    def stop(servers):
        for proc in servers.values():
            proc.terminate()
            proc.wait()

    async def four_clients(servers, ports, who):
        await asyncio.sleep(1)
        audio = []
        cpu, started = cpu_seconds(servers[who].pid), time.monotonic()

        async def client():
            for text in TEXTS:
                audio.append((await plain(ports[who], text))[2])

        await asyncio.gather(*(client() for _ in range(4)))
        return time.monotonic() - started, (cpu_seconds(servers[who].pid) - cpu) / sum(audio)

    results = {who: {"ttfa": [], "rtf": [], "stream": [], "concurrent": [], "concurrent_cpu": []} for who in WHO}
    rss_concurrent = {who: [] for who in WHO}
    try:
        servers, ports = await start()
        try:
            rss = {who: rss_mib(proc.pid) for who, proc in servers.items()}
            flip = 0
            for round in range(args.rounds):
                for text in TEXTS:
                    for kind in ("plain", "stream"):
                        flip += 1
                        for who in WHO if flip % 2 else reversed(WHO):
                            await asyncio.sleep(args.pause)
                            if kind == "plain":
                                first, total, audio = await plain(ports[who], text)
                                results[who]["ttfa"].append(first)
                                results[who]["rtf"].append(total / audio)
                            else:
                                results[who]["stream"].append(await streamed(ports[who], text))
        finally:
            stop(servers)
        for start_no in range(args.concurrent_starts):
            servers, ports = await start()
            try:
                for who in WHO:  # not counted: ours opens its one-thread sessions here
                    await four_clients(servers, ports, who)
                for round in range(args.concurrent_rounds):
                    for who in WHO if (start_no + round) % 2 == 0 else reversed(WHO):
                        total, cpu = await four_clients(servers, ports, who)
                        results[who]["concurrent"].append(total)
                        results[who]["concurrent_cpu"].append(cpu)
                for who, proc in servers.items():
                    rss_concurrent[who].append(rss_mib(proc.pid))
            finally:
                stop(servers)
    finally:
        shutil.rmtree(data, ignore_errors=True)

    if args.json:
        Path(args.json).write_text(
            json.dumps({"texts": TEXTS, "results": results, "rss": rss, "rss_concurrent": rss_concurrent}, indent=1))
    print(f"# TTS benchmark ({len(TEXTS)} LLM-style texts x {args.rounds} rounds; 4 clients: {args.concurrent_starts} "
          f"starts x {args.concurrent_rounds} rounds; voice {name}, CPU)\n")
    print("| metric | ours | wyoming-piper 2.5.2 | ratio | pairs: median ratio (middle half) | target |")
    print("|---|---|---|---|---|---|")

    def pairs(key, skip=0):
        o, t = results["ours"][key][skip:], results["theirs"][key][skip:]
        return o, t, sorted(a / b for a, b in zip(o, t))

    def row(label, key, scale, fmt, target="", skip=0):
        o, t, ratios = pairs(key, skip)
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print(f"| {label} | {median(o) * scale:{fmt}} | {median(t) * scale:{fmt}} | {median(o) / median(t):.2f} "
              f"| {median(ratios):.2f} ({q1:.2f}-{q3:.2f}) | {target} |")

    row("first audio, streamed LLM-style text, median (ms)", "stream", 1000, ".0f", "≤ 0.5")
    row("first audio, plain synthesize, median (ms)", "ttfa", 1000, ".0f")
    row("real-time factor, plain, median", "rtf", 1, ".3f", "≤ 1.0")
    if args.concurrent_starts * args.concurrent_rounds > 0:
        row(f"4 concurrent clients x {len(TEXTS)} texts, total, median (s)", "concurrent", 1, ".2f", "≤ 0.7")
        # Where the 4-client total comes from: the server's CPU time per second of audio it sent.
        row("4 concurrent clients, CPU ms per second of audio, median", "concurrent_cpu", 1000, ".0f")
        # Start by start, as the spread between starts is most of the ratio's.
        per_start = []
        for i in range(args.concurrent_starts):
            span = slice(i * args.concurrent_rounds, (i + 1) * args.concurrent_rounds)
            o, t = median(results["ours"]["concurrent"][span]), median(results["theirs"]["concurrent"][span])
            per_start.append(f"{o:.2f} / {t:.2f} s ({o / t:.2f})")
        print(f"\n4 clients, start by start, ours / theirs: {'; '.join(per_start)}\n")
    o, t = rss["ours"], rss["theirs"]
    print(f"| RSS after load and one request (MiB) | {o:.0f} | {t:.0f} | {o / t:.2f} | | |")
    if rss_concurrent["ours"]:
        # After the 4-client rounds: our one-thread sessions are open by then.
        o, t = median(rss_concurrent["ours"]), median(rss_concurrent["theirs"])
        print(f"| RSS after the 4-client rounds, median over starts (MiB) | {o:.0f} | {t:.0f} | {o / t:.2f} | | |")

    # First audio depends on how a reply starts, so it is also shown text by text.
    print("\nFirst audio by text, median (ms), ours / theirs:\n")
    print("| text | streamed | plain |")
    print("|---|---|---|")
    for i, text in enumerate(TEXTS):
        cells = []
        for key in ("stream", "ttfa"):
            o = median(results["ours"][key][i :: len(TEXTS)]) * 1000
            t = median(results["theirs"][key][i :: len(TEXTS)]) * 1000
            cells.append(f"{o:.0f} / {t:.0f} ({o / t:.2f})")
        words = " ".join(text.split()[:5])
        print(f"| {words} … | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True)
    parser.add_argument("--voice", default=os.environ.get("WYOMING_TEST_PIPER_VOICE"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrent-rounds", type=int, default=2, help="measured 4-client rounds per start")
    parser.add_argument("--concurrent-starts", type=int, default=4, help="fresh starts of both servers for 4 clients")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds of idle before each single request")
    parser.add_argument("--ours-arg", action="append", default=[], help="extra flag for our server (repeatable)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.concurrent_rounds < 0 or args.concurrent_starts < 0:
        parser.error("--concurrent-rounds and --concurrent-starts cannot be negative")
    if not args.voice:
        parser.error("--voice (or WYOMING_TEST_PIPER_VOICE) is required")
    asyncio.run(main(args))
