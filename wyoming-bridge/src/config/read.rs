//! Typed reads from the YAML tree, with the Python bot's leniency: numbers may come as strings
//! (`${VAR}` expansion always yields strings), `null` and `""` mean "use the default".

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, ConfigWarning, WarningKind, invalid};

/// `(section, keys the bridge uses, keys it accepts and ignores)`. `mumble` is read by [`crate::cli`]; its keys
/// are only checked here.
const SECTIONS: &[(&str, &[&str], &[&str])] = &[
    (
        "mumble",
        &["host", "port", "user", "password", "channel", "certfile", "keyfile", "server_fingerprint", "tls", "tokens"],
        &[],
    ),
    (
        "llm",
        &[
            "endpoint",
            "model",
            "api_key",
            "system_prompt",
            "prompt_file",
            "personality",
            "timeout",
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "repetition_penalty",
            "frequency_penalty",
            "presence_penalty",
            "context_messages",
            "stream",
            "extra_body",
            "include_usage",
            "connect_timeout",
            "idle_timeout",
            "seed",
            "starts_in_think",
        ],
        &[],
    ),
    (
        "stt",
        &[
            "provider",
            "wyoming_host",
            "wyoming_port",
            "language",
            "timeout",
            "streaming_stability_window",
            "streaming_min_stable_chars",
        ],
        &[
            "nemotron_model",
            "nemotron_chunk_ms",
            "nemotron_device",
            "sherpa_encoder",
            "sherpa_decoder",
            "sherpa_joiner",
            "sherpa_tokens",
            "sherpa_provider",
            "websocket_endpoint",
            "streaming_chunk_ms",
        ],
    ),
    (
        "tts",
        &["wyoming_host", "wyoming_port", "voice", "speaker", "streaming", "pad_min_chars"],
        &["ref_audio", "ref_duration", "num_steps", "speed", "device"],
    ),
    ("vad", &["engine", "silero_model", "threshold", "hangover_ms", "min_speech_ms", "max_utterance_ms"], &[]),
    (
        "bot",
        &[
            "wake_word",
            "silence_threshold_ms",
            "max_recording_ms",
            "asr_threshold",
            "conversation_timeout",
            "max_response_staleness",
            "barge_in_enabled",
            "barge_in_ms",
            "echo_filter_enabled",
            "echo_filter_decay",
            "utterance_filter_enabled",
            "utterance_min_words",
            "utterance_min_chars",
            "brain_type",
            "latency_log",
            "greet_on_join",
            "text_reply",
            "fallback_phrase",
            "hallucination_filter",
            "pending_text_timeout",
        ],
        &[
            "enable_conversation",
            "turn_prediction_enabled",
            "turn_prediction_base_delay",
            "turn_prediction_max_delay",
            "turn_prediction_threshold",
            "state_machine_enabled",
            "state_machine_cooldown",
            "preserve_context_on_switch",
            "max_preserved_messages",
            "brain_power",
            "idle_initiation_enabled",
            "idle_initiation_delay",
        ],
    ),
    ("pipeline", &["silence_threshold_ms", "max_recording_ms"], &[]),
    (
        "streaming",
        &[
            "phrase_min_chars",
            "phrase_max_chars",
            "phrase_timeout_ms",
            "first_phrase_min_chars",
            "first_phrase_max_chars",
            "first_phrase_timeout_ms",
        ],
        &["enabled", "llm_start_threshold", "llm_abort_on_change", "change_threshold"],
    ),
    ("models", &[], &["hf_home", "hf_hub_cache", "transformers_cache", "torch_home", "xdg_cache_home"]),
    (
        "tools",
        &[],
        &[
            "enabled",
            "max_iterations",
            "web_search_enabled",
            "web_search_max_results",
            "web_search_timeout",
            "sound_effects_enabled",
            "sound_effects_dir",
            "sound_effects_auto_play",
            "sound_effects_web_search",
            "sound_effects_cache",
            "sound_effects_verify_ssl",
        ],
    ),
];

/// Top-level keys of multi-persona files (reference §2.5), which `config::personas` rewrites away before a
/// persona's file gets here.
const MULTI_PERSONA: [&str; 3] = ["personas", "shared", "interaction"];

pub(super) struct Reader<'a> {
    root: &'a Mapping,
    /// Values used when the file has none (the soul's `llm` map).
    fallbacks: HashMap<&'static str, Mapping>,
    pub(super) warnings: Vec<ConfigWarning>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(root: &'a Mapping) -> Self {
        Self { root, fallbacks: HashMap::new(), warnings: Vec::new() }
    }

    pub(super) fn set_fallback(&mut self, section: &'static str, values: Mapping) {
        self.fallbacks.insert(section, values);
    }

    /// Warns about unknown and ignored sections and keys; fails on a section that is not a mapping.
    pub(super) fn check_keys(&mut self) -> Result<(), ConfigError> {
        let all_sections: Vec<&str> = SECTIONS.iter().map(|(s, _, _)| *s).collect();
        for (key, value) in self.root {
            let Some(name) = key.as_str() else {
                self.warn(&format!("{key:?}"), WarningKind::Unknown, "not a section name");
                continue;
            };
            if name == "soul" {
                continue;
            }
            if MULTI_PERSONA.contains(&name) {
                self.warn(name, WarningKind::Ignored, "only used in multi-persona files (with a `personas` list)");
                continue;
            }
            let Some((_, used, ignored)) = SECTIONS.iter().find(|(s, _, _)| *s == name) else {
                let message = format!("unknown section (valid: soul, {})", all_sections.join(", "));
                self.warn(name, WarningKind::Unknown, &message);
                continue;
            };
            let map = match value {
                Value::Null => continue,
                Value::Mapping(map) => map,
                _ => return Err(invalid(name, "must be a mapping of keys")),
            };
            for (key, value) in map {
                let key_name = key.as_str().unwrap_or("?");
                let full = format!("{name}.{key_name}");
                if used.contains(&key_name) {
                    if full == "bot.brain_type" && value.as_str().is_some_and(|b| b != "llm") {
                        self.warn(&full, WarningKind::Ignored, "only the llm brain exists in the bridge");
                    }
                } else if ignored.contains(&key_name) {
                    if !value.is_null() {
                        self.warn(&full, WarningKind::Ignored, "accepted for compatibility; not used by the bridge");
                    }
                } else {
                    let mut valid: Vec<&str> = used.iter().chain(ignored.iter()).copied().collect();
                    valid.sort_unstable();
                    self.warn(&full, WarningKind::Unknown, &format!("unknown key (valid: {})", valid.join(", ")));
                }
            }
        }
        Ok(())
    }

    fn warn(&mut self, key: &str, kind: WarningKind, message: &str) {
        self.warnings.push(ConfigWarning { key: key.to_owned(), kind, message: message.to_owned() });
    }

    pub(super) fn suspicious(&mut self, key: &str, message: &str) {
        self.warn(key, WarningKind::Suspicious, message);
    }

    pub(super) fn ignored(&mut self, key: &str, message: &str) {
        self.warn(key, WarningKind::Ignored, message);
    }

    /// Warns when `value` is outside `lo..=hi`.
    pub(super) fn range(&mut self, section: &str, key: &str, value: f64, lo: f64, hi: f64) {
        if !(lo..=hi).contains(&value) {
            self.suspicious(&format!("{section}.{key}"), &format!("{value} is outside the usual range {lo}..={hi}"));
        }
    }

    /// The value of `section.key` (a top-level key when `key` is empty); `None` for absent, `null`
    /// and blank strings (with a warning for the latter, except the API key).
    fn raw(&mut self, section: &str, key: &str) -> Option<Value> {
        let value = if key.is_empty() {
            self.root.get(section).cloned()
        } else {
            let from_file = self.root.get(section).and_then(|s| s.get(key)).filter(|v| !v.is_null()).cloned();
            from_file.or_else(|| self.fallbacks.get(section).and_then(|m| m.get(key)).cloned())
        };
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                if key != "api_key" {
                    self.suspicious(&name(section, key), "empty; using the default");
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    pub(super) fn string(&mut self, section: &str, key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw(section, key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(invalid(&name(section, key), "must be a string")),
        }
    }

    pub(super) fn f64(&mut self, section: &str, key: &str) -> Result<Option<f64>, ConfigError> {
        let bad = || invalid(&name(section, key), "must be a number");
        match self.raw(section, key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()).map(Some).ok_or_else(bad),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite()).map(Some).ok_or_else(bad),
            Some(_) => Err(bad()),
        }
    }

    pub(super) fn i64(&mut self, section: &str, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.f64(section, key)? {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(v as i64)),
            Some(_) => Err(invalid(&name(section, key), "must be a whole number")),
        }
    }

    pub(super) fn u64(&mut self, section: &str, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.i64(section, key)? {
            None => Ok(None),
            Some(v) if v >= 0 => Ok(Some(v as u64)),
            Some(_) => Err(invalid(&name(section, key), "must not be negative")),
        }
    }

    pub(super) fn port(&mut self, section: &str, key: &str) -> Result<Option<u16>, ConfigError> {
        match self.u64(section, key)? {
            None => Ok(None),
            Some(p) if (1..=65535).contains(&p) => Ok(Some(p as u16)),
            Some(_) => Err(invalid(&name(section, key), "must be a port number (1-65535)")),
        }
    }

    pub(super) fn bool(&mut self, section: &str, key: &str) -> Result<Option<bool>, ConfigError> {
        let bad = || invalid(&name(section, key), "must be true or false");
        match self.raw(section, key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(Some(false)),
                Some(1) => Ok(Some(true)),
                _ => Err(bad()),
            },
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(Some(true)),
                "false" | "no" | "off" | "0" => Ok(Some(false)),
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }

    /// A path; relative ones are taken from the config file's directory.
    pub(super) fn path(&mut self, section: &str, key: &str, base: &Path) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self.string(section, key)?.map(|p| {
            let p = PathBuf::from(p);
            if p.is_relative() { base.join(p) } else { p }
        }))
    }

    /// A mapping converted to JSON (`llm.extra_body`).
    pub(super) fn json_map(
        &mut self,
        section: &str,
        key: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
        match self.raw(section, key) {
            None => Ok(serde_json::Map::new()),
            Some(value @ Value::Mapping(_)) => match serde_json::to_value(&value) {
                Ok(serde_json::Value::Object(map)) => Ok(map),
                Ok(_) => Err(invalid(&name(section, key), "must be a mapping")),
                Err(e) => Err(invalid(&name(section, key), &format!("cannot be sent as JSON: {e}"))),
            },
            Some(_) => Err(invalid(&name(section, key), "must be a mapping")),
        }
    }
}

fn name(section: &str, key: &str) -> String {
    if key.is_empty() { section.to_owned() } else { format!("{section}.{key}") }
}
