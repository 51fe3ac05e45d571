//! What the Mumble client tells the layer above (the voice pipeline), in arrival order.

/// One event from the client. Voice and control events share one stream so their order is kept:
/// a user's last voice frame comes before the news that they left.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The handshake completed (`ServerSync`); sent again after every reconnect.
    Connected(Connected),
    /// The connection ended, or an attempt failed; the client tries again after `retry_in`.
    Disconnected {
        reason: String,
        retry_in: std::time::Duration,
    },
    /// A user is on the server (also sent for everyone present when we connect).
    UserJoined {
        session: u32,
        name: String,
        channel_id: u32,
        /// Announced with `Connected`: already on the server, not just arrived.
        present_at_connect: bool,
    },
    /// A user moved to another channel (us included, once the server confirms a join).
    UserMoved {
        session: u32,
        name: String,
        from: u32,
        to: u32,
    },
    UserLeft {
        session: u32,
        name: String,
    },
    Text(TextMessage),
    /// Decoded speech from one user: 48 kHz mono, usually 20 ms.
    Voice(VoiceFrame),
    /// The user's talk spurt ended: terminator bit, or no packet for a while (pymumble never sets
    /// the bit, and push-to-talk clients just stop sending).
    VoiceEnd {
        session: u32,
        name: String,
    },
}

impl Event {
    /// The variant's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Connected(_) => "connected",
            Event::Disconnected { .. } => "disconnected",
            Event::UserJoined { .. } => "user-joined",
            Event::UserMoved { .. } => "user-moved",
            Event::UserLeft { .. } => "user-left",
            Event::Text(_) => "text",
            Event::Voice(_) => "voice",
            Event::VoiceEnd { .. } => "voice-end",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// Our own session id on the server.
    pub session: u32,
    pub channel_id: u32,
    /// The server's per-user voice limit in bit/s, if it sent one.
    pub max_bandwidth: Option<u32>,
    pub welcome_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage {
    /// The sender's session (absent for messages from the server itself).
    pub actor: Option<u32>,
    pub sender: Option<String>,
    /// Plain text: HTML tags and images removed, entities decoded.
    pub text: String,
    /// Sent to us alone rather than to a channel.
    pub private: bool,
}

/// Decoded PCM from one speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceFrame {
    pub session: u32,
    pub name: String,
    /// 48 kHz mono samples.
    pub pcm: Vec<i16>,
    /// Made up by Opus packet-loss concealment for a missing packet, not received.
    pub concealed: bool,
}

/// Mumble's sample rate; everything the client hands out or takes is at this rate, mono.
pub const SAMPLE_RATE: u32 = 48_000;
