//! Customers, their identities, and the unified customer view.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::balances::merge_balances;
use crate::{
    Balance, BookingSummary, Contact, Customer, CustomerId, CustomerSummary, CustomerView, Error,
    Identity, IdentityKind, Millis, NewCustomer, Result, Store, StoredIdentity, Ticket,
    VIEW_BOOKINGS, VIEW_CONTACTS, flag, tier_priority,
};

pub(crate) const TICKET_COLUMNS: &str =
    "id, customer_id, call_id, subject, body, status, priority, assignee, created_at, updated_at";

pub(crate) fn ticket_from_row(r: &AnyRow) -> Result<Ticket> {
    Ok(Ticket {
        id: r.try_get("id")?,
        customer_id: r.try_get("customer_id")?,
        call_id: r.try_get("call_id")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        priority: r.try_get("priority")?,
        assignee: r.try_get("assignee")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn customer_from_row(r: &AnyRow) -> Result<Customer> {
    Ok(Customer {
        id: r.try_get("id")?,
        display_name: r.try_get("display_name")?,
        tier: r.try_get("tier")?,
        value_score: r.try_get("value_score")?,
        priority: r.try_get("priority")?,
        birthday: r.try_get("birthday")?,
        language: r.try_get("language")?,
        notes: r.try_get("notes")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Creates a customer and returns its id. The routing priority follows the tier.
    pub async fn create_customer(&self, c: &NewCustomer, now: Millis) -> Result<CustomerId> {
        if c.display_name.trim().is_empty() {
            return Err(Error::Invalid("customer name is empty".into()));
        }
        let tier = if c.tier.is_empty() {
            "standard"
        } else {
            c.tier.as_str()
        };
        if !crate::TIERS.contains(&tier) {
            return Err(Error::Invalid(format!("unknown tier {tier:?}")));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (display_name, tier, value_score, priority, birthday, language, notes, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(c.display_name.trim())
        .bind(tier)
        .bind(c.value_score)
        .bind(tier_priority(tier))
        .bind(c.birthday.as_deref())
        .bind(c.language.as_deref())
        .bind(c.notes.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// Links an identity to a customer. Linking the same identity to the same customer again is
    /// a no-op; an identity that belongs to another customer is a [`Error::Conflict`] (merge the
    /// two customers instead).
    pub async fn link_identity(
        &self,
        customer: CustomerId,
        identity: &Identity,
        source: &str,
        verified: bool,
        now: Millis,
    ) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO customer_identities (customer_id, kind, value, verified, source, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(customer)
        .bind(identity.kind.as_str())
        .bind(identity.value.as_str())
        .bind(i64::from(verified))
        .bind(source)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(());
        }
        match self.find_customer(identity).await? {
            Some(owner) if owner == customer => Ok(()),
            Some(_) => Err(Error::Conflict(format!(
                "this {} already belongs to another customer",
                identity.kind.as_str()
            ))),
            None => Err(Error::Conflict("identity was removed while linking".into())),
        }
    }

    /// The customer an identity points at, following merges.
    pub async fn find_customer(&self, identity: &Identity) -> Result<Option<CustomerId>> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2",
        )
        .bind(identity.kind.as_str())
        .bind(identity.value.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(id)
    }

    /// The unified customer view by any identity: the customer, all their identities, the last
    /// contacts with outcomes, open tickets and bookings. `None` when nobody has this identity.
    ///
    /// Two round trips: the customer with all identities (one join), then contacts, open tickets
    /// and bookings together (one `UNION ALL`). This is the screen-pop path, so it is kept short.
    pub async fn customer_view(&self, identity: &Identity) -> Result<Option<CustomerView>> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT c.id, c.display_name, c.tier, c.value_score, c.priority, c.birthday, c.language, c.notes, c.created_at,
                    j.kind AS i_kind, j.value AS i_value, j.verified AS i_verified, j.source AS i_source
             FROM customer_identities i
             JOIN customers c ON c.id = i.customer_id
             JOIN customer_identities j ON j.customer_id = c.id
             WHERE i.kind = $1 AND i.value = $2
             ORDER BY j.id",
        )
        .bind(identity.kind.as_str())
        .bind(identity.value.as_str())
        .fetch_all(&mut *conn)
        .await?;
        self.build_view(&mut conn, &rows).await
    }

    /// The unified view of a customer by id.
    pub async fn customer_view_by_id(&self, id: CustomerId) -> Result<Option<CustomerView>> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(
            "SELECT c.id, c.display_name, c.tier, c.value_score, c.priority, c.birthday, c.language, c.notes, c.created_at,
                    j.kind AS i_kind, j.value AS i_value, j.verified AS i_verified, j.source AS i_source
             FROM customers c LEFT JOIN customer_identities j ON j.customer_id = c.id
             WHERE c.id = $1 AND c.merged_into IS NULL
             ORDER BY j.id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        self.build_view(&mut conn, &rows).await
    }

    async fn build_view(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        rows: &[AnyRow],
    ) -> Result<Option<CustomerView>> {
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let customer = customer_from_row(first)?;
        let mut identities = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(kind) = r.try_get::<Option<String>, _>("i_kind")? else {
                continue;
            };
            identities.push(StoredIdentity {
                kind: IdentityKind::parse(&kind)?,
                value: r.try_get("i_value")?,
                verified: flag(r.try_get("i_verified")?),
                source: r.try_get("i_source")?,
            });
        }
        // One round trip for the rest. Each part keeps its own order and limit; `k` says which
        // part a row belongs to, `n1` is the part's sort key.
        let history = sqlx::query(
            "SELECT * FROM (
               SELECT 'c' AS k, c.id AS s1, c.direction AS s2, c.queue_id AS s3, c.agent_id AS s4,
                      c.end_reason AS s5, o.disposition AS s6, o.notes AS s7,
                      c.arrived_at AS n1, CAST(NULL AS BIGINT) AS n2, CAST(NULL AS BIGINT) AS n3, CAST(NULL AS BIGINT) AS n4
               FROM calls c LEFT JOIN outcomes o ON o.call_id = c.id AND o.agent_id = c.agent_id
               WHERE c.customer_id = $1 ORDER BY c.arrived_at DESC LIMIT $2) AS contacts
             UNION ALL
             SELECT * FROM (
               SELECT 't' AS k, t.subject AS s1, t.body AS s2, t.status AS s3, t.priority AS s4,
                      t.assignee AS s5, t.call_id AS s6, CAST(NULL AS TEXT) AS s7,
                      t.updated_at AS n1, t.id AS n2, t.created_at AS n3, t.customer_id AS n4
               FROM tickets t WHERE t.customer_id = $1 AND t.status IN ('open', 'pending')
               ORDER BY t.updated_at DESC LIMIT 20) AS tickets
             UNION ALL
             SELECT * FROM (
               SELECT 'b' AS k, b.reference AS s1, i.sku AS s2, i.name AS s3, b.status AS s4,
                      CAST(NULL AS TEXT) AS s5, CAST(NULL AS TEXT) AS s6, CAST(NULL AS TEXT) AS s7,
                      b.created_at AS n1, b.id AS n2, i.starts_at AS n3, b.quantity AS n4
               FROM bookings b JOIN bookable_items i ON i.id = b.item_id
               WHERE b.customer_id = $1 ORDER BY b.created_at DESC LIMIT $3) AS bookings
             UNION ALL
             SELECT 'a' AS k, a.currency AS s1, CAST(NULL AS TEXT) AS s2, CAST(NULL AS TEXT) AS s3,
                    CAST(NULL AS TEXT) AS s4, CAST(NULL AS TEXT) AS s5, CAST(NULL AS TEXT) AS s6,
                    CAST(NULL AS TEXT) AS s7, a.updated_at AS n1, a.amount_minor AS n2,
                    CAST(NULL AS BIGINT) AS n3, CAST(NULL AS BIGINT) AS n4
             FROM customer_balances a WHERE a.customer_id = $1
             ORDER BY k, n1 DESC",
        )
        .bind(customer.id)
        .bind(VIEW_CONTACTS)
        .bind(VIEW_BOOKINGS)
        .fetch_all(&mut **conn)
        .await?;
        let mut recent_contacts = Vec::new();
        let mut open_tickets = Vec::new();
        let mut bookings = Vec::new();
        let mut balance = None;
        for r in &history {
            let k: String = r.try_get("k")?;
            match k.as_str() {
                "c" => recent_contacts.push(Contact {
                    call_id: r.try_get("s1")?,
                    direction: r.try_get("s2")?,
                    queue_id: r.try_get("s3")?,
                    agent_id: r.try_get("s4")?,
                    end_reason: r.try_get("s5")?,
                    disposition: r.try_get("s6")?,
                    notes: r.try_get("s7")?,
                    arrived_at: r.try_get("n1")?,
                }),
                "t" => open_tickets.push(Ticket {
                    id: r.try_get("n2")?,
                    customer_id: r.try_get("n4")?,
                    call_id: r.try_get("s6")?,
                    subject: r.try_get("s1")?,
                    body: r.try_get("s2")?,
                    status: r.try_get("s3")?,
                    priority: r.try_get("s4")?,
                    assignee: r.try_get("s5")?,
                    created_at: r.try_get("n3")?,
                    updated_at: r.try_get("n1")?,
                }),
                "b" => bookings.push(BookingSummary {
                    id: r.try_get("n2")?,
                    reference: r.try_get("s1")?,
                    item_sku: r.try_get("s2")?,
                    item_name: r.try_get("s3")?,
                    status: r.try_get("s4")?,
                    starts_at: r.try_get("n3")?,
                    quantity: r.try_get("n4")?,
                    created_at: r.try_get("n1")?,
                }),
                "a" => {
                    balance = Some(Balance {
                        currency: r.try_get("s1")?,
                        updated_at: r.try_get("n1")?,
                        amount_minor: r.try_get("n2")?,
                    })
                }
                other => return Err(Error::Corrupt(format!("unexpected view part {other:?}"))),
            }
        }
        Ok(Some(CustomerView {
            customer,
            identities,
            recent_contacts,
            open_tickets,
            bookings,
            balance,
        }))
    }

    /// Merges `absorb` into `keep`: identities, calls, tickets, bookings and payments move to
    /// `keep`; notes are appended; the higher tier wins; balances in one currency add up (in
    /// two currencies the merge is refused); `absorb` is marked merged. One
    /// transaction: either everything moves or nothing does.
    pub async fn merge_customers(
        &self,
        keep: CustomerId,
        absorb: CustomerId,
        now: Millis,
    ) -> Result<()> {
        if keep == absorb {
            return Err(Error::Invalid("cannot merge a customer into itself".into()));
        }
        // Reads first: retried as a whole when SQLite refuses the upgrade to a write
        // (another writer committed in between).
        self.retrying(|| self.merge_customers_once(keep, absorb, now))
            .await
    }

    async fn merge_customers_once(
        &self,
        keep: CustomerId,
        absorb: CustomerId,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let rows = sqlx::query(
            "SELECT id, tier, notes, value_score FROM customers WHERE id IN ($1, $2) AND merged_into IS NULL",
        )
        .bind(keep)
        .bind(absorb)
        .fetch_all(&mut *tx)
        .await?;
        if rows.len() != 2 {
            return Err(Error::NotFound(
                "both customers must exist and not be merged".into(),
            ));
        }
        let mut keep_row = None;
        let mut absorb_row = None;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let t: (String, String, i64) = (
                r.try_get("tier")?,
                r.try_get("notes")?,
                r.try_get("value_score")?,
            );
            if id == keep {
                keep_row = Some(t)
            } else {
                absorb_row = Some(t)
            }
        }
        let (Some(k), Some(a)) = (keep_row, absorb_row) else {
            return Err(Error::NotFound("customer rows".into()));
        };
        let tier = if tier_priority(&a.0) > tier_priority(&k.0) {
            a.0
        } else {
            k.0
        };
        let notes = match (k.1.is_empty(), a.1.is_empty()) {
            (_, true) => k.1,
            (true, false) => a.1,
            (false, false) => format!("{}\n{}", k.1, a.1),
        };
        sqlx::query(
            "UPDATE customers SET tier = $1, priority = $2, notes = $3, value_score = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(tier.as_str())
        .bind(tier_priority(&tier))
        .bind(notes)
        .bind(k.2 + a.2)
        .bind(now)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        merge_balances(&mut tx, keep, absorb, now).await?;
        for sql in [
            "UPDATE customer_identities SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE calls SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE tickets SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE bookings SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE payments SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE balance_settlements SET customer_id = $1 WHERE customer_id = $2",
            "UPDATE customers SET merged_into = $1 WHERE id = $2",
        ] {
            sqlx::query(sql)
                .bind(keep)
                .bind(absorb)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Customers whose name contains `text` (case-insensitive) or who own an identity equal to
    /// it, best tier first. Numbers must be international (`+`); see
    /// [`Store::search_customers_in`] for national and partial numbers.
    pub async fn search_customers(&self, text: &str, limit: i64) -> Result<Vec<CustomerSummary>> {
        self.search_customers_in(text, limit, None).await
    }

    /// [`Store::search_customers`] for a centre in country `default_cc` (digits, no `+`): a
    /// number may also be typed in national format, with spaces and dashes, or in part (at
    /// least [`crate::phone::MIN_PARTIAL_DIGITS`] digits): a phone number matches when it is
    /// the same number, ends with the typed digits, or starts with the typed beginning
    /// (`crate::phone::phone_query`). A number is looked up whole first (the identities'
    /// index); only when nobody has it does the partial match scan the phone identities (no
    /// index serves a suffix). A text that is a number is not searched among names.
    pub async fn search_customers_in(
        &self,
        text: &str,
        limit: i64,
        default_cc: Option<&str>,
    ) -> Result<Vec<CustomerSummary>> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let pattern = format!("%{}%", text.to_lowercase().replace(['%', '_'], ""));
        let exact_upper = text.to_uppercase().replace(' ', "");
        let query = crate::phone::phone_query(text, default_cc);
        let phone = query
            .as_ref()
            .and_then(|q| q.exact.clone())
            .or_else(|| crate::phone::normalize(text, default_cc).ok())
            .unwrap_or_default();
        // A number: first the whole number through the identities' index; only when that finds
        // nobody, the partial match, which scans the phone identities (digits and `+` only:
        // phone_query refuses anything else, so no LIKE wildcards inside). A text with letters
        // searches names and exact identities as before.
        let rows = match &query {
            Some(q) => {
                let exact = sqlx::query(
                    "SELECT id, display_name, tier, priority FROM customers
                     WHERE merged_into IS NULL
                       AND id IN (SELECT customer_id FROM customer_identities
                                  WHERE kind = 'phone' AND value = $1)
                     ORDER BY priority DESC, display_name LIMIT $2",
                )
                // (kind, value) is the identities' unique index: a lookup, not a scan.
                .bind(&phone)
                .bind(limit.clamp(1, 200))
                .fetch_all(self.pool())
                .await?;
                if exact.is_empty() {
                    let prefix = q
                        .prefix
                        .as_ref()
                        .map_or_else(|| format!("%{}", q.suffix), |p| format!("{p}%"));
                    sqlx::query(
                        "SELECT id, display_name, tier, priority FROM customers
                         WHERE merged_into IS NULL
                           AND id IN (SELECT customer_id FROM customer_identities
                                      WHERE kind = 'phone' AND (value LIKE $1 OR value LIKE $2))
                         ORDER BY priority DESC, display_name LIMIT $3",
                    )
                    .bind(format!("%{}", q.suffix))
                    .bind(prefix)
                    .bind(limit.clamp(1, 200))
                    .fetch_all(self.pool())
                    .await?
                } else {
                    exact
                }
            }
            None => {
                sqlx::query(
                    "SELECT id, display_name, tier, priority FROM customers
                     WHERE merged_into IS NULL AND (LOWER(display_name) LIKE $1
                        OR id IN (SELECT customer_id FROM customer_identities WHERE value IN ($2, $3, $4)))
                     ORDER BY priority DESC, display_name LIMIT $5",
                )
                .bind(pattern)
                .bind(exact_upper)
                .bind(text.to_lowercase())
                .bind(phone)
                .bind(limit.clamp(1, 200))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(CustomerSummary {
                    id: r.try_get("id")?,
                    display_name: r.try_get("display_name")?,
                    tier: r.try_get("tier")?,
                })
            })
            .collect()
    }
}

/// Rows per multi-row INSERT in [`Store::import_customers`] (7 parameters each, well under
/// SQLite's 32,766-parameter limit).
const IMPORT_BATCH: usize = 500;

impl Store {
    /// Bulk import (a CRM export, a migration, benchmarks): creates the customers and links
    /// their identities in one transaction, using multi-row inserts. All or nothing: a duplicate
    /// identity aborts the whole import with [`Error::Conflict`].
    ///
    /// Ids are assigned in input order (a single multi-row INSERT numbers its rows in order on
    /// both SQLite and PostgreSQL); the returned ids match the input positions.
    pub async fn import_customers(
        &self,
        customers: &[(NewCustomer, Vec<Identity>)],
        source: &str,
        now: Millis,
    ) -> Result<Vec<CustomerId>> {
        for (c, _) in customers {
            let tier = if c.tier.is_empty() {
                "standard"
            } else {
                c.tier.as_str()
            };
            if c.display_name.trim().is_empty() || !crate::TIERS.contains(&tier) {
                return Err(Error::Invalid(format!(
                    "customer {:?}: empty name or unknown tier",
                    c.display_name
                )));
            }
        }
        let mut tx = self.pool().begin().await?;
        let mut ids = Vec::with_capacity(customers.len());
        for chunk in customers.chunks(IMPORT_BATCH) {
            let mut sql = String::from(
                "INSERT INTO customers (display_name, tier, value_score, priority, birthday, notes, created_at, updated_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 7;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 7
                ));
            }
            sql.push_str(" RETURNING id");
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for (c, _) in chunk {
                let tier = if c.tier.is_empty() {
                    "standard".to_string()
                } else {
                    c.tier.clone()
                };
                q = q
                    .bind(c.display_name.trim().to_string())
                    .bind(tier.clone())
                    .bind(c.value_score)
                    .bind(tier_priority(&tier))
                    .bind(c.birthday.clone())
                    .bind(c.notes.clone())
                    .bind(now);
            }
            let mut chunk_ids = q.fetch_all(&mut *tx).await?;
            chunk_ids.sort_unstable();
            if chunk_ids.len() != chunk.len() {
                return Err(Error::Corrupt("import returned fewer ids than rows".into()));
            }
            let pairs: Vec<(i64, &Identity)> = chunk
                .iter()
                .zip(&chunk_ids)
                .flat_map(|((_, idents), id)| idents.iter().map(move |i| (*id, i)))
                .collect();
            for ichunk in pairs.chunks(IMPORT_BATCH) {
                // Four parameters per row plus one shared created_at at the end.
                let last = ichunk.len() * 4 + 1;
                let mut sql = String::from(
                    "INSERT INTO customer_identities (customer_id, kind, value, verified, source, created_at) VALUES ",
                );
                for i in 0..ichunk.len() {
                    let b = i * 4;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, 1, ${}, ${last})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4
                    ));
                }
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (id, ident) in ichunk {
                    q = q
                        .bind(*id)
                        .bind(ident.kind.as_str())
                        .bind(ident.value.clone())
                        .bind(source.to_string());
                }
                q = q.bind(now);
                q.execute(&mut *tx).await.map_err(|e| {
                    if Error::is_unique_violation(&e) {
                        Error::Conflict("an imported identity already belongs to a customer".into())
                    } else {
                        Error::Database(e)
                    }
                })?;
            }
            ids.extend(chunk_ids);
        }
        tx.commit().await?;
        Ok(ids)
    }
}

/// The tiers a customer may have, most valued first.
pub const TIERS: [&str; 4] = ["vip", "gold", "silver", "standard"];

impl Store {
    /// Changes a customer's display name, tier (and with it the routing priority) and/or notes;
    /// `None` keeps a field. Returns the customer before and after. An unknown or merged-away
    /// customer is [`Error::NotFound`].
    pub async fn update_customer(
        &self,
        id: CustomerId,
        display_name: Option<&str>,
        tier: Option<&str>,
        notes: Option<&str>,
        now: Millis,
    ) -> Result<(Customer, Customer)> {
        if display_name.is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::Invalid("display_name is empty".into()));
        }
        if let Some(t) = tier
            && !TIERS.contains(&t)
        {
            return Err(Error::Invalid(format!(
                "unknown tier {t:?} (vip, gold, silver or standard)"
            )));
        }
        let columns =
            "id, display_name, tier, value_score, priority, birthday, language, notes, created_at";
        let mut tx = self.pool().begin().await?;
        let before = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM customers WHERE id = $1 AND merged_into IS NULL"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(customer_from_row)
        .transpose()?
        .ok_or_else(|| Error::NotFound(format!("customer {id}")))?;
        let after = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE customers SET display_name = COALESCE($1, display_name), tier = COALESCE($2, tier),
               priority = COALESCE($3, priority), notes = COALESCE($4, notes), updated_at = $5
             WHERE id = $6 RETURNING {columns}"
        )))
        .bind(display_name.map(str::trim))
        .bind(tier)
        .bind(tier.map(tier_priority))
        .bind(notes)
        .bind(now)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let after = customer_from_row(&after)?;
        tx.commit().await?;
        Ok((before, after))
    }
}
