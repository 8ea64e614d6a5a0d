//! The store's error: whose fault a failed read or write was, and whether a retry can cure it.

use thiserror::Error;

/// Everything that can go wrong in the store, said from the caller's point of view.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL cannot be used (the configuration's fault).
    #[error("bad database URL: {0}")]
    BadUrl(String),
    /// The input was rejected before it reached the database (the caller's fault).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A referenced row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The write conflicts with what is stored (an identity owned by another customer,
    /// an item sold out).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored JSON could not be read back.
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl From<hotline_records::Error> for Error {
    /// A record refused by `hotline-records` is the same fault here, with the same message.
    fn from(e: hotline_records::Error) -> Error {
        match e {
            hotline_records::Error::Invalid(m) => Error::Invalid(m),
            hotline_records::Error::Corrupt(m) => Error::Corrupt(m),
            other => Error::Invalid(other.to_string()),
        }
    }
}

impl Error {
    /// True for failures that a retry can cure: the connection dropped or timed out, the
    /// SQLite file was locked, the PostgreSQL server restarted.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(e) => match e {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => true,
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // SQLite: 5 BUSY, 6 LOCKED (and extended codes ending in them).
                    // PostgreSQL: class 08 connection exceptions, 57P01..03 shutdown, 40001/40P01.
                    code == "5"
                        || code == "6"
                        || code == "517"
                        || code == "262"
                        || code.starts_with("08")
                        || code.starts_with("57P")
                        || code == "40001"
                        || code == "40P01"
                        || db.message().contains("database is locked")
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// True when the database rejected the write as a unique-key duplicate.
    pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
        match e {
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                code == "23505"
                    || code == "2067"
                    || code == "1555"
                    || db.message().contains("UNIQUE constraint failed")
            }
            _ => false,
        }
    }
}
