//! The command line, and the `mumble` section of the Python bot's `config.yaml`.
//!
//! Flags win over the file, the file over defaults. The file keeps the Python bot's keys
//! (`host`, `port`, `user`, `password`, `channel`, `certfile`, `keyfile`) and adds
//! `server_fingerprint`, `tls` (`default`, `system`, `insecure`) and `tokens`. As in the Python bot,
//! `${VAR}` in a string is replaced by the environment variable, and a missing `./config.yaml` means defaults;
//! unlike it, a `--config` file that does not exist is an error.

use crate::mumble::{Fingerprint, Identity, MumbleConfig, TlsOptions, Trust};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Parser)]
#[command(version, about = "Mumble voice bot over Wyoming STT/TTS and an OpenAI-compatible LLM")]
pub struct Cli {
    /// The bot's config.yaml (the Python bot's format) [default: ./config.yaml, and defaults if it does not
    /// exist; a file given here must exist]
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Check the command line and the config file, then exit without connecting
    #[arg(long, global = true)]
    pub check_config: bool,
    #[command(flatten)]
    pub mumble: MumbleArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The config file to read: `--config`, else `./config.yaml`.
    pub fn config_path(&self) -> &Path {
        self.config.as_deref().unwrap_or(Path::new("config.yaml"))
    }

    /// The config file: `None` when no `--config` was given and `./config.yaml` does not exist (defaults apply,
    /// as in the Python bot). A `--config` file that does not exist is an error: the Python bot silently ran on
    /// defaults then (reference `original-bot.md` §14 row 27).
    pub fn load_config(&self) -> Result<Option<serde_yaml_ng::Value>, ConfigError> {
        let path = self.config_path();
        match load_config(path)? {
            None if self.config.is_some() => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            }),
            file => Ok(file),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join a channel and play back what is said there after a delay (to check a server's setup)
    MumbleEcho(EchoArgs),
    /// Print p50/p90/p99 per stage of a latency log (bot.latency_log) and write an SVG chart of the stages
    Latency(LatencyArgs),
}

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// The JSONL latency log
    pub file: PathBuf,
    /// Where the SVG chart goes [default: FILE.svg]
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EchoArgs {
    /// How long after hearing audio it is played back
    #[arg(long, default_value_t = 1000)]
    pub delay_ms: u64,
}

/// The Python bot's flags for the common pipeline settings; each overrides its config key.
#[derive(Debug, Args, Default, Clone)]
pub struct PipelineArgs {
    /// LLM chat-completions URL [config: llm.endpoint]
    #[arg(long, global = true)]
    pub llm_endpoint: Option<String>,
    /// LLM model name [config: llm.model]
    #[arg(long, global = true)]
    pub llm_model: Option<String>,
    /// LLM API key [config: llm.api_key; env OPENROUTER_API_KEY, LLM_API_KEY]
    #[arg(long, global = true, hide_env_values = true)]
    pub llm_api_key: Option<String>,
    /// The whole base system prompt [config: llm.system_prompt / llm.prompt_file]
    #[arg(long, global = true)]
    pub llm_system_prompt: Option<String>,
    /// Personality name or file appended to the prompt [config: llm.personality]
    #[arg(long, global = true)]
    pub personality: Option<String>,
    /// RMS threshold of the fallback VAD [config: bot.asr_threshold]
    #[arg(long, global = true)]
    pub asr_threshold: Option<u32>,
    /// Wyoming STT server host [config: stt.wyoming_host]
    #[arg(long, global = true)]
    pub wyoming_stt_host: Option<String>,
    /// Wyoming STT server port [config: stt.wyoming_port]
    #[arg(long, global = true)]
    pub wyoming_stt_port: Option<u16>,
    /// Wyoming TTS server host [config: tts.wyoming_host]
    #[arg(long, global = true)]
    pub wyoming_tts_host: Option<String>,
    /// Wyoming TTS server port [config: tts.wyoming_port]
    #[arg(long, global = true)]
    pub wyoming_tts_port: Option<u16>,
    /// Log level: DEBUG, INFO, WARNING or ERROR (RUST_LOG, when set, wins)
    #[arg(long, global = true, default_value = "INFO")]
    pub log_level: String,
    /// JSON log lines
    #[arg(long, global = true)]
    pub log_json: bool,
    /// Accepted for the Python bot's command lines; the in-process TTS they configured is now the TTS
    /// server's job, so they only log a warning
    #[arg(long, global = true, hide = true)]
    pub reference: Option<String>,
    #[arg(long, global = true, hide = true)]
    pub device: Option<String>,
    #[arg(long, global = true, hide = true)]
    pub steps: Option<u32>,
    #[arg(long, global = true, hide = true)]
    pub voices_dir: Option<String>,
    #[arg(long, global = true, hide = true)]
    pub hf_home: Option<String>,
    #[arg(long, global = true, hide = true)]
    pub debug_rms: bool,
    #[arg(long, global = true, hide = true)]
    pub log_file: Option<String>,
}

impl PipelineArgs {
    /// The config overrides these flags make.
    pub fn overrides(&self) -> crate::config::Overrides {
        crate::config::Overrides {
            llm_endpoint: self.llm_endpoint.clone(),
            llm_model: self.llm_model.clone(),
            llm_api_key: self.llm_api_key.clone(),
            llm_system_prompt: self.llm_system_prompt.clone(),
            personality: self.personality.clone(),
            asr_threshold: self.asr_threshold,
            stt_host: self.wyoming_stt_host.clone(),
            stt_port: self.wyoming_stt_port,
        }
    }

    /// Flags of the Python bot that have no effect here.
    pub fn ignored(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (flag, set) in [
            ("--reference", self.reference.is_some()),
            ("--device", self.device.is_some()),
            ("--steps", self.steps.is_some()),
            ("--voices-dir", self.voices_dir.is_some()),
            ("--hf-home", self.hf_home.is_some()),
            ("--debug-rms", self.debug_rms),
            ("--log-file", self.log_file.is_some()),
        ] {
            if set {
                out.push(flag);
            }
        }
        out
    }

    /// The tracing filter for `--log-level`.
    pub fn log_filter(&self) -> &'static str {
        match self.log_level.to_ascii_uppercase().as_str() {
            "DEBUG" => "debug",
            "WARNING" | "WARN" => "warn",
            "ERROR" => "error",
            _ => "info",
        }
    }
}

/// Connection flags; each overrides the config file's `mumble` key of the same meaning.
#[derive(Debug, Args, Default, Clone)]
pub struct MumbleArgs {
    /// Mumble server host [config: mumble.host, default localhost]
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Mumble server port [config: mumble.port, default 64738]
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// User name [config: mumble.user, default VoiceBot]
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// Server password [config: mumble.password]
    #[arg(long, global = true, env = "MUMBLE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Channel name or Parent/Child path to join [config: mumble.channel]
    #[arg(long, global = true)]
    pub channel: Option<String>,
    /// Access token (repeatable) [config: mumble.tokens]
    #[arg(long = "token", global = true)]
    pub tokens: Vec<String>,
    /// Accept only the server certificate with this SHA-256 fingerprint [config: mumble.server_fingerprint]
    #[arg(long, global = true)]
    pub server_cert_sha256: Option<String>,
    /// Do not verify the server certificate (its fingerprint is still logged)
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Client certificate (PEM) so the bot can be a registered user [config: mumble.certfile]
    #[arg(long, global = true)]
    pub certfile: Option<PathBuf>,
    /// Client key (PEM) [config: mumble.keyfile]
    #[arg(long, global = true)]
    pub keyfile: Option<PathBuf>,
    /// Where state is kept (trust-on-first-use fingerprints) [default: $XDG_DATA_HOME/wyoming-bridge]
    #[arg(long, global = true, env = "WYOMING_BRIDGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid YAML: {source}")]
    Yaml { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("{path}: the top level must be a mapping of sections")]
    NotAMapping { path: PathBuf },
    #[error("{path}: section `mumble`: {source}")]
    Mumble { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("mumble.tls must be default, system or insecure, not {0:?}")]
    TlsMode(String),
    #[error(transparent)]
    Fingerprint(#[from] crate::mumble::tls::TlsError),
    #[error("a client certificate needs both certfile and keyfile")]
    HalfClientCert,
}

/// The `mumble` section; every key optional.
#[derive(Debug, Default, Deserialize)]
pub struct MumbleSection {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub channel: Option<String>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    pub server_fingerprint: Option<String>,
    pub tls: Option<String>,
    pub tokens: Option<Vec<String>>,
}

/// Reads the config file: `None` if it does not exist (defaults apply, as in the Python bot).
pub fn load_config(path: &Path) -> Result<Option<serde_yaml_ng::Value>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|source| ConfigError::Yaml { path: path.to_path_buf(), source })?;
    match value {
        serde_yaml_ng::Value::Mapping(_) | serde_yaml_ng::Value::Null => {}
        _ => return Err(ConfigError::NotAMapping { path: path.to_path_buf() }),
    }
    expand_env(&mut value, &|name| std::env::var(name).ok());
    Ok(Some(value))
}

/// Replaces `${NAME}` in every string, recursively; an unset variable becomes the empty string.
pub fn expand_env(value: &mut serde_yaml_ng::Value, lookup: &dyn Fn(&str) -> Option<String>) {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) if s.contains("${") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                match rest[start + 2..].find('}') {
                    Some(end) => {
                        out.push_str(&lookup(&rest[start + 2..start + 2 + end]).unwrap_or_default());
                        rest = &rest[start + 3 + end..];
                    }
                    None => {
                        out.push_str(&rest[start..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| expand_env(v, lookup)),
        Value::Mapping(map) => map.iter_mut().for_each(|(_, v)| expand_env(v, lookup)),
        _ => {}
    }
}

/// The `mumble` section of a loaded file (defaults when absent or `null`), read as leniently as the
/// Python bot reads it ([`lenient`]). Unknown keys are warned about with the other sections' (`config::read`).
pub fn mumble_section(path: &Path, file: Option<&serde_yaml_ng::Value>) -> Result<MumbleSection, ConfigError> {
    match file.and_then(|f| f.get("mumble")) {
        None | Some(serde_yaml_ng::Value::Null) => Ok(MumbleSection::default()),
        Some(section) => serde_yaml_ng::from_value(lenient(section))
            .map_err(|source| ConfigError::Mumble { path: path.to_path_buf(), source }),
    }
}

/// The Python bot never type-checks, and `${VAR}` expansion always yields strings: `port: "${PORT}"` is a port,
/// `password: 1234` a password. An empty string, such as an unset variable's, means the default, except for
/// `user` (the soul's name then) and `password` and `channel` (none).
fn lenient(section: &serde_yaml_ng::Value) -> serde_yaml_ng::Value {
    use serde_yaml_ng::Value;
    let Value::Mapping(map) = section else { return section.clone() };
    let text = |v: &Value| match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    };
    let mut out = serde_yaml_ng::Mapping::new();
    for (key, value) in map {
        let blank = value.as_str().is_some_and(|s| s.trim().is_empty());
        let value = match key.as_str().unwrap_or_default() {
            "user" | "password" | "channel" => text(value),
            "host" | "port" | "certfile" | "keyfile" | "server_fingerprint" | "tls" if blank => continue,
            "port" => match value.as_str().map(|s| s.trim().parse::<u64>()) {
                Some(Ok(port)) => Value::Number(port.into()),
                _ => value.clone(),
            },
            "host" | "certfile" | "keyfile" | "server_fingerprint" | "tls" => text(value),
            "tokens" => match value {
                Value::Sequence(items) => Value::Sequence(items.iter().map(text).collect()),
                Value::Null => continue,
                Value::String(s) if s.trim().is_empty() => continue,
                single => Value::Sequence(vec![text(single)]),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Mapping(out)
}

/// The default data directory: `$XDG_DATA_HOME/wyoming-bridge`, else `~/.local/share/wyoming-bridge`.
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("wyoming-bridge"))
}

/// Flags over file over defaults. `soul_name` is the user name when the file says `user: ""`, as in the Python
/// bot (whose default is already `VoiceBot`, so only an empty name falls through to the soul's).
pub fn mumble_config(
    args: &MumbleArgs,
    file: MumbleSection,
    soul_name: Option<&str>,
) -> Result<MumbleConfig, ConfigError> {
    let trust = if args.insecure {
        Trust::Insecure
    } else if let Some(fp) = args.server_cert_sha256.as_ref().or(file.server_fingerprint.as_ref()) {
        Trust::Pinned(fp.parse::<Fingerprint>()?)
    } else {
        match file.tls.as_deref().unwrap_or("default") {
            "default" | "tofu" => Trust::Default,
            "system" => Trust::SystemRoots,
            "insecure" => Trust::Insecure,
            other => return Err(ConfigError::TlsMode(other.to_string())),
        }
    };
    let client_cert = match (args.certfile.clone().or(file.certfile), args.keyfile.clone().or(file.keyfile)) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(ConfigError::HalfClientCert),
    };
    let data_dir = args.data_dir.clone().or_else(default_data_dir);
    let tokens = if args.tokens.is_empty() { file.tokens.unwrap_or_default() } else { args.tokens.clone() };
    let username = match args.user.clone().filter(|u| !u.is_empty()).or(file.user) {
        Some(user) if user.trim().is_empty() => soul_name.filter(|n| !n.trim().is_empty()).map(str::to_owned),
        user => user,
    };
    let username = username.unwrap_or_else(|| "VoiceBot".into());
    Ok(MumbleConfig {
        host: args.host.clone().or(file.host).unwrap_or_else(|| "localhost".into()),
        port: args.port.or(file.port).unwrap_or(64738),
        identity: Identity {
            username,
            password: args.password.clone().or(file.password).filter(|p| !p.is_empty()),
            tokens,
            channel: args.channel.clone().or(file.channel).filter(|c| !c.is_empty()),
        },
        tls: TlsOptions { trust, known_servers: data_dir.map(|d| d.join("mumble_known_servers")), client_cert },
    })
}

/// `--check-config`'s part: the Mumble settings as the bot would use them, the client certificate and the TLS
/// trust included, without connecting. The rest of the file is checked by `config::parse_config`.
pub fn check_mumble(
    cli: &Cli,
    file: Option<&serde_yaml_ng::Value>,
    soul_name: Option<&str>,
) -> Result<String, ConfigError> {
    let path = cli.config_path();
    let config = mumble_config(&cli.mumble, mumble_section(path, file)?, soul_name)?;
    crate::mumble::tls::client_config(&config.tls, &config.host, config.port)?;
    let source = if file.is_some() {
        format!("{} is valid", path.display())
    } else {
        format!("{} does not exist; defaults apply", path.display())
    };
    Ok(format!("{source}; would connect to {}:{} as {}", config.host, config.port, config.identity.username))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("wyoming-bridge").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_work_before_and_after_the_subcommand() {
        let cli = parse(&["--host", "a", "mumble-echo", "--port", "1234", "--delay-ms", "50"]);
        assert_eq!((cli.mumble.host.as_deref(), cli.mumble.port), (Some("a"), Some(1234)));
        assert!(matches!(cli.command, Some(Command::MumbleEcho(EchoArgs { delay_ms: 50 }))));
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("mumble:\n  host: h\n  port: 1\n  user: ''\n  channel: Tavern\n  tls: system\n")
                .unwrap();
        let section = mumble_section(Path::new("c"), Some(&yaml)).unwrap();
        let args = MumbleArgs { port: Some(2), data_dir: Some("/d".into()), ..Default::default() };
        let c = mumble_config(&args, section, None).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.identity.username.as_str()), ("h", 2, "VoiceBot"));
        assert_eq!(c.identity.channel.as_deref(), Some("Tavern"));
        assert_eq!(c.tls.trust, Trust::SystemRoots);
        assert_eq!(c.tls.known_servers.as_deref(), Some(Path::new("/d/mumble_known_servers")));
        let pinned = MumbleArgs { server_cert_sha256: Some("ab".repeat(32)), ..Default::default() };
        assert!(matches!(mumble_config(&pinned, MumbleSection::default(), None).unwrap().tls.trust, Trust::Pinned(_)));
        let half = MumbleArgs { certfile: Some("c.pem".into()), ..Default::default() };
        assert!(matches!(mumble_config(&half, MumbleSection::default(), None), Err(ConfigError::HalfClientCert)));
    }

    #[test]
    fn config_files_missing_valid_and_broken() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_config(&dir.path().join("none.yaml")).unwrap().is_none());
        let good = dir.path().join("good.yaml");
        std::fs::write(&good, "llm:\n  model: x\nmumble:\n  port: 5\n").unwrap();
        assert!(load_config(&good).unwrap().is_some());
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "mumble: [unclosed\n").unwrap();
        assert!(matches!(load_config(&bad), Err(ConfigError::Yaml { .. })));
        let scalar = dir.path().join("scalar.yaml");
        std::fs::write(&scalar, "just text\n").unwrap();
        assert!(matches!(load_config(&scalar), Err(ConfigError::NotAMapping { .. })));
        let wrong_type = dir.path().join("wrong.yaml");
        std::fs::write(&wrong_type, "mumble:\n  port: notanumber\n").unwrap();
        let value = load_config(&wrong_type).unwrap();
        assert!(mumble_section(&wrong_type, value.as_ref()).is_err());
    }

    #[test]
    fn the_mumble_section_is_read_as_leniently_as_the_python_bot_reads_it() {
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "mumble:\n  host: ''\n  port: ' 64739'\n  user: 42\n  password: 1234\n  channel: 2024\n  tokens: abc\n  \
             certfile: ''\n  keyfile: ''\n  tls: ''\n",
        )
        .unwrap();
        let section = mumble_section(Path::new("c"), Some(&yaml)).unwrap();
        let c = mumble_config(&MumbleArgs::default(), section, None).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.identity.username.as_str()), ("localhost", 64739, "42"));
        assert_eq!((c.identity.password.as_deref(), c.identity.channel.as_deref()), (Some("1234"), Some("2024")));
        assert_eq!(c.identity.tokens, ["abc"]);
        assert!(c.tls.client_cert.is_none());
        assert_eq!(c.tls.trust, Trust::Default);
        // An empty `tokens:` is none.
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str("mumble:\n  tokens:\n").unwrap();
        let section = mumble_section(Path::new("c"), Some(&yaml)).unwrap();
        assert!(mumble_config(&MumbleArgs::default(), section, None).unwrap().identity.tokens.is_empty());
        // `${PORT}` expanded from the environment.
        let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str("mumble:\n  port: '${PORT}'\n").unwrap();
        expand_env(&mut yaml, &|_| Some("1234".into()));
        let section = mumble_section(Path::new("c"), Some(&yaml)).unwrap();
        assert_eq!(mumble_config(&MumbleArgs::default(), section, None).unwrap().port, 1234);
        // `user: ""` is the soul's name; no soul, VoiceBot.
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str("mumble:\n  user: ''\n").unwrap();
        let name = |soul| {
            let section = mumble_section(Path::new("c"), Some(&yaml)).unwrap();
            mumble_config(&MumbleArgs::default(), section, soul).unwrap().identity.username
        };
        assert_eq!((name(Some("Aria")), name(None)), ("Aria".to_string(), "VoiceBot".to_string()));
        let unset: serde_yaml_ng::Value = serde_yaml_ng::from_str("mumble:\n  port: 1\n").unwrap();
        let section = mumble_section(Path::new("c"), Some(&unset)).unwrap();
        assert_eq!(mumble_config(&MumbleArgs::default(), section, Some("Aria")).unwrap().identity.username, "VoiceBot");
    }

    #[test]
    fn env_expansion_like_the_python_bot() {
        let mut v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("a: 'x${A}y${MISSING}z'\nb: [\"${A}\"]\nc: '${open'").unwrap();
        expand_env(&mut v, &|n| (n == "A").then(|| "1".to_string()));
        assert_eq!(v["a"].as_str(), Some("x1yz"));
        assert_eq!(v["b"][0].as_str(), Some("1"));
        assert_eq!(v["c"].as_str(), Some("${open"));
    }
}
