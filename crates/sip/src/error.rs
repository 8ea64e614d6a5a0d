//! The one error type of this crate.

use crate::StatusCode;

/// Everything that can go wrong in `hotline-sip`.
///
/// Variants say whose fault it was: [`Error::Parse`] and friends are a peer's malformed input
/// (answer with [`Error::status`], usually 400, and log); [`Error::UnknownTransaction`] and
/// [`Error::InvalidState`] are our own misuse of the API (a bug in the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a SIP message (peer's fault).
    #[error("malformed SIP message: {0}")]
    Parse(&'static str),
    /// A header value does not match its grammar (peer's fault).
    #[error("malformed {header} header: {reason}")]
    BadHeader {
        /// Canonical header name.
        header: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A mandatory header is missing (peer's fault).
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A URI does not match its grammar (peer's fault).
    #[error("malformed URI: {0}")]
    BadUri(&'static str),
    /// The SIP version is not SIP/2.0 (peer's fault; answer 505).
    #[error("unsupported SIP version")]
    VersionNotSupported,
    /// A stream holds more header bytes than we accept before the blank line.
    #[error("message too large")]
    TooLarge,
    /// The SDP body does not match its grammar or offers nothing we can use.
    #[error("SDP: {0}")]
    Sdp(&'static str),
    /// Digest authentication input was unusable.
    #[error("digest auth: {0}")]
    Auth(&'static str),
    /// The transaction handle is unknown or already terminated (caller's fault).
    #[error("unknown or terminated transaction")]
    UnknownTransaction,
    /// The operation is not allowed in the current state (caller's fault).
    #[error("invalid in this state: {0}")]
    InvalidState(&'static str),
}

impl Error {
    /// The status code a server should answer with when a request caused this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::VersionNotSupported => StatusCode::VERSION_NOT_SUPPORTED,
            Error::TooLarge => StatusCode::MESSAGE_TOO_LARGE,
            Error::UnknownTransaction | Error::InvalidState(_) => StatusCode::SERVER_INTERNAL_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
