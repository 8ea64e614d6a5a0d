//! Tickets and their history.

use sqlx::Row;

use crate::customers::{TICKET_COLUMNS, ticket_from_row};
use crate::webhooks::{EventKind, WebhookEvent};
use crate::{Error, NewTicket, Result, Store, Ticket, TicketChange, TicketId, TicketUpdate};

const STATUSES: [&str; 4] = ["open", "pending", "solved", "closed"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

impl Store {
    /// Creates a ticket and its first history line. With a `client_key`, creating the same
    /// ticket again returns the existing id instead of a duplicate.
    pub async fn create_ticket(&self, t: &NewTicket) -> Result<TicketId> {
        if t.subject.trim().is_empty() {
            return Err(Error::Invalid("ticket subject is empty".into()));
        }
        let priority = if t.priority.is_empty() {
            "normal"
        } else {
            t.priority.as_str()
        };
        if !PRIORITIES.contains(&priority) {
            return Err(Error::Invalid(format!(
                "unknown ticket priority {priority:?}"
            )));
        }
        self.retrying(|| async {
            if let Some(key) = &t.client_key {
                let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM tickets WHERE client_key = $1")
                    .bind(key.as_str())
                    .fetch_optional(self.pool())
                    .await?;
                if let Some(id) = existing {
                    return Ok(id);
                }
            }
            let mut tx = self.pool().begin().await?;
            let id: i64 = match sqlx::query_scalar(
                "INSERT INTO tickets (client_key, customer_id, call_id, subject, body, status, priority, assignee, created_by, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(t.client_key.as_deref())
            .bind(t.customer_id)
            .bind(t.call_id.as_deref())
            .bind(t.subject.trim())
            .bind(t.body.as_str())
            .bind(priority)
            .bind(t.assignee.as_deref())
            .bind(t.created_by.as_deref())
            .bind(t.at)
            .fetch_one(&mut *tx)
            .await
            {
                Ok(id) => id,
                Err(e) if Error::is_unique_violation(&e) => {
                    // A concurrent writer with the same client key won the race.
                    tx.rollback().await?;
                    let id: i64 = sqlx::query_scalar("SELECT id FROM tickets WHERE client_key = $1")
                        .bind(t.client_key.as_deref())
                        .fetch_one(self.pool())
                        .await?;
                    return Ok(id);
                }
                Err(e) => return Err(e.into()),
            };
            sqlx::query(
                "INSERT INTO ticket_history (ticket_id, at, actor, field, old_value, new_value) VALUES ($1, $2, $3, 'created', NULL, $4)",
            )
            .bind(id)
            .bind(t.at)
            .bind(t.created_by.as_deref())
            .bind(t.subject.trim())
            .execute(&mut *tx)
            .await?;
            crate::webhooks::enqueue(&mut tx, EventKind::TicketCreated, || {
                vec![WebhookEvent {
                    kind: EventKind::TicketCreated,
                    subject: format!("ticket/{id}"),
                    source_id: id.to_string(),
                    occurred_at: t.at,
                    data: serde_json::json!({
                        "ticket_id": id,
                        "customer_id": t.customer_id,
                        "call_id": t.call_id,
                        "subject": t.subject.trim(),
                        "body": t.body,
                        "status": "open",
                        "priority": priority,
                        "assignee": t.assignee,
                        "created_by": t.created_by,
                    }),
                }]
            })
            .await?;
            tx.commit().await?;
            Ok(id)
        })
        .await
    }

    /// Applies changes to a ticket; every changed field and any comment becomes a history line.
    pub async fn update_ticket(&self, id: TicketId, u: &TicketUpdate) -> Result<Ticket> {
        if let Some(s) = &u.status
            && !STATUSES.contains(&s.as_str())
        {
            return Err(Error::Invalid(format!("unknown ticket status {s:?}")));
        }
        if let Some(p) = &u.priority
            && !PRIORITIES.contains(&p.as_str())
        {
            return Err(Error::Invalid(format!("unknown ticket priority {p:?}")));
        }
        // Read, then write: on SQLite another writer committing in between makes the upgrade
        // fail (SQLITE_BUSY_SNAPSHOT), and the whole transaction is tried again.
        self.retrying(|| self.update_ticket_once(id, u)).await
    }

    async fn update_ticket_once(&self, id: TicketId, u: &TicketUpdate) -> Result<Ticket> {
        let mut tx = self.pool().begin().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"
        ));
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("ticket {id}")))?;
        let old = ticket_from_row(&row)?;
        let mut changes: Vec<(&str, Option<String>, Option<String>)> = Vec::new();
        let mut new = old.clone();
        if let Some(s) = &u.status
            && *s != old.status
        {
            changes.push(("status", Some(old.status.clone()), Some(s.clone())));
            new.status = s.clone();
        }
        if let Some(p) = &u.priority
            && *p != old.priority
        {
            changes.push(("priority", Some(old.priority.clone()), Some(p.clone())));
            new.priority = p.clone();
        }
        if let Some(a) = &u.assignee
            && *a != old.assignee
        {
            changes.push(("assignee", old.assignee.clone(), a.clone()));
            new.assignee = a.clone();
        }
        if let Some(s) = &u.subject
            && *s != old.subject
        {
            changes.push(("subject", Some(old.subject.clone()), Some(s.clone())));
            new.subject = s.clone();
        }
        if let Some(b) = &u.body
            && *b != old.body
        {
            changes.push(("body", None, None));
            new.body = b.clone();
        }
        if let Some(c) = &u.comment
            && !c.trim().is_empty()
        {
            changes.push(("comment", None, Some(c.clone())));
        }
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(old);
        }
        new.updated_at = u.at;
        sqlx::query(
            "UPDATE tickets SET status = $1, priority = $2, assignee = $3, subject = $4, body = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(new.status.as_str())
        .bind(new.priority.as_str())
        .bind(new.assignee.as_deref())
        .bind(new.subject.as_str())
        .bind(new.body.as_str())
        .bind(u.at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let mut first_line = None;
        let mut changed = Vec::with_capacity(changes.len());
        for (field, old_v, new_v) in changes {
            let line: i64 = sqlx::query_scalar(
                "INSERT INTO ticket_history (ticket_id, at, actor, field, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(id)
            .bind(u.at)
            .bind(u.actor.as_deref())
            .bind(field)
            .bind(old_v.as_deref())
            .bind(new_v.as_deref())
            .fetch_one(&mut *tx)
            .await?;
            first_line.get_or_insert(line);
            changed.push(serde_json::json!({ "field": field, "old": old_v, "new": new_v }));
        }
        // Idempotent by the update's first history line: one event per update.
        crate::webhooks::enqueue(&mut tx, EventKind::TicketUpdated, || {
            vec![WebhookEvent {
                kind: EventKind::TicketUpdated,
                subject: format!("ticket/{id}"),
                source_id: format!("history/{}", first_line.unwrap_or(0)),
                occurred_at: u.at,
                data: serde_json::json!({
                    "ticket_id": id,
                    "customer_id": new.customer_id,
                    "call_id": new.call_id,
                    "subject": new.subject,
                    "status": new.status,
                    "priority": new.priority,
                    "assignee": new.assignee,
                    "actor": u.actor,
                    "changes": changed,
                }),
            }]
        })
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    /// One ticket.
    pub async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"
        ));
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(ticket_from_row)
            .transpose()
    }

    /// A ticket's history, oldest first.
    pub async fn ticket_history(&self, id: TicketId) -> Result<Vec<TicketChange>> {
        let rows = sqlx::query(
            "SELECT at, actor, field, old_value, new_value FROM ticket_history WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketChange {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    field: r.try_get("field")?,
                    old_value: r.try_get("old_value")?,
                    new_value: r.try_get("new_value")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// A page of tickets by id (oldest first), of one customer and/or in one status when
    /// given: those after ticket `after` (keyset pagination), at most `limit` (1..=500).
    pub async fn tickets_page(
        &self,
        customer: Option<crate::CustomerId>,
        status: Option<&str>,
        after: Option<TicketId>,
        limit: i64,
    ) -> Result<Vec<Ticket>> {
        if let Some(s) = status
            && !STATUSES.contains(&s)
        {
            return Err(Error::Invalid(format!("unknown ticket status {s:?}")));
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets
             WHERE id > $1 AND ($2 = 0 OR customer_id = $3) AND ($4 = '' OR status = $4)
             ORDER BY id LIMIT $5"
        ));
        let rows = sqlx::query(sql)
            .bind(after.unwrap_or(0))
            .bind(i64::from(customer.is_some()))
            .bind(customer.unwrap_or(0))
            .bind(status.unwrap_or(""))
            .bind(limit.clamp(1, 500))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(ticket_from_row).collect()
    }
}
