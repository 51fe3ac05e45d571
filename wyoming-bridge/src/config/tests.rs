use super::*;

fn yaml(text: &str) -> Value {
    let mut v: Value = serde_yaml_ng::from_str(text).unwrap();
    crate::cli::expand_env(&mut v, &|name| match name {
        "LLM_TEMP" => Some("0.7".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    });
    v
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_in(
    dir: &Path,
    text: Option<&str>,
    overrides: Overrides,
) -> Result<(BridgeConfig, Vec<ConfigWarning>), ConfigError> {
    let value = text.map(yaml);
    parse_config(value.as_ref(), &ParseOptions { base_dir: dir, env: &no_env, strict: false, overrides })
}

fn parse(text: &str) -> (BridgeConfig, Vec<ConfigWarning>) {
    parse_in(Path::new("/nonexistent"), Some(text), Overrides::default()).unwrap()
}

fn keys(warnings: &[ConfigWarning], kind: WarningKind) -> Vec<String> {
    warnings.iter().filter(|w| w.kind == kind).map(|w| w.key.clone()).collect()
}

#[test]
fn defaults_without_a_file() {
    let (c, warnings) = parse_in(Path::new("."), None, Overrides::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.llm.endpoint, defaults::LLM_ENDPOINT);
    assert_eq!(c.llm.model, "llama3.2:3b");
    assert_eq!((c.llm.sampling.max_tokens, c.llm.sampling.temperature), (Some(80), Some(0.3)));
    assert_eq!(c.llm.sampling.top_p, None, "other sampling keys are sent only when set");
    assert_eq!(c.llm.first_token_timeout, Duration::from_secs(30));
    assert!(c.llm.stream && c.llm.api_key.is_none());
    assert_eq!(c.system_prompt, defaults::SYSTEM_PROMPT);
    assert_eq!((c.stt.host.as_str(), c.stt.port, c.stt.language.as_deref()), ("localhost", 10300, Some("en")));
    assert_eq!((c.tts.host.as_str(), c.tts.port), ("localhost", 10200));
    assert_eq!(
        (c.vad.engine, c.vad.rms_threshold, c.vad.hangover_ms, c.vad.max_utterance_ms),
        (VadEngine::Auto, 2000, 600, 30_000)
    );
    assert_eq!(c.barge_in, Some(Duration::from_millis(defaults::BARGE_IN_MS as u64)));
    assert_eq!(c.history.context_messages, 20);
    assert_eq!(c.history.max_age, Duration::from_secs(300));
    assert!(c.respond.echo_filter && c.respond.utterance_filter && c.respond.wake_word.is_none());
    assert_eq!((c.respond.min_words, c.respond.min_chars), (2, 5));
    assert_eq!(c.respond.max_response_staleness, Duration::from_secs(5));
    assert_eq!(c.latency_log, None);
}

/// A 417b0c0-style file with the keys HEAD rejects, an empty section and a typo.
const PYTHON_417: &str = r#"
llm:
  endpoint: http://gpu:8002/v1/chat/completions
  model: LiquidAI/LFM2.5-1.2B-Instruct
  api_key: ${UNSET_KEY}
  system_prompt: "You are Sam."
  temperature: 0
  max_tokens: 60
  top_p: "0.9"
  timeout: 12
  context_messages: 10
  temprature: 0.5
tts:
  ref_audio: reference.wav
  num_steps: 4
  voice: en_US-joe-medium
stt:
  provider: wyoming
  wyoming_host: stt.lan
  wyoming_port: "10301"
bot:
  asr_threshold: 0
  barge_in_enabled: false
  echo_filter_decay: 2.5
  utterance_min_words: 1
  turn_prediction_enabled: true
  wake_word: hey sam
  latency_log: logs/latency.jsonl
models:
tools:
  enabled: true
mumble:
  host: murmur
soul: ""
"#;

#[test]
fn python_config_loads_with_quirks_fixed() {
    let (c, warnings) = parse(PYTHON_417);
    assert_eq!(c.llm.endpoint, "http://gpu:8002/v1/chat/completions");
    assert_eq!(c.system_prompt, "You are Sam.", "llm.system_prompt is honoured");
    assert_eq!(c.llm.sampling.temperature, Some(0.0), "0 is a value, not 'use the default'");
    assert_eq!((c.llm.sampling.max_tokens, c.llm.sampling.top_p), (Some(60), Some(0.9)));
    assert_eq!(c.llm.first_token_timeout, Duration::from_secs(12));
    assert_eq!(c.history.context_messages, 10);
    assert_eq!(c.llm.api_key, None);
    assert_eq!((c.stt.host.as_str(), c.stt.port), ("stt.lan", 10301));
    assert_eq!(c.tts.voice.as_deref(), Some("en_US-joe-medium"));
    assert_eq!(c.vad.rms_threshold, 0);
    assert_eq!(c.barge_in, None);
    assert_eq!(c.respond.echo_decay, Duration::from_millis(2500));
    assert_eq!(c.respond.min_words, 1);
    assert_eq!(c.respond.wake_word.as_deref(), Some("hey sam"));
    assert_eq!(c.latency_log.as_deref(), Some(Path::new("/nonexistent/logs/latency.jsonl")));
    assert_eq!(keys(&warnings, WarningKind::Unknown), ["llm.temprature"]);
    assert_eq!(
        keys(&warnings, WarningKind::Ignored),
        ["tts.ref_audio", "tts.num_steps", "bot.turn_prediction_enabled", "tools.enabled"]
    );
    // An empty soul name is reported, and so is a threshold that takes every frame for speech.
    assert_eq!(keys(&warnings, WarningKind::Suspicious), ["soul", "bot.asr_threshold"]);
    assert!(warnings.iter().find(|w| w.key == "llm.temprature").unwrap().message.contains("temperature"));
}

#[test]
fn min_latency_sections_and_hangover_precedence() {
    let (c, w) = parse(
        "bot:\n  silence_threshold_ms: 1500\n  max_recording_ms: 20000\npipeline:\n  silence_threshold_ms: 800\n  max_recording_ms: 15000\n\
         streaming:\n  enabled: true\n  phrase_min_chars: 20\n  phrase_max_chars: 100\n  phrase_timeout_ms: 300\n",
    );
    assert_eq!((c.vad.hangover_ms, c.vad.max_utterance_ms), (800, 15_000));
    assert_eq!((c.chunker.min_chars, c.chunker.max_chars), (20, 100));
    assert_eq!(c.chunker.stall_timeout, Duration::from_millis(300));
    assert_eq!(keys(&w, WarningKind::Ignored), ["streaming.enabled"]);
    let (c, _) = parse("vad:\n  hangover_ms: 300\npipeline:\n  silence_threshold_ms: 800\n");
    assert_eq!(c.vad.hangover_ms, 300);
    let (c, _) = parse("bot:\n  silence_threshold_ms: 1000\n");
    assert_eq!(c.vad.hangover_ms, 1000, "honoured when written in the file");
}

#[test]
fn strings_from_env_expansion_are_numbers_and_empty_means_default() {
    let (c, w) = parse("llm:\n  temperature: ${LLM_TEMP}\n  max_tokens: ${EMPTY}\n  stream: 'no'\n");
    assert_eq!(c.llm.sampling.temperature, Some(0.7));
    assert_eq!(c.llm.sampling.max_tokens, Some(80));
    assert!(!c.llm.stream);
    assert_eq!(keys(&w, WarningKind::Suspicious), ["llm.max_tokens"]);
}

#[test]
fn wrong_types_are_errors() {
    for text in [
        "llm: 3\n",
        "llm:\n  temperature: hot\n",
        "llm:\n  max_tokens: 1.5\n",
        "stt:\n  wyoming_port: 70000\n",
        "bot:\n  barge_in_enabled: maybe\n",
        "llm:\n  model: [a, b]\n",
        "llm:\n  extra_body: 3\n",
        "vad:\n  engine: webrtc\n",
        "vad:\n  engine: silero\n",
        "- a list\n",
    ] {
        let err = parse_in(Path::new("."), Some(text), Overrides::default());
        assert!(matches!(err, Err(ConfigError::Invalid { .. })), "{text:?} gave {:?}", err.map(|(_, w)| w));
    }
}

#[test]
fn out_of_range_values_warn() {
    let (_, w) = parse("llm:\n  temperature: 3\n  top_p: 2\n  max_tokens: 0\nvad:\n  hangover_ms: 20\n");
    assert_eq!(
        keys(&w, WarningKind::Suspicious),
        ["llm.temperature", "llm.max_tokens", "llm.top_p", "vad.hangover_ms"]
    );
}

#[test]
fn strict_mode_fails_on_unknown_keys_only() {
    let value = yaml("llm:\n  modle: x\ntools:\n  enabled: true\nextra: 1\n");
    let options =
        ParseOptions { base_dir: Path::new("."), env: &no_env, strict: true, overrides: Overrides::default() };
    match parse_config(Some(&value), &options) {
        Err(ConfigError::Strict(keys)) => assert_eq!(keys, "llm.modle, extra"),
        other => panic!("{:?}", other.map(|(_, w)| w)),
    }
    let value = yaml("tools:\n  enabled: true\n");
    assert!(parse_config(Some(&value), &options).is_ok());
}

#[test]
fn api_key_from_env_in_order_and_never_printed() {
    let env = |name: &str| match name {
        "OPENROUTER_API_KEY" => Some("sk-or".to_string()),
        "LLM_API_KEY" => Some("sk-llm".to_string()),
        _ => None,
    };
    let value = yaml("llm:\n  api_key: ''\n");
    let options = ParseOptions { base_dir: Path::new("."), env: &env, strict: false, overrides: Overrides::default() };
    let (c, w) = parse_config(Some(&value), &options).unwrap();
    assert_eq!(c.llm.api_key.as_ref().map(ApiKey::expose), Some("sk-or"));
    assert!(w.is_empty(), "an empty api_key is not worth a warning: {w:?}");
    assert!(!format!("{c:?}").contains("sk-or"));
    let only_llm = |name: &str| (name == "LLM_API_KEY").then(|| "sk-llm".to_string());
    let options = ParseOptions { env: &only_llm, ..options };
    assert_eq!(parse_config(None, &options).unwrap().0.llm.api_key.as_ref().map(ApiKey::expose), Some("sk-llm"));
    let value = yaml("llm:\n  api_key: sk-file\n");
    assert_eq!(
        parse_config(Some(&value), &options).unwrap().0.llm.api_key.as_ref().map(ApiKey::expose),
        Some("sk-file")
    );
}

#[test]
fn extra_body_becomes_json() {
    let (c, _) = parse(
        "llm:\n  extra_body:\n    chat_template_kwargs:\n      enable_thinking: false\n    grammar: 'root ::= \"Yes.\"'\n",
    );
    assert_eq!(
        serde_json::Value::Object(c.llm.extra_body),
        serde_json::json!({"chat_template_kwargs": {"enable_thinking": false}, "grammar": "root ::= \"Yes.\""})
    );
}

#[test]
fn prompt_file_personality_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prompt.md"), "From the file.\n").unwrap();
    std::fs::create_dir(dir.path().join("personalities")).unwrap();
    std::fs::write(dir.path().join("personalities/pirate.md"), "Talk like a pirate.").unwrap();
    let text =
        "llm:\n  prompt_file: prompt.md\n  system_prompt: ignored when a prompt file exists\n  personality: pirate\n";
    let (c, w) = parse_in(dir.path(), Some(text), Overrides::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.system_prompt, format!("From the file.{}Talk like a pirate.", defaults::PERSONALITY_SEPARATOR));
    let overrides = Overrides {
        llm_system_prompt: Some("From the flag.".into()),
        llm_model: Some("m2".into()),
        asr_threshold: Some(1500),
        stt_port: Some(11000),
        ..Overrides::default()
    };
    let (c, _) = parse_in(dir.path(), Some("llm:\n  model: m1\nbot:\n  asr_threshold: 100\n"), overrides).unwrap();
    assert_eq!(c.system_prompt, "From the flag.");
    assert_eq!((c.llm.model.as_str(), c.vad.rms_threshold, c.stt.port), ("m2", 1500, 11000));
    let (c, w) =
        parse_in(dir.path(), Some("llm:\n  prompt_file: missing.md\n  personality: nobody\n"), Overrides::default())
            .unwrap();
    assert_eq!(c.system_prompt, defaults::SYSTEM_PROMPT);
    assert_eq!(keys(&w, WarningKind::Suspicious), ["llm.prompt_file", "llm.personality"]);
    // The Python bot's prompts/default.md, next to the config file, is the base when nothing else is set.
    std::fs::create_dir(dir.path().join("prompts")).unwrap();
    std::fs::write(dir.path().join("prompts/default.md"), "You are the house bot.\n").unwrap();
    let (c, _) = parse_in(dir.path(), Some("llm:\n  personality: pirate\n"), Overrides::default()).unwrap();
    assert_eq!(
        c.system_prompt,
        format!("You are the house bot.{}Talk like a pirate.", defaults::PERSONALITY_SEPARATOR)
    );
    let (c, _) = parse_in(dir.path(), Some("llm:\n  system_prompt: You are Sam.\n"), Overrides::default()).unwrap();
    assert_eq!(c.system_prompt, "You are Sam.");
}

#[test]
fn soul_next_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let soul = dir.path().join("souls/raf");
    std::fs::create_dir_all(&soul).unwrap();
    std::fs::write(
        soul.join("soul.yaml"),
        "name: Raf\nllm:\n  temperature: 0.9\n  max_tokens: 40\nfallbacks:\n  errors: [\"Hmm, my brain froze.\"]\n  greetings: [\"Hey {user}!\"]\n",
    )
    .unwrap();
    std::fs::write(soul.join("personality.md"), "You are Raf, a grumpy wizard.").unwrap();
    let (c, w) = parse_in(dir.path(), Some("soul: raf\nllm:\n  max_tokens: 50\n"), Overrides::default()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    let s = c.soul.as_ref().unwrap();
    assert_eq!((s.name.as_str(), s.greetings.len()), ("Raf", 1));
    assert_eq!(c.llm.sampling.temperature, Some(0.9), "the soul fills what the file does not set");
    assert_eq!(c.llm.sampling.max_tokens, Some(50), "the file wins over the soul");
    assert_eq!(c.fallback_phrase, "Hmm, my brain froze.");
    assert!(c.system_prompt.ends_with("You are Raf, a grumpy wizard."));
    assert!(c.system_prompt.starts_with(defaults::SYSTEM_PROMPT));
    let (c, w) = parse_in(dir.path(), Some("soul: nobody\n"), Overrides::default()).unwrap();
    assert!(c.soul.is_none());
    assert_eq!(keys(&w, WarningKind::Suspicious), ["soul"]);
}

#[test]
fn multi_persona_and_unknown_sections_warn() {
    let (_, w) = parse("personas:\n  - name: a\nshared: {}\nllmm:\n  model: x\n");
    assert_eq!(keys(&w, WarningKind::Ignored), ["personas", "shared"]);
    assert_eq!(keys(&w, WarningKind::Unknown), ["llmm"]);
}

#[test]
fn brain_type_other_than_llm_is_reported() {
    let (_, w) = parse("bot:\n  brain_type: adaptive\n  brain_power: 0.5\n");
    assert_eq!(keys(&w, WarningKind::Ignored), ["bot.brain_type", "bot.brain_power"]);
    let (_, w) = parse("bot:\n  brain_type: llm\n");
    assert!(w.is_empty());
}

#[test]
fn infinite_durations_and_zero_phrase_limits_are_refused() {
    for text in [
        "llm:\n  idle_timeout: .inf\n",
        "streaming:\n  phrase_max_chars: 0\n",
        "streaming:\n  first_phrase_max_chars: 0\n",
    ] {
        assert!(
            parse_in(Path::new("/nonexistent"), Some(text), Overrides::default()).is_err(),
            "{text:?} was accepted"
        );
    }
    // A huge but finite value is held to a day, so `now + timeout` cannot overflow.
    assert_eq!(parse("llm:\n  idle_timeout: 1e300\n").0.llm.idle_timeout, Duration::from_secs(86_400));
    assert_eq!(seconds(f64::NAN), Duration::ZERO);
}
