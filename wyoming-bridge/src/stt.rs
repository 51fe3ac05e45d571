//! One utterance streamed to the Wyoming STT server while the user is still speaking.
//!
//! The connection opens when speech starts, audio goes out as it is heard (so the server's early final can
//! decode during the trailing silence), `audio-stop` goes out at the end of speech, and the transcript is
//! awaited then. Partial transcripts (`transcript-chunk`) are passed on when the server sends them.
//! Dropping the [`SttUtterance`] abandons the request (the server stops working on it when the connection
//! closes).

use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::{AudioChunk, AudioStart, AudioStop, Event, Transcribe};
use wyoming_proto::uri::WyomingUri;

use crate::listen::STT_FORMAT;

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
    task: JoinHandle<Result<String, SttError>>,
    /// Partial transcript deltas, if the server streams them.
    pub partials: mpsc::UnboundedReceiver<String>,
}

impl SttUtterance {
    /// Opens the request. `timeout` bounds the wait for the transcript after the end of speech.
    pub fn start(uri: WyomingUri, language: Option<String>, timeout: Duration) -> Self {
        let (audio_tx, audio_rx) = mpsc::unbounded_channel();
        let (partial_tx, partials) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(uri, language, timeout, audio_rx, partial_tx));
        SttUtterance { audio: Some(audio_tx), task, partials }
    }

    /// 16 kHz 16-bit mono PCM.
    pub fn push(&self, pcm: Vec<u8>) {
        if let Some(tx) = &self.audio {
            let _ = tx.send(pcm); // a failed request reports its error from `finish`
        }
    }

    /// Ends the audio and waits for the transcript.
    pub async fn finish(mut self) -> Result<String, SttError> {
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
    partials: mpsc::UnboundedSender<String>,
) -> Result<String, SttError> {
    let name = uri.to_string();
    let fail = |source| SttError::Wyoming { uri: name.clone(), source };
    let options = ClientOptions { read_timeout: None, ..Default::default() };
    let mut client = Client::connect(&uri, options).await.map_err(fail)?;
    client.send(&Event::Transcribe(Transcribe { language, ..Default::default() })).await.map_err(fail)?;
    client.send(&Event::AudioStart(AudioStart::new(STT_FORMAT))).await.map_err(fail)?;
    while let Some(pcm) = audio.recv().await {
        client.send(&Event::AudioChunk(AudioChunk::new(STT_FORMAT, pcm))).await.map_err(fail)?;
    }
    client.send(&Event::AudioStop(AudioStop::default())).await.map_err(fail)?;
    let wait = async {
        loop {
            match client.recv().await.map_err(fail)? {
                Some(Event::Transcript(t)) => return Ok(t.text.trim().to_string()),
                Some(Event::TranscriptChunk(c)) => {
                    let _ = partials.send(c.text);
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
