//! The public Mumble client: connects, stays connected, and hands out events and an audio sink.
//!
//! [`MumbleClient::start`] spawns one task that connects, runs the connection until it ends, and
//! reconnects with [`Backoff`] (quick while the server is down, never enough accepted connections
//! to trip Murmur's autoban). The [`AudioSink`] and the event stream outlive reconnects, so the
//! layer above never has to re-wire anything.

use super::backoff::{Backoff, Failure};
use super::connection::{self, Command, Plumbing, ServerAddress};
use super::core::{ClientCore, Identity, TextTarget};
use super::event::Event;
use super::tls::{self, TlsError, TlsOptions};
use crate::audio::AudioSink;
use crate::audio::sender::spawn_sender;
use std::time::Instant;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// Events buffered for a slow consumer: about 80 s of one speaker's 20 ms frames.
const EVENT_CAPACITY: usize = 4096;

/// Everything needed to connect.
#[derive(Debug, Clone)]
pub struct MumbleConfig {
    pub host: String,
    pub port: u16,
    pub identity: Identity,
    pub tls: TlsOptions,
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("Opus encoder: {0}")]
    Opus(#[from] opus::Error),
}

/// A running client. Dropping it (or [`shutdown`](Self::shutdown)) disconnects.
pub struct MumbleClient {
    commands: mpsc::Sender<Command>,
    sink: AudioSink,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MumbleClient {
    /// Starts connecting in the background (call inside a tokio runtime). Errors are about the
    /// configuration (a client certificate that cannot be read, say); network trouble is retried
    /// and reported as [`Event::Disconnected`].
    pub fn start(config: MumbleConfig) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        let tls_config = tls::client_config(&config.tls, &config.host, config.port)?;
        let (events_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let (commands, mut commands_rx) = mpsc::channel(64);
        let (voice_link, voice_link_rx) = watch::channel(None);
        let sink = spawn_sender(voice_link_rx)?;
        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let server = ServerAddress { host: config.host.clone(), port: config.port };
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id());
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::new(seed);
            loop {
                let attempt_at = Instant::now();
                info!(%server, user = %config.identity.username, "connecting");
                let plumbing = Plumbing {
                    events: &events_tx,
                    commands: &mut commands_rx,
                    voice_link: &voice_link,
                    shutdown: &mut shutdown_rx,
                };
                let core = ClientCore::new(config.identity.clone());
                let ended = match connection::run(&server, tls_config.clone(), core, plumbing).await {
                    Ok(()) => return,
                    Err(ended) => ended,
                };
                if ended.error.reached_server() {
                    backoff.record_accepted(attempt_at);
                }
                if ended.was_ready {
                    backoff.reset();
                }
                let failure = if ended.error.is_hopeless() {
                    Failure::Hopeless
                } else if ended.error.reached_server() {
                    Failure::Accepted
                } else {
                    Failure::Unreachable
                };
                let delay = backoff.next_delay(Instant::now(), failure);
                let reason = ended.error.to_string();
                if failure == Failure::Hopeless {
                    error!(%server, %reason, retry_in = ?delay, "connection refused for a reason that needs fixing");
                } else {
                    warn!(%server, %reason, retry_in = ?delay, "disconnected");
                }
                let _ = events_tx.try_send(Event::Disconnected { reason, retry_in: delay });
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = shutdown_rx.wait_for(|stop| *stop) => return,
                }
            }
        });
        Ok((Self { commands, sink, shutdown, task }, events))
    }

    /// The sink that plays into our channel (the same one across reconnects).
    pub fn audio(&self) -> AudioSink {
        self.sink.clone()
    }

    /// Sends plain text to our channel (escaped for the server's HTML). Dropped with a warning
    /// while disconnected.
    pub async fn send_text(&self, text: &str) {
        self.send_text_to(TextTarget::CurrentChannel, text).await;
    }

    /// Sends plain text privately to one user.
    pub async fn send_private(&self, session: u32, text: &str) {
        self.send_text_to(TextTarget::User(session), text).await;
    }

    /// Sends plain text to the channel or to one user.
    pub async fn send_text_to(&self, target: TextTarget, text: &str) {
        self.command(Command::Text { target, text: text.to_string() }).await;
    }

    async fn command(&self, command: Command) {
        if self.commands.send(command).await.is_err() {
            warn!("client has stopped; command dropped");
        }
    }

    /// Disconnects cleanly and waits for the client task to end.
    pub async fn shutdown(self) {
        self.sink.stop();
        self.shutdown.send_replace(true);
        let _ = self.task.await;
    }
}
