//! hotline-cti: the wire protocol between the Hotline switch and agent desktops.
//!
//! CTI (computer telephony integration) is how a desktop sees and controls an agent's calls. The
//! protocol is JSON over WebSocket text messages, one message per frame:
//!
//! * client -> server: `{"id": 7, "cmd": {"type": "answer", "call": "c-1"}}` ([`ClientFrame`],
//!   [`Command`]);
//! * server -> client, once per request: `{"re": 7, "ok": {"type": "done"}}` or
//!   `{"re": 7, "error": {"code": "invalid_state", "message": "..."}}` ([`Response`], [`Reply`],
//!   [`ErrorBody`]);
//! * server -> client, pushed: `{"seq": 42, "event": {"type": "call_offered", ...}}`
//!   ([`EventFrame`], [`Event`]). `seq` starts at 1 per session and grows by one per event.
//!
//! A connection starts with `hello` (version negotiation, [`negotiate`]) and then `login` or
//! `resume_session`. The server checks each command against the session's [`Role`] with
//! [`allowed`]. A reconnecting desktop sends the last seq it processed; the server's
//! [`EventLog`] either replays the missed events or sends a [`Snapshot`]. Every message is
//! documented with an example in `docs/cti-protocol.md`; a test parses each example there and
//! checks it round-trips, and that every message type has one.
//!
//! # Sans-IO
//!
//! This crate has serde types and pure helpers only: no sockets, no tokio, no threads, no clock.
//! Time arrives as data ([`UnixMillis`] stamps inside events). The WebSocket server lives in the
//! switch, the client in the desktop; both drive these types.
//!
//! # Personal data
//!
//! Caller numbers, names, notes and IVR inputs are wrapped in [`Pii`] and passwords and session
//! tokens in [`Secret`]: they serialise as plain strings but print redacted with `{:?}`, so frames
//! can be logged with `tracing::debug!(?frame)`. Payment events carry digit counts, never digits.
//!
//! # Example: a server's handling of one text frame
//!
//! ```no_run
//! use hotline_cti::{
//!     allowed, decode_client, encode_server, negotiate, Command, CtiError, ErrorCode, Phase,
//!     Reply, Role, ServerFrame,
//! };
//!
//! fn on_text(text: &str, role: Option<Role>) -> Result<String, CtiError> {
//!     let frame = match decode_client(text) {
//!         Ok(frame) => frame,
//!         Err(CtiError::BadFrame { id: Some(id), reason }) => {
//!             return encode_server(&ServerFrame::error(id, ErrorCode::BadRequest, reason));
//!         }
//!         Err(other) => return Err(other), // close the connection
//!     };
//!     let reply = match (&frame.cmd, role) {
//!         (Command::Hello { versions, .. }, _) => match negotiate(versions) {
//!             Ok(version) => ServerFrame::ok(
//!                 frame.id,
//!                 Reply::Welcome {
//!                     version,
//!                     server: "hotline-switch".into(),
//!                     heartbeat_secs: 15,
//!                     max_frame_bytes: hotline_cti::MAX_FRAME_BYTES as u32,
//!                 },
//!             ),
//!             Err(e) => ServerFrame::error(frame.id, ErrorCode::UnsupportedVersion, e.to_string()),
//!         },
//!         (cmd, None) if cmd.phase() == Phase::Session => {
//!             ServerFrame::error(frame.id, ErrorCode::NotLoggedIn, "log in first")
//!         }
//!         (cmd, Some(role)) if !allowed(role, cmd) => {
//!             ServerFrame::error(frame.id, ErrorCode::Forbidden, "not allowed for this role")
//!         }
//!         // ... hand the command to call control / ACD, answer `done` ...
//!         _ => ServerFrame::ok(frame.id, Reply::Done),
//!     };
//!     encode_server(&reply)
//! }
//! ```

mod command;
mod event;
mod frame;
mod ids;
mod pii;
mod resync;
mod role;

pub use command::{
    AfterWrapUp, Command, InternalTarget, MessageTarget, MonitorMode, SkillLevel, TicketDraft,
    TicketPriority, TicketStatus, TransferTarget,
};
pub use event::{
    AgentCounts, AgentRow, AgentState, AgentStatus, BookingSummary, CallDirection, CallInfo,
    CallState, CallerProof, Colleague, ContactSummary, CustomerView, EndReason, Event, Identity,
    IvrInput, LogoutReason, PaymentField, PaymentStage, PopContext, QueueStats, ScreenPop,
    Snapshot, TicketSummary, Wallboard, WallboardDelta, WrapUpInfo,
};
pub use frame::{
    AgentProfile, ClientFrame, ErrorBody, ErrorCode, EventFrame, MAX_FRAME_BYTES, Phase, Reply,
    Response, Resync, ServerFrame, decode_client, decode_server, encode_client, encode_server,
    negotiate,
};
pub use ids::{
    AgentId, BookingId, CallId, CustomerId, Disposition, DtmfDigits, Extension, Money, QueueId,
    ReasonCode, RequestId, Seq, Skill, TicketId, UnixMillis,
};
#[cfg(feature = "records")]
pub mod from_store;
pub use pii::{Pii, Secret};
pub use resync::{EventLog, ResyncPlan, SeqCheck, SeqTracker};
pub use role::{Role, allowed};

/// The protocol version this crate speaks. Bump it for any change an older peer would misread;
/// adding an optional field or a new event type that old clients may ignore is not such a change.
pub const PROTOCOL_VERSION: u32 = 1;

/// The versions this crate can speak (for [`negotiate`]).
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 1..=PROTOCOL_VERSION;

/// Everything that can go wrong decoding or validating CTI messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtiError {
    /// The peer sent a frame over [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The frame's size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The peer sent a frame that is not valid JSON or not a valid message.
    #[error("malformed frame: {reason}")]
    BadFrame {
        /// The request id, when it could be read (answer with `bad_request`).
        id: Option<RequestId>,
        /// What was wrong (never echoes field values).
        reason: String,
    },
    /// No protocol version in common.
    #[error("no common protocol version: client offers {offered:?}, server speaks 1..={supported}")]
    UnsupportedVersion {
        /// What the client offered.
        offered: Vec<u32>,
        /// The newest version this side speaks.
        supported: u32,
    },
    /// A DTMF string with invalid characters or length.
    #[error("invalid DTMF digits: {reason}")]
    InvalidDtmf {
        /// Why.
        reason: &'static str,
    },
    /// Serialisation failed (a bug: our types always serialise).
    #[error("cannot encode frame: {reason}")]
    Encode {
        /// serde_json's message.
        reason: String,
    },
}
