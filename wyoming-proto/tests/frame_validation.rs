//! Bad input at the framing layer: every case is a typed error, never a panic or a large allocation.

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use wyoming_proto::codec::{FrameError, Limits, WyomingCodec, decode_all};
use wyoming_proto::frame::{Frame, HeaderError};

fn frames(bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
    decode_all(bytes, Limits::default())
}

#[test]
fn header_longer_than_the_limit() {
    let limits = Limits { max_header: 100, ..Limits::default() };
    let mut line = b"{\"type\": \"x\", \"pad\": \"".to_vec();
    line.extend(std::iter::repeat_n(b'a', 200));
    // No newline has arrived yet: the decoder must give up at the limit, not wait for more.
    let mut codec = WyomingCodec::new(limits);
    let mut buf = BytesMut::from(&line[..]);
    assert!(matches!(codec.decode(&mut buf), Err(FrameError::HeaderTooLong { limit: 100 })));
    // The default limit is Python's 64 KiB.
    let mut huge = vec![b' '; 64 * 1024 + 1];
    huge.insert(0, b'{');
    assert!(matches!(frames(&huge), Err(FrameError::HeaderTooLong { limit: 65536 })));
    // A header exactly at the limit is fine.
    let mut exact = b"{\"type\": \"x\"}".to_vec();
    exact.resize(100, b' ');
    exact.push(b'\n');
    assert_eq!(decode_all(&exact, limits).unwrap().len(), 1);
}

#[test]
fn hostile_payload_length_is_refused_before_any_allocation() {
    let bytes = b"{\"type\": \"audio-chunk\", \"payload_length\": 4611686018427387904}\n";
    let mut codec = WyomingCodec::default();
    let mut buf = BytesMut::from(&bytes[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::PayloadTooLong { length, .. } if length as u64 == 1 << 62), "{err}");
    assert!(buf.capacity() < 1 << 20, "buffer grew to {}", buf.capacity());
    let bytes = b"{\"type\": \"info\", \"data_length\": 4611686018427387904}\n";
    assert!(matches!(frames(bytes), Err(FrameError::DataTooLong { .. })));
}

#[test]
fn a_length_within_limits_reserves_only_a_bounded_amount() {
    let bytes = format!("{{\"type\": \"audio-chunk\", \"payload_length\": {}}}\n", Limits::DEFAULT_MAX_PAYLOAD);
    let mut codec = WyomingCodec::default();
    let mut buf = BytesMut::from(bytes.as_bytes());
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert!(buf.capacity() <= 128 * 1024, "buffer grew to {}", buf.capacity());
}

#[test]
fn invalid_json() {
    assert!(matches!(frames(b"{\"type\": \"x\"\n"), Err(FrameError::Header(HeaderError::InvalidJson(_)))));
    assert!(matches!(frames(b"not json at all\n"), Err(FrameError::Header(HeaderError::InvalidJson(_)))));
    assert!(matches!(frames(b"[\"type\"]\n"), Err(FrameError::Header(HeaderError::NotObject))));
    // The data section must be a JSON object too.
    assert!(matches!(frames(b"{\"type\": \"x\", \"data_length\": 3}\n[1]"), Err(FrameError::InvalidData { .. })));
    assert!(matches!(frames(b"{\"type\": \"x\", \"data_length\": 3}\n{x}"), Err(FrameError::InvalidData { .. })));
}

#[test]
fn header_without_type() {
    assert!(matches!(frames(b"{\"version\": \"1.10.2\"}\n"), Err(FrameError::Header(HeaderError::MissingType))));
    assert!(matches!(frames(b"{\"type\": null}\n"), Err(FrameError::Header(HeaderError::MissingType))));
}

#[test]
fn truncated_frames() {
    let full = Frame::new("audio-chunk")
        .with_data(
            serde_json::json!({"rate": 16000, "width": 2, "channels": 1, "timestamp": null})
                .as_object()
                .unwrap()
                .clone(),
        )
        .with_payload(vec![7u8; 100])
        .to_bytes();
    for cut in 1..full.len() {
        let result = frames(&full[..cut]);
        assert!(matches!(result, Err(FrameError::Truncated { .. })), "cut at {cut}: {result:?}");
    }
    assert_eq!(frames(&full).unwrap().len(), 1);
    // Trailing whitespace at the end of a stream is not a truncated frame.
    let mut with_ws = full.to_vec();
    with_ws.extend_from_slice(b"\n \r\n");
    assert_eq!(frames(&with_ws).unwrap().len(), 1);
}

#[test]
fn non_utf8_header() {
    assert!(matches!(frames(b"{\"type\": \"\xff\xfe\"}\n"), Err(FrameError::Header(HeaderError::NonUtf8))));
}

#[test]
fn lengths_of_the_wrong_type() {
    assert!(matches!(
        frames(b"{\"type\": \"x\", \"data_length\": \"5\"}\n"),
        Err(FrameError::Header(HeaderError::InvalidLength { .. }))
    ));
}

#[test]
fn lenient_reader_rules() {
    // \r\n, inline data merged under the separate data (which wins), zero/negative/null lengths,
    // blank lines between frames.
    let bytes = b"{\"type\": \"synthesize\", \"data\": {\"text\": \"inline, overridden\", \"voice\": {\"name\": \"v\"}}, \"data_length\": 30}\r\n{\"text\": \"Separate data wins\"}\n\n{\"type\": \"describe\", \"data_length\": 0, \"payload_length\": -1}\r\n{\"type\": \"x\", \"data_length\": null, \"payload_length\": null}\n";
    let f = frames(bytes).unwrap();
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].data["text"], "Separate data wins");
    assert_eq!(f[0].data["voice"]["name"], "v");
    assert_eq!(f[1].event_type, "describe");
    assert!(f[1].payload.is_empty() && f[1].data.is_empty());

    // A UTF-8 byte order mark before a header or a data section, which Python's `json.loads` skips.
    let f = frames(b"\xef\xbb\xbf{\"type\": \"describe\"}\n{\"type\": \"synthesize\", \"data_length\": 17}\n\xef\xbb\xbf{\"text\": \"Hi\"}")
        .unwrap();
    assert_eq!(f[0].event_type, "describe");
    assert_eq!(f[1].data["text"], "Hi");
}

/// Every way of splitting a stream of frames across reads gives the same frames.
#[test]
fn frame_split_at_every_byte_boundary() {
    let stream: Vec<u8> = [
        std::fs::read(format!("{}/tests/golden/ha_stt.client.bin", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        std::fs::read(format!("{}/tests/golden/ha_tts_stream.client.bin", env!("CARGO_MANIFEST_DIR"))).unwrap(),
    ]
    .concat();
    let expected = frames(&stream).unwrap();
    assert_eq!(expected.len(), 12);
    for split in 0..=stream.len() {
        let mut codec = WyomingCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for part in [&stream[..split], &stream[split..]] {
            buf.extend_from_slice(part);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame);
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            got.push(frame);
        }
        assert_eq!(got, expected, "split at {split}");
    }
    // And byte by byte.
    let mut codec = WyomingCodec::default();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in &stream {
        buf.extend_from_slice(&[*b]);
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            got.push(frame);
        }
    }
    assert_eq!(got, expected);
}
