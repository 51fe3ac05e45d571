//! Arabic diacritization (tashkeel), as piper-tts applies it to an Arabic (`ar`) voice's text before espeak-ng
//! phonemizes it: libtashkeel's model predicts the short vowels that Arabic writing leaves out, which espeak-ng
//! needs to read a word right.
//!
//! A port of piper-tts 1.8's `piper/tashkeel` (itself a port of libtashkeel), kept to its exact behaviour so that
//! our phoneme ids equal piper-tts's: numerals become `#`, characters outside the model's alphabet are kept
//! without a diacritic, existing diacritics are hints, predicted padding is dropped, and the taskeen threshold
//! piper-tts passes is not applied (its `__call__` drops it). The model and its id maps are those piper-tts
//! ships (`tashkeel/` in its package, next to `espeak-ng-data`); without them an Arabic voice is phonemized
//! undiacritized, with a warning.

use crate::onnx::optional::OptionalModel;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum TashkeelError {
    #[error("tashkeel model in {dir}: {message}")]
    Load { dir: PathBuf, message: String },
    #[error("tashkeel: {0}")]
    Run(String),
}

/// Over this many characters piper-tts refuses a text (and wyoming-piper the request). Phrases are far shorter,
/// so a request here never is.
const CHAR_LIMIT: usize = 12_000;
const NUMERAL_SYMBOL: char = '#';
/// The diacritics the model reads and writes (fathatan … sukun).
const DIACRITICS: [char; 8] =
    ['\u{0652}', '\u{0651}', '\u{064E}', '\u{064F}', '\u{0650}', '\u{064B}', '\u{064C}', '\u{064D}'];

fn is_diacritic(c: char) -> bool {
    DIACRITICS.contains(&c)
}

fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || ('\u{0660}'..='\u{0669}').contains(&c)
}

/// A shadda written before its vowel is the same as after it.
fn normalized(diacritic: &str) -> &'static str {
    match diacritic {
        "\u{064E}\u{0651}" => "\u{0651}\u{064E}",
        "\u{064B}\u{0651}" => "\u{0651}\u{064B}",
        "\u{064F}\u{0651}" => "\u{0651}\u{064F}",
        "\u{064C}\u{0651}" => "\u{0651}\u{064C}",
        "\u{0650}\u{0651}" => "\u{0651}\u{0650}",
        "\u{064D}\u{0651}" => "\u{0651}\u{064D}",
        _ => "",
    }
}

/// The model's alphabet and id maps.
#[derive(Debug, Clone)]
pub struct Maps {
    input: HashMap<char, i64>,
    hints: HashMap<String, i64>,
    targets: HashMap<u8, String>,
    /// The target id of padding (`_`), which predicts no character.
    pad: Option<u8>,
}

impl Maps {
    /// Reads `input_id_map.json`, `hint_id_map.json` and `target_id_map.json` from `dir`.
    pub fn read(dir: &Path) -> Result<Maps, TashkeelError> {
        let read = |name: &str| -> Result<HashMap<String, i64>, TashkeelError> {
            let fail = |message: String| TashkeelError::Load { dir: dir.to_path_buf(), message };
            let text = std::fs::read_to_string(dir.join(name)).map_err(|e| fail(format!("{name}: {e}")))?;
            serde_json::from_str(&text).map_err(|e| fail(format!("{name}: {e}")))
        };
        let input = read("input_id_map.json")?;
        let input = input.into_iter().filter_map(|(s, id)| Some((single_char(&s)?, id))).collect();
        let targets = read("target_id_map.json")?;
        let pad = targets.get("_").and_then(|&id| u8::try_from(id).ok());
        let targets = targets.into_iter().filter_map(|(s, id)| Some((u8::try_from(id).ok()?, s))).collect();
        Ok(Maps { input, hints: read("hint_id_map.json")?, targets, pad })
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// What goes to the model for `text` (already trimmed): its characters (numerals as `#`, others outside the
/// alphabet left out, and those left out), and the diacritics already written after each, as hints.
pub fn prepare(text: &str, maps: &Maps) -> (Vec<i64>, Vec<i64>, HashSet<char>) {
    let mut valid = Vec::new();
    let mut removed = HashSet::new();
    for c in text.chars() {
        if maps.input.contains_key(&c) || is_diacritic(c) {
            valid.push(c);
        } else if is_numeral(c) {
            valid.push(NUMERAL_SYMBOL);
        } else {
            removed.insert(c);
        }
    }
    // Diacritics before the first letter belong to none.
    let start = valid.iter().position(|&c| !is_diacritic(c)).unwrap_or(valid.len());
    let mut chars = Vec::new();
    let mut diacritics: Vec<String> = Vec::new();
    let mut pending = String::new();
    for &c in valid[start..].iter().chain(std::iter::once(&' ')) {
        if is_diacritic(c) {
            pending.push(c);
        } else {
            chars.push(c);
            diacritics.push(std::mem::take(&mut pending));
        }
    }
    chars.pop(); // the sentinel
    if !diacritics.is_empty() {
        diacritics.remove(0); // what came before the first letter
    }
    let hint_id = |d: &String| {
        let d = if maps.hints.contains_key(d) { d.as_str() } else { normalized(d) };
        maps.hints.get(d).copied().unwrap_or(0)
    };
    let input = chars.iter().map(|c| maps.input.get(c).copied().unwrap_or(0)).collect();
    (input, diacritics.iter().map(hint_id).collect(), removed)
}

/// `text` with the predicted diacritics: existing ones replaced, characters outside the alphabet kept bare.
pub fn annotate(text: &str, predicted: &[u8], removed: &HashSet<char>, maps: &Maps) -> String {
    let mut diacritics =
        predicted.iter().filter(|&&id| Some(id) != maps.pad).map(|id| maps.targets.get(id).map_or("", |s| s));
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if is_diacritic(c) {
            continue;
        }
        out.push(c);
        if !removed.contains(&c) {
            out.push_str(diacritics.next().unwrap_or(""));
        }
    }
    out
}

/// The diacritizer: the model's session and maps.
pub struct Tashkeel {
    session: Mutex<Session>,
    maps: Maps,
}

impl Tashkeel {
    /// Opens `dir/model.onnx` (one thread: a phrase is tens of characters) and reads the maps.
    pub fn load(env: &Environment, dir: &Path) -> Result<Tashkeel, TashkeelError> {
        let fail = |e: &dyn std::fmt::Display| TashkeelError::Load { dir: dir.to_path_buf(), message: e.to_string() };
        let maps = Maps::read(dir)?;
        let builder = Session::builder(env).map_err(|e| fail(&e))?;
        let mut builder = builder.with_intra_threads(1).map_err(|e| fail(&e))?;
        let session = builder.commit_from_file(dir.join("model.onnx")).map_err(|e| fail(&e))?;
        Ok(Tashkeel { session: Mutex::new(session), maps })
    }

    /// `text` diacritized as piper-tts diacritizes it.
    pub fn diacritize(&self, text: &str) -> Result<String, TashkeelError> {
        let text = text.trim();
        if text.chars().count() > CHAR_LIMIT {
            return Err(TashkeelError::Run(format!("text over {CHAR_LIMIT} characters")));
        }
        let (input, hints, removed) = prepare(text, &self.maps);
        if input.is_empty() {
            return Ok(text.to_string());
        }
        let run = |e: ort::Error| TashkeelError::Run(e.to_string());
        let len = input.len() as i64;
        let predicted: Vec<u8> = {
            let chars = Tensor::from_array((vec![1, len], input)).map_err(run)?;
            let hints = Tensor::from_array((vec![1, len], hints)).map_err(run)?;
            let lengths = Tensor::from_array((vec![1_i64], vec![len])).map_err(run)?;
            let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
            let outputs = session
                .run(ort::inputs!["char_inputs" => chars, "diac_inputs" => hints, "input_lengths" => lengths])
                .map_err(run)?;
            let predictions = outputs.get("predictions").ok_or_else(|| {
                TashkeelError::Run("the model has no `predictions` output: not libtashkeel's model".into())
            })?;
            let (_, predicted) = predictions.try_extract_tensor::<u8>().map_err(run)?;
            predicted.to_vec()
        };
        Ok(annotate(text, &predicted, &removed, &self.maps))
    }
}

/// The model, once an Arabic voice needs it.
static MODEL: OptionalModel<Tashkeel> =
    OptionalModel::new("--tashkeel-dir", "Arabic is phonemized without its short vowels");

/// Says where the model is; it is loaded when an Arabic voice first speaks.
pub fn init(env: Arc<Environment>, dir: PathBuf) {
    MODEL.init(env, dir);
}

/// `text` diacritized, or as it is when there is no model (warned about once).
pub fn diacritize(text: &str) -> String {
    MODEL.apply(text, Tashkeel::load, Tashkeel::diacritize)
}
