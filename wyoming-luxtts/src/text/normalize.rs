//! English text normalisation the way LuxTTS (ZipVoice's `EmiliaTokenizer`) does it before espeak-ng:
//! punctuation mapping, abbreviations, and numbers read as words.
//!
//! espeak-ng reads digits itself, but differently from what the model heard in training, so the rules of the
//! reference (§3.1, §3.2) are applied first. They follow the classic tacotron cleaners that ZipVoice adapted,
//! in the same order, with the same (regex-like, not word-bounded) matching of digit runs, so "abc12" reads
//! "abctwelve" exactly as upstream does. Pure functions, no allocation-heavy regex engine.

/// §3.1: full-width punctuation, curly quotes and the various ellipses become their ASCII (or `…`) forms.
pub fn map_punctuation(text: &str) -> String {
    let text = text.replace("...", "…").replace("···", "…").replace("・・・", "…");
    text.chars()
        .map(|c| match c {
            '，' | '、' => ',',
            '。' => '.',
            '！' => '!',
            '？' => '?',
            '；' => ';',
            '：' => ':',
            '‘' | '’' => '\'',
            '“' | '”' => '"',
            '⋯' => '…',
            c => c,
        })
        .collect()
}

/// Drops CJK ideographs and kana: this server implements only the English branch of the tokenizer, and
/// espeak-ng would spell such characters out by name.
pub fn drop_cjk(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
        })
        .collect()
}

/// §3.2: abbreviations, then numbers.
pub fn normalize_english(text: &str) -> String {
    let text = expand_abbreviations(text);
    expand_numbers(&text)
}

const ABBREVIATIONS: &[(&str, &str)] = &[
    ("mrs", "misess"),
    ("mr", "mister"),
    ("dr", "doctor"),
    ("st", "saint"),
    ("co", "company"),
    ("jr", "junior"),
    ("maj", "major"),
    ("gen", "general"),
    ("drs", "doctors"),
    ("rev", "reverend"),
    ("lt", "lieutenant"),
    ("hon", "honorable"),
    ("sgt", "sergeant"),
    ("capt", "captain"),
    ("esq", "esquire"),
    ("ltd", "limited"),
    ("col", "colonel"),
    ("ft", "fort"),
    ("etc", "et cetera"),
    ("btw", "by the way"),
];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whole words, case-insensitive. The abbreviation's own period ("Dr.") is dropped when more text follows,
/// so it does not end a sentence for espeak; at the very end of the text it stays as the sentence's end.
pub fn expand_abbreviations(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        if !is_word_char(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_word_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect::<String>().to_lowercase();
        match ABBREVIATIONS.iter().find(|(abbr, _)| *abbr == word) {
            Some((_, full)) => {
                out.push_str(full);
                let more_follows = chars[i..].iter().skip(1).any(|c| !c.is_whitespace());
                if chars.get(i) == Some(&'.') && more_follows {
                    i += 1;
                }
            }
            None => out.extend(&chars[start..i]),
        }
    }
    out
}

/// Rewrites every match of a pattern: `matcher(chars, i)` returns the end of a match starting at `i` and its
/// replacement, scanning left to right without overlaps (like `re.sub`).
fn replace_matches(text: &str, matcher: impl Fn(&[char], usize) -> Option<(usize, String)>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        match matcher(&chars, i) {
            Some((end, replacement)) if end > i => {
                out.push_str(&replacement);
                i = end;
            }
            _ => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

fn digits_end(chars: &[char], i: usize) -> usize {
    let mut j = i;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    j
}

/// Greedy `[0-9<extra>]*[0-9]` from `i`: the end of the longest run of digits and `extra` that ends in a digit.
fn run_ending_in_digit(chars: &[char], i: usize, extra: &[char]) -> Option<usize> {
    let mut j = i;
    let mut last_digit = None;
    while j < chars.len() && (chars[j].is_ascii_digit() || extra.contains(&chars[j])) {
        if chars[j].is_ascii_digit() {
            last_digit = Some(j + 1);
        }
        j += 1;
    }
    last_digit
}

fn digits_value(digits: &str) -> Option<u128> {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { Some(0) } else { trimmed.parse().ok() }
}

/// The number rules in upstream order.
pub fn expand_numbers(text: &str) -> String {
    // 1. Thousands separators: `[0-9][0-9,]+[0-9]` loses its commas.
    let text = replace_matches(text, |c, i| {
        if !c[i].is_ascii_digit() || (i > 0 && c[i - 1].is_ascii_digit()) {
            return None;
        }
        let end = run_ending_in_digit(c, i, &[','])?;
        let run: String = c[i..end].iter().collect();
        (run.contains(',') && end - i >= 3).then(|| (end, run.replace(',', "")))
    });
    // 2. Pounds: `£N` → "N pounds".
    let text = replace_matches(&text, |c, i| {
        if c[i] != '£' {
            return None;
        }
        let end = run_ending_in_digit(c, i + 1, &[','])?;
        Some((end, format!("{} pounds", c[i + 1..end].iter().collect::<String>())))
    });
    // 3. Dollars: `$D.C` → "D dollars, C cents".
    let text = replace_matches(&text, |c, i| {
        if c[i] != '$' {
            return None;
        }
        let end = run_ending_in_digit(c, i + 1, &['.', ','])?;
        Some((end, dollars(&c[i + 1..end].iter().collect::<String>())))
    });
    // 4. Fractions `a/b`.
    let text = replace_matches(&text, |c, i| {
        if !c[i].is_ascii_digit() || (i > 0 && c[i - 1].is_ascii_digit()) {
            return None;
        }
        let a_end = digits_end(c, i);
        if c.get(a_end) != Some(&'/') {
            return None;
        }
        let b_end = digits_end(c, a_end + 1);
        if b_end == a_end + 1 {
            return None;
        }
        let a = digits_value(&c[i..a_end].iter().collect::<String>())?;
        let b = digits_value(&c[a_end + 1..b_end].iter().collect::<String>())?;
        Some((b_end, fraction(a, b)))
    });
    // 5. Decimals: `a.b` → "a point b" (b is then read as an integer).
    let text = replace_matches(&text, |c, i| {
        if !c[i].is_ascii_digit() || (i > 0 && c[i - 1].is_ascii_digit()) {
            return None;
        }
        let a_end = digits_end(c, i);
        if c.get(a_end) != Some(&'.') {
            return None;
        }
        let b_end = digits_end(c, a_end + 1);
        (b_end > a_end + 1).then(|| {
            let (a, b): (String, String) = (c[i..a_end].iter().collect(), c[a_end + 1..b_end].iter().collect());
            (b_end, format!("{a} point {b}"))
        })
    });
    // 6. Percent.
    let text = replace_matches(&text, |c, i| {
        (c[i] == '%' && i > 0 && c[i - 1].is_ascii_digit()).then(|| (i + 1, " percent".into()))
    });
    // 7. Ordinals `1st`, `22nd`, …
    let text = replace_matches(&text, |c, i| {
        if !c[i].is_ascii_digit() || (i > 0 && c[i - 1].is_ascii_digit()) {
            return None;
        }
        let end = digits_end(c, i);
        let suffix: String = c[end..(end + 2).min(c.len())].iter().collect::<String>().to_lowercase();
        if !matches!(suffix.as_str(), "st" | "nd" | "rd" | "th") {
            return None;
        }
        let n = digits_value(&c[i..end].iter().collect::<String>())?;
        Some((end + 2, ordinal(n)))
    });
    // 8. Every other digit run.
    replace_matches(&text, |c, i| {
        if !c[i].is_ascii_digit() {
            return None;
        }
        let end = digits_end(c, i);
        let digits: String = c[i..end].iter().collect();
        Some((end, number(&digits)))
    })
}

fn plural(n: u128, one: &str, many: &str) -> String {
    if n == 1 { one.to_string() } else { many.to_string() }
}

fn dollars(amount: &str) -> String {
    let parts: Vec<&str> = amount.split('.').collect();
    if parts.len() > 2 {
        return format!("{amount} dollars");
    }
    let value = |s: &str| digits_value(&s.replace(',', "")).unwrap_or(0);
    let d = parts.first().map(|s| value(s)).unwrap_or(0);
    let c = parts.get(1).map(|s| value(s)).unwrap_or(0);
    match (d, c) {
        (0, 0) => "zero dollars".into(),
        (d, 0) => format!("{d} {}", plural(d, "dollar", "dollars")),
        (0, c) => format!("{c} {}", plural(c, "cent", "cents")),
        (d, c) => format!("{d} {}, {c} {}", plural(d, "dollar", "dollars"), plural(c, "cent", "cents")),
    }
}

fn fraction(a: u128, b: u128) -> String {
    match (a, b) {
        (1, 2) => "one half".into(),
        (1, 4) => "one quarter".into(),
        (a, 2) => format!("{} halves", cardinal(a)),
        (a, 4) => format!("{} quarters", cardinal(a)),
        (a, b) => format!("{} {}", cardinal(a), ordinal(b)),
    }
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const SCALES: [&str; 12] = [
    "",
    "thousand",
    "million",
    "billion",
    "trillion",
    "quadrillion",
    "quintillion",
    "sextillion",
    "septillion",
    "octillion",
    "nonillion",
    "decillion",
];

fn below_hundred(n: u128) -> String {
    let n = n as usize;
    if n < 20 {
        ONES[n].into()
    } else if n.is_multiple_of(10) {
        TENS[n / 10].into()
    } else {
        format!("{}-{}", TENS[n / 10], ONES[n % 10])
    }
}

fn below_thousand(n: u128) -> String {
    match (n / 100, n % 100) {
        (0, r) => below_hundred(r),
        (h, 0) => format!("{} hundred", ONES[h as usize]),
        (h, r) => format!("{} hundred {}", ONES[h as usize], below_hundred(r)),
    }
}

/// Cardinal words without "and", thousands groups separated by commas as `inflect` writes them
/// (1234567 → "one million, two hundred thirty-four thousand, five hundred sixty-seven").
pub fn cardinal(n: u128) -> String {
    if n == 0 {
        return "zero".into();
    }
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    if groups.len() > SCALES.len() {
        return n.to_string().chars().map(|d| ONES[d as usize - '0' as usize]).collect::<Vec<_>>().join(" ");
    }
    let mut words = Vec::new();
    for (scale, &group) in groups.iter().enumerate().rev() {
        if group == 0 {
            continue;
        }
        let mut w = below_thousand(group);
        if scale > 0 {
            w.push(' ');
            w.push_str(SCALES[scale]);
        }
        words.push(w);
    }
    words.join(", ")
}

/// 1 → "first", 22 → "twenty-second", 100 → "one hundredth".
pub fn ordinal(n: u128) -> String {
    let words = cardinal(n);
    let split = words.rfind([' ', '-']).map(|p| p + 1).unwrap_or(0);
    let (head, last) = words.split_at(split);
    let last = match last {
        "one" => "first".to_string(),
        "two" => "second".to_string(),
        "three" => "third".to_string(),
        "five" => "fifth".to_string(),
        "eight" => "eighth".to_string(),
        "nine" => "ninth".to_string(),
        "twelve" => "twelfth".to_string(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// A plain digit run: 1001–2999 read like years, everything else as a cardinal.
fn number(digits: &str) -> String {
    let Some(n) = digits_value(digits) else {
        return digits.chars().map(|d| ONES[d as usize - '0' as usize]).collect::<Vec<_>>().join(" ");
    };
    if n > 1000 && n < 3000 {
        if n == 2000 {
            return "two thousand".into();
        }
        if n > 2000 && n < 2010 {
            return format!("two thousand {}", cardinal(n % 100));
        }
        if n % 100 == 0 {
            return format!("{} hundred", cardinal(n / 100));
        }
        // In pairs; a second pair below ten reads "oh N" (1905 → "nineteen oh five").
        let (hi, lo) = (n / 100, n % 100);
        let lo = if lo < 10 { format!("oh {}", ONES[lo as usize]) } else { below_hundred(lo) };
        return format!("{} {lo}", below_hundred(hi));
    }
    cardinal(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_mapped() {
        assert_eq!(map_punctuation("你好，世界。真的！？；：、"), "你好,世界.真的!?;:,");
        assert_eq!(map_punctuation("‘a’ “b” c... d⋯ e··· f・・・"), "'a' \"b\" c… d… e… f…");
        assert_eq!(drop_cjk("hi 你好 there"), "hi  there");
    }

    #[test]
    fn abbreviations_are_whole_words() {
        assert_eq!(expand_abbreviations("Mr. Smith and Mrs Jones"), "mister Smith and misess Jones");
        assert_eq!(
            expand_abbreviations("Dr. Who, btw, lives on St. Kilda etc."),
            "doctor Who, by the way, lives on saint Kilda et cetera."
        );
        assert_eq!(expand_abbreviations("mrsmith drive stop 1st"), "mrsmith drive stop 1st");
        assert_eq!(expand_abbreviations("LTD"), "limited");
    }

    #[test]
    fn cardinals_and_ordinals() {
        assert_eq!(cardinal(0), "zero");
        assert_eq!(cardinal(7), "seven");
        assert_eq!(cardinal(42), "forty-two");
        assert_eq!(cardinal(101), "one hundred one");
        assert_eq!(cardinal(1_234_567), "one million, two hundred thirty-four thousand, five hundred sixty-seven");
        assert_eq!(cardinal(3000), "three thousand");
        assert_eq!(ordinal(1), "first");
        assert_eq!(ordinal(22), "twenty-second");
        assert_eq!(ordinal(13), "thirteenth");
        assert_eq!(ordinal(40), "fortieth");
        assert_eq!(ordinal(100), "one hundredth");
        assert_eq!(ordinal(112), "one hundred twelfth");
    }

    #[test]
    fn number_rules_in_order() {
        let n = expand_numbers;
        assert_eq!(n("1,000,000 people"), "one million people");
        assert_eq!(n("£5"), "five pounds");
        assert_eq!(n("$1.01"), "one dollar, one cent");
        assert_eq!(n("$2.50"), "two dollars, fifty cents");
        assert_eq!(n("$0.05"), "five cents");
        assert_eq!(n("$0"), "zero dollars");
        assert_eq!(n("$1,200"), "twelve hundred dollars");
        assert_eq!(n("1/2 1/4 3/2 5/4 3/5"), "one half one quarter three halves five quarters three fifth");
        assert_eq!(n("3.14"), "three point fourteen");
        assert_eq!(n("50%"), "fifty percent");
        assert_eq!(n("3.5%"), "three point five percent");
        assert_eq!(n("1st 2nd 3rd 4th 21st"), "first second third fourth twenty-first");
        assert_eq!(n("1984"), "nineteen eighty-four");
        assert_eq!(n("2000 2001 2009 2010"), "two thousand two thousand one two thousand nine twenty ten");
        assert_eq!(n("1900 1905 1000 3000"), "nineteen hundred nineteen oh five one thousand three thousand");
        assert_eq!(n("abc12"), "abctwelve");
        assert_eq!(n("no digits."), "no digits.");
    }

    #[test]
    fn whole_pipeline() {
        assert_eq!(
            normalize_english(&map_punctuation("Dr. Smith paid $3.50 for 2 apples in 1999…")),
            "doctor Smith paid three dollars, fifty cents for two apples in nineteen ninety-nine…"
        );
    }

    proptest::proptest! {
        #[test]
        fn no_digit_survives(text in "[a-z0-9 ,.$£%/]{0,40}") {
            let out = normalize_english(&text);
            proptest::prop_assert!(!out.chars().any(|c| c.is_ascii_digit()), "{text:?} → {out:?}");
        }
    }
}
