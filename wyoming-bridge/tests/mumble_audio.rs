//! Audio through a real murmurd between our client and pymumble peers: speech in, speech out,
//! two talkers at once, and `stop()`.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wyoming_bridge::mumble::Event;

const SENTENCE: &str = "Hello bridge. This is a test of the Mumble voice peer, with some longer words in it.";

/// Collects each session's PCM until every session in `expect` has ended its spurt: the name, the
/// received (not concealed) samples, and the number of concealment frames. Concealment is left out
/// because pymumble numbers its packets by wall-clock time: when its sender stalls on a loaded
/// machine, the next packet's sequence jumps and we conceal a "loss" that was only a delay, which
/// would shift the rest of the comparison.
async fn collect_voice(
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    expect: usize,
    timeout: Duration,
) -> BTreeMap<u32, (String, Vec<i16>, usize)> {
    let mut got: BTreeMap<u32, (String, Vec<i16>, usize)> = BTreeMap::new();
    let mut ended = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    while ended < expect {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Voice(frame))) => {
                let entry = got.entry(frame.session).or_insert_with(|| (frame.name.clone(), Vec::new(), 0));
                if frame.concealed {
                    entry.2 += 1;
                } else {
                    entry.1.extend_from_slice(&frame.pcm);
                }
            }
            Ok(Some(Event::VoiceEnd { session, .. })) if got.contains_key(&session) => ended += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event stream ended"),
            Err(_) => panic!("only {ended} of {expect} talk spurts ended within {timeout:?}"),
        }
    }
    got
}

#[tokio::test]
async fn pymumble_speech_reaches_us_as_pcm() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let (client, mut events) = our_client(murmur.port, "bot", None);
    let own = connected(&mut events).await;
    let mut talker = Peer::connect(&python, murmur.port, "talker", None).await;
    let sent = speech(SENTENCE, "en");
    let file = murmur.dir.path().join("speech.pcm");
    write_pcm(&file, &sent);
    talker.play(&file).await;
    let got = collect_voice(&mut events, 1, Duration::from_secs(30)).await;
    let (session, (name, received, concealed)) = got.into_iter().next().expect("voice");
    assert_ne!(session, own, "we never hear ourselves");
    assert_eq!((session, name.as_str()), (talker.session, "talker"));
    let (corr, lag) = best_correlation(&sent, &received, 2000);
    eprintln!(
        "pymumble → us: sent {:.2} s, received {:.2} s ({concealed} concealed frames), lag {lag}, correlation {corr:.4}",
        sent.len() as f64 / 48_000.0,
        received.len() as f64 / 48_000.0
    );
    assert!(corr >= 0.95, "correlation {corr:.4} < 0.95");
    assert!(received.len() >= sent.len(), "whole sentence received");
    talker.quit().await;
    client.shutdown().await;
}

#[tokio::test]
async fn our_playback_reaches_pymumble_whole_and_paced() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let mut listener = Peer::connect(&python, murmur.port, "listener", None).await;
    let recording = murmur.dir.path().join("heard.pcm");
    listener.record(&recording).await;
    let (client, mut events) = our_client(murmur.port, "bot", None);
    connected(&mut events).await;
    // A 10 s reply: the sentence repeated.
    let one = speech(SENTENCE, "en");
    let mut sent = Vec::new();
    while sent.len() < 10 * 48_000 {
        sent.extend_from_slice(&one);
    }
    sent.truncate(10 * 48_000);
    let sink = client.audio();
    let start = std::time::Instant::now();
    sink.play(&sent);
    sink.finish();
    sink.wait_idle().await;
    let took = start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    listener.quit().await;
    let (heard, chunks) = read_recording(&recording);
    // finish() came before the last frame left, so that frame carries the terminator bit.
    let frames_sent = sent.len().div_ceil(960);
    let (corr, lag) = best_correlation(&sent, &heard, 2000);
    let gaps = chunks.windows(2).filter(|w| w[1].sequence != w[0].sequence + 2).count();
    eprintln!(
        "us → pymumble: {frames_sent} frames sent in {took:?}, {} chunks heard ({:.2} s), {gaps} sequence gaps, lag {lag}, correlation {corr:.4}",
        chunks.len(),
        heard.len() as f64 / 48_000.0
    );
    assert!(took >= Duration::from_millis(9900), "paced in real time, not burst: {took:?}");
    assert_eq!(chunks.len(), frames_sent, "no frame dropped by the server's bandwidth limiter");
    assert_eq!(gaps, 0);
    assert!(corr >= 0.93, "correlation {corr:.4} < 0.93");
    client.shutdown().await;
}

#[tokio::test]
async fn two_talkers_arrive_as_two_sessions() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let (client, mut events) = our_client(murmur.port, "bot", None);
    connected(&mut events).await;
    let mut alice = Peer::connect(&python, murmur.port, "alice", None).await;
    let mut bob = Peer::connect(&python, murmur.port, "bob", None).await;
    let (a, b) = (
        speech("Alice speaks first and keeps talking for a while.", "en"),
        speech("Bob talks at the same time, in another voice.", "en+m3"),
    );
    let (fa, fb) = (murmur.dir.path().join("a.pcm"), murmur.dir.path().join("b.pcm"));
    write_pcm(&fa, &a);
    write_pcm(&fb, &b);
    alice.send(serde_json::json!({"cmd": "play", "file": fa}));
    bob.send(serde_json::json!({"cmd": "play", "file": fb}));
    let got = collect_voice(&mut events, 2, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 2, "two sessions");
    for (session, (name, pcm, concealed)) in &got {
        let (expected_session, source) = if name == "alice" { (alice.session, &a) } else { (bob.session, &b) };
        assert_eq!(*session, expected_session, "{name}");
        let (corr, lag) = best_correlation(source, pcm, 2000);
        eprintln!(
            "{name} (session {session}): {:.2} s ({concealed} concealed frames), lag {lag}, correlation {corr:.4}",
            pcm.len() as f64 / 48_000.0
        );
        assert!(corr >= 0.95, "{name}: correlation {corr:.4}: the streams were mixed up");
    }
    alice.quit().await;
    bob.quit().await;
    client.shutdown().await;
}

#[tokio::test]
async fn stop_silences_the_bot_within_40_ms() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let mut listener = Peer::connect(&python, murmur.port, "listener", None).await;
    let recording = murmur.dir.path().join("heard.pcm");
    listener.record(&recording).await;
    let (client, mut events) = our_client(murmur.port, "bot", None);
    connected(&mut events).await;
    // A loud tone, so any frame carrying it is unmistakable.
    let tone: Vec<i16> = (0..5 * 48_000).map(|i| ((i as f32 * 0.06).sin() * 12_000.0) as i16).collect();
    let sink = client.audio();
    sink.play(&tone);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    sink.stop();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!sink.is_playing());
    listener.quit().await;
    let (_, chunks) = read_recording(&recording);
    let (pcm, _) = read_recording(&recording);
    // Each chunk's loudness, from the concatenated PCM and the per-chunk sizes.
    let mut offset = 0;
    let mut last_loud = 0f64;
    for chunk in &chunks {
        let samples = &pcm[offset..offset + chunk.bytes / 2];
        offset += chunk.bytes / 2;
        let rms = (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt();
        if rms > 500.0 {
            last_loud = chunk.time;
        }
    }
    let after = last_loud - stopped_at;
    eprintln!("{} chunks heard; the last loud one arrived {:.1} ms after stop()", chunks.len(), after * 1000.0);
    assert!(chunks.len() > 50, "the tone was heard before the stop");
    assert!(after <= 0.040, "audio arrived {:.1} ms after stop()", after * 1000.0);
    client.shutdown().await;
}

/// Our client to our client: the reply's terminator bit ends the listener's spurt at once, not after
/// the 200 ms silence that pymumble (which never sets the bit) needs.
#[tokio::test]
async fn our_terminator_ends_the_spurt_at_once() {
    let _serial = serial().await;
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let (listener, mut heard) = our_client(murmur.port, "ear", None);
    connected(&mut heard).await;
    let (speaker, mut events) = our_client(murmur.port, "mouth", None);
    let mouth = connected(&mut events).await;
    let sent = speech(SENTENCE, "en");
    let sink = speaker.audio();
    sink.play(&sent);
    sink.finish();
    let mut received = Vec::new();
    let mut last_frame = tokio::time::Instant::now();
    let ended_after = loop {
        match next_event(&mut heard, Duration::from_secs(30), |e| matches!(e, Event::Voice(_) | Event::VoiceEnd { .. }))
            .await
        {
            Event::Voice(frame) => {
                assert_eq!((frame.session, frame.name.as_str()), (mouth, "mouth"));
                received.extend_from_slice(&frame.pcm);
                last_frame = tokio::time::Instant::now();
            }
            Event::VoiceEnd { session, .. } => {
                assert_eq!(session, mouth);
                break last_frame.elapsed();
            }
            _ => unreachable!(),
        }
    };
    let (corr, lag) = best_correlation(&sent, &received, 2000);
    eprintln!("us → us: lag {lag}, correlation {corr:.4}, spurt ended {ended_after:?} after the last frame");
    assert!(corr >= 0.93, "correlation {corr:.4}");
    assert!(ended_after < Duration::from_millis(100), "ended by the terminator bit, not by the silence timer");
    listener.shutdown().await;
    speaker.shutdown().await;
}
