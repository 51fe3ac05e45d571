//! The `rhasspy/piper-voices` catalogue as wyoming-piper ships it (`data/piper-voices.json`, written from
//! wyoming-piper 2.5.2's `voices.json` by `scripts/piper-catalogue.py`). As in wyoming-piper, every catalogue
//! voice is listed in `info`, so that Home Assistant offers the same voices, and is downloaded when a request
//! first names it; old names (`en-us-lessac-medium`) are aliases of the voice.
//!
//! Why a copy in the repository: `info` must not depend on the network, and the catalogue changes only with
//! wyoming-piper releases (`tests/piper_catalogue.rs` checks the copy against the installed package).

use serde::Deserialize;
use std::sync::OnceLock;
use wyoming_proto::event::{Artifact, Attribution, TtsVoice, TtsVoiceSpeaker};

#[derive(Debug, Deserialize)]
pub struct CatalogueVoice {
    pub key: String,
    dataset: String,
    quality: String,
    language: String,
    /// In the catalogue's order, which is the order wyoming-piper lists them in.
    speakers: Vec<String>,
    aliases: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    voices: Vec<CatalogueVoice>,
}

/// Languages whose catalogue voices need a phonemizer other than espeak-ng; wyoming-piper leaves them out of
/// `info` unless its optional extras are installed, and this server has none.
const NOT_ESPEAK: &[&str] = &["ja", "th"];

pub fn voices() -> &'static [CatalogueVoice] {
    static CATALOGUE: OnceLock<Vec<CatalogueVoice>> = OnceLock::new();
    CATALOGUE.get_or_init(|| match serde_json::from_str::<Document>(include_str!("../data/piper-voices.json")) {
        Ok(document) => document.voices,
        Err(e) => {
            tracing::error!(error = %e, "the built-in Piper voice catalogue is broken; listing no catalogue voices");
            Vec::new()
        }
    })
}

/// The catalogue voice a name means: its key, or one of its old aliases.
pub fn find(name: &str) -> Option<&'static CatalogueVoice> {
    voices().iter().find(|v| v.key == name || v.aliases.iter().any(|a| a == name))
}

/// The catalogue key a request's voice name means.
pub fn resolve(name: &str) -> Option<&'static str> {
    find(name).map(|v| v.key.as_str())
}

/// [`resolve`], or the key that differs from `name` only in case or `-`/`_` (a file `en_us-lessac-medium.onnx`).
pub fn resolve_loosely(name: &str) -> Option<&'static str> {
    let key = crate::engine::voice_key(name);
    resolve(name).or_else(|| voices().iter().find(|v| crate::engine::voice_key(&v.key) == key).map(|v| v.key.as_str()))
}

impl CatalogueVoice {
    /// Whether `info` lists it (and a request may download it): wyoming-piper lists it without its optional
    /// phonemizers. (A few Chinese voices need one too, which only their own config says; they fail to load.)
    pub fn advertised(&self) -> bool {
        !NOT_ESPEAK.contains(&self.language.split('_').next().unwrap_or_default())
    }

    /// The voice as wyoming-piper advertises it.
    pub fn describe(&self) -> TtsVoice {
        TtsVoice {
            artifact: Artifact {
                description: Some(format!("{} ({})", self.dataset.replace('_', " "), self.quality)),
                ..Artifact::new(self.key.clone(), Attribution::new("rhasspy", "https://github.com/rhasspy/piper"))
            },
            languages: vec![self.language.clone()],
            speakers: (!self.speakers.is_empty()).then(|| {
                self.speakers
                    .iter()
                    .map(|name| TtsVoiceSpeaker { name: name.clone(), extra: Default::default() })
                    .collect()
            }),
            extra: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_lists_what_wyoming_piper_lists_and_resolves_old_names() {
        assert_eq!(voices().len(), 176);
        assert_eq!(voices().iter().filter(|v| v.advertised()).count(), 174, "wyoming-piper without its extras");
        assert_eq!(resolve("en_US-lessac-medium"), Some("en_US-lessac-medium"));
        assert_eq!(resolve("de-eva_k-x-low"), Some("de_DE-eva_k-x_low"));
        assert_eq!(resolve("en_US-nowhere-medium"), None);
        assert_eq!(resolve_loosely("en_us-lessac-medium"), Some("en_US-lessac-medium"));
        assert_eq!(resolve_loosely("en_US-nowhere-medium"), None);
        assert!(find("ja_JA-hi_fi_captain-medium").is_some_and(|v| !v.advertised()));
        assert!(find("pt_PT-tugão-medium").is_some_and(CatalogueVoice::advertised), "a key beyond ASCII");
        let lessac = voices().iter().find(|v| v.key == "en_US-lessac-medium").map(CatalogueVoice::describe);
        let lessac = lessac.expect("lessac is in the catalogue");
        assert_eq!(lessac.artifact.description.as_deref(), Some("lessac (medium)"));
        assert_eq!(lessac.languages, ["en_US"]);
        assert_eq!(lessac.speakers, None);
        let libritts = voices().iter().find(|v| v.key == "en_US-libritts_r-medium").map(CatalogueVoice::describe);
        assert!(libritts.and_then(|v| v.speakers).is_some_and(|s| s.len() > 100), "a many-speaker voice");
    }
}
