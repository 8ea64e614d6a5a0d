//! Do-not-call lists: the centre's global list and one list per campaign. An entry says who
//! added the number, from where and when; removing it keeps the row with who, when and why.
//! At most one entry per list and number is in force (two partial unique indexes), and the
//! check before a dial is one lookup on the in-force index.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::stored_number;
use crate::{
    CampaignId, DncEntry, DncEntryId, DncRemoval, DncScope, DncSource, E164, Error, Millis,
    NewDncEntry, Result, Store,
};

const COLUMNS: &str = "id, campaign_id, number, source, added_by, added_at, note, removed_at, removed_by, removed_reason";

/// Numbers per `IN (...)` list in the bulk checks.
pub(super) const CHUNK: usize = 500;

fn scope_of(campaign: Option<i64>) -> DncScope {
    campaign.map_or(DncScope::Global, |c| DncScope::Campaign(CampaignId(c)))
}

fn entry_from_row(r: &AnyRow) -> Result<DncEntry> {
    let removed_at: Option<Millis> = r.try_get("removed_at")?;
    let removed = match removed_at {
        Some(at) => Some(DncRemoval {
            at,
            by: r
                .try_get::<Option<String>, _>("removed_by")?
                .unwrap_or_default(),
            reason: r
                .try_get::<Option<String>, _>("removed_reason")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(DncEntry {
        id: DncEntryId(r.try_get("id")?),
        scope: scope_of(r.try_get("campaign_id")?),
        number: stored_number(&r.try_get::<String, _>("number")?)?,
        source: DncSource::parse(&r.try_get::<String, _>("source")?)?,
        added_by: r.try_get("added_by")?,
        added_at: r.try_get("added_at")?,
        note: r.try_get("note")?,
        removed,
    })
}

/// The list (global first) that has `number` in force for `campaign`, if any.
pub(super) async fn match_in(
    conn: &mut sqlx::AnyConnection,
    campaign: Option<CampaignId>,
    number: &E164,
) -> Result<Option<DncScope>> {
    let rows = sqlx::query(
        "SELECT campaign_id FROM dnc_entries
         WHERE number = $1 AND removed_at IS NULL AND (campaign_id IS NULL OR campaign_id = $2)",
    )
    .bind(number.as_str())
    .bind(campaign.map_or(0, |c| c.0))
    .fetch_all(&mut *conn)
    .await?;
    let mut found = None;
    for r in &rows {
        let scope = scope_of(r.try_get("campaign_id")?);
        if scope == DncScope::Global {
            return Ok(Some(scope));
        }
        found = Some(scope);
    }
    Ok(found)
}

/// For each of `numbers` (E.164) on the global list or `campaign`'s, the list that has it
/// (the global list when both do).
pub(super) async fn matches_in(
    conn: &mut sqlx::AnyConnection,
    campaign: CampaignId,
    numbers: &[&str],
) -> Result<HashMap<String, DncScope>> {
    let mut found: HashMap<String, DncScope> = HashMap::new();
    for chunk in numbers.chunks(CHUNK) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT number, campaign_id FROM dnc_entries
             WHERE removed_at IS NULL AND (campaign_id IS NULL OR campaign_id = $1)
               AND number IN ({list})"
        )))
        .bind(campaign.0);
        for n in chunk {
            q = q.bind(*n);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let scope = scope_of(r.try_get("campaign_id")?);
            let number: String = r.try_get("number")?;
            let e = found.entry(number).or_insert(scope);
            if scope == DncScope::Global {
                *e = scope;
            }
        }
    }
    Ok(found)
}

impl Store {
    /// Puts a number on a do-not-call list. Adding a number that the list already has in
    /// force returns the existing entry (who added it first stays recorded). A campaign list
    /// of an unknown campaign is [`Error::NotFound`]; a number that is not E.164 (or an
    /// international form) is [`Error::Invalid`].
    pub async fn add_dnc(&self, e: &NewDncEntry, now: Millis) -> Result<DncEntry> {
        let number = E164::parse(&e.number, None)?;
        if e.added_by.trim().is_empty() {
            return Err(Error::Invalid(
                "a do-not-call entry needs who added it".into(),
            ));
        }
        let campaign = match e.scope {
            DncScope::Global => None,
            DncScope::Campaign(c) => {
                if self.campaign(c).await?.is_none() {
                    return Err(Error::NotFound(format!("campaign {c}")));
                }
                Some(c.0)
            }
        };
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dnc_entries (campaign_id, number, source, added_by, added_at, note)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
        )))
        .bind(campaign)
        .bind(number.as_str())
        .bind(e.source.as_str())
        .bind(e.added_by.trim())
        .bind(now)
        .bind(e.note.as_str())
        .fetch_optional(self.pool())
        .await?;
        if let Some(r) = inserted {
            return entry_from_row(&r);
        }
        self.dnc_in_force(e.scope, &number)
            .await?
            .ok_or_else(|| Error::Conflict("the entry was removed while adding it".into()))
    }

    /// The entry in force for `number` on one list.
    pub async fn dnc_in_force(&self, scope: DncScope, number: &E164) -> Result<Option<DncEntry>> {
        let (global, campaign) = match scope {
            DncScope::Global => (1_i64, 0),
            DncScope::Campaign(c) => (0, c.0),
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM dnc_entries WHERE number = $1 AND removed_at IS NULL
               AND (($2 = 1 AND campaign_id IS NULL) OR campaign_id = $3)"
        )))
        .bind(number.as_str())
        .bind(global)
        .bind(campaign)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(entry_from_row).transpose()
    }

    /// Takes a number off one list. The entry stays, with who removed it, when and why; the
    /// number is no longer refused. A number the list does not have in force is
    /// [`Error::NotFound`].
    pub async fn remove_dnc(
        &self,
        scope: DncScope,
        number: &E164,
        by: &str,
        reason: &str,
        now: Millis,
    ) -> Result<DncEntry> {
        if by.trim().is_empty() {
            return Err(Error::Invalid(
                "removing a do-not-call entry needs who".into(),
            ));
        }
        let entry = self
            .dnc_in_force(scope, number)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{number} is not on that list")))?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE dnc_entries SET removed_at = $1, removed_by = $2, removed_reason = $3
             WHERE id = $4 AND removed_at IS NULL RETURNING {COLUMNS}"
        )))
        .bind(now)
        .bind(by.trim())
        .bind(reason)
        .bind(entry.id.0)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => entry_from_row(&r),
            None => Err(Error::NotFound(format!("{number} was removed meanwhile"))),
        }
    }

    /// True when `number` must not be called for `campaign`: it is in force on the global
    /// list or on the campaign's.
    pub async fn is_dnc(&self, campaign: CampaignId, number: &E164) -> Result<bool> {
        Ok(self.dnc_match(Some(campaign), number).await?.is_some())
    }

    /// Which list forbids `number` (the global one when both do); `campaign` `None` checks
    /// only the global list.
    pub async fn dnc_match(
        &self,
        campaign: Option<CampaignId>,
        number: &E164,
    ) -> Result<Option<DncScope>> {
        let mut conn = self.pool().acquire().await?;
        match_in(&mut conn, campaign, number).await
    }

    /// A page of one list's entries by id: those after `after` (keyset pagination), at most
    /// `limit` (1..=500), removed ones only when `include_removed`.
    pub async fn dnc_page(
        &self,
        scope: DncScope,
        after: Option<DncEntryId>,
        limit: i64,
        include_removed: bool,
    ) -> Result<Vec<DncEntry>> {
        let (global, campaign) = match scope {
            DncScope::Global => (1_i64, 0),
            DncScope::Campaign(c) => (0, c.0),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM dnc_entries
             WHERE id > $1 AND (($2 = 1 AND campaign_id IS NULL) OR campaign_id = $3)
               AND (removed_at IS NULL OR $4 = 1)
             ORDER BY id LIMIT $5"
        )))
        .bind(after.map_or(0, |a| a.0))
        .bind(global)
        .bind(campaign)
        .bind(i64::from(include_removed))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }
}
