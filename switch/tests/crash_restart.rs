//! The real binary killed with SIGKILL during a call: the call's record is left without an end
//! (nothing could write it), and the restarted switch closes it as "switch restarted" before
//! taking new calls, so no record stays open. The caller is sipp dialing the public IVR number
//! with SDP; the database is the temp SQLite file both processes open.

mod sip_util;

use std::time::{Duration, Instant};

use hotline_store::{CallRecord, Store};
use sip_util::{Setup, Sipp, Switch, free_port};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits (bounded) for a call record without an end; `None` when none appeared.
async fn wait_live_call(store: &Store) -> Option<CallRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for id in store.open_call_ids().await.expect("open calls") {
            if let Some(r) = store.call(&id).await.expect("read call") {
                return Some(r);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[test]
fn a_call_live_at_sigkill_is_closed_as_switch_restarted() {
    let mut sw = Switch::start(Setup::default());
    let caller = Sipp::spawn(
        sw.sip,
        "uac_wait.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+15550001234",
            "-key",
            "dial",
            "+18005550100",
            "-d",
            "40000",
        ],
    );
    let rt = runtime();
    let live = rt.block_on(async {
        let store = Store::open(&sw.db_url, Default::default())
            .await
            .expect("open store");
        let live = wait_live_call(&store).await;
        store.close().await;
        live
    });
    let Some(live) = live else {
        panic!(
            "no live call record; switch log: {:?}",
            sw.logs.lock().expect("logs")
        );
    };

    sw.kill_and_restart();
    drop(caller);

    rt.block_on(async {
        let store = Store::open(&sw.db_url, Default::default())
            .await
            .expect("open store");
        // The restarted switch closed it before printing its addresses (start-up order).
        let closed = store.call(&live.id).await.expect("read").expect("record");
        assert_eq!(
            closed.end_reason.as_deref(),
            Some("switch restarted"),
            "{closed:?}"
        );
        assert!(closed.ended_at.is_some_and(|t| t >= closed.arrived_at));
        assert!(!closed.abandoned);
        let kinds = store.call_event_kinds(&live.id).await.expect("events");
        assert_eq!(kinds.last().map(String::as_str), Some("ended"), "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| *k == "ended").count(), 1);
        assert_eq!(
            store.open_call_ids().await.expect("open calls"),
            Vec::<String>::new()
        );
        store.close().await;
    });
    assert!(sw.logged("closed call records left open by a previous run"));
}
