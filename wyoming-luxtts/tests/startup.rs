//! Start-up failures a user can cause are clear messages and a non-zero exit, never a panic.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-luxtts");

fn run(args: &[&str], ort: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_BACKTRACE");
    match ort {
        Some(path) => cmd.env("ORT_DYLIB_PATH", path),
        None => cmd.env_remove("ORT_DYLIB_PATH"),
    };
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_missing_onnx_runtime_is_a_clear_error() {
    let (ok, stderr) = run(&["--uri", "tcp://127.0.0.1:0"], Some("/nonexistent/libonnxruntime.so"));
    assert!(!ok);
    assert!(stderr.contains("cannot load ONNX Runtime from /nonexistent/libonnxruntime.so"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let (ok, stderr) = run(&["--uri", "tcp://127.0.0.1:0"], None);
    assert!(!ok);
    assert!(stderr.contains("ORT_DYLIB_PATH is not set"), "{stderr}");
}

#[test]
fn a_bad_uri_is_a_clear_error() {
    let (ok, stderr) = run(&["--uri", "tcp://0.0.0.0"], Some("/nonexistent"));
    assert!(!ok);
    assert!(stderr.contains("a port must be specified"), "{stderr}");
}
