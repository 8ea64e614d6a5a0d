//! The switch's HTTP server: `/health` for load balancers and `/metrics` for Prometheus.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hotline_store::Store;

/// Counters and gauges exported on `/metrics`. Cheap atomics: hot paths only increment.
#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub health_failures: AtomicU64,
    pub db_errors: AtomicU64,
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    pub node: String,
    /// The SIP digest gate's counters, when call control runs.
    pub sip_auth: Option<Arc<crate::sip::registrar::AuthMetrics>>,
    /// The CTI server's counters, when it runs.
    pub cti: Option<Arc<crate::cti::CtiMetrics>>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn health(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let db = tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await;
    match db {
        Ok(Ok(())) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                r#"{{"status":"ok","node":{},"database":"ok"}}"#,
                json_str(&s.node)
            ),
        ),
        other => {
            s.metrics.health_failures.fetch_add(1, Ordering::Relaxed);
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_string(),
            };
            tracing::warn!(error = %why, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                format!(
                    r#"{{"status":"degraded","node":{},"database":{}}}"#,
                    json_str(&s.node),
                    json_str(&why)
                ),
            )
        }
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    let db_up = matches!(
        tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await,
        Ok(Ok(()))
    );
    if !db_up {
        s.metrics.db_errors.fetch_add(1, Ordering::Relaxed);
    }
    let mut out = String::with_capacity(1024);
    let m = &s.metrics;
    let _ = writeln!(
        out,
        "# HELP hotline_build_info Build information.\n# TYPE hotline_build_info gauge\nhotline_build_info{{version=\"{}\",node={}}} 1",
        env!("CARGO_PKG_VERSION"),
        json_str(&s.node)
    );
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "hotline_uptime_seconds",
        "gauge",
        "Seconds since the switch started.",
        format!("{:.3}", s.started.elapsed().as_secs_f64()),
    );
    metric(
        "hotline_database_up",
        "gauge",
        "1 when the database answered the last probe.",
        u8::from(db_up).to_string(),
    );
    metric(
        "hotline_http_requests_total",
        "counter",
        "HTTP requests served.",
        m.http_requests.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "hotline_health_failures_total",
        "counter",
        "Health checks that found the database unavailable.",
        m.health_failures.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "hotline_database_errors_total",
        "counter",
        "Failed database probes.",
        m.db_errors.load(Ordering::Relaxed).to_string(),
    );
    if let Some(a) = &s.sip_auth {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        metric(
            "hotline_sip_auth_failures_total",
            "counter",
            "Failed SIP digest authentications (wrong password, unknown user, foreign nonce, wrong uri).",
            get(&a.failures),
        );
        metric(
            "hotline_sip_auth_replays_total",
            "counter",
            "SIP digest answers refused because their nonce count was already used.",
            get(&a.replays),
        );
        let _ = writeln!(
            out,
            "# HELP hotline_sip_auth_bans_total SIP authentication bans started.\n# TYPE hotline_sip_auth_bans_total counter\nhotline_sip_auth_bans_total{{scope=\"source\"}} {}\nhotline_sip_auth_bans_total{{scope=\"extension\"}} {}",
            get(&a.source_bans),
            get(&a.extension_bans)
        );
        let _ = writeln!(
            out,
            "# HELP hotline_sip_auth_banned SIP sources and extensions banned now.\n# TYPE hotline_sip_auth_banned gauge\nhotline_sip_auth_banned{{scope=\"source\"}} {}\nhotline_sip_auth_banned{{scope=\"extension\"}} {}",
            get(&a.banned_sources),
            get(&a.banned_extensions)
        );
    }
    if let Some(cti) = &s.cti {
        let bans = |name: &str, help: &str, rows: &[(&str, &AtomicU64)]| {
            let mut text = format!("# HELP {name} {help}\n# TYPE {name} counter\n");
            for (kind, v) in rows {
                let _ = writeln!(
                    text,
                    "{name}{{kind=\"{kind}\"}} {}",
                    v.load(Ordering::Relaxed)
                );
            }
            text
        };
        out.push_str(&bans(
            "hotline_cti_login_bans_total",
            "CTI login lock-outs started: a source banned, or an agent id locked for new addresses.",
            &[("source", &cti.source_bans), ("agent", &cti.agent_locks)],
        ));
        let _ = writeln!(
            out,
            "# HELP hotline_cti_rate_limited_total CTI commands refused as rate_limited.\n# TYPE hotline_cti_rate_limited_total counter\nhotline_cti_rate_limited_total {}",
            cti.rate_limited.load(Ordering::Relaxed)
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
}
