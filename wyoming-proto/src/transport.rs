//! Byte streams for a [`WyomingUri`]: listening and connecting over TCP, Unix sockets and stdio.
//!
//! Streams are handed on as boxed read and write halves so that everything above this module is the
//! same for every transport.

use crate::uri::WyomingUri;
use std::io;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// One accepted or connected byte stream.
pub struct Stream {
    pub read: BoxRead,
    pub write: BoxWrite,
    /// The peer, for logs.
    pub peer: String,
}

impl Stream {
    fn tcp(stream: TcpStream) -> Stream {
        // Audio chunks are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| "tcp".into());
        let (read, write) = stream.into_split();
        Stream { read: Box::new(read), write: Box::new(write), peer }
    }

    fn unix(stream: UnixStream, path: &std::path::Path) -> Stream {
        let (read, write) = stream.into_split();
        Stream { read: Box::new(read), write: Box::new(write), peer: format!("unix:{}", path.display()) }
    }

    fn stdio() -> Stream {
        Stream { read: Box::new(tokio::io::stdin()), write: Box::new(tokio::io::stdout()), peer: "stdio".into() }
    }
}

/// A bound endpoint that yields incoming streams.
pub enum Listener {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        path: PathBuf,
    },
    /// stdio serves exactly one connection.
    Stdio {
        served: bool,
    },
}

impl Listener {
    /// Binds the endpoint. A stale Unix socket file is replaced, as Python's asyncio does.
    pub async fn bind(uri: &WyomingUri) -> io::Result<Listener> {
        match uri {
            WyomingUri::Tcp { host, port } => Ok(Listener::Tcp(TcpListener::bind((host.as_str(), *port)).await?)),
            WyomingUri::Unix(path) => {
                use std::os::unix::fs::FileTypeExt;
                if let Ok(meta) = std::fs::symlink_metadata(path)
                    && meta.file_type().is_socket()
                {
                    std::fs::remove_file(path)?;
                }
                Ok(Listener::Unix { listener: UnixListener::bind(path)?, path: path.clone() })
            }
            WyomingUri::Stdio => Ok(Listener::Stdio { served: false }),
        }
    }

    /// The next incoming stream; `None` when this listener will never yield another (stdio).
    pub async fn accept(&mut self) -> io::Result<Option<Stream>> {
        match self {
            Listener::Tcp(listener) => Ok(Some(Stream::tcp(listener.accept().await?.0))),
            Listener::Unix { listener, path } => Ok(Some(Stream::unix(listener.accept().await?.0, path))),
            Listener::Stdio { served } => {
                if std::mem::replace(served, true) {
                    Ok(None)
                } else {
                    Ok(Some(Stream::stdio()))
                }
            }
        }
    }

    /// The endpoint actually bound (the real port when 0 was asked for).
    pub fn local_uri(&self) -> WyomingUri {
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => WyomingUri::Tcp { host: addr.ip().to_string(), port: addr.port() },
                Err(_) => WyomingUri::Tcp { host: "0.0.0.0".into(), port: 0 },
            },
            Listener::Unix { path, .. } => WyomingUri::Unix(path.clone()),
            Listener::Stdio { .. } => WyomingUri::Stdio,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connects to the endpoint. `stdio://` uses this process's own stdin and stdout.
pub async fn connect(uri: &WyomingUri) -> io::Result<Stream> {
    match uri {
        WyomingUri::Tcp { host, port } => Ok(Stream::tcp(TcpStream::connect((host.as_str(), *port)).await?)),
        WyomingUri::Unix(path) => Ok(Stream::unix(UnixStream::connect(path).await?, path)),
        WyomingUri::Stdio => Ok(Stream::stdio()),
    }
}
