//! The supervisor's Reports tab, by labels, over a real SQLite file: a fixed event log written
//! through `hotline-store` (as the switch and the desktop write it) is loaded on the reports
//! worker thread, and the view shows the hand-computed figures per queue and per agent; Export
//! CSV writes the store's CSV with the same rows. Agents have no Reports tab; without a database
//! the load fails with a message. The call list shows the day's calls, and a call's detail its
//! per leg media quality (packet loss, jitter, MOS) graded good, fair or poor.
//!
//! The log, 2026-11-23 (UTC), queue `sales`, all in the 09:00-09:30 interval:
//! c1 waits 10 s, alice talks 120 s, 30 s wrap-up, resolved;
//! c2 waits 30 s (outside the 20 s service level), bob talks 170 s, 20 s wrap-up, resolved;
//! c3 waits 5 s, alice talks 60 s, 20 s wrap-up, disposition `callback` (not resolved);
//! c4 hangs up after 40 s in the queue (an abandon, not a short one).
//! So: offered 4, answered 3, abandoned 1, service level 2 / (3 + 1) = 50 %, ASA 45 / 3 = 15 s,
//! AHT (150 + 190 + 80) / 3 = 140 s, FCR 2 / 3. Alice is busy 155 + 83 s of the 1800 s
//! interval (occupancy 13.2 %), Bob 195 s (10.8 %).
//! c1's media: the caller's leg clean (0.2 % loss, 3.4 ms jitter, MOS 4.35: good), alice's
//! leg lossy (2.5 %, 41 ms, MOS 3.41: poor); the other calls have no figures.

mod common;

use std::time::Duration;

use common::Desk;
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use hotline_cti::Role;
use hotline_desktop::reports::{ReportsLink, StoreReports};
use hotline_desktop::sample;
use hotline_store::reports::kpi_csv;
use hotline_store::{
    AgentStateEvent, CallEvent, CallEventKind, Direction, Disposition, LegQuality, Outcome, Store,
    StoreOptions,
};

/// 2026-11-23 09:00 UTC.
const H9: i64 = 1_795_392_000_000 + 9 * 3_600_000;
const S: i64 = 1000;

async fn ev(store: &Store, call: &str, seq: i64, at_s: i64, kind: CallEventKind) {
    store
        .record_call_event(&CallEvent {
            call_id: call.into(),
            seq,
            at: H9 + at_s * S,
            kind,
        })
        .await
        .expect("call event");
}

async fn st(store: &Store, agent: &str, at_s: i64, state: &str, call: Option<&str>) {
    store
        .record_agent_state(&AgentStateEvent {
            agent_id: agent.into(),
            at: H9 + at_s * S,
            state: state.into(),
            reason: None,
            call_id: call.map(String::from),
        })
        .await
        .expect("agent state");
}

/// One queued call: arrives and is queued at `enq`; answered by `agent` at `ans` (offered 5 s
/// earlier, or at `enq` if sooner) and ended at `end`, or abandoned at `end`.
async fn call(store: &Store, id: &str, n: u32, enq: i64, agent: Option<(&str, i64)>, end: i64) {
    let arrived = CallEventKind::Arrived {
        direction: Direction::Inbound,
        ani: format!("+1555000{n}"),
        dnis: "800".into(),
    };
    ev(store, id, 0, enq, arrived).await;
    let enqueued = CallEventKind::Enqueued {
        queue_id: "sales".into(),
        priority: 0,
    };
    ev(store, id, 1, enq, enqueued).await;
    match agent {
        Some((agent, ans)) => {
            let offered = CallEventKind::Offered {
                agent_id: agent.into(),
            };
            ev(store, id, 2, (ans - 5).max(enq), offered).await;
            let answered = CallEventKind::Answered {
                agent_id: agent.into(),
            };
            ev(store, id, 3, ans, answered).await;
            let ended = CallEventKind::Ended {
                reason: "remote_hangup".into(),
                abandoned: false,
            };
            ev(store, id, 4, end, ended).await;
        }
        None => {
            let ended = CallEventKind::Ended {
                reason: "abandoned".into(),
                abandoned: true,
            };
            ev(store, id, 2, end, ended).await;
        }
    }
}

async fn outcome(store: &Store, call: &str, agent: &str, disposition: &str) {
    store
        .write_outcome(&Outcome {
            call_id: call.into(),
            agent_id: agent.into(),
            disposition: disposition.into(),
            notes: String::new(),
            wrapup_ms: 0,
            ticket_id: None,
            at: H9,
        })
        .await
        .expect("outcome");
}

async fn fixture(url: &str) {
    let store = Store::open(url, StoreOptions::default())
        .await
        .expect("store");
    for (code, resolved) in [("resolved", true), ("callback", false)] {
        store
            .upsert_disposition(&Disposition {
                code: code.into(),
                label: code.into(),
                resolved,
            })
            .await
            .expect("disposition");
    }
    call(&store, "c1", 1, 0, Some(("alice", 10)), 130).await;
    call(&store, "c2", 2, 300, Some(("bob", 330)), 500).await;
    call(&store, "c3", 3, 600, Some(("alice", 605)), 665).await;
    call(&store, "c4", 4, 1200, None, 1240).await;
    let caller = LegQuality {
        leg: "caller".into(),
        agent_id: None,
        packets: 6000,
        lost: 12,
        loss_percent: 0.2,
        jitter_ms: 3.4,
        mos: 4.35,
        remote_loss_percent: None,
        remote_jitter_ms: None,
        rtt_ms: None,
    };
    let alice = LegQuality {
        leg: "agent".into(),
        agent_id: Some("alice".into()),
        packets: 5850,
        lost: 150,
        loss_percent: 2.5,
        jitter_ms: 41.0,
        mos: 3.41,
        remote_loss_percent: Some(0.4),
        remote_jitter_ms: Some(2.0),
        rtt_ms: Some(18.0),
    };
    ev(&store, "c1", 5, 130, CallEventKind::Quality(alice)).await;
    ev(&store, "c1", 6, 130, CallEventKind::Quality(caller)).await;
    outcome(&store, "c1", "alice", "resolved").await;
    outcome(&store, "c2", "bob", "resolved").await;
    outcome(&store, "c3", "alice", "callback").await;
    for (at, state, call) in [
        (0, "ready", None),
        (5, "reserved", Some("c1")),
        (10, "on_call", Some("c1")),
        (130, "wrap_up", Some("c1")),
        (160, "ready", None),
        (602, "reserved", Some("c3")),
        (605, "on_call", Some("c3")),
        (665, "wrap_up", Some("c3")),
        (685, "ready", None),
        (1800, "not_ready", None),
    ] {
        st(&store, "alice", at, state, call).await;
    }
    for (at, state, call) in [
        (0, "ready", None),
        (325, "reserved", Some("c2")),
        (330, "on_call", Some("c2")),
        (500, "wrap_up", Some("c2")),
        (520, "ready", None),
        (1800, "not_ready", None),
    ] {
        st(&store, "bob", at, state, call).await;
    }
    store.close().await;
}

/// A supervisor's desk whose reports come from a worker thread over a SQLite file holding the
/// fixed log.
fn desk_over_log(dir: &std::path::Path) -> Desk {
    let url = format!("sqlite://{}", dir.join("hotline.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(fixture(&url));
    let source = StoreReports::open(&url).expect("reports source");
    let link = ReportsLink::spawn(Box::new(source), Box::new(|| {})).expect("reports thread");
    let mut desk = Desk::with_reports(link);
    // The evening of the logged day (20:40 UTC): the log is in the past, reports count no data
    // after "now".
    desk.clock.advance(Duration::from_secs(19 * 3600 + 20 * 60));
    let wall = desk.wall();
    desk.feed(sample::login_as(Role::Supervisor, wall));
    desk
}

/// Runs frames until the worker has answered (bounded: fails after 10 s). Single steps while
/// waiting: the spinner repaints for as long as the load runs.
fn settle(desk: &mut Desk, done: impl Fn(&Desk) -> bool) {
    for _ in 0..500 {
        desk.harness.step();
        if done(desk) {
            desk.harness.run();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the reports worker did not answer");
}

/// Replaces the text of the field labelled `label`, as a person would (select all, type).
fn retype(desk: &mut Desk, label: &str, text: &str) {
    desk.harness.get_by_label(label).focus();
    desk.harness.run();
    desk.harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    desk.harness.run();
    desk.harness.get_by_label(label).type_text(text);
    desk.harness.run();
}

#[test]
fn agents_have_no_reports() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    assert!(desk.harness.query_by_label("Reports").is_none());
}

#[test]
fn without_a_database_loading_says_why() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login_as(Role::Supervisor, wall));
    desk.harness.get_by_label("Reports").click();
    desk.harness.run();
    desk.harness.get_by_label("No report loaded");
    desk.harness.get_by_label("Load report").click();
    desk.harness.run();
    desk.harness
        .get_by_label("Cannot load the report: no database configured (--database)");
}

#[test]
fn reports_show_hand_computed_kpis_and_export_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut desk = desk_over_log(dir.path());
    desk.harness.get_by_label("Reports").click();
    desk.harness.run();
    // The day defaults to today (the test clock's 2026-11-23); 30-minute intervals.
    assert_eq!(
        desk.harness.get_by_label("Day").value().as_deref(),
        Some("2026-11-23")
    );
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness.state().state.reports.report.is_some()
    });

    desk.harness
        .get_by_label("Day total: offered 4 · answered 3 · abandoned 1 · service level 50.0 %");
    desk.harness.get_by_label("Calls per interval");
    // The queue table: one row, 09:00-09:30, sales.
    desk.harness.get_by_label("09:00-09:30");
    desk.harness.get_by_label("sales");
    desk.harness.get_by_label("50.0 %"); // service level
    desk.harness.get_by_label("15 s"); // ASA
    desk.harness.get_by_label("140 s"); // AHT
    desk.harness.get_by_label("66.7 %"); // FCR
    let report = desk
        .harness
        .state()
        .state
        .reports
        .report
        .clone()
        .expect("report");
    assert_eq!(report.queues.len(), 1);
    let q = &report.queues[0];
    assert_eq!(
        (
            q.interval_start,
            q.offered,
            q.answered,
            q.abandoned,
            q.short_abandoned
        ),
        (H9, 4, 3, 1, 0)
    );
    assert_eq!(report.intervals.len(), 48, "every half hour of the day");

    // Per agent.
    desk.harness.get_by_label("By agent").click();
    desk.harness.run();
    desk.harness.get_by_label("alice");
    desk.harness.get_by_label("bob");
    desk.harness.get_by_label("13.2 %"); // alice's occupancy
    desk.harness.get_by_label("10.8 %"); // bob's
    desk.harness.get_by_label("115 s"); // alice's AHT: (150 + 80) / 2
    desk.harness.get_by_label("190 s"); // bob's
    assert!(desk.harness.query_by_label("sales").is_none());

    // Export the agent rows.
    let csv = dir.path().join("agents.csv");
    retype(&mut desk, "CSV file", &csv.display().to_string());
    desk.harness.get_by_label("Export CSV").click();
    settle(&mut desk, |d| {
        d.harness.state().state.reports.export.is_some()
    });
    desk.harness
        .get_by_label(&format!("Wrote 2 rows to {}", csv.display()));
    let written = std::fs::read_to_string(&csv).expect("csv written");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines,
        vec![
            "interval_start,key,offered,answered,abandoned,short_abandoned,answered_in_sl,service_level,asa_ms,handled,aht_ms,transfers,callbacks,fcr_eligible,fcr_resolved,fcr,occupancy",
            &format!("{H9},alice,2,2,0,0,2,1.0000,7500,2,115000,0,0,2,1,0.5000,0.1322"),
            &format!("{H9},bob,1,1,0,0,0,0.0000,30000,1,190000,0,0,1,1,1.0000,0.1083"),
        ]
    );
    assert_eq!(
        written,
        kpi_csv(&report.agents),
        "the store's CSV, unchanged"
    );

    // Hourly intervals: the same totals; an empty day has no chart.
    desk.harness.get_by_label("60 min").click();
    desk.harness.run();
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness
            .state()
            .state
            .reports
            .report
            .as_ref()
            .is_some_and(|r| r.query.settings.interval_mins == 60)
    });
    assert_eq!(
        desk.harness.query_all_by_label("09:00-10:00").count(),
        2,
        "alice's and bob's rows"
    );
    desk.harness
        .get_by_label("Day total: offered 4 · answered 3 · abandoned 1 · service level 50.0 %");
    // Abandons out of the service-level denominator: 2 of 3 answered in time.
    desk.harness
        .get_by_label("Abandons count against service level")
        .click();
    desk.harness.run();
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness
            .state()
            .state
            .reports
            .report
            .as_ref()
            .is_some_and(|r| !r.query.settings.sl_counts_abandons)
    });
    desk.harness
        .get_by_label("Day total: offered 4 · answered 3 · abandoned 1 · service level 66.7 %");
    // Callers who give up within 60 s are short abandons: c4 (40 s) leaves offered and abandoned.
    desk.harness
        .get_by_role_and_label(egui::accesskit::Role::SpinButton, "Short abandon under")
        .set_value_accesskit(60.0);
    desk.harness.run();
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness
            .state()
            .state
            .reports
            .report
            .as_ref()
            .is_some_and(|r| r.query.settings.short_abandon_ms == 60_000)
    });
    desk.harness
        .get_by_label("Day total: offered 3 · answered 3 · abandoned 0 · service level 66.7 %");
    retype(&mut desk, "Day", "2026-11-22");
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness
            .state()
            .state
            .reports
            .report
            .as_ref()
            .is_some_and(|r| r.query.day == H9 - 9 * 3_600_000 - 86_400_000)
    });
    desk.harness.get_by_label("No calls on this day");
    retype(&mut desk, "Day", "2026-02-30");
    desk.harness.get_by_label("Not a date (YYYY-MM-DD)");
    assert!(
        egui_kittest::kittest::NodeT::accesskit_node(&desk.harness.get_by_label("Load report"))
            .is_disabled()
    );
}

/// The preview's sample day (`--preview-reports`) goes through the same store writers and
/// reports: calls between 08:00 and 18:00, every figure consistent, answered calls with both
/// legs' quality (some poor), and the same day twice gives the same report.
#[test]
fn sample_day_makes_a_consistent_report() {
    let load = || {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("sample.db").display());
        let day = H9 - 9 * 3_600_000;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let store = Store::open(&url, StoreOptions::default())
                .await
                .expect("store");
            sample::seed_day(&store, day).await.expect("seeded");
            store.close().await;
        });
        drop(runtime);
        let mut link = ReportsLink::inline(Box::new(StoreReports::open(&url).expect("source")));
        let query = hotline_desktop::reports::ReportQuery::new(day, 60);
        assert!(link.ask(hotline_desktop::reports::ReportRequest::Load(query)));
        match link.poll().pop() {
            Some(hotline_desktop::reports::ReportAnswer::Loaded { report, .. }) => {
                report.expect("report")
            }
            other => panic!("unexpected answer {other:?}"),
        }
    };
    let report = load();
    assert!(report.total.offered > 100, "{:?}", report.total);
    assert!(report.total.abandoned > 0 && report.total.answered > 0);
    let (first, last) = report.busy_span().expect("calls");
    assert_eq!(first, H9 - 3_600_000, "from 08:00");
    assert_eq!(last, H9 + 8 * 3_600_000, "to the 17:00 hour");
    for r in report.queues.iter().chain(&report.agents) {
        assert!(
            r.answered_in_sl <= r.answered && r.handled <= r.answered,
            "{r:?}"
        );
        assert!(r.fcr_resolved <= r.fcr_eligible, "{r:?}");
        assert!(
            r.occupancy.is_none_or(|o| (0.0..=1.0).contains(&o)),
            "{r:?}"
        );
    }
    for q in &report.queues {
        assert!(q.answered + q.abandoned <= q.offered, "{q:?}");
    }
    let agent_answered: u32 = report.agents.iter().map(|r| r.answered).sum();
    assert_eq!(agent_answered, report.total.answered);
    // The call list: the latest 200 of the day, each answered call with both legs' figures.
    assert_eq!(report.calls.len(), hotline_desktop::reports::MAX_DAY_CALLS);
    assert!(report.more_calls);
    assert!(
        report
            .calls
            .windows(2)
            .all(|w| w[0].arrived_at >= w[1].arrived_at)
    );
    for c in &report.calls {
        let legs = if c.answered_at.is_some() { 2 } else { 0 };
        assert_eq!(c.legs.len(), legs, "{}", c.id);
    }
    let grades: Vec<_> = report
        .calls
        .iter()
        .filter_map(|c| hotline_desktop::quality::Grade::of_call(&c.legs))
        .collect();
    assert!(grades.contains(&hotline_desktop::quality::Grade::Good));
    assert!(grades.contains(&hotline_desktop::quality::Grade::Poor));
    assert_eq!(report, load(), "deterministic");
}

/// Issue 14: days and times in the centre's time zone (here UTC+08:00, a Chinese centre): the
/// log's 09:00 UTC is 17:00 there, the report says which zone, and "today" is the centre's.
#[test]
fn reports_use_the_centres_time_zone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut desk = desk_over_log(dir.path());
    desk.harness.state_mut().state.centre_offset_ms = 8 * 3_600_000;
    desk.harness.get_by_label("Reports").click();
    desk.harness.run();
    // 20:40 UTC is already 04:40 the next day in the centre.
    assert_eq!(
        desk.harness.get_by_label("Day").value().as_deref(),
        Some("2026-11-24")
    );
    retype(&mut desk, "Day", "2026-11-23");
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness.state().state.reports.report.is_some()
    });
    desk.harness
        .get_by_label_contains("2026-11-23 in 30 minute intervals (UTC+08:00)");
    desk.harness.get_by_label("17:00-17:30");
    assert!(desk.harness.query_by_label("09:00-09:30").is_none());
    desk.harness
        .get_by_label("Day total: offered 4 · answered 3 · abandoned 1 · service level 50.0 %");
}

/// Issue 13: the call list shows the day's calls, newest first, each rated by its worst leg; a
/// click on a caller's number opens the call's detail with each leg's packet loss, jitter and
/// MOS from the stored `quality`, graded, and what the phone reported. Export is for KPI rows.
#[test]
fn the_call_list_shows_each_legs_quality() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut desk = desk_over_log(dir.path());
    desk.harness.get_by_label("Reports").click();
    desk.harness.run();
    desk.harness.get_by_label("Load report").click();
    settle(&mut desk, |d| {
        d.harness.state().state.reports.report.is_some()
    });
    desk.harness.get_by_label("Call list").click();
    desk.harness.run();
    desk.harness.get_by_label(
        "Calls on this day: 4. Click a caller's number for the call's detail and quality.",
    );
    let report = desk
        .harness
        .state()
        .state
        .reports
        .report
        .clone()
        .expect("report");
    let ids: Vec<&str> = report.calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["c4", "c3", "c2", "c1"], "newest first");
    assert!(!report.more_calls);
    // Only c1 has figures: its worst leg (alice's) rates the call.
    assert_eq!(desk.harness.query_all_by_label("poor").count(), 1);
    assert!(
        desk.harness.query_by_label("4.35").is_none(),
        "detail not open yet"
    );
    assert!(
        egui_kittest::kittest::NodeT::accesskit_node(&desk.harness.get_by_label("Export CSV"))
            .is_disabled(),
        "the call list is not a KPI table"
    );

    desk.harness.get_by_label("+15550001").click();
    desk.harness.run();
    desk.harness.get_by_label("Call c1 · +15550001");
    desk.harness.get_by_label(
        "Queue sales · agent alice · arrived 09:00 · answered 09:00 · ended 09:02 (remote_hangup)",
    );
    // The caller's leg: clean.
    desk.harness.get_by_label("0.2 %");
    desk.harness.get_by_label("3.4 ms");
    desk.harness.get_by_label("4.35");
    desk.harness.get_by_label("good");
    // Alice's leg: lossy, jittery, poor; with what her phone reported about our audio.
    desk.harness.get_by_label("2.5 %");
    desk.harness.get_by_label("41.0 ms");
    desk.harness.get_by_label("3.41");
    assert_eq!(
        desk.harness.query_all_by_label("poor").count(),
        2,
        "the call's row and alice's leg"
    );
    desk.harness
        .get_by_label("loss 0.4 % · jitter 2.0 ms · round trip 18 ms");
    desk.harness.get_by_label_contains("Good: MOS 4.0 or more");

    // A call without media figures says so.
    desk.harness.get_by_label("+15550002").click();
    desk.harness.run();
    desk.harness.get_by_label("Call c2 · +15550002");
    desk.harness.get_by_label(
        "No call quality figures for this call (its audio did not pass through the switch)",
    );
    assert!(desk.harness.query_by_label("4.35").is_none());
}
