//! Fetching files from the model hub (feature `hub`): shared by the STT server (Whisper models) and the TTS
//! server (Piper voices), which both download on first use as the Python servers do.
//!
//! Files come from `$HF_ENDPOINT/<repo>/resolve/<revision>/<file>` (default endpoint `https://huggingface.co`,
//! token from `HF_TOKEN`). Each is written to `<dest>.part` and renamed when complete, so an interrupted
//! download never leaves a file that looks whole. Progress is logged every two seconds.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("downloading {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The hub to download from.
pub struct Hub {
    endpoint: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Hub {
    /// `HF_ENDPOINT` and `HF_TOKEN` from the environment.
    pub fn from_env() -> Hub {
        let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".to_string());
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_connect(Some(Duration::from_secs(30)))
                // A stalled hub must not hold a download (and every request waiting for its voice) forever. The
                // body's bound is for the whole file: a 3 GB Whisper model at 1 MB/s takes most of an hour.
                .timeout_recv_response(Some(Duration::from_secs(60)))
                .timeout_recv_body(Some(Duration::from_secs(3 * 3600)))
                .http_status_as_error(false)
                .build(),
        );
        Hub { endpoint: endpoint.trim_end_matches('/').to_string(), token: std::env::var("HF_TOKEN").ok(), agent }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Downloads `file` (a path inside the repository) to `dest`, unless `dest` already exists. `Ok(false)`
    /// when the hub has no such file.
    pub fn fetch(&self, repo: &str, revision: &str, file: &str, dest: &Path) -> Result<bool, HubError> {
        if dest.is_file() {
            return Ok(true);
        }
        let url = format!("{}/{}", self.endpoint, encode_path(&format!("{repo}/resolve/{revision}/{file}")));
        let http = |reason: String| HubError::Http { url: url.clone(), reason };
        let mut request = self.agent.get(&url);
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
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|source| io(parent, source))?;
        }
        let mut part = dest.as_os_str().to_owned();
        part.push(".part");
        let part = std::path::PathBuf::from(part);
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
        std::fs::rename(&part, dest).map_err(|source| io(dest, source))?;
        info!(file, bytes = done, "downloaded");
        Ok(true)
    }
}

fn io(path: &Path, source: std::io::Error) -> HubError {
    HubError::Io { path: path.display().to_string(), source }
}

/// `path` with every byte outside RFC 3986's unreserved set and `/` percent-encoded (a Piper voice is named
/// `pt_PT-tugão-medium`).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod encode_tests {
    #[test]
    fn paths_are_percent_encoded_beyond_unreserved_bytes() {
        assert_eq!(super::encode_path("a/b-c_d.e~f"), "a/b-c_d.e~f");
        assert_eq!(super::encode_path("pt/tugão/x y"), "pt/tug%C3%A3o/x%20y");
    }
}
