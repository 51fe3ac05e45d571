//! The shared text frontend: sanitising, phrase splitting, English normalisation, Arabic diacritization, espeak-ng
//! IPA, inline `[[ phonemes ]]`, and the mapping of phonemes to each engine's token ids.

pub mod espeak;
pub mod hebrew_ipa;
pub mod nakdimon;
pub mod normalize;
pub mod phoneme_blocks;
pub mod phonemes;
pub mod sanitize;
pub mod split;
pub mod tashkeel;
