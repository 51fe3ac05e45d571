//! Interop with the real Python `wyoming` 1.10.2 library, in both directions, for every event type in
//! the catalogue, payloads included, byte for byte.

use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_tests::{ChildGuard, catalogue, free_port, python, python_script, wait_for_port};

/// Our server (`wyoming-echo` parses each event into its typed form and writes it back) against the
/// Python library's client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_rust_server() {
    let Some(python) = python() else { return };
    let port = free_port();
    let _server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_wyoming-echo"))
            .args(["--uri", &format!("tcp://127.0.0.1:{port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(20)).await.unwrap();

    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(python_script("interop_client.py"))
            .args(["127.0.0.1", &port.to_string()])
            .current_dir(python_script(""))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python client saw differences (output above)");
    assert!(stdout.contains("events byte-identical"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_against_python_server() {
    let Some(python) = python() else { return };
    let port = free_port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let _server = ChildGuard(
        Command::new(python)
            .arg(python_script("echo_server.py"))
            .arg(&uri)
            .current_dir(python_script(""))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(20)).await.unwrap();

    let mut client = Client::connect(&uri.parse().unwrap(), ClientOptions::default()).await.unwrap();
    let events = catalogue();
    for event in &events {
        client.send(event).await.unwrap();
        let echoed = client.recv().await.unwrap().expect("the Python server echoes every event");
        assert_eq!(&echoed, event, "typed round trip through Python of {}", event.event_type());
        assert_eq!(echoed.to_bytes(), event.to_bytes());
    }

    // Byte for byte on a raw socket: what Python writes back is exactly what we wrote.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for event in &events {
        let bytes = event.to_bytes();
        raw.write_all(&bytes).await.unwrap();
        let mut echoed = vec![0u8; bytes.len()];
        tokio::time::timeout(Duration::from_secs(5), raw.read_exact(&mut echoed)).await.unwrap().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&echoed),
            String::from_utf8_lossy(&bytes),
            "bytes of {}",
            event.event_type()
        );
        assert_eq!(echoed, bytes.to_vec());
    }
}
