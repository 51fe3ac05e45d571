//! Feeds arbitrary bytes, split at an arbitrary point, to the frame decoder and the typed parser.
//! Nothing may panic, and every frame that decodes must re-encode to bytes that decode to itself.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;
use wyoming_proto::codec::{Limits, WyomingCodec, decode_all};
use wyoming_proto::event::Event;

fuzz_target!(|input: &[u8]| {
    let Some((&split, bytes)) = input.split_first() else { return };
    let at = usize::from(split).min(bytes.len());
    let limits = Limits { max_header: 4096, max_data: 4096, max_payload: 4096 };
    let mut codec = WyomingCodec::new(limits);
    let mut buf = BytesMut::new();
    for part in [&bytes[..at], &bytes[at..]] {
        buf.extend_from_slice(part);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let again = decode_all(&frame.to_bytes(), Limits::default()).expect("our own encoding decodes");
                    assert_eq!(again, vec![frame.clone()]);
                    if let Ok(event) = Event::from_frame(frame) {
                        let _ = event.to_bytes();
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
});
