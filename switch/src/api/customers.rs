//! `/api/v1/customers`: search by number or name (the store's search, the one the desktop
//! uses), read one customer with her identities and open tickets, and change her display name,
//! tier (which sets her routing priority) and notes: every token role may use these. The
//! billing system (an integration token) or an admin sets what she owes, which the IVR offers
//! to pay by card.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use hotline_store::{Customer, CustomerId, TIERS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ANYONE, BILLING, Caller};
use super::problem::{ApiError, JsonBody, Problem};
use super::tickets::TicketOut;
use super::{ApiState, DEFAULT_LIMIT, MAX_LIMIT, Paging, query_map};

/// A line of a search result.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerSummaryOut {
    pub id: i64,
    pub display_name: String,
    pub tier: String,
}

/// Search results, best tier first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerSearch {
    pub items: Vec<CustomerSummaryOut>,
}

/// One way to recognise a customer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityOut {
    /// phone, account, loyalty, email or booking_ref.
    pub kind: String,
    pub value: String,
    pub verified: bool,
}

/// A customer with her identities and open tickets.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerOut {
    pub id: i64,
    pub display_name: String,
    /// vip, gold, silver or standard.
    pub tier: String,
    /// Routing priority, derived from the tier.
    pub priority: i64,
    /// Lifetime value in minor units.
    pub value_score: i64,
    pub language: Option<String>,
    pub notes: String,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    pub identities: Vec<IdentityOut>,
    pub open_tickets: Vec<TicketOut>,
    /// What she owes, when a balance is on record.
    pub balance: Option<BalanceOut>,
}

/// A balance: what the billing system last set, lowered by payments by phone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BalanceOut {
    /// Minor units (cents); positive is due.
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. USD.
    pub currency: String,
    /// Unix epoch milliseconds.
    pub updated_at: i64,
}

/// The balance the billing system says the customer owes now (it replaces the one on record).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBalance {
    /// Minor units (cents); positive is due, zero or less is nothing due.
    pub amount_minor: i64,
    /// ISO 4217 code, three capital letters.
    pub currency: String,
}

/// Changes to a customer; an absent field is kept.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    /// 1 to 200 characters.
    pub display_name: Option<String>,
    /// vip, gold, silver or standard.
    pub tier: Option<String>,
    /// At most 10,000 characters.
    pub notes: Option<String>,
}

fn customer_json(c: &Customer) -> serde_json::Value {
    serde_json::json!({ "display_name": c.display_name, "tier": c.tier, "notes": c.notes })
}

pub(crate) async fn customer_out(s: &ApiState, id: CustomerId) -> Result<CustomerOut, ApiError> {
    let v = s
        .store
        .customer_view_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no customer {id}")))?;
    Ok(CustomerOut {
        id: v.customer.id,
        display_name: v.customer.display_name,
        tier: v.customer.tier,
        priority: v.customer.priority,
        value_score: v.customer.value_score,
        language: v.customer.language,
        notes: v.customer.notes,
        created_at: v.customer.created_at,
        identities: v
            .identities
            .into_iter()
            .map(|i| IdentityOut {
                kind: i.kind.as_str().to_string(),
                value: i.value,
                verified: i.verified,
            })
            .collect(),
        open_tickets: v.open_tickets.into_iter().map(TicketOut::from).collect(),
        balance: v.balance.map(|b| BalanceOut {
            amount_minor: b.amount_minor,
            currency: b.currency,
            updated_at: b.updated_at,
        }),
    })
}

/// A customer id from the path: not a number names no customer.
pub(crate) fn customer_id(raw: &str) -> Result<CustomerId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::NotFound(format!("no customer {raw:?}")))
}

/// Searches customers by name (part of it, any case) or by an identity: a phone number
/// (international, national, or its last digits), an account, loyalty or booking number, an
/// e-mail address.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    params(
        ("q" = String, Query, description = "Name or number to search for"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
    ),
    responses(
        (status = 200, description = "Matches, best tier first", body = CustomerSearch),
        (status = 400, description = "No q, or a bad limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn search(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
) -> Result<Json<CustomerSearch>, ApiError> {
    caller.require(ANYONE)?;
    let q = query_map(&query);
    let paging = Paging::from_query(&q)?;
    if paging.cursor.is_some() {
        return Err(ApiError::InvalidQuery {
            param: "cursor".into(),
            detail: format!(
                "a search returns one page (raise limit up to {MAX_LIMIT}, default {DEFAULT_LIMIT})"
            ),
        });
    }
    let text = q.get("q").map(|t| t.trim()).unwrap_or("");
    if text.is_empty() {
        return Err(ApiError::InvalidQuery {
            param: "q".into(),
            detail: "give a name or a number to search for".into(),
        });
    }
    let found = s
        .store
        .search_customers_in(text, paging.limit, s.country_code.as_deref())
        .await?;
    Ok(Json(CustomerSearch {
        items: found
            .into_iter()
            .map(|c| CustomerSummaryOut {
                id: c.id,
                display_name: c.display_name,
                tier: c.tier,
            })
            .collect(),
    }))
}

/// One customer, with her identities and open tickets.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "The customer's id")),
    responses(
        (status = 200, description = "The customer", body = CustomerOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer (or merged into another)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<CustomerOut>, ApiError> {
    caller.require(ANYONE)?;
    Ok(Json(customer_out(&s, customer_id(&id)?).await?))
}

/// Changes a customer's display name, tier and/or notes.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "The customer's id")),
    request_body = UpdateCustomer,
    responses(
        (status = 200, description = "Updated", body = CustomerOut),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<Json<CustomerOut>, ApiError> {
    s.require_write(&caller, ANYONE, "api.customer.update", Some(&id))
        .await?;
    let body: UpdateCustomer = raw.parse()?;
    let cid = customer_id(&id)?;
    if let Some(n) = &body.display_name
        && (n.trim().is_empty() || n.chars().count() > 200)
    {
        return Err(ApiError::field(
            "display_name",
            "must be 1 to 200 characters",
        ));
    }
    if let Some(t) = &body.tier
        && !TIERS.contains(&t.as_str())
    {
        return Err(ApiError::field(
            "tier",
            format!("must be one of {}, not {t:?}", TIERS.join(", ")),
        ));
    }
    if body
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 10_000)
    {
        return Err(ApiError::field(
            "notes",
            "must be at most 10,000 characters",
        ));
    }
    if body.display_name.is_none() && body.tier.is_none() && body.notes.is_none() {
        return Err(ApiError::field(
            "body",
            "give display_name, tier and/or notes",
        ));
    }
    let (before, after) = s
        .store
        .update_customer(
            cid,
            body.display_name.as_deref(),
            body.tier.as_deref(),
            body.notes.as_deref(),
            crate::app::now_millis(),
        )
        .await?;
    s.audit(
        &caller,
        "api.customer.update",
        Some(&id),
        true,
        serde_json::json!({ "from": customer_json(&before), "to": customer_json(&after) }),
    )
    .await;
    Ok(Json(customer_out(&s, cid).await?))
}

/// Sets what a customer owes (the billing system's figure). The IVR's billing menu offers to
/// pay it by card; a payment lowers it.
#[utoipa::path(put, path = "/api/v1/customers/{id}/balance", tag = "customers",
    params(("id" = i64, Path, description = "The customer's id")),
    request_body = SetBalance,
    responses(
        (status = 200, description = "Set; the customer as now", body = CustomerOut),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or integration token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_balance(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<Json<CustomerOut>, ApiError> {
    s.require_write(&caller, BILLING, "api.customer.balance", Some(&id))
        .await?;
    let body: SetBalance = raw.parse()?;
    let cid = customer_id(&id)?;
    if body.currency.len() != 3 || !body.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::field(
            "currency",
            format!(
                "must be an ISO 4217 code (three capital letters, e.g. USD), not {:?}",
                body.currency
            ),
        ));
    }
    let before = s.store.balance(cid).await?;
    let after = s
        .store
        .set_balance(
            cid,
            body.amount_minor,
            &body.currency,
            &format!("api:{}", caller.token.name),
            crate::app::now_millis(),
        )
        .await?;
    s.audit(
        &caller,
        "api.customer.balance",
        Some(&id),
        true,
        serde_json::json!({
            "from": before.map(|b| serde_json::json!({ "amount_minor": b.amount_minor, "currency": b.currency })),
            "to": { "amount_minor": after.amount_minor, "currency": after.currency },
        }),
    )
    .await;
    Ok(Json(customer_out(&s, cid).await?))
}
