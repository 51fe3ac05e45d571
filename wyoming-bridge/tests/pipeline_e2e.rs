//! The whole bot with real processes on 127.0.0.1: Murmur, pymumble talkers and a listener, our STT server
//! (Whisper tiny.en), our TTS server (the joe Piper voice), llama.cpp's server (xllamacpp) with a tiny
//! generated GGUF model whose output is forced by a grammar passed through `llm.extra_body`, and the
//! `wyoming-bridge` binary.

mod common;

use common::rig::*;
use common::*;
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use wyoming_tests::normalize_words;
const ANSWER: &str = "The capital of France is Paris. It is a beautiful city.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoken_question_gets_a_spoken_answer_and_two_users_share_the_history() {
    let _serial = serial().await;
    let Some(rig) = Rig::start(false).await else { return };
    let bridge = rig.bridge(&format!("root ::= \"{ANSWER}\"")).await;
    let mut alice = rig.peer("Alice").await;
    let mut carol = rig.peer("Carol").await;
    let mut listener = rig.peer("Bob").await;
    let bot_session = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;

    let question = rig.speech_file("What is the capital of France?", "q1");
    alice.play(&question).await;
    wait_for_reply(&recording, bot_session, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let (reply, _) = audio_of(&recording, bot_session);
    let heard = rig.transcribe(&reply).await;
    eprintln!("the listener heard {heard:?}");
    assert!(words_match(ANSWER, &heard) <= 0.2, "expected {ANSWER:?}, heard {heard:?}");

    // A second user; the history holds both.
    let question = rig.speech_file("And what about the weather today?", "q2");
    carol.play(&question).await;
    let before = audio_of(&recording, bot_session).1.len();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot_session).1.len() == before {
        assert!(std::time::Instant::now() < deadline, "no second reply:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_reply(&recording, bot_session, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let log = bridge.log();
    let request = log.lines().rfind(|l| l.contains("LLM request")).expect("a logged LLM request");
    assert!(request.contains("Alice: ") && request.contains("Carol: "), "{request}");

    // A text message to the bot gets a spoken reply, as before.
    let before = audio_of(&recording, bot_session).0.len();
    carol.send(json!({"cmd": "text", "message": "What is the capital of France?"}));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot_session).0.len() == before {
        assert!(std::time::Instant::now() < deadline, "no spoken reply to a text message:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_reply(&recording, bot_session, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let heard = rig.transcribe(&audio_of(&recording, bot_session).0.split_off(before)).await;
    assert!(words_match(ANSWER, &heard) <= 0.2, "reply to a text message: {heard:?}");
    let log = bridge.log();
    let request = log.lines().rfind(|l| l.contains("LLM request")).expect("a logged LLM request");
    assert!(request.contains("Carol (text): "), "{request}");

    let mut lines = rig.latency_lines();
    assert_eq!(lines.len(), 3, "one latency line per turn: {lines:?}");
    lines.pop(); // the text message's turn has no speech timestamps
    for line in &lines {
        for key in [
            "t0_vad_start",
            "t_speech_end",
            "t_vad_end",
            "t_asr_final",
            "t_llm_start",
            "t_llm_first_token",
            "t_first_phrase",
            "t_tts_first_audio",
            "t_first_audio_sent",
            "t_llm_complete",
        ] {
            assert!(line[key].is_number(), "{key} missing in {line}");
        }
        assert_eq!(line["outcome"], "spoken", "{line}");
        let ttfa = line["t_first_audio_sent"].as_f64().unwrap() - line["t_speech_end"].as_f64().unwrap();
        eprintln!("{}: TTFA {:.0} ms", line["turn_id"], ttfa * 1000.0);
    }
    // The latency subcommand prints the table and writes the chart.
    let file = rig.dir.path().join("latency.jsonl");
    let out = Command::new(BRIDGE).arg("latency").arg(&file).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{table}{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{table}");
    assert!(table.contains("p50") && table.contains("p90") && table.contains("p99"), "{table}");
    let svg = std::fs::read_to_string(format!("{}.svg", file.display())).expect("the chart");
    assert!(svg.contains("<svg"), "{svg}");
    alice.quit().await;
    carol.quit().await;
    listener.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_silences_the_bot_and_cancels_the_llm_request() {
    let _serial = serial().await;
    let Some(rig) = Rig::start(true).await else { return };
    let monologue =
        "Let me tell you a very long story about the sea, the wind and the old lighthouse keeper. ".repeat(25);
    let bridge = rig.bridge(&format!("root ::= \"{}\"", monologue.trim())).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot_session = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;

    alice.play(&rig.speech_file("Tell me a story please.", "q1")).await;
    // Let the bot talk for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot_session).1.len() < 100 {
        assert!(std::time::Instant::now() < deadline, "the bot never spoke:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alice_session = session_of(&mut listener, "Alice").await;
    // One word: a barge-in, but not a question (the bot answers utterances of two words or more).
    let stop = rig.speech_file("Stop!", "stop");
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    alice.play(&stop).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The interruption begins with the first chunk of Alice's speech the listener hears.
    let speech_started = chunks_of(&recording, alice_session)
        .into_iter()
        .find(|(t, pcm)| *t > before && rms(pcm) > 1000.0)
        .expect("the listener heard the interruption")
        .0;
    let bot_chunks = chunks_of(&recording, bot_session);
    let after_chunks: Vec<(f64, f64)> = bot_chunks
        .iter()
        .filter(|(t, _)| *t > speech_started)
        .map(|(t, pcm)| ((t - speech_started) * 1000.0, rms(pcm)))
        .collect();
    eprintln!("bot chunks after the interruption (ms, rms): {:?}", &after_chunks[..after_chunks.len().min(20)]);
    // Audible bot audio (decoded silence and the spurt's terminator frames are not "hearing the bot").
    let last = bot_chunks.iter().filter(|(_, pcm)| rms(pcm) > 50.0).map(|(t, _)| *t).fold(0f64, f64::max);
    let heard = bridge.log().lines().filter(|l| l.contains("turn ended early")).collect::<Vec<_>>().join("\n");
    eprintln!("{heard}");
    let after = (last - speech_started) * 1000.0;
    eprintln!("last bot audio {after:.0} ms after the interruption began");
    let barge = bridge.log();
    assert!(after <= 300.0, "the bot kept talking {after:.0} ms into the interruption\n{barge}");
    let llm_log = rig.llm.as_ref().unwrap().log();
    assert!(llm_log.contains("cancel task"), "llama.cpp did not log a cancelled request:\n{llm_log}");
    let line = rig.latency_lines().into_iter().next().expect("a latency line");
    assert!(line["t_barge_in"].is_number() && line["t_llm_cancelled"].is_number(), "{line}");
    assert_eq!(line["outcome"], "barged_in", "{line}");
    alice.quit().await;
    listener.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_survived_and_the_next_turn_works() {
    let _serial = serial().await;
    let Some(mut rig) = Rig::start(false).await else { return };
    let bridge = rig.bridge(&format!("root ::= \"{ANSWER}\"")).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;
    let question = rig.speech_file("What is the capital of France?", "q");
    let answered = |heard: &str| words_match(ANSWER, heard) <= 0.2;
    let apologised = |heard: &str| normalize_words(heard).contains(&"sorry".to_string());

    // The LLM server is down: the bot says its fallback phrase; once it is back, the next turn works.
    rig.kill("llm");
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(apologised(&heard), "LLM down: heard {heard:?}");
    rig.restart("llm").await;
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the LLM restart: heard {heard:?}");

    // The STT server dies while the question is being spoken (and streamed to it).
    let before = audio_of(&recording, bot).0.len();
    alice.send(json!({"cmd": "play", "file": question}));
    tokio::time::sleep(Duration::from_millis(700)).await;
    rig.kill("stt");
    alice.wait_for(|e| e["event"] == "played", Duration::from_secs(30)).await;
    wait_for_reply(&recording, bot, Duration::from_millis(1500), Duration::from_secs(60)).await;
    let reply = audio_of(&recording, bot).0.split_off(before);
    rig.restart("stt").await;
    let heard = rig.transcribe(&reply).await;
    assert!(apologised(&heard), "STT down: heard {heard:?}");
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the STT restart: heard {heard:?}");

    // The TTS server is down: nothing can be said, so the fallback goes out as a text message.
    rig.kill("tts");
    alice.play(&question).await;
    let text = listener.wait_for(|e| e["event"] == "text", Duration::from_secs(30)).await;
    assert!(text["message"].as_str().unwrap_or_default().contains("Sorry"), "{text}");
    rig.restart("tts").await;
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the TTS restart: heard {heard:?}");

    // Murmur restarts: the bridge reconnects and answers the next question.
    alice.quit().await;
    listener.quit().await;
    rig.murmur.restart().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while bridge.log().matches("connected to Mumble").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "no reconnect:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob2.pcm");
    listener.record(&recording).await;
    let heard = ask(&rig, &mut alice, &recording, bot, &question).await;
    assert!(answered(&heard), "after the Murmur restart: heard {heard:?}");

    let log = bridge.log();
    assert!(!log.contains("panicked"), "{log}");
    alice.quit().await;
    listener.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_dying_mid_reply_is_survived() {
    let _serial = serial().await;
    let Some(mut rig) = Rig::start(true).await else { return };
    let story = "Let me tell you a very long story about the sea, the wind and the old lighthouse keeper. ".repeat(25);
    let bridge = rig.bridge(&format!("root ::= \"{}\"", story.trim())).await;
    let mut alice = rig.peer("Alice").await;
    let mut listener = rig.peer("Bob").await;
    let bot = session_of(&mut listener, "VoiceBot").await;
    let recording = rig.dir.path().join("bob.pcm");
    listener.record(&recording).await;
    let (ask_story, stop) = (rig.speech_file("Tell me a story please.", "story"), rig.speech_file("Stop!", "stop"));

    alice.play(&ask_story).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot).1.len() < 50 {
        assert!(std::time::Instant::now() < deadline, "the bot never spoke:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The slow model is still streaming the story: kill it mid-reply.
    rig.kill("llm");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !bridge.log().contains("reply failed") {
        assert!(std::time::Instant::now() < deadline, "the cut stream was not noticed:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What had arrived is still being spoken; interrupt it, bring the LLM back, and ask again.
    alice.play(&stop).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    rig.restart("llm").await;
    let before = audio_of(&recording, bot).1.len();
    alice.play(&ask_story).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while audio_of(&recording, bot).1.len() < before + 50 {
        assert!(std::time::Instant::now() < deadline, "no reply after the LLM came back:\n{}", bridge.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!bridge.log().contains("panicked"));
    alice.quit().await;
    listener.quit().await;
}
