//! The binary's `--check-config` (used by the NixOS test) and `mumble-echo` end to end.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn bridge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wyoming-bridge"))
}

#[test]
fn check_config_validates_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let run_in = |cwd: &std::path::Path, args: &[&str]| {
        let out = bridge().current_dir(cwd).args(args).env("RUST_LOG", "error").output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let run = |args: &[&str]| run_in(dir.path(), args);
    // Without --config, a missing ./config.yaml means defaults; a --config file must exist.
    let (code, stdout, _) = run_in(dir.path(), &["--check-config"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("config.yaml does not exist; defaults apply"), "{stdout}");
    let missing = dir.path().join("missing.yaml");
    let (code, stdout, stderr) = run(&["--check-config", "--config", missing.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stderr.contains("missing.yaml") && stderr.contains("no such file"), "{stderr}");

    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "mumble:\n  host: mumble.example\n  port: 1234\n  user: Sam\nllm:\n  model: x\n").unwrap();
    let (code, stdout, _) = run(&["--config", good.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("would connect to mumble.example:1234 as Sam"), "{stdout}");
    // Flags are checked too, also after the subcommand.
    let (code, stdout, _) = run(&["--config", good.to_str().unwrap(), "mumble-echo", "--port", "99", "--check-config"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("mumble.example:99"), "{stdout}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "mumble: [unclosed\n").unwrap();
    let (code, _, stderr) = run(&["--config", bad.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not valid YAML"), "{stderr}");

    let (code, _, stderr) = run(&["--check-config", "--server-cert-sha256", "nothex"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("fingerprint"), "{stderr}");

    let (code, _, _) = run(&["--check-config", "--no-such-flag"]);
    assert_eq!(code, Some(2), "clap usage error");

    // The whole file is checked before "valid" is printed: a client certificate that cannot be read fails, and a
    // misspelt mumble key is a warning like any other.
    let cert = dir.path().join("cert.yaml");
    std::fs::write(&cert, "mumble:\n  certfile: /nonexistent/bot.pem\n  keyfile: /nonexistent/bot.key\n").unwrap();
    let (code, stdout, stderr) = run(&["--config", cert.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(!stdout.contains("valid") && stderr.contains("/nonexistent/bot.pem"), "{stdout}{stderr}");
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "mumble:\n  hots: example.org\n  port: '64739'\n").unwrap();
    let (code, stdout, _) = run(&["--config", typo.to_str().unwrap(), "--check-config"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("localhost:64739") && stdout.contains("mumble.hots"), "{stdout}");
}

#[tokio::test]
async fn mumble_echo_plays_back_what_it_hears() {
    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    let data = tempfile::tempdir().unwrap();
    let echo = bridge()
        .args(["mumble-echo", "--host", "127.0.0.1", "--user", "echo", "--delay-ms", "300"])
        .args(["--port", &murmur.port.to_string()])
        .current_dir(data.path()) // no config.yaml there: defaults
        .arg("--data-dir")
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _echo = wyoming_tests::ChildGuard(echo);
    let mut talker = Peer::connect(&python, murmur.port, "talker", None).await;
    // Wait for the echo bot (trust on first use: it pinned the test server's certificate).
    talker.wait_for_users(&["echo"], Duration::from_secs(30)).await;
    let recording = murmur.dir.path().join("echo.pcm");
    talker.record(&recording).await;
    let sent = speech("Can you hear me? This should come back.", "en");
    let file = murmur.dir.path().join("speech.pcm");
    write_pcm(&file, &sent);
    talker.play(&file).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    talker.quit().await;
    let (heard, chunks) = read_recording(&recording);
    let (corr, lag) = best_correlation(&sent, &heard, 4000);
    eprintln!(
        "echo: {} chunks, {:.2} s heard, lag {lag}, correlation {corr:.4}",
        chunks.len(),
        heard.len() as f64 / 48_000.0
    );
    assert!(corr >= 0.9, "the echo sounds like the speech: {corr:.4}");
    let pinned = std::fs::read_to_string(data.path().join("mumble_known_servers")).unwrap();
    assert!(pinned.contains(&format!("127.0.0.1:{}", murmur.port)));
}

const TWO_PERSONAS: &str = "mumble:\n  host: 127.0.0.1\n  port: PORT\n\
shared:\n  llm:\n    endpoint: http://127.0.0.1:9/v1/chat/completions\n\
personas:\n  - name: sam\n    display_name: Sam\n  - name: raf\n    display_name: Raf\n    mumble:\n      user: RafBot\n";

/// A multi-persona file runs one bot per persona, each its own Mumble user (`--check-config` lists them, and
/// both join the server).
#[tokio::test]
async fn a_multi_persona_file_runs_one_bot_per_persona() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("personas.yaml");
    std::fs::write(&config, TWO_PERSONAS.replace("PORT", "64738")).unwrap();
    let out = bridge().args(["--config", config.to_str().unwrap(), "--check-config"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("persona sam: ") && stdout.contains("as Sam"), "{stdout}");
    assert!(stdout.contains("persona raf: ") && stdout.contains("as RafBot"), "{stdout}");
    // --user names one bot: refused before connecting, and by --check-config too.
    for check in [false, true] {
        let mut cmd = bridge();
        cmd.args(["--config", config.to_str().unwrap(), "--user", "X"]);
        if check {
            cmd.arg("--check-config");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("multi-persona"));
    }
    // Two personas under one name would knock each other off the server.
    let twins = dir.path().join("twins.yaml");
    std::fs::write(&twins, "personas:\n  - {name: a, display_name: Sam}\n  - {name: b, display_name: Sam}\n").unwrap();
    let out = bridge().args(["--config", twins.to_str().unwrap(), "--check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("would both connect as Sam"));

    let _serial = serial().await;
    let Some(python) = mumble_python() else { return };
    if !murmurd_available() {
        return;
    }
    let murmur = Murmur::start(None).await;
    std::fs::write(&config, TWO_PERSONAS.replace("PORT", &murmur.port.to_string())).unwrap();
    let bots = bridge()
        .args(["--config", config.to_str().unwrap(), "--data-dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _bots = wyoming_tests::ChildGuard(bots);
    let mut peer = Peer::connect(&python, murmur.port, "watcher", None).await;
    peer.wait_for_users(&["Sam", "RafBot"], Duration::from_secs(20)).await;
    peer.quit().await;
}
