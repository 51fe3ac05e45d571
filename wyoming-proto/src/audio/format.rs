//! [`AudioFormat`]: what one Wyoming PCM payload is, and the sizes and durations that follow from it.

use super::AudioError;
use std::fmt;

/// Raw little-endian PCM as Wyoming describes it in `audio-start`, `audio-chunk` and `info` events.
///
/// Fields are in wire order; events serialise it flattened as `{"rate": .., "width": .., "channels": ..}`.
/// `width` is bytes per sample: 1 is *unsigned* 8-bit (silence is 128), 2 to 4 are signed.
/// Nothing here trusts the values: a peer may send any numbers, so [`validate`](Self::validate)
/// before relying on them; the size helpers return 0 rather than dividing by zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AudioFormat {
    /// Samples per second per channel, in hertz.
    #[serde(deserialize_with = "whole_number")]
    pub rate: u32,
    /// Bytes per sample, 1 to 4.
    #[serde(deserialize_with = "whole_number")]
    pub width: u16,
    /// Interleaved channels; 1 is mono.
    #[serde(deserialize_with = "whole_number")]
    pub channels: u16,
}

/// A whole number however a peer writes it: `16000`, `16000.0` or `"16000"`. Python peers do not check these
/// types (`rate=16000.0` from a float computation goes out as it is, and wyoming-faster-whisper takes it).
fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize;
    use serde_json::Value;
    let value = Value::deserialize(d)?;
    let whole = match &value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(f)).map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number in range, got {value}")))
}

impl AudioFormat {
    /// 16 kHz, 16-bit, mono: what Whisper, Silero VAD and most speech engines take.
    pub const WHISPER: AudioFormat = AudioFormat::new(16_000, 2, 1);

    pub const fn new(rate: u32, width: u16, channels: u16) -> Self {
        AudioFormat { rate, width, channels }
    }

    /// Checks what every conversion needs: a width of 1 to 4 bytes, a rate and a channel count above zero.
    pub fn validate(&self) -> Result<(), AudioError> {
        if !(1..=4).contains(&self.width) {
            return Err(AudioError::UnsupportedWidth { width: self.width });
        }
        if self.rate == 0 {
            return Err(AudioError::ZeroRate);
        }
        if self.channels == 0 {
            return Err(AudioError::ZeroChannels);
        }
        Ok(())
    }

    /// Bytes of one frame (one sample for every channel).
    pub fn bytes_per_frame(&self) -> usize {
        usize::from(self.width) * usize::from(self.channels)
    }

    /// Whole frames in `len_bytes` (Python's `AudioChunk.samples`); a trailing partial frame is not counted.
    pub fn frames(&self, len_bytes: usize) -> usize {
        len_bytes.checked_div(self.bytes_per_frame()).unwrap_or(0)
    }

    /// Milliseconds of audio in `len_bytes`, rounded down.
    ///
    /// Computed in `f64` in the same order as Python's `int(samples / rate * 1000)`, so the rare
    /// values where float rounding lands just below an integer agree with Python too.
    pub fn duration_ms(&self, len_bytes: usize) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        (self.frames(len_bytes) as f64 / f64::from(self.rate) * 1000.0) as u64
    }
}

/// `16000 Hz, 16-bit, 1 channel(s)`: for logs and error messages.
impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz, {}-bit, {} channel(s)", self.rate, u32::from(self.width) * 8, self.channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_read_however_a_python_peer_writes_them() {
        let read = |json: &str| serde_json::from_str::<AudioFormat>(json).map_err(|e| e.to_string());
        let wide = AudioFormat::new(16_000, 2, 1);
        assert_eq!(read(r#"{"rate": 16000, "width": 2, "channels": 1}"#), Ok(wide));
        assert_eq!(read(r#"{"rate": 16000.0, "width": "2", "channels": " 1 "}"#), Ok(wide));
        for bad in [
            r#"{"rate": 16000.5, "width": 2, "channels": 1}"#,
            r#"{"rate": -16000, "width": 2, "channels": 1}"#,
            r#"{"rate": "fast", "width": 2, "channels": 1}"#,
            r#"{"rate": 16000, "width": 70000, "channels": 1}"#,
            r#"{"rate": null, "width": 2, "channels": 1}"#,
        ] {
            let error = read(bad).unwrap_err();
            assert!(error.contains("expected a whole number"), "{bad}: {error}");
        }
    }

    #[test]
    fn sizes_follow_python() {
        let f = AudioFormat::WHISPER;
        assert_eq!(f.bytes_per_frame(), 2);
        assert_eq!(f.frames(32_001), 16_000);
        assert_eq!(f.duration_ms(32_000), 1000);
        assert_eq!(f.duration_ms(31_999), 999);
        // int(4410 / 44100 * 1000) == 100 and int(1 / 3 * 1000) == 333 in Python.
        assert_eq!(AudioFormat::new(44_100, 2, 1).duration_ms(8820), 100);
        assert_eq!(AudioFormat::new(3, 1, 1).duration_ms(1), 333);
        let stereo32 = AudioFormat::new(48_000, 4, 2);
        assert_eq!(stereo32.bytes_per_frame(), 8);
        assert_eq!(stereo32.duration_ms(8 * 480), 10);
    }

    #[test]
    fn nonsense_formats_do_not_divide_by_zero() {
        let f = AudioFormat::new(0, 0, 0);
        assert_eq!(f.frames(100), 0);
        assert_eq!(f.duration_ms(100), 0);
    }

    #[test]
    fn validate_names_the_problem() {
        assert_eq!(AudioFormat::new(16_000, 5, 1).validate(), Err(AudioError::UnsupportedWidth { width: 5 }));
        assert_eq!(AudioFormat::new(16_000, 0, 1).validate(), Err(AudioError::UnsupportedWidth { width: 0 }));
        assert_eq!(AudioFormat::new(0, 2, 1).validate(), Err(AudioError::ZeroRate));
        assert_eq!(AudioFormat::new(16_000, 2, 0).validate(), Err(AudioError::ZeroChannels));
        for width in 1..=4 {
            assert_eq!(AudioFormat::new(8000, width, 2).validate(), Ok(()));
        }
    }

    #[test]
    fn serialises_in_wire_order() {
        let json = serde_json::to_string(&AudioFormat::new(22_050, 2, 1)).unwrap();
        assert_eq!(json, r#"{"rate":22050,"width":2,"channels":1}"#);
        let back: AudioFormat = serde_json::from_str(&json).unwrap();
        assert_eq!(back, AudioFormat::new(22_050, 2, 1));
    }

    #[test]
    fn displays_for_humans() {
        assert_eq!(AudioFormat::WHISPER.to_string(), "16000 Hz, 16-bit, 1 channel(s)");
    }
}
