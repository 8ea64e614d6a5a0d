//! hotline-ivr: not built yet (see the README status table).
