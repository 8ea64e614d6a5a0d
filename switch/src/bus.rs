//! The switch's internal contract between its three owners of state (DESIGN.md "one writer per
//! piece of state"):
//!
//! * **call control** (`calls`): SIP legs, media, IVR sessions. It receives [`CallCommand`]s and
//!   publishes [`CallNotice`]s.
//! * **routing** (`routing`): the `hotline-acd` engine in one task. Call control and the CTI
//!   server send it commands through its handle; its decisions go to call control, its events to
//!   whoever subscribes.
//! * **the CTI server** (`cti`): agent sessions. It turns notices into CTI events (screen pops,
//!   call states) and agents' commands into [`CallCommand`]s or routing commands.
//!
//! Everything crossing these lines is a message; no component reaches into another's state. This
//! is also the seam where a multi-node deployment would put NATS (DESIGN.md, "Scaling").

use tokio::sync::{broadcast, mpsc, oneshot};

/// Something call control reports about a call. Broadcast: every subscriber sees every notice.
#[derive(Debug, Clone)]
pub enum CallNotice {
    /// A call is being offered to an agent (their phone is about to ring): push the screen pop.
    Offered {
        agent: String,
        pop: Box<hotline_cti::ScreenPop>,
    },
    /// The agent's phone is ringing.
    Ringing {
        call: String,
        agent: String,
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
    },
    /// Click-to-dial: the switch is calling the agent's phone, then `peer`.
    Dialing {
        call: String,
        agent: String,
        peer: String,
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

/// A command for call control, usually from an agent's desktop through the CTI server.
#[derive(Debug)]
pub struct CallCommand {
    /// The agent asking (already authenticated and authorised by the CTI server).
    pub agent: String,
    pub action: CallAction,
    /// Where call control answers: `Ok` once the action is under way (with the new call's id
    /// when it started one: click-to-dial, consult), or why it is refused.
    pub reply: oneshot::Sender<Result<Option<String>, String>>,
}

/// What an agent can ask call control to do. Targets are extensions, agent ids, queue ids or
/// outside numbers exactly as typed; call control resolves and authorises them against the
/// dial plan (no request can make the switch call an arbitrary URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    Hangup {
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

/// The shared channels. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    pub notices: broadcast::Sender<CallNotice>,
    pub commands: mpsc::Sender<CallCommand>,
}

impl Bus {
    /// A new bus and the receiving end of the command channel (for call control).
    pub fn new() -> (Bus, mpsc::Receiver<CallCommand>) {
        let (notices, _) = broadcast::channel(4096);
        let (commands, rx) = mpsc::channel(1024);
        (Bus { notices, commands }, rx)
    }

    /// Publishes a notice; having no subscriber is fine.
    pub fn notify(&self, n: CallNotice) {
        let _ = self.notices.send(n);
    }
}
