//! One connection to a Mumble server: TCP, TLS, and the loop that drives [`ClientCore`].
//!
//! The thin I/O layer: it reads bytes into the [`FrameDecoder`], hands frames to the core, writes
//! what the core asks for, decodes voice with the [`VoiceReceiver`], pings every 5 s, and declares
//! the connection dead after 30 s without a byte from the server. Writing happens in its own task
//! so a slow socket never delays reading (and with it, pings and voice).

use super::control::{Frame, FrameDecoder, FrameError};
use super::core::{ClientCore, CoreError, Output, TextTarget};
use super::event::{Event, VoiceFrame};
use super::tls::{TrustFailure, trust_failure};
use crate::audio::receiver::VoiceReceiver;
use crate::audio::sender::VoiceLink;
use std::sync::Arc;
use std::time::Duration;
// Tokio's clock, so tests can run the ping and dead-link timers on paused time.
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use tracing::{debug, warn};

/// The server drops clients silent for 30 s; the desktop client pings every 5 s.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Nothing at all from the server (it answers every ping) for this long: the link is dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Murmur finishes the handshake within milliseconds; a server that does not is broken.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often silent speakers are checked for the end of their talk spurt.
const SPURT_CHECK: Duration = Duration::from_millis(20);

/// A request from the client handle.
#[derive(Debug)]
pub(crate) enum Command {
    Text { target: TextTarget, text: String },
}

#[derive(Debug, Error)]
pub enum ConnectionError {
    #[error("cannot reach {server}: {source}")]
    Unreachable { server: String, source: std::io::Error },
    #[error("TLS handshake with {server} failed: {source}")]
    Tls { server: String, source: std::io::Error },
    #[error("{0}")]
    Trust(String),
    #[error("{0}")]
    Timeout(&'static str),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("cannot frame the server's data: {0}")]
    Frame(#[from] FrameError),
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server closed the connection{}", if *.during_handshake { " during the handshake" } else { "" })]
    Closed { during_handshake: bool },
}

impl ConnectionError {
    /// Whether the server ever saw this attempt (for the autoban count).
    pub fn reached_server(&self) -> bool {
        !matches!(self, ConnectionError::Unreachable { .. })
    }

    /// Whether retrying soon is pointless.
    pub fn is_hopeless(&self) -> bool {
        match self {
            ConnectionError::Core(e) => e.is_hopeless(),
            ConnectionError::Trust(_) => true,
            _ => false,
        }
    }
}

/// Where to connect.
#[derive(Debug, Clone)]
pub struct ServerAddress {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What one connection borrows from the client for its lifetime.
pub(crate) struct Plumbing<'a> {
    pub events: &'a mpsc::Sender<Event>,
    pub commands: &'a mut mpsc::Receiver<Command>,
    pub voice_link: &'a watch::Sender<Option<VoiceLink>>,
    pub shutdown: &'a mut watch::Receiver<bool>,
}

/// How a connection ended (apart from a requested shutdown, which is `Ok`).
pub(crate) struct Ended {
    /// The handshake completed before the end.
    pub was_ready: bool,
    pub error: ConnectionError,
}

fn emit(events: &mpsc::Sender<Event>, event: Event) {
    match events.try_send(event) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(event)) => {
            warn!(event = event.kind(), "event consumer is behind; event dropped");
        }
        // Nobody listens (for example a sink-only user): that is fine.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Connects, runs the session until it ends, and reports how. `Ok` means a requested shutdown.
pub(crate) async fn run(
    server: &ServerAddress,
    tls: Arc<ClientConfig>,
    mut core: ClientCore,
    plumbing: Plumbing<'_>,
) -> Result<(), Ended> {
    let result =
        drive(server, tls, &mut core, plumbing.events, plumbing.commands, plumbing.voice_link, plumbing.shutdown).await;
    plumbing.voice_link.send_replace(None);
    result.map_err(|error| Ended { was_ready: core.is_ready(), error })
}

async fn drive(
    server: &ServerAddress,
    tls: Arc<ClientConfig>,
    core: &mut ClientCore,
    events: &mpsc::Sender<Event>,
    commands: &mut mpsc::Receiver<Command>,
    voice_link: &watch::Sender<Option<VoiceLink>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let name = server.to_string();
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((server.host.as_str(), server.port)))
        .await
        .map_err(|_| ConnectionError::Unreachable {
            server: name.clone(),
            source: std::io::ErrorKind::TimedOut.into(),
        })?
        .map_err(|source| ConnectionError::Unreachable { server: name.clone(), source })?;
    tcp.set_nodelay(true)?;
    let server_name = ServerName::try_from(server.host.clone())
        .map_err(|e| ConnectionError::Tls { server: name.clone(), source: std::io::Error::other(e) })?;
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsConnector::from(tls).connect(server_name, tcp))
        .await
        .map_err(|_| ConnectionError::Timeout("TLS handshake timed out"))?
        .map_err(|source| match trust_failure(&source) {
            Some(
                failure @ (TrustFailure::Changed { .. } | TrustFailure::NotPinned { .. } | TrustFailure::Store { .. }),
            ) => ConnectionError::Trust(failure.to_string()),
            None => ConnectionError::Tls { server: name.clone(), source },
        })?;
    let (mut reader, mut writer) = tokio::io::split(stream);

    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(256);
    let mut writer_task = tokio::spawn(async move {
        while let Some(frame) = out_rx.recv().await {
            writer.write_all(&frame.to_bytes()).await?;
            if out_rx.is_empty() {
                writer.flush().await?;
            }
        }
        let _ = writer.shutdown().await;
        Ok::<(), std::io::Error>(())
    });
    // Dropping the sender at the end stops the writer, which closes the TLS session.
    let result =
        session_loop(core, &mut reader, &out_tx, &mut writer_task, events, commands, voice_link, shutdown).await;
    drop(out_tx);
    voice_link.send_replace(None);
    if result.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut writer_task).await;
    } else {
        writer_task.abort();
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn session_loop<R: tokio::io::AsyncRead + Unpin>(
    core: &mut ClientCore,
    reader: &mut R,
    out: &mpsc::Sender<Frame>,
    writer_task: &mut tokio::task::JoinHandle<std::io::Result<()>>,
    events: &mpsc::Sender<Event>,
    commands: &mut mpsc::Receiver<Command>,
    voice_link: &watch::Sender<Option<VoiceLink>>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ConnectionError> {
    let send = |frame: Frame| async move {
        out.send(frame).await.map_err(|_| ConnectionError::Io(std::io::ErrorKind::BrokenPipe.into()))
    };
    for frame in core.hello() {
        send(frame).await?;
    }
    let started = Instant::now();
    let mut last_heard = started;
    let mut decoder = FrameDecoder::new();
    let mut receiver = VoiceReceiver::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut outputs = Vec::new();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut spurt_check = tokio::time::interval(SPURT_CHECK);
    spurt_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let handshake_deadline = tokio::time::sleep(HANDSHAKE_TIMEOUT);
    tokio::pin!(handshake_deadline);

    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ok(());
                }
            }
            read = reader.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Err(ConnectionError::Closed { during_handshake: !core.is_ready() });
                }
                let now = Instant::now();
                last_heard = now;
                decoder.push(&buf[..n]);
                while let Some(frame) = decoder.next_frame()? {
                    outputs.clear();
                    core.handle(&frame, &mut outputs)?;
                    for output in outputs.drain(..) {
                        match output {
                            Output::Send(frame) => send(frame).await?,
                            Output::Event(event) => {
                                match &event {
                                    Event::Connected(connected) => {
                                        receiver.clear();
                                        voice_link.send_replace(Some(VoiceLink {
                                            frames: out.clone(),
                                            max_bandwidth: connected.max_bandwidth,
                                        }));
                                    }
                                    Event::UserLeft { session, .. } => receiver.forget(*session),
                                    _ => {}
                                }
                                emit(events, event);
                            }
                            Output::Voice(voice) => {
                                let name = || core.state().user(voice.session).map(|u| u.name.clone()).unwrap_or_default();
                                match receiver.on_packet(now.into_std(), &voice) {
                                    Ok(received) => {
                                        for (pcm, concealed) in received.frames {
                                            emit(events, Event::Voice(VoiceFrame { session: voice.session, name: name(), pcm, concealed }));
                                        }
                                        if received.ended {
                                            emit(events, Event::VoiceEnd { session: voice.session, name: name() });
                                        }
                                    }
                                    Err(error) => warn!(session = voice.session, %error, "dropping an undecodable voice packet"),
                                }
                            }
                        }
                    }
                }
            }
            _ = spurt_check.tick() => {
                for session in receiver.expire(Instant::now().into_std()) {
                    let name = core.state().user(session).map(|u| u.name.clone()).unwrap_or_default();
                    emit(events, Event::VoiceEnd { session, name });
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > DEAD_AFTER {
                    return Err(ConnectionError::Timeout("nothing from the server for 30 s"));
                }
                if core.is_ready() {
                    send(ClientCore::ping(started.elapsed().as_millis() as u64)).await?;
                }
            }
            () = &mut handshake_deadline, if !core.is_ready() => {
                return Err(ConnectionError::Timeout("the server did not finish the handshake within 15 s"));
            }
            command = commands.recv() => match command {
                Some(Command::Text { target, text }) => match core.text_message(target, &text) {
                    Some(frame) => send(frame).await?,
                    None => warn!("not connected yet; text message dropped"),
                },
                // Every handle is gone: nobody can use the connection any more.
                None => return Ok(()),
            },
            finished = &mut *writer_task => {
                let error = match finished {
                    Ok(Err(error)) => error,
                    _ => std::io::ErrorKind::BrokenPipe.into(),
                };
                debug!(%error, "writer ended");
                return Err(ConnectionError::Io(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mumble::control::MessageType;
    use crate::mumble::core::Identity;
    use crate::mumble::proto;
    use prost::Message;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn pings_every_5_s_and_gives_up_after_30_s_of_silence() {
        let (mut server, client_side) = tokio::io::duplex(64 * 1024);
        let (mut reader, _unused_write_half) = tokio::io::split(client_side);
        let (out_tx, mut out_rx) = mpsc::channel(256);
        let mut writer_task = tokio::spawn(std::future::pending::<std::io::Result<()>>());
        let (events_tx, mut events_rx) = mpsc::channel(64);
        let (_commands_tx, mut commands_rx) = mpsc::channel(4);
        let (voice_link, voice_link_rx) = watch::channel(None);
        let (_shutdown_tx, mut shutdown_rx) = watch::channel(false);
        let mut core = ClientCore::new(Identity { username: "bot".into(), ..Default::default() });
        let sync = proto::ServerSync { session: Some(1), max_bandwidth: Some(72_000), ..Default::default() };
        server.write_all(&Frame::new(MessageType::ServerSync, sync.encode_to_vec()).to_bytes()).await.unwrap();

        let started = Instant::now();
        let result = session_loop(
            &mut core,
            &mut reader,
            &out_tx,
            &mut writer_task,
            &events_tx,
            &mut commands_rx,
            &voice_link,
            &mut shutdown_rx,
        )
        .await;
        let lasted = started.elapsed();
        assert!(matches!(result, Err(ConnectionError::Timeout(_))), "{result:?}");
        assert!(lasted > DEAD_AFTER && lasted <= DEAD_AFTER + PING_INTERVAL, "{lasted:?}");
        assert!(matches!(events_rx.try_recv(), Ok(Event::Connected(_))));
        assert!(voice_link_rx.borrow().is_some(), "the sender was given the connection");
        let mut kinds = Vec::new();
        while let Ok(frame) = out_rx.try_recv() {
            kinds.push(frame.kind);
        }
        assert_eq!(kinds[..2], [MessageType::Version as u16, MessageType::Authenticate as u16]);
        let pings = kinds.iter().filter(|&&k| k == MessageType::Ping as u16).count();
        assert!((6..=8).contains(&pings), "one ping per 5 s: {kinds:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_fails_the_handshake_after_15_s() {
        let (_server, client_side) = tokio::io::duplex(1024);
        let (mut reader, _w) = tokio::io::split(client_side);
        let (out_tx, _out_rx) = mpsc::channel(16);
        let mut writer_task = tokio::spawn(std::future::pending::<std::io::Result<()>>());
        let (events_tx, _events_rx) = mpsc::channel(4);
        let (_commands_tx, mut commands_rx) = mpsc::channel(4);
        let (voice_link, _voice_link_rx) = watch::channel(None);
        let (_shutdown_tx, mut shutdown_rx) = watch::channel(false);
        let mut core = ClientCore::new(Identity::default());
        let started = Instant::now();
        let result = session_loop(
            &mut core,
            &mut reader,
            &out_tx,
            &mut writer_task,
            &events_tx,
            &mut commands_rx,
            &voice_link,
            &mut shutdown_rx,
        )
        .await;
        assert!(matches!(result, Err(ConnectionError::Timeout(_))), "{result:?}");
        assert_eq!(started.elapsed(), HANDSHAKE_TIMEOUT);
    }
}
