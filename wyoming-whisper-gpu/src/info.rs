//! The `info` this server answers `describe` with, built once at start.
//!
//! The program keeps wyoming-faster-whisper's name, `faster-whisper`: Home Assistant puts program
//! names into entity names and zeroconf unique ids, so keeping it makes the swap seamless.

use wyoming_proto::event::{Artifact, AsrModel, AsrProgram, Attribution, Extra, Info};

pub const PROGRAM_NAME: &str = "faster-whisper";

/// `requires_external_vad` is false only with `--vad-endpointing` (the server finds the end itself);
/// `supports_transcript_streaming` only with `--partial-transcripts`.
pub fn build_info(advertised_model: &str, languages: &[String], requires_external_vad: bool, streaming: bool) -> Info {
    let version = Some(env!("CARGO_PKG_VERSION").to_string());
    let model = AsrModel {
        artifact: Artifact {
            description: Some(advertised_model.to_string()),
            version: version.clone(),
            ..Artifact::new(advertised_model, Attribution::new("OpenAI / Systran", "https://huggingface.co/Systran"))
        },
        languages: languages.to_vec(),
        extra: Extra::new(),
    };
    let mut program = AsrProgram::new(
        Artifact {
            description: Some("Whisper transcription with CTranslate2 (wyoming-rs)".into()),
            version,
            ..Artifact::new(PROGRAM_NAME, Attribution::new("wyoming-rs", env!("CARGO_PKG_REPOSITORY")))
        },
        vec![model],
    );
    program.requires_external_vad = requires_external_vad;
    program.supports_transcript_streaming = streaming;
    Info { asr: vec![program], ..Default::default() }
}
