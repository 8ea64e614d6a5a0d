//! Caller verification codes (PINs): an argon2id hash per customer, checked with a lock-out.
//!
//! The IVR's `identify` node asks for a PIN after it found a caller; call control checks it
//! with [`Store::verify_customer_pin`]. The PIN itself is never stored or logged.
//!
//! Lock-out: every check of a customer's PIN is counted *before* the hash is compared, so
//! calls racing each other cannot get extra guesses. [`PIN_MAX_FAILURES`] unsuccessful checks
//! within [`PIN_WINDOW_MS`] lock the customer's PIN for [`PIN_LOCKOUT_MS`]: during the
//! lock-out no check succeeds, not even with the right PIN. A successful check resets the
//! count; setting a new PIN ([`Store::set_customer_pin`]) lifts a lock-out. With the numbers
//! below a caller gets at most five guesses a day at a 4-digit PIN (10 000 codes): trying
//! them all takes more than five years, and a year of trying finds it with a chance of about
//! one in six.

use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::{CustomerId, Error, Millis, Result, Store, password};

/// Unsuccessful checks within [`PIN_WINDOW_MS`] that lock a customer's PIN.
pub const PIN_MAX_FAILURES: i64 = 5;
/// The window in which failures are counted: 24 hours.
pub const PIN_WINDOW_MS: Millis = 24 * 60 * 60 * 1000;
/// How long a lock-out lasts: 24 hours.
pub const PIN_LOCKOUT_MS: Millis = 24 * 60 * 60 * 1000;
/// Shortest and longest PIN (digits only).
pub const PIN_LENGTH: std::ops::RangeInclusive<usize> = 4..=12;

/// A hash that no PIN matches in practice, checked when there is nothing to check against
/// (unknown customer, no PIN, locked out), so every check costs one argon2 verification.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        password::hash("hotline: no PIN for this customer").unwrap_or_else(|_| {
            // Hashing a constant cannot fail with the default parameters; a fixed PHC string
            // of the same cost keeps the effort if it ever did.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             3vVVzjS1BbkxLqbB4Q3bTgqTzzdzYuJ2YCVVW7VTNnE"
                .into()
        })
    })
}

/// Runs argon2 off the async threads (it takes tens of milliseconds and 19 MiB).
async fn check(pin: Zeroizing<String>, stored: String) -> bool {
    tokio::task::spawn_blocking(move || password::verify(&pin, &stored))
        .await
        .unwrap_or(false)
}

impl Store {
    /// Sets (or replaces) a customer's PIN: 4 to 12 digits, stored as an argon2id hash. Clears
    /// the failure count and any lock-out.
    pub async fn set_customer_pin(
        &self,
        customer: CustomerId,
        pin: &str,
        now: Millis,
    ) -> Result<()> {
        if !PIN_LENGTH.contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Invalid("a PIN is 4 to 12 digits".into()));
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_optional(self.pool())
            .await?;
        if exists.is_none() {
            return Err(Error::NotFound(format!("customer {customer}")));
        }
        let pin = Zeroizing::new(pin.to_string());
        let hash = tokio::task::spawn_blocking(move || password::hash(&pin))
            .await
            .map_err(|e| Error::Invalid(format!("cannot hash PIN: {e}")))??;
        sqlx::query(
            "INSERT INTO customer_pins (customer_id, pin_hash, failures, window_start, locked_until, updated_at)
             VALUES ($1, $2, 0, NULL, NULL, $3)
             ON CONFLICT (customer_id) DO UPDATE SET pin_hash = excluded.pin_hash, failures = 0,
               window_start = NULL, locked_until = NULL, updated_at = excluded.updated_at",
        )
        .bind(customer)
        .bind(hash.as_str())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether a customer has a PIN set.
    pub async fn has_customer_pin(&self, customer: CustomerId) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customer_pins WHERE customer_id = $1")
                .bind(customer)
                .fetch_one(self.pool())
                .await?;
        Ok(n > 0)
    }

    /// Checks a caller's PIN. `false` for a wrong PIN, an unknown customer, a customer without
    /// a PIN and a locked-out customer alike, each after one argon2 verification (the same
    /// effort whatever the reason). Counts the check against the lock-out (module docs); the
    /// PIN is neither stored nor logged.
    pub async fn verify_customer_pin(
        &self,
        customer: CustomerId,
        pin: &str,
        now: Millis,
    ) -> Result<bool> {
        let pin = Zeroizing::new(pin.to_string());
        // Count this check first (a new window when the old one has passed); a locked
        // customer's row is not touched and returns nothing.
        let row: Option<(String, i64)> = sqlx::query_as(
            "UPDATE customer_pins SET
               failures = CASE WHEN window_start IS NULL OR window_start <= $2 THEN 1 ELSE failures + 1 END,
               window_start = CASE WHEN window_start IS NULL OR window_start <= $2 THEN $3 ELSE window_start END,
               updated_at = $3
             WHERE customer_id = $1 AND (locked_until IS NULL OR locked_until <= $3)
             RETURNING pin_hash, failures",
        )
        .bind(customer)
        .bind(now - PIN_WINDOW_MS)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        let (stored, count) = match row {
            Some((hash, n)) if n <= PIN_MAX_FAILURES => (Some(hash), n),
            Some((_, n)) => (None, n),
            None => (None, 0),
        };
        let counted = stored.is_some();
        let ok = check(pin, stored.unwrap_or_else(|| dummy_hash().to_string())).await && counted;
        if ok {
            sqlx::query(
                "UPDATE customer_pins SET failures = 0, window_start = NULL, updated_at = $2
                 WHERE customer_id = $1",
            )
            .bind(customer)
            .bind(now)
            .execute(self.pool())
            .await?;
            return Ok(true);
        }
        if count >= PIN_MAX_FAILURES {
            let locked = sqlx::query(
                "UPDATE customer_pins SET locked_until = $2, failures = 0, window_start = NULL,
                   updated_at = $3
                 WHERE customer_id = $1 AND (locked_until IS NULL OR locked_until <= $3)",
            )
            .bind(customer)
            .bind(now + PIN_LOCKOUT_MS)
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
            if locked > 0 {
                tracing::warn!(
                    customer,
                    failures = count,
                    lockout_ms = PIN_LOCKOUT_MS,
                    "too many wrong caller PINs: PIN checks locked out for this customer"
                );
            }
        }
        Ok(false)
    }

    /// A customer's PIN lock-out: until when it lasts, if it does at `now`.
    pub async fn customer_pin_locked_until(
        &self,
        customer: CustomerId,
        now: Millis,
    ) -> Result<Option<Millis>> {
        let until: Option<Option<i64>> =
            sqlx::query_scalar("SELECT locked_until FROM customer_pins WHERE customer_id = $1")
                .bind(customer)
                .fetch_optional(self.pool())
                .await?;
        Ok(until.flatten().filter(|&t| t > now))
    }
}
