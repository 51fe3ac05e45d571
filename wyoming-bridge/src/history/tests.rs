use super::*;

const S: Duration = Duration::from_secs(1);

fn history() -> ChannelHistory {
    ChannelHistory::new(20, 50, 300 * S)
}

fn said(text: &str) -> SpokenText {
    SpokenText { text: text.into(), interrupted: false }
}

fn contents(messages: &[ChatMessage]) -> Vec<(Role, &str)> {
    messages.iter().map(|m| (m.role, m.content.as_str())).collect()
}

#[test]
fn two_users_and_the_bot_in_one_history() {
    let t0 = Instant::now();
    let mut h = history();
    h.push_said("Alice", "What is the capital of France?", t0);
    h.push_bot(&said("Paris."), t0 + S);
    h.push_said("Bob", "And of Spain?", t0 + 2 * S);
    let m = h.messages("Be brief.", None, t0 + 3 * S);
    assert_eq!(
        contents(&m),
        [
            (Role::System, "Be brief."),
            (Role::User, "Alice: What is the capital of France?"),
            (Role::Assistant, "Paris."),
            (Role::User, "Bob: And of Spain?"),
        ]
    );
}

#[test]
fn consecutive_users_are_merged_and_text_chat_is_marked() {
    let t0 = Instant::now();
    let mut h = history();
    h.push_said("Alice", "hi", t0);
    h.push_typed("Bob", "hello bot", t0);
    h.push(Entry::Joined { name: "Carol".into() }, t0);
    let m = h.messages("S", None, t0);
    assert_eq!(contents(&m), [(Role::System, "S"), (Role::User, "Alice: hi\nBob (text): hello bot")]);
}

#[test]
fn context_goes_before_the_newest_user_message_only() {
    let t0 = Instant::now();
    let mut h = history();
    h.push_said("Alice", "one", t0);
    h.push_bot(&said("two"), t0);
    h.push_said("Alice", "three", t0);
    let m = h.messages("S", Some("Current time: It's night."), t0);
    assert_eq!(m[0].content, "S", "the system prompt stays stable for the prefix cache");
    assert_eq!(m[1].content, "Alice: one");
    assert_eq!(m[3].content, "(Current time: It's night.)\nAlice: three");
}

#[test]
fn bounded_by_count_age_and_window() {
    let t0 = Instant::now();
    let mut h = ChannelHistory::new(3, 4, 300 * S);
    for i in 0..6 {
        h.push_said("A", &format!("m{i}"), t0);
        h.push_bot(&said(&format!("r{i}")), t0);
    }
    assert_eq!(h.entries(t0).count(), 4);
    // The window of 3 would start with an assistant message: it is dropped.
    let m = h.messages("S", None, t0);
    assert_eq!(contents(&m), [(Role::System, "S"), (Role::User, "A: m5"), (Role::Assistant, "r5")]);
    // Entries older than max_age are gone.
    let mut h = history();
    h.push_said("A", "old", t0);
    h.push_said("B", "new", t0 + 200 * S);
    assert_eq!(contents(&h.messages("S", None, t0 + 301 * S)), [(Role::System, "S"), (Role::User, "B: new")]);
    // `context_messages: 0` is no history, but the question is still sent.
    let mut h = ChannelHistory::new(0, 50, 300 * S);
    h.push_said("A", "first", t0);
    h.push_bot(&said("reply"), t0);
    h.push_said("A", "second", t0);
    assert_eq!(contents(&h.messages("S", None, t0)), [(Role::System, "S"), (Role::User, "A: second")]);
}

#[test]
fn interrupted_reply_keeps_what_was_heard() {
    let phrases = [
        PhrasePlayback { text: "Sure.".into(), played: 1.0 },
        PhrasePlayback { text: "The capital of France is Paris, a city on the Seine.".into(), played: 0.5 },
        PhrasePlayback { text: "It has many museums.".into(), played: 0.0 },
    ];
    let spoken = spoken_text(&phrases);
    assert_eq!(spoken, SpokenText { text: "Sure. The capital of France is".into(), interrupted: true });
    let t0 = Instant::now();
    let mut h = history();
    h.push_said("Alice", "Tell me about Paris", t0);
    h.push_bot(&spoken, t0);
    assert_eq!(h.messages("S", None, t0)[2].content, "Sure. The capital of France is…");
}

#[test]
fn spoken_text_edges() {
    let full = [PhrasePlayback { text: "All of it.".into(), played: 1.0 }];
    assert_eq!(spoken_text(&full), SpokenText { text: "All of it.".into(), interrupted: false });
    let none = [PhrasePlayback { text: "Nothing heard.".into(), played: 0.05 }];
    assert_eq!(spoken_text(&none), SpokenText { text: String::new(), interrupted: true });
    let comma = [PhrasePlayback { text: "Well, you see".into(), played: 0.5 }];
    assert_eq!(spoken_text(&comma).text, "Well");
    assert_eq!(spoken_text(&[]), SpokenText::default());
    // Nothing heard: nothing recorded.
    let mut h = history();
    h.push_bot(&spoken_text(&none), Instant::now());
    assert_eq!(h.entries(Instant::now()).count(), 0);
}

#[test]
fn presence_and_context_line() {
    let t0 = Instant::now();
    let mut h = history();
    h.push(Entry::Joined { name: "Carol".into() }, t0);
    h.push(Entry::Left { name: "Dave".into() }, t0 + 90 * S);
    assert_eq!(h.recent_presence(60 * S, t0 + 100 * S), ["Dave just left"]);
    let line =
        context_line(&describe_time("Tuesday", 20, 5), &["Alice".into(), "Bob".into()], &["Dave just left".into()]);
    assert_eq!(
        line,
        "Current time: It's evening, Tuesday at 8:05 PM. | Channel: Users in channel: Alice, Bob. | Recent: Dave just left"
    );
    assert_eq!(context_line("x", &[], &[]), "Current time: x. | Channel: You're alone in the channel.");
}

#[test]
fn time_descriptions() {
    assert_eq!(describe_time("Monday", 0, 0), "It's night, Monday at 12:00 AM");
    assert_eq!(describe_time("Monday", 5, 30), "It's morning, Monday at 5:30 AM");
    assert_eq!(describe_time("Monday", 12, 1), "It's afternoon, Monday at 12:01 PM");
    assert_eq!(describe_time("Monday", 23, 59), "It's night, Monday at 11:59 PM");
}

#[test]
fn a_crowd_joining_does_not_push_the_conversation_out() {
    let t0 = Instant::now();
    let mut h = history();
    h.push_said("Alice", "What is the capital of France?", t0);
    h.push_bot(&said("Paris."), t0);
    for i in 0..200 {
        h.push(Entry::Joined { name: format!("user{i}") }, t0 + S);
    }
    let m = h.messages("Be brief.", None, t0 + 2 * S);
    assert_eq!(
        contents(&m),
        [
            (Role::System, "Be brief."),
            (Role::User, "Alice: What is the capital of France?"),
            (Role::Assistant, "Paris.")
        ]
    );
    assert_eq!(h.recent_presence(10 * S, t0 + 2 * S).len(), 48, "the newest joins are kept, within the cap");
}
