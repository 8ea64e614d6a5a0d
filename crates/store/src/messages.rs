//! Short messages between agents (and to supervisors, and a supervisor's to everyone), sent
//! through CTI: one row per recipient, kept undelivered until her desktop confirms it, so a
//! message to someone logged out reaches her at her next login, once.

use sqlx::Row;

use crate::{AgentMessage, Error, MessageAudience, Millis, Result, Store};

/// The longest message body, in characters.
pub const MESSAGE_MAX_CHARS: usize = 1000;

impl Store {
    /// Stores one copy of `body` per recipient (one transaction) and returns them, in the
    /// order of `recipients`.
    pub async fn send_agent_message(
        &self,
        sender: &str,
        recipients: &[String],
        audience: MessageAudience,
        body: &str,
        now: Millis,
    ) -> Result<Vec<AgentMessage>> {
        let body = body.trim();
        if body.is_empty() {
            return Err(Error::Invalid("the message is empty".into()));
        }
        if body.chars().count() > MESSAGE_MAX_CHARS {
            return Err(Error::Invalid(format!(
                "the message is longer than {MESSAGE_MAX_CHARS} characters"
            )));
        }
        if recipients.is_empty() {
            return Err(Error::Invalid("the message has no recipient".into()));
        }
        self.retrying(|| async {
            let mut tx = self.pool().begin().await?;
            let mut out = Vec::with_capacity(recipients.len());
            for r in recipients {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO agent_messages (sender, recipient, audience, body, sent_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(sender)
                .bind(r.as_str())
                .bind(audience.as_str())
                .bind(body)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                out.push(AgentMessage {
                    id,
                    sender: sender.to_string(),
                    recipient: r.clone(),
                    audience,
                    body: body.to_string(),
                    sent_at: now,
                    delivered_at: None,
                });
            }
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    /// `recipient`'s messages her desktop has not confirmed yet, oldest first.
    pub async fn undelivered_messages(&self, recipient: &str) -> Result<Vec<AgentMessage>> {
        let rows = sqlx::query(
            "SELECT id, sender, recipient, audience, body, sent_at, delivered_at FROM agent_messages
             WHERE recipient = $1 AND delivered_at IS NULL ORDER BY id LIMIT 500",
        )
        .bind(recipient)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let audience: String = r.try_get("audience")?;
                Ok(AgentMessage {
                    id: r.try_get("id")?,
                    sender: r.try_get("sender")?,
                    recipient: r.try_get("recipient")?,
                    audience: MessageAudience::parse(&audience).ok_or_else(|| {
                        Error::Corrupt(format!("unknown message audience {audience:?}"))
                    })?,
                    body: r.try_get("body")?,
                    sent_at: r.try_get("sent_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                })
            })
            .collect()
    }

    /// Marks `ids` delivered to `recipient` (others' messages are left alone); returns how
    /// many were newly marked.
    pub async fn mark_messages_delivered(
        &self,
        recipient: &str,
        ids: &[i64],
        now: Millis,
    ) -> Result<u64> {
        let mut n = 0;
        for chunk in ids.chunks(64) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "UPDATE agent_messages SET delivered_at = $1
                 WHERE recipient = $2 AND delivered_at IS NULL AND id IN ({})",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(recipient);
            for id in chunk {
                q = q.bind(*id);
            }
            n += q.execute(self.pool()).await?.rows_affected();
        }
        Ok(n)
    }
}
