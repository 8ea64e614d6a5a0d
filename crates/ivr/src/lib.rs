//! # hotline-ivr: the IVR flow engine
//!
//! Flows are TOML files (`config/ivr/*.toml`, reference in `docs/ivr.md`) of named nodes:
//! play, menu, collect, identify, condition, set, queue, transfer, voicemail, booking, pay and
//! hangup. [`Flow::parse`] / [`FlowSet::load_dir`] check a file completely at load time and
//! report every problem with file, line and column ([`FlowError`]): syntax, unknown node
//! references, unreachable nodes, missing prompt files, bad or unknown fields, duplicate nodes.
//! A [`Flow`] is immutable; share it between calls with an `Arc`.
//!
//! A [`Session`] walks one call through a flow. **It does no I/O**: no sockets, no threads, no
//! clock, no database, no tokio. Call control feeds it [`Event`]s (call started with ANI and
//! DNIS, digits, prompt finished, lookup results, queue status, payment results) with the
//! current `now: Instant`, and drains [`Action`]s (play prompts, look up the caller, enqueue,
//! transfer, charge a card, pause recording, hang up...). Timers are plain deadlines: the
//! session reports the earliest with [`Session::poll_timeout`] and runs them in
//! [`Session::handle_timeout`]. Wall-clock time (business hours, card expiry) comes in once
//! with [`Event::CallStarted`]; the session adds the `Instant` time elapsed since.
//!
//! ## Languages
//!
//! Prompts are English by default; a call can be switched to Mandarin ([`Language`]) by the
//! flow (`[flow] language`), a set node (`language = "zh"`, e.g. behind a menu key), the
//! identified caller's record or call control ([`Session::set_language`]). The session then
//! plays each prompt from the `zh/` set (an English one when that is missing, reported with
//! [`Action::PromptFallback`]) and says numbers, amounts, dates and times by the Mandarin rules
//! ([`say::zh`]). Load time reports missing Mandarin prompts as warnings ([`Flow::warnings`]).
//!
//! ## Drive contract
//!
//! After **any** input (`handle_event` or `handle_timeout`), drain `poll_action` until it
//! returns `None`, then re-arm one timer at `poll_timeout`. Answer each request-type action
//! with the matching event carrying the same [`RequestId`] (or [`PlaybackId`] for prompts);
//! answers with a stale id are ignored. Early or repeated `handle_timeout` calls are no-ops.
//!
//! ## Card data
//!
//! Pay nodes take the card number, expiry and security code by DTMF. The digits live only in
//! a buffer that is wiped when cleared or dropped and in the [`CardData`] of the
//! [`Action::Charge`] (redacted Debug and Display, wiped on drop). The session's path, inputs,
//! variables, [`IvrSummary`] and Debug output show only counts; only the token, brand and last
//! four digits are kept ([`PaymentRecord`]). During entry the session asks call control to
//! pause recording and to suppress DTMF towards a bridged agent, and emits
//! [`PaymentProgress`] (counts and outcomes) for the agent's desktop.
//! While [`Session::in_sensitive_entry`] holds, call control must not log incoming digits;
//! [`Digit`]'s Debug output never shows the key.
//!
//! ## Example
//!
//! ```no_run
//! use std::{path::Path, sync::Arc, time::Instant};
//! use hotline_ivr::{Action, Ani, Dnis, Event, FlowSet, PromptDir, Session, UnixTime};
//!
//! let flows = FlowSet::load_dir(Path::new("config/ivr"), &PromptDir::new("config/prompts"))?;
//! let flow = flows.get("main").expect("main flow");
//! let mut session = Session::new(Arc::clone(&flow), "call-1");
//! session.handle_event(
//!     Instant::now(),
//!     Event::CallStarted {
//!         ani: Ani::new("+15551230000"),
//!         dnis: Dnis("1000".into()),
//!         wall_clock: UnixTime(1_795_392_035),
//!     },
//! );
//! loop {
//!     while let Some(action) = session.poll_action() {
//!         match action {
//!             Action::Play { id, prompts, .. } => { /* media: play, later Event::PromptFinished(id) */ }
//!             Action::Hangup => { /* sip: BYE */ }
//!             _ => { /* the rest: see Action */ }
//!         }
//!     }
//!     if session.is_finished() {
//!         break;
//!     }
//!     // Wait for the next event or until session.poll_timeout(), then feed it:
//!     session.handle_timeout(Instant::now());
//! }
//! # Ok::<(), hotline_ivr::Error>(())
//! ```

mod digits;
mod error;
mod flow;
mod language;
mod parse;
pub mod payment;
pub mod say;
mod session;
pub mod time;

pub use digits::{CardBrand, Digit, luhn_valid, parse_expiry};
pub use error::{Error, FlowError, Problem};
pub use flow::{
    AnyPrompt, Flow, FlowSet, IdentifyBy, Node, Prompt, PromptCatalog, PromptDir, TransferTarget,
    Validation,
};
pub use language::Language;
pub use parse::default_prompts;
pub use payment::{
    CardData, CardField, ChargeRequest, ChargeResult, ChargeStatus, HttpCall, HttpGatewayConfig,
    IdempotencyKey, PaymentGateway, PaymentProgress, SandboxGateway,
};
pub use session::{
    Action, Ani, BookableItem, CHARGE_TIMEOUT, CallbackOffer, Customer, Dnis, Event, HeldItem,
    Input, InputValue, IvrSummary, LookupKey, Outcome, PathStep, PaymentRecord, PlaybackId,
    QueueAnnouncements, QueueStatus, RESULT_TIMEOUT, RequestId, Secret, Session, Settles,
    TRANSFER_TIMEOUT,
};
pub use time::UnixTime;

#[cfg(test)]
mod tests {
    /// Flows are shared between call tasks; sessions move between threads with their call.
    #[test]
    fn flows_are_shareable_and_sessions_sendable() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<crate::Flow>();
        send_sync::<crate::FlowSet>();
        send::<crate::Session>();
        send::<crate::Action>();
        send::<crate::Event>();
    }
}
