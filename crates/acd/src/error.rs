//! The crate's one error type.

use crate::ids::{AgentId, CallId, QueueId, SkillId};

/// Everything an ACD command can refuse. Every variant is the caller's input being wrong for the
/// current state (an unknown id, a command that does not fit the agent's state); none of them
/// leaves the engine in a changed state: a refused command has no effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcdError {
    /// The agent has never logged in.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// The call is not (or no longer) held by the engine.
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    /// No queue with that id is configured.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// A call with that id is already held by the engine.
    #[error("call {0} is already known")]
    DuplicateCall(CallId),
    /// A proficiency outside 1..=5.
    #[error("proficiency {level} for skill {skill} is outside 1..=5")]
    InvalidProficiency {
        /// The skill named.
        skill: SkillId,
        /// The level given.
        level: u8,
    },
    /// The command does not fit the agent's current state (for example `answer` while not
    /// reserved).
    #[error("agent {agent} cannot {command} while {state}")]
    InvalidAgentState {
        /// The agent.
        agent: AgentId,
        /// The command refused.
        command: &'static str,
        /// The state it was in.
        state: &'static str,
    },
    /// The command does not fit the call's current state (for example `request_callback` on a call
    /// that is already connected).
    #[error("call {call} cannot {command} while {state}")]
    InvalidCallState {
        /// The call.
        call: CallId,
        /// The command refused.
        command: &'static str,
        /// The state it was in.
        state: &'static str,
    },
    /// The configuration is inconsistent.
    #[error("invalid ACD configuration: {0}")]
    InvalidConfig(String),
}
