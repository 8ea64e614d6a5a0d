//! hotline-sip: not built yet (see the README status table).
