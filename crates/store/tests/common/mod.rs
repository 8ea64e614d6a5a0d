//! Test support: opens a fresh store on SQLite (a temp file) or on PostgreSQL (a fresh schema in
//! the database named by `HOTLINE_TEST_PG_URL`).

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use hotline_store::{Store, StoreOptions};

pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// The PostgreSQL schema (and application_name) of this test, if on PostgreSQL.
    pub fn pg_schema(&self) -> Option<&str> {
        self.pg_schema.as_ref().map(|(_, s)| s.as_str())
    }
}

impl TestDb {
    /// A second, independent pool on the same database (another process's view).
    pub async fn second_pool(&self) -> Store {
        Store::open(
            &self.url,
            StoreOptions {
                migrate: false,
                ..Default::default()
            },
        )
        .await
        .expect("second pool")
    }

    /// Another pool on the same database that writes for switch node `node`.
    pub async fn node_pool(&self, node: &str) -> Store {
        Store::open(
            &self.url,
            StoreOptions {
                migrate: false,
                node: Some(node.to_string()),
                ..Default::default()
            },
        )
        .await
        .expect("node pool")
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.pg_schema {
            let admin = admin_pool(&base).await;
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
            admin.close().await;
        }
    }
}

async fn admin_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("connect to PostgreSQL")
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/hotline.db", dir.path().display());
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open sqlite");
    TestDb {
        store,
        url,
        _dir: Some(dir),
        pg_schema: None,
    }
}

/// `None` (and a note on stderr) when `HOTLINE_TEST_PG_URL` is not set.
pub async fn postgres() -> Option<TestDb> {
    let Ok(base) = std::env::var("HOTLINE_TEST_PG_URL") else {
        eprintln!(
            "SKIPPED: PostgreSQL store test (set HOTLINE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
        );
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let schema = format!(
        "hl_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let admin = admin_pool(&base).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&admin)
    .await
    .expect("drop schema");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}");
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open postgres");
    Some(TestDb {
        store,
        url,
        _dir: None,
        pg_schema: Some((base, schema)),
    })
}

/// Defines `<name>_sqlite` and `<name>_postgres` tests running the same body.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = common::sqlite().await;
                ($body)(&db).await;
                db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = common::postgres().await else {
                    return;
                };
                ($body)(&db).await;
                db.cleanup().await;
            }
        }
    };
}
