//! The server's channels and users as the client knows them (reference `mumble.md` §2.7–2.8).
//!
//! `ChannelState` and `UserState` are partial updates: the first message for an id carries
//! everything, later ones only what changed. So records are merged field by field, never replaced,
//! or a user's name would vanish on their first channel move.

use super::proto;
use std::collections::BTreeMap;

/// The id of the root channel on every server.
pub const ROOT: u32 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: u32,
    pub parent: Option<u32>,
    pub name: String,
    pub temporary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub session: u32,
    pub name: String,
    pub channel_id: u32,
    /// Set for registered users only.
    pub user_id: Option<u32>,
    pub mute: bool,
    pub deaf: bool,
    pub suppress: bool,
    pub self_mute: bool,
    pub self_deaf: bool,
}

impl User {
    /// Whether the server would drop this user's voice (muted by an admin, suppressed, self-muted).
    pub fn is_silenced(&self) -> bool {
        self.mute || self.suppress || self.self_mute
    }
}

/// What a `UserState` did to the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    Joined,
    Moved { from: u32, to: u32 },
    Updated,
}

/// Why a channel name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(u32),
    NotFound,
    /// Several channels match: `first` (the lowest id, pymumble's `find_by_name` first match) and every
    /// match's path, so the caller can ask for the `Parent/Child` form.
    Ambiguous {
        first: u32,
        paths: Vec<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct ServerState {
    channels: BTreeMap<u32, Channel>,
    users: BTreeMap<u32, User>,
}

impl ServerState {
    pub fn channel(&self, id: u32) -> Option<&Channel> {
        self.channels.get(&id)
    }

    pub fn user(&self, session: u32) -> Option<&User> {
        self.users.get(&session)
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.values()
    }

    /// Merges a `ChannelState`; returns the channel id, or `None` if the message names none.
    pub fn apply_channel(&mut self, msg: &proto::ChannelState) -> Option<u32> {
        let id = msg.channel_id?;
        let channel = self.channels.entry(id).or_insert_with(|| Channel {
            id,
            parent: None,
            name: String::new(),
            temporary: false,
        });
        if let Some(parent) = msg.parent {
            // The root has no parent; a channel claiming itself as parent would loop path walks.
            channel.parent = (parent != id).then_some(parent);
        }
        if let Some(name) = &msg.name {
            channel.name.clone_from(name);
        }
        if let Some(temporary) = msg.temporary {
            channel.temporary = temporary;
        }
        Some(id)
    }

    pub fn remove_channel(&mut self, id: u32) -> Option<Channel> {
        self.channels.remove(&id)
    }

    /// Merges a `UserState`; returns the session and what changed, or `None` without a session.
    pub fn apply_user(&mut self, msg: &proto::UserState) -> Option<(u32, UserChange)> {
        let session = msg.session?;
        let mut change = UserChange::Updated;
        let user = self.users.entry(session).or_insert_with(|| {
            change = UserChange::Joined;
            User { session, ..User::default() }
        });
        if let Some(name) = &msg.name {
            user.name.clone_from(name);
        }
        if let Some(to) = msg.channel_id {
            if change != UserChange::Joined && to != user.channel_id {
                change = UserChange::Moved { from: user.channel_id, to };
            }
            user.channel_id = to;
        }
        if msg.user_id.is_some() {
            user.user_id = msg.user_id;
        }
        for (value, slot) in [
            (msg.mute, &mut user.mute),
            (msg.deaf, &mut user.deaf),
            (msg.suppress, &mut user.suppress),
            (msg.self_mute, &mut user.self_mute),
            (msg.self_deaf, &mut user.self_deaf),
        ] {
            if let Some(value) = value {
                *slot = value;
            }
        }
        Some((session, change))
    }

    pub fn remove_user(&mut self, session: u32) -> Option<User> {
        self.users.remove(&session)
    }

    /// The channel's names from the root down, e.g. `["Root", "Tavern", "Back room"]`.
    pub fn path(&self, id: u32) -> Vec<&str> {
        let mut names = Vec::new();
        let mut next = Some(id);
        // Bounded by the number of channels, so a corrupt parent cycle cannot loop forever.
        while let Some(id) = next.filter(|_| names.len() < self.channels.len()) {
            let Some(channel) = self.channels.get(&id) else { break };
            names.push(channel.name.as_str());
            next = channel.parent;
        }
        names.reverse();
        names
    }

    /// Finds a channel by name (a name may hold `/`: `AC/DC`), else by a `/`-separated path when names repeat
    /// under different parents (`Tavern/Back room`, matched against the end of each channel's path from the
    /// root).
    pub fn find_channel(&self, wanted: &str) -> Lookup {
        let by_name: Vec<u32> =
            self.channels.iter().filter(|(_, c)| c.name == wanted.trim()).map(|(&id, _)| id).collect();
        if !by_name.is_empty() {
            return self.lookup(&by_name);
        }
        let parts: Vec<&str> = wanted.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
        if parts.is_empty() {
            return Lookup::Found(ROOT);
        }
        let matches: Vec<u32> = self.channels.keys().copied().filter(|&id| self.path(id).ends_with(&parts)).collect();
        self.lookup(&matches)
    }

    fn lookup(&self, matches: &[u32]) -> Lookup {
        match matches {
            [] => Lookup::NotFound,
            [id] => Lookup::Found(*id),
            many => Lookup::Ambiguous {
                first: many.iter().copied().min().unwrap_or(ROOT),
                paths: many.iter().map(|&id| self.path(id).join("/")).collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(id: u32, parent: Option<u32>, name: &str) -> proto::ChannelState {
        proto::ChannelState { channel_id: Some(id), parent, name: Some(name.into()), ..Default::default() }
    }

    fn tree() -> ServerState {
        let mut state = ServerState::default();
        state.apply_channel(&channel(0, None, "Root"));
        state.apply_channel(&channel(1, Some(0), "Tavern"));
        state.apply_channel(&channel(2, Some(0), "Cellar"));
        state.apply_channel(&channel(3, Some(1), "Back"));
        state.apply_channel(&channel(4, Some(2), "Back"));
        state
    }

    #[test]
    fn partial_user_updates_keep_the_name() {
        let mut state = tree();
        let joined = proto::UserState {
            session: Some(7),
            name: Some("alice".into()),
            channel_id: Some(0),
            ..Default::default()
        };
        assert_eq!(state.apply_user(&joined), Some((7, UserChange::Joined)));
        let moved = proto::UserState { session: Some(7), actor: Some(7), channel_id: Some(1), ..Default::default() };
        assert_eq!(state.apply_user(&moved), Some((7, UserChange::Moved { from: 0, to: 1 })));
        let muted = proto::UserState { session: Some(7), self_mute: Some(true), ..Default::default() };
        assert_eq!(state.apply_user(&muted), Some((7, UserChange::Updated)));
        let user = state.user(7).unwrap();
        assert_eq!((user.name.as_str(), user.channel_id, user.is_silenced()), ("alice", 1, true));
        assert!(state.remove_user(7).is_some());
        assert!(state.user(7).is_none());
        assert_eq!(state.apply_user(&proto::UserState::default()), None);
    }

    #[test]
    fn channels_by_name_and_path() {
        let state = tree();
        assert_eq!(state.find_channel("Tavern"), Lookup::Found(1));
        assert_eq!(state.find_channel("Root"), Lookup::Found(0));
        assert_eq!(state.find_channel(""), Lookup::Found(0));
        assert_eq!(state.find_channel("Nowhere"), Lookup::NotFound);
        assert_eq!(
            state.find_channel("Back"),
            Lookup::Ambiguous { first: 3, paths: vec!["Root/Tavern/Back".into(), "Root/Cellar/Back".into()] }
        );
        assert_eq!(state.find_channel("Cellar/Back"), Lookup::Found(4));
        assert_eq!(state.find_channel("Root/Tavern/Back"), Lookup::Found(3));
        // A name holding a slash is a name first.
        let mut state = tree();
        state.apply_channel(&channel(5, Some(0), "AC/DC"));
        assert_eq!(state.find_channel("AC/DC"), Lookup::Found(5));
        assert_eq!(state.find_channel("Root/AC/DC"), Lookup::NotFound, "paths split at every slash");
    }

    #[test]
    fn parent_cycles_do_not_hang() {
        let mut state = ServerState::default();
        state.apply_channel(&channel(1, Some(2), "a"));
        state.apply_channel(&channel(2, Some(1), "b"));
        state.apply_channel(&channel(3, Some(3), "self"));
        assert!(state.path(1).len() <= 3);
        assert_eq!(state.path(3), ["self"]);
        assert_eq!(state.find_channel("zzz"), Lookup::NotFound);
    }

    #[test]
    fn channel_updates_merge() {
        let mut state = tree();
        state.apply_channel(&proto::ChannelState {
            channel_id: Some(1),
            name: Some("Inn".into()),
            ..Default::default()
        });
        assert_eq!(state.channel(1).unwrap().parent, Some(0));
        assert_eq!(state.find_channel("Inn/Back"), Lookup::Found(3));
        assert!(state.remove_channel(1).is_some());
        assert_eq!(state.apply_channel(&proto::ChannelState::default()), None);
    }
}
