//! The outbox keeps what an agent typed: records survive a failing database and a restart, a
//! torn last line from a crash is skipped, a resubmitted call replaces its earlier record, and
//! records the database refuses are kept aside instead of being retried forever. Ticket changes
//! from the worklist (take, close) ride in the same file, in order with outcomes.

use std::io::Write;
use std::time::{Duration, Instant};

use hotline_cti::{Pii, UnixMillis};
use hotline_desktop::outbox::{MemorySink, Outbox, OutcomeRecord, SinkError};

fn record(call: &str, disposition: &str) -> OutcomeRecord {
    OutcomeRecord {
        call: call.into(),
        agent: "1001".into(),
        disposition: disposition.into(),
        notes: Pii::new(format!("notes for {call}")),
        wrap_up_ms: 12_000,
        customer: Some("cust-42".into()),
        ticket: None,
        new_customer: None,
        link_customer: None,
        at: UnixMillis(1_795_396_800_000),
    }
}

#[test]
fn pending_records_survive_a_restart_and_are_written_once_the_database_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/outbox.jsonl");
    let mut sink = MemorySink::new();
    sink.set_failing(Some(SinkError::Unavailable("down".into())));
    let t0 = Instant::now();
    {
        let mut outbox = Outbox::open(&path).expect("open");
        outbox.submit(record("c1", "resolved")).expect("submit");
        outbox.submit(record("c2", "callback")).expect("submit");
        let report = outbox.flush(&mut sink, t0);
        assert_eq!(report.unavailable.as_deref(), Some("down"));
        assert_eq!(outbox.pending().len(), 2);
        assert_eq!(outbox.next_attempt(), Some(t0 + Duration::from_secs(2)));
        // Back-off doubles while the database stays down.
        let _ = outbox.flush(&mut sink, t0 + Duration::from_secs(2));
        assert_eq!(outbox.next_attempt(), Some(t0 + Duration::from_secs(6)));
    } // the desktop is closed

    let mut outbox = Outbox::open(&path).expect("reopen");
    assert_eq!(
        outbox
            .pending()
            .iter()
            .filter_map(|r| r.outcome().map(|o| o.call.as_str()))
            .collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    sink.set_failing(None);
    let report = outbox.flush(&mut sink, t0);
    assert_eq!(report.written, 2);
    assert!(outbox.pending().is_empty());
    assert_eq!(
        sink.get(&"c2".into(), &"1001".into())
            .map(|o| o.disposition.to_string()),
        Some("callback".into())
    );
    drop(outbox);
    let outbox = Outbox::open(&path).expect("reopen again");
    assert!(
        outbox.pending().is_empty(),
        "nothing is written twice after a restart"
    );
}

#[test]
fn a_torn_last_line_is_skipped_and_earlier_records_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("outbox.jsonl");
    {
        let mut outbox = Outbox::open(&path).expect("open");
        outbox.submit(record("c1", "resolved")).expect("submit");
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("append");
    f.write_all(br#"{"op":"put","outcome":{"call":"c2","ag"#)
        .expect("write");
    drop(f);
    let outbox = Outbox::open(&path).expect("open after crash");
    assert_eq!(outbox.skipped_lines(), 1);
    assert_eq!(outbox.pending().len(), 1);
    assert_eq!(
        outbox.pending()[0].outcome().map(|o| o.call.as_str()),
        Some("c1")
    );
}

#[test]
fn resubmitting_a_call_replaces_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut outbox = Outbox::open(dir.path().join("o.jsonl")).expect("open");
    let mut sink = MemorySink::new();
    sink.set_failing(Some(SinkError::Unavailable("down".into())));
    outbox.submit(record("c1", "resolved")).expect("submit");
    let _ = outbox.flush(&mut sink, Instant::now());
    outbox.submit(record("c1", "escalated")).expect("submit");
    assert_eq!(outbox.pending().len(), 1);
    sink.set_failing(None);
    // A new submit schedules an immediate attempt, whatever the back-off said.
    let report = outbox.flush(&mut sink, Instant::now());
    assert_eq!(report.written, 1);
    assert_eq!(sink.writes(), 1);
    assert_eq!(
        sink.get(&"c1".into(), &"1001".into())
            .map(|o| o.disposition.to_string()),
        Some("escalated".into())
    );
}

#[test]
fn refused_records_are_kept_aside_not_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("o.jsonl");
    let mut sink = MemorySink::new();
    let mut outbox = Outbox::open(&path).expect("open");
    sink.set_failing(Some(SinkError::Rejected("unknown disposition".into())));
    outbox.submit(record("c1", "nonsense")).expect("submit");
    let report = outbox.flush(&mut sink, Instant::now());
    assert_eq!(report.rejected.len(), 1);
    assert!(outbox.pending().is_empty());
    sink.set_failing(None);
    outbox.submit(record("c2", "resolved")).expect("submit");
    let report = outbox.flush(&mut sink, Instant::now());
    assert_eq!(report.written, 1);
    assert!(sink.get(&"c1".into(), &"1001".into()).is_none());
    drop(outbox);
    // The refused record is still on disk for a person to look at.
    let outbox = Outbox::open(&path).expect("reopen");
    assert_eq!(outbox.rejected().len(), 1);
    assert_eq!(outbox.rejected()[0].1, "unknown disposition");
    assert!(outbox.pending().is_empty());
}

/// The worker thread the app uses in production: takes records over its channel, reports the
/// pending count, retries on the (injected) clock once the database is back, and flushes one
/// last time when dropped.
#[test]
fn the_worker_thread_retries_and_reports() {
    use std::sync::Arc;
    use std::time::Duration;

    use hotline_desktop::clock::ManualClock;
    use hotline_desktop::outbox::{OutboxWorker, OutcomeWriter};

    let dir = tempfile::tempdir().expect("tempdir");
    let sink = MemorySink::new();
    sink.set_failing(Some(SinkError::Unavailable("down".into())));
    let clock = ManualClock::new(UnixMillis(0));
    let worker = OutboxWorker::spawn(
        Outbox::open(dir.path().join("o.jsonl")).expect("open"),
        Box::new(sink.clone()),
        Arc::new(clock.clone()),
        Box::new(|| {}),
    )
    .expect("spawn");
    let mut writer = OutcomeWriter::Worker(worker);
    writer.submit(record("c1", "resolved")).expect("submit");

    // Wait (bounded) for the worker to report the record as pending.
    let wait_for = |writer: &mut OutcomeWriter, want: usize| {
        for _ in 0..200 {
            if let Some(st) = writer.poll(Instant::now())
                && st.pending == want
            {
                return st;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the worker never reported {want} pending");
    };
    let st = wait_for(&mut writer, 1);
    assert_eq!(st.last_error.as_deref(), Some("down"));
    assert!(sink.is_empty());

    sink.set_failing(None);
    clock.advance(Duration::from_secs(3));
    let st = wait_for(&mut writer, 0);
    assert_eq!(st.last_error, None);
    assert_eq!(sink.len(), 1);

    // A record submitted just before the app closes is still written.
    writer.submit(record("c2", "callback")).expect("submit");
    drop(writer);
    assert!(sink.get(&"c2".into(), &"1001".into()).is_some());
}

#[cfg(unix)]
#[test]
fn the_outbox_file_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("o.jsonl");
    let mut outbox = Outbox::open(&path).expect("open");
    outbox.submit(record("c1", "resolved")).expect("submit");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

/// A take and a close made while the database is down survive a restart next to an outcome and
/// are written in the order the agent made them, each once.
#[test]
fn ticket_changes_wait_in_the_outbox_in_order() {
    use hotline_cti::TicketStatus;
    use hotline_desktop::outbox::{Record, TicketChangeRecord, TicketEdit};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("o.jsonl");
    let mut sink = MemorySink::new();
    let change = |edit, at| TicketChangeRecord {
        ticket: "42".into(),
        agent: "1001".into(),
        edit,
        at: UnixMillis(at),
    };
    let take = change(TicketEdit::Take, 1);
    let close = change(
        TicketEdit::Status {
            status: TicketStatus::Solved,
        },
        2,
    );
    {
        let mut outbox = Outbox::open(&path).expect("open");
        sink.set_failing(Some(SinkError::Unavailable("down".into())));
        outbox
            .submit_record(Record::Ticket(take.clone()))
            .expect("submit");
        outbox.submit(record("c1", "resolved")).expect("submit");
        outbox
            .submit_record(Record::Ticket(close.clone()))
            .expect("submit");
        let _ = outbox.flush(&mut sink, Instant::now());
        assert_eq!(outbox.pending().len(), 3);
    }
    let mut outbox = Outbox::open(&path).expect("reopen");
    assert_eq!(outbox.pending().len(), 3, "all three kept over the restart");
    sink.set_failing(None);
    let report = outbox.flush(&mut sink, Instant::now());
    assert_eq!(report.written, 3);
    assert_eq!(sink.ticket_changes(), vec![take, close]);
    assert!(sink.get(&"c1".into(), &"1001".into()).is_some());
    drop(outbox);
    assert!(Outbox::open(&path).expect("reopen").pending().is_empty());
}
