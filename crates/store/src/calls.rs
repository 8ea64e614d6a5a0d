//! Call records: one row per call, kept current by the call's events.

use sqlx::Row;

use crate::{CallEvent, CallEventKind, CallRecord, Error, Result, Store, flag};

impl Store {
    /// Stores one call event and applies it to the call's row, in one transaction.
    ///
    /// Idempotent: an event whose `(call_id, seq)` is already stored changes nothing, so the
    /// switch's call-record writer can retry after a dropped connection without duplicating
    /// anything. The first event of a call must be [`CallEventKind::Arrived`].
    pub async fn record_call_event(&self, ev: &CallEvent) -> Result<()> {
        if ev.call_id.is_empty() || ev.call_id.len() > 128 {
            return Err(Error::Invalid("call id must be 1 to 128 characters".into()));
        }
        self.retrying(|| self.record_call_event_once(ev)).await
    }

    async fn record_call_event_once(&self, ev: &CallEvent) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        if let CallEventKind::Arrived {
            direction,
            ani,
            dnis,
        } = &ev.kind
        {
            sqlx::query(
                "INSERT INTO calls (id, direction, ani, dnis, arrived_at, node)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(ev.call_id.as_str())
            .bind(direction.as_str())
            .bind(ani.as_str())
            .bind(dnis.as_str())
            .bind(ev.at)
            .bind(self.node.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        let detail = serde_json::to_string(&ev.kind).map_err(|e| Error::Invalid(e.to_string()))?;
        let (agent, queue) = match &ev.kind {
            CallEventKind::Offered { agent_id } | CallEventKind::Answered { agent_id } => {
                (Some(agent_id.as_str()), None)
            }
            CallEventKind::Enqueued { queue_id, .. } => (None, Some(queue_id.as_str())),
            _ => (None, None),
        };
        let inserted = sqlx::query(
            "INSERT INTO call_events (call_id, seq, at, kind, agent_id, queue_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id, seq) DO NOTHING",
        )
        .bind(ev.call_id.as_str())
        .bind(ev.seq)
        .bind(ev.at)
        .bind(ev.kind.name())
        .bind(agent)
        .bind(queue)
        .bind(detail)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Already applied: a retry of a write that did commit.
            tx.rollback().await?;
            return Ok(());
        }
        let id = ev.call_id.as_str();
        let at = ev.at;
        let q = match &ev.kind {
            CallEventKind::Arrived { .. } | CallEventKind::Note { .. } | CallEventKind::Held => None,
            CallEventKind::Identified { customer_id } => Some(
                sqlx::query("UPDATE calls SET customer_id = $1 WHERE id = $2").bind(*customer_id).bind(id),
            ),
            CallEventKind::Ivr { path, inputs } => Some(
                sqlx::query("UPDATE calls SET ivr_path = $1, ivr_inputs = $2 WHERE id = $3")
                    .bind(serde_json::to_string(path).map_err(|e| Error::Invalid(e.to_string()))?)
                    .bind(serde_json::to_string(inputs).map_err(|e| Error::Invalid(e.to_string()))?)
                    .bind(id),
            ),
            CallEventKind::Enqueued { queue_id, priority } => Some(
                sqlx::query(
                    "UPDATE calls SET queue_id = $1, priority = $2, enqueued_at = COALESCE(enqueued_at, $3) WHERE id = $4",
                )
                .bind(queue_id.as_str())
                .bind(*priority)
                .bind(at)
                .bind(id),
            ),
            CallEventKind::Offered { .. } => Some(
                sqlx::query("UPDATE calls SET offered_at = COALESCE(offered_at, $1) WHERE id = $2")
                    .bind(at)
                    .bind(id),
            ),
            CallEventKind::Answered { agent_id } => Some(
                sqlx::query("UPDATE calls SET answered_at = COALESCE(answered_at, $1), agent_id = $2 WHERE id = $3")
                    .bind(at)
                    .bind(agent_id.as_str())
                    .bind(id),
            ),
            CallEventKind::Resumed { hold_ms } => Some(
                sqlx::query("UPDATE calls SET hold_ms = hold_ms + $1 WHERE id = $2").bind((*hold_ms).max(0)).bind(id),
            ),
            CallEventKind::Transferred { .. } => {
                Some(sqlx::query("UPDATE calls SET transfers = transfers + 1 WHERE id = $1").bind(id))
            }
            CallEventKind::Ended { reason, abandoned } => Some(
                sqlx::query(
                    "UPDATE calls SET ended_at = COALESCE(ended_at, $1), end_reason = COALESCE(end_reason, $2), abandoned = $3 WHERE id = $4",
                )
                .bind(at)
                .bind(reason.as_str())
                .bind(i64::from(*abandoned))
                .bind(id),
            ),
        };
        if let Some(q) = q {
            let n = q.execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Err(Error::NotFound(format!(
                    "call {id}: its first event must be `arrived`"
                )));
            }
        } else if !matches!(ev.kind, CallEventKind::Arrived { .. }) {
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM calls WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                tx.rollback().await?;
                return Err(Error::NotFound(format!(
                    "call {id}: its first event must be `arrived`"
                )));
            }
        }
        tx.commit().await?;
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
    /// and goes through [`Store::record_call_event`], so running this twice (or on two
    /// processes at once) closes each record once. Returns the ids of the closed calls.
    pub async fn close_calls_left_open(&self, node: &str, reason: &str) -> Result<Vec<String>> {
        let open: Vec<(String, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
            "SELECT c.id, MAX(e.seq), MAX(e.at), c.arrived_at
             FROM calls c LEFT JOIN call_events e ON e.call_id = c.id
             WHERE c.ended_at IS NULL AND c.node = $1
             GROUP BY c.id, c.arrived_at",
        )
        .bind(node)
        .fetch_all(self.pool())
        .await?;
        let mut closed = Vec::with_capacity(open.len());
        for (id, last_seq, last_at, arrived_at) in open {
            self.record_call_event(&CallEvent {
                call_id: id.clone(),
                seq: last_seq.map_or(0, |s| s + 1),
                at: last_at.unwrap_or(arrived_at).max(arrived_at),
                kind: CallEventKind::Ended {
                    reason: reason.to_string(),
                    abandoned: false,
                },
            })
            .await?;
            closed.push(id);
        }
        Ok(closed)
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
        let row = sqlx::query(
            "SELECT id, direction, ani, dnis, customer_id, ivr_path, ivr_inputs, queue_id, priority,
                    arrived_at, enqueued_at, offered_at, answered_at, ended_at, agent_id, end_reason,
                    abandoned, hold_ms, transfers
             FROM calls WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let path: String = r.try_get("ivr_path")?;
        let inputs: String = r.try_get("ivr_inputs")?;
        Ok(Some(CallRecord {
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
        }))
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
