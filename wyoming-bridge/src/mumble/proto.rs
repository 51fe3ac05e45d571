//! The `MumbleProto` messages the bridge sends or reads, written by hand with `prost` derives.
//!
//! Hand-written rather than generated from `Mumble.proto` so the build needs neither `protoc` nor a
//! build script; field numbers and types follow `Mumble.proto` (proto2, so optional scalars are
//! `Option`s) as listed in reference `mumble.md` §2.3. Fields the bridge never reads are left
//! out: prost skips unknown tags, so leaving them out loses nothing.

/// Reject reasons (`Reject.type`) that retrying will not fix.
pub mod reject {
    pub const WRONG_VERSION: i32 = 1;
    pub const INVALID_USERNAME: i32 = 2;
    pub const WRONG_USER_PW: i32 = 3;
    pub const WRONG_SERVER_PW: i32 = 4;
    pub const USERNAME_IN_USE: i32 = 5;
    pub const SERVER_FULL: i32 = 6;
    pub const NO_CERTIFICATE: i32 = 7;

    /// A readable name for the log.
    pub fn name(kind: i32) -> &'static str {
        match kind {
            WRONG_VERSION => "WrongVersion",
            INVALID_USERNAME => "InvalidUsername",
            WRONG_USER_PW => "WrongUserPW",
            WRONG_SERVER_PW => "WrongServerPW",
            USERNAME_IN_USE => "UsernameInUse",
            SERVER_FULL => "ServerFull",
            NO_CERTIFICATE => "NoCertificate",
            8 => "AuthenticatorFail",
            _ => "None",
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Version {
    #[prost(uint32, optional, tag = "1")]
    pub version_v1: Option<u32>,
    #[prost(string, optional, tag = "2")]
    pub release: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub os: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub os_version: Option<String>,
    #[prost(uint64, optional, tag = "5")]
    pub version_v2: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Authenticate {
    #[prost(string, optional, tag = "1")]
    pub username: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub password: Option<String>,
    #[prost(string, repeated, tag = "3")]
    pub tokens: Vec<String>,
    #[prost(int32, repeated, packed = "false", tag = "4")]
    pub celt_versions: Vec<i32>,
    #[prost(bool, optional, tag = "5")]
    pub opus: Option<bool>,
    #[prost(int32, optional, tag = "6")]
    pub client_type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Reject {
    #[prost(int32, optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub reason: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerSync {
    #[prost(uint32, optional, tag = "1")]
    pub session: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub max_bandwidth: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub welcome_text: Option<String>,
    #[prost(uint64, optional, tag = "4")]
    pub permissions: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelRemove {
    #[prost(uint32, required, tag = "1")]
    pub channel_id: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelState {
    #[prost(uint32, optional, tag = "1")]
    pub channel_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub parent: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(bool, optional, tag = "8")]
    pub temporary: Option<bool>,
    #[prost(int32, optional, tag = "9")]
    pub position: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserRemove {
    #[prost(uint32, required, tag = "1")]
    pub session: u32,
    #[prost(uint32, optional, tag = "2")]
    pub actor: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub reason: Option<String>,
    #[prost(bool, optional, tag = "4")]
    pub ban: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserState {
    #[prost(uint32, optional, tag = "1")]
    pub session: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub actor: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(uint32, optional, tag = "4")]
    pub user_id: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub channel_id: Option<u32>,
    #[prost(bool, optional, tag = "6")]
    pub mute: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub deaf: Option<bool>,
    #[prost(bool, optional, tag = "8")]
    pub suppress: Option<bool>,
    #[prost(bool, optional, tag = "9")]
    pub self_mute: Option<bool>,
    #[prost(bool, optional, tag = "10")]
    pub self_deaf: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TextMessage {
    #[prost(uint32, optional, tag = "1")]
    pub actor: Option<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub session: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub channel_id: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "4")]
    pub tree_id: Vec<u32>,
    #[prost(string, required, tag = "5")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PermissionDenied {
    #[prost(uint32, optional, tag = "1")]
    pub permission: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub channel_id: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub session: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub reason: Option<String>,
    #[prost(int32, optional, tag = "5")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CodecVersion {
    #[prost(int32, required, tag = "1")]
    pub alpha: i32,
    #[prost(int32, required, tag = "2")]
    pub beta: i32,
    #[prost(bool, required, tag = "3")]
    pub prefer_alpha: bool,
    #[prost(bool, optional, tag = "4")]
    pub opus: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerConfig {
    #[prost(uint32, optional, tag = "1")]
    pub max_bandwidth: Option<u32>,
    #[prost(string, optional, tag = "2")]
    pub welcome_text: Option<String>,
    #[prost(bool, optional, tag = "3")]
    pub allow_html: Option<bool>,
    #[prost(uint32, optional, tag = "4")]
    pub message_length: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub image_message_length: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub max_users: Option<u32>,
}
