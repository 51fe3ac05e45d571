//! espeak-ng IPA for English text, through the C library (`libespeak-ng`, GPL-3.0-or-later: see the README's
//! licence section).
//!
//! Why our own binding: the only crates are a pure-Rust port whose output has never been compared with the
//! C library's, and bindings without the phoneme API. The four functions used are small.
//!
//! espeak-ng keeps global state (voice, buffers), so every call holds one process-wide lock. A call is
//! microseconds to a few milliseconds per clause, far below synthesis time.
//!
//! espeak-ng 1.51 (Debian 12, nixpkgs) returns a clause's IPA but not its punctuation, which Piper and LuxTTS
//! feed to their models (it carries pauses and question intonation). `piper-phonemize` relies on a patched
//! `espeak_TextToPhonemesWithTerminator`; like the reference recommends, we recover the terminator from the
//! source text between the old and the new text pointer instead.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(textptr: *mut *const c_void, textmode: c_int, phonememode: c_int) -> *const c_char;
}

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// Return an error instead of calling `exit()` when the data directory is missing.
const INITIALIZE_DONT_EXIT: c_int = 0x8000;
const CHARS_UTF8: c_int = 1;
const PHONEMES_IPA: c_int = 0x02;
const EE_OK: c_int = 0;

#[derive(Debug, thiserror::Error)]
pub enum EspeakError {
    #[error("cannot initialise espeak-ng{}: is its data installed (espeak-ng-data)?",
        .0.as_deref().map(|p| format!(" with data directory {}", p.display())).unwrap_or_default())]
    Init(Option<PathBuf>),
    #[error("espeak-ng has no voice {0:?}")]
    Voice(String),
    #[error("text contains a NUL character")]
    Nul,
}

/// One clause as espeak-ng reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// IPA, words separated by spaces, stress and length marks kept.
    pub ipa: String,
    /// The clause's punctuation: one of `. ? ! , ; :`, or empty.
    pub terminator: &'static str,
    /// Whether the clause ends a sentence (`.`, `?`, `!`, or the end of the text).
    pub end_of_sentence: bool,
}

struct State {
    voice: Option<String>,
}

static ESPEAK: OnceLock<Result<Mutex<State>, EspeakError>> = OnceLock::new();

/// Initialises espeak-ng once per process. `data_dir` is the directory that *contains* `espeak-ng-data`
/// (espeak-ng's own convention); `None` uses the library's built-in location.
pub fn init(data_dir: Option<&Path>) -> Result<(), &'static EspeakError> {
    ESPEAK
        .get_or_init(|| {
            let path = data_dir.map(|p| CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| EspeakError::Nul));
            let path = path.transpose()?;
            let ptr = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            // SAFETY: called once, under OnceLock; `ptr` is null or a valid C string that outlives the call.
            let rate = unsafe { espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, ptr, INITIALIZE_DONT_EXIT) };
            if rate <= 0 {
                return Err(EspeakError::Init(data_dir.map(Path::to_path_buf)));
            }
            Ok(Mutex::new(State { voice: None }))
        })
        .as_ref()
        .map(|_| ())
}

/// The clauses of `text` in `voice` (an espeak-ng voice name such as `en-us`).
pub fn phonemize(voice: &str, text: &str) -> Result<Vec<Clause>, EspeakError> {
    // Initialises with the library's own data when nothing called `init` first; a no-op otherwise.
    let _ = init(None);
    let state = match ESPEAK.get() {
        Some(Ok(state)) => state,
        Some(Err(EspeakError::Init(path))) => return Err(EspeakError::Init(path.clone())),
        _ => return Err(EspeakError::Init(None)),
    };
    let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if state.voice.as_deref() != Some(voice) {
        let name = CString::new(voice).map_err(|_| EspeakError::Nul)?;
        // SAFETY: espeak is initialised and we hold its lock; `name` is a valid C string.
        if unsafe { espeak_SetVoiceByName(name.as_ptr()) } != EE_OK {
            state.voice = None;
            return Err(EspeakError::Voice(voice.to_string()));
        }
        state.voice = Some(voice.to_string());
    }
    let source = CString::new(text).map_err(|_| EspeakError::Nul)?;
    let bytes = source.as_bytes();
    let start = source.as_ptr() as usize;
    let mut cursor: *const c_void = source.as_ptr().cast();
    let mut clauses = Vec::new();
    while !cursor.is_null() {
        let before = cursor as usize - start;
        // SAFETY: we hold the lock; `cursor` points into `source` (or is advanced by espeak within it, or set
        // to null at the end); the returned string is espeak's internal buffer, copied before the next call.
        let ipa = unsafe { espeak_TextToPhonemes(&mut cursor, CHARS_UTF8, PHONEMES_IPA) };
        let after = if cursor.is_null() { bytes.len() } else { (cursor as usize - start).min(bytes.len()) };
        let ipa = if ipa.is_null() {
            String::new()
        } else {
            // SAFETY: non-null, NUL-terminated, owned by espeak until the next call.
            unsafe { CStr::from_ptr(ipa) }.to_string_lossy().into_owned()
        };
        let consumed = String::from_utf8_lossy(&bytes[before.min(after)..after]);
        let (terminator, end_of_sentence) = terminator_of(&consumed, cursor.is_null());
        // piper-tts's espeak-ng reports no terminator for a clause without phonemes (`.` alone, after a
        // `[[ phonemes ]]` block).
        let terminator = if ipa.is_empty() { "" } else { terminator };
        clauses.push(Clause { ipa, terminator, end_of_sentence });
        if after <= before && !cursor.is_null() {
            break; // espeak made no progress; never loop forever on odd input
        }
    }
    Ok(clauses)
}

/// The punctuation that ended a clause, from the text espeak consumed for it. espeak-ng reads one character
/// of the next clause ahead ("Good night, a" for the clause "Good night,"), so unless the text ended, a
/// trailing partial word is dropped first. An ellipsis is a pause inside the sentence, as espeak-ng's patched
/// terminator API reports it.
pub fn terminator_of(consumed: &str, at_end: bool) -> (&'static str, bool) {
    let mut text = consumed;
    if !at_end {
        let trimmed = text.trim_end_matches(|c: char| !c.is_whitespace());
        let lookahead = &text[trimmed.len()..];
        if !trimmed.is_empty() && !lookahead.ends_with(['.', '?', '!', ',', ';', ':', '،', '؛', '؟', '۔']) {
            text = trimmed;
        }
    }
    let trimmed = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ']' | '”' | '’'));
    if trimmed.ends_with("...") || trimmed.ends_with('…') {
        return ("", at_end);
    }
    match trimmed.chars().last() {
        Some('.') => (".", true),
        Some('?') => ("?", true),
        Some('!') => ("!", true),
        // Arabic script's marks (`،` `؛` `؟` `۔`) are the same terminators to piper-tts's espeak-ng.
        Some(',' | '،') => (",", at_end),
        Some(';' | '؛') => (";", at_end),
        Some('؟') => ("?", true),
        Some('۔') => (".", true),
        Some(':') => (":", at_end),
        _ => ("", at_end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_script_marks_are_terminators() {
        assert_eq!(terminator_of("نعم، ل", false), (",", false));
        assert_eq!(terminator_of("لا؛ ك", false), (";", false));
        assert_eq!(terminator_of("كيف؟ ح", false), ("?", true));
        assert_eq!(terminator_of("ٹھیک ہے۔", true), (".", true));
    }

    #[test]
    fn terminators_come_from_the_consumed_text() {
        assert_eq!(terminator_of("Testing, o", false), (",", false));
        assert_eq!(terminator_of("Good night,", false), (",", false));
        assert_eq!(terminator_of("a semicolon; a", false), (";", false));
        assert_eq!(terminator_of("Mr. S", false), (".", true));
        assert_eq!(terminator_of("no punctuation here a", false), ("", false));
        assert_eq!(terminator_of("one two three.", true), (".", true));
        assert_eq!(terminator_of("How are you today?", true), ("?", true));
        assert_eq!(terminator_of("Wait... w", false), ("", false));
        assert_eq!(terminator_of("yes", true), ("", true));
        assert_eq!(terminator_of("He said \"stop.\" T", false), (".", true));
    }

    #[test]
    fn phonemizes_like_piper() {
        // Debian's espeak-ng 1.51 with its own data; the piper-tts comparison lives in tests/piper_parity.rs.
        let clauses = phonemize("en-us", "Testing, one two three.").unwrap();
        assert_eq!(
            clauses,
            [
                Clause { ipa: "tˈɛstɪŋ".into(), terminator: ",", end_of_sentence: false },
                Clause { ipa: "wˈʌn tˈuː θɹˈiː".into(), terminator: ".", end_of_sentence: true },
            ]
        );
        assert!(matches!(phonemize("no-such-voice", "hi"), Err(EspeakError::Voice(_))));
        assert_eq!(phonemize("en-us", "").unwrap().iter().filter(|c| !c.ipa.is_empty()).count(), 0);
    }
}
