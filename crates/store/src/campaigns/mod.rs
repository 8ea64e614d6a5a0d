//! Outbound campaigns' data: campaigns and their settings, the contacts each one calls (with
//! their dialling state and agent-owned callbacks), one row per dial attempt (idempotent by
//! contact and attempt number), do-not-call lists ([`dnc`](self::dnc)), contact imports from CSV
//! and lists built from customers ([`import`](self::import)), and the counters of a live board.
//!
//! The store keeps and checks these rows; deciding whom to dial when (pacing, calling windows,
//! recycling) is the dialler core's job, which hands its decisions back here: a started
//! attempt ([`Store::start_attempt`]) and an ended one with the contact's next state
//! ([`Store::finish_attempt`]).

mod csv;
mod dnc;
mod import;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{
    Attempt, AttemptEnd, AttemptId, AttemptOutcome, AttemptResult, Campaign, CampaignContact,
    CampaignContactId, CampaignCounters, CampaignId, CampaignStatus, CampaignUpdate, ContactState,
    DialCounts, DialMode, E164, Error, Millis, NewAttempt, NewCampaign, NewCampaignContact,
    OutcomeKind, Result, Store,
};

const DAY_MS: Millis = 86_400_000;

const CAMPAIGN_COLUMNS: &str = "id, name, mode, status, settings, created_at, updated_at";

pub(crate) const CONTACT_COLUMNS: &str = "id, campaign_id, customer_id, number, name, time_zone, \
     priority, state, attempts, next_attempt_at, owner_agent, last_outcome, last_disposition, \
     extra, created_at, updated_at";

const ATTEMPT_COLUMNS: &str = "id, campaign_id, contact_id, attempt_no, number, started_at, \
     ended_at, outcome, disposition, agent_id, call_id";

fn campaign_from_row(r: &AnyRow) -> Result<Campaign> {
    let settings: String = r.try_get("settings")?;
    Ok(Campaign {
        id: CampaignId(r.try_get("id")?),
        name: r.try_get("name")?,
        mode: DialMode::parse(&r.try_get::<String, _>("mode")?)
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        status: CampaignStatus::parse(&r.try_get::<String, _>("status")?)
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| Error::Corrupt(format!("campaign settings: {e}")))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn stored_number(s: &str) -> Result<E164> {
    E164::parse(s, None).map_err(|_| Error::Corrupt(format!("stored number {s:?} is not E.164")))
}

fn count(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Corrupt(format!("count {v} out of range")))
}

fn outcome_from(
    kind: Option<String>,
    disposition: Option<String>,
) -> Result<Option<AttemptOutcome>> {
    kind.map(|k| AttemptOutcome::from_parts(&k, disposition))
        .transpose()
        .map_err(Error::from)
}

pub(crate) fn contact_from_row(r: &AnyRow) -> Result<CampaignContact> {
    let extra: String = r.try_get("extra")?;
    Ok(CampaignContact {
        id: CampaignContactId(r.try_get("id")?),
        campaign: CampaignId(r.try_get("campaign_id")?),
        customer: r.try_get("customer_id")?,
        number: stored_number(&r.try_get::<String, _>("number")?)?,
        name: r.try_get("name")?,
        time_zone: r.try_get("time_zone")?,
        priority: r.try_get("priority")?,
        state: ContactState::from_parts(
            &r.try_get::<String, _>("state")?,
            r.try_get("next_attempt_at")?,
            r.try_get("owner_agent")?,
        )?,
        attempts: count(r.try_get("attempts")?)?,
        last_outcome: outcome_from(r.try_get("last_outcome")?, r.try_get("last_disposition")?)?,
        extra: serde_json::from_str(&extra)
            .map_err(|e| Error::Corrupt(format!("contact fields: {e}")))?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn attempt_from_row(r: &AnyRow) -> Result<Attempt> {
    let ended_at: Option<Millis> = r.try_get("ended_at")?;
    let outcome = outcome_from(r.try_get("outcome")?, r.try_get("disposition")?)?;
    let result = match (ended_at, outcome) {
        (Some(ended_at), Some(outcome)) => Some(AttemptResult { ended_at, outcome }),
        (None, None) => None,
        _ => return Err(Error::Corrupt("attempt with an end but no outcome".into())),
    };
    Ok(Attempt {
        id: AttemptId(r.try_get("id")?),
        campaign: CampaignId(r.try_get("campaign_id")?),
        contact: CampaignContactId(r.try_get("contact_id")?),
        attempt_no: count(r.try_get("attempt_no")?)?,
        number: stored_number(&r.try_get::<String, _>("number")?)?,
        started_at: r.try_get("started_at")?,
        result,
        agent: r.try_get("agent_id")?,
        call_id: r.try_get("call_id")?,
    })
}

/// The `state`, `next_attempt_at` and `owner_agent` columns of a contact state.
fn state_columns(s: &ContactState) -> (&'static str, Option<Millis>, Option<&str>) {
    match s {
        ContactState::Scheduled { at, owner } => ("scheduled", Some(*at), owner.as_deref()),
        other => (other.name(), None, None),
    }
}

/// How an error names a do-not-call list.
fn list_name(scope: crate::DncScope) -> &'static str {
    match scope {
        crate::DncScope::Global => "global",
        crate::DncScope::Campaign(_) => "campaign's",
    }
}

fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::Invalid("campaign name is empty or overlong".into()));
    }
    Ok(name)
}

fn settings_json(s: &crate::CampaignSettings) -> Result<String> {
    s.validate()?;
    serde_json::to_string(s).map_err(|e| Error::Invalid(format!("campaign settings: {e}")))
}

fn name_taken(e: sqlx::Error) -> Error {
    if Error::is_unique_violation(&e) {
        Error::Conflict("another campaign has this name".into())
    } else {
        Error::Database(e)
    }
}

impl Store {
    /// Creates a campaign in [`CampaignStatus::Draft`]. Settings are checked
    /// ([`crate::CampaignSettings::validate`]); a name in use is [`Error::Conflict`].
    pub async fn create_campaign(&self, c: &NewCampaign, now: Millis) -> Result<Campaign> {
        let name = check_name(&c.name)?;
        let settings = settings_json(&c.settings)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO campaigns (name, mode, status, settings, created_at, updated_at)
             VALUES ($1, $2, 'draft', $3, $4, $4) RETURNING {CAMPAIGN_COLUMNS}"
        )))
        .bind(name)
        .bind(c.mode.as_str())
        .bind(settings)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(name_taken)?;
        campaign_from_row(&row)
    }

    /// A campaign by id.
    pub async fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(campaign_from_row).transpose()
    }

    /// A page of campaigns by id, in one status when given: those after `after` (keyset
    /// pagination), at most `limit` (1..=500).
    pub async fn campaigns_page(
        &self,
        status: Option<CampaignStatus>,
        after: Option<CampaignId>,
        limit: i64,
    ) -> Result<Vec<Campaign>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id > $1 AND ($2 = '' OR status = $2)
             ORDER BY id LIMIT $3"
        )))
        .bind(after.map_or(0, |a| a.0))
        .bind(status.map_or("", CampaignStatus::as_str))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(campaign_from_row).collect()
    }

    /// Changes a campaign's name, mode and/or settings. A stopped campaign cannot change
    /// ([`Error::Conflict`]); an unknown one is [`Error::NotFound`].
    pub async fn update_campaign(
        &self,
        id: CampaignId,
        u: &CampaignUpdate,
        now: Millis,
    ) -> Result<Campaign> {
        let name = u.name.as_deref().map(check_name).transpose()?;
        let settings = u.settings.as_ref().map(settings_json).transpose()?;
        let current = self
            .campaign(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
        if current.status == CampaignStatus::Stopped {
            return Err(Error::Conflict(format!("campaign {id} is stopped")));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE campaigns SET name = COALESCE($1, name), mode = COALESCE($2, mode),
               settings = COALESCE($3, settings), updated_at = $4
             WHERE id = $5 AND status <> 'stopped' RETURNING {CAMPAIGN_COLUMNS}"
        )))
        .bind(name)
        .bind(u.mode.map(DialMode::as_str))
        .bind(settings)
        .bind(now)
        .bind(id.0)
        .fetch_optional(self.pool())
        .await
        .map_err(name_taken)?;
        match row {
            Some(r) => campaign_from_row(&r),
            None => Err(Error::Conflict(format!(
                "campaign {id} was stopped meanwhile"
            ))),
        }
    }

    /// Moves a campaign to `status` when [`CampaignStatus::can_become`] allows it (otherwise
    /// [`Error::Conflict`]). A campaign runs only with a caller id in its settings.
    pub async fn set_campaign_status(
        &self,
        id: CampaignId,
        status: CampaignStatus,
        now: Millis,
    ) -> Result<Campaign> {
        let current = self
            .campaign(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
        if !current.status.can_become(status) {
            return Err(Error::Conflict(format!(
                "campaign {id} cannot go from {} to {}",
                current.status.as_str(),
                status.as_str()
            )));
        }
        if status == CampaignStatus::Running && current.settings.caller_id.is_none() {
            return Err(Error::Conflict(format!(
                "campaign {id} has no caller id and cannot run"
            )));
        }
        if current.status == status {
            return Ok(current);
        }
        // Compare-and-set on the status read above: a concurrent change makes this a conflict
        // rather than a move from a state that no longer holds.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4
             RETURNING {CAMPAIGN_COLUMNS}"
        )))
        .bind(status.as_str())
        .bind(now)
        .bind(id.0)
        .bind(current.status.as_str())
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => campaign_from_row(&r),
            None => Err(Error::Conflict(format!(
                "campaign {id} changed status meanwhile"
            ))),
        }
    }

    /// Adds one contact by hand. The number is read with the campaign's country code; a number
    /// the campaign already has, or one on a do-not-call list, is [`Error::Conflict`]; an
    /// unknown (or merged-away) customer is [`Error::NotFound`].
    pub async fn add_campaign_contact(
        &self,
        campaign: CampaignId,
        c: &NewCampaignContact,
        now: Millis,
    ) -> Result<CampaignContact> {
        let settings = self.open_campaign(campaign).await?.settings;
        let number = E164::parse(&c.number, settings.country_code.as_deref())?;
        if let Some(tz) = &c.time_zone {
            crate::check_time_zone(tz)?;
        }
        if let Some(customer) = c.customer {
            let live: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM customers WHERE id = $1 AND merged_into IS NULL",
            )
            .bind(customer)
            .fetch_optional(self.pool())
            .await?;
            if live.is_none() {
                return Err(Error::NotFound(format!("customer {customer}")));
            }
        }
        if let Some(scope) = self.dnc_match(Some(campaign), &number).await? {
            return Err(Error::Conflict(format!(
                "{number} is on the {} do-not-call list",
                list_name(scope)
            )));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO campaign_contacts (campaign_id, customer_id, number, name, time_zone,
               priority, extra, source, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'manual', $8, $8) RETURNING {CONTACT_COLUMNS}"
        )))
        .bind(campaign.0)
        .bind(c.customer)
        .bind(number.as_str())
        .bind(c.name.as_deref())
        .bind(c.time_zone.as_deref())
        .bind(c.priority)
        .bind(serde_json::Value::Object(c.extra.clone()).to_string())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| {
            if Error::is_unique_violation(&e) {
                Error::Conflict(format!("campaign {campaign} already has {number}"))
            } else {
                Error::Database(e)
            }
        })?;
        contact_from_row(&row)
    }

    /// A campaign that exists and is not stopped (contacts may be added to it).
    async fn open_campaign(&self, id: CampaignId) -> Result<Campaign> {
        let c = self
            .campaign(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
        if c.status == CampaignStatus::Stopped {
            return Err(Error::Conflict(format!("campaign {id} is stopped")));
        }
        Ok(c)
    }

    /// A contact by id.
    pub async fn campaign_contact(&self, id: CampaignContactId) -> Result<Option<CampaignContact>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// A page of a campaign's contacts by id: those after `after`, at most `limit` (1..=500).
    pub async fn campaign_contacts_page(
        &self,
        campaign: CampaignId,
        after: Option<CampaignContactId>,
        limit: i64,
    ) -> Result<Vec<CampaignContact>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 AND id > $2
             ORDER BY id LIMIT $3"
        )))
        .bind(campaign.0)
        .bind(after.map_or(0, |a| a.0))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// Contacts the dialler may call now, best first (priority, then the longest due, then
    /// id): pending ones and scheduled ones due by `now` that no agent owns. At most `limit`
    /// (1..=500).
    pub async fn due_contacts(
        &self,
        campaign: CampaignId,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<CampaignContact>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts
             WHERE campaign_id = $1 AND (state = 'pending'
               OR (state = 'scheduled' AND next_attempt_at <= $2 AND owner_agent IS NULL))
             ORDER BY priority DESC, COALESCE(next_attempt_at, 0), id LIMIT $3"
        )))
        .bind(campaign.0)
        .bind(now)
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// An agent's callbacks due by `until`, soonest first, across campaigns.
    pub async fn agent_callbacks(
        &self,
        agent: &str,
        until: Millis,
    ) -> Result<Vec<CampaignContact>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONTACT_COLUMNS} FROM campaign_contacts
             WHERE owner_agent = $1 AND next_attempt_at <= $2 ORDER BY next_attempt_at, id"
        )))
        .bind(agent)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// Schedules a contact for `at`; with an `owner`, as that agent's own callback ("call me
    /// Tuesday at 10"). A contact being dialled cannot be rescheduled ([`Error::Conflict`]):
    /// finish its attempt with the callback as the next state instead.
    pub async fn schedule_callback(
        &self,
        contact: CampaignContactId,
        at: Millis,
        owner: Option<&str>,
        now: Millis,
    ) -> Result<CampaignContact> {
        if owner.is_some_and(|o| o.trim().is_empty()) {
            return Err(Error::Invalid("callback owner is empty".into()));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE campaign_contacts SET state = 'scheduled', next_attempt_at = $1,
               owner_agent = $2, updated_at = $3
             WHERE id = $4 AND state <> 'dialling' RETURNING {CONTACT_COLUMNS}"
        )))
        .bind(at)
        .bind(owner)
        .bind(now)
        .bind(contact.0)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => contact_from_row(&r),
            None => match self.campaign_contact(contact).await? {
                Some(_) => Err(Error::Conflict(format!(
                    "contact {contact} is being dialled"
                ))),
                None => Err(Error::NotFound(format!("contact {contact}"))),
            },
        }
    }

    /// Records the start of a dial attempt and marks the contact `dialling`. Idempotent:
    /// the same `(contact, attempt_no)` with the same `started_at` returns the stored attempt.
    ///
    /// Refused with [`Error::Conflict`] when the campaign is not running, the attempt number
    /// is not the contact's next, the contact is done or already being dialled, the same
    /// attempt was started at another time, or the number is on a do-not-call list (the last
    /// check before a call: a number added after the import is never dialled).
    pub async fn start_attempt(&self, a: &NewAttempt) -> Result<Attempt> {
        if a.attempt_no == 0 {
            return Err(Error::Invalid("attempt numbers start at 1".into()));
        }
        self.retrying(|| self.start_attempt_once(a)).await
    }

    async fn attempt_row(
        conn: &mut sqlx::AnyConnection,
        contact: CampaignContactId,
        attempt_no: u32,
    ) -> Result<Option<Attempt>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM campaign_attempts WHERE contact_id = $1 AND attempt_no = $2"
        )))
        .bind(contact.0)
        .bind(i64::from(attempt_no))
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(attempt_from_row).transpose()
    }

    fn same_start(existing: Attempt, a: &NewAttempt) -> Result<Attempt> {
        if existing.started_at == a.started_at {
            Ok(existing)
        } else {
            Err(Error::Conflict(format!(
                "attempt {} of contact {} was started at {}, not {}",
                a.attempt_no, a.contact, existing.started_at, a.started_at
            )))
        }
    }

    async fn start_attempt_once(&self, a: &NewAttempt) -> Result<Attempt> {
        let mut tx = self.pool().begin().await?;
        if let Some(existing) = Self::attempt_row(&mut tx, a.contact, a.attempt_no).await? {
            return Self::same_start(existing, a);
        }
        let row = sqlx::query(
            "SELECT k.campaign_id, k.number, k.state, k.attempts, c.status
             FROM campaign_contacts k JOIN campaigns c ON c.id = k.campaign_id WHERE k.id = $1",
        )
        .bind(a.contact.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("contact {}", a.contact)))?;
        let campaign = CampaignId(row.try_get("campaign_id")?);
        let number = stored_number(&row.try_get::<String, _>("number")?)?;
        let state: String = row.try_get("state")?;
        let attempts = count(row.try_get("attempts")?)?;
        let status: String = row.try_get("status")?;
        if status != CampaignStatus::Running.as_str() {
            return Err(Error::Conflict(format!(
                "campaign {campaign} is {status}, not running"
            )));
        }
        if state == "done" || state == "dialling" {
            return Err(Error::Conflict(format!("contact {} is {state}", a.contact)));
        }
        if a.attempt_no != attempts + 1 {
            return Err(Error::Conflict(format!(
                "contact {} has had {attempts} attempts; the next is {}, not {}",
                a.contact,
                attempts + 1,
                a.attempt_no
            )));
        }
        if let Some(scope) = dnc::match_in(&mut tx, Some(campaign), &number).await? {
            return Err(Error::Conflict(format!(
                "{number} is on the {} do-not-call list",
                list_name(scope)
            )));
        }
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO campaign_attempts (campaign_id, contact_id, attempt_no, number, started_at,
               agent_id, call_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ATTEMPT_COLUMNS}"
        )))
        .bind(campaign.0)
        .bind(a.contact.0)
        .bind(i64::from(a.attempt_no))
        .bind(number.as_str())
        .bind(a.started_at)
        .bind(a.agent.as_deref())
        .bind(a.call_id.as_deref())
        .fetch_one(&mut *tx)
        .await;
        let attempt = match inserted {
            Ok(r) => attempt_from_row(&r)?,
            Err(e) if Error::is_unique_violation(&e) => {
                // A concurrent writer started the same attempt first.
                tx.rollback().await?;
                let mut conn = self.pool().acquire().await?;
                let existing = Self::attempt_row(&mut conn, a.contact, a.attempt_no)
                    .await?
                    .ok_or_else(|| Error::Conflict("attempt vanished".into()))?;
                return Self::same_start(existing, a);
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::query(
            "UPDATE campaign_contacts SET state = 'dialling', next_attempt_at = NULL,
               owner_agent = NULL, attempts = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(i64::from(a.attempt_no))
        .bind(a.started_at)
        .bind(a.contact.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(attempt)
    }

    /// Records how an attempt ended and moves its contact to `e.then` (with the outcome as its
    /// last outcome), in one transaction. Idempotent: ending it again with the same time and
    /// outcome returns the stored attempt and changes nothing; a different end is
    /// [`Error::Conflict`]; an attempt never started is [`Error::NotFound`].
    pub async fn finish_attempt(&self, e: &AttemptEnd) -> Result<Attempt> {
        match &e.then {
            ContactState::Dialling => {
                return Err(Error::Invalid(
                    "a finished attempt cannot leave its contact dialling".into(),
                ));
            }
            ContactState::Scheduled { owner: Some(o), .. } if o.trim().is_empty() => {
                return Err(Error::Invalid("callback owner is empty".into()));
            }
            _ => {}
        }
        if let AttemptOutcome::Completed { disposition } = &e.outcome
            && disposition.trim().is_empty()
        {
            return Err(Error::Invalid(
                "a completed attempt needs a disposition".into(),
            ));
        }
        self.retrying(|| self.finish_attempt_once(e)).await
    }

    async fn finish_attempt_once(&self, e: &AttemptEnd) -> Result<Attempt> {
        let mut tx = self.pool().begin().await?;
        let existing = Self::attempt_row(&mut tx, e.contact, e.attempt_no)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("attempt {} of contact {}", e.attempt_no, e.contact))
            })?;
        if let Some(done) = &existing.result {
            return if done.ended_at == e.ended_at && done.outcome == e.outcome {
                Ok(existing)
            } else {
                Err(Error::Conflict(format!(
                    "attempt {} of contact {} already ended as {}",
                    e.attempt_no,
                    e.contact,
                    done.outcome.kind().as_str()
                )))
            };
        }
        let kind = e.outcome.kind().as_str();
        let disposition = e.outcome.disposition();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE campaign_attempts SET ended_at = $1, outcome = $2, disposition = $3,
               agent_id = COALESCE($4, agent_id)
             WHERE id = $5 AND outcome IS NULL RETURNING {ATTEMPT_COLUMNS}"
        )))
        .bind(e.ended_at)
        .bind(kind)
        .bind(disposition)
        .bind(e.agent.as_deref())
        .bind(existing.id.0)
        .fetch_one(&mut *tx)
        .await?;
        let attempt = attempt_from_row(&row)?;
        let (state, at, owner) = state_columns(&e.then);
        // Only the contact's latest attempt moves it (an old attempt's late end does not).
        sqlx::query(
            "UPDATE campaign_contacts SET state = $1, next_attempt_at = $2, owner_agent = $3,
               last_outcome = $4, last_disposition = $5, updated_at = $6
             WHERE id = $7 AND attempts = $8",
        )
        .bind(state)
        .bind(at)
        .bind(owner)
        .bind(kind)
        .bind(disposition)
        .bind(e.ended_at)
        .bind(e.contact.0)
        .bind(i64::from(e.attempt_no))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(attempt)
    }

    /// A contact's attempts, first to last.
    pub async fn contact_attempts(&self, contact: CampaignContactId) -> Result<Vec<Attempt>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM campaign_attempts WHERE contact_id = $1
             ORDER BY attempt_no"
        )))
        .bind(contact.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// The live board's numbers: attempts started since `today_start` (the start of the day in
    /// the campaign's time zone, which the caller knows) and in the 30 days before `now`, and
    /// the contacts total, left (not done) and attempted. Two indexed queries.
    pub async fn campaign_counters(
        &self,
        campaign: CampaignId,
        today_start: Millis,
        now: Millis,
    ) -> Result<CampaignCounters> {
        let since_30 = now - 30 * DAY_MS;
        let connected = OutcomeKind::CONNECTED
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT
               COUNT(CASE WHEN started_at >= $2 THEN 1 END) AS d_today,
               COUNT(CASE WHEN started_at >= $2 AND outcome IN ({connected}) THEN 1 END) AS c_today,
               COUNT(CASE WHEN started_at >= $2 AND outcome = 'abandoned' THEN 1 END) AS a_today,
               COUNT(CASE WHEN started_at >= $3 THEN 1 END) AS d_30,
               COUNT(CASE WHEN started_at >= $3 AND outcome IN ({connected}) THEN 1 END) AS c_30,
               COUNT(CASE WHEN started_at >= $3 AND outcome = 'abandoned' THEN 1 END) AS a_30
             FROM campaign_attempts WHERE campaign_id = $1 AND started_at >= $4"
        )))
        .bind(campaign.0)
        .bind(today_start)
        .bind(since_30)
        .bind(today_start.min(since_30))
        .fetch_one(self.pool())
        .await?;
        let n = |col: &str| -> Result<u64> {
            let v: i64 = row.try_get(col)?;
            u64::try_from(v).map_err(|_| Error::Corrupt(format!("negative count {col}")))
        };
        let today = DialCounts {
            dialled: n("d_today")?,
            connected: n("c_today")?,
            abandoned: n("a_today")?,
        };
        let last_30_days = DialCounts {
            dialled: n("d_30")?,
            connected: n("c_30")?,
            abandoned: n("a_30")?,
        };
        let row = sqlx::query(
            "SELECT COUNT(*) AS total,
               COUNT(CASE WHEN state <> 'done' THEN 1 END) AS left_,
               COUNT(CASE WHEN attempts > 0 THEN 1 END) AS attempted
             FROM campaign_contacts WHERE campaign_id = $1",
        )
        .bind(campaign.0)
        .fetch_one(self.pool())
        .await?;
        let n = |col: &str| -> Result<u64> {
            let v: i64 = row.try_get(col)?;
            u64::try_from(v).map_err(|_| Error::Corrupt(format!("negative count {col}")))
        };
        Ok(CampaignCounters {
            today,
            last_30_days,
            contacts_total: n("total")?,
            contacts_left: n("left_")?,
            contacts_attempted: n("attempted")?,
        })
    }
}
