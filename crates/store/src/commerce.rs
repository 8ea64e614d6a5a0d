//! Bookable items, bookings (held while the caller pays) and payments (token, brand, last four).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::webhooks::{EventKind, WebhookEvent};
use crate::{
    BookableItem, Booking, BookingId, CustomerId, Error, ItemId, Millis, NewItem, Payment, Result,
    Store, contains_card_number,
};

fn item_from_row(r: &AnyRow) -> Result<BookableItem> {
    Ok(BookableItem {
        id: r.try_get("id")?,
        sku: r.try_get("sku")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        starts_at: r.try_get("starts_at")?,
        price_minor: r.try_get("price_minor")?,
        currency: r.try_get("currency")?,
        capacity: r.try_get("capacity")?,
        held: r.try_get("held")?,
        sold: r.try_get("sold")?,
    })
}

const ITEM_COLUMNS: &str =
    "id, sku, name, description, starts_at, price_minor, currency, capacity, held, sold";

impl Store {
    /// Creates or updates a bookable item by sku (capacity may not drop below held + sold).
    pub async fn upsert_item(&self, i: &NewItem) -> Result<ItemId> {
        if i.price_minor < 0 || i.capacity < 0 || i.currency.len() != 3 {
            return Err(Error::Invalid(
                "item needs a price >= 0, capacity >= 0 and a 3-letter currency".into(),
            ));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bookable_items (sku, name, description, starts_at, price_minor, currency, capacity)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (sku) DO UPDATE SET name = excluded.name, description = excluded.description,
               starts_at = excluded.starts_at, price_minor = excluded.price_minor,
               currency = excluded.currency, capacity = excluded.capacity
             RETURNING id",
        )
        .bind(i.sku.as_str())
        .bind(i.name.as_str())
        .bind(i.description.as_str())
        .bind(i.starts_at)
        .bind(i.price_minor)
        .bind(i.currency.as_str())
        .bind(i.capacity)
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// Items with free capacity that start after `now` (or have no start), soonest first.
    pub async fn available_items(&self, now: Millis, limit: i64) -> Result<Vec<BookableItem>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM bookable_items
             WHERE held + sold < capacity AND (starts_at IS NULL OR starts_at > $1)
             ORDER BY starts_at, id LIMIT $2"
        ));
        sqlx::query(sql)
            .bind(now)
            .bind(limit.clamp(1, 100))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(item_from_row)
            .collect()
    }

    /// One item.
    pub async fn item(&self, id: ItemId) -> Result<Option<BookableItem>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLUMNS} FROM bookable_items WHERE id = $1"
        ));
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(item_from_row)
            .transpose()
    }

    /// Holds one unit of an item for a customer while they pay. Fails with
    /// [`Error::Conflict`] when the item is sold out. Atomic: two callers racing for the last
    /// seat cannot both hold it.
    pub async fn hold_booking(
        &self,
        customer: CustomerId,
        item: ItemId,
        call_id: Option<&str>,
        reference: &str,
        hold_until: Millis,
        now: Millis,
    ) -> Result<BookingId> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE bookable_items SET held = held + 1 WHERE id = $1 AND held + sold < capacity",
        )
        .bind(item)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Err(Error::Conflict("item is sold out or does not exist".into()));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bookings (reference, customer_id, item_id, call_id, quantity, status, hold_expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 1, 'held', $5, $6, $6) RETURNING id",
        )
        .bind(reference)
        .bind(customer)
        .bind(item)
        .bind(call_id)
        .bind(hold_until)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Turns a held booking into a confirmed one (after an approved payment).
    pub async fn confirm_booking(&self, id: BookingId, now: Millis) -> Result<()> {
        self.finish_booking(id, "confirmed", "held = held - 1, sold = sold + 1", now)
            .await
    }

    /// Releases a held booking (payment declined, caller hung up, hold expired).
    pub async fn release_booking(&self, id: BookingId, now: Millis) -> Result<()> {
        self.finish_booking(id, "cancelled", "held = held - 1", now)
            .await
    }

    async fn finish_booking(
        &self,
        id: BookingId,
        status: &'static str,
        item_change: &str,
        now: Millis,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let item: Option<i64> = sqlx::query_scalar(
            "UPDATE bookings SET status = $1, updated_at = $2, hold_expires_at = NULL WHERE id = $3 AND status = 'held' RETURNING item_id",
        )
        .bind(status)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(item) = item else {
            tx.rollback().await?;
            return Err(Error::Conflict(format!("booking {id} is not held")));
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE bookable_items SET {item_change} WHERE id = $1"
        )))
        .bind(item)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Releases every hold that expired before `now`; returns how many.
    pub async fn expire_holds(&self, now: Millis) -> Result<u64> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM bookings WHERE status = 'held' AND hold_expires_at IS NOT NULL AND hold_expires_at < $1",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut n = 0;
        for id in ids {
            if self.release_booking(id, now).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Records a payment attempt or its result, idempotent by `idempotency_key`: the first write
    /// creates the row, later writes update status and gateway fields of a still-pending row.
    /// Refuses anything that looks like a card number in any free-form field, and a last-four
    /// that is not four digits.
    pub async fn record_payment(&self, p: &Payment) -> Result<Payment> {
        if let Some(l4) = &p.card_last4
            && (l4.len() != 4 || !l4.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::Invalid(
                "card_last4 must be exactly four digits".into(),
            ));
        }
        for field in [
            &p.card_token,
            &p.gateway_ref,
            &p.decline_reason,
            &p.card_brand,
            &p.reference,
        ]
        .into_iter()
        .flatten()
        {
            if contains_card_number(field) {
                return Err(Error::Invalid(
                    "a payment field looks like a card number; refusing to store it".into(),
                ));
            }
        }
        if contains_card_number(&p.idempotency_key) {
            return Err(Error::Invalid(
                "idempotency key looks like a card number".into(),
            ));
        }
        self.retrying(|| async {
            let mut tx = self.pool().begin().await?;
            sqlx::query(
                "INSERT INTO payments (idempotency_key, booking_id, customer_id, call_id, amount_minor, currency, status,
                   decline_reason, gateway, gateway_ref, card_token, card_brand, card_last4, created_at, updated_at,
                   reference)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)
                 ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status,
                   decline_reason = excluded.decline_reason, gateway_ref = excluded.gateway_ref,
                   card_token = excluded.card_token, card_brand = excluded.card_brand,
                   card_last4 = excluded.card_last4, updated_at = excluded.updated_at
                 WHERE payments.status = 'pending'",
            )
            .bind(p.idempotency_key.as_str())
            .bind(p.booking_id)
            .bind(p.customer_id)
            .bind(p.call_id.as_deref())
            .bind(p.amount_minor)
            .bind(p.currency.as_str())
            .bind(p.status.as_str())
            .bind(p.decline_reason.as_deref())
            .bind(p.gateway.as_str())
            .bind(p.gateway_ref.as_deref())
            .bind(p.card_token.as_deref())
            .bind(p.card_brand.as_deref())
            .bind(p.card_last4.as_deref())
            .bind(p.at)
            .bind(p.reference.as_deref())
            .execute(&mut *tx)
            .await?;
            // The row as it now is: an approval is announced once (by payment key), whether
            // this write made it or repeated it.
            let sql = sqlx::AssertSqlSafe(format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE idempotency_key = $1"
            ));
            let row = sqlx::query(sql)
                .bind(p.idempotency_key.as_str())
                .fetch_one(&mut *tx)
                .await?;
            let stored = payment_from_row(&row)?;
            if stored.status == "approved" {
                crate::webhooks::enqueue(&mut tx, EventKind::PaymentApproved, || {
                    vec![payment_approved(&stored)]
                })
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.payment(&p.idempotency_key)
            .await?
            .ok_or_else(|| Error::NotFound("payment vanished after write".into()))
    }

    /// A payment by its idempotency key.
    pub async fn payment(&self, key: &str) -> Result<Option<Payment>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE idempotency_key = $1"
        ));
        sqlx::query(sql)
            .bind(key)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(payment_from_row)
            .transpose()
    }

    /// The payments (attempts and results) of one call, oldest first.
    pub async fn payments_for_call(&self, call_id: &str) -> Result<Vec<Payment>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE call_id = $1 ORDER BY id"
        ));
        sqlx::query(sql)
            .bind(call_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(payment_from_row)
            .collect()
    }

    /// One booking.
    pub async fn booking(&self, id: BookingId) -> Result<Option<Booking>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1"
        ));
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(booking_from_row)
            .transpose()
    }

    /// The bookings made during one call (held, confirmed or cancelled), oldest first.
    pub async fn bookings_for_call(&self, call_id: &str) -> Result<Vec<Booking>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE call_id = $1 ORDER BY id"
        ));
        sqlx::query(sql)
            .bind(call_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(booking_from_row)
            .collect()
    }
}

/// The `payment.approved` event of an approved payment: amounts, gateway reference and card
/// brand, never the card token or digits.
fn payment_approved(p: &Payment) -> WebhookEvent {
    let subject = match &p.call_id {
        Some(call) => format!("call/{call}"),
        None => format!("payment/{}", p.idempotency_key),
    };
    WebhookEvent {
        kind: EventKind::PaymentApproved,
        subject,
        source_id: p.idempotency_key.clone(),
        occurred_at: p.at,
        data: serde_json::json!({
            "payment_key": p.idempotency_key,
            "call_id": p.call_id,
            "customer_id": p.customer_id,
            "booking_id": p.booking_id,
            "amount_minor": p.amount_minor,
            "currency": p.currency,
            "gateway": p.gateway,
            "gateway_ref": p.gateway_ref,
            "card_brand": p.card_brand,
            "reference": p.reference,
        }),
    }
}

const PAYMENT_COLUMNS: &str = "idempotency_key, booking_id, customer_id, call_id, amount_minor, currency, status, \
     decline_reason, gateway, gateway_ref, card_token, card_brand, card_last4, reference, updated_at";

fn payment_from_row(r: &AnyRow) -> Result<Payment> {
    Ok(Payment {
        idempotency_key: r.try_get("idempotency_key")?,
        booking_id: r.try_get("booking_id")?,
        customer_id: r.try_get("customer_id")?,
        call_id: r.try_get("call_id")?,
        amount_minor: r.try_get("amount_minor")?,
        currency: r.try_get("currency")?,
        status: r.try_get("status")?,
        decline_reason: r.try_get("decline_reason")?,
        gateway: r.try_get("gateway")?,
        gateway_ref: r.try_get("gateway_ref")?,
        card_token: r.try_get("card_token")?,
        card_brand: r.try_get("card_brand")?,
        card_last4: r.try_get("card_last4")?,
        reference: r.try_get("reference")?,
        at: r.try_get("updated_at")?,
    })
}

const BOOKING_COLUMNS: &str = "id, reference, customer_id, item_id, call_id, quantity, status, \
     hold_expires_at, created_at, updated_at";

fn booking_from_row(r: &AnyRow) -> Result<Booking> {
    Ok(Booking {
        id: r.try_get("id")?,
        reference: r.try_get("reference")?,
        customer_id: r.try_get("customer_id")?,
        item_id: r.try_get("item_id")?,
        call_id: r.try_get("call_id")?,
        quantity: r.try_get("quantity")?,
        status: r.try_get("status")?,
        hold_expires_at: r.try_get("hold_expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}
