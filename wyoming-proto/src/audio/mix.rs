//! Channel changes, as the Python servers do them.
//!
//! Down to mono the channels are **summed** and clamped to the width's range, like
//! `audioop.tomono(data, width, 1.0, 1.0)`, not averaged: a stereo stream keeps the level the Python
//! servers give it, so thresholds tuned against them (VAD, wake word) still hold. The price is
//! clipping when both channels are loud. Mono is duplicated into every output channel
//! (`audioop.tostereo`). Python only knows stereo on either side; we sum any number of channels
//! and copy mono out to any number. Other pairs (stereo to 5.1, …) have no obvious meaning and are
//! refused.

use super::AudioError;
use super::pcm::sample_range;

/// Whether `from` channels can become `to` channels.
pub(crate) fn check_channels(from: u16, to: u16) -> Result<(), AudioError> {
    if from == to || from == 1 || to == 1 { Ok(()) } else { Err(AudioError::UnsupportedChannels { from, to }) }
}

/// Interleaved `samples` (signed, of `width` bytes, whole frames) from `from` to `to` channels.
/// The pair must have passed [`check_channels`]; an unsupported pair returns the input unchanged.
pub(crate) fn convert_channels(samples: Vec<i32>, from: u16, to: u16, width: u16) -> Vec<i32> {
    let (from_n, to_n) = (usize::from(from), usize::from(to));
    if from == to || from == 0 || to == 0 {
        samples
    } else if to == 1 {
        let (min, max) = sample_range(width);
        samples
            .chunks_exact(from_n)
            .map(|frame| {
                let sum: i64 = frame.iter().map(|&s| i64::from(s)).sum();
                sum.clamp(i64::from(min), i64::from(max)) as i32
            })
            .collect()
    } else if from == 1 {
        samples.iter().flat_map(|&s| std::iter::repeat_n(s, to_n)).collect()
    } else {
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_is_the_clamped_sum() {
        let stereo = vec![1000, 3000, 30000, 30000, -30000, -30000, -5, 4];
        assert_eq!(convert_channels(stereo, 2, 1, 2), [4000, 32767, -32768, -1]);
        assert_eq!(convert_channels(vec![100, 100, 100], 3, 1, 1), [127]);
        assert_eq!(convert_channels(vec![i32::MAX, 1, i32::MIN, -1], 2, 1, 4), [i32::MAX, i32::MIN]);
    }

    #[test]
    fn mono_is_copied_out() {
        assert_eq!(convert_channels(vec![1, -2], 1, 2, 2), [1, 1, -2, -2]);
        assert_eq!(convert_channels(vec![7], 1, 3, 2), [7, 7, 7]);
    }

    #[test]
    fn other_layouts_are_refused() {
        assert_eq!(check_channels(2, 3), Err(AudioError::UnsupportedChannels { from: 2, to: 3 }));
        assert_eq!(check_channels(6, 2), Err(AudioError::UnsupportedChannels { from: 6, to: 2 }));
        assert!(check_channels(6, 1).is_ok() && check_channels(1, 6).is_ok() && check_channels(4, 4).is_ok());
    }
}
