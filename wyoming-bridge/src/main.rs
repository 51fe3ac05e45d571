//! `wyoming-bridge`: wiring only; see the library's `lib.rs` for the layout.

use anyhow::Context;
use clap::Parser;
use serde_yaml_ng::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wyoming_bridge::bot::{Bot, BotConfig, TextOut};
use wyoming_bridge::cli::{self, Cli, Command};
use wyoming_bridge::config::{self, BridgeConfig, ParseOptions, Persona, VadEngine};
use wyoming_bridge::listen::ListenConfig;
use wyoming_bridge::llm::LlmClient;
use wyoming_bridge::mumble::{MumbleClient, MumbleConfig};
use wyoming_bridge::respond;
use wyoming_proto::event::SynthesizeVoice;
use wyoming_proto::uri::WyomingUri;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| cli.pipeline.log_filter().into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.pipeline.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    for flag in cli.pipeline.ignored() {
        tracing::warn!(
            flag,
            "accepted for the Python bot's command line, but the TTS server does this now; ignoring it"
        );
    }
    if let Some(Command::Latency(args)) = &cli.command {
        let (table, svg) = wyoming_bridge::latency::write_report(&args.file, args.svg.as_deref())?;
        println!("{table}");
        eprintln!("chart written to {}", svg.display());
        return Ok(());
    }
    let file = cli.load_config()?;
    let echo = matches!(cli.command, Some(Command::MumbleEcho(_)));
    if cli.check_config {
        // Everything is checked before anything is printed, so that "valid" is never followed by an error.
        let mut lines = Vec::new();
        if echo {
            // mumble-echo connects with the top-level `mumble` section, under the configured name only.
            lines.push(cli::check_mumble(&cli, file.as_ref(), None)?);
        } else {
            let plan = plan(&cli, file.as_ref())?;
            for bot in &plan.bots {
                let soul = bot.bridge.soul.as_ref().map(|s| s.name.as_str());
                let summary = cli::check_mumble(&cli, bot.persona.file.as_ref(), soul)?;
                lines.push(if plan.multi { format!("persona {}: {summary}", bot.persona.name) } else { summary });
                lines.extend(bot.warnings.iter().map(|w| format!("warning: {w}")));
            }
            lines.extend(plan.warnings.iter().map(|w| format!("warning: {w}")));
        }
        println!("{}", lines.join("\n"));
        return Ok(());
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    match &cli.command {
        Some(Command::MumbleEcho(echo)) => runtime.block_on(async {
            let section = cli::mumble_section(cli.config_path(), file.as_ref())?;
            let (client, events) = MumbleClient::start(cli::mumble_config(&cli.mumble, section, None)?)?;
            tokio::select! {
                () = wyoming_bridge::echo::run(&client, events, Duration::from_millis(echo.delay_ms)) => {}
                _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; disconnecting"),
            }
            client.shutdown().await;
            Ok(())
        }),
        Some(Command::Latency(_)) => unreachable!("handled before the config is read"),
        None => {
            let plan = plan(&cli, file.as_ref())?;
            let path = cli.config_path().display();
            for warning in &plan.warnings {
                tracing::warn!("{path}: {warning}");
            }
            let users: Vec<String> = plan.bots.iter().map(|b| b.mumble.identity.username.clone()).collect();
            let claims = plan.multi.then(|| Arc::new(respond::Claims::default()));
            let mut bots = Vec::new();
            for planned in plan.bots {
                let persona = plan.multi.then_some(planned.persona.name.as_str());
                for warning in &planned.warnings {
                    tracing::warn!(persona, "{path}: {warning}");
                }
                let mut bridge = planned.bridge;
                if plan.multi {
                    // As the Python bot built a persona's prompt: its own, else its soul's personality.
                    let personality = bridge.soul.as_ref().and_then(|s| s.personality.clone());
                    if let Some(prompt) = planned.persona.system_prompt.clone().or(personality) {
                        bridge.system_prompt = prompt.trim().to_owned();
                    }
                }
                let mut bot_config = bot_config(&cli, bridge)?;
                let own = &planned.mumble.identity.username;
                // A reply that starts with the bot's own "Name:" has it removed before it is spoken.
                bot_config.chunker.speech.bot_name = Some(own.clone());
                if !planned.persona.answers_personas {
                    bot_config.ignore_users = users.iter().filter(|u| *u != own).cloned().collect();
                }
                bot_config.claims = claims.clone().map(|claims| respond::PersonaClaims {
                    claims,
                    own: own.clone(),
                    personas: users.clone(),
                });
                bots.push((planned.mumble, bot_config));
            }
            runtime.block_on(run_bots(bots))
        }
    }
}

/// One bot to run: its persona, settings and Mumble connection.
struct PlannedBot {
    persona: Persona,
    bridge: BridgeConfig,
    warnings: Vec<config::ConfigWarning>,
    mumble: MumbleConfig,
}

/// What the file runs, checked as a whole.
struct Plan {
    bots: Vec<PlannedBot>,
    /// A multi-persona file.
    multi: bool,
    /// About the file as a whole (the personas list).
    warnings: Vec<config::ConfigWarning>,
}

/// The bots the file runs: itself, or one per persona of a multi-persona file (`config::split_personas`), with
/// every check the start needs, so that `--check-config` and the start agree.
fn plan(cli: &Cli, file: Option<&Value>) -> anyhow::Result<Plan> {
    let path = cli.config_path().display().to_string();
    let multi = config::is_multi_persona(file);
    let (personas, warnings) = match file {
        Some(file) if multi => config::split_personas(file).with_context(|| path.clone())?,
        _ => (
            vec![Persona { name: "bot".into(), file: file.cloned(), answers_personas: true, system_prompt: None }],
            Vec::new(),
        ),
    };
    if multi && (cli.mumble.user.is_some() || cli.mumble.channel.is_some()) {
        anyhow::bail!("--user and --channel name one bot; in a multi-persona file each persona has its own");
    }
    let mut bots: Vec<PlannedBot> = Vec::new();
    for persona in personas {
        let context = || if multi { format!("{path}: persona {}", persona.name) } else { path.clone() };
        let (bridge, bot_warnings) = parse(cli, persona.file.as_ref()).with_context(context)?;
        let soul = bridge.soul.as_ref().map(|s| s.name.clone());
        let section = cli::mumble_section(cli.config_path(), persona.file.as_ref()).with_context(context)?;
        let mumble = cli::mumble_config(&cli.mumble, section, soul.as_deref()).with_context(context)?;
        if let Some(other) = bots.iter().find(|b| b.mumble.identity.username == mumble.identity.username) {
            anyhow::bail!(
                "personas {} and {} would both connect as {}; give each its own mumble.user",
                other.persona.name,
                persona.name,
                mumble.identity.username
            );
        }
        bots.push(PlannedBot { persona, bridge, warnings: bot_warnings, mumble });
    }
    Ok(Plan { bots, multi, warnings })
}

/// Connects every bot, two seconds apart (the Python bot staggered its personas by five), so that first
/// connections do not race to pin the server's certificate, and runs them until Ctrl-C or one of them ends.
async fn run_bots(bots: Vec<(MumbleConfig, BotConfig)>) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let mut running = tokio::task::JoinSet::new();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    for (i, (mumble, bot_config)) in bots.into_iter().enumerate() {
        if i > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = &mut interrupted => {
                    stop.cancel();
                    break;
                }
            }
        }
        let (client, events) = match MumbleClient::start(mumble) {
            Ok(started) => started,
            Err(e) => {
                // The bots already running leave the server cleanly.
                stop.cancel();
                while running.join_next().await.is_some() {}
                return Err(e.into());
            }
        };
        let (text_tx, mut text_rx) = tokio::sync::mpsc::unbounded_channel::<TextOut>();
        let bot = Bot::new(bot_config, client.audio(), text_tx);
        let stop = stop.clone();
        running.spawn(async move {
            {
                let texts = async {
                    while let Some(TextOut { to, text }) = text_rx.recv().await {
                        client.send_text_to(to, &text).await;
                    }
                };
                tokio::select! {
                    () = bot.run(events) => {}
                    () = texts => {}
                    () = stop.cancelled() => {}
                }
            }
            client.shutdown().await;
        });
    }
    if !stop.is_cancelled() {
        tokio::select! {
            _ = &mut interrupted => tracing::info!("interrupted; disconnecting"),
            _ = running.join_next() => {}
        }
    }
    stop.cancel();
    while running.join_next().await.is_some() {}
    Ok(())
}

/// `config.yaml` (all but the `mumble` section) resolved, with the warnings to show.
fn parse(cli: &Cli, file: Option<&Value>) -> anyhow::Result<(BridgeConfig, Vec<config::ConfigWarning>)> {
    let path = cli.config_path();
    let base_dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let env = |name: &str| std::env::var(name).ok();
    let options = ParseOptions { base_dir, env: &env, strict: false, overrides: cli.pipeline.overrides() };
    config::parse_config(file, &options).with_context(|| path.display().to_string())
}

/// The pipeline's settings from the resolved file, plus what needs loading.
fn bot_config(cli: &Cli, mut config: BridgeConfig) -> anyhow::Result<BotConfig> {
    if let Some(host) = &cli.pipeline.wyoming_tts_host {
        config.tts.host = host.clone();
    }
    if let Some(port) = cli.pipeline.wyoming_tts_port {
        config.tts.port = port;
    }
    // Silero is computed natively from the model's weights: the bridge never loads ONNX Runtime.
    let silero = match (&config.vad.engine, &config.vad.silero_model) {
        (VadEngine::Rms, _) => None,
        (_, Some(model)) => {
            Some(Arc::new(wyoming_proto::vad::silero::SileroModel::load(model).context("the Silero VAD model")?))
        }
        (VadEngine::Silero, None) => anyhow::bail!("vad.engine silero needs vad.silero_model"),
        (VadEngine::Auto, None) => None,
    };
    // The effective values, since the file may hold the Python bot's keys with other meanings or defaults.
    tracing::info!(
        vad = if silero.is_some() { "silero" } else { "rms" },
        hangover_ms = config.vad.hangover_ms,
        min_speech_ms = config.vad.min_speech_ms,
        max_utterance_ms = config.vad.max_utterance_ms,
        barge_in_ms = config.barge_in.map(|d| d.as_millis() as u64),
        wake_word = config.respond.wake_word.as_deref(),
        utterance_filter = config.respond.utterance_filter,
        "turn detection"
    );
    let listen = ListenConfig {
        threshold: config.vad.silero_threshold,
        rms_threshold: config.vad.rms_threshold as f32,
        hangover_ms: config.vad.hangover_ms,
        min_speech_ms: config.vad.min_speech_ms,
        max_utterance_ms: config.vad.max_utterance_ms,
        ..Default::default()
    };
    let voice = config.tts.voice.clone().map(|name| SynthesizeVoice {
        name: Some(name),
        speaker: config.tts.speaker.clone(),
        ..Default::default()
    });
    Ok(BotConfig {
        ignore_users: Vec::new(),
        claims: None,
        stt_uri: WyomingUri::Tcp { host: config.stt.host.clone(), port: config.stt.port },
        tts_uri: WyomingUri::Tcp { host: config.tts.host.clone(), port: config.tts.port },
        voice,
        language: config.stt.language.clone(),
        listen,
        silero,
        stt_timeout: config.stt.timeout,
        stability: (config.stt.stability_window, config.stt.min_stable_chars),
        llm: LlmClient::new(config.llm.clone())?,
        system_prompt: config.system_prompt.clone(),
        chunker: config.chunker.clone(),
        history: wyoming_bridge::history::ChannelHistory::new(
            config.history.context_messages,
            config.history.max_entries,
            config.history.max_age,
        ),
        barge_in: config.barge_in.is_some(),
        barge_in_ms: config.barge_in.map_or(0, |d| d.as_millis() as u32),
        fallback_phrase: config.fallback_phrase.clone(),
        latency_log: config.latency_log.clone(),
        respond: wyoming_bridge::respond::RespondRules {
            echo_filter: config.respond.echo_filter,
            utterance: config.respond.utterance_filter.then_some(wyoming_bridge::respond::UtteranceRules {
                min_words: config.respond.min_words,
                min_chars: config.respond.min_chars,
                hallucination_filter: config.respond.hallucination_filter,
            }),
            wake_word: config.respond.wake_word.clone(),
        },
        echo_decay: config.respond.echo_decay,
        // 0 turns the rule off (every reply would be stale).
        staleness: Some(config.respond.max_response_staleness).filter(|d| !d.is_zero()),
        pending_text_timeout: config.respond.pending_text_timeout,
        continuation_words: config.respond.continuation_words,
        tts_streaming: config.tts.streaming.unwrap_or(true),
        pad_min_chars: config.tts.pad_min_chars,
        text_reply: config.text_reply,
        greet_on_join: config.greet_on_join,
    })
}
