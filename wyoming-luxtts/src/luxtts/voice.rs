//! Voice prompts (reference §5): a reference clip and its transcript, encoded once into prompt tokens,
//! features and loudness, and cached on disk.
//!
//! The transcript must say exactly what the kept part of the clip says (its token count sets the speaking
//! rate), so it comes from the operator (`--voice-transcript`) or from a Wyoming STT server, which hears the
//! same kept portion. Encoding is cheap except for that STT call, so the cache mostly saves it; a cache entry
//! records everything its contents depend on (the audio's SHA-256, the encoding parameters, the frontend
//! version, `tokens.txt`'s SHA-256, a transcript given on the command line) and is redone when any differs.

use super::features::{self, FEAT_SCALE, N_MELS};
use super::frontend::{FRONTEND_VERSION, Frontend};
use super::post::rms;
use crate::cli::CloneSpec;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use wyoming_proto::audio::{AudioConverter, AudioFormat, f32_to_pcm, pcm_to_f32};
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::{AudioChunk, AudioStart, AudioStop, Event, Transcribe};
use wyoming_proto::uri::WyomingUri;

/// The prompt's loudness floor: the README, the Mumble bot and `luxtts-onnx` all use 0.01.
pub const PROMPT_TARGET_RMS: f32 = 0.01;
/// Cache entries of another layout are ignored.
const CACHE_VERSION: u32 = 1;

/// An encoded voice: what every synthesis pass needs from the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedVoice {
    pub transcript: String,
    /// Prompt token ids (P).
    pub tokens: Vec<i64>,
    /// Prompt features × 0.1, `[frames][100]` flattened time-major.
    pub features: Vec<f32>,
    /// F_p.
    pub frames: usize,
    /// RMS of the kept clip before normalisation (for the output volume match).
    pub rms: f32,
}

/// How a reference is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PromptSettings {
    /// Seconds of the clip kept (`--ref-duration`).
    pub ref_duration: f32,
    pub target_rms: f32,
}

/// Reads a WAV file (any rate, width, channel count) as 24 kHz mono, keeping the first `ref_duration` s.
pub fn read_reference(path: &Path, ref_duration: f32) -> anyhow::Result<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).with_context(|| format!("cannot read WAV {}", path.display()))?;
    let spec = reader.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect::<Result<_, _>>()?
        }
    };
    let channels = usize::from(spec.channels.max(1));
    let mono: Vec<f32> =
        interleaved.chunks(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect();
    let mut audio = resample(&mono, spec.sample_rate, features::SAMPLE_RATE)?;
    audio.truncate((ref_duration as f64 * features::SAMPLE_RATE as f64).round() as usize);
    anyhow::ensure!(
        audio.len() > features::N_FFT,
        "{}: the reference clip is too short ({:.2} s); use at least 3 s of speech",
        path.display(),
        audio.len() as f32 / features::SAMPLE_RATE as f32
    );
    Ok(audio)
}

/// Mono float audio from one rate to another through the protocol library's converter (32-bit PCM).
pub fn resample(audio: &[f32], from: u32, to: u32) -> anyhow::Result<Vec<f32>> {
    if from == to {
        return Ok(audio.to_vec());
    }
    let pcm = f32_to_pcm(audio, 4)?;
    let out = AudioConverter::convert_clip(
        AudioFormat { rate: from, width: 4, channels: 1 },
        &pcm,
        AudioFormat { rate: to, width: 4, channels: 1 },
    )?;
    Ok(pcm_to_f32(&out, 4)?)
}

/// Encodes a kept 24 kHz clip with its transcript's tokens (§5 steps 3–5).
pub fn encode(
    audio: &[f32],
    transcript: &str,
    tokens: Vec<i64>,
    settings: &PromptSettings,
) -> anyhow::Result<EncodedVoice> {
    anyhow::ensure!(!tokens.is_empty(), "the transcript {transcript:?} gives no tokens");
    let original_rms = rms(audio);
    let gain =
        if original_rms > 0.0 && original_rms < settings.target_rms { settings.target_rms / original_rms } else { 1.0 };
    let scaled: Vec<f32> = audio.iter().map(|&s| s * gain).collect();
    let feats = features::log_mel(&scaled)?;
    let frames = feats.len();
    let features = feats.iter().flat_map(|row| row.iter().map(|&v| v * FEAT_SCALE)).collect();
    Ok(EncodedVoice { transcript: transcript.to_string(), tokens, features, frames, rms: original_rms })
}

/// Asks a Wyoming STT server for the transcript of a 24 kHz clip (sent as 16 kHz 16-bit mono, English).
pub async fn transcribe(uri: &WyomingUri, audio: &[f32]) -> anyhow::Result<String> {
    let audio16 = resample(audio, features::SAMPLE_RATE, 16_000)?;
    let format = AudioFormat { rate: 16_000, width: 2, channels: 1 };
    let pcm = f32_to_pcm(&audio16, 2)?;
    let options = ClientOptions { read_timeout: Some(Duration::from_secs(120)), ..Default::default() };
    let mut client =
        Client::connect(uri, options).await.with_context(|| format!("cannot reach the STT server at {uri}"))?;
    client.send(&Event::Transcribe(Transcribe { language: Some("en".into()), ..Default::default() })).await?;
    client.send(&Event::AudioStart(AudioStart::new(format))).await?;
    for chunk in pcm.chunks(16_000 * 2) {
        client.send(&Event::AudioChunk(AudioChunk::new(format, chunk.to_vec()))).await?;
    }
    client.send(&Event::AudioStop(AudioStop::default())).await?;
    let text = client
        .recv_until("transcript", |e| match e {
            Event::Transcript(t) => Some(t.text),
            _ => None,
        })
        .await
        .with_context(|| format!("the STT server at {uri} gave no transcript"))?;
    Ok(text.trim().to_string())
}

/// What a cached voice was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheKey {
    pub cache_version: u32,
    pub frontend_version: u32,
    pub audio_sha256: String,
    pub tokens_sha256: String,
    pub settings: PromptSettings,
    /// The transcript given on the command line, if any (a transcript from STT is not part of the key).
    pub given_transcript: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    key: CacheKey,
    voice: EncodedVoice,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a voice's cache entry lives.
pub fn cache_path(cache_dir: &Path, name: &str) -> PathBuf {
    let safe: String = name.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    cache_dir.join(format!("{safe}.luxtts.json"))
}

/// The cached voice at `path` if it was made from exactly `key`.
pub fn load_cached(path: &Path, key: &CacheKey) -> Option<EncodedVoice> {
    let text = std::fs::read_to_string(path).ok()?;
    let entry: CacheEntry = serde_json::from_str(&text).ok()?;
    let fresh = entry.key == *key && entry.voice.features.len() == entry.voice.frames * N_MELS;
    fresh.then_some(entry.voice)
}

/// Writes a cache entry atomically (temporary file, then rename).
pub fn store_cached(path: &Path, key: &CacheKey, voice: &EncodedVoice) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let entry = CacheEntry { key: key.clone(), voice: voice.clone() };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&entry)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Loads a voice from the cache or encodes it (asking `stt` for a transcript when none is given), and
/// caches the result. Blocking work runs on the blocking pool.
pub async fn load_or_encode(
    spec: &CloneSpec,
    frontend: &Frontend,
    tokens_sha256: &str,
    settings: PromptSettings,
    cache_dir: &Path,
    stt: &WyomingUri,
) -> anyhow::Result<EncodedVoice> {
    let (name, reference, given_transcript) = (spec.name.as_str(), &spec.reference, spec.transcript.as_deref());
    let bytes =
        std::fs::read(reference).with_context(|| format!("voice {name}: cannot read {}", reference.display()))?;
    let key = CacheKey {
        cache_version: CACHE_VERSION,
        frontend_version: FRONTEND_VERSION,
        audio_sha256: sha256_hex(&bytes),
        tokens_sha256: tokens_sha256.to_string(),
        settings,
        given_transcript: given_transcript.map(str::to_string),
    };
    let path = cache_path(cache_dir, name);
    if let Some(voice) = load_cached(&path, &key) {
        tracing::info!(voice = name, cache = %path.display(), "voice prompt loaded from the cache");
        return Ok(voice);
    }
    let reference = reference.clone();
    let audio = tokio::task::spawn_blocking(move || read_reference(&reference, settings.ref_duration)).await??;
    let transcript = match given_transcript {
        Some(text) => text.to_string(),
        None => {
            let text = transcribe(stt, &audio).await.with_context(|| {
                format!("voice {name}: no --voice-transcript {name}=… was given and transcription failed")
            })?;
            tracing::info!(voice = name, transcript = %text, "reference clip transcribed");
            text
        }
    };
    let tokens = frontend.tokens(&transcript).map_err(|e| anyhow::anyhow!("voice {name}: {e}"))?;
    let voice = encode(&audio, &transcript, tokens, &settings).with_context(|| format!("voice {name}"))?;
    if let Err(e) = store_cached(&path, &key, &voice) {
        tracing::warn!(voice = name, "cannot cache the encoded voice: {e:#}");
    }
    Ok(voice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PromptSettings {
        PromptSettings { ref_duration: 5.0, target_rms: PROMPT_TARGET_RMS }
    }

    #[test]
    fn quiet_clips_are_raised_and_their_rms_kept() {
        let audio: Vec<f32> = (0..24_000).map(|i| (i as f32 * 0.05).sin() * 0.001).collect();
        let voice = encode(&audio, "hi", vec![1, 2], &settings()).unwrap();
        assert!((voice.rms - rms(&audio)).abs() < 1e-9);
        assert_eq!(voice.frames, 94);
        assert_eq!(voice.features.len(), 94 * N_MELS);
        let raised: Vec<f32> = audio.iter().map(|s| s * PROMPT_TARGET_RMS / voice.rms).collect();
        let expected = features::log_mel(&raised).unwrap();
        assert!((voice.features[5 * N_MELS + 3] - expected[5][3] * FEAT_SCALE).abs() < 1e-6);
        assert!(encode(&audio, "", vec![], &settings()).is_err());
    }

    #[test]
    fn wav_files_of_any_layout_become_24k_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..48_000 * 2 {
            let v = ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0).sin() * 10_000.0) as i16;
            w.write_sample(v).unwrap();
            w.write_sample(v / 2).unwrap();
        }
        w.finalize().unwrap();
        let audio = read_reference(&path, 1.5).unwrap();
        assert_eq!(audio.len(), 36_000);
        let expected = 10_000.0 * 0.75 / 32768.0 / 2f32.sqrt();
        assert!((rms(&audio[1000..35_000]) - expected).abs() < 0.01 * expected, "{}", rms(&audio));
        assert!(read_reference(&dir.path().join("missing.wav"), 5.0).is_err());
    }

    #[test]
    fn cache_entries_are_used_only_when_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path(dir.path(), "a/b");
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("a_b"));
        let key = CacheKey {
            cache_version: CACHE_VERSION,
            frontend_version: FRONTEND_VERSION,
            audio_sha256: sha256_hex(b"audio"),
            tokens_sha256: sha256_hex(b"tokens"),
            settings: settings(),
            given_transcript: None,
        };
        let voice =
            EncodedVoice { transcript: "x".into(), tokens: vec![3], features: vec![0.25; N_MELS], frames: 1, rms: 0.5 };
        store_cached(&path, &key, &voice).unwrap();
        assert_eq!(load_cached(&path, &key), Some(voice));
        let stale = CacheKey { audio_sha256: sha256_hex(b"other audio"), ..key.clone() };
        assert_eq!(load_cached(&path, &stale), None);
        let longer = CacheKey { settings: PromptSettings { ref_duration: 6.0, ..settings() }, ..key.clone() };
        assert_eq!(load_cached(&path, &longer), None);
        let given = CacheKey { given_transcript: Some("y".into()), ..key };
        assert_eq!(load_cached(&path, &given), None);
    }
}
