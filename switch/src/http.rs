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
        let _ = writeln!(
            out,
            "# HELP hotline_cti_rate_limited_total CTI commands refused as rate_limited.\n# TYPE hotline_cti_rate_limited_total counter\nhotline_cti_rate_limited_total {}",
            cti.rate_limited.load(Ordering::Relaxed)
        );
    }
    crate::netlimits::write_metrics(&mut out, &s.listeners);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
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
