//! Outcome writes that survive a database outage and a restart.
//!
//! When an agent finishes wrap-up, the desktop writes the call's outcome (disposition, notes,
//! wrap-up time) and any ticket to the shared database through an [`OutcomeSink`]. The write goes
//! through an [`Outbox`] first: the record is appended to a local JSON-lines file and fsynced
//! before anything else happens, then written to the sink. If the sink is unavailable the record
//! stays in the file and is retried with back-off, also after the desktop is closed and
//! restarted. Writes are idempotent by (call id, agent id) on the database side, so a record
//! written but not yet marked done (a crash in between) is simply written again.
//!
//! File format, one JSON object per line:
//! `{"op":"put","outcome":{...}}` (a record to write), `{"op":"done","call":..,"agent":..}` (it
//! was written), `{"op":"rejected","outcome":{...},"reason":..}` (the database refused it for
//! good, e.g. an unknown disposition: kept for a person to look at, never retried). A torn last
//! line from a crash is skipped. The file is compacted when nothing is pending.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use hotline_cti::{AgentId, CallId, CustomerId, Disposition, Pii, TicketDraft, UnixMillis};
use serde::{Deserialize, Serialize};

use crate::DeskError;
use crate::clock::Clock;

/// What the agent recorded for one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// The call (joins the CDR).
    pub call: CallId,
    /// The agent who wrapped up.
    pub agent: AgentId,
    /// The disposition picked.
    pub disposition: Disposition,
    /// Free-text notes (personal data).
    pub notes: Pii<String>,
    /// Time spent in wrap-up.
    pub wrap_up_ms: u64,
    /// The customer of the call, when known (for a new ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
    /// A ticket to create or update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketDraft>,
    /// An unknown caller to create as a customer (linked to the calling number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_customer: Option<NewCustomer>,
    /// An existing customer the agent linked the calling number to (`number` is the number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_customer: Option<LinkCustomer>,
    /// When the agent submitted it.
    pub at: UnixMillis,
}

/// A customer the agent created from the new-customer form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewCustomer {
    /// Name (personal data).
    pub name: Pii<String>,
    /// The calling number to link (personal data).
    pub number: Pii<String>,
}

/// An existing customer the agent found by search and linked to an unknown caller's number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkCustomer {
    /// The customer.
    pub customer: CustomerId,
    /// The calling number to link (personal data).
    pub number: Pii<String>,
}

impl OutcomeRecord {
    fn key(&self) -> (CallId, AgentId) {
        (self.call.clone(), self.agent.clone())
    }
}

/// Where outcomes end up (the shared database, through `hotline-store`).
pub trait OutcomeSink: Send {
    /// Writes the outcome and its ticket. Must be idempotent by (call, agent): the outbox may
    /// write the same record more than once.
    fn write(&mut self, outcome: &OutcomeRecord) -> Result<(), SinkError>;
}

/// Why a sink write failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// The database cannot be reached or timed out: keep the record and retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the record (invalid data): retrying will not help.
    #[error("rejected by the database: {0}")]
    Rejected(String),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    Put {
        outcome: OutcomeRecord,
    },
    Done {
        call: CallId,
        agent: AgentId,
    },
    Rejected {
        outcome: OutcomeRecord,
        reason: String,
    },
}

/// Retry delays after a failed write: 2 s, doubling, at most 60 s.
const FIRST_RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// The durable queue of outcomes not yet in the database. Sans threads: the caller decides when
/// to [`flush`](Outbox::flush) (the [`OutboxWorker`] does so on its own thread).
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    file: File,
    pending: Vec<OutcomeRecord>,
    rejected: Vec<(OutcomeRecord, String)>,
    next_attempt: Option<Instant>,
    retry_delay: Duration,
    last_error: Option<String>,
    skipped_lines: usize,
}

/// What one flush did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlushReport {
    /// Records written to the sink.
    pub written: usize,
    /// Records the sink refused for good (with the reason).
    pub rejected: Vec<(CallId, String)>,
    /// The sink was unavailable; records are kept.
    pub unavailable: Option<String>,
}

impl Outbox {
    /// Opens (or creates) the outbox file and loads what is pending from an earlier run.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, DeskError> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DeskError::io(dir, e))?;
        }
        let mut pending: Vec<OutcomeRecord> = Vec::new();
        let mut rejected = Vec::new();
        let mut skipped_lines = 0;
        if path.exists() {
            let file = File::open(&path).map_err(|e| DeskError::io(&path, e))?;
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| DeskError::io(&path, e))?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Line>(&line) {
                    Ok(Line::Put { outcome }) => upsert(&mut pending, outcome),
                    Ok(Line::Done { call, agent }) => {
                        pending.retain(|o| o.call != call || o.agent != agent);
                    }
                    Ok(Line::Rejected { outcome, reason }) => {
                        pending.retain(|o| o.key() != outcome.key());
                        rejected.push((outcome, reason));
                    }
                    // A torn write from a crash (only ever the last line): nothing was
                    // acknowledged for it, so skipping loses nothing that was confirmed.
                    Err(_) => skipped_lines += 1,
                }
            }
        }
        let file = open_append(&path)?;
        let mut outbox = Outbox {
            path,
            file,
            pending,
            rejected,
            next_attempt: None,
            retry_delay: FIRST_RETRY,
            last_error: None,
            skipped_lines,
        };
        outbox.compact()?;
        Ok(outbox)
    }

    /// Records an outcome durably (append + fsync) and schedules an immediate write attempt.
    /// A second record for the same call and agent replaces the first.
    pub fn submit(&mut self, outcome: OutcomeRecord) -> Result<(), DeskError> {
        let line = Line::Put {
            outcome: outcome.clone(),
        };
        // Keep it in memory even if the disk write fails, so it can still reach the database.
        upsert(&mut self.pending, outcome);
        self.next_attempt = None;
        self.retry_delay = FIRST_RETRY;
        self.append(&line)
    }

    /// Writes pending records to `sink` in submission order, if a retry is due at `now`. Stops at
    /// the first "unavailable" and schedules the next attempt with back-off.
    pub fn flush(&mut self, sink: &mut dyn OutcomeSink, now: Instant) -> FlushReport {
        let mut report = FlushReport::default();
        if self.next_attempt.is_some_and(|at| now < at) {
            return report;
        }
        while let Some(outcome) = self.pending.first().cloned() {
            match sink.write(&outcome) {
                Ok(()) => {
                    self.pending.remove(0);
                    report.written += 1;
                    let done = Line::Done {
                        call: outcome.call.clone(),
                        agent: outcome.agent.clone(),
                    };
                    if let Err(e) = self.append(&done) {
                        // Not fatal: the record would be written again, which is idempotent.
                        tracing::warn!(error = %e, "outbox: cannot mark record done");
                    }
                }
                Err(SinkError::Rejected(reason)) => {
                    self.pending.remove(0);
                    tracing::warn!(call = %outcome.call, %reason, "outbox: outcome rejected");
                    report.rejected.push((outcome.call.clone(), reason.clone()));
                    let line = Line::Rejected {
                        outcome: outcome.clone(),
                        reason: reason.clone(),
                    };
                    if let Err(e) = self.append(&line) {
                        tracing::warn!(error = %e, "outbox: cannot record rejection");
                    }
                    self.rejected.push((outcome, reason));
                }
                Err(SinkError::Unavailable(reason)) => {
                    self.next_attempt = Some(now + self.retry_delay);
                    self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
                    self.last_error = Some(reason.clone());
                    report.unavailable = Some(reason);
                    return report;
                }
            }
        }
        self.last_error = None;
        self.retry_delay = FIRST_RETRY;
        self.next_attempt = None;
        if (report.written > 0 || !report.rejected.is_empty())
            && let Err(e) = self.compact()
        {
            tracing::warn!(error = %e, "outbox: compaction failed");
        }
        report
    }

    /// Records not yet written, oldest first.
    pub fn pending(&self) -> &[OutcomeRecord] {
        &self.pending
    }

    /// Records the database refused, with the reason.
    pub fn rejected(&self) -> &[(OutcomeRecord, String)] {
        &self.rejected
    }

    /// When the next write attempt is due (`None`: at the next flush).
    pub fn next_attempt(&self) -> Option<Instant> {
        self.next_attempt
    }

    /// The last sink error, while records are waiting.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Corrupt lines skipped when the file was opened.
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    /// The outbox file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, line: &Line) -> Result<(), DeskError> {
        let mut text = serde_json::to_string(line).map_err(|e| DeskError::Encode(e.to_string()))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| DeskError::io(&self.path, e))
    }

    /// Rewrites the file with only the pending and rejected records (write, fsync, rename).
    fn compact(&mut self) -> Result<(), DeskError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut out = private(OpenOptions::new().write(true).create(true).truncate(true))
                .open(&tmp)
                .map_err(|e| DeskError::io(&tmp, e))?;
            let mut text = String::new();
            for (outcome, reason) in &self.rejected {
                let line = Line::Rejected {
                    outcome: outcome.clone(),
                    reason: reason.clone(),
                };
                text.push_str(
                    &serde_json::to_string(&line).map_err(|e| DeskError::Encode(e.to_string()))?,
                );
                text.push('\n');
            }
            for outcome in &self.pending {
                let line = Line::Put {
                    outcome: outcome.clone(),
                };
                text.push_str(
                    &serde_json::to_string(&line).map_err(|e| DeskError::Encode(e.to_string()))?,
                );
                text.push('\n');
            }
            out.write_all(text.as_bytes())
                .and_then(|()| out.sync_all())
                .map_err(|e| DeskError::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| DeskError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not every platform allows opening a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

fn upsert(pending: &mut Vec<OutcomeRecord>, outcome: OutcomeRecord) {
    let key = outcome.key();
    match pending.iter_mut().find(|o| o.key() == key) {
        Some(existing) => *existing = outcome,
        None => pending.push(outcome),
    }
}

/// The outbox holds notes and names: on Unix only the user may read it.
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn open_append(path: &Path) -> Result<File, DeskError> {
    private(OpenOptions::new().create(true).append(true))
        .open(path)
        .map_err(|e| DeskError::io(path, e))
}

/// Outbox state for the UI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxStatus {
    /// Records waiting for the database.
    pub pending: usize,
    /// Why they are waiting.
    pub last_error: Option<String>,
    /// Records refused since the last status (call and reason).
    pub newly_rejected: Vec<(CallId, String)>,
    /// Records written since the last status.
    pub newly_written: usize,
}

/// How the app gets outcomes into the database: inline (flushed on the UI thread at each frame;
/// deterministic, used by tests and by local SQLite) or on a worker thread (a remote database
/// that may hang must not freeze the UI).
pub enum OutcomeWriter {
    /// Flushed by [`OutcomeWriter::poll`] on the caller's thread.
    Inline {
        /// The outbox.
        outbox: Outbox,
        /// The sink.
        sink: Box<dyn OutcomeSink>,
    },
    /// Owned by an [`OutboxWorker`] thread.
    Worker(OutboxWorker),
}

impl OutcomeWriter {
    /// Queues an outcome durably. An error means the outbox file could not be written (the record
    /// is still tried against the database).
    pub fn submit(&mut self, outcome: OutcomeRecord, now: Instant) -> Result<(), DeskError> {
        match self {
            OutcomeWriter::Inline { outbox, sink } => {
                let result = outbox.submit(outcome);
                let _ = outbox.flush(sink.as_mut(), now);
                result
            }
            OutcomeWriter::Worker(worker) => worker
                .tx
                .send(outcome)
                .map_err(|_| DeskError::WorkerGone("outbox")),
        }
    }

    /// Runs due retries (inline) or collects the worker's news. `None` when nothing changed.
    pub fn poll(&mut self, now: Instant) -> Option<OutboxStatus> {
        match self {
            OutcomeWriter::Inline { outbox, sink } => {
                let report = outbox.flush(sink.as_mut(), now);
                Some(OutboxStatus {
                    pending: outbox.pending().len(),
                    last_error: outbox.last_error().map(str::to_owned),
                    newly_rejected: report.rejected,
                    newly_written: report.written,
                })
            }
            OutcomeWriter::Worker(worker) => {
                let mut latest: Option<OutboxStatus> = None;
                while let Ok(mut status) = worker.status.try_recv() {
                    if let Some(prev) = latest.take() {
                        let mut rejected = prev.newly_rejected;
                        rejected.append(&mut status.newly_rejected);
                        status.newly_rejected = rejected;
                        status.newly_written += prev.newly_written;
                    }
                    latest = Some(status);
                }
                latest
            }
        }
    }
}

/// A thread that owns an [`Outbox`] and its sink: it takes new records over a channel, flushes
/// when a retry is due, and reports [`OutboxStatus`]. Dropping the worker makes the thread try
/// one last flush and exit; whatever is still pending stays in the file for the next start.
pub struct OutboxWorker {
    tx: Sender<OutcomeRecord>,
    status: Receiver<OutboxStatus>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OutboxWorker {
    /// Starts the thread.
    pub fn spawn(
        mut outbox: Outbox,
        mut sink: Box<dyn OutcomeSink>,
        clock: Arc<dyn Clock>,
        wake_ui: Box<dyn Fn() + Send>,
    ) -> Result<Self, DeskError> {
        let (tx, rx) = mpsc::channel::<OutcomeRecord>();
        let (status_tx, status) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || {
                let mut last_sent: Option<OutboxStatus> = None;
                loop {
                    let now = clock.now();
                    let report = outbox.flush(sink.as_mut(), now);
                    let st = OutboxStatus {
                        pending: outbox.pending().len(),
                        last_error: outbox.last_error().map(str::to_owned),
                        newly_rejected: report.rejected,
                        newly_written: report.written,
                    };
                    if last_sent.as_ref() != Some(&st) {
                        if status_tx.send(st.clone()).is_err() {
                            return;
                        }
                        wake_ui();
                        last_sent = Some(st);
                    }
                    let wait = outbox
                        .next_attempt()
                        .map_or(Duration::from_secs(5), |at| {
                            at.saturating_duration_since(clock.now())
                        })
                        .max(Duration::from_millis(50));
                    match rx.recv_timeout(wait) {
                        Ok(outcome) => {
                            if let Err(e) = outbox.submit(outcome) {
                                tracing::error!(error = %e, "outbox: cannot persist outcome");
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            let _ = outbox.flush(sink.as_mut(), clock.now());
                            return;
                        }
                    }
                }
            })
            .map_err(|e| DeskError::io("outbox thread", e))?;
        Ok(OutboxWorker {
            tx,
            status,
            thread: Some(thread),
        })
    }
}

impl Drop for OutboxWorker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop after one last flush.
        let (dead_tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, dead_tx));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A sink that keeps outcomes in memory and can be told to fail: for tests and the demo.
#[derive(Clone, Default)]
pub struct MemorySink {
    inner: Arc<std::sync::Mutex<MemorySinkState>>,
}

#[derive(Default)]
struct MemorySinkState {
    rows: HashMap<(CallId, AgentId), OutcomeRecord>,
    writes: usize,
    failing: Option<SinkError>,
}

impl MemorySink {
    /// An empty, working sink.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// Makes every following write fail with `error` (`None`: work again).
    pub fn set_failing(&self, error: Option<SinkError>) {
        self.lock().failing = error;
    }

    /// The stored outcome for a call and agent.
    pub fn get(&self, call: &CallId, agent: &AgentId) -> Option<OutcomeRecord> {
        self.lock()
            .rows
            .get(&(call.clone(), agent.clone()))
            .cloned()
    }

    /// Rows stored (one per call and agent, however often written).
    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// Is nothing stored?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Successful write calls, including repeats.
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemorySinkState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl OutcomeSink for MemorySink {
    fn write(&mut self, outcome: &OutcomeRecord) -> Result<(), SinkError> {
        let mut state = self.lock();
        if let Some(err) = state.failing.clone() {
            return Err(err);
        }
        state.writes += 1;
        state.rows.insert(outcome.key(), outcome.clone());
        Ok(())
    }
}
