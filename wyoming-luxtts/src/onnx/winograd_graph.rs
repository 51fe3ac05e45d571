//! 1-D convolutions handed to our Winograd operator ([`super::winograd_op`]) before ONNX Runtime loads a
//! graph.
//!
//! A qualifying `Conv` becomes `ai.wyoming_rs.WinogradConv`, reading the same input and writing the same
//! output. Its weights leave the graph: the rewrite transforms them itself ([`Conv1d`]) into a process-wide
//! registry, keyed by their SHA-256, so every session of a voice shares one transformed copy and ONNX Runtime
//! holds no copy of the originals; the node names its weights by that key. A `LeakyRelu` that feeds the
//! convolution and a residual `Add` that takes its output are folded in. A node qualifies only when its
//! meaning is certain and the operator is faster for it: a default-domain `Conv` with one group, stride 1,
//! explicit or no pads, 2 to 7 taps, weights and bias stored in the file as f32 initializers, at least 8 input
//! channels and a multiple of 8 (at least 16) output channels (fewer waste most of the kernel's 16-wide weight
//! panels: a Piper decoder's last convolution has one), and transformed weights of at most 4 MiB (the text
//! encoder's 192×768 feed-forward layers run on a few dozen phonemes, where the saving is small and the
//! transformed weights would take 2.7× the originals), and a reach (`dilation · (taps - 1)`) of at most
//! [`winograd::MAX_REACH`]. Weights that the caller may override (initializers listed as graph inputs, from
//! IR version 4 on) stay with ONNX Runtime. In a graph with subgraphs, which may read any outer name, nothing
//! is folded and the weights also stay in the graph. Everything else in the file is copied byte for byte.

use super::model_proto::*;
use super::winograd::{self, Conv1d};
use super::winograd_op;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wyoming_proto::protobuf::{Field, Value, fields, push_ints, put_bytes, put_uint};

pub const DOMAIN: &str = "ai.wyoming_rs";
pub const OP: &str = "WinogradConv";
const TENSOR_FLOAT: u64 = 1;

/// A rewritten model and how many convolutions changed.
#[derive(Debug)]
pub struct Rewritten {
    pub model: Vec<u8>,
    pub convolutions: usize,
    /// The transformed weights the graph names; hold them until a session has loaded it.
    pub weights: Vec<Arc<Conv1d>>,
}

/// The model with its qualifying convolutions on our operator; `None` when none qualifies, or when the bytes
/// are not a model this rewrite can be sure about (malformed, no default-domain opset, our domain already
/// imported, external weights).
pub fn rewrite(model: &[u8]) -> Option<Rewritten> {
    let top = fields(model)?;
    default_opset(&top)?;
    for import in top.iter().filter_map(|f| bytes_of(f, MODEL_OPSET_IMPORT)) {
        if fields(import)?.iter().any(|f| f.number == OPSET_DOMAIN && f.value == Value::Bytes(DOMAIN.as_bytes())) {
            return None;
        }
    }
    let graphs: Vec<&[u8]> = top.iter().filter_map(|f| bytes_of(f, MODEL_GRAPH)).collect();
    let [graph] = graphs[..] else { return None };
    // From IR version 4 on, an initializer that is also a graph input is a default the caller may override.
    let ir_version = top.iter().find_map(|f| match (f.number, f.value) {
        (MODEL_IR_VERSION, Value::Varint(v)) => Some(v),
        _ => None,
    });
    let (graph, weights) = rewrite_graph(graph, ir_version.unwrap_or(0) >= 4)?;
    let convolutions = weights.len();
    if convolutions == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(model.len() + convolutions * 32 + 32);
    for field in &top {
        match bytes_of(field, MODEL_GRAPH) {
            Some(_) => put_bytes(&mut out, MODEL_GRAPH, &graph),
            None => out.extend_from_slice(field.raw),
        }
    }
    let mut import = Vec::new();
    put_bytes(&mut import, OPSET_DOMAIN, DOMAIN.as_bytes());
    put_uint(&mut import, OPSET_VERSION, 1);
    put_bytes(&mut out, MODEL_OPSET_IMPORT, &import);
    Some(Rewritten { model: out, convolutions, weights })
}

/// Transformed weights above this stay with ONNX Runtime (see the module doc).
const MAX_TRANSFORMED_BYTES: usize = 4 << 20;

/// An initializer: its shape, element type and message.
struct Initializer<'a> {
    dims: Vec<i64>,
    float: bool,
    tensor: &'a [u8],
}

impl Initializer<'_> {
    /// Its values, from `raw_data` or `float_data`; `None` if they do not match its shape.
    fn floats(&self) -> Option<Vec<f32>> {
        let count = self.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))?;
        let mut values = Vec::new();
        for f in fields(self.tensor)? {
            match (f.number, f.value) {
                (TENSOR_RAW_DATA, Value::Bytes(raw)) => {
                    values.extend(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                    if raw.len() % 4 != 0 {
                        return None;
                    }
                }
                (TENSOR_FLOAT_DATA, Value::Bytes(packed)) if packed.len() % 4 == 0 => {
                    values.extend(packed.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
                }
                (TENSOR_FLOAT_DATA, Value::Fixed32(v)) => values.push(f32::from_bits(v)),
                (TENSOR_FLOAT_DATA, _) => return None,
                _ => {}
            }
        }
        (values.len() == count).then_some(values)
    }
}

fn rewrite_graph(graph: &[u8], inputs_override: bool) -> Option<(Vec<u8>, Vec<Arc<Conv1d>>)> {
    let parts = fields(graph)?;
    // No names are added, so any prefix does: this checks for external data.
    if !names_are_free(&parts, "wyoming_rs_winograd/")? {
        return None;
    }
    let mut initializers = HashMap::new();
    for tensor in parts.iter().filter_map(|f| bytes_of(f, GRAPH_INITIALIZER)) {
        let (mut name, mut dims, mut float) = (None, Vec::new(), false);
        for f in fields(tensor)? {
            match (f.number, f.value) {
                (TENSOR_NAME, Value::Bytes(n)) => name = Some(n),
                (TENSOR_DIMS, value) => push_ints(value, &mut dims)?,
                (TENSOR_DATA_TYPE, Value::Varint(t)) => float = t == TENSOR_FLOAT,
                _ => {}
            }
        }
        if let Some(name) = name {
            initializers.insert(name, Initializer { dims, float, tensor });
        }
    }
    let mut graph_inputs = HashSet::new();
    for info in parts.iter().filter_map(|f| bytes_of(f, GRAPH_INPUT)) {
        for f in fields(info)? {
            if let (VALUE_INFO_NAME, Value::Bytes(name)) = (f.number, f.value) {
                graph_inputs.insert(name);
            }
        }
    }
    if inputs_override {
        initializers.retain(|name, _| !graph_inputs.contains(name));
    }
    let mut graph_outputs = HashSet::new();
    for info in parts.iter().filter_map(|f| bytes_of(f, GRAPH_OUTPUT)) {
        for f in fields(info)? {
            if let (VALUE_INFO_NAME, Value::Bytes(name)) = (f.number, f.value) {
                graph_outputs.insert(name);
            }
        }
    }
    // Nodes by their position among the graph's fields.
    let mut nodes = Vec::new();
    for (at, field) in parts.iter().enumerate() {
        if let Some(node) = bytes_of(field, GRAPH_NODE) {
            nodes.push((at, Node::parse(node)?));
        }
    }
    // A subgraph may read any outer name, which the counts below would miss: no fusion then.
    let fuse = !nodes.iter().any(|(_, n)| n.subgraph);
    let mut consumers: HashMap<&[u8], Vec<usize>> = HashMap::new();
    let mut producer: HashMap<&[u8], usize> = HashMap::new();
    for (i, (_, node)) in nodes.iter().enumerate() {
        for input in &node.inputs {
            consumers.entry(input).or_default().push(i);
        }
        for output in &node.outputs {
            producer.insert(output, i);
        }
    }
    let only_consumer = |name: &[u8]| match consumers.get(name).map(|c| &c[..]) {
        Some(&[c]) if !graph_outputs.contains(name) => Some(c),
        _ => None,
    };

    let mut replaced: HashMap<usize, Vec<u8>> = HashMap::new(); // node index → the node written there
    let mut removed = HashSet::new();
    let mut leaky_readers: HashMap<usize, usize> = HashMap::new(); // LeakyRelu → convolutions now reading past it
    let mut weight_readers: HashMap<&[u8], usize> = HashMap::new(); // initializer → rewritten nodes reading it
    let mut weights = Vec::new();
    for (i, (_, node)) in nodes.iter().enumerate() {
        if !qualifies(node, &initializers) {
            continue;
        }
        let (mut input, mut alpha) = (node.inputs[0], None);
        let mut leaky = None;
        if fuse
            && let Some(&l) = producer.get(node.inputs[0])
            && let Some(a) = nodes[l].1.leaky_alpha()
            && (0.0..=1.0).contains(&a)
        {
            (input, alpha, leaky) = (nodes[l].1.inputs[0], Some(a), Some(l));
        }
        let Some(conv) = transformed(node, &initializers, alpha) else { continue };
        if let Some(l) = leaky {
            *leaky_readers.entry(l).or_default() += 1;
        }
        for name in &node.inputs[1..] {
            *weight_readers.entry(name).or_default() += 1;
        }
        // The residual `Add`, if the convolution's output goes only there; the fused node takes its place in
        // the graph's order, where its addend exists.
        let mut inputs = vec![input];
        // (An `Add` of two convolutions takes the first; the second keeps its own place.)
        let add =
            only_consumer(node.outputs[0]).filter(|&a| fuse && nodes[a].1.is_plain_add() && !replaced.contains_key(&a));
        let (position, output) = match add {
            Some(a) => {
                let add = &nodes[a].1;
                inputs.push(if add.inputs[0] == node.outputs[0] { add.inputs[1] } else { add.inputs[0] });
                removed.insert(i);
                (a, add.outputs[0])
            }
            None => (i, node.outputs[0]),
        };
        replaced.insert(position, node.fused(&inputs, output, &conv.0));
        weights.push(conv.1);
    }
    // A LeakyRelu whose every reader now reads past it is gone, and so are weights only rewritten nodes read.
    for (&l, &readers) in &leaky_readers {
        let output = nodes[l].1.outputs[0];
        if consumers.get(output).map_or(0, Vec::len) == readers && !graph_outputs.contains(output) {
            removed.insert(l);
        }
    }
    // (A subgraph may read an initializer too, so with one they all stay.)
    let dropped: HashSet<&[u8]> = weight_readers
        .iter()
        .filter(|(name, readers)| {
            fuse && consumers.get(*name).map_or(0, Vec::len) == **readers && !graph_outputs.contains(*name)
        })
        .map(|(name, _)| *name)
        .collect();
    let node_at: HashMap<usize, usize> = nodes.iter().enumerate().map(|(i, (at, _))| (*at, i)).collect();
    let mut out = Vec::with_capacity(graph.len() + 1024);
    let named = |bytes: &[u8], number: u64| -> Option<bool> {
        let name = fields(bytes)?.iter().find_map(|f| bytes_of(f, number));
        Some(name.is_some_and(|n| dropped.contains(n)))
    };
    for (at, field) in parts.iter().enumerate() {
        match (node_at.get(&at), field.number, field.value) {
            (Some(i), ..) if replaced.contains_key(i) => put_bytes(&mut out, GRAPH_NODE, &replaced[i]),
            (Some(i), ..) if removed.contains(i) => {}
            (None, GRAPH_INITIALIZER, Value::Bytes(t)) if named(t, TENSOR_NAME)? => {}
            // Before IR version 4 initializers were also listed as graph inputs.
            (None, GRAPH_INPUT, Value::Bytes(v)) if named(v, VALUE_INFO_NAME)? => {}
            _ => out.extend_from_slice(field.raw),
        }
    }
    Some((out, weights))
}

/// What the rewrite reads of a node.
struct Node<'a> {
    parts: Vec<Field<'a>>,
    op: &'a [u8],
    default_domain: bool,
    inputs: Vec<&'a [u8]>,
    outputs: Vec<&'a [u8]>,
    /// The attributes that are plain values, by name; `None` once one is not (a reference, a tensor).
    attributes: Option<Vec<Attribute<'a>>>,
    /// Floats (`alpha`), which [`Attribute`] does not read.
    floats: Vec<(&'a [u8], f32)>,
    subgraph: bool,
}

impl<'a> Node<'a> {
    fn parse(node: &'a [u8]) -> Option<Node<'a>> {
        let parts = fields(node)?;
        let mut n = Node {
            parts: Vec::new(),
            op: b"",
            default_domain: true,
            inputs: Vec::new(),
            outputs: Vec::new(),
            attributes: Some(Vec::new()),
            floats: Vec::new(),
            subgraph: false,
        };
        for field in &parts {
            match (field.number, field.value) {
                (NODE_INPUT, Value::Bytes(input)) => n.inputs.push(input),
                (NODE_OUTPUT, Value::Bytes(output)) => n.outputs.push(output),
                (NODE_OP_TYPE, Value::Bytes(o)) => n.op = o,
                (NODE_DOMAIN, Value::Bytes(d)) => n.default_domain = d.is_empty() || d == b"ai.onnx",
                (NODE_ATTRIBUTE, Value::Bytes(attribute)) => {
                    let inner = fields(attribute)?;
                    n.subgraph |= inner.iter().any(|f| matches!(f.number, ATTR_G | ATTR_GRAPHS));
                    let name = inner.iter().find_map(|f| bytes_of(f, ATTR_NAME)).unwrap_or_default();
                    if let Some(f) = inner.iter().find_map(|f| match (f.number, f.value) {
                        (ATTR_F, Value::Fixed32(v)) => Some(f32::from_bits(v)),
                        _ => None,
                    }) {
                        n.floats.push((name, f));
                    } else {
                        match (Attribute::parse(attribute)?, &mut n.attributes) {
                            (Some(a), Some(list)) => list.push(a),
                            _ => n.attributes = None,
                        }
                    }
                }
                _ => {}
            }
        }
        n.parts = parts;
        Some(n)
    }

    /// `alpha` of a default-domain `LeakyRelu` (0.01 when not given).
    fn leaky_alpha(&self) -> Option<f32> {
        if self.op != b"LeakyRelu" || !self.default_domain || self.inputs.len() != 1 || self.outputs.len() != 1 {
            return None;
        }
        match (&self.floats[..], self.attributes.as_deref()) {
            ([], Some([])) => Some(0.01),
            ([(b"alpha", a)], Some([])) => Some(*a),
            _ => None,
        }
    }

    fn is_plain_add(&self) -> bool {
        self.op == b"Add"
            && self.default_domain
            && self.inputs.len() == 2
            && self.outputs.len() == 1
            && self.floats.is_empty()
            && self.attributes.as_ref().is_some_and(|a| a.is_empty())
    }

    /// This `Conv` as our operator reading `inputs` (its input and any addend), writing `output`, with the
    /// transformed weights under `key`.
    fn fused(&self, inputs: &[&[u8]], output: &[u8], key: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        for input in inputs {
            put_bytes(&mut out, NODE_INPUT, input);
        }
        put_bytes(&mut out, NODE_OUTPUT, output);
        for field in &self.parts {
            if matches!(field.number, NODE_NAME | NODE_DOC_STRING) {
                out.extend_from_slice(field.raw);
            }
        }
        put_bytes(&mut out, NODE_OP_TYPE, OP.as_bytes());
        put_bytes(&mut out, NODE_DOMAIN, DOMAIN.as_bytes());
        put_bytes(&mut out, NODE_ATTRIBUTE, &string_attribute(winograd_op::WEIGHTS, key));
        out
    }
}

/// Whether a node is a `Conv` that the operator runs exactly and faster (see the module doc).
fn qualifies(node: &Node<'_>, initializers: &HashMap<&[u8], Initializer>) -> bool {
    if node.op != b"Conv" || !node.default_domain || node.outputs.len() != 1 || node.outputs[0].is_empty() {
        return false;
    }
    if !(2..=3).contains(&node.inputs.len()) || node.inputs.iter().any(|i| i.is_empty()) || !node.floats.is_empty() {
        return false;
    }
    let Some(attributes) = &node.attributes else { return false };
    let mut taps = None;
    for a in attributes {
        let ok = match (a.name, &a.ints[..]) {
            (b"kernel_shape", &[k]) => {
                taps = Some(k);
                true
            }
            (b"dilations", &[d]) => d >= 1,
            (b"strides", &[s]) => s == 1,
            (b"pads", &[l, r]) => l >= 0 && r >= 0,
            (b"group", []) => a.i == Some(1),
            (b"auto_pad", []) => a.s == Some(b"NOTSET"),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    let Some(taps) = taps.and_then(|k| usize::try_from(k).ok()).filter(|&k| winograd::tile(k).is_some()) else {
        return false;
    };
    let Some(weights) = initializers.get(node.inputs[1]).filter(|w| w.float) else { return false };
    let &[cout, cin, k] = &weights.dims[..] else { return false };
    if k != taps as i64 || cin < 8 || cout < 16 || cout % 8 != 0 {
        return false;
    }
    match node.inputs.get(2) {
        Some(bias) => initializers.get(bias).is_some_and(|b| b.float && b.dims[..] == [cout]),
        None => true,
    }
}

/// The convolution's weights, transformed (and registered) with a fused `LeakyRelu` slope, and their key;
/// `None` if they cannot be read or would be too large.
fn transformed(
    node: &Node<'_>,
    initializers: &HashMap<&[u8], Initializer>,
    alpha: Option<f32>,
) -> Option<(String, Arc<Conv1d>)> {
    let w = initializers.get(node.inputs[1])?;
    let &[cout, cin, taps] = &w.dims[..] else { return None };
    let [cout, cin, taps] = [cout, cin, taps].map(|v| usize::try_from(v).unwrap_or(usize::MAX));
    let (_, n) = winograd::tile(taps)?;
    if n.checked_mul(cout.div_ceil(16) * 16)?.checked_mul(cin)?.checked_mul(4)? > MAX_TRANSFORMED_BYTES {
        return None;
    }
    let weights = w.floats()?;
    let bias = match node.inputs.get(2) {
        Some(b) => Some(initializers.get(b)?.floats()?),
        None => None,
    };
    let attributes = node.attributes.as_deref()?;
    let ints = |name: &[u8]| attributes.iter().find(|a| a.name == name).map(|a| a.ints.clone());
    let dilation = ints(b"dilations").map_or(Some(1), |d| usize::try_from(*d.first()?).ok())?;
    if dilation.checked_mul(taps - 1)? > winograd::MAX_REACH {
        return None;
    }
    let pads = match ints(b"pads") {
        Some(p) => [usize::try_from(p[0]).ok()?, usize::try_from(p[1]).ok()?],
        None => [0, 0],
    };
    let key = winograd_op::key(&weights, bias.as_deref(), [cout, cin, taps], dilation, pads, alpha);
    let conv = winograd_op::register(&key, || {
        let conv = Conv1d::new(&weights, [cout, cin, taps], bias.as_deref(), dilation, pads)?;
        match alpha {
            Some(a) => conv.with_leaky_input(a),
            None => Ok(conv),
        }
    })
    .ok()?;
    Some((key, conv))
}

fn string_attribute(name: &str, value: &str) -> Vec<u8> {
    let mut attribute = Vec::new();
    put_bytes(&mut attribute, ATTR_NAME, name.as_bytes());
    put_bytes(&mut attribute, ATTR_S, value.as_bytes());
    put_uint(&mut attribute, ATTR_TYPE, ATTR_TYPE_STRING);
    attribute
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, dims: &[i64], data_type: u64) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            put_uint(&mut t, TENSOR_DIMS, d as u64);
        }
        put_uint(&mut t, TENSOR_DATA_TYPE, data_type);
        put_bytes(&mut t, TENSOR_NAME, name.as_bytes());
        let count: i64 = dims.iter().product();
        put_bytes(&mut t, TENSOR_RAW_DATA, &vec![0u8; count as usize * 4]);
        t
    }

    fn conv(inputs: &[&str], output: &str, attributes: &[(&str, Vec<i64>)], group: Option<i64>) -> Vec<u8> {
        let mut node = Vec::new();
        for i in inputs {
            put_bytes(&mut node, NODE_INPUT, i.as_bytes());
        }
        put_bytes(&mut node, NODE_OUTPUT, output.as_bytes());
        put_bytes(&mut node, NODE_NAME, output.as_bytes());
        put_bytes(&mut node, NODE_OP_TYPE, b"Conv");
        for (name, ints) in attributes {
            put_bytes(&mut node, NODE_ATTRIBUTE, &ints_attribute(name.as_bytes(), ints));
        }
        if let Some(g) = group {
            let mut a = Vec::new();
            put_bytes(&mut a, ATTR_NAME, b"group");
            put_uint(&mut a, ATTR_I, g as u64);
            put_uint(&mut a, ATTR_TYPE, 2);
            put_bytes(&mut node, NODE_ATTRIBUTE, &a);
        }
        node
    }

    fn model(nodes: &[Vec<u8>], initializers: &[Vec<u8>]) -> Vec<u8> {
        let mut graph = Vec::new();
        for n in nodes {
            put_bytes(&mut graph, GRAPH_NODE, n);
        }
        for i in initializers {
            put_bytes(&mut graph, GRAPH_INITIALIZER, i);
        }
        let mut model = Vec::new();
        put_uint(&mut model, 1, 8); // ir_version
        put_bytes(&mut model, MODEL_GRAPH, &graph);
        let mut import = Vec::new();
        put_uint(&mut import, OPSET_VERSION, 17);
        put_bytes(&mut model, MODEL_OPSET_IMPORT, &import);
        model
    }

    fn ops(model: &[u8]) -> Vec<(String, String)> {
        let top = fields(model).unwrap();
        let graph = top.iter().find_map(|f| bytes_of(f, MODEL_GRAPH)).unwrap();
        fields(graph)
            .unwrap()
            .iter()
            .filter_map(|f| bytes_of(f, GRAPH_NODE))
            .map(|n| {
                let mut op = (String::new(), String::new());
                for f in fields(n).unwrap() {
                    match (f.number, f.value) {
                        (NODE_OP_TYPE, Value::Bytes(o)) => op.0 = String::from_utf8_lossy(o).into(),
                        (NODE_DOMAIN, Value::Bytes(d)) => op.1 = String::from_utf8_lossy(d).into(),
                        _ => {}
                    }
                }
                op
            })
            .collect()
    }

    fn attrs(k: i64, d: i64, pad: i64) -> Vec<(&'static str, Vec<i64>)> {
        vec![("kernel_shape", vec![k]), ("dilations", vec![d]), ("pads", vec![pad, pad]), ("strides", vec![1])]
    }

    #[test]
    fn qualifying_convolutions_change_operator_and_nothing_else() {
        let inits = [tensor("w", &[32, 32, 5], 1), tensor("b", &[32], 1), tensor("w1", &[1, 32, 7], 1)];
        let nodes = [
            conv(&["x", "w", "b"], "y", &attrs(5, 2, 4), Some(1)),
            conv(&["y", "w1"], "z", &attrs(7, 1, 3), None), // one output channel
            conv(&["y", "w"], "q", &attrs(5, 1, 2), Some(2)), // grouped
        ];
        let m = model(&nodes, &inits);
        let r = rewrite(&m).expect("one convolution");
        assert_eq!(r.convolutions, 1);
        let ops = ops(&r.model);
        assert_eq!(ops[0], (OP.to_string(), DOMAIN.to_string()));
        assert_eq!(ops[1], ("Conv".to_string(), String::new()));
        assert_eq!(ops[2], ("Conv".to_string(), String::new()));
        // Its weights are in the registry: `b` leaves the graph, `w` stays for the grouped convolution.
        assert_eq!(initializer_names(&r.model), ["w", "w1"]);
        assert_eq!(node_inputs(&r.model)[0], ["x"]);
        assert_eq!(r.weights.len(), 1);
        let top = fields(&r.model).unwrap();
        let imports: Vec<_> = top.iter().filter_map(|f| bytes_of(f, MODEL_OPSET_IMPORT)).collect();
        assert_eq!(imports.len(), 2);
        // Rewriting again is refused: the domain is taken.
        assert!(rewrite(&r.model).is_none());
    }

    fn graph_of(model: &[u8]) -> Vec<u8> {
        let top = fields(model).unwrap();
        top.iter().find_map(|f| bytes_of(f, MODEL_GRAPH)).unwrap().to_vec()
    }

    fn initializer_names(model: &[u8]) -> Vec<String> {
        let graph = graph_of(model);
        let mut names = Vec::new();
        for t in fields(&graph).unwrap().iter().filter_map(|f| bytes_of(f, GRAPH_INITIALIZER)) {
            let name = fields(t).unwrap().iter().find_map(|f| bytes_of(f, TENSOR_NAME)).unwrap();
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        names
    }

    fn node_inputs(model: &[u8]) -> Vec<Vec<String>> {
        let graph = graph_of(model);
        let nodes: Vec<Vec<u8>> =
            fields(&graph).unwrap().iter().filter_map(|f| bytes_of(f, GRAPH_NODE)).map(<[u8]>::to_vec).collect();
        nodes
            .iter()
            .map(|n| {
                fields(n)
                    .unwrap()
                    .iter()
                    .filter_map(|f| bytes_of(f, NODE_INPUT))
                    .map(|i| String::from_utf8_lossy(i).into_owned())
                    .collect()
            })
            .collect()
    }

    fn node(op: &str, inputs: &[&str], output: &str) -> Vec<u8> {
        let mut node = Vec::new();
        for i in inputs {
            put_bytes(&mut node, NODE_INPUT, i.as_bytes());
        }
        put_bytes(&mut node, NODE_OUTPUT, output.as_bytes());
        put_bytes(&mut node, NODE_OP_TYPE, op.as_bytes());
        node
    }

    #[test]
    fn an_add_of_two_convolutions_takes_one_of_them() {
        let inits = [
            tensor("wa", &[16, 8, 3], 1),
            tensor("ba", &[16], 1),
            tensor("wb", &[16, 8, 5], 1),
            tensor("bb", &[16], 1),
        ];
        let nodes = [
            conv(&["x", "wa", "ba"], "ya", &attrs(3, 1, 1), None),
            conv(&["x", "wb", "bb"], "yb", &attrs(5, 1, 2), None),
            node("Add", &["ya", "yb"], "z"),
        ];
        let r = rewrite(&model(&nodes, &inits)).expect("two convolutions");
        assert_eq!(r.convolutions, 2);
        // The second convolution stays where it was; the first, with the `Add` folded in, comes after it.
        assert_eq!(ops(&r.model).len(), 2);
        assert_eq!(node_inputs(&r.model), [vec!["x"], vec!["x", "yb"]]);
        assert!(initializer_names(&r.model).is_empty());
    }

    #[test]
    fn a_leaky_relu_is_folded_in_and_goes_when_nothing_else_reads_it() {
        let mut leaky = node("LeakyRelu", &["x"], "a");
        let mut alpha = Vec::new();
        put_bytes(&mut alpha, ATTR_NAME, b"alpha");
        alpha.push(((ATTR_F << 3) | 5) as u8);
        alpha.extend_from_slice(&0.1f32.to_le_bytes());
        put_bytes(&mut leaky, NODE_ATTRIBUTE, &alpha);
        let inits = [tensor("w", &[16, 8, 3], 1), tensor("b", &[16], 1)];
        let nodes = [leaky.clone(), conv(&["a", "w", "b"], "y", &attrs(3, 1, 1), None), node("Add", &["y", "x"], "z")];
        let r = rewrite(&model(&nodes, &inits)).expect("one convolution");
        assert_eq!(node_inputs(&r.model), [vec!["x", "x"]]);
        // Read by another node too, the LeakyRelu stays.
        let nodes = [leaky, conv(&["a", "w", "b"], "y", &attrs(3, 1, 1), None), node("Add", &["y", "a"], "z")];
        let r = rewrite(&model(&nodes, &inits)).expect("one convolution");
        assert_eq!(node_inputs(&r.model), [vec!["x"], vec!["x", "a"]]);
    }

    #[test]
    fn weights_are_read_from_float_data_and_large_ones_stay() {
        // `float_data` (packed) instead of `raw_data`.
        let mut w = Vec::new();
        for d in [16u64, 8, 3] {
            put_uint(&mut w, TENSOR_DIMS, d);
        }
        put_uint(&mut w, TENSOR_DATA_TYPE, 1);
        put_bytes(&mut w, TENSOR_NAME, b"w");
        put_bytes(&mut w, TENSOR_FLOAT_DATA, &[0u8; 16 * 8 * 3 * 4]);
        let r = rewrite(&model(&[conv(&["x", "w"], "y", &attrs(3, 1, 1), None)], &[w]));
        assert_eq!(r.map(|r| r.convolutions), Some(1));
        // A value short: not a tensor the rewrite can be sure of.
        let mut short = Vec::new();
        for d in [16u64, 8, 3] {
            put_uint(&mut short, TENSOR_DIMS, d);
        }
        put_uint(&mut short, TENSOR_DATA_TYPE, 1);
        put_bytes(&mut short, TENSOR_NAME, b"w");
        put_bytes(&mut short, TENSOR_FLOAT_DATA, &[0u8; 16 * 8 * 3 * 4 - 4]);
        assert!(rewrite(&model(&[conv(&["x", "w"], "y", &attrs(3, 1, 1), None)], &[short])).is_none());
        // The text encoder's feed-forward shape: 4.7 MB transformed.
        let big = tensor("w", &[768, 192, 3], 1);
        assert!(rewrite(&model(&[conv(&["x", "w"], "y", &attrs(3, 1, 1), None)], &[big])).is_none());
    }

    #[test]
    fn overridable_weights_and_huge_dilations_stay_with_onnx_runtime() {
        let w = tensor("w", &[16, 8, 3], 1);
        let node = conv(&["x", "w"], "y", &attrs(3, 1, 1), None);
        // From IR version 4 on, `w` listed as a graph input may be fed by the caller.
        let graph = graph_of(&model(&[node], std::slice::from_ref(&w)));
        let mut info = Vec::new();
        put_bytes(&mut info, VALUE_INFO_NAME, b"w");
        let mut graph_with_input = graph.clone();
        put_bytes(&mut graph_with_input, GRAPH_INPUT, &info);
        let rebuild = |ir: u64, graph: &[u8]| {
            let mut out = Vec::new();
            put_uint(&mut out, MODEL_IR_VERSION, ir);
            put_bytes(&mut out, MODEL_GRAPH, graph);
            let mut import = Vec::new();
            put_uint(&mut import, OPSET_VERSION, 17);
            put_bytes(&mut out, MODEL_OPSET_IMPORT, &import);
            out
        };
        assert!(rewrite(&rebuild(8, &graph_with_input)).is_none());
        // Before IR version 4 every initializer was listed so: the input entry goes with the initializer.
        let r = rewrite(&rebuild(3, &graph_with_input)).expect("one convolution");
        assert!(initializer_names(&r.model).is_empty());
        let graph = graph_of(&r.model);
        assert!(!fields(&graph).unwrap().iter().any(|f| f.number == GRAPH_INPUT));
        // A reach far beyond any real model.
        let m = model(&[conv(&["x", "w"], "y", &attrs(3, 1 << 40, 1), None)], &[w]);
        assert!(rewrite(&m).is_none());
    }

    #[test]
    fn only_certain_convolutions_qualify() {
        let w = tensor("w", &[16, 8, 3], 1);
        let cases: Vec<(Vec<u8>, Vec<Vec<u8>>)> = vec![
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3]), ("strides", vec![2])], None), vec![w.clone()]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![1])], None), vec![tensor("w", &[16, 8, 1], 1)]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![9])], None), vec![tensor("w", &[16, 8, 9], 1)]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3, 3])], None), vec![w.clone()]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3])], None), vec![tensor("w", &[16, 8, 3], 10)]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3])], None), vec![tensor("w", &[16, 4, 3], 1)]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3])], None), vec![tensor("w", &[12, 8, 3], 1)]),
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3])], None), vec![]), // weights computed
            (conv(&["x", "w", "b"], "y", &[("kernel_shape", vec![3])], None), vec![w.clone()]), // bias computed
            (conv(&["x", "w"], "y", &[("kernel_shape", vec![3]), ("pads", vec![1, 1, 1, 1])], None), vec![w.clone()]),
        ];
        for (i, (node, inits)) in cases.into_iter().enumerate() {
            assert!(rewrite(&model(&[node], &inits)).is_none(), "case {i} was rewritten");
        }
        let ok = conv(&["x", "w"], "y", &[("kernel_shape", vec![3])], None);
        assert_eq!(rewrite(&model(&[ok], &[w])).map(|r| r.convolutions), Some(1));
    }

    proptest::proptest! {
        #[test]
        fn malformed_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = rewrite(&bytes);
        }

        #[test]
        fn corrupting_a_model_never_panics(at in 0usize..200, byte in proptest::prelude::any::<u8>()) {
            let mut m = model(&[conv(&["x", "w"], "y", &attrs(3, 1, 1), Some(1))], &[tensor("w", &[16, 8, 3], 1)]);
            let at = at % m.len();
            m[at] = byte;
            let _ = rewrite(&m);
        }
    }
}
