//! hotline-media: not built yet (see the README status table).
