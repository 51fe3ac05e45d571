//! Souls (reference `original-bot.md` §2.6): `souls/<name>/` next to the config file, with
//! `soul.yaml` (optional here) and `personality.md`. The bridge uses the name, the personality, the
//! `llm` overrides and the canned `fallbacks` lines; voice cloning settings are for the TTS server.
//! A missing soul is a warning, as in the Python bot.

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, ConfigWarning, WarningKind};

/// What the bridge takes from a soul.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Soul {
    /// `soul.yaml`'s `name`, else the directory name.
    pub name: String,
    pub dir: PathBuf,
    /// `personality.md`, appended to the system prompt when `llm.personality` is not set.
    pub personality: Option<String>,
    /// `llm` keys that fill in what the config file does not set.
    pub llm: Mapping,
    /// `fallbacks.errors`: the first one replaces the built-in fallback phrase.
    pub fallback_errors: Vec<String>,
    /// `fallbacks.interrupted`.
    pub fallback_interrupted: Vec<String>,
    /// `fallbacks.greetings` (`{user}` is replaced by the user's name).
    pub greetings: Vec<String>,
}

pub(super) fn load(base: &Path, name: &str, warnings: &mut Vec<ConfigWarning>) -> Result<Option<Soul>, ConfigError> {
    let dir = base.join("souls").join(name);
    if !dir.is_dir() {
        warnings.push(ConfigWarning {
            key: "soul".into(),
            kind: WarningKind::Suspicious,
            message: format!("{} does not exist; no soul is used", dir.display()),
        });
        return Ok(None);
    }
    let mut soul = Soul { name: name.to_owned(), dir: dir.clone(), ..Soul::default() };
    let yaml_path = dir.join("soul.yaml");
    if yaml_path.is_file() {
        let text = read(&yaml_path)?;
        let mut value: Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| ConfigError::Invalid { key: format!("soul {name}"), message: format!("soul.yaml: {e}") })?;
        crate::cli::expand_env(&mut value, &|var| std::env::var(var).ok());
        if let Some(n) = value.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty()) {
            soul.name = n.to_owned();
        }
        if let Some(Value::Mapping(llm)) = value.get("llm") {
            soul.llm = llm.clone();
        }
        let lines = |kind: &str| -> Vec<String> {
            value
                .get("fallbacks")
                .and_then(|f| f.get(kind))
                .and_then(Value::as_sequence)
                .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        soul.fallback_errors = lines("errors");
        soul.fallback_interrupted = lines("interrupted");
        soul.greetings = lines("greetings");
    }
    let personality = dir.join("personality.md");
    if personality.is_file() {
        soul.personality = Some(read(&personality)?);
    }
    Ok(Some(soul))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })
}
