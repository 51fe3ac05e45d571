//! Hebrew diacritization (niqqud) with Nakdimon, as piper-tts applies it to a `hebrew` voice's text that has no
//! vowel points: [`super::hebrew_ipa`] reads the points.
//!
//! A port of piper-tts 1.8's `piper/hebrew/__init__.py` (itself a port of Nakdimon's inference), kept to its
//! exact behaviour so that our phoneme ids equal piper-tts's: existing points are removed first, each character
//! is mapped to the model's alphabet, and each letter that can carry them gets the predicted dagesh, shin/sin
//! dot and vowel, in that order (not NFC's). The model is the one piper-tts ships (`hebrew/nakdimon.onnx` in its
//! package, next to `espeak-ng-data`); without it a Hebrew voice reads only text written with its points, and
//! other text is a synthesis error.

use crate::onnx::optional::OptionalModel;
use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum NakdimonError {
    #[error("Nakdimon model {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("Nakdimon: {0}")]
    Run(String),
}

/// The model's file in its directory.
pub const MODEL_FILE: &str = "nakdimon.onnx";
/// "No diacritic here"; dropped from the output.
const RAFE: char = '\u{05BF}';
/// The model's vowel classes, after the mask class 0 (piper-tts's table: patah twice, dagesh among vowels).
const NIQQUD: [char; 15] = [
    RAFE, '\u{05B0}', '\u{05B1}', '\u{05B2}', '\u{05B3}', '\u{05B4}', '\u{05B5}', '\u{05B6}', '\u{05B7}', '\u{05B8}',
    '\u{05B9}', '\u{05BA}', '\u{05BB}', '\u{05BC}', '\u{05B7}',
];
const DAGESH: [char; 2] = [RAFE, '\u{05BC}'];
const SIN: [char; 3] = [RAFE, '\u{05C1}', '\u{05C2}'];
/// The model's alphabet after the mask id 0: its special tokens, then the valid characters.
const SPECIAL: [char; 3] = ['H', 'O', '5'];
const PUNCTUATION: [char; 12] = [' ', '!', '"', '\'', '(', ')', ',', '-', '.', ':', ';', '?'];

/// Whether `c` is a vowel point or dot that the model writes (and that is removed before it reads a text).
pub fn is_point(c: char) -> bool {
    ('\u{05B0}'..='\u{05BC}').contains(&c) || matches!(c, '\u{05BF}' | '\u{05C1}' | '\u{05C2}' | '\u{05C7}')
}

fn is_letter(c: char) -> bool {
    ('\u{05D0}'..='\u{05EA}').contains(&c)
}

/// `c` in the model's alphabet.
fn normalized(c: char) -> char {
    match c {
        c if is_letter(c) || PUNCTUATION.contains(&c) => c,
        '\n' | '\t' => ' ',
        '\u{05BE}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}' | '\u{2212}' => '-',
        '[' => '(',
        ']' => ')',
        '\u{B4}' | '\u{2018}' | '\u{2019}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{05F4}' => '"',
        // Python's `isdigit` is narrower (not `½` or `Ⅻ`): such characters differ, which no Hebrew text needs.
        c if c.is_numeric() => '5',
        '\u{2026}' => ',',
        '\u{05F0}' | '\u{05F1}' | '\u{05F2}' => 'H',
        _ => 'O',
    }
}

/// The model's input id of `c`.
pub fn input_id(c: char) -> f32 {
    let c = normalized(c);
    let position = if let Some(i) = SPECIAL.iter().position(|&s| s == c) {
        i
    } else if let Some(i) = PUNCTUATION.iter().position(|&p| p == c) {
        SPECIAL.len() + i
    } else {
        SPECIAL.len() + PUNCTUATION.len() + (c as usize - 0x05D0)
    };
    (position + 1) as f32
}

/// `letters` with the marks of each letter's predicted classes (`[niqqud, dagesh, sin]`, mask-prefixed
/// indices), in Nakdimon's order, rafe dropped.
pub fn annotate(letters: &[char], classes: &[[usize; 3]]) -> String {
    let mark = |table: &[char], class: usize| class.checked_sub(1).and_then(|i| table.get(i).copied());
    let mut out = String::with_capacity(letters.len() * 3);
    for (&letter, &[niqqud, dagesh, sin]) in letters.iter().zip(classes) {
        out.push(letter);
        if "בגדהוזטיכלמנספצקשתךף".contains(letter) {
            out.extend(mark(&DAGESH, dagesh));
        }
        if letter == 'ש' {
            out.extend(mark(&SIN, sin));
        }
        if "אבגדהוזחטיכלמנסעפצקרשתךן".contains(letter) {
            out.extend(mark(&NIQQUD, niqqud));
        }
    }
    out.chars().filter(|&c| c != RAFE).collect()
}

fn argmax(row: &[f32]) -> usize {
    // The first of equal maxima, as numpy's argmax.
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

/// The diacritizer: the model's session.
pub struct Nakdimon {
    session: Mutex<Session>,
}

impl Nakdimon {
    /// Opens the model (one thread: a phrase is tens of characters).
    pub fn load(env: &Environment, path: &Path) -> Result<Nakdimon, NakdimonError> {
        let fail = |e: &dyn std::fmt::Display| NakdimonError::Load { path: path.to_path_buf(), message: e.to_string() };
        let builder = Session::builder(env).map_err(|e| fail(&e))?;
        let mut builder = builder.with_intra_threads(1).map_err(|e| fail(&e))?;
        let session = builder.commit_from_file(path).map_err(|e| fail(&e))?;
        Ok(Nakdimon { session: Mutex::new(session) })
    }

    /// `text` with its niqqud restored, as piper-tts restores it.
    pub fn diacritize(&self, text: &str) -> Result<String, NakdimonError> {
        let letters: Vec<char> = text.chars().filter(|&c| !is_point(c)).collect();
        if letters.is_empty() {
            return Ok(String::new());
        }
        let run = |e: ort::Error| NakdimonError::Run(e.to_string());
        let len = letters.len();
        let input = Tensor::from_array((vec![1, len as i64], letters.iter().map(|&c| input_id(c)).collect::<Vec<_>>()))
            .map_err(run)?;
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(ort::inputs![input]).map_err(run)?;
        let mut heads = Vec::with_capacity(3);
        for (name, width) in [("N", NIQQUD.len() + 1), ("D", DAGESH.len() + 1), ("S", SIN.len() + 1)] {
            let head = outputs
                .get(name)
                .ok_or_else(|| NakdimonError::Run(format!("no `{name}` output: not Nakdimon's model")))?;
            let (shape, values) = head.try_extract_tensor::<f32>().map_err(run)?;
            if values.len() != len * width || shape.last() != Some(&(width as i64)) {
                return Err(NakdimonError::Run(format!("`{name}` has shape {shape:?}, not [1, {len}, {width}]")));
            }
            heads.push(values.chunks(width).map(argmax).collect::<Vec<_>>());
        }
        let classes: Vec<[usize; 3]> = (0..len).map(|i| [heads[0][i], heads[1][i], heads[2][i]]).collect();
        Ok(annotate(&letters, &classes))
    }
}

/// The model, once a Hebrew voice needs it.
static MODEL: OptionalModel<Nakdimon> =
    OptionalModel::new("--hebrew-dir", "Hebrew text without vowel points cannot be read");

/// Says where the model file is; it is loaded when a Hebrew voice first speaks.
pub fn init(env: Arc<Environment>, path: PathBuf) {
    MODEL.init(env, path);
}

/// `text` diacritized; `None` when there is no model or it failed (logged). Unlike Arabic, Hebrew written
/// without points gives the IPA rules nothing to read (no vowels, so no syllables), so there is no fallback.
pub fn diacritize(text: &str) -> Option<String> {
    let model = MODEL.get(Nakdimon::load)?;
    model.diacritize(text).map_err(|e| tracing::warn!(error = %e, "Nakdimon failed on a text")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_is_piper_tts_table() {
        // "" H O 5, then " ! \" ' ( ) , - . : ; ?", then the 27 letters from alef: 43 ids.
        assert_eq!(input_id('ײ'), 1.0); // H: yiddish ligatures
        assert_eq!(input_id('H'), 2.0); // O, as in piper-tts: a Latin H is outside the alphabet
        assert_eq!(input_id(' '), 4.0);
        assert_eq!(input_id('?'), 15.0);
        assert_eq!(input_id('א'), 16.0);
        assert_eq!(input_id('ת'), 42.0);
        assert_eq!(input_id('x'), 2.0); // O: outside the alphabet
        assert_eq!(input_id('7'), 3.0);
        assert_eq!(input_id('—'), input_id('-'));
    }

    #[test]
    fn marks_go_in_nakdimons_order_and_rafe_is_dropped() {
        // שׁ with dagesh and qamats: dagesh, shin dot, vowel; ר cannot take a dagesh; rafe (class 1) is nothing.
        let text = annotate(&['ש', 'ר', 'א'], &[[10, 2, 2], [1, 2, 3], [1, 1, 1]]);
        assert_eq!(text, "ש\u{05BC}\u{05C1}\u{05B8}רא");
    }
}
