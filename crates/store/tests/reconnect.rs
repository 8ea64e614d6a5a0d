//! A database connection that drops under the store (PostgreSQL restarted, a proxy cut it) does
//! not lose a call record or an outcome: the write is retried on a fresh connection.

mod common;

use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_killed_connections_postgres() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let s = &db.store;
    s.upsert_disposition(&Disposition {
        code: "done".into(),
        label: "Done".into(),
        resolved: true,
    })
    .await
    .unwrap();
    let base = std::env::var("HOTLINE_TEST_PG_URL").unwrap();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.unwrap();
    let app = db.pg_schema().unwrap().to_string();
    let mut total_killed = 0;
    for i in 0..20 {
        // Warm the pool, then kill every other connection to this database server-side.
        s.ping().await.unwrap();
        // Only this test's own connections (tagged with its application_name) are killed.
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(app.as_str())
        .fetch_all(&admin)
        .await
        .unwrap();
        total_killed += killed.iter().filter(|k| **k).count();
        let call = format!("rc-{i}");
        s.record_call_event(&CallEvent {
            call_id: call.clone(),
            seq: 0,
            at: T0,
            kind: CallEventKind::Arrived {
                direction: Direction::Inbound,
                ani: "+4930123456".into(),
                dnis: "+4930999".into(),
            },
        })
        .await
        .unwrap_or_else(|e| panic!("call record lost after a dropped connection: {e}"));
        s.write_outcome(&Outcome {
            call_id: call,
            agent_id: "a".into(),
            disposition: "done".into(),
            notes: String::new(),
            wrapup_ms: 0,
            ticket_id: None,
            at: T0,
        })
        .await
        .unwrap_or_else(|e| panic!("outcome lost after a dropped connection: {e}"));
    }
    assert!(
        total_killed >= 20,
        "the test must really kill connections ({total_killed})"
    );
    assert_eq!(s.count_calls().await.unwrap(), 20);
    assert_eq!(s.count_outcomes().await.unwrap(), 20);
    admin.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_is_waited_for() {
    // A long write transaction from another connection holds the SQLite write lock; the store's
    // write waits (busy timeout, then retry) instead of failing.
    let db = common::sqlite().await;
    let other = db.second_pool().await;
    let blocker = tokio::spawn({
        let other = other.clone();
        async move {
            other
                .retrying(|| async {
                    // import_customers holds one transaction across many statements.
                    let batch: Vec<_> = (0..3000)
                        .map(|i| {
                            (
                                NewCustomer {
                                    display_name: format!("Lock {i}"),
                                    ..Default::default()
                                },
                                vec![],
                            )
                        })
                        .collect();
                    other.import_customers(&batch, "t", T0).await
                })
                .await
                .unwrap();
        }
    });
    db.store
        .upsert_disposition(&Disposition {
            code: "done".into(),
            label: "Done".into(),
            resolved: true,
        })
        .await
        .unwrap();
    for i in 0..50 {
        db.store
            .write_outcome(&Outcome {
                call_id: format!("l{i}"),
                agent_id: "a".into(),
                disposition: "done".into(),
                notes: String::new(),
                wrapup_ms: 0,
                ticket_id: None,
                at: T0,
            })
            .await
            .unwrap();
    }
    blocker.await.unwrap();
    assert_eq!(db.store.count_outcomes().await.unwrap(), 50);
    other.close().await;
    db.cleanup().await;
}
