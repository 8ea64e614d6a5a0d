//! `hotline-store`: the only place in Hotline that speaks SQL.
//!
//! One code base drives two back ends through sqlx's `Any` driver:
//!
//! * **SQLite** (the embedded default): a file under `data/`, opened in WAL mode with a busy
//!   timeout so the switch and a desktop on the same machine can write at once;
//! * **PostgreSQL** when the URL starts with `postgres://` or `postgresql://`: the shared database
//!   of a real center.
//!
//! Migrations live in `migrations/sqlite` and `migrations/postgres` (same tables, each in its
//! dialect) and run when the store opens. All SQL is portable: `$1` placeholders, `RETURNING`,
//! `ON CONFLICT`. Timestamps are unix epoch milliseconds ([`Millis`]) supplied by the caller, so
//! the store never reads a clock and tests are deterministic.
//!
//! Writes that a crash or a dropped connection must not lose (call records, outcomes, payments)
//! are idempotent (keyed by call id and sequence, call id and agent, idempotency key) and are
//! retried on transient errors (see [`Store::retrying`]), so a writer may safely repeat them.
//!
//! Webhooks (subscriptions, and the durable outbox the writes above fill in their own
//! transactions and the switch's delivery worker drains) are kept by the `webhooks` module.
//!
//! Outbound campaigns (campaigns, their contacts, dial attempts, do-not-call lists, CSV imports
//! and lists built from customers, live board counters) are kept by the `campaigns` module.
//!
//! The knowledge base (articles, agents' votes, ranked search over SQLite FTS5 and PostgreSQL
//! full-text search with a `LIKE` fallback for Chinese, screen-pop suggestions) is the
//! `knowledge` module: [`Store::search_articles`], [`Store::suggest_articles`].
//!
//! The records themselves (customers, identities, call events, tickets, bookings, payments) are
//! plain values defined in `hotline-records`, which has no SQL, so that the sans-IO cores can use
//! them; this crate re-exports every one of them at its own root (`hotline_store::CustomerView`,
//! `hotline_store::phone::normalize`), and turns their [`hotline_records::Error`] into [`Error`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), hotline_store::Error> {
//! use hotline_store::{Identity, Store, StoreOptions};
//! let store = Store::open("sqlite://data/hotline.db", StoreOptions::default()).await?;
//! if let Some(view) = store.customer_view(&Identity::phone("+4930123456")?).await? {
//!     println!("{} ({})", view.customer.display_name, view.customer.tier);
//! }
//! # Ok(()) }
//! ```

mod agents;
mod balances;
mod calls;
mod campaigns;
mod commerce;
mod customers;
mod error;
mod knowledge;
mod messages;
pub mod password;
pub mod pins;
pub mod reports;
mod tickets;
mod tokens;
pub mod webhooks;
mod work;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use balances::Settlement;
pub use calls::RefusedEvent;
pub use customers::TIERS;
pub use error::Error;
pub use knowledge::KB_MAX_LIMIT;
pub use messages::MESSAGE_MAX_CHARS;
pub use webhooks::{
    Delivery, DeliveryAttempt, DeliveryId, DeliveryState, DueDelivery, EventKind, NewWebhook,
    Webhook, WebhookEvent, WebhookId, WebhookState,
};
// Every record type, `phone`, `contains_card_number` and `Millis`. The records crate's own
// `Error` and `Result` are shadowed by this crate's, declared here by name.
pub use hotline_records::*;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the back end from a database URL, or says why the URL is not usable.
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::BadUrl(
                "expected sqlite://<file> or postgres://user@host:port/db".into(),
            ))
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long a write may wait for a locked SQLite database or a free pooled connection.
    pub busy_timeout: Duration,
    /// How often a transient failure is retried by [`Store::retrying`] before giving up.
    pub write_retries: u32,
    /// Run migrations on open (the switch and the desktop do; reports may not).
    pub migrate: bool,
    /// The switch node writing through this store (`[node] name`): every call record it creates
    /// is tagged with it, so that after a crash the node closes only its own records
    /// ([`Store::close_calls_left_open`]). `None` for the desktop and tools.
    pub node: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            write_retries: 5,
            migrate: true,
            node: None,
        }
    }
}

/// A handle on the shared database. Cheap to clone; all clones share one pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    write_retries: u32,
    node: Option<String>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating the SQLite file and its folder when needed) and migrates the database.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let connect =
            AnyConnectOptions::from_str(&url).map_err(|e| Error::BadUrl(format!("{e}")))?;
        let busy_ms = options.busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.busy_timeout.max(Duration::from_secs(1)))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                        let pragmas = format!(
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                             PRAGMA foreign_keys=ON; PRAGMA busy_timeout={busy_ms};"
                        );
                        conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        let store = Store {
            pool,
            backend,
            write_retries: options.write_retries,
            node: options.node,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations for this back end.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The back end behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Cheap liveness probe for `/health`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// True when the database holds no customers and no agents (a fresh install to seed).
    pub async fn is_empty(&self) -> Result<bool> {
        let row: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM agents)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.0 == 0 && row.1 == 0)
    }

    /// Runs an idempotent write, retrying transient failures (a dropped connection, a locked
    /// SQLite file, a pool time-out) with exponential back-off. Non-transient errors (constraint
    /// violations, bad input) return at once.
    pub async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < self.write_retries => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %e, "database write failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Makes sure the SQLite file's folder exists and the URL creates the file when missing.
fn prepare_sqlite_url(url: &str) -> Result<String> {
    if url.contains(":memory:") {
        return Err(Error::BadUrl(
            "sqlite::memory: gives every pooled connection its own empty database; use a file"
                .into(),
        ));
    }
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(Error::BadUrl("sqlite URL names no file".into()));
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::BadUrl(format!("cannot create folder {}: {e}", parent.display()))
        })?;
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => format!("sqlite://{path}?{q}"),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// Converts a stored 0/1 flag.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}
