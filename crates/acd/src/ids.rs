//! Plain, serde-friendly identifiers.
//!
//! Every id is a newtype over `String`: call control already has a natural string for each (the
//! agent's login name, the queue's name in `config/`, the SIP Call-ID or a CDR uuid), they print
//! readably in events and logs, and they serialize as a bare JSON/TOML string. Internally the engine
//! maps each id once to a dense index, so routing never hashes or compares strings.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Builds the id from anything string-like.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// An agent, usually the login name the desktop authenticates with (`"alice"`).
    AgentId
);
string_id!(
    /// A call (or a callback request made from it). Unique among the calls the engine holds;
    /// may be reused once the engine has emitted [`crate::Event::CallEnded`] for it.
    CallId
);
string_id!(
    /// A queue, named in configuration (`"sales"`).
    QueueId
);
string_id!(
    /// A skill (`"spanish"`, `"billing"`). Skills need no declaration: the first agent or queue
    /// that names one creates it.
    SkillId
);

/// Routing priority of a call: higher is served first, across every queue an agent serves.
///
/// Call control builds it from the customer's tier and from what the IVR learned, for example
/// `Priority::from_parts(tier_weight, ivr_boost)`. Between two calls of equal priority the one
/// that has waited longer wins.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Priority(pub u32);

impl Priority {
    /// Normal priority.
    pub const NORMAL: Priority = Priority(0);

    /// Sum of a customer-tier weight and an IVR boost (saturating).
    pub fn from_parts(tier: u32, ivr: u32) -> Self {
        Priority(tier.saturating_add(ivr))
    }
}

/// Skill proficiency, 1 (novice) to 5 (expert).
pub type Proficiency = u8;

/// Lowest valid proficiency.
pub const MIN_PROFICIENCY: Proficiency = 1;
/// Highest valid proficiency.
pub const MAX_PROFICIENCY: Proficiency = 5;
