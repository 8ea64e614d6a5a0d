//! Webhooks: subscriptions and the durable outbox their deliveries wait in.
//!
//! An event (a call ended, an outcome written, a ticket created or changed, a payment
//! approved) is put in the outbox by the store function that writes what caused it, in the
//! same transaction: one row per active subscription that wants the event's [`EventKind`],
//! idempotent by (subscription, kind, subject, source id), so a writer that repeats its write
//! (a desktop outbox, the call-record writer's retry) enqueues nothing twice. Each row gets
//! the next [`Delivery::sequence`] of its subject (`call/<id>`, `ticket/<id>`) for that
//! subscription, and its JSON body ([`Delivery::body`]) is fixed then: `id`, `kind`,
//! `occurred_at`, `subject`, `sequence`, `data`.
//!
//! The switch's delivery worker [`Store::claim_webhook_deliveries`] (a lease, so two switch
//! nodes on one PostgreSQL database do not post the same row at once; only the lowest pending
//! sequence of each subject is due, so a subject's deliveries go out in order), posts them and
//! reports each attempt with [`Store::record_webhook_attempt`]. The retry schedule is the
//! worker's; the store keeps what it decided.
//!
//! The store never reads a clock: enqueued rows are stamped with the event's own time, and
//! claims and attempts take `now`.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Error, Millis, Result, Store};

/// Database id of a webhook subscription.
pub type WebhookId = i64;
/// Database id of one delivery (one event for one subscription): the `Hotline-Delivery`
/// header and the body's `id`; receivers deduplicate by it.
pub type DeliveryId = i64;

/// The events a subscription can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum EventKind {
    /// A call record was closed (the switch's call-record writer stored the `ended` event).
    #[serde(rename = "call.ended")]
    CallEnded,
    /// An agent's outcome (disposition, notes) for a call was written or rewritten.
    #[serde(rename = "outcome.written")]
    OutcomeWritten,
    /// A ticket was created.
    #[serde(rename = "ticket.created")]
    TicketCreated,
    /// A ticket changed (status, priority, assignee, subject, body, or a comment).
    #[serde(rename = "ticket.updated")]
    TicketUpdated,
    /// A card payment was approved by the gateway.
    #[serde(rename = "payment.approved")]
    PaymentApproved,
}

impl EventKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [EventKind; 5] = [
        EventKind::CallEnded,
        EventKind::OutcomeWritten,
        EventKind::TicketCreated,
        EventKind::TicketUpdated,
        EventKind::PaymentApproved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CallEnded => "call.ended",
            EventKind::OutcomeWritten => "outcome.written",
            EventKind::TicketCreated => "ticket.created",
            EventKind::TicketUpdated => "ticket.updated",
            EventKind::PaymentApproved => "payment.approved",
        }
    }

    pub fn parse(s: &str) -> Result<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                Error::Invalid(format!(
                    "unknown event kind {s:?} (one of {})",
                    all.join(", ")
                ))
            })
    }
}

/// A subscription to create. The secret is chosen by the caller (the API makes a random one
/// and shows it once).
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhook {
    pub url: String,
    pub kinds: Vec<EventKind>,
    pub secret: String,
    /// The audit actor who made it.
    pub created_by: String,
}

/// Whether a subscription still gets events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    Active,
    /// Deleted at this time: gets no new events; its pending deliveries were failed.
    Deleted {
        at: Millis,
    },
}

/// A subscription as listed (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: WebhookId,
    pub url: String,
    pub kinds: Vec<EventKind>,
    pub state: WebhookState,
    pub created_by: String,
    pub created_at: Millis,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet accepted by the receiver; due at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up (too many attempts, too old, or the subscription was deleted).
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<DeliveryState> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            other => Err(Error::Corrupt(format!("delivery state {other:?}"))),
        }
    }
}

/// One event for one subscription, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub subscription_id: WebhookId,
    pub kind: EventKind,
    /// What the event is about: `call/<call id>`, `ticket/<ticket id>`, `payment/<key>`.
    pub subject: String,
    /// 1, 2, 3… per subject and subscription, in the order the events were enqueued.
    pub sequence: i64,
    /// The exact JSON that is posted.
    pub body: String,
    pub created_at: Millis,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    /// The HTTP status of the last attempt, if it got one.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Millis>,
}

/// A claimed delivery with what the worker needs to post it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub delivery: Delivery,
    pub url: String,
    pub secret: String,
}

/// What one attempt came to, as the worker decided.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryAttempt {
    /// The receiver answered 2xx with this status.
    Delivered { status: u16 },
    /// It failed; try again at `next_attempt_at`.
    Retry {
        status: Option<u16>,
        error: String,
        next_attempt_at: Millis,
    },
    /// It failed and the worker gives up: the delivery is failed for good.
    GiveUp { status: Option<u16>, error: String },
}

/// An event to enqueue for every active subscription that wants its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub kind: EventKind,
    /// `call/<id>`, `ticket/<id>`…: deliveries of one subject go out in order.
    pub subject: String,
    /// What makes this event unique within its kind and subject (a call id, a history row):
    /// enqueueing the same event again adds nothing.
    pub source_id: String,
    pub occurred_at: Millis,
    /// The body's `data`: no card data, no PINs.
    pub data: serde_json::Value,
}

/// The posted body, fields in this order.
#[derive(Serialize)]
struct Envelope<'a> {
    id: DeliveryId,
    kind: &'static str,
    occurred_at: Millis,
    subject: &'a str,
    sequence: i64,
    data: &'a serde_json::Value,
}

const SUB_COLUMNS: &str = "id, url, kinds, active, created_by, created_at, deleted_at";
const DELIVERY_COLUMNS: &str = "o.id, o.subscription_id, o.kind, o.subject, o.sequence, o.body, \
     o.created_at, o.state, o.attempts, o.next_attempt_at, o.last_status, o.last_error, \
     o.delivered_at";

fn parse_kinds(text: &str) -> Result<Vec<EventKind>> {
    let names: Vec<String> =
        serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("webhook kinds: {e}")))?;
    names.iter().map(|n| EventKind::parse(n)).collect()
}

fn webhook_from_row(r: &AnyRow) -> Result<Webhook> {
    let deleted_at: Option<Millis> = r.try_get("deleted_at")?;
    let active = crate::flag(r.try_get("active")?);
    Ok(Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        kinds: parse_kinds(&r.try_get::<String, _>("kinds")?)?,
        state: match (active, deleted_at) {
            (true, _) => WebhookState::Active,
            (false, at) => WebhookState::Deleted {
                at: at.unwrap_or(0),
            },
        },
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: r.try_get("id")?,
        subscription_id: r.try_get("subscription_id")?,
        kind: EventKind::parse(&r.try_get::<String, _>("kind")?)
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        subject: r.try_get("subject")?,
        sequence: r.try_get("sequence")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        state: DeliveryState::parse(&r.try_get::<String, _>("state")?)?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// The ids of the active subscriptions that want `kind`.
pub(crate) async fn subscribers(
    conn: &mut AnyConnection,
    kind: EventKind,
) -> Result<Vec<WebhookId>> {
    let rows: Vec<(WebhookId, String)> =
        sqlx::query_as("SELECT id, kinds FROM webhook_subscriptions WHERE active = 1 ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    let mut out = Vec::new();
    for (id, kinds) in rows {
        if parse_kinds(&kinds)?.contains(&kind) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Enqueues `events` (all of one kind) for `subs` on `conn`, inside the caller's transaction.
/// An event already enqueued for a subscription is skipped and takes no sequence number.
pub(crate) async fn enqueue_for(
    conn: &mut AnyConnection,
    subs: &[WebhookId],
    events: &[WebhookEvent],
) -> Result<()> {
    for sub in subs {
        for ev in events {
            let id: Option<DeliveryId> = sqlx::query_scalar(
                "INSERT INTO webhook_outbox (subscription_id, kind, subject, source_id, sequence, body, created_at, next_attempt_at)
                 VALUES ($1, $2, $3, $4, 0, '', $5, $5)
                 ON CONFLICT (subscription_id, kind, subject, source_id) DO NOTHING RETURNING id",
            )
            .bind(*sub)
            .bind(ev.kind.as_str())
            .bind(ev.subject.as_str())
            .bind(ev.source_id.as_str())
            .bind(ev.occurred_at)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(id) = id else { continue };
            // The row lock of the subject's counter orders concurrent writers of one subject.
            let sequence: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_subjects (subscription_id, subject, last_sequence) VALUES ($1, $2, 1)
                 ON CONFLICT (subscription_id, subject)
                 DO UPDATE SET last_sequence = webhook_subjects.last_sequence + 1
                 RETURNING last_sequence",
            )
            .bind(*sub)
            .bind(ev.subject.as_str())
            .fetch_one(&mut *conn)
            .await?;
            let body = serde_json::to_string(&Envelope {
                id,
                kind: ev.kind.as_str(),
                occurred_at: ev.occurred_at,
                subject: &ev.subject,
                sequence,
                data: &ev.data,
            })
            .map_err(|e| Error::Invalid(e.to_string()))?;
            sqlx::query("UPDATE webhook_outbox SET sequence = $1, body = $2 WHERE id = $3")
                .bind(sequence)
                .bind(body)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// [`subscribers`] then [`enqueue_for`]: enqueues `events` of `kind` for everyone who wants
/// them. `make` builds the events only when someone does.
pub(crate) async fn enqueue<F>(conn: &mut AnyConnection, kind: EventKind, make: F) -> Result<()>
where
    F: FnOnce() -> Vec<WebhookEvent>,
{
    let subs = subscribers(conn, kind).await?;
    if subs.is_empty() {
        return Ok(());
    }
    let events = make();
    debug_assert!(events.iter().all(|e| e.kind == kind));
    enqueue_for(conn, &subs, &events).await
}

impl Store {
    /// Creates a subscription. The URL must be `http://` or `https://`, the kinds a non-empty
    /// list (duplicates dropped), the secret at least 16 characters.
    pub async fn create_webhook(&self, w: &NewWebhook, now: Millis) -> Result<Webhook> {
        let url = w.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
            return Err(Error::Invalid(
                "webhook url must start with http:// or https:// (at most 2000 characters)".into(),
            ));
        }
        let mut kinds: Vec<&str> = Vec::new();
        for k in &w.kinds {
            if !kinds.contains(&k.as_str()) {
                kinds.push(k.as_str());
            }
        }
        if kinds.is_empty() {
            return Err(Error::Invalid(
                "a webhook needs at least one event kind".into(),
            ));
        }
        if w.secret.len() < 16 {
            return Err(Error::Invalid(
                "webhook secret is shorter than 16 characters".into(),
            ));
        }
        let kinds = serde_json::to_string(&kinds).map_err(|e| Error::Invalid(e.to_string()))?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhook_subscriptions (url, kinds, secret, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {SUB_COLUMNS}"
        )))
        .bind(url)
        .bind(kinds)
        .bind(w.secret.as_str())
        .bind(w.created_by.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        webhook_from_row(&row)
    }

    /// Every subscription, deleted ones included, by id.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUB_COLUMNS} FROM webhook_subscriptions ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// One subscription.
    pub async fn webhook(&self, id: WebhookId) -> Result<Option<Webhook>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUB_COLUMNS} FROM webhook_subscriptions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// Deletes a subscription: it gets no new events and its pending deliveries are failed
    /// ("subscription deleted"); the row and its delivery log stay. Deleting it again changes
    /// nothing. An unknown id is [`Error::NotFound`].
    pub async fn delete_webhook(&self, id: WebhookId, now: Millis) -> Result<Webhook> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_subscriptions SET active = 0, deleted_at = COALESCE(deleted_at, $1)
             WHERE id = $2 RETURNING {SUB_COLUMNS}"
        )))
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(Error::NotFound(format!("webhook {id}")));
        };
        sqlx::query(
            "UPDATE webhook_outbox SET state = 'failed', last_error = 'subscription deleted',
               claimed_until = NULL
             WHERE subscription_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        webhook_from_row(&row)
    }

    /// Enqueues an event for every active subscription that wants its kind, in a transaction
    /// of its own (for writers outside the store; the store's own writers enqueue in theirs).
    pub async fn enqueue_webhook_event(&self, ev: &WebhookEvent) -> Result<()> {
        self.retrying(|| async {
            let mut tx = self.pool().begin().await?;
            enqueue(&mut tx, ev.kind, || vec![ev.clone()]).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The earliest `next_attempt_at` of a pending delivery, if any: a cheap read (one index)
    /// that lets an idle worker skip the claim, which on SQLite takes the write lock.
    pub async fn next_webhook_due(&self) -> Result<Option<Millis>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM webhook_outbox WHERE state = 'pending'",
        )
        .fetch_one(self.pool())
        .await?)
    }

    /// Claims up to `limit` deliveries due at `now` for `lease_ms`: pending, of an active
    /// subscription, `next_attempt_at` reached, not leased by another worker, and the lowest
    /// pending sequence of their subject (so at most one per subject, and a subject's later
    /// events wait for the earlier ones to be delivered or failed). Oldest first.
    pub async fn claim_webhook_deliveries(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>> {
        let ids: Vec<DeliveryId> = self
            .retrying(|| async {
                Ok(sqlx::query_scalar(
                    "UPDATE webhook_outbox SET claimed_until = $1
                     WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until <= $2)
                       AND id IN (
                         SELECT o.id FROM webhook_outbox o
                         JOIN webhook_subscriptions s ON s.id = o.subscription_id
                         WHERE o.state = 'pending' AND o.next_attempt_at <= $2 AND s.active = 1
                           AND (o.claimed_until IS NULL OR o.claimed_until <= $2)
                           AND NOT EXISTS (
                             SELECT 1 FROM webhook_outbox p
                             WHERE p.subscription_id = o.subscription_id AND p.subject = o.subject
                               AND p.state = 'pending' AND p.sequence < o.sequence)
                         ORDER BY o.id LIMIT $3)
                     RETURNING id",
                )
                .bind(now.saturating_add(lease_ms.max(1)))
                .bind(now)
                .bind(limit.clamp(1, 500))
                .fetch_all(self.pool())
                .await?)
            })
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {DELIVERY_COLUMNS}, s.url, s.secret FROM webhook_outbox o
                 JOIN webhook_subscriptions s ON s.id = o.subscription_id WHERE o.id = $1"
            )))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
            out.push(DueDelivery {
                delivery: delivery_from_row(&row)?,
                url: row.try_get("url")?,
                secret: row.try_get("secret")?,
            });
        }
        out.sort_by_key(|d| d.delivery.id);
        Ok(out)
    }

    /// Records one attempt at a claimed delivery and releases the lease. A delivery that is
    /// no longer pending (failed by a deletion meanwhile) is left as it is.
    pub async fn record_webhook_attempt(
        &self,
        id: DeliveryId,
        result: &DeliveryAttempt,
        now: Millis,
    ) -> Result<()> {
        let (state, status, error, next, delivered_at) = match result {
            DeliveryAttempt::Delivered { status } => {
                ("delivered", Some(*status), None, None, Some(now))
            }
            DeliveryAttempt::Retry {
                status,
                error,
                next_attempt_at,
            } => (
                "pending",
                *status,
                Some(error.as_str()),
                Some(*next_attempt_at),
                None,
            ),
            DeliveryAttempt::GiveUp { status, error } => {
                ("failed", *status, Some(error.as_str()), None, None)
            }
        };
        self.retrying(|| async {
            sqlx::query(
                "UPDATE webhook_outbox SET state = $1, attempts = attempts + 1, last_status = $2,
                   last_error = $3, next_attempt_at = COALESCE($4, next_attempt_at),
                   delivered_at = $5, claimed_until = NULL
                 WHERE id = $6 AND state = 'pending'",
            )
            .bind(state)
            .bind(status.map(i64::from))
            .bind(error)
            .bind(next)
            .bind(delivered_at)
            .bind(id)
            .execute(self.pool())
            .await?;
            Ok(())
        })
        .await
    }

    /// A page of one subscription's delivery log, newest first: those with an id below
    /// `before` (keyset pagination), at most `limit` (1..=500).
    pub async fn webhook_deliveries(
        &self,
        subscription: WebhookId,
        before: Option<DeliveryId>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_outbox o
             WHERE o.subscription_id = $1 AND ($2 = 0 OR o.id < $2)
             ORDER BY o.id DESC LIMIT $3"
        )))
        .bind(subscription)
        .bind(before.unwrap_or(0))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// One delivery.
    pub async fn webhook_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_outbox o WHERE o.id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// How many deliveries are in each state: (pending, delivered, failed) (tests, metrics).
    pub async fn webhook_delivery_counts(&self) -> Result<(i64, i64, i64)> {
        let row: (i64, i64, i64) = sqlx::query_as(
            "SELECT
               (SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'),
               (SELECT COUNT(*) FROM webhook_outbox WHERE state = 'delivered'),
               (SELECT COUNT(*) FROM webhook_outbox WHERE state = 'failed')",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row)
    }
}
