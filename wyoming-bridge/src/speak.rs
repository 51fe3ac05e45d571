//! Phrases to the Wyoming TTS server, audio back at Mumble's rate.
//!
//! With a server that advertises streaming (unless `tts.streaming: false` turns it off), one `synthesize-start`,
//! a `synthesize-chunk` per phrase as soon as it is ready, and at the end the compatibility `synthesize` and
//! `synthesize-stop`; audio flows back while later phrases are still being written. With a server that does not
//! stream, each phrase is a plain `synthesize` on the same connection, in order. Either way the audio is
//! converted to 48 kHz mono and handed out as it arrives. Dropping the [`Speaker`] closes the connection, which
//! stops the server's synthesis.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wyoming_proto::audio::{AudioConverter, AudioFormat};
use wyoming_proto::client::{Client, ClientOptions, within};
use wyoming_proto::connection::EventReader;
use wyoming_proto::event::{
    Describe, Event, Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice,
};
use wyoming_proto::uri::WyomingUri;

const MUMBLE: AudioFormat = AudioFormat { rate: 48_000, width: 2, channels: 1 };

/// Longest wait for the TTS server's next event while a reply is spoken. A server that accepted the text
/// and then hung (a stuck GPU, a dead host behind an open connection) would otherwise hold the turn forever,
/// with no fallback. Generous: in a stream the server legitimately waits for the LLM's next phrase, and the
/// LLM's own timeouts (10 s idle by default) end a stalled reply first.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SpeakError {
    #[error("TTS server {uri}: {source}")]
    Wyoming { uri: String, source: wyoming_proto::Error },
    #[error("TTS server {uri}: {message}")]
    Audio { uri: String, message: String },
}

/// What comes back: audio, and the moment the server is done.
#[derive(Debug)]
pub enum Spoken {
    /// 48 kHz mono PCM.
    Audio(Vec<i16>),
    Done,
}

pub struct Speaker {
    phrases: Option<mpsc::UnboundedSender<String>>,
    pub audio: mpsc::UnboundedReceiver<Result<Spoken, SpeakError>>,
    task: JoinHandle<()>,
}

impl Speaker {
    /// `allow_streaming: false` sends each phrase as a plain `synthesize` even to a streaming server.
    pub fn start(uri: WyomingUri, voice: Option<SynthesizeVoice>, allow_streaming: bool) -> Self {
        let (phrase_tx, phrase_rx) = mpsc::unbounded_channel();
        let (audio_tx, audio) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let result = run(&uri, voice, allow_streaming, phrase_rx, &audio_tx).await;
            let _ = audio_tx.send(result.map(|()| Spoken::Done));
        });
        Speaker { phrases: Some(phrase_tx), audio, task }
    }

    pub fn say(&self, phrase: String) {
        if let Some(tx) = &self.phrases {
            let _ = tx.send(phrase);
        }
    }

    /// No more phrases; the audio ends with [`Spoken::Done`].
    pub fn finish(&mut self) {
        self.phrases = None;
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    uri: &WyomingUri,
    voice: Option<SynthesizeVoice>,
    allow_streaming: bool,
    mut phrases: mpsc::UnboundedReceiver<String>,
    audio: &mpsc::UnboundedSender<Result<Spoken, SpeakError>>,
) -> Result<(), SpeakError> {
    let name = uri.to_string();
    let fail = |source| SpeakError::Wyoming { uri: name.clone(), source };
    let options = ClientOptions { read_timeout: Some(std::time::Duration::from_secs(30)), ..Default::default() };
    let mut client = Client::connect(uri, options).await.map_err(fail)?;
    client.send(&Event::Describe(Describe::default())).await.map_err(fail)?;
    let info = client.recv_until("info", |e| if let Event::Info(i) = e { Some(i) } else { None }).await;
    let streaming = info.map_err(fail)?.tts.iter().any(|p| p.supports_synthesize_streaming) && allow_streaming;
    let (mut reader, writer) = client.into_connection().into_split();
    let mut converter = AudioConverter::new(MUMBLE);
    if !streaming {
        while let Some(phrase) = phrases.recv().await {
            let request = Synthesize { text: phrase, voice: voice.clone(), ..Default::default() };
            writer.write_event(&Event::Synthesize(request)).await.map_err(fail)?;
            read_audio(&mut reader, &mut converter, "audio-stop", audio, &name).await?;
        }
        return Ok(());
    }
    writer
        .write_event(&Event::SynthesizeStart(SynthesizeStart { voice: voice.clone(), ..Default::default() }))
        .await
        .map_err(fail)?;
    let sender = {
        let (writer, voice) = (writer.clone(), voice.clone());
        async move {
            let mut full = String::new();
            while let Some(phrase) = phrases.recv().await {
                let text = format!("{phrase} ");
                full.push_str(&text);
                writer.write_event(&Event::SynthesizeChunk(SynthesizeChunk { text, ..Default::default() })).await?;
            }
            let copy = Synthesize { text: full.trim_end().to_string(), voice, ..Default::default() };
            writer.write_event(&Event::Synthesize(copy)).await?;
            writer.write_event(&Event::SynthesizeStop(SynthesizeStop::default())).await
        }
    };
    let (sent, received) =
        tokio::join!(sender, read_audio(&mut reader, &mut converter, "synthesize-stopped", audio, &name));
    sent.map_err(fail)?;
    received
}

/// Forwards converted audio until the event named `last`.
async fn read_audio(
    reader: &mut EventReader,
    converter: &mut AudioConverter,
    last: &str,
    audio: &mpsc::UnboundedSender<Result<Spoken, SpeakError>>,
    uri: &str,
) -> Result<(), SpeakError> {
    let fail = |source| SpeakError::Wyoming { uri: uri.to_string(), source };
    loop {
        match within(Some(STALL), "the next audio", reader.read_event()).await.map_err(fail)? {
            None => return Err(fail(wyoming_proto::Error::Closed { expected: "the end of the audio" })),
            Some(Event::Error(e)) => return Err(fail(wyoming_proto::Error::Remote { text: e.text, code: e.code })),
            Some(Event::AudioChunk(chunk)) => {
                let pcm = converter
                    .convert(chunk.format, &chunk.audio)
                    .map_err(|e| SpeakError::Audio { uri: uri.to_string(), message: e.to_string() })?;
                let samples: Vec<i16> = pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                if !samples.is_empty() && audio.send(Ok(Spoken::Audio(samples))).is_err() {
                    return Ok(());
                }
            }
            Some(event) if event.event_type() == last => {
                let rest = converter.finish();
                let samples: Vec<i16> = rest.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                if !samples.is_empty() {
                    let _ = audio.send(Ok(Spoken::Audio(samples)));
                }
                return Ok(());
            }
            Some(_) => {}
        }
    }
}
