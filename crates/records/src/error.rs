//! The one error of this crate: a value that cannot become a record.

use thiserror::Error;

/// Why a value was refused, said from the caller's point of view. The store turns each variant
/// into its own error of the same name and message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not a valid value (not a phone number, an empty account number, an unknown
    /// role): the caller's fault.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A stored name this version does not know (an identity kind read back from the
    /// database): the stored data's fault.
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}
