//! The command line: the flags of the issue, plus those wyoming-piper users know (`--voice`, `--speaker`,
//! `--length-scale`, `--noise-scale`, `--noise-w-scale`, `--data-dir`, `--samples-per-chunk`,
//! `--no-streaming`). wyoming-piper flags we do not implement are accepted with a warning.

use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;
use wyoming_proto::cli::ServerArgs;
use wyoming_proto::uri::WyomingUri;

pub const DEFAULT_PORT: u16 = 10200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// LuxTTS when --model is given, else Piper
    Auto,
    Luxtts,
    Piper,
}

#[derive(Debug, Parser)]
#[command(version, about = "Wyoming streaming text-to-speech server: LuxTTS voice cloning and Piper voices")]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Engine
    #[arg(long, value_enum, default_value_t = EngineKind::Auto)]
    pub engine: EngineKind,
    /// LuxTTS model directory (tokens.txt, text_encoder.onnx, fm_decoder.onnx, vocos.onnx)
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Piper: a voice name (looked up as NAME.onnx in the data dirs) or an .onnx path. LuxTTS: NAME=REF.wav,
    /// a reference clip of the voice to clone. Repeatable; the first is the default voice.
    #[arg(long = "voice", action = ArgAction::Append)]
    pub voices: Vec<String>,
    /// LuxTTS: NAME=TEXT, what the reference clip of voice NAME says (otherwise the STT server is asked)
    #[arg(long = "voice-transcript", action = ArgAction::Append)]
    pub voice_transcripts: Vec<String>,
    /// Wyoming STT server that transcribes LuxTTS reference clips given without a transcript
    #[arg(long, default_value = "tcp://127.0.0.1:10300")]
    pub stt_uri: String,
    /// Directories searched for Piper voices; the first also holds the LuxTTS voice cache (repeatable)
    #[arg(long = "data-dir", action = ArgAction::Append)]
    pub data_dirs: Vec<PathBuf>,
    /// Where catalogue voices are downloaded on first use (default: the first data dir)
    #[arg(long)]
    pub download_dir: Option<PathBuf>,
    /// Never download; use only voices already in the data dirs
    #[arg(long)]
    pub local_files_only: bool,
    /// auto (CUDA when ONNX Runtime offers it, else CPU), cpu or cuda
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// LuxTTS flow-matching steps
    #[arg(long, default_value_t = 4)]
    pub num_steps: usize,
    /// LuxTTS guidance scale (an input of the distilled network)
    #[arg(long, default_value_t = 3.0)]
    pub guidance_scale: f32,
    /// LuxTTS time-schedule shift
    #[arg(long, default_value_t = 0.5)]
    pub t_shift: f32,
    /// LuxTTS speaking speed (1.0 is LuxTTS's default, which it multiplies by 1.3 internally)
    #[arg(long, default_value_t = 1.0)]
    pub speed: f32,
    /// LuxTTS: seconds of each reference clip used as the voice prompt
    #[arg(long, default_value_t = 5.0)]
    pub ref_duration: f32,
    /// LuxTTS: seed of the sampler's noise (default: a new seed per phrase)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Piper: default speaker of the default voice (name or number)
    #[arg(long)]
    pub speaker: Option<String>,
    /// Piper: phoneme length scale (larger is slower); default from the voice
    #[arg(long)]
    pub length_scale: Option<f32>,
    /// Piper: generator noise; default from the voice
    #[arg(long)]
    pub noise_scale: Option<f32>,
    /// Piper: phoneme width noise; default from the voice
    #[arg(long = "noise-w", alias = "noise-w-scale")]
    pub noise_w: Option<f32>,
    /// Samples per audio-chunk event
    #[arg(long, default_value_t = 1024)]
    pub samples_per_chunk: usize,
    /// Appended (its first character) to a request's text that ends without one of these, as wyoming-piper
    /// does ("" turns it off)
    #[arg(long, default_value = ".?!。？！．؟")]
    pub auto_punctuation: String,
    /// Seconds of silence after each sentence
    #[arg(long, default_value_t = 0.0)]
    pub sentence_silence: f32,
    /// Syntheses running at once, over all connections; more wait their turn
    #[arg(long, default_value_t = default_concurrency())]
    pub max_concurrent: usize,
    /// ONNX Runtime intra-op threads of a synthesis that runs alone; beside others, each runs on one
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
    /// Advertise and accept only plain `synthesize` (no streaming)
    #[arg(long)]
    pub no_streaming: bool,
    /// Milliseconds a `.` that ends a streamed chunk waits for the next chunk, which may continue the word
    /// (`example` `.` `com`), before it ends its sentence
    #[arg(long, default_value_t = 50)]
    pub stream_hold_ms: u64,
    /// Directory that contains espeak-ng-data (default: the library's own)
    #[arg(long)]
    pub espeak_data: Option<PathBuf>,
    /// libtashkeel's model for Arabic voices (model.onnx and its id maps), as piper-tts ships it (default:
    /// tashkeel/ beside --espeak-data's espeak-ng-data, as in the piper-tts package)
    #[arg(long)]
    pub tashkeel_dir: Option<PathBuf>,
    /// Nakdimon's model for Hebrew voices (nakdimon.onnx), as piper-tts ships it (default: hebrew/ beside
    /// --espeak-data's espeak-ng-data, as in the piper-tts package)
    #[arg(long)]
    pub hebrew_dir: Option<PathBuf>,
    /// ONNX Runtime library (1.24 or newer)
    #[arg(long, env = "ORT_DYLIB_PATH")]
    pub onnxruntime: Option<PathBuf>,
    /// Validate the command line and exit, without loading anything
    #[arg(long)]
    pub check_config: bool,

    // Accepted for compatibility with wyoming-piper, not implemented (a warning is logged when used).
    #[arg(long, hide = true)]
    pub use_cuda: bool,
    #[arg(long, hide = true)]
    pub update_voices: bool,
    #[arg(long, hide = true)]
    pub web_server: bool,
    #[arg(long, hide = true)]
    pub web_server_host: Option<String>,
    #[arg(long, hide = true)]
    pub web_server_port: Option<u16>,
    #[arg(long, hide = true)]
    pub web_server_allow: Vec<String>,
    /// wyoming-piper 2.5's engine choice: `piper` is accepted, anything else is an error.
    #[arg(long, hide = true)]
    pub backend: Option<String>,
}

/// The CPU cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn default_threads() -> usize {
    cores()
}

fn default_concurrency() -> usize {
    default_threads().max(2)
}

/// A LuxTTS voice to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneSpec {
    pub name: String,
    pub reference: PathBuf,
    pub transcript: Option<String>,
}

impl Cli {
    pub fn engine(&self) -> EngineKind {
        match self.engine {
            EngineKind::Auto if self.model.is_some() => EngineKind::Luxtts,
            EngineKind::Auto => EngineKind::Piper,
            other => other,
        }
    }

    pub fn data_dirs(&self) -> Vec<PathBuf> {
        if self.data_dirs.is_empty() { vec![PathBuf::from("data")] } else { self.data_dirs.clone() }
    }

    pub fn stt_uri(&self) -> anyhow::Result<WyomingUri> {
        self.stt_uri.parse().map_err(|e| anyhow::anyhow!("--stt-uri {}: {e}", self.stt_uri))
    }

    /// `--voice NAME=REF.wav` with `--voice-transcript NAME=TEXT`.
    pub fn clone_specs(&self) -> anyhow::Result<Vec<CloneSpec>> {
        let mut specs: Vec<CloneSpec> = Vec::new();
        for voice in &self.voices {
            let (name, path) = voice
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .ok_or_else(|| anyhow::anyhow!("--voice {voice:?}: LuxTTS voices are NAME=REFERENCE.wav"))?;
            if specs.iter().any(|s| s.name == name) {
                anyhow::bail!("--voice {name} is given twice");
            }
            specs.push(CloneSpec { name: name.into(), reference: path.into(), transcript: None });
        }
        for transcript in &self.voice_transcripts {
            let (name, text) = transcript
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--voice-transcript {transcript:?}: expected NAME=TEXT"))?;
            let spec = specs
                .iter_mut()
                .find(|s| s.name == name)
                .ok_or_else(|| anyhow::anyhow!("--voice-transcript {name}: there is no --voice {name}=…"))?;
            spec.transcript = Some(text.trim().to_string()).filter(|t| !t.is_empty());
        }
        Ok(specs)
    }

    /// Checks everything that can be checked without loading: values in range, voice syntax, URIs.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.num_steps >= 1 && self.num_steps <= 64, "--num-steps must be 1…64");
        anyhow::ensure!(self.speed > 0.0 && self.speed.is_finite(), "--speed must be a positive number");
        anyhow::ensure!(self.guidance_scale.is_finite(), "--guidance-scale must be a number");
        anyhow::ensure!(self.t_shift > 0.0 && self.t_shift <= 1.0, "--t-shift must be in (0, 1]");
        anyhow::ensure!(self.ref_duration > 0.5, "--ref-duration must be over 0.5 s");
        anyhow::ensure!(self.samples_per_chunk > 0, "--samples-per-chunk must be positive");
        anyhow::ensure!(self.max_concurrent > 0, "--max-concurrent must be positive");
        anyhow::ensure!(self.stream_hold_ms <= 10_000, "--stream-hold-ms must be 0…10000");
        anyhow::ensure!(
            self.sentence_silence >= 0.0 && self.sentence_silence < 10.0,
            "--sentence-silence must be 0…10 s"
        );
        for (flag, value) in [("--length-scale", self.length_scale), ("--noise-scale", self.noise_scale)] {
            if let Some(v) = value {
                anyhow::ensure!(v.is_finite() && v >= 0.0, "{flag} must be a non-negative number");
            }
        }
        anyhow::ensure!(
            matches!(self.device.as_str(), "auto" | "cpu" | "cuda" | "gpu"),
            "--device must be auto, cpu or cuda"
        );
        self.stt_uri()?;
        if let Some(backend) = self.backend.as_deref() {
            anyhow::ensure!(
                backend == "piper" && self.engine() == EngineKind::Piper,
                "--backend {backend}: only wyoming-piper's `piper` backend is served here (see --engine)"
            );
        }
        match self.engine() {
            EngineKind::Luxtts => {
                anyhow::ensure!(self.model.is_some(), "--engine luxtts needs --model DIR");
                anyhow::ensure!(
                    !self.voices.is_empty(),
                    "--engine luxtts needs at least one --voice NAME=REFERENCE.wav"
                );
                self.clone_specs()?;
            }
            _ => {
                anyhow::ensure!(!self.voices.is_empty(), "--engine piper needs --voice (a voice name or .onnx path)");
                anyhow::ensure!(self.voice_transcripts.is_empty(), "--voice-transcript is for LuxTTS voices");
            }
        }
        Ok(())
    }

    /// Flags accepted for compatibility but without effect.
    pub fn unimplemented_flags(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.update_voices {
            flags.push("--update-voices");
        }
        if self.web_server {
            flags.push("--web-server");
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("wyoming-luxtts").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn wyoming_piper_command_lines_parse() {
        let cli =
            parse(&["--voice", "en_US-joe-medium", "--data-dir", "/data", "--speaker", "0", "--noise-w-scale", "0.5"]);
        assert_eq!(cli.engine(), EngineKind::Piper);
        assert_eq!(cli.noise_w, Some(0.5));
        cli.validate().unwrap();
        parse(&["--backend", "piper", "--voice", "v"]).validate().unwrap();
        let omnivoice = parse(&["--backend", "omnivoice", "--voice", "v"]).validate().unwrap_err();
        assert!(omnivoice.to_string().contains("--backend omnivoice"), "{omnivoice}");
    }

    #[test]
    fn luxtts_voices_and_transcripts_pair_up() {
        let cli = parse(&[
            "--model",
            "/m",
            "--voice",
            "ann=/a.wav",
            "--voice",
            "bob=/b.wav",
            "--voice-transcript",
            "bob=Hi there.",
        ]);
        assert_eq!(cli.engine(), EngineKind::Luxtts);
        let specs = cli.clone_specs().unwrap();
        assert_eq!(
            specs[1],
            CloneSpec { name: "bob".into(), reference: "/b.wav".into(), transcript: Some("Hi there.".into()) }
        );
        assert!(parse(&["--model", "/m", "--voice", "ann.wav"]).validate().is_err());
        assert!(parse(&["--model", "/m", "--voice", "a=/a.wav", "--voice-transcript", "zed=x"]).validate().is_err());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(parse(&["--voice", "v", "--num-steps", "0"]).validate().is_err());
        assert!(parse(&["--voice", "v", "--device", "tpu"]).validate().is_err());
        assert!(parse(&["--voice", "v", "--stt-uri", "tcp://nohost"]).validate().is_err());
        assert!(parse(&[]).validate().is_err());
    }
}
