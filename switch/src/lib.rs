//! The Hotline softswitch as a library: configuration, database start-up, HTTP, and (as the
//! crates land) SIP transports, call control, IVR, routing and the CTI server. The
//! `hotline-switch` binary is a thin wrapper over [`app::run`].

pub mod api;
pub mod app;
pub mod bus;
pub mod calls;
pub mod config;
pub mod cti;
pub mod demo;
pub mod http;
pub mod netlimits;
pub use hotline_calls::pii;
pub mod routing;
pub mod seed;
pub mod sip;
pub mod webhooks;
