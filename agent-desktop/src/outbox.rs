//! Outcome and ticket writes that survive a database outage and a restart.
//!
//! When an agent finishes wrap-up, the desktop writes the call's outcome (disposition, notes,
//! wrap-up time) and any ticket to the shared database through an [`OutcomeSink`]; a change she
//! makes to a ticket from her worklist (take it, close it) is a [`TicketChangeRecord`] on the same
//! path. The write goes
//! through an [`Outbox`] first: the record is appended to a local JSON-lines file and fsynced
//! before anything else happens, then written to the sink. If the sink is unavailable the record
//! stays in the file and is retried with back-off, also after the desktop is closed and
//! restarted. Writes are idempotent (an outcome by (call id, agent id) on the database side; a
//! ticket change sets a value, and setting it again changes nothing), so a record written but not
//! yet marked done (a crash in between) is simply written again.
//!
//! File format, one JSON object per line:
//! `{"op":"put","outcome":{...}}` (a record to write), `{"op":"done","call":..,"agent":..}` (it
//! was written), `{"op":"rejected","outcome":{...},"reason":..}` (the database refused it for
//! good, e.g. an unknown disposition: kept for a person to look at, never retried); ticket
//! changes likewise as `put_ticket`, `ticket_done` and `ticket_rejected` with a `change`. A torn
//! last line from a crash is skipped. The file is compacted when nothing is pending.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use hotline_cti::{
    AgentId, CallId, CustomerId, Disposition, Pii, TicketDraft, TicketId, TicketStatus, UnixMillis,
};
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

/// A change an agent made to a ticket outside a wrap-up (from her worklist), audited in the
/// ticket's history as hers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TicketChangeRecord {
    /// The ticket.
    pub ticket: TicketId,
    /// Who made the change.
    pub agent: AgentId,
    /// What changed.
    pub edit: TicketEdit,
    /// When.
    pub at: UnixMillis,
}

/// What a [`TicketChangeRecord`] changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum TicketEdit {
    /// Assign the ticket to the agent who made the change.
    Take,
    /// Set the status (solved closes it on the worklist).
    Status {
        /// The new status.
        status: TicketStatus,
    },
}

/// A record in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A call's outcome.
    Outcome(Box<OutcomeRecord>),
    /// A change to a ticket.
    Ticket(TicketChangeRecord),
}

/// Which write a status line is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordId {
    /// The outcome of this call.
    Outcome(CallId),
    /// A change to this ticket.
    Ticket(TicketId),
}

impl Record {
    /// Does `other` stand for the same write (a newer version replaces it)?
    fn same(&self, other: &Record) -> bool {
        match (self, other) {
            (Record::Outcome(a), Record::Outcome(b)) => a.key() == b.key(),
            (Record::Ticket(a), Record::Ticket(b)) => a == b,
            _ => false,
        }
    }

    /// Which write this is.
    pub fn id(&self) -> RecordId {
        match self {
            Record::Outcome(o) => RecordId::Outcome(o.call.clone()),
            Record::Ticket(t) => RecordId::Ticket(t.ticket.clone()),
        }
    }

    /// The outcome, if this is one.
    pub fn outcome(&self) -> Option<&OutcomeRecord> {
        match self {
            Record::Outcome(o) => Some(o),
            Record::Ticket(_) => None,
        }
    }

    fn put_line(&self) -> Line {
        match self {
            Record::Outcome(o) => Line::Put {
                outcome: (**o).clone(),
            },
            Record::Ticket(t) => Line::PutTicket { change: t.clone() },
        }
    }

    fn done_line(&self) -> Line {
        match self {
            Record::Outcome(o) => Line::Done {
                call: o.call.clone(),
                agent: o.agent.clone(),
            },
            Record::Ticket(t) => Line::TicketDone { change: t.clone() },
        }
    }

    fn rejected_line(&self, reason: &str) -> Line {
        match self {
            Record::Outcome(o) => Line::Rejected {
                outcome: (**o).clone(),
                reason: reason.to_owned(),
            },
            Record::Ticket(t) => Line::TicketRejected {
                change: t.clone(),
                reason: reason.to_owned(),
            },
        }
    }

    fn write_to(&self, sink: &mut dyn OutcomeSink) -> Result<(), SinkError> {
        match self {
            Record::Outcome(o) => sink.write(o),
            Record::Ticket(t) => sink.write_ticket(t),
        }
    }
}

/// Where outcomes end up (the shared database, through `hotline-store`).
pub trait OutcomeSink: Send {
    /// Writes the outcome and its ticket. Must be idempotent by (call, agent): the outbox may
    /// write the same record more than once.
    fn write(&mut self, outcome: &OutcomeRecord) -> Result<(), SinkError>;
    /// Writes a ticket change, as the agent who made it. Must be idempotent: the outbox may
    /// write the same change more than once.
    fn write_ticket(&mut self, change: &TicketChangeRecord) -> Result<(), SinkError>;
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
    PutTicket {
        change: TicketChangeRecord,
    },
    TicketDone {
        change: TicketChangeRecord,
    },
    TicketRejected {
        change: TicketChangeRecord,
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
    pending: Vec<Record>,
    rejected: Vec<(Record, String)>,
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
    pub rejected: Vec<(RecordId, String)>,
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
        let mut pending: Vec<Record> = Vec::new();
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
                    Ok(Line::Put { outcome }) => {
                        upsert(&mut pending, Record::Outcome(Box::new(outcome)))
                    }
                    Ok(Line::PutTicket { change }) => {
                        upsert(&mut pending, Record::Ticket(change));
                    }
                    Ok(Line::Done { call, agent }) => {
                        pending.retain(|r| {
                            r.outcome()
                                .is_none_or(|o| o.call != call || o.agent != agent)
                        });
                    }
                    Ok(Line::TicketDone { change }) => {
                        pending.retain(|r| !r.same(&Record::Ticket(change.clone())));
                    }
                    Ok(Line::Rejected { outcome, reason }) => {
                        let record = Record::Outcome(Box::new(outcome));
                        pending.retain(|r| !r.same(&record));
                        rejected.push((record, reason));
                    }
                    Ok(Line::TicketRejected { change, reason }) => {
                        let record = Record::Ticket(change);
                        pending.retain(|r| !r.same(&record));
                        rejected.push((record, reason));
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
        self.submit_record(Record::Outcome(Box::new(outcome)))
    }

    /// Records any write durably (append + fsync) and schedules an immediate write attempt.
    pub fn submit_record(&mut self, record: Record) -> Result<(), DeskError> {
        let line = record.put_line();
        // Keep it in memory even if the disk write fails, so it can still reach the database.
        upsert(&mut self.pending, record);
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
        while let Some(record) = self.pending.first().cloned() {
            match record.write_to(sink) {
                Ok(()) => {
                    self.pending.remove(0);
                    report.written += 1;
                    if let Err(e) = self.append(&record.done_line()) {
                        // Not fatal: the record would be written again, which is idempotent.
                        tracing::warn!(error = %e, "outbox: cannot mark record done");
                    }
                }
                Err(SinkError::Rejected(reason)) => {
                    self.pending.remove(0);
                    tracing::warn!(record = ?record.id(), %reason, "outbox: record rejected");
                    report.rejected.push((record.id(), reason.clone()));
                    if let Err(e) = self.append(&record.rejected_line(&reason)) {
                        tracing::warn!(error = %e, "outbox: cannot record rejection");
                    }
                    self.rejected.push((record, reason));
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
    pub fn pending(&self) -> &[Record] {
        &self.pending
    }

    /// Records the database refused, with the reason.
    pub fn rejected(&self) -> &[(Record, String)] {
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
            for (record, reason) in &self.rejected {
                let line = record.rejected_line(reason);
                text.push_str(
                    &serde_json::to_string(&line).map_err(|e| DeskError::Encode(e.to_string()))?,
                );
                text.push('\n');
            }
            for record in &self.pending {
                let line = record.put_line();
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

fn upsert(pending: &mut Vec<Record>, record: Record) {
    match pending.iter_mut().find(|r| r.same(&record)) {
        Some(existing) => *existing = record,
        None => pending.push(record),
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
    /// Records refused since the last status (which write, and the reason).
    pub newly_rejected: Vec<(RecordId, String)>,
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
    pub fn submit(&mut self, outcome: OutcomeRecord) -> Result<(), DeskError> {
        self.submit_record(Record::Outcome(Box::new(outcome)))
    }

    /// Queues a ticket change durably, like [`Self::submit`].
    pub fn submit_ticket(&mut self, change: TicketChangeRecord) -> Result<(), DeskError> {
        self.submit_record(Record::Ticket(change))
    }

    fn submit_record(&mut self, record: Record) -> Result<(), DeskError> {
        match self {
            // Written at the next poll (the app polls right after submitting), so what the
            // database says about it, a refusal too, reaches the UI.
            OutcomeWriter::Inline { outbox, .. } => outbox.submit_record(record),
            OutcomeWriter::Worker(worker) => worker
                .tx
                .send(record)
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
    tx: Sender<Record>,
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
        let (tx, rx) = mpsc::channel::<Record>();
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
                        Ok(record) => {
                            if let Err(e) = outbox.submit_record(record) {
                                tracing::error!(error = %e, "outbox: cannot persist record");
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
    tickets: Vec<TicketChangeRecord>,
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

    /// Ticket changes written, in order (repeats included).
    pub fn ticket_changes(&self) -> Vec<TicketChangeRecord> {
        self.lock().tickets.clone()
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

    fn write_ticket(&mut self, change: &TicketChangeRecord) -> Result<(), SinkError> {
        let mut state = self.lock();
        if let Some(err) = state.failing.clone() {
            return Err(err);
        }
        state.writes += 1;
        state.tickets.push(change.clone());
        Ok(())
    }
}
