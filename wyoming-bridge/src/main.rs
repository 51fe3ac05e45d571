//! `wyoming-bridge`: wiring only; see the library's `lib.rs` for the layout.

use anyhow::Context;
use clap::Parser;
use serde_yaml_ng::Value;
use std::sync::Arc;
use std::time::Duration;
use wyoming_bridge::bot::{Bot, BotConfig};
use wyoming_bridge::chunker::ChunkerOptions;
use wyoming_bridge::cli::{self, Cli, Command};
use wyoming_bridge::listen::ListenConfig;
use wyoming_bridge::llm::client::{ApiKey, LlmClient, LlmOptions, Sampling};
use wyoming_bridge::mumble::MumbleClient;
use wyoming_proto::event::SynthesizeVoice;

/// The seed plan's voice prompt: short spoken answers, no formatting.
const VOICE_PROMPT: &str = "You are a voice assistant in a Mumble chat. Follow these rules strictly:\n\
1. Respond in 1-2 short sentences maximum\n2. Never use bullet points, lists, or formatting\n\
3. Never use emojis or special characters\n4. Speak naturally as if in conversation\n\
5. If uncertain, give a brief acknowledgment\n6. Avoid technical jargon unless asked";

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if cli.check_config {
        println!("{}", cli::check_config(&cli)?);
        return Ok(());
    }
    let file = cli::load_config(&cli.config)?;
    let config = cli::mumble_config(&cli.mumble, cli::mumble_section(&cli.config, file.as_ref())?)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    match &cli.command {
        Some(Command::MumbleEcho(echo)) => runtime.block_on(async {
            let (client, events) = MumbleClient::start(config)?;
            tokio::select! {
                () = wyoming_bridge::echo::run(&client, events, Duration::from_millis(echo.delay_ms)) => {}
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; disconnecting"),
            }
            client.shutdown().await;
            Ok(())
        }),
        None => {
            let empty = Value::Null;
            let bot_config = bot_config(file.as_ref().unwrap_or(&empty))?;
            runtime.block_on(async {
                let (client, events) = MumbleClient::start(config)?;
                let (text_tx, mut text_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let bot = Bot::new(bot_config, client.audio(), text_tx);
                let texts = async {
                    while let Some(text) = text_rx.recv().await {
                        client.send_text(&text).await;
                    }
                };
                tokio::select! {
                    () = bot.run(events) => {}
                    () = texts => {}
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; disconnecting"),
                }
                client.shutdown().await;
                Ok(())
            })
        }
    }
}

fn get<'a>(file: &'a Value, section: &str, key: &str) -> Option<&'a Value> {
    file.get(section).and_then(|s| s.get(key)).filter(|v| !v.is_null())
}

fn string(file: &Value, section: &str, key: &str) -> Option<String> {
    get(file, section, key).and_then(|v| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn number(file: &Value, section: &str, key: &str) -> Option<f64> {
    get(file, section, key).and_then(Value::as_f64)
}

fn flag(file: &Value, section: &str, key: &str) -> Option<bool> {
    get(file, section, key).and_then(Value::as_bool)
}

fn uri(file: &Value, section: &str, default_port: u16) -> anyhow::Result<wyoming_proto::uri::WyomingUri> {
    if let Some(uri) = string(file, section, "uri") {
        return uri.parse().map_err(|e| anyhow::anyhow!("{section}.uri {uri}: {e}"));
    }
    let host = string(file, section, "wyoming_host").unwrap_or_else(|| "127.0.0.1".into());
    let port = number(file, section, "wyoming_port").map_or(default_port, |p| p as u16);
    Ok(wyoming_proto::uri::WyomingUri::Tcp { host, port })
}

/// The pipeline's settings from `config.yaml` (the Python bot's keys plus the bridge's, see the README).
fn bot_config(file: &Value) -> anyhow::Result<BotConfig> {
    let extra_body = match get(file, "llm", "extra_body") {
        Some(v) => match serde_json::to_value(v).context("llm.extra_body")? {
            serde_json::Value::Object(map) => map,
            _ => anyhow::bail!("llm.extra_body must be a mapping"),
        },
        None => Default::default(),
    };
    let api_key = string(file, "llm", "api_key")
        .or_else(|| std::env::var("OPENROUTER_API_KEY").ok())
        .or_else(|| std::env::var("LLM_API_KEY").ok())
        .and_then(ApiKey::new);
    let timeout = Duration::from_secs_f64(number(file, "llm", "timeout").unwrap_or(30.0));
    let llm = LlmClient::new(LlmOptions {
        endpoint: string(file, "llm", "endpoint")
            .unwrap_or_else(|| "http://localhost:11434/v1/chat/completions".into()),
        model: string(file, "llm", "model").unwrap_or_else(|| "llama3.2:3b".into()),
        api_key,
        sampling: Sampling {
            max_tokens: Some(number(file, "llm", "max_tokens").map_or(80, |v| v as u32)),
            temperature: Some(number(file, "llm", "temperature").unwrap_or(0.3)),
            top_p: number(file, "llm", "top_p"),
            ..Default::default()
        },
        extra_body,
        stream: flag(file, "llm", "stream").unwrap_or(true),
        include_usage: true,
        connect_timeout: Duration::from_secs(5),
        first_token_timeout: timeout,
        idle_timeout: timeout,
        retry_backoff: Duration::from_millis(200),
        starts_in_think: false,
    })?;
    let silero = match (string(file, "bot", "silero_model"), std::env::var_os("ORT_DYLIB_PATH")) {
        (Some(model), Some(ort)) => Some(Arc::new(
            wyoming_proto::vad::silero::SileroModel::open(ort.as_ref(), model.as_ref()).context("bot.silero_model")?,
        )),
        (Some(_), None) => anyhow::bail!("bot.silero_model needs ORT_DYLIB_PATH (ONNX Runtime 1.24 or newer)"),
        _ => None,
    };
    let listen = ListenConfig {
        rms_threshold: number(file, "bot", "asr_threshold").unwrap_or(2000.0) as f32,
        hangover_ms: number(file, "bot", "silence_threshold_ms").map_or(600, |v| v as u32),
        max_utterance_ms: number(file, "bot", "max_recording_ms").map_or(30_000, |v| v as u32),
        ..Default::default()
    };
    Ok(BotConfig {
        stt_uri: uri(file, "stt", 10300)?,
        tts_uri: uri(file, "tts", 10200)?,
        voice: string(file, "tts", "voice").map(|name| SynthesizeVoice { name: Some(name), ..Default::default() }),
        language: string(file, "stt", "language").or(Some("en".into())),
        listen,
        silero,
        stt_timeout: Duration::from_secs(30),
        llm,
        system_prompt: string(file, "llm", "system_prompt").unwrap_or_else(|| VOICE_PROMPT.into()),
        chunker: ChunkerOptions::default(),
        history_len: number(file, "llm", "context_messages").map_or(20, |v| v as usize),
        barge_in: flag(file, "bot", "barge_in_enabled").unwrap_or(true),
        barge_in_ms: number(file, "bot", "barge_in_ms").map_or(100, |v| v as u32),
        fallback_phrase: string(file, "bot", "fallback_phrase")
            .unwrap_or_else(|| "Sorry, I can't answer that right now.".into()),
        latency_log: string(file, "bot", "latency_log").map(Into::into),
        min_words: number(file, "bot", "utterance_min_words").map_or(2, |v| v as usize),
        wake_word: string(file, "bot", "wake_word"),
        echo_window: Duration::from_secs_f64(number(file, "bot", "echo_filter_decay").unwrap_or(3.0)),
    })
}
