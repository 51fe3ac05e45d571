//! What the server needs from a TTS engine, and the registry of loaded voices.
//!
//! A [`Voice`] turns one phrase into float samples at its own rate; the session does the splitting,
//! streaming and PCM conversion. Both engines (Piper, LuxTTS) implement it, so the server is one code path.

use crate::onnx::{Cancel, OnnxError, Width};
use crate::text::espeak::EspeakError;
use crate::text::sanitize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use wyoming_proto::event::{SynthesizeVoice, TtsVoice};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("unknown voice {name:?}; this server has: {available}")]
    UnknownVoice { name: String, available: String },
    #[error("voice {voice:?} has no speaker {speaker:?}; it has: {available}")]
    UnknownSpeaker { voice: String, speaker: String, available: String },
    #[error("phonemizer: {0}")]
    Espeak(#[from] EspeakError),
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error("{0}")]
    Model(String),
    #[error("voice {name:?} could not be loaded: {reason}")]
    VoiceLoad { name: String, reason: String },
    /// The request was dropped (its client left) and its runs stopped.
    #[error("synthesis cancelled")]
    Cancelled,
}

impl SynthError {
    /// The `code` of the `error` event a client gets.
    pub fn code(&self) -> &'static str {
        match self {
            SynthError::UnknownVoice { .. } => "UnknownVoice",
            SynthError::UnknownSpeaker { .. } => "UnknownSpeaker",
            SynthError::Espeak(_) => "PhonemizerError",
            SynthError::Onnx(_) | SynthError::Model(_) => "SynthesisError",
            SynthError::VoiceLoad { .. } => "VoiceLoadError",
            SynthError::Cancelled => "Cancelled",
        }
    }

    /// A run that failed because it was told to stop is [`SynthError::Cancelled`], not a model error.
    pub fn unless_cancelled(self, cancel: &Cancel) -> SynthError {
        if cancel.is_cancelled() { SynthError::Cancelled } else { self }
    }
}

/// One voice a client can ask for by name.
pub trait Voice: Send + Sync {
    fn name(&self) -> &str;
    /// Output rate of [`Voice::synthesize`].
    fn sample_rate(&self) -> u32;
    /// The voice as `info` advertises it.
    fn describe(&self) -> TtsVoice;
    /// Resolves a speaker name or number to the model's id; `None` is the voice's default speaker.
    fn speaker(&self, speaker: Option<&str>) -> Result<Option<i64>, SynthError>;
    /// Whether `text` holds anything this voice can say: a request without it is an error, not silence.
    fn can_say(&self, text: &str) -> bool {
        sanitize::is_speakable(&sanitize::sanitize(text))
    }
    /// Synthesises one phrase (already sanitised; it may hold several sentences) on `width` threads, stopping
    /// with [`SynthError::Cancelled`] once `cancel` is set. Blocking: run it off the async runtime. Samples are
    /// in [-1, 1].
    fn synthesize(
        &self,
        phrase: &str,
        speaker: Option<i64>,
        width: Width,
        cancel: &Cancel,
    ) -> Result<Vec<f32>, SynthError>;
    /// Opens `count` idle sessions of `width` ahead of need (blocking).
    fn prewarm(&self, width: Width, count: usize) -> Result<(), SynthError>;
}

/// A voice and speaker chosen for one request.
#[derive(Clone)]
pub struct Selected {
    pub voice: Arc<dyn Voice>,
    pub speaker: Option<i64>,
}

/// Every loaded voice; the first is the default.
pub struct Voices {
    voices: Vec<Arc<dyn Voice>>,
    /// `--speaker`: the default voice's default speaker.
    default_speaker: Option<String>,
    /// Other names of voices loaded at start.
    aliases: Vec<Alias>,
    /// Voices a request may name beyond those loaded at start, loaded on first use; `None` for engines without
    /// them.
    library: Option<Arc<dyn Library>>,
    /// Voices loaded on first use, by [`Voices::key`], with their last use; one load per voice however many
    /// requests wait for it, and at most [`MAX_ON_DEMAND`] kept.
    loaded: Mutex<HashMap<String, Loaded>>,
    /// One load at a time, as in wyoming-piper: a client naming many voices at once does not start as many
    /// downloads.
    loading: tokio::sync::Semaphore,
    failures: Failures,
}

/// A voice loaded on first use (or being loaded), and when a request last named it.
struct Loaded {
    cell: Arc<LoadOnce>,
    used: Instant,
}

/// Voices loaded on first use that stay loaded; the least recently used goes when another is loaded. wyoming-piper
/// keeps one voice in all; each costs about 85 MB (a medium Piper voice), and a Home Assistant user trying
/// voices out would otherwise collect them.
pub const MAX_ON_DEMAND: usize = 2;

/// A voice loaded on first use, once.
type LoadOnce = OnceCell<Arc<dyn Voice>>;

/// How long a voice that failed to load fails at once.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long a name found nowhere is unknown at once: a flood of made-up names does not queue behind a voice
/// being downloaded, and a voice copied into a data dir is found seconds later.
pub const RETRY_NOWHERE_AFTER: Duration = Duration::from_secs(2);

/// Voices that failed to load lately, by [`Voices::key`]: the reason, or `None` for a name found nowhere.
#[derive(Default)]
struct Failures(Mutex<HashMap<String, (Instant, Option<String>)>>);

/// Whether a failure remembered since `at` still stands.
fn stands((at, reason): &(Instant, Option<String>)) -> bool {
    at.elapsed() < if reason.is_some() { RETRY_AFTER } else { RETRY_NOWHERE_AFTER }
}

impl Failures {
    fn recent(&self, key: &str) -> Option<Option<String>> {
        lock(&self.0).get(key).filter(|failure| stands(failure)).map(|(_, reason)| reason.clone())
    }

    fn remember(&self, key: String, error: &SynthError) {
        let reason = match error {
            SynthError::UnknownVoice { .. } => None,
            SynthError::VoiceLoad { reason, .. } => Some(reason.clone()),
            other => Some(other.to_string()),
        };
        let mut failures = lock(&self.0);
        failures.retain(|_, failure| stands(failure));
        if failures.len() >= 1024 {
            failures.clear(); // a client making up names; the names are cheap to try again
        }
        failures.insert(key, (Instant::now(), reason));
    }
}

/// A poisoned lock still holds a consistent map (no code panics while holding one).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Voices a request may name beyond those loaded at start (for Piper: the catalogue's and the data dirs'),
/// listed in `info` and loaded when a request first names them.
pub trait Library: Send + Sync {
    /// Looks for voices added or removed since the last look, if that was a while ago (blocking).
    fn refresh(&self);
    /// How `info` lists them, as of the last look.
    fn listed(&self) -> Vec<TtsVoice>;
    /// A voice's own name for another name of it (an old name, an alias), as of the last look; no I/O.
    fn canonical(&self, name: &str) -> Option<String>;
    /// Loads the voice a name means (blocking); `Ok(None)` when it means none.
    fn load(&self, name: &str) -> Result<Option<Arc<dyn Voice>>, SynthError>;
}

/// The voice name a request gives, if any (an empty one is none).
fn requested_name(requested: Option<&SynthesizeVoice>) -> Option<&str> {
    requested.and_then(|v| v.name.as_deref()).filter(|n| !n.is_empty())
}

/// What names alike enough to pick the same voice share, when no name matches exactly: `en-us-joe-medium` is
/// `en_US-joe-medium`.
pub fn voice_key(name: &str) -> String {
    name.to_lowercase().replace('_', "-")
}

impl Voices {
    pub fn new(voices: Vec<Arc<dyn Voice>>, default_speaker: Option<String>) -> Self {
        assert!(!voices.is_empty(), "at least one voice is loaded before serving");
        Voices {
            voices,
            default_speaker,
            aliases: Vec::new(),
            library: None,
            loaded: Mutex::new(HashMap::new()),
            loading: tokio::sync::Semaphore::new(1),
            failures: Failures::default(),
        }
    }

    /// Another name for the voice loaded at start at `index`: the `--voice` it was given as (a path, say, under
    /// which wyoming-piper lists it and a client may have stored it), or the catalogue name of a file stored under
    /// an old spelling of it (which `info` then does not list a second time).
    pub fn with_alias(self, alias: String, index: usize) -> Self {
        self.add_alias(alias, index, false)
    }

    /// A custom voice's `dataset` as another name for the voice loaded at start at `index`; a voice the library
    /// has under that name comes first.
    pub fn with_dataset(self, dataset: String, index: usize) -> Self {
        self.add_alias(dataset, index, true)
    }

    fn add_alias(mut self, name: String, index: usize, weak: bool) -> Self {
        let taken = name.is_empty() || self.voices.iter().any(|v| v.name() == name);
        if index < self.voices.len() && !taken && !self.aliases.iter().any(|a| a.name == name) {
            self.aliases.push(Alias { name, index, weak });
        }
        self
    }

    /// Adds the voices that are loaded when a request first names them, as wyoming-piper does.
    pub fn with_library(mut self, library: Arc<dyn Library>) -> Self {
        self.library = Some(library);
        self
    }

    /// What names that pick the same voice share: the voice's own name when the library knows the name (two files
    /// whose names differ only in case are two voices, as in wyoming-piper), else the name's [`voice_key`].
    fn key(&self, name: &str) -> String {
        self.library.as_ref().and_then(|l| l.canonical(name)).unwrap_or_else(|| voice_key(name))
    }

    /// The voices loaded at start.
    pub fn all(&self) -> &[Arc<dyn Voice>] {
        &self.voices
    }

    /// Every voice a client can name in `info`: those loaded at start, then those loaded on first use.
    pub fn describe(&self) -> Vec<TtsVoice> {
        self.voices.iter().map(|v| v.describe()).chain(self.listed()).collect()
    }

    /// The library's voices, less those loaded at start.
    fn listed(&self) -> Vec<TtsVoice> {
        // A start voice given under another spelling of a listed name (`en-us-lessac-medium.onnx`) is that voice.
        let mut started: Vec<&str> = self.voices.iter().map(|v| v.name()).collect();
        started.extend(self.aliases.iter().filter(|a| !a.weak).map(|a| a.name.as_str()));
        let listed = self.library.as_ref().map(|l| l.listed()).unwrap_or_default();
        listed.into_iter().filter(|v| !started.contains(&v.artifact.name.as_str())).collect()
    }

    /// Looks for voices added to (or removed from) the library since the last look, if that was a while ago
    /// (blocking).
    pub fn refresh(&self) {
        if let Some(library) = &self.library {
            library.refresh();
        }
    }

    /// The voice a request names (by name or alias, e.g. `en-us-joe-medium` for `en_US-joe-medium`), or the
    /// default voice. `voice.language` alone does not select a voice, as in wyoming-piper. Only voices already
    /// loaded: see [`Voices::select_or_load`].
    pub fn select(&self, requested: Option<&SynthesizeVoice>) -> Result<Selected, SynthError> {
        let voice = match requested_name(requested) {
            None => self.voices[0].clone(),
            Some(name) => self.find(name).ok_or_else(|| self.unknown(name))?,
        };
        self.with_speaker(voice, requested)
    }

    fn unknown(&self, name: &str) -> SynthError {
        SynthError::UnknownVoice { name: name.to_string(), available: self.available() }
    }

    /// [`Voices::select`], loading the named voice first when it is not loaded yet (off the async workers). A
    /// name that failed to load fails at once for [`RETRY_AFTER`] (a broken voice is not reopened, nor a download
    /// that failed tried again, on every request), and one found nowhere for [`RETRY_NOWHERE_AFTER`].
    pub async fn select_or_load(&self, requested: Option<&SynthesizeVoice>) -> Result<Selected, SynthError> {
        let (name, library) = match (requested_name(requested), &self.library) {
            (Some(name), Some(library)) if self.find(name).is_none() => (name.to_string(), library),
            _ => return self.select(requested),
        };
        // A voice may have been copied in since the library last looked: look first, so that the name is keyed
        // as the voice it means now (an alias keyed apart would load the voice a second time).
        let refreshed = tokio::task::spawn_blocking({
            let library = library.clone();
            move || library.refresh()
        });
        if let Err(e) = refreshed.await {
            tracing::warn!(error = %e, "looking for new voices failed");
        }
        let key = self.key(&name);
        if let Some(failure) = self.failures.recent(&key) {
            return Err(match failure {
                None => self.unknown(&name),
                Some(reason) => SynthError::VoiceLoad { name, reason },
            });
        }
        let cell = lock(&self.loaded)
            .entry(key.clone())
            .or_insert_with(|| Loaded { cell: Arc::default(), used: Instant::now() })
            .cell
            .clone();
        let loaded = cell
            .get_or_try_init(|| {
                let (library, name) = (library.clone(), name.clone());
                async move {
                    let _one_at_a_time = self.loading.acquire().await;
                    tracing::info!(voice = name, "loading a voice on first use");
                    let failed =
                        |e: tokio::task::JoinError| SynthError::VoiceLoad { name: name.clone(), reason: e.to_string() };
                    let loaded = tokio::task::spawn_blocking({
                        let name = name.clone();
                        move || library.load(&name)
                    })
                    .await
                    .map_err(failed)??;
                    loaded.ok_or_else(|| self.unknown(&name))
                }
            })
            .await
            .cloned();
        match loaded {
            Ok(voice) => {
                self.keep_recent(&key);
                self.with_speaker(voice, requested)
            }
            Err(e) => {
                // Forget the cell, unless another request is loading into it (a failed load lets the next
                // waiter try): a new cell would load the same voice a second time beside it.
                let mut map = lock(&self.loaded);
                if map.get(&key).is_some_and(|d| Arc::ptr_eq(&d.cell, &cell)) && Arc::strong_count(&cell) == 2 {
                    map.remove(&key);
                }
                drop(map);
                self.failures.remember(key, &e);
                Err(e)
            }
        }
    }

    /// Marks `key` used now and drops the least recently used voices beyond [`MAX_ON_DEMAND`] (requests running
    /// on one keep it until they end).
    fn keep_recent(&self, key: &str) {
        let mut map = lock(&self.loaded);
        if let Some(entry) = map.get_mut(key) {
            entry.used = Instant::now();
        }
        loop {
            let loaded = map.iter().filter(|(_, d)| d.cell.initialized());
            if loaded.clone().count() <= MAX_ON_DEMAND {
                return;
            }
            let Some(oldest) = loaded.min_by_key(|(_, d)| d.used).map(|(k, _)| k.clone()) else { return };
            tracing::info!(voice = oldest, "unloading the voice used least recently");
            map.remove(&oldest);
        }
    }

    /// For an unknown-voice error: the loaded voices, and how many more `info` lists (a whole catalogue would
    /// bury the message).
    fn available(&self) -> String {
        let mut names: Vec<String> = self.voices.iter().map(|v| v.name().to_string()).collect();
        names.extend(lock(&self.loaded).values().filter_map(|d| Some(d.cell.get()?.name().to_string())));
        let listed = self.listed();
        let more = listed.iter().filter(|v| !names.contains(&v.artifact.name));
        match more.count() {
            0 => names.join(", "),
            more => format!("{} (loaded), and {more} more listed in info", names.join(", ")),
        }
    }

    fn with_speaker(&self, voice: Arc<dyn Voice>, requested: Option<&SynthesizeVoice>) -> Result<Selected, SynthError> {
        let speaker = requested.and_then(|v| v.speaker.as_deref()).filter(|s| !s.is_empty());
        let is_default = Arc::ptr_eq(&voice, &self.voices[0]);
        let speaker = speaker.or(if is_default { self.default_speaker.as_deref() } else { None });
        let speaker = voice.speaker(speaker)?;
        Ok(Selected { voice, speaker })
    }

    /// A voice loaded at start by its name or another name it was given ([`Voices::with_alias`]), then the voice
    /// the library resolves the name to (loaded at start, or loaded on first use); a start voice's `dataset`, or a
    /// name that differs only in case or `-`/`_`, picks a voice loaded at start only when the library has no voice
    /// of that name.
    fn find(&self, name: &str) -> Option<Arc<dyn Voice>> {
        let own = |name: &str| self.voices.iter().find(|v| v.name() == name).cloned();
        let alias = |same: &dyn Fn(&str) -> bool, weak: bool| {
            self.aliases.iter().find(|a| a.weak == weak && same(&a.name)).map(|a| self.voices[a.index].clone())
        };
        if let Some(voice) = own(name).or_else(|| alias(&|a| a == name, false)) {
            return Some(voice);
        }
        let key = self.key(name);
        let started = || own(&key).or_else(|| alias(&|a| a == key, false));
        let loaded = || {
            let mut map = lock(&self.loaded);
            let entry = map.get_mut(&key)?;
            let voice = entry.cell.get()?.clone();
            entry.used = Instant::now();
            Some(voice)
        };
        let known = self.library.as_ref().is_some_and(|l| l.canonical(name).is_some());
        let fallback = || {
            let similar = voice_key(name);
            let same = |a: &str| voice_key(a) == similar;
            alias(&|a| a == name, true)
                .or_else(|| self.voices.iter().find(|v| same(v.name())).cloned())
                .or_else(|| alias(&same, false))
                .or_else(|| alias(&same, true))
        };
        started().or_else(loaded).or_else(|| if known { None } else { fallback() })
    }
}

/// Another name of a voice loaded at start.
struct Alias {
    name: String,
    index: usize,
    /// A `dataset`, which yields to any voice the library has under that name.
    weak: bool,
}

/// Float samples to 16-bit little-endian PCM the way Piper and LuxTTS do it: scale by 32767, clamp, truncate
/// toward zero.
pub fn to_pcm16(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for &s in samples {
        let v = (s * 32767.0).clamp(-32767.0, 32767.0) as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voice (named "duo" unless said) with speakers "ann" (0) and "bob" (1).
    struct TwoSpeakers(&'static str);

    impl Voice for TwoSpeakers {
        fn name(&self) -> &str {
            self.0
        }
        fn sample_rate(&self) -> u32 {
            22050
        }
        fn describe(&self) -> TtsVoice {
            use wyoming_proto::event::{Artifact, Attribution, TtsVoiceSpeaker};
            let speaker = |name: &str| TtsVoiceSpeaker { name: name.into(), extra: Default::default() };
            TtsVoice {
                artifact: Artifact::new(self.0, Attribution::new("test", "")),
                languages: vec!["en_US".into()],
                speakers: Some(vec![speaker("ann"), speaker("bob")]),
                extra: Default::default(),
            }
        }
        fn speaker(&self, speaker: Option<&str>) -> Result<Option<i64>, SynthError> {
            match speaker {
                None => Ok(None),
                Some("ann") => Ok(Some(0)),
                Some("bob") => Ok(Some(1)),
                Some(other) => Err(SynthError::UnknownSpeaker {
                    voice: self.0.into(),
                    speaker: other.into(),
                    available: "ann, bob".into(),
                }),
            }
        }
        fn synthesize(&self, _: &str, _: Option<i64>, _: Width, _: &Cancel) -> Result<Vec<f32>, SynthError> {
            Ok(Vec::new())
        }
        fn prewarm(&self, _: Width, _: usize) -> Result<(), SynthError> {
            Ok(())
        }
    }

    #[test]
    fn the_default_speaker_applies_to_the_default_voice_and_a_wrong_one_is_an_error() {
        let voices = Voices::new(vec![Arc::new(TwoSpeakers("duo"))], Some("bob".into()));
        assert_eq!(voices.select(None).unwrap().speaker, Some(1));
        let asked = SynthesizeVoice { speaker: Some("ann".into()), ..Default::default() };
        assert_eq!(voices.select(Some(&asked)).unwrap().speaker, Some(0));
        // main.rs calls `select(None)` at start, so a bad --speaker stops the server instead of every request.
        assert_eq!(voices.all()[0].describe().speakers.map(|s| s.len()), Some(2));
        let wrong = Voices::new(vec![Arc::new(TwoSpeakers("duo"))], Some("carl".into()));
        assert_eq!(wrong.select(None).err().map(|e| e.code()), Some("UnknownSpeaker"));
    }

    /// A library that lists "duo" and "solo", counts its loads, and knows "old-duo" as "duo": "duo", "trio" and
    /// "quad" load (slowly), "broken" fails, anything else is nowhere.
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);

    impl Library for Counting {
        fn refresh(&self) {}
        fn listed(&self) -> Vec<TtsVoice> {
            vec![TwoSpeakers("duo").describe(), TwoSpeakers("solo").describe()]
        }
        fn canonical(&self, name: &str) -> Option<String> {
            (name == "old-duo").then(|| "duo".into())
        }
        fn load(&self, name: &str) -> Result<Option<Arc<dyn Voice>>, SynthError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            match name {
                "duo" | "trio" | "quad" => Ok(Some(Arc::new(TwoSpeakers("duo")) as Arc<dyn Voice>)),
                "broken" => Err(SynthError::VoiceLoad { name: name.into(), reason: "corrupt".into() }),
                _ => Ok(None),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_voice_named_first_by_a_request_is_loaded_once_and_failures_are_remembered() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = || calls.load(std::sync::atomic::Ordering::SeqCst);
        let voices = Voices::new(vec![Arc::new(TwoSpeakers("solo"))], Some("bob".into()))
            .with_library(Arc::new(Counting(calls.clone())));
        // `info` lists the startup voice once and the installed one.
        let listed: Vec<String> = voices.describe().into_iter().map(|v| v.artifact.name).collect();
        assert_eq!(listed, ["solo", "duo"]);
        let named = |name: &str, speaker: Option<&str>| SynthesizeVoice {
            name: Some(name.into()),
            speaker: speaker.map(Into::into),
            ..Default::default()
        };
        let unknown = voices.select(Some(&named("nowhere", None))).err().map(|e| e.to_string());
        assert_eq!(
            unknown.as_deref(),
            Some("unknown voice \"nowhere\"; this server has: solo (loaded), and 1 more listed in info")
        );
        // Three requests at once: one load.
        let (a, b) = (named("duo", Some("ann")), named("duo", None));
        let (x, y, z) = tokio::join!(
            voices.select_or_load(Some(&a)),
            voices.select_or_load(Some(&b)),
            voices.select_or_load(Some(&b))
        );
        assert_eq!(count(), 1);
        assert_eq!(x.unwrap().speaker, Some(0));
        // --speaker belongs to the default voice, not to one loaded later.
        assert_eq!(y.unwrap().speaker, None);
        assert_eq!(z.unwrap().voice.name(), "duo");
        assert_eq!(voices.select(Some(&b)).unwrap().voice.name(), "duo", "loaded for good");
        // Another name of it is the same voice.
        voices.select_or_load(Some(&named("old-duo", None))).await.unwrap();
        assert_eq!(count(), 1);
        // A broken voice and a name found nowhere fail, and fail at once the next time.
        for (name, code) in [("broken", "VoiceLoadError"), ("nowhere", "UnknownVoice")] {
            for _ in 0..2 {
                let error = voices.select_or_load(Some(&named(name, None))).await.err().unwrap();
                assert_eq!(error.code(), code, "{error}");
            }
        }
        assert_eq!(count(), 3);
        // A name found nowhere is looked for again soon (a voice may have been copied in), a broken voice not.
        std::thread::sleep(RETRY_NOWHERE_AFTER);
        for name in ["broken", "nowhere"] {
            voices.select_or_load(Some(&named(name, None))).await.err().unwrap();
        }
        assert_eq!(count(), 4);
        let unknown = voices.select(Some(&named("nowhere", None))).err().map(|e| e.to_string());
        assert_eq!(unknown.as_deref(), Some("unknown voice \"nowhere\"; this server has: solo, duo"));
        assert!(lock(&voices.loaded).len() == 1, "failed names are not kept as cells");

        // At most MAX_ON_DEMAND stay loaded: the least recently used goes.
        voices.select_or_load(Some(&named("trio", None))).await.unwrap();
        voices.select_or_load(Some(&named("duo", None))).await.unwrap(); // duo is now the more recent
        voices.select_or_load(Some(&named("quad", None))).await.unwrap(); // trio goes
        assert_eq!(count(), 6);
        voices.select_or_load(Some(&named("duo", None))).await.unwrap();
        assert_eq!(count(), 6, "duo stayed");
        voices.select_or_load(Some(&named("trio", None))).await.unwrap();
        assert_eq!(count(), 7, "trio was loaded again");
        assert_eq!(lock(&voices.loaded).values().filter(|d| d.cell.initialized()).count(), MAX_ON_DEMAND);
    }

    /// A library whose voice "x" (with the alias "d") appears when it looks again, as a voice copied into a
    /// data dir does.
    struct CopiedIn {
        looked: std::sync::atomic::AtomicBool,
        loads: std::sync::atomic::AtomicUsize,
    }

    impl Library for CopiedIn {
        fn refresh(&self) {
            self.looked.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        fn listed(&self) -> Vec<TtsVoice> {
            Vec::new()
        }
        fn canonical(&self, name: &str) -> Option<String> {
            (self.looked.load(std::sync::atomic::Ordering::SeqCst) && name == "d").then(|| "x".into())
        }
        fn load(&self, name: &str) -> Result<Option<Arc<dyn Voice>>, SynthError> {
            self.loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(["x", "d"].contains(&name).then(|| Arc::new(TwoSpeakers("x")) as Arc<dyn Voice>))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_voice_first_named_by_a_new_alias_is_loaded_once() {
        let library = Arc::new(CopiedIn { looked: false.into(), loads: 0.into() });
        let voices = Voices::new(vec![Arc::new(TwoSpeakers("solo"))], None).with_library(library.clone());
        for name in ["d", "x", "d"] {
            let asked = SynthesizeVoice { name: Some(name.into()), ..Default::default() };
            assert_eq!(voices.select_or_load(Some(&asked)).await.unwrap().voice.name(), "x");
        }
        assert_eq!(library.loads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// A library with the voice "my-voice", which a voice loaded at start ("my_voice") must not hide.
    struct Similar;

    impl Library for Similar {
        fn refresh(&self) {}
        fn listed(&self) -> Vec<TtsVoice> {
            vec![TwoSpeakers("my-voice").describe()]
        }
        fn canonical(&self, name: &str) -> Option<String> {
            (name == "my-voice").then(|| name.into())
        }
        fn load(&self, name: &str) -> Result<Option<Arc<dyn Voice>>, SynthError> {
            Ok((name == "my-voice").then(|| Arc::new(TwoSpeakers("my-voice")) as Arc<dyn Voice>))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exact_names_and_aliases_come_before_similar_names() {
        let voices = Voices::new(vec![Arc::new(TwoSpeakers("my_voice"))], None)
            .with_alias("/voices/my_voice.onnx".into(), 0)
            .with_library(Arc::new(Similar));
        let pick = |name: &str| SynthesizeVoice { name: Some(name.into()), ..Default::default() };
        let name = |selected: Result<Selected, SynthError>| selected.unwrap().voice.name().to_string();
        assert_eq!(name(voices.select_or_load(Some(&pick("my-voice"))).await), "my-voice");
        assert_eq!(name(voices.select_or_load(Some(&pick("/voices/my_voice.onnx"))).await), "my_voice");
        let similar = name(voices.select_or_load(Some(&pick("MY_VOICE"))).await);
        assert!(["my_voice", "my-voice"].contains(&similar.as_str()), "a similar name picks a similar voice");
        let listed: Vec<String> = voices.describe().into_iter().map(|v| v.artifact.name).collect();
        assert_eq!(listed, ["my_voice", "my-voice"]);

        // A start voice's dataset yields to a voice the library has under that name, and names it otherwise.
        let voices = Voices::new(vec![Arc::new(TwoSpeakers("solo"))], None)
            .with_dataset("my-voice".into(), 0)
            .with_dataset("robo".into(), 0)
            .with_library(Arc::new(Similar));
        assert_eq!(name(voices.select_or_load(Some(&pick("my-voice"))).await), "my-voice");
        assert_eq!(name(voices.select_or_load(Some(&pick("robo"))).await), "solo");
    }

    /// A library in which "en-us-old" is another spelling of "en_US-new", which it lists.
    struct Spellings(std::sync::atomic::AtomicUsize);

    impl Library for Spellings {
        fn refresh(&self) {}
        fn listed(&self) -> Vec<TtsVoice> {
            vec![TwoSpeakers("en_US-new").describe()]
        }
        fn canonical(&self, name: &str) -> Option<String> {
            ["en-us-old", "en_US-new"].contains(&name).then(|| "en_US-new".into())
        }
        fn load(&self, _: &str) -> Result<Option<Arc<dyn Voice>>, SynthError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Some(Arc::new(TwoSpeakers("en_US-new"))))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_start_voice_under_another_spelling_is_that_voice() {
        let library = Arc::new(Spellings(0.into()));
        // main.rs gives a start voice the catalogue name of its file's old spelling as an alias.
        let voices = Voices::new(vec![Arc::new(TwoSpeakers("en-us-old"))], None)
            .with_alias("en_US-new".into(), 0)
            .with_library(library.clone());
        let asked = SynthesizeVoice { name: Some("en_US-new".into()), ..Default::default() };
        assert_eq!(voices.select_or_load(Some(&asked)).await.unwrap().voice.name(), "en-us-old");
        assert_eq!(library.0.load(std::sync::atomic::Ordering::SeqCst), 0, "not loaded a second time");
        let listed: Vec<String> = voices.describe().into_iter().map(|v| v.artifact.name).collect();
        assert_eq!(listed, ["en-us-old"], "nor listed twice");
    }

    #[test]
    fn pcm_truncates_and_clamps() {
        let pcm = to_pcm16(&[0.0, 1.0, -1.5, 0.5, f32::NAN]);
        let values: Vec<i16> = pcm.chunks(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!(values, [0, 32767, -32767, 16383, 0]);
    }
}
