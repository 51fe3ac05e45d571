//! `wyoming-whisper-gpu`: the Wyoming speech-to-text server on port 10300, a drop-in for
//! `wyoming-faster-whisper`.
//!
//! Wiring only: parse flags, find and load the model (before the port opens), start the worker, serve.

#[cfg(all(feature = "ct2-system", feature = "ct2-bundled"))]
compile_error!("enable exactly one of the features `ct2-system` and `ct2-bundled`, not both");
#[cfg(not(any(feature = "ct2-system", feature = "ct2-bundled")))]
compile_error!("enable one of the features `ct2-system` (default, prebuilt library) or `ct2-bundled`");

mod cli;
mod device;
mod download;
mod engine;
mod info;
mod mel;
mod model;
mod partial;
mod session;
mod tokens;
mod worker;

use anyhow::Context as _;
use std::sync::Arc;
use tracing::{info, warn};
use wyoming_proto::server::Server;
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::vad::EndpointConfig;
use wyoming_proto::vad::silero::SileroModel;
use wyoming_proto::zeroconf::advertise_best_effort;

/// Silero VAD, when the early final or `--vad-endpointing` needs it. Without it the early final is off
/// (with the reason logged: the server works, only later); `--vad-endpointing` without it is an error.
fn silero(
    cli: &cli::Cli,
    data_dirs: &[std::path::PathBuf],
    endpointing: bool,
) -> anyhow::Result<Option<Arc<SileroModel>>> {
    if cli.early_final_ms == Some(0) && !endpointing {
        return Ok(None);
    }
    let model =
        cli.silero_model.clone().or_else(|| data_dirs.iter().map(|d| d.join("silero_vad.onnx")).find(|p| p.is_file()));
    // Computed natively from the model's weights: ONNX Runtime would cost this server about 40 MiB.
    let opened = match model {
        Some(model) => SileroModel::load(&model).map_err(anyhow::Error::from),
        None => Err(anyhow::anyhow!("Silero VAD needs --silero-model (or silero_vad.onnx in a data dir)")),
    };
    match opened {
        Ok(vad) => Ok(Some(Arc::new(vad))),
        Err(e) if endpointing => Err(e.context("--vad-endpointing")),
        Err(e) => {
            warn!("early final off: {e:#}");
            Ok(None)
        }
    }
}

fn main() -> anyhow::Result<()> {
    // Before any thread starts. With an arena per thread (tokio workers, the inference worker, CTranslate2's
    // OpenMP threads) RSS after a request was 79 or 96 MiB from run to run; with one it is 74 MiB every
    // time, and decode times did not change measurably.
    wyoming_proto::heap::one_malloc_arena();
    // Parsed before any thread starts: the environment is read here and nowhere else.
    let cli = cli::Cli::parse_with_env()?;
    if cli.check_config {
        // Parsing and validation only: no logging set-up, no model, no network, no port.
        println!("{}", cli.check()?);
        return Ok(());
    }
    cli.server.init_logging();
    for flag in cli.unimplemented_flags() {
        warn!(flag, "accepted for compatibility with wyoming-faster-whisper, but not implemented; ignoring it");
    }
    wyoming_proto::cli::run_server(run(cli))?
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let spec = model::parse_model(&cli.model);
    let data_dirs =
        if cli.data_dirs.is_empty() { vec![std::path::PathBuf::from("data")] } else { cli.data_dirs.clone() };
    let download_dir = cli.download_dir.clone().unwrap_or_else(|| data_dirs[0].clone());
    let mut searched = data_dirs.clone();
    if !searched.contains(&download_dir) {
        searched.push(download_dir.clone());
    }
    let dir = match model::locate(&spec, &searched, cli.local_files_only) {
        Ok(dir) => dir,
        Err(model::ModelError::Missing { repo, .. }) => {
            let hub = download::Hub::from_env();
            tokio::task::spawn_blocking(move || hub.download(&repo, &download_dir)).await??
        }
        Err(e) => return Err(e.into()),
    };
    let (device, device_index) = device::choose(&cli.device)?;
    let compute_type = device::compute_type(&cli.compute_type)?;
    let config = engine::EngineConfig {
        device,
        device_index,
        compute_type,
        cpu_threads: cli.cpu_threads,
        beam_size: cli.beam(),
        task: cli.whisper_task,
        initial_prompt: cli.initial_prompt.clone().filter(|p| !p.trim().is_empty()),
    };
    info!(model = %dir.display(), ?device, compute_type = %cli.compute_type, beam_size = config.beam_size, "loading model");
    let started = std::time::Instant::now();
    let loaded = tokio::task::spawn_blocking(move || engine::Engine::load(&dir, config)).await??;
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        multilingual = loaded.vocabulary().is_multilingual(),
        "model loaded"
    );
    let endpointing = cli.endpointing_config()?;
    let vad = silero(&cli, &data_dirs, endpointing.is_some())?;
    let early_final_ms = cli.early_final_ms(device == ct2rs::sys::Device::CUDA);
    let early_final = (early_final_ms > 0 && vad.is_some())
        .then(|| EndpointConfig { silence_ms: early_final_ms, ..Default::default() });
    if let Some(config) = &early_final {
        info!(silence_ms = config.silence_ms, "early final on");
    }
    let info = info::build_info(
        &spec.advertised,
        loaded.vocabulary().languages(),
        endpointing.is_none(),
        cli.partial_transcripts,
    );
    let transcriber = worker::Transcriber::spawn(loaded, cli.max_batch).context("cannot start the worker thread")?;
    let ctx = Arc::new(session::Context {
        info,
        transcriber,
        default_language: cli.language.clone().filter(|l| l != "auto" && !l.is_empty()),
        max_utterance_samples: cli.max_utterance_seconds as usize * 16_000,
        vad,
        early_final,
        endpointing,
        partial_interval: cli.partial_transcripts.then_some(cli.partial_interval_ms as usize * 16),
    });

    let uri = cli.server.uri_or(WyomingUri::Tcp { host: "0.0.0.0".into(), port: cli::DEFAULT_PORT });
    let server =
        Server::bind(&uri, cli.server.server_config()).await.with_context(|| format!("cannot listen on {uri}"))?;
    let _advertisement =
        cli.server.zeroconf_config(info::PROGRAM_NAME, &server.local_uri()).and_then(|c| advertise_best_effort(&c));
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals().context("cannot install signal handlers")?;
    server.serve(move |conn, shutdown| session::handle(conn, shutdown, ctx.clone()), shutdown).await?;
    Ok(())
}
