//! `wyoming-bridge`: wiring only; see the library's `lib.rs` for the layout.

use anyhow::Context;
use clap::Parser;
use std::time::Duration;
use wyoming_bridge::cli::{self, Cli, Command};
use wyoming_bridge::mumble::MumbleClient;

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
    let Some(Command::MumbleEcho(echo)) = &cli.command else {
        anyhow::bail!(
            "the voice pipeline is not implemented yet (issue #6); `wyoming-bridge mumble-echo` tests a server"
        );
    };
    let file = cli::load_config(&cli.config)?;
    let config = cli::mumble_config(&cli.mumble, cli::mumble_section(&cli.config, file.as_ref())?)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let (client, events) = MumbleClient::start(config)?;
        tokio::select! {
            () = wyoming_bridge::echo::run(&client, events, Duration::from_millis(echo.delay_ms)) => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; disconnecting"),
        }
        client.shutdown().await;
        Ok(())
    })
}
