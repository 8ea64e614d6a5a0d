//! `/api/v1/tokens`: an admin creates API tokens (the secret is shown once, in the answer),
//! lists them (never the secrets) and revokes them.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use hotline_store::{ApiRole, ApiToken, NewApiToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiState;
use super::auth::{ADMIN, Caller, hash_secret, new_secret};
use super::problem::{ApiError, JsonBody, Problem};

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Reads agents and skills (admin screens for team leads).
    Supervisor,
    /// Everything, including agents and tokens.
    Admin,
    /// A machine (CRM, ERP): customers and tickets, no accounts.
    Integration,
}

impl From<TokenRole> for ApiRole {
    fn from(r: TokenRole) -> ApiRole {
        match r {
            TokenRole::Supervisor => ApiRole::Supervisor,
            TokenRole::Admin => ApiRole::Admin,
            TokenRole::Integration => ApiRole::Integration,
        }
    }
}

impl From<ApiRole> for TokenRole {
    fn from(r: ApiRole) -> TokenRole {
        match r {
            ApiRole::Supervisor => TokenRole::Supervisor,
            ApiRole::Admin => TokenRole::Admin,
            ApiRole::Integration => TokenRole::Integration,
        }
    }
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    pub role: TokenRole,
    /// `cli` when made on the command line, else the audit actor of the admin token.
    pub created_by: String,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    /// Unix epoch milliseconds; absent while the token is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

impl From<ApiToken> for TokenOut {
    fn from(t: ApiToken) -> TokenOut {
        TokenOut {
            id: t.id,
            name: t.name,
            role: t.role.into(),
            created_by: t.created_by,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// A token to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for (`crm-sync`, `ops laptop`), 1 to 100 characters.
    pub name: String,
    pub role: TokenRole,
}

/// A new token and its secret: keep the secret now, it is never shown again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenOut,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Checks a token name (shared with the command line).
pub fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

/// Creates and stores a token; returns it with its secret.
pub async fn issue(
    store: &hotline_store::Store,
    name: &str,
    role: ApiRole,
    created_by: &str,
) -> Result<CreatedToken, ApiError> {
    let name = check_name(name)?;
    let secret = new_secret();
    let token = store
        .create_api_token(
            &NewApiToken {
                name,
                role,
                token_hash: hash_secret(&secret),
                created_by: created_by.to_string(),
            },
            crate::app::now_millis(),
        )
        .await?;
    Ok(CreatedToken {
        token: token.into(),
        secret,
    })
}

/// Creates a token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; the secret is shown only here", body = CreatedToken),
        (status = 400, description = "Bad input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    raw: JsonBody,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    s.require_write(&caller, ADMIN, "api.token.create", None)
        .await?;
    let body: CreateToken = raw.parse()?;
    let created = issue(&s.store, &body.name, body.role.into(), &caller.actor()).await?;
    let id = created.token.id.to_string();
    s.audit(
        &caller,
        "api.token.create",
        Some(&id),
        true,
        serde_json::json!({ "name": created.token.name, "role": created.token.role }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Lists every token, revoked ones included.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "Every token, by id", body = Vec<TokenOut>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<TokenOut>>, ApiError> {
    caller.require(ADMIN)?;
    let all = s.store.api_tokens().await?;
    Ok(Json(all.into_iter().map(TokenOut::from).collect()))
}

/// Revokes a token at once (its next request gets 401).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked (again: unchanged)", body = TokenOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<TokenOut>, ApiError> {
    s.require_write(&caller, ADMIN, "api.token.revoke", Some(&id))
        .await?;
    let n: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound(format!("API token {id:?}")))?;
    let t = s
        .store
        .revoke_api_token(n, crate::app::now_millis())
        .await?;
    s.audit(
        &caller,
        "api.token.revoke",
        Some(&id),
        true,
        serde_json::json!({ "name": t.name }),
    )
    .await;
    Ok(Json(t.into()))
}
