//! The sans-IO Mumble client: control frames in, frames to send and events out.
//!
//! No socket and no clock inside (the caller passes ping timestamps), so the handshake, state
//! merging, channel joining and every bad-input path are tested with plain frames. Bad input from
//! the server (a malformed message, an unknown type, a broken voice packet) is logged and skipped:
//! only a `Reject` or being removed ends the connection from here.

use super::control::{Frame, MessageType};
use super::event::{Connected, Event, TextMessage};
use super::proto::{self, reject};
use super::state::{Lookup, ServerState, UserChange};
use super::text::{escape_html, html_to_text};
use super::voice::{self, Direction, OpusPacket, VoicePacket};
use bytes::Bytes;
use prost::Message;
use thiserror::Error;
use tracing::{debug, info, trace, warn};

/// `version_v1` for 1.4.0: servers 1.3 to 1.5 then all use the legacy voice format with us (§4).
pub const CLIENT_VERSION_V1: u32 = 0x0001_0400;

/// Who we are to the server.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub username: String,
    pub password: Option<String>,
    /// Access tokens (channel ACL passwords).
    pub tokens: Vec<String>,
    /// Channel name or `Parent/Child` path to join after connecting; `None` stays where the server puts us.
    pub channel: Option<String>,
}

/// Why the server ended this connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    #[error("server rejected us: {} ({reason})", reject::name(*kind))]
    Rejected { kind: i32, reason: String },
    #[error("removed from the server by {actor:?}: {reason}")]
    Removed { actor: Option<u32>, reason: String },
}

impl CoreError {
    /// Whether reconnecting soon can help. Wrong passwords, bad names and a missing certificate
    /// will not fix themselves; a name in use usually means our old session has not timed out yet
    /// (≤ 30 s), which a long back-off covers too.
    pub fn is_hopeless(&self) -> bool {
        match self {
            CoreError::Rejected { kind, .. } => matches!(
                *kind,
                reject::WRONG_VERSION
                    | reject::INVALID_USERNAME
                    | reject::WRONG_USER_PW
                    | reject::WRONG_SERVER_PW
                    | reject::USERNAME_IN_USE
                    | reject::NO_CERTIFICATE
            ),
            CoreError::Removed { .. } => true,
        }
    }
}

/// One Opus frame from another user, still encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceIn {
    pub session: u32,
    pub sequence: u64,
    pub terminator: bool,
    pub opus: Bytes,
}

/// What the connection has to do after a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send(Frame),
    Event(Event),
    Voice(VoiceIn),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Join {
    /// Nothing to do (no wish, done, or given up with a warning).
    Idle,
    /// The channel does not exist yet: move when it appears.
    Waiting,
    /// Asked the server to move us there.
    Requested(u32),
}

/// Where a text message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTarget {
    /// The channel we are in.
    CurrentChannel,
    /// One user, privately.
    User(u32),
}

#[derive(Debug)]
pub struct ClientCore {
    identity: Identity,
    release: String,
    state: ServerState,
    own_session: Option<u32>,
    max_bandwidth: Option<u32>,
    message_length: Option<u32>,
    join: Join,
}

impl ClientCore {
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            release: format!("wyoming-bridge {}", env!("CARGO_PKG_VERSION")),
            state: ServerState::default(),
            own_session: None,
            max_bandwidth: None,
            message_length: None,
            join: Join::Idle,
        }
    }

    /// `Version` then `Authenticate`: sent right after the TLS handshake, without waiting.
    pub fn hello(&self) -> [Frame; 2] {
        let version = proto::Version {
            version_v1: Some(CLIENT_VERSION_V1),
            release: Some(self.release.clone()),
            os: Some(std::env::consts::OS.to_string()),
            os_version: None,
            version_v2: None,
        };
        let auth = proto::Authenticate {
            username: Some(self.identity.username.clone()),
            password: self.identity.password.clone(),
            tokens: self.identity.tokens.clone(),
            celt_versions: Vec::new(),
            opus: Some(true),
            // 1 marks a bot on 1.5 servers; older servers ignore it.
            client_type: Some(1),
        };
        [
            Frame::new(MessageType::Version, version.encode_to_vec()),
            Frame::new(MessageType::Authenticate, auth.encode_to_vec()),
        ]
    }

    /// A keep-alive; the server echoes the timestamp, whose meaning is ours (ms since connect).
    pub fn ping(timestamp_ms: u64) -> Frame {
        Frame::new(MessageType::Ping, proto::Ping { timestamp: Some(timestamp_ms) }.encode_to_vec())
    }

    /// A voice frame for the tunnel (`UDPTunnel` carries the raw legacy packet, not protobuf).
    pub fn voice_frame(opus: &[u8], sequence: u64, terminator: bool) -> Result<Frame, voice::VoiceError> {
        let mut packet = Vec::with_capacity(opus.len() + 8);
        let voice = OpusPacket { target: voice::TARGET_NORMAL, session: None, sequence, terminator, opus };
        voice::encode(&voice, Direction::ClientToServer, &mut packet)?;
        Ok(Frame::new(MessageType::UdpTunnel, packet))
    }

    /// A text message, or `None` before the handshake completed (we have no channel yet).
    pub fn text_message(&self, target: TextTarget, text: &str) -> Option<Frame> {
        let own = self.own_session?;
        let mut message = escape_html(text);
        if let Some(limit) = self.message_length.filter(|&l| l > 0).map(|l| l as usize)
            && message.len() > limit
        {
            warn!(len = message.len(), limit, "text message longer than the server allows; truncating");
            let mut cut = limit;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let mut msg = proto::TextMessage { message, ..Default::default() };
        match target {
            TextTarget::CurrentChannel => msg.channel_id.push(self.state.user(own).map_or(0, |u| u.channel_id)),
            TextTarget::User(session) => msg.session.push(session),
        }
        Some(Frame::new(MessageType::TextMessage, msg.encode_to_vec()))
    }

    pub fn is_ready(&self) -> bool {
        self.own_session.is_some()
    }

    pub fn own_session(&self) -> Option<u32> {
        self.own_session
    }

    pub fn max_bandwidth(&self) -> Option<u32> {
        self.max_bandwidth
    }

    pub fn state(&self) -> &ServerState {
        &self.state
    }

    /// The channel we are in, once connected.
    pub fn current_channel(&self) -> Option<u32> {
        self.own_session.and_then(|s| self.state.user(s)).map(|u| u.channel_id)
    }

    /// Handles one frame from the server, appending what to do to `out`.
    pub fn handle(&mut self, frame: &Frame, out: &mut Vec<Output>) -> Result<(), CoreError> {
        let Some(kind) = MessageType::from_id(frame.kind) else {
            debug!(kind = frame.kind, len = frame.payload.len(), "skipping a message type we do not use");
            return Ok(());
        };
        let payload = &frame.payload;
        macro_rules! decode {
            ($ty:ty) => {
                match <$ty>::decode(payload.as_ref()) {
                    Ok(msg) => msg,
                    Err(error) => {
                        warn!(?kind, len = payload.len(), %error, "ignoring a malformed message from the server");
                        return Ok(());
                    }
                }
            };
        }
        match kind {
            MessageType::UdpTunnel => self.on_voice(payload, out),
            MessageType::Version => {
                let v = decode!(proto::Version);
                let n = v.version_v1.unwrap_or(0);
                info!(
                    version = format!("{}.{}.{}", n >> 16, (n >> 8) & 0xFF, n & 0xFF),
                    release = v.release.as_deref().unwrap_or(""),
                    "server version"
                );
            }
            MessageType::Reject => {
                let r = decode!(proto::Reject);
                return Err(CoreError::Rejected { kind: r.r#type.unwrap_or(0), reason: r.reason.unwrap_or_default() });
            }
            MessageType::ServerSync => {
                let sync = decode!(proto::ServerSync);
                self.on_server_sync(sync, out);
            }
            MessageType::ChannelState => {
                let msg = decode!(proto::ChannelState);
                if self.state.apply_channel(&msg).is_some() && self.join == Join::Waiting {
                    self.try_join(out);
                }
            }
            MessageType::ChannelRemove => {
                let msg = decode!(proto::ChannelRemove);
                self.state.remove_channel(msg.channel_id);
            }
            MessageType::UserState => {
                let msg = decode!(proto::UserState);
                self.on_user_state(&msg, out);
            }
            MessageType::UserRemove => {
                let msg = decode!(proto::UserRemove);
                if Some(msg.session) == self.own_session {
                    return Err(CoreError::Removed { actor: msg.actor, reason: msg.reason.unwrap_or_default() });
                }
                if let Some(user) = self.state.remove_user(msg.session) {
                    out.push(Output::Event(Event::UserLeft { session: user.session, name: user.name }));
                }
            }
            MessageType::TextMessage => {
                let msg = decode!(proto::TextMessage);
                let own = self.own_session;
                out.push(Output::Event(Event::Text(TextMessage {
                    actor: msg.actor,
                    sender: msg.actor.and_then(|a| self.state.user(a)).map(|u| u.name.clone()),
                    text: html_to_text(&msg.message),
                    private: own.is_some_and(|s| msg.session.contains(&s)),
                })));
            }
            MessageType::PermissionDenied => {
                let msg = decode!(proto::PermissionDenied);
                warn!(
                    r#type = msg.r#type.unwrap_or(0),
                    permission = msg.permission,
                    channel = msg.channel_id,
                    reason = msg.reason.as_deref().unwrap_or(""),
                    "permission denied by the server"
                );
                if let Join::Requested(id) = self.join {
                    warn!(channel = %self.state.path(id).join("/"), "could not join the channel; staying where we are");
                    self.join = Join::Idle;
                }
            }
            MessageType::CodecVersion => {
                let msg = decode!(proto::CodecVersion);
                if msg.opus != Some(true) {
                    warn!("the server does not announce Opus; voice may not be relayed (set opusthreshold=0)");
                }
            }
            MessageType::ServerConfig => {
                let msg = decode!(proto::ServerConfig);
                self.message_length = msg.message_length.or(self.message_length);
                if msg.max_bandwidth.is_some() {
                    self.max_bandwidth = msg.max_bandwidth;
                }
            }
            MessageType::Ping => {
                let ping = decode!(proto::Ping);
                trace!(timestamp = ping.timestamp, "ping answered");
            }
            MessageType::Authenticate | MessageType::CryptSetup | MessageType::PermissionQuery => {}
        }
        Ok(())
    }

    fn on_voice(&self, payload: &Bytes, out: &mut Vec<Output>) {
        match voice::decode(payload, Direction::ServerToClient) {
            Ok(VoicePacket::Opus(packet)) => {
                let session = packet.session.unwrap_or(0);
                if Some(session) == self.own_session {
                    trace!("ignoring our own voice");
                    return;
                }
                out.push(Output::Voice(VoiceIn {
                    session,
                    sequence: packet.sequence,
                    terminator: packet.terminator,
                    opus: payload.slice_ref(packet.opus),
                }));
            }
            Ok(VoicePacket::Ping) => {}
            Ok(VoicePacket::Unsupported { kind }) => debug!(kind, "skipping a voice packet in an old codec"),
            Err(error) => warn!(%error, len = payload.len(), "dropping a broken voice packet"),
        }
    }

    fn on_server_sync(&mut self, sync: proto::ServerSync, out: &mut Vec<Output>) {
        let Some(session) = sync.session else {
            warn!("ServerSync without our session id; ignoring it");
            return;
        };
        self.own_session = Some(session);
        if sync.max_bandwidth.is_some() {
            self.max_bandwidth = sync.max_bandwidth;
        }
        let channel_id = self.current_channel().unwrap_or(0);
        info!(session, max_bandwidth = self.max_bandwidth, "connected");
        out.push(Output::Event(Event::Connected(Connected {
            session,
            channel_id,
            max_bandwidth: self.max_bandwidth,
            welcome_text: html_to_text(sync.welcome_text.as_deref().unwrap_or("")),
        })));
        for user in self.state.users().filter(|u| u.session != session) {
            out.push(Output::Event(Event::UserJoined {
                session: user.session,
                name: user.name.clone(),
                channel_id: user.channel_id,
                present_at_connect: true,
            }));
        }
        if self.identity.channel.is_some() {
            self.try_join(out);
        }
    }

    fn try_join(&mut self, out: &mut Vec<Output>) {
        let (Some(own), Some(wanted)) = (self.own_session, self.identity.channel.as_deref()) else {
            return;
        };
        match self.state.find_channel(wanted) {
            Lookup::Found(id) if self.current_channel() == Some(id) => {
                info!(channel = wanted, "already in the channel");
                self.join = Join::Idle;
            }
            Lookup::Found(id) => {
                let msg = proto::UserState { session: Some(own), channel_id: Some(id), ..Default::default() };
                out.push(Output::Send(Frame::new(MessageType::UserState, msg.encode_to_vec())));
                self.join = Join::Requested(id);
            }
            Lookup::NotFound => {
                if self.join != Join::Waiting {
                    warn!(channel = wanted, "channel does not exist; staying here and joining when it appears");
                }
                self.join = Join::Waiting;
            }
            Lookup::Ambiguous { first, paths } => {
                // The Python bot joined the first match; so do we, but say which, and how to choose.
                warn!(
                    channel = wanted,
                    ?paths,
                    joining = %paths.first().map_or("", String::as_str),
                    "channel name is ambiguous; joining the first (give its path, Parent/Child, to choose)"
                );
                if self.current_channel() == Some(first) {
                    self.join = Join::Idle;
                } else {
                    let msg = proto::UserState { session: Some(own), channel_id: Some(first), ..Default::default() };
                    out.push(Output::Send(Frame::new(MessageType::UserState, msg.encode_to_vec())));
                    self.join = Join::Requested(first);
                }
            }
        }
    }

    fn on_user_state(&mut self, msg: &proto::UserState, out: &mut Vec<Output>) {
        let Some((session, change)) = self.state.apply_user(msg) else {
            warn!("UserState without a session; ignoring it");
            return;
        };
        let Some(user) = self.state.user(session) else { return };
        let is_self = Some(session) == self.own_session;
        match change {
            // Before ServerSync we cannot tell which user is us: those are announced with `Connected`.
            _ if self.own_session.is_none() => {}
            UserChange::Joined if !is_self => {
                out.push(Output::Event(Event::UserJoined {
                    session,
                    name: user.name.clone(),
                    channel_id: user.channel_id,
                    present_at_connect: false,
                }));
            }
            UserChange::Moved { from, to } => {
                out.push(Output::Event(Event::UserMoved { session, name: user.name.clone(), from, to }));
            }
            _ => {}
        }
        if is_self {
            if let Join::Requested(id) = self.join
                && user.channel_id == id
            {
                info!(channel = %self.state.path(id).join("/"), "joined the channel");
                self.join = Join::Idle;
            }
            if user.is_silenced() {
                warn!(
                    mute = user.mute,
                    suppress = user.suppress,
                    self_mute = user.self_mute,
                    "we are muted here; the server will drop our voice"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
