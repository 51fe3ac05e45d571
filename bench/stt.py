"""STT benchmark: wyoming-whisper-gpu against wyoming-faster-whisper 3.8.1, same machine, same run, same
model (tiny.en), int8, beam 1, same thread count.

Measures the time from sending `audio-stop` to receiving `transcript` for 2-5 s utterances, with 600 ms of
trailing silence and without. Audio is streamed at real-time pace in 10 ms chunks, as Home Assistant streams a
microphone (that is what gives a server the trailing silence to work in); also the RSS of each server after loading, and the throughput with 4 concurrent
clients. Prints the figures and the ratios ours/theirs. Run with `make bench-stt` (it builds the release
binary and sources the environment), or:

    python bench/stt.py --ours target/release/wyoming-whisper-gpu --model "$WYOMING_TEST_WHISPER_TINY_EN"
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))

from wyoming.asr import Transcribe, Transcript  # noqa: E402
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402
from common import free_port, rss_mib, wait_ready  # noqa: E402

SENTENCES = [
    "Set the thermostat to twenty degrees.",
    "What is on my calendar for today?",
    "Turn off all the lights downstairs please.",
    "How far away is the nearest train station?",
    "Play the next song in the playlist.",
    "Remind me to take the bins out tonight.",
    "Is the back door closed and locked?",
    "What will the weather be like this weekend?",
    "Start a ten minute timer for the pasta.",
    "Open the curtains in the living room.",
]
RATE, WIDTH, CHANNELS = 16000, 2, 1
CHUNK = 160 * WIDTH  # 10 ms, like Home Assistant


def synthesize(sentences, out_dir):
    """Writes one piper-tts WAV per sentence into out_dir (also used to pack the GPU check's corpus)."""
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(os.environ["WYOMING_TEST_PIPER_VOICE"])
    deterministic = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # the same audio in every run
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(sentences):
        with wave.open(str(out_dir / f"{i:03d}.wav"), "wb") as w:
            voice.synthesize_wav(text, w, syn_config=deterministic)


def load_corpus(corpus_dir):
    """16 kHz 16-bit mono PCM of every WAV in corpus_dir, in name order."""
    converter = AudioChunkConverter(rate=RATE, width=WIDTH, channels=CHANNELS)
    clips = []
    for path in sorted(Path(corpus_dir).glob("*.wav")):
        with wave.open(str(path), "rb") as w:
            chunk = AudioChunk(w.getframerate(), w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes()))
        clips.append(converter.convert(chunk).audio)
    return clips


async def utterance(port, pcm, paced=True):
    """Seconds from audio-stop to transcript."""
    async with AsyncClient.from_uri(f"tcp://127.0.0.1:{port}") as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(RATE, WIDTH, CHANNELS).event())
        start = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), CHUNK)):
            await client.write_event(AudioChunk(RATE, WIDTH, CHANNELS, pcm[i : i + CHUNK]).event())
            if paced:
                await asyncio.sleep(max(0.0, start + (n + 1) * 0.01 - time.monotonic()))
        stop = time.monotonic()
        await client.write_event(AudioStop().event())
        while True:
            event = await client.read_event()
            if event is None:
                raise RuntimeError("connection closed before the transcript")
            if Transcript.is_type(event.type):
                return time.monotonic() - stop


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def main(args):
    if args.corpus:
        clips = load_corpus(args.corpus)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            synthesize(SENTENCES, Path(tmp))
            clips = load_corpus(tmp)
    silence = bytes(int(RATE * 0.6) * WIDTH)
    threads = str(args.threads)
    ours_port, theirs_port = free_port(), free_port()
    data = tempfile.mkdtemp()
    servers = {
        "ours": subprocess.Popen(
            [args.ours, "--uri", f"tcp://127.0.0.1:{ours_port}", "--model", args.model, "--device", args.device,
             "--compute-type", "int8", "--beam-size", "1", "--cpu-threads", threads]
            + (["--silero-model", args.silero_model] if args.silero_model else []) + args.ours_arg,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    }
    if args.reference == "faster-whisper":
        servers["theirs"] = subprocess.Popen(
            [sys.executable, "-m", "wyoming_faster_whisper", "--uri", f"tcp://127.0.0.1:{theirs_port}", "--model",
             args.model, "--data-dir", data, "--device", "cpu", "--compute-type", "int8", "--beam-size", "1",
             "--cpu-threads", threads, "--language", "en"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = {"ours": ours_port, "theirs": theirs_port}
    try:
        for name, proc in servers.items():
            await wait_ready(ports[name], proc)
        # Warm-up, then RSS after load and one request.
        for name in servers:
            await utterance(ports[name], clips[0])
        await asyncio.sleep(1)  # both idle: ours hands a decode's freed buffers back once its worker is idle
        rss = {name: rss_mib(proc.pid) for name, proc in servers.items()}

        latency = {(name, tail): [] for name in servers for tail in ("silence", "none")}
        for _ in range(args.rounds):
            for pcm in clips:
                for tail, audio in (("silence", pcm + silence), ("none", pcm)):
                    for name in servers:  # interleaved, so both see the same machine load
                        latency[(name, tail)].append(await utterance(ports[name], audio))

        throughput = {}
        for name in servers:
            jobs = [clips[i % len(clips)] for i in range(12 * args.rounds)]
            start = time.monotonic()
            queue = list(jobs)

            async def client_loop():
                while queue:
                    await utterance(ports[name], queue.pop(), paced=False)

            await asyncio.gather(*(client_loop() for _ in range(4)))
            throughput[name] = len(jobs) / (time.monotonic() - start)
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait()

    print(f"# STT benchmark ({len(clips)} utterances x {args.rounds} rounds, real-time pace, {args.model}, int8, beam 1, "
          f"device {args.device}, {threads} threads, early final {'on' if args.silero_model else 'off'})\n")
    print("| metric | ours | wyoming-faster-whisper | ratio |")
    print("|---|---|---|---|")

    def row(label, o, t, fmt):
        if t is None:
            print(f"| {label} | {o:{fmt}} | not run | |")
        else:
            print(f"| {label} | {o:{fmt}} | {t:{fmt}} | {o / t:.2f} |")

    theirs = "theirs" in servers
    for tail, label in (("silence", "with 600 ms trailing silence"), ("none", "without trailing silence")):
        for q, qname in ((0.5, "median"), (0.9, "p90")):
            o = pct(latency[("ours", tail)], q) * 1000
            t = pct(latency[("theirs", tail)], q) * 1000 if theirs else None
            row(f"audio-stop to transcript, {qname}, {label} (ms)", o, t, ".1f")
    row("RSS after load and one request (MiB)", rss["ours"], rss.get("theirs"), ".0f")
    row("throughput, 4 concurrent clients, unpaced (utterances/s)", throughput["ours"], throughput.get("theirs"), ".2f")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours")
    parser.add_argument("--model")
    parser.add_argument("--write-corpus", metavar="DIR", help="only write the benchmark's WAVs into DIR and exit")
    parser.add_argument("--silero-model", help="enables our early final")
    parser.add_argument("--device", default="cpu", help="our server's --device (cpu, cuda)")
    parser.add_argument("--reference", choices=["faster-whisper", "none"], default="faster-whisper")
    parser.add_argument("--corpus", help="a folder of WAVs instead of synthesising with piper-tts")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ours-arg", action="append", default=[], help="extra flag for our server (repeatable)")
    args = parser.parse_args()
    if args.write_corpus:
        synthesize(SENTENCES, Path(args.write_corpus))
    elif not (args.ours and args.model):
        parser.error("--ours and --model are required")
    else:
        asyncio.run(main(args))
