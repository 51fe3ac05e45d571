//! The `info` this server answers `describe` with: one TTS program listing every voice a client can name (those
//! loaded at start, then, for Piper, the catalogue's and those in the data dirs, loaded on first use).

use crate::engine::Voices;
use wyoming_proto::event::{Artifact, Attribution, Info, TtsProgram};

pub fn build_info(program: &str, voices: &Voices, streaming: bool) -> Info {
    let (description, attribution) = match program {
        "luxtts" => (
            "LuxTTS voice cloning (ZipVoice-Distill + 48 kHz Vocos)",
            Attribution::new("ysharma3501", "https://github.com/ysharma3501/LuxTTS"),
        ),
        _ => (
            "Fast, local text to speech (Piper voices)",
            Attribution::new("rhasspy", "https://github.com/rhasspy/piper"),
        ),
    };
    let mut voices = voices.describe();
    voices.sort_by(|a, b| a.artifact.name.cmp(&b.artifact.name));
    Info {
        tts: vec![TtsProgram {
            artifact: Artifact {
                description: Some(description.into()),
                version: Some(env!("CARGO_PKG_VERSION").into()),
                ..Artifact::new(program, attribution)
            },
            voices,
            supports_synthesize_streaming: streaming,
            extra: Default::default(),
        }],
        ..Default::default()
    }
}
