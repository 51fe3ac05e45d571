//! One reply: LLM stream → phrase chunker → TTS → Mumble, every stage streaming into the next.
//!
//! Runs as its own task so the bot's event loop stays free to hear a barge-in; aborting the task drops the
//! LLM stream (the HTTP connection closes, so vLLM or llama.cpp cancel the request) and the TTS connection
//! (the server stops synthesising). Progress goes back to the loop as [`TurnUpdate`]s with their times, for
//! the latency log and for recording what was actually said.

use crate::audio::Voice;
use crate::chunker::{ChunkerOptions, PhraseChunker};
use crate::llm::ChatMessage;
use crate::llm::client::LlmClient;
use crate::llm::delta::ReplyEvent;
use crate::sanitize::pad_for_tts;
use crate::speak::{Speaker, Spoken};
use std::time::Instant;
use tokio::sync::mpsc;
use wyoming_proto::event::SynthesizeVoice;
use wyoming_proto::uri::WyomingUri;

/// What a turn reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnUpdate {
    LlmFirstToken(Instant),
    /// A phrase went to the TTS (the first one is the "first phrase ready" of the latency log).
    Phrase {
        at: Instant,
        text: String,
    },
    TtsFirstAudio(Instant),
    /// The first samples were handed to the Mumble sink.
    FirstAudioSent(Instant),
    /// Samples handed to the sink so far (for what-was-said accounting on barge-in).
    Queued {
        samples: usize,
    },
    LlmDone(Instant),
    /// The reply is complete: all its audio is queued in the sink.
    Done {
        at: Instant,
    },
    /// The reply failed; `spoken` says whether any audio went out before.
    Failed {
        stage: &'static str,
        error: String,
        spoken: bool,
    },
}

pub struct TurnPlan {
    pub llm: LlmClient,
    pub messages: Vec<ChatMessage>,
    pub chunker: ChunkerOptions,
    pub tts_uri: WyomingUri,
    pub voice: Option<SynthesizeVoice>,
    /// `tts.streaming`: `false` keeps to one plain `synthesize` per phrase.
    pub tts_streaming: bool,
    /// `tts.pad_min_chars`: shorter phrases are padded with `...` for the TTS only (0: off).
    pub pad_min_chars: usize,
}

/// Runs a reply to the end; returns when all its audio is queued in `sink`.
pub async fn run(plan: TurnPlan, sink: Voice, updates: mpsc::UnboundedSender<TurnUpdate>) {
    let send = |u: TurnUpdate| {
        let _ = updates.send(u);
    };
    let mut stream = plan.llm.stream(&plan.messages);
    let mut chunker = PhraseChunker::new(plan.chunker);
    let mut speaker = Speaker::start(plan.tts_uri, plan.voice, plan.tts_streaming);
    let pad = plan.pad_min_chars;
    // The update (and so the history and echo filter) keeps the phrase as written; only the TTS sees padding.
    let say = |speaker: &Speaker, text: String| {
        let padded = pad_for_tts(&text, pad);
        send(TurnUpdate::Phrase { at: Instant::now(), text });
        speaker.say(padded);
    };
    let mut any_text = false;
    let mut llm_open = true;
    let mut tts_open = true;
    let mut first_token = false;
    let mut first_audio = false;
    let mut queued = 0usize;
    while llm_open || tts_open {
        let deadline = chunker.next_deadline();
        tokio::select! {
            event = stream.next(), if llm_open => match event {
                Some(Ok(ReplyEvent::Text(text))) => {
                    let now = Instant::now();
                    if !first_token && !text.trim().is_empty() {
                        first_token = true;
                        send(TurnUpdate::LlmFirstToken(now));
                    }
                    any_text = true;
                    for phrase in chunker.push(&text, now) {
                        say(&speaker, phrase.text);
                    }
                }
                Some(Ok(ReplyEvent::Finish(reason))) if reason == "length" => {
                    if any_text {
                        tracing::info!("the reply was cut at llm.max_tokens");
                    } else {
                        // A reasoning model can spend every token thinking: the user would hear nothing, so this
                        // fails the turn, which says the fallback phrase. (An empty reply that *stopped* is the
                        // model's choice, and stays silent.)
                        speaker.finish();
                        llm_open = false;
                        let error = "llm.max_tokens reached before any answer text: raise llm.max_tokens, or turn \
                                     the model's reasoning off through llm.extra_body";
                        send(TurnUpdate::Failed { stage: "llm", error: error.into(), spoken: false });
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    // Speak what arrived before the cut, then report.
                    for phrase in chunker.finish() {
                        say(&speaker, phrase.text);
                    }
                    speaker.finish();
                    llm_open = false;
                    send(TurnUpdate::Failed { stage: "llm", error: e.to_string(), spoken: first_audio || any_text });
                }
                None => {
                    for phrase in chunker.finish() {
                        say(&speaker, phrase.text);
                    }
                    speaker.finish();
                    llm_open = false;
                    send(TurnUpdate::LlmDone(Instant::now()));
                }
            },
            _ = sleep_until(deadline), if llm_open && deadline.is_some() => {
                for phrase in chunker.poll(Instant::now()) {
                    say(&speaker, phrase.text);
                }
            }
            audio = speaker.audio.recv(), if tts_open => match audio {
                Some(Ok(Spoken::Audio(pcm))) => {
                    let now = Instant::now();
                    if !first_audio {
                        first_audio = true;
                        send(TurnUpdate::TtsFirstAudio(now));
                    }
                    sink.play(&pcm);
                    if queued == 0 {
                        send(TurnUpdate::FirstAudioSent(Instant::now()));
                    }
                    queued += pcm.len();
                    send(TurnUpdate::Queued { samples: queued });
                }
                Some(Ok(Spoken::Done)) | None => tts_open = false,
                Some(Err(e)) => {
                    // What was queued still plays, and its last frame ends the talk spurt.
                    sink.finish();
                    send(TurnUpdate::Failed { stage: "tts", error: e.to_string(), spoken: first_audio });
                    return;
                }
            },
        }
    }
    sink.finish();
    send(TurnUpdate::Done { at: Instant::now() });
}

/// Sleeps until `deadline`, or for ever without one (a `select!` branch that is off).
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
