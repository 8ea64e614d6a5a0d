//! The demo: simulated callers and agent phones that speak real SIP and RTP over loopback.
pub mod phone;
