//! The server helper: bad input closes only the offending connection, the connection cap, graceful
//! shutdown, and every transport.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wyoming_proto::Error;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::codec::{Limits, decode_all};
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Ping, Pong};
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;
use wyoming_proto::uri::WyomingUri;

/// Echoes events; a ping with text "slow" is answered after 300 ms (a request in flight). Stops when
/// shutdown is triggered while idle.
async fn echo(mut conn: Connection, shutdown: Shutdown) -> Result<(), Error> {
    loop {
        let event = tokio::select! {
            event = conn.read_event() => event?,
            _ = shutdown.triggered() => return Ok(()),
        };
        let Some(event) = event else { return Ok(()) };
        if let Event::Ping(Ping { text: Some(text), .. }) = &event
            && text == "slow"
        {
            tokio::time::sleep(Duration::from_millis(300)).await;
            conn.write_event(&Event::Pong(Pong { text: Some(text.clone()), ..Default::default() })).await?;
            continue;
        }
        conn.write_event(&event).await?;
    }
}

async fn start(config: ServerConfig) -> (WyomingUri, Shutdown, tokio::task::JoinHandle<Result<(), Error>>) {
    let server = Server::bind(&"tcp://127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let uri = server.local_uri();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(server.serve(echo, shutdown.clone()));
    (uri, shutdown, handle)
}

fn port(uri: &WyomingUri) -> u16 {
    match uri {
        WyomingUri::Tcp { port, .. } => *port,
        _ => unreachable!(),
    }
}

fn ping(text: &str) -> Event {
    Event::Ping(Ping { text: Some(text.into()), ..Default::default() })
}

async fn round_trip(client: &mut Client, text: &str) {
    client.send(&ping(text)).await.unwrap();
    assert_eq!(client.recv().await.unwrap(), Some(ping(text)));
}

/// Sends raw bytes and returns everything the server writes until it closes.
async fn send_raw(port: u16, bytes: &[u8], close_write: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    if close_write {
        stream.shutdown().await.unwrap();
    }
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply))
        .await
        .expect("the server closes a connection with bad input")
        .unwrap();
    reply
}

#[tokio::test]
async fn bad_input_closes_only_that_connection_with_an_error_event() {
    let (uri, shutdown, handle) = start(ServerConfig::default()).await;
    let mut healthy = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    round_trip(&mut healthy, "before").await;

    let mut long_header = b"{\"type\": \"x\", \"pad\": \"".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 70_000));
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("header longer than the limit", long_header, Some("FrameError")),
        (
            "payload_length of 2^62",
            b"{\"type\": \"audio-chunk\", \"payload_length\": 4611686018427387904}\n".to_vec(),
            Some("FrameError"),
        ),
        ("invalid JSON", b"{\"type\": \n".to_vec(), Some("FrameError")),
        ("header without type", b"{\"version\": \"1.10.2\"}\n".to_vec(), Some("FrameError")),
        ("non-UTF-8 header", b"{\"type\": \"\xff\"}\n".to_vec(), Some("FrameError")),
        (
            "known type with bad data",
            b"{\"type\": \"transcript\", \"data_length\": 2}\n{}".to_vec(),
            Some("InvalidEvent"),
        ),
        ("truncated frame", b"{\"type\": \"ping\", \"data_length\": 50}\n{\"te".to_vec(), None),
    ];
    for (name, bytes, code) in cases {
        let reply = send_raw(port(&uri), &bytes, code.is_none()).await;
        let events: Vec<Event> =
            decode_all(&reply, Limits::default()).unwrap().into_iter().map(|f| Event::from_frame(f).unwrap()).collect();
        match code {
            Some(code) => {
                assert_eq!(events.len(), 1, "{name}: {events:?}");
                let Event::Error(err) = &events[0] else { panic!("{name}: expected an error event, got {events:?}") };
                assert_eq!(err.code.as_deref(), Some(code), "{name}: {}", err.text);
                assert!(!err.text.is_empty(), "{name}");
            }
            None => assert!(events.is_empty(), "{name}: {events:?}"),
        }
        // Everyone else is still served.
        round_trip(&mut healthy, name).await;
    }
    let mut fresh = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    round_trip(&mut fresh, "after").await;

    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn unknown_event_types_keep_the_connection_open() {
    let (uri, shutdown, handle) = start(ServerConfig::default()).await;
    let mut client = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    let unknown = Event::Unknown(wyoming_proto::frame::Frame::new("run-satellite"));
    client.send(&unknown).await.unwrap();
    assert_eq!(client.recv().await.unwrap(), Some(unknown));
    round_trip(&mut client, "still open").await;
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

/// At the cap, a new client takes the slot of a connection idle for `evict_idle_after`, which is told why; a
/// connection in use is never evicted.
#[tokio::test]
async fn at_the_cap_the_idlest_connection_makes_room() {
    let config =
        ServerConfig { max_connections: 1, evict_idle_after: Some(Duration::from_millis(300)), ..Default::default() };
    let (uri, shutdown, handle) = start(config).await;
    let mut busy = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    // In use: a round trip every 100 ms. The newcomer is refused.
    for _ in 0..5 {
        round_trip(&mut busy, "still here").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut refused = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    match refused.recv().await.unwrap() {
        Some(Event::Error(e)) => assert_eq!(e.code.as_deref(), Some("ServerBusy")),
        other => panic!("expected a busy error, got {other:?}"),
    }
    // Forgotten: after 400 ms without a frame, the newcomer gets its slot.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut newcomer = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    round_trip(&mut newcomer, "my turn").await;
    match busy.recv().await.unwrap() {
        Some(Event::Error(e)) => {
            assert_eq!(e.code.as_deref(), Some("ConnectionEvicted"));
            assert!(e.text.contains("to make room for a new connection"), "{}", e.text);
        }
        other => panic!("expected the eviction error, got {other:?}"),
    }
    assert_eq!(busy.recv().await.unwrap(), None);
    round_trip(&mut newcomer, "still mine").await;
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

/// A connection with a request in flight is never evicted, however long its work sends nothing.
#[tokio::test]
async fn a_connection_with_a_request_in_flight_is_not_evicted() {
    // The handler marks itself busy for 1 s, sending nothing, then answers.
    async fn slow(mut conn: Connection, _shutdown: Shutdown) -> Result<(), Error> {
        while let Some(event) = conn.read_event().await? {
            let busy = conn.activity().busy();
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(busy);
            conn.write_event(&event).await?;
        }
        Ok(())
    }
    let config =
        ServerConfig { max_connections: 1, evict_idle_after: Some(Duration::from_millis(200)), ..Default::default() };
    let server = Server::bind(&"tcp://127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let uri = server.local_uri();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(server.serve(slow, shutdown.clone()));
    let mut working = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    working.send(&ping("long job")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut newcomer = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    match newcomer.recv().await.unwrap() {
        Some(Event::Error(e)) => assert_eq!(e.code.as_deref(), Some("ServerBusy")),
        other => panic!("expected a busy error, got {other:?}"),
    }
    assert_eq!(working.recv().await.unwrap(), Some(ping("long job")));
    shutdown.trigger();
    drop(working);
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_over_the_cap_are_told_the_server_is_busy() {
    let (uri, shutdown, handle) = start(ServerConfig { max_connections: 1, ..Default::default() }).await;
    let mut first = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    round_trip(&mut first, "first").await;
    let mut second = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    match second.recv().await.unwrap() {
        Some(Event::Error(e)) => assert_eq!(e.code.as_deref(), Some("ServerBusy")),
        other => panic!("expected a busy error, got {other:?}"),
    }
    assert_eq!(second.recv().await.unwrap(), None);
    drop(first);
    // The slot frees up once the first client leaves.
    let mut third = None;
    for _ in 0..50 {
        let mut c = Client::connect(&uri, ClientOptions::default()).await.unwrap();
        c.send(&ping("third")).await.unwrap();
        if let Ok(Some(Event::Ping(_))) = c.recv().await {
            third = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(third.is_some(), "a slot never freed up");
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn graceful_shutdown_lets_a_running_request_finish() {
    let (uri, shutdown, handle) = start(ServerConfig::default()).await;
    let mut busy = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    let mut idle = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    round_trip(&mut idle, "idle").await;

    busy.send(&ping("slow")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.trigger();
    // The request in flight is answered; the idle connection is closed.
    assert_eq!(busy.recv().await.unwrap(), Some(Event::Pong(Pong { text: Some("slow".into()), ..Default::default() })));
    assert_eq!(idle.recv().await.unwrap(), None);
    tokio::time::timeout(Duration::from_secs(5), handle).await.unwrap().unwrap().unwrap();
    // The listener is gone.
    assert!(TcpStream::connect(("127.0.0.1", port(&uri))).await.is_err());
}

#[tokio::test]
async fn grace_period_bounds_shutdown() {
    let config = ServerConfig { grace_period: Duration::from_millis(100), ..Default::default() };
    let server = Server::bind(&"tcp://127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let uri = server.local_uri();
    let shutdown = Shutdown::new();
    // A handler that ignores shutdown entirely.
    let stubborn = |_conn: Connection, _s: Shutdown| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    };
    let handle = tokio::spawn(server.serve(stubborn, shutdown.clone()));
    let _client = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(2), handle).await.expect("shutdown is bounded").unwrap().unwrap();
}

#[tokio::test]
async fn unix_socket_transport_replaces_a_stale_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wyoming.sock");
    // A stale socket file left by a crashed server.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let uri = WyomingUri::Unix(path.clone());
    let server = Server::bind(&uri, ServerConfig::default()).await.unwrap();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(server.serve(echo, shutdown.clone()));
    let mut client = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    round_trip(&mut client, "unix").await;
    drop(client);
    shutdown.trigger();
    handle.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

#[tokio::test]
async fn client_timeouts_are_typed_errors() {
    // A server that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let uri: WyomingUri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let options = ClientOptions { read_timeout: Some(Duration::from_millis(100)), ..Default::default() };
    let mut client = Client::connect(&uri, options).await.unwrap();
    assert!(matches!(client.describe().await, Err(Error::Timeout { .. })));

    // Nothing listening: a clear I/O error, not a hang.
    let closed: WyomingUri = format!("tcp://127.0.0.1:{}", free_port()).parse().unwrap();
    assert!(matches!(Client::connect(&closed, ClientOptions::default()).await, Err(Error::Io(_))));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
