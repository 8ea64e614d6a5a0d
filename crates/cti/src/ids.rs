//! Identifiers and small value types shared by commands and events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::CtiError;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps an identifier.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The identifier as text.
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
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }
    };
}

string_id!(
    /// An agent's login id (usually the agent number, e.g. `"1001"`).
    AgentId
);
string_id!(
    /// A call as call control names it; the same id keys the CDR, the outcome and the ticket.
    CallId
);
string_id!(
    /// A queue name from the configuration (e.g. `"billing"`).
    QueueId
);
string_id!(
    /// A customer record id in the store.
    CustomerId
);
string_id!(
    /// A ticket id in the store.
    TicketId
);
string_id!(
    /// A booking (appointment, reservation) id in the store.
    BookingId
);
string_id!(
    /// A phone extension (a registered SIP user), e.g. `"2001"`.
    Extension
);
string_id!(
    /// A skill name (e.g. `"spanish"`, `"billing"`).
    Skill
);
string_id!(
    /// A not-ready reason code from the configuration (`"break"`, `"lunch"`, `"training"`).
    ReasonCode
);
string_id!(
    /// A wrap-up disposition code from the configuration (`"resolved"`, `"callback"`, `"sale"`).
    Disposition
);

/// The number a client puts in `"id"`; the server echoes it in `"re"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// A per-session event sequence number. The first event of a session has seq 1; each later event
/// has the previous seq plus one. A client remembers the last seq it processed.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The seq after this one.
    #[must_use]
    pub const fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

/// Wall-clock time as milliseconds since the Unix epoch (UTC). Used for "since" stamps the desktop
/// shows (time in state, wait time) and for history; never for protocol timing.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Whole seconds from `self` to `later`, zero if `later` is earlier (clock skew).
    pub const fn secs_until(self, later: UnixMillis) -> u64 {
        later.0.saturating_sub(self.0) / 1000
    }
}

/// DTMF digits an agent sends into a call (`0-9`, `*`, `#`, `A-D`), at most 32.
///
/// Validated when parsed, so a malformed frame is a decode error and never reaches call control.
/// `Debug` shows only the count: digits typed into a call may be an account number.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DtmfDigits(String);

impl DtmfDigits {
    /// Longest digit string one command may carry.
    pub const MAX_LEN: usize = 32;

    /// Validates digits.
    pub fn new(digits: &str) -> Result<Self, CtiError> {
        if digits.is_empty() || digits.len() > Self::MAX_LEN {
            return Err(CtiError::InvalidDtmf {
                reason: "must be 1 to 32 digits",
            });
        }
        if !digits
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'*' | b'#' | b'A'..=b'D'))
        {
            return Err(CtiError::InvalidDtmf {
                reason: "only 0-9, *, # and A-D are DTMF digits",
            });
        }
        Ok(DtmfDigits(digits.to_owned()))
    }

    /// The digits, for call control.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DtmfDigits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DtmfDigits({} digits)", self.0.len())
    }
}

impl TryFrom<String> for DtmfDigits {
    type Error = CtiError;
    fn try_from(value: String) -> Result<Self, CtiError> {
        DtmfDigits::new(&value)
    }
}

impl From<DtmfDigits> for String {
    fn from(value: DtmfDigits) -> String {
        value.0
    }
}

/// An amount of money in minor units (cents) with an ISO 4217 currency code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units, e.g. 4999 for 49.99.
    pub minor: u64,
    /// ISO 4217 code, e.g. `"EUR"`.
    pub currency: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_validation() {
        assert!(DtmfDigits::new("12*#AD").is_ok());
        assert!(DtmfDigits::new("").is_err());
        assert!(DtmfDigits::new("12x").is_err());
        assert!(DtmfDigits::new(&"1".repeat(33)).is_err());
        assert!(serde_json::from_str::<DtmfDigits>("\"9 9\"").is_err());
        let d = DtmfDigits::new("4111").unwrap();
        assert_eq!(format!("{d:?}"), "DtmfDigits(4 digits)");
    }

    #[test]
    fn secs_until_saturates() {
        assert_eq!(UnixMillis(10_000).secs_until(UnixMillis(12_999)), 2);
        assert_eq!(UnixMillis(10_000).secs_until(UnixMillis(9_000)), 0);
    }
}
