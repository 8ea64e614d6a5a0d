//! Client -> server commands (the `"cmd"` of a [`ClientFrame`](crate::ClientFrame)).

use serde::{Deserialize, Serialize};

use crate::Phase;
use crate::ids::{
    AgentId, CallId, CustomerId, Disposition, DtmfDigits, Extension, Money, QueueId, ReasonCode,
    Seq, Skill, TicketId,
};
use crate::pii::{Pii, Secret};
use crate::role::Role;

/// Every command a desktop can send. JSON: an object whose `"type"` is the snake_case variant
/// name, e.g. `{"type":"not_ready","reason":"lunch"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    // ---- handshake (no session needed) ----
    /// First frame on a connection: the protocol versions the client speaks.
    Hello {
        /// Versions the client supports; the server picks the highest it also supports.
        versions: Vec<u32>,
        /// Client name and version, for logs (`"hotline-desktop/0.1.0"`).
        client: String,
    },
    /// Log in with agent id and password; answered by `logged_in`.
    Login {
        /// The agent's id.
        agent: AgentId,
        /// The password, checked against the argon2 hash in the store.
        password: Secret,
        /// The phone the agent sits at today, when it is not the agent's own extension.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        extension: Option<Extension>,
    },
    /// Re-attach to a session after a reconnect; answered by `resumed`.
    ResumeSession {
        /// The token from `logged_in`.
        session: Secret,
        /// The last event seq the client processed.
        last_seq: Seq,
    },
    /// Keep-alive; answered by `beat`. Sent every `heartbeat_secs` (from `welcome`).
    Heartbeat,

    // ---- agent: session and state ----
    /// End the session (the agent goes offline).
    Logout,
    /// Become available for calls.
    Ready,
    /// Become unavailable, with a configured reason code.
    NotReady {
        /// One of the reason codes listed in `logged_in`.
        reason: ReasonCode,
    },

    // ---- agent: call control ----
    /// Answer an offered call (call control tells the phone to answer, or the agent lifts it).
    Answer {
        /// The offered call.
        call: CallId,
    },
    /// Reject an offered call while the phone rings: it goes back to its place in the queue
    /// and the agent becomes not ready with reason `rejected`.
    Reject {
        /// The offered call.
        call: CallId,
    },
    /// Hang up the agent's leg.
    Hangup {
        /// The call.
        call: CallId,
    },
    /// Put the caller on hold (music on hold).
    Hold {
        /// The call.
        call: CallId,
    },
    /// Take the caller off hold.
    Resume {
        /// The call.
        call: CallId,
    },
    /// Stop sending the agent's audio to the caller.
    Mute {
        /// The call.
        call: CallId,
    },
    /// Send the agent's audio again.
    Unmute {
        /// The call.
        call: CallId,
    },
    /// Send DTMF digits into the call (RFC 4733).
    SendDtmf {
        /// The call.
        call: CallId,
        /// The digits.
        digits: DtmfDigits,
    },
    /// Call another agent or an extension.
    InternalCall {
        /// Whom to call.
        to: InternalTarget,
    },
    /// Click-to-dial: the switch rings the agent's phone, then calls the number with the
    /// configured caller id. Answered by `dialing` with the new call id.
    OutboundCall {
        /// The number to call (E.164 or a dial-plan number).
        number: Pii<String>,
        /// The customer record the number came from, so the call is linked to it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<CustomerId>,
    },
    /// Play a ticket's recording (a voicemail) on the agent's own phone: the switch rings the
    /// phone, plays the message once the agent answers, then hangs up. Allowed for a ticket
    /// assigned to the agent or waiting unassigned in one of her queues (supervisors: any).
    /// Answered by `dialing` with the new call id.
    PlayRecording {
        /// The ticket whose recording to play.
        ticket: TicketId,
    },
    /// A short message to another agent, to every supervisor, or (supervisors only) to
    /// everyone. Stored and delivered as `message_received`, at once to those logged in and
    /// at their next login to the others.
    SendMessage {
        /// Whom to.
        to: MessageTarget,
        /// 1 to 1000 characters (personal data).
        text: Pii<String>,
    },
    /// The desktop has shown these messages (`message_received` ids): they are not delivered
    /// again.
    AckMessages {
        /// The messages.
        ids: Vec<String>,
    },
    /// Transfer the caller without talking to the target first.
    BlindTransfer {
        /// The call to transfer.
        call: CallId,
        /// Where to.
        to: TransferTarget,
    },
    /// Hold the caller and call the target (consultation). Answered by `dialing` with the
    /// consultation call's id.
    Consult {
        /// The caller's call (put on hold).
        call: CallId,
        /// Whom to consult.
        to: TransferTarget,
    },
    /// Connect the caller with the consulted party and leave.
    CompleteTransfer {
        /// The caller's call.
        call: CallId,
    },
    /// Hang up the consultation and return to the caller.
    CancelConsult {
        /// The caller's call.
        call: CallId,
    },
    /// Join the caller and the consulted party into a three-way conference.
    Conference {
        /// The caller's call.
        call: CallId,
    },
    /// Hand the caller to the payment IVR; the agent stays on the line but hears no digits.
    StartPayment {
        /// The call.
        call: CallId,
        /// The amount to take.
        amount: Money,
        /// The merchant reference (order, invoice).
        reference: String,
    },
    /// Record the call's disposition and notes (and optionally a ticket) with the switch.
    /// The desktop also writes the outcome to the store itself (idempotent by call id).
    WrapUp {
        /// The call wrapped up.
        call: CallId,
        /// One of the dispositions listed in `logged_in`.
        disposition: Disposition,
        /// Free-text notes (personal data).
        notes: Pii<String>,
        /// A ticket to create or update, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<TicketDraft>,
    },
    /// Leave wrap-up.
    EndWrapUp {
        /// The state to go to afterwards.
        then: AfterWrapUp,
    },
    /// Ask a supervisor for help (shown on supervisors' desktops).
    RequestHelp {
        /// The call it is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<CallId>,
        /// A short message.
        message: String,
    },

    // ---- supervisor ----
    /// Start receiving `wallboard` and `wallboard_delta` events.
    SubscribeWallboard {
        /// Only these queues; all when empty.
        #[serde(default)]
        queues: Vec<QueueId>,
    },
    /// Stop receiving wallboard events.
    UnsubscribeWallboard,
    /// Join an agent's call as listener, coach or third party; sending it again switches mode.
    Monitor {
        /// The agent's call.
        call: CallId,
        /// How to join.
        mode: MonitorMode,
    },
    /// Leave a monitored call.
    StopMonitor {
        /// The call.
        call: CallId,
    },
    /// Take the call over from the agent (the agent's leg is dropped).
    TakeOver {
        /// The call.
        call: CallId,
    },
    /// Put an agent into not ready.
    ForceNotReady {
        /// The agent.
        agent: AgentId,
        /// The reason recorded.
        reason: ReasonCode,
    },
    /// Log an agent out.
    ForceLogout {
        /// The agent.
        agent: AgentId,
    },
    /// Replace an agent's skills; routing uses them at once.
    SetSkills {
        /// The agent.
        agent: AgentId,
        /// The new skill set.
        skills: Vec<SkillLevel>,
    },
}

/// The target of an internal call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InternalTarget {
    /// An agent, wherever they sit.
    Agent {
        /// The agent.
        agent: AgentId,
    },
    /// A phone extension.
    Extension {
        /// The extension.
        extension: Extension,
    },
}

/// The target of a transfer or consultation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransferTarget {
    /// An agent.
    Agent {
        /// The agent.
        agent: AgentId,
    },
    /// A queue (the caller keeps their place-in-line priority).
    Queue {
        /// The queue.
        queue: QueueId,
    },
    /// An outside number.
    External {
        /// The number.
        number: Pii<String>,
    },
}

/// What a supervisor hears and who hears the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// Silent monitor: the supervisor hears both; nobody hears the supervisor.
    Listen,
    /// Coach: the agent hears the supervisor, the caller does not.
    Whisper,
    /// Barge: everybody hears everybody.
    Barge,
}

/// A skill with a proficiency from 1 (novice) to 5 (expert), the routing engine's scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillLevel {
    /// The skill.
    pub skill: Skill,
    /// Proficiency, 1 to 5 (the switch refuses anything else).
    pub level: u8,
}

/// Where an agent goes when wrap-up ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AfterWrapUp {
    /// Available for the next call.
    Ready,
    /// Unavailable, with a reason.
    NotReady {
        /// The reason code.
        reason: ReasonCode,
    },
}

/// A ticket to create (no `ticket` id) or update (with one), attached to a wrap-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDraft {
    /// The ticket to update; `None` creates a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketId>,
    /// One-line subject.
    pub subject: String,
    /// Body text (personal data).
    pub body: Pii<String>,
    /// Status after this contact.
    pub status: TicketStatus,
    /// Priority.
    pub priority: TicketPriority,
}

/// A ticket's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    /// Needs work.
    Open,
    /// Waiting for the customer or a third party.
    Pending,
    /// Done.
    Solved,
    /// Closed for good.
    Closed,
}

/// A ticket's priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    /// Low.
    Low,
    /// Normal.
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

/// Whom a message goes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageTarget {
    /// One agent (or supervisor), by id.
    Agent {
        /// The agent.
        agent: AgentId,
    },
    /// Every supervisor and admin.
    Supervisors,
    /// Everyone (an announcement; supervisors and admins only).
    Everyone,
}

impl Command {
    /// Every command `"type"` on the wire, in declaration order.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "login",
        "resume_session",
        "heartbeat",
        "logout",
        "ready",
        "not_ready",
        "answer",
        "reject",
        "hangup",
        "hold",
        "resume",
        "mute",
        "unmute",
        "send_dtmf",
        "internal_call",
        "outbound_call",
        "play_recording",
        "send_message",
        "ack_messages",
        "blind_transfer",
        "consult",
        "complete_transfer",
        "cancel_consult",
        "conference",
        "start_payment",
        "wrap_up",
        "end_wrap_up",
        "request_help",
        "subscribe_wallboard",
        "unsubscribe_wallboard",
        "monitor",
        "stop_monitor",
        "take_over",
        "force_not_ready",
        "force_logout",
        "set_skills",
    ];

    /// The wire `"type"` of this command (for logs and metrics: it never contains personal data).
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Hello { .. } => "hello",
            Command::Login { .. } => "login",
            Command::ResumeSession { .. } => "resume_session",
            Command::Heartbeat => "heartbeat",
            Command::Logout => "logout",
            Command::Ready => "ready",
            Command::NotReady { .. } => "not_ready",
            Command::Answer { .. } => "answer",
            Command::Reject { .. } => "reject",
            Command::Hangup { .. } => "hangup",
            Command::Hold { .. } => "hold",
            Command::Resume { .. } => "resume",
            Command::Mute { .. } => "mute",
            Command::Unmute { .. } => "unmute",
            Command::SendDtmf { .. } => "send_dtmf",
            Command::InternalCall { .. } => "internal_call",
            Command::OutboundCall { .. } => "outbound_call",
            Command::PlayRecording { .. } => "play_recording",
            Command::SendMessage { .. } => "send_message",
            Command::AckMessages { .. } => "ack_messages",
            Command::BlindTransfer { .. } => "blind_transfer",
            Command::Consult { .. } => "consult",
            Command::CompleteTransfer { .. } => "complete_transfer",
            Command::CancelConsult { .. } => "cancel_consult",
            Command::Conference { .. } => "conference",
            Command::StartPayment { .. } => "start_payment",
            Command::WrapUp { .. } => "wrap_up",
            Command::EndWrapUp { .. } => "end_wrap_up",
            Command::RequestHelp { .. } => "request_help",
            Command::SubscribeWallboard { .. } => "subscribe_wallboard",
            Command::UnsubscribeWallboard => "unsubscribe_wallboard",
            Command::Monitor { .. } => "monitor",
            Command::StopMonitor { .. } => "stop_monitor",
            Command::TakeOver { .. } => "take_over",
            Command::ForceNotReady { .. } => "force_not_ready",
            Command::ForceLogout { .. } => "force_logout",
            Command::SetSkills { .. } => "set_skills",
        }
    }

    /// When in a connection's life this command is valid: [`Phase::Handshake`] commands are
    /// accepted before login (the server still requires `hello` first); all others need a
    /// logged-in session.
    pub fn phase(&self) -> Phase {
        match self {
            Command::Hello { .. }
            | Command::Login { .. }
            | Command::ResumeSession { .. }
            | Command::Heartbeat => Phase::Handshake,
            _ => Phase::Session,
        }
    }

    /// The least role that may send this command. Roles are ordered agent < supervisor < admin:
    /// supervisors take calls too, and admins may do everything.
    pub fn min_role(&self) -> Role {
        match self {
            Command::SubscribeWallboard { .. }
            | Command::UnsubscribeWallboard
            | Command::Monitor { .. }
            | Command::StopMonitor { .. }
            | Command::TakeOver { .. }
            | Command::ForceNotReady { .. }
            | Command::ForceLogout { .. }
            | Command::SetSkills { .. } => Role::Supervisor,
            _ => Role::Agent,
        }
    }

    /// The call this command acts on, if any (for routing it to the call's owner and for logs).
    pub fn call(&self) -> Option<&CallId> {
        match self {
            Command::Answer { call }
            | Command::Reject { call }
            | Command::Hangup { call }
            | Command::Hold { call }
            | Command::Resume { call }
            | Command::Mute { call }
            | Command::Unmute { call }
            | Command::SendDtmf { call, .. }
            | Command::BlindTransfer { call, .. }
            | Command::Consult { call, .. }
            | Command::CompleteTransfer { call }
            | Command::CancelConsult { call }
            | Command::Conference { call }
            | Command::StartPayment { call, .. }
            | Command::WrapUp { call, .. }
            | Command::Monitor { call, .. }
            | Command::StopMonitor { call }
            | Command::TakeOver { call } => Some(call),
            Command::RequestHelp { call, .. } => call.as_ref(),
            _ => None,
        }
    }
}
