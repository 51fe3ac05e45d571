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

    let (ok, err) = run(&[&URI[..], &["--voice", "en_US-nobody-medium", "--data-dir", data]].concat(), Some(ort));
    assert!(!ok && err.contains("Piper voice \"en_US-nobody-medium\" not found"), "{err}");

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
