//! The Piper voices a request may name beyond `--voice`, as wyoming-piper offers them: the catalogue's, and the
//! voices in the data dirs (looked at again as `describe`s come, so a voice copied in while the server runs is
//! listed), each loaded (a catalogue voice downloaded) when a request first names it.
//!
//! [`OnDemand`] knows the names and files (no ONNX Runtime); [`PiperLibrary`] adds the loading, for
//! [`crate::engine::Voices`].

use crate::engine::{Library, SynthError, Voice, voice_key};
use crate::onnx::SessionOptions;
use crate::piper::{PiperConfig, PiperVoice, ScaleOverrides};
use crate::piper_catalogue;
use crate::piper_files::{VoiceFilesError, find_or_download, installed};
use ort::environment::Environment;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wyoming_proto::event::TtsVoice;

/// How long a look at the data dirs is reused. wyoming-piper looks again on every `describe`, so that a voice
/// copied in while it runs is listed; this does too, but a flood of `describe`s costs one look a second.
pub const RESCAN_AFTER: Duration = Duration::from_secs(1);

/// A voice found in the data dirs (or the download dir).
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    pub path: PathBuf,
    /// How `info` lists it, if it is not a catalogue voice (those are listed from the catalogue) and can be
    /// loaded: a voice with an unreadable config or a phonemizer this server lacks is not listed, but a request
    /// naming it still gets the reason.
    pub custom: Option<TtsVoice>,
    /// Its config's `dataset`, when that is not its name: wyoming-piper once listed voices by it, so requests
    /// (and `--voice`) may still use it.
    pub dataset: Option<String>,
}

/// Voices a request may name that were not loaded at start: those in the data dirs, and catalogue voices,
/// downloaded on first use unless `--local-files-only`, as wyoming-piper does.
pub struct OnDemand {
    dirs: Vec<PathBuf>,
    download_dir: PathBuf,
    local_files_only: bool,
    scan: Mutex<Scan>,
    /// Configs already warned about, so that each look does not warn again.
    warned: Mutex<HashSet<PathBuf>>,
}

/// The last look at the disk.
struct Scan {
    at: Instant,
    voices: Arc<[Installed]>,
}

impl OnDemand {
    pub fn new(dirs: Vec<PathBuf>, download_dir: PathBuf, local_files_only: bool) -> Self {
        let on_demand = OnDemand {
            dirs,
            download_dir,
            local_files_only,
            scan: Mutex::new(Scan { at: Instant::now(), voices: Arc::new([]) }),
            warned: Mutex::new(HashSet::new()),
        };
        let voices = on_demand.scan();
        on_demand.lock().voices = voices;
        on_demand
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scan> {
        self.scan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Looks at the dirs (blocking; no lock held, so requests keep using the last look meanwhile).
    fn scan(&self) -> Arc<[Installed]> {
        let mut dirs = self.dirs.clone();
        if !dirs.contains(&self.download_dir) {
            dirs.push(self.download_dir.clone());
        }
        let voices: Vec<Installed> = installed(&dirs)
            .into_iter()
            .map(|(name, path)| {
                if piper_catalogue::resolve(&name).is_some() {
                    return Installed { name, path, custom: None, dataset: None };
                }
                let readable =
                    PiperConfig::read(&path).and_then(|config| config.unsupported(&path).map_or(Ok(config), Err));
                let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
                let config = match readable {
                    Ok(config) => config,
                    Err(problem) => {
                        if warned.insert(path.clone()) {
                            tracing::warn!(voice = name, error = %problem, "not listing a voice in the data dirs");
                        }
                        return Installed { name, path, custom: None, dataset: None };
                    }
                };
                warned.remove(&path); // fixed (a config still being copied at the last look): warn if it breaks again
                let dataset = config.dataset.clone().filter(|d| !d.is_empty() && *d != name);
                Installed { custom: Some(config.describe(&name)), name, path, dataset }
            })
            .collect();
        voices.into()
    }

    /// The voices in the dirs as of the last look (no I/O).
    pub fn installed(&self) -> Arc<[Installed]> {
        self.lock().voices.clone()
    }

    /// Looks at the dirs again, unless the last look is under [`RESCAN_AFTER`] old (blocking). Callers meanwhile
    /// get the last look.
    pub fn refresh(&self) {
        {
            let mut scan = self.lock();
            if scan.at.elapsed() < RESCAN_AFTER {
                return;
            }
            scan.at = Instant::now(); // this caller looks; others keep the last look
        }
        let voices = self.scan();
        self.lock().voices = voices;
    }

    /// What `info` lists beyond the voices loaded at start, as of the last look: the catalogue's voices and the
    /// custom voices in the dirs, as wyoming-piper lists them.
    pub fn listed(&self) -> Vec<TtsVoice> {
        let catalogue = piper_catalogue::voices().iter().filter(|v| v.advertised()).map(|v| v.describe());
        catalogue.chain(self.installed().iter().filter_map(|v| v.custom.clone())).collect()
    }

    /// The voice's own name for another name of it, as of the last look: a catalogue voice's old names, a custom
    /// voice's `dataset`, or a name that differs only in case or `-`/`_` ([`voice_key`]). Catalogue names come
    /// first, then the voices' own names, then `dataset`s (the first voice by name wins a shared one), each
    /// exactly, then the same ignoring case and `-`/`_` (which wyoming-piper does not). wyoming-piper differs in
    /// one more corner: there a `dataset` registered once outranks a voice file of that name, and outlives its
    /// voice; here a voice's own name always wins, and aliases follow the dirs.
    pub fn canonical(&self, name: &str) -> Option<String> {
        if let Some(key) = piper_catalogue::resolve(name) {
            return Some(key.to_string());
        }
        let installed = self.installed();
        let find = |same: &dyn Fn(&str) -> bool| {
            let own = installed.iter().find(|v| same(&v.name));
            own.or_else(|| installed.iter().find(|v| v.dataset.as_deref().is_some_and(same))).map(|v| v.name.clone())
        };
        let key = voice_key(name);
        find(&|n| n == name).or_else(|| find(&|n| voice_key(n) == key))
    }

    /// The `.onnx` of the voice a request names (by any name [`OnDemand::canonical`] knows), or `None` when there
    /// is none; looks at the dirs again first ([`OnDemand::refresh`]), and downloads a catalogue voice that is
    /// not there yet. Never a path: a client must not make the server open a file of its choosing, nor ask the
    /// hub for names it made up, so a name is an installed voice's or a catalogue voice's.
    pub fn files(&self, name: &str) -> Result<Option<PathBuf>, VoiceFilesError> {
        self.refresh();
        let key = self.canonical(name).unwrap_or_else(|| name.to_string());
        let installed = self.installed();
        // Exactly, else a catalogue voice's file under an old name or another spelling (`en-us-lessac-medium.onnx`).
        let found = installed.iter().find(|v| v.name == key).or_else(|| {
            let is_catalogue = piper_catalogue::find(&key).is_some();
            let same = |v: &&Installed| {
                piper_catalogue::resolve(&v.name) == Some(key.as_str()) || voice_key(&v.name) == voice_key(&key)
            };
            installed.iter().find(|v| is_catalogue && same(v))
        });
        if let Some(found) = found {
            return Ok(Some(found.path.clone()));
        }
        if !piper_catalogue::find(&key).is_some_and(|v| v.advertised()) {
            return Ok(None);
        }
        match find_or_download(&key, &self.dirs, &self.download_dir, self.local_files_only) {
            Ok(path) => Ok(Some(path)),
            Err(VoiceFilesError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// [`OnDemand`] with the loading: what [`crate::engine::Voices`] asks for a voice not loaded yet.
pub struct PiperLibrary {
    pub files: OnDemand,
    pub env: Arc<Environment>,
    pub session: SessionOptions,
    pub overrides: ScaleOverrides,
}

impl Library for PiperLibrary {
    fn refresh(&self) {
        self.files.refresh();
    }

    fn listed(&self) -> Vec<TtsVoice> {
        self.files.listed()
    }

    fn canonical(&self, name: &str) -> Option<String> {
        self.files.canonical(name)
    }

    fn load(&self, name: &str) -> Result<Option<Arc<dyn Voice>>, SynthError> {
        let failed = |reason: String| SynthError::VoiceLoad { name: name.to_string(), reason };
        let Some(path) = self.files.files(name).map_err(|e| failed(e.to_string()))? else { return Ok(None) };
        let voice = PiperVoice::load(self.env.clone(), &path, self.session.clone(), self.overrides)
            .map_err(|e| failed(e.to_string()))?;
        Ok(Some(Arc::new(voice)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_installed_voices_and_catalogue_voices_never_a_path() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let touch = |path: PathBuf| std::fs::write(path, b"").unwrap();
        for name in ["lonely.onnx", "fr_FR-siwis-low.onnx", "fr_FR-siwis-low.onnx.json"] {
            touch(b.path().join(name));
        }
        touch(a.path().join("lonely.onnx"));
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf(), PathBuf::from("/nowhere")];
        // What a request may name: installed voices (by alias too) and catalogue names, never a path.
        let on_demand = OnDemand::new(dirs.to_vec(), a.path().to_path_buf(), true);
        assert_eq!(on_demand.files("fr-fr-siwis-low").unwrap(), Some(b.path().join("fr_FR-siwis-low.onnx")));
        let lonely = a.path().join("lonely.onnx");
        for name in ["en_US-lessac-medium", "lonely", lonely.to_str().unwrap(), "../x", "/etc/passwd"] {
            assert_eq!(on_demand.files(name).unwrap(), None, "{name}");
        }
    }

    /// An empty `NAME.onnx` (listing never opens it) and its config.
    fn write_voice(dir: &std::path::Path, name: &str, config: &str) {
        std::fs::write(dir.join(format!("{name}.onnx")), b"").unwrap();
        std::fs::write(dir.join(format!("{name}.onnx.json")), config).unwrap();
    }

    /// A config with what listing reads.
    fn config(dataset: &str, extra: &str) -> String {
        format!(
            r#"{{"audio": {{"sample_rate": 22050, "quality": "medium"}}, "espeak": {{"voice": "en-us"}},
               "phoneme_id_map": {{"^": [1], "$": [2], "_": [0]}}, "dataset": "{dataset}"{extra}}}"#
        )
    }

    #[test]
    fn custom_voices_are_listed_as_wyoming_piper_lists_them_and_looked_for_again() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, config: String| write_voice(dir.path(), name, &config);
        write("en_GB-mine-medium", config("my_voice", r#", "language": {"code": "en_GB"}"#));
        write("robot", config("robot", ""));
        write("zh_CN-pinyin-medium", config("pinyin", r#", "phoneme_type": "pinyin""#));
        write("broken", "{".into());
        write("de_DE-bare-low", r#"{"audio": {"sample_rate": 16000}, "phoneme_id_map": {}}"#.into());
        write("en-us-lessac-medium", config("lessac", "")); // a catalogue voice under its old name
        let on_demand = OnDemand::new(vec![dir.path().to_path_buf()], dir.path().to_path_buf(), true);
        let listed = on_demand.listed();
        let custom: Vec<_> = listed.iter().filter(|v| piper_catalogue::find(&v.artifact.name).is_none()).collect();
        let seen: Vec<(&str, Option<&str>, &[String], &str)> = custom
            .iter()
            .map(|v| {
                let a = &v.artifact;
                (a.name.as_str(), a.description.as_deref(), v.languages.as_slice(), a.attribution.name.as_str())
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("de_DE-bare-low", Some("de_DE-bare-low"), &["de".to_string()][..], ""),
                ("en_GB-mine-medium", Some("my_voice (medium)"), &["en_GB".to_string()][..], ""),
                ("robot", Some("robot (medium)"), &["en-us".to_string()][..], ""),
            ],
            "voices with a phonemizer this server lacks or an unreadable config are not listed"
        );
        assert_eq!(listed.len(), 174 + 3, "and the catalogue's");
        assert_eq!(
            on_demand.files("en_US-lessac-medium").unwrap(),
            Some(dir.path().join("en-us-lessac-medium.onnx")),
            "a catalogue voice's file under another spelling is that voice's"
        );

        // The `dataset` is another name of the voice; the voices' own names come first.
        assert_eq!(on_demand.canonical("my_voice").as_deref(), Some("en_GB-mine-medium"));
        assert_eq!(on_demand.canonical("MY-VOICE").as_deref(), Some("en_GB-mine-medium"));
        assert_eq!(on_demand.canonical("en-gb-mine-medium").as_deref(), Some("en_GB-mine-medium"));
        assert_eq!(on_demand.files("my_voice").unwrap(), Some(dir.path().join("en_GB-mine-medium.onnx")));
        write("my_voice", config("robot", ""));
        std::thread::sleep(RESCAN_AFTER);
        assert_eq!(on_demand.files("my_voice").unwrap(), Some(dir.path().join("my_voice.onnx")));
        // A voice that is not listed can still be named, so that its load says why it fails.
        assert_eq!(on_demand.files("zh_CN-pinyin-medium").unwrap(), Some(dir.path().join("zh_CN-pinyin-medium.onnx")));

        // A voice copied in (or removed) while the server runs is listed after the next look.
        write("newcomer", config("newcomer", ""));
        std::fs::remove_file(dir.path().join("robot.onnx")).unwrap();
        on_demand.refresh(); // too soon: the last look stands
        assert!(on_demand.listed().iter().any(|v| v.artifact.name == "robot"));
        std::thread::sleep(RESCAN_AFTER);
        on_demand.refresh();
        let names: Vec<String> = on_demand.listed().into_iter().map(|v| v.artifact.name).collect();
        assert!(names.contains(&"newcomer".to_string()) && !names.contains(&"robot".to_string()), "{names:?}");
    }

    #[test]
    fn exact_names_come_before_similar_ones_and_descriptive_fields_are_read_leniently() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, config: String| write_voice(dir.path(), name, &config);
        // Three files whose names differ only in case or `-`/`_` are three voices, as in wyoming-piper.
        for name in ["my_voice", "my-voice", "My_Voice"] {
            write(name, config(name, ""));
        }
        // Datasets are matched exactly first too.
        write("foo", config("Bar", ""));
        write("bar", config("bar", ""));
        write("qux", config("BAR", ""));
        // Fields only `info` uses, with types wyoming-piper does not check.
        let odd = r#"{"audio": {"sample_rate": 22050, "quality": 3}, "dataset": 42, "language": {"code": 7},
                      "speaker_id_map": null, "phoneme_id_map": {}}"#;
        write("odd", odd.into());
        write("empty_list", r#"{"audio": {"sample_rate": 22050}, "speaker_id_map": [], "phoneme_id_map": {}}"#.into());
        let on_demand = OnDemand::new(vec![dir.path().to_path_buf()], dir.path().to_path_buf(), true);
        let canonical = |name: &str| on_demand.canonical(name);
        for name in ["my_voice", "my-voice", "My_Voice", "bar", "foo", "qux"] {
            assert_eq!(canonical(name).as_deref(), Some(name));
            let path = on_demand.files(name).unwrap().unwrap();
            assert_eq!(path, dir.path().join(format!("{name}.onnx")));
        }
        assert_eq!(canonical("Bar").as_deref(), Some("foo"));
        assert_eq!(canonical("BAR").as_deref(), Some("qux"));
        assert_eq!(canonical("MY-VOICE").as_deref(), Some("My_Voice"), "else the first similar name");
        let listed = on_demand.listed();
        let find = |name: &str| listed.iter().find(|v| v.artifact.name == name).cloned();
        let odd = find("odd").expect("listed");
        assert_eq!(
            (odd.artifact.description.as_deref(), odd.languages.as_slice()),
            (Some("42 (3)"), &["7".into()][..])
        );
        assert!(find("empty_list").is_some());
        assert_eq!(canonical("42").as_deref(), Some("odd"));
    }
}
