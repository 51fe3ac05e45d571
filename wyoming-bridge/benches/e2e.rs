//! End-to-end benchmark of the bridge (not a test): twenty turns through a real Murmur, our STT and TTS
//! servers and llama.cpp's server, then five barge-ins. Prints wall-clock TTFA and each stage at p50/p90, the
//! bridge's own overhead (TTFA minus the time spent in the VAD hangover, STT, LLM and TTS), barge-in to silence
//! at the listener, and the bridge's RSS, against the targets.
//!
//! Run with `make bench-e2e` (release builds of all three binaries first, then
//! `cargo bench -p wyoming-bridge --bench e2e`). Needs what the end-to-end tests need (`make setup`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::rig::*;
use std::time::Duration;

const ANSWER: &str = "The capital of France is Paris. It is a beautiful city.";
const QUESTIONS: [&str; 4] = [
    "What is the capital of France?",
    "Can you tell me something about Paris?",
    "Which river flows through the city?",
    "How many people live there today?",
];

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let turns: usize = std::env::var("E2E_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let Some(rig) = Rig::start(false).await else {
        eprintln!("the end-to-end rig is not provisioned (make setup) or the release binaries are not built");
        return;
    };
    let bridge = rig.bridge(&format!("root ::= \"{ANSWER}\"")).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;
    let questions: Vec<_> = QUESTIONS.iter().enumerate().map(|(i, q)| rig.speech_file(q, &format!("q{i}"))).collect();
    for turn in 0..turns {
        let heard = ask(&rig, &mut alice, &recording, bot, &questions[turn % questions.len()]).await;
        eprintln!("turn {}: heard {heard:?}", turn + 1);
    }
    let rss = rss_mib(bridge.child.0.id());
    let log = rig.dir.path().join("latency.jsonl");
    let report = wyoming_bridge::latency::latency_report(&log).expect("latency log");
    let records: Vec<wyoming_bridge::latency::TurnLatency> =
        std::fs::read_to_string(&log).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let metric = |f: fn(&wyoming_bridge::latency::Metrics) -> Option<f64>| -> (f64, f64) {
        let mut v: Vec<f64> = records.iter().filter_map(|r| f(&r.metrics())).collect();
        if v.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        (percentile(&mut v, 0.5), percentile(&mut v, 0.9))
    };
    let ttfa = metric(|m| m.ttfa_ms);
    let overhead = metric(|m| m.bridge_overhead_ms);
    alice.quit().await;
    listener.quit().await;
    drop(bridge);
    drop(rig);

    // Barge-in: the slow model keeps the reply streaming; "Stop!" interrupts it after about a second of speech.
    let Some(rig) = Rig::start(true).await else { return };
    let story = "Let me tell you a very long story about the sea, the wind and the old lighthouse keeper. ".repeat(25);
    let bridge = rig.bridge(&format!("root ::= \"{}\"", story.trim())).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let alice_session = session_of(&mut listener, "Alice").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;
    let (ask_story, stop) = (rig.speech_file("Tell me a story please.", "story"), rig.speech_file("Stop!", "stop"));
    let mut silences = Vec::new();
    for _ in 0..5 {
        let before = audio_of(&recording, bot).1.len();
        alice.play(&ask_story).await;
        while audio_of(&recording, bot).1.len() < before + 50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        alice.play(&stop).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let onset = chunks_of(&recording, alice_session)
            .into_iter()
            .find(|(t, pcm)| *t > start && rms(pcm) > 1000.0)
            .map(|(t, _)| t)
            .expect("the listener heard the interruption");
        let last = chunks_of(&recording, bot)
            .into_iter()
            .filter(|(t, pcm)| *t > onset - 2.0 && *t < onset + 1.0 && rms(pcm) > 50.0)
            .map(|(t, _)| t)
            .fold(onset, f64::max);
        silences.push((last - onset) * 1000.0);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    drop(bridge);

    println!("# End-to-end benchmark ({turns} turns, {} barge-ins, release builds, CPU)\n", silences.len());
    println!("{}", report.table);
    println!("| metric | p50 | p90 | target |");
    println!("|---|---|---|---|");
    println!("| wall-clock TTFA (ms) | {:.0} | {:.0} | |", ttfa.0, ttfa.1);
    println!("| bridge overhead (ms) | {:.1} | {:.1} | p50 ≤ 10 |", overhead.0, overhead.1);
    println!(
        "| barge-in to silence at the listener (ms) | {:.0} | {:.0} | p50 ≤ 200 |",
        percentile(&mut silences.clone(), 0.5),
        percentile(&mut silences, 0.9)
    );
    println!("| bridge RSS after {turns} turns (MiB) | {rss:.1} | | ≤ 60 |");
}
