//! Server -> client events (the `"event"` of an [`EventFrame`](crate::EventFrame)) and the
//! records they carry: agent state, calls, the screen pop and the customer view, payments and the
//! wallboard.

use serde::{Deserialize, Serialize};

use crate::command::{MonitorMode, SkillLevel, TicketPriority, TicketStatus};
use crate::frame::ErrorCode;
use crate::ids::{
    AgentId, BookingId, CallId, CustomerId, Disposition, Extension, QueueId, ReasonCode, TicketId,
    UnixMillis,
};
use crate::pii::Pii;

/// Every event the server pushes. JSON: an object whose `"type"` is the snake_case variant name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Everything a (re)connecting desktop needs to draw itself; replaces all call and state
    /// knowledge the client had. Sent after login and after a resume that cannot replay.
    Snapshot(Box<Snapshot>),
    /// The agent's state changed (also sent to supervisors for other agents).
    AgentStateChanged(AgentStatus),
    /// A call is offered to this agent: the screen pop. Sent when the phone starts ringing.
    CallOffered(Box<ScreenPop>),
    /// A call of this agent changed state (dialing, ringing, connected, held, ended).
    CallChanged(CallInfo),
    /// The agent entered wrap-up for a call.
    WrapUpStarted {
        /// The call being wrapped up.
        call: CallId,
        /// When wrap-up began.
        since: UnixMillis,
        /// The configured wrap-up time; the switch ends wrap-up after it. `None`: unlimited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit_secs: Option<u32>,
    },
    /// Progress of a payment the caller is making. Carries counts, never digits.
    PaymentProgress {
        /// The call.
        call: CallId,
        /// Where the payment is.
        stage: PaymentStage,
    },
    /// An agent asked for help (to supervisors).
    HelpRequested {
        /// Who asked.
        agent: AgentId,
        /// The call, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<CallId>,
        /// The agent's message.
        message: String,
        /// When.
        at: UnixMillis,
    },
    /// A message from another agent or a supervisor (`send_message`); the desktop confirms it
    /// with `ack_messages` once shown.
    MessageReceived {
        /// The message's id (for `ack_messages`).
        id: String,
        /// Who sent it.
        from: AgentId,
        /// The sender's display name.
        from_name: String,
        /// Whom it was sent to (this agent, the supervisors, everyone).
        to: crate::MessageTarget,
        /// The text (personal data).
        text: Pii<String>,
        /// When it was sent.
        at: UnixMillis,
    },
    /// The agent's skills were changed by a supervisor.
    SkillsChanged {
        /// The agent.
        agent: AgentId,
        /// The new skills.
        skills: Vec<SkillLevel>,
    },
    /// A supervisor started, switched or stopped monitoring a call (to the supervisor).
    MonitorChanged {
        /// The call.
        call: CallId,
        /// The mode, or `None` when monitoring stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<MonitorMode>,
    },
    /// Full wallboard (after `subscribe_wallboard`, and periodically).
    Wallboard(Wallboard),
    /// Changed wallboard rows since the last wallboard event.
    WallboardDelta(WallboardDelta),
    /// Something failed asynchronously (a transfer target did not answer, a payment gateway is
    /// down); also used for notices to the agent.
    Error {
        /// What kind of failure.
        code: ErrorCode,
        /// Human text (no personal data).
        message: String,
        /// The call it concerns, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<CallId>,
    },
    /// The session ended on the server side; the client must log in again.
    LoggedOut {
        /// Why.
        reason: LogoutReason,
    },
}

impl Event {
    /// Every event `"type"` on the wire.
    pub const TYPES: &'static [&'static str] = &[
        "snapshot",
        "agent_state_changed",
        "call_offered",
        "call_changed",
        "wrap_up_started",
        "payment_progress",
        "help_requested",
        "message_received",
        "skills_changed",
        "monitor_changed",
        "wallboard",
        "wallboard_delta",
        "error",
        "logged_out",
    ];

    /// The wire `"type"` of this event.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Snapshot(_) => "snapshot",
            Event::AgentStateChanged(_) => "agent_state_changed",
            Event::CallOffered(_) => "call_offered",
            Event::CallChanged(_) => "call_changed",
            Event::WrapUpStarted { .. } => "wrap_up_started",
            Event::PaymentProgress { .. } => "payment_progress",
            Event::HelpRequested { .. } => "help_requested",
            Event::MessageReceived { .. } => "message_received",
            Event::SkillsChanged { .. } => "skills_changed",
            Event::MonitorChanged { .. } => "monitor_changed",
            Event::Wallboard(_) => "wallboard",
            Event::WallboardDelta(_) => "wallboard_delta",
            Event::Error { .. } => "error",
            Event::LoggedOut { .. } => "logged_out",
        }
    }
}

/// An agent's routing state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Not logged in.
    LoggedOut,
    /// Logged in, not taking calls (with a reason).
    NotReady,
    /// Waiting for a call.
    Ready,
    /// A call is ringing at the agent (reserved by routing).
    Ringing,
    /// On a call.
    OnCall,
    /// After a call, completing the record.
    WrapUp,
}

/// An agent's state with reason and start time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub agent: AgentId,
    /// The state.
    pub state: AgentState,
    /// The not-ready reason (only with `not_ready`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReasonCode>,
    /// When the agent entered this state.
    pub since: UnixMillis,
}

/// The state of one call leg as the agent sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Outbound or internal call being set up (the agent's phone or the far end is being called).
    Dialing,
    /// Ringing at the agent (inbound) or at the far end (outbound).
    Ringing,
    /// Talking.
    Connected,
    /// The far party is on hold.
    Held,
    /// Over.
    Ended,
}

/// Direction of a call relative to the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// A customer called in.
    Inbound,
    /// The agent called a customer.
    Outbound,
    /// Agent to agent or extension.
    Internal,
    /// A consultation leg of a transfer.
    Consult,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The caller (far end) hung up.
    RemoteHangup,
    /// The agent hung up.
    AgentHangup,
    /// Transferred away.
    Transferred,
    /// The agent did not answer in time; the call went back to the queue.
    NotAnswered,
    /// The far end was busy or rejected.
    Rejected,
    /// A media or signalling failure.
    Failed,
    /// A supervisor took the call over.
    TakenOver,
}

/// One call as the agent sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    /// The call.
    pub call: CallId,
    /// Direction.
    pub direction: CallDirection,
    /// State.
    pub state: CallState,
    /// The far party's number or extension (personal data).
    pub peer: Pii<String>,
    /// Is the agent muted?
    pub muted: bool,
    /// Is this call part of a three-way conference?
    pub conference: bool,
    /// The queue the call came through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueId>,
    /// For a consultation leg: the caller's call it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consult_of: Option<CallId>,
    /// On an internal call: the colleague at the other end; on a consultation leg: the
    /// colleague consulted, once known (absent: not a colleague, or a switch that does not
    /// say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colleague: Option<Colleague>,
    /// Why it ended (only with `ended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// When the call entered this state.
    pub since: UnixMillis,
}

/// The screen pop: everything the agent should see while the phone rings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenPop {
    /// The offered call.
    pub call: CallId,
    /// Calling number (ANI, personal data).
    pub ani: Pii<String>,
    /// Dialed number (DNIS): which service line the caller dialed.
    pub dnis: String,
    /// The queue the call waited in.
    pub queue: QueueId,
    /// The queue's display name.
    pub queue_name: String,
    /// Seconds the caller waited in queue before this offer.
    pub waited_secs: u32,
    /// When the offer was made.
    pub offered_at: UnixMillis,
    /// Seconds the agent has to answer before the call is re-routed.
    pub ring_timeout_secs: u32,
    /// The IVR nodes the caller went through, in order (node labels from the flow config).
    pub ivr_path: Vec<String>,
    /// What the caller entered in the IVR (personal data: may be an account number).
    pub ivr_inputs: Vec<IvrInput>,
    /// The customer record matched by ANI or IVR input; `None` for an unknown caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerView>,
    /// Show the new-customer form (unknown caller: link the number to a new or existing customer).
    pub new_customer_form: bool,
    /// How the caller was matched to `customer` (absent on the wire: claimed).
    #[serde(default, skip_serializing_if = "CallerProof::is_claimed")]
    pub caller_proof: CallerProof,
    /// Why this pop reaches the agent other than as a queue's offer: a colleague consulting
    /// them about this caller, or a call they took over (absent: an offer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<PopContext>,
}

/// Why a screen pop reaches an agent other than as an offer from a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PopContext {
    /// A colleague is consulting this agent about the caller (the caller waits on hold; the
    /// colleague may transfer the caller here or make it a conference).
    Consult {
        /// The consulting colleague.
        by: Colleague,
    },
    /// This supervisor took the call over from an agent.
    TakeOver {
        /// The agent whose call it was.
        from: Colleague,
    },
}

/// A colleague (agent or supervisor) as the switch's agent directory names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Colleague {
    /// Their login id.
    pub agent: AgentId,
    /// Display name (the login id when the directory has no name).
    pub name: String,
    /// Their phone extension, when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
}

/// How the caller of a screen pop was matched to the customer record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallerProof {
    /// By the calling number or an account number the caller typed: either can be forged or
    /// known to a stranger. Check who is calling before changing anything on the account.
    #[default]
    Claimed,
    /// The caller keyed the customer's PIN on this call.
    Pin,
}

impl CallerProof {
    /// Only matched, not proved.
    pub fn is_claimed(&self) -> bool {
        *self == CallerProof::Claimed
    }
}

impl ScreenPop {
    /// Is the caller unknown (no customer matched)?
    pub fn is_unknown_caller(&self) -> bool {
        self.customer.is_none()
    }
}

/// One input the caller gave in the IVR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrInput {
    /// The flow variable (`"account"`, `"menu"`).
    pub name: String,
    /// What the caller entered (personal data).
    pub value: Pii<String>,
}

/// The unified customer view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    /// The customer's id.
    pub id: CustomerId,
    /// Display name (personal data).
    pub name: Pii<String>,
    /// Service tier (`"gold"`, `"standard"`), drives priority.
    pub tier: String,
    /// Phone numbers, e-mail addresses, account numbers.
    pub identities: Vec<Identity>,
    /// Recent contacts, newest first.
    pub last_contacts: Vec<ContactSummary>,
    /// Tickets not yet solved.
    pub open_tickets: Vec<TicketSummary>,
    /// Upcoming and recent bookings.
    pub bookings: Vec<BookingSummary>,
    /// What the customer owes, when a balance is on record and something is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_due: Option<crate::Money>,
    /// Date of birth, `YYYY-MM-DD` (personal data), when on record: the desktop says when the
    /// birthday is today or within the week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Pii<String>>,
}

/// One way to recognise a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `"phone"`, `"email"`, `"account"`, ...
    pub kind: String,
    /// The value (personal data).
    pub value: Pii<String>,
    /// Has the customer proved it (e.g. account number plus PIN)?
    pub verified: bool,
}

/// A past contact and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactSummary {
    /// The call.
    pub call: CallId,
    /// When it started.
    pub at: UnixMillis,
    /// The agent who handled it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentId>,
    /// The queue, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueId>,
    /// The wrap-up disposition, if one was recorded (`None`: abandoned or not wrapped up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    /// The first line of the agent's notes (personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Pii<String>>,
}

/// An open ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSummary {
    /// The ticket.
    pub id: TicketId,
    /// Subject line.
    pub subject: String,
    /// Status.
    pub status: TicketStatus,
    /// Priority.
    pub priority: TicketPriority,
    /// Last change.
    pub updated_at: UnixMillis,
}

/// A booking (appointment, reservation, delivery slot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingSummary {
    /// The booking.
    pub id: BookingId,
    /// What is booked.
    pub what: String,
    /// When.
    pub at: UnixMillis,
    /// `"confirmed"`, `"cancelled"`, ...
    pub status: String,
}

/// What a desktop needs after (re)connecting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The agent's state.
    pub agent: AgentStatus,
    /// The agent's live calls.
    pub calls: Vec<CallInfo>,
    /// The pop of a call still ringing at the agent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen_pop: Option<ScreenPop>,
    /// The call being wrapped up, if the agent is in wrap-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up: Option<WrapUpInfo>,
}

/// Wrap-up in progress (inside a [`Snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapUpInfo {
    /// The call.
    pub call: CallId,
    /// When wrap-up began.
    pub since: UnixMillis,
    /// Configured limit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_secs: Option<u32>,
}

/// Which card field the caller is keying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentField {
    /// The card number.
    CardNumber,
    /// Expiry date (MMYY).
    Expiry,
    /// Security code.
    SecurityCode,
}

/// Payment progress. Never carries the digits, only how many were entered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum PaymentStage {
    /// The caller was handed to the payment flow.
    Started,
    /// The caller is keying a field.
    Collecting {
        /// The field.
        field: PaymentField,
        /// Digits entered so far.
        entered: u8,
        /// Digits expected, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected: Option<u8>,
    },
    /// Sent to the payment gateway.
    Processing,
    /// Approved.
    Approved {
        /// The gateway's authorisation reference.
        reference: String,
    },
    /// Declined.
    Declined {
        /// The gateway's reason text.
        reason: String,
    },
    /// The caller hung up or gave up; the agent is back with the caller.
    Cancelled,
}

/// Why a session ended on the server side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogoutReason {
    /// The agent asked.
    Requested,
    /// A supervisor logged the agent out.
    Forced {
        /// The supervisor.
        by: AgentId,
    },
    /// The same agent logged in elsewhere.
    Replaced,
    /// The server is shutting down; a client reconnects with back-off and logs in again.
    Shutdown,
}

/// The wallboard: queue statistics and agent rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallboard {
    /// When the figures were computed.
    pub at: UnixMillis,
    /// One row per queue.
    pub queues: Vec<QueueStats>,
    /// One row per logged-in agent.
    pub agents: Vec<AgentRow>,
}

/// Changed rows since the previous wallboard event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WallboardDelta {
    /// When the figures were computed.
    pub at: UnixMillis,
    /// Queues whose figures changed (whole rows).
    pub queues: Vec<QueueStats>,
    /// Agents whose row changed (whole rows).
    pub agents: Vec<AgentRow>,
    /// Agents who logged out (remove their rows).
    pub removed_agents: Vec<AgentId>,
}

/// Live figures for one queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: QueueId,
    /// Display name.
    pub name: String,
    /// Calls waiting now.
    pub waiting: u32,
    /// The longest current wait.
    pub longest_wait_secs: u32,
    /// Calls offered today.
    pub offered: u32,
    /// Calls answered today.
    pub answered: u32,
    /// Calls abandoned today.
    pub abandoned: u32,
    /// Service level in per mille (e.g. 812 = 81.2 % answered within the threshold).
    pub service_level_permille: u16,
    /// The service-level threshold in seconds (e.g. 20).
    pub service_level_secs: u32,
    /// Average speed of answer today.
    pub asa_secs: u32,
    /// Callbacks waiting to be made.
    pub callbacks_pending: u32,
    /// Estimated wait for a new caller.
    pub estimated_wait_secs: u32,
    /// Agents per state.
    pub agents: AgentCounts,
}

/// Number of agents per state (for one queue).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCounts {
    /// Ready.
    pub ready: u32,
    /// Ringing or on a call.
    pub busy: u32,
    /// Wrap-up.
    pub wrap_up: u32,
    /// Not ready.
    pub not_ready: u32,
}

/// One agent on the wallboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    /// The agent's state.
    pub status: AgentStatus,
    /// Display name.
    pub name: String,
    /// The current call, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallId>,
    /// The current call's customer name (personal data), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<Pii<String>>,
    /// Calls handled today.
    pub handled_today: u32,
}
