//! Tickets as work: a voicemail filed as a ticket in its queue with the recording, and the
//! worklist an agent works from (what is assigned to her and what waits, unassigned, in her
//! queues), open work first by due time.

use sqlx::Row;

use crate::customers::ticket_from_row;
use crate::{Error, NewTicket, NewVoicemail, Result, Store, TicketId, WorkItem, WorkKind};

impl Store {
    /// Files a voicemail as an open ticket in `v.queue` with its recording and due time, once
    /// per call (a retry returns the same ticket). The body says who called and how long the message is.
    pub async fn file_voicemail(&self, v: &NewVoicemail) -> Result<TicketId> {
        if v.queue.trim().is_empty() {
            return Err(Error::Invalid("voicemail queue is empty".into()));
        }
        if v.recording.contains('/') || v.recording.contains('\\') || v.recording.is_empty() {
            return Err(Error::Invalid(format!(
                "recording {:?} must be a file name in the recordings folder",
                v.recording
            )));
        }
        let secs = (v.duration_ms.max(0) + 500) / 1000;
        let caller = if v.caller.is_empty() {
            "an unknown number"
        } else {
            v.caller.as_str()
        };
        let id = self
            .create_ticket(&NewTicket {
                client_key: Some(format!("vm:{}", v.call_id)),
                customer_id: v.customer_id,
                call_id: Some(v.call_id.clone()),
                subject: v.subject.clone(),
                body: format!("Voicemail from {caller}, {secs} s."),
                priority: "normal".into(),
                assignee: None,
                created_by: Some("voicemail".into()),
                at: v.at,
            })
            .await?;
        self.retrying(|| async {
            sqlx::query(
                "UPDATE tickets SET queue_id = $1, kind = 'voicemail', recording = $2, due_at = $3
                 WHERE id = $4 AND queue_id IS NULL",
            )
            .bind(v.queue.trim())
            .bind(v.recording.as_str())
            .bind(v.due_at)
            .bind(id)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await?;
        Ok(id)
    }

    /// An agent's worklist: open and pending tickets assigned to `agent`, and those nobody is
    /// assigned to in one of `queues`; due first (no due time last), then oldest first.
    pub async fn worklist(
        &self,
        agent: &str,
        queues: &[String],
        limit: i64,
    ) -> Result<Vec<WorkItem>> {
        let limit = limit.clamp(1, 500);
        // One placeholder per queue (built from the count, never from input).
        let placeholders: Vec<String> = (0..queues.len()).map(|i| format!("${}", i + 3)).collect();
        let in_queues = if queues.is_empty() {
            "1 = 0".to_string()
        } else {
            format!("queue_id IN ({})", placeholders.join(", "))
        };
        let sql = format!(
            "SELECT id, customer_id, call_id, subject, body, status, priority, assignee, created_at,
                    updated_at, queue_id, kind, due_at, recording
             FROM tickets
             WHERE status IN ('open', 'pending')
               AND (assignee = $1 OR (assignee IS NULL AND {in_queues}))
             ORDER BY CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, created_at, id
             LIMIT $2"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(agent)
            .bind(limit);
        for queue in queues {
            q = q.bind(queue.as_str());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(work_item_from_row).collect()
    }

    /// One ticket as a work item.
    pub async fn work_item(&self, id: TicketId) -> Result<Option<WorkItem>> {
        let row = sqlx::query(
            "SELECT id, customer_id, call_id, subject, body, status, priority, assignee, created_at,
                    updated_at, queue_id, kind, due_at, recording
             FROM tickets WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(work_item_from_row).transpose()
    }
}

fn work_item_from_row(r: &sqlx::any::AnyRow) -> Result<WorkItem> {
    let kind: String = r.try_get("kind")?;
    Ok(WorkItem {
        ticket: ticket_from_row(r)?,
        queue: r.try_get("queue_id")?,
        kind: WorkKind::parse(&kind)
            .ok_or_else(|| Error::Corrupt(format!("unknown work kind {kind:?}")))?,
        due_at: r.try_get("due_at")?,
        recording: r.try_get("recording")?,
    })
}
