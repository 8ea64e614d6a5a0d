//! # hotline-dialler: the outbound dialler core
//!
//! Campaigns, contact lists, DNC lists, calling windows, recycling and pacing (preview,
//! progressive, predictive and fixed-ratio), as a pure state machine: it decides "dial this
//! contact for this campaign" and hears back what happened; call control places the calls.
//!
//! **Sans-IO.** No tokio, no sockets, no threads, no clock, no randomness, no database. Every
//! input takes `now: DateTime<Utc>` (wall-clock time is needed for calling windows in each
//! contact's zone); nothing inside reads a clock, and time never goes backwards (an earlier
//! `now` counts as the latest one seen). The same inputs give the same outputs, which is what
//! lets [`sim`] and the tests prove the pacing and compliance rules in simulated days.
//!
//! ## The drive contract
//!
//! Inputs: campaign commands ([`Dialler::add_campaign`], [`Dialler::update_campaign`],
//! [`Dialler::start`], [`Dialler::pause`], [`Dialler::stop`], [`Dialler::load_contacts`],
//! [`Dialler::add_dnc`]), agent commands ([`Dialler::join`], [`Dialler::leave`],
//! [`Dialler::set_availability`], [`Dialler::preview_dial`], [`Dialler::preview_skip`],
//! [`Dialler::wrap_up_done`]), call progress from call control ([`Dialler::progress`]) and
//! [`Dialler::tick`]. A refused input returns a [`DiallerError`] and changes nothing.
//!
//! Outputs: [`Dialler::poll_output`] ([`Output::Dial`], [`Output::OfferPreview`],
//! [`Output::CancelPreview`], [`Output::ConnectToAgent`], [`Output::PlayAbandonMessage`],
//! [`Output::HangUp`], [`Output::ContactDone`]) and [`Dialler::poll_timeout`].
//!
//! **The rule: after any input, drain `poll_output` until it returns `None`, then re-arm your
//! single timer from `poll_timeout` and call `tick` when it fires.** Every input first fires the
//! timers already due, each at its own deadline.
//!
//! ```no_run
//! use chrono::{DateTime, Utc};
//! use hotline_dialler::{
//!     AgentId, CampaignId, CampaignSettings, ContactSpec, Dialler, Number, Output, Progress,
//! };
//!
//! // The driver's clock; the core never reads one (chrono is built without its clock feature).
//! let clock = || -> DateTime<Utc> { std::time::SystemTime::now().into() };
//! let now = clock();
//! let mut d = Dialler::new(now);
//! let id = CampaignId::new("renewals");
//! let caller_id = Number::parse("+12125550100")?;
//! d.add_campaign(now, id.clone(), CampaignSettings::new("Acme", caller_id, chrono_tz::Tz::America__New_York))?;
//! d.load_contacts(now, &id, vec![ContactSpec::new("c1", Number::parse("+13125550199")?)])?;
//! d.join(now, &AgentId::new("alice"), &id)?;
//! d.start(now, &id)?;
//! loop {
//!     while let Some(out) = d.poll_output() {
//!         match out {
//!             Output::Dial { dial, number, .. } => { /* INVITE number; later: */
//!                 d.progress(clock(), dial, Progress::Person)?;
//!             }
//!             other => { /* bridge, play, hang up, store the contact's result ... */ }
//!         }
//!     }
//!     let _wake_at = d.poll_timeout();
//!     // ... sleep until then or the next input, then:
//!     d.tick(clock());
//! #   break;
//! }
//! # Ok::<(), hotline_dialler::DiallerError>(())
//! ```
//!
//! The pacing algorithm, the settings and the compliance rules are described in
//! `docs/outbound.md` (and the algorithm again in the private `pacing` module's source).

mod engine;
mod error;
mod ids;
mod output;
mod pacing;
mod settings;
pub mod sim;
pub mod zone;

pub use engine::{Dialler, PACING_INTERVAL};
pub use error::DiallerError;
pub use ids::{AgentId, CampaignId, ContactId, DialId, Number};
pub use output::{
    AgentState, Availability, CampaignState, CampaignStats, ContactSpec, ContactState, Disposition,
    DncScope, Outcome, Output, Progress,
};
pub use settings::{
    ABANDON_GRACE, CallingHours, CampaignSettings, MAX_ABANDON_CAP, MIN_RING_TIME, PacingMode,
    PredictiveSettings, RecycleRules, Retry,
};
