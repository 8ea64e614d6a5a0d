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

pub use hotline_calls::messages::{CallAction, CallError, CallNotice};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A command for call control, usually from an agent's desktop through the CTI server.
#[derive(Debug)]
pub struct CallCommand {
    /// The agent asking (already authenticated and authorised by the CTI server).
    pub agent: String,
    pub action: CallAction,
    /// Where call control answers: `Ok` once the action is under way (with the new call's id
    /// when it started one: click-to-dial, consult), or why it is refused.
    pub reply: oneshot::Sender<Result<Option<String>, CallError>>,
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
