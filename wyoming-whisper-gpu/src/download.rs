//! Downloading a model from the model hub into `--download-dir`, in the hub's cache layout
//! (`models--owner--name/snapshots/<revision>/`) so that wyoming-faster-whisper and we share downloads.
//!
//! Files are fetched from `$HF_ENDPOINT/<repo>/resolve/<revision>/<file>` (default endpoint
//! `https://huggingface.co`, token from `HF_TOKEN`), written to `<file>.part` and renamed when complete, so
//! an interrupted download never leaves a half model that looks whole. Progress is logged as it goes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing::info;

const REVISION: &str = "main";
/// Required files (`model.bin` last), and optional ones (a model has one of the two vocabularies).
const REQUIRED: [&str; 2] = ["config.json", "model.bin"];
const OPTIONAL: [&str; 4] = ["vocabulary.json", "vocabulary.txt", "tokenizer.json", "preprocessor_config.json"];

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{repo}: the model hub has no {file}; is this a CTranslate2 Whisper model?")]
    MissingFile { repo: String, file: String },
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The hub to download from.
pub struct Hub {
    endpoint: String,
    token: Option<String>,
}

impl Hub {
    /// `HF_ENDPOINT` and `HF_TOKEN` from the environment.
    pub fn from_env() -> Hub {
        let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_string());
        Hub { endpoint: endpoint.trim_end_matches('/').to_string(), token: std::env::var("HF_TOKEN").ok() }
    }

    /// Downloads `repo` into `download_dir` and returns the model directory.
    pub fn download(&self, repo: &str, download_dir: &Path) -> Result<PathBuf, DownloadError> {
        let target = download_dir.join(format!("models--{}", repo.replace('/', "--"))).join("snapshots").join(REVISION);
        std::fs::create_dir_all(&target).map_err(|source| io(&target, source))?;
        info!(repo, endpoint = %self.endpoint, into = %target.display(), "downloading model");
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_connect(Some(Duration::from_secs(30)))
                .http_status_as_error(false)
                .build(),
        );
        // `model.bin` last: a folder that has it is complete, which is what the data-dir lookup checks.
        let mut vocabulary = false;
        for file in OPTIONAL {
            vocabulary |= self.fetch(&agent, repo, file, &target)? && file.starts_with("vocabulary.");
        }
        if !vocabulary {
            return Err(DownloadError::MissingFile {
                repo: repo.into(),
                file: "vocabulary.json or vocabulary.txt".into(),
            });
        }
        for file in REQUIRED {
            if !self.fetch(&agent, repo, file, &target)? {
                return Err(DownloadError::MissingFile { repo: repo.into(), file: file.to_string() });
            }
        }
        Ok(target)
    }

    /// Fetches one file; `false` when the hub has no such file.
    fn fetch(&self, agent: &ureq::Agent, repo: &str, file: &str, target: &Path) -> Result<bool, DownloadError> {
        let dest = target.join(file);
        if dest.is_file() {
            return Ok(true);
        }
        let url = format!("{}/{repo}/resolve/{REVISION}/{file}", self.endpoint);
        let http = |reason: String| DownloadError::Http { url: url.clone(), reason };
        let mut request = agent.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let response = request.call().map_err(|e| http(e.to_string()))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(false),
            code => return Err(http(format!("HTTP {code}"))),
        }
        let total: Option<u64> = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
        let part = target.join(format!("{file}.part"));
        let mut out = std::fs::File::create(&part).map_err(|source| io(&part, source))?;
        let mut body = response.into_body().into_reader();
        let mut buf = vec![0u8; 256 * 1024];
        let (mut done, mut last_log) = (0u64, Instant::now());
        loop {
            let n = body.read(&mut buf).map_err(|e| http(e.to_string()))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(|source| io(&part, source))?;
            done += n as u64;
            if last_log.elapsed() > Duration::from_secs(2) {
                last_log = Instant::now();
                match total {
                    Some(total) => {
                        info!(file, "{:.0}% of {:.1} MB", done as f64 * 100.0 / total as f64, total as f64 / 1e6)
                    }
                    None => info!(file, "{:.1} MB", done as f64 / 1e6),
                }
            }
        }
        if let Some(total) = total
            && done != total
        {
            return Err(http(format!("connection closed after {done} of {total} bytes")));
        }
        out.sync_all().map_err(|source| io(&part, source))?;
        std::fs::rename(&part, &dest).map_err(|source| io(&dest, source))?;
        info!(file, bytes = done, "downloaded");
        Ok(true)
    }
}

fn io(path: &Path, source: std::io::Error) -> DownloadError {
    DownloadError::Io { path: path.display().to_string(), source }
}
