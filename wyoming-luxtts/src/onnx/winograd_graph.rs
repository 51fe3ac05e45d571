//! 1-D convolutions handed to our Winograd operator ([`super::winograd_op`]) before ONNX Runtime loads a
//! graph.
//!
//! A qualifying `Conv` keeps its inputs, outputs and attributes and only changes its operator to
//! `ai.wyoming_rs.WinogradConv`, so the rest of the graph is untouched. A node qualifies only when its meaning
//! is certain and the operator is faster for it: a default-domain `Conv` with one group, stride 1, explicit or
//! no pads, 2 to 7 taps, weights and bias stored in the file as f32 initializers, at least 8 input channels and
//! a multiple of 8 (at least 16) output channels. (Fewer output channels waste most of the operator's 16-wide
//! weight panels: a Piper decoder's last convolution has one.) Everything else in the file is copied byte for
//! byte.

use super::model_proto::*;
use super::winograd;
use std::collections::{HashMap, HashSet};
use wyoming_proto::protobuf::{Field, Value, fields, push_ints, put_bytes, put_uint};

pub const DOMAIN: &str = "ai.wyoming_rs";
pub const OP: &str = "WinogradConv";
const TENSOR_FLOAT: u64 = 1;

/// A rewritten model and how many convolutions changed.
#[derive(Debug)]
pub struct Rewritten {
    pub model: Vec<u8>,
    pub convolutions: usize,
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
    let (graph, convolutions) = rewrite_graph(graph)?;
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
    Some(Rewritten { model: out, convolutions })
}

/// Shape and element type of an initializer.
struct Initializer {
    dims: Vec<i64>,
    float: bool,
}

fn rewrite_graph(graph: &[u8]) -> Option<(Vec<u8>, usize)> {
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
            initializers.insert(name, Initializer { dims, float });
        }
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
    let mut count = 0;
    for (i, (_, node)) in nodes.iter().enumerate() {
        if !qualifies(node, &initializers) {
            continue;
        }
        let (mut input, mut alpha) = (node.inputs[0], None);
        if fuse
            && let Some(&l) = producer.get(node.inputs[0])
            && let Some(a) = nodes[l].1.leaky_alpha()
            && (0.0..=1.0).contains(&a)
        {
            (input, alpha) = (nodes[l].1.inputs[0], Some(a));
            *leaky_readers.entry(l).or_default() += 1;
        }
        // The residual `Add`, if the convolution's output goes only there; the fused node takes its place in
        // the graph's order, where its addend exists.
        let mut add = None;
        if fuse
            && node.inputs.len() == 3
            && let Some(a) = only_consumer(node.outputs[0])
            && nodes[a].1.is_plain_add()
        {
            let add_node = &nodes[a].1;
            let other = if add_node.inputs[0] == node.outputs[0] { add_node.inputs[1] } else { add_node.inputs[0] };
            add = Some((a, other, add_node.outputs[0]));
        }
        let mut inputs = vec![input, node.inputs[1]];
        inputs.extend(node.inputs.get(2));
        let (position, output) = match add {
            Some((a, addend, output)) => {
                inputs.push(addend);
                removed.insert(i);
                (a, output)
            }
            None => (i, node.outputs[0]),
        };
        replaced.insert(position, node.fused(&inputs, output, alpha));
        count += 1;
    }
    // A LeakyRelu whose every reader now reads past it is gone.
    for (&l, &readers) in &leaky_readers {
        let output = nodes[l].1.outputs[0];
        if consumers.get(output).map_or(0, Vec::len) == readers && !graph_outputs.contains(output) {
            removed.insert(l);
        }
    }
    let node_at: HashMap<usize, usize> = nodes.iter().enumerate().map(|(i, (at, _))| (*at, i)).collect();
    let mut out = Vec::with_capacity(graph.len() + 1024);
    for (at, field) in parts.iter().enumerate() {
        match node_at.get(&at) {
            Some(i) if replaced.contains_key(i) => put_bytes(&mut out, GRAPH_NODE, &replaced[i]),
            Some(i) if removed.contains(i) => {}
            _ => out.extend_from_slice(field.raw),
        }
    }
    Some((out, count))
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

    /// This `Conv` as our operator reading `inputs`, writing `output`, with a fused `LeakyRelu` slope.
    fn fused(&self, inputs: &[&[u8]], output: &[u8], alpha: Option<f32>) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        for input in inputs {
            put_bytes(&mut out, NODE_INPUT, input);
        }
        put_bytes(&mut out, NODE_OUTPUT, output);
        for field in &self.parts {
            match field.number {
                NODE_NAME | NODE_ATTRIBUTE | NODE_DOC_STRING => out.extend_from_slice(field.raw),
                _ => {}
            }
        }
        put_bytes(&mut out, NODE_OP_TYPE, OP.as_bytes());
        put_bytes(&mut out, NODE_DOMAIN, DOMAIN.as_bytes());
        if let Some(alpha) = alpha {
            put_bytes(&mut out, NODE_ATTRIBUTE, &float_attribute(b"alpha", alpha));
        }
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

fn float_attribute(name: &[u8], value: f32) -> Vec<u8> {
    let mut attribute = Vec::new();
    put_bytes(&mut attribute, ATTR_NAME, name);
    attribute.push(((ATTR_F << 3) | 5) as u8); // fixed32
    attribute.extend_from_slice(&value.to_le_bytes());
    put_uint(&mut attribute, ATTR_TYPE, ATTR_TYPE_FLOAT);
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
        // The rewritten node keeps every other field: compare with the original minus op type.
        let top = fields(&r.model).unwrap();
        let imports: Vec<_> = top.iter().filter_map(|f| bytes_of(f, MODEL_OPSET_IMPORT)).collect();
        assert_eq!(imports.len(), 2);
        // Rewriting again is refused: the domain is taken.
        assert!(rewrite(&r.model).is_none());
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
