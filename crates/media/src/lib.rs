//! hotline-media: the real-time media engine (work in progress).

pub mod g711;
pub mod inband;
pub mod rfc4733;
pub mod tone;

/// Everything that can go wrong in the media engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A packet or payload from the network is malformed.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// A character that is not a DTMF digit.
    #[error("not a DTMF digit: {0:?}")]
    InvalidDigit(char),
}
