//! A Wyoming server for tests: parses every event into its typed form and writes it back, over any
//! transport (`--uri tcp://…`, `unix://…`, `stdio://`). Bad input gets an `error` event, as from the real
//! servers.

use wyoming_proto::connection::Connection;
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;

async fn typed_echo(mut conn: Connection, shutdown: Shutdown) -> Result<(), wyoming_proto::Error> {
    loop {
        let event = tokio::select! {
            event = conn.read_event() => event?,
            _ = shutdown.triggered() => return Ok(()),
        };
        let Some(event) = event else { return Ok(()) };
        conn.write_event(&event).await?;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let uri = match (args.next().as_deref(), args.next()) {
        (Some("--uri"), Some(uri)) => uri.parse()?,
        _ => anyhow::bail!("usage: wyoming-echo --uri URI"),
    };
    let server = Server::bind(&uri, ServerConfig::default()).await?;
    // The bound address on stderr, so tests can use port 0.
    eprintln!("listening on {}", server.local_uri());
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals()?;
    server.serve(typed_echo, shutdown).await?;
    Ok(())
}
