//! Arbitrary bytes, split at an arbitrary point, through the control-frame decoder and the client
//! state machine after a completed handshake: nothing may panic, and bad input either is skipped
//! or ends the connection with an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wyoming_bridge::mumble::control::{Frame, FrameDecoder, MessageType};
use wyoming_bridge::mumble::core::{ClientCore, Identity};
use wyoming_bridge::mumble::proto;

fuzz_target!(|input: &[u8]| {
    let Some((&split, bytes)) = input.split_first() else { return };
    let at = usize::from(split).min(bytes.len());
    let mut core =
        ClientCore::new(Identity { username: "bot".into(), channel: Some("Tavern".into()), ..Default::default() });
    let sync = proto::ServerSync { session: Some(1), ..Default::default() };
    let mut out = Vec::new();
    let _ = core.handle(&Frame::new(MessageType::ServerSync, prost::Message::encode_to_vec(&sync)), &mut out);
    let mut decoder = FrameDecoder::new();
    for part in [&bytes[..at], &bytes[at..]] {
        decoder.push(part);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    out.clear();
                    if core.handle(&frame, &mut out).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
