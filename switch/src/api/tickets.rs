//! `/api/v1/tickets`: list a customer's tickets or those in a status, read one with its
//! history, create one, change its status, priority or assignee, and comment on it. Every
//! change lands in the ticket's own history (with the token as actor) and in the audit log.
//! Every token role may use these.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use hotline_store::{NewTicket, Ticket, TicketId, TicketUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ANYONE, Caller};
use super::problem::{ApiError, JsonBody, Problem};
use super::{ApiState, Paging, query_map};

const STATUSES: [&str; 4] = ["open", "pending", "solved", "closed"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// A ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketOut {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub call_id: Option<String>,
    pub subject: String,
    pub body: String,
    /// open, pending, solved or closed.
    pub status: String,
    /// low, normal, high or urgent.
    pub priority: String,
    pub assignee: Option<String>,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Ticket> for TicketOut {
    fn from(t: Ticket) -> TicketOut {
        TicketOut {
            id: t.id,
            customer_id: t.customer_id,
            call_id: t.call_id,
            subject: t.subject,
            body: t.body,
            status: t.status,
            priority: t.priority,
            assignee: t.assignee,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One line of a ticket's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketChangeOut {
    pub at: i64,
    pub actor: Option<String>,
    /// The field changed, or `comment`.
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// A ticket with its history, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketDetail {
    pub ticket: TicketOut,
    pub history: Vec<TicketChangeOut>,
}

/// A page of tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A ticket to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub customer_id: Option<i64>,
    /// 1 to 200 characters.
    pub subject: String,
    #[serde(default)]
    pub body: String,
    /// low, normal (the default), high or urgent.
    pub priority: Option<String>,
    /// An agent's login.
    pub assignee: Option<String>,
}

/// Changes to a ticket; an absent field is kept, `"assignee": null` unassigns.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    /// open, pending, solved or closed.
    pub status: Option<String>,
    /// low, normal, high or urgent.
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "some_value")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
}

/// Keeps an explicit `null` apart from an absent field.
fn some_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A comment.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    /// 1 to 10,000 characters.
    pub text: String,
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("must be one of {}, not {value:?}", allowed.join(", ")),
        ))
    }
}

fn ticket_id(raw: &str) -> Result<TicketId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no ticket {raw:?}")))
}

async fn detail(s: &ApiState, id: TicketId) -> Result<TicketDetail, ApiError> {
    let t = s
        .store
        .ticket(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no ticket {id}")))?;
    let history = s.store.ticket_history(id).await?;
    Ok(TicketDetail {
        ticket: t.into(),
        history: history
            .into_iter()
            .map(|h| TicketChangeOut {
                at: h.at,
                actor: h.actor,
                field: h.field,
                old_value: h.old_value,
                new_value: h.new_value,
            })
            .collect(),
    })
}

/// Lists tickets by id, oldest first, of a customer and/or in a status.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets",
    params(
        ("customer_id" = Option<i64>, Query, description = "Only this customer's tickets"),
        ("status" = Option<String>, Query, description = "open, pending, solved or closed"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of tickets", body = TicketPage),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
) -> Result<Json<TicketPage>, ApiError> {
    caller.require(ANYONE)?;
    let q = query_map(&query);
    let paging = Paging::from_query(&q)?;
    let bad = |param: &str, detail: String| ApiError::InvalidQuery {
        param: param.into(),
        detail,
    };
    let after = paging
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<TicketId>()
                .map_err(|_| bad("cursor", format!("not a cursor this API gave: {c:?}")))
        })
        .transpose()?;
    let customer = q
        .get("customer_id")
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| bad("customer_id", format!("must be a number, not {c:?}")))
        })
        .transpose()?;
    let status = q.get("status").map(String::as_str);
    if let Some(st) = status
        && !STATUSES.contains(&st)
    {
        return Err(bad(
            "status",
            format!("must be one of {}, not {st:?}", STATUSES.join(", ")),
        ));
    }
    let mut rows = s
        .store
        .tickets_page(customer, status, after, paging.limit + 1)
        .await?;
    let more = rows.len() as i64 > paging.limit;
    rows.truncate(paging.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(Json(TicketPage {
        items: rows.into_iter().map(TicketOut::from).collect(),
        next_cursor,
    }))
}

/// One ticket with its history.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The ticket", body = TicketDetail),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TicketDetail>, ApiError> {
    caller.require(ANYONE)?;
    Ok(Json(detail(&s, ticket_id(&id)?).await?))
}

/// Creates a ticket (status open).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets",
    request_body = CreateTicket,
    responses(
        (status = 201, description = "Created", body = TicketDetail),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    raw: JsonBody,
) -> Result<(StatusCode, Json<TicketDetail>), ApiError> {
    s.require_write(&caller, ANYONE, "api.ticket.create", None)
        .await?;
    let body: CreateTicket = raw.parse()?;
    let subject = body.subject.trim();
    if subject.is_empty() || subject.chars().count() > 200 {
        return Err(ApiError::field("subject", "must be 1 to 200 characters"));
    }
    if body.body.chars().count() > 10_000 {
        return Err(ApiError::field("body", "must be at most 10,000 characters"));
    }
    if let Some(p) = &body.priority {
        one_of("priority", p, &PRIORITIES)?;
    }
    if let Some(c) = body.customer_id
        && s.store.customer_view_by_id(c).await?.is_none()
    {
        return Err(ApiError::field("customer_id", format!("no customer {c}")));
    }
    if let Some(a) = &body.assignee
        && s.store.agent(a).await?.is_none()
    {
        return Err(ApiError::field("assignee", format!("no agent {a:?}")));
    }
    let id = s
        .store
        .create_ticket(&NewTicket {
            client_key: None,
            customer_id: body.customer_id,
            call_id: None,
            subject: subject.to_string(),
            body: body.body.clone(),
            priority: body.priority.clone().unwrap_or_default(),
            assignee: body.assignee.clone(),
            created_by: Some(caller.actor()),
            at: crate::app::now_millis(),
        })
        .await?;
    s.audit(
        &caller,
        "api.ticket.create",
        Some(&id.to_string()),
        true,
        serde_json::json!({ "customer_id": body.customer_id, "subject": subject }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(detail(&s, id).await?)))
}

async fn apply(
    s: &ApiState,
    caller: &Caller,
    raw_id: &str,
    action: &str,
    update: TicketUpdate,
    audit: serde_json::Value,
) -> Result<Json<TicketDetail>, ApiError> {
    let id = ticket_id(raw_id)?;
    if s.store.ticket(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no ticket {id}")));
    }
    s.store.update_ticket(id, &update).await?;
    s.audit(caller, action, Some(raw_id), true, audit).await;
    Ok(Json(detail(s, id).await?))
}

/// Changes a ticket's status, priority and/or assignee.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = UpdateTicket,
    responses(
        (status = 200, description = "Updated, with its history", body = TicketDetail),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<Json<TicketDetail>, ApiError> {
    s.require_write(&caller, ANYONE, "api.ticket.update", Some(&id))
        .await?;
    let body: UpdateTicket = raw.parse()?;
    if let Some(st) = &body.status {
        one_of("status", st, &STATUSES)?;
    }
    if let Some(p) = &body.priority {
        one_of("priority", p, &PRIORITIES)?;
    }
    if let Some(Some(a)) = &body.assignee
        && s.store.agent(a).await?.is_none()
    {
        return Err(ApiError::field("assignee", format!("no agent {a:?}")));
    }
    if body.status.is_none() && body.priority.is_none() && body.assignee.is_none() {
        return Err(ApiError::field(
            "body",
            "give status, priority and/or assignee",
        ));
    }
    let audit = serde_json::json!({
        "status": body.status, "priority": body.priority, "assignee": body.assignee,
    });
    let update = TicketUpdate {
        status: body.status,
        priority: body.priority,
        assignee: body.assignee,
        actor: Some(caller.actor()),
        at: crate::app::now_millis(),
        ..Default::default()
    };
    apply(&s, &caller, &id, "api.ticket.update", update, audit).await
}

/// Adds a comment to a ticket's history.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "tickets",
    params(("id" = i64, Path, description = "The ticket's id")),
    request_body = Comment,
    responses(
        (status = 201, description = "Commented; the ticket with its history", body = TicketDetail),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such ticket", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn comment(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<(StatusCode, Json<TicketDetail>), ApiError> {
    s.require_write(&caller, ANYONE, "api.ticket.comment", Some(&id))
        .await?;
    let body: Comment = raw.parse()?;
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::field("text", "must be 1 to 10,000 characters"));
    }
    let update = TicketUpdate {
        comment: Some(text.to_string()),
        actor: Some(caller.actor()),
        at: crate::app::now_millis(),
        ..Default::default()
    };
    let audit = serde_json::json!({ "length": text.chars().count() });
    let out = apply(&s, &caller, &id, "api.ticket.comment", update, audit).await?;
    Ok((StatusCode::CREATED, out))
}
