//! `AudioConverter` against the converter the Python servers use, `wyoming.audio.AudioChunkConverter`
//! (`audioop`), run through `tests/python/audio_convert.py`.
//!
//! Width and channel changes must match byte for byte. Rate changes cannot: Python interpolates
//! linearly without a filter and never flushes, we filter with rubato and flush at `finish`. For a
//! band-limited signal both must still agree closely, with the same time alignment (lag 0) and
//! length (±2 frames), and ours must also match the ideal signal. Every case feeds uneven chunks, so
//! state crosses chunk boundaries; on the Rust side the cuts may also split frames.
//!
//! The Python comes from `WYOMING_RS_PYTHON`, else `~/.cache/wyoming-rs/venv/bin/python`
//! (`make setup` provisions it); without either the tests print why and pass.

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::process::Command;
use wyoming_proto::audio::{AudioConverter, AudioFormat};

fn python() -> Option<PathBuf> {
    let from_env = std::env::var_os("WYOMING_RS_PYTHON").map(PathBuf::from);
    let from_home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/wyoming-rs/venv/bin/python"));
    let found = from_env.into_iter().chain(from_home).find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipped: no Python with `wyoming` (set WYOMING_RS_PYTHON or run make setup)");
    }
    found
}

fn arg(f: AudioFormat) -> String {
    format!("{},{},{}", f.rate, f.width, f.channels)
}

/// Python's output for `input` cut into chunks of `sizes` bytes (the rest is one last chunk).
fn convert_python(py: &Path, from: AudioFormat, to: AudioFormat, input: &[u8], sizes: &[usize]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (in_path, out_path) = (dir.path().join("in.raw"), dir.path().join("out.raw"));
    std::fs::write(&in_path, input).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/audio_convert.py");
    let sizes: Vec<String> = sizes.iter().map(ToString::to_string).collect();
    let status = Command::new(py)
        .arg(script)
        .args([&in_path, &out_path])
        .args(["--from", &arg(from), "--to", &arg(to), "--chunks", &sizes.join(",")])
        .status()
        .unwrap();
    assert!(status.success(), "audio_convert.py failed for {from} -> {to}");
    std::fs::read(out_path).unwrap()
}

/// Our output for the same chunks, `finish` included.
fn convert_rust(from: AudioFormat, to: AudioFormat, input: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut converter = AudioConverter::new(to);
    let mut out = Vec::new();
    let mut rest = input;
    for &size in sizes {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        out.extend(converter.convert(from, chunk).unwrap());
        rest = tail;
    }
    out.extend(converter.convert(from, rest).unwrap());
    out.extend(converter.finish());
    out
}

/// Uneven chunk sizes, in whole frames of `format` (Python refuses partial frames), plus `skew` bytes.
fn chunk_sizes(format: AudioFormat, total: usize, skew: usize) -> Vec<usize> {
    let frames = [1, 37, 160, 3, 999, 41, 512, 7, 2048, 300];
    let mut sizes = Vec::new();
    let mut sum = 0;
    for f in frames.iter().cycle() {
        let size = f * format.bytes_per_frame() + skew;
        if sum + size >= total {
            break;
        }
        sum += size;
        sizes.push(size);
    }
    sizes
}

/// Deterministic noise bytes (xorshift), with the extremes of every width near the start.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut bytes: Vec<u8> =
        [0x00, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80]
            .into_iter()
            .cycle()
            .take(64)
            .collect();
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn assert_exact(py: &Path, from: AudioFormat, to: AudioFormat) {
    let input = noise(from.bytes_per_frame() * 3001);
    let expected = convert_python(py, from, to, &input, &chunk_sizes(from, input.len(), 0));
    assert!(!expected.is_empty());
    // Python's cuts, and cuts that split frames (only we accept those).
    for skew in [0, 1] {
        let ours = convert_rust(from, to, &input, &chunk_sizes(from, input.len(), skew));
        assert!(ours == expected, "{from} -> {to} (skew {skew}) differs from Python");
    }
}

const fn fmt(rate: u32, width: u16, channels: u16) -> AudioFormat {
    AudioFormat::new(rate, width, channels)
}

#[test]
fn width_changes_match_exactly() {
    let Some(py) = python() else { return };
    for from in 1..=4 {
        for to in (1..=4).filter(|&to| to != from) {
            assert_exact(&py, fmt(16_000, from, 1), fmt(16_000, to, 1));
        }
    }
}

#[test]
fn channel_changes_match_exactly() {
    let Some(py) = python() else { return };
    // Clamped sums at every width Python mixes correctly (not 8-bit: it mixes the biased bytes).
    for width in 2..=4 {
        assert_exact(&py, fmt(16_000, width, 2), fmt(16_000, width, 1));
        assert_exact(&py, fmt(16_000, width, 1), fmt(16_000, width, 2));
    }
    // Width and channels together: narrowing happens before summing.
    assert_exact(&py, fmt(16_000, 4, 2), fmt(16_000, 2, 1));
    assert_exact(&py, fmt(16_000, 1, 2), fmt(16_000, 2, 1));
    assert_exact(&py, fmt(16_000, 2, 2), fmt(16_000, 3, 1));
    assert_exact(&py, fmt(16_000, 2, 1), fmt(16_000, 4, 2));
}

/// Band-limited test signal: per channel, a sum of sines far below every Nyquist frequency here.
fn tones(channel: u16) -> &'static [(f64, f64)] {
    const LEFT: &[(f64, f64)] = &[(0.25, 220.0), (0.2, 450.0), (0.15, 700.0)];
    const RIGHT: &[(f64, f64)] = &[(0.15, 330.0), (0.1, 560.0)]; // L + R stays below full scale
    if channel == 0 { LEFT } else { RIGHT }
}

/// Channel `channel` of the test signal at `t` seconds.
fn signal(t: f64, channel: u16) -> f64 {
    tones(channel).iter().map(|(a, f)| a * (TAU * f * t).sin()).sum()
}

/// `seconds` of the test signal as signed PCM (widths 2 to 4).
fn encode(format: AudioFormat, seconds: f64) -> Vec<u8> {
    assert!(format.width >= 2);
    let scale = f64::from(1u32 << (8 * u32::from(format.width) - 1));
    let frames = (seconds * f64::from(format.rate)) as usize;
    let mut bytes = Vec::new();
    for n in 0..frames {
        let t = n as f64 / f64::from(format.rate);
        for c in 0..format.channels {
            let v = (signal(t, c) * scale).round() as i64;
            bytes.extend_from_slice(&v.to_le_bytes()[..usize::from(format.width)]);
        }
    }
    bytes
}

fn decode_s16(bytes: &[u8]) -> Vec<f64> {
    bytes.chunks_exact(2).map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect()
}

/// RMS of `a - b` over `a`'s middle (`a[n]` against `b[n + lag]`), relative to the RMS of `b`.
fn relative_error(a: &[f64], b: &[f64], lag: isize, edge: usize) -> f64 {
    let end = a.len().min(b.len()).saturating_sub(edge);
    let (mut err, mut sig) = (0.0, 0.0);
    for (n, x) in a.iter().enumerate().take(end).skip(edge) {
        let Some(y) = b.get(n.wrapping_add_signed(lag)) else {
            continue;
        };
        err += (x - y).powi(2);
        sig += y.powi(2);
    }
    (err / sig).sqrt()
}

/// Converts one second of the test signal both ways and compares length, alignment and shape.
fn assert_close(py: &Path, from: AudioFormat, to: AudioFormat, tolerance: f64) {
    assert_eq!((to.width, to.channels), (2, 1), "comparison reads 16-bit mono");
    let input = encode(from, 1.0);
    let sizes = chunk_sizes(from, input.len(), 0);
    let theirs = decode_s16(&convert_python(py, from, to, &input, &sizes));
    let ours = decode_s16(&convert_rust(from, to, &input, &sizes));

    let frames_in = from.frames(input.len()) as f64;
    let expected_len = (frames_in * f64::from(to.rate) / f64::from(from.rate)).round() as usize;
    assert_eq!(ours.len(), expected_len, "{from} -> {to}: length");
    assert!(
        ours.len().abs_diff(theirs.len()) <= 2,
        "{from} -> {to}: {} vs Python's {} frames",
        ours.len(),
        theirs.len()
    );

    let edge = to.rate as usize / 50; // 20 ms: both start and end on a step, and differ there
    let (lag, error) = (-2..=2)
        .map(|lag| (lag, relative_error(&ours, &theirs, lag, edge)))
        .fold((0, f64::INFINITY), |best, x| if x.1 < best.1 { x } else { best });
    assert_eq!(lag, 0, "{from} -> {to}: misaligned with Python by {lag} frames (error {error})");
    assert!(error < tolerance, "{from} -> {to}: differs from Python by {error:.4} RMS");

    // Python's residual is its interpolation error; ours against the ideal signal is far smaller.
    let mixed: Vec<f64> = (0..ours.len())
        .map(|n| {
            let t = n as f64 / f64::from(to.rate);
            (0..from.channels).map(|c| signal(t, c)).sum()
        })
        .collect();
    let ideal_error = relative_error(&ours, &mixed, 0, edge);
    assert!(ideal_error < 1e-3, "{from} -> {to}: differs from the ideal signal by {ideal_error:.5} RMS");
    eprintln!("{from} -> {to}: {error:.4} RMS from Python, {ideal_error:.5} from ideal");
}

#[test]
fn rate_changes_match_within_tolerance() {
    let Some(py) = python() else { return };
    for (from, to) in [(8000, 16_000), (22_050, 16_000), (44_100, 16_000), (48_000, 16_000), (16_000, 48_000)] {
        assert_close(&py, fmt(from, 2, 1), fmt(to, 2, 1), 0.03);
    }
}

#[test]
fn stereo_32_bit_48k_to_whisper_format() {
    let Some(py) = python() else { return };
    assert_close(&py, fmt(48_000, 4, 2), AudioFormat::WHISPER, 0.03);
}
