//! What every server binary shares on its command line: `--uri`, `--zeroconf [NAME]`, `--debug`,
//! `--log-format`, `--max-connections`, `--max-payload-bytes`, and the logging they configure. Behind the `cli`
//! feature so the protocol library itself needs neither clap nor a subscriber.

use crate::codec::Limits;
use crate::server::ServerConfig;
use crate::uri::WyomingUri;
use clap::Args;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Flags common to the Wyoming servers, with the Python servers' names and meanings.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Where to listen: tcp://HOST:PORT, unix:///path or stdio:// (each server has its default port)
    #[arg(long)]
    pub uri: Option<WyomingUri>,
    /// Advertise the server over mDNS as NAME._wyoming._tcp.local. (needs a tcp:// URI)
    #[arg(long, num_args = 0..=1, value_name = "NAME")]
    pub zeroconf: Option<Option<String>>,
    /// Log debug messages
    #[arg(long)]
    pub debug: bool,
    /// Log format: text or json. A Python logging format string (what the Python servers take) is
    /// accepted and means text.
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Connections served at once; a new one then takes the slot of a connection idle for 30 s or more, or
    /// is told the server is busy
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Largest payload of one event, in bytes: a whole recording sent as one audio-chunk must fit. The
    /// Python servers have no limit; the default is 10 s of 48 kHz stereo 32-bit audio
    #[arg(long, default_value_t = Limits::DEFAULT_MAX_PAYLOAD, value_parser = payload_bytes)]
    pub max_payload_bytes: usize,
}

/// At least 1 KiB (an audio-chunk of 10 ms at 16 kHz is 320 bytes), at most 2 GiB.
fn payload_bytes(value: &str) -> Result<usize, String> {
    let bytes: usize = value.parse().map_err(|e| format!("{e}"))?;
    if !(1024..=1 << 31).contains(&bytes) { Err("must be between 1024 and 2147483648".into()) } else { Ok(bytes) }
}

/// Installs the global subscriber: `info` (or `debug` with `--debug`), overridable with `RUST_LOG`.
/// Logs go to stderr so that `stdio://` keeps stdout for the protocol.
pub fn init_logging(debug: bool, format: LogFormat) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs a server's `main` on a two-thread runtime, then stops without waiting more than 2 s for blocking work
/// (a blocking stdin read for `stdio://`, a synthesis or decode still running after the grace period).
pub fn run_server<T>(main: impl std::future::Future<Output = T>) -> std::io::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(main);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(result)
}

impl ServerArgs {
    /// Installs logging as `--debug` and `--log-format` ask.
    pub fn init_logging(&self) {
        let format = match self.log_format.as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        };
        init_logging(self.debug, format);
        if !matches!(self.log_format.as_str(), "text" | "json") {
            tracing::warn!(
                log_format = %self.log_format,
                "--log-format takes text or json; a Python logging format string is accepted but ignored"
            );
        }
    }

    /// The connection cap and frame limits the flags ask for.
    pub fn server_config(&self) -> ServerConfig {
        let limits = Limits { max_payload: self.max_payload_bytes, ..Limits::default() };
        ServerConfig { max_connections: self.max_connections as usize, limits, ..ServerConfig::default() }
    }

    /// `--uri`, or the server's default.
    pub fn uri_or(&self, default: WyomingUri) -> WyomingUri {
        self.uri.clone().unwrap_or(default)
    }

    /// The mDNS advertisement `--zeroconf` asks for, named `default_name` when given bare. `None` when
    /// not asked for, or (with a warning) when the URI is not `tcp://`.
    pub fn zeroconf_config(&self, default_name: &str, bound: &WyomingUri) -> Option<crate::zeroconf::ZeroconfConfig> {
        let name = self.zeroconf.as_ref()?.clone().unwrap_or_else(|| default_name.to_string());
        match bound {
            WyomingUri::Tcp { host, port } => Some(crate::zeroconf::ZeroconfConfig::new(name, host.clone(), *port)),
            other => {
                tracing::warn!(uri = %other, "--zeroconf needs a tcp:// URI; not advertising");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn connection_cap_and_payload_limit_come_from_the_flags() {
        let defaults = Cli::try_parse_from(["server"]).unwrap().server.server_config();
        assert_eq!(defaults.max_connections, ServerConfig::default().max_connections);
        assert_eq!(defaults.limits, Limits::default());
        let cli = Cli::try_parse_from(["server", "--max-connections", "4", "--max-payload-bytes", "20000000"]).unwrap();
        let config = cli.server.server_config();
        assert_eq!((config.max_connections, config.limits.max_payload), (4, 20_000_000));
        assert_eq!(config.limits.max_header, Limits::DEFAULT_MAX_HEADER);
        for bad in [["--max-connections", "0"], ["--max-payload-bytes", "10"], ["--max-payload-bytes", "lots"]] {
            assert!(Cli::try_parse_from(["server", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
