//! The exact wire bytes of the reference exchanges (wyoming.md §6), written by the real Python 1.10.2
//! writer (`tests/python/make_golden.py`): our encoder must produce them and our decoder must read them.

use bytes::Bytes;
use wyoming_proto::audio::AudioFormat;
use wyoming_proto::codec::{Limits, decode_all};
use wyoming_proto::event::*;

fn golden(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn encode(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(|e| e.to_bytes().to_vec()).collect()
}

fn decode(bytes: &[u8]) -> Vec<Event> {
    decode_all(bytes, Limits::default()).unwrap().into_iter().map(|f| Event::from_frame(f).unwrap()).collect()
}

fn check(name: &str, events: Vec<Event>) {
    let bytes = golden(name);
    assert_eq!(String::from_utf8_lossy(&encode(&events)), String::from_utf8_lossy(&bytes), "{name}: encoding");
    assert_eq!(encode(&events), bytes, "{name}: encoding (bytes)");
    assert_eq!(decode(&bytes), events, "{name}: decoding");
}

fn payload(n: usize, seed: usize) -> Bytes {
    (0..n).map(|i| ((i * 7 + seed) % 256) as u8).collect::<Vec<_>>().into()
}

const LANGS: &str = "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo yue zh";

#[test]
fn describe_info_of_faster_whisper() {
    check("describe_info.client.bin", vec![Event::Describe(Describe::default())]);
    let model = AsrModel {
        artifact: Artifact {
            description: Some("tiny-int8".into()),
            version: Some("1.2.1".into()),
            ..Artifact::new("tiny-int8", Attribution::new("Systran", "https://huggingface.co/Systran"))
        },
        languages: LANGS.split(' ').map(String::from).collect(),
        extra: Extra::new(),
    };
    let program = AsrProgram::new(
        Artifact {
            description: Some("Faster Whisper transcription with CTranslate2".into()),
            version: Some("3.8.1".into()),
            ..Artifact::new(
                "faster-whisper",
                Attribution::new("Guillaume Klein", "https://github.com/guillaumekln/faster-whisper/"),
            )
        },
        vec![model],
    );
    let info = Info { asr: vec![program], ..Default::default() };
    check("describe_info.server.bin", vec![Event::Info(info)]);
    // The reference capture announces exactly 1,258 bytes of data.
    assert!(
        golden("describe_info.server.bin")
            .starts_with(b"{\"type\": \"info\", \"version\": \"1.10.2\", \"data_length\": 1258}\n")
    );
}

#[test]
fn home_assistant_stt_exchange() {
    let fmt = AudioFormat { rate: 16000, width: 2, channels: 1 };
    let mut client = vec![
        Event::Transcribe(Transcribe { language: Some("en".into()), ..Default::default() }),
        Event::AudioStart(AudioStart::new(fmt)),
    ];
    client.extend((0..3).map(|i| Event::AudioChunk(AudioChunk::new(fmt, payload(2048, i)))));
    client.push(Event::AudioStop(AudioStop::default()));
    check("ha_stt.client.bin", client);
    check("ha_stt.server.bin", vec![Event::Transcript(Transcript::new(" Turn on the living room lamp."))]);
}

#[test]
fn home_assistant_streaming_tts_exchange() {
    let voice = Some(SynthesizeVoice::named("en_US-lessac-medium"));
    let chunk = |t: &str| Event::SynthesizeChunk(SynthesizeChunk { text: t.into(), ..Default::default() });
    check(
        "ha_tts_stream.client.bin",
        vec![
            Event::SynthesizeStart(SynthesizeStart { voice: voice.clone(), ..Default::default() }),
            chunk("Hello world. "),
            chunk("How are"),
            chunk(" you today?"),
            Event::Synthesize(Synthesize { voice, ..Synthesize::new("Hello world. How are you today?") }),
            Event::SynthesizeStop(SynthesizeStop::default()),
        ],
    );
    let fmt = AudioFormat { rate: 22050, width: 2, channels: 1 };
    let cycle = |seed: usize| {
        vec![
            Event::AudioStart(AudioStart::new(fmt)),
            Event::AudioChunk(AudioChunk::new(fmt, payload(2048, seed))),
            Event::AudioChunk(AudioChunk::new(fmt, payload(952, seed + 1))),
            Event::AudioStop(AudioStop::default()),
        ]
    };
    let mut server = cycle(10);
    server.extend(cycle(20));
    server.push(Event::SynthesizeStopped(SynthesizeStopped::default()));
    check("ha_tts_stream.server.bin", server);
}

/// What Python peers send without checking types: a float rate, a numeric language. wyoming-faster-whisper takes
/// both; so do we.
#[test]
fn loosely_typed_python_events_are_read() {
    let events = decode(
        b"{\"type\": \"transcribe\", \"data\": {\"language\": 5}}\n\
          {\"type\": \"audio-start\", \"data\": {\"rate\": 16000.0, \"width\": 2, \"channels\": 1}}\n",
    );
    assert_eq!(events[0], Event::Transcribe(Transcribe { language: Some("5".into()), ..Default::default() }));
    let Event::AudioStart(start) = &events[1] else { panic!("{:?}", events[1]) };
    assert_eq!((start.format.rate, start.format.width, start.format.channels), (16_000, 2, 1));
}

/// `voice` as a bare name, `null`, `{}` or `""`: a name is that voice, the rest no voice. A number is an error.
#[test]
fn a_synthesize_voice_may_be_a_bare_name() {
    let events = decode(
        b"{\"type\": \"synthesize\", \"data\": {\"text\": \"a\", \"voice\": \"en_US-joe-medium\"}}\n\
          {\"type\": \"synthesize-start\", \"data\": {\"voice\": \"en_US-joe-medium\"}}\n\
          {\"type\": \"synthesize\", \"data\": {\"text\": \"b\", \"voice\": null}}\n\
          {\"type\": \"synthesize\", \"data\": {\"text\": \"c\", \"voice\": {}}}\n\
          {\"type\": \"synthesize\", \"data\": {\"text\": \"d\", \"voice\": \"\"}}\n",
    );
    let joe = Some(SynthesizeVoice::named("en_US-joe-medium"));
    let Event::Synthesize(named) = &events[0] else { panic!("{:?}", events[0]) };
    assert_eq!(named.voice, joe);
    let Event::SynthesizeStart(start) = &events[1] else { panic!("{:?}", events[1]) };
    assert_eq!(start.voice, joe);
    for event in &events[2..] {
        let Event::Synthesize(none) = event else { panic!("{event:?}") };
        assert_eq!(none.voice, None, "{event:?}");
    }
    let bad = decode_all(b"{\"type\": \"synthesize\", \"data\": {\"text\": \"e\", \"voice\": 5}}\n", Limits::default());
    assert!(Event::from_frame(bad.unwrap().remove(0)).is_err());
}
