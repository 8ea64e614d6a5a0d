//! hotline-media: the real-time media engine (work in progress).

pub mod engine;
pub mod g711;
pub mod inband;
pub mod jitter;
pub mod mixer;
mod recorder;
pub mod rfc4733;
pub mod rtcp;
pub mod say;
pub mod tone;
pub mod wav;
mod worker;

pub use engine::{
    DigitSource, EngineConfig, FailReason, MediaEngine, MediaEvent, MixerId, PlayOptions,
    RecordingId, RemoteParams, SessionId, SessionInfo, SessionOptions, SessionStats,
};
pub use g711::Law;
pub use mixer::HearMatrix;
pub use tone::ToneSpec;

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
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A prompt file that is not a usable WAV.
    #[error("prompt {path}: {reason}")]
    BadWav {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Invalid configuration or arguments (our caller's mistake).
    #[error("invalid argument: {0}")]
    Config(&'static str),
    /// A session, mixer or recording id that names no worker.
    #[error("no media worker {0}")]
    UnknownWorker(usize),
    /// The engine has been shut down.
    #[error("media engine stopped")]
    Stopped,
    /// The port range is exhausted.
    #[error("no free RTP port in the configured range")]
    NoFreePort,
    /// Only PCMU (0) and PCMA (8) are supported.
    #[error("unsupported payload type {0}")]
    UnsupportedPayloadType(u8),
    /// Bridging, mixing and recording join sessions of one worker only.
    #[error("sessions live on different media workers (create with SessionOptions::near)")]
    DifferentWorkers,
}

impl MediaError {
    pub(crate) fn io(what: &str, source: std::io::Error) -> Self {
        MediaError::Io {
            what: what.to_string(),
            source,
        }
    }
}
