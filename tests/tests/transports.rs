//! The same server over every transport, as a separate process: `stdio://` (one connection over the
//! process's stdin and stdout, ending with it) and `unix://`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::codec::{Limits, decode_all};
use wyoming_proto::event::{Event, Ping};
use wyoming_proto::uri::WyomingUri;
use wyoming_tests::{ChildGuard, catalogue};

const ECHO: &str = env!("CARGO_BIN_EXE_wyoming-echo");

#[test]
fn stdio_serves_one_connection_and_exits_at_end_of_input() {
    let mut child = ChildGuard(
        Command::new(ECHO)
            .args(["--uri", "stdio://"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let events = catalogue();
    let sent: Vec<u8> = events.iter().flat_map(|e| e.to_bytes().to_vec()).collect();
    let mut stdin = child.0.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&sent).unwrap();
        // Dropping stdin is the end of the one connection.
    });
    let mut echoed = Vec::new();
    child.0.stdout.take().unwrap().read_to_end(&mut echoed).unwrap();
    writer.join().unwrap();
    let got: Vec<Event> =
        decode_all(&echoed, Limits::default()).unwrap().into_iter().map(|f| Event::from_frame(f).unwrap()).collect();
    assert_eq!(got, events);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "the stdio server exits cleanly at end of input: {status}");
}

#[tokio::test]
async fn unix_socket_in_a_separate_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let uri = WyomingUri::Unix(path.clone());
    let mut child =
        ChildGuard(Command::new(ECHO).args(["--uri", &uri.to_string()]).stderr(Stdio::null()).spawn().unwrap());
    let mut client = None;
    for _ in 0..100 {
        if let Ok(c) = Client::connect(&uri, ClientOptions::default()).await {
            client = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut client = client.expect("the echo server listens on its socket");
    let ping = Event::Ping(Ping { text: Some("over unix".into()), ..Default::default() });
    client.send(&ping).await.unwrap();
    assert_eq!(client.recv().await.unwrap(), Some(ping));
    drop(client);
    // SIGTERM: graceful stop, socket file removed.
    Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!path.exists());
}
