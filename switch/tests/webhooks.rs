//! Webhooks end to end, in process: an admin subscribes through the REST API (the secret shown
//! once, refusals for the wrong role and an `ftp://` URL, both audited writes), the store's
//! writers fill the outbox (call records through the switch's call-record writer, outcomes, a payment
//! approval, a ticket created and changed through the API), and the delivery worker posts to a
//! real local HTTP receiver that is down at first (connection refused), then comes back and
//! answers 500 once: every delivery is accepted exactly once per delivery id, each subject's
//! deliveries arrive in sequence order, and every signature verifies (HMAC computed here with
//! the secret). A worker stopped while deliveries are pending leaves them to a new worker on the
//! same database; a receiver that never comes back gets the delivery marked failed after
//! `max_attempts`. Over `https://`, a receiver whose certificate is not trusted is refused at
//! the handshake and one whose certificate is trusted gets the delivery. Runs on SQLite, and on PostgreSQL too when `HOTLINE_TEST_PG_URL` is set.
//! Waits are bounded polls, never wall-clock asserts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use hmac::{Hmac, KeyInit, Mac};
use hotline_store::{
    ApiRole, CallEvent, CallEventKind, DeliveryState, Direction, Disposition, Outcome, Payment,
    Store, StoreOptions,
};
use hotline_switch::api::auth::RateLimit;
use hotline_switch::api::{ApiState, router, tokens};
use hotline_switch::calls::cdr::CdrWriter;
use hotline_switch::webhooks::{RetryPolicy, Worker, WorkerOptions};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

/// The time of the test's events: a few minutes before the test started, so that the
/// worker (on the real clock) finds them due and young.
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| hotline_switch::app::now_millis() - 300_000)
}

/// A database for one test: a temp SQLite file, or a fresh PostgreSQL schema.
struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        Db {
            url: format!("sqlite://{}/hooks.db", dir.path().display()),
            _dir: Some(dir),
            pg: None,
        }
    }

    async fn postgres() -> Option<Db> {
        let Ok(base) = std::env::var("HOTLINE_TEST_PG_URL") else {
            eprintln!(
                "SKIPPED: PostgreSQL webhook test (set HOTLINE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let schema = format!(
            "hl_hooks_{}_{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        admin_sql(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        admin_sql(&base, &format!("CREATE SCHEMA {schema}")).await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(Db {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            _dir: None,
            pg: Some((base, schema)),
        })
    }

    async fn open(&self) -> Store {
        Store::open(&self.url, StoreOptions::default())
            .await
            .expect("open store")
    }

    async fn drop_now(self) {
        if let Some((base, schema)) = &self.pg {
            admin_sql(base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
        }
    }
}

async fn admin_sql(base: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let admin = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(base)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&admin)
        .await
        .expect("admin SQL");
    admin.close().await;
}

/// What the receiver accepted (answered 2xx to).
#[derive(Debug, Clone)]
struct Receipt {
    delivery: String,
    signature: String,
    body: Bytes,
}

#[derive(Default)]
struct Inbox {
    accepted: Vec<Receipt>,
    /// Delivery ids answered 500 once already.
    refused_once: HashSet<String>,
    /// Answer 500 to the first post of every delivery whose subject is this.
    fail_first_of: Option<String>,
}

type Shared = Arc<Mutex<Inbox>>;

async fn receive(State(inbox): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let delivery = get("hotline-delivery");
    let mut inbox = inbox.lock().unwrap();
    let subject = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["subject"].as_str().map(str::to_string));
    if subject.is_some()
        && subject == inbox.fail_first_of
        && inbox.refused_once.insert(delivery.clone())
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    inbox.accepted.push(Receipt {
        delivery,
        signature: get("hotline-signature"),
        body,
    });
    StatusCode::NO_CONTENT
}

/// A port nothing listens on (yet): bound, then released.
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().unwrap()
}

/// Starts the receiver on `addr`; the task ends when the returned sender is dropped.
async fn start_receiver(addr: SocketAddr, inbox: Shared) -> tokio::sync::oneshot::Sender<()> {
    let app = Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(inbox);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the receiver's port is free again");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

/// Fast retries so the test runs in milliseconds; the schedule itself is unit-tested.
fn fast(max_attempts: u32) -> WorkerOptions {
    WorkerOptions {
        timeout: Duration::from_secs(5),
        policy: RetryPolicy {
            first: Duration::from_millis(20),
            max: Duration::from_millis(100),
            max_attempts,
            give_up_after: Duration::from_secs(3600),
        },
        poll: Duration::from_millis(10),
        batch: 8,
        ..WorkerOptions::default()
    }
}

/// Polls `check` every 20 ms for up to 30 s.
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn api(
    router: &Router,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, v)
}

/// A call through the call-record writer's store path: arrived, answered, ended.
/// A call's events: arrived, answered, ended.
fn call_events(id: &str, at: i64) -> Vec<CallEvent> {
    let ev = |seq, at, kind| CallEvent {
        call_id: id.into(),
        seq,
        at,
        kind,
    };
    vec![
        ev(
            0,
            at,
            CallEventKind::Arrived {
                direction: Direction::Inbound,
                ani: "+4930123456".into(),
                dnis: "100".into(),
            },
        ),
        ev(
            1,
            at + 1000,
            CallEventKind::Answered {
                agent_id: "alice".into(),
            },
        ),
        ev(
            2,
            at + 60_000,
            CallEventKind::Ended {
                reason: "caller hung up".into(),
                abandoned: false,
            },
        ),
    ]
}

/// A call stored in one batch.
async fn call(store: &Store, id: &str, at: i64) {
    let refused = store
        .record_call_events(&call_events(id, at))
        .await
        .unwrap();
    assert!(refused.is_empty());
}

/// Calls through the switch's call-record writer (batches, group commit), drained.
async fn calls_through_the_writer(store: &Store, ids: &[&str], at: i64) {
    let (writer, task) = CdrWriter::spawn(store.clone());
    for (i, id) in ids.iter().enumerate() {
        for ev in call_events(id, at + i as i64 * 10) {
            writer.write(ev);
        }
    }
    drop(writer);
    let report = task.await.expect("writer task");
    assert_eq!(
        (report.written, report.refused, report.abandoned),
        (3 * ids.len() as u64, 0, 0)
    );
}

async fn outcome(store: &Store, call: &str, at: i64) {
    store
        .write_outcome(&Outcome {
            call_id: call.into(),
            agent_id: "alice".into(),
            disposition: "sold".into(),
            notes: "aisle seat".into(),
            wrapup_ms: 3000,
            ticket_id: None,
            at,
        })
        .await
        .unwrap();
}

async fn approved_payment(store: &Store, call: &str, at: i64) {
    let mut p = Payment {
        idempotency_key: format!("{call}:PNR:1"),
        booking_id: None,
        customer_id: None,
        call_id: Some(call.into()),
        amount_minor: 4200,
        currency: "EUR".into(),
        status: "pending".into(),
        decline_reason: None,
        gateway: "sandbox".into(),
        gateway_ref: None,
        card_token: None,
        card_brand: None,
        card_last4: None,
        reference: None,
        at,
    };
    store.record_payment(&p).await.unwrap();
    p.status = "approved".into();
    p.card_token = Some("tok_sbx_secret".into());
    p.card_last4 = Some("4242".into());
    p.card_brand = Some("visa".into());
    store.record_payment(&p).await.unwrap();
}

/// Checks a `Hotline-Signature` with the secret, as a receiver would.
fn verify(secret: &str, header: &str, body: &[u8]) {
    let (t, v1) = header
        .split_once(",v1=")
        .unwrap_or_else(|| panic!("signature {header:?}"));
    let t = t.strip_prefix("t=").expect("t=");
    assert!(t.parse::<i64>().is_ok(), "t is unix seconds: {t}");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, want, "signature does not verify");
}

async fn delivered_down_then_up(db: Db) {
    let store = db.open().await;
    store
        .upsert_disposition(&Disposition {
            code: "sold".into(),
            label: "Sold".into(),
            resolved: true,
        })
        .await
        .unwrap();
    let admin = tokens::issue(&store, "ops", ApiRole::Admin, "cli")
        .await
        .unwrap()
        .secret;
    let supervisor = tokens::issue(&store, "lead", ApiRole::Supervisor, "cli")
        .await
        .unwrap()
        .secret;
    let api_router = router(ApiState::new(store.clone(), RateLimit::default()));

    let addr = free_port();
    let url = format!("http://{addr}/hooks");
    // Refusals: the wrong role, an https URL, no kinds, an unknown kind.
    let (st, _) = api(
        &api_router,
        Method::POST,
        "/api/v1/webhooks",
        &supervisor,
        Some(json!({ "url": url, "kinds": ["call.ended"] })),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (body, field) in [
        (
            json!({ "url": "ftp://crm.example/h", "kinds": ["call.ended"] }),
            "url",
        ),
        (json!({ "url": url, "kinds": [] }), "kinds"),
    ] {
        let (st, problem) = api(
            &api_router,
            Method::POST,
            "/api/v1/webhooks",
            &admin,
            Some(body),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (st, _) = api(
        &api_router,
        Method::POST,
        "/api/v1/webhooks",
        &admin,
        Some(json!({ "url": url, "kinds": ["call.started"] })),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, created) = api(
        &api_router,
        Method::POST,
        "/api/v1/webhooks",
        &admin,
        Some(json!({ "url": url, "kinds": ["call.ended", "outcome.written", "ticket.created", "ticket.updated", "payment.approved"] })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    let hook = created["webhook"]["id"].as_i64().unwrap();
    let (_, listed) = api(&api_router, Method::GET, "/api/v1/webhooks", &admin, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );

    // Events: three calls (one with a payment), their outcomes, a ticket created and changed.
    calls_through_the_writer(&store, &["c1", "c2", "c3"], t0()).await;
    approved_payment(&store, "c1", t0() + 70_000).await;
    for id in ["c1", "c2", "c3"] {
        outcome(&store, id, t0() + 80_000).await;
    }
    let (st, ticket) = api(
        &api_router,
        Method::POST,
        "/api/v1/tickets",
        &admin,
        Some(json!({ "subject": "Refund", "body": "late flight" })),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{ticket}");
    let tid = ticket["ticket"]["id"]
        .as_i64()
        .unwrap_or_else(|| ticket["id"].as_i64().unwrap());
    let (st, _) = api(
        &api_router,
        Method::PATCH,
        &format!("/api/v1/tickets/{tid}"),
        &admin,
        Some(json!({ "status": "solved" })),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let expected = 3 + 1 + 3 + 2;
    assert_eq!(
        store.webhook_delivery_counts().await.unwrap(),
        (expected, 0, 0)
    );

    // The worker runs against a receiver that is down: attempts fail and are rescheduled.
    let inbox: Shared = Arc::new(Mutex::new(Inbox {
        fail_first_of: Some("call/c2".into()),
        ..Default::default()
    }));
    let worker = Worker::spawn(store.clone(), fast(1000));
    wait_for("failed attempts while the receiver is down", || async {
        let log = store.webhook_deliveries(hook, None, 100).await.unwrap();
        log.iter().filter(|d| d.attempts >= 2).count() >= 3
    })
    .await;
    let log = store.webhook_deliveries(hook, None, 100).await.unwrap();
    assert!(log.iter().all(|d| d.state == DeliveryState::Pending));
    assert!(
        log.iter()
            .filter_map(|d| d.last_error.as_deref())
            .any(|e| e.contains("cannot connect")),
        "{log:?}"
    );
    // Only the first of each subject is ever tried while it is pending.
    assert!(
        log.iter()
            .filter(|d| d.sequence > 1)
            .all(|d| d.attempts == 0),
        "{log:?}"
    );

    // The receiver comes back.
    let stop_receiver = start_receiver(addr, inbox.clone()).await;
    wait_for("every delivery delivered", || async {
        store.webhook_delivery_counts().await.unwrap() == (0, expected, 0)
    })
    .await;
    worker.stop().await;
    drop(stop_receiver);

    let accepted = inbox.lock().unwrap().accepted.clone();
    let log = store.webhook_deliveries(hook, None, 100).await.unwrap();
    // Exactly once per delivery id, and every delivery.
    let mut ids: Vec<String> = accepted.iter().map(|r| r.delivery.clone()).collect();
    ids.sort();
    let mut want: Vec<String> = log.iter().map(|d| d.id.to_string()).collect();
    want.sort();
    assert_eq!(ids, want);
    // The 500 was retried.
    let c2 = log
        .iter()
        .find(|d| d.subject == "call/c2" && d.sequence == 1)
        .unwrap();
    assert!(c2.attempts >= 2, "{c2:?}");
    // In order per subject; signatures verify; bodies carry their id and no card data.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for r in &accepted {
        verify(&secret, &r.signature, &r.body);
        let text = String::from_utf8_lossy(&r.body);
        assert!(
            !text.contains("tok_sbx") && !text.contains("4242"),
            "{text}"
        );
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["id"].to_string(), r.delivery);
        let subject = b["subject"].as_str().unwrap().to_string();
        let seq = b["sequence"].as_i64().unwrap();
        let prev = last.insert(subject.clone(), seq).unwrap_or(0);
        assert_eq!(seq, prev + 1, "{subject}: {seq} after {prev}");
        *kinds
            .entry(b["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(last["call/c1"], 3); // ended, payment, outcome
    assert_eq!(kinds["call.ended"], 3);
    assert_eq!(kinds["payment.approved"], 1);
    assert_eq!(kinds["outcome.written"], 3);
    assert_eq!(kinds["ticket.created"], 1);
    assert_eq!(kinds["ticket.updated"], 1);
    let ended = accepted
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .find(|b| b["kind"] == "call.ended" && b["subject"] == "call/c1")
        .unwrap();
    assert_eq!(ended["data"]["agent_id"], "alice");
    assert_eq!(ended["data"]["ended_at"], t0() + 60_000);

    // The delivery log through the API, a page at a time, and the delete.
    let (st, page) = api(
        &api_router,
        Method::GET,
        &format!("/api/v1/webhooks/{hook}/deliveries?limit=5"),
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert_eq!(page["items"][0]["state"], "delivered");
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = api(
        &api_router,
        Method::GET,
        &format!("/api/v1/webhooks/{hook}/deliveries?limit=50&cursor={cursor}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len() as i64, expected - 5);
    assert!(rest.get("next_cursor").is_none());
    let (st, _) = api(
        &api_router,
        Method::GET,
        "/api/v1/webhooks/999/deliveries",
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, gone) = api(
        &api_router,
        Method::DELETE,
        &format!("/api/v1/webhooks/{hook}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(gone["active"], false);
    let actions: Vec<(String, bool)> = store
        .audit_entries(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action.starts_with("api.webhook"))
        .map(|a| (a.action, a.allowed))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("api.webhook.create".to_string(), false),
            ("api.webhook.create".to_string(), true),
            ("api.webhook.delete".to_string(), true),
        ]
    );
    store.close().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_once_in_order_after_the_receiver_comes_back_sqlite() {
    delivered_down_then_up(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_once_in_order_after_the_receiver_comes_back_postgres() {
    if let Some(db) = Db::postgres().await {
        delivered_down_then_up(db).await;
    }
}

async fn subscribe(store: &Store, url: &str) -> (i64, String) {
    let secret = "whsec_restart_test_secret".to_string();
    let w = store
        .create_webhook(
            &hotline_store::NewWebhook {
                url: url.into(),
                kinds: vec![hotline_store::EventKind::CallEnded],
                secret: secret.clone(),
                created_by: "test".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    (w.id, secret)
}

async fn pending_survive_a_worker_restart(db: Db) {
    let store = db.open().await;
    let addr = free_port();
    let (hook, secret) = subscribe(&store, &format!("http://{addr}/hooks")).await;
    for i in 0..4 {
        call(&store, &format!("r{i}"), t0() + i).await;
    }
    let worker = Worker::spawn(store.clone(), fast(1000));
    wait_for("every delivery tried once", || async {
        let log = store.webhook_deliveries(hook, None, 100).await.unwrap();
        log.len() == 4 && log.iter().all(|d| d.attempts >= 1)
    })
    .await;
    worker.stop().await;
    store.close().await;
    assert_eq!(
        db.open().await.webhook_delivery_counts().await.unwrap(),
        (4, 0, 0)
    );

    // A new process: its own pool on the same database, a new worker, the receiver up.
    let inbox: Shared = Arc::new(Mutex::new(Inbox::default()));
    let _receiver = start_receiver(addr, inbox.clone()).await;
    let store2 = db.open().await;
    let worker2 = Worker::spawn(store2.clone(), fast(1000));
    wait_for("the new worker delivered everything", || async {
        store2.webhook_delivery_counts().await.unwrap() == (0, 4, 0)
    })
    .await;
    worker2.stop().await;
    let accepted = inbox.lock().unwrap().accepted.clone();
    assert_eq!(accepted.len(), 4);
    let ids: HashSet<&str> = accepted.iter().map(|r| r.delivery.as_str()).collect();
    assert_eq!(ids.len(), 4);
    for r in &accepted {
        verify(&secret, &r.signature, &r.body);
    }
    store2.close().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_survive_a_worker_restart_sqlite() {
    pending_survive_a_worker_restart(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_deliveries_survive_a_worker_restart_postgres() {
    if let Some(db) = Db::postgres().await {
        pending_survive_a_worker_restart(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_gets_the_delivery_failed_after_max_attempts() {
    let db = Db::sqlite().await;
    let store = db.open().await;
    let addr = free_port();
    let (hook, _) = subscribe(&store, &format!("http://{addr}/hooks")).await;
    call(&store, "lost", t0()).await;
    call(&store, "lost-too", t0()).await;
    let worker = Worker::spawn(store.clone(), fast(3));
    wait_for("both deliveries failed", || async {
        store.webhook_delivery_counts().await.unwrap() == (0, 0, 2)
    })
    .await;
    worker.stop().await;
    for d in store.webhook_deliveries(hook, None, 10).await.unwrap() {
        assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 3), "{d:?}");
        let e = d.last_error.unwrap();
        assert!(
            e.contains("cannot connect") && e.contains("3 attempts"),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_receivers_get_deliveries_only_with_a_trusted_certificate() {
    let db = Db::sqlite().await;
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("tmp");
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let (crt, pem) = (dir.path().join("r.crt"), dir.path().join("r.key"));
    std::fs::write(&crt, key.cert.pem()).expect("crt");
    std::fs::write(&pem, key.signing_key.serialize_pem()).expect("key");
    let acceptor = hotline_switch::cti::tls::acceptor(&crt, &pem).expect("acceptor");
    let inbox: Shared = Arc::new(Mutex::new(Inbox::default()));
    let app = Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = hotline_switch::http::ServeLimits::from_config(&Default::default());
    let stats = hotline_switch::netlimits::Listener::new("hooks", limits.connections);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hotline_switch::http::serve(
        listener,
        app,
        Some(acceptor),
        limits,
        stats,
        async {
            let _ = stopped.await;
        },
    ));

    let (hook, secret) = subscribe(&store, &format!("https://localhost:{port}/hooks")).await;
    call(&store, "tls", t0()).await;
    // The public roots do not include a self-signed certificate: refused at the handshake.
    let worker = Worker::spawn(store.clone(), fast(1000));
    wait_for("a refused handshake", || async {
        let log = store.webhook_deliveries(hook, None, 10).await.unwrap();
        log.iter().any(|d| {
            d.last_error
                .as_deref()
                .is_some_and(|e| e.contains("TLS handshake"))
        })
    })
    .await;
    worker.stop().await;
    assert!(inbox.lock().unwrap().accepted.is_empty());

    let mut roots = rustls::RootCertStore::empty();
    roots.add(key.cert.der().clone()).expect("root");
    let trusting = WorkerOptions {
        tls: hotline_switch::webhooks::tls_client(roots),
        ..fast(1000)
    };
    let worker = Worker::spawn(store.clone(), trusting);
    wait_for("the delivery over TLS", || async {
        store.webhook_delivery_counts().await.unwrap() == (0, 1, 0)
    })
    .await;
    worker.stop().await;
    let accepted = inbox.lock().unwrap().accepted.clone();
    assert_eq!(accepted.len(), 1);
    verify(&secret, &accepted[0].signature, &accepted[0].body);
    let _ = stop.send(());
    let _ = server.await;
}
