//! Where a Piper voice's files are: an `.onnx` path, `NAME.onnx` in a data dir, or, for a voice of the
//! `rhasspy/piper-voices` catalogue that is not there yet, downloaded into the download dir on first use, as
//! wyoming-piper does (`--local-files-only` turns that off).

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
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
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
    let Some(remote) = catalogue_path(voice) else {
        return Err(not_found(""));
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
        for bad in ["joe", "en_US-lessac", "en-lessac-medium", "a-b-c-d", "en_US-../x-medium", "/abs/path"] {
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
}
