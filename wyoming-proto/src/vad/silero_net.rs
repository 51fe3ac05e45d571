//! Silero VAD (v5/v6, 16 kHz) computed in plain Rust from the weights in its ONNX file.
//!
//! Why our own: the network is tiny (an STFT as a convolution, four small convolutions, one LSTM cell,
//! about 0.7 M multiply-adds per 32 ms window), while loading ONNX Runtime for it costs the STT server about
//! 40 MiB of resident memory, a third of its footprint. The graph is the one `silero-vad` exports: reflect
//! padding by 64, a 256-point STFT basis with hop 128, encoder convolutions (kernel 3, strides 1, 2, 2, 1)
//! with ReLU, an LSTM cell (PyTorch gate order i, f, g, o) whose `(h, c)` is the `state` input, then
//! ReLU, a 1×1 convolution and a sigmoid. `tests/tests/silero_vad.rs` checks it against ONNX Runtime.

use super::WINDOW;
use super::silero::{CONTEXT, VadError};
use crate::protobuf::{Field, Value, fields, push_ints};
use std::collections::HashMap;
use std::path::Path;

const BINS: usize = 129;
const FFT: usize = 256;
const HOP: usize = 128;
const PAD: usize = 64;
pub(crate) const HIDDEN: usize = 128;

struct Conv {
    out: usize,
    inp: usize,
    stride: usize,
    /// `[out][inp][3]`
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv {
    /// Kernel 3, padding 1, then ReLU; `x` is `[inp][len]`.
    fn forward(&self, x: &[f32], len: usize) -> (Vec<f32>, usize) {
        let out_len = (len + 2 - 3) / self.stride + 1;
        let mut y = vec![0f32; self.out * out_len];
        for o in 0..self.out {
            for t in 0..out_len {
                let mut acc = self.bias[o];
                for i in 0..self.inp {
                    let w = &self.weight[(o * self.inp + i) * 3..][..3];
                    let row = &x[i * len..][..len];
                    for (k, wk) in w.iter().enumerate() {
                        let pos = (t * self.stride + k) as isize - 1;
                        if pos >= 0 && (pos as usize) < len {
                            acc += wk * row[pos as usize];
                        }
                    }
                }
                y[o * out_len + t] = acc.max(0.0);
            }
        }
        (y, out_len)
    }
}

/// The 16 kHz network.
pub struct SileroNet {
    /// `[2 * BINS][FFT]`: real rows, then imaginary rows.
    basis: Vec<f32>,
    encoder: [Conv; 4],
    /// `[4 * HIDDEN][HIDDEN]` each.
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    /// `bias_ih + bias_hh`.
    bias: Vec<f32>,
    out_w: Vec<f32>,
    out_b: f32,
}

impl SileroNet {
    pub fn load(path: &Path) -> Result<SileroNet, VadError> {
        let fail = |reason: String| VadError::Model { path: path.display().to_string(), reason };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let tensors = onnx_constants(&bytes).ok_or_else(|| fail("not an ONNX model (cannot parse it)".into()))?;
        // The export holds a 16 kHz and an 8 kHz branch with the same parameter names; the 16 kHz one is
        // the branch whose STFT basis has 258 rows of 256.
        const BASIS: &str = "stft.forward_basis_buffer";
        let prefix = tensors
            .iter()
            .find(|(name, t)| name.ends_with(BASIS) && t.dims == [2 * BINS as i64, 1, FFT as i64])
            .map(|(name, _)| &name[..name.len() - BASIS.len()])
            .ok_or_else(|| fail("no 16 kHz Silero VAD (v5 or v6) STFT basis in this model".into()))?;
        let get = |name: &str, dims: &[i64]| -> Result<Vec<f32>, VadError> {
            let t = tensors.get(&format!("{prefix}{name}")).ok_or_else(|| fail(format!("missing weight {name}")))?;
            if t.dims != dims {
                return Err(fail(format!("weight {name} has shape {:?}, expected {dims:?}", t.dims)));
            }
            Ok(t.data.clone())
        };
        let conv = |i: usize, out: usize, inp: usize, stride: usize| -> Result<Conv, VadError> {
            Ok(Conv {
                out,
                inp,
                stride,
                weight: get(&format!("encoder.{i}.reparam_conv.weight"), &[out as i64, inp as i64, 3])?,
                bias: get(&format!("encoder.{i}.reparam_conv.bias"), &[out as i64])?,
            })
        };
        let h = HIDDEN as i64;
        let bias_ih = get("decoder.rnn.bias_ih", &[4 * h])?;
        let bias_hh = get("decoder.rnn.bias_hh", &[4 * h])?;
        Ok(SileroNet {
            basis: get(BASIS, &[2 * BINS as i64, 1, FFT as i64])?,
            encoder: [conv(0, 128, BINS, 1)?, conv(1, 64, 128, 2)?, conv(2, 64, 64, 2)?, conv(3, 128, 64, 1)?],
            w_ih: get("decoder.rnn.weight_ih", &[4 * h, h])?,
            w_hh: get("decoder.rnn.weight_hh", &[4 * h, h])?,
            bias: bias_ih.iter().zip(&bias_hh).map(|(a, b)| a + b).collect(),
            out_w: get("decoder.decoder.2.weight", &[1, h, 1])?,
            out_b: get("decoder.decoder.2.bias", &[1])?[0],
        })
    }

    /// Speech probability of `context ‖ window` (576 samples); `state` is `h ‖ c` (2 × 128), updated.
    pub fn infer(&self, input: &[f32], state: &mut [f32]) -> f32 {
        debug_assert_eq!(input.len(), CONTEXT + WINDOW);
        let n = input.len();
        // Reflect padding on the right (the edge sample is not repeated).
        let mut padded = Vec::with_capacity(n + PAD);
        padded.extend_from_slice(input);
        padded.extend((0..PAD).map(|i| input[n - 2 - i]));
        let frames = (padded.len() - FFT) / HOP + 1;
        let mut magnitude = vec![0f32; BINS * frames];
        for t in 0..frames {
            let frame = &padded[t * HOP..][..FFT];
            for f in 0..BINS {
                let re: f32 = self.basis[f * FFT..][..FFT].iter().zip(frame).map(|(w, x)| w * x).sum();
                let im: f32 = self.basis[(f + BINS) * FFT..][..FFT].iter().zip(frame).map(|(w, x)| w * x).sum();
                magnitude[f * frames + t] = (re * re + im * im).sqrt();
            }
        }
        let (mut x, mut len) = (magnitude, frames);
        for conv in &self.encoder {
            (x, len) = conv.forward(&x, len);
        }
        debug_assert_eq!(len, 1, "the 16 kHz encoder reduces a window to one step");
        let (h, c) = state.split_at_mut(HIDDEN);
        let gate = |g: usize| -> f32 {
            let wi = &self.w_ih[g * HIDDEN..][..HIDDEN];
            let wh = &self.w_hh[g * HIDDEN..][..HIDDEN];
            self.bias[g]
                + wi.iter().zip(&x).map(|(w, v)| w * v).sum::<f32>()
                + wh.iter().zip(h.iter()).map(|(w, v)| w * v).sum::<f32>()
        };
        let gates: Vec<f32> = (0..4 * HIDDEN).map(gate).collect();
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        for j in 0..HIDDEN {
            let (i, f, g, o) = (gates[j], gates[HIDDEN + j], gates[2 * HIDDEN + j], gates[3 * HIDDEN + j]);
            c[j] = sigmoid(f) * c[j] + sigmoid(i) * g.tanh();
            h[j] = sigmoid(o) * c[j].tanh();
        }
        let logit = self.out_b + self.out_w.iter().zip(h.iter()).map(|(w, v)| w * v.max(0.0)).sum::<f32>();
        sigmoid(logit)
    }
}

/// A float tensor from the model.
struct Tensor {
    dims: Vec<i64>,
    data: Vec<f32>,
}

/// Every float `Constant` and initializer in an ONNX model, subgraphs included, by name, read field by field
/// with [`crate::protobuf`] (only the handful of fields needed), so no generated ONNX bindings are pulled in;
/// `None` if the bytes are not a well-formed model.
fn onnx_constants(model: &[u8]) -> Option<HashMap<String, Tensor>> {
    let mut found = Found::default();
    for Field { number: field, value, .. } in fields(model)? {
        if let (7, Value::Bytes(graph)) = (field, value) {
            collect_graph(graph, &mut found, 0)?;
        }
    }
    // A name given twice (not valid ONNX) is ambiguous: leave it out, so asking for it is an error.
    for name in found.duplicates {
        found.tensors.remove(&name);
    }
    Some(found.tensors)
}

#[derive(Default)]
struct Found {
    tensors: HashMap<String, Tensor>,
    duplicates: Vec<String>,
}

impl Found {
    fn insert(&mut self, name: String, tensor: Tensor) {
        match self.tensors.entry(name) {
            std::collections::hash_map::Entry::Occupied(seen) => self.duplicates.push(seen.key().clone()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(tensor);
            }
        }
    }
}

/// Subgraphs nest (an `If` inside an `If`); deeper than this is not a Silero model.
const MAX_DEPTH: usize = 16;

fn collect_graph(graph: &[u8], found: &mut Found, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    for Field { number: field, value, .. } in fields(graph)? {
        match (field, value) {
            (1, Value::Bytes(node)) => collect_node(node, found, depth)?,
            (5, Value::Bytes(tensor)) => {
                if let Some((name, tensor)) = parse_tensor(tensor)? {
                    found.insert(name, tensor);
                }
            }
            _ => {}
        }
    }
    Some(())
}

fn collect_node(node: &[u8], found: &mut Found, depth: usize) -> Option<()> {
    let (mut output, mut op, mut value) = (None, None, None);
    for Field { number: field, value: v, .. } in fields(node)? {
        match (field, v) {
            (2, Value::Bytes(name)) if output.is_none() => output = Some(String::from_utf8_lossy(name).into_owned()),
            (4, Value::Bytes(name)) => op = Some(name),
            (5, Value::Bytes(attribute)) => {
                for Field { number: field, value: v, .. } in fields(attribute)? {
                    match (field, v) {
                        (5, Value::Bytes(tensor)) => value = parse_tensor(tensor)?,
                        (6, Value::Bytes(graph)) => collect_graph(graph, found, depth + 1)?,
                        (11, Value::Bytes(graph)) => collect_graph(graph, found, depth + 1)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let (Some(name), Some(b"Constant"), Some((_, tensor))) = (output, op, value) {
        found.insert(name, tensor);
    }
    Some(())
}

/// `Some(None)`: a well-formed tensor that is not float32.
fn parse_tensor(tensor: &[u8]) -> Option<Option<(String, Tensor)>> {
    let (mut dims, mut dtype, mut name, mut raw, mut floats) = (Vec::new(), 0u64, String::new(), None, Vec::new());
    for Field { number: field, value, .. } in fields(tensor)? {
        match (field, value) {
            (1, dim) => push_ints(dim, &mut dims)?,
            (2, Value::Varint(t)) => dtype = t,
            (4, Value::Bytes(packed)) => floats.extend(f32s(packed)?),
            (4, Value::Fixed32(bits)) => floats.push(f32::from_bits(bits)),
            (8, Value::Bytes(n)) => name = String::from_utf8_lossy(n).into_owned(),
            (9, Value::Bytes(bytes)) => raw = Some(bytes),
            _ => {}
        }
    }
    if dtype != 1 {
        return Some(None);
    }
    let data = match raw {
        Some(bytes) => f32s(bytes)?,
        None => floats,
    };
    let expected = dims.iter().try_fold(1i64, |n, &d| n.checked_mul(d))?;
    if expected < 0 || data.len() != expected as usize {
        return None;
    }
    Some(Some((name, Tensor { dims, data })))
}

fn f32s(bytes: &[u8]) -> Option<Vec<f32>> {
    bytes
        .len()
        .is_multiple_of(4)
        .then(|| bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_a_hand_encoded_constant() {
        // ModelProto { graph { node { output: "w", op_type: "Constant", attribute { t { dims: [2], data_type: 1,
        // raw_data: [1.0, -2.0] } } } } }
        let mut tensor = vec![0x08, 0x02, 0x10, 0x01, 0x4a, 0x08];
        tensor.extend(1.0f32.to_le_bytes());
        tensor.extend((-2.0f32).to_le_bytes());
        let mut attribute = vec![0x2a, tensor.len() as u8];
        attribute.extend(&tensor);
        let mut node = vec![0x12, 0x01, b'w', 0x22, 0x08];
        node.extend(b"Constant");
        node.extend([0x2a, attribute.len() as u8]);
        node.extend(&attribute);
        let mut graph = vec![0x0a, node.len() as u8];
        graph.extend(&node);
        let mut model = vec![0x3a, graph.len() as u8];
        model.extend(&graph);
        let found = onnx_constants(&model).unwrap();
        assert_eq!(found["w"].dims, [2]);
        assert_eq!(found["w"].data, [1.0, -2.0]);
        // The same name twice is ambiguous: left out.
        let mut twice = vec![0x0a, node.len() as u8];
        twice.extend(&node);
        twice.extend([0x0a, node.len() as u8]);
        twice.extend(&node);
        let mut model = vec![0x3a, twice.len() as u8];
        model.extend(&twice);
        assert!(!onnx_constants(&model).unwrap().contains_key("w"));
    }

    proptest! {
        #[test]
        fn malformed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = onnx_constants(&bytes);
        }
    }
}
