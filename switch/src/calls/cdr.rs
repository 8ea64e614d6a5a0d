//! The call-record writer: one task that writes call events to the store in order, retrying
//! until each is stored. Events are idempotent by `(call_id, seq)` in the store, so a retry
//! after a write that did commit changes nothing; nothing is dropped while the switch runs,
//! and at shutdown the queue is drained (with a bounded number of retries per event).

use std::time::Duration;

use hotline_store::{CallEvent, CallEventKind, Store};
use tokio::sync::mpsc;

/// Numbers the events of one call and hands them to the writer.
#[derive(Debug)]
pub struct CallLog {
    pub call_id: String,
    next_seq: i64,
}

impl CallLog {
    pub fn new(call_id: String) -> CallLog {
        CallLog {
            call_id,
            next_seq: 0,
        }
    }

    /// The event with the next sequence number.
    pub fn event(&mut self, at: i64, kind: CallEventKind) -> CallEvent {
        let seq = self.next_seq;
        self.next_seq += 1;
        CallEvent {
            call_id: self.call_id.clone(),
            seq,
            at,
            kind,
        }
    }
}

/// The sending side.
#[derive(Clone, Debug)]
pub struct CdrWriter {
    tx: mpsc::UnboundedSender<CallEvent>,
}

impl CdrWriter {
    /// Starts the writer task. It ends when every `CdrWriter` is dropped and the queue is
    /// written; await the handle to wait for that.
    pub fn spawn(store: Store) -> (CdrWriter, tokio::task::JoinHandle<u64>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let h = tokio::spawn(run(store, rx));
        (CdrWriter { tx }, h)
    }

    /// Queues an event (never blocks).
    pub fn write(&self, ev: CallEvent) {
        if self.tx.send(ev).is_err() {
            tracing::error!("call-record writer stopped: event lost");
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<CallEvent>) -> u64 {
    let mut written = 0u64;
    while let Some(ev) = rx.recv().await {
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0u32;
        loop {
            match store.record_call_event(&ev).await {
                Ok(()) => {
                    written += 1;
                    break;
                }
                Err(e) => {
                    attempts += 1;
                    // While running, retry forever; when the switch is stopping (channel
                    // closed), give each remaining event a bounded number of tries.
                    let closing = rx.is_closed();
                    tracing::warn!(call = %ev.call_id, seq = ev.seq, attempts, error = %e, "call record write failed; retrying");
                    if closing && attempts >= 20 {
                        tracing::error!(call = %ev.call_id, seq = ev.seq, "call record event not written at shutdown");
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
    written
}
