//! Hand-encoded ONNX parts for the graph-rewrite tests (`conv2d_rewrite.rs`, `winograd_rewrite.rs`), on the
//! raw protobuf fields, as the rewrites read them.

#![allow(dead_code)]

use ort::environment::Environment;
use ort::session::builder::PrepackedWeights;
use ort::value::Tensor;
use std::path::Path;
use wyoming_luxtts::onnx::{self, Device, Graph, SessionOptions, Width};
use wyoming_proto::protobuf::{put_bytes, put_uint};

/// Uniform values in [-0.5, 0.5) from a small LCG, advancing `seed`.
pub fn noise(len: usize, seed: &mut u32) -> Vec<f32> {
    (0..len)
        .map(|_| {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (*seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect()
}

/// A model (IR version 8) of `graph` at the default-domain `opset`.
pub fn model_bytes(graph: &[u8], opset: u64) -> Vec<u8> {
    let mut import = Vec::new();
    put_uint(&mut import, 2, opset);
    let mut out = Vec::new();
    put_uint(&mut out, 1, 8);
    put_bytes(&mut out, 7, graph);
    put_bytes(&mut out, 8, &import);
    out
}

/// Runs the model at `path` once in a one-thread CPU session loaded as `graph`, feeding `(name, shape,
/// values)` inputs, and returns `output`'s shape and values.
pub fn run_narrow(
    env: &Environment,
    path: &Path,
    graph: Graph,
    inputs: &[(&str, Vec<i64>, &[f32])],
    output: &str,
) -> (Vec<i64>, Vec<f32>) {
    let options = SessionOptions { device: Device::Cpu, intra_threads: 1 };
    let mut session = onnx::open(env, path, &options, graph, Width::Narrow, &PrepackedWeights::new()).unwrap();
    let feeds: Vec<(String, ort::value::DynValue)> = inputs
        .iter()
        .map(|(name, shape, values)| {
            (name.to_string(), Tensor::from_array((shape.clone(), values.to_vec())).unwrap().into_dyn())
        })
        .collect();
    let outputs = session.run(feeds).unwrap();
    let (shape, y) = outputs[output].try_extract_tensor::<f32>().unwrap();
    (shape.to_vec(), y.to_vec())
}

pub fn ints(node: &mut Vec<u8>, name: &str, values: &[i64]) {
    let mut attribute = Vec::new();
    put_bytes(&mut attribute, 1, name.as_bytes());
    for &v in values {
        put_uint(&mut attribute, 8, v as u64);
    }
    put_uint(&mut attribute, 20, 7);
    put_bytes(node, 5, &attribute);
}

pub fn int(node: &mut Vec<u8>, name: &str, value: i64) {
    let mut attribute = Vec::new();
    put_bytes(&mut attribute, 1, name.as_bytes());
    put_uint(&mut attribute, 3, value as u64);
    put_uint(&mut attribute, 20, 2);
    put_bytes(node, 5, &attribute);
}

pub fn float_tensor(name: &str, dims: &[i64], seed: &mut u32) -> Vec<u8> {
    let count: i64 = dims.iter().product();
    let raw: Vec<u8> = noise(count as usize, seed).iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut tensor = Vec::new();
    for &d in dims {
        put_uint(&mut tensor, 1, d as u64);
    }
    put_uint(&mut tensor, 2, 1);
    put_bytes(&mut tensor, 8, name.as_bytes());
    put_bytes(&mut tensor, 9, &raw);
    tensor
}

/// `[1, channels, length]` float, the length a named dynamic dimension.
pub fn value_info(name: &str, channels: u64) -> Vec<u8> {
    value_info_batch(name, 1, channels)
}

/// `[batch, channels, length]` float, the length a named dynamic dimension.
pub fn value_info_batch(name: &str, batch: u64, channels: u64) -> Vec<u8> {
    let mut shape = Vec::new();
    for dim in [Ok(batch), Ok(channels), Err("L")] {
        let mut d = Vec::new();
        match dim {
            Ok(v) => put_uint(&mut d, 1, v),
            Err(param) => put_bytes(&mut d, 2, param.as_bytes()),
        }
        put_bytes(&mut shape, 1, &d);
    }
    let mut tensor_type = Vec::new();
    put_uint(&mut tensor_type, 1, 1);
    put_bytes(&mut tensor_type, 2, &shape);
    let mut type_proto = Vec::new();
    put_bytes(&mut type_proto, 1, &tensor_type);
    let mut info = Vec::new();
    put_bytes(&mut info, 1, name.as_bytes());
    put_bytes(&mut info, 2, &type_proto);
    info
}

/// A float attribute (`LeakyRelu`'s `alpha`).
pub fn float(node: &mut Vec<u8>, name: &str, value: f32) {
    let mut attribute = Vec::new();
    put_bytes(&mut attribute, 1, name.as_bytes());
    attribute.push((2 << 3) | 5);
    attribute.extend_from_slice(&value.to_le_bytes());
    put_uint(&mut attribute, 20, 1);
    put_bytes(node, 5, &attribute);
}

/// A node of the default domain.
pub fn node(op: &str, inputs: &[&str], output: &str, attributes: &dyn Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut node = Vec::new();
    for input in inputs {
        put_bytes(&mut node, 1, input.as_bytes());
    }
    put_bytes(&mut node, 2, output.as_bytes());
    put_bytes(&mut node, 3, format!("{op}_{output}").as_bytes());
    put_bytes(&mut node, 4, op.as_bytes());
    attributes(&mut node);
    node
}
