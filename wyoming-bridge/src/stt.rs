//! One utterance streamed to the Wyoming STT server while the user is still speaking.
//!
//! The connection opens when speech starts, audio goes out as it is heard (so the server's early final can
//! decode during the trailing silence), `audio-stop` goes out at the end of speech, and the transcript is
//! awaited then. Partial transcripts (`transcript-chunk`), when the server sends them, go through a
//! [`TranscriptStabilizer`]; the times of the first partial and the first stable text are reported for the
//! latency log.
//! Dropping the [`SttUtterance`] abandons the request (the server stops working on it when the connection
//! closes).

use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::{AudioChunk, AudioStart, AudioStop, Event, Transcribe};
use wyoming_proto::uri::WyomingUri;

use crate::listen::STT_FORMAT;
use crate::stabilizer::TranscriptStabilizer;
use std::time::Instant;

/// A finished utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct SttResult {
    pub text: String,
    /// When the first partial transcript arrived, if the server sends them.
    pub first_partial: Option<Instant>,
    /// When the stabiliser first declared some partial text stable.
    pub first_stable: Option<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum SttError {
    #[error("STT server {uri}: {source}")]
    Wyoming { uri: String, source: wyoming_proto::Error },
    #[error("STT server {uri}: no transcript within {after:?}")]
    Timeout { uri: String, after: Duration },
    #[error("STT request abandoned")]
    Abandoned,
}

/// An utterance in flight.
pub struct SttUtterance {
    audio: Option<mpsc::UnboundedSender<Vec<u8>>>,
    task: JoinHandle<Result<SttResult, SttError>>,
}

impl SttUtterance {
    /// Opens the request. `timeout` bounds the wait for the transcript after the end of speech.
    pub fn start(
        uri: WyomingUri,
        language: Option<String>,
        timeout: Duration,
        stabilizer: TranscriptStabilizer,
    ) -> Self {
        let (audio_tx, audio_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(uri, language, timeout, audio_rx, stabilizer));
        SttUtterance { audio: Some(audio_tx), task }
    }

    /// 16 kHz 16-bit mono PCM.
    pub fn push(&self, pcm: Vec<u8>) {
        if let Some(tx) = &self.audio {
            let _ = tx.send(pcm); // a failed request reports its error from `finish`
        }
    }

    /// Ends the audio and waits for the transcript.
    pub async fn finish(mut self) -> Result<SttResult, SttError> {
        self.audio = None;
        (&mut self.task).await.unwrap_or(Err(SttError::Abandoned))
    }
}

impl Drop for SttUtterance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    uri: WyomingUri,
    language: Option<String>,
    timeout: Duration,
    mut audio: mpsc::UnboundedReceiver<Vec<u8>>,
    mut stabilizer: TranscriptStabilizer,
) -> Result<SttResult, SttError> {
    let name = uri.to_string();
    let fail = |source| SttError::Wyoming { uri: name.clone(), source };
    let options = ClientOptions { read_timeout: None, ..Default::default() };
    let mut client = Client::connect(&uri, options).await.map_err(fail)?;
    let (mut partial, mut first_partial, mut first_stable) = (String::new(), None, None);
    client.send(&Event::Transcribe(Transcribe { language, ..Default::default() })).await.map_err(fail)?;
    client.send(&Event::AudioStart(AudioStart::new(STT_FORMAT))).await.map_err(fail)?;
    while let Some(pcm) = audio.recv().await {
        client.send(&Event::AudioChunk(AudioChunk::new(STT_FORMAT, pcm))).await.map_err(fail)?;
    }
    client.send(&Event::AudioStop(AudioStop::default())).await.map_err(fail)?;
    let wait = async {
        loop {
            match client.recv().await.map_err(fail)? {
                Some(Event::Transcript(t)) => {
                    let text = t.text.trim().to_string();
                    return Ok(SttResult { text, first_partial, first_stable });
                }
                Some(Event::TranscriptChunk(c)) => {
                    // Wyoming partials are deltas: the stabiliser sees the text so far.
                    partial.push_str(&c.text);
                    first_partial.get_or_insert_with(Instant::now);
                    if !stabilizer.update(&partial).stable_delta.is_empty() {
                        first_stable.get_or_insert_with(Instant::now);
                    }
                }
                Some(Event::Error(e)) => {
                    return Err(fail(wyoming_proto::Error::Remote { text: e.text, code: e.code }));
                }
                Some(_) => {}
                None => return Err(fail(wyoming_proto::Error::Closed { expected: "transcript" })),
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.map_err(|_| SttError::Timeout { uri: name.clone(), after: timeout })?
}
