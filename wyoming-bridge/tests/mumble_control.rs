//! Control-channel behaviour against a real murmurd: text both ways, joining a channel a SuperUser
//! created, reconnecting after a restart, and trust-on-first-use pinning.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use wyoming_bridge::mumble::{Event, Identity, MumbleClient, MumbleConfig, TextMessage, TlsOptions, Trust};

#[tokio::test]
async fn text_messages_both_ways() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let (client, mut events) = our_client(murmur.port, "bot", None);
    connected(&mut events).await;
    let mut alice = Peer::connect(&python, murmur.port, "alice", None).await;
    alice.send(json!({"cmd": "text", "message": "<p>Hello <b>bot</b> &amp; friends</p>"}));
    let got = next_event(&mut events, Duration::from_secs(10), |e| matches!(e, Event::Text(_))).await;
    assert_eq!(
        got,
        Event::Text(TextMessage {
            actor: Some(alice.session),
            sender: Some("alice".into()),
            text: "Hello bot & friends".into(),
            private: false
        })
    );
    client.send_text("hi alice, 1 < 2").await;
    let heard = alice.wait_for(|e| e["event"] == "text", Duration::from_secs(10)).await;
    assert_eq!(heard["message"], "hi alice, 1 &lt; 2");
    client.shutdown().await;
    alice.quit().await;
}

#[tokio::test]
async fn joins_a_channel_created_by_a_superuser_even_when_it_appears_later() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(Some("testpw")).await;
    let mut admin = Peer::connect(&python, murmur.port, "SuperUser", Some("testpw")).await;
    admin.send(json!({"cmd": "create_channel", "name": "Tavern"}));
    let tavern =
        admin.wait_for(|e| e["event"] == "channel_created" && e["name"] == "Tavern", Duration::from_secs(10)).await;
    let tavern = tavern["id"].as_u64().unwrap() as u32;

    // The channel exists: joined right after connecting.
    let (bot, mut events) = our_client(murmur.port, "bot", Some("Tavern"));
    let own = connected(&mut events).await;
    let moved = next_event(
        &mut events,
        Duration::from_secs(10),
        |e| matches!(e, Event::UserMoved { session, .. } if *session == own),
    )
    .await;
    assert!(matches!(moved, Event::UserMoved { to, .. } if to == tavern), "{moved:?}");
    admin
        .wait_for(
            |e| e["event"] == "user_updated" && e["name"] == "bot" && e["channel"] == tavern,
            Duration::from_secs(10),
        )
        .await;

    // The channel does not exist yet: the bot stays in Root and moves when it is created.
    let (late, mut late_events) = our_client(murmur.port, "latecomer", Some("Later"));
    let late_own = connected(&mut late_events).await;
    admin.send(json!({"cmd": "create_channel", "name": "Later"}));
    let later =
        admin.wait_for(|e| e["event"] == "channel_created" && e["name"] == "Later", Duration::from_secs(10)).await;
    let later = later["id"].as_u64().unwrap() as u32;
    let moved = next_event(
        &mut late_events,
        Duration::from_secs(10),
        |e| matches!(e, Event::UserMoved { session, .. } if *session == late_own),
    )
    .await;
    assert!(matches!(moved, Event::UserMoved { from: 0, to, .. } if to == later), "{moved:?}");
    bot.shutdown().await;
    late.shutdown().await;
    admin.quit().await;
}

#[tokio::test]
async fn reconnects_within_5_s_of_murmur_coming_back() {
    let _serial = serial().await;
    if !murmurd_available() {
        return;
    }
    let mut murmur = Murmur::start(None).await;
    let (client, mut events) = our_client(murmur.port, "bot", None);
    let first = connected(&mut events).await;
    for round in 0..2 {
        murmur.kill();
        next_event(&mut events, Duration::from_secs(10), |e| matches!(e, Event::Disconnected { .. })).await;
        // Down for a while, so the client's back-off has grown.
        tokio::time::sleep(Duration::from_secs(3)).await;
        murmur.restart().await;
        let back = Instant::now();
        let session = connected(&mut events).await;
        let took = back.elapsed();
        eprintln!("round {round}: reconnected {took:?} after murmurd was back (session {first} then {session})");
        assert!(took <= Duration::from_secs(5), "reconnect took {took:?}");
    }
    client.shutdown().await;
}

fn tofu_client(port: u16, store: &std::path::Path) -> (MumbleClient, tokio::sync::mpsc::Receiver<Event>) {
    MumbleClient::start(MumbleConfig {
        host: "127.0.0.1".into(),
        port,
        identity: Identity { username: "bot".into(), ..Default::default() },
        tls: TlsOptions { trust: Trust::Default, known_servers: Some(store.to_path_buf()), client_cert: None },
    })
    .unwrap()
}

#[tokio::test]
async fn trust_on_first_use_accepts_the_same_server_and_refuses_a_changed_certificate() {
    let _serial = serial().await;
    if !murmurd_available() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let store = state.path().join("known_servers");
    let mut murmur = Murmur::start(None).await;
    let port = murmur.port;

    let (first, mut events) = tofu_client(port, &store);
    connected(&mut events).await;
    first.shutdown().await;
    let pinned = std::fs::read_to_string(&store).unwrap();
    assert!(pinned.starts_with(&format!("127.0.0.1:{port} ")), "{pinned}");

    // Same server (same database, so the same certificate) after a restart: accepted.
    murmur.restart().await;
    let (second, mut events) = tofu_client(port, &store);
    connected(&mut events).await;
    second.shutdown().await;

    // A different server on the same address: a freshly generated certificate. Refused.
    murmur.kill();
    let _impostor = Murmur::start_on(port, None).await;
    let (third, mut events) = tofu_client(port, &store);
    let refused = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, Event::Disconnected { .. } | Event::Connected(_))
    })
    .await;
    let Event::Disconnected { reason, retry_in } = refused else {
        panic!("connected to a server with a changed certificate")
    };
    eprintln!("refused: {reason} (retry in {retry_in:?})");
    assert!(reason.contains("changed"), "{reason}");
    assert!(retry_in >= Duration::from_secs(30), "a changed certificate is not retried quickly");
    assert_eq!(std::fs::read_to_string(&store).unwrap(), pinned, "the pin is not overwritten");
    third.shutdown().await;
}

#[tokio::test]
async fn server_password_and_client_certificate() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start_with(wyoming_tests::free_port(), None, "serverpassword=sesame\n").await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mumble");
    let (cert, key) = (fixtures.join("client.pem"), fixtures.join("client.key"));
    let config = |password: &str| MumbleConfig {
        host: "127.0.0.1".into(),
        port: murmur.port,
        identity: Identity { username: "bot".into(), password: Some(password.into()), ..Default::default() },
        tls: TlsOptions { trust: Trust::Insecure, known_servers: None, client_cert: Some((cert.clone(), key.clone())) },
    };

    let (wrong, mut events) = MumbleClient::start(config("open up")).unwrap();
    let refused = next_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, Event::Disconnected { .. } | Event::Connected(_))
    })
    .await;
    assert!(matches!(&refused, Event::Disconnected { reason, .. } if reason.contains("WrongServerPW")), "{refused:?}");
    wrong.shutdown().await;

    let (client, mut events) = MumbleClient::start(config("sesame")).unwrap();
    let own = connected(&mut events).await;
    // The server binds a user to the SHA-1 of their certificate and shows it to others.
    let mut peer = Peer::connect(&python, murmur.port, "peer", Some("sesame")).await;
    peer.send(json!({"cmd": "users"}));
    let users = peer.wait_for(|e| e["event"] == "users", Duration::from_secs(5)).await;
    assert!(users["users"].as_array().unwrap().iter().any(|u| u["session"] == own), "{users}");
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_file(&cert).unwrap();
    let sha1: String = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(peer_hash(&mut peer, own).await, sha1, "the server sees our client certificate");
    peer.quit().await;
    client.shutdown().await;
}

async fn peer_hash(peer: &mut Peer, session: u32) -> String {
    peer.send(json!({"cmd": "hashes"}));
    let hashes = peer.wait_for(|e| e["event"] == "hashes", Duration::from_secs(5)).await;
    hashes["hashes"][session.to_string()].as_str().unwrap_or_default().to_string()
}
