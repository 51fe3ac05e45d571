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
mod engine;
mod info;
mod mel;
mod model;
mod session;
mod tokens;
mod worker;

use anyhow::Context as _;
use std::sync::Arc;
use tracing::{info, warn};
use wyoming_proto::cli::init_logging;
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::zeroconf::advertise_best_effort;

/// Silero VAD for the early final, or `None` (with the reason logged) when it is off or unavailable: the
/// server works without it, only later.
fn early_final(
    cli: &cli::Cli,
    data_dirs: &[std::path::PathBuf],
) -> Option<(Arc<wyoming_proto::vad::silero::SileroModel>, wyoming_proto::vad::EndpointConfig)> {
    if cli.early_final_ms == 0 {
        return None;
    }
    let model =
        cli.silero_model.clone().or_else(|| data_dirs.iter().map(|d| d.join("silero_vad.onnx")).find(|p| p.is_file()));
    let (Some(model), Some(library)) = (model, cli.onnxruntime.as_ref()) else {
        warn!(
            "early final off: it needs --silero-model (or silero_vad.onnx in a data dir) and --onnxruntime (or ORT_DYLIB_PATH)"
        );
        return None;
    };
    match wyoming_proto::vad::silero::SileroModel::open(library, &model) {
        Ok(vad) => {
            info!(silence_ms = cli.early_final_ms, model = %model.display(), "early final on");
            let config = wyoming_proto::vad::EndpointConfig { silence_ms: cli.early_final_ms, ..Default::default() };
            Some((Arc::new(vad), config))
        }
        Err(e) => {
            warn!(error = %e, "early final off");
            None
        }
    }
}

fn main() -> anyhow::Result<()> {
    // Parsed before any thread starts: the environment is read here and nowhere else.
    let cli = cli::Cli::parse_with_env()?;
    init_logging(cli.server.debug, cli.server.log_format);
    for flag in cli.unimplemented_flags() {
        warn!(flag, "accepted for compatibility with wyoming-faster-whisper, but not implemented; ignoring it");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let spec = model::parse_model(&cli.model);
    let data_dirs =
        if cli.data_dirs.is_empty() { vec![std::path::PathBuf::from("data")] } else { cli.data_dirs.clone() };
    let dir = model::locate(&spec, &data_dirs, cli.local_files_only)?;
    let (device, device_index) = device::choose(&cli.device)?;
    let compute_type = device::compute_type(&cli.compute_type)?;
    let config = engine::EngineConfig {
        device,
        device_index,
        compute_type,
        cpu_threads: cli.cpu_threads,
        beam_size: cli.beam_size.max(1),
        task: cli.whisper_task,
    };
    info!(model = %dir.display(), ?device, compute_type = %cli.compute_type, beam_size = config.beam_size, "loading model");
    let started = std::time::Instant::now();
    let loaded = tokio::task::spawn_blocking(move || engine::Engine::load(&dir, config)).await??;
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        multilingual = loaded.vocabulary().is_multilingual(),
        "model loaded"
    );
    let info = info::build_info(&spec.advertised, loaded.vocabulary().languages());
    let transcriber = worker::Transcriber::spawn(loaded, cli.max_batch).context("cannot start the worker thread")?;
    let ctx = Arc::new(session::Context {
        info,
        transcriber,
        default_language: cli.language.clone().filter(|l| l != "auto"),
        max_utterance_samples: cli.max_utterance_seconds as usize * 16_000,
        early_final: early_final(&cli, &data_dirs),
    });

    let uri = cli.server.uri_or(WyomingUri::Tcp { host: "0.0.0.0".into(), port: cli::DEFAULT_PORT });
    let server =
        Server::bind(&uri, ServerConfig::default()).await.with_context(|| format!("cannot listen on {uri}"))?;
    let _advertisement =
        cli.server.zeroconf_config(info::PROGRAM_NAME, &server.local_uri()).and_then(|c| advertise_best_effort(&c));
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals().context("cannot install signal handlers")?;
    server.serve(move |conn, shutdown| session::handle(conn, shutdown, ctx.clone()), shutdown).await?;
    Ok(())
}
