//! The call-record writer writes what is waiting in its queue in batches of at most `MAX_BATCH`
//! events, in order, one transaction each, and a refused event in a batch costs only itself:
//! 600 events queued before the writer first runs are written in exactly three batches
//! (256, 256, 88), an orphan event among them is refused alone, and every call's row is whole.
//! No clock: on a current-thread runtime the writer task runs only once the test awaits it.

use hotline_store::{CallEvent, CallEventKind, Direction, Store, StoreOptions};
use hotline_switch::calls::cdr::{CdrWriter, MAX_BATCH};

const T0: i64 = 1_780_000_000_000;

fn ev(call: &str, seq: i64, kind: CallEventKind) -> CallEvent {
    CallEvent {
        call_id: call.into(),
        seq,
        at: T0 + seq * 1000,
        kind,
    }
}

#[tokio::test]
async fn a_queued_backlog_goes_in_batches_and_a_refused_event_costs_only_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/hotline.db", dir.path().display());
    let store = Store::open(&url, StoreOptions::default())
        .await
        .expect("open");
    let (writer, task) = CdrWriter::spawn(store.clone());
    let watch = writer.watch();
    // 200 calls of 3 events, interleaved as call control queues them, with one event for a
    // call that never arrived in the middle of the second batch: 601 events.
    const CALLS: usize = 200;
    for seq in 0..3 {
        for n in 0..CALLS {
            if seq == 2 && n == 50 {
                writer.write(ev("ghost", 1, CallEventKind::Held));
            }
            let kind = match seq {
                0 => CallEventKind::Arrived {
                    direction: Direction::Inbound,
                    ani: format!("+1212555{n:04}"),
                    dnis: "+18005550100".into(),
                },
                1 => CallEventKind::Answered {
                    agent_id: format!("agent{}", n % 7),
                },
                _ => CallEventKind::Ended {
                    reason: "normal".into(),
                    abandoned: false,
                },
            };
            writer.write(ev(&format!("c-{n}"), seq, kind));
        }
    }
    assert_eq!(writer.backlog(), 3 * CALLS + 1, "nothing written yet");
    drop(writer);
    let report = task.await.expect("writer task");
    assert_eq!(MAX_BATCH, 256);
    assert_eq!(report.written, 3 * CALLS as u64);
    assert_eq!(report.refused, 1);
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.batches, 3, "{report:?}");
    assert_eq!((watch.written(), watch.batches()), (600, 3));
    assert_eq!(watch.backlog(), 0);

    assert_eq!(store.count_calls().await.expect("count"), CALLS as i64);
    assert!(store.open_call_ids().await.expect("open").is_empty());
    for n in [0, 49, 50, 199] {
        let r = store
            .call(&format!("c-{n}"))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(r.agent_id, Some(format!("agent{}", n % 7)));
        assert_eq!(r.answered_at, Some(T0 + 1000));
        assert_eq!(r.ended_at, Some(T0 + 2000));
    }
    assert!(store.call("ghost").await.expect("read").is_none());
    store.close().await;
}
