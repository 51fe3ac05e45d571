//! The Winograd rewrite (`onnx::winograd_graph`, run by `onnx::winograd_op`) keeps a graph's meaning under
//! ONNX Runtime itself: a hand-encoded model shaped like HiFi-GAN's residual blocks (a `LeakyRelu` before a
//! convolution, the block's input added after it, one `LeakyRelu` that another node also reads, asymmetric
//! pads, 3-, 5- and 7-tap kernels with dilations, a residual `Add` that broadcasts) gives the same output in a
//! one-thread session as loaded unchanged, and so does a residual that grows the output by broadcasting. The
//! Piper voice is checked against piper-tts in `piper_parity.rs`.

use onnx_common::{float, float_tensor, ints, model_bytes, node, noise, run_narrow, value_info, value_info_batch};
use wyoming_luxtts::onnx::{self, Graph, winograd, winograd_graph};
use wyoming_proto::protobuf::{Value, fields, put_bytes};
use wyoming_tests::provisioned;

mod onnx_common;

/// x [1, 16, L] → conv h → LeakyRelu → conv (dilation 3) → + h → r1 → LeakyRelu a2 → conv (pads 2/4) → r1 + ·
/// → r2 → conv → + k [32, 1] → r3 → + a2 → y [1, 32, L].
fn model() -> Vec<u8> {
    let mut seed = 11;
    let mut graph = Vec::new();
    let conv = |inputs: &[&str], output: &str, taps: i64, dilation: i64, pads: [i64; 2]| {
        node("Conv", inputs, output, &|n| {
            ints(n, "kernel_shape", &[taps]);
            ints(n, "dilations", &[dilation]);
            ints(n, "pads", &pads);
        })
    };
    let nodes = [
        conv(&["x", "w0", "b0"], "h", 3, 1, [1, 1]),
        node("LeakyRelu", &["h"], "a1", &|n| float(n, "alpha", 0.1)),
        conv(&["a1", "w1", "b1"], "y1", 5, 3, [6, 6]),
        node("Add", &["y1", "h"], "r1", &|_| {}),
        node("LeakyRelu", &["r1"], "a2", &|n| float(n, "alpha", 0.2)),
        conv(&["a2", "w2", "b2"], "y2", 7, 1, [2, 4]),
        node("Add", &["r1", "y2"], "r2", &|_| {}),
        conv(&["r2", "w3", "b3"], "y3", 3, 2, [2, 2]),
        node("Add", &["y3", "k"], "r3", &|_| {}),
        node("Add", &["r3", "a2"], "y", &|_| {}),
    ];
    for n in nodes {
        put_bytes(&mut graph, 1, &n);
    }
    put_bytes(&mut graph, 2, b"resblock");
    let weights: [(&str, &[i64]); 9] = [
        ("w0", &[32, 16, 3]),
        ("b0", &[32]),
        ("w1", &[32, 32, 5]),
        ("b1", &[32]),
        ("w2", &[32, 32, 7]),
        ("b2", &[32]),
        ("w3", &[32, 32, 3]),
        ("b3", &[32]),
        ("k", &[32, 1]),
    ];
    for (name, dims) in weights {
        put_bytes(&mut graph, 5, &float_tensor(name, dims, &mut seed));
    }
    put_bytes(&mut graph, 11, &value_info("x", 16));
    put_bytes(&mut graph, 12, &value_info("y", 32));
    model_bytes(&graph, 17)
}

fn op_types(model: &[u8]) -> Vec<String> {
    let top = fields(model).unwrap();
    let Some(Value::Bytes(graph)) = top.iter().find(|f| f.number == 7).map(|f| f.value) else { panic!("no graph") };
    let mut ops = Vec::new();
    for f in fields(graph).unwrap().iter().filter(|f| f.number == 1) {
        let Value::Bytes(node) = f.value else { continue };
        for g in fields(node).unwrap() {
            if let (4, Value::Bytes(op)) = (g.number, g.value) {
                ops.push(String::from_utf8_lossy(op).into_owned());
            }
        }
    }
    ops
}

#[test]
fn fused_winograd_convolutions_compute_the_same_output() {
    let bytes = model();
    let rewritten = winograd_graph::rewrite(&bytes).expect("four convolutions to rewrite");
    assert_eq!(rewritten.convolutions, 4);
    // Three `Add`s and the first `LeakyRelu` are fused away; the second `LeakyRelu` is also read by the last `Add`.
    let ops = op_types(&rewritten.model);
    assert_eq!(ops, ["WinogradConv", "WinogradConv", "LeakyRelu", "WinogradConv", "WinogradConv", "Add"]);

    let Some(ort) = provisioned("ORT_DYLIB_PATH") else { return };
    if !winograd::fast() {
        eprintln!("this CPU has no AVX2 and FMA: the one-thread session keeps ONNX Runtime's convolutions");
        return;
    }
    let env = onnx::runtime(&ort).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resblock.onnx");
    std::fs::write(&path, &bytes).unwrap();
    // Lengths shorter than one block, across several, and one frame.
    for length in [1usize, 37, 2000] {
        let input = noise(16 * length, &mut 5);
        let run = |graph| run_narrow(&env, &path, graph, &[("x", vec![1, 16, length as i64], &input)], "y");
        let (shape, plain) = run(Graph::AsIs);
        let (shape_w, rewritten) = run(Graph::FastConvolutions);
        assert_eq!(shape, [1, 32, length as i64]);
        assert_eq!(shape_w, shape);
        let diff = plain.iter().zip(&rewritten).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let peak = plain.iter().fold(0f32, |m, v| m.max(v.abs()));
        eprintln!("length {length}: max |diff| {diff:.2e}, peak {peak:.3}");
        assert!(peak > 0.1 && diff < 1e-5 * peak.max(1.0), "length {length}: outputs differ by {diff} (peak {peak})");
    }
}

/// A fused residual `Add` whose addend is larger than the convolution's output (batch 2 against 1) gets the
/// `Add`'s broadcast shape, as ONNX Runtime's own `Add` gives it.
#[test]
fn a_residual_that_grows_the_output_broadcasts_as_add_does() {
    let mut seed = 3;
    let mut graph = Vec::new();
    let c = node("Conv", &["x", "w", "b"], "y", &|n| {
        ints(n, "kernel_shape", &[3]);
        ints(n, "pads", &[1, 1]);
    });
    put_bytes(&mut graph, 1, &c);
    put_bytes(&mut graph, 1, &node("Add", &["y", "r"], "z", &|_| {}));
    put_bytes(&mut graph, 2, b"grow");
    put_bytes(&mut graph, 5, &float_tensor("w", &[32, 16, 3], &mut seed));
    put_bytes(&mut graph, 5, &float_tensor("b", &[32], &mut seed));
    put_bytes(&mut graph, 11, &value_info("x", 16));
    put_bytes(&mut graph, 11, &value_info_batch("r", 2, 32));
    put_bytes(&mut graph, 12, &value_info_batch("z", 2, 32));
    let bytes = model_bytes(&graph, 17);
    assert_eq!(op_types(&winograd_graph::rewrite(&bytes).expect("one convolution").model), ["WinogradConv"]);

    let Some(ort) = provisioned("ORT_DYLIB_PATH") else { return };
    if !winograd::fast() {
        return;
    }
    let env = onnx::runtime(&ort).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grow.onnx");
    std::fs::write(&path, &bytes).unwrap();
    let length = 50usize;
    let (x, r) = (noise(16 * length, &mut 7), noise(2 * 32 * length, &mut 9));
    let feeds = [("x", vec![1, 16, length as i64], &x[..]), ("r", vec![2, 32, length as i64], &r[..])];
    let (shape, plain) = run_narrow(&env, &path, Graph::AsIs, &feeds, "z");
    let (shape_w, ours) = run_narrow(&env, &path, Graph::FastConvolutions, &feeds, "z");
    assert_eq!(shape, [2, 32, length as i64]);
    assert_eq!(shape_w, shape);
    let diff = plain.iter().zip(&ours).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-4, "outputs differ by {diff}");
}
