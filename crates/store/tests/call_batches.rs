//! Group commit of call events (`Store::record_call_events`), on SQLite and (when
//! `HOTLINE_TEST_PG_URL` is set) on PostgreSQL: a batch of several calls' events interleaved,
//! with duplicates, gives every call the same row as writing its events one by one; a replayed
//! batch changes nothing; a refused event (bad input, a call that never arrived) is left out
//! alone while the rest of its batch is stored; quality entries appended within one batch keep
//! their order; a batch longer than one multi-row insert is cut and stored whole; a call that
//! meets every kind several times in one batch gets the row one-by-one writes give it; an
//! event queued before its call's arrival is refused as it would be alone.

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

fn arrived(ani: &str) -> CallEventKind {
    CallEventKind::Arrived {
        direction: Direction::Inbound,
        ani: ani.into(),
        dnis: "+18005550100".into(),
    }
}

fn ended(reason: &str, abandoned: bool) -> CallEventKind {
    CallEventKind::Ended {
        reason: reason.into(),
        abandoned,
    }
}

fn leg(name: &str, packets: u64, mos: f64) -> LegQuality {
    LegQuality {
        leg: name.into(),
        agent_id: None,
        packets,
        lost: 0,
        loss_percent: 0.0,
        jitter_ms: 1.0,
        mos,
        remote_loss_percent: None,
        remote_jitter_ms: None,
        rtt_ms: None,
    }
}

/// The life of call `id` (seq 0..): arrived, enqueued, answered, held, resumed, transferred,
/// quality, ended; `n` picks the caller and the figures so calls differ.
fn life(id: &str, n: i64) -> Vec<CallEvent> {
    vec![
        ev(id, 0, arrived(&format!("+1212555{n:04}"))),
        ev(
            id,
            1,
            CallEventKind::Ivr {
                path: vec!["welcome".into(), format!("menu{n}")],
                inputs: serde_json::Map::new(),
            },
        ),
        ev(
            id,
            2,
            CallEventKind::Enqueued {
                queue_id: "sales".into(),
                priority: n,
            },
        ),
        ev(
            id,
            3,
            CallEventKind::Answered {
                agent_id: format!("agent{n}"),
            },
        ),
        ev(id, 4, CallEventKind::Held),
        ev(id, 5, CallEventKind::Resumed { hold_ms: 100 * n }),
        ev(
            id,
            6,
            CallEventKind::Transferred {
                to: "support".into(),
            },
        ),
        ev(
            id,
            7,
            CallEventKind::Quality(leg("caller", n as u64 * 10, 4.0)),
        ),
        ev(id, 8, ended("normal", false)),
    ]
}

/// The events of several calls interleaved the way the switch queues them (one event of each
/// call in turn).
fn interleave(calls: &[Vec<CallEvent>]) -> Vec<CallEvent> {
    let longest = calls.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| calls.iter().filter_map(move |c| c.get(i).cloned()))
        .collect()
}

/// Call `id`'s row, with its id cleared so rows of different ids can be compared.
async fn row(s: &Store, id: &str) -> CallRecord {
    let mut r = s.call(id).await.unwrap().expect("call row");
    r.id.clear();
    r
}

both_backends!(
    an_interleaved_batch_with_duplicates_matches_one_by_one,
    async |db: &TestDb| {
        let s = &db.store;
        let ids = ["b-1", "b-2", "b-3"];
        let mut batch = interleave(
            &ids.iter()
                .enumerate()
                .map(|(n, id)| life(id, n as i64 + 1))
                .collect::<Vec<_>>(),
        );
        // A writer's retry inside one batch: the same events again, after the originals.
        batch.push(ev("b-2", 5, CallEventKind::Resumed { hold_ms: 200 }));
        batch.push(ev(
            "b-1",
            6,
            CallEventKind::Transferred {
                to: "support".into(),
            },
        ));
        batch.insert(1, batch[0].clone());
        let refused = s.record_call_events(&batch).await.unwrap();
        assert!(refused.is_empty(), "{refused:?}");

        // The same lives written one event per transaction, under other ids.
        for (n, id) in ids.iter().enumerate() {
            let one_by_one = format!("r-{id}");
            for e in life(&one_by_one, n as i64 + 1) {
                s.record_call_event(&e).await.unwrap();
            }
            assert_eq!(row(s, id).await, row(s, &one_by_one).await, "call {id}");
            assert_eq!(
                s.call_event_kinds(id).await.unwrap(),
                s.call_event_kinds(&one_by_one).await.unwrap()
            );
        }
        let b2 = s.call("b-2").await.unwrap().unwrap();
        assert_eq!(b2.hold_ms, 200, "the duplicate resume is not added");
        assert_eq!(b2.transfers, 1);
        assert_eq!(b2.priority, 2);
        assert_eq!(b2.agent_id.as_deref(), Some("agent2"));
        assert_eq!(b2.ended_at, Some(T0 + 8000));
        assert_eq!(s.call("b-1").await.unwrap().unwrap().transfers, 1);
        assert_eq!(s.count_calls().await.unwrap(), 6);
    }
);

both_backends!(a_replayed_batch_changes_nothing, async |db: &TestDb| {
    let s = &db.store;
    let batch = interleave(&[life("p-1", 1), life("p-2", 2)]);
    assert!(s.record_call_events(&batch).await.unwrap().is_empty());
    let before = (row(s, "p-1").await, row(s, "p-2").await);
    // The writer lost the acknowledgement and writes the whole batch again, then half of it.
    assert!(s.record_call_events(&batch).await.unwrap().is_empty());
    assert!(
        s.record_call_events(&batch[batch.len() / 2..])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!((row(s, "p-1").await, row(s, "p-2").await), before);
    assert_eq!(before.0.hold_ms, 100);
    assert_eq!(before.1.quality.len(), 1);
    assert_eq!(s.call_event_kinds("p-1").await.unwrap().len(), 9);
    assert_eq!(s.count_calls().await.unwrap(), 2);
    // An empty batch is no work.
    assert!(s.record_call_events(&[]).await.unwrap().is_empty());
});

both_backends!(a_refused_event_is_left_out_alone, async |db: &TestDb| {
    let s = &db.store;
    let mut batch = interleave(&[life("g-1", 1), life("g-2", 2)]);
    // Refused before any SQL: a call id the store cannot take.
    batch.insert(3, ev("", 0, arrived("+12125550000")));
    // Refused by the database: events of a call that never arrived, one updating a column
    // and one that only needs the row.
    batch.insert(
        7,
        ev(
            "ghost",
            1,
            CallEventKind::Answered {
                agent_id: "alice".into(),
            },
        ),
    );
    batch.push(ev("ghost", 2, CallEventKind::Held));
    let refused = s.record_call_events(&batch).await.unwrap();
    let indices: Vec<usize> = refused.iter().map(|r| r.index).collect();
    assert_eq!(indices, vec![3, 7, batch.len() - 1]);
    assert!(matches!(refused[0].error, Error::Invalid(_)));
    assert!(matches!(refused[1].error, Error::NotFound(_)));
    assert!(matches!(refused[2].error, Error::NotFound(_)));
    assert!(refused.iter().all(|r| !r.error.is_transient()));

    // Everything else was stored, as if the bad events had not been there.
    for (n, id) in ["g-1", "g-2"].iter().enumerate() {
        let one_by_one = format!("r-{id}");
        for e in life(&one_by_one, n as i64 + 1) {
            s.record_call_event(&e).await.unwrap();
        }
        assert_eq!(row(s, id).await, row(s, &one_by_one).await, "call {id}");
    }
    assert!(s.call("ghost").await.unwrap().is_none());
    assert!(s.call_event_kinds("ghost").await.unwrap().is_empty());
    assert_eq!(s.count_calls().await.unwrap(), 4);

    // The one-event form returns the refusal as its error.
    assert!(matches!(
        s.record_call_event(&ev("ghost", 3, CallEventKind::Held))
            .await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.record_call_event(&ev(&"x".repeat(129), 0, arrived("+1")))
            .await,
        Err(Error::Invalid(_))
    ));
});

both_backends!(
    quality_entries_appended_in_one_batch_keep_their_order,
    async |db: &TestDb| {
        let s = &db.store;
        let legs: Vec<LegQuality> = (0..5)
            .map(|i| leg(["caller", "agent", "third"][i % 3], i as u64 + 1, 4.0))
            .collect();
        let mut batch = vec![ev("q-1", 0, arrived("+12125550001"))];
        batch.push(ev("q-2", 0, arrived("+12125550002")));
        for (i, l) in legs.iter().enumerate() {
            batch.push(ev("q-1", 1 + i as i64, CallEventKind::Quality(l.clone())));
            batch.push(ev("q-2", 1 + i as i64, CallEventKind::Quality(l.clone())));
        }
        // The third leg again (a retry within the batch): not appended twice.
        batch.push(ev("q-1", 3, CallEventKind::Quality(legs[2].clone())));
        assert!(s.record_call_events(&batch).await.unwrap().is_empty());
        // One more leg in a later batch goes after them; the replayed ones add nothing.
        let later = leg("supervisor", 99, 3.5);
        let mut second = batch[2..].to_vec();
        second.push(ev("q-1", 6, CallEventKind::Quality(later.clone())));
        assert!(s.record_call_events(&second).await.unwrap().is_empty());
        let mut expect = legs.clone();
        assert_eq!(s.call("q-2").await.unwrap().unwrap().quality, expect);
        expect.push(later);
        assert_eq!(s.call("q-1").await.unwrap().unwrap().quality, expect);
    }
);

both_backends!(
    a_batch_longer_than_one_insert_is_stored_whole,
    async |db: &TestDb| {
        let s = &db.store;
        // 41 calls of 9 events: 369 events, cut into inserts of 64, 64, ..., 32, 16, 1.
        let calls: Vec<Vec<CallEvent>> = (0..41).map(|n| life(&format!("l-{n}"), n)).collect();
        let batch = interleave(&calls);
        assert_eq!(batch.len(), 369);
        assert!(s.record_call_events(&batch).await.unwrap().is_empty());
        assert_eq!(s.count_calls().await.unwrap(), 41);
        assert!(s.open_call_ids().await.unwrap().is_empty());
        for n in [0, 17, 40] {
            let r = s.call(&format!("l-{n}")).await.unwrap().unwrap();
            assert_eq!(r.hold_ms, 100 * n);
            assert_eq!(r.priority, n);
            assert_eq!(r.quality, vec![leg("caller", n as u64 * 10, 4.0)]);
            assert_eq!(
                s.call_event_kinds(&format!("l-{n}")).await.unwrap().len(),
                9
            );
        }
    }
);

/// A call that meets every kind more than once: queues, agents, holds, transfers and ends.
fn busy_life(id: &str, first: CustomerId, second: CustomerId) -> Vec<CallEvent> {
    let mut seq = 0;
    let mut next = |kind: CallEventKind| {
        seq += 1;
        ev(id, seq - 1, kind)
    };
    vec![
        next(arrived("+12125550009")),
        next(CallEventKind::Identified { customer_id: first }),
        next(CallEventKind::Identified {
            customer_id: second,
        }),
        next(CallEventKind::Ivr {
            path: vec!["welcome".into()],
            inputs: serde_json::Map::new(),
        }),
        next(CallEventKind::Ivr {
            path: vec!["welcome".into(), "billing".into()],
            inputs: serde_json::Map::from_iter([("menu".to_string(), "2".into())]),
        }),
        next(CallEventKind::Enqueued {
            queue_id: "sales".into(),
            priority: 1,
        }),
        next(CallEventKind::Offered {
            agent_id: "alice".into(),
        }),
        next(CallEventKind::Answered {
            agent_id: "alice".into(),
        }),
        next(CallEventKind::Held),
        next(CallEventKind::Resumed { hold_ms: 700 }),
        next(CallEventKind::Note {
            what: "monitor".into(),
            detail: serde_json::json!({"mode": "listen"}),
        }),
        next(CallEventKind::Transferred {
            to: "billing".into(),
        }),
        next(CallEventKind::Enqueued {
            queue_id: "billing".into(),
            priority: 5,
        }),
        next(CallEventKind::Offered {
            agent_id: "bob".into(),
        }),
        next(CallEventKind::Answered {
            agent_id: "bob".into(),
        }),
        next(CallEventKind::Resumed { hold_ms: -5 }),
        next(CallEventKind::Resumed { hold_ms: 300 }),
        next(CallEventKind::Transferred { to: "ext".into() }),
        next(CallEventKind::Quality(leg("agent", 7, 4.1))),
        next(ended("agent_hangup", false)),
        next(ended("late duplicate end", true)),
    ]
}

both_backends!(
    repeated_kinds_in_one_batch_match_one_by_one,
    async |db: &TestDb| {
        let s = &db.store;
        let mut ids = Vec::new();
        for n in [1, 2] {
            let customer = NewCustomer {
                display_name: format!("Customer {n}"),
                tier: "standard".into(),
                ..Default::default()
            };
            ids.push(s.create_customer(&customer, T0).await.unwrap());
        }
        assert!(
            s.record_call_events(&busy_life("m-1", ids[0], ids[1]))
                .await
                .unwrap()
                .is_empty()
        );
        for e in busy_life("r-m-1", ids[0], ids[1]) {
            s.record_call_event(&e).await.unwrap();
        }
        let r = row(s, "m-1").await;
        assert_eq!(r, row(s, "r-m-1").await);
        assert_eq!(r.customer_id, Some(ids[1]));
        assert_eq!(r.ivr_path, vec!["welcome", "billing"]);
        assert_eq!((r.queue_id.as_deref(), r.priority), (Some("billing"), 5));
        assert_eq!(r.enqueued_at, Some(T0 + 5000));
        assert_eq!(r.offered_at, Some(T0 + 6000));
        assert_eq!(r.answered_at, Some(T0 + 7000));
        assert_eq!(r.agent_id.as_deref(), Some("bob"));
        assert_eq!((r.hold_ms, r.transfers), (1000, 2));
        assert_eq!(r.ended_at, Some(T0 + 19000));
        assert_eq!(r.end_reason.as_deref(), Some("agent_hangup"));
        assert!(r.abandoned, "the last end's flag, as one by one");
    }
);

both_backends!(
    an_event_before_its_calls_arrival_is_refused_as_alone,
    async |db: &TestDb| {
        let s = &db.store;
        // Out of order: the answer of o-1 is queued before o-1 arrives. Alone it would find no
        // row; in the batch it must not ride on the arrival that follows it.
        let batch = vec![
            ev("o-2", 0, arrived("+12125550002")),
            ev(
                "o-1",
                1,
                CallEventKind::Answered {
                    agent_id: "alice".into(),
                },
            ),
            ev("o-1", 0, arrived("+12125550001")),
            ev(
                "o-2",
                1,
                CallEventKind::Answered {
                    agent_id: "bob".into(),
                },
            ),
            ev("o-1", 2, ended("normal", false)),
        ];
        let refused = s.record_call_events(&batch).await.unwrap();
        let indices: Vec<usize> = refused.iter().map(|r| r.index).collect();
        assert_eq!(indices, vec![1]);
        assert!(matches!(refused[0].error, Error::NotFound(_)));
        let o1 = s.call("o-1").await.unwrap().unwrap();
        assert_eq!((o1.answered_at, o1.agent_id), (None, None));
        assert_eq!(o1.ended_at, Some(T0 + 2000));
        assert_eq!(
            s.call("o-2").await.unwrap().unwrap().agent_id.as_deref(),
            Some("bob")
        );
        assert_eq!(
            s.call_event_kinds("o-1").await.unwrap(),
            vec!["arrived", "ended"]
        );
    }
);
