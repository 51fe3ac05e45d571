//! A scripted fake server (TLS with a throwaway certificate) feeds the client bad input: a Reject,
//! a disconnect in the middle of the handshake, malformed messages, unknown types, broken voice
//! packets and an oversized frame. The client must log, survive what can be survived, and report
//! the rest as a clear `Disconnected` reason, never panic. Also: certificate pinning both ways.

mod common;

use common::next_event;
use prost::Message;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wyoming_bridge::mumble::control::{Frame, FrameDecoder, MessageType};
use wyoming_bridge::mumble::proto;
use wyoming_bridge::mumble::voice::{self, Direction, OpusPacket};
use wyoming_bridge::mumble::{Event, Fingerprint, Identity, MumbleClient, MumbleConfig, TlsOptions, Trust};

/// The fake server's throwaway certificate and key (`tests/fixtures/mumble`).
fn server_cert() -> (Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>) {
    use rustls::pki_types::pem::PemObject;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mumble");
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (chain, rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap())
}

fn frame(kind: MessageType, msg: impl Message) -> Vec<u8> {
    Frame::new(kind, msg.encode_to_vec()).to_bytes()
}

fn raw(kind: u16, payload: &[u8]) -> Vec<u8> {
    Frame { kind, payload: payload.to_vec().into() }.to_bytes()
}

/// What the fake server does after reading the client's Version and Authenticate.
type Script = Vec<Vec<u8>>;

struct FakeServer {
    port: u16,
    fingerprint: Fingerprint,
}

/// Serves `script` to every connection (writing each piece separately), then holds the connection
/// open for `hold` (or closes it at once if `hold` is zero).
async fn fake_server(script: Script, hold: Duration) -> FakeServer {
    let (chain, key) = server_cert();
    let fingerprint = Fingerprint::of(&chain[0]);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut decoder = FrameDecoder::new();
                let mut seen = 0;
                let mut buf = [0u8; 4096];
                while seen < 2 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => decoder.push(&buf[..n]),
                    }
                    while let Ok(Some(_)) = decoder.next_frame() {
                        seen += 1;
                    }
                }
                for piece in script {
                    if tls.write_all(&piece).await.is_err() {
                        return;
                    }
                    let _ = tls.flush().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tokio::time::sleep(hold).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    FakeServer { port, fingerprint }
}

fn client(port: u16, trust: Trust) -> (MumbleClient, tokio::sync::mpsc::Receiver<Event>) {
    MumbleClient::start(MumbleConfig {
        host: "127.0.0.1".into(),
        port,
        identity: Identity { username: "bot".into(), ..Default::default() },
        tls: TlsOptions { trust, ..Default::default() },
    })
    .unwrap()
}

fn handshake(own: u32) -> Script {
    vec![
        frame(
            MessageType::Version,
            proto::Version { version_v1: Some(0x10304), release: Some("fake".into()), ..Default::default() },
        ),
        frame(
            MessageType::ChannelState,
            proto::ChannelState { channel_id: Some(0), name: Some("Root".into()), ..Default::default() },
        ),
        frame(
            MessageType::UserState,
            proto::UserState {
                session: Some(own),
                name: Some("bot".into()),
                channel_id: Some(0),
                ..Default::default()
            },
        ),
        frame(
            MessageType::ServerSync,
            proto::ServerSync { session: Some(own), max_bandwidth: Some(72_000), ..Default::default() },
        ),
    ]
}

async fn disconnected(events: &mut tokio::sync::mpsc::Receiver<Event>) -> (String, Duration) {
    match next_event(events, Duration::from_secs(10), |e| matches!(e, Event::Disconnected { .. })).await {
        Event::Disconnected { reason, retry_in } => (reason, retry_in),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn reject_is_reported_with_its_reason_and_not_retried_soon() {
    let reject =
        frame(MessageType::Reject, proto::Reject { r#type: Some(4), reason: Some("Wrong server password".into()) });
    let server = fake_server(vec![reject], Duration::from_secs(5)).await;
    let (client, mut events) = client(server.port, Trust::Insecure);
    let (reason, retry_in) = disconnected(&mut events).await;
    assert_eq!(reason, "server rejected us: WrongServerPW (Wrong server password)");
    assert!(retry_in >= Duration::from_secs(30));
    client.shutdown().await;
}

#[tokio::test]
async fn a_disconnect_mid_handshake_is_reported_and_retried() {
    let version = frame(MessageType::Version, proto::Version { version_v1: Some(0x10304), ..Default::default() });
    let server = fake_server(vec![version], Duration::ZERO).await;
    let (client, mut events) = client(server.port, Trust::Insecure);
    let (reason, retry_in) = disconnected(&mut events).await;
    assert_eq!(reason, "the server closed the connection during the handshake");
    assert!(retry_in < Duration::from_secs(2), "a network failure is retried soon: {retry_in:?}");
    // And again: the client keeps trying without falling over.
    let (again, _) = disconnected(&mut events).await;
    assert_eq!(again, reason);
    client.shutdown().await;
}

#[tokio::test]
async fn bad_messages_and_voice_packets_are_dropped_alone_and_an_oversized_frame_ends_the_connection() {
    let mut opus = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let tone: Vec<i16> = (0..960).map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16).collect();
    let good_opus = opus.encode_vec(&tone, 1000).unwrap();
    let voice = |session: u32, sequence: u64, opus: &[u8]| {
        let mut packet = Vec::new();
        let p = OpusPacket { target: 0, session: Some(session), sequence, terminator: false, opus };
        voice::encode(&p, Direction::ServerToClient, &mut packet).unwrap();
        raw(1, &packet)
    };
    let mut script = handshake(7);
    script.extend([
        frame(
            MessageType::UserState,
            proto::UserState {
                session: Some(8),
                name: Some("alice".into()),
                channel_id: Some(0),
                ..Default::default()
            },
        ),
        raw(9, &[0x0A, 0xFF, 0x01]),                 // malformed protobuf (truncated field)
        raw(999, b"a message type from the future"), // unknown type
        raw(11, &[0x2A, 0x02, 0xC3, 0x28]),          // text message with invalid UTF-8
        raw(1, &[0x80, 0x08, 0x00, 0x50, 1, 2, 3]),  // voice packet whose length lies
        raw(1, &[0x80, 0x08, 0xE0, 0x01]),           // varint past the end of the packet
        raw(1, &[]),                                 // empty voice packet
        voice(8, 0, &[0xFF, 0x00]),                  // Opus that does not decode
        voice(7, 0, &good_opus),                     // our own session: ignored
        voice(8, 2, &good_opus),                     // the one good packet
        raw(4, &[]),                                 // placeholder replaced below
    ]);
    // An oversized frame: only the header is needed.
    *script.last_mut().unwrap() = [0x00, 0x07, 0xFF, 0xFF, 0xFF, 0xFF].to_vec();
    let server = fake_server(script, Duration::from_secs(5)).await;
    let (client, mut events) = client(server.port, Trust::Insecure);
    let mut voice_frames = Vec::new();
    let reason = loop {
        match next_event(&mut events, Duration::from_secs(10), |_| true).await {
            Event::Voice(frame) => voice_frames.push((frame.session, frame.name, frame.pcm.len())),
            Event::Disconnected { reason, .. } => break reason,
            _ => {}
        }
    };
    assert_eq!(voice_frames, [(8, "alice".to_string(), 960)], "only the good packet is heard (concealment aside)");
    assert!(reason.contains("over the 8388608-byte limit"), "{reason}");
    client.shutdown().await;
}

#[tokio::test]
async fn a_pinned_fingerprint_is_accepted_and_any_other_refused() {
    let server = fake_server(handshake(3), Duration::from_secs(5)).await;
    let (good, mut events) = client(server.port, Trust::Pinned(server.fingerprint));
    match next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, Event::Connected(_) | Event::Disconnected { .. })
    })
    .await
    {
        Event::Connected(c) => assert_eq!(c.session, 3),
        other => panic!("{other:?}"),
    }
    good.shutdown().await;
    let (bad, mut events) = client(server.port, Trust::Pinned(Fingerprint([0xAB; 32])));
    let (reason, retry_in) = disconnected(&mut events).await;
    assert!(reason.contains(&format!("has fingerprint {}, not the pinned abab", server.fingerprint)), "{reason}");
    assert!(retry_in >= Duration::from_secs(30));
    bad.shutdown().await;
}
