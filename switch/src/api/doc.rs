//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the request and response types, served at `/api/v1/openapi.json`
//! without a token (it describes the API, it holds no data), and a readable page at
//! `/api/v1/docs` that renders it (one HTML file with a small script, nothing fetched from
//! elsewhere).

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{agents, audit, customers, tickets, tokens, webhooks};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hotline REST API",
        description = "Agents, skills, customers, tickets and API tokens of a Hotline contact center. Errors are RFC 9457 problem documents (application/problem+json). See docs/api.md.",
        version = "1",
    ),
    paths(
        openapi_json,
        docs_page,
        tokens::list,
        tokens::create,
        tokens::revoke,
        agents::list,
        agents::create,
        agents::get,
        agents::update,
        agents::disable,
        agents::enable,
        agents::reset_password,
        agents::set_skills,
        agents::skills,
        customers::search,
        customers::get,
        customers::update,
        customers::set_balance,
        tickets::list,
        tickets::create,
        tickets::get,
        tickets::update,
        tickets::comment,
        audit::list,
        webhooks::list,
        webhooks::create,
        webhooks::delete,
        webhooks::deliveries,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "tokens", description = "API tokens (admin)"),
        (name = "agents", description = "Agent accounts and their skills"),
        (name = "skills", description = "The skills defined"),
        (name = "customers", description = "Customers: search, read, name, tier, notes and balance due"),
        (name = "tickets", description = "Tickets: list, create, status, comments"),
        (name = "audit", description = "The audit log (admin, supervisor)"),
        (name = "webhooks", description = "Webhook subscriptions and their delivery log (admin)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("hl_ and 64 hex digits".to_string());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The OpenAPI document (no token needed).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
pub async fn openapi_json() -> impl IntoResponse {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the OpenAPI document");
            super::problem::ApiError::Internal.into_response()
        }
    }
}

/// The page that renders the document for people.
const DOCS_PAGE: &str = include_str!("docs.html");

/// A readable page of the API, rendered in the browser from the document (no token needed).
#[utoipa::path(get, path = "/api/v1/docs", tag = "meta",
    responses((status = 200, description = "An HTML page listing every route", content_type = "text/html")))]
pub async fn docs_page() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DOCS_PAGE,
    )
}
