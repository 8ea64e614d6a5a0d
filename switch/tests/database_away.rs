//! PostgreSQL stopped mid-traffic and started again: calls go on while it is away, and once it
//! is back every call's record is written, ended, with nothing lost. The real binary on a
//! private PostgreSQL server (own cluster in a temp folder, own port; never the shared one),
//! callers are sipp dialing the public IVR number. Skipped, with a note, without `initdb`.

mod pg_util;
mod sip_util;

use std::time::{Duration, Instant};

use hotline_store::Store;
use pg_util::PrivatePg;
use sip_util::{Setup, Sipp, Switch, free_port};

/// `n` callers at once to the IVR, each hanging up after `hold_ms`; true when all succeeded.
fn calls(sw: &Switch, n: usize, first: usize, hold_ms: u32) -> bool {
    let hold = hold_ms.to_string();
    let callers: Vec<Sipp> = (0..n)
        .map(|i| {
            let caller = format!("+1555000{:04}", first + i);
            Sipp::spawn(
                sw.sip,
                "uac_wait.xml",
                free_port(),
                &[
                    "-key",
                    "caller",
                    &caller,
                    "-key",
                    "dial",
                    "+18005550100",
                    "-d",
                    &hold,
                ],
            )
        })
        .collect();
    // Wait for every caller (no short-circuit: a dropped sipp would be killed mid-call).
    let results: Vec<bool> = callers.into_iter().map(Sipp::success).collect();
    results.iter().all(|ok| *ok)
}

#[test]
fn calls_go_on_while_postgres_is_away_and_no_record_is_lost() {
    let Some(pg) = PrivatePg::start() else {
        return;
    };
    let sw = Switch::start(Setup {
        database_url: Some(pg.url()),
        // A write waits at most 1 s for a connection, so the store's own retries give up
        // within seconds and the call-record writer's retry and back-off take over.
        database_busy_timeout_ms: Some(500),
        ..Setup::default()
    });
    assert!(calls(&sw, 3, 0, 1000), "calls before the outage");

    pg.stop();
    assert!(
        calls(&sw, 4, 100, 1000),
        "calls while PostgreSQL is away must go on"
    );
    // Keep the server away until the call-record writer has failed (after the store's own
    // retries) and backs off (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sw.logged("call record write failed; retrying") {
        assert!(
            Instant::now() < deadline,
            "no call-record write met the outage"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pg.resume();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Store::open(&pg.url(), Default::default())
            .await
            .expect("open store");
        // Bounded wait for the backlog: 7 calls, each with an end.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let total = store.count_calls().await.expect("count");
            let open = store.open_call_ids().await.expect("open");
            if total == 7 && open.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "after recovery: {total} call records of 7, open: {open:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        store.close().await;
    });
    assert!(sw.logged("call-record writes recovered"));
}

/// At the bound of the writer's queue (database away too long) new events are dropped and
/// counted, not queued without limit; every event below the bound is written after recovery.
#[test]
fn the_writer_queue_is_bounded_and_loses_nothing_below_the_bound() {
    use hotline_store::{CallEvent, CallEventKind, Direction, StoreOptions};
    use hotline_switch::calls::cdr::CdrWriter;
    let Some(pg) = PrivatePg::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let options = || StoreOptions {
            busy_timeout: Duration::from_millis(200),
            write_retries: 1,
            ..Default::default()
        };
        let store = Store::open(&pg.url(), options()).await.expect("open");
        pg.stop();
        const CAPACITY: usize = 4;
        const EVENTS: u64 = 12;
        let (writer, task) = CdrWriter::spawn_with_capacity(store.clone(), CAPACITY);
        for i in 0..EVENTS {
            writer.write(CallEvent {
                call_id: format!("bound-{i}"),
                seq: 0,
                at: 1_780_000_000_000,
                kind: CallEventKind::Arrived {
                    direction: Direction::Inbound,
                    ani: "+15550001234".into(),
                    dnis: "+18005550100".into(),
                },
            });
        }
        // One event may be in the writer's hands, CAPACITY wait; the rest were dropped.
        let dropped = writer.dropped();
        assert!(
            (EVENTS - CAPACITY as u64 - 1..=EVENTS - CAPACITY as u64).contains(&dropped),
            "dropped {dropped}"
        );
        pg.resume();
        drop(writer);
        let report = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("the backlog is written after recovery")
            .expect("writer task");
        assert_eq!(report.written, EVENTS - dropped, "{report:?}");
        let check = Store::open(&pg.url(), options()).await.expect("reopen");
        assert_eq!(
            check.count_calls().await.expect("count") as u64,
            EVENTS - dropped
        );
        check.close().await;
        store.close().await;
    });
}
