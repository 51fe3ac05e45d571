//! Where a Piper voice's files are: an `.onnx` path, `NAME.onnx` in a data dir, or, for a voice of the
//! `rhasspy/piper-voices` catalogue that is not there yet, downloaded into the download dir on first use, as
//! wyoming-piper does (`--local-files-only` turns that off).

use crate::engine::voice_key;
use crate::piper::PiperConfig;
use crate::piper_catalogue;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wyoming_proto::event::TtsVoice;
use wyoming_proto::hub::Hub;

const REPO: &str = "rhasspy/piper-voices";
const REVISION: &str = "main";

#[derive(Debug, thiserror::Error)]
pub enum VoiceFilesError {
    #[error("Piper voice {0}: no such file")]
    NoFile(String),
    #[error("Piper voice {name:?} not found: looked for {name}.onnx (with {name}.onnx.json) in {dirs}{hint}")]
    NotFound { name: String, dirs: String, hint: &'static str },
    #[error("Piper voice {name}: {source}")]
    Download { name: String, source: wyoming_proto::hub::HubError },
    #[error("Piper voice {name}: the model hub has no {file}")]
    NotInCatalogue { name: String, file: String },
}

/// The catalogue path of a voice name such as `en_US-lessac-medium`: `en/en_US/lessac/medium/en_US-lessac-medium`.
pub fn catalogue_path(name: &str) -> Option<String> {
    let mut parts = name.split('-');
    let (language, dataset, quality) = (parts.next()?, parts.next()?, parts.next()?);
    let family = language.split('_').next()?;
    // Letters beyond ASCII occur (`pt_PT-tugão-medium`); nothing that could leave a path segment does.
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    (parts.next().is_none() && language.contains('_') && valid(language) && valid(dataset) && valid(quality))
        .then(|| format!("{family}/{language}/{dataset}/{quality}/{name}"))
}

/// Finds (or downloads) the voice's `.onnx`; its `.onnx.json` is next to it.
pub fn locate(
    voice: &str,
    data_dirs: &[PathBuf],
    download_dir: &Path,
    local_files_only: bool,
) -> Result<PathBuf, VoiceFilesError> {
    let path = Path::new(voice);
    if voice.ends_with(".onnx") || path.is_file() {
        return if path.is_file() { Ok(path.to_path_buf()) } else { Err(VoiceFilesError::NoFile(voice.into())) };
    }
    find_or_download(voice, data_dirs, download_dir, local_files_only)
}

/// [`locate`] for a voice name, never a path.
fn find_or_download(
    voice: &str,
    data_dirs: &[PathBuf],
    download_dir: &Path,
    local_files_only: bool,
) -> Result<PathBuf, VoiceFilesError> {
    let voice = piper_catalogue::resolve(voice).unwrap_or(voice); // an old name is stored under the voice's own
    let mut dirs: Vec<&Path> = data_dirs.iter().map(PathBuf::as_path).collect();
    dirs.push(download_dir);
    if let Some(found) = dirs
        .iter()
        .flat_map(|dir| [dir.join(format!("{voice}.onnx")), dir.join(voice).join(format!("{voice}.onnx"))])
        .find(|p| p.is_file())
    {
        return Ok(found);
    }
    let not_found = |hint| VoiceFilesError::NotFound {
        name: voice.into(),
        dirs: dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "),
        hint,
    };
    // Only a voice of the catalogue is asked of the hub: a typo in `--voice` is not a request to the network.
    let Some(remote) = piper_catalogue::find(voice).filter(|v| v.advertised()).and_then(|v| catalogue_path(&v.key))
    else {
        return Err(not_found(" (not a voice of the catalogue, so not downloaded)"));
    };
    if local_files_only {
        return Err(not_found(" (--local-files-only: not downloaded)"));
    }
    let hub = Hub::from_env();
    tracing::info!(voice, endpoint = hub.endpoint(), into = %download_dir.display(), "downloading Piper voice");
    // The config first: a voice whose `.onnx` exists is complete.
    for suffix in [".onnx.json", ".onnx"] {
        let file = format!("{remote}{suffix}");
        let dest = download_dir.join(format!("{voice}{suffix}"));
        let found = hub
            .fetch(REPO, REVISION, &file, &dest)
            .map_err(|source| VoiceFilesError::Download { name: voice.into(), source })?;
        if !found {
            return Err(VoiceFilesError::NotInCatalogue { name: voice.into(), file });
        }
    }
    Ok(download_dir.join(format!("{voice}.onnx")))
}

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
                let dataset = config.dataset.clone().filter(|d| !d.is_empty() && voice_key(d) != voice_key(&name));
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

    /// The voice's own name for another name of it, as of the last look: a catalogue voice's old names, a name
    /// that differs only in case or `-`/`_` ([`voice_key`]), or a custom voice's `dataset`. Catalogue names come
    /// first, then the voices' own names, then `dataset`s (the first voice by name wins a shared one). wyoming-piper
    /// differs in one corner: there a `dataset` registered once outranks a voice file of that name, and outlives
    /// its voice; here a voice's own name always wins, and aliases follow the dirs.
    pub fn canonical(&self, name: &str) -> Option<String> {
        if let Some(key) = piper_catalogue::resolve(name) {
            return Some(key.to_string());
        }
        let key = voice_key(name);
        let installed = self.installed();
        let own = installed.iter().find(|v| voice_key(&v.name) == key);
        let by_dataset = || installed.iter().find(|v| v.dataset.as_deref().is_some_and(|d| voice_key(d) == key));
        own.or_else(by_dataset).map(|v| v.name.clone())
    }

    /// The `.onnx` of the voice a request names (by any name [`OnDemand::canonical`] knows), or `None` when there
    /// is none; looks at the dirs again first ([`OnDemand::refresh`]), and downloads a catalogue voice that is
    /// not there yet. Never a path: a client must not make the server open a file of its choosing, nor ask the
    /// hub for names it made up, so a name is an installed voice's or a catalogue voice's.
    pub fn files(&self, name: &str) -> Result<Option<PathBuf>, VoiceFilesError> {
        self.refresh();
        let key = self.canonical(name).unwrap_or_else(|| name.to_string());
        if let Some(found) = self.installed().iter().find(|v| voice_key(&v.name) == voice_key(&key)) {
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

/// Every voice in `dirs` (`NAME.onnx` with its `NAME.onnx.json`, directly or in a `NAME/` folder), by name, sorted;
/// where two dirs hold the same name (or names a request cannot tell apart, [`voice_key`]), the first wins, as in
/// [`locate`]. Unreadable dirs are skipped.
pub fn installed(dirs: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut here: Vec<(String, PathBuf)> = entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let candidate = if path.is_dir() {
                    let name = path.file_name()?.to_str()?.to_string();
                    path.join(format!("{name}.onnx"))
                } else {
                    path
                };
                let name = candidate.file_name()?.to_str()?.strip_suffix(".onnx")?.to_string();
                let complete = candidate.is_file() && Path::new(&format!("{}.json", candidate.display())).is_file();
                (complete && !name.is_empty()).then_some((name, candidate))
            })
            .collect();
        here.sort();
        for (name, path) in here {
            if !found.iter().any(|(n, _)| voice_key(n) == voice_key(&name)) {
                found.push((name, path));
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_paths_follow_the_repository_layout() {
        assert_eq!(
            catalogue_path("en_US-lessac-medium").as_deref(),
            Some("en/en_US/lessac/medium/en_US-lessac-medium")
        );
        assert_eq!(
            catalogue_path("en_GB-northern_english_male-medium").as_deref(),
            Some("en/en_GB/northern_english_male/medium/en_GB-northern_english_male-medium")
        );
        assert_eq!(catalogue_path("pt_PT-tugão-medium").as_deref(), Some("pt/pt_PT/tugão/medium/pt_PT-tugão-medium"));
        for bad in
            ["joe", "en_US-lessac", "en-lessac-medium", "a-b-c-d", "en_US-../x-medium", "/abs/path", "en_US-a/b-c"]
        {
            assert_eq!(catalogue_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_files_only_never_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate("en_US-lessac-medium", &[dir.path().to_path_buf()], dir.path(), true).unwrap_err();
        assert!(err.to_string().contains("--local-files-only"), "{err}");
        let err = locate("/nowhere/x.onnx", &[], dir.path(), false).unwrap_err();
        assert!(matches!(err, VoiceFilesError::NoFile(_)));
    }

    #[test]
    fn installed_voices_are_complete_pairs_and_the_first_dir_wins() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let touch = |path: PathBuf| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        };
        for name in ["en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json", "lonely.onnx", "notes.txt"] {
            touch(a.path().join(name));
        }
        touch(a.path().join("de_DE-thorsten-low/de_DE-thorsten-low.onnx"));
        touch(a.path().join("de_DE-thorsten-low/de_DE-thorsten-low.onnx.json"));
        for name in
            ["en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json", "fr_FR-siwis-low.onnx", "fr_FR-siwis-low.onnx.json"]
        {
            touch(b.path().join(name));
        }
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf(), PathBuf::from("/nowhere")];
        let found = installed(&dirs);
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["de_DE-thorsten-low", "en_US-joe-medium", "fr_FR-siwis-low"]);
        assert_eq!(found[1].1, a.path().join("en_US-joe-medium.onnx"));
        assert_eq!(found[0].1, a.path().join("de_DE-thorsten-low/de_DE-thorsten-low.onnx"));

        // What a request may name: installed voices (by alias too) and catalogue names, never a path.
        let on_demand = OnDemand::new(dirs.to_vec(), a.path().to_path_buf(), true);
        assert_eq!(on_demand.files("fr-fr-siwis-low").unwrap(), Some(b.path().join("fr_FR-siwis-low.onnx")));
        let lonely = a.path().join("lonely.onnx");
        for name in ["en_US-lessac-medium", "lonely", lonely.to_str().unwrap(), "../x", "/etc/passwd"] {
            assert_eq!(on_demand.files(name).unwrap(), None, "{name}");
        }
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
        let write = |name: &str, config: String| {
            std::fs::write(dir.path().join(format!("{name}.onnx")), b"").unwrap();
            std::fs::write(dir.path().join(format!("{name}.onnx.json")), config).unwrap();
        };
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
}
