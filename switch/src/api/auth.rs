//! Who is calling: API tokens (`Authorization: Bearer hl_…`), their role, and the per-token
//! rate limit.
//!
//! A token is `hl_` and 64 hex digits of randomness (32 bytes); the store keeps only its
//! SHA-256, so a stolen database yields no usable token. The middleware resolves the bearer
//! token to a [`Caller`] (refusing a missing, unknown or revoked token with 401), spends one
//! request from the token's bucket (429 when empty) and hands the caller to the handler, which
//! checks the role it needs with [`Caller::require`] (403).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hotline_store::{ApiRole, ApiToken, ApiTokenId};
use sha2::{Digest, Sha256};

use super::ApiState;
use super::problem::ApiError;

/// A token's secret, shown once when it is created.
pub fn new_secret() -> String {
    let (a, b) = (rand::random::<u128>(), rand::random::<u128>());
    format!("hl_{a:032x}{b:032x}")
}

/// What the store keeps of a secret: its SHA-256 in lowercase hex.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: ApiToken,
}

impl Caller {
    /// The audit log's actor: `token:<id>:<name>`.
    pub fn actor(&self) -> String {
        format!("token:{}:{}", self.token.id, self.token.name)
    }

    /// Refuses with 403 unless the caller's role is one of `roles`.
    pub fn require(&self, roles: &[ApiRole]) -> Result<(), ApiError> {
        if roles.contains(&self.token.role) {
            return Ok(());
        }
        let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::Forbidden(format!(
            "this needs a token with role {}; this token's role is {}",
            wanted.join(" or "),
            self.token.role.as_str()
        )))
    }
}

/// Who may read the staff (agents, skills).
pub const STAFF_READERS: &[ApiRole] = &[ApiRole::Admin, ApiRole::Supervisor];
/// Every role: customers and tickets.
pub const ANYONE: &[ApiRole] = &[ApiRole::Admin, ApiRole::Supervisor, ApiRole::Integration];
/// Who may set what a customer owes: the billing system's token, or an admin.
pub const BILLING: &[ApiRole] = &[ApiRole::Admin, ApiRole::Integration];
/// Who may change accounts and tokens.
pub const ADMIN: &[ApiRole] = &[ApiRole::Admin];

/// The per-token request budget: a bucket of `burst` requests refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl Default for RateLimit {
    /// 20 requests a second sustained, bursts of 100: far above what an admin screen or a CRM
    /// sync needs, low enough that one runaway script cannot starve the switch.
    fn default() -> Self {
        RateLimit {
            burst: 100,
            per_second: 20.0,
        }
    }
}

/// Token buckets, one per API token. Time is an argument, so tests need no clock.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<ApiTokenId, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one request of `token` at `now`: `Err(wait)` when the bucket is empty.
    pub fn take(&self, token: ApiTokenId, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(token).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        // Time going backwards refills nothing.
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.limit.per_second).min(burst);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else if self.limit.per_second > 0.0 {
            Err(Duration::from_secs_f64(
                (1.0 - b.tokens) / self.limit.per_second,
            ))
        } else {
            Err(Duration::from_secs(3600))
        }
    }
}

/// The bearer token of a request, if the header has one.
fn bearer(req: &Request) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthenticated(
                "send an API token: Authorization: Bearer hl_… (docs/api.md)".into(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the Authorization header is not text".into()))?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        ApiError::Unauthenticated("expected Authorization: Bearer <token>".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthenticated(
            "expected Authorization: Bearer <token>".into(),
        ));
    }
    Ok(token.trim())
}

/// The middleware in front of every authenticated route: resolves the token, spends one
/// request of its budget, and passes the [`Caller`] on in the request's extensions.
pub async fn authenticate(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let found = match state.store.api_token_by_hash(&hash_secret(token)).await {
        Ok(f) => f,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let token = match found {
        None => {
            return ApiError::Unauthenticated("unknown API token".into()).into_response();
        }
        Some(t) if t.revoked_at.is_some() => return ApiError::Revoked.into_response(),
        Some(t) => t,
    };
    if let Err(wait) = state.limiter.take(token.id, Instant::now()) {
        return ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        }
        .into_response();
    }
    req.extensions_mut().insert(Caller { token });
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashed_to_hex() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bucket_refills_with_time_and_never_from_the_past() {
        let rl = RateLimiter::new(RateLimit {
            burst: 2,
            per_second: 1.0,
        });
        let t0 = Instant::now();
        assert!(rl.take(1, t0).is_ok());
        assert!(rl.take(1, t0).is_ok());
        let wait = rl.take(1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Another token has its own bucket.
        assert!(rl.take(2, t0).is_ok());
        assert!(rl.take(1, t0 + Duration::from_millis(500)).is_err());
        assert!(rl.take(1, t0 + Duration::from_millis(1000)).is_ok());
        // Backwards: no refill, no panic.
        assert!(rl.take(1, t0).is_err());
    }
}
