//! Customers' account balances: what the billing system says a customer owes, shown on the
//! screen pop and paid by phone in the IVR. A balance payment settles once, keyed by the
//! payment's idempotency key, in the same transaction that lowers the balance.

use sqlx::Row;

use crate::{Balance, CustomerId, Error, Millis, Result, Store};

/// What settling a payment against a balance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The balance was lowered by the payment; the balance after it.
    Settled(Balance),
    /// This payment had settled already (a retry): nothing changed.
    AlreadySettled,
}

fn valid_currency(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

impl Store {
    /// Sets what `customer` owes (the billing system's figure, replacing the one on record).
    /// `by` names who set it (an API token's name, an import) and is kept with the row.
    pub async fn set_balance(
        &self,
        customer: CustomerId,
        amount_minor: i64,
        currency: &str,
        by: &str,
        now: Millis,
    ) -> Result<Balance> {
        if !valid_currency(currency) {
            return Err(Error::Invalid(format!(
                "currency {currency:?} is not an ISO 4217 code (three capital letters, e.g. USD)"
            )));
        }
        self.retrying(|| async {
            let mut tx = self.pool().begin().await?;
            let exists = sqlx::query("SELECT 1 FROM customers WHERE id = $1 AND merged_into IS NULL")
                .bind(customer)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(Error::NotFound(format!("customer {customer}")));
            }
            sqlx::query(
                "INSERT INTO customer_balances (customer_id, amount_minor, currency, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (customer_id) DO UPDATE SET amount_minor = excluded.amount_minor,
                   currency = excluded.currency, updated_at = excluded.updated_at,
                   updated_by = excluded.updated_by",
            )
            .bind(customer)
            .bind(amount_minor)
            .bind(currency)
            .bind(now)
            .bind(by)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Balance {
                amount_minor,
                currency: currency.to_string(),
                updated_at: now,
            })
        })
        .await
    }

    /// The balance on record for `customer`, if any.
    pub async fn balance(&self, customer: CustomerId) -> Result<Option<Balance>> {
        let row = sqlx::query(
            "SELECT amount_minor, currency, updated_at FROM customer_balances WHERE customer_id = $1",
        )
        .bind(customer)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(Balance {
                amount_minor: r.try_get("amount_minor")?,
                currency: r.try_get("currency")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// Lowers the balance of the payment's customer by the payment's amount, once per
    /// payment: only an approved payment with a customer, in the balance's currency, settles.
    pub async fn settle_balance(&self, payment_key: &str, now: Millis) -> Result<Settlement> {
        self.retrying(|| self.settle_balance_once(payment_key, now))
            .await
    }

    async fn settle_balance_once(&self, payment_key: &str, now: Millis) -> Result<Settlement> {
        let mut tx = self.pool().begin().await?;
        let p = sqlx::query(
            "SELECT customer_id, amount_minor, currency, status FROM payments WHERE idempotency_key = $1",
        )
        .bind(payment_key)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("payment {payment_key:?}")))?;
        let status: String = p.try_get("status")?;
        if status != "approved" {
            return Err(Error::Invalid(format!(
                "payment {payment_key:?} is {status}, not approved: nothing to settle"
            )));
        }
        let customer: Option<CustomerId> = p.try_get("customer_id")?;
        let customer = customer.ok_or_else(|| {
            Error::Invalid(format!("payment {payment_key:?} has no customer to settle"))
        })?;
        let amount: i64 = p.try_get("amount_minor")?;
        let currency: String = p.try_get("currency")?;
        let balance_currency: Option<String> =
            sqlx::query("SELECT currency FROM customer_balances WHERE customer_id = $1")
                .bind(customer)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("currency"))
                .transpose()?;
        match balance_currency {
            None => {
                return Err(Error::NotFound(format!(
                    "customer {customer} has no balance on record"
                )));
            }
            Some(c) if c != currency => {
                return Err(Error::Invalid(format!(
                    "payment in {currency} cannot settle a balance kept in {c}"
                )));
            }
            Some(_) => {}
        }
        let inserted = sqlx::query(
            "INSERT INTO balance_settlements (payment_key, customer_id, amount_minor, currency, settled_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_key) DO NOTHING",
        )
        .bind(payment_key)
        .bind(customer)
        .bind(amount)
        .bind(currency.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(Settlement::AlreadySettled);
        }
        let after = sqlx::query(
            "UPDATE customer_balances SET amount_minor = amount_minor - $1, updated_at = $2,
               updated_by = 'payment'
             WHERE customer_id = $3 RETURNING amount_minor, currency, updated_at",
        )
        .bind(amount)
        .bind(now)
        .bind(customer)
        .fetch_one(&mut *tx)
        .await?;
        let balance = Balance {
            amount_minor: after.try_get("amount_minor")?,
            currency: after.try_get("currency")?,
            updated_at: after.try_get("updated_at")?,
        };
        tx.commit().await?;
        Ok(Settlement::Settled(balance))
    }
}

/// Moves `absorb`'s balance to `keep` inside a merge: the sum when both are in one currency,
/// refused when they are in two.
pub(crate) async fn merge_balances(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    keep: CustomerId,
    absorb: CustomerId,
    now: Millis,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT customer_id, amount_minor, currency FROM customer_balances WHERE customer_id IN ($1, $2)",
    )
    .bind(keep)
    .bind(absorb)
    .fetch_all(&mut **tx)
    .await?;
    let mut keep_b = None;
    let mut absorb_b = None;
    for r in &rows {
        let id: i64 = r.try_get("customer_id")?;
        let b: (i64, String) = (r.try_get("amount_minor")?, r.try_get("currency")?);
        if id == keep {
            keep_b = Some(b);
        } else {
            absorb_b = Some(b);
        }
    }
    let Some((amount, currency)) = absorb_b else {
        return Ok(());
    };
    let total = match keep_b {
        Some((k, c)) if c == currency => k + amount,
        Some((_, c)) => {
            return Err(Error::Invalid(format!(
                "customer {keep} owes in {c} and customer {absorb} in {currency}: settle or set one balance first"
            )));
        }
        None => amount,
    };
    sqlx::query("DELETE FROM customer_balances WHERE customer_id = $1")
        .bind(absorb)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO customer_balances (customer_id, amount_minor, currency, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, 'merge')
         ON CONFLICT (customer_id) DO UPDATE SET amount_minor = excluded.amount_minor,
           updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(keep)
    .bind(total)
    .bind(currency.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
