//! # hotline-acd: the routing brain
//!
//! A pure, deterministic ACD (automatic call distributor): agents and their states, skills with
//! proficiency, queues with strategies, waiting calls ordered by priority and wait, time-based
//! widening, overflow, callbacks that keep the caller's place, and estimated wait times.
//!
//! **Sans-IO.** This crate has no tokio, no sockets, no threads, no clock and no database. Every
//! input takes `now: Instant` as an argument (real time from the switch, or simulated time from a
//! test or the [`sim`] module); nothing inside ever reads a clock. Given the same inputs it makes
//! the same decisions, which is what lets the test suite prove every rule in milliseconds.
//!
//! ## The drive contract
//!
//! Inputs are commands: [`Acd::login`], [`Acd::ready`], [`Acd::not_ready`], [`Acd::logout`],
//! [`Acd::desktop_lost`], [`Acd::set_skills`], [`Acd::enqueue`], [`Acd::answer`],
//! [`Acd::no_answer`], [`Acd::hangup`]/[`Acd::abandon`], [`Acd::wrapup_done`],
//! [`Acd::set_call_sub_state`], [`Acd::request_callback`], [`Acd::enqueue_callback`],
//! [`Acd::callback_connected`], [`Acd::callback_failed`], plus [`Acd::handle_timeout`].
//! A refused command returns an [`AcdError`] and changes nothing.
//!
//! Outputs are three queues: [`Acd::poll_decision`] (what call control must do:
//! [`Decision::Offer`], [`Decision::CancelOffer`], [`Decision::Overflow`],
//! [`Decision::DialCallback`], [`Decision::Announce`]), [`Acd::poll_event`] (what happened, with
//! timestamps: every agent state transition, call queued/widened/requeued/connected/ended) and
//! [`Acd::poll_timeout`] (when to call `handle_timeout` next).
//!
//! **The rule: after any input, drain `poll_decision` and `poll_event` until they return `None`,
//! then re-arm your single timer from `poll_timeout`.** Every input also fires the timers that
//! are already due, each at its own deadline, so a late `handle_timeout` cannot let a reservation
//! outlive its deadline.
//!
//! Ids ([`AgentId`], [`CallId`], [`QueueId`], [`SkillId`]) are serde-transparent newtypes over
//! `String`; internally they are mapped once to dense indices.
//!
//! ## Example
//!
//! ```no_run
//! use hotline_acd::{Acd, AcdConfig, AgentId, CallId, Decision, Priority, QueueConfig, QueueId};
//! use std::time::Instant;
//!
//! let config = AcdConfig { queues: vec![QueueConfig::new("sales").require("english", 2)] };
//! let mut acd = Acd::new(config, Instant::now()).expect("valid config");
//! let alice = AgentId::new("alice");
//! acd.login(Instant::now(), &alice, &[("english".into(), 4)])?;
//! acd.ready(Instant::now(), &alice)?;
//! acd.enqueue(Instant::now(), &CallId::new("c1"), &QueueId::new("sales"), Priority::NORMAL)?;
//! loop {
//!     while let Some(decision) = acd.poll_decision() {
//!         match decision {
//!             Decision::Offer { call, agent, .. } => { /* ring the agent's phone, screen pop */ }
//!             other => { /* perform the overflow, dial, announcement ... */ }
//!         }
//!     }
//!     while let Some(event) = acd.poll_event() { /* write agent events, push to CTI */ }
//!     let _wake_at = acd.poll_timeout();
//!     // ... sleep until the wake time or the next input (SIP answer, CTI command), then:
//!     acd.handle_timeout(Instant::now());
//! #   break;
//! }
//! # Ok::<(), hotline_acd::AcdError>(())
//! ```
//!
//! See `docs/acd.md` for the model, the rules and the strategies.

mod config;
mod engine;
pub mod erlang;
mod error;
mod ids;
mod output;
pub mod rng;
pub mod sim;

pub use config::{
    AcdConfig, OverflowCondition, OverflowRule, OverflowTarget, QueueConfig, SkillRequirement,
    Strategy, WideningStep,
};
pub use engine::{Acd, REASON_DISCONNECTED, REASON_LOGIN, REASON_MISSED, REASON_REJECTED};
pub use error::AcdError;
pub use ids::{
    AgentId, CallId, MAX_PROFICIENCY, MIN_PROFICIENCY, Priority, Proficiency, QueueId, SkillId,
};
pub use output::{
    AgentState, CallSubState, Decision, EndReason, Event, Metrics, OfferKind, OverflowReason,
    QueueStats,
};
