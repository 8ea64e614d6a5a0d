//! Typed identifiers and the E.164 phone number.
//!
//! Campaign, contact and agent ids are newtypes over `String` (they come from the store or the
//! operator's contact list and print readably); a [`DialId`] is a number the dialler hands out for
//! each call attempt it asks call control to place.

use crate::error::DiallerError;
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    };
}

string_id!(
    /// A campaign (`"renewals-march"`).
    CampaignId
);
string_id!(
    /// A contact of a campaign's list; unique within the campaign.
    ContactId
);
string_id!(
    /// An agent, the same login name the ACD uses.
    AgentId
);

/// One call attempt the dialler asked call control to place. Unique for the dialler's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialId(pub u64);

impl fmt::Display for DialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dial-{}", self.0)
    }
}

/// A phone number in E.164 form: `+`, a country code and at most 15 digits in all.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(String);

impl Number {
    /// Parses `+` followed by 8 to 15 digits, the first not zero. Spaces, dashes, dots and
    /// parentheses are dropped first, so `"+1 (212) 555-0100"` is accepted.
    pub fn parse(raw: &str) -> Result<Self, DiallerError> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = cleaned.strip_prefix('+');
        let ok = digits.is_some_and(|d| {
            (8..=15).contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_digit())
                && !d.starts_with('0')
        });
        if ok {
            Ok(Self(cleaned))
        } else {
            Err(DiallerError::InvalidNumber(raw.to_owned()))
        }
    }

    /// The number, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_and_refuses() {
        assert_eq!(
            Number::parse("+1 (212) 555-0100").unwrap().as_str(),
            "+12125550100"
        );
        assert_eq!(
            Number::parse("+442079460000").unwrap().digits(),
            "442079460000"
        );
        for bad in [
            "12125550100",
            "+0123456789",
            "+1212",
            "+1234567890123456",
            "+1212ABC0100",
        ] {
            assert!(Number::parse(bad).is_err(), "{bad}");
        }
    }
}
