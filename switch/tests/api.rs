//! The REST API (`/api/v1`) through the real router, in process (`tower::ServiceExt::oneshot`)
//! against a temp SQLite store: no token or a revoked one is 401, the wrong role 403, bad input
//! a 400 problem naming the field, an admin creates an agent, sets her skills and finds her in
//! the list, every write (and every refused write) is in the audit log, the token bucket answers
//! 429, and the OpenAPI document lists exactly the routes the router serves. The agent and the
//! customer/ticket scenarios run on PostgreSQL too when `HOTLINE_TEST_PG_URL` is set (a fresh
//! schema each).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use hotline_store::{ApiRole, Store, StoreOptions, password};
use hotline_switch::api::auth::RateLimit;
use hotline_switch::api::{ApiState, ROUTES, router, tokens};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct App {
    router: Router,
    store: Store,
    admin: String,
    supervisor: String,
    integration: String,
    admin_id: i64,
    _dir: tempfile::TempDir,
}

/// A fresh PostgreSQL schema in the database named by `HOTLINE_TEST_PG_URL`, or `None` (and a
/// note on stderr) when it is not set.
async fn postgres_url() -> Option<(String, PgSchema)> {
    let Ok(base) = std::env::var("HOTLINE_TEST_PG_URL") else {
        eprintln!(
            "SKIPPED: PostgreSQL API test (set HOTLINE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
        );
        return None;
    };
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let schema = format!(
        "hl_api_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    sqlx::any::install_default_drivers();
    let admin = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .expect("connect to PostgreSQL");
    for sql in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("schema");
    }
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    Some((url, PgSchema { base, schema }))
}

/// A test's schema, dropped by [`PgSchema::drop_now`] when the test passed.
struct PgSchema {
    base: String,
    schema: String,
}

impl PgSchema {
    async fn drop_now(self) {
        let admin = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.base)
            .await
            .expect("connect to PostgreSQL");
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
        admin.close().await;
    }
}

async fn app_with(limit: RateLimit) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/api.db", dir.path().display());
    app_on(&url, limit, dir).await
}

async fn app_on(url: &str, limit: RateLimit, dir: tempfile::TempDir) -> App {
    let store = Store::open(url, StoreOptions::default())
        .await
        .expect("open store");
    store.upsert_skill("billing", "Invoices").await.unwrap();
    store.upsert_skill("english", "").await.unwrap();
    let admin = tokens::issue(&store, "ops", ApiRole::Admin, "cli")
        .await
        .unwrap();
    let supervisor = tokens::issue(&store, "team-lead", ApiRole::Supervisor, "cli")
        .await
        .unwrap();
    let integration = tokens::issue(&store, "crm", ApiRole::Integration, "cli")
        .await
        .unwrap();
    App {
        router: router(ApiState::new(store.clone(), limit)),
        store,
        admin_id: admin.token.id,
        admin: admin.secret,
        supervisor: supervisor.secret,
        integration: integration.secret,
        _dir: dir,
    }
}

async fn app() -> App {
    app_with(RateLimit::default()).await
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl App {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or("").to_string()))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|c| c.to_str().unwrap_or("").contains("json"));
        let body = if bytes.is_empty() {
            Value::Null
        } else if !json {
            // The docs page: HTML, kept as text.
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(&body.to_string()))
            .await
    }

    async fn audit_actions(&self) -> Vec<(String, String, bool)> {
        self.store
            .audit_entries(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.actor, a.action, a.allowed))
            .collect()
    }
}

/// The reply is an RFC 9457 problem with this status and (for bad input) this field.
fn assert_problem(r: &Reply, status: StatusCode, kind: &str, field: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{}",
        r.body
    );
    assert_eq!(r.body["status"], status.as_u16(), "{}", r.body);
    assert!(
        r.body["type"].as_str().unwrap().ends_with(kind),
        "type {} is not {kind}",
        r.body["type"]
    );
    assert!(!r.body["title"].as_str().unwrap().is_empty());
    assert!(!r.body["detail"].as_str().unwrap().is_empty());
    assert_eq!(r.body["field"].as_str(), field, "{}", r.body);
}

fn ann() -> Value {
    json!({ "id": "ann", "name": "Ann Agent", "extension": "2001", "password": "correct-horse" })
}

#[tokio::test]
async fn no_token_or_unknown_token_is_401_problem() {
    let app = app().await;
    let r = app.send(Method::GET, "/api/v1/agents", None, None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
    let r = app.get("/api/v1/agents", "hl_not-a-token").await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let r = app
        .send(
            Method::POST,
            "/api/v1/agents",
            None,
            Some(&ann().to_string()),
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    assert!(app.store.agent("ann").await.unwrap().is_none());
}

#[tokio::test]
async fn roles_are_checked_per_route_and_refusals_audited() {
    let app = app().await;
    // A supervisor reads agents but cannot create one; an integration does neither.
    let r = app.post("/api/v1/agents", &app.supervisor, ann()).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    let r = app.post("/api/v1/agents", &app.integration, ann()).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    // The role is checked before the body is read: no lesson in fields for the wrong token.
    let r = app
        .send(
            Method::POST,
            "/api/v1/agents",
            Some(&app.integration),
            Some("{not json"),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    let r = app.get("/api/v1/agents", &app.integration).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(
        app.get("/api/v1/agents", &app.supervisor).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/skills", &app.supervisor).await.status,
        StatusCode::OK
    );
    let r = app.get("/api/v1/tokens", &app.supervisor).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    // An integration may not read the audit log; a supervisor may.
    let r = app.get("/api/v1/audit", &app.integration).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(
        app.get("/api/v1/audit", &app.supervisor).await.status,
        StatusCode::OK
    );
    let r = app
        .post(
            "/api/v1/tokens",
            &app.integration,
            json!({ "name": "x", "role": "admin" }),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", None);
    assert!(app.store.agent("ann").await.unwrap().is_none());
    let refused: Vec<_> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, _, allowed)| !allowed)
        .map(|(actor, action, _)| (actor.split(':').nth(2).unwrap().to_string(), action))
        .collect();
    assert_eq!(
        refused,
        [
            ("team-lead".to_string(), "api.agent.create".to_string()),
            ("crm".to_string(), "api.agent.create".to_string()),
            ("crm".to_string(), "api.agent.create".to_string()),
            ("crm".to_string(), "api.token.create".to_string()),
        ]
    );
}

#[tokio::test]
async fn admin_creates_agent_sets_skills_and_finds_her_in_the_list() {
    admin_flow(app().await).await;
}

#[tokio::test]
async fn admin_flow_on_postgres() {
    if let Some((url, schema)) = postgres_url().await {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app_on(&url, RateLimit::default(), dir).await;
        let store = app.store.clone();
        admin_flow(app).await;
        store.close().await;
        schema.drop_now().await;
    }
}

async fn admin_flow(app: App) {
    let r = app.post("/api/v1/agents", &app.admin, ann()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["id"], "ann");
    assert_eq!(r.body["role"], "agent");
    assert_eq!(r.body["active"], true);
    assert!(r.body.get("password").is_none() && r.body.get("password_hash").is_none());
    // The password is stored as the CTI login checks it.
    let creds = app.store.agent_credentials("ann").await.unwrap().unwrap();
    assert!(password::verify("correct-horse", &creds.password_hash));

    let skills = json!({ "skills": [
        { "skill": "billing", "proficiency": 4 },
        { "skill": "english", "proficiency": 2 },
    ]});
    let r = app
        .send(
            Method::PUT,
            "/api/v1/agents/ann/skills",
            Some(&app.admin),
            Some(&skills.to_string()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["skills"], skills["skills"]);

    let r = app
        .post(
            "/api/v1/agents",
            &app.admin,
            json!({ "id": "bob", "name": "Bob", "extension": "2002", "password": "another-one", "role": "supervisor" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r = app.get("/api/v1/agents", &app.supervisor).await;
    assert_eq!(r.status, StatusCode::OK);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], "ann");
    assert_eq!(items[0]["skills"], skills["skills"]);
    assert!(r.body.get("next_cursor").is_none());
    // One at a time.
    let r = app.get("/api/v1/agents?limit=1", &app.admin).await;
    assert_eq!(r.body["items"][0]["id"], "ann");
    assert_eq!(r.body["next_cursor"], "ann");
    let r = app
        .get("/api/v1/agents?limit=1&cursor=ann", &app.admin)
        .await;
    assert_eq!(r.body["items"][0]["id"], "bob");
    assert!(r.body.get("next_cursor").is_none());

    // Rename, move the extension, reset the password, disable, enable.
    let r = app
        .send(
            Method::PATCH,
            "/api/v1/agents/ann",
            Some(&app.admin),
            Some(r#"{"name": "Ann Smith", "extension": "2011"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["name"].as_str(), r.body["extension"].as_str()),
        (Some("Ann Smith"), Some("2011"))
    );
    let r = app
        .post(
            "/api/v1/agents/ann/password",
            &app.admin,
            json!({ "password": "battery-staple" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let creds = app.store.agent_credentials("ann").await.unwrap().unwrap();
    assert!(password::verify("battery-staple", &creds.password_hash));
    assert!(!password::verify("correct-horse", &creds.password_hash));
    let r = app
        .post("/api/v1/agents/ann/disable", &app.admin, json!({}))
        .await;
    assert_eq!(r.body["active"], false);
    assert!(
        !app.store
            .agent_credentials("ann")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    let r = app.get("/api/v1/agents", &app.admin).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/agents?include_disabled=true", &app.admin)
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = app.get("/api/v1/agents/ann", &app.supervisor).await;
    assert_eq!(
        (r.status, &r.body["active"]),
        (StatusCode::OK, &json!(false))
    );
    let r = app
        .post("/api/v1/agents/ann/enable", &app.admin, json!({}))
        .await;
    assert_eq!(r.body["active"], true);

    // Every write is in the audit log, with the token that made it, and no password.
    let actor = format!("token:{}:ops", app.admin_id);
    let writes: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _, allowed)| *a == actor && *allowed)
        .map(|(_, action, _)| action)
        .collect();
    assert_eq!(
        writes,
        [
            "api.agent.create",
            "api.agent.skills",
            "api.agent.create",
            "api.agent.update",
            "api.agent.password",
            "api.agent.disable",
            "api.agent.enable",
        ]
    );
    let entries = app.store.audit_entries(0, 1000).await.unwrap();
    for e in &entries {
        let d = e.detail.to_string();
        assert!(
            !d.contains("battery") && !d.contains("correct-horse"),
            "{d}"
        );
    }
    let update = entries
        .iter()
        .find(|e| e.action == "api.agent.update")
        .unwrap();
    assert_eq!(update.target.as_deref(), Some("ann"));
    assert_eq!(update.detail["extension"]["from"], "2001");
    assert_eq!(update.detail["extension"]["to"], "2011");
}

#[tokio::test]
async fn bad_input_is_a_400_problem_naming_the_field() {
    let app = app().await;
    let post =
        |body: &'static str| app.send(Method::POST, "/api/v1/agents", Some(&app.admin), Some(body));
    assert_problem(
        &post("{not json").await,
        StatusCode::BAD_REQUEST,
        "bad-json",
        None,
    );
    let r = post(r#"{"id": "ann", "name": "Ann", "password": "long-enough"}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("extension"),
    );
    let r = post(r#"{"id": "ann", "name": "Ann", "extension": "20a", "password": "long-enough"}"#)
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("extension"),
    );
    let r = post(
        r#"{"id": "Ann Smith", "name": "Ann", "extension": "2001", "password": "long-enough"}"#,
    )
    .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("id"));
    let r = post(r#"{"id": "ann", "name": "Ann", "extension": "2001", "password": "short"}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("password"),
    );
    let r =
        post(r#"{"id": "ann", "name": "Ann", "extension": 2001, "password": "long-enough"}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("extension"),
    );
    let r = post(r#"{"id": "ann", "nmae": "Ann", "extension": "2001", "password": "long-enough"}"#)
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("nmae"));
    let r = post(r#"{"id": "ann", "name": "Ann", "extension": "2001", "password": "long-enough", "role": "boss"}"#).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("role"));
    assert!(app.store.agent("ann").await.unwrap().is_none());

    assert_eq!(
        app.post("/api/v1/agents", &app.admin, ann()).await.status,
        StatusCode::CREATED
    );
    let r = app.post("/api/v1/agents", &app.admin, ann()).await;
    assert_problem(&r, StatusCode::CONFLICT, "conflict", None);

    let put = |body: &'static str| {
        app.send(
            Method::PUT,
            "/api/v1/agents/ann/skills",
            Some(&app.admin),
            Some(body),
        )
    };
    let r = put(r#"{"skills": [{"skill": "billing", "proficiency": 6}]}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("skills[0].proficiency"),
    );
    let r = put(r#"{"skills": [{"skill": "billing", "proficiency": 3}, {"skill": "klingon", "proficiency": 3}]}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("skills[1].skill"),
    );
    let r = put(r#"{"skills": [{"skill": "billing", "proficiency": 3}, {"skill": "billing", "proficiency": 2}]}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("skills[1].skill"),
    );
    let r = put(r#"{"skills": [{"skill": "billing", "proficiency": "high"}]}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("skills[0].proficiency"),
    );
    assert!(app.store.agent_skills("ann").await.unwrap().is_empty());

    let r = app
        .send(
            Method::PATCH,
            "/api/v1/agents/ann",
            Some(&app.admin),
            Some("{}"),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("body"));

    // Unknown ids, routes and query values.
    let r = app.get("/api/v1/agents/nobody", &app.admin).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found", None);
    let r = app
        .post("/api/v1/agents/nobody/disable", &app.admin, json!({}))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found", None);
    let r = app
        .send(
            Method::PUT,
            "/api/v1/agents/nobody/skills",
            Some(&app.admin),
            Some(r#"{"skills": []}"#),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found", None);
    let r = app
        .send(Method::DELETE, "/api/v1/tokens/999", Some(&app.admin), None)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found", None);
    let r = app.get("/api/v1/nothing-here", &app.admin).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "no-route", None);
    let r = app.get("/api/v1/agents?limit=0", &app.admin).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query", Some("limit"));
    let r = app
        .get("/api/v1/agents?include_disabled=maybe", &app.admin)
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-query",
        Some("include_disabled"),
    );
}

#[tokio::test]
async fn tokens_made_by_an_admin_work_until_revoked() {
    let app = app().await;
    let r = app
        .post(
            "/api/v1/tokens",
            &app.admin,
            json!({ "name": "wallboard", "role": "supervisor" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let id = r.body["token"]["id"].as_i64().unwrap();
    assert_eq!(r.body["token"]["role"], "supervisor");
    assert_eq!(
        r.body["token"]["created_by"],
        format!("token:{}:ops", app.admin_id)
    );
    assert_eq!(
        app.get("/api/v1/skills", &secret).await.status,
        StatusCode::OK
    );
    // Only the hash is stored, and the list never shows a secret.
    let r = app.get("/api/v1/tokens", &app.admin).await;
    assert_eq!(r.body.as_array().unwrap().len(), 4);
    assert!(!r.body.to_string().contains(&secret));
    let r = app
        .post(
            "/api/v1/tokens",
            &app.admin,
            json!({ "name": "", "role": "supervisor" }),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("name"));

    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["revoked_at"].is_i64());
    let r = app.get("/api/v1/skills", &secret).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "token-revoked", None);
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(_, a, _)| a)
        .collect();
    assert_eq!(actions, ["api.token.create", "api.token.revoke"]);
}

#[tokio::test]
async fn a_token_past_its_budget_gets_429_and_others_do_not() {
    // Three at once, then one per 1000 s: the fourth request is refused whatever the clock.
    let app = app_with(RateLimit {
        burst: 3,
        per_second: 0.001,
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/v1/skills", &app.supervisor).await.status,
            StatusCode::OK
        );
    }
    let r = app.get("/api/v1/skills", &app.supervisor).await;
    assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate-limited", None);
    let wait: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert_eq!(
        app.get("/api/v1/skills", &app.admin).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_the_router_serves_each() {
    let app = app().await;
    // The readable page, without a token, renders the document.
    let page = app
        .router
        .clone()
        .oneshot(Request::get("/api/v1/docs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&html).contains("fetch(\"openapi.json\")"));

    let r = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.push((method.clone(), path.clone()));
            if path != "/api/v1/openapi.json" && path != "/api/v1/docs" {
                assert!(
                    op["security"].is_array(),
                    "{method} {path} names no security"
                );
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path} documents no 401"
                );
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // Each documented route is served (a handler answers, not the no-route fallback or 405).
    for (method, path) in &expected {
        let path = path.replace("{id}", "nobody");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (m != Method::GET && m != Method::DELETE).then_some("{}");
        let r = app.send(m.clone(), &path, Some(&app.admin), body).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !r.body["type"].as_str().unwrap_or("").ends_with("no-route"),
            "{method} {path} is not routed"
        );
    }
}

#[tokio::test]
async fn an_integration_finds_a_customer_updates_her_and_works_her_tickets() {
    integration_flow(app().await).await;
}

#[tokio::test]
async fn integration_flow_on_postgres() {
    if let Some((url, schema)) = postgres_url().await {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app_on(&url, RateLimit::default(), dir).await;
        let store = app.store.clone();
        integration_flow(app).await;
        store.close().await;
        schema.drop_now().await;
    }
}

async fn integration_flow(app: App) {
    let ada = app
        .store
        .create_customer(
            &hotline_store::NewCustomer {
                display_name: "Ada Lovelace".into(),
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
    app.store
        .link_identity(
            ada,
            &hotline_store::Identity::phone("+44 20 7946 0018").unwrap(),
            "crm",
            true,
            1,
        )
        .await
        .unwrap();
    let crm = &app.integration;
    // Search by number and by part of the name.
    let r = app.get("/api/v1/customers?q=%2B442079460018", crm).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["items"][0]["id"], ada);
    let r = app.get("/api/v1/customers?q=lovel&limit=5", crm).await;
    assert_eq!(r.body["items"][0]["display_name"], "Ada Lovelace");
    let r = app.get("/api/v1/customers", crm).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query", Some("q"));
    let r = app.get(&format!("/api/v1/customers/{ada}"), crm).await;
    assert_eq!(r.body["identities"][0]["value"], "+442079460018");
    assert_eq!(r.body["tier"], "standard");
    let r = app.get("/api/v1/customers/424242", crm).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found", None);

    // Tier (and with it the routing priority) and notes.
    let path = format!("/api/v1/customers/{ada}");
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(crm),
            Some(r#"{"tier": "vip", "notes": "prefers e-mail"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["tier"].as_str(), r.body["notes"].as_str()),
        (Some("vip"), Some("prefers e-mail"))
    );
    assert_eq!(r.body["priority"], hotline_store::tier_priority("vip"));
    assert_eq!(r.body["display_name"], "Ada Lovelace");
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(crm),
            Some(r#"{"tier": "platinum"}"#),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("tier"));
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(crm),
            Some(r#"{"display_name": " "}"#),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("display_name"),
    );

    // What she owes: set by the billing system (integration token), not by a supervisor;
    // a bad currency names the field; the change is audited.
    let bal = format!("/api/v1/customers/{ada}/balance");
    let r = app.get(&path, crm).await;
    assert_eq!(r.body["balance"], Value::Null, "{}", r.body);
    let r = app
        .send(
            Method::PUT,
            &bal,
            Some(crm),
            Some(r#"{"amount_minor": 4275, "currency": "USD"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["balance"]["amount_minor"], 4275);
    assert_eq!(r.body["balance"]["currency"], "USD");
    let r = app
        .send(
            Method::PUT,
            &bal,
            Some(crm),
            Some(r#"{"amount_minor": 1, "currency": "dollars"}"#),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("currency"),
    );
    let r = app
        .send(
            Method::PUT,
            &bal,
            Some(&app.supervisor),
            Some(r#"{"amount_minor": 0, "currency": "USD"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.store
            .balance(ada)
            .await
            .unwrap()
            .map(|b| b.amount_minor),
        Some(4275)
    );
    let audit = app
        .store
        .audit_entries(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "api.customer.balance")
        .map(|e| e.allowed)
        .collect::<Vec<_>>();
    assert!(audit.contains(&true) && audit.contains(&false), "{audit:?}");

    // Tickets: create, list by customer and status, change status, comment.
    let r = app
        .post(
            "/api/v1/tickets",
            crm,
            json!({ "customer_id": ada, "subject": "Refund", "priority": "high" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t1 = r.body["ticket"]["id"].as_i64().unwrap();
    assert_eq!(r.body["ticket"]["status"], "open");
    let r = app
        .post(
            "/api/v1/tickets",
            crm,
            json!({ "customer_id": ada, "subject": "Address change" }),
        )
        .await;
    let t2 = r.body["ticket"]["id"].as_i64().unwrap();
    let r = app
        .post(
            "/api/v1/tickets",
            crm,
            json!({ "customer_id": 999, "subject": "x" }),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("customer_id"),
    );
    let r = app
        .post("/api/v1/tickets", crm, json!({ "customer_id": ada }))
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("subject"),
    );
    let r = app
        .post(
            "/api/v1/tickets",
            crm,
            json!({ "subject": "x", "priority": "asap" }),
        )
        .await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "invalid-field",
        Some("priority"),
    );

    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/tickets/{t1}"),
            Some(crm),
            Some(r#"{"status": "solved"}"#),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["ticket"]["status"], "solved");
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/tickets/{t1}"),
            Some(crm),
            Some(r#"{"status": "gone"}"#),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-field", Some("status"));
    let r = app
        .post(
            &format!("/api/v1/tickets/{t2}/comments"),
            crm,
            json!({ "text": "Called back, no answer" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let history = r.body["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["field"], "comment");
    assert_eq!(last["new_value"], "Called back, no answer");
    assert!(last["actor"].as_str().unwrap().ends_with(":crm"));
    let r = app
        .post(
            "/api/v1/tickets/77777/comments",
            crm,
            json!({ "text": "x" }),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not-found", None);

    let r = app
        .get(
            &format!("/api/v1/tickets?customer_id={ada}&status=open"),
            crm,
        )
        .await;
    let ids: Vec<i64> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [t2]);
    let r = app
        .get(&format!("/api/v1/tickets?customer_id={ada}&limit=1"), crm)
        .await;
    assert_eq!(r.body["items"][0]["id"], t1);
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = app
        .get(
            &format!("/api/v1/tickets?customer_id={ada}&limit=1&cursor={cursor}"),
            crm,
        )
        .await;
    assert_eq!(r.body["items"][0]["id"], t2);
    assert!(r.body.get("next_cursor").is_none());
    let r = app.get("/api/v1/tickets?status=lost", crm).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query", Some("status"));
    let r = app
        .get(&format!("/api/v1/tickets/{t1}"), &app.supervisor)
        .await;
    assert_eq!(r.body["ticket"]["subject"], "Refund");

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(actor, _, allowed)| actor.ends_with(":crm") && *allowed)
        .map(|(_, a, _)| a)
        .collect();
    assert_eq!(
        actions,
        [
            "api.customer.update",
            "api.customer.balance",
            "api.ticket.create",
            "api.ticket.create",
            "api.ticket.update",
            "api.ticket.comment"
        ]
    );
}
