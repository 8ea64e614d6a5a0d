//! Wrappers that keep personal data and secrets out of logs.
//!
//! Caller numbers (ANI), customer names, identities, free-text notes and IVR inputs are personal
//! data. They travel on the wire as plain JSON strings (the wrappers are `serde(transparent)`), but
//! their `Debug` output is redacted, so `tracing::debug!(?frame)` or a panic message never leaks
//! them. Reading the value is explicit: [`Pii::expose`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Personal data (a caller number, a name, an e-mail address, notes).
///
/// `Debug` prints `Pii(<redacted>)`; there is deliberately no `Display`. Use [`Pii::expose`] where
/// the value must be shown to the agent (the UI) or stored (the database).
///
/// ```
/// use hotline_cti::Pii;
/// let ani = Pii::new("+441632960001".to_string());
/// assert_eq!(format!("{ani:?}"), "Pii(<redacted>)");
/// assert_eq!(ani.expose(), "+441632960001");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Pii(value)
    }

    /// Borrows the personal value. Call this only where the value is shown to the agent or stored.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the personal value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Pii<T> {
    fn from(value: T) -> Self {
        Pii(value)
    }
}

impl From<&str> for Pii<String> {
    fn from(value: &str) -> Self {
        Pii(value.to_owned())
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pii(<redacted>)")
    }
}

impl<T: Serialize> Serialize for Pii<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Pii<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Pii)
    }
}

/// A secret (a password, a session token). Like [`Pii`], but its `Debug` says `Secret(<redacted>)`
/// so a reader of a log knows which kind of value was hidden.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Borrows the secret; for verification and for sending it, never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_but_json_is_plain() {
        let name = Pii::new("Ada Lovelace".to_string());
        let shown = format!("{:?}", Some(&name));
        assert!(!shown.contains("Ada"), "{shown}");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"Ada Lovelace\"");
        let back: Pii<String> = serde_json::from_str("\"Ada Lovelace\"").unwrap();
        assert_eq!(back, name);

        let pw = Secret::new("hunter2");
        assert!(!format!("{pw:?}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&pw).unwrap(), "\"hunter2\"");
    }
}
