//! What the engine tells call control: agent states, decisions to perform, events to record.

use crate::config::OverflowTarget;
use crate::ids::{AgentId, CallId, QueueId};
use std::time::{Duration, Instant};

/// What an agent on a call is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallSubState {
    /// Talking to the customer.
    Talking,
    /// The customer is on hold.
    Hold,
    /// The customer is on hold while the agent consults someone.
    Consulting,
}

/// The one authoritative state of an agent. Every change is an [`Event::AgentState`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Not logged in.
    LoggedOut,
    /// Logged in, not taking calls; `reason` is a reason code (`"login"`, `"break"`, `"missed"`,
    /// `"disconnected"`, or whatever the desktop sent).
    NotReady {
        /// Reason code.
        reason: String,
    },
    /// Waiting for a call.
    Ready,
    /// A call is ringing on the agent's phone; it must be answered before `deadline`.
    Reserved {
        /// The call offered.
        call: CallId,
        /// When the reservation is missed.
        deadline: Instant,
    },
    /// On a call.
    OnCall {
        /// The call.
        call: CallId,
        /// Talking, hold or consulting.
        sub: CallSubState,
    },
    /// Enforced after-call work until `deadline`; the agent may end it early.
    WrapUp {
        /// The call just finished.
        call: CallId,
        /// When wrap-up ends by itself.
        deadline: Instant,
    },
}

impl AgentState {
    /// A short name for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged out",
            AgentState::NotReady { .. } => "not ready",
            AgentState::Ready => "ready",
            AgentState::Reserved { .. } => "reserved",
            AgentState::OnCall { .. } => "on call",
            AgentState::WrapUp { .. } => "in wrap-up",
        }
    }

    /// The call this state is about, if any.
    pub fn call(&self) -> Option<&CallId> {
        match self {
            AgentState::Reserved { call, .. }
            | AgentState::OnCall { call, .. }
            | AgentState::WrapUp { call, .. } => Some(call),
            _ => None,
        }
    }
}

/// What an offer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfferKind {
    /// A caller waiting on the line: bridge on answer.
    Inbound,
    /// A callback request: when the agent answers, the engine emits [`Decision::DialCallback`].
    Callback,
}

/// Why a call overflowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OverflowReason {
    /// The queue was full.
    Capacity,
    /// The call waited too long.
    MaxWait,
    /// No agent who could take the call is logged in.
    NoAgents,
}

/// Something call control must do. Drain with [`crate::Acd::poll_decision`] after every input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ring `agent`'s phone with `call` (and push the screen pop). The agent is reserved until
    /// `deadline`; report [`crate::Acd::answer`] or [`crate::Acd::no_answer`].
    Offer {
        /// The call.
        call: CallId,
        /// The reserved agent.
        agent: AgentId,
        /// The queue the call is in.
        queue: QueueId,
        /// Inbound call or callback.
        kind: OfferKind,
        /// When the reservation lapses.
        deadline: Instant,
    },
    /// Stop ringing `agent` for `call` (the caller hung up, another agent answered a ring-all
    /// offer, or the reservation was missed).
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent whose phone should stop ringing.
        agent: AgentId,
    },
    /// The call overflows to `target`.
    Overflow {
        /// The call.
        call: CallId,
        /// The queue it overflowed from.
        from: QueueId,
        /// Where it goes.
        target: OverflowTarget,
        /// Why.
        reason: OverflowReason,
    },
    /// The agent answered a callback offer: dial the customer now (agent first) and report
    /// [`crate::Acd::callback_connected`] or [`crate::Acd::callback_failed`].
    DialCallback {
        /// The callback request.
        call: CallId,
        /// The agent already on the line.
        agent: AgentId,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Tell the caller their position and estimated wait (for queues with `announce = true`).
    Announce {
        /// The call.
        call: CallId,
        /// 1 = next to be served in its queue.
        position: usize,
        /// Estimated wait; `None` when no agent is staffed for it.
        estimated_wait: Option<Duration>,
    },
}

/// How a call left the engine. Exactly one [`Event::CallEnded`] is emitted per call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Answered by an agent and hung up.
    Completed,
    /// The caller hung up before being connected (waiting or ringing).
    Abandoned,
    /// Overflowed out of the ACD (voicemail, or a callback offer at a full queue).
    Overflowed(OverflowTarget),
    /// A callback request used all its dial attempts.
    CallbackFailed,
}

/// A record of something that happened, with its time. Drain with [`crate::Acd::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An agent changed state.
    AgentState {
        /// When.
        at: Instant,
        /// Who.
        agent: AgentId,
        /// Previous state.
        from: AgentState,
        /// New state.
        to: AgentState,
    },
    /// A call entered a queue (on enqueue or overflow to another queue).
    CallQueued {
        /// When.
        at: Instant,
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
    },
    /// A call's requirements widened to `step` (1 = first configured step).
    CallWidened {
        /// When.
        at: Instant,
        /// The call.
        call: CallId,
        /// Its queue.
        queue: QueueId,
        /// Step now in force.
        step: usize,
    },
    /// A reservation failed and the call is back at its place in the queue.
    CallRequeued {
        /// When.
        at: Instant,
        /// The call.
        call: CallId,
    },
    /// A waiting call became a callback request, keeping its place.
    CallbackRequested {
        /// When.
        at: Instant,
        /// The call.
        call: CallId,
    },
    /// Caller and agent are connected.
    CallConnected {
        /// When.
        at: Instant,
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
        /// Time since the call was first queued.
        waited: Duration,
    },
    /// The call left the engine. Emitted exactly once per call.
    CallEnded {
        /// When.
        at: Instant,
        /// The call.
        call: CallId,
        /// How.
        reason: EndReason,
    },
}

/// Counters for supervisors and reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Calls queued (callback requests added with `enqueue_callback` included).
    pub queued: u64,
    /// Calls connected to an agent.
    pub connected: u64,
    /// Calls abandoned.
    pub abandoned: u64,
    /// Overflow decisions.
    pub overflowed: u64,
    /// Reservations missed (timeout or phone refused).
    pub missed_reservations: u64,
    /// Offers the agent rejected.
    pub rejected_offers: u64,
    /// Callback dial attempts.
    pub callback_dials: u64,
    /// Connected calls that had a wait estimate at enqueue.
    pub ewt_samples: u64,
    /// Sum of |estimate - actual wait| over those calls, in seconds.
    pub ewt_abs_error_secs: f64,
    /// Sum of (estimate - actual wait) over those calls, in seconds (positive: we overestimate).
    pub ewt_signed_error_secs: f64,
}

impl Metrics {
    /// Mean absolute error of the wait estimate, in seconds.
    pub fn ewt_mean_abs_error_secs(&self) -> Option<f64> {
        (self.ewt_samples > 0).then(|| self.ewt_abs_error_secs / self.ewt_samples as f64)
    }

    /// Mean signed error (bias) of the wait estimate, in seconds.
    pub fn ewt_bias_secs(&self) -> Option<f64> {
        (self.ewt_samples > 0).then(|| self.ewt_signed_error_secs / self.ewt_samples as f64)
    }
}

/// A live view of one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// Calls and callback requests waiting (not ringing).
    pub waiting: usize,
    /// Callback requests among them.
    pub callbacks: usize,
    /// Ready agents who qualify at the base step.
    pub ready_agents: usize,
    /// Agents who qualify at the base step and are ready or busy (reserved, on call, wrap-up).
    pub staffed_agents: usize,
    /// Logged-in agents (any state) who qualify at the widest step.
    pub logged_in_agents: usize,
    /// Mean handle time measured recently (talk + hold + wrap-up), or the configured default.
    pub handle_time: Duration,
    /// Estimated wait for a normal-priority call arriving now.
    pub estimated_wait_new: Option<Duration>,
}
