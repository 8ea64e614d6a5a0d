//! `/api/v1/audit`: the audit log, a page at a time in the order written, for admins and
//! supervisors (an integration token may not read it). Every write through this API, the CTI
//! server's supervisor actions and the `token` command line are in it.

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Caller, STAFF_READERS};
use super::problem::{ApiError, Problem};
use super::{ApiState, Paging, query_map};

/// One audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditOut {
    /// The row's id (entries are numbered in the order written).
    pub id: i64,
    /// Unix epoch milliseconds.
    pub at: i64,
    /// Who: `token:<id>:<name>`, `cli`, or an agent's login for CTI actions.
    pub actor: String,
    /// What: `api.agent.create`, `api.ticket.comment`, …
    pub action: String,
    /// On what: an agent's login, a customer's, ticket's or token's id.
    pub target: Option<String>,
    pub call_id: Option<String>,
    /// False when the action was refused (the token's role did not allow it).
    pub allowed: bool,
    /// What changed (from/to), never a password.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Reads the audit log, oldest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of the audit log", body = AuditPage),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or supervisor token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(STAFF_READERS)?;
    let q = query_map(&query);
    let paging = Paging::from_query(&q)?;
    let after = paging
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| ApiError::InvalidQuery {
                param: "cursor".into(),
                detail: format!("not a cursor this API gave: {c:?}"),
            })
        })
        .transpose()?;
    let mut rows = s.store.audit_page(after, paging.limit + 1).await?;
    let more = rows.len() as i64 > paging.limit;
    rows.truncate(paging.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|(id, _)| id.to_string()))
        .flatten();
    Ok(Json(AuditPage {
        items: rows
            .into_iter()
            .map(|(id, a)| AuditOut {
                id,
                at: a.at,
                actor: a.actor,
                action: a.action,
                target: a.target,
                call_id: a.call_id,
                allowed: a.allowed,
                detail: a.detail,
            })
            .collect(),
        next_cursor,
    }))
}
