//! Errors as RFC 9457 problem details (`application/problem+json`): every refusal of the API
//! says what kind of problem it is (`type`, `title`, `status`), what exactly was wrong
//! (`detail`) and, for bad input, which field (`field`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The base of every problem `type` URI: docs/api.md has a heading per kind (`#bad-json`).
const TYPE_BASE: &str = "https://github.com/hotline-cc/hotline/blob/main/docs/api.md#";

/// Why a request was refused, said from the client's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The body is not JSON at all.
    BadJson(String),
    /// A field is missing or its value is not allowed.
    InvalidField { field: String, detail: String },
    /// A query parameter is not allowed.
    InvalidQuery { param: String, detail: String },
    /// No `Authorization: Bearer` header, or an unknown token.
    Unauthenticated(String),
    /// The token is valid but revoked.
    Revoked,
    /// The token's role may not do this.
    Forbidden(String),
    /// The id in the path names nothing.
    NotFound(String),
    /// No route has this path.
    NoRoute,
    /// The write conflicts with what is stored (an extension already taken).
    Conflict(String),
    /// The token spent its request budget; retry after this many seconds.
    RateLimited { retry_after_secs: u64 },
    /// The database failed; the detail is logged, not shown.
    Internal,
}

/// The problem document (RFC 9457).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind, the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly went wrong this time.
    pub detail: String,
    /// The request field (JSON path) or query parameter at fault, for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A bad value in field `field`.
    pub fn field(field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::InvalidField {
            field: field.to_string(),
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadJson(_)
            | ApiError::InvalidField { .. }
            | ApiError::InvalidQuery { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) | ApiError::Revoked => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (slug, title, detail, field) = match self {
            ApiError::BadJson(d) => ("bad-json", "Body is not valid JSON", d.clone(), None),
            ApiError::InvalidField { field, detail } => (
                "invalid-field",
                "Invalid field",
                format!("{field}: {detail}"),
                Some(field.clone()),
            ),
            ApiError::InvalidQuery { param, detail } => (
                "invalid-query",
                "Invalid query parameter",
                format!("{param}: {detail}"),
                Some(param.clone()),
            ),
            ApiError::Unauthenticated(d) => {
                ("unauthenticated", "Not authenticated", d.clone(), None)
            }
            ApiError::Revoked => (
                "token-revoked",
                "Token revoked",
                "this API token was revoked; ask an admin for a new one".to_string(),
                None,
            ),
            ApiError::Forbidden(d) => ("forbidden", "Not allowed for this role", d.clone(), None),
            ApiError::NotFound(d) => ("not-found", "Not found", d.clone(), None),
            ApiError::NoRoute => (
                "no-route",
                "No such route",
                "no API route has this method and path; see /api/v1/openapi.json".to_string(),
                None,
            ),
            ApiError::Conflict(d) => ("conflict", "Conflict", d.clone(), None),
            ApiError::RateLimited { retry_after_secs } => (
                "rate-limited",
                "Too many requests",
                format!("this token's request budget is spent; retry in {retry_after_secs} s"),
                None,
            ),
            ApiError::Internal => (
                "internal",
                "Internal error",
                "the server failed (the database?); the error is in the switch's log".to_string(),
                None,
            ),
        };
        Problem {
            kind: format!("{TYPE_BASE}{slug}"),
            title: title.to_string(),
            status: self.status().as_u16(),
            detail,
            field,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status(), Json(self.problem())).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::Unauthenticated(_) | ApiError::Revoked => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    h.insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        res
    }
}

impl From<hotline_store::Error> for ApiError {
    /// The store's verdict, said to the client: bad input names no field here (the handlers
    /// check fields first), so it is reported against the body.
    fn from(e: hotline_store::Error) -> ApiError {
        match e {
            hotline_store::Error::Invalid(m) => ApiError::field("body", m),
            hotline_store::Error::NotFound(m) => ApiError::NotFound(m),
            hotline_store::Error::Conflict(m) => ApiError::Conflict(m),
            other => {
                tracing::error!(error = %other, "API: database error");
                ApiError::Internal
            }
        }
    }
}

/// A request body to be read as JSON once the caller may do what she asks (so a token without
/// the role gets 403, not a lesson in the body's fields). Its refusals are problems naming the
/// field (`skills[1].proficiency`), unlike axum's `Json`, which answers in plain text.
pub struct JsonBody(Bytes);

impl<S> FromRequest<S> for JsonBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(JsonBody)
            .map_err(|e| ApiError::BadJson(format!("cannot read the body: {e}")))
    }
}

impl JsonBody {
    /// The body as a `T`; see [`parse_json`].
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.0)
    }
}

/// Parses a body: not JSON is [`ApiError::BadJson`]; JSON of the wrong shape is
/// [`ApiError::InvalidField`] naming the path (`.` for the whole body).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadJson(format!("the body is not JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // A missing field is reported at its parent; name the field itself. (An unknown
        // field's path already ends with its name.)
        let field = match missing_field(&inner) {
            Some(name) if path == "." => name.to_string(),
            Some(name) => format!("{path}.{name}"),
            None => path,
        };
        ApiError::field(&field, inner)
    })
}

/// `missing field `name`` → `name`.
fn missing_field(msg: &str) -> Option<&str> {
    msg.strip_prefix("missing field `")?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        skills: Vec<Level>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Level {
        skill: String,
        proficiency: u8,
    }

    #[test]
    fn names_the_field_at_fault() {
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert!(matches!(e, ApiError::BadJson(_)));
        let e = parse_json::<Body>(br#"{"skills": []}"#).unwrap_err();
        assert_eq!(e.problem().field.as_deref(), Some("name"));
        let e = parse_json::<Body>(
            br#"{"name": "x", "skills": [{"skill": "a", "proficiency": 2}, {"skill": "b", "proficiency": "high"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.problem().field.as_deref(), Some("skills[1].proficiency"));
        let e =
            parse_json::<Body>(br#"{"name": "x", "skills": [{"proficiency": 2}]}"#).unwrap_err();
        assert_eq!(e.problem().field.as_deref(), Some("skills[0].skill"));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
