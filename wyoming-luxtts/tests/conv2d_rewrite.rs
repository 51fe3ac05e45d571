//! The 1-D → 2-D convolution rewrite (`onnx::conv2d`) keeps a graph's meaning under ONNX Runtime itself: a
//! hand-encoded model with three differently shaped 1-D convolutions (bias or none, dilation, stride, groups,
//! asymmetric pads, a dynamic length) gives the same output rewritten as loaded unchanged, at opsets 15 and 11. The Piper voice
//! is checked against piper-tts in `piper_parity.rs`.

use onnx_common::{float_tensor, int, ints, model_bytes, noise, run_narrow, value_info};
use wyoming_luxtts::onnx::{self, Graph};
use wyoming_proto::protobuf::put_bytes;
use wyoming_tests::provisioned;

mod onnx_common;

/// x [1, 4, L] → conv (k 3, bias) → conv (k 5, dilation 2, stride 2) → LeakyRelu → conv (k 3, 2 groups,
/// pads 2/0, bias) → y [1, 6, L'].
fn model(opset_version: u64) -> Vec<u8> {
    let mut seed = 7;
    let mut graph = Vec::new();
    let conv = |inputs: &[&str], output: &str, attributes: &dyn Fn(&mut Vec<u8>)| {
        let mut node = Vec::new();
        for input in inputs {
            put_bytes(&mut node, 1, input.as_bytes());
        }
        put_bytes(&mut node, 2, output.as_bytes());
        put_bytes(&mut node, 3, format!("conv_{output}").as_bytes());
        put_bytes(&mut node, 4, b"Conv");
        attributes(&mut node);
        node
    };
    let a = conv(&["x", "wa", "ba"], "a", &|n| {
        ints(n, "kernel_shape", &[3]);
        ints(n, "pads", &[1, 1]);
    });
    let b = conv(&["a", "wb"], "b", &|n| {
        ints(n, "kernel_shape", &[5]);
        ints(n, "dilations", &[2]);
        ints(n, "strides", &[2]);
        ints(n, "pads", &[4, 4]);
    });
    let mut relu = Vec::new();
    put_bytes(&mut relu, 1, b"b");
    put_bytes(&mut relu, 2, b"r");
    put_bytes(&mut relu, 4, b"LeakyRelu");
    let c = conv(&["r", "wc", "bc"], "y", &|n| {
        ints(n, "kernel_shape", &[3]);
        ints(n, "pads", &[2, 0]);
        int(n, "group", 2);
    });
    for node in [a, b, relu, c] {
        put_bytes(&mut graph, 1, &node);
    }
    put_bytes(&mut graph, 2, b"convs");
    for (name, dims) in [("wa", &[8, 4, 3][..]), ("ba", &[8]), ("wb", &[8, 8, 5]), ("wc", &[6, 4, 3]), ("bc", &[6])] {
        put_bytes(&mut graph, 5, &float_tensor(name, dims, &mut seed));
    }
    put_bytes(&mut graph, 11, &value_info("x", 4));
    put_bytes(&mut graph, 12, &value_info("y", 6));
    model_bytes(&graph, opset_version)
}

/// Opset 15 takes Unsqueeze/Squeeze axes as an input, opset 11 as an attribute.
#[test]
fn rewritten_convolutions_compute_the_same_output() {
    let Some(ort) = provisioned("ORT_DYLIB_PATH") else { return };
    let env = onnx::runtime(&ort).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for opset in [15, 11] {
        let path = dir.path().join(format!("convs{opset}.onnx"));
        let bytes = model(opset);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(onnx::conv2d::rewrite(&bytes).expect("three convolutions to rewrite").convolutions, 3);

        let length = 37;
        let input = noise(4 * length, &mut 3);
        let run = |graph| run_narrow(&env, &path, graph, &[("x", vec![1, 4, length as i64], &input)], "y");
        let (shape, plain) = run(Graph::AsIs);
        let (shape_2d, rewritten) = run(Graph::FastConvolutions);
        // L' = (37 + 8 - 9) / 2 + 1 = 19 after the strided conv (dilated kernel 9), unchanged by the last.
        assert_eq!(shape, [1, 6, 19]);
        assert_eq!(shape_2d, shape);
        let diff = plain.iter().zip(&rewritten).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let peak = plain.iter().fold(0f32, |m, v| m.max(v.abs()));
        eprintln!("opset {opset}: max |diff| {diff:.2e}, peak {peak:.3}");
        assert!(peak > 0.1 && diff < 1e-5, "opset {opset}: outputs differ by {diff} (peak {peak})");
    }
}
