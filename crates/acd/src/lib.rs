//! hotline-acd: not built yet (see the README status table).
