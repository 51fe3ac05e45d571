//! The Piper voice catalogue against the real wyoming-piper 2.5.2: the copy in the repository is what
//! `scripts/piper-catalogue.py` writes from the installed package, and our `info` lists the same voices as
//! wyoming-piper's (names, descriptions, languages, speakers), which Home Assistant stores in its pipelines,
//! custom voices in the data dir included.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use wyoming_proto::client::{Client, ClientOptions};
use wyoming_proto::event::{Event, Synthesize, SynthesizeVoice, TtsVoice};
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

/// What Home Assistant takes from a voice: name, description, languages, speakers; and its attribution.
type Seen = (String, Option<String>, Vec<String>, Vec<String>, String);

fn seen_by_home_assistant(voices: &[TtsVoice]) -> Vec<Seen> {
    voices
        .iter()
        .map(|v| {
            let speakers = v.speakers.iter().flatten().map(|s| s.name.clone()).collect();
            let a = &v.artifact;
            (a.name.clone(), a.description.clone(), v.languages.clone(), speakers, a.attribution.name.clone())
        })
        .collect()
}

/// A custom voice in `dir`: the joe model under `name`, with its config changed by `edit`.
fn custom_voice(dir: &Path, joe: &Path, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    std::os::unix::fs::symlink(joe, dir.join(format!("{name}.onnx"))).unwrap();
    let config = std::fs::read_to_string(format!("{}.json", joe.display())).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    edit(&mut config);
    std::fs::write(dir.join(format!("{name}.onnx.json")), config.to_string()).unwrap();
}

async fn describe(port: u16) -> Vec<Seen> {
    let uri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let info = Client::connect(&uri, ClientOptions::default()).await.unwrap().describe().await.unwrap();
    seen_by_home_assistant(&info.tts[0].voices)
}

/// Seconds of audio the server sends for `text` in `voice`, or the error's code.
async fn speak(port: u16, voice: &str, text: &str) -> Result<f64, String> {
    let uri = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let mut client = Client::connect(&uri, ClientOptions::default()).await.unwrap();
    let voice = SynthesizeVoice { name: Some(voice.into()), ..Default::default() };
    client
        .send(&Event::Synthesize(Synthesize { text: text.into(), voice: Some(voice), ..Default::default() }))
        .await
        .unwrap();
    let mut bytes = 0usize;
    let mut rate = 0u32;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), client.recv())
            .await
            .unwrap()
            .unwrap()
            .expect("the server closed the connection")
        {
            Event::AudioStart(start) => rate = start.format.rate,
            Event::AudioChunk(chunk) => bytes += chunk.audio.len(),
            Event::AudioStop(_) => return Ok(bytes as f64 / 2.0 / f64::from(rate)),
            Event::Error(error) => return Err(error.code.unwrap_or_default()),
            _ => {}
        }
    }
}

/// Our `info` lists the voices wyoming-piper lists: the catalogue's, and the custom voices in the data dir as
/// wyoming-piper describes them (a voice whose phonemizer neither server has, or whose config is missing, is
/// left out), including one copied in while both run, and a Hebrew one, which both speak. A custom voice answers
/// to its `dataset` too.
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
    custom_voice(data.path(), &voice, "en_GB-mine-medium", |c| {
        c["dataset"] = "my_voice".into();
        c["language"]["code"] = "en_GB".into();
    });
    custom_voice(data.path(), &voice, "robot", |c| {
        c.as_object_mut().unwrap().remove("language");
        c["audio"].as_object_mut().unwrap().remove("quality");
    });
    custom_voice(data.path(), &voice, "zh_CN-pinyin-medium", |c| c["phoneme_type"] = "pinyin".into());
    custom_voice(data.path(), &voice, "he_IL-mine-medium", |c| {
        c["phoneme_type"] = "hebrew".into();
        c["language"]["code"] = "he_IL".into();
    });
    std::os::unix::fs::symlink(&voice, data.path().join("lonely.onnx")).unwrap();
    let data_dir = data.path().to_str().unwrap();
    let common = ["--voice", "en_US-joe-medium", "--data-dir", data_dir, "--local-files-only"];
    let (ours, theirs) = (free_port(), free_port());
    let _ours = ChildGuard(
        Command::new(BIN)
            .args(common)
            .args(["--uri", &format!("tcp://127.0.0.1:{ours}")])
            // piper-tts's espeak-ng data, and its Nakdimon model beside it for the Hebrew voice.
            .args(
                provisioned("WYOMING_RS_ESPEAK_DATA")
                    .map(|dir| [OsString::from("--espeak-data"), dir.into()])
                    .into_iter()
                    .flatten(),
            )
            .env("ORT_DYLIB_PATH", &ort)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _theirs = ChildGuard(
        Command::new(&python)
            .args(["-m", "wyoming_piper"])
            .args(common)
            .args(["--uri", &format!("tcp://127.0.0.1:{theirs}")])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for port in [ours, theirs] {
        wait_for_port(port, Duration::from_secs(60)).await.unwrap();
    }
    let same = |ours: Vec<Seen>, theirs: Vec<Seen>| {
        for (ours, theirs) in ours.iter().zip(&theirs) {
            assert_eq!(ours, theirs);
        }
        assert_eq!(ours.len(), theirs.len());
        ours
    };
    let listed = same(describe(ours).await, describe(theirs).await);
    assert_eq!(listed.len(), 174 + 3, "the catalogue and three custom voices");
    let mine = listed.iter().find(|v| v.0 == "en_GB-mine-medium").unwrap();
    assert_eq!((mine.1.as_deref(), mine.4.as_str()), (Some("my_voice (medium)"), ""));

    custom_voice(data.path(), &voice, "newcomer", |c| c["dataset"] = "newcomer".into());
    tokio::time::sleep(Duration::from_millis(1100)).await; // our look at the disk is reused for a second
    let listed = same(describe(ours).await, describe(theirs).await);
    assert!(listed.iter().any(|v| v.0 == "newcomer"));

    // Both speak with the new voice, and with a custom voice named by its `dataset`; ours says why it cannot
    // speak with a voice whose phonemizer it lacks.
    for (name, text) in
        [("newcomer", "A custom voice."), ("my_voice", "A custom voice."), ("he_IL-mine-medium", "שלום עולם.")]
    {
        let (a, b) = (speak(ours, name, text).await, speak(theirs, name, text).await);
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a > 0.5 && (a - b).abs() < 0.2 * b, "{name}: {a} s against wyoming-piper's {b} s");
    }
    assert_eq!(speak(ours, "zh_CN-pinyin-medium", "Hello.").await, Err("VoiceLoadError".into()));
}
