//! Endpoints as the Python servers and clients spell them: `tcp://HOST:PORT`, `unix:///path`,
//! `stdio://`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a server listens or a client connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WyomingUri {
    /// `tcp://HOST:PORT`; the port is mandatory, IPv6 hosts are bracketed (`tcp://[::]:10300`).
    Tcp { host: String, port: u16 },
    /// `unix:///path/to/socket`.
    Unix(PathBuf),
    /// `stdio://`: one connection over standard input and output.
    Stdio,
}

/// Why a `--uri` value is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    #[error("unsupported URI \"{0}\": only 'stdio://', 'unix://' or 'tcp://' are supported")]
    UnsupportedScheme(String),
    #[error("\"{0}\": a port must be specified when using a 'tcp://' URI (e.g. tcp://0.0.0.0:10300)")]
    MissingPort(String),
    #[error("\"{0}\": a host must be specified when using a 'tcp://' URI (e.g. tcp://0.0.0.0:10300)")]
    MissingHost(String),
    #[error("\"{uri}\": invalid port \"{port}\" (expected 1-65535, or 0 for any free port)")]
    InvalidPort { uri: String, port: String },
    #[error("\"{0}\": a socket path must be specified when using a 'unix://' URI")]
    MissingPath(String),
}

impl FromStr for WyomingUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("tcp://") {
            let authority = rest.trim_end_matches('/');
            let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
                let (host, after) = bracketed.split_once(']').ok_or_else(|| UriError::MissingHost(s.into()))?;
                (host, after.strip_prefix(':').ok_or_else(|| UriError::MissingPort(s.into()))?)
            } else {
                authority.rsplit_once(':').ok_or_else(|| UriError::MissingPort(s.into()))?
            };
            if host.is_empty() {
                return Err(UriError::MissingHost(s.into()));
            }
            if port.is_empty() {
                return Err(UriError::MissingPort(s.into()));
            }
            let port = port.parse().map_err(|_| UriError::InvalidPort { uri: s.into(), port: port.into() })?;
            Ok(WyomingUri::Tcp { host: host.into(), port })
        } else if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(UriError::MissingPath(s.into()));
            }
            Ok(WyomingUri::Unix(PathBuf::from(path)))
        } else if s == "stdio://" || s == "stdio:" {
            Ok(WyomingUri::Stdio)
        } else {
            Err(UriError::UnsupportedScheme(s.into()))
        }
    }
}

impl fmt::Display for WyomingUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WyomingUri::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            WyomingUri::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            WyomingUri::Unix(path) => write!(f, "unix://{}", path.display()),
            WyomingUri::Stdio => f.write_str("stdio://"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<WyomingUri, UriError> {
        s.parse()
    }

    #[test]
    fn parses_every_scheme() {
        assert_eq!(parse("tcp://0.0.0.0:10300"), Ok(WyomingUri::Tcp { host: "0.0.0.0".into(), port: 10300 }));
        assert_eq!(parse("tcp://localhost:10200/"), Ok(WyomingUri::Tcp { host: "localhost".into(), port: 10200 }));
        assert_eq!(parse("tcp://[::1]:10300"), Ok(WyomingUri::Tcp { host: "::1".into(), port: 10300 }));
        assert_eq!(parse("unix:///run/whisper.sock"), Ok(WyomingUri::Unix("/run/whisper.sock".into())));
        assert_eq!(parse("stdio://"), Ok(WyomingUri::Stdio));
    }

    #[test]
    fn display_round_trips() {
        for s in ["tcp://0.0.0.0:10300", "tcp://[::]:10200", "unix:///tmp/x.sock", "stdio://"] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_uris_with_clear_errors() {
        assert!(matches!(parse("tcp://0.0.0.0"), Err(UriError::MissingPort(_))));
        assert!(matches!(parse("tcp://0.0.0.0:"), Err(UriError::MissingPort(_))));
        assert!(matches!(parse("tcp://:10300"), Err(UriError::MissingHost(_))));
        assert!(matches!(parse("tcp://[::1]"), Err(UriError::MissingPort(_))));
        assert!(matches!(parse("tcp://h:99999"), Err(UriError::InvalidPort { .. })));
        assert!(matches!(parse("tcp://h:abc"), Err(UriError::InvalidPort { .. })));
        assert!(matches!(parse("unix://"), Err(UriError::MissingPath(_))));
        assert!(matches!(parse("http://x:1"), Err(UriError::UnsupportedScheme(_))));
        assert!(matches!(parse("0.0.0.0:10300"), Err(UriError::UnsupportedScheme(_))));
        let msg = parse("tcp://0.0.0.0").unwrap_err().to_string();
        assert!(msg.contains("port must be specified"), "{msg}");
    }
}
