//! The command line of wyoming-faster-whisper 3.8.1, with the same names, meanings and environment
//! variables (`WYO_WHISPER_<OPTION>` and `WYO_WHISPER_<OPTION>_FILE`; the command line wins, then
//! `_FILE`, then the variable). Flags we do not implement are accepted with a warning.

use crate::tokens::Task;
use clap::{ArgAction, CommandFactory, Parser};
use std::path::PathBuf;
use wyoming_proto::cli::ServerArgs;

pub const DEFAULT_PORT: u16 = 10300;
const ENV_PREFIX: &str = "WYO_WHISPER_";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Wyoming speech-to-text server: Whisper through CTranslate2 (drop-in for wyoming-faster-whisper)"
)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Model: a directory, a size such as tiny-int8 / base-int8, or a model-hub repo id
    #[arg(long, default_value = "auto")]
    pub model: String,
    /// Directories searched for models (repeatable)
    #[arg(long = "data-dir", action = ArgAction::Append)]
    pub data_dirs: Vec<PathBuf>,
    /// Where downloaded models go (default: the first data dir)
    #[arg(long)]
    pub download_dir: Option<PathBuf>,
    /// auto (CUDA when a device is present, else CPU), cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// int8, int8_float16, int8_float32, int16, float16, bfloat16, float32, default or auto
    #[arg(long, default_value = "int8")]
    pub compute_type: String,
    /// Beam size; 1 is greedy decoding. 0 is wyoming-faster-whisper's auto: 1 on ARM, 5 elsewhere (more
    /// accurate on the CPU, and slower)
    #[arg(long, default_value_t = 1)]
    pub beam_size: usize,
    /// Default language when a request names none (English-only models always use English)
    #[arg(long)]
    pub language: Option<String>,
    /// Text to condition the decoder on (names, spellings)
    #[arg(long)]
    pub initial_prompt: Option<String>,
    /// CPU threads for inference
    #[arg(long, default_value_t = default_threads())]
    pub cpu_threads: usize,
    /// transcribe, or translate to English (multilingual models)
    #[arg(long, value_enum, default_value_t = Task::Transcribe)]
    pub whisper_task: Task,
    /// Never download; use only models already in the data dirs
    #[arg(long)]
    pub local_files_only: bool,
    /// Most utterances decoded together in one batch
    #[arg(long, default_value_t = 8)]
    pub max_batch: usize,
    /// Longest utterance accepted, in seconds; longer ones get an error instead of a partial transcript
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_utterance_seconds: u32,
    /// Early final: after this much silence following speech, start decoding before audio-stop (0: off)
    /// [default: 300 on CUDA; 100 on the CPU, where one decode takes about as long as the trailing silence
    /// clients send, so it must start sooner to be ready at audio-stop]
    #[arg(long)]
    pub early_final_ms: Option<u32>,
    /// Send partial transcripts (transcript-start/-chunk/-stop) while audio arrives
    #[arg(long)]
    pub partial_transcripts: bool,
    /// New audio after which the utterance so far is decoded again for a partial transcript
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(100..))]
    pub partial_interval_ms: u32,
    /// Silero VAD model for the early final (default: silero_vad.onnx in a data dir)
    #[arg(long)]
    pub silero_model: Option<PathBuf>,
    /// Accepted and unused: Silero VAD now runs without ONNX Runtime
    #[arg(long, hide = true)]
    pub onnxruntime: Option<PathBuf>,
    /// Parse and validate the flags (and WYO_WHISPER_* variables), print a one-line summary and exit,
    /// without loading, downloading or even looking for the model
    #[arg(long)]
    pub check_config: bool,

    // Accepted for compatibility, not implemented (a warning is logged when used).
    #[arg(long, hide = true)]
    pub vad_filter: bool,
    #[arg(long, hide = true)]
    pub vad_threshold: Option<String>,
    #[arg(long, hide = true)]
    pub vad_min_speech_ms: Option<String>,
    #[arg(long, hide = true)]
    pub vad_min_silence_ms: Option<String>,
    /// Send the transcript once this many seconds of silence follow a command, before audio-stop (for
    /// clients without VAD; advertises requires_external_vad: false)
    #[arg(long, value_name = "SECONDS")]
    pub vad_endpointing: Option<f32>,
    #[arg(long, hide = true, num_args = 0.., action = ArgAction::Append)]
    pub vad_clip: Option<Vec<String>>,
    #[arg(long, hide = true)]
    pub vad_clip_threshold: Option<String>,
    #[arg(long, hide = true)]
    pub vad_clip_pad_ms: Option<String>,
    #[arg(long, hide = true)]
    pub stt_library: Option<String>,
    #[arg(long, hide = true)]
    pub sherpa_streaming: bool,
    #[arg(long, hide = true)]
    pub hass_token: Option<String>,
    #[arg(long, hide = true)]
    pub hass_api: Option<String>,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get()).min(4)
}

/// The early final's silence on the CPU: a tiny.en decode takes about 450 ms on two cores, so after 100 ms of
/// silence it is ready within the 600 ms Home Assistant-style clients wait.
pub const EARLY_FINAL_MS_CPU: u32 = 100;
/// On a GPU a decode takes tens of milliseconds, so the guess can wait longer and is wasted less often.
pub const EARLY_FINAL_MS_GPU: u32 = 300;

impl Cli {
    /// The beam size decoding uses: `--beam-size 0` is wyoming-faster-whisper's auto (1 on ARM, else 5).
    pub fn beam(&self) -> usize {
        match self.beam_size {
            0 if cfg!(any(target_arch = "aarch64", target_arch = "arm")) => 1,
            0 => 5,
            n => n,
        }
    }

    /// `--early-final-ms`, or its default for the device the model runs on.
    pub fn early_final_ms(&self, cuda: bool) -> u32 {
        self.early_final_ms.unwrap_or(if cuda { EARLY_FINAL_MS_GPU } else { EARLY_FINAL_MS_CPU })
    }

    /// Parses the process's arguments with `WYO_WHISPER_*` environment variables filled in.
    pub fn parse_with_env() -> anyhow::Result<Cli> {
        let argv: Vec<String> = std::env::args().collect();
        let (program, user_args) = argv.split_first().map(|(p, a)| (p.clone(), a.to_vec())).unwrap_or_default();
        let env_args = args_from_env(&user_args, &|name| std::env::var(name).ok())?;
        Ok(Cli::parse_from(std::iter::once(program).chain(env_args).chain(user_args)))
    }

    /// `--vad-endpointing` as an endpointer configuration.
    pub fn endpointing_config(&self) -> anyhow::Result<Option<wyoming_proto::vad::EndpointConfig>> {
        match self.vad_endpointing {
            None => Ok(None),
            Some(s) if s.is_finite() && s > 0.0 && s <= 60.0 => Ok(Some(wyoming_proto::vad::EndpointConfig {
                silence_ms: (s * 1000.0).round() as u32,
                ..Default::default()
            })),
            Some(s) => anyhow::bail!("--vad-endpointing {s}: expected seconds of silence between 0 and 60"),
        }
    }

    /// What `--check-config` validates: every value that would otherwise only fail once the model is
    /// loaded, checked for its syntax alone (no file, device or network is touched, so the check gives
    /// the same answer on a build machine as on the server). Returns the one-line summary.
    pub fn check(&self) -> anyhow::Result<String> {
        device_syntax(&self.device)?;
        crate::device::compute_type(&self.compute_type)?;
        self.endpointing_config()?;
        anyhow::ensure!(self.cpu_threads > 0, "--cpu-threads 0: expected at least 1");
        anyhow::ensure!(self.max_batch > 0, "--max-batch 0: expected at least 1");
        anyhow::ensure!(!self.model.trim().is_empty(), "--model: empty");
        let spec = crate::model::parse_model(&self.model);
        let uri = self.server.uri.as_ref().map_or_else(|| format!("tcp://0.0.0.0:{DEFAULT_PORT}"), |u| u.to_string());
        let zeroconf = match &self.server.zeroconf {
            None => "off".to_string(),
            Some(None) => crate::info::PROGRAM_NAME.to_string(),
            Some(Some(name)) => name.clone(),
        };
        Ok(format!(
            "config ok: uri={uri} model={} ({:?}) data-dirs={:?} device={} compute-type={} beam-size={} language={} \
             initial-prompt={} cpu-threads={} zeroconf={zeroconf} early-final-ms={} partial-transcripts={} \
             local-files-only={}{}",
            spec.advertised,
            spec.source,
            self.data_dirs,
            self.device,
            self.compute_type,
            self.beam(),
            self.language.as_deref().unwrap_or("auto"),
            if self.initial_prompt.as_deref().is_some_and(|p| !p.trim().is_empty()) { "set" } else { "none" },
            self.cpu_threads,
            self.early_final_ms.map_or_else(|| "auto".to_string(), |ms| ms.to_string()),
            self.partial_transcripts,
            self.local_files_only,
            match self.unimplemented_flags() {
                flags if flags.is_empty() => String::new(),
                flags => format!(" ignored-flags={}", flags.join(",")),
            },
        ))
    }

    /// Flags given that this server accepts but ignores.
    pub fn unimplemented_flags(&self) -> Vec<&'static str> {
        let mut used = Vec::new();
        let mut check = |set: bool, name| {
            if set {
                used.push(name)
            }
        };
        check(self.vad_filter, "--vad-filter");
        check(self.onnxruntime.is_some(), "--onnxruntime");
        check(self.vad_threshold.is_some(), "--vad-threshold");
        check(self.vad_min_speech_ms.is_some(), "--vad-min-speech-ms");
        check(self.vad_min_silence_ms.is_some(), "--vad-min-silence-ms");
        check(self.vad_clip.is_some(), "--vad-clip");
        check(self.vad_clip_threshold.is_some(), "--vad-clip-threshold");
        check(self.vad_clip_pad_ms.is_some(), "--vad-clip-pad-ms");
        check(self.stt_library.as_deref().is_some_and(|l| l != "auto" && l != "faster-whisper"), "--stt-library");
        check(self.sherpa_streaming, "--sherpa-streaming");
        check(self.hass_token.is_some(), "--hass-token");
        check(self.hass_api.is_some(), "--hass-api");
        used
    }
}

/// `--device` checked for its form only (auto, cpu, cuda or cuda:N), not for a device being present.
fn device_syntax(value: &str) -> anyhow::Result<()> {
    let ok = match value {
        "auto" | "cpu" | "cuda" => true,
        other => other.strip_prefix("cuda:").is_some_and(|i| i.parse::<u16>().is_ok()),
    };
    anyhow::ensure!(ok, "--device {value}: expected auto, cpu, cuda or cuda:N");
    Ok(())
}

/// Command-line arguments for every option set through `WYO_WHISPER_<OPTION>[_FILE]` and not given on
/// the command line. Repeatable options take a `:`-separated list; flags take 1/true/yes/y/on or
/// 0/false/no/n/off.
pub fn args_from_env(user_args: &[String], env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Vec<String>> {
    let on_command_line =
        |long: &str| user_args.iter().any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")));
    let mut out = Vec::new();
    for arg in Cli::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if on_command_line(long) {
            continue;
        }
        let var = format!("{ENV_PREFIX}{}", long.to_uppercase().replace('-', "_"));
        let value = match env(&format!("{var}_FILE")) {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("{var}_FILE={path}: {e}"))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            None => env(&var),
        };
        let Some(value) = value else { continue };
        match arg.get_action() {
            ArgAction::SetTrue => match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "y" | "on" => out.push(format!("--{long}")),
                "0" | "false" | "no" | "n" | "off" | "" => {}
                other => anyhow::bail!("{var}={other}: expected 1/true/yes/y/on or 0/false/no/n/off"),
            },
            ArgAction::Append => {
                for item in value.split(':').filter(|s| !s.is_empty()) {
                    out.push(format!("--{long}={item}"));
                }
            }
            _ if value.is_empty() && arg.get_num_args().is_some_and(|n| n.min_values() == 0) => {
                out.push(format!("--{long}"))
            }
            _ => out.push(format!("--{long}={value}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_args(cli: &[&str], vars: &[(&str, &str)]) -> Vec<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let cli: Vec<String> = cli.iter().map(|s| s.to_string()).collect();
        args_from_env(&cli, &|k| vars.get(k).cloned()).unwrap()
    }

    #[test]
    fn environment_fills_what_the_command_line_leaves_out() {
        let args = env_args(
            &["--beam-size", "3"],
            &[
                ("WYO_WHISPER_MODEL", "tiny-int8"),
                ("WYO_WHISPER_BEAM_SIZE", "5"),
                ("WYO_WHISPER_DATA_DIR", "/a:/b"),
                ("WYO_WHISPER_LOCAL_FILES_ONLY", "yes"),
                ("WYO_WHISPER_DEBUG", "off"),
                ("WYO_WHISPER_ZEROCONF", ""),
            ],
        );
        assert!(args.contains(&"--model=tiny-int8".to_string()));
        assert!(!args.iter().any(|a| a.starts_with("--beam-size")), "the command line wins");
        assert!(args.contains(&"--data-dir=/a".to_string()) && args.contains(&"--data-dir=/b".to_string()));
        assert!(args.contains(&"--local-files-only".to_string()));
        assert!(!args.contains(&"--debug".to_string()));
        assert!(args.contains(&"--zeroconf".to_string()));
    }

    #[test]
    fn file_variables_win_over_plain_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prompt");
        std::fs::write(&file, "Kitchen Lamp\n").unwrap();
        let args =
            env_args(&[], &[("WYO_WHISPER_LANGUAGE", "de"), ("WYO_WHISPER_LANGUAGE_FILE", file.to_str().unwrap())]);
        assert!(args.contains(&"--language=Kitchen Lamp".to_string()));
    }

    #[test]
    fn parsed_result_has_python_defaults_where_sensible() {
        let cli = Cli::parse_from(["x"]);
        assert_eq!(cli.model, "auto");
        assert_eq!((cli.beam_size, cli.beam()), (1, 1));
        let auto = Cli::parse_from(["x", "--beam-size", "0"]).beam();
        let arm = cfg!(any(target_arch = "aarch64", target_arch = "arm"));
        assert_eq!(auto, if arm { 1 } else { 5 }, "auto as in wyoming-faster-whisper");
        assert_eq!(cli.compute_type, "int8");
        assert_eq!(cli.device, "auto");
        assert!(cli.unimplemented_flags().is_empty());
        let cli = Cli::parse_from(["x", "--vad-filter", "--stt-library", "sherpa", "--vad-clip"]);
        assert_eq!(cli.unimplemented_flags(), ["--vad-filter", "--vad-clip", "--stt-library"]);
    }

    #[test]
    fn check_config_validates_without_a_model() {
        let cli = Cli::parse_from([
            "x",
            "--model",
            "medium-int8",
            "--device",
            "cuda:1",
            "--compute-type",
            "int8_float16",
            "--zeroconf",
            "kitchen",
            "--initial-prompt",
            "Kitchen Lamp",
        ]);
        let summary = cli.check().unwrap();
        assert!(summary.starts_with("config ok: uri=tcp://0.0.0.0:10300 model=medium-int8"), "{summary}");
        assert!(summary.contains("device=cuda:1") && summary.contains("zeroconf=kitchen"), "{summary}");
        assert!(!summary.contains('\n'));
        let bad = |args: &[&str]| {
            let cli = Cli::parse_from(std::iter::once("x").chain(args.iter().copied()));
            cli.check().unwrap_err().to_string()
        };
        assert!(bad(&["--device", "gpu"]).contains("--device gpu"));
        assert!(bad(&["--device", "cuda:x"]).contains("--device cuda:x"));
        assert!(bad(&["--compute-type", "int4"]).contains("--compute-type int4"));
        assert!(bad(&["--vad-endpointing=-1"]).contains("--vad-endpointing"));
        assert!(bad(&["--cpu-threads", "0"]).contains("--cpu-threads"));
    }

    #[test]
    fn a_bad_boolean_is_a_clear_error() {
        let err = args_from_env(&[], &|k| (k == "WYO_WHISPER_DEBUG").then(|| "maybe".to_string())).unwrap_err();
        assert!(err.to_string().contains("WYO_WHISPER_DEBUG=maybe"));
    }
}
