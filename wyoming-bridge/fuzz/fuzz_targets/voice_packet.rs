//! Arbitrary bytes as a voice packet in both directions and as a varint. Nothing may panic, every
//! Opus slice lies inside the packet, and whatever decodes re-encodes to bytes that decode to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wyoming_bridge::mumble::varint;
use wyoming_bridge::mumble::voice::{self, Direction, VoicePacket};

fuzz_target!(|bytes: &[u8]| {
    if let Ok((value, used)) = varint::decode(bytes) {
        assert!(used <= bytes.len());
        let mut again = Vec::new();
        varint::encode(value, &mut again);
        assert_eq!(varint::decode(&again), Ok((value, again.len())));
    }
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        if let Ok(VoicePacket::Opus(packet)) = voice::decode(bytes, direction) {
            assert!(packet.opus.len() < bytes.len());
            let mut again = Vec::new();
            voice::encode(&packet, direction, &mut again).expect("a decoded packet re-encodes");
            assert_eq!(voice::decode(&again, direction), Ok(VoicePacket::Opus(packet)));
        }
    }
});
