//! The call-record writer: one task that writes call events to the store in order, in batches.
//!
//! Call control hands events to [`CdrWriter::write`], which never blocks: they wait in a
//! bounded in-memory queue ([`QUEUE_CAPACITY`] events). The task takes what is queued, up to
//! [`MAX_BATCH`] events, and writes them with one [`Store::record_call_events`]: one
//! transaction for many calls' events (group commit). An idle writer (its last batch started
//! more than [`LINGER`] ago) writes at once, so a lone event is written as soon as it arrives;
//! a busy one gathers until [`LINGER`] after its previous batch started or until it has
//! [`MAX_BATCH`] events, whichever comes first. So under load a batch starts every 20 ms
//! unless 256 events are already waiting (at 2,000 calls/s of three events, about 120 events a
//! batch), each event waits at most [`LINGER`] plus the write in flight, and the transactions
//! per call fall as the load rises. Events are
//! idempotent by `(call_id, seq)` in the store, so a retry after a write that did commit
//! changes nothing, and a batch keeps the queue's order (each call's events in sequence).
//!
//! When the database is away (PostgreSQL restarting, a network cut, a locked SQLite file) the
//! store reports a transient error and the task retries the same batch with exponential
//! back-off (50 ms doubling to 5 s), forever while the switch runs: calls go on, their events
//! wait in the queue, and once the database answers again the backlog is written in order,
//! [`MAX_BATCH`] events a transaction, and a line says how long writes were failing. Nothing is
//! dropped below the bound.
//!
//! At the bound (the database away long enough for [`QUEUE_CAPACITY`] events to pile up, about
//! 12,000 calls' worth, some tens of MB) new events are **dropped**, counted, and logged as an
//! error (the first, then every 1,000th), rather than growing memory without limit or stalling
//! call control. A call whose `ended` event was dropped keeps an open record until the node's
//! next start closes it as "switch restarted". A durable local journal (nothing lost even at
//! the bound, or across a crash) is a separate piece of work.
//!
//! An event the store refuses for good (bad input, a call whose `arrived` was dropped) is
//! logged and skipped, so one bad event cannot hold up the queue: the store then writes that
//! batch's events one transaction each, so only the refused event is left out. At shutdown
//! the queue is drained, with a bounded number of retries per batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use hotline_calls::record::CallLog;
use hotline_store::{CallEvent, Store};
use tokio::sync::mpsc;

/// How many call events may wait for the database before new ones are dropped.
pub const QUEUE_CAPACITY: usize = 100_000;

/// The most events written in one batch (one transaction).
pub const MAX_BATCH: usize = 256;

/// While busy, batches start at least this far apart: a batch that would start sooner after
/// the previous one's start gathers events until then (or [`MAX_BATCH`]). An idle writer (its
/// last batch started longer ago) writes at once.
pub const LINGER: Duration = Duration::from_millis(20);

/// Retries per batch once the switch is stopping (the queue is closed).
const RETRIES_AT_SHUTDOWN: u32 = 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The sending side.
#[derive(Clone, Debug)]
pub struct CdrWriter {
    tx: mpsc::Sender<CallEvent>,
    counters: Arc<Counters>,
}

/// Running totals shared by the writer's senders, its task and the `/metrics` view.
#[derive(Debug, Default)]
struct Counters {
    /// Events dropped at the bound.
    dropped: AtomicU64,
    /// Events stored (or found already stored).
    written: AtomicU64,
    /// Batches committed.
    batches: AtomicU64,
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
    /// Batches written (transactions committed, not counting the one-by-one fallback after a
    /// refusal).
    pub batches: u64,
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
        let counters = Arc::<Counters>::default();
        let h = tokio::spawn(run(store, rx, counters.clone()));
        (CdrWriter { tx, counters }, h)
    }

    /// Queues an event (never blocks). At the bound the event is dropped and counted.
    pub fn write(&self, ev: CallEvent) {
        match self.tx.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => {
                let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
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
        self.counters.dropped.load(Ordering::Relaxed)
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
            counters: self.counters.clone(),
        }
    }
}

/// The call-record queue's depth, drops and writes, for `/metrics`.
#[derive(Clone, Debug)]
pub struct CdrWatch {
    tx: mpsc::WeakSender<CallEvent>,
    counters: Arc<Counters>,
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
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Events stored (or found already stored), since start.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Batches (transactions) committed, since start: `written / batches` is the mean batch.
    pub fn batches(&self) -> u64 {
        self.counters.batches.load(Ordering::Relaxed)
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<CallEvent>,
    counters: Arc<Counters>,
) -> WriterReport {
    let mut report = WriterReport::default();
    // Since when writes have been failing, and how often (for the recovery line).
    let mut outage: Option<(Instant, u64)> = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // When the last batch started: a batch within LINGER of it gathers until LINGER after it.
    let mut last_start: Option<tokio::time::Instant> = None;
    // Waits for the first event and takes what is queued behind it, up to MAX_BATCH.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if let Some(gather_until) = last_start
            .map(|t| t + LINGER)
            .filter(|until| *until > tokio::time::Instant::now())
        {
            // Busy: gather until LINGER after the previous start, a full batch, or the queue
            // closing (at shutdown nothing more will come).
            while batch.len() < MAX_BATCH {
                let room = MAX_BATCH - batch.len();
                match tokio::time::timeout_at(gather_until, rx.recv_many(&mut batch, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        last_start = Some(tokio::time::Instant::now());
        let before = report;
        write_batch(&store, &rx, &batch, &mut report, &mut outage).await;
        counters
            .written
            .fetch_add(report.written - before.written, Ordering::Relaxed);
        counters
            .batches
            .fetch_add(report.batches - before.batches, Ordering::Relaxed);
        batch.clear();
    }
    report
}

/// Writes one batch, retrying it whole while the database is away (forever while running, a
/// bounded number of times once the queue is closed).
async fn write_batch(
    store: &Store,
    rx: &mpsc::Receiver<CallEvent>,
    batch: &[CallEvent],
    report: &mut WriterReport,
    outage: &mut Option<(Instant, u64)>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        match store.record_call_events(batch).await {
            Ok(refused) => {
                report.batches += 1;
                report.written += (batch.len() - refused.len()) as u64;
                report.refused += refused.len() as u64;
                for r in refused {
                    let ev = &batch[r.index];
                    tracing::error!(call = %ev.call_id, seq = ev.seq, kind = ev.kind.name(), error = %r.error,
                        "call record event refused by the store; skipped");
                }
                if let Some((since, failures)) = outage.take() {
                    tracing::info!(
                        failed_attempts = failures,
                        after_ms = since.elapsed().as_millis() as u64,
                        backlog = rx.len(),
                        "call-record writes recovered; writing the backlog"
                    );
                }
                return;
            }
            Err(e) if e.is_transient() => {
                attempts += 1;
                let (_, failures) = outage.get_or_insert((Instant::now(), 0));
                *failures += 1;
                // While running, retry forever; when the switch is stopping (channel
                // closed), give each remaining batch a bounded number of tries.
                if rx.is_closed() && attempts >= RETRIES_AT_SHUTDOWN {
                    report.abandoned += batch.len() as u64;
                    tracing::error!(events = batch.len(), first_call = %batch[0].call_id,
                        error = %e, "call record events not written at shutdown");
                    return;
                }
                tracing::warn!(events = batch.len(), first_call = %batch[0].call_id, attempts,
                    backlog = rx.len(), retry_in_ms = backoff.as_millis() as u64, error = %e,
                    "call record write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                // The store refuses single events and reports only transient failures for a
                // whole batch; anything else is a fault of the store itself, and holding the
                // queue on it would stall every later record.
                report.refused += batch.len() as u64;
                tracing::error!(events = batch.len(), first_call = %batch[0].call_id, error = %e,
                    "call record batch refused by the store; skipped");
                return;
            }
        }
    }
}
