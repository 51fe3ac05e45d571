//! The channel-wide conversation history (reference `original-bot.md` §8): one journal for the
//! whole channel, not per user, so the bot follows a conversation between several people.
//!
//! Kept from the Python bot: user messages as `"Name: text"`, text chat as `"Name (text): text"`,
//! the bot's own replies as `assistant`; at most 50 entries and 300 s of age; the last 20 messages
//! per request. Changed on purpose (§14 rows 15, 17, 18):
//! - the assistant message is **what was actually spoken**: unpadded, and on barge-in cut to the
//!   part the users heard ([`spoken_text`]), marked with `…`;
//! - **one system message**; the volatile context (time, who is present) is put in front of the
//!   newest user message instead of a second system message, so the stable prefix (system prompt
//!   and older history) stays byte-identical between turns and vLLM's prefix cache covers it;
//! - consecutive messages of the same role are merged (some chat templates require strict
//!   alternation), and the window never starts with an assistant message;
//! - a text message is journaled once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::llm::{ChatMessage, Role};

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Something a user said (transcribed).
    Said {
        name: String,
        text: String,
    },
    /// A text chat message.
    Typed {
        name: String,
        text: String,
    },
    /// What the bot spoke; `interrupted` when a barge-in cut it.
    Bot {
        text: String,
        interrupted: bool,
    },
    Joined {
        name: String,
    },
    Left {
        name: String,
    },
}

/// The journal.
#[derive(Debug, Clone)]
pub struct ChannelHistory {
    entries: VecDeque<(Instant, Entry)>,
    context_messages: usize,
    max_entries: usize,
    max_age: Duration,
}

impl ChannelHistory {
    /// `context_messages`: messages per request (20); `max_entries` (50) and `max_age` (300 s)
    /// bound the journal.
    pub fn new(context_messages: usize, max_entries: usize, max_age: Duration) -> Self {
        Self { entries: VecDeque::new(), context_messages, max_entries: max_entries.max(1), max_age }
    }

    pub fn push(&mut self, entry: Entry, now: Instant) {
        self.prune(now);
        self.entries.push_back((now, entry));
        while self.entries.len() > self.max_entries {
            // Joins and leaves go first: a reconnect announces every user on the server, and that must not
            // push the conversation out of the journal.
            let presence =
                self.entries.iter().position(|(_, e)| matches!(e, Entry::Joined { .. } | Entry::Left { .. }));
            match presence {
                Some(i) => drop(self.entries.remove(i)),
                None => drop(self.entries.pop_front()),
            }
        }
    }

    pub fn push_said(&mut self, name: &str, text: &str, now: Instant) {
        self.push(Entry::Said { name: name.to_owned(), text: text.trim().to_owned() }, now);
    }

    pub fn push_typed(&mut self, name: &str, text: &str, now: Instant) {
        self.push(Entry::Typed { name: name.to_owned(), text: text.trim().to_owned() }, now);
    }

    /// Records a reply. Nothing is recorded when nothing was heard.
    pub fn push_bot(&mut self, spoken: &SpokenText, now: Instant) {
        if !spoken.text.is_empty() {
            self.push(Entry::Bot { text: spoken.text.clone(), interrupted: spoken.interrupted }, now);
        }
    }

    /// Entries still in the journal at `now`, oldest first.
    pub fn entries(&self, now: Instant) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |(at, _)| now.saturating_duration_since(*at) <= self.max_age).map(|(_, e)| e)
    }

    /// Joins and leaves within `within` before `now`, oldest first (for the context line).
    pub fn recent_presence(&self, within: Duration, now: Instant) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= within)
            .filter_map(|(_, e)| match e {
                Entry::Joined { name } => Some(format!("{name} just joined")),
                Entry::Left { name } => Some(format!("{name} just left")),
                _ => None,
            })
            .collect()
    }

    /// The request's messages: the system prompt, then the last `context_messages` conversation
    /// messages (at least the newest, the question itself), with `context` (if any) in front of the newest
    /// user message.
    pub fn messages(&self, system_prompt: &str, context: Option<&str>, now: Instant) -> Vec<ChatMessage> {
        let conversation: Vec<ChatMessage> = self
            .entries(now)
            .filter_map(|entry| match entry {
                Entry::Said { name, text } => Some(ChatMessage::user(format!("{name}: {text}"))),
                Entry::Typed { name, text } => Some(ChatMessage::user(format!("{name} (text): {text}"))),
                Entry::Bot { text, interrupted } => {
                    Some(ChatMessage::assistant(if *interrupted { format!("{text}…") } else { text.clone() }))
                }
                Entry::Joined { .. } | Entry::Left { .. } => None,
            })
            .collect();
        let start = conversation.len().saturating_sub(self.context_messages.max(1));
        let mut window = &conversation[start..];
        while window.first().is_some_and(|m| m.role == Role::Assistant) {
            window = &window[1..];
        }
        let mut out = vec![ChatMessage::system(system_prompt)];
        for message in window {
            match out.last_mut() {
                Some(last) if last.role == message.role && last.role != Role::System => {
                    last.content.push('\n');
                    last.content.push_str(&message.content);
                }
                _ => out.push(message.clone()),
            }
        }
        if let Some(context) = context.filter(|c| !c.trim().is_empty())
            && let Some(last_user) = out.iter_mut().rev().find(|m| m.role == Role::User)
        {
            last_user.content = format!("({})\n{}", context.trim(), last_user.content);
        }
        out
    }

    fn prune(&mut self, now: Instant) {
        while self.entries.front().is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.max_age) {
            self.entries.pop_front();
        }
    }
}

/// The context line of the Python bot (HEAD and 417b0c0 combined): time of day, who is in the
/// channel, recent joins and leaves. `clock` comes from [`describe_time`].
pub fn context_line(clock: &str, users: &[String], recent: &[String]) -> String {
    let mut line = format!("Current time: {clock}.");
    if users.is_empty() {
        line.push_str(" | Channel: You're alone in the channel.");
    } else {
        line.push_str(&format!(" | Channel: Users in channel: {}.", users.join(", ")));
    }
    if !recent.is_empty() {
        line.push_str(&format!(" | Recent: {}", recent.join(", ")));
    }
    line
}

/// `It's evening, Tuesday at 8:15 PM` (05–11 morning, 12–16 afternoon, 17–20 evening, else night).
/// Minute precision only, so the context changes at most once a minute.
pub fn describe_time(weekday: &str, hour: u32, minute: u32) -> String {
    let part = match hour {
        5..=11 => "morning",
        12..=16 => "afternoon",
        17..=20 => "evening",
        _ => "night",
    };
    let (h12, suffix) = match hour % 24 {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!("It's {part}, {weekday} at {h12}:{minute:02} {suffix}")
}

/// What was actually heard of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpokenText {
    pub text: String,
    /// A barge-in cut it.
    pub interrupted: bool,
}

/// One phrase of a reply and how much of its audio was played.
#[derive(Debug, Clone, PartialEq)]
pub struct PhrasePlayback {
    pub text: String,
    /// Fraction of the phrase's audio that was played, 0.0–1.0 (1.0 when it finished).
    pub played: f32,
}

/// The part of a reply that was spoken, for history and the echo filter. Phrases are taken in
/// order; the first one not played to the end is cut in proportion to the audio played (speech
/// rate is roughly even over characters), at the last whole word; later phrases were not heard.
pub fn spoken_text(phrases: &[PhrasePlayback]) -> SpokenText {
    let mut words: Vec<&str> = Vec::new();
    for phrase in phrases {
        if phrase.played >= 1.0 {
            words.extend(phrase.text.split_whitespace());
            continue;
        }
        let played = phrase.played.max(0.0);
        let chars = phrase.text.chars().count();
        let heard_chars = (chars as f32 * played).floor() as usize;
        // A word counts when its last character was played.
        for (start, word) in word_spans(&phrase.text) {
            if start + word.chars().count() > heard_chars {
                break;
            }
            words.push(word);
        }
        let text = words.join(" ");
        let text = text.trim_end_matches([',', ';', ':', ' ']).to_owned();
        return SpokenText { text, interrupted: true };
    }
    SpokenText { text: words.join(" "), interrupted: false }
}

/// Words with their starting character index.
fn word_spans(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut chars_before = 0;
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        chars_before += rest[..start].chars().count();
        rest = &rest[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push((chars_before, &rest[..end]));
        chars_before += rest[..end].chars().count();
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests;
