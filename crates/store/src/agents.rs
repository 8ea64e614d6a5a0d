//! Agents, skills, queues, dispositions, agent state events, outcomes and the audit log.

use sqlx::Row;

use crate::{
    AgentCredentials, AgentRecord, AgentStateEvent, AuditEntry, Disposition, Error, Millis,
    NewAgent, Outcome, Result, Role, Skill, SkillLevel, Store, flag,
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
            let mut tx = self.pool().begin().await?;
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
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(db) if db.message().to_lowercase().contains("foreign key") => {
                    Error::Invalid(format!("unknown disposition {:?}", o.disposition))
                }
                _ => Error::Database(e),
            })?;
            // Idempotent by agent and time: a desktop resending the same outcome adds nothing,
            // a changed outcome (written later) is a new event.
            crate::webhooks::enqueue(&mut tx, crate::EventKind::OutcomeWritten, || {
                vec![crate::WebhookEvent {
                    kind: crate::EventKind::OutcomeWritten,
                    subject: format!("call/{}", o.call_id),
                    source_id: format!("{}@{}", o.agent_id, o.at),
                    occurred_at: o.at,
                    data: serde_json::json!({
                        "call_id": o.call_id,
                        "agent_id": o.agent_id,
                        "disposition": o.disposition,
                        "notes": o.notes,
                        "wrapup_ms": o.wrapup_ms.max(0),
                        "ticket_id": o.ticket_id,
                    }),
                }]
            })
            .await?;
            tx.commit().await?;
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

const AGENT_COLUMNS: &str = "id, name, extension, role, active, created_at, updated_at";

fn agent_from_row(r: &sqlx::any::AnyRow) -> Result<AgentRecord> {
    Ok(AgentRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        extension: r.try_get("extension")?,
        role: Role::parse(&r.try_get::<String, _>("role")?)?,
        active: flag(r.try_get("active")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A unique index refused the write: say which value was taken.
fn taken(e: sqlx::Error, what: &str) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::Conflict(format!("{what} is already taken"))
        }
        _ => Error::Database(e),
    }
}

/// Agent administration (the REST API): create without overwriting, read, page, update,
/// disable, set a new password.
impl Store {
    /// Creates a new agent. An id or an extension already in use is [`Error::Conflict`]
    /// (unlike [`Store::upsert_agent`], which the seed uses and which overwrites).
    pub async fn create_agent(&self, a: &NewAgent, now: Millis) -> Result<AgentRecord> {
        if a.id.trim().is_empty() || a.extension.trim().is_empty() {
            return Err(Error::Invalid("agent id and extension are required".into()));
        }
        if !a.password_hash.starts_with("$argon2") {
            return Err(Error::Invalid(
                "password_hash must be an argon2 PHC string".into(),
            ));
        }
        if self.agent(&a.id).await?.is_some() {
            return Err(Error::Conflict(format!(
                "agent id {:?} is already taken",
                a.id
            )));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO agents (id, name, extension, role, password_hash, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING {AGENT_COLUMNS}"
        )))
        .bind(a.id.as_str())
        .bind(a.name.as_str())
        .bind(a.extension.as_str())
        .bind(a.role.as_str())
        .bind(a.password_hash.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| taken(e, &format!("agent id {:?} or extension {:?}", a.id, a.extension)))?;
        agent_from_row(&row)
    }

    /// One agent, active or disabled, without the password hash.
    pub async fn agent(&self, id: &str) -> Result<Option<AgentRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    /// A page of agents by id: those after `after` (keyset pagination), at most `limit`
    /// (clamped to 1..=500), disabled ones only when `include_disabled`.
    pub async fn agents_page(
        &self,
        after: Option<&str>,
        limit: i64,
        include_disabled: bool,
    ) -> Result<Vec<AgentRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE id > $1 AND (active = 1 OR $2 = 1)
             ORDER BY id LIMIT $3"
        )))
        .bind(after.unwrap_or(""))
        .bind(i64::from(include_disabled))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Changes an agent's display name and/or extension (`None` keeps it). An unknown agent is
    /// [`Error::NotFound`]; an extension in use by another agent is [`Error::Conflict`].
    pub async fn update_agent(
        &self,
        id: &str,
        name: Option<&str>,
        extension: Option<&str>,
        now: Millis,
    ) -> Result<AgentRecord> {
        if name.is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::Invalid("agent name is empty".into()));
        }
        if extension.is_some_and(|x| x.trim().is_empty()) {
            return Err(Error::Invalid("agent extension is empty".into()));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE agents SET name = COALESCE($1, name), extension = COALESCE($2, extension),
               updated_at = $3 WHERE id = $4 RETURNING {AGENT_COLUMNS}"
        )))
        .bind(name)
        .bind(extension)
        .bind(now)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| taken(e, &format!("extension {:?}", extension.unwrap_or(""))))?;
        match row {
            Some(r) => agent_from_row(&r),
            None => Err(Error::NotFound(format!("agent {id:?}"))),
        }
    }

    /// Enables or disables an agent (a disabled agent cannot log in on CTI).
    pub async fn set_agent_active(
        &self,
        id: &str,
        active: bool,
        now: Millis,
    ) -> Result<AgentRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE agents SET active = $1, updated_at = $2 WHERE id = $3 RETURNING {AGENT_COLUMNS}"
        )))
        .bind(i64::from(active))
        .bind(now)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => agent_from_row(&r),
            None => Err(Error::NotFound(format!("agent {id:?}"))),
        }
    }

    /// Replaces an agent's password hash (an argon2 PHC string).
    pub async fn set_agent_password(
        &self,
        id: &str,
        password_hash: &str,
        now: Millis,
    ) -> Result<()> {
        if !password_hash.starts_with("$argon2") {
            return Err(Error::Invalid(
                "password_hash must be an argon2 PHC string".into(),
            ));
        }
        let done =
            sqlx::query("UPDATE agents SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(now)
                .bind(id)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("agent {id:?}")));
        }
        Ok(())
    }

    /// The skills of the agents whose ids lie between `first` and `last` (inclusive), by agent
    /// and skill: one query for a page of [`Store::agents_page`], which is ordered by id.
    pub async fn agent_skills_between(
        &self,
        first: &str,
        last: &str,
    ) -> Result<Vec<(String, SkillLevel)>> {
        let rows = sqlx::query(
            "SELECT agent_id, skill, proficiency FROM agent_skills
             WHERE agent_id >= $1 AND agent_id <= $2 ORDER BY agent_id, skill",
        )
        .bind(first)
        .bind(last)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("agent_id")?,
                    SkillLevel {
                        skill: r.try_get("skill")?,
                        proficiency: r.try_get("proficiency")?,
                    },
                ))
            })
            .collect()
    }

    /// Every defined skill, by name.
    pub async fn skills(&self) -> Result<Vec<Skill>> {
        let rows = sqlx::query("SELECT name, description FROM skills ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Skill {
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                })
            })
            .collect()
    }
}
