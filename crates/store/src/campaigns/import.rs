//! Filling a campaign: a CSV contact list (header-driven, every row loaded or refused with
//! its line and reason) and lists built from the customers the store knows (birthday today,
//! a tier not contacted for a while, a trip or delivery with no follow-up yet). Each is one
//! transaction: the report describes exactly what was written, or nothing was.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::csv;
use super::dnc::{CHUNK, matches_in};
use crate::{
    CampaignContactId, CampaignId, CustomerId, CustomerList, E164, Error, ImportRefusal,
    ImportReport, ListAdded, ListRefusal, ListRefused, ListReport, LoadedRow, Millis, RefusedRow,
    Result, Store,
};

/// The columns an import understands; any other column is kept in the contact's `extra`.
const KNOWN: [&str; 5] = ["number", "name", "customer_id", "time_zone", "priority"];

/// A contact ready to insert.
struct Candidate {
    customer: Option<CustomerId>,
    number: E164,
    name: Option<String>,
    time_zone: Option<String>,
    priority: i64,
    extra: serde_json::Map<String, serde_json::Value>,
}

/// Reads one data record against the header: a contact, or why not.
fn read_record(
    header: &[String],
    fields: &[String],
    country_code: Option<&str>,
) -> std::result::Result<Candidate, ImportRefusal> {
    if fields.len() != header.len() {
        return Err(ImportRefusal::FieldCount {
            expected: header.len(),
            found: fields.len(),
        });
    }
    let mut number = "";
    let mut customer = None;
    let mut name = None;
    let mut time_zone = None;
    let mut priority = 0;
    let mut extra = serde_json::Map::new();
    for (column, raw) in header.iter().zip(fields) {
        let value = raw.trim();
        let bad = || ImportRefusal::BadValue {
            column: column.clone(),
            value: value.to_string(),
        };
        match column.as_str() {
            "number" => number = value,
            _ if value.is_empty() => {}
            "name" => name = Some(value.to_string()),
            "customer_id" => customer = Some(value.parse().map_err(|_| bad())?),
            "time_zone" => {
                crate::check_time_zone(value).map_err(|_| bad())?;
                time_zone = Some(value.to_string());
            }
            "priority" => priority = value.parse().map_err(|_| bad())?,
            other => {
                extra.insert(other.to_string(), serde_json::Value::String(value.into()));
            }
        }
    }
    if number.is_empty() {
        return Err(ImportRefusal::MissingValue {
            column: "number".into(),
        });
    }
    let number = E164::parse(number, country_code).map_err(|_| ImportRefusal::BadNumber {
        value: number.to_string(),
    })?;
    Ok(Candidate {
        customer,
        number,
        name,
        time_zone,
        priority,
        extra,
    })
}

/// Reads the header: lower-cased, trimmed names; `number` required; no name twice.
fn read_header(fields: &[String]) -> Result<Vec<String>> {
    let header: Vec<String> = fields.iter().map(|h| h.trim().to_lowercase()).collect();
    let mut seen = HashSet::new();
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            return Err(Error::Invalid(format!(
                "line 1: column {} has no name",
                i + 1
            )));
        }
        if !seen.insert(h.as_str()) {
            return Err(Error::Invalid(format!(
                "line 1: column {h:?} appears twice"
            )));
        }
    }
    if !seen.contains("number") {
        return Err(Error::Invalid(format!(
            "line 1: no \"number\" column (the columns are {}; known ones: {})",
            header.join(", "),
            KNOWN.join(", ")
        )));
    }
    Ok(header)
}

/// `IN ($first, $first+1, ...)` for `n` parameters.
fn placeholders(first: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", first + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The numbers among `numbers` that the campaign already has.
async fn numbers_in_campaign(
    conn: &mut sqlx::AnyConnection,
    campaign: CampaignId,
    numbers: &[&str],
) -> Result<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in numbers.chunks(CHUNK) {
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT number FROM campaign_contacts WHERE campaign_id = $1 AND number IN ({})",
            placeholders(2, chunk.len())
        )))
        .bind(campaign.0);
        for n in chunk {
            q = q.bind(*n);
        }
        found.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}

/// The customers among `ids` that exist and are not merged away.
async fn live_customers(
    conn: &mut sqlx::AnyConnection,
    ids: &[CustomerId],
) -> Result<HashSet<CustomerId>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM customers WHERE merged_into IS NULL AND id IN ({})",
            placeholders(1, chunk.len())
        )));
        for id in chunk {
            q = q.bind(*id);
        }
        found.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(found)
}

/// Inserts contacts with multi-row inserts; the ids come back in input order.
async fn insert_contacts(
    conn: &mut sqlx::AnyConnection,
    campaign: CampaignId,
    rows: &[&Candidate],
    source: &str,
    now: Millis,
) -> Result<Vec<CampaignContactId>> {
    // Six parameters per row, then campaign, source and time shared at the end.
    const PER_ROW: usize = 6;
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let shared = chunk.len() * PER_ROW;
        let values = (0..chunk.len())
            .map(|i| {
                let b = i * PER_ROW;
                format!(
                    "(${c}, ${}, ${}, ${}, ${}, ${}, ${}, ${s}, ${t}, ${t})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    c = shared + 1,
                    s = shared + 2,
                    t = shared + 3,
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO campaign_contacts (campaign_id, customer_id, number, name, time_zone,
               priority, extra, source, created_at, updated_at)
             VALUES {values} RETURNING id"
        )));
        for r in chunk {
            q = q
                .bind(r.customer)
                .bind(r.number.as_str().to_string())
                .bind(r.name.clone())
                .bind(r.time_zone.clone())
                .bind(r.priority)
                .bind(serde_json::Value::Object(r.extra.clone()).to_string());
        }
        q = q.bind(campaign.0).bind(source.to_string()).bind(now);
        let mut chunk_ids = q.fetch_all(&mut *conn).await.map_err(|e| {
            if Error::is_unique_violation(&e) {
                Error::Conflict(
                    "another writer added some of these numbers to the campaign meanwhile".into(),
                )
            } else {
                Error::Database(e)
            }
        })?;
        // A multi-row INSERT numbers its rows in order on both back ends.
        chunk_ids.sort_unstable();
        if chunk_ids.len() != chunk.len() {
            return Err(Error::Corrupt("insert returned fewer ids than rows".into()));
        }
        ids.extend(chunk_ids.into_iter().map(CampaignContactId));
    }
    Ok(ids)
}

impl Store {
    /// Imports a CSV contact list into a campaign. The first line is the header: `number` is
    /// required; `name`, `customer_id`, `time_zone` and `priority` are understood; any other
    /// column is kept in each contact's `extra` fields for the script (column names are
    /// trimmed and lower-cased; empty values are left out). National numbers are read with
    /// the campaign's `country_code`.
    ///
    /// Every data row is either loaded or refused, with the line it starts on and why
    /// ([`ImportRefusal`]): wrong field count, empty number, bad number or value, unknown
    /// customer, a number already on an earlier row or in the campaign, or on a do-not-call
    /// list (global or the campaign's). Rows are written in one transaction, so the report is
    /// exactly what was stored.
    ///
    /// Whole-file problems are an [`Error::Invalid`] and write nothing: an empty file, no
    /// `number` column, a column named twice or not at all, a quote never closed. A stopped
    /// or unknown campaign is [`Error::Conflict`] / [`Error::NotFound`].
    pub async fn import_contacts_csv(
        &self,
        campaign: CampaignId,
        csv_text: &str,
        now: Millis,
    ) -> Result<ImportReport> {
        let settings = self.open_campaign(campaign).await?.settings;
        let records = csv::parse(csv_text)?;
        let Some((head, data)) = records.split_first() else {
            return Err(Error::Invalid("the file is empty (no header line)".into()));
        };
        let header = read_header(&head.fields)?;
        let mut report = ImportReport::default();
        let mut candidates: Vec<(usize, Candidate)> = Vec::new();
        let mut first_row: HashMap<String, usize> = HashMap::new();
        for rec in data {
            match read_record(&header, &rec.fields, settings.country_code.as_deref()) {
                Err(reason) => report.refused.push(RefusedRow {
                    row: rec.line,
                    reason,
                }),
                Ok(row) => match first_row.get(row.number.as_str()) {
                    Some(&first) => report.refused.push(RefusedRow {
                        row: rec.line,
                        reason: ImportRefusal::DuplicateInList { first_row: first },
                    }),
                    None => {
                        first_row.insert(row.number.to_string(), rec.line);
                        candidates.push((rec.line, row));
                    }
                },
            }
        }
        let candidates = &candidates;
        let refused_by_format = report.refused.clone();
        self.retrying(|| async {
            let mut report = ImportReport {
                loaded: Vec::new(),
                refused: refused_by_format.clone(),
            };
            let mut tx = self.pool().begin().await?;
            let numbers: Vec<&str> = candidates.iter().map(|(_, r)| r.number.as_str()).collect();
            let dnc = matches_in(&mut tx, campaign, &numbers).await?;
            let existing = numbers_in_campaign(&mut tx, campaign, &numbers).await?;
            let customer_ids: Vec<CustomerId> =
                candidates.iter().filter_map(|(_, r)| r.customer).collect();
            let customers = live_customers(&mut tx, &customer_ids).await?;
            let mut load: Vec<(usize, &Candidate)> = Vec::new();
            for (line, r) in candidates {
                let reason = if let Some(c) = r.customer.filter(|c| !customers.contains(c)) {
                    Some(ImportRefusal::UnknownCustomer { customer: c })
                } else if existing.contains(r.number.as_str()) {
                    Some(ImportRefusal::DuplicateInCampaign)
                } else {
                    dnc.get(r.number.as_str())
                        .map(|&scope| ImportRefusal::DoNotCall { scope })
                };
                match reason {
                    Some(reason) => report.refused.push(RefusedRow { row: *line, reason }),
                    None => load.push((*line, r)),
                }
            }
            let rows: Vec<&Candidate> = load.iter().map(|(_, r)| *r).collect();
            let ids = insert_contacts(&mut tx, campaign, &rows, "csv", now).await?;
            tx.commit().await?;
            report.loaded = load
                .iter()
                .zip(ids)
                .map(|((line, _), contact)| LoadedRow {
                    row: *line,
                    contact,
                })
                .collect();
            report.refused.sort_by_key(|r| r.row);
            Ok(report)
        })
        .await
    }

    /// Adds the customers a [`CustomerList`] selects to a campaign, each with their first
    /// phone number (verified ones first). Every matched customer is either added or refused
    /// ([`ListRefusal`]: no phone number, on a do-not-call list, number already in the
    /// campaign), in one transaction. Each contact's `extra` names the list (`list`); the
    /// script finds the rest in the customer view of `customer`.
    ///
    /// What "contact" means for the lists: a row in `calls` for the customer, in either
    /// direction (call records are the store's contact history). The booking list uses
    /// confirmed bookings and the item's `starts_at` (departure, delivery slot, appointment).
    pub async fn add_customer_list(
        &self,
        campaign: CampaignId,
        list: &CustomerList,
        now: Millis,
    ) -> Result<ListReport> {
        self.open_campaign(campaign).await?;
        let (condition, args, name): (&str, Vec<Arg>, &str) = match list {
            CustomerList::BirthdayOn { on } => {
                let md = format!("{:02}-{:02}", on.month, on.day);
                // Born on 29 February: greeted on 28 February when the year has no 29th.
                let also = if on.month == 2 && on.day == 28 && !on.is_leap_year() {
                    "02-29".to_string()
                } else {
                    md.clone()
                };
                (
                    "substr(c.birthday, 6, 5) IN ($1, $2)",
                    vec![Arg::Text(md), Arg::Text(also)],
                    "birthday",
                )
            }
            CustomerList::TierNotContactedSince { tier, since } => {
                if !crate::TIERS.contains(&tier.as_str()) {
                    return Err(Error::Invalid(format!("unknown tier {tier:?}")));
                }
                (
                    "c.tier = $1 AND NOT EXISTS (SELECT 1 FROM calls k
                       WHERE k.customer_id = c.id AND k.arrived_at >= $2)",
                    vec![Arg::Text(tier.clone()), Arg::Int(*since)],
                    "tier_not_contacted",
                )
            }
            CustomerList::ServedBetweenNoFollowUp { from, until } => {
                if from >= until {
                    return Err(Error::Invalid("the period is empty (from >= until)".into()));
                }
                (
                    "EXISTS (SELECT 1 FROM bookings b JOIN bookable_items i ON i.id = b.item_id
                       WHERE b.customer_id = c.id AND b.status = 'confirmed'
                         AND i.starts_at >= $1 AND i.starts_at < $2
                         AND NOT EXISTS (SELECT 1 FROM calls k
                           WHERE k.customer_id = c.id AND k.arrived_at >= i.starts_at))",
                    vec![Arg::Int(*from), Arg::Int(*until)],
                    "served_no_follow_up",
                )
            }
        };
        let sql = format!(
            "SELECT c.id, c.display_name,
               (SELECT i.value FROM customer_identities i WHERE i.customer_id = c.id
                  AND i.kind = 'phone' ORDER BY i.verified DESC, i.id LIMIT 1) AS number
             FROM customers c WHERE c.merged_into IS NULL AND {condition} ORDER BY c.id"
        );
        self.retrying(|| async {
            let mut tx = self.pool().begin().await?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for a in &args {
                q = match a {
                    Arg::Text(s) => q.bind(s.clone()),
                    Arg::Int(i) => q.bind(*i),
                };
            }
            let matched = q.fetch_all(&mut *tx).await?;
            let mut report = ListReport::default();
            let mut rows: Vec<(CustomerId, Candidate)> = Vec::new();
            for r in &matched {
                let customer: CustomerId = r.try_get("id")?;
                let number: Option<String> = r.try_get("number")?;
                match number.map(|n| super::stored_number(&n)).transpose()? {
                    None => report.refused.push(ListRefused {
                        customer,
                        reason: ListRefusal::NoNumber,
                    }),
                    Some(number) => {
                        let mut extra = serde_json::Map::new();
                        extra.insert("list".into(), serde_json::Value::String(name.into()));
                        rows.push((
                            customer,
                            Candidate {
                                customer: Some(customer),
                                number,
                                name: Some(r.try_get("display_name")?),
                                time_zone: None,
                                priority: 0,
                                extra,
                            },
                        ));
                    }
                }
            }
            let numbers: Vec<&str> = rows.iter().map(|(_, r)| r.number.as_str()).collect();
            let dnc = matches_in(&mut tx, campaign, &numbers).await?;
            let mut taken = numbers_in_campaign(&mut tx, campaign, &numbers).await?;
            let mut load: Vec<(CustomerId, &Candidate)> = Vec::new();
            for (customer, r) in &rows {
                let reason = if let Some(&scope) = dnc.get(r.number.as_str()) {
                    Some(ListRefusal::DoNotCall { scope })
                } else if !taken.insert(r.number.to_string()) {
                    // In the campaign already, or shared with an earlier customer of the list.
                    Some(ListRefusal::AlreadyInCampaign)
                } else {
                    None
                };
                match reason {
                    Some(reason) => report.refused.push(ListRefused {
                        customer: *customer,
                        reason,
                    }),
                    None => load.push((*customer, r)),
                }
            }
            let only: Vec<&Candidate> = load.iter().map(|(_, r)| *r).collect();
            let source = format!("list:{name}");
            let ids = insert_contacts(&mut tx, campaign, &only, &source, now).await?;
            tx.commit().await?;
            report.added = load
                .iter()
                .zip(ids)
                .map(|((customer, _), contact)| ListAdded {
                    customer: *customer,
                    contact,
                })
                .collect();
            report.refused.sort_by_key(|r| r.customer);
            Ok(report)
        })
        .await
    }
}

/// A bound parameter of a list's condition.
enum Arg {
    Text(String),
    Int(i64),
}
