//! A switch node that died with calls live (SIGKILL, power loss) left their records without an
//! end. At start-up it closes them as "switch restarted": only its own records (two nodes
//! share one database), once each however often it runs, with the next sequence number so the
//! `(call_id, seq)` idempotency keeps holding. Run on SQLite and (with `HOTLINE_TEST_PG_URL`)
//! on PostgreSQL.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

async fn arrive(s: &Store, id: &str, at: Millis) {
    s.record_call_event(&CallEvent {
        call_id: id.into(),
        seq: 0,
        at,
        kind: CallEventKind::Arrived {
            direction: Direction::Inbound,
            ani: "+4930123456".into(),
            dnis: "+18005550100".into(),
        },
    })
    .await
    .expect("arrived");
}

both_backends!(
    a_restarted_node_closes_only_its_own_open_records,
    async |db: &TestDb| {
        let a = db.node_pool("node-a").await;
        let b = db.node_pool("node-b").await;
        // node-a: one call live in a queue, one answered, one that ended normally.
        arrive(&a, "a-queued", T0).await;
        a.record_call_event(&CallEvent {
            call_id: "a-queued".into(),
            seq: 1,
            at: T0 + 4_000,
            kind: CallEventKind::Enqueued {
                queue_id: "sales".into(),
                priority: 0,
            },
        })
        .await
        .unwrap();
        arrive(&a, "a-talking", T0).await;
        a.record_call_event(&CallEvent {
            call_id: "a-talking".into(),
            seq: 1,
            at: T0 + 9_000,
            kind: CallEventKind::Answered {
                agent_id: "bob".into(),
            },
        })
        .await
        .unwrap();
        arrive(&a, "a-done", T0).await;
        a.record_call_event(&CallEvent {
            call_id: "a-done".into(),
            seq: 1,
            at: T0 + 2_000,
            kind: CallEventKind::Ended {
                reason: "caller_hangup".into(),
                abandoned: true,
            },
        })
        .await
        .unwrap();
        // node-b's live call, and one from a tool (no node).
        arrive(&b, "b-live", T0).await;
        arrive(&db.store, "tool-live", T0).await;
        assert_eq!(db.store.open_call_ids().await.unwrap().len(), 4);

        let mut closed = a
            .close_calls_left_open("node-a", "switch restarted")
            .await
            .unwrap();
        closed.sort();
        assert_eq!(closed, vec!["a-queued", "a-talking"]);
        let talking = a.call("a-talking").await.unwrap().unwrap();
        assert_eq!(talking.end_reason.as_deref(), Some("switch restarted"));
        // Stamped with the last sign of life, not the restart time.
        assert_eq!(talking.ended_at, Some(T0 + 9_000));
        assert!(!talking.abandoned);
        assert_eq!(
            a.call_event_kinds("a-queued").await.unwrap(),
            vec!["arrived", "enqueued", "ended"]
        );
        let done = a.call("a-done").await.unwrap().unwrap();
        assert_eq!(done.end_reason.as_deref(), Some("caller_hangup"));
        assert!(done.abandoned);
        // Other owners are left alone.
        assert_eq!(b.call("b-live").await.unwrap().unwrap().ended_at, None);
        assert_eq!(
            db.store.call("tool-live").await.unwrap().unwrap().ended_at,
            None
        );

        // Idempotent: a second start-up finds nothing and writes nothing.
        assert!(
            a.close_calls_left_open("node-a", "switch restarted")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            a.call_event_kinds("a-talking").await.unwrap(),
            vec!["arrived", "answered", "ended"]
        );
        assert_eq!(
            db.store.open_call_ids().await.unwrap(),
            vec!["b-live", "tool-live"]
        );
        a.close().await;
        b.close().await;
    }
);
