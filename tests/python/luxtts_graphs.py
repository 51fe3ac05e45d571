"""Random-weight stand-ins for the LuxTTS ONNX graphs, with exactly the official I/O (reference luxtts.md §8, §9.3).

Usage: luxtts_graphs.py OUT_DIR PIPER_VOICE_JSON [SEED]

Writes OUT_DIR/text_encoder.onnx, fm_decoder.onnx, vocos.onnx and tokens.txt. The graphs are small but honest:

- text_encoder: tokens int64 [N,T], prompt_tokens int64 [N,T], prompt_features_len int64 scalar, speed float32
  scalar -> text_condition float32 [N,F,100]. F = ceil(F_p / P * (P + L) / speed) is computed in-graph (Shape,
  Cast, Div, Mul, Ceil); the frames are filled by average upsampling exactly as §6 describes (each of the P + L
  tokens gets d = F // (P + L) frames, the rest get the appended pad token 0), each frame being
  tanh(embedding @ W + mean of all token embeddings + speed * b).
- fm_decoder: t, x, text_condition, speech_condition, guidance_scale -> v [N,T,100] =
  2 tanh(h + 0.5 mean_T(h)) with h = [x | text | speech] @ W + t b_t + g b_g; metadata as upstream (feat_dim...).
- vocos: features [B,100,T] -> audio_48k [B,512 T], audio_24k [B,256 T] (per-frame random projections, tanh).

tokens.txt: ids 0-150 from the Piper voice's phoneme_id_map (identical to LuxTTS's, §3.4) plus a few of LuxTTS's
later symbols.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM = 100
VOCAB = 360
OPSET = 17
# ONNX Runtime 1.24 reads IR versions up to 13; the onnx package writes its newest by default.
IR_VERSION = 8


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def text_encoder(rng):
    inputs = [
        helper.make_tensor_value_info("tokens", TensorProto.INT64, ["N", "T"]),
        helper.make_tensor_value_info("prompt_tokens", TensorProto.INT64, ["N", "T_prompt"]),
        helper.make_tensor_value_info("prompt_features_len", TensorProto.INT64, []),
        helper.make_tensor_value_info("speed", TensorProto.FLOAT, []),
    ]
    outputs = [helper.make_tensor_value_info("text_condition", TensorProto.FLOAT, ["N", "F", DIM])]
    inits = [
        const("emb", (rng.standard_normal((VOCAB, DIM)) * 0.5).astype(np.float32)),
        const("w", (rng.standard_normal((DIM, DIM)) * 0.2).astype(np.float32)),
        const("b_speed", (rng.standard_normal(DIM) * 0.3).astype(np.float32)),
        const("one_i", np.array(1, dtype=np.int64)),
        const("zero_i", np.array(0, dtype=np.int64)),
        const("axis0", np.array([0], dtype=np.int64)),
        const("pad_tok", np.array([[0]], dtype=np.int64)),
    ]
    n = helper.make_node
    nodes = [
        n("Concat", ["prompt_tokens", "tokens"], ["all"], axis=1),
        n("Shape", ["all"], ["shape_all"]),
        n("Gather", ["shape_all", "one_i"], ["pl"]),
        n("Shape", ["prompt_tokens"], ["shape_p"]),
        n("Gather", ["shape_p", "one_i"], ["p"]),
        n("Cast", ["prompt_features_len"], ["fp_f"], to=TensorProto.FLOAT),
        n("Cast", ["p"], ["p_f"], to=TensorProto.FLOAT),
        n("Cast", ["pl"], ["pl_f"], to=TensorProto.FLOAT),
        n("Div", ["fp_f", "p_f"], ["ratio"]),
        n("Mul", ["ratio", "pl_f"], ["frames_f0"]),
        n("Div", ["frames_f0", "speed"], ["frames_f"]),
        n("Ceil", ["frames_f"], ["frames_c"]),
        n("Cast", ["frames_c"], ["f"], to=TensorProto.INT64),
        n("Div", ["f", "pl"], ["d0"]),
        n("Max", ["d0", "one_i"], ["d"]),
        n("Range", ["zero_i", "f", "one_i"], ["frame_idx"]),
        n("Div", ["frame_idx", "d"], ["tok_pos0"]),
        n("Min", ["tok_pos0", "pl"], ["tok_pos"]),
        n("Concat", ["all", "pad_tok"], ["all_pad"], axis=1),
        n("Squeeze", ["all_pad", "axis0"], ["all_pad_1d"]),
        n("Gather", ["all_pad_1d", "tok_pos"], ["frame_tokens"]),
        n("Gather", ["emb", "frame_tokens"], ["frame_emb"]),
        n("Squeeze", ["all", "axis0"], ["all_1d"]),
        n("Gather", ["emb", "all_1d"], ["tok_emb"]),
        n("ReduceMean", ["tok_emb"], ["ctx"], axes=[0], keepdims=1),
        n("MatMul", ["frame_emb", "w"], ["proj"]),
        n("Add", ["proj", "ctx"], ["h0"]),
        n("Mul", ["speed", "b_speed"], ["sb"]),
        n("Add", ["h0", "sb"], ["h"]),
        n("Tanh", ["h"], ["y"]),
        n("Unsqueeze", ["y", "axis0"], ["text_condition"]),
    ]
    graph = helper.make_graph(nodes, "text_encoder_standin", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    meta = {"version": "1", "model_author": "wyoming-rs test", "comment": "random stand-in for the ZipVoice text encoder",
            "use_espeak": "1", "use_pinyin": "1"}
    helper.set_model_props(model, meta)
    return model


def fm_decoder(rng):
    def state(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", "T", DIM])

    inputs = [
        helper.make_tensor_value_info("t", TensorProto.FLOAT, []),
        state("x"),
        state("text_condition"),
        state("speech_condition"),
        helper.make_tensor_value_info("guidance_scale", TensorProto.FLOAT, []),
    ]
    outputs = [state("v")]
    inits = [
        const("w", (rng.standard_normal((3 * DIM, DIM)) * 0.1).astype(np.float32)),
        const("b_t", (rng.standard_normal(DIM) * 0.5).astype(np.float32)),
        const("b_g", (rng.standard_normal(DIM) * 0.2).astype(np.float32)),
        const("half", np.array(0.5, dtype=np.float32)),
        const("two", np.array(2.0, dtype=np.float32)),
    ]
    n = helper.make_node
    nodes = [
        n("Concat", ["x", "text_condition", "speech_condition"], ["cat"], axis=2),
        n("MatMul", ["cat", "w"], ["h0"]),
        n("Mul", ["t", "b_t"], ["tb"]),
        n("Mul", ["guidance_scale", "b_g"], ["gb"]),
        n("Add", ["h0", "tb"], ["h1"]),
        n("Add", ["h1", "gb"], ["h"]),
        n("ReduceMean", ["h"], ["hm"], axes=[1], keepdims=1),
        n("Mul", ["hm", "half"], ["hm2"]),
        n("Add", ["h", "hm2"], ["h3"]),
        n("Tanh", ["h3"], ["th"]),
        n("Mul", ["th", "two"], ["v"]),
    ]
    graph = helper.make_graph(nodes, "fm_decoder_standin", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    meta = {"version": "1", "model_author": "wyoming-rs test", "comment": "random stand-in for the ZipVoice flow-matching decoder",
            "feat_dim": str(DIM), "sample_rate": "24000", "n_fft": "1024", "hop_length": "256",
            "window_length": "1024", "num_mels": str(DIM)}
    helper.set_model_props(model, meta)
    return model


def vocos(rng):
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", DIM, "time"])]
    outputs = [
        helper.make_tensor_value_info("audio_48k", TensorProto.FLOAT, ["batch", "samples_48k"]),
        helper.make_tensor_value_info("audio_24k", TensorProto.FLOAT, ["batch", "samples_24k"]),
    ]
    inits = [
        const("w48", (rng.standard_normal((DIM, 512)) * 0.02).astype(np.float32)),
        const("w24", (rng.standard_normal((DIM, 256)) * 0.02).astype(np.float32)),
        const("flat", np.array([0, -1], dtype=np.int64)),
        const("gain", np.array(0.5, dtype=np.float32)),
    ]
    n = helper.make_node
    nodes = [
        n("Transpose", ["features"], ["ft"], perm=[0, 2, 1]),
        n("MatMul", ["ft", "w48"], ["p48"]),
        n("Tanh", ["p48"], ["t48"]),
        n("Mul", ["t48", "gain"], ["g48"]),
        n("Reshape", ["g48", "flat"], ["audio_48k"]),
        n("MatMul", ["ft", "w24"], ["p24"]),
        n("Tanh", ["p24"], ["t24"]),
        n("Mul", ["t24", "gain"], ["g24"]),
        n("Reshape", ["g24", "flat"], ["audio_24k"]),
    ]
    graph = helper.make_graph(nodes, "vocos_standin", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


def tokens_txt(piper_json):
    id_map = json.loads(Path(piper_json).read_text(encoding="utf-8"))["phoneme_id_map"]
    by_id = {ids[0]: symbol for symbol, ids in id_map.items()}
    assert all(i in by_id for i in range(151)), "the Piper voice maps ids 0-150"
    extra = {151: "\u2191", 152: "\u033a", 153: "\u033b", 154: "g", 155: "\u02a6", 156: "X", 157: "\u031d", 158: "\u030a",
             159: "a1", 160: "a2", 161: "b0"}
    lines = [f"{by_id[i]}\t{i}" for i in range(151)] + [f"{s}\t{i}" for i, s in extra.items()]
    return "\n".join(lines) + "\n"


def main():
    out = Path(sys.argv[1])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, build in [("text_encoder", text_encoder), ("fm_decoder", fm_decoder), ("vocos", vocos)]:
        model = build(rng)
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, out / f"{name}.onnx")
    (out / "tokens.txt").write_text(tokens_txt(sys.argv[2]), encoding="utf-8")


if __name__ == "__main__":
    main()
