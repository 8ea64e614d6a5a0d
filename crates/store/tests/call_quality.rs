//! Per leg call quality in the call record, on SQLite and (when `HOTLINE_TEST_PG_URL` is set)
//! on PostgreSQL: `quality` events append one entry each to the call's `quality` column in
//! order, a retried event adds nothing, a call without them reads as an empty list, the list of
//! a period's calls carries the same figures, and two writers appending to the same call at once
//! lose no leg.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

fn ev(call: &str, seq: i64, kind: CallEventKind) -> CallEvent {
    CallEvent {
        call_id: call.into(),
        seq,
        at: T0 + seq * 1000,
        kind,
    }
}

fn arrived() -> CallEventKind {
    CallEventKind::Arrived {
        direction: Direction::Inbound,
        ani: "+12125550100".into(),
        dnis: "+18005550100".into(),
    }
}

fn leg(name: &str, agent: Option<&str>, packets: u64, lost: u64, mos: f64) -> LegQuality {
    LegQuality {
        leg: name.into(),
        agent_id: agent.map(str::to_string),
        packets,
        lost,
        loss_percent: (lost as f64 * 10_000.0 / (packets + lost) as f64).round() / 100.0,
        jitter_ms: 1.25,
        mos,
        remote_loss_percent: None,
        remote_jitter_ms: None,
        rtt_ms: None,
    }
}

#[test]
fn the_event_keeps_the_tagged_shape_of_the_event_store() {
    let mut agent = leg("agent", Some("alice"), 1500, 0, 4.39);
    agent.remote_loss_percent = Some(0.39);
    let kind = CallEventKind::Quality(agent);
    let json = serde_json::to_value(&kind).unwrap();
    assert_eq!(json["kind"], "quality");
    assert_eq!(json["leg"], "agent");
    assert_eq!(json["agent_id"], "alice");
    assert_eq!(json["mos"], 4.39);
    assert_eq!(json["remote_loss_percent"], 0.39);
    // Absent far-end figures are left out, and read back as absent.
    assert!(json.get("rtt_ms").is_none());
    assert_eq!(kind.name(), "quality");
    let back: CallEventKind = serde_json::from_value(json).unwrap();
    assert_eq!(back, kind);
}

both_backends!(legs_fold_into_the_quality_column, async |db: &TestDb| {
    let s = &db.store;
    let caller = leg("caller", None, 2980, 20, 3.9);
    let alice = leg("agent", Some("alice"), 1500, 0, 4.39);
    let bob = leg("agent", Some("bob"), 1200, 3, 4.2);
    let events = vec![
        ev("q-1", 0, arrived()),
        ev(
            "q-1",
            1,
            CallEventKind::Answered {
                agent_id: "alice".into(),
            },
        ),
        ev("q-1", 2, CallEventKind::Quality(alice.clone())),
        ev("q-1", 3, CallEventKind::Quality(bob.clone())),
        ev("q-1", 4, CallEventKind::Quality(caller.clone())),
        ev(
            "q-1",
            5,
            CallEventKind::Ended {
                reason: "normal".into(),
                abandoned: false,
            },
        ),
    ];
    for e in &events {
        s.record_call_event(e).await.unwrap();
    }
    // The writer retries after a lost acknowledgement: no leg is counted twice.
    for e in &events[2..] {
        s.record_call_event(e).await.unwrap();
    }
    let r = s.call("q-1").await.unwrap().expect("call row");
    assert_eq!(r.quality, vec![alice, bob, caller]);
    assert_eq!(r.end_reason.as_deref(), Some("normal"));
    assert_eq!(
        s.call_event_kinds("q-1").await.unwrap(),
        vec![
            "arrived", "answered", "quality", "quality", "quality", "ended"
        ]
    );

    // A call without media figures has an empty list (the column stays NULL).
    s.record_call_event(&ev("q-2", 0, arrived())).await.unwrap();
    assert!(s.call("q-2").await.unwrap().unwrap().quality.is_empty());

    // The day's list (newest first, bounded) carries the same figures as the single row.
    let listed = s.calls_between(T0, T0 + 60_000, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["q-2", "q-1"]);
    assert_eq!(listed[1], r);
    assert_eq!(s.calls_between(T0, T0 + 60_000, 1).await.unwrap().len(), 1);
    assert!(
        s.calls_between(T0 + 1, T0 + 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Quality for a call that never arrived is refused like any other event.
    assert!(matches!(
        s.record_call_event(&ev(
            "ghost",
            1,
            CallEventKind::Quality(leg("caller", None, 1, 0, 4.0))
        ))
        .await,
        Err(Error::NotFound(_))
    ));
});

both_backends!(
    two_writers_appending_at_once_lose_no_leg,
    async |db: &TestDb| {
        db.store
            .record_call_event(&ev("q-busy", 0, arrived()))
            .await
            .unwrap();
        // Two pools (two connections) append to the same row at the same time: without the row
        // lock a read-modify-write would drop legs on PostgreSQL.
        const N: i64 = 20;
        let mut tasks = Vec::new();
        for w in 0..2i64 {
            let s = db.second_pool().await;
            tasks.push(tokio::spawn(async move {
                for i in 0..N {
                    let seq = 1 + w * N + i;
                    let q = leg(
                        if w == 0 { "caller" } else { "agent" },
                        None,
                        seq as u64,
                        0,
                        4.0,
                    );
                    s.record_call_event(&ev("q-busy", seq, CallEventKind::Quality(q)))
                        .await
                        .expect("quality");
                }
                s.close().await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let r = db.store.call("q-busy").await.unwrap().unwrap();
        assert_eq!(r.quality.len(), 2 * N as usize);
        let mut packets: Vec<u64> = r.quality.iter().map(|q| q.packets).collect();
        packets.sort_unstable();
        assert_eq!(packets, (1..=2 * N as u64).collect::<Vec<_>>());
    }
);
