//! `wyoming-luxtts`: the text-to-speech server on port 10200.
//!
//! The engine (LuxTTS and Piper through ONNX Runtime) is not built yet (issue #4). Until then this binary is a
//! well-behaved Wyoming server with nothing installed: `describe` gets an `info` without programs (so Home
//! Assistant offers no entity), and any request gets an `error` event that says so, then the connection
//! closes.

mod native;

use anyhow::Context;
use clap::Parser;
use wyoming_proto::cli::ServerArgs;
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Info};
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::uri::WyomingUri;
use wyoming_proto::zeroconf::advertise_best_effort;

const DEFAULT_PORT: u16 = 10200;

#[derive(Debug, Parser)]
#[command(version, about = "Wyoming text-to-speech server (engine not implemented yet)")]
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
                    format!("{}: the text-to-speech engine is not implemented yet", other.event_type()),
                    "NotImplemented",
                ));
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.server.init_logging();
    // Fail at start, not at the first request, when ONNX Runtime is missing.
    let _onnx = native::init_from_env()?;
    let uri = cli.server.uri_or(WyomingUri::Tcp { host: "0.0.0.0".into(), port: DEFAULT_PORT });
    let server =
        Server::bind(&uri, ServerConfig::default()).await.with_context(|| format!("cannot listen on {uri}"))?;
    let _advertisement =
        cli.server.zeroconf_config("piper", &server.local_uri()).and_then(|c| advertise_best_effort(&c));
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals().context("cannot install signal handlers")?;
    server.serve(handle, shutdown).await?;
    Ok(())
}
