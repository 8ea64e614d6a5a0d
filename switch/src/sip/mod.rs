//! SIP plumbing of the switch: configuration sections, transports and the registrar. The
//! protocol itself is `hotline-sip` (sans-IO); call control is [`crate::calls`].

pub mod config;
pub use hotline_calls::registrar;
pub mod transport;
