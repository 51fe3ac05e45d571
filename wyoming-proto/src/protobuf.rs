//! The protobuf wire format, just enough to read fields out of an ONNX model and to rewrite parts of one.
//!
//! Why our own: the two users (the native Silero VAD, which reads a few weights, and the TTS server's graph
//! rewrite, which edits a few nodes and copies everything else byte for byte) need field-level access, not
//! generated ONNX bindings. `prost` drops fields it does not know when it re-encodes, and ONNX's schema is
//! large; here every field keeps its exact bytes ([`Field::raw`]) so a rewrite changes only what it means to.

/// One decoded field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// One field of a message: its number, its value, and its exact encoding (key included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u64,
    pub value: Value<'a>,
    pub raw: &'a [u8],
}

/// Reads a base-128 varint at `pos`, advancing it; `None` past the end or beyond 64 bits.
pub fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None; // more than 64 bits
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of one message, in order; `None` if it is malformed (a truncated field or an unknown
/// wire type, such as the deprecated groups, which ONNX never uses).
pub fn fields(buf: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(buf, &mut pos)?),
            1 => Value::Fixed64(u64::from_le_bytes(take(buf, &mut pos, 8)?.try_into().ok()?)),
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                Value::Bytes(take(buf, &mut pos, len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(take(buf, &mut pos, 4)?.try_into().ok()?)),
            _ => return None,
        };
        out.push(Field { number: key >> 3, value, raw: &buf[start..pos] });
    }
    Some(out)
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
    let end = pos.checked_add(n).filter(|&e| e <= buf.len())?;
    let bytes = &buf[*pos..end];
    *pos = end;
    Some(bytes)
}

/// The integers of a repeated integer field, whether it was written packed or one per field.
pub fn push_ints(value: Value<'_>, out: &mut Vec<i64>) -> Option<()> {
    match value {
        Value::Varint(v) => out.push(v as i64),
        Value::Bytes(packed) => {
            let mut pos = 0;
            while pos < packed.len() {
                out.push(varint(packed, &mut pos)? as i64);
            }
        }
        _ => return None,
    }
    Some(())
}

pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A varint field (int64 values are written as their two's-complement `u64`, as protobuf does).
pub fn put_uint(out: &mut Vec<u8>, number: u64, value: u64) {
    put_varint(out, number << 3);
    put_varint(out, value);
}

/// A length-delimited field: bytes, a string or an embedded message.
pub fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_every_wire_type_and_keeps_the_raw_bytes() {
        let mut buf = Vec::new();
        put_uint(&mut buf, 1, 300);
        put_bytes(&mut buf, 2, b"abc");
        buf.extend([(3 << 3) | 1]);
        buf.extend(7u64.to_le_bytes());
        buf.extend([(4 << 3) | 5]);
        buf.extend(9u32.to_le_bytes());
        let got = fields(&buf).unwrap();
        let values: Vec<_> = got.iter().map(|f| (f.number, f.value)).collect();
        assert_eq!(
            values,
            [(1, Value::Varint(300)), (2, Value::Bytes(b"abc")), (3, Value::Fixed64(7)), (4, Value::Fixed32(9))]
        );
        assert_eq!(got.iter().flat_map(|f| f.raw.iter().copied()).collect::<Vec<_>>(), buf);
    }

    #[test]
    fn negative_ints_round_trip_packed_and_unpacked() {
        let mut one = Vec::new();
        put_uint(&mut one, 8, -3i64 as u64);
        let mut packed_body = Vec::new();
        put_varint(&mut packed_body, 5);
        put_varint(&mut packed_body, -1i64 as u64);
        let mut packed = Vec::new();
        put_bytes(&mut packed, 8, &packed_body);
        let mut ints = Vec::new();
        for field in fields(&one).unwrap().into_iter().chain(fields(&packed).unwrap()) {
            push_ints(field.value, &mut ints).unwrap();
        }
        assert_eq!(ints, [-3, 5, -1]);
    }

    #[test]
    fn truncated_and_unknown_wire_types_are_errors() {
        assert!(fields(&[0x0a, 0x05, 1, 2]).is_none()); // length 5, two bytes
        assert!(fields(&[0x0b]).is_none()); // wire type 3 (group start)
        assert!(fields(&[0x08, 0x80]).is_none()); // unterminated varint
        let mut too_long = vec![0x08];
        too_long.extend([0xff; 9]);
        too_long.push(0x02); // a 65th bit
        assert!(fields(&too_long).is_none());
        let mut max = vec![0x08];
        max.extend([0xff; 9]);
        max.push(0x01);
        assert_eq!(fields(&max).unwrap()[0].value, Value::Varint(u64::MAX));
        assert!(fields(&[0x0d, 1, 2]).is_none()); // fixed32, three bytes
    }

    proptest! {
        #[test]
        fn malformed_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Some(found) = fields(&bytes) {
                prop_assert_eq!(found.iter().map(|f| f.raw.len()).sum::<usize>(), bytes.len());
            }
        }
    }
}
