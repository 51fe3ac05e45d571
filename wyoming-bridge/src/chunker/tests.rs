use super::*;
use proptest::prelude::*;

const MS: Duration = Duration::from_millis(1);

fn chunker() -> PhraseChunker {
    PhraseChunker::new(ChunkerOptions::default())
}

/// Feeds deltas 30 ms apart (a 33 tokens/s model), polling deadlines in between like the caller
/// would; returns the phrases' texts.
fn run(deltas: &[&str]) -> Vec<String> {
    let mut c = chunker();
    let t0 = Instant::now();
    let mut out = Vec::new();
    for (i, d) in deltas.iter().enumerate() {
        let now = t0 + 30 * MS * i as u32;
        out.extend(c.poll(now));
        out.extend(c.push(d, now));
    }
    out.extend(c.finish());
    out.into_iter().map(|p| p.text).collect()
}

fn words(text: &str) -> Vec<&str> {
    text.split_inclusive(' ').collect()
}

#[test]
fn first_phrase_at_the_first_sentence_end() {
    assert_eq!(
        run(&["Sure", ".", " The capital", " of France is Paris", "."]),
        ["Sure.", "The capital of France is Paris."]
    );
}

#[test]
fn first_phrase_at_a_clause_once_long_enough() {
    let phrases = run(&words("Well, the weather today is lovely, warm and sunny with a light breeze."));
    assert_eq!(phrases, ["Well, the weather today is lovely,", "warm and sunny with a light breeze."]);
}

#[test]
fn later_sentences_are_joined_up_to_min_chars() {
    let phrases = run(&words("Yes. It is. It really is. And here is a much longer sentence that stands alone. Ok."));
    assert_eq!(phrases, ["Yes.", "It is. It really is. And here is a much longer sentence that stands alone.", "Ok."]);
}

#[test]
fn sentence_end_inside_a_delta_is_found() {
    // The Python chunker only looked at the end of its buffer.
    assert_eq!(run(&["Paris. It", " is big", "."]), ["Paris.", "It is big."]);
}

#[test]
fn abbreviations_decimals_and_list_numbers_do_not_split() {
    let phrases = run(&words("Dr. Smith measured 3.5 kg, e.g. a lot. Then he left."));
    assert_eq!(phrases, ["Dr. Smith measured 3.5 kg,", "e.g. a lot. Then he left."]);
    assert_eq!(run(&["Steps:\n1. Open it\n2. Close it"]), ["Steps:", "1. Open it", "2. Close it"]);
    assert_eq!(run(&words("The U.S. economy grew. No. It shrank.")), ["The U.S. economy grew.", "No. It shrank."]);
    assert_eq!(run(&words("No. I don't think so.")), ["No.", "I don't think so."]);
}

#[test]
fn first_phrase_forced_at_max_chars_on_a_word_boundary() {
    let text = "this sentence has no punctuation at all and keeps going on and on for a while";
    let phrases = run(&words(text));
    assert_eq!(phrases[0], "this sentence has no punctuation at all and");
    assert_eq!(phrases.join(" "), text);
}

#[test]
fn first_phrase_forced_by_time_at_a_word_boundary() {
    let mut c = chunker();
    let t0 = Instant::now();
    assert!(c.push("The answer to your", t0).is_empty());
    assert!(c.push(" question", t0 + 100 * MS).is_empty());
    assert_eq!(c.next_deadline(), Some(t0 + 350 * MS));
    assert!(c.poll(t0 + 349 * MS).is_empty());
    // At the deadline: the complete words ("question" may still grow).
    let p = c.poll(t0 + 350 * MS);
    assert_eq!(p.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["The answer to your"]);
    assert_eq!(p[0].index, 0);
    let rest = c.push(" is yes. Good", t0 + 360 * MS);
    assert!(rest.is_empty(), "later phrases wait for min_chars: {rest:?}");
    assert_eq!(c.finish()[0].text, "question is yes. Good");
}

#[test]
fn first_timeout_waits_for_enough_words_without_busy_looping() {
    let mut c = chunker();
    let t0 = Instant::now();
    c.push("The", t0);
    assert!(c.poll(t0 + 350 * MS).is_empty());
    // The first deadline was consumed; only the stall deadline remains.
    assert_eq!(c.next_deadline(), Some(t0 + 400 * MS));
    // Once overdue, the first phrase goes as soon as it has enough complete words.
    let p = c.push(" weather is fine and", t0 + 380 * MS);
    assert_eq!(p.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["The weather is fine"]);
}

#[test]
fn stall_speaks_complete_words_once() {
    let mut c = chunker();
    let t0 = Instant::now();
    assert_eq!(c.push("Hi. Then", t0)[0].text, "Hi.");
    assert!(c.push(" somethi", t0 + 100 * MS).is_empty());
    assert_eq!(c.next_deadline(), Some(t0 + 500 * MS));
    // "Then" is a complete word; "somethi" may still grow.
    assert_eq!(c.poll(t0 + 500 * MS)[0].text, "Then");
    // Only an unfinished word is left: no deadline until more text comes.
    assert_eq!(c.next_deadline(), None);
    assert!(c.poll(t0 + 2000 * MS).is_empty());
    assert_eq!(c.finish()[0].text, "somethi");
}

#[test]
fn long_later_sentence_is_split_at_a_clause() {
    let long = "First. This second sentence is rather long, it keeps going with many words and clauses, \
                so that it exceeds the maximum length of one phrase without ending soon, really.";
    let phrases = run(&words(long));
    assert_eq!(phrases[0], "First.");
    assert!(phrases[1].chars().count() <= 150 && phrases[1].ends_with(','), "{phrases:?}");
    assert_eq!(phrases.join(" "), long);
}

#[test]
fn code_fences_are_dropped_across_deltas() {
    let phrases = run(&["Here you go:", "\n`", "``py", "thon\nprint(1)\n`", "`", "`\nThat prints one."]);
    assert_eq!(phrases, ["Here you go:", "That prints one."]);
    assert_eq!(run(&["Use `ls` here."]), ["Use ls here."]);
}

#[test]
fn phrases_are_sanitised_and_empty_ones_skipped() {
    let mut c = PhraseChunker::new(ChunkerOptions {
        speech: SpeechOptions { bot_name: Some("Microsoft Sam".into()) },
        ..ChunkerOptions::default()
    });
    let t0 = Instant::now();
    let mut out = c.push("Microsoft Sam: \u{1f600} **Sure**, see https://example.com/x for ", t0);
    out.extend(c.finish());
    let texts: Vec<&str> = out.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["Sure, see example.com for"]);
    assert_eq!(out[0].index, 0);
}

#[test]
fn deadline_is_none_when_empty() {
    let mut c = chunker();
    assert_eq!(c.next_deadline(), None);
    let t0 = Instant::now();
    c.push("Done. ", t0);
    assert_eq!(c.next_deadline(), None);
    assert_eq!(c.emitted(), 1);
}

/// Replies made of plain words and punctuation, so sanitising changes nothing but whitespace.
fn reply() -> impl Strategy<Value = String> {
    let word = prop_oneof!["[a-zA-Z']{1,9}", Just("3.5".to_string()), Just("Dr.".to_string())];
    let punct =
        prop_oneof![Just(""), Just(""), Just(""), Just("."), Just(","), Just("!"), Just("?"), Just(";"), Just(":")];
    proptest::collection::vec((word, punct, prop_oneof![Just(" "), Just(" "), Just("  "), Just("\n")]), 0..60)
        .prop_map(|parts| parts.into_iter().map(|(w, p, s)| format!("{w}{p}{s}")).collect())
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

proptest! {
    /// No text lost, added or reordered, whatever the delta sizes and timing; no phrase empty.
    #[test]
    fn nothing_lost_or_reordered(
        text in reply(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        gaps in proptest::collection::vec(0u64..600, 20),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
        points.sort_unstable();
        points.push(text.len());
        let mut c = chunker();
        let mut now = Instant::now();
        let mut phrases = Vec::new();
        let mut start = 0;
        for (i, point) in points.into_iter().enumerate() {
            now += Duration::from_millis(gaps[i % gaps.len()]);
            if let Some(deadline) = c.next_deadline() && deadline <= now {
                phrases.extend(c.poll(deadline));
            }
            phrases.extend(c.push(&text[start..point], now));
            start = point;
        }
        phrases.extend(c.finish());
        for (i, p) in phrases.iter().enumerate() {
            prop_assert!(!p.text.is_empty());
            prop_assert_eq!(p.index, i);
            prop_assert_eq!(&p.text, &normalise(&p.raw));
        }
        let joined = phrases.iter().map(|p| p.raw.as_str()).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(normalise(&joined), normalise(&text));
    }

    /// The first phrase never exceeds its limit by more than one word.
    #[test]
    fn first_phrase_is_short(text in reply()) {
        let phrases = run(&words(&text));
        if let Some(first) = phrases.first() {
            prop_assert!(first.chars().count() <= 48 + 12, "{first:?}");
        }
    }
}

#[test]
fn a_no_break_space_before_a_period_is_skipped_whole() {
    // Models write "10\u{a0}km." and "20\u{202f}°C."; the word before the dot starts after the space's bytes.
    let text = "It is 10\u{a0}km. Then it is 20\u{202f}°C. At 5\u{a0}p.m. we leave.";
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert_eq!(squash(&run(&words(text)).concat()), squash(text));
}

#[test]
fn a_zero_length_limit_still_makes_progress() {
    let mut c = PhraseChunker::new(ChunkerOptions { first_max_chars: 0, max_chars: 0, ..ChunkerOptions::default() });
    let now = Instant::now();
    let mut out = c.push("Hello there, this is a test.", now);
    out.extend(c.finish());
    assert_eq!(out.iter().map(|p| p.text.as_str()).collect::<String>().replace(' ', ""), "Hellothere,thisisatest.");
}

#[test]
fn full_width_marks_end_phrases_without_a_space() {
    // Chinese and Japanese replies used to wait for the whole answer (or a cut at 48 characters).
    let mut c = chunker();
    let now = Instant::now();
    let first: Vec<String> = c.push("你好。今天天气很好。", now).into_iter().map(|p| p.text).collect();
    assert_eq!(first, ["你好。"], "the first phrase goes at once");
    let rest: Vec<String> = c.finish().into_iter().map(|p| p.text).collect();
    assert_eq!(rest, ["今天天气很好。"]);
}
