//! Hebrew → IPA for voices whose `phoneme_type` is `hebrew`: rule-based, on text with its niqqud (vowel points;
//! [`super::nakdimon`] restores them first). A port of piper-tts 1.8's `piper/hebrew/hebrew_ipa.py`, kept to its
//! exact behaviour, quirks included, so that our phoneme ids equal piper-tts's: a letter with a geresh (`ג׳`) is
//! dropped, not read as the affricate its table names; punctuation and letters of other scripts are dropped; a
//! silent shva's consonants that close a syllable which itself lost its vowel are dropped with it. piper-tts
//! reads this output with a voice's ordinary IPA id map, one code point per symbol.
//!
//! Each word is cut into segments (onset consonants, a vowel nucleus, coda consonants), each shva is resolved
//! as spoken (/e/) or silent as modern Israeli Hebrew reads it, and the stress goes on the last syllable, or on
//! the first of two when the word ends in a consonant.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

const DAGESH: char = '\u{05BC}';
const SHIN_DOT: char = '\u{05C1}';
const SIN_DOT: char = '\u{05C2}';
const GERESH: char = '\u{05F3}';

const SHEVA: char = '\u{05B0}';
const HATAF_SEGOL: char = '\u{05B1}';
const HATAF_PATAH: char = '\u{05B2}';
const HATAF_QAMATS: char = '\u{05B3}';
const HIRIQ: char = '\u{05B4}';
const TSERE: char = '\u{05B5}';
const SEGOL: char = '\u{05B6}';
const PATAH: char = '\u{05B7}';
const QAMATS: char = '\u{05B8}';
const HOLAM: char = '\u{05B9}';
const QUBUTZ: char = '\u{05BB}';
const QAMATS_QATAN: char = '\u{05C7}';

const VOWEL_MARKS: [char; 12] =
    [SHEVA, HATAF_SEGOL, HATAF_PATAH, HATAF_QAMATS, HIRIQ, TSERE, SEGOL, PATAH, QAMATS, HOLAM, QUBUTZ, QAMATS_QATAN];

const VAV: char = 'ו';
const YOD: char = 'י';

/// A letter and the marks written on it; `None` for a letter with a geresh, which piper-tts reads as nothing.
struct Glyph {
    base: Option<char>,
    marks: Vec<char>,
}

impl Glyph {
    fn has(&self, mark: char) -> bool {
        self.marks.contains(&mark)
    }

    fn has_vowel(&self) -> bool {
        self.marks.iter().any(|m| VOWEL_MARKS.contains(m))
    }
}

#[derive(Debug, Default)]
struct Segment {
    onset: Vec<&'static str>,
    nucleus: &'static str,
    coda: Vec<&'static str>,
    /// The onset consonant carried a dagesh (a shva under it is spoken when that is gemination).
    dagesh: bool,
}

/// Cantillation marks go; the rest is composed (NFC), as piper-tts prepares a word.
fn prepared(text: &str) -> String {
    text.chars().filter(|c| !('\u{0591}'..='\u{05AF}').contains(c)).nfc().collect()
}

fn glyphs(word: &str) -> Vec<Glyph> {
    let mut glyphs: Vec<Glyph> = Vec::new();
    for c in prepared(word).chars() {
        if canonical_combining_class(c) != 0 {
            if let Some(last) = glyphs.last_mut() {
                last.marks.push(c);
            }
        } else {
            glyphs.push(Glyph { base: Some(c), marks: Vec::new() });
        }
    }
    // ג׳ ז׳ צ׳: one glyph with no base and no marks.
    let mut out: Vec<Glyph> = Vec::with_capacity(glyphs.len());
    let mut glyphs = glyphs.into_iter().peekable();
    while let Some(glyph) = glyphs.next() {
        if matches!(glyph.base, Some('ג' | 'ז' | 'צ')) && glyphs.peek().is_some_and(|next| next.base == Some(GERESH))
        {
            glyphs.next();
            out.push(Glyph { base: None, marks: Vec::new() });
        } else {
            out.push(glyph);
        }
    }
    out
}

/// A consonant letter's IPA (`""`: silent or not a Hebrew consonant; `"<GLT>"`: alef or ayin).
fn consonant(glyph: &Glyph, is_final: bool) -> &'static str {
    let Some(base) = glyph.base else { return "" };
    let dagesh = glyph.has(DAGESH);
    match base {
        'א' | 'ע' => "<GLT>",
        'ה' if is_final && !dagesh => "",
        'ה' => "h",
        'י' => "j",
        'ו' => "v",
        'ש' if glyph.has(SHIN_DOT) => "ʃ",
        'ש' if glyph.has(SIN_DOT) => "s",
        'ש' => "ʃ",
        'ב' => {
            if dagesh {
                "b"
            } else {
                "v"
            }
        }
        'כ' | 'ך' => {
            if dagesh {
                "k"
            } else {
                "χ"
            }
        }
        'פ' | 'ף' => {
            if dagesh {
                "p"
            } else {
                "f"
            }
        }
        'ג' => "g",
        'ד' => "d",
        'ח' => "χ",
        'ט' | 'ת' => "t",
        'ל' => "l",
        'מ' | 'ם' => "m",
        'נ' | 'ן' => "n",
        'ס' => "s",
        'צ' | 'ץ' => "t͡s",
        'ק' => "k",
        'ר' => "ʁ",
        'ז' => "z",
        _ => "",
    }
}

/// The vowel written on a glyph, and whether it is one (a shva is `ə` until resolved, and not yet a vowel).
fn vowel(glyph: &Glyph) -> (&'static str, bool) {
    let table = [
        (QAMATS_QATAN, "o"),
        (QUBUTZ, "u"),
        (HIRIQ, "i"),
        (TSERE, "e"),
        (SEGOL, "e"),
        (PATAH, "a"),
        (QAMATS, "a"),
        (HATAF_PATAH, "a"),
        (HATAF_SEGOL, "e"),
        (HATAF_QAMATS, "o"),
    ];
    match table.iter().find(|(mark, _)| glyph.has(*mark)) {
        Some(&(_, ipa)) => (ipa, true),
        None if glyph.has(SHEVA) => ("ə", false),
        None => ("", false),
    }
}

fn segments(word: &str) -> Vec<Segment> {
    let glyphs = glyphs(word);
    let mut segments = Vec::new();
    let mut onset: Vec<&'static str> = Vec::new();
    let mut i = 0;
    while i < glyphs.len() {
        let glyph = &glyphs[i];
        let next = glyphs.get(i + 1);
        let is_final = i + 1 == glyphs.len();
        // Vowels written with two letters: shuruk (וּ), hiriq and yod, holam male (וֹ).
        if glyph.base == Some(VAV) && glyph.has(DAGESH) && !glyph.has_vowel() {
            segments.push(Segment { onset: std::mem::take(&mut onset), nucleus: "u", ..Segment::default() });
            i += 1;
            continue;
        }
        if glyph.has(HIRIQ) && next.is_some_and(|n| n.base == Some(YOD) && !n.has_vowel()) {
            let c = consonant(glyph, false);
            if !c.is_empty() && c != "<GLT>" {
                onset.push(c);
            }
            segments.push(Segment { onset: std::mem::take(&mut onset), nucleus: "i", ..Segment::default() });
            i += 2;
            continue;
        }
        if glyph.base == Some(VAV) && glyph.has(HOLAM) && !glyph.has(DAGESH) {
            segments.push(Segment { onset: std::mem::take(&mut onset), nucleus: "o", ..Segment::default() });
            i += 1;
            continue;
        }
        let c = consonant(glyph, is_final);
        let (v, is_vowel) = vowel(glyph);
        if is_vowel || glyph.has(SHEVA) {
            if !c.is_empty() && c != "<GLT>" {
                onset.push(c);
            }
            let dagesh = !is_vowel && glyph.has(DAGESH);
            segments.push(Segment { onset: std::mem::take(&mut onset), nucleus: v, coda: Vec::new(), dagesh });
        } else if c == "<GLT>" {
            onset.push("ʔ");
        } else if !c.is_empty() {
            onset.push(c);
        }
        i += 1;
    }
    if let Some(last) = segments.last_mut() {
        last.coda.append(&mut onset);
    }
    segments
}

/// Each shva spoken (/e/: word-initial, under a geminating dagesh, or the second of two) or silent (its onset
/// closes the syllable before); silent ones then go.
fn resolve_shva(mut segments: Vec<Segment>) -> Vec<Segment> {
    let mut after_silent = false;
    for i in 0..segments.len() {
        if segments[i].nucleus != "ə" {
            after_silent = false;
            continue;
        }
        let spoken = i == 0 || (segments[i].dagesh && i > 0) || after_silent;
        if spoken {
            segments[i].nucleus = "e";
            after_silent = false;
        } else {
            let onset = std::mem::take(&mut segments[i].onset);
            segments[i - 1].coda.extend(onset);
            segments[i].nucleus = "";
            after_silent = true;
        }
    }
    let mut merged: Vec<Segment> = Vec::with_capacity(segments.len());
    for segment in segments {
        match merged.last_mut() {
            // As piper-tts: the onset moves to the syllable before; the silent segment's own coda is lost.
            Some(last) if segment.nucleus.is_empty() => last.coda.extend(segment.onset),
            _ => merged.push(segment),
        }
    }
    merged
}

fn syllables(segments: &[Segment]) -> String {
    let stressed = if segments.len() == 2 && !segments[1].coda.is_empty() { 0 } else { segments.len().wrapping_sub(1) };
    let mut ipa = String::new();
    for (i, segment) in segments.iter().enumerate() {
        ipa.extend(segment.onset.iter().copied());
        if i == stressed {
            ipa.push('ˈ');
        }
        ipa.push_str(segment.nucleus);
        ipa.extend(segment.coda.iter().copied());
    }
    ipa
}

/// One word with its niqqud, in IPA.
pub fn word_to_ipa(word: &str) -> String {
    let ipa = syllables(&resolve_shva(segments(word)));
    // A glottal stop stays only before a vowel (or the stress mark before one); the affricates' tie bar goes,
    // so that t͡s, t͡ʃ and d͡ʒ are two symbols of the ordinary id map.
    let chars: Vec<char> = ipa.chars().collect();
    let vocalic = |c: &char| "aeiouəˈ".contains(*c);
    chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| c != '\u{0361}' && !(c == 'ʔ' && chars.get(i + 1).is_none_or(|n| !vocalic(n))))
        .map(|(_, &c)| c)
        .collect()
}

/// A text (words with their niqqud) in IPA, words separated by one space.
pub fn to_ipa(text: &str) -> String {
    prepared(text).split_whitespace().map(word_to_ipa).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_as_piper_tts_reads_them() {
        // Expected values are piper-tts 1.8's `hebrew_word_to_ipa`.
        // שָׁלוֹם: two syllables, the last closed by a consonant: stress on the first.
        assert_eq!(word_to_ipa("שָׁלוֹם"), "ʃˈalom");
        // A silent shva closes the syllable before it; a word-initial one is spoken as /e/.
        assert_eq!(word_to_ipa("סִפְרִי"), "sifʁˈi");
        assert_eq!(word_to_ipa("בְּבַיִת"), "bevajˈit");
        assert_eq!(word_to_ipa("הַיְלָדִים"), "hajladˈim");
        assert_eq!(word_to_ipa("מֶלֶךְ"), "mˈeleχ");
        // An alef with its own vowel is no glottal stop; shuruk is /u/.
        assert_eq!(word_to_ipa("שְׁאֵלָה"), "ʃeelˈa");
        assert_eq!(word_to_ipa("וּבַיִת"), "uvajˈit");
        // ג׳ is dropped, as piper-tts drops it; the tie bar of ts goes.
        assert_eq!(word_to_ipa("ג׳וֹן"), "ˈon");
        assert_eq!(word_to_ipa("צַ"), "tsˈa");
        assert_eq!(to_ipa("  a, ! "), " ");
    }
}
