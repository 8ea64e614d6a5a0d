//! The REST API, `/api/v1` on the switch's HTTP server: API tokens, agents and their skills,
//! the skills defined, customers, tickets, the audit log and webhook subscriptions, described by an OpenAPI document generated from
//! these handlers and served at `/api/v1/openapi.json` (docs/api.md).
//!
//! Every route but the document and its page (`/api/v1/docs`) needs `Authorization: Bearer <token>` ([`auth`]); each handler
//! checks the role it needs; every write is appended to the audit log with the token that made
//! it; every refusal is an RFC 9457 problem ([`problem`]).
//!
//! Changes reach the database, which the running switch reads at these moments only: a CTI
//! login reads the agent (a disabled one is refused) and her skills, which the ACD then routes
//! by; call control looks up the extension of an agent it has not rung before. The ACD is not
//! told of changes to an agent already logged in, a disabled agent stays logged in until she
//! logs out, and an agent's changed extension is seen after a restart (issue 15 asks for these
//! live effects; they are not built yet).

pub mod agents;
pub mod audit;
pub mod auth;
pub mod customers;
pub mod doc;
pub mod problem;
pub mod tickets;
pub mod tokens;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::RawQuery;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use hotline_store::{AuditEntry, Store};
use serde_json::Value;

use auth::{Caller, RateLimit, RateLimiter};
use problem::ApiError;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub limiter: Arc<RateLimiter>,
    /// The centre's country code (`[node] country_code`), for numbers searched in national
    /// format.
    pub country_code: Option<String>,
}

impl ApiState {
    pub fn new(store: Store, limit: RateLimit) -> ApiState {
        ApiState {
            store,
            limiter: Arc::new(RateLimiter::new(limit)),
            country_code: None,
        }
    }

    /// Searches national numbers as numbers of country `cc` (digits, no `+`).
    pub fn with_country_code(mut self, cc: &str) -> ApiState {
        self.country_code = Some(cc.to_string());
        self
    }

    /// Appends a write (or a refused write) to the audit log. The write itself has happened
    /// when this runs, so a failure here is logged, not returned.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: Option<&str>,
        allowed: bool,
        detail: Value,
    ) {
        let entry = AuditEntry {
            at: crate::app::now_millis(),
            actor: caller.actor(),
            action: action.to_string(),
            target: target.map(str::to_string),
            call_id: None,
            allowed,
            detail,
        };
        if let Err(e) = self.store.audit(&entry).await {
            tracing::error!(error = %e, action, "API: audit log write failed");
        }
    }

    /// [`Caller::require`] for a write: a refusal is audited too (who tried what).
    pub async fn require_write(
        &self,
        caller: &Caller,
        roles: &[hotline_store::ApiRole],
        action: &str,
        target: Option<&str>,
    ) -> Result<(), ApiError> {
        let verdict = caller.require(roles);
        if verdict.is_err() {
            self.audit(
                caller,
                action,
                target,
                false,
                serde_json::json!({ "refused": "role" }),
            )
            .await;
        }
        verdict
    }
}

/// Every route of the API: method and path as the OpenAPI document writes them. The test in
/// `tests/api.rs` checks the document against this list and the router against the document.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/docs"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents"),
    ("get", "/api/v1/agents/{id}"),
    ("patch", "/api/v1/agents/{id}"),
    ("post", "/api/v1/agents/{id}/disable"),
    ("post", "/api/v1/agents/{id}/enable"),
    ("post", "/api/v1/agents/{id}/password"),
    ("put", "/api/v1/agents/{id}/skills"),
    ("get", "/api/v1/skills"),
    ("get", "/api/v1/customers"),
    ("get", "/api/v1/customers/{id}"),
    ("patch", "/api/v1/customers/{id}"),
    ("put", "/api/v1/customers/{id}/balance"),
    ("get", "/api/v1/tickets"),
    ("post", "/api/v1/tickets"),
    ("get", "/api/v1/tickets/{id}"),
    ("patch", "/api/v1/tickets/{id}"),
    ("post", "/api/v1/tickets/{id}/comments"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
];

/// The API's routes, to merge into the switch's router.
pub fn router(state: ApiState) -> Router {
    let authed = Router::new()
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/agents", get(agents::list).post(agents::create))
        .route("/agents/{id}", get(agents::get).patch(agents::update))
        .route("/agents/{id}/disable", post(agents::disable))
        .route("/agents/{id}/enable", post(agents::enable))
        .route("/agents/{id}/password", post(agents::reset_password))
        .route("/agents/{id}/skills", put(agents::set_skills))
        .route("/skills", get(agents::skills))
        .route("/customers", get(customers::search))
        .route(
            "/customers/{id}",
            get(customers::get).patch(customers::update),
        )
        .route("/customers/{id}/balance", put(customers::set_balance))
        .route("/tickets", get(tickets::list).post(tickets::create))
        .route("/tickets/{id}", get(tickets::get).patch(tickets::update))
        .route("/tickets/{id}/comments", post(tickets::comment))
        .route("/audit", get(audit::list))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", axum::routing::delete(webhooks::delete))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let v1 = Router::new()
        .route("/openapi.json", get(doc::openapi_json))
        .route("/docs", get(doc::docs_page))
        .merge(authed)
        .fallback(no_route)
        .with_state(state);
    Router::new().nest("/api/v1", v1)
}

async fn no_route() -> impl IntoResponse {
    ApiError::NoRoute
}

/// Paging parameters of a list: `limit` (1 to 200, default 50) and `cursor` (the
/// `next_cursor` of the previous page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paging {
    pub limit: i64,
    pub cursor: Option<String>,
}

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The query string as name → value; a parameter given twice keeps the last value.
pub fn query_map(q: &RawQuery) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in
        q.0.as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

/// Decodes `%XX` and `+` in a query component; malformed escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl Paging {
    /// Reads `limit` and `cursor`, refusing a bad limit with a problem naming it.
    pub fn from_query(q: &HashMap<String, String>) -> Result<Paging, ApiError> {
        let limit = match q.get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::InvalidQuery {
                        param: "limit".into(),
                        detail: format!("must be a whole number from 1 to {MAX_LIMIT}, not {v:?}"),
                    });
                }
            },
        };
        Ok(Paging {
            limit,
            cursor: q.get("cursor").filter(|c| !c.is_empty()).cloned(),
        })
    }
}

/// A boolean query parameter (`true`/`false`, absent is `false`).
pub fn query_flag(q: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") | Some("") => Ok(true),
        Some(other) => Err(ApiError::InvalidQuery {
            param: name.into(),
            detail: format!("must be true or false, not {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = query_map(&RawQuery(Some("limit=5&cursor=a%20b+c&x".into())));
        assert_eq!(q["cursor"], "a b c");
        assert_eq!(q["x"], "");
        let p = Paging::from_query(&q).unwrap();
        assert_eq!((p.limit, p.cursor.as_deref()), (5, Some("a b c")));
        let bad = query_map(&RawQuery(Some("limit=0".into())));
        assert_eq!(
            Paging::from_query(&bad)
                .unwrap_err()
                .problem()
                .field
                .as_deref(),
            Some("limit")
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41"), "A");
    }
}
