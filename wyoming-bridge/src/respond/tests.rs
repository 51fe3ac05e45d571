use super::*;

const S: Duration = Duration::from_secs(1);

fn rules() -> UtteranceRules {
    UtteranceRules { min_words: 2, min_chars: 5, hallucination_filter: false }
}

#[test]
fn utterance_filter_matches_the_python_lists() {
    for ok in ["what", "Hello!", "stop.", "Paris?", "what is the time", "turn it up"] {
        assert_eq!(classify_utterance(ok, &rules()), Ok(()), "{ok}");
    }
    assert_eq!(classify_utterance("Paris", &rules()), Err(Rejection::TooFewWords));
    assert_eq!(classify_utterance("a b", &rules()), Err(Rejection::TooShort));
    assert_eq!(classify_utterance("   ", &rules()), Err(Rejection::Empty));
    assert_eq!(classify_utterance("uh huh", &rules()), Err(Rejection::Filler));
    // Fixed: punctuation no longer hides fillers.
    assert_eq!(classify_utterance("Um, okay.", &rules()), Err(Rejection::Filler));
    assert_eq!(classify_utterance("Yeah, sure, well...", &rules()), Err(Rejection::Filler));
    let one_word = UtteranceRules { min_words: 1, ..rules() };
    assert_eq!(classify_utterance("Paris", &one_word), Ok(()));
}

#[test]
fn hallucination_filter_is_opt_in() {
    assert_eq!(classify_utterance("Thank you.", &rules()), Ok(()));
    let on = UtteranceRules { hallucination_filter: true, ..rules() };
    assert_eq!(classify_utterance("Thank you.", &on), Err(Rejection::Hallucination));
    assert_eq!(classify_utterance("Thanks for watching!", &on), Err(Rejection::Hallucination));
    assert_eq!(classify_utterance("Thank you, what time is it?", &on), Ok(()));
}

#[test]
fn echo_filter_uses_words_and_playback_end() {
    let t0 = Instant::now();
    let mut echo = EchoFilter::new(3 * S);
    echo.record_spoken("The capital of France is Paris.", t0);
    assert!(echo.is_echo("capital of France", t0 + S));
    assert!(echo.is_echo("Paris is the capital, France!", t0 + S), "80 % of the words");
    // Fixed: no character substrings ("no" is not in "know"), single words never echo.
    echo.record_spoken("I know a place.", t0);
    assert!(!echo.is_echo("no", t0 + S));
    assert!(!echo.is_echo("Paris", t0 + S));
    assert!(!echo.is_echo("what is the capital of Spain", t0 + S));
    // Expires `decay` after the end of playback.
    assert!(!echo.is_echo("capital of France", t0 + 3 * S));
}

#[test]
fn echo_matches_across_phrase_boundaries() {
    let t0 = Instant::now();
    let mut echo = EchoFilter::new(3 * S);
    echo.record_spoken("It is sunny.", t0);
    echo.record_spoken("Take a hat.", t0 + S);
    assert!(echo.is_echo("sunny take a", t0 + S));
}

#[test]
fn wake_word_as_whole_words() {
    assert_eq!(strip_wake_word("Hey Sam, what time is it?", "hey sam").as_deref(), Some("what time is it?"));
    assert_eq!(strip_wake_word("What do you think, Sam?", "Sam").as_deref(), Some("What do you think?"));
    assert_eq!(strip_wake_word("sam: play music", "Sam").as_deref(), Some("play music"));
    assert_eq!(strip_wake_word("that is the same thing", "sam"), None, "no substring matches");
    assert_eq!(strip_wake_word("hello", "hey sam"), None);
    assert_eq!(strip_wake_word(" anything ", "").as_deref(), Some("anything"));
}

#[test]
fn question_test() {
    assert!(is_question("Is it raining"));
    assert!(is_question("you there?"));
    assert!(!is_question("Tell me a joke."));
}

#[test]
fn decide_applies_every_rule_in_order() {
    let t0 = Instant::now();
    let mut echo = EchoFilter::new(3 * S);
    echo.record_spoken("Let me tell you about the weather today.", t0);
    let mut r = RespondRules { echo_filter: true, utterance: Some(rules()), wake_word: None };
    assert_eq!(decide("What is the weather like?", &r, &mut echo, t0), Ok("What is the weather like?".into()));
    assert_eq!(decide("about the weather today", &r, &mut echo, t0), Err(Rejection::Echo));
    assert_eq!(decide("um", &r, &mut echo, t0), Err(Rejection::TooShort));
    r.echo_filter = false;
    assert_eq!(decide("about the weather today", &r, &mut echo, t0), Ok("about the weather today".into()));
    r.wake_word = Some("computer".into());
    assert_eq!(decide("What is the weather?", &r, &mut echo, t0), Err(Rejection::NoWakeWord));
    assert_eq!(decide("Computer, what is the weather?", &r, &mut echo, t0), Ok("what is the weather?".into()));
    assert_eq!(decide("Computer?", &r, &mut echo, t0), Ok(String::new()), "the wake word alone is an address");
    r.utterance = None;
    r.wake_word = None;
    assert_eq!(decide("um", &r, &mut echo, t0), Ok("um".into()));
    assert_eq!(decide("  ", &r, &mut echo, t0), Err(Rejection::Empty));
}

#[test]
fn continuation_by_silence_words_or_timer() {
    let t0 = Instant::now();
    let mut p = PendingText::new(Duration::from_millis(1500), 10);
    assert_eq!(p.push("what is", true, t0).as_deref(), Some("what is"));
    assert_eq!(p.deadline(), None);
    assert_eq!(p.push("so I was thinking about", false, t0), None);
    assert_eq!(p.deadline(), Some(t0 + Duration::from_millis(1500)));
    assert_eq!(p.poll(t0 + S), None);
    assert_eq!(p.push("the trip we planned", false, t0 + S), None);
    assert_eq!(
        p.push("to Rome", false, t0 + 2 * S).as_deref(),
        Some("so I was thinking about the trip we planned to Rome")
    );
    assert_eq!(p.push("and then", false, t0 + 3 * S), None);
    assert_eq!(p.poll(t0 + 3 * S + Duration::from_millis(1500)).as_deref(), Some("and then"));
    assert_eq!(p.poll(t0 + 10 * S), None);
}

#[test]
fn one_persona_answers_each_utterance_and_a_named_one_answers_its_own() {
    let claims = std::sync::Arc::new(Claims::default());
    let all = vec!["Sam".to_string(), "Raf Bot".to_string()];
    let persona = |own: &str| PersonaClaims { claims: claims.clone(), own: own.into(), personas: all.clone() };
    let (sam, raf) = (persona("Sam"), persona("Raf Bot"));
    let t0 = Instant::now();
    // The first to claim answers; the other sees the same speech transcribed and stays quiet.
    assert!(claims.claim(&raf, "Alice", "What time is it?", t0));
    assert!(!claims.claim(&sam, "Alice", "what time is it", t0));
    // Someone else asking the same, or the same later, is a new utterance.
    assert!(claims.claim(&sam, "Bob", "What time is it?", t0));
    assert!(claims.claim(&sam, "Alice", "What time is it?", t0 + Claims::KEEP));
    // Naming a persona sends it there, whoever claims first.
    assert!(!claims.claim(&sam, "Alice", "Raf bot, tell me a joke.", t0));
    assert!(claims.claim(&raf, "Alice", "Raf bot, tell me a joke.", t0));
    assert!(claims.claim(&sam, "Alice", "Hey Sam, how are you?", t0));
    assert!(!claims.claim(&raf, "Alice", "Hey Sam, how are you?", t0));
}
