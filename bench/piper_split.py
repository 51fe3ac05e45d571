"""Experiment (rejected design, kept to reproduce bench/RESULTS.md): a Piper voice split at the decoder's input,
decoded in overlapping pieces, and a two-worker pipeline against one two-thread session per phrase.

Measures, with piper-tts's own ONNX Runtime:
1. how many frames of overlap make pieces of the decoder equal to the whole (its receptive field);
2. wall time of five LLM-style replies: one two-thread session per phrase (what both servers do for a lone
   request) against fronts and decoder pieces as tasks for two one-thread workers, with one or two front
   sessions; and the first phrase's time;
3. RSS of ONNX Runtime for each layout.

    make setup && . ~/.cache/wyoming-rs/env
    "$WYOMING_RS_PYTHON" bench/piper_split.py --voice "$WYOMING_TEST_PIPER_VOICE"
"""

import argparse
import ctypes
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx.utils import extract_model
from piper import PiperVoice

REPLIES = [
    ["Sure,", "I can help with that.", "The kitchen lights are now on, and the thermostat is set to twenty degrees."],
    ["Good morning!", "Today will be mostly sunny, with a high of eighteen degrees and a light breeze from the west."],
    ["Of course.", "I've added milk, eggs and bread to your shopping list.", "Is there anything else you need?"],
    ["Here's a quick tip:", "boil the pasta in plenty of salted water, and stir it during the first minute."],
    ["The next train to the city leaves at seven fifteen from platform two.", "It takes about forty minutes."],
]
HOP = 256  # samples per frame of the decoder's input
OVERLAP = 12


def decoder_input(model):
    """The tensor the decoder's first convolution reads (z times its mask)."""
    for node in onnx.load(model, load_external_data=False).graph.node:
        if node.name.startswith("/dec/") and node.op_type == "Conv":
            return node.input[0]
    sys.exit("no /dec/ convolution: not a Piper VITS export")


def conv_2d(src, dst):
    """The server's narrow-session rewrite, in Python: 1-D Conv as Unsqueeze, 2-D Conv, Squeeze."""
    from onnx import helper, numpy_helper

    m = onnx.load(src)
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "split_axes2"))
    nodes = []
    for n in g.node:
        attrs = {a.name: a for a in n.attribute}
        if n.op_type != "Conv" or len(attrs["kernel_shape"].ints) != 1:
            nodes.append(n)
            continue
        x4, w4, y4 = n.input[0] + "/4d_" + n.name, n.input[1] + "/4d_" + n.name, n.output[0] + "/4d"
        nodes += [helper.make_node("Unsqueeze", [n.input[0], "split_axes2"], [x4]),
                  helper.make_node("Unsqueeze", [n.input[1], "split_axes2"], [w4])]
        for a in n.attribute:
            if a.name in ("kernel_shape", "dilations", "strides"):
                v = list(a.ints); del a.ints[:]; a.ints.extend([1] + v)
            elif a.name == "pads":
                v = list(a.ints); del a.ints[:]; a.ints.extend([0, v[0], 0, v[1]])
        ins = list(n.input); ins[0], ins[1] = x4, w4
        del n.input[:]; n.input.extend(ins)
        out = n.output[0]; n.output[0] = y4
        nodes += [n, helper.make_node("Squeeze", [y4, "split_axes2"], [out])]
    del g.node[:]; g.node.extend(nodes)
    onnx.save(m, dst)


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if threads == 1:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def piece_bounds(frames, pieces):
    return [round(frames * j / pieces) for j in range(pieces + 1)]


def decode_piece(dec, z_name, z, a, b):
    lo, hi = max(0, a - OVERLAP), min(z.shape[2], b + OVERLAP)
    y = dec.run(None, {z_name: z[:, :, lo:hi]})[0].reshape(-1)
    return y[(a - lo) * HOP : (b - lo) * HOP]


def pipeline(feeds, fronts, decs, z_name, pieces):
    """Fronts first (one per free front session), then decoder pieces in phrase order; two workers."""
    n, cv = len(feeds), threading.Condition()
    state = {"next": 0, "running": 0, "tasks": [], "left": n, "pending": {}, "first": None}
    start = time.perf_counter()

    def worker(w):
        while True:
            with cv:
                while True:
                    if state["left"] == 0:
                        return
                    if state["next"] < n and state["running"] < len(fronts):
                        task = ("front", state["next"]); state["next"] += 1; state["running"] += 1
                        break
                    if state["tasks"]:
                        task = state["tasks"].pop(0)
                        break
                    cv.wait()
            if task[0] == "front":
                i = task[1]
                z = fronts[w % len(fronts)].run(None, feeds[i])[0]
                k = max(1, min(pieces, z.shape[2] // 48))
                b = piece_bounds(z.shape[2], k)
                with cv:
                    state["running"] -= 1
                    state["pending"][i] = k
                    state["tasks"] += [("piece", i, z, b[j], b[j + 1]) for j in range(k)]
                    state["tasks"].sort(key=lambda t: (t[1], t[3]))
                    cv.notify_all()
            else:
                _, i, z, a, b = task
                decode_piece(decs[w], z_name, z, a, b)
                with cv:
                    state["pending"][i] -= 1
                    if state["pending"][i] == 0:
                        state["left"] -= 1
                        if i == 0:
                            state["first"] = time.perf_counter() - start
                    cv.notify_all()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return time.perf_counter() - start, state["first"]


def whole(feeds, full):
    start, first = time.perf_counter(), None
    for feed in feeds:
        full.run(None, feed)
        first = first or time.perf_counter() - start
    return time.perf_counter() - start, first


def rss_delta(layout, args, work):
    """ONNX Runtime's RSS for one layout, in a fresh process (MiB)."""
    code = f"""
import ctypes, numpy as np, onnxruntime as ort, sys
sys.argv = ["x"]
libc = ctypes.CDLL("libc.so.6")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base = rss()
def s(p, t):
    o = ort.SessionOptions(); o.intra_op_num_threads = t
    x = ort.InferenceSession(p, sess_options=o, providers=["CPUExecutionProvider"]); libc.malloc_trim(0); return x
x = np.array([[1] + [20, 30, 40, 50, 60, 70, 80, 90] * 10 + [2]], dtype=np.int64)
feed = {{"input": x, "input_lengths": np.array([x.shape[1]], dtype=np.int64), "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32)}}
if "{layout}" == "whole":
    full = s({str(args.voice)!r}, 2)
    full.run(None, feed)
else:
    fronts = [s({str(work / 'front2d.onnx')!r}, 1) for _ in range({1 if layout == 'one front' else 2})]
    decs = [s({str(work / 'dec2d.onnx')!r}, 1) for _ in range(2)]
    for f in fronts: z = f.run(None, feed)[0]
    for d in decs: d.run(None, {{{args.z!r}: z}})
libc.malloc_trim(0)
print(rss() - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--voice", required=True, help="a Piper voice's .onnx (its .onnx.json beside it)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pieces", type=int, default=2, help="decoder pieces per phrase in the pipeline")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    args.z = decoder_input(args.voice)
    extract_model(args.voice, str(work / "front.onnx"), ["input", "input_lengths", "scales"], [args.z])
    extract_model(args.voice, str(work / "dec.onnx"), [args.z], ["output"])
    conv_2d(work / "front.onnx", work / "front2d.onnx")
    conv_2d(work / "dec.onnx", work / "dec2d.onnx")
    size = lambda p: p.stat().st_size / 1e6
    print(f"decoder input {args.z}; front {size(work / 'front.onnx'):.1f} MB, decoder {size(work / 'dec.onnx'):.1f} MB")

    voice = PiperVoice.load(args.voice)

    def feed(text, noise=True):
        ids = np.array([voice.phonemes_to_ids(voice.phonemize(text)[0])], dtype=np.int64)
        scales = [0.667, 1.0, 0.8] if noise else [0.0, 1.0, 0.0]
        return {"input": ids, "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
                "scales": np.array(scales, dtype=np.float32)}

    # 1. Receptive field: two pieces around the middle against the whole, noise off.
    front, dec = session(work / "front.onnx", 2), session(work / "dec.onnx", 2)
    z = front.run(None, feed(REPLIES[0][2], noise=False))[0]
    reference = dec.run(None, {args.z: z})[0].reshape(-1)
    mid = z.shape[2] // 2
    print(f"\npieces against the whole decoder ({z.shape[2]} frames, split in the middle):")
    for overlap in (4, 8, 10, 12, 16):
        a = dec.run(None, {args.z: z[:, :, : mid + overlap]})[0].reshape(-1)[: mid * HOP]
        b = dec.run(None, {args.z: z[:, :, mid - overlap :]})[0].reshape(-1)[overlap * HOP :]
        print(f"  overlap {overlap:2d} frames: max difference {np.abs(np.concatenate([a, b]) - reference).max():.1e}")

    # 2. Wall time.
    feeds = [[feed(p) for p in reply] for reply in REPLIES]
    full = session(args.voice, 2)
    fronts = [session(work / "front2d.onnx", 1) for _ in range(2)]
    decs = [session(work / "dec2d.onnx", 1) for _ in range(2)]
    layouts = {
        "whole graph, 2 threads": lambda f: whole(f, full),
        "pipeline, 2 front sessions": lambda f: pipeline(f, fronts, decs, args.z, args.pieces),
        "pipeline, 1 front session": lambda f: pipeline(f, fronts[:1], decs, args.z, args.pieces),
    }
    times = {name: [] for name in layouts}
    for r in range(args.rounds):
        order = list(layouts.items())
        order = order[r % len(order) :] + order[: r % len(order)]
        for reply in feeds:
            for name, run in order:
                time.sleep(0.03)
                times[name].append(run(reply))
    base = None
    print(f"\nfive replies, median of rounds 2-{args.rounds} (ms):")
    print("| layout | total | ratio | first phrase | ORT RSS (MiB) |")
    print("|---|---|---|---|---|")
    rss_layout = {"whole graph, 2 threads": "whole", "pipeline, 2 front sessions": "two fronts",
                  "pipeline, 1 front session": "one front"}
    for name, values in times.items():
        v = np.array(values).reshape(args.rounds, len(REPLIES), 2)[1:]
        total = np.median(v[:, :, 0], axis=0).sum() * 1000
        first = np.median(v[0:, 0, 1]) * 1000
        base = base or total
        print(f"| {name} | {total:.0f} | {total / base:.2f} | {first:.0f} | {rss_delta(rss_layout[name], args, work):.0f} |")


if __name__ == "__main__":
    main()
