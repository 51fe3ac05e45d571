"""Experiment (rejected, kept to reproduce bench/RESULTS.md): a Piper voice's HiFi-GAN decoder kept in ONNX
Runtime's blocked NCHWc layout from end to end, against the server's one-thread rewrite (every 1-D `Conv` as a
2-D one of height 1, `wyoming-luxtts/src/onnx/conv2d.rs`) and the voice as it is, on one thread.

ONNX Runtime's NCHWc transformer keeps `Add` and `Relu`/`Sigmoid`/`Tanh` in the blocked layout, but not
`LeakyRelu`, which HiFi-GAN applies before every convolution, and not `ConvTranspose`. So the server's
rewrite reorders the residual stream to the plain layout and back around every convolution. Here the whole
decoder is lifted to 4-D (N, C, 1, T); each `LeakyRelu` becomes a depthwise 1x1 `FusedConv` of weight 1 with
a `LeakyRelu` activation (exact), which the transformer keeps blocked; the `Div` by the number of resblocks
is folded into the next one's weight; and an identity depthwise convolution after each `ConvTranspose` puts
its output back in the blocked layout. Reorders are then left only around the three upsamplers.

    make setup && . ~/.cache/wyoming-rs/env
    "$WYOMING_RS_PYTHON" bench/piper_decoder_nchwc.py --voice "$WYOMING_TEST_PIPER_VOICE"
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from piper import PiperVoice
from piper_split import conv_2d

PHRASES = [
    "Sure,", "I can help with that.", "The kitchen lights are now on, and the thermostat is set to twenty degrees.",
    "Good morning!", "Today will be mostly sunny, with a high of eighteen degrees and a light breeze from the west.",
    "Of course.", "I've added milk, eggs and bread to your shopping list.", "Is there anything else you need?",
    "Here's a quick tip:", "boil the pasta in plenty of salted water, and stir it during the first minute.",
    "The next train to the city leaves at seven fifteen from platform two.", "It takes about forty minutes.",
    "Okay,", "your timer is set for ten minutes.", "I'll let you know when it's done, so you can relax until then.",
]


def lift_decoder(src, dst):
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    dec = [n for n in g.node if n.name.startswith("/dec/")]
    dec_outputs = {o for n in dec for o in n.output}
    producer = {o: n for n in dec for o in n.output}
    channels, new_inits, nodes, done = {}, [numpy_helper.from_array(np.array([2], np.int64), "lift_axes")], [], set()

    def outside(name):
        """A decoder input from outside the decoder, unsqueezed once to 4-D."""
        if name in dec_outputs or name in inits or name in consts:
            return name + "_4d" if name in dec_outputs else name
        if name not in done:
            nodes.append(helper.make_node("Unsqueeze", [name, "lift_axes"], [name + "_4d"]))
            done.add(name)
        return name + "_4d"

    for n in g.node:
        if not n.name.startswith("/dec/"):
            for i in n.input:
                if i in dec_outputs and i not in done:
                    nodes.append(helper.make_node("Squeeze", [i + "_4d", "lift_axes"], [i]))
                    done.add(i)
            nodes.append(n)
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        out = [o + "_4d" for o in n.output]
        if n.op_type in ("Conv", "ConvTranspose"):
            w = numpy_helper.to_array(inits[n.input[1]])
            new_inits.append(numpy_helper.from_array(w[:, :, None, :], n.input[1] + "_4d"))
            attrs = {k: ([0, v[0], 0, v[1]] if k == "pads" else [1 if k != "output_padding" else 0, v[0]]
                         if k in ("kernel_shape", "strides", "dilations", "output_padding") else v) for k, v in a.items()}
            c = w.shape[0] if n.op_type == "Conv" else w.shape[1] * a.get("group", 1)
            channels[n.output[0]] = c
            ins = [outside(n.input[0]), n.input[1] + "_4d"] + list(n.input[2:])
            if n.op_type == "ConvTranspose":
                nodes.append(helper.make_node(n.op_type, ins, [n.output[0] + "_plain"], **attrs))
                new_inits.append(numpy_helper.from_array(np.ones((c, 1, 1, 1), np.float32), n.name + "_identity"))
                nodes.append(helper.make_node("Conv", [n.output[0] + "_plain", n.name + "_identity"], out, group=c,
                                              kernel_shape=[1, 1]))
            else:
                nodes.append(helper.make_node(n.op_type, ins, out, **attrs))
        elif n.op_type == "LeakyRelu":
            source, scale = n.input[0], 1.0
            before = producer.get(source)
            if before is not None and before.op_type == "Div":
                divisor = consts[before.input[1]].attribute[0].t if before.input[1] in consts else inits[before.input[1]]
                source, scale = before.input[0], 1.0 / float(numpy_helper.to_array(divisor))
            t = source
            while t not in channels:
                t = producer[t].input[0]
            c = channels[t]
            new_inits.append(numpy_helper.from_array(np.full((c, 1, 1, 1), scale, np.float32), n.name + "_dw"))
            nodes.append(helper.make_node("FusedConv", [outside(source), n.name + "_dw"], out, domain="com.microsoft",
                                          group=c, kernel_shape=[1, 1], activation="LeakyRelu",
                                          activation_params=[a["alpha"]]))
        elif n.op_type == "Div" and all(c.op_type == "LeakyRelu" for c in dec if n.output[0] in c.input):
            continue  # folded into the LeakyRelu after it
        else:
            nodes.append(helper.make_node(n.op_type, [outside(i) for i in n.input], out, **a))
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    del g.value_info[:]
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(m, dst)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", required=True, help="Piper voice .onnx (its .onnx.json beside it)")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    voice = PiperVoice.load(args.voice)
    feeds = []
    for phrase in PHRASES:
        ids = voice.phonemes_to_ids(voice.phonemize(phrase)[0])
        feeds.append({"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
                      "scales": np.array([0.0, 1.0, 0.0], np.float32)})  # no noise: comparable outputs
    with tempfile.TemporaryDirectory() as tmp:
        models = {"as published (1-D)": args.voice, "server's one-thread rewrite": str(Path(tmp, "2d.onnx")),
                  "decoder kept in NCHWc": str(Path(tmp, "nchwc.onnx"))}
        conv_2d(args.voice, models["server's one-thread rewrite"])
        lift_decoder(args.voice, models["decoder kept in NCHWc"])
        sessions = {}
        for name, path in models.items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.log_severity_level = 3
            sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    reference = [sessions["as published (1-D)"].run(None, f)[0] for f in feeds]
    times = {name: [] for name in sessions}
    for _ in range(args.rounds):
        for name, session in sessions.items():
            started = time.perf_counter()
            for f in feeds:
                session.run(None, f)
            times[name].append(time.perf_counter() - started)
    base = np.median(times["as published (1-D)"])
    print(f"one thread, {len(PHRASES)} phrases, median of {args.rounds} rounds")
    for name, session in sessions.items():
        diff = max(float(np.abs(session.run(None, f)[0] - r).max()) for f, r in zip(feeds, reference))
        t = np.median(times[name])
        print(f"  {name:30s} {1000 * t:7.0f} ms  {t / base:.3f}  max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
