//! One-dimensional convolutions rewritten as two-dimensional ones of height 1, before ONNX Runtime loads a
//! graph.
//!
//! Why: on x86, ONNX Runtime runs 2-D convolutions on its blocked NCHWc kernels, and 1-D ones through im2col
//! and a GEMM. A Piper voice spends about 70% of its time in the 1-D convolutions of its HiFi-GAN decoder.
//! On one thread the 2-D form makes a whole synthesis 7–13% faster, and the audio stays within 1.1e-4 of the
//! original (full scale 1), from float summation order. (Measured on joe-medium, ONNX Runtime 1.32, the 2-core EPYC; see
//! `bench/RESULTS.md`.) On two threads it is neither faster nor slower, because NCHWc splits a height-1
//! convolution poorly between threads.
//!
//! Each qualifying `Conv` becomes `Unsqueeze(x)`, `Unsqueeze(w)` → `Conv` (2-D) → `Squeeze`. The `Squeeze`
//! keeps the original output name, so the rest of the graph is untouched, and ONNX Runtime folds the weight's
//! `Unsqueeze` when it loads the graph. A node qualifies only when its meaning is certain: a default-domain
//! `Conv` with a 1-element `kernel_shape`, explicit or no pads, and no attributes beyond the six of the
//! operator. Subgraphs and functions are left alone. Everything else in the file is copied byte for byte.

use super::model_proto::*;
use wyoming_proto::protobuf::{Field, Value, fields, put_bytes, put_uint};

/// Prefix of every name this rewrite adds; a graph that already uses it is left alone.
const PREFIX: &str = "wyoming_rs_conv2d/";

/// A rewritten model and how many convolutions changed.
#[derive(Debug)]
pub struct Rewritten {
    pub model: Vec<u8>,
    pub convolutions: usize,
}

/// The model with its 1-D convolutions made 2-D; `None` when none qualifies, or when the bytes are not a
/// model this rewrite can be sure about (malformed, no default-domain opset, external weights, a name of
/// ours already taken). ONNX Runtime then gets the file as it is and reports any error itself.
pub fn rewrite(model: &[u8]) -> Option<Rewritten> {
    let top = fields(model)?;
    let opset = default_opset(&top)?;
    let graphs: Vec<&[u8]> = top.iter().filter_map(|f| bytes_of(f, MODEL_GRAPH)).collect();
    let [graph] = graphs[..] else { return None };
    let (graph, convolutions) = rewrite_graph(graph, opset)?;
    if convolutions == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(model.len() + convolutions * 256);
    for field in &top {
        match bytes_of(field, MODEL_GRAPH) {
            Some(_) => put_bytes(&mut out, MODEL_GRAPH, &graph),
            None => out.extend_from_slice(field.raw),
        }
    }
    Some(Rewritten { model: out, convolutions })
}

fn rewrite_graph(graph: &[u8], opset: u64) -> Option<(Vec<u8>, usize)> {
    let parts = fields(graph)?;
    if !names_are_free(&parts, PREFIX)? {
        return None;
    }
    let axes_name = format!("{PREFIX}axes");
    let mut out = Vec::with_capacity(graph.len() + 4096);
    let mut count = 0;
    for field in &parts {
        let conv = match bytes_of(field, GRAPH_NODE) {
            Some(node) => Conv::parse(node)?,
            None => None,
        };
        match conv {
            Some(conv) => {
                conv.write_2d(&mut out, count, opset, &axes_name);
                count += 1;
            }
            None => out.extend_from_slice(field.raw),
        }
    }
    if count > 0 && opset >= 13 {
        // Unsqueeze and Squeeze take their axes as an input from opset 13 on: one shared `[2]`.
        let mut tensor = Vec::new();
        put_uint(&mut tensor, TENSOR_DIMS, 1);
        put_uint(&mut tensor, TENSOR_DATA_TYPE, TENSOR_INT64);
        put_bytes(&mut tensor, TENSOR_NAME, axes_name.as_bytes());
        put_bytes(&mut tensor, TENSOR_RAW_DATA, &2i64.to_le_bytes());
        put_bytes(&mut out, GRAPH_INITIALIZER, &tensor);
    }
    Some((out, count))
}

/// A `Conv` node that can be made 2-D, with what the rewrite needs of it.
struct Conv<'a> {
    fields: Vec<Field<'a>>,
}

impl<'a> Conv<'a> {
    /// `Some(None)`: a well-formed node that does not qualify.
    fn parse(node: &'a [u8]) -> Option<Option<Self>> {
        let parts = fields(node)?;
        let (mut inputs, mut outputs, mut op, mut domain) = (0, 0, &b""[..], &b""[..]);
        let mut kernel_rank = None;
        for field in &parts {
            match (field.number, field.value) {
                (NODE_INPUT, Value::Bytes(input)) => {
                    // x and w must be real tensors; an empty name means an omitted optional input.
                    if inputs < 2 && input.is_empty() {
                        return Some(None);
                    }
                    inputs += 1;
                }
                (NODE_OUTPUT, Value::Bytes(output)) if !output.is_empty() => outputs += 1,
                (NODE_OUTPUT, _) => return Some(None),
                (NODE_OP_TYPE, Value::Bytes(o)) => op = o,
                (NODE_DOMAIN, Value::Bytes(d)) => domain = d,
                (NODE_ATTRIBUTE, Value::Bytes(attribute)) => {
                    let Some(attribute) = Attribute::parse(attribute)? else { return Some(None) };
                    match (attribute.name, attribute.ints.len()) {
                        (b"kernel_shape", n) => kernel_rank = Some(n),
                        (b"dilations" | b"strides", 1) | (b"pads", 2) | (b"group", _) => {}
                        (b"auto_pad", _) if attribute.s == Some(b"NOTSET") => {}
                        _ => return Some(None),
                    }
                }
                _ => {}
            }
        }
        let qualifies = op == b"Conv"
            && (domain.is_empty() || domain == b"ai.onnx")
            && (2..=3).contains(&inputs)
            && outputs == 1
            && kernel_rank == Some(1);
        Some(qualifies.then_some(Conv { fields: parts }))
    }

    /// Writes the four nodes that replace this one as `GraphProto.node` fields.
    fn write_2d(&self, out: &mut Vec<u8>, index: usize, opset: u64, axes: &str) {
        let tag = |what: &str| format!("{PREFIX}{index}/{what}");
        let (x4, w4, y4) = (tag("x"), tag("w"), tag("y"));
        let (mut x, mut w, mut y) = (&b""[..], &b""[..], &b""[..]);
        let mut conv = Vec::new();
        let mut input_index = 0;
        for field in &self.fields {
            match (field.number, field.value) {
                (NODE_INPUT, Value::Bytes(name)) => {
                    match input_index {
                        0 => (x, conv) = (name, with_bytes(conv, NODE_INPUT, x4.as_bytes())),
                        1 => (w, conv) = (name, with_bytes(conv, NODE_INPUT, w4.as_bytes())),
                        _ => conv.extend_from_slice(field.raw),
                    }
                    input_index += 1;
                }
                (NODE_OUTPUT, Value::Bytes(name)) => (y, conv) = (name, with_bytes(conv, NODE_OUTPUT, y4.as_bytes())),
                (NODE_ATTRIBUTE, Value::Bytes(bytes)) => match Attribute::parse(bytes).flatten() {
                    // `parse` admitted only these with one value each, and pads with two.
                    Some(a) if a.name == b"pads" && a.ints.len() == 2 => {
                        put_bytes(&mut conv, NODE_ATTRIBUTE, &ints_attribute(a.name, &[0, a.ints[0], 0, a.ints[1]]))
                    }
                    Some(a) if matches!(a.name, b"kernel_shape" | b"dilations" | b"strides") && a.ints.len() == 1 => {
                        put_bytes(&mut conv, NODE_ATTRIBUTE, &ints_attribute(a.name, &[1, a.ints[0]]))
                    }
                    _ => conv.extend_from_slice(field.raw),
                },
                _ => conv.extend_from_slice(field.raw),
            }
        }
        put_bytes(out, GRAPH_NODE, &axes_node("Unsqueeze", x, x4.as_bytes(), &tag("unsqueeze_x"), opset, axes));
        put_bytes(out, GRAPH_NODE, &axes_node("Unsqueeze", w, w4.as_bytes(), &tag("unsqueeze_w"), opset, axes));
        put_bytes(out, GRAPH_NODE, &conv);
        put_bytes(out, GRAPH_NODE, &axes_node("Squeeze", y4.as_bytes(), y, &tag("squeeze_y"), opset, axes));
    }
}

/// An `Unsqueeze` or `Squeeze` on axis 2 (the new height).
fn axes_node(op: &str, input: &[u8], output: &[u8], name: &str, opset: u64, axes: &str) -> Vec<u8> {
    let mut node = Vec::new();
    put_bytes(&mut node, NODE_INPUT, input);
    if opset >= 13 {
        put_bytes(&mut node, NODE_INPUT, axes.as_bytes());
    }
    put_bytes(&mut node, NODE_OUTPUT, output);
    put_bytes(&mut node, NODE_NAME, name.as_bytes());
    put_bytes(&mut node, NODE_OP_TYPE, op.as_bytes());
    if opset < 13 {
        put_bytes(&mut node, NODE_ATTRIBUTE, &ints_attribute(b"axes", &[2]));
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Attributes = Vec<(&'static str, Vec<i64>)>;

    /// A model with one node per `(op, attributes)`, each reading `x` and `w`.
    fn model(opset: u64, nodes: &[(&str, Attributes)]) -> Vec<u8> {
        let mut graph = Vec::new();
        for (i, (op, attributes)) in nodes.iter().enumerate() {
            let mut node = Vec::new();
            put_bytes(&mut node, NODE_INPUT, b"x");
            put_bytes(&mut node, NODE_INPUT, b"w");
            put_bytes(&mut node, NODE_OUTPUT, format!("y{i}").as_bytes());
            put_bytes(&mut node, NODE_NAME, format!("n{i}").as_bytes());
            put_bytes(&mut node, NODE_OP_TYPE, op.as_bytes());
            for (name, ints) in attributes {
                put_bytes(&mut node, NODE_ATTRIBUTE, &ints_attribute(name.as_bytes(), ints));
            }
            put_bytes(&mut graph, GRAPH_NODE, &node);
        }
        wrap(&graph, opset)
    }

    /// A model around `graph` bytes, with the default domain at `opset`.
    fn wrap(graph: &[u8], opset: u64) -> Vec<u8> {
        let mut opset_import = Vec::new();
        put_bytes(&mut opset_import, OPSET_DOMAIN, b"");
        put_uint(&mut opset_import, OPSET_VERSION, opset);
        let mut out = Vec::new();
        put_uint(&mut out, 1, 8); // ir_version
        put_bytes(&mut out, MODEL_GRAPH, graph);
        put_bytes(&mut out, MODEL_OPSET_IMPORT, &opset_import);
        out
    }

    fn graph_of(model: &[u8]) -> Vec<u8> {
        fields(model).unwrap().iter().find_map(|f| bytes_of(f, MODEL_GRAPH)).unwrap().to_vec()
    }

    /// A graph field holding one `Conv` node reading `x` and `w` (and `b` if `bias`), writing `output`.
    fn conv_node(output: &[u8], bias: bool, attributes: &[Vec<u8>]) -> Vec<u8> {
        let mut node = Vec::new();
        put_bytes(&mut node, NODE_INPUT, b"x");
        put_bytes(&mut node, NODE_INPUT, b"w");
        if bias {
            put_bytes(&mut node, NODE_INPUT, b"b");
        }
        put_bytes(&mut node, NODE_OUTPUT, output);
        put_bytes(&mut node, NODE_OP_TYPE, b"Conv");
        for attribute in attributes {
            put_bytes(&mut node, NODE_ATTRIBUTE, attribute);
        }
        let mut field = Vec::new();
        put_bytes(&mut field, GRAPH_NODE, &node);
        field
    }

    fn conv1d() -> (&'static str, Attributes) {
        ("Conv", vec![("kernel_shape", vec![7]), ("dilations", vec![3]), ("pads", vec![9, 9]), ("strides", vec![1])])
    }

    type Node = (String, Vec<String>, Vec<String>, Vec<(String, Vec<i64>)>);

    /// The graph's nodes as `(op, inputs, outputs, attributes)`.
    fn nodes(model: &[u8]) -> Vec<Node> {
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        let graph = graph_of(model);
        let mut out = Vec::new();
        for node in fields(&graph).unwrap().iter().filter_map(|f| bytes_of(f, GRAPH_NODE)) {
            let (mut op, mut ins, mut outs, mut attrs) = (String::new(), vec![], vec![], vec![]);
            for f in fields(node).unwrap() {
                match (f.number, f.value) {
                    (NODE_OP_TYPE, Value::Bytes(b)) => op = s(b),
                    (NODE_INPUT, Value::Bytes(b)) => ins.push(s(b)),
                    (NODE_OUTPUT, Value::Bytes(b)) => outs.push(s(b)),
                    (NODE_ATTRIBUTE, Value::Bytes(b)) => {
                        let a = Attribute::parse(b).unwrap().unwrap();
                        attrs.push((s(a.name), a.ints));
                    }
                    _ => {}
                }
            }
            out.push((op, ins, outs, attrs));
        }
        out
    }

    #[test]
    fn a_1d_conv_becomes_unsqueeze_conv2d_squeeze() {
        let before = model(15, &[conv1d(), ("Relu", vec![])]);
        let after = rewrite(&before).unwrap();
        assert_eq!(after.convolutions, 1);
        let got = nodes(&after.model);
        let ops: Vec<&str> = got.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(ops, ["Unsqueeze", "Unsqueeze", "Conv", "Squeeze", "Relu"]);
        let axes = format!("{PREFIX}axes");
        assert_eq!(got[0].1, ["x", axes.as_str()]);
        assert_eq!(got[1].1, ["w", axes.as_str()]);
        assert_eq!(got[2].1, [got[0].2[0].clone(), got[1].2[0].clone()]);
        assert_eq!(got[3].1, [got[2].2[0].clone(), axes.clone()]);
        assert_eq!(got[3].2, ["y0"], "the Squeeze keeps the original output name");
        let attrs: Vec<(String, Vec<i64>)> = got[2].3.clone();
        assert_eq!(
            attrs,
            [
                ("kernel_shape".into(), vec![1, 7]),
                ("dilations".into(), vec![1, 3]),
                ("pads".into(), vec![0, 9, 0, 9]),
                ("strides".into(), vec![1, 1])
            ]
        );
        // The shared axes initializer is appended once.
        let graph = graph_of(&after.model);
        let initializers: Vec<_> =
            fields(&graph).unwrap().into_iter().filter(|f| f.number == GRAPH_INITIALIZER).collect();
        assert_eq!(initializers.len(), 1);
        // Every other top-level field is copied as it was.
        let top_before: Vec<_> = fields(&before).unwrap().into_iter().filter(|f| f.number != MODEL_GRAPH).collect();
        let top_after: Vec<_> = fields(&after.model).unwrap().into_iter().filter(|f| f.number != MODEL_GRAPH).collect();
        assert_eq!(top_before, top_after);
    }

    #[test]
    fn an_int_attribute_is_copied_as_it_was() {
        let mut group = Vec::new();
        put_bytes(&mut group, ATTR_NAME, b"group");
        put_uint(&mut group, ATTR_I, 4);
        put_uint(&mut group, ATTR_TYPE, 2);
        let graph = conv_node(b"y", true, &[ints_attribute(b"kernel_shape", &[5]), group.clone()]);
        let m = wrap(&graph, 17);
        let after = rewrite(&m).unwrap();
        let graph = graph_of(&after.model);
        let conv = fields(&graph).unwrap().iter().filter_map(|f| bytes_of(f, GRAPH_NODE)).nth(2).unwrap().to_vec();
        let parts = fields(&conv).unwrap();
        let attributes: Vec<&[u8]> = parts.iter().filter_map(|f| bytes_of(f, NODE_ATTRIBUTE)).collect();
        assert_eq!(attributes[1], &group[..]);
        let inputs: Vec<&[u8]> = parts.iter().filter_map(|f| bytes_of(f, NODE_INPUT)).collect();
        assert_eq!(inputs[2], b"b", "the bias passes through");
    }

    #[test]
    fn before_opset_13_the_axes_are_an_attribute() {
        let after = rewrite(&model(11, &[conv1d()])).unwrap();
        let got = nodes(&after.model);
        assert_eq!(got[0].1, ["x"]);
        assert_eq!(got[0].3, [("axes".to_string(), vec![2])]);
        assert_eq!(got[3].3, [("axes".to_string(), vec![2])]);
        let graph = graph_of(&after.model);
        assert!(fields(&graph).unwrap().iter().all(|f| f.number != GRAPH_INITIALIZER));
    }

    #[test]
    fn only_certain_1d_convolutions_are_touched() {
        let untouched = [
            ("Conv", vec![("kernel_shape", vec![3, 3])]),        // already 2-D
            ("Conv", vec![]),                                    // kernel shape only from the weight
            ("ConvTranspose", vec![("kernel_shape", vec![16])]), // not a Conv
            ("Conv", vec![("kernel_shape", vec![3]), ("pads", vec![1, 1, 1])]), // malformed pads
            ("Conv", vec![("kernel_shape", vec![3]), ("extra", vec![1])]), // an attribute we do not know
        ];
        for node in untouched {
            let label = format!("{node:?}");
            assert!(rewrite(&model(15, &[node])).is_none(), "{label}");
        }
        // auto_pad other than NOTSET is left alone.
        let mut auto_pad = Vec::new();
        put_bytes(&mut auto_pad, ATTR_NAME, b"auto_pad");
        put_bytes(&mut auto_pad, ATTR_S, b"SAME_UPPER");
        let graph = conv_node(b"y", false, &[ints_attribute(b"kernel_shape", &[3]), auto_pad]);
        assert!(rewrite(&wrap(&graph, 15)).is_none());
    }

    /// `model(15, [conv1d()])` with `extra` appended to its graph.
    fn with_graph_field(extra: &[u8]) -> Vec<u8> {
        let mut graph = graph_of(&model(15, &[conv1d()]));
        graph.extend_from_slice(extra);
        wrap(&graph, 15)
    }

    #[test]
    fn a_graph_using_our_prefix_or_external_weights_is_left_alone() {
        assert!(rewrite(&with_graph_field(&[])).is_some());
        // An output already in our namespace.
        let mut node = Vec::new();
        put_bytes(&mut node, NODE_INPUT, b"x");
        put_bytes(&mut node, NODE_OUTPUT, format!("{PREFIX}taken").as_bytes());
        put_bytes(&mut node, NODE_OP_TYPE, b"Relu");
        let mut extra = Vec::new();
        put_bytes(&mut extra, GRAPH_NODE, &node);
        assert!(rewrite(&with_graph_field(&extra)).is_none());
        // An initializer whose data lives in an external file.
        let mut tensor = Vec::new();
        put_bytes(&mut tensor, TENSOR_NAME, b"w");
        put_uint(&mut tensor, TENSOR_DATA_LOCATION, 1);
        let mut extra = Vec::new();
        put_bytes(&mut extra, GRAPH_INITIALIZER, &tensor);
        assert!(rewrite(&with_graph_field(&extra)).is_none());
    }

    #[test]
    fn external_data_anywhere_and_taken_value_info_names_leave_the_model_alone() {
        // A Constant node one subgraph down, its tensor's data at `location` (1: an external file).
        let if_node = |location: u64| {
            let mut tensor = Vec::new();
            put_bytes(&mut tensor, TENSOR_NAME, b"c");
            put_uint(&mut tensor, TENSOR_DATA_LOCATION, location);
            let mut attribute = Vec::new();
            put_bytes(&mut attribute, ATTR_NAME, b"value");
            put_bytes(&mut attribute, ATTR_T, &tensor);
            let mut constant = Vec::new();
            put_bytes(&mut constant, NODE_OUTPUT, b"c");
            put_bytes(&mut constant, NODE_OP_TYPE, b"Constant");
            put_bytes(&mut constant, NODE_ATTRIBUTE, &attribute);
            let mut body = Vec::new();
            put_bytes(&mut body, GRAPH_NODE, &constant);
            let mut branch = Vec::new();
            put_bytes(&mut branch, ATTR_NAME, b"then_branch");
            put_bytes(&mut branch, ATTR_G, &body);
            let mut node = Vec::new();
            put_bytes(&mut node, NODE_INPUT, b"cond");
            put_bytes(&mut node, NODE_OUTPUT, b"z");
            put_bytes(&mut node, NODE_OP_TYPE, b"If");
            put_bytes(&mut node, NODE_ATTRIBUTE, &branch);
            let mut extra = Vec::new();
            put_bytes(&mut extra, GRAPH_NODE, &node);
            extra
        };
        assert!(rewrite(&with_graph_field(&if_node(1))).is_none());
        assert!(rewrite(&with_graph_field(&if_node(0))).is_some());
        // A value_info named in our namespace.
        let mut info = Vec::new();
        put_bytes(&mut info, VALUE_INFO_NAME, format!("{PREFIX}0/x").as_bytes());
        let mut extra = Vec::new();
        put_bytes(&mut extra, GRAPH_VALUE_INFO, &info);
        assert!(rewrite(&with_graph_field(&extra)).is_none());
        // Sparse initializers are refused outright.
        let mut extra = Vec::new();
        put_bytes(&mut extra, GRAPH_SPARSE_INITIALIZER, b"");
        assert!(rewrite(&with_graph_field(&extra)).is_none());
    }

    #[test]
    fn a_conv_with_an_empty_output_name_is_not_touched() {
        let graph = conv_node(b"", false, &[ints_attribute(b"kernel_shape", &[3])]);
        assert!(rewrite(&wrap(&graph, 15)).is_none());
    }

    proptest! {
        #[test]
        fn malformed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = rewrite(&bytes);
        }

        #[test]
        fn corrupting_a_model_never_panics(at in 0usize..200, byte in any::<u8>()) {
            let mut m = model(15, &[conv1d(), conv1d()]);
            let at = at % m.len();
            m[at] = byte;
            let _ = rewrite(&m);
        }
    }
}
