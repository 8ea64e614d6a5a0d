//! Reading for reports and supervisors: the audit log (and, below, KPI queries).

use sqlx::Row;

use crate::{AuditEntry, Millis, Result, Store, flag};

impl Store {
    /// Audit entries at or after `since`, oldest first, at most `limit`.
    pub async fn audit_entries(&self, since: Millis, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, call_id, allowed, detail FROM audit_log
             WHERE at >= $1 ORDER BY at, id LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    call_id: r.try_get("call_id")?,
                    allowed: flag(r.try_get("allowed")?),
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}
