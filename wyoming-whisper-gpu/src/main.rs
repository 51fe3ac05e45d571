//! `wyoming-whisper-gpu`: the speech-to-text server on port 10300.
//!
//! The engine (Whisper through CTranslate2) is not built yet (issue #3). Until then this binary is a
//! well-behaved Wyoming server with nothing installed: `describe` gets an `info` without programs (so Home
//! Assistant offers no entity), and any request gets an `error` event that says so, then the connection
//! closes.

#[cfg(all(feature = "ct2-system", feature = "ct2-bundled"))]
compile_error!("enable exactly one of the features `ct2-system` and `ct2-bundled`, not both");
#[cfg(not(any(feature = "ct2-system", feature = "ct2-bundled")))]
compile_error!("enable one of the features `ct2-system` (default, prebuilt library) or `ct2-bundled`");

mod native;

use anyhow::Context;
use clap::Parser;
use wyoming_proto::cli::{ServerArgs, init_logging};
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Info};
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::zeroconf::advertise_best_effort;

const DEFAULT_PORT: u16 = 10300;

#[derive(Debug, Parser)]
#[command(version, about = "Wyoming speech-to-text server (engine not implemented yet)")]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

async fn handle(mut conn: Connection, shutdown: Shutdown) -> Result<(), wyoming_proto::Error> {
    loop {
        let event = tokio::select! {
            event = conn.read_event() => event?,
            _ = shutdown.triggered() => return Ok(()),
        };
        match event {
            None => return Ok(()),
            Some(Event::Describe(_)) => conn.write_event(&Event::Info(Info::default())).await?,
            Some(Event::Unknown(_) | Event::Ping(_) | Event::SelectProgram(_)) => {}
            Some(other) => {
                return Err(wyoming_proto::Error::request(
                    format!("{}: the speech-to-text engine is not implemented yet", other.event_type()),
                    "NotImplemented",
                ));
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.server.debug, cli.server.log_format);
    match native::cuda_devices() {
        0 => tracing::info!("CTranslate2 sees no CUDA device; the engine will run on the CPU"),
        n => tracing::info!(devices = n, "CTranslate2 sees CUDA devices"),
    }
    let uri = cli.server.uri_or(WyomingUri::Tcp { host: "0.0.0.0".into(), port: DEFAULT_PORT });
    let server =
        Server::bind(&uri, ServerConfig::default()).await.with_context(|| format!("cannot listen on {uri}"))?;
    let _advertisement =
        cli.server.zeroconf_config("faster-whisper", &server.local_uri()).and_then(|c| advertise_best_effort(&c));
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals().context("cannot install signal handlers")?;
    server.serve(handle, shutdown).await?;
    Ok(())
}
