//! Agents, skills, queues, dispositions, agent state events, outcomes and the audit log.

use sqlx::Row;

use crate::{
    AgentCredentials, AgentStateEvent, AuditEntry, Disposition, Error, Millis, NewAgent, Outcome,
    Result, Role, SkillLevel, Store, flag,
};

impl Store {
    /// Creates an agent or updates its name, extension, role and password hash.
    pub async fn upsert_agent(&self, a: &NewAgent, now: Millis) -> Result<()> {
        if a.id.trim().is_empty() || a.extension.trim().is_empty() {
            return Err(Error::Invalid("agent id and extension are required".into()));
        }
        if !a.password_hash.starts_with("$argon2") {
            return Err(Error::Invalid(
                "password_hash must be an argon2 PHC string".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO agents (id, name, extension, role, password_hash, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, extension = excluded.extension,
               role = excluded.role, password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(a.id.as_str())
        .bind(a.name.as_str())
        .bind(a.extension.as_str())
        .bind(a.role.as_str())
        .bind(a.password_hash.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Looks up an agent's login data by id. Inactive agents are returned with `active: false`
    /// so the caller can refuse them with a clear reason.
    pub async fn agent_credentials(&self, id: &str) -> Result<Option<AgentCredentials>> {
        let row = sqlx::query(
            "SELECT id, name, extension, role, password_hash, active FROM agents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(AgentCredentials {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                extension: r.try_get("extension")?,
                role: Role::parse(&r.try_get::<String, _>("role")?)?,
                password_hash: r.try_get("password_hash")?,
                active: flag(r.try_get("active")?),
            })
        })
        .transpose()
    }

    /// All agents (without password hashes), by id.
    pub async fn list_agents(&self) -> Result<Vec<(String, String, String, Role)>> {
        let rows = sqlx::query(
            "SELECT id, name, extension, role FROM agents WHERE active = 1 ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("name")?,
                    r.try_get("extension")?,
                    Role::parse(&r.try_get::<String, _>("role")?)?,
                ))
            })
            .collect()
    }

    /// Defines a skill (idempotent).
    pub async fn upsert_skill(&self, name: &str, description: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO skills (name, description) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET description = excluded.description",
        )
        .bind(name)
        .bind(description)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Defines a queue for reporting (idempotent). Queue behaviour lives in configuration.
    pub async fn upsert_queue(&self, id: &str, name: &str, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO queues (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Replaces an agent's skills.
    pub async fn set_agent_skills(&self, agent: &str, skills: &[SkillLevel]) -> Result<()> {
        for s in skills {
            if !(1..=5).contains(&s.proficiency) {
                return Err(Error::Invalid(format!(
                    "proficiency for {} must be 1 to 5",
                    s.skill
                )));
            }
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM agent_skills WHERE agent_id = $1")
            .bind(agent)
            .execute(&mut *tx)
            .await?;
        for s in skills {
            sqlx::query(
                "INSERT INTO agent_skills (agent_id, skill, proficiency) VALUES ($1, $2, $3)",
            )
            .bind(agent)
            .bind(s.skill.as_str())
            .bind(s.proficiency)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An agent's skills, by name.
    pub async fn agent_skills(&self, agent: &str) -> Result<Vec<SkillLevel>> {
        let rows = sqlx::query(
            "SELECT skill, proficiency FROM agent_skills WHERE agent_id = $1 ORDER BY skill",
        )
        .bind(agent)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SkillLevel {
                    skill: r.try_get("skill")?,
                    proficiency: r.try_get("proficiency")?,
                })
            })
            .collect()
    }

    /// Appends an agent state change.
    pub async fn record_agent_state(&self, e: &AgentStateEvent) -> Result<()> {
        self.retrying(|| async {
            sqlx::query(
                "INSERT INTO agent_state_events (agent_id, at, state, reason, call_id) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(e.agent_id.as_str())
            .bind(e.at)
            .bind(e.state.as_str())
            .bind(e.reason.as_deref())
            .bind(e.call_id.as_deref())
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// Defines a wrap-up code (idempotent).
    pub async fn upsert_disposition(&self, d: &Disposition) -> Result<()> {
        sqlx::query(
            "INSERT INTO dispositions (code, label, resolved, active) VALUES ($1, $2, $3, 1)
             ON CONFLICT (code) DO UPDATE SET label = excluded.label, resolved = excluded.resolved",
        )
        .bind(d.code.as_str())
        .bind(d.label.as_str())
        .bind(i64::from(d.resolved))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Active wrap-up codes.
    pub async fn dispositions(&self) -> Result<Vec<Disposition>> {
        let rows = sqlx::query(
            "SELECT code, label, resolved FROM dispositions WHERE active = 1 ORDER BY code",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Disposition {
                    code: r.try_get("code")?,
                    label: r.try_get("label")?,
                    resolved: flag(r.try_get("resolved")?),
                })
            })
            .collect()
    }

    /// Writes an agent's outcome for a call. Idempotent by `(call_id, agent_id)`: writing again
    /// replaces the content and keeps one row, so a desktop outbox may resend freely.
    pub async fn write_outcome(&self, o: &Outcome) -> Result<()> {
        if o.call_id.is_empty() || o.agent_id.is_empty() || o.disposition.is_empty() {
            return Err(Error::Invalid(
                "outcome needs call id, agent id and disposition".into(),
            ));
        }
        self.retrying(|| async {
            sqlx::query(
                "INSERT INTO outcomes (call_id, agent_id, disposition, notes, wrapup_ms, ticket_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (call_id, agent_id) DO UPDATE SET disposition = excluded.disposition,
                   notes = excluded.notes, wrapup_ms = excluded.wrapup_ms,
                   ticket_id = COALESCE(excluded.ticket_id, outcomes.ticket_id), updated_at = excluded.updated_at",
            )
            .bind(o.call_id.as_str())
            .bind(o.agent_id.as_str())
            .bind(o.disposition.as_str())
            .bind(o.notes.as_str())
            .bind(o.wrapup_ms.max(0))
            .bind(o.ticket_id)
            .bind(o.at)
            .execute(self.pool())
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.message().to_lowercase().contains("foreign key") => {
                    Error::Invalid(format!("unknown disposition {:?}", o.disposition))
                }
                _ => Error::Database(e),
            })?;
            Ok(())
        })
        .await
    }

    /// The outcomes written for a call.
    pub async fn outcomes_for_call(&self, call_id: &str) -> Result<Vec<Outcome>> {
        let rows = sqlx::query(
            "SELECT call_id, agent_id, disposition, notes, wrapup_ms, ticket_id, updated_at
             FROM outcomes WHERE call_id = $1 ORDER BY agent_id",
        )
        .bind(call_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Outcome {
                    call_id: r.try_get("call_id")?,
                    agent_id: r.try_get("agent_id")?,
                    disposition: r.try_get("disposition")?,
                    notes: r.try_get("notes")?,
                    wrapup_ms: r.try_get("wrapup_ms")?,
                    ticket_id: r.try_get("ticket_id")?,
                    at: r.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// How many outcome rows exist (tests, metrics).
    pub async fn count_outcomes(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outcomes")
            .fetch_one(self.pool())
            .await?)
    }

    /// Appends a supervisor/admin action (allowed or refused) to the audit log.
    pub async fn audit(&self, a: &AuditEntry) -> Result<()> {
        self.retrying(|| async {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, target, call_id, allowed, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(a.at)
            .bind(a.actor.as_str())
            .bind(a.action.as_str())
            .bind(a.target.as_deref())
            .bind(a.call_id.as_deref())
            .bind(i64::from(a.allowed))
            .bind(a.detail.to_string())
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }
}
