//! `mumble-echo`: plays back what it hears after a delay.
//!
//! The quickest way for a user to check a server: if you hear yourself a second later, the
//! connection, the permissions, the codec and the pacing all work. Frames are replayed with the
//! timing they arrived with (each one `delay` after it was heard), and each talk spurt's end is
//! replayed too, so the echo ends with a terminator like real speech.

use crate::mumble::{Event, MumbleClient};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::info;

/// Runs until the client's event stream ends.
pub async fn run(client: &MumbleClient, mut events: mpsc::Receiver<Event>, delay: Duration) {
    let sink = client.audio();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Option<Vec<i16>>)>();
    let player = tokio::spawn(async move {
        while let Some((at, pcm)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            match pcm {
                Some(pcm) => sink.play(&pcm),
                None => sink.finish(),
            }
        }
    });
    while let Some(event) = events.recv().await {
        match event {
            Event::Voice(frame) => {
                let _ = tx.send((Instant::now() + delay, Some(frame.pcm)));
            }
            Event::VoiceEnd { name, .. } => {
                info!(%name, "echoing a talk spurt");
                let _ = tx.send((Instant::now() + delay, None));
            }
            Event::Connected(c) => info!(session = c.session, welcome = %c.welcome_text, "connected; echoing"),
            Event::Text(t) => info!(from = ?t.sender, text = %t.text, "text message"),
            Event::UserJoined { name, .. } => info!(%name, "user joined"),
            Event::UserLeft { name, .. } => info!(%name, "user left"),
            Event::Disconnected { reason, retry_in } => info!(%reason, ?retry_in, "disconnected; reconnecting"),
            Event::UserMoved { .. } => {}
        }
    }
    drop(tx);
    let _ = player.await;
}
