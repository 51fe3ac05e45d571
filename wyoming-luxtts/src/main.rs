//! `wyoming-luxtts`: the Wyoming text-to-speech server on port 10200.
//!
//! Wiring only: parse flags, load ONNX Runtime, espeak-ng and the voices (before the port opens), serve.

use anyhow::Context as _;
use clap::Parser;
use std::sync::Arc;
use tracing::{info, warn};
use wyoming_luxtts::cli::{self, Cli, EngineKind};
use wyoming_luxtts::engine::{Library, Voice, Voices};
use wyoming_luxtts::onnx::{self, Device, SessionOptions, Width};
use wyoming_luxtts::piper::{PiperVoice, ScaleOverrides};
use wyoming_luxtts::piper_library::{OnDemand, PiperLibrary};
use wyoming_luxtts::scheduler::Scheduler;
use wyoming_luxtts::session::{self, Context};
use wyoming_luxtts::text::{espeak, nakdimon, split::SplitConfig, tashkeel};
use wyoming_luxtts::{luxtts, piper_catalogue, piper_files};
use wyoming_proto::server::Server;
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::zeroconf::advertise_best_effort;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.server.init_logging();
    cli.validate()?;
    if cli.check_config {
        let engine = cli.engine();
        println!("configuration ok: engine {engine:?}, {} voice(s), device {}", cli.voices.len(), cli.device);
        return Ok(());
    }
    for flag in cli.unimplemented_flags() {
        warn!(flag, "accepted for compatibility with wyoming-piper, but not implemented; ignoring it");
    }
    wyoming_proto::cli::run_server(run(cli))?
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let library = cli.onnxruntime.clone().ok_or_else(|| {
        anyhow::anyhow!("ORT_DYLIB_PATH is not set: point it (or --onnxruntime) at libonnxruntime.so (1.24 or newer)")
    })?;
    let env = onnx::runtime(&library)?;
    espeak::init(cli.espeak_data.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    // Dictionaries differ between espeak-ng builds ("four": fˈɔːɹ in piper-tts's, fˈoːɹ in Debian's 1.51).
    match &cli.espeak_data {
        Some(dir) => tracing::info!(dir = %dir.display(), "espeak-ng data"),
        None => tracing::info!(
            "espeak-ng data: the library's own (--espeak-data picks the one your voices were trained with)"
        ),
    }
    // Loaded when an Arabic voice first speaks; a --tashkeel-dir given by hand must hold the model.
    if let Some(dir) = &cli.tashkeel_dir
        && !dir.join("model.onnx").is_file()
    {
        anyhow::bail!("--tashkeel-dir {}: no model.onnx there (libtashkeel's, as piper-tts ships it)", dir.display());
    }
    let tashkeel = cli.tashkeel_dir.clone().or_else(|| cli.espeak_data.as_ref().map(|dir| dir.join("tashkeel")));
    if let Some(dir) = tashkeel {
        tashkeel::init(env.clone(), dir);
    }
    // Likewise Nakdimon, when a Hebrew voice first speaks.
    if let Some(dir) = &cli.hebrew_dir
        && !dir.join(nakdimon::MODEL_FILE).is_file()
    {
        anyhow::bail!("--hebrew-dir {}: no {} there (as piper-tts ships it)", dir.display(), nakdimon::MODEL_FILE);
    }
    let hebrew = cli.hebrew_dir.clone().or_else(|| cli.espeak_data.as_ref().map(|dir| dir.join("hebrew")));
    if let Some(dir) = hebrew {
        nakdimon::init(env.clone(), dir.join(nakdimon::MODEL_FILE));
    }
    let device = onnx::choose_device(if cli.use_cuda { "cuda" } else { &cli.device })?;
    let session = SessionOptions { device, intra_threads: cli.threads };
    let data_dirs = cli.data_dirs();
    let engine = cli.engine();
    let started = std::time::Instant::now();
    // Piper voices a request may name beyond --voice.
    let mut library: Option<Arc<dyn Library>> = None;
    // Other names of the --voice voices, by index: how each was given (wyoming-piper lists a voice given as a path
    // under that path, so a client may have stored it), and, yielding to a voice of that name, a custom voice's
    // dataset.
    let mut aliases: Vec<(String, usize)> = Vec::new();
    let mut datasets: Vec<(String, usize)> = Vec::new();
    let voices: Vec<Arc<dyn Voice>> = match engine {
        EngineKind::Luxtts => {
            let config = luxtts::LuxConfig {
                model_dir: cli.model.clone().context("--model")?,
                num_steps: cli.num_steps,
                guidance_scale: cli.guidance_scale,
                t_shift: cli.t_shift,
                speed: cli.speed,
                ref_duration: cli.ref_duration,
                seed: cli.seed,
                cache_dir: data_dirs[0].join("voices"),
                stt_uri: cli.stt_uri()?,
                session: session.clone(),
            };
            luxtts::load_voices(env.clone(), config, cli.clone_specs()?).await?
        }
        _ => {
            let overrides =
                ScaleOverrides { noise_scale: cli.noise_scale, length_scale: cli.length_scale, noise_w: cli.noise_w };
            let download_dir = cli.download_dir.clone().unwrap_or_else(|| data_dirs[0].clone());
            let (dirs, local, given) = (data_dirs.clone(), cli.local_files_only, cli.voices.clone());
            let (files, loaded) = tokio::task::spawn_blocking({
                let (env, session) = (env.clone(), session.clone());
                move || -> anyhow::Result<_> {
                    let files = OnDemand::new(dirs.clone(), download_dir.clone(), local);
                    let mut loaded = Vec::new();
                    for given in &given {
                        // A name as requests name voices (an old name of a catalogue voice, `en-us-lessac-medium`, a
                        // custom voice's `dataset`, as in wyoming-piper), else a path (or the reason it is neither).
                        let path = match files.files(given)? {
                            Some(path) => path,
                            None => piper_files::locate(given, &dirs, &download_dir, local)?,
                        };
                        loaded.push(PiperVoice::load(env.clone(), &path, session.clone(), overrides)?);
                    }
                    Ok((files, loaded))
                }
            })
            .await??;
            let mut voices: Vec<Arc<dyn Voice>> = Vec::new();
            for (index, (given, voice)) in cli.voices.iter().zip(loaded).enumerate() {
                aliases.push((given.clone(), index));
                // A file under an old spelling of a catalogue voice (`en-us-lessac-medium.onnx`) is that voice.
                if let Some(key) = piper_catalogue::resolve_loosely(voice.name()).filter(|key| *key != voice.name()) {
                    aliases.push((key.to_string(), index));
                }
                if piper_catalogue::find(voice.name()).is_none() {
                    datasets.extend(voice.config().dataset.clone().map(|dataset| (dataset, index)));
                }
                voices.push(Arc::new(voice));
            }
            library = Some(Arc::new(PiperLibrary { files, env: env.clone(), session: session.clone(), overrides }));
            voices
        }
    };
    info!(
        voices = voices.iter().map(|v| v.name()).collect::<Vec<_>>().join(","),
        elapsed_ms = started.elapsed().as_millis() as u64,
        ?device,
        "voices loaded"
    );
    let program = if engine == EngineKind::Luxtts { "luxtts" } else { "piper" };
    let mut voices = Voices::new(voices, cli.speaker.clone());
    for (alias, index) in aliases {
        voices = voices.with_alias(alias, index);
    }
    for (dataset, index) in datasets {
        voices = voices.with_dataset(dataset, index);
    }
    if let Some(library) = library {
        voices = voices.with_library(library);
    }
    // A --speaker the default voice does not have would fail every request: refuse it at start instead.
    voices.select(None).map_err(|e| anyhow::anyhow!("--speaker: {e}"))?;
    let ctx = Arc::new(Context {
        program,
        voices,
        scheduler: Arc::new(Scheduler::new(cli.max_concurrent, cli::cores(), cli.threads, device == Device::Cpu)),
        samples_per_chunk: cli.samples_per_chunk,
        sentence_silence: cli.sentence_silence,
        streaming: !cli.no_streaming,
        stream_hold: std::time::Duration::from_millis(cli.stream_hold_ms),
        split: SplitConfig { auto_punctuation: cli.auto_punctuation.clone(), ..SplitConfig::default() },
    });
    let uri = cli.server.uri_or(WyomingUri::Tcp { host: "0.0.0.0".into(), port: wyoming_luxtts::cli::DEFAULT_PORT });
    let server =
        Server::bind(&uri, cli.server.server_config()).await.with_context(|| format!("cannot listen on {uri}"))?;
    let _advertisement =
        cli.server.zeroconf_config(program, &server.local_uri()).and_then(|c| advertise_best_effort(&c));
    {
        // Narrow sessions are opened when requests first overlap (see `scheduler`), in the background.
        let (ctx, count) = (ctx.clone(), cli.max_concurrent.min(cli::cores()));
        tokio::spawn(async move {
            ctx.scheduler.wants_narrow().await;
            info!(sessions = count, "requests overlap: opening single-thread sessions so they can run side by side");
            let voices = ctx.voices.all().to_vec();
            let opened = tokio::task::spawn_blocking(move || {
                voices.iter().try_for_each(|voice| voice.prewarm(Width::Narrow, count))
            })
            .await;
            match opened {
                Ok(Ok(())) => ctx.scheduler.narrow_ready(),
                Ok(Err(e)) => warn!(error = %e, "cannot open single-thread sessions; requests keep running in turn"),
                Err(e) => warn!(error = %e, "cannot open single-thread sessions; requests keep running in turn"),
            }
        });
    }
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals().context("cannot install signal handlers")?;
    server.serve(move |conn, shutdown| session::handle(conn, shutdown, ctx.clone()), shutdown).await?;
    Ok(())
}
