//! hotline-cti: not built yet (see the README status table).
