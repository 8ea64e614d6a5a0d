//! The switch's HTTP server: `/health` for load balancers and `/metrics` for Prometheus, and
//! the accept loop that serves the routes (these and `/cti`) on the plain and the TLS listener.
//!
//! The accept loop is ours rather than `axum::serve`, so that it can bound what a client may
//! hold, the way nginx does (`limit_conn`, `client_header_timeout`, `send_timeout`): connections
//! per listener in total and per source IP ([`crate::netlimits`]), a header time-out (hyper's
//! `header_read_timeout`, which also runs while a kept-alive connection waits for its next
//! request), an idle time-out while a request is read or answered, and the TLS handshake
//! time-out. An upgraded connection (the CTI WebSocket) keeps its place until it closes; its
//! liveness is the CTI heartbeat's business.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hotline_store::Store;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::HttpLimitsConfig;
use crate::netlimits::{AcceptBackoff, Closed, Limits, Listener, Permit};

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
    /// Call control's counters (calls refused over a per-source quota), when it runs.
    pub calls: Option<Arc<crate::calls::CallCounters>>,
    /// The call-record queue, when call control runs.
    pub call_records: Option<crate::calls::cdr::CdrWatch>,
    /// The media engine (sessions, RTP refused from strange sources), when media is anchored.
    pub media: Option<hotline_media::MediaEngine>,
    /// The stream listeners whose connections `/metrics` shows (HTTP, TLS, SIP over TCP).
    pub listeners: Vec<Arc<Listener>>,
    /// Routing (queues and agents for `/metrics`), when it runs.
    pub routing: Option<crate::routing::RoutingHandle>,
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

/// One unlabelled series in the Prometheus text format.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: String) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
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
    metric(
        &mut out,
        "hotline_uptime_seconds",
        "gauge",
        "Seconds since the switch started.",
        format!("{:.3}", s.started.elapsed().as_secs_f64()),
    );
    metric(
        &mut out,
        "hotline_database_up",
        "gauge",
        "1 when the database answered the last probe.",
        u8::from(db_up).to_string(),
    );
    metric(
        &mut out,
        "hotline_http_requests_total",
        "counter",
        "HTTP requests served.",
        m.http_requests.load(Ordering::Relaxed).to_string(),
    );
    metric(
        &mut out,
        "hotline_health_failures_total",
        "counter",
        "Health checks that found the database unavailable.",
        m.health_failures.load(Ordering::Relaxed).to_string(),
    );
    metric(
        &mut out,
        "hotline_database_errors_total",
        "counter",
        "Failed database probes.",
        m.db_errors.load(Ordering::Relaxed).to_string(),
    );
    if let Some(a) = &s.sip_auth {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        metric(
            &mut out,
            "hotline_sip_auth_failures_total",
            "counter",
            "Failed SIP digest authentications (wrong password, unknown user, foreign nonce, wrong uri).",
            get(&a.failures),
        );
        metric(
            &mut out,
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
    if let Some(c) = &s.calls {
        metric(
            &mut out,
            "hotline_calls_refused_over_quota_total",
            "counter",
            "New calls refused with 503 because their source, extension or trunk had too many calls.",
            c.refused_over_quota().to_string(),
        );
        write_call_metrics(&mut out, c);
        write_sip_metrics(&mut out, c);
        write_quality_metrics(&mut out, &c.quality());
    }
    if let Some(r) = &s.routing
        && let Ok(Ok(board)) = tokio::time::timeout(Duration::from_secs(1), r.board()).await
    {
        write_routing_metrics(&mut out, &board);
    }
    if let Some(w) = &s.call_records {
        metric(
            &mut out,
            "hotline_call_record_queue_events",
            "gauge",
            "Call-record events waiting to be written to the database.",
            w.backlog().to_string(),
        );
        metric(
            &mut out,
            "hotline_call_record_events_dropped_total",
            "counter",
            "Call-record events dropped because the writer's bounded queue was full (database away too long).",
            w.dropped().to_string(),
        );
        metric(
            &mut out,
            "hotline_call_record_events_written_total",
            "counter",
            "Call-record events written to the database (or found already written).",
            w.written().to_string(),
        );
        metric(
            &mut out,
            "hotline_call_record_batches_total",
            "counter",
            "Call-record batches written, one transaction each (events written / batches = mean batch size).",
            w.batches().to_string(),
        );
    }
    if let Some(m) = s.media.as_ref().map(hotline_media::MediaEngine::metrics) {
        metric(
            &mut out,
            "hotline_rtp_packets_rejected_total",
            "counter",
            "RTP and RTCP packets dropped because they came from neither the far end's SDP address, its signalling address nor a trunk media network.",
            m.rtp_packets_rejected.to_string(),
        );
        metric(
            &mut out,
            "hotline_rtp_packets_withheld_total",
            "counter",
            "RTP packets not sent because the far end's SDP address was unrelated to its signalling source and it had not sent an admitted packet yet.",
            m.rtp_packets_withheld.to_string(),
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
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        metric(
            &mut out,
            "hotline_cti_connections_open",
            "gauge",
            "CTI WebSocket connections open now.",
            get(&cti.open),
        );
        metric(
            &mut out,
            "hotline_cti_connections_total",
            "counter",
            "CTI WebSocket connections accepted.",
            get(&cti.connections),
        );
        metric(
            &mut out,
            "hotline_cti_logins_total",
            "counter",
            "Successful CTI logins (desktops signed in).",
            get(&cti.logins),
        );
        metric(
            &mut out,
            "hotline_cti_login_failures_total",
            "counter",
            "Failed CTI logins (wrong agent id or password, locked out).",
            get(&cti.login_failures),
        );
        metric(
            &mut out,
            "hotline_cti_login_timeouts_total",
            "counter",
            "CTI connections closed because they did not log in in time.",
            get(&cti.login_timeouts),
        );
        metric(
            &mut out,
            "hotline_cti_refusals_total",
            "counter",
            "CTI commands refused for the session's role (audited).",
            get(&cti.refusals),
        );
        let _ = writeln!(
            out,
            "# HELP hotline_cti_rate_limited_total CTI commands refused as rate_limited.\n# TYPE hotline_cti_rate_limited_total counter\nhotline_cti_rate_limited_total {}",
            cti.rate_limited.load(Ordering::Relaxed)
        );
    }
    crate::netlimits::write_metrics(&mut out, &s.listeners);
    write_process_metrics(&mut out);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
}

/// Calls started, active and ended by direction and outcome (labels from fixed sets only).
fn write_call_metrics(out: &mut String, c: &hotline_calls::CallCounters) {
    use hotline_calls::CallOutcome;
    use hotline_calls::counters::DIRECTIONS;
    let _ = writeln!(
        out,
        "# HELP hotline_calls_started_total Calls started, by direction.\n# TYPE hotline_calls_started_total counter"
    );
    for d in DIRECTIONS {
        let _ = writeln!(
            out,
            "hotline_calls_started_total{{direction=\"{}\"}} {}",
            d.as_str(),
            c.started(d)
        );
    }
    let _ = writeln!(
        out,
        "# HELP hotline_calls_active Calls in progress, by direction.\n# TYPE hotline_calls_active gauge"
    );
    for d in DIRECTIONS {
        let _ = writeln!(
            out,
            "hotline_calls_active{{direction=\"{}\"}} {}",
            d.as_str(),
            c.active(d)
        );
    }
    let _ = writeln!(
        out,
        "# HELP hotline_calls_ended_total Calls ended, by direction and outcome (answered, abandoned by the caller before an answer, unanswered for another reason).\n# TYPE hotline_calls_ended_total counter"
    );
    for d in DIRECTIONS {
        for o in CallOutcome::ALL {
            let _ = writeln!(
                out,
                "hotline_calls_ended_total{{direction=\"{}\",outcome=\"{}\"}} {}",
                d.as_str(),
                o.as_str(),
                c.ended(d, o)
            );
        }
    }
}

/// The standard `process_*` series (Linux `/proc`): CPU time, resident memory, open and
/// allowed file descriptors. Missing files leave the series out.
fn write_process_metrics(out: &mut String) {
    // utime and stime are fields 14 and 15 of /proc/self/stat, counted after the command
    // name's closing parenthesis (the name may hold spaces).
    let ticks = 100.0; // USER_HZ on Linux
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let f: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(u), Some(sy)) = (
            f.get(11).and_then(|v| v.parse::<f64>().ok()),
            f.get(12).and_then(|v| v.parse::<f64>().ok()),
        ) {
            metric(
                out,
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent in seconds.",
                format!("{:.2}", (u + sy) / ticks),
            );
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    {
        metric(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            (kb * 1024).to_string(),
        );
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        metric(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count().to_string(),
        );
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
        && let Some(max) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<u64>().ok())
    {
        metric(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max.to_string(),
        );
    }
}

/// Media quality of the legs that ended (anchored media only), as histograms.
fn write_quality_metrics(out: &mut String, q: &hotline_calls::counters::QualityHistograms) {
    for (name, help, h) in [
        (
            "hotline_media_leg_mos",
            "Estimated MOS of what the switch received from each leg, observed when the leg's media ends.",
            &q.mos,
        ),
        (
            "hotline_media_leg_jitter_seconds",
            "RFC 3550 interarrival jitter of each leg at its end.",
            &q.jitter_seconds,
        ),
        (
            "hotline_media_leg_loss_ratio",
            "Packets lost / expected from each leg over its life.",
            &q.loss_ratio,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, n) in h.cumulative() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count());
        let _ = writeln!(out, "{name}_sum {}", h.sum);
        let _ = writeln!(out, "{name}_count {}", h.count());
    }
}

/// SIP requests by method, responses by class (both directions), retransmissions, garbage
/// and live transactions, as call control's endpoint counted them (at most 1 s old).
fn write_sip_metrics(out: &mut String, c: &hotline_calls::CallCounters) {
    use hotline_sip::Stats;
    let (st, transactions) = c.sip();
    let classes = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];
    let _ = writeln!(
        out,
        "# HELP hotline_sip_requests_total SIP requests by direction (received, sent) and method; retransmissions we send are not new requests.\n# TYPE hotline_sip_requests_total counter"
    );
    for (dir, counts) in [
        ("received", st.requests_received),
        ("sent", st.requests_sent),
    ] {
        for (method, n) in Stats::METHODS.iter().zip(counts) {
            let _ = writeln!(
                out,
                "hotline_sip_requests_total{{direction=\"{dir}\",method=\"{method}\"}} {n}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP hotline_sip_responses_total SIP responses by direction (received, sent) and class.\n# TYPE hotline_sip_responses_total counter"
    );
    for (dir, counts) in [
        ("received", st.responses_received),
        ("sent", st.responses_sent),
    ] {
        for (class, n) in classes.iter().zip(counts) {
            let _ = writeln!(
                out,
                "hotline_sip_responses_total{{direction=\"{dir}\",class=\"{class}\"}} {n}"
            );
        }
    }
    metric(
        out,
        "hotline_sip_retransmissions_total",
        "counter",
        "SIP retransmissions we sent (requests, responses, ACKs).",
        st.retransmissions.to_string(),
    );
    metric(
        out,
        "hotline_sip_retransmissions_absorbed_total",
        "counter",
        "Retransmitted SIP messages received and absorbed by their transaction.",
        st.absorbed.to_string(),
    );
    metric(
        out,
        "hotline_sip_parse_errors_total",
        "counter",
        "SIP messages that did not parse or validate.",
        st.parse_errors.to_string(),
    );
    metric(
        out,
        "hotline_sip_stray_responses_total",
        "counter",
        "SIP responses that matched no transaction.",
        st.stray_responses.to_string(),
    );
    metric(
        out,
        "hotline_sip_transactions",
        "gauge",
        "SIP transactions alive now.",
        transactions.to_string(),
    );
}

/// Per queue waiting calls, longest wait, today's figures and agents by state; agents by
/// state over the centre. Queue names come from configuration; no agent is a label.
fn write_routing_metrics(out: &mut String, b: &crate::routing::Board) {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let per_queue =
        |out: &mut String, name: &str, value: &dyn Fn(&crate::routing::QueueBoard) -> String| {
            for q in &b.queues {
                let _ = writeln!(
                    out,
                    "{name}{{queue={}}} {}",
                    json_str(q.queue.as_str()),
                    value(q)
                );
            }
        };
    family(
        out,
        "hotline_queue_calls_waiting",
        "gauge",
        "Calls and callback requests waiting in the queue (not ringing an agent).",
    );
    per_queue(out, "hotline_queue_calls_waiting", &|q| {
        q.stats.waiting.to_string()
    });
    family(
        out,
        "hotline_queue_callbacks_waiting",
        "gauge",
        "Callback requests waiting in the queue.",
    );
    per_queue(out, "hotline_queue_callbacks_waiting", &|q| {
        q.stats.callbacks.to_string()
    });
    family(
        out,
        "hotline_queue_longest_wait_seconds",
        "gauge",
        "The longest wait among the calls waiting now.",
    );
    per_queue(out, "hotline_queue_longest_wait_seconds", &|q| {
        format!("{:.3}", q.longest_wait.as_secs_f64())
    });
    family(
        out,
        "hotline_queue_offered_today",
        "gauge",
        "Calls offered to the queue since the start of the UTC day.",
    );
    per_queue(out, "hotline_queue_offered_today", &|q| {
        q.offered.to_string()
    });
    family(
        out,
        "hotline_queue_answered_today",
        "gauge",
        "Calls of the queue answered by an agent since the start of the UTC day.",
    );
    per_queue(out, "hotline_queue_answered_today", &|q| {
        q.answered.to_string()
    });
    family(
        out,
        "hotline_queue_abandoned_today",
        "gauge",
        "Callers who left the queue before an answer since the start of the UTC day.",
    );
    per_queue(out, "hotline_queue_abandoned_today", &|q| {
        q.abandoned.to_string()
    });
    family(
        out,
        "hotline_queue_service_level_ratio",
        "gauge",
        "Answered within the queue's threshold / (answered + abandoned) since the start of the UTC day; 1 when nothing ended yet.",
    );
    per_queue(out, "hotline_queue_service_level_ratio", &|q| {
        format!("{:.3}", f64::from(q.service_level_permille()) / 1000.0)
    });
    family(
        out,
        "hotline_queue_estimated_wait_seconds",
        "gauge",
        "Estimated wait for a normal-priority call arriving now (absent when no agent can serve the queue).",
    );
    for q in &b.queues {
        if let Some(w) = q.stats.estimated_wait_new {
            let _ = writeln!(
                out,
                "hotline_queue_estimated_wait_seconds{{queue={}}} {:.3}",
                json_str(q.queue.as_str()),
                w.as_secs_f64()
            );
        }
    }
    family(
        out,
        "hotline_queue_agents",
        "gauge",
        "Agents qualifying for the queue, by state (ready, busy, wrap_up, not_ready).",
    );
    for q in &b.queues {
        for (state, n) in [
            ("ready", q.ready),
            ("busy", q.busy),
            ("wrap_up", q.wrap_up),
            ("not_ready", q.not_ready),
        ] {
            let _ = writeln!(
                out,
                "hotline_queue_agents{{queue={},state=\"{state}\"}} {n}",
                json_str(q.queue.as_str())
            );
        }
    }
    family(out, "hotline_agents", "gauge", "Logged-in agents by state.");
    let states = [
        "ready",
        "not_ready",
        "reserved",
        "on_call",
        "on_hold",
        "consulting",
        "wrap_up",
    ];
    for state in states {
        let n = b
            .agents
            .iter()
            .filter(|a| crate::routing::state_name(&a.state).0 == state)
            .count();
        let _ = writeln!(out, "hotline_agents{{state=\"{state}\"}} {n}");
    }
}

/// Limits of an HTTP listener (`[connections.http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub connections: Limits,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
}

impl ServeLimits {
    pub fn from_config(c: &HttpLimitsConfig) -> ServeLimits {
        ServeLimits {
            connections: Limits {
                max_total: c.max_connections,
                max_per_ip: c.max_connections_per_ip,
            },
            header_timeout: Duration::from_secs(c.header_timeout_secs),
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
            tls_handshake_timeout: Duration::from_secs(c.tls_handshake_timeout_secs),
        }
    }
}

/// How long connections get to finish after `stop`, before they are dropped.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` (over TLS with `tls`) until `stop` resolves, then lets open
/// connections finish their request (at most [`DRAIN`]). `stats` counts and limits the
/// listener's connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: ServeLimits,
    stats: Arc<Listener>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let (stopping, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    let pause = stats.accept_failed(&mut backoff, &e);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            () = &mut stop => break,
        };
        backoff.succeeded();
        let Ok(permit) = stats.admit(peer.ip()) else {
            continue; // dropping the stream closes it
        };
        let _ = tcp.set_nodelay(true);
        let conn = Conn {
            peer,
            router: router.clone(),
            limits,
            stats: stats.clone(),
            stop: stop_rx.clone(),
        };
        match tls.clone() {
            None => conns.spawn(conn.serve(tcp, permit)),
            Some(acceptor) => conns.spawn(conn.serve_tls(acceptor, tcp, permit)),
        };
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!(
            listener = stats.name,
            left = conns.len(),
            "connections still open after the drain: closed"
        );
        conns.abort_all();
    }
}

/// One accepted connection and what it needs to be served.
struct Conn {
    peer: SocketAddr,
    router: Router,
    limits: ServeLimits,
    stats: Arc<Listener>,
    stop: watch::Receiver<bool>,
}

impl Conn {
    async fn serve_tls(self, acceptor: TlsAcceptor, tcp: tokio::net::TcpStream, permit: Permit) {
        let peer = self.peer;
        let handshake = acceptor.accept(tcp);
        match tokio::time::timeout(self.limits.tls_handshake_timeout, handshake).await {
            Ok(Ok(tls)) => self.serve(tls, permit).await,
            Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => {
                self.stats.closed(Closed::TimedOut);
                tracing::info!(%peer, "TLS handshake timed out");
            }
        }
    }

    /// Serves HTTP/1.1 (with upgrades) on `io` until the client closes, a time-out closes it,
    /// or the listener stops.
    async fn serve<IO>(mut self, io: IO, permit: Permit)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let io = Watched::new(io, permit);
        let activity = io.activity.clone();
        let service = TowerToHyperService::new(
            self.router
                .layer(axum::Extension(ConnectInfo::<SocketAddr>(peer))),
        );
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let mut phase = Phase::Serving;
        loop {
            let idle_until = activity.last() + self.limits.idle_timeout;
            tokio::select! {
                ended = conn.as_mut() => {
                    match ended {
                        Ok(()) => {}
                        Err(e) if e.is_timeout() => {
                            self.stats.closed(Closed::TimedOut);
                            tracing::debug!(%peer, "HTTP header time-out: closed");
                        }
                        Err(e) => tracing::debug!(%peer, error = %e, "HTTP connection ended with an error"),
                    }
                    break;
                }
                () = tokio::time::sleep_until(idle_until.into()) => {
                    if Instant::now() >= activity.last() + self.limits.idle_timeout {
                        self.stats.closed(Closed::TimedOut);
                        tracing::debug!(%peer, "HTTP connection idle: closed");
                        break;
                    }
                }
                changed = self.stop.changed(), if phase == Phase::Serving => {
                    // Stop (or the listener is gone): finish the request in flight, then close.
                    let _ = changed;
                    phase = Phase::Draining;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Whether a connection still takes new requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// The listener stops: the request in flight is finished, then the connection closes.
    Draining,
}

/// When a connection last moved a byte, in milliseconds since it was accepted.
#[derive(Debug)]
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A connection's stream that records its activity and holds its place on the listener for
/// as long as it exists (through an upgrade too).
struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
    _permit: Permit,
}

impl<IO> Watched<IO> {
    fn new(io: IO, permit: Permit) -> Watched<IO> {
        Watched {
            io,
            activity: Arc::new(Activity {
                start: Instant::now(),
                last_ms: AtomicU64::new(0),
            }),
            _permit: permit,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
