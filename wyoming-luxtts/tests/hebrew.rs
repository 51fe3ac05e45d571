//! Our Hebrew phonemizer (`text::nakdimon`, then `text::hebrew_ipa`) against piper-tts 1.8's, on its own Nakdimon
//! model: the same diacritized text and the same IPA for plain Hebrew, questions, numbers, a geresh, final
//! letters, Latin words, quotes and dashes, text already written with its vowel points, and text with no Hebrew.

use wyoming_luxtts::text::hebrew_ipa;
use wyoming_luxtts::text::nakdimon::{self, Nakdimon};
use wyoming_tests::{provisioned, python, python_json};

const TEXTS: &[&str] = &[
    "שלום עולם",
    "מה שלומך היום?",
    "אני אוהב ללמוד עברית.",
    "הילדים הלכו לבית הספר בבוקר.",
    "השעה עכשיו 10:30, ויש לי פגישה.",
    "ג׳ון גר בתל אביב.",
    "שָׁלוֹם עוֹלָם",
    "אני משתמש ב-Python כל יום.",
    "מזג האוויר היום נאה מאוד, והשמיים בהירים.",
    "״ציטוט״ – מקף… וסוף",
    "   רווחים   ",
    "Hello, world. 123",
    "",
];

#[test]
fn phonemizes_as_piper_tts_does() {
    let (Some(python), Some(ort)) = (python(), provisioned("ORT_DYLIB_PATH")) else { return };
    let reference = python_json(&python, "hebrew_reference.py", &TEXTS);
    let model = std::path::PathBuf::from(reference["model"].as_str().unwrap());
    let env = wyoming_luxtts::onnx::runtime(&ort).unwrap();
    let ours = Nakdimon::load(&env, &model).unwrap();
    for (text, theirs) in TEXTS.iter().zip(reference["texts"].as_array().unwrap()) {
        let diacritized = ours.diacritize(text).unwrap();
        assert_eq!(diacritized, theirs["diacritized"].as_str().unwrap(), "{text:?}");
        let pointed = if text.chars().any(nakdimon::is_point) { text.to_string() } else { diacritized.clone() };
        let ipa = hebrew_ipa::to_ipa(&pointed);
        assert_eq!(ipa, theirs["ipa"].as_str().unwrap(), "{text:?} ({diacritized:?})");
        eprintln!("{text:?} -> {diacritized:?} -> {ipa:?}");
    }
    let missing = Nakdimon::load(&env, std::path::Path::new("/nowhere/nakdimon.onnx")).err().map(|e| e.to_string());
    assert!(missing.is_some_and(|e| e.contains("/nowhere")), "a missing model is a clear error");
}
