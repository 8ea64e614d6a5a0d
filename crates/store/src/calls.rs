//! Call records: one row per call, kept current by the call's events, written in batches (one
//! transaction for many calls' events) by [`Store::record_call_events`].

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::webhooks::{self, EventKind, WebhookEvent};
use crate::{
    Backend, CallEvent, CallEventKind, CallRecord, CustomerId, Error, LegQuality, Millis, Result,
    Store, flag,
};

/// The columns [`call_record`] reads, as a literal (sqlx takes only static SQL).
macro_rules! call_columns {
    () => {
        "id, direction, ani, dnis, customer_id, ivr_path, ivr_inputs, queue_id, priority,
         arrived_at, enqueued_at, offered_at, answered_at, ended_at, agent_id, end_reason,
         abandoned, hold_ms, transfers, quality"
    };
}

/// A `calls` row (selected as `call_columns!()`) as a [`CallRecord`].
fn call_record(r: &AnyRow) -> Result<CallRecord> {
    let path: String = r.try_get("ivr_path")?;
    let inputs: String = r.try_get("ivr_inputs")?;
    Ok(CallRecord {
        id: r.try_get("id")?,
        direction: r.try_get("direction")?,
        ani: r.try_get("ani")?,
        dnis: r.try_get("dnis")?,
        customer_id: r.try_get("customer_id")?,
        ivr_path: serde_json::from_str(&path).map_err(|e| Error::Corrupt(e.to_string()))?,
        ivr_inputs: serde_json::from_str(&inputs).map_err(|e| Error::Corrupt(e.to_string()))?,
        queue_id: r.try_get("queue_id")?,
        priority: r.try_get("priority")?,
        arrived_at: r.try_get("arrived_at")?,
        enqueued_at: r.try_get("enqueued_at")?,
        offered_at: r.try_get("offered_at")?,
        answered_at: r.try_get("answered_at")?,
        ended_at: r.try_get("ended_at")?,
        agent_id: r.try_get("agent_id")?,
        end_reason: r.try_get("end_reason")?,
        abandoned: flag(r.try_get("abandoned")?),
        hold_ms: r.try_get("hold_ms")?,
        transfers: r.try_get("transfers")?,
        quality: parse_quality(r.try_get("quality")?)?,
    })
}

/// The `quality` column: a JSON list of [`LegQuality`], NULL before the first leg's.
fn parse_quality(stored: Option<String>) -> Result<Vec<LegQuality>> {
    match stored {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| Error::Corrupt(e.to_string())),
    }
}

/// The most rows one multi-row statement carries (at most 15 parameters a row: 960, under
/// SQLite's and PostgreSQL's bind limits). A batch is cut into chunks whose sizes are powers
/// of two up to this, so each statement has at most seven texts and every one of them stays
/// in the connection's prepared-statement cache.
const MAX_ROWS: usize = 64;

/// A multi-row statement: `head`, then one `(...)` of `columns` parameters per row, then
/// `tail`. A column with a type is written `CAST($n AS type)` (PostgreSQL cannot infer the
/// type of a parameter in a `VALUES` list that feeds no table).
///
/// On SQLite the parameters are anonymous `?`, bound in order: sqlx binds each parameter by
/// asking SQLite for its name, which for `$n` names is a linear search of the statement's
/// names (a 64-row update's 960 parameters took a third of the writer's CPU that way).
struct MultiRow {
    head: &'static str,
    columns: &'static [&'static str],
    tail: &'static str,
    texts: [std::sync::OnceLock<Vec<String>>; 2],
}

impl MultiRow {
    const fn new(
        head: &'static str,
        columns: &'static [&'static str],
        tail: &'static str,
    ) -> MultiRow {
        MultiRow {
            head,
            columns,
            tail,
            texts: [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
        }
    }

    /// The text for `rows` rows, a power of two up to [`MAX_ROWS`].
    fn sql(&'static self, backend: Backend, rows: usize) -> &'static str {
        let slot = match backend {
            Backend::Sqlite => 0,
            Backend::Postgres => 1,
        };
        let texts = self.texts[slot].get_or_init(|| {
            (0..=MAX_ROWS.trailing_zeros())
                .map(|k| {
                    let n = self.columns.len();
                    let values: Vec<String> = (0..1usize << k)
                        .map(|r| {
                            let params: Vec<String> = self
                                .columns
                                .iter()
                                .enumerate()
                                .map(|(c, ty)| {
                                    let p = match backend {
                                        Backend::Sqlite => "?".to_string(),
                                        Backend::Postgres => format!("${}", r * n + c + 1),
                                    };
                                    match *ty {
                                        "" => p,
                                        ty => format!("CAST({p} AS {ty})"),
                                    }
                                })
                                .collect();
                            format!("({})", params.join(", "))
                        })
                        .collect();
                    format!("{}{}{}", self.head, values.join(", "), self.tail)
                })
                .collect()
        });
        debug_assert!(rows.is_power_of_two() && rows <= MAX_ROWS);
        texts[rows.trailing_zeros() as usize].as_str()
    }
}

/// Cuts `items` into chunks of [`MAX_ROWS`], then the rest into falling powers of two.
fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let rows = 1usize << items.len().min(MAX_ROWS).ilog2();
        let (chunk, rest) = items.split_at(rows);
        items = rest;
        Some(chunk)
    })
}

/// The events, returning the keys of those not stored before.
static INSERT_EVENTS: MultiRow = MultiRow::new(
    "INSERT INTO call_events (call_id, seq, at, kind, agent_id, queue_id, detail) VALUES ",
    &["", "", "", "", "", "", ""],
    " ON CONFLICT (call_id, seq) DO NOTHING RETURNING call_id, seq",
);

/// The rows of calls that arrived.
static INSERT_CALLS: MultiRow = MultiRow::new(
    "INSERT INTO calls (id, direction, ani, dnis, arrived_at, node) VALUES ",
    &["", "", "", "", "", ""],
    " ON CONFLICT (id) DO NOTHING",
);

/// Every call's [`RowChange`] at once, returning the ids of the rows found (the others never
/// arrived). A column the batch does not set is NULL here and keeps its stored value; the
/// first-time stamps keep a stored one. Every matched row is written, which on PostgreSQL also
/// locks it for the quality append that follows.
static UPDATE_CALLS: MultiRow = MultiRow::new(
    "WITH v (call, customer_id, ivr_path, ivr_inputs, queue_id, priority, enqueued_at, \
           offered_at, answered_at, agent_id, ended_at, end_reason, abandoned, hold_add, \
           transfers_add) AS (VALUES ",
    &[
        "TEXT", "BIGINT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "TEXT",
        "BIGINT", "TEXT", "BIGINT", "BIGINT", "BIGINT",
    ],
    ") UPDATE calls SET customer_id = COALESCE(v.customer_id, calls.customer_id), \
           ivr_path = COALESCE(v.ivr_path, calls.ivr_path), \
           ivr_inputs = COALESCE(v.ivr_inputs, calls.ivr_inputs), \
           queue_id = COALESCE(v.queue_id, calls.queue_id), \
           priority = COALESCE(v.priority, calls.priority), \
           enqueued_at = COALESCE(calls.enqueued_at, v.enqueued_at), \
           offered_at = COALESCE(calls.offered_at, v.offered_at), \
           answered_at = COALESCE(calls.answered_at, v.answered_at), \
           agent_id = COALESCE(v.agent_id, calls.agent_id), \
           ended_at = COALESCE(calls.ended_at, v.ended_at), \
           end_reason = COALESCE(calls.end_reason, v.end_reason), \
           abandoned = COALESCE(v.abandoned, calls.abandoned), \
           hold_ms = calls.hold_ms + v.hold_add, \
           transfers = calls.transfers + v.transfers_add \
           FROM v WHERE calls.id = v.call RETURNING id",
);

/// What a run of new events does to one call's row, folded in order so that one statement
/// gives the row the events applied one by one would: the last value for what an event sets
/// (customer, IVR, queue and priority, agent, abandoned), the first for what it stamps once
/// (enqueued, offered, answered, ended and the end reason, which the stored value also
/// keeps), sums of hold times and transfers, and the quality entries to append in order.
#[derive(Default)]
struct RowChange<'a> {
    customer_id: Option<CustomerId>,
    ivr: Option<(String, String)>,
    queue: Option<(&'a str, i64)>,
    enqueued_at: Option<Millis>,
    offered_at: Option<Millis>,
    answered_at: Option<Millis>,
    agent_id: Option<&'a str>,
    ended: Option<(Millis, &'a str)>,
    abandoned: Option<bool>,
    hold_add: i64,
    transfers_add: i64,
    quality: Vec<&'a LegQuality>,
}

impl<'a> RowChange<'a> {
    /// Folds in the next event of the call (any kind but `arrived`).
    fn fold(&mut self, ev: &'a CallEvent) -> Result<()> {
        let at = ev.at;
        match &ev.kind {
            CallEventKind::Arrived { .. } | CallEventKind::Held | CallEventKind::Note { .. } => {}
            CallEventKind::Identified { customer_id } => self.customer_id = Some(*customer_id),
            CallEventKind::Ivr { path, inputs } => {
                self.ivr = Some((to_json(path)?, to_json(inputs)?));
            }
            CallEventKind::Enqueued { queue_id, priority } => {
                self.queue = Some((queue_id, *priority));
                self.enqueued_at.get_or_insert(at);
            }
            CallEventKind::Offered { .. } => {
                self.offered_at.get_or_insert(at);
            }
            CallEventKind::Answered { agent_id } => {
                self.answered_at.get_or_insert(at);
                self.agent_id = Some(agent_id);
            }
            CallEventKind::Resumed { hold_ms } => self.hold_add += (*hold_ms).max(0),
            CallEventKind::Transferred { .. } => self.transfers_add += 1,
            CallEventKind::Ended { reason, abandoned } => {
                self.ended.get_or_insert((at, reason));
                self.abandoned = Some(*abandoned);
            }
            CallEventKind::Quality(leg) => self.quality.push(leg),
        }
        Ok(())
    }
}

/// Enqueues `call.ended` for the calls whose `ended` event this transaction stored, with
/// the call record as it now is (without the digits the caller entered in the IVR, which
/// may hold a PIN). Idempotent by call id: a call ends once.
async fn enqueue_call_ended(conn: &mut AnyConnection, ids: &[&str]) -> Result<()> {
    let subs = webhooks::subscribers(conn, EventKind::CallEnded).await?;
    if subs.is_empty() {
        return Ok(());
    }
    let mut events = Vec::with_capacity(ids.len());
    for id in ids {
        let row = sqlx::query(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls WHERE id = $1"
        ))
        .bind(*id)
        .fetch_one(&mut *conn)
        .await?;
        let c = call_record(&row)?;
        let at = c.ended_at.unwrap_or(c.arrived_at);
        events.push(WebhookEvent {
            kind: EventKind::CallEnded,
            subject: format!("call/{}", c.id),
            source_id: c.id.clone(),
            occurred_at: at,
            data: serde_json::json!({
                "call_id": c.id,
                "direction": c.direction,
                "ani": c.ani,
                "dnis": c.dnis,
                "customer_id": c.customer_id,
                "ivr_path": c.ivr_path,
                "queue_id": c.queue_id,
                "priority": c.priority,
                "arrived_at": c.arrived_at,
                "enqueued_at": c.enqueued_at,
                "offered_at": c.offered_at,
                "answered_at": c.answered_at,
                "ended_at": c.ended_at,
                "agent_id": c.agent_id,
                "end_reason": c.end_reason,
                "abandoned": c.abandoned,
                "hold_ms": c.hold_ms,
                "transfers": c.transfers,
            }),
        });
    }
    webhooks::enqueue_for(conn, &subs, &events).await
}

/// A value as the JSON text of a column.
fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Invalid(e.to_string()))
}

/// An event of a batch that the store refused for good (bad input, a call that never
/// arrived), and why. The batch's other events were written.
#[derive(Debug)]
pub struct RefusedEvent {
    /// The event's position in the batch.
    pub index: usize,
    /// Why it was refused (never transient).
    pub error: Error,
}

/// An event that passed the checks done before any SQL, with its stored `detail`.
struct Checked<'a> {
    index: usize,
    ev: &'a CallEvent,
    detail: String,
}

impl Checked<'_> {
    /// The `agent_id` and `queue_id` columns of the event's `call_events` row.
    fn agent_and_queue(&self) -> (Option<&str>, Option<&str>) {
        match &self.ev.kind {
            CallEventKind::Offered { agent_id } | CallEventKind::Answered { agent_id } => {
                (Some(agent_id.as_str()), None)
            }
            CallEventKind::Enqueued { queue_id, .. } => (None, Some(queue_id.as_str())),
            _ => (None, None),
        }
    }
}

/// The checks an event must pass before it reaches the database.
fn check(index: usize, ev: &CallEvent) -> Result<Checked<'_>> {
    if ev.call_id.is_empty() || ev.call_id.len() > 128 {
        return Err(Error::Invalid("call id must be 1 to 128 characters".into()));
    }
    let detail = to_json(&ev.kind)?;
    Ok(Checked { index, ev, detail })
}

impl Store {
    /// Stores one call event and applies it to the call's row: [`Store::record_call_events`]
    /// with a batch of one, returning the event's refusal as the error.
    ///
    /// Idempotent: an event whose `(call_id, seq)` is already stored changes nothing, so the
    /// switch's call-record writer can retry after a dropped connection without duplicating
    /// anything. The first event of a call must be [`CallEventKind::Arrived`].
    pub async fn record_call_event(&self, ev: &CallEvent) -> Result<()> {
        match self
            .record_call_events(std::slice::from_ref(ev))
            .await?
            .pop()
        {
            Some(refused) => Err(refused.error),
            None => Ok(()),
        }
    }

    /// Stores a batch of call events and applies each to its call's row, all in one
    /// transaction (group commit: one commit for many calls' events).
    ///
    /// Each event has the meaning it has alone, in batch order: an event whose
    /// `(call_id, seq)` is already stored (before, or earlier in this batch) changes nothing;
    /// [`CallEventKind::Arrived`] creates the call's row; every other kind updates the row
    /// (quality entries are appended in order) and needs the row to exist. The events go in
    /// with multi-row `INSERT ... RETURNING` (the returned keys say which are new); the new
    /// ones are folded per call and applied with a multi-row `INSERT` of the calls that
    /// arrive and one multi-row `UPDATE ... FROM (VALUES ...)` of the others, so a batch
    /// costs a few statements per 64 events rather than two or three per event. A batch
    /// in which an event of a call comes before that call's `arrived` is applied in runs cut
    /// there, so that event finds no row, as it would alone.
    ///
    /// A transient failure retries the whole batch ([`Store::retrying`]); when the retries run
    /// out it is returned (the only error this returns) and the caller may repeat the batch
    /// (idempotent: what did commit changes nothing the second time). When an event is
    /// refused for good, the batch's transaction is rolled back and its events are written one
    /// transaction each, so that only the refused ones are left out: they are returned, in
    /// batch order, and every other event is stored. An empty list means all were stored.
    pub async fn record_call_events(&self, events: &[CallEvent]) -> Result<Vec<RefusedEvent>> {
        let mut refused = Vec::new();
        let mut ready = Vec::with_capacity(events.len());
        for (index, ev) in events.iter().enumerate() {
            match check(index, ev) {
                Ok(c) => ready.push(c),
                Err(error) => refused.push(RefusedEvent { index, error }),
            }
        }
        if ready.is_empty() {
            return Ok(refused);
        }
        match self.retrying(|| self.write_batch_once(&ready)).await {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e),
            Err(error) if ready.len() == 1 => refused.push(RefusedEvent {
                index: ready[0].index,
                error,
            }),
            Err(e) => {
                tracing::debug!(events = ready.len(), error = %e,
                    "call-event batch refused; writing its events one by one");
                for c in &ready {
                    match self
                        .retrying(|| self.write_batch_once(std::slice::from_ref(c)))
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.is_transient() => return Err(e),
                        Err(error) => refused.push(RefusedEvent {
                            index: c.index,
                            error,
                        }),
                    }
                }
            }
        }
        refused.sort_by_key(|r| r.index);
        Ok(refused)
    }

    /// One attempt at a batch: one transaction, committed only when every event applied.
    async fn write_batch_once(&self, batch: &[Checked<'_>]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        // The keys this transaction inserted: an event is applied to its row only if its key
        // is among them, and only once (a duplicate later in the batch finds it taken).
        let mut new: HashSet<(String, i64)> = HashSet::with_capacity(batch.len());
        for chunk in chunks(batch) {
            let mut q =
                sqlx::query_as::<_, (String, i64)>(INSERT_EVENTS.sql(self.backend, chunk.len()));
            for c in chunk {
                let (agent, queue) = c.agent_and_queue();
                q = q
                    .bind(c.ev.call_id.as_str())
                    .bind(c.ev.seq)
                    .bind(c.ev.at)
                    .bind(c.ev.kind.name())
                    .bind(agent)
                    .bind(queue)
                    .bind(c.detail.as_str());
            }
            new.extend(q.fetch_all(&mut *tx).await?);
        }
        let fresh: Vec<&CallEvent> = batch
            .iter()
            .filter(|c| new.remove(&(c.ev.call_id.clone(), c.ev.seq)))
            .map(|c| c.ev)
            .collect();
        // Runs in which no call's `arrived` follows another event of that call, so that within
        // a run the rows can be created first and then changed: an event before its call's
        // `arrived` (out of order) must find the row missing, as it would alone.
        let mut start = 0;
        let mut changed: HashSet<&str> = HashSet::new();
        for (i, ev) in fresh.iter().enumerate() {
            let id = ev.call_id.as_str();
            if !matches!(ev.kind, CallEventKind::Arrived { .. }) {
                changed.insert(id);
            } else if changed.contains(id) {
                self.apply_run(&mut tx, &fresh[start..i]).await?;
                start = i;
                changed.clear();
            }
        }
        self.apply_run(&mut tx, &fresh[start..]).await?;
        let mut ended: Vec<&str> = Vec::new();
        for ev in &fresh {
            if matches!(ev.kind, CallEventKind::Ended { .. })
                && !ended.contains(&ev.call_id.as_str())
            {
                ended.push(ev.call_id.as_str());
            }
        }
        if !ended.is_empty() {
            enqueue_call_ended(&mut tx, &ended).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies a run of newly stored events to the calls' rows with a few multi-row
    /// statements: the rows of the calls that arrive, then each call's folded [`RowChange`],
    /// then the quality appends. `NotFound` when a call with other events has no row.
    async fn apply_run(&self, conn: &mut AnyConnection, events: &[&CallEvent]) -> Result<()> {
        // (id, direction, ani, dnis, arrived_at) of each call's first `arrived` here.
        let mut arrivals: Vec<(&str, &str, &str, &str, Millis)> = Vec::new();
        let mut arrived: HashSet<&str> = HashSet::new();
        // Each call's change, in the order of the call's first event here.
        let mut changes: Vec<(&str, RowChange<'_>)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for ev in events {
            let id = ev.call_id.as_str();
            if let CallEventKind::Arrived {
                direction,
                ani,
                dnis,
            } = &ev.kind
            {
                if arrived.insert(id) {
                    arrivals.push((id, direction.as_str(), ani, dnis, ev.at));
                }
                continue;
            }
            let i = *at.entry(id).or_insert_with(|| {
                changes.push((id, RowChange::default()));
                changes.len() - 1
            });
            changes[i].1.fold(ev)?;
        }
        for chunk in chunks(&arrivals) {
            let mut q = sqlx::query(INSERT_CALLS.sql(self.backend, chunk.len()));
            for (id, direction, ani, dnis, arrived_at) in chunk {
                q = q
                    .bind(*id)
                    .bind(*direction)
                    .bind(*ani)
                    .bind(*dnis)
                    .bind(*arrived_at)
                    .bind(self.node.as_deref());
            }
            q.execute(&mut *conn).await?;
        }
        let mut found: HashSet<String> = HashSet::with_capacity(changes.len());
        for chunk in chunks(&changes) {
            let mut q =
                sqlx::query_scalar::<_, String>(UPDATE_CALLS.sql(self.backend, chunk.len()));
            for (id, c) in chunk {
                let (ivr_path, ivr_inputs) = match &c.ivr {
                    Some((path, inputs)) => (Some(path.as_str()), Some(inputs.as_str())),
                    None => (None, None),
                };
                q = q
                    .bind(*id)
                    .bind(c.customer_id)
                    .bind(ivr_path)
                    .bind(ivr_inputs)
                    .bind(c.queue.map(|(queue, _)| queue))
                    .bind(c.queue.map(|(_, priority)| priority))
                    .bind(c.enqueued_at)
                    .bind(c.offered_at)
                    .bind(c.answered_at)
                    .bind(c.agent_id)
                    .bind(c.ended.map(|(at, _)| at))
                    .bind(c.ended.map(|(_, reason)| reason))
                    .bind(c.abandoned.map(i64::from))
                    .bind(c.hold_add)
                    .bind(c.transfers_add);
            }
            found.extend(q.fetch_all(&mut *conn).await?);
        }
        if let Some((id, _)) = changes.iter().find(|(id, _)| !found.contains(*id)) {
            return Err(Error::NotFound(format!(
                "call {id}: its first event must be `arrived`"
            )));
        }
        // A leg's quality is appended to the call's list: read under the row's lock (the
        // update above took it on PostgreSQL; SQLite writes one at a time anyway), then written.
        for (id, c) in changes.iter().filter(|(_, c)| !c.quality.is_empty()) {
            let stored: Option<Option<String>> =
                sqlx::query_scalar("SELECT quality FROM calls WHERE id = $1")
                    .bind(*id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let mut legs = parse_quality(stored.flatten())?;
            legs.extend(c.quality.iter().map(|leg| (*leg).clone()));
            sqlx::query("UPDATE calls SET quality = $1 WHERE id = $2")
                .bind(to_json(&legs)?)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Closes every call record that `node` created and that has no end: the calls that were
    /// live when that node's process died (SIGKILL, power loss). Run by the switch at start-up,
    /// before it takes calls, with its own `[node] name`; records of other nodes sharing the
    /// database are not touched, nor are records without a node (written before migration
    /// 0004 or by tools).
    ///
    /// Each record gets an `ended` event with `reason` (the switch uses "switch restarted"),
    /// not abandoned, stamped with the time of the call's last stored event: the real end is
    /// unknown, and the last sign of life keeps talk and handle times from growing by however
    /// long the node was down. The event takes the next sequence number after the stored ones
    /// and all of them go in one batch through [`Store::record_call_events`], so running this
    /// twice (or on two processes at once) closes each record once. Returns the ids of the
    /// closed calls.
    pub async fn close_calls_left_open(&self, node: &str, reason: &str) -> Result<Vec<String>> {
        let open: Vec<(String, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
            "SELECT c.id, MAX(e.seq), MAX(e.at), c.arrived_at
             FROM calls c LEFT JOIN call_events e ON e.call_id = c.id
             WHERE c.ended_at IS NULL AND c.node = $1
             GROUP BY c.id, c.arrived_at ORDER BY c.id",
        )
        .bind(node)
        .fetch_all(self.pool())
        .await?;
        let ends: Vec<CallEvent> = open
            .into_iter()
            .map(|(id, last_seq, last_at, arrived_at)| CallEvent {
                call_id: id,
                seq: last_seq.map_or(0, |s| s + 1),
                at: last_at.unwrap_or(arrived_at).max(arrived_at),
                kind: CallEventKind::Ended {
                    reason: reason.to_string(),
                    abandoned: false,
                },
            })
            .collect();
        if let Some(refused) = self.record_call_events(&ends).await?.into_iter().next() {
            return Err(refused.error);
        }
        Ok(ends.into_iter().map(|e| e.call_id).collect())
    }

    /// The ids of the call records that have no end, oldest first (live calls, or calls a
    /// crash left open; for tests and fault checks).
    pub async fn open_call_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM calls WHERE ended_at IS NULL ORDER BY arrived_at, id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// One call's row.
    pub async fn call(&self, id: &str) -> Result<Option<CallRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(call_record).transpose()
    }

    /// The calls that arrived in `[from, to)`, newest first, at most `limit` (a supervisor's
    /// list of the day's calls, with each call's per leg quality).
    pub async fn calls_between(
        &self,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<CallRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            call_columns!(),
            " FROM calls WHERE arrived_at >= $1 AND arrived_at < $2
             ORDER BY arrived_at DESC, id DESC LIMIT $3"
        ))
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(call_record).collect()
    }

    /// The stored event kinds of a call, in sequence order (for audits and tests).
    pub async fn call_event_kinds(&self, id: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT kind FROM call_events WHERE call_id = $1 ORDER BY seq")
                .bind(id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// How many call rows exist (tests, metrics).
    pub async fn count_calls(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM calls")
            .fetch_one(self.pool())
            .await?)
    }
}
