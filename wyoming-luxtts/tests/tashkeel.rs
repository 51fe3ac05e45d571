//! Our Arabic diacritization (`text::tashkeel`) against piper-tts 1.8's, on its own model: the same text out for
//! plain Arabic, numerals (Western and Arabic-Indic), Latin words, punctuation, text already partly diacritized
//! (a shadda before or after its vowel), diacritics before the first letter, and text with no Arabic at all.

use wyoming_luxtts::text::tashkeel::Tashkeel;
use wyoming_tests::{provisioned, python, python_json};

const TEXTS: &[&str] = &[
    "مرحبا بكم في بيتنا",
    "ذهب الولد الى المدرسة صباحا.",
    "كم الساعة الآن؟ إنها الثالثة و 25 دقيقة، أو ٣ و ٢٥.",
    "أحب لغة Python كثيرا!",
    "قال: «السلام عليكم» ثم جلس.",
    "مُحَمَّد رسول الله",
    "شدّة قبل الحركة وشدَّة بعدها وشَدّة",
    "\u{064E}\u{064E}بداية بحركات",
    "   مسافات في البداية والنهاية   ",
    "Hello, world. 123",
    "",
    "هل تريد القهوة أم الشاي؟ الطقس جميل اليوم، والسماء صافية.",
];

#[test]
fn diacritizes_as_piper_tts_does() {
    let (Some(python), Some(ort)) = (python(), provisioned("ORT_DYLIB_PATH")) else { return };
    let reference = python_json(&python, "tashkeel_reference.py", &TEXTS);
    let dir = std::path::PathBuf::from(reference["dir"].as_str().unwrap());
    let env = wyoming_luxtts::onnx::runtime(&ort).unwrap();
    let ours = Tashkeel::load(&env, &dir).unwrap();
    for (text, theirs) in TEXTS.iter().zip(reference["texts"].as_array().unwrap()) {
        let diacritized = ours.diacritize(text).unwrap();
        assert_eq!(diacritized, theirs.as_str().unwrap(), "{text:?}");
        eprintln!("{text:?} -> {diacritized:?}");
    }
    let missing = Tashkeel::load(&env, std::path::Path::new("/nowhere")).err().map(|e| e.to_string());
    assert!(missing.is_some_and(|e| e.contains("/nowhere")), "a missing model is a clear error");
}
