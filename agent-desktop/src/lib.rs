//! hotline-desktop: the egui agent desktop for Hotline.
//!
//! An agent logs in, goes ready, and when the switch offers a call the desktop pops the
//! caller's record (name, tier, identities, last contacts, open tickets, bookings, what they
//! keyed in the IVR) while the phone rings. The Work tab lists the voicemails and tickets
//! waiting in her queues, to take, play on her phone and close. Call controls (answer, reject,
//! hold, mute, transfer, consult, conference, payment, DTMF) are enabled only when valid, also as
//! keyboard shortcuts.
//! After the call the wrap-up form takes a required disposition, notes and a ticket; the outcome
//! is written to the shared database through an outbox that survives outages and restarts.
//!
//! # Structure (STYLE.md items 13 and 14)
//!
//! * [`client`]: the CTI client thread (tokio + tokio-tungstenite), reconnects with back-off and
//!   resumes the session; talks to the UI over channels.
//! * [`state::DeskState`]: a plain struct updated from CTI events; no drawing, no I/O.
//! * [`view`]: draws from the state and returns [`view::UiCommand`]s.
//! * [`app::DeskApp`]: each frame drains updates into the state, draws, applies the commands.
//! * [`outbox`]: outcome records and worklist ticket changes in a local JSON-lines file
//!   (fsynced) until the [`outbox::OutcomeSink`] (the store) has them.
//! * [`directory`]: customer search, records, ticket history and the agent's worklist (the Work
//!   tab: voicemails and tickets of her queues) read from the shared database off the UI thread.
//! * [`reports`]: supervisors' KPI reports (per interval, queue and agent) read from the shared
//!   database on a worker thread, with charts and CSV export, and the day's calls with each
//!   leg's media quality, graded good, fair or poor by [`quality`].
//! * [`clock`]: injected time, so the UI tests are deterministic.
//! * [`i18n`]: the message catalogue (Fluent), English and Simplified Chinese, chosen per
//!   agent ([`prefs`]); [`fonts`]: a CJK font from the system as egui fallback.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use hotline_desktop::{app::DeskApp, client, clock::SystemClock, outbox};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (channels, _thread) = client::spawn(client::ClientConfig::default(), Arc::new(|| {}))?;
//! let outbox = outbox::Outbox::open("outbox.jsonl")?;
//! let writer = outbox::OutcomeWriter::Inline {
//!     outbox,
//!     sink: Box::new(outbox::MemorySink::new()),
//! };
//! let app = DeskApp::new(channels, writer, Arc::new(SystemClock), "ws://127.0.0.1:8080/cti");
//! // eframe::run_native("Hotline", options, Box::new(|_cc| Ok(Box::new(app))))?;
//! # drop(app);
//! # Ok(())
//! # }
//! ```

pub mod app;
pub mod client;
pub mod clock;
pub mod directory;
pub mod fonts;
pub mod i18n;
pub mod numbers;
pub mod outbox;
pub mod prefs;
pub mod quality;
pub mod reports;
pub mod sample;
pub mod state;
pub mod store_sink;
pub mod view;

use std::path::Path;

/// Errors of the desktop (files, threads, encoding).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeskError {
    /// A file or OS operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The file or resource.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Encoding a record failed.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// A background thread is gone.
    #[error("the {0} thread has stopped")]
    WorkerGone(&'static str),
    /// TLS settings could not be built (unreadable or invalid CA file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The database could not be opened.
    #[error("database: {0}")]
    Database(String),
}

impl DeskError {
    pub(crate) fn io(what: impl AsRef<Path>, source: std::io::Error) -> Self {
        DeskError::Io {
            what: what.as_ref().display().to_string(),
            source,
        }
    }
}
