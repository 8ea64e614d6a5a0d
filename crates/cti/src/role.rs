//! Roles and the permission check the server runs on every command.

use serde::{Deserialize, Serialize};

use crate::command::Command;

/// A session's role, from the agent's record in the store. Ordered: `Agent < Supervisor < Admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes calls.
    Agent,
    /// Takes calls, watches the wallboard, monitors and controls agents.
    Supervisor,
    /// Everything a supervisor may do (and, later, configuration).
    Admin,
}

/// May a session with `role` send `cmd`? The server calls this for every command of a logged-in
/// session and answers `forbidden` (and writes an audit line) when it returns false.
///
/// Handshake commands (`hello`, `login`, `resume_session`, `heartbeat`) are allowed for every
/// role; the server must additionally refuse session commands before login (see
/// [`Command::phase`](crate::Command::phase)).
///
/// ```
/// use hotline_cti::{allowed, AgentId, Command, Role};
/// let force = Command::ForceLogout { agent: AgentId::new("1002") };
/// assert!(!allowed(Role::Agent, &force));
/// assert!(allowed(Role::Supervisor, &force));
/// assert!(allowed(Role::Agent, &Command::Ready));
/// ```
#[must_use]
pub fn allowed(role: Role, cmd: &Command) -> bool {
    role >= cmd.min_role()
}
