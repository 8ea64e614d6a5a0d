//! What call control tells the rest of the switch ([`CallNotice`]) and what agents ask it to do
//! ([`CallAction`]). The switch carries these over its bus (and, for several nodes, over NATS);
//! the CTI server turns notices into CTI events and desktop commands into actions.

/// Something call control reports about a call. Broadcast: every subscriber sees every notice.
#[derive(Debug, Clone)]
pub enum CallNotice {
    /// A call is being offered to an agent (their phone is about to ring): push the screen pop.
    /// Also the caller's pop for a consulted colleague and for a supervisor who took the call
    /// over (the pop's `context` says which).
    Offered {
        agent: String,
        pop: Box<hotline_cti::ScreenPop>,
    },
    /// The agent's phone is ringing.
    Ringing {
        call: String,
        agent: String,
        /// The desktop's Answer works for this phone (see [`crate::config::RemoteAnswer`]).
        remote_answer: bool,
    },
    /// Caller and agent are connected.
    Connected {
        call: String,
        agent: String,
    },
    /// The call is held / resumed by the agent.
    Held {
        call: String,
        agent: String,
    },
    Resumed {
        call: String,
        agent: String,
    },
    /// The call left the agent (transfer, hang-up, caller abandon while ringing).
    Ended {
        call: String,
        agent: Option<String>,
        reason: String,
    },
    /// Muted / conference flags of an agent's call changed.
    Flags {
        call: String,
        agent: String,
        muted: bool,
        conference: bool,
    },
    /// The agent's consultation leg (`consult`, of call `call`) changed state.
    Consult {
        call: String,
        consult: String,
        agent: String,
        state: hotline_cti::CallState,
        /// Why it ended, when `state` is `Ended`.
        reason: Option<String>,
        /// Whom the agent consults, as they typed it (with the first notice).
        peer: Option<String>,
        /// The colleague consulted, once known (an agent id or extension at once, an agent a
        /// queue picked when their phone rings).
        colleague: Option<hotline_cti::Colleague>,
    },
    /// Click-to-dial: the switch is calling the agent's phone, then `peer`.
    Dialing {
        call: String,
        agent: String,
        peer: String,
        /// `peer` is a colleague's agent id or extension: an internal call to them.
        colleague: Option<hotline_cti::Colleague>,
    },
    /// An internal call rings the agent's own phone (a colleague dialled their extension): the
    /// agent's desktop follows the call (`Connected`, `Ended`) until it ends.
    Incoming {
        call: String,
        agent: String,
        /// The calling number (an extension).
        peer: String,
        /// The colleague calling, when the calling phone or desktop is an agent's.
        colleague: Option<hotline_cti::Colleague>,
    },
    /// A supervisor's monitoring of a call started, switched mode or stopped (`None`).
    Monitor {
        call: String,
        supervisor: String,
        mode: Option<hotline_cti::MonitorMode>,
    },
    /// Payment progress on a call an agent handed to the payment flow (counts, never digits).
    Payment {
        call: String,
        agent: String,
        stage: hotline_cti::PaymentStage,
    },
}

/// What an agent can ask call control to do. Targets are extensions, agent ids, queue ids or
/// outside numbers exactly as typed; call control resolves and authorises them against the
/// dial plan (no request can make the switch call an arbitrary URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    Hangup {
        call: String,
    },
    /// Answer a call offered to this agent on their phone, which rings: the switch tells the
    /// phone to pick up (`NOTIFY` `Event: talk`), where the phone supports it.
    Answer {
        call: String,
    },
    /// Reject a call offered to this agent while their phone rings: it goes back to its
    /// place in the queue and the agent becomes not ready (`rejected`).
    Reject {
        call: String,
    },
    Hold {
        call: String,
    },
    Resume {
        call: String,
    },
    Mute {
        call: String,
        on: bool,
    },
    SendDtmf {
        call: String,
        digits: String,
    },
    /// Click-to-dial: ring the agent's phone, then the number.
    Dial {
        number: String,
    },
    /// Ring the agent's own phone and play a recording (a voicemail) once she answers; the
    /// call ends when it has played. `file` is a name in the recordings folder; `label` is
    /// what the call is called on her desktop and in the call record.
    PlayRecording {
        file: String,
        label: String,
    },
    BlindTransfer {
        call: String,
        target: String,
    },
    Consult {
        call: String,
        target: String,
    },
    CompleteTransfer {
        call: String,
    },
    CancelConsult {
        call: String,
    },
    Conference {
        call: String,
    },
    /// A supervisor joins the call (their phone is rung) to listen, coach or barge in;
    /// sending it again switches the mode on the live call.
    Monitor {
        call: String,
        mode: hotline_cti::MonitorMode,
    },
    /// The supervisor leaves the call.
    StopMonitor {
        call: String,
    },
    /// The supervisor takes the call over; the agent's leg is dropped.
    TakeOver {
        call: String,
    },
    /// Hand the caller to the payment flow and stay on the line (agent hears no tones).
    StartPayment {
        call: String,
        amount_minor: i64,
        currency: String,
        /// The desktop's merchant reference (order, invoice), stored with the payment.
        reference: String,
    },
}

/// Why call control refused an agent's command: whose fault it is, for the desktop (the CTI
/// server maps each kind to its own error code) and a sentence for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No such call (it ended, or never existed).
    UnknownCall(String),
    /// The call exists but is not this agent's (or not offered to them).
    NotYours(String),
    /// Not possible in the call's current state (on hold, consulting, not connected...).
    InvalidState(String),
    /// The target does not exist: no agent, queue, extension or route by that name.
    UnknownTarget(String),
    /// The target exists but cannot take the call now (busy, not registered).
    TargetUnavailable(String),
    /// This phone or this switch cannot do it (remote answer, queues without routing).
    Unsupported(String),
    /// The command's own values are wrong (an amount, a currency code).
    BadRequest(String),
}

impl CallError {
    /// The sentence for the agent.
    pub fn message(&self) -> &str {
        match self {
            CallError::UnknownCall(m)
            | CallError::NotYours(m)
            | CallError::InvalidState(m)
            | CallError::UnknownTarget(m)
            | CallError::TargetUnavailable(m)
            | CallError::Unsupported(m)
            | CallError::BadRequest(m) => m,
        }
    }

    /// The call ended (or never existed) by the time the command got to it.
    pub(crate) fn gone() -> CallError {
        CallError::UnknownCall("the call has ended".into())
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CallError {}

/// Refusals not classified yet say why in words and count as the call's state.
impl From<String> for CallError {
    fn from(m: String) -> CallError {
        CallError::InvalidState(m)
    }
}

impl From<&str> for CallError {
    fn from(m: &str) -> CallError {
        CallError::InvalidState(m.to_string())
    }
}
