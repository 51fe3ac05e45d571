//! Reading and writing the parts of an ONNX model (`onnx.proto`) that the graph rewrites touch, on the raw
//! protobuf fields, so that everything else in a file is copied byte for byte (no ONNX schema crate needed).

use wyoming_proto::protobuf::{Field, Value, fields, push_ints, put_bytes, put_uint};

// ONNX protobuf field numbers (onnx.proto).
pub(super) const MODEL_IR_VERSION: u64 = 1;
pub(super) const MODEL_GRAPH: u64 = 7;
pub(super) const MODEL_OPSET_IMPORT: u64 = 8;
pub(super) const OPSET_DOMAIN: u64 = 1;
pub(super) const OPSET_VERSION: u64 = 2;
pub(super) const GRAPH_NODE: u64 = 1;
pub(super) const GRAPH_INITIALIZER: u64 = 5;
pub(super) const GRAPH_INPUT: u64 = 11;
pub(super) const GRAPH_OUTPUT: u64 = 12;
pub(super) const GRAPH_VALUE_INFO: u64 = 13;
pub(super) const GRAPH_SPARSE_INITIALIZER: u64 = 15;
pub(super) const NODE_INPUT: u64 = 1;
pub(super) const NODE_OUTPUT: u64 = 2;
pub(super) const NODE_NAME: u64 = 3;
pub(super) const NODE_OP_TYPE: u64 = 4;
pub(super) const NODE_ATTRIBUTE: u64 = 5;
pub(super) const NODE_DOC_STRING: u64 = 6;
pub(super) const NODE_DOMAIN: u64 = 7;
pub(super) const ATTR_NAME: u64 = 1;
pub(super) const ATTR_F: u64 = 2;
pub(super) const ATTR_I: u64 = 3;
pub(super) const ATTR_S: u64 = 4;
pub(super) const ATTR_T: u64 = 5;
pub(super) const ATTR_G: u64 = 6;
pub(super) const ATTR_INTS: u64 = 8;
pub(super) const ATTR_TENSORS: u64 = 10;
pub(super) const ATTR_GRAPHS: u64 = 11;
pub(super) const ATTR_SPARSE_TENSOR: u64 = 22;
pub(super) const ATTR_SPARSE_TENSORS: u64 = 23;
pub(super) const ATTR_TYPE: u64 = 20;
pub(super) const ATTR_TYPE_STRING: u64 = 3;
pub(super) const ATTR_TYPE_INTS: u64 = 7;
pub(super) const TENSOR_DIMS: u64 = 1;
pub(super) const TENSOR_DATA_TYPE: u64 = 2;
pub(super) const TENSOR_FLOAT_DATA: u64 = 4;
pub(super) const TENSOR_NAME: u64 = 8;
pub(super) const TENSOR_RAW_DATA: u64 = 9;
pub(super) const TENSOR_DATA_LOCATION: u64 = 14;
pub(super) const TENSOR_INT64: u64 = 7;
pub(super) const VALUE_INFO_NAME: u64 = 1;

pub(super) fn bytes_of<'a>(field: &Field<'a>, number: u64) -> Option<&'a [u8]> {
    match field.value {
        Value::Bytes(bytes) if field.number == number => Some(bytes),
        _ => None,
    }
}

/// The version of the default (`ai.onnx`) operator set, which decides how `Unsqueeze` takes its axes.
pub(super) fn default_opset(top: &[Field<'_>]) -> Option<u64> {
    let mut version = None;
    for import in top.iter().filter_map(|f| bytes_of(f, MODEL_OPSET_IMPORT)) {
        let (mut domain, mut v) = (&b""[..], None);
        for field in fields(import)? {
            match (field.number, field.value) {
                (OPSET_DOMAIN, Value::Bytes(d)) => domain = d,
                (OPSET_VERSION, Value::Varint(n)) => v = Some(n),
                _ => {}
            }
        }
        if domain.is_empty() || domain == b"ai.onnx" {
            version = v;
        }
    }
    version
}

/// False if a name of the graph already starts with `prefix`, or if a tensor anywhere in it (subgraphs and
/// attributes included) keeps its data in an external file: that path is relative to the model file, which a
/// graph loaded from memory no longer has. Sparse tensors are rare enough to be refused outright.
pub(super) fn names_are_free(parts: &[Field<'_>], prefix: &str) -> Option<bool> {
    let ours = |name: &[u8]| name.starts_with(prefix.as_bytes());
    for field in parts {
        let Value::Bytes(bytes) = field.value else { continue };
        match field.number {
            GRAPH_NODE => {
                for f in fields(bytes)? {
                    match (f.number, f.value) {
                        (NODE_INPUT | NODE_OUTPUT | NODE_NAME, Value::Bytes(name)) if ours(name) => return Some(false),
                        (NODE_ATTRIBUTE, Value::Bytes(attribute)) if !self_contained_attribute(attribute, 0)? => {
                            return Some(false);
                        }
                        _ => {}
                    }
                }
            }
            GRAPH_INITIALIZER => {
                if !self_contained_tensor(bytes)? {
                    return Some(false);
                }
                for f in fields(bytes)? {
                    if let (TENSOR_NAME, Value::Bytes(name)) = (f.number, f.value)
                        && ours(name)
                    {
                        return Some(false);
                    }
                }
            }
            GRAPH_SPARSE_INITIALIZER => return Some(false),
            GRAPH_INPUT | GRAPH_OUTPUT | GRAPH_VALUE_INFO => {
                for f in fields(bytes)? {
                    if let (VALUE_INFO_NAME, Value::Bytes(name)) = (f.number, f.value)
                        && ours(name)
                    {
                        return Some(false);
                    }
                }
            }
            _ => {}
        }
    }
    Some(true)
}

/// Subgraphs nest (an `If` in a `Loop`); deeper than this, the rewrite does not try to be sure.
const MAX_DEPTH: usize = 16;

fn self_contained_tensor(tensor: &[u8]) -> Option<bool> {
    Some(!fields(tensor)?.iter().any(|f| (f.number, f.value) == (TENSOR_DATA_LOCATION, Value::Varint(1))))
}

/// False if an attribute's tensors, or any tensor in its subgraphs, live in an external file.
fn self_contained_attribute(attribute: &[u8], depth: usize) -> Option<bool> {
    if depth > MAX_DEPTH {
        return Some(false);
    }
    for f in fields(attribute)? {
        let ok = match (f.number, f.value) {
            (ATTR_T | ATTR_TENSORS, Value::Bytes(tensor)) => self_contained_tensor(tensor)?,
            (ATTR_G | ATTR_GRAPHS, Value::Bytes(graph)) => self_contained_graph(graph, depth + 1)?,
            (ATTR_SPARSE_TENSOR | ATTR_SPARSE_TENSORS, _) => false,
            _ => true,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

fn self_contained_graph(graph: &[u8], depth: usize) -> Option<bool> {
    for f in fields(graph)? {
        let ok = match (f.number, f.value) {
            (GRAPH_INITIALIZER, Value::Bytes(tensor)) => self_contained_tensor(tensor)?,
            (GRAPH_SPARSE_INITIALIZER, _) => false,
            (GRAPH_NODE, Value::Bytes(node)) => {
                let mut ok = true;
                for g in fields(node)? {
                    if let (NODE_ATTRIBUTE, Value::Bytes(attribute)) = (g.number, g.value) {
                        ok &= self_contained_attribute(attribute, depth)?;
                    }
                }
                ok
            }
            _ => true,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

pub(super) fn with_bytes(mut message: Vec<u8>, number: u64, bytes: &[u8]) -> Vec<u8> {
    put_bytes(&mut message, number, bytes);
    message
}

pub(super) fn ints_attribute(name: &[u8], ints: &[i64]) -> Vec<u8> {
    let mut attribute = Vec::new();
    put_bytes(&mut attribute, ATTR_NAME, name);
    for &v in ints {
        put_uint(&mut attribute, ATTR_INTS, v as u64);
    }
    put_uint(&mut attribute, ATTR_TYPE, ATTR_TYPE_INTS);
    attribute
}

pub(super) struct Attribute<'a> {
    pub name: &'a [u8],
    pub ints: Vec<i64>,
    /// `i` (as in `group`).
    pub i: Option<i64>,
    pub s: Option<&'a [u8]>,
}

impl<'a> Attribute<'a> {
    /// `Some(None)`: well-formed, but not a plain value (a reference to a function's attribute, a tensor,
    /// a graph, floats), which no qualifying `Conv` has.
    pub fn parse(bytes: &'a [u8]) -> Option<Option<Self>> {
        let mut attribute = Attribute { name: b"", ints: Vec::new(), i: None, s: None };
        for field in fields(bytes)? {
            match (field.number, field.value) {
                (ATTR_NAME, Value::Bytes(name)) => attribute.name = name,
                (ATTR_INTS, value) => push_ints(value, &mut attribute.ints)?,
                (ATTR_I, Value::Varint(i)) => attribute.i = Some(i as i64),
                (ATTR_S, Value::Bytes(s)) => attribute.s = Some(s),
                (ATTR_TYPE, _) | (13, _) => {} // type, doc_string
                _ => return Some(None),
            }
        }
        Some(Some(attribute))
    }
}
