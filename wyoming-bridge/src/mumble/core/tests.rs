use super::*;

fn frame(kind: MessageType, msg: impl Message) -> Frame {
    Frame::new(kind, msg.encode_to_vec())
}

fn channel(id: u32, parent: Option<u32>, name: &str) -> Frame {
    frame(
        MessageType::ChannelState,
        proto::ChannelState { channel_id: Some(id), parent, name: Some(name.into()), ..Default::default() },
    )
}

fn user(session: u32, name: &str, channel: u32) -> Frame {
    frame(
        MessageType::UserState,
        proto::UserState {
            session: Some(session),
            name: Some(name.into()),
            channel_id: Some(channel),
            ..Default::default()
        },
    )
}

fn sync(session: u32) -> Frame {
    frame(
        MessageType::ServerSync,
        proto::ServerSync {
            session: Some(session),
            max_bandwidth: Some(72_000),
            welcome_text: Some("<b>Hi</b>".into()),
            permissions: None,
        },
    )
}

fn core(channel: Option<&str>) -> ClientCore {
    ClientCore::new(Identity { username: "bot".into(), channel: channel.map(String::from), ..Default::default() })
}

fn run(core: &mut ClientCore, frames: &[Frame]) -> Vec<Output> {
    let mut out = Vec::new();
    for f in frames {
        core.handle(f, &mut out).unwrap();
    }
    out
}

fn voice(session: u32, sequence: u64, opus: &[u8]) -> Frame {
    let mut packet = Vec::new();
    let p = OpusPacket { target: 0, session: Some(session), sequence, terminator: false, opus };
    voice::encode(&p, Direction::ServerToClient, &mut packet).unwrap();
    Frame::new(MessageType::UdpTunnel, packet)
}

#[test]
fn authenticate_carries_password_and_tokens() {
    let identity = Identity {
        username: "bot".into(),
        password: Some("sesame".into()),
        tokens: vec!["red".into(), "blue".into()],
        channel: None,
    };
    let [_, auth] = ClientCore::new(identity).hello();
    let a = proto::Authenticate::decode(auth.payload).unwrap();
    assert_eq!((a.password.as_deref(), a.tokens), (Some("sesame"), vec!["red".to_string(), "blue".to_string()]));
    assert!(a.celt_versions.is_empty());
}

#[test]
fn hello_advertises_1_4_0_without_v2_and_opus() {
    let [version, auth] = core(None).hello();
    assert_eq!(version.kind, 0);
    let v = proto::Version::decode(version.payload).unwrap();
    assert_eq!((v.version_v1, v.version_v2), (Some(0x10400), None));
    assert_eq!(auth.kind, 2);
    let a = proto::Authenticate::decode(auth.payload).unwrap();
    assert_eq!((a.username.as_deref(), a.opus, a.client_type), (Some("bot"), Some(true), Some(1)));
}

#[test]
fn handshake_reports_connected_and_users_then_joins_the_channel() {
    let mut c = core(Some("Tavern"));
    let out =
        run(&mut c, &[channel(0, None, "Root"), channel(1, Some(0), "Tavern"), user(5, "alice", 1), user(9, "bot", 0)]);
    assert!(out.is_empty(), "nothing before ServerSync: {out:?}");
    let out = run(&mut c, &[sync(9)]);
    assert!(c.is_ready());
    assert_eq!(c.max_bandwidth(), Some(72_000));
    assert!(
        matches!(&out[0], Output::Event(Event::Connected(Connected { session: 9, welcome_text, .. })) if welcome_text == "Hi")
    );
    assert_eq!(
        out[1],
        Output::Event(Event::UserJoined { session: 5, name: "alice".into(), channel_id: 1, present_at_connect: true })
    );
    let Output::Send(join) = &out[2] else { panic!("{out:?}") };
    let msg = proto::UserState::decode(join.payload.clone()).unwrap();
    assert_eq!((msg.session, msg.channel_id), (Some(9), Some(1)));
    let out = run(
        &mut c,
        &[frame(
            MessageType::UserState,
            proto::UserState { session: Some(9), channel_id: Some(1), ..Default::default() },
        )],
    );
    assert_eq!(out, [Output::Event(Event::UserMoved { session: 9, name: "bot".into(), from: 0, to: 1 })]);
    assert_eq!(c.current_channel(), Some(1));
    // Someone connecting later is not one of those present at connect.
    let out = run(&mut c, &[user(12, "carol", 1)]);
    let arrived = Event::UserJoined { session: 12, name: "carol".into(), channel_id: 1, present_at_connect: false };
    assert_eq!(out, [Output::Event(arrived)]);
}

#[test]
fn a_missing_channel_is_joined_when_it_appears() {
    let mut c = core(Some("Later"));
    let out = run(&mut c, &[channel(0, None, "Root"), user(3, "bot", 0), sync(3)]);
    assert!(!out.iter().any(|o| matches!(o, Output::Send(_))));
    let out = run(&mut c, &[channel(4, Some(0), "Later")]);
    assert!(matches!(&out[..], [Output::Send(f)] if f.kind == MessageType::UserState as u16));
}

/// As pymumble's `find_by_name`, a name found twice is joined at its first match (the lowest id).
#[test]
fn an_ambiguous_channel_name_joins_the_first_match() {
    let mut c = core(Some("AFK"));
    let tree = [channel(0, None, "Root"), channel(1, Some(0), "A"), channel(2, Some(0), "B")];
    let afk = [channel(6, Some(2), "AFK"), channel(4, Some(1), "AFK")];
    let out = run(&mut c, &[&tree[..], &afk[..], &[user(3, "bot", 0), sync(3)]].concat());
    let Some(Output::Send(join)) = out.iter().find(|o| matches!(o, Output::Send(_))) else { panic!("{out:?}") };
    let msg = proto::UserState::decode(join.payload.clone()).unwrap();
    assert_eq!((msg.session, msg.channel_id), (Some(3), Some(4)));
}

#[test]
fn own_voice_is_ignored_and_others_pass_through() {
    let mut c = core(None);
    run(&mut c, &[user(3, "bot", 0), user(4, "alice", 0), sync(3)]);
    let out = run(&mut c, &[voice(3, 0, &[1, 2, 3]), voice(4, 2, &[4, 5])]);
    assert_eq!(
        out,
        [Output::Voice(VoiceIn { session: 4, sequence: 2, terminator: false, opus: Bytes::from_static(&[4, 5]) })]
    );
}

#[test]
fn bad_input_is_skipped_and_the_connection_goes_on() {
    let mut c = core(None);
    run(&mut c, &[user(3, "bot", 0), sync(3)]);
    let lying = Frame::new(MessageType::UdpTunnel, vec![0x80, 0x04, 0x00, 0x50, 1, 2, 3]);
    let varint_past_end = Frame::new(MessageType::UdpTunnel, vec![0x80, 0xE0, 0x01]);
    let malformed = Frame::new(MessageType::UserState, vec![0x0A, 0xFF, 0x01]);
    let unknown = Frame { kind: 999, payload: Bytes::from_static(b"whatever") };
    let bad_utf8 = Frame::new(MessageType::TextMessage, vec![0x2A, 0x02, 0xC3, 0x28]);
    let empty_voice = Frame::new(MessageType::UdpTunnel, Vec::new());
    let out = run(&mut c, &[lying, varint_past_end, malformed, unknown, bad_utf8, empty_voice, voice(4, 0, &[9])]);
    assert_eq!(out.len(), 1, "only the good voice packet comes out: {out:?}");
    assert!(c.is_ready());
}

#[test]
fn reject_ends_the_attempt_with_its_reason() {
    let mut c = core(None);
    let reject = frame(
        MessageType::Reject,
        proto::Reject { r#type: Some(reject::WRONG_SERVER_PW), reason: Some("Wrong password".into()) },
    );
    let err = c.handle(&reject, &mut Vec::new()).unwrap_err();
    assert!(err.is_hopeless());
    assert_eq!(err.to_string(), "server rejected us: WrongServerPW (Wrong password)");
    let full = frame(MessageType::Reject, proto::Reject { r#type: Some(reject::SERVER_FULL), reason: None });
    assert!(!c.handle(&full, &mut Vec::new()).unwrap_err().is_hopeless());
}

#[test]
fn text_in_is_plain_and_text_out_is_escaped_to_our_channel() {
    let mut c = core(None);
    assert!(c.text_message(TextTarget::CurrentChannel, "early").is_none());
    run(&mut c, &[user(3, "bot", 2), user(4, "alice", 2), sync(3)]);
    let msg = proto::TextMessage {
        actor: Some(4),
        session: vec![3],
        message: "<p>hi &amp; bye</p>".into(),
        ..Default::default()
    };
    let out = run(&mut c, &[frame(MessageType::TextMessage, msg)]);
    assert_eq!(
        out,
        [Output::Event(Event::Text(TextMessage {
            actor: Some(4),
            sender: Some("alice".into()),
            text: "hi & bye".into(),
            private: true
        }))]
    );
    let sent = c.text_message(TextTarget::CurrentChannel, "a<b").unwrap();
    let msg = proto::TextMessage::decode(sent.payload).unwrap();
    assert_eq!((msg.message.as_str(), msg.channel_id), ("a&lt;b", vec![2]));
}

#[test]
fn being_removed_ends_the_connection_and_others_leaving_is_an_event() {
    let mut c = core(None);
    run(&mut c, &[user(3, "bot", 0), user(4, "alice", 0), sync(3)]);
    let out = run(&mut c, &[frame(MessageType::UserRemove, proto::UserRemove { session: 4, ..Default::default() })]);
    assert_eq!(out, [Output::Event(Event::UserLeft { session: 4, name: "alice".into() })]);
    let kicked = frame(
        MessageType::UserRemove,
        proto::UserRemove { session: 3, reason: Some("bye".into()), ..Default::default() },
    );
    assert!(matches!(c.handle(&kicked, &mut Vec::new()), Err(CoreError::Removed { .. })));
}

#[test]
fn voice_frames_out_use_the_tunnel_with_the_raw_packet() {
    let f = ClientCore::voice_frame(&[0xAB; 87], 4, true).unwrap();
    assert_eq!(f.kind, 1);
    assert_eq!(f.payload[..4], [0x80, 0x04, 0xA0, 0x57]);
}
