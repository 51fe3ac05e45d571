//! The Piper voice catalogue against the real wyoming-piper 2.5.2: the copy in the repository is what
//! `scripts/piper-catalogue.py` writes from the installed package, and our `info` lists the same voices as
//! wyoming-piper's (names, descriptions, languages, speakers), which Home Assistant stores in its pipelines.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::TtsVoice;
use wyoming_tests::*;

const BIN: &str = env!("CARGO_BIN_EXE_wyoming-luxtts");

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn the_vendored_catalogue_is_wyoming_pipers() {
    let Some(python) = python() else { return };
    let out = tempfile::tempdir().unwrap();
    let written = out.path().join("piper-voices.json");
    let status = Command::new(&python).arg(repo_file("scripts/piper-catalogue.py")).arg(&written).status().unwrap();
    assert!(status.success());
    let vendored = std::fs::read_to_string(repo_file("wyoming-luxtts/data/piper-voices.json")).unwrap();
    assert!(
        std::fs::read_to_string(&written).unwrap() == vendored,
        "wyoming-luxtts/data/piper-voices.json is stale: run scripts/piper-catalogue.py"
    );
}

/// What Home Assistant takes from a voice: name, description, languages, speakers.
type Seen = (String, Option<String>, Vec<String>, Vec<String>);

fn seen_by_home_assistant(voices: &[TtsVoice]) -> Vec<Seen> {
    voices
        .iter()
        .map(|v| {
            let speakers = v.speakers.iter().flatten().map(|s| s.name.clone()).collect();
            (v.artifact.name.clone(), v.artifact.description.clone(), v.languages.clone(), speakers)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_lists_the_voices_wyoming_piper_lists() {
    let (Some(python), Some(voice), Some(ort)) =
        (python(), provisioned("WYOMING_TEST_PIPER_VOICE"), provisioned("ORT_DYLIB_PATH"))
    else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    for suffix in ["", ".json"] {
        let from = format!("{}{suffix}", voice.display());
        std::os::unix::fs::symlink(from, data.path().join(format!("en_US-joe-medium.onnx{suffix}"))).unwrap();
    }
    let data_dir = data.path().to_str().unwrap();
    let common = ["--voice", "en_US-joe-medium", "--data-dir", data_dir, "--local-files-only"];
    let (ours_port, theirs_port) = (free_port(), free_port());
    let _ours = ChildGuard(
        Command::new(BIN)
            .args(common)
            .args(["--uri", &format!("tcp://127.0.0.1:{ours_port}")])
            .env("ORT_DYLIB_PATH", &ort)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _theirs = ChildGuard(
        Command::new(&python)
            .args(["-m", "wyoming_piper"])
            .args(common)
            .args(["--uri", &format!("tcp://127.0.0.1:{theirs_port}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut listed = Vec::new();
    for port in [ours_port, theirs_port] {
        wait_for_port(port, Duration::from_secs(60)).await.unwrap();
        let uri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
        let info = Client::connect(&uri, ClientOptions::default()).await.unwrap().describe().await.unwrap();
        listed.push(seen_by_home_assistant(&info.tts[0].voices));
    }
    assert_eq!(listed[0].len(), 174);
    for (ours, theirs) in listed[0].iter().zip(&listed[1]) {
        assert_eq!(ours, theirs);
    }
    assert_eq!(listed[0].len(), listed[1].len());
}
