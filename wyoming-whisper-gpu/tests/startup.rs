//! Start-up failures a user can cause are clear messages and a non-zero exit, never a panic.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-whisper-gpu");

fn stderr_of_failure(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).env_remove("RUST_BACKTRACE").output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_flags_are_clear_errors() {
    assert!(stderr_of_failure(&["--uri", "tcp://0.0.0.0"]).contains("a port must be specified"));
    assert!(stderr_of_failure(&["--uri", "http://x:1"]).contains("only 'stdio://', 'unix://' or 'tcp://'"));
    // wyoming-faster-whisper's --log-format takes a Python logging format string: accepted, not a parse error.
    let err = stderr_of_failure(&["--log-format", "%(levelname)s:%(name)s:%(message)s", "--uri", "tcp://0.0.0.0"]);
    assert!(err.contains("a port must be specified"), "{err}");
    // Flags we do not implement are accepted with a warning.
    let err = stderr_of_failure(&["--stt-library", "sherpa", "--vad-filter", "--uri", "tcp://0.0.0.0"]);
    assert!(err.contains("a port must be specified"), "{err}");
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_str().unwrap();
    let err = stderr_of_failure(&["--model", "medium-int8", "--data-dir", data, "--local-files-only"]);
    assert!(err.contains("rhasspy/faster-whisper-medium-int8") && err.contains(data), "{err}");
    // Zero would refuse every chunk, or decode a partial after every one.
    for flag in ["--max-utterance-seconds", "--partial-interval-ms"] {
        let err = stderr_of_failure(&[flag, "0"]);
        assert!(err.contains(flag) && err.contains("not in"), "{err}");
    }
}

#[test]
fn bad_device_compute_type_and_busy_port_are_clear_errors() {
    let Some(model) = std::env::var_os("WYOMING_TEST_WHISPER_TINY_EN") else {
        assert!(std::env::var_os("WYOMING_RS_REQUIRE_PEERS").is_none(), "WYOMING_TEST_WHISPER_TINY_EN is not set");
        eprintln!("skipped: WYOMING_TEST_WHISPER_TINY_EN is not set; run `make setup`");
        return;
    };
    let model = model.to_str().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("tcp://127.0.0.1:{}", busy.local_addr().unwrap().port());
    // On a GPU machine `--device cuda` loads, then fails on the busy port instead.
    let err = stderr_of_failure(&["--model", model, "--device", "cuda", "--uri", &uri]);
    assert!(err.contains("no CUDA device") || err.contains("cannot listen"), "{err}");
    assert!(stderr_of_failure(&["--model", model, "--compute-type", "int4"]).contains("--compute-type int4"));
    assert!(stderr_of_failure(&["--model", model, "--uri", &uri]).contains(&format!("cannot listen on {uri}")));
}
