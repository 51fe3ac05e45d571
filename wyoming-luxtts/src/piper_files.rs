//! Where a Piper voice's files are: an `.onnx` path, `NAME.onnx` in a data dir, or, for a voice of the
//! `rhasspy/piper-voices` catalogue that is not there yet, downloaded into the download dir on first use, as
//! wyoming-piper does (`--local-files-only` turns that off). Which voices a request may name is
//! [`crate::piper_library`]'s.

use crate::piper::config_path;
use crate::piper_catalogue;
use std::path::{Path, PathBuf};
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
pub(crate) fn find_or_download(
    voice: &str,
    data_dirs: &[PathBuf],
    download_dir: &Path,
    local_files_only: bool,
) -> Result<PathBuf, VoiceFilesError> {
    let voice = piper_catalogue::resolve(voice).unwrap_or(voice); // an old name is stored under the voice's own
    let mut dirs: Vec<&Path> = data_dirs.iter().map(PathBuf::as_path).collect();
    if !dirs.contains(&download_dir) {
        dirs.push(download_dir); // by default it is the first data dir
    }
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

/// Every voice in `dirs` (`NAME.onnx` with its `NAME.onnx.json`, directly or in a `NAME/` folder), by name, sorted;
/// where two dirs hold the same name, the first wins, as in [`locate`]. Unreadable dirs are skipped.
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
                let complete = candidate.is_file() && config_path(&candidate).is_file();
                (complete && !name.is_empty()).then_some((name, candidate))
            })
            .collect();
        here.sort();
        for (name, path) in here {
            if !found.iter().any(|(n, _)| *n == name) {
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
        let shown = dir.path().display().to_string();
        assert_eq!(err.to_string().matches(&shown).count(), 1, "the dir is listed once: {err}");
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
    }
}
