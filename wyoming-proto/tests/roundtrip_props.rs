//! Property tests: encode → decode is the identity for arbitrary events, and arbitrary bytes never
//! panic the decoder.

use bytes::BytesMut;
use proptest::prelude::*;
use serde_json::{Map, Value};
use tokio_util::codec::Decoder;
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::codec::{Limits, WyomingCodec, decode_all};
use wyoming_proto::event::*;
use wyoming_proto::frame::Frame;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,40}", "[a-zA-Z .,!?]{0,20}", Just(String::new()), Just("Grüße, 東京\n\"\\".to_string())]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Extra keys that do not collide with declared field names.
/// An optional JSON field such as `context`: `null` on the wire means absent, so `Some(null)` is not a
/// state of its own.
fn opt_json() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(json_value().prop_filter("null means absent", |v| !v.is_null()))
}

fn extra() -> impl Strategy<Value = Extra> {
    prop::collection::btree_map("x_[a-z]{1,6}", json_value(), 0..3).prop_map(|m| m.into_iter().collect::<Map<_, _>>())
}

fn format() -> impl Strategy<Value = AudioFormat> {
    (1u32..200_000, 1u16..5, 1u16..9).prop_map(|(rate, width, channels)| AudioFormat { rate, width, channels })
}

fn voice() -> impl Strategy<Value = Option<SynthesizeVoice>> {
    proptest::option::of((opt_text(), opt_text(), opt_text(), extra()).prop_filter_map(
        "empty voice means no voice",
        |(name, speaker, language, extra)| {
            let v = SynthesizeVoice { name, speaker, language, extra };
            (v != SynthesizeVoice::default()).then_some(v)
        },
    ))
}

fn event() -> impl Strategy<Value = Event> {
    let ts = proptest::option::of(any::<i64>());
    prop_oneof![
        extra().prop_map(|extra| Event::Describe(Describe { extra })),
        (text(), extra()).prop_map(|(name, extra)| Event::SelectProgram(SelectProgram { name, extra })),
        (format(), ts.clone(), extra()).prop_map(|(format, timestamp, extra)| Event::AudioStart(AudioStart {
            format,
            timestamp,
            extra
        })),
        (format(), ts.clone(), prop::collection::vec(any::<u8>(), 0..64), extra()).prop_map(
            |(format, timestamp, audio, extra)| {
                Event::AudioChunk(AudioChunk { format, timestamp, audio: audio.into(), extra })
            }
        ),
        (ts.clone(), extra()).prop_map(|(timestamp, extra)| Event::AudioStop(AudioStop { timestamp, extra })),
        (
            opt_text(),
            opt_text(),
            opt_json(),
            opt_text(),
            proptest::option::of(prop::collection::vec(text(), 0..3)),
            extra()
        )
            .prop_map(|(name, language, context, vad_sensitivity, transcript_names, extra)| {
                Event::Transcribe(Transcribe {
                    name,
                    language,
                    context,
                    vad_sensitivity,
                    transcript_names,
                    transcript_terms: None,
                    extra,
                })
            }),
        (text(), opt_text(), opt_json(), extra()).prop_map(|(text, language, context, extra)| Event::Transcript(
            Transcript { text, language, context, extra }
        )),
        (opt_text(), extra()).prop_map(|(language, extra)| Event::TranscriptStart(TranscriptStart {
            language,
            context: None,
            extra
        })),
        (text(), extra()).prop_map(|(text, extra)| Event::TranscriptChunk(TranscriptChunk { text, extra })),
        extra().prop_map(|extra| Event::TranscriptStop(TranscriptStop { extra })),
        (text(), voice(), opt_text(), extra()).prop_map(|(text, voice, text_format, extra)| Event::Synthesize(
            Synthesize { text, voice, text_format, context: None, extra }
        )),
        (voice(), extra()).prop_map(|(voice, extra)| Event::SynthesizeStart(SynthesizeStart {
            voice,
            text_format: None,
            context: None,
            extra
        })),
        (text(), extra()).prop_map(|(text, extra)| Event::SynthesizeChunk(SynthesizeChunk { text, extra })),
        extra().prop_map(|extra| Event::SynthesizeStop(SynthesizeStop { extra })),
        extra().prop_map(|extra| Event::SynthesizeStopped(SynthesizeStopped { extra })),
        (text(), opt_text(), extra()).prop_map(|(text, code, extra)| Event::Error(ErrorEvent { text, code, extra })),
        (opt_text(), extra()).prop_map(|(text, extra)| Event::Ping(Ping { text, extra })),
        (opt_text(), extra()).prop_map(|(text, extra)| Event::Pong(Pong { text, extra })),
        (ts.clone(), extra()).prop_map(|(timestamp, extra)| Event::VoiceStarted(VoiceStarted { timestamp, extra })),
        (ts, extra()).prop_map(|(timestamp, extra)| Event::VoiceStopped(VoiceStopped { timestamp, extra })),
        (text(), opt_text(), any::<bool>(), extra()).prop_map(|(name, description, streaming, extra)| {
            let artifact = Artifact { description, ..Artifact::new(name, Attribution::new("a", "u")) };
            let voice = TtsVoice {
                artifact: artifact.clone(),
                languages: vec!["en_US".into()],
                speakers: None,
                extra: Extra::new(),
            };
            Event::Info(Info {
                tts: vec![TtsProgram {
                    artifact,
                    voices: vec![voice],
                    supports_synthesize_streaming: streaming,
                    extra: Extra::new(),
                }],
                extra,
                ..Default::default()
            })
        }),
        ("[a-z][a-z-]{0,15}", extra(), prop::collection::vec(any::<u8>(), 0..16)).prop_filter_map(
            "unknown types only",
            |(t, data, payload)| {
                let frame = Frame::new(t).with_data(data).with_payload(payload);
                match Event::from_frame(frame.clone()) {
                    Ok(Event::Unknown(_)) => Some(Event::Unknown(frame)),
                    _ => None,
                }
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(events in prop::collection::vec(event(), 1..6)) {
        let bytes: Vec<u8> = events.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
        let frames = decode_all(&bytes, Limits::default()).unwrap();
        let decoded: Vec<Event> = frames.into_iter().map(|f| Event::from_frame(f).unwrap()).collect();
        prop_assert_eq!(&decoded, &events);
        // Re-encoding what we read gives the same bytes.
        let again: Vec<u8> = decoded.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), split in any::<prop::sample::Index>()) {
        let limits = Limits { max_header: 128, max_data: 256, max_payload: 256 };
        let mut codec = WyomingCodec::new(limits);
        let at = split.index(bytes.len() + 1);
        let mut buf = BytesMut::new();
        'outer: for part in [&bytes[..at], &bytes[at..]] {
            buf.extend_from_slice(part);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(frame)) => { let _ = Event::from_frame(frame); }
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
        let _ = codec.decode_eof(&mut buf);
    }

    #[test]
    fn framed_arbitrary_json_never_panics(header in json_value(), data in json_value(), payload in prop::collection::vec(any::<u8>(), 0..32)) {
        let data = serde_json::to_vec(&data).unwrap();
        let mut bytes = serde_json::to_vec(&header).unwrap();
        bytes.push(b'\n');
        bytes.extend_from_slice(&data);
        bytes.extend_from_slice(&payload);
        if let Ok(frames) = decode_all(&bytes, Limits::default()) {
            for f in frames { let _ = Event::from_frame(f); }
        }
    }
}
