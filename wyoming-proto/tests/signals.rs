//! SIGTERM stops a server gracefully: the running request finishes, then `serve` returns.
//! (Its own test binary, because the signal goes to the whole process.)

use std::time::Duration;
use wyoming_proto::Error;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::connection::Connection;
use wyoming_proto::event::{Event, Pong};
use wyoming_proto::server::{Server, ServerConfig};
use wyoming_proto::shutdown::Shutdown;

#[tokio::test]
async fn sigterm_finishes_running_requests_then_stops() {
    let server = Server::bind(&"tcp://127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await.unwrap();
    let uri = server.local_uri();
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals().unwrap();
    // Answers each event after 300 ms, whatever happens meanwhile.
    let slow = |mut conn: Connection, _s: Shutdown| async move {
        while conn.read_event().await?.is_some() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            conn.write_event(&Event::Pong(Pong::default())).await?;
        }
        Ok::<(), Error>(())
    };
    let handle = tokio::spawn(server.serve(slow, shutdown.clone()));
    let mut client = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    client.send(&Event::Describe(Default::default())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = std::process::Command::new("kill").args(["-TERM", &std::process::id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(client.recv().await.unwrap(), Some(Event::Pong(Pong::default())));
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), handle).await.unwrap().unwrap().unwrap();
    assert!(shutdown.is_triggered());
}
