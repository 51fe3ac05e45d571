//! Downloading a Whisper model from the model hub into `--download-dir`, in the hub's cache layout
//! (`models--owner--name/snapshots/<revision>/`) so that wyoming-faster-whisper and we share downloads. The
//! transfer itself (endpoint, token, `.part` files, progress) is [`wyoming_proto::hub`].

use std::path::{Path, PathBuf};
use tracing::info;
use wyoming_proto::hub::{Hub as HubClient, HubError};

const REVISION: &str = "main";
/// Required files (`model.bin` last), and optional ones (a model has one of the two vocabularies).
const REQUIRED: [&str; 2] = ["config.json", "model.bin"];
const OPTIONAL: [&str; 4] = ["vocabulary.json", "vocabulary.txt", "tokenizer.json", "preprocessor_config.json"];

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("{repo}: the model hub has no {file}; is this a CTranslate2 Whisper model?")]
    MissingFile { repo: String, file: String },
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The hub to download from.
pub struct Hub(HubClient);

impl Hub {
    /// `HF_ENDPOINT` and `HF_TOKEN` from the environment.
    pub fn from_env() -> Hub {
        Hub(HubClient::from_env())
    }

    /// Downloads `repo` into `download_dir` and returns the model directory.
    pub fn download(&self, repo: &str, download_dir: &Path) -> Result<PathBuf, DownloadError> {
        let target = download_dir.join(format!("models--{}", repo.replace('/', "--"))).join("snapshots").join(REVISION);
        std::fs::create_dir_all(&target)
            .map_err(|source| DownloadError::Io { path: target.display().to_string(), source })?;
        info!(repo, endpoint = %self.0.endpoint(), into = %target.display(), "downloading model");
        // `model.bin` last: a folder that has it is complete, which is what the data-dir lookup checks.
        let mut vocabulary = false;
        for file in OPTIONAL {
            vocabulary |= self.0.fetch(repo, REVISION, file, &target.join(file))? && file.starts_with("vocabulary.");
        }
        if !vocabulary {
            return Err(DownloadError::MissingFile {
                repo: repo.into(),
                file: "vocabulary.json or vocabulary.txt".into(),
            });
        }
        for file in REQUIRED {
            if !self.0.fetch(repo, REVISION, file, &target.join(file))? {
                return Err(DownloadError::MissingFile { repo: repo.into(), file: file.to_string() });
            }
        }
        Ok(target)
    }
}
