//! hotline-store: the only place with SQL.
