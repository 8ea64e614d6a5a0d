//! The crate's one error type.

use crate::ids::{AgentId, CampaignId, ContactId, DialId};
use std::time::Duration;

/// Everything a dialler input can refuse. Each variant is the caller's input being wrong (an
/// unknown id, a setting out of range, a command that does not fit the current state); a refused
/// input changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiallerError {
    /// No campaign with that id has been added.
    #[error("unknown campaign {0}")]
    UnknownCampaign(CampaignId),
    /// A campaign with that id already exists.
    #[error("campaign {0} already exists")]
    DuplicateCampaign(CampaignId),
    /// The contact is not in the campaign's list.
    #[error("unknown contact {contact} in campaign {campaign}")]
    UnknownContact {
        /// The campaign.
        campaign: CampaignId,
        /// The contact.
        contact: ContactId,
    },
    /// The agent has not joined any campaign.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// The dialler holds no live call attempt with that id.
    #[error("unknown dial {0}")]
    UnknownDial(DialId),
    /// Ring time below the 15 s minimum.
    #[error("ring time {0:?} is under the 15 s minimum")]
    RingTimeTooShort(Duration),
    /// A setting out of its range (named, with the reason).
    #[error("invalid setting {setting}: {reason}")]
    InvalidSetting {
        /// The setting's name as in `docs/outbound.md`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Not an E.164 number.
    #[error("{0:?} is not an E.164 number (+ and 8 to 15 digits)")]
    InvalidNumber(String),
    /// An unknown IANA time zone name.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// The command does not fit the current state (for example accepting a preview nobody
    /// offered).
    #[error("cannot {command} while {state}")]
    InvalidState {
        /// The command refused.
        command: &'static str,
        /// The state it met.
        state: &'static str,
    },
}
