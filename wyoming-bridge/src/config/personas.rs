//! Multi-persona files (reference `original-bot.md` §2.5): a top-level `personas` list, each persona a bot
//! with its own Mumble connection, sharing the STT, TTS and LLM servers.
//!
//! Each persona is rewritten into the single-bot file it stands for, so that everything after that
//! (defaults, leniency, warnings, souls, the `mumble` section) is the single-bot path's, with no second
//! reader to keep in step. The rewrite: the top-level sections as they are (of `mumble`, only the server:
//! host, port, password and TLS trust), `shared.llm`/`stt`/`tts` merged in, then the persona's own keys:
//! `llm_overrides` over `llm`, `system_prompt`, `max_history_messages` as `llm.context_messages`,
//! `mumble.user`/`channel`, `tts`, `soul`. The Mumble user is `mumble.user`, else `display_name`, else the
//! soul's name (`user: ""` in the single-bot file).
//!
//! Kept from the Python loader: `name` is required and unique, and a persona needs a `soul` or a
//! `display_name`. Changed: unknown persona keys are warnings, like every other unknown key, and a
//! persona does not answer the other personas unless `respond_to_other_personas` is true (otherwise two
//! bots in one channel would answer each other forever).

use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, ConfigWarning, WarningKind, invalid};

/// One persona's bot.
#[derive(Debug, Clone, PartialEq)]
pub struct Persona {
    /// The persona's `name`, for logs.
    pub name: String,
    /// The single-bot config file this persona runs with (`None`: no file, defaults).
    pub file: Option<Value>,
    /// `respond_to_other_personas`.
    pub answers_personas: bool,
    /// The persona's own `system_prompt`, the whole prompt when set (else its soul's personality is).
    pub system_prompt: Option<String>,
}

const PERSONA_KEYS: &[&str] = &[
    "name",
    "soul",
    "display_name",
    "system_prompt",
    "mumble",
    "llm_overrides",
    "max_history_messages",
    "respond_to_other_personas",
    "tts",
];

/// Top-level sections that only multi-persona files have; they are not passed on to the personas.
const MULTI_ONLY: &[&str] = &["personas", "shared", "interaction"];

/// The top-level `mumble` keys every persona shares: the server and how to trust it. A client certificate,
/// tokens, a user or a channel belong to one persona (one registered user connected twice is kicked).
const SHARED_MUMBLE: &[&str] = &["host", "port", "password", "tls", "server_fingerprint"];

/// Whether `file` is a multi-persona file (it has a top-level `personas` key).
pub fn is_multi_persona(file: Option<&Value>) -> bool {
    file.and_then(|f| f.get("personas")).is_some()
}

/// The personas of a multi-persona file, each as its single-bot file, and what to warn about.
pub fn split_personas(file: &Value) -> Result<(Vec<Persona>, Vec<ConfigWarning>), ConfigError> {
    let mut warnings = Vec::new();
    let mut warn =
        |key: String, kind, message: &str| warnings.push(ConfigWarning { key, kind, message: message.into() });
    let Some(Value::Sequence(list)) = file.get("personas") else {
        return Err(invalid("personas", "must be a list of personas"));
    };
    if list.is_empty() {
        return Err(invalid("personas", "the list is empty"));
    }
    if file.get("interaction").is_some_and(|v| !v.is_null()) {
        warn("interaction".into(), WarningKind::Ignored, "accepted for compatibility; not used by the bridge");
    }
    if let Some(Value::Mapping(mumble)) = file.get("mumble") {
        for key in mumble.keys().filter_map(Value::as_str).filter(|k| !SHARED_MUMBLE.contains(k)) {
            let message = "not shared between personas; set it in each persona's mumble section";
            warn(format!("mumble.{key}"), WarningKind::Ignored, message);
        }
    }
    if let Some(Value::Mapping(shared)) = file.get("shared") {
        for key in shared.keys().filter_map(Value::as_str).filter(|k| !["llm", "stt", "tts"].contains(k)) {
            warn(format!("shared.{key}"), WarningKind::Unknown, "unknown key (valid: llm, stt, tts)");
        }
    }
    let shared = |section: &str| file.get("shared").and_then(|s| s.get(section)).and_then(Value::as_mapping);
    let mut personas: Vec<Persona> = Vec::new();
    for (i, persona) in list.iter().enumerate() {
        let at = format!("personas[{i}]");
        let Value::Mapping(p) = persona else { return Err(invalid(&at, "must be a mapping of keys")) };
        let name = match p.get("name") {
            Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(invalid(&format!("{at}.name"), "is required")),
        };
        let at = format!("personas.{name}");
        if personas.iter().any(|other| other.name == name) {
            return Err(invalid(&at, "the name is used twice"));
        }
        for key in p.keys() {
            let key = key.as_str().unwrap_or("?");
            if !PERSONA_KEYS.contains(&key) {
                let message = format!("unknown key (valid: {})", PERSONA_KEYS.join(", "));
                warn(format!("{at}.{key}"), WarningKind::Unknown, &message);
            }
        }
        let text = |key: &str| p.get(key).and_then(as_text).filter(|s| !s.trim().is_empty());
        let (soul, display_name) = (text("soul"), text("display_name"));
        if soul.is_none() && display_name.is_none() {
            return Err(invalid(&at, "needs a soul or a display_name"));
        }

        let mut out: Mapping = match file {
            Value::Mapping(root) => root
                .iter()
                .filter(|(k, _)| !k.as_str().is_some_and(|k| MULTI_ONLY.contains(&k) || k == "mumble"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => Mapping::new(),
        };
        let shared_mumble: Mapping = match file.get("mumble") {
            Some(Value::Mapping(m)) => m
                .iter()
                .filter(|(k, _)| k.as_str().is_some_and(|k| SHARED_MUMBLE.contains(&k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            _ => Mapping::new(),
        };
        merge(&mut out, "mumble", Some(&shared_mumble));
        for section in ["llm", "stt", "tts"] {
            merge(&mut out, section, shared(section));
        }
        merge(&mut out, "llm", p.get("llm_overrides").and_then(Value::as_mapping));
        if let Some(prompt) = text("system_prompt") {
            set(&mut out, "llm", "system_prompt", Value::String(prompt));
        }
        if let Some(history) = p.get("max_history_messages").filter(|v| !v.is_null()) {
            set(&mut out, "llm", "context_messages", history.clone());
        }
        merge(&mut out, "tts", p.get("tts").and_then(Value::as_mapping));
        merge(&mut out, "mumble", p.get("mumble").and_then(Value::as_mapping));
        if p.get("mumble").and_then(|m| m.get("user")).is_none_or(Value::is_null) {
            // The display name, else the soul's name (which the single-bot path reads for `user: ""`).
            set(&mut out, "mumble", "user", Value::String(display_name.clone().unwrap_or_default()));
        }
        match soul {
            Some(soul) => out.insert("soul".into(), Value::String(soul)),
            None => out.remove("soul"),
        };
        let answers_personas = match p.get("respond_to_other_personas") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"),
            _ => false,
        };
        let system_prompt = text("system_prompt");
        personas.push(Persona { name, file: Some(Value::Mapping(out)), answers_personas, system_prompt });
    }
    Ok((personas, warnings))
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `section`'s keys from `from` laid over those already in `out` (`null` values are skipped: they mean
/// "the default", not "erase").
fn merge(out: &mut Mapping, section: &str, from: Option<&Mapping>) {
    for (key, value) in from.into_iter().flatten().filter(|(_, v)| !v.is_null()) {
        if let Some(key) = key.as_str() {
            set(out, section, key, value.clone());
        }
    }
}

fn set(out: &mut Mapping, section: &str, key: &str, value: Value) {
    let entry = out.entry(section.into()).or_insert(Value::Null);
    if !entry.is_mapping() {
        *entry = Value::Mapping(Mapping::new());
    }
    if let Value::Mapping(map) = entry {
        map.insert(key.into(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
mumble:
  host: murmur.lan
  password: sesame
  certfile: bot.pem
shared:
  llm:
    endpoint: http://gpu:8000/v1/chat/completions
    model: qwen
    temperature: 0.7
  stt:
    wyoming_host: stt.lan
interaction:
  enable_cross_talk: true
bot:
  barge_in_enabled: false
personas:
  - name: sam
    display_name: Sam
    system_prompt: You are Sam.
    mumble:
      channel: Tavern
    llm_overrides:
      temperature: 0.2
    max_history_messages: 6
  - name: raf
    soul: raf
    mumble:
      user: RafBot
    respond_to_other_personas: true
    tts:
      voice: en_GB-alan-medium
  - name: wiz
    soul: wizard
    favourite_colour: blue
"#;

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn each_persona_is_the_single_bot_file_it_stands_for() {
        let file = yaml(FILE);
        assert!(is_multi_persona(Some(&file)));
        let (personas, warnings) = split_personas(&file).unwrap();
        let names: Vec<&str> = personas.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["sam", "raf", "wiz"]);
        let sam = personas[0].file.as_ref().unwrap();
        assert_eq!(
            sam,
            &yaml(
                "mumble: {host: murmur.lan, password: sesame, channel: Tavern, user: Sam}\n\
                 bot: {barge_in_enabled: false}\n\
                 llm: {endpoint: 'http://gpu:8000/v1/chat/completions', model: qwen, temperature: 0.2, \
                 system_prompt: You are Sam., context_messages: 6}\n\
                 stt: {wyoming_host: stt.lan}\n"
            )
        );
        assert!(!personas[0].answers_personas);
        assert_eq!(personas[0].system_prompt.as_deref(), Some("You are Sam."));
        assert_eq!(personas[1].system_prompt, None);
        let raf = personas[1].file.as_ref().unwrap();
        assert_eq!(raf["mumble"]["user"].as_str(), Some("RafBot"));
        assert_eq!(raf["soul"].as_str(), Some("raf"));
        assert_eq!(raf["tts"]["voice"].as_str(), Some("en_GB-alan-medium"));
        assert_eq!(raf["llm"]["temperature"].as_f64(), Some(0.7));
        assert!(personas[1].answers_personas);
        // No display name and no user: the soul's name, which `user: ""` stands for.
        assert_eq!(personas[2].file.as_ref().unwrap()["mumble"]["user"].as_str(), Some(""));
        let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
        // A client certificate is one registered user: not given to every persona.
        assert_eq!(keys, ["interaction", "mumble.certfile", "personas.wiz.favourite_colour"]);
    }

    #[test]
    fn bad_persona_lists_are_errors() {
        for (text, error) in [
            ("personas: []", "personas: the list is empty"),
            ("personas: sam", "personas: must be a list of personas"),
            ("personas: [{display_name: Sam}]", "personas[0].name: is required"),
            ("personas: [{name: sam}]", "personas.sam: needs a soul or a display_name"),
            ("personas: [{name: a, soul: x}, {name: a, soul: y}]", "personas.a: the name is used twice"),
            ("personas: [7]", "personas[0]: must be a mapping of keys"),
        ] {
            assert_eq!(split_personas(&yaml(text)).unwrap_err().to_string(), error, "{text}");
        }
        assert!(!is_multi_persona(Some(&yaml("mumble: {host: h}"))));
        assert!(!is_multi_persona(None));
    }
}
