//! hotline-media: Hotline's real-time media engine.
//!
//! It owns every RTP session of the switch: the UDP sockets, G.711 (mu-law and A-law) coding,
//! DTMF in both directions (RFC 4733 telephone-events and in-band tones), prompt playback with
//! barge-in, call-progress tones, music on hold, relaying between two legs (with SSRC, sequence
//! and timestamp rewriting and mu-law/A-law transcoding), a mixer with a "who hears whom" matrix
//! for conferences and supervision (monitor, whisper, barge), recording to WAV, RTCP sender and
//! receiver reports, per-leg quality (loss, jitter, an E-model MOS) and RTP timeouts.
//!
//! # Threads and the drive contract
//!
//! Media is real-time work, so it does not run on tokio. [`MediaEngine::start`] spawns one
//! worker thread per core (or [`EngineConfig::workers`]); each runs an edge-triggered `mio` loop
//! over its sessions' sockets and a 20 ms tick. Call control talks to it only through
//! [`MediaEngine`] methods, which bind sockets or load prompt files on the caller's thread and
//! then send a command over a crossbeam channel (they never wait for a media thread), and
//! through the [`MediaEvent`] stream from [`MediaEngine::events`]. On the media threads nothing
//! allocates, locks or touches the disk per packet: a received packet is parsed in place
//! (rtp-rs), and, when bridged, rewritten into a stack buffer and sent at once; recordings are
//! written by a separate thread; prompts are decoded to PCM in memory before they are played.
//!
//! Sessions that are bridged, mixed or recorded together must live on the same worker: create
//! the second leg with [`SessionOptions::near`].
//!
//! The protocol pieces are usable on their own and are pure computation: [`g711`],
//! [`rfc4733`], [`inband`] (Goertzel, ITU-T Q.24 limits), [`rtcp`] (RFC 3550 statistics and
//! packets, G.107 E-model), [`jitter`], [`mixer`], [`tone`], [`wav`] and [`say`] (digits,
//! numbers, money and dates as prompt lists for the set in `config/prompts`).
//!
//! # Example
//!
//! ```no_run
//! use std::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use hotline_media::{
//!     EngineConfig, HearMatrix, MediaEngine, MediaEvent, PlayOptions, RemoteParams, SessionOptions,
//! };
//!
//! # fn main() -> Result<(), hotline_media::MediaError> {
//! let engine = MediaEngine::start(EngineConfig::default())?;
//! let events = engine.events();
//! let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
//!
//! // The caller's leg: its local port goes into our SDP answer.
//! let caller = engine.create_session(SessionOptions::on(ip))?;
//! let caller_sdp: SocketAddr = "198.51.100.7:4000".parse().unwrap();
//! engine.set_remote(caller.id, RemoteParams::g711(caller_sdp, 0))?;
//!
//! // IVR: welcome, then wait for a digit (a digit interrupts the prompt).
//! let prompts = ["phrases/welcome", "phrases/main-menu"];
//! engine.play(caller.id, &prompts, PlayOptions { barge_in: true, looped: false })?;
//! let digit = loop {
//!     match events.recv().expect("engine running") {
//!         MediaEvent::Digit { session, digit, .. } if session == caller.id => break digit,
//!         _ => {}
//!     }
//! };
//!
//! // The agent answers: a second leg on the same worker, bridged to the caller.
//! let agent = engine.create_session(SessionOptions::near(ip, caller.id))?;
//! engine.set_remote(agent.id, RemoteParams::g711("203.0.113.5:5004".parse().unwrap(), 8))?;
//! engine.bridge(caller.id, agent.id)?;
//! let rec = engine.start_recording("call-0001", &[caller.id, agent.id])?;
//!
//! // A supervisor listens in, then whispers to the agent: matrix changes, no audio gap.
//! let sup = engine.create_session(SessionOptions::near(ip, caller.id))?;
//! let mixer = engine.create_mixer(&[caller.id, agent.id, sup.id], HearMatrix::monitor())?;
//! engine.set_matrix(mixer, HearMatrix::whisper())?;
//! # let _ = (digit, rec);
//! # Ok(())
//! # }
//! ```

pub mod engine;
pub mod g711;
pub mod inband;
pub mod jitter;
pub mod mixer;
pub mod net;
mod recorder;
pub mod rfc4733;
pub mod rtcp;
pub mod say;
mod snapshot;
pub mod tone;
pub mod wav;
mod worker;

pub use engine::{
    DigitSource, EngineConfig, EngineMetrics, FailReason, MediaEngine, MediaEvent, MixerId,
    PlayOptions, RecordingId, RemoteParams, SessionId, SessionInfo, SessionOptions, SessionStats,
};
pub use g711::Law;
pub use mixer::HearMatrix;
pub use net::{IpNet, IpNetError};
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
