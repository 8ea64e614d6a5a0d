//! The call-record writer: one task that writes call events to the store in order.
//!
//! Call control hands events to [`CdrWriter::write`], which never blocks: they wait in a
//! bounded in-memory queue ([`QUEUE_CAPACITY`] events). The task writes them one by one, in
//! order. Events are idempotent by `(call_id, seq)` in the store, so a retry after a write that
//! did commit changes nothing.
//!
//! When the database is away (PostgreSQL restarting, a network cut, a locked SQLite file) the
//! store reports a transient error and the task retries the same event with exponential
//! back-off (50 ms doubling to 5 s), forever while the switch runs: calls go on, their events
//! wait in the queue, and once the database answers again the backlog is written in order and
//! a line says how long writes were failing. Nothing is dropped below the bound.
//!
//! At the bound (the database away long enough for [`QUEUE_CAPACITY`] events to pile up, about
//! 12,000 calls' worth, some tens of MB) new events are **dropped**, counted, and logged as an
//! error (the first, then every 1,000th), rather than growing memory without limit or stalling
//! call control. A call whose `ended` event was dropped keeps an open record until the node's
//! next start closes it as "switch restarted". A durable local journal (nothing lost even at
//! the bound, or across a crash) is a separate piece of work.
//!
//! An event the store refuses for good (bad input, a call whose `arrived` was dropped) is
//! logged and skipped, so one bad event cannot hold up the queue. At shutdown the queue is
//! drained, with a bounded number of retries per event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_store::{CallEvent, CallEventKind, Store};
use tokio::sync::mpsc;

/// How many call events may wait for the database before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 100_000;

/// Retries per event once the switch is stopping (the queue is closed).
const RETRIES_AT_SHUTDOWN: u32 = 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
    tx: mpsc::Sender<CallEvent>,
    dropped: Arc<AtomicU64>,
}

/// What the writer task did, returned when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// Events stored (or found already stored).
    pub written: u64,
    /// Events the store refused for good (logged and skipped).
    pub refused: u64,
    /// Events given up at shutdown because the database stayed away.
    pub abandoned: u64,
}

impl CdrWriter {
    /// Starts the writer task with a queue of [`QUEUE_CAPACITY`] events. It ends when every
    /// `CdrWriter` is dropped and the queue is written; await the handle to wait for that.
    pub fn spawn(store: Store) -> (CdrWriter, tokio::task::JoinHandle<WriterReport>) {
        CdrWriter::spawn_with_capacity(store, QUEUE_CAPACITY)
    }

    /// Like [`CdrWriter::spawn`] with another bound (tests).
    pub fn spawn_with_capacity(
        store: Store,
        capacity: usize,
    ) -> (CdrWriter, tokio::task::JoinHandle<WriterReport>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let h = tokio::spawn(run(store, rx));
        (
            CdrWriter {
                tx,
                dropped: Arc::default(),
            },
            h,
        )
    }

    /// Queues an event (never blocks). At the bound the event is dropped and counted.
    pub fn write(&self, ev: CallEvent) {
        match self.tx.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::error!(
                        call = %ev.call_id,
                        seq = ev.seq,
                        dropped = n,
                        capacity = self.tx.max_capacity(),
                        "call-record queue full (database away too long): event dropped"
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(ev)) => {
                tracing::error!(call = %ev.call_id, seq = ev.seq, "call-record writer stopped: event lost");
            }
        }
    }

    /// Events dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events waiting to be written.
    pub fn backlog(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// A view of the queue for `/metrics` that does not keep the writer alive (the writer
    /// ends when the last sender is dropped, at shutdown).
    pub fn watch(&self) -> CdrWatch {
        CdrWatch {
            tx: self.tx.downgrade(),
            dropped: self.dropped.clone(),
        }
    }
}

/// The call-record queue's depth and drops, for `/metrics`.
#[derive(Clone, Debug)]
pub struct CdrWatch {
    tx: mpsc::WeakSender<CallEvent>,
    dropped: Arc<AtomicU64>,
}

impl CdrWatch {
    /// Events waiting to be written (0 once the writer has stopped).
    pub fn backlog(&self) -> usize {
        self.tx
            .upgrade()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }

    /// Events dropped because the queue was full, since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<CallEvent>) -> WriterReport {
    let mut report = WriterReport::default();
    // Since when writes have been failing, and how often (for the recovery line).
    let mut outage: Option<(Instant, u64)> = None;
    while let Some(ev) = rx.recv().await {
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            match store.record_call_event(&ev).await {
                Ok(()) => {
                    report.written += 1;
                    if let Some((since, failures)) = outage.take() {
                        tracing::info!(
                            failed_attempts = failures,
                            after_ms = since.elapsed().as_millis() as u64,
                            backlog = rx.len(),
                            "call-record writes recovered; writing the backlog"
                        );
                    }
                    break;
                }
                Err(e) if e.is_transient() => {
                    attempts += 1;
                    let (_, failures) = outage.get_or_insert((Instant::now(), 0));
                    *failures += 1;
                    // While running, retry forever; when the switch is stopping (channel
                    // closed), give each remaining event a bounded number of tries.
                    let closing = rx.is_closed();
                    if closing && attempts >= RETRIES_AT_SHUTDOWN {
                        report.abandoned += 1;
                        tracing::error!(call = %ev.call_id, seq = ev.seq, error = %e, "call record event not written at shutdown");
                        break;
                    }
                    tracing::warn!(call = %ev.call_id, seq = ev.seq, attempts, backlog = rx.len(),
                        retry_in_ms = backoff.as_millis() as u64, error = %e,
                        "call record write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    report.refused += 1;
                    tracing::error!(call = %ev.call_id, seq = ev.seq, kind = ev.kind.name(), error = %e,
                        "call record event refused by the store; skipped");
                    break;
                }
            }
        }
    }
    report
}
