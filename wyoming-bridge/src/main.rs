//! `wyoming-bridge`: the Mumble voice bot (Mumble ↔ STT ↔ LLM ↔ TTS).
//!
//! Not built yet: the Mumble client is issue #5 and the voice pipeline issue #6. This binary only
//! accepts the flags it will have and says so.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(version, about = "Mumble voice bot over Wyoming STT/TTS and an OpenAI-compatible LLM (not implemented yet)")]
struct Cli {
    /// The bot's config.yaml (the Python bot's format)
    #[arg(long, default_value = "config.yaml")]
    config: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::bail!(
        "wyoming-bridge is not implemented yet (issues #5 and #6); config {} was not read",
        cli.config.display()
    )
}
