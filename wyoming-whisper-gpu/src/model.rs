//! Finding the model a `--model` value names, the way wyoming-faster-whisper resolves it.
//!
//! `tiny-int8`/`tiny.int8` (and base, small, medium) mean the model-hub repository
//! `rhasspy/faster-whisper-<size>-int8`, advertised as `<size>-int8`; a bare size such as `small` means
//! `Systran/faster-whisper-small`; anything with a slash is a repository id; an existing directory is
//! used as it is. Repositories are looked up in every data dir, as a plain folder or in the model hub's
//! cache layout (`models--owner--name/snapshots/<revision>/`).

use std::path::{Path, PathBuf};

const INT8_SIZES: [&str; 4] = ["tiny", "base", "small", "medium"];
const SYSTRAN_SIZES: [&str; 14] = [
    "tiny.en",
    "tiny",
    "base.en",
    "base",
    "small.en",
    "small",
    "medium.en",
    "medium",
    "large-v1",
    "large-v2",
    "large-v3",
    "large",
    "distil-large-v3",
    "large-v3-turbo",
];

/// What a `--model` value refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name advertised in `info` (what Home Assistant shows and stores).
    pub advertised: String,
    /// A directory given directly, or a repository id to look up.
    pub source: ModelSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Directory(PathBuf),
    Repository(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model {repo} is not in any data dir ({searched})")]
    Missing { repo: String, searched: String },
    #[error("model {repo} is not in any data dir ({searched}) and --local-files-only forbids downloading it")]
    OnlyRemote { repo: String, searched: String },
    #[error("{0}: not a CTranslate2 model directory (no model.bin)")]
    NoModelFile(String),
}

/// Interprets a `--model` value. `auto` picks what wyoming-faster-whisper picks on a CPU machine.
pub fn parse_model(value: &str) -> ModelSpec {
    let value = value.trim();
    if Path::new(value).is_dir() {
        return ModelSpec { advertised: value.to_string(), source: ModelSource::Directory(value.into()) };
    }
    let normalized = value.replace(".int8", "-int8");
    let repo = if value == "auto" {
        let size = if cfg!(any(target_arch = "aarch64", target_arch = "arm")) { "tiny" } else { "base" };
        format!("rhasspy/faster-whisper-{size}-int8")
    } else if let Some(size) = normalized.strip_suffix("-int8").filter(|s| INT8_SIZES.contains(s)) {
        format!("rhasspy/faster-whisper-{size}-int8")
    } else if SYSTRAN_SIZES.contains(&value) {
        format!("Systran/faster-whisper-{value}")
    } else {
        value.to_string()
    };
    let advertised = if normalized.ends_with("-int8") && !value.contains('/') { normalized } else { value.to_string() };
    ModelSpec { advertised, source: ModelSource::Repository(repo) }
}

/// The model directory for `spec`, searched in `data_dirs`.
pub fn locate(spec: &ModelSpec, data_dirs: &[PathBuf], local_files_only: bool) -> Result<PathBuf, ModelError> {
    let repo = match &spec.source {
        ModelSource::Directory(dir) => {
            return if dir.join("model.bin").is_file() {
                Ok(dir.clone())
            } else {
                Err(ModelError::NoModelFile(dir.display().to_string()))
            };
        }
        ModelSource::Repository(repo) => repo,
    };
    let name = repo.rsplit('/').next().unwrap_or(repo);
    let cache_name = format!("models--{}", repo.replace('/', "--"));
    for dir in data_dirs {
        for candidate in [dir.join(name), dir.join(repo), dir.join(&spec.advertised)] {
            if candidate.join("model.bin").is_file() {
                return Ok(candidate);
            }
        }
        if let Some(found) = hub_cache_snapshot(&dir.join(&cache_name)) {
            return Ok(found);
        }
    }
    let searched = data_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    let searched = if searched.is_empty() { "no --data-dir given".to_string() } else { searched };
    if local_files_only {
        Err(ModelError::OnlyRemote { repo: repo.clone(), searched })
    } else {
        Err(ModelError::Missing { repo: repo.clone(), searched })
    }
}

/// The newest snapshot with a `model.bin` in a model-hub cache folder.
fn hub_cache_snapshot(cache: &Path) -> Option<PathBuf> {
    let snapshots = std::fs::read_dir(cache.join("snapshots")).ok()?;
    snapshots
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("model.bin").is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(value: &str) -> (String, String) {
        let spec = parse_model(value);
        let ModelSource::Repository(repo) = spec.source else { panic!("{value} is not a repository") };
        (spec.advertised, repo)
    }

    #[test]
    fn names_resolve_like_wyoming_faster_whisper() {
        assert_eq!(repo("tiny-int8"), ("tiny-int8".into(), "rhasspy/faster-whisper-tiny-int8".into()));
        assert_eq!(repo("base.int8"), ("base-int8".into(), "rhasspy/faster-whisper-base-int8".into()));
        assert_eq!(repo("small"), ("small".into(), "Systran/faster-whisper-small".into()));
        assert_eq!(
            repo("Systran/faster-whisper-tiny.en"),
            ("Systran/faster-whisper-tiny.en".into(), "Systran/faster-whisper-tiny.en".into())
        );
        assert_eq!(repo("auto").0, "auto");
    }

    #[test]
    fn finds_plain_and_hub_cache_layouts() {
        let data = tempfile::tempdir().unwrap();
        let plain = data.path().join("faster-whisper-tiny-int8");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("model.bin"), b"x").unwrap();
        assert_eq!(locate(&parse_model("tiny-int8"), &[data.path().into()], true).unwrap(), plain);

        let snap = data.path().join("models--Systran--faster-whisper-small/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("model.bin"), b"x").unwrap();
        assert_eq!(locate(&parse_model("small"), &[data.path().into()], false).unwrap(), snap);
    }

    #[test]
    fn missing_models_are_clear_errors() {
        let data = tempfile::tempdir().unwrap();
        let err = locate(&parse_model("medium-int8"), &[data.path().into()], true).unwrap_err().to_string();
        assert!(err.contains("rhasspy/faster-whisper-medium-int8") && err.contains("--local-files-only"), "{err}");
        let err = locate(&parse_model("medium-int8"), &[], false).unwrap_err().to_string();
        assert!(err.contains("no --data-dir given"), "{err}");
        let err = locate(&parse_model(data.path().to_str().unwrap()), &[], false).unwrap_err().to_string();
        assert!(err.contains("no model.bin"), "{err}");
    }
}
