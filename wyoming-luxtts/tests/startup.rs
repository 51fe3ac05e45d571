//! Start-up failures a user can cause are clear messages and a non-zero exit, never a panic.

use std::process::Command;
use wyoming_tests::provisioned;

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-luxtts");

fn run(args: &[&str], ort: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_BACKTRACE");
    match ort {
        Some(path) => cmd.env("ORT_DYLIB_PATH", path),
        None => cmd.env_remove("ORT_DYLIB_PATH"),
    };
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr + &String::from_utf8_lossy(&out.stdout))
}

const URI: [&str; 2] = ["--uri", "tcp://127.0.0.1:0"];

#[test]
fn a_missing_onnx_runtime_is_a_clear_error() {
    let (ok, stderr) = run(&[&URI[..], &["--voice", "joe"]].concat(), Some("/nonexistent/libonnxruntime.so"));
    assert!(!ok);
    assert!(stderr.contains("cannot load ONNX Runtime from /nonexistent/libonnxruntime.so"), "{stderr}");

    let (ok, stderr) = run(&[&URI[..], &["--voice", "joe"]].concat(), None);
    assert!(!ok);
    assert!(stderr.contains("ORT_DYLIB_PATH is not set"), "{stderr}");
}

#[test]
fn bad_flags_are_clear_errors() {
    let (ok, stderr) = run(&["--uri", "tcp://0.0.0.0", "--voice", "joe"], Some("/nonexistent"));
    assert!(!ok);
    assert!(stderr.contains("a port must be specified"), "{stderr}");
    let (ok, stderr) = run(&URI, Some("/nonexistent"));
    assert!(!ok && stderr.contains("needs --voice"), "{stderr}");
    let (ok, stderr) = run(&[&URI[..], &["--model", "/m", "--voice", "ref.wav"]].concat(), Some("/nonexistent"));
    assert!(!ok && stderr.contains("NAME=REFERENCE.wav"), "{stderr}");
}

#[test]
fn check_config_validates_without_loading() {
    let (ok, out) =
        run(&["--voice", "/nowhere/en_US-joe-medium.onnx", "--length-scale", "1.2", "--check-config"], None);
    assert!(ok, "{out}");
    assert!(out.contains("configuration ok"), "{out}");
    let (ok, out) = run(&["--voice", "joe", "--num-steps", "0", "--check-config"], None);
    assert!(!ok && out.contains("--num-steps"), "{out}");
}

#[test]
fn missing_or_corrupt_voices_are_clear_errors() {
    let (Some(ort), Some(voice)) = (provisioned("ORT_DYLIB_PATH"), provisioned("WYOMING_TEST_PIPER_VOICE")) else {
        return;
    };
    let ort = ort.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let (ok, err) = run(&[&URI[..], &["--voice", "nobody", "--data-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("Piper voice \"nobody\" not found"), "{err}");
    let joe = voice.to_str().unwrap();
    let (ok, err) = run(&[&URI[..], &["--voice", joe, "--tashkeel-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("--tashkeel-dir") && err.contains("no model.onnx"), "{err}");
    let (ok, err) = run(&[&URI[..], &["--voice", joe, "--hebrew-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("--hebrew-dir") && err.contains("no nakdimon.onnx"), "{err}");
    // Only catalogue voices are downloaded: a typo is not a request to the network.
    let (ok, err) = run(&[&URI[..], &["--voice", "en_US-nobody-medium", "--data-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("not a voice of the catalogue"), "{err}");
    let args = [&URI[..], &["--voice", "en_US-lessac-medium", "--data-dir", data, "--local-files-only"]].concat();
    let (ok, err) = run(&args, Some(ort));
    assert!(!ok && err.contains("not found") && err.contains("--local-files-only"), "{err}");

    // A model without its .onnx.json.
    let lonely = dir.path().join("lonely.onnx");
    std::fs::copy(&voice, &lonely).unwrap();
    let (ok, err) = run(&[&URI[..], &["--voice", lonely.to_str().unwrap()]].concat(), Some(ort));
    assert!(!ok && err.contains("lonely.onnx.json"), "{err}");

    // A corrupt model with a valid config.
    let corrupt = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not an onnx model").unwrap();
    std::fs::copy(format!("{}.json", voice.display()), dir.path().join("corrupt.onnx.json")).unwrap();
    let (ok, err) = run(&[&URI[..], &["--voice", "corrupt", "--data-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("cannot open ONNX model"), "{err}");

    // A corrupt config.
    std::fs::write(dir.path().join("corrupt.onnx.json"), b"{\"audio\": 5}").unwrap();
    let (ok, err) = run(&[&URI[..], &["--voice", "corrupt", "--data-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("is not a Piper voice config"), "{err}");
}

/// A catalogue voice missing from the data dirs is downloaded from the model hub on first use, as
/// wyoming-piper does; here the hub is a local HTTP server with the hub's URL layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalogue_voice_is_downloaded_on_first_use() {
    use std::time::Duration;
    use wyoming_tests::{ChildGuard, free_port, python, wait_for_port};
    let (Some(ort), Some(voice), Some(python)) =
        (provisioned("ORT_DYLIB_PATH"), provisioned("WYOMING_TEST_PIPER_VOICE"), python())
    else {
        return;
    };
    let hub = tempfile::tempdir().unwrap();
    let files = hub.path().join("rhasspy/piper-voices/resolve/main/en/en_US/joe/medium");
    std::fs::create_dir_all(&files).unwrap();
    std::os::unix::fs::symlink(&voice, files.join("en_US-joe-medium.onnx")).unwrap();
    std::os::unix::fs::symlink(format!("{}.json", voice.display()), files.join("en_US-joe-medium.onnx.json")).unwrap();
    // A second catalogue voice, which only a request names (joe's files stand in for lessac's).
    let other = hub.path().join("rhasspy/piper-voices/resolve/main/en/en_US/lessac/medium");
    std::fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::symlink(&voice, other.join("en_US-lessac-medium.onnx")).unwrap();
    std::os::unix::fs::symlink(format!("{}.json", voice.display()), other.join("en_US-lessac-medium.onnx.json"))
        .unwrap();
    let hub_port = free_port();
    let hub_server = ChildGuard(
        Command::new(&python)
            .args(["-m", "http.server", &hub_port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(hub.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(hub_port, Duration::from_secs(20)).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let start = |extra: &[&str]| {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["--voice", "en_US-joe-medium", "--data-dir", data.path().to_str().unwrap()])
            .args(["--uri", &format!("tcp://127.0.0.1:{port}")])
            .args(extra)
            .env("ORT_DYLIB_PATH", &ort)
            .env("HF_ENDPOINT", format!("http://127.0.0.1:{hub_port}"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        (ChildGuard(child), port)
    };
    let (server, port) = start(&[]);
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    assert!(data.path().join("en_US-joe-medium.onnx").is_file());
    assert!(data.path().join("en_US-joe-medium.onnx.json").is_file());
    assert!(!data.path().join("en_US-joe-medium.onnx.part").exists());
    // A catalogue voice a request names (by its old name here) is downloaded then, and speaks.
    let uri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let mut client = wyoming_proto::client::Client::connect(&uri, Default::default()).await.unwrap();
    let voice = wyoming_proto::event::SynthesizeVoice::named("en-us-lessac-medium");
    let request =
        wyoming_proto::event::Synthesize { voice: Some(voice), ..wyoming_proto::event::Synthesize::new("Hello.") };
    client.send(&wyoming_proto::event::Event::Synthesize(request)).await.unwrap();
    let mut audio = 0;
    loop {
        match client.recv().await.unwrap() {
            Some(wyoming_proto::event::Event::AudioChunk(chunk)) => audio += chunk.audio.len(),
            Some(wyoming_proto::event::Event::AudioStop(_)) => break,
            Some(wyoming_proto::event::Event::Error(e)) => panic!("{e:?}"),
            Some(_) => {}
            None => panic!("closed before audio-stop"),
        }
    }
    assert!(audio > 10_000, "{audio} bytes");
    assert!(data.path().join("en_US-lessac-medium.onnx").is_file());
    drop(server);
    // Offline from now on: the downloaded voice is found locally.
    drop(hub_server);
    let (_server, port) = start(&["--local-files-only"]);
    wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    let uri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let client = wyoming_proto::client::Client::connect(&uri, Default::default()).await;
    let info = client.unwrap().describe().await.unwrap();
    let names: Vec<&str> = info.tts[0].voices.iter().map(|v| v.artifact.name.as_str()).collect();
    assert!(names.contains(&"en_US-joe-medium") && names.contains(&"en_US-lessac-medium"), "{names:?}");
}
