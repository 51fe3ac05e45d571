//! The 1-D → 2-D convolution rewrite (`onnx::conv2d`) keeps a graph's meaning under ONNX Runtime itself: a
//! hand-encoded model with three differently shaped 1-D convolutions (bias or none, dilation, stride, groups,
//! asymmetric pads, a dynamic length) gives the same output rewritten as loaded unchanged, at opsets 15 and 11. The Piper voice
//! is checked against piper-tts in `piper_parity.rs`.

use onnx_common::{float_tensor, int, ints, value_info};
use ort::session::builder::PrepackedWeights;
use ort::value::Tensor;
use wyoming_luxtts::onnx::{self, Device, Graph, SessionOptions, Width};
use wyoming_proto::protobuf::{put_bytes, put_uint};
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
    let mut opset = Vec::new();
    put_uint(&mut opset, 2, opset_version);
    let mut out = Vec::new();
    put_uint(&mut out, 1, 8);
    put_bytes(&mut out, 7, &graph);
    put_bytes(&mut out, 8, &opset);
    out
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

        let mut seed = 3u32;
        let length = 37;
        let input: Vec<f32> = (0..4 * length)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect();
        let options = SessionOptions { device: Device::Cpu, intra_threads: 1 };
        let run = |graph: Graph| {
            let mut session =
                onnx::open(&env, &path, &options, graph, Width::Narrow, &PrepackedWeights::new()).unwrap();
            let x = Tensor::from_array((vec![1_i64, 4, length as i64], input.clone())).unwrap();
            let outputs = session.run(ort::inputs!["x" => x]).unwrap();
            let (shape, y) = outputs["y"].try_extract_tensor::<f32>().unwrap();
            (shape.to_vec(), y.to_vec())
        };
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
