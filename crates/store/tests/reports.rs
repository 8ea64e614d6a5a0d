//! KPI reports from a fixed event log with hand-computed expected values (docs/kpis.md), on
//! SQLite and, when `HOTLINE_TEST_PG_URL` is set, PostgreSQL.
//!
//! The log: queue `sales` in the first half hour has c1 (answered by alice after 10 s, 30 s on
//! hold, 120 s talk+hold, 30 s wrap-up, resolved, but the same customer calls again: not FCR),
//! c2 (answered by bob after 30 s, one transfer, 210 s talk, 20 s wrap-up, resolved: FCR), c3 (a
//! 3 s short abandon) and c4 (abandoned after 40 s). Queue `billing` in the second half hour has
//! c5, a callback from c1's customer, answered by alice after 5 s, 100 s talk, no wrap-up state
//! (the outcome's 7 s wrap-up is used), disposition not resolved.

mod common;

use common::TestDb;
use hotline_store::reports::{KpiGroup, KpiRow, KpiSettings, kpi_csv};
use hotline_store::{
    AgentStateEvent, CallEvent, CallEventKind, Direction, Disposition, NewCustomer, Outcome,
};

const T0: i64 = 1_700_000_000_000;
const S: i64 = 1000;

async fn ev(db: &TestDb, call: &str, seq: i64, at_s: i64, kind: CallEventKind) {
    db.store
        .record_call_event(&CallEvent {
            call_id: call.into(),
            seq,
            at: T0 + at_s * S,
            kind,
        })
        .await
        .expect("call event");
}

async fn st(db: &TestDb, agent: &str, at_s: i64, state: &str, call: Option<&str>) {
    db.store
        .record_agent_state(&AgentStateEvent {
            agent_id: agent.into(),
            at: T0 + at_s * S,
            state: state.into(),
            reason: None,
            call_id: call.map(String::from),
        })
        .await
        .expect("state");
}

async fn outcome(db: &TestDb, call: &str, agent: &str, disposition: &str, wrapup_ms: i64) {
    db.store
        .write_outcome(&Outcome {
            call_id: call.into(),
            agent_id: agent.into(),
            disposition: disposition.into(),
            notes: String::new(),
            wrapup_ms,
            ticket_id: None,
            at: T0,
        })
        .await
        .expect("outcome");
}

/// A queued call: arrived, (identified), enqueued at `enq`.
async fn queued(db: &TestDb, call: &str, dir: Direction, customer: Option<i64>, enq: i64, q: &str) {
    ev(
        db,
        call,
        0,
        enq,
        CallEventKind::Arrived {
            direction: dir,
            ani: format!("+1555010{}", call.len()),
            dnis: "800".into(),
        },
    )
    .await;
    if let Some(c) = customer {
        ev(
            db,
            call,
            1,
            enq,
            CallEventKind::Identified { customer_id: c },
        )
        .await;
    }
    ev(
        db,
        call,
        2,
        enq,
        CallEventKind::Enqueued {
            queue_id: q.into(),
            priority: 0,
        },
    )
    .await;
}

async fn fixture(db: &TestDb) {
    for (code, resolved) in [("resolved", true), ("callback", false)] {
        db.store
            .upsert_disposition(&Disposition {
                code: code.into(),
                label: code.into(),
                resolved,
            })
            .await
            .expect("disposition");
    }
    let cust = db
        .store
        .create_customer(
            &NewCustomer {
                display_name: "Repeat Caller".into(),
                tier: "gold".into(),
                ..Default::default()
            },
            T0,
        )
        .await
        .expect("customer");
    // c1: alice
    queued(db, "c1", Direction::Inbound, Some(cust), 0, "sales").await;
    ev(
        db,
        "c1",
        3,
        5,
        CallEventKind::Offered {
            agent_id: "alice".into(),
        },
    )
    .await;
    ev(
        db,
        "c1",
        4,
        10,
        CallEventKind::Answered {
            agent_id: "alice".into(),
        },
    )
    .await;
    ev(db, "c1", 5, 40, CallEventKind::Held).await;
    ev(db, "c1", 6, 70, CallEventKind::Resumed { hold_ms: 30_000 }).await;
    ev(
        db,
        "c1",
        7,
        130,
        CallEventKind::Ended {
            reason: "remote_hangup".into(),
            abandoned: false,
        },
    )
    .await;
    outcome(db, "c1", "alice", "resolved", 0).await;
    // c2: bob, unknown caller, one transfer
    queued(db, "c2", Direction::Inbound, None, 60, "sales").await;
    ev(
        db,
        "c2",
        3,
        85,
        CallEventKind::Offered {
            agent_id: "bob".into(),
        },
    )
    .await;
    ev(
        db,
        "c2",
        4,
        90,
        CallEventKind::Answered {
            agent_id: "bob".into(),
        },
    )
    .await;
    ev(
        db,
        "c2",
        5,
        100,
        CallEventKind::Transferred {
            to: "billing".into(),
        },
    )
    .await;
    ev(
        db,
        "c2",
        6,
        300,
        CallEventKind::Ended {
            reason: "remote_hangup".into(),
            abandoned: false,
        },
    )
    .await;
    outcome(db, "c2", "bob", "resolved", 0).await;
    // c3: short abandon; c4: abandon
    queued(db, "c3x", Direction::Inbound, None, 120, "sales").await;
    ev(
        db,
        "c3x",
        3,
        123,
        CallEventKind::Ended {
            reason: "abandoned".into(),
            abandoned: true,
        },
    )
    .await;
    queued(db, "c4xx", Direction::Inbound, None, 200, "sales").await;
    ev(
        db,
        "c4xx",
        3,
        240,
        CallEventKind::Ended {
            reason: "abandoned".into(),
            abandoned: true,
        },
    )
    .await;
    // c5: callback from c1's customer, second half hour, billing
    queued(db, "c5", Direction::Callback, Some(cust), 1900, "billing").await;
    ev(
        db,
        "c5",
        3,
        1900,
        CallEventKind::Offered {
            agent_id: "alice".into(),
        },
    )
    .await;
    ev(
        db,
        "c5",
        4,
        1905,
        CallEventKind::Answered {
            agent_id: "alice".into(),
        },
    )
    .await;
    ev(
        db,
        "c5",
        5,
        2005,
        CallEventKind::Ended {
            reason: "agent_hangup".into(),
            abandoned: false,
        },
    )
    .await;
    outcome(db, "c5", "alice", "callback", 7_000).await;
    // Agent states.
    st(db, "alice", -60, "not_ready", None).await;
    st(db, "alice", 0, "ready", None).await;
    st(db, "alice", 5, "reserved", Some("c1")).await;
    st(db, "alice", 10, "on_call", Some("c1")).await;
    st(db, "alice", 40, "on_hold", Some("c1")).await;
    st(db, "alice", 70, "on_call", Some("c1")).await;
    st(db, "alice", 130, "wrap_up", Some("c1")).await;
    st(db, "alice", 160, "ready", None).await;
    st(db, "alice", 1900, "reserved", Some("c5")).await;
    st(db, "alice", 1905, "on_call", Some("c5")).await;
    st(db, "alice", 2005, "ready", None).await;
    st(db, "alice", 3000, "not_ready", None).await;
    st(db, "bob", 60, "ready", None).await;
    st(db, "bob", 85, "reserved", Some("c2")).await;
    st(db, "bob", 90, "on_call", Some("c2")).await;
    st(db, "bob", 300, "wrap_up", Some("c2")).await;
    st(db, "bob", 320, "not_ready", None).await;
}

fn approx(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

both_backends!(
    queue_kpis_match_hand_computed_values,
    async |db: &TestDb| {
        fixture(db).await;
        let s = KpiSettings::default();
        let rows = db
            .store
            .kpis(T0, T0 + 3600 * S, KpiGroup::Queue, &s)
            .await
            .expect("kpis");
        assert_eq!(rows.len(), 2, "{rows:#?}");
        let sales = &rows[0];
        assert_eq!((sales.interval_start, sales.key.as_str()), (T0, "sales"));
        assert_eq!(
            (
                sales.offered,
                sales.answered,
                sales.abandoned,
                sales.short_abandoned
            ),
            (3, 2, 1, 1)
        );
        assert_eq!(sales.answered_in_sl, 1);
        assert!(approx(sales.service_level, 1.0 / 3.0), "{sales:?}");
        assert_eq!(sales.asa_ms, Some(20_000)); // (10 s + 30 s) / 2
        assert_eq!(sales.handled, 2);
        assert_eq!(sales.aht_ms, Some(190_000)); // (120+30 + 210+20) / 2
        assert_eq!((sales.transfers, sales.callbacks), (1, 0));
        assert_eq!((sales.fcr_eligible, sales.fcr_resolved), (2, 1));
        assert!(approx(sales.fcr, 0.5));
        assert_eq!(sales.occupancy, None);
        let billing = &rows[1];
        assert_eq!(
            (billing.interval_start, billing.key.as_str()),
            (T0 + 1800 * S, "billing")
        );
        assert_eq!(
            (billing.offered, billing.answered, billing.abandoned),
            (1, 1, 0)
        );
        assert!(approx(billing.service_level, 1.0));
        assert_eq!(billing.asa_ms, Some(5_000));
        assert_eq!(billing.aht_ms, Some(107_000)); // 100 s talk + 7 s wrap-up from the outcome
        assert_eq!(billing.callbacks, 1);
        assert!(approx(billing.fcr, 0.0));

        // Settings vendors disagree on: short abandons counted, abandons left out of SL.
        let other = KpiSettings {
            exclude_short_abandons: false,
            sl_counts_abandons: false,
            interval_mins: 60,
            ..KpiSettings::default()
        };
        let rows = db
            .store
            .kpis(T0, T0 + 3600 * S, KpiGroup::Queue, &other)
            .await
            .expect("kpis");
        let sales = rows.iter().find(|r| r.key == "sales").expect("sales");
        assert_eq!(
            (sales.offered, sales.abandoned, sales.short_abandoned),
            (4, 2, 1)
        );
        assert!(approx(sales.service_level, 0.5)); // 1 of 2 answered
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.interval_start == T0));
    }
);

both_backends!(
    agent_kpis_match_hand_computed_values,
    async |db: &TestDb| {
        fixture(db).await;
        let rows: Vec<KpiRow> = db
            .store
            .kpis(T0, T0 + 3600 * S, KpiGroup::Agent, &KpiSettings::default())
            .await
            .expect("kpis");
        let keys: Vec<(i64, &str)> = rows
            .iter()
            .map(|r| ((r.interval_start - T0) / S, r.key.as_str()))
            .collect();
        assert_eq!(keys, [(0, "alice"), (0, "bob"), (1800, "alice")]);
        let (a1, b1, a2) = (&rows[0], &rows[1], &rows[2]);
        assert_eq!((a1.offered, a1.answered, a1.answered_in_sl), (1, 1, 1));
        assert_eq!((a1.asa_ms, a1.aht_ms), (Some(10_000), Some(150_000)));
        assert!(
            approx(a1.fcr, 0.0),
            "customer called again within the window"
        );
        // alice, first half hour: busy 5..160 s = 155 s; ready 0..5 and 160..1800 = 1645 s.
        assert!(approx(a1.occupancy, 155.0 / 1800.0), "{a1:?}");
        assert_eq!((b1.offered, b1.answered, b1.answered_in_sl), (1, 1, 0));
        assert!(approx(b1.service_level, 0.0));
        assert_eq!(
            (b1.asa_ms, b1.aht_ms, b1.transfers),
            (Some(30_000), Some(230_000), 1)
        );
        assert!(approx(b1.fcr, 1.0));
        // bob: ready 60..85 = 25 s, busy 85..320 = 235 s.
        assert!(approx(b1.occupancy, 235.0 / 260.0));
        // alice, second half hour: ready 1800..1900 and 2005..3000 = 1095 s, busy 1900..2005 = 105 s.
        assert_eq!((a2.offered, a2.answered, a2.callbacks), (1, 1, 1));
        assert_eq!(a2.aht_ms, Some(107_000));
        assert!(approx(a2.occupancy, 105.0 / 1200.0));

        let csv = kpi_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("interval_start,key,offered,answered"));
        assert!(
            lines[2].starts_with(&format!(
                "{T0},bob,1,1,0,0,0,0.0000,30000,1,230000,1,0,1,1,1.0000,0.9038"
            )),
            "{}",
            lines[2]
        );
    }
);

// Issue 14: a report for today has no occupancy in intervals still to come (an agent on a call
// "now" is not busy until midnight), logged-out time is not in occupancy, and a trunk that an
// offer names in the agent column is not listed as an agent.
both_backends!(
    occupancy_stops_now_and_trunks_are_not_agents,
    async |db: &TestDb| {
        // carol: ready 0-600 s, on a call from 600 s and still on it at "now" (1800 s);
        // dave: ready 0-900 s, logged out from 900 s.
        st(db, "carol", 0, "ready", None).await;
        st(db, "carol", 600, "on_call", Some("c9")).await;
        st(db, "dave", 0, "ready", None).await;
        st(db, "dave", 900, "logged_out", None).await;
        ev(
            db,
            "c9",
            1,
            580,
            CallEventKind::Arrived {
                direction: Direction::Outbound,
                ani: "+15550100".into(),
                dnis: "+12125550113".into(),
            },
        )
        .await;
        ev(
            db,
            "c9",
            2,
            590,
            CallEventKind::Offered {
                agent_id: "trunk:pstn".into(),
            },
        )
        .await;
        let settings = KpiSettings {
            interval_mins: 30,
            until: Some(T0 + 1800 * S),
            ..KpiSettings::default()
        };
        let rows = db
            .store
            .kpis(T0, T0 + 7200 * S, KpiGroup::Agent, &settings)
            .await
            .expect("report");
        let keys: Vec<(i64, &str)> = rows
            .iter()
            .map(|r| ((r.interval_start - T0) / S, r.key.as_str()))
            .collect();
        // Only the first half hour has rows: nothing after "now", no trunk row.
        assert_eq!(keys, vec![(0, "carol"), (0, "dave")], "{rows:?}");
        let carol = &rows[0];
        // 600 s ready, 1200 s busy up to now: 2/3.
        assert!((carol.occupancy.expect("occupancy") - 2.0 / 3.0).abs() < 1e-9);
        // dave was ready then logged out: 0 % over his logged-in time, not 100 %.
        assert_eq!(rows[1].occupancy, Some(0.0));
    }
);
