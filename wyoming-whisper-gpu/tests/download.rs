//! Model download from a local HTTP server that serves files at the model hub's URLs
//! (`/<repo>/resolve/main/<file>`), since the real hub is out of reach here.

use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_tests::{ChildGuard, free_port, provisioned, python, wait_for_port};

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-whisper-gpu");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_into_the_hub_cache_layout_then_works_offline() {
    let (Some(python), Some(model)) = (python(), provisioned("WYOMING_TEST_WHISPER_TINY_EN")) else { return };
    let hub = tempfile::tempdir().unwrap();
    let files = hub.path().join("rhasspy/faster-whisper-tiny-int8/resolve/main");
    std::fs::create_dir_all(&files).unwrap();
    for file in ["config.json", "model.bin", "vocabulary.txt"] {
        std::os::unix::fs::symlink(model.join(file), files.join(file)).unwrap();
    }
    let hub_port = free_port();
    let _hub = ChildGuard(
        Command::new(&python)
            .args(["-m", "http.server", &hub_port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(hub.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(hub_port, Duration::from_secs(20)).await.unwrap();

    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let start = |extra: &[&str]| {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["--model", "tiny-int8", "--data-dir", data_dir, "--uri", &format!("tcp://127.0.0.1:{port}")])
            .args(extra)
            .env("HF_ENDPOINT", format!("http://127.0.0.1:{hub_port}"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (ChildGuard(child), port)
    };

    let (server, port) = start(&[]);
    wait_for_port(port, Duration::from_secs(120)).await.unwrap();
    let uri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let info = Client::connect(&uri, ClientOptions::default()).await.unwrap().describe().await.unwrap();
    assert_eq!(info.asr[0].models[0].artifact.name, "tiny-int8");
    let snapshot = data.path().join("models--rhasspy--faster-whisper-tiny-int8/snapshots/main");
    assert!(snapshot.join("model.bin").is_file() && snapshot.join("vocabulary.txt").is_file());
    assert!(!snapshot.join("model.bin.part").exists());
    drop(server);

    // The hub is not needed any more.
    drop(_hub);
    let (_server, port) = start(&["--local-files-only"]);
    wait_for_port(port, Duration::from_secs(120)).await.unwrap();

    // A repository the hub does not have is a clear startup error.
    let out = Command::new(BIN)
        .args(["--model", "owner/missing-model", "--data-dir", data_dir])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{hub_port}"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("owner/missing-model"), "{stderr}");
}
