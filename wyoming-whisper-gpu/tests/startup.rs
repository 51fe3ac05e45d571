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
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("tcp://127.0.0.1:{}", busy.local_addr().unwrap().port());
    assert!(stderr_of_failure(&["--uri", &uri]).contains(&format!("cannot listen on {uri}")));
}
