//! An async Wyoming client with connect and read timeouts.
//!
//! Servers answer before a request is complete (streaming TTS, early STT results), so callers that
//! stream a request should [`Client::into_connection`] and read and write concurrently.

use crate::codec::Limits;
use crate::connection::Connection;
use crate::error::Error;
use crate::event::{Describe, Event, Info};
use crate::transport;
use crate::uri::WyomingUri;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Option<Duration>,
    /// Longest wait for any one event; `None` waits forever.
    pub read_timeout: Option<Duration>,
    pub limits: Limits,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            limits: Limits::default(),
        }
    }
}

pub struct Client {
    conn: Connection,
    read_timeout: Option<Duration>,
}

/// `fut`, failed with [`Error::Timeout`] when it takes longer than `limit` (no limit: `None`).
pub async fn within<T>(
    limit: Option<Duration>,
    what: &'static str,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(after) => tokio::time::timeout(after, fut).await.map_err(|_| Error::Timeout { what, after })?,
        None => fut.await,
    }
}

impl Client {
    pub async fn connect(uri: &WyomingUri, options: ClientOptions) -> Result<Client, Error> {
        let stream = within(options.connect_timeout, "connect", async { Ok(transport::connect(uri).await?) }).await?;
        Ok(Client { conn: Connection::new(stream, options.limits), read_timeout: options.read_timeout })
    }

    pub async fn send(&mut self, event: &Event) -> Result<(), Error> {
        self.conn.write_event(event).await
    }

    /// The next event, or `None` when the server closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Event>, Error> {
        within(self.read_timeout, "reading an event", self.conn.read_event()).await
    }

    /// Reads until an event for which `pick` returns `Some`, skipping all others. An `error` event and
    /// end of stream are failures.
    pub async fn recv_until<T>(
        &mut self,
        expected: &'static str,
        mut pick: impl FnMut(Event) -> Option<T>,
    ) -> Result<T, Error> {
        loop {
            match self.recv().await? {
                None => return Err(Error::Closed { expected }),
                Some(Event::Error(e)) => return Err(Error::Remote { text: e.text, code: e.code }),
                Some(event) => {
                    if let Some(found) = pick(event) {
                        return Ok(found);
                    }
                }
            }
        }
    }

    /// Sends `describe` and returns the server's `info`.
    pub async fn describe(&mut self) -> Result<Info, Error> {
        self.send(&Event::Describe(Describe::default())).await?;
        self.recv_until("info", |e| match e {
            Event::Info(info) => Some(info),
            _ => None,
        })
        .await
    }

    pub fn into_connection(self) -> Connection {
        self.conn
    }
}
