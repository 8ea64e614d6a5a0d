//! `/api/v1/webhooks`: an admin subscribes a URL to event kinds (the signing secret is shown
//! once, in the answer), lists and deletes subscriptions, and reads a subscription's delivery
//! log. Creating and deleting are audited. Delivery itself is the switch's worker
//! (`crate::webhooks`); docs/api.md#webhooks describes the bodies and the signature.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use hotline_store::{Delivery, EventKind, NewWebhook, Webhook, WebhookId, WebhookState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ADMIN, Caller};
use super::problem::{ApiError, JsonBody, Problem};
use super::{ApiState, Paging, query_map};

/// An event kind a subscription can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Kind {
    /// A call record was closed.
    #[serde(rename = "call.ended")]
    CallEnded,
    /// An agent's outcome for a call was written.
    #[serde(rename = "outcome.written")]
    OutcomeWritten,
    /// A ticket was created.
    #[serde(rename = "ticket.created")]
    TicketCreated,
    /// A ticket changed or was commented on.
    #[serde(rename = "ticket.updated")]
    TicketUpdated,
    /// A card payment was approved.
    #[serde(rename = "payment.approved")]
    PaymentApproved,
}

impl From<Kind> for EventKind {
    fn from(k: Kind) -> EventKind {
        match k {
            Kind::CallEnded => EventKind::CallEnded,
            Kind::OutcomeWritten => EventKind::OutcomeWritten,
            Kind::TicketCreated => EventKind::TicketCreated,
            Kind::TicketUpdated => EventKind::TicketUpdated,
            Kind::PaymentApproved => EventKind::PaymentApproved,
        }
    }
}

impl From<EventKind> for Kind {
    fn from(k: EventKind) -> Kind {
        match k {
            EventKind::CallEnded => Kind::CallEnded,
            EventKind::OutcomeWritten => Kind::OutcomeWritten,
            EventKind::TicketCreated => Kind::TicketCreated,
            EventKind::TicketUpdated => Kind::TicketUpdated,
            EventKind::PaymentApproved => Kind::PaymentApproved,
        }
    }
}

/// A subscription as listed (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookOut {
    pub id: i64,
    pub url: String,
    pub kinds: Vec<Kind>,
    /// False once deleted.
    pub active: bool,
    /// The audit actor of the admin token that made it.
    pub created_by: String,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    /// Unix epoch milliseconds; absent while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

impl From<Webhook> for WebhookOut {
    fn from(w: Webhook) -> WebhookOut {
        let deleted_at = match w.state {
            WebhookState::Active => None,
            WebhookState::Deleted { at } => Some(at),
        };
        WebhookOut {
            id: w.id,
            url: w.url,
            kinds: w.kinds.into_iter().map(Kind::from).collect(),
            active: deleted_at.is_none(),
            created_by: w.created_by,
            created_at: w.created_at,
            deleted_at,
        }
    }
}

/// A subscription to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://host[:port]/path` (or `http://`) that receives the POSTs.
    pub url: String,
    /// The events to send, at least one.
    pub kinds: Vec<Kind>,
}

/// A new subscription and its signing secret: keep the secret now, it is never shown again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    pub webhook: WebhookOut,
    /// The HMAC-SHA256 key of the `Hotline-Signature` header.
    pub secret: String,
}

/// One delivery in the log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryOut {
    /// The `Hotline-Delivery` header and the body's `id`.
    pub id: i64,
    pub kind: Kind,
    /// `call/<id>`, `ticket/<id>` or `payment/<key>`.
    pub subject: String,
    pub sequence: i64,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    pub next_attempt_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    /// The JSON body posted.
    pub body: serde_json::Value,
}

impl From<Delivery> for DeliveryOut {
    fn from(d: Delivery) -> DeliveryOut {
        DeliveryOut {
            id: d.id,
            kind: d.kind.into(),
            subject: d.subject,
            sequence: d.sequence,
            state: d.state.as_str().to_string(),
            attempts: d.attempts,
            created_at: d.created_at,
            next_attempt_at: d.next_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            body: serde_json::from_str(&d.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A page of the delivery log, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryOut>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A signing secret: `whsec_` and 64 hex digits of randomness.
fn new_secret() -> String {
    let (a, b) = (rand::random::<u128>(), rand::random::<u128>());
    format!("whsec_{a:032x}{b:032x}")
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no webhook {raw:?}")))
}

/// Subscribes a URL.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = CreatedWebhook),
        (status = 400, description = "Bad input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    raw: JsonBody,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    s.require_write(&caller, ADMIN, "api.webhook.create", None)
        .await?;
    let body: CreateWebhook = raw.parse()?;
    let url = body.url.trim();
    if url.len() > 2000 {
        return Err(ApiError::field("url", "must be at most 2000 characters"));
    }
    crate::webhooks::parse_url(url).map_err(|e| ApiError::field("url", e))?;
    if body.kinds.is_empty() {
        return Err(ApiError::field(
            "kinds",
            "must name at least one event kind",
        ));
    }
    let secret = new_secret();
    let w = s
        .store
        .create_webhook(
            &NewWebhook {
                url: url.to_string(),
                kinds: body.kinds.iter().map(|k| EventKind::from(*k)).collect(),
                secret: secret.clone(),
                created_by: caller.actor(),
            },
            crate::app::now_millis(),
        )
        .await?;
    let out = WebhookOut::from(w);
    s.audit(
        &caller,
        "api.webhook.create",
        Some(&out.id.to_string()),
        true,
        serde_json::json!({ "url": out.url, "kinds": out.kinds }),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: out,
            secret,
        }),
    ))
}

/// Lists every subscription, deleted ones included.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "Every subscription, by id", body = Vec<WebhookOut>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<WebhookOut>>, ApiError> {
    caller.require(ADMIN)?;
    let all = s.store.webhooks().await?;
    Ok(Json(all.into_iter().map(WebhookOut::from).collect()))
}

/// Deletes a subscription: no new events; its pending deliveries are failed; its log stays.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "Deleted (again: unchanged)", body = WebhookOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<WebhookOut>, ApiError> {
    s.require_write(&caller, ADMIN, "api.webhook.delete", Some(&id))
        .await?;
    let n = webhook_id(&id)?;
    let w = s.store.delete_webhook(n, crate::app::now_millis()).await?;
    s.audit(
        &caller,
        "api.webhook.delete",
        Some(&id),
        true,
        serde_json::json!({ "url": w.url }),
    )
    .await;
    Ok(Json(w.into()))
}

/// A subscription's delivery log, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = i64, Path, description = "The subscription's id"),
        ("limit" = Option<i64>, Query, description = "1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "Bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: RawQuery,
) -> Result<Json<DeliveryPage>, ApiError> {
    caller.require(ADMIN)?;
    let n = webhook_id(&id)?;
    let paging = Paging::from_query(&query_map(&query))?;
    let before = paging
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| ApiError::InvalidQuery {
                param: "cursor".into(),
                detail: format!("not a cursor this API gave: {c:?}"),
            })
        })
        .transpose()?;
    if s.store.webhook(n).await?.is_none() {
        return Err(ApiError::NotFound(format!("no webhook {id:?}")));
    }
    let mut rows = s
        .store
        .webhook_deliveries(n, before, paging.limit + 1)
        .await?;
    let more = rows.len() as i64 > paging.limit;
    rows.truncate(paging.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|d| d.id.to_string()))
        .flatten();
    Ok(Json(DeliveryPage {
        items: rows.into_iter().map(DeliveryOut::from).collect(),
        next_cursor,
    }))
}
