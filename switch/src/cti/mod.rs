//! The CTI server: agent desktops connect to `GET /cti` (WebSocket) on the switch's HTTP
//! listener and speak the JSON protocol of `hotline-cti` (docs/cti-protocol.md).
//!
//! # What it does
//!
//! * **Handshake and login.** `hello` first, then `login` (agent id and password, checked with
//!   argon2 against the store on dedicated threads) or `resume_session`, within
//!   `login_timeout` of connecting (nothing else keeps an unauthenticated connection open).
//!   Each attempt is reserved in the [`lockout`] before its password is checked, in the same
//!   step as the lock-out check, so parallel attempts cannot exceed the limit. Repeated
//!   failures lock an agent id against addresses that have not logged in as it recently, and
//!   ban a source address; a log line and `/metrics` say which.
//! * **Abuse limits.** Every command passes the session's token buckets ([`ratelimit`]; the
//!   connection's before a login); over them it is answered `rate_limited` and not executed.
//!   A session token resumes only from the address that logged in; from elsewhere it is
//!   refused like an unknown token, and the session is not touched.
//! * **Sessions** carry a role from the store. Every command is checked with
//!   [`hotline_cti::allowed`]; a refusal is answered `forbidden`, and refusals of supervisor
//!   commands are written to the audit log. Allowed supervisor actions are audit-logged too.
//! * **Events** are numbered per session ([`hotline_cti::EventLog`]); a reconnecting desktop
//!   sends its last seq and gets the missed events, or a snapshot (state, calls, pending screen
//!   pop, wrap-up) when they are no longer remembered.
//! * **Liveness.** A connection silent for `missed_heartbeats x heartbeat_secs` is closed. A lost
//!   connection tells routing `desktop_lost` (the agent becomes not ready "disconnected"; a call
//!   in progress is untouched, the phone carries it) and keeps the session for
//!   `session_linger_secs` so the desktop can resume; after that the agent is logged out.
//! * **Calls.** One dispatcher task turns the bus's [`CallNotice`]s into screen pops
//!   (`call_offered`), `call_changed` and `payment_progress` events for the agent concerned, and
//!   routing's agent state changes into `agent_state_changed` / `wrap_up_started`. Agents' call
//!   commands go to call control as [`CallCommand`]s (with the oneshot reply); state commands go
//!   to routing.
//! * **Supervisors** get a wallboard pushed every `wallboard_interval_ms` (full on subscribe,
//!   then deltas), can force not ready / log out and change skills (routing uses them at once).
//!
//! * **TLS**: with `[cti] tls_cert` and `tls_key` the same routes are also served over rustls on
//!   `tls_listen` (`wss://…/cti`), see [`tls`].
//!
//! Not built: `answer` from the desktop (the bus has no answer action: agents answer on the
//! phone, with auto-answer), and monitor / whisper / barge / take-over (no such call-control
//! operations yet); both are refused with a clear message.
//!
//! # Driving it
//!
//! ```no_run
//! # async fn demo(store: hotline_store::Store, routing: hotline_switch::routing::RoutingHandle,
//! #               bus: hotline_switch::bus::Bus) {
//! use hotline_switch::cti::{CtiServer, CtiSettings};
//! let cti = CtiServer::start(CtiSettings::default(), store, routing, bus);
//! let app: axum::Router = cti.router(); // merge into the HTTP router; serve it with
//!                                       // `into_make_service_with_connect_info::<SocketAddr>()`
//! // ... on shutdown:
//! cti.shutdown();
//! # let _ = app; }
//! ```

mod hub;
pub mod lockout;
pub mod password;
pub mod ratelimit;
pub mod tls;
mod wallboard;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AfterWrapUp, AgentId, AgentProfile, CallId, ClientFrame, Command, CtiError, Disposition,
    ErrorCode, Event, EventLog, Extension, InternalTarget, LogoutReason, MAX_FRAME_BYTES,
    PROTOCOL_VERSION, Phase, Pii, ReasonCode, Reply, ResyncPlan, Role, Secret, ServerFrame,
    SkillLevel, TicketPriority, TicketStatus, TransferTarget, UnixMillis, allowed, decode_client,
    encode_server, negotiate,
};
use hotline_store::{AuditEntry, NewTicket, Outcome, Store, TicketUpdate};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use self::hub::{Conn, Hub, Outgoing, Session};
use self::lockout::{Attempt, BanStarted, Lockout, Refusal};
use self::ratelimit::{CommandClass, CommandLimits, CommandRates, Rate};
use crate::app::now_millis;
use crate::bus::{Bus, CallAction, CallCommand, CallNotice};
use crate::config::CtiConfig;
use crate::routing::{RoutingError, RoutingHandle};

/// Frames queued per connection before the server starts dropping (the desktop then resumes).
const OUT_QUEUE: usize = 1024;
/// Per-connection WebSocket read buffer (frames larger than this still arrive whole).
const READ_BUFFER: usize = 8 * 1024;
/// How long an agent's command waits for call control's answer.
const CALL_CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's settings, from `[cti]`.
#[derive(Debug, Clone)]
pub struct CtiSettings {
    pub heartbeat: Duration,
    /// A connection silent this long is closed.
    pub dead_after: Duration,
    /// The login lock-out's limits ([`lockout`]).
    pub lockout: lockout::Policy,
    /// A connection that has not logged in (or resumed) this long after it opened is closed,
    /// whatever it sends.
    pub login_timeout: Duration,
    /// Command rate limits per session ([`ratelimit`]).
    pub rates: CommandRates,
    pub session_linger: Duration,
    pub event_log_capacity: usize,
    pub wallboard_interval: Duration,
    pub not_ready_reasons: Vec<String>,
    /// Extensions whose phones take the desktop's Answer for sure (`remote_answer = "talk"`):
    /// their agents' profiles say `remote_answer`. (With `"auto"` it depends on the phone's
    /// ringing response; call control refuses Answer with the reason when it cannot.)
    pub remote_answer_extensions: std::collections::HashSet<String>,
}

impl CtiSettings {
    /// The settings of `[cti]`, and which extensions take the desktop's Answer.
    pub fn from_switch_config(cfg: &crate::config::Config) -> Self {
        let mut s = CtiSettings::from_config(&cfg.cti);
        s.remote_answer_extensions = cfg
            .extensions
            .iter()
            .filter(|e| e.remote_answer == hotline_calls::config::RemoteAnswer::Talk)
            .map(|e| e.number.clone())
            .collect();
        s
    }

    pub fn from_config(c: &CtiConfig) -> Self {
        let heartbeat = Duration::from_secs(u64::from(c.heartbeat_secs.max(1)));
        CtiSettings {
            heartbeat,
            dead_after: heartbeat * c.missed_heartbeats.max(1),
            lockout: lockout::Policy {
                per_agent: c.lockout_failures,
                per_source: c.lockout_failures_per_address,
                window: Duration::from_secs(c.lockout_window_secs),
                ban_for: Duration::from_secs(c.lockout_secs),
                trust_for: Duration::from_secs(c.lockout_trust_secs),
            },
            login_timeout: Duration::from_millis(c.login_timeout_ms.max(1)),
            rates: CommandRates {
                general: Rate {
                    per_sec: c.commands_per_sec,
                    burst: c.command_burst,
                },
                state_change: Rate {
                    per_sec: c.state_changes_per_sec,
                    burst: c.state_change_burst,
                },
                help: Rate {
                    per_sec: c.help_requests_per_sec,
                    burst: c.help_request_burst,
                },
            },
            session_linger: Duration::from_secs(c.session_linger_secs),
            event_log_capacity: c.event_log_capacity.max(1),
            wallboard_interval: Duration::from_millis(c.wallboard_interval_ms.clamp(100, 1000)),
            not_ready_reasons: c.not_ready_reasons.clone(),
            remote_answer_extensions: Default::default(),
        }
    }
}

impl Default for CtiSettings {
    fn default() -> Self {
        CtiSettings::from_config(&CtiConfig::default())
    }
}

/// Counters for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct CtiMetrics {
    pub connections: AtomicU64,
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub refusals: AtomicU64,
    /// Source addresses banned after too many failed logins.
    pub source_bans: AtomicU64,
    /// Agent ids locked against strangers after too many failed logins.
    pub agent_locks: AtomicU64,
    /// Commands answered `rate_limited` (not executed).
    pub rate_limited: AtomicU64,
    /// Connections closed because they had not logged in by `login_timeout_ms`.
    pub login_timeouts: AtomicU64,
    /// WebSocket connections open now.
    pub open: AtomicU64,
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection<'a>(&'a AtomicU64);

impl<'a> OpenConnection<'a> {
    fn new(open: &'a AtomicU64) -> OpenConnection<'a> {
        open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(open)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Inner {
    settings: CtiSettings,
    store: Store,
    routing: RoutingHandle,
    bus: Bus,
    hub: Mutex<Hub>,
    lockout: Mutex<Lockout>,
    next_conn: AtomicU64,
    metrics: Arc<CtiMetrics>,
    stop: broadcast::Sender<()>,
    verifier: Verifier,
}

/// Password, stored hash (`None`: unknown agent, spend the time anyway), reply.
type VerifyJob = (String, Option<String>, oneshot::Sender<bool>);

/// Password checks on a few dedicated threads, each with a [`password::Checker`] that reuses its
/// argon2 memory: a login storm queues here instead of exhausting CPU, and no check allocates
/// 19 MiB (on tokio's blocking pool with `argon2`'s own verify, 60 logins left 375 MiB resident).
struct Verifier {
    tx: std::sync::mpsc::Sender<VerifyJob>,
}

impl Verifier {
    fn start(threads: usize) -> Verifier {
        let (tx, rx) = std::sync::mpsc::channel::<VerifyJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cti-argon2-{i}"))
                .spawn(move || {
                    let mut checker = password::Checker::default();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok((password, hash, reply)) = job else {
                            break;
                        };
                        let ok = match hash {
                            Some(hash) => checker.verify(&password, &hash),
                            None => {
                                checker.verify_nobody(&password);
                                false
                            }
                        };
                        let _ = reply.send(ok);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-check thread");
            }
        }
        Verifier { tx }
    }

    /// Checks a password against a stored argon2 hash (`None`: an unknown agent, always
    /// `false` but as slow as a real check); `false` when no checker runs.
    async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.tx.send((password, hash, reply)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

/// The CTI server. Cheap to clone.
#[derive(Clone)]
pub struct CtiServer {
    inner: Arc<Inner>,
}

impl CtiServer {
    /// Starts the dispatcher (bus notices and routing events into sessions), the wallboard
    /// ticker and the session reaper. Serve [`CtiServer::router`] to accept desktops.
    pub fn start(settings: CtiSettings, store: Store, routing: RoutingHandle, bus: Bus) -> Self {
        let lockout = Lockout::new(settings.lockout);
        let (stop, _) = broadcast::channel(1);
        let inner = Arc::new(Inner {
            settings,
            store,
            routing,
            bus,
            hub: Mutex::new(Hub::default()),
            lockout: Mutex::new(lockout),
            next_conn: AtomicU64::new(1),
            metrics: Arc::default(),
            stop,
            verifier: Verifier::start(
                std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            ),
        });
        // Subscribe before returning, so no notice published after `start` is missed.
        let notices = inner.bus.notices.subscribe();
        let events = inner.routing.subscribe();
        tokio::spawn(dispatch(inner.clone(), notices, events));
        tokio::spawn(wallboard_ticker(inner.clone()));
        tokio::spawn(reaper(inner.clone()));
        let names = inner.clone();
        tokio::spawn(async move {
            match names.store.list_agents().await {
                Ok(list) => {
                    let mut hub = names.hub();
                    for (id, name, _, _) in list {
                        hub.names.entry(AgentId::new(id)).or_insert(name);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot load agent names for the wallboard"),
            }
        });
        CtiServer { inner }
    }

    /// The `/cti` route (state included), to merge into the HTTP router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/cti", get(upgrade))
            .with_state(self.clone())
    }

    /// Sessions that exist now (connected or lingering).
    pub fn session_count(&self) -> usize {
        self.inner.hub().sessions.len()
    }

    /// Connected desktops now.
    pub fn connected_count(&self) -> usize {
        self.inner
            .hub()
            .sessions
            .values()
            .filter(|s| s.conn.is_some())
            .count()
    }

    pub fn metrics(&self) -> &CtiMetrics {
        &self.inner.metrics
    }

    /// The counters, for the HTTP server's `/metrics`.
    pub fn shared_metrics(&self) -> Arc<CtiMetrics> {
        self.inner.metrics.clone()
    }

    /// Tells every desktop the server is going away and closes the connections (sessions end:
    /// their tokens are not valid after a restart). Stops the background tasks.
    pub fn shutdown(&self) {
        let mut hub = self.inner.hub();
        let tokens: Vec<String> = hub.sessions.keys().cloned().collect();
        for t in tokens {
            hub.end_session(&t, LogoutReason::Shutdown);
        }
        let _ = self.inner.stop.send(());
    }
}

impl Inner {
    fn hub(&self) -> MutexGuard<'_, Hub> {
        // A panic while holding the lock cannot leave the hub half-updated in a way that is worse
        // than stopping every desktop; keep serving.
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lockout(&self) -> MutexGuard<'_, Lockout> {
        self.lockout.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(server): State<CtiServer>,
) -> Response {
    // Desktops send small frames; tungstenite's default 128 KiB read buffer per connection
    // would be most of a session's memory (docs/performance/cti-server.md).
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| connection(server.inner, socket, peer))
}

fn now_unix() -> UnixMillis {
    UnixMillis(u64::try_from(now_millis()).unwrap_or(0))
}

/// What one connection knows.
struct ConnState {
    id: u64,
    peer: SocketAddr,
    hello: bool,
    /// Session token, agent and role once logged in or resumed.
    session: Option<(String, AgentId, Role)>,
    /// Rate limits before a session exists (a session has its own, kept across resumes).
    limits: CommandLimits,
    /// The connection must have a session by then.
    login_deadline: Instant,
    /// How long a response may wait for room in the queue once logged in.
    send_patience: Duration,
    writer: Writer,
    out: mpsc::Sender<Outgoing>,
}

/// Whether the peer takes our frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    KeepingUp,
    /// A response found the queue full for too long: the peer does not read. The connection
    /// is closed after the current frame.
    Stalled,
}

impl ConnState {
    fn conn(&self) -> Conn {
        Conn {
            id: self.id,
            tx: self.out.clone(),
        }
    }

    /// Queues a response. A peer that does not read cannot hold the connection (and the
    /// deadlines it would miss meanwhile): the wait ends at the login deadline before a login,
    /// after `send_patience` once logged in, and the connection is then closed.
    async fn send(&mut self, frame: &ServerFrame) {
        if self.writer == Writer::Stalled {
            return;
        }
        let text = match encode_server(frame) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode CTI frame");
                return;
            }
        };
        let until = match self.session {
            None => self.login_deadline,
            Some(_) => Instant::now() + self.send_patience,
        };
        let queued = tokio::time::timeout_at(until, self.out.send(Outgoing::Text(text.into())));
        if queued.await.is_err() {
            tracing::info!(conn = self.id, peer = %self.peer, "CTI peer does not read its responses; closing");
            self.writer = Writer::Stalled;
        }
    }
}

enum Flow {
    Continue,
    Close,
}

async fn connection(inner: Arc<Inner>, socket: WebSocket, peer: SocketAddr) {
    let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    inner.metrics.connections.fetch_add(1, Ordering::Relaxed);
    let metrics = inner.metrics.clone();
    let _open = OpenConnection::new(&metrics.open);
    tracing::debug!(conn = id, %peer, "CTI connection");
    let (mut sink, mut stream) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Outgoing>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(o) = out_rx.recv().await {
            match o {
                Outgoing::Text(t) => {
                    if sink.send(Message::Text(t)).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    let mut st = ConnState {
        id,
        peer,
        hello: false,
        session: None,
        limits: CommandLimits::new(inner.settings.rates, Instant::now()),
        // Nothing (not pings, not heartbeats) keeps a connection open that has not logged in.
        login_deadline: Instant::now() + inner.settings.login_timeout,
        send_patience: inner.settings.dead_after,
        writer: Writer::KeepingUp,
        out,
    };
    let login_deadline = st.login_deadline;
    let mut stop = inner.stop.subscribe();
    let dead_after = inner.settings.dead_after;
    let mut deadline = Instant::now() + dead_after;
    let why = loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    deadline = Instant::now() + dead_after;
                    if let Flow::Close = on_text(&inner, &mut st, text.as_str()).await {
                        break "closed by server";
                    }
                    if st.writer == Writer::Stalled {
                        break "peer does not read";
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    deadline = Instant::now() + dead_after;
                }
                Some(Ok(Message::Binary(_))) => {
                    tracing::info!(conn = id, "CTI peer sent a binary frame; closing");
                    break "binary frame";
                }
                Some(Ok(Message::Close(_))) | None => break "closed by peer",
                Some(Err(_)) => break "connection error",
            },
            () = tokio::time::sleep_until(deadline) => {
                tracing::info!(conn = id, %peer, "CTI connection silent past the heartbeat limit; closing");
                break "heartbeat timeout";
            }
            () = tokio::time::sleep_until(login_deadline), if st.session.is_none() => {
                inner.metrics.login_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::info!(conn = id, %peer, "CTI connection did not log in in time; closing");
                break "no login in time";
            }
            () = st.out.closed() => break "writer stopped",
            _ = stop.recv() => break "shutdown",
        }
    };
    let _ = st.out.try_send(Outgoing::Close);
    if let Some((token, agent, _)) = st.session.take() {
        let lost = {
            let mut hub = inner.hub();
            match hub.sessions.get_mut(&token) {
                Some(s) if s.conn.as_ref().is_some_and(|c| c.id == id) => {
                    s.conn = None;
                    s.lost_at = Some(Instant::now());
                    true
                }
                _ => false,
            }
        };
        if lost {
            tracing::info!(conn = id, agent = %agent, why, "desktop lost; session kept for resume");
            match inner
                .routing
                .desktop_lost(&crate::routing::AgentId::new(agent.as_str()))
                .await
            {
                Ok(()) | Err(RoutingError::Acd(_)) => {}
                Err(e) => tracing::warn!(error = %e, "routing: desktop_lost"),
            }
        }
    }
    drop(st);
    // A peer that stopped reading cannot hold the task: give the writer a moment, then stop it.
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// Handles one text frame. `Close` ends the connection.
async fn on_text(inner: &Arc<Inner>, st: &mut ConnState, text: &str) -> Flow {
    let frame = match decode_client(text) {
        Ok(f) => f,
        Err(CtiError::BadFrame {
            id: Some(id),
            reason,
        }) => {
            let frame = match admit(inner, st, CommandClass::General) {
                Ok(()) => ServerFrame::error(id, ErrorCode::BadRequest, reason),
                Err(limited) => limited_frame(id, limited),
            };
            st.send(&frame).await;
            return Flow::Continue;
        }
        Err(e) => {
            tracing::info!(conn = st.id, error = %e, "unreadable CTI frame; closing");
            return Flow::Close;
        }
    };
    let ClientFrame { id, cmd } = frame;
    if let Err(limited) = admit(inner, st, CommandClass::of(&cmd)) {
        st.send(&limited_frame(id, limited)).await;
        return Flow::Continue;
    }
    let reply = |r: Result<Reply, (ErrorCode, String)>| match r {
        Ok(body) => ServerFrame::ok(id, body),
        Err((code, msg)) => ServerFrame::error(id, code, msg),
    };
    if let Command::Hello { versions, .. } = &cmd {
        let r = match negotiate(versions) {
            Ok(version) => {
                st.hello = true;
                Ok(Reply::Welcome {
                    version,
                    server: format!("hotline-switch/{}", env!("CARGO_PKG_VERSION")),
                    heartbeat_secs: inner.settings.heartbeat.as_secs() as u32,
                    max_frame_bytes: MAX_FRAME_BYTES as u32,
                })
            }
            Err(e) => Err((ErrorCode::UnsupportedVersion, e.to_string())),
        };
        st.send(&reply(r)).await;
        return Flow::Continue;
    }
    if !st.hello {
        st.send(&reply(Err((
            ErrorCode::HelloRequired,
            format!("send hello first (protocol version {PROTOCOL_VERSION})"),
        ))))
        .await;
        return Flow::Continue;
    }
    match cmd {
        Command::Heartbeat => {
            let last_seq = st
                .session
                .as_ref()
                .and_then(|(t, _, _)| inner.hub().sessions.get(t).map(|s| s.log.last_seq()))
                .unwrap_or_default();
            st.send(&reply(Ok(Reply::Beat { last_seq }))).await;
            Flow::Continue
        }
        Command::Login {
            agent,
            password,
            extension,
        } => {
            login(inner, st, id, agent, password, extension).await;
            Flow::Continue
        }
        Command::ResumeSession { session, last_seq } => {
            resume(inner, st, id, &session, last_seq).await;
            Flow::Continue
        }
        cmd => {
            debug_assert_eq!(cmd.phase(), Phase::Session);
            let Some((token, agent, role)) = st.session.clone() else {
                st.send(&reply(Err((ErrorCode::NotLoggedIn, "log in first".into()))))
                    .await;
                return Flow::Continue;
            };
            if !allowed(role, &cmd) {
                inner.metrics.refusals.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(agent = %agent, ?role, command = cmd.kind(), "CTI command refused for role");
                if cmd.min_role() >= Role::Supervisor {
                    audit(
                        inner,
                        &agent,
                        &cmd,
                        false,
                        serde_json::json!({ "role": role }),
                    )
                    .await;
                }
                st.send(&reply(Err((
                    ErrorCode::Forbidden,
                    format!("{} needs the {:?} role", cmd.kind(), cmd.min_role()).to_lowercase(),
                ))))
                .await;
                return Flow::Continue;
            }
            let logout = matches!(cmd, Command::Logout);
            let r = session_command(inner, &token, &agent, cmd).await;
            st.send(&reply(r)).await;
            if logout {
                inner.hub().end_session(&token, LogoutReason::Requested);
                st.session = None;
                return Flow::Close;
            }
            Flow::Continue
        }
    }
}

/// Counts a command against the session's rate limits (the connection's before a login).
fn admit(inner: &Inner, st: &mut ConnState, class: CommandClass) -> Result<(), ratelimit::Limited> {
    let now = Instant::now();
    let r = match &st.session {
        Some((token, _, _)) => match inner.hub().sessions.get_mut(token) {
            Some(s) => s.limits.admit(class, now),
            None => st.limits.admit(class, now),
        },
        None => st.limits.admit(class, now),
    };
    if let Err(l) = &r {
        inner.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
        if l.episode_start {
            let agent = st.session.as_ref().map(|(_, a, _)| a.to_string());
            tracing::warn!(
                conn = st.id,
                peer = %st.peer.ip(),
                agent = agent.as_deref().unwrap_or("-"),
                limit = l.class.name(),
                "CTI connection over its command rate; refusing its commands with rate_limited"
            );
        }
    }
    r
}

/// The answer to a command refused for its rate.
fn limited_frame(id: hotline_cti::RequestId, l: ratelimit::Limited) -> ServerFrame {
    let rate = if l.per_sec >= 1.0 {
        format!("{} per second", l.per_sec)
    } else {
        format!("{} per minute", (l.per_sec * 60.0 * 10.0).round() / 10.0)
    };
    ServerFrame::error(
        id,
        ErrorCode::RateLimited,
        format!(
            "too many {} (at most {rate}); not done, try again in a moment",
            l.class.name()
        ),
    )
}

/// A login attempt reserved in the lock-out while its password is checked. Resolve it; if the
/// task is dropped first (the connection went away mid-check), it counts as a failure.
struct PendingLogin<'a> {
    inner: &'a Inner,
    attempt: Option<Attempt>,
}

impl PendingLogin<'_> {
    fn succeeded(mut self) {
        if let Some(a) = self.attempt.take() {
            self.inner.lockout().succeeded(a, Instant::now());
        }
    }

    fn failed(mut self) -> Vec<BanStarted> {
        match self.attempt.take() {
            Some(a) => self.inner.lockout().failed(a, Instant::now()),
            None => Vec::new(),
        }
    }

    fn abandoned(mut self) {
        if let Some(a) = self.attempt.take() {
            self.inner.lockout().abandoned(a, Instant::now());
        }
    }
}

impl Drop for PendingLogin<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.attempt.take() {
            let _ = self.inner.lockout().failed(a, Instant::now());
        }
    }
}

async fn login(
    inner: &Arc<Inner>,
    st: &mut ConnState,
    id: hotline_cti::RequestId,
    agent: AgentId,
    password: Secret,
    extension: Option<Extension>,
) {
    let fail = |code: ErrorCode, msg: &str| ServerFrame::error(id, code, msg);
    if st.session.is_some() {
        st.send(&fail(
            ErrorCode::InvalidState,
            "already logged in on this connection",
        ))
        .await;
        return;
    }
    let ip = st.peer.ip();
    // Checked and reserved in one step: parallel attempts cannot all pass the check.
    let attempt = inner.lockout().begin(agent.as_str(), ip, Instant::now());
    let pending = match attempt {
        Ok(a) => PendingLogin {
            inner,
            attempt: Some(a),
        },
        Err(refusal) => {
            let (code, msg) = match refusal {
                Refusal::SourceBanned(d) | Refusal::AgentLocked(d) => (
                    ErrorCode::LockedOut,
                    format!(
                        "too many failed logins; try again in {} s",
                        d.as_secs().max(1)
                    ),
                ),
                Refusal::Busy => (
                    ErrorCode::RateLimited,
                    "too many login attempts at once; try again in a moment".to_string(),
                ),
            };
            st.send(&fail(code, &msg)).await;
            return;
        }
    };
    let creds = match inner.store.agent_credentials(agent.as_str()).await {
        Ok(c) => c,
        Err(e) => {
            pending.abandoned();
            tracing::error!(error = %e, "CTI login: cannot read agent credentials");
            st.send(&fail(ErrorCode::Internal, "the database is unavailable"))
                .await;
            return;
        }
    };
    let hash = creds
        .as_ref()
        .filter(|c| c.active)
        .map(|c| c.password_hash.clone());
    let ok = inner
        .verifier
        .verify(password.expose().to_string(), hash)
        .await;
    let Some(creds) = creds.filter(|_| ok) else {
        inner.metrics.login_failures.fetch_add(1, Ordering::Relaxed);
        tracing::info!(agent = %agent, peer = %ip, "CTI login failed");
        for ban in pending.failed() {
            match ban {
                BanStarted::Source(source) => {
                    inner.metrics.source_bans.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%source, secs = inner.settings.lockout.ban_for.as_secs(), "CTI logins from this source banned after repeated failures");
                }
                BanStarted::Agent => {
                    inner.metrics.agent_locks.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(agent = %agent, peer = %ip, secs = inner.settings.lockout.ban_for.as_secs(), "CTI logins for this agent id locked for new addresses after repeated failures (its recent addresses still log in)");
                }
                BanStarted::TrustRevoked => {
                    tracing::warn!(agent = %agent, peer = %ip, "CTI: repeated failed logins from an address this agent used; it is no longer trusted");
                }
            }
        }
        st.send(&fail(ErrorCode::AuthFailed, "wrong agent id or password"))
            .await;
        return;
    };
    pending.succeeded();
    let role = match creds.role {
        hotline_store::Role::Agent => Role::Agent,
        hotline_store::Role::Supervisor => Role::Supervisor,
        hotline_store::Role::Admin => Role::Admin,
    };
    let acd_agent = crate::routing::AgentId::new(agent.as_str());
    let logged_in = !matches!(
        inner.routing.agent_state(&acd_agent).await,
        Ok(None | Some(crate::routing::AgentState::LoggedOut))
    );
    if !logged_in && let Err(e) = inner.routing.login(&acd_agent).await {
        tracing::error!(agent = %agent, error = %e, "routing refused the login");
        st.send(&fail(ErrorCode::Internal, &format!("routing: {e}")))
            .await;
        return;
    }
    let skills: Vec<SkillLevel> = inner
        .store
        .agent_skills(agent.as_str())
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|s| SkillLevel {
            skill: hotline_cti::Skill::new(s.skill),
            level: u8::try_from(s.proficiency).unwrap_or(0),
        })
        .collect();
    let queues = agent_queues(inner, &skills);
    let dispositions = inner
        .store
        .dispositions()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|d| Disposition::new(d.code))
        .collect();
    let token = format!("{:032x}", rand::random::<u128>());
    let reply = ServerFrame::ok(
        id,
        Reply::LoggedIn {
            session: Secret::new(token.clone()),
            role,
            profile: AgentProfile {
                agent: agent.clone(),
                name: creds.name.clone(),
                extension: extension.unwrap_or_else(|| Extension::new(creds.extension.clone())),
                skills,
                // The phone takes the desktop's Answer (NOTIFY `Event: talk`) for sure.
                remote_answer: inner
                    .settings
                    .remote_answer_extensions
                    .contains(creds.extension.as_str()),
                queues,
            },
            not_ready_reasons: inner
                .settings
                .not_ready_reasons
                .iter()
                .map(|r| ReasonCode::new(r.as_str()))
                .collect(),
            dispositions,
        },
    );
    {
        let mut hub = inner.hub();
        if let Some(old) = hub.by_agent.get(&agent).cloned() {
            tracing::info!(agent = %agent, "agent logged in again; the older session ends");
            hub.end_session(&old, LogoutReason::Replaced);
        }
        hub.names.insert(agent.clone(), creds.name.clone());
        // The response goes first, then the snapshot, on the same queue.
        if let Ok(text) = encode_server(&reply) {
            st.conn().send_text(text);
        }
        hub.sessions.insert(
            token.clone(),
            Session {
                agent: agent.clone(),
                role,
                log: EventLog::new(inner.settings.event_log_capacity),
                conn: Some(st.conn()),
                lost_at: None,
                wallboard: None,
                addr: ip,
                limits: st.limits.clone(),
            },
        );
        hub.by_agent.insert(agent.clone(), token.clone());
        let snap = hub.desk(&agent).snapshot();
        hub.push_to_session(&token, Event::Snapshot(Box::new(snap)));
    }
    inner.metrics.logins.fetch_add(1, Ordering::Relaxed);
    tracing::info!(agent = %agent, ?role, "CTI login");
    deliver_waiting_messages(inner, &token, &agent).await;
    st.session = Some((token, agent, role));
}

/// The messages sent to `agent` while she was away (or not yet confirmed by her desktop),
/// pushed to her new session, oldest first.
async fn deliver_waiting_messages(inner: &Arc<Inner>, token: &str, agent: &AgentId) {
    let waiting = match inner.store.undelivered_messages(agent.as_str()).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(agent = %agent, error = %e, "waiting messages could not be read");
            return;
        }
    };
    if waiting.is_empty() {
        return;
    }
    let names: HashMap<String, String> = inner
        .store
        .list_agents()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(id, name, _, _)| (id, name))
        .collect();
    let mut hub = inner.hub();
    for m in waiting {
        let event = message_event(&m, names.get(&m.sender).cloned());
        hub.push_to_session(token, event);
    }
}

/// A stored message as its recipient's desktop sees it.
fn message_event(m: &hotline_store::AgentMessage, from_name: Option<String>) -> Event {
    Event::MessageReceived {
        id: m.id.to_string(),
        from: AgentId::new(m.sender.clone()),
        from_name: from_name.unwrap_or_else(|| m.sender.clone()),
        to: match m.audience {
            hotline_store::MessageAudience::Agent => hotline_cti::MessageTarget::Agent {
                agent: AgentId::new(m.recipient.clone()),
            },
            hotline_store::MessageAudience::Supervisors => hotline_cti::MessageTarget::Supervisors,
            hotline_store::MessageAudience::Everyone => hotline_cti::MessageTarget::Everyone,
        },
        text: Pii::new(m.body.clone()),
        at: hotline_cti::UnixMillis(u64::try_from(m.sent_at).unwrap_or(0)),
    }
}

/// `send_message`: stored per recipient, pushed to those logged in. A message to everyone is a
/// supervisor's announcement (refused for agents, audited).
async fn send_message(
    inner: &Arc<Inner>,
    token: &str,
    sender: &AgentId,
    cmd: Command,
) -> CmdResult {
    let Command::SendMessage { to, text } = &cmd else {
        return Err((ErrorCode::BadRequest, "not send_message".into()));
    };
    let role = inner
        .hub()
        .sessions
        .get(token)
        .map_or(Role::Agent, |s| s.role);
    if matches!(to, hotline_cti::MessageTarget::Everyone) && role < Role::Supervisor {
        audit(
            inner,
            sender,
            &cmd,
            false,
            serde_json::json!({ "to": "everyone" }),
        )
        .await;
        return Err((
            ErrorCode::Forbidden,
            "only supervisors send a message to everyone".into(),
        ));
    }
    let agents = inner
        .store
        .list_agents()
        .await
        .map_err(|e| (ErrorCode::Internal, format!("the database: {e}")))?;
    let me = sender.as_str();
    let (audience, recipients): (hotline_store::MessageAudience, Vec<String>) = match to {
        hotline_cti::MessageTarget::Agent { agent } => {
            if agent.as_str() == me {
                return Err((ErrorCode::BadRequest, "that is you".into()));
            }
            if !agents.iter().any(|(id, ..)| id == agent.as_str()) {
                return Err((ErrorCode::UnknownAgent, format!("no agent {agent}")));
            }
            (
                hotline_store::MessageAudience::Agent,
                vec![agent.as_str().to_string()],
            )
        }
        hotline_cti::MessageTarget::Supervisors => (
            hotline_store::MessageAudience::Supervisors,
            agents
                .iter()
                .filter(|(id, _, _, r)| id != me && *r >= hotline_store::Role::Supervisor)
                .map(|(id, ..)| id.clone())
                .collect(),
        ),
        hotline_cti::MessageTarget::Everyone => (
            hotline_store::MessageAudience::Everyone,
            agents
                .iter()
                .filter(|(id, ..)| id != me)
                .map(|(id, ..)| id.clone())
                .collect(),
        ),
    };
    if recipients.is_empty() {
        return Err((ErrorCode::BadRequest, "nobody to send it to".into()));
    }
    let sent = inner
        .store
        .send_agent_message(me, &recipients, audience, text.expose(), now_millis())
        .await
        .map_err(|e| match e {
            hotline_store::Error::Invalid(m) => (ErrorCode::BadRequest, m),
            other => (ErrorCode::Internal, format!("the database: {other}")),
        })?;
    let from_name = agents
        .iter()
        .find(|(id, ..)| id == me)
        .map(|(_, name, ..)| name.clone());
    {
        let mut hub = inner.hub();
        for m in &sent {
            let event = message_event(m, from_name.clone());
            hub.push_to_agent(&AgentId::new(m.recipient.clone()), event);
        }
    }
    if audience == hotline_store::MessageAudience::Everyone {
        audit(
            inner,
            sender,
            &cmd,
            true,
            serde_json::json!({ "to": "everyone", "recipients": sent.len() }),
        )
        .await;
    }
    tracing::info!(agent = %sender, audience = audience.as_str(), recipients = sent.len(), "message sent");
    Ok(Reply::Done)
}

async fn resume(
    inner: &Arc<Inner>,
    st: &mut ConnState,
    id: hotline_cti::RequestId,
    session: &Secret,
    last_seq: hotline_cti::Seq,
) {
    if st.session.is_some() {
        st.send(&ServerFrame::error(
            id,
            ErrorCode::InvalidState,
            "already logged in on this connection",
        ))
        .await;
        return;
    }
    let token = session.expose().to_string();
    let ip = st.peer.ip();
    let resumed = {
        let mut hub = inner.hub();
        match hub.sessions.get_mut(&token) {
            None => None,
            // A token is bound to the address that logged in: from anywhere else it is refused
            // exactly like an unknown one, and the session and its connection are not touched.
            Some(s) if s.addr != ip => {
                tracing::warn!(agent = %s.agent, peer = %ip, "CTI session token presented from another address; refused");
                None
            }
            Some(s) => {
                if let Some(old) = s.conn.take()
                    && old.id != st.id
                {
                    old.close();
                }
                s.conn = Some(st.conn());
                s.lost_at = None;
                let plan = s.log.resync(last_seq);
                let reply = ServerFrame::ok(
                    id,
                    Reply::Resumed {
                        resync: plan.reply(&s.log),
                    },
                );
                if let Ok(text) = encode_server(&reply) {
                    st.conn().send_text(text);
                }
                let who = (s.agent.clone(), s.role);
                match plan {
                    ResyncPlan::Replay(frames) => {
                        for f in frames {
                            if let Ok(text) = encode_server(&ServerFrame::Event(f)) {
                                st.conn().send_text(text);
                            }
                        }
                    }
                    ResyncPlan::Snapshot => {
                        let snap = hub.desk(&who.0).snapshot();
                        hub.push_to_session(&token, Event::Snapshot(Box::new(snap)));
                    }
                }
                Some(who)
            }
        }
    };
    match resumed {
        Some((agent, role)) => {
            tracing::info!(agent = %agent, last_seq = last_seq.0, "CTI session resumed");
            st.session = Some((token, agent, role));
        }
        None => {
            st.send(&ServerFrame::error(
                id,
                ErrorCode::SessionUnknown,
                "unknown or expired session; log in again",
            ))
            .await;
        }
    }
}

type CmdResult = Result<Reply, (ErrorCode, String)>;

fn routing_err(e: RoutingError) -> (ErrorCode, String) {
    use crate::routing::AcdError;
    let code = match &e {
        RoutingError::Acd(AcdError::UnknownAgent(_)) => ErrorCode::UnknownAgent,
        RoutingError::Acd(AcdError::UnknownCall(_)) => ErrorCode::UnknownCall,
        RoutingError::Acd(AcdError::UnknownQueue(_)) => ErrorCode::UnknownTarget,
        RoutingError::Acd(AcdError::InvalidProficiency { .. }) => ErrorCode::BadRequest,
        RoutingError::Acd(_) => ErrorCode::InvalidState,
        _ => ErrorCode::Internal,
    };
    (code, e.to_string())
}

async fn audit(
    inner: &Inner,
    actor: &AgentId,
    cmd: &Command,
    allowed: bool,
    detail: serde_json::Value,
) {
    let target = match cmd {
        Command::ForceNotReady { agent, .. }
        | Command::ForceLogout { agent }
        | Command::SetSkills { agent, .. } => Some(agent.to_string()),
        Command::PlayRecording { ticket } => Some(format!("ticket:{ticket}")),
        _ => None,
    };
    let mut detail = detail;
    if let Command::Monitor { mode, .. } = cmd
        && let Some(obj) = detail.as_object_mut()
    {
        obj.insert("mode".into(), serde_json::json!(mode));
    }
    let entry = AuditEntry {
        at: now_millis(),
        actor: actor.to_string(),
        action: cmd.kind().to_string(),
        target,
        call_id: cmd.call().map(|c| c.to_string()),
        allowed,
        detail,
    };
    if let Err(e) = inner.store.audit(&entry).await {
        tracing::error!(error = %e, action = cmd.kind(), "cannot write the audit log");
    }
}

/// A supervisor's action on a call: call control's verdict, audited either way.
async fn supervise(inner: &Inner, agent: &AgentId, cmd: &Command, action: CallAction) -> CmdResult {
    let r = call_control(inner, agent, action).await;
    let detail = match &r {
        Ok(_) => serde_json::json!({ "result": "ok" }),
        Err((_, why)) => serde_json::json!({ "result": "refused", "why": why }),
    };
    audit(inner, agent, cmd, true, detail).await;
    r
}

/// Sends an action to call control and waits for its verdict.
async fn call_control(inner: &Inner, agent: &AgentId, action: CallAction) -> CmdResult {
    let (reply, rx) = oneshot::channel();
    let cmd = CallCommand {
        agent: agent.to_string(),
        action,
        reply,
    };
    if inner.bus.commands.send(cmd).await.is_err() {
        return Err((ErrorCode::Internal, "call control is not running".into()));
    }
    match tokio::time::timeout(CALL_CONTROL_TIMEOUT, rx).await {
        Ok(Ok(Ok(None))) => Ok(Reply::Done),
        Ok(Ok(Ok(Some(call)))) => Ok(Reply::Dialing {
            call: CallId::new(call),
        }),
        Ok(Ok(Err(why))) => Err((call_error_code(&why), why.to_string())),
        Ok(Err(_)) => Err((
            ErrorCode::Internal,
            "call control dropped the request".into(),
        )),
        Err(_) => Err((ErrorCode::Internal, "call control did not answer".into())),
    }
}

/// Whose fault a refused call command is, for the desktop.
fn call_error_code(e: &crate::bus::CallError) -> ErrorCode {
    use crate::bus::CallError as E;
    match e {
        E::UnknownCall(_) | E::NotYours(_) => ErrorCode::UnknownCall,
        E::InvalidState(_) | E::Unsupported(_) => ErrorCode::InvalidState,
        E::UnknownTarget(_) => ErrorCode::UnknownTarget,
        E::TargetUnavailable(_) => ErrorCode::TargetUnavailable,
        E::BadRequest(_) => ErrorCode::BadRequest,
    }
}

fn target_string(t: &TransferTarget) -> String {
    match t {
        TransferTarget::Agent { agent } => agent.to_string(),
        TransferTarget::Queue { queue } => queue.to_string(),
        TransferTarget::External { number } => number.expose().clone(),
    }
}

fn ticket_priority(p: TicketPriority) -> &'static str {
    match p {
        TicketPriority::Low => "low",
        TicketPriority::Normal => "normal",
        TicketPriority::High => "high",
        TicketPriority::Urgent => "urgent",
    }
}

fn ticket_status(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "open",
        TicketStatus::Pending => "pending",
        TicketStatus::Solved => "solved",
        TicketStatus::Closed => "closed",
    }
}

/// A command of a logged-in session whose role allows it.
async fn session_command(
    inner: &Arc<Inner>,
    token: &str,
    agent: &AgentId,
    cmd: Command,
) -> CmdResult {
    let acd_agent = crate::routing::AgentId::new(agent.as_str());
    // Commands on a call must name a call this agent has.
    if let Some(call) = cmd.call()
        && cmd.min_role() == Role::Agent
        && !matches!(cmd, Command::RequestHelp { .. })
    {
        let known = inner.hub().desk(agent).knows(call);
        if !known {
            return Err((
                ErrorCode::UnknownCall,
                format!("no call {call} at this agent"),
            ));
        }
    }
    match cmd {
        Command::Logout => match inner.routing.logout(&acd_agent).await {
            Ok(()) | Err(RoutingError::Acd(_)) => Ok(Reply::Done),
            Err(e) => Err(routing_err(e)),
        },
        Command::Ready => inner
            .routing
            .ready(&acd_agent)
            .await
            .map(|()| Reply::Done)
            .map_err(routing_err),
        Command::NotReady { reason } => {
            check_reason(inner, &reason)?;
            inner
                .routing
                .not_ready(&acd_agent, reason.as_str())
                .await
                .map(|()| Reply::Done)
                .map_err(routing_err)
        }
        Command::Answer { call } => {
            call_control(inner, agent, CallAction::Answer { call: call.0 }).await
        }
        Command::Reject { call } => {
            call_control(inner, agent, CallAction::Reject { call: call.0 }).await
        }
        Command::Hangup { call } => {
            call_control(inner, agent, CallAction::Hangup { call: call.0 }).await
        }
        Command::Hold { call } => {
            call_control(inner, agent, CallAction::Hold { call: call.0 }).await
        }
        Command::Resume { call } => {
            call_control(inner, agent, CallAction::Resume { call: call.0 }).await
        }
        Command::Mute { call } => {
            call_control(
                inner,
                agent,
                CallAction::Mute {
                    call: call.0,
                    on: true,
                },
            )
            .await
        }
        Command::Unmute { call } => {
            call_control(
                inner,
                agent,
                CallAction::Mute {
                    call: call.0,
                    on: false,
                },
            )
            .await
        }
        Command::SendDtmf { call, digits } => {
            call_control(
                inner,
                agent,
                CallAction::SendDtmf {
                    call: call.0,
                    digits: digits.expose().to_string(),
                },
            )
            .await
        }
        Command::InternalCall { to } => {
            let number = match to {
                InternalTarget::Agent { agent } => agent.0,
                InternalTarget::Extension { extension } => extension.0,
            };
            call_control(inner, agent, CallAction::Dial { number }).await
        }
        Command::OutboundCall { number, .. } => {
            call_control(
                inner,
                agent,
                CallAction::Dial {
                    number: number.into_inner(),
                },
            )
            .await
        }
        cmd @ Command::PlayRecording { .. } => play_recording(inner, token, agent, cmd).await,
        cmd @ Command::SendMessage { .. } => send_message(inner, token, agent, cmd).await,
        Command::AckMessages { ids } => {
            let ids: Vec<i64> = ids
                .iter()
                .filter_map(|i| i.parse().ok())
                .take(500)
                .collect();
            inner
                .store
                .mark_messages_delivered(agent.as_str(), &ids, now_millis())
                .await
                .map(|_| Reply::Done)
                .map_err(|e| (ErrorCode::Internal, format!("the database: {e}")))
        }
        Command::BlindTransfer { call, to } => {
            call_control(
                inner,
                agent,
                CallAction::BlindTransfer {
                    call: call.0,
                    target: target_string(&to),
                },
            )
            .await
        }
        Command::Consult { call, to } => {
            call_control(
                inner,
                agent,
                CallAction::Consult {
                    call: call.0,
                    target: target_string(&to),
                },
            )
            .await
        }
        Command::CompleteTransfer { call } => {
            call_control(inner, agent, CallAction::CompleteTransfer { call: call.0 }).await
        }
        Command::CancelConsult { call } => {
            call_control(inner, agent, CallAction::CancelConsult { call: call.0 }).await
        }
        Command::Conference { call } => {
            call_control(inner, agent, CallAction::Conference { call: call.0 }).await
        }
        Command::StartPayment {
            call,
            amount,
            reference,
        } => {
            let amount_minor = i64::try_from(amount.minor)
                .map_err(|_| (ErrorCode::BadRequest, "amount too large".to_string()))?;
            call_control(
                inner,
                agent,
                CallAction::StartPayment {
                    call: call.0,
                    amount_minor,
                    currency: amount.currency,
                    reference,
                },
            )
            .await
        }
        Command::WrapUp {
            call,
            disposition,
            notes,
            ticket,
        } => wrap_up(inner, agent, call, disposition, notes.into_inner(), ticket).await,
        Command::EndWrapUp { then } => {
            let in_wrap = matches!(
                inner.routing.agent_state(&acd_agent).await,
                Ok(Some(crate::routing::AgentState::WrapUp { .. }))
            );
            if !in_wrap {
                return Err((ErrorCode::InvalidState, "not in wrap-up".into()));
            }
            match then {
                AfterWrapUp::Ready => inner.routing.ready(&acd_agent).await,
                AfterWrapUp::NotReady { reason } => {
                    check_reason(inner, &reason)?;
                    inner.routing.not_ready(&acd_agent, reason.as_str()).await
                }
            }
            .map_err(routing_err)?;
            inner
                .routing
                .wrapup_done(&acd_agent)
                .await
                .map(|()| Reply::Done)
                .map_err(routing_err)
        }
        Command::RequestHelp { call, message } => {
            let message: String = message.chars().take(500).collect();
            inner.hub().push_to_supervisors(&Event::HelpRequested {
                agent: agent.clone(),
                call,
                message,
                at: now_unix(),
            });
            Ok(Reply::Done)
        }
        Command::SubscribeWallboard { queues } => {
            let board = inner.routing.board().await.map_err(routing_err)?;
            let mut hub = inner.hub();
            let mut wb = wallboard::build(&board, &hub, now_millis());
            wb.queues = wallboard::filter_queues(wb.queues, &queues);
            if let Some(s) = hub.sessions.get_mut(token) {
                s.wallboard = Some(queues);
            }
            hub.push_to_session(token, Event::Wallboard(wb));
            Ok(Reply::Done)
        }
        Command::UnsubscribeWallboard => {
            if let Some(s) = inner.hub().sessions.get_mut(token) {
                s.wallboard = None;
            }
            Ok(Reply::Done)
        }
        Command::Monitor { ref call, mode } => {
            let action = CallAction::Monitor {
                call: call.0.clone(),
                mode,
            };
            supervise(inner, agent, &cmd, action).await
        }
        Command::StopMonitor { ref call } => {
            let action = CallAction::StopMonitor {
                call: call.0.clone(),
            };
            supervise(inner, agent, &cmd, action).await
        }
        Command::TakeOver { ref call } => {
            let action = CallAction::TakeOver {
                call: call.0.clone(),
            };
            supervise(inner, agent, &cmd, action).await
        }
        cmd @ Command::ForceNotReady { .. } => {
            let Command::ForceNotReady {
                agent: target,
                reason,
            } = &cmd
            else {
                unreachable!()
            };
            check_reason(inner, reason)?;
            let r = inner
                .routing
                .not_ready(
                    &crate::routing::AgentId::new(target.as_str()),
                    reason.as_str(),
                )
                .await;
            audit(
                inner,
                agent,
                &cmd,
                true,
                serde_json::json!({ "reason": reason, "ok": r.is_ok() }),
            )
            .await;
            r.map(|()| Reply::Done).map_err(routing_err)
        }
        cmd @ Command::ForceLogout { .. } => {
            let Command::ForceLogout { agent: target } = &cmd else {
                unreachable!()
            };
            let r = inner
                .routing
                .logout(&crate::routing::AgentId::new(target.as_str()))
                .await;
            audit(
                inner,
                agent,
                &cmd,
                true,
                serde_json::json!({ "ok": r.is_ok() }),
            )
            .await;
            r.map_err(routing_err)?;
            let mut hub = inner.hub();
            if let Some(t) = hub.by_agent.get(target).cloned() {
                hub.end_session(&t, LogoutReason::Forced { by: agent.clone() });
            }
            Ok(Reply::Done)
        }
        cmd @ Command::SetSkills { .. } => set_skills(inner, agent, cmd).await,
        other => Err((
            ErrorCode::BadRequest,
            format!("{} is not valid here", other.kind()),
        )),
    }
}

/// `play_recording`: the ticket's voicemail on the agent's own phone. An agent may play a
/// ticket assigned to her or waiting unassigned in a queue she works; supervisors and admins
/// any. Audited either way (who listened to which message).
async fn play_recording(
    inner: &Arc<Inner>,
    token: &str,
    agent: &AgentId,
    cmd: Command,
) -> CmdResult {
    let Command::PlayRecording { ticket } = &cmd else {
        return Err((ErrorCode::BadRequest, "not play_recording".into()));
    };
    let role = inner
        .hub()
        .sessions
        .get(token)
        .map_or(Role::Agent, |s| s.role);
    let id: i64 = ticket
        .as_str()
        .trim_start_matches("T-")
        .parse()
        .map_err(|_| (ErrorCode::BadRequest, format!("no ticket {ticket}")))?;
    let item = match inner.store.work_item(id).await {
        Ok(Some(item)) => item,
        Ok(None) => return Err((ErrorCode::BadRequest, format!("no ticket {ticket}"))),
        Err(e) => return Err((ErrorCode::Internal, format!("the database: {e}"))),
    };
    let Some(file) = item.recording.clone() else {
        return Err((
            ErrorCode::InvalidState,
            format!("ticket {ticket} has no recording"),
        ));
    };
    let mine = item.ticket.assignee.as_deref() == Some(agent.as_str());
    let in_my_queue = item.ticket.assignee.is_none()
        && match &item.queue {
            Some(q) => {
                let skills: Vec<SkillLevel> = inner
                    .store
                    .agent_skills(agent.as_str())
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| SkillLevel {
                        skill: hotline_cti::Skill::new(s.skill),
                        level: u8::try_from(s.proficiency).unwrap_or(0),
                    })
                    .collect();
                agent_queues(inner, &skills)
                    .iter()
                    .any(|mine| mine.as_str() == q)
            }
            None => false,
        };
    let allowed = mine || in_my_queue || role >= Role::Supervisor;
    if !allowed {
        audit(
            inner,
            agent,
            &cmd,
            false,
            serde_json::json!({ "ticket": id, "why": "not assigned to you or in your queues" }),
        )
        .await;
        return Err((
            ErrorCode::Forbidden,
            format!("ticket {ticket} is not yours or in one of your queues"),
        ));
    }
    let r = call_control(
        inner,
        agent,
        CallAction::PlayRecording {
            file,
            label: format!("voicemail {id}"),
        },
    )
    .await;
    let detail = match &r {
        Ok(_) => serde_json::json!({ "ticket": id, "result": "ok" }),
        Err((_, why)) => serde_json::json!({ "ticket": id, "result": "refused", "why": why }),
    };
    audit(inner, agent, &cmd, true, detail).await;
    r
}

/// The queues an agent with these skills works (her calls and her unassigned work).
fn agent_queues(inner: &Inner, skills: &[SkillLevel]) -> Vec<hotline_cti::QueueId> {
    let skills: Vec<(String, u8)> = skills
        .iter()
        .map(|s| (s.skill.as_str().to_string(), s.level))
        .collect();
    inner
        .routing
        .queues_for(&skills)
        .into_iter()
        .map(|q| hotline_cti::QueueId::new(q.as_str()))
        .collect()
}

fn check_reason(inner: &Inner, reason: &ReasonCode) -> Result<(), (ErrorCode, String)> {
    if inner
        .settings
        .not_ready_reasons
        .iter()
        .any(|r| r == reason.as_str())
    {
        Ok(())
    } else {
        Err((
            ErrorCode::BadRequest,
            format!(
                "unknown not-ready reason; use one of {}",
                inner.settings.not_ready_reasons.join(", ")
            ),
        ))
    }
}

async fn set_skills(inner: &Arc<Inner>, actor: &AgentId, cmd: Command) -> CmdResult {
    let Command::SetSkills {
        agent: target,
        skills,
    } = &cmd
    else {
        return Err((ErrorCode::BadRequest, "not set_skills".into()));
    };
    if let Some(bad) = skills.iter().find(|s| !(1..=5).contains(&s.level)) {
        return Err((
            ErrorCode::BadRequest,
            format!(
                "proficiency {} for {}: this switch uses 1 to 5",
                bad.level, bad.skill
            ),
        ));
    }
    match inner.store.agent_credentials(target.as_str()).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err((ErrorCode::UnknownAgent, format!("no agent {target}"))),
        Err(e) => return Err((ErrorCode::Internal, e.to_string())),
    }
    let stored: Vec<hotline_store::SkillLevel> = skills
        .iter()
        .map(|s| hotline_store::SkillLevel {
            skill: s.skill.to_string(),
            proficiency: i64::from(s.level),
        })
        .collect();
    let r = inner
        .store
        .set_agent_skills(target.as_str(), &stored)
        .await
        .map_err(|e| (ErrorCode::BadRequest, e.to_string()));
    let routed = match &r {
        Ok(()) => {
            let acd: Vec<_> = skills
                .iter()
                .map(|s| (crate::routing::SkillId::new(s.skill.as_str()), s.level))
                .collect();
            match inner
                .routing
                .set_skills(&crate::routing::AgentId::new(target.as_str()), acd)
                .await
            {
                // Never logged in: the stored skills apply at its next login.
                Ok(()) | Err(RoutingError::Acd(crate::routing::AcdError::UnknownAgent(_))) => {
                    Ok(())
                }
                Err(e) => Err(routing_err(e)),
            }
        }
        Err(e) => Err(e.clone()),
    };
    audit(
        inner,
        actor,
        &cmd,
        true,
        serde_json::json!({ "skills": skills, "ok": routed.is_ok() }),
    )
    .await;
    routed?;
    let ev = Event::SkillsChanged {
        agent: target.clone(),
        skills: skills.clone(),
    };
    let mut hub = inner.hub();
    hub.push_to_agent(target, ev.clone());
    if target != actor {
        hub.push_to_agent(actor, ev);
    }
    Ok(Reply::Done)
}

async fn wrap_up(
    inner: &Arc<Inner>,
    agent: &AgentId,
    call: CallId,
    disposition: Disposition,
    notes: String,
    ticket: Option<hotline_cti::TicketDraft>,
) -> CmdResult {
    let now = now_millis();
    let (wrapup_ms, customer_id) = {
        let mut hub = inner.hub();
        let customer_id = hub
            .customers
            .get(&call)
            .and_then(|c| c.id.as_ref())
            .and_then(|id| id.as_str().parse::<i64>().ok());
        let since = hub
            .desk(agent)
            .wrap_up
            .as_ref()
            .filter(|w| w.call == call)
            .map(|w| w.since.0 as i64);
        (since.map_or(0, |s| (now - s).max(0)), customer_id)
    };
    let mut ticket_id = None;
    if let Some(draft) = ticket {
        let id = match draft.ticket.clone() {
            None => inner
                .store
                .create_ticket(&NewTicket {
                    client_key: Some(format!("wrapup:{call}:{agent}")),
                    customer_id,
                    call_id: Some(call.to_string()),
                    subject: draft.subject.clone(),
                    body: draft.body.expose().clone(),
                    priority: ticket_priority(draft.priority).into(),
                    assignee: None,
                    created_by: Some(agent.to_string()),
                    at: now,
                })
                .await
                .map_err(store_error)?,
            Some(id) => id
                .as_str()
                .parse::<i64>()
                .map_err(|_| (ErrorCode::BadRequest, "ticket id is a number".to_string()))?,
        };
        inner
            .store
            .update_ticket(
                id,
                &TicketUpdate {
                    status: Some(ticket_status(draft.status).into()),
                    priority: Some(ticket_priority(draft.priority).into()),
                    subject: draft.ticket.is_some().then(|| draft.subject.clone()),
                    body: draft.ticket.is_some().then(|| draft.body.expose().clone()),
                    actor: Some(agent.to_string()),
                    at: now,
                    ..Default::default()
                },
            )
            .await
            .map_err(store_error)?;
        ticket_id = Some(id);
    }
    inner
        .store
        .write_outcome(&Outcome {
            call_id: call.to_string(),
            agent_id: agent.to_string(),
            disposition: disposition.to_string(),
            notes,
            wrapup_ms,
            ticket_id,
            at: now,
        })
        .await
        .map_err(store_error)?;
    Ok(Reply::Done)
}

/// Whose fault a store refusal is: the agent's input (a bad value, an unknown ticket) or the
/// server's (the database failed even after its retries).
fn store_error(e: hotline_store::Error) -> (ErrorCode, String) {
    match e {
        hotline_store::Error::Invalid(m) => (ErrorCode::BadRequest, m),
        hotline_store::Error::NotFound(m) => (ErrorCode::BadRequest, format!("not found: {m}")),
        other => (ErrorCode::Internal, other.to_string()),
    }
}

/// Turns bus notices and routing events into session events.
async fn dispatch(
    inner: Arc<Inner>,
    mut notices: broadcast::Receiver<CallNotice>,
    mut events: broadcast::Receiver<crate::routing::RoutingEvent>,
) {
    let mut stop = inner.stop.subscribe();
    loop {
        tokio::select! {
            n = notices.recv() => match n {
                Ok(n) => apply_notice(&inner, n),
                Err(broadcast::error::RecvError::Lagged(k)) => {
                    tracing::error!(missed = k, "CTI fell behind call notices; desktops may need a resync");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            e = events.recv() => match e {
                Ok(e) => {
                    if let crate::routing::AcdEvent::AgentState { agent, to, .. } = &e.event {
                        inner.hub().agent_state(&AgentId::new(agent.as_str()), to, e.at_ms);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(k)) => {
                    tracing::error!(missed = k, "CTI fell behind routing events");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = stop.recv() => break,
        }
    }
}

fn apply_notice(inner: &Inner, n: CallNotice) {
    use hotline_cti::CallState;
    let now = now_unix();
    let mut hub = inner.hub();
    match n {
        CallNotice::Offered { agent, pop } => hub.offered(&AgentId::new(agent), *pop),
        CallNotice::Ringing { call, agent, .. } => {
            hub.call_state(
                &AgentId::new(agent),
                &CallId::new(call),
                CallState::Ringing,
                now,
            );
        }
        CallNotice::Connected { call, agent } | CallNotice::Resumed { call, agent } => {
            hub.call_state(
                &AgentId::new(agent),
                &CallId::new(call),
                CallState::Connected,
                now,
            );
        }
        CallNotice::Held { call, agent } => {
            hub.call_state(
                &AgentId::new(agent),
                &CallId::new(call),
                CallState::Held,
                now,
            );
        }
        CallNotice::Ended {
            call,
            agent,
            reason,
        } => {
            let call = CallId::new(call);
            let agent = agent
                .map(AgentId::new)
                .or_else(|| hub.call_agent.get(&call).cloned());
            if let Some(agent) = agent {
                hub.ended(&agent, &call, &reason, now);
            }
        }
        CallNotice::Dialing {
            call,
            agent,
            peer,
            colleague,
        } => {
            hub.dialing(
                &AgentId::new(agent),
                &CallId::new(call),
                peer,
                colleague,
                now,
            );
        }
        CallNotice::Incoming {
            call,
            agent,
            peer,
            colleague,
        } => {
            hub.incoming(
                &AgentId::new(agent),
                &CallId::new(call),
                peer,
                colleague,
                now,
            );
        }
        CallNotice::Consult {
            call,
            consult,
            agent,
            state,
            reason,
            peer,
            colleague,
        } => {
            let (agent, consult) = (AgentId::new(agent), CallId::new(consult));
            if state == CallState::Ended {
                let reason = reason.unwrap_or_else(|| "ended".into());
                hub.ended(&agent, &consult, &reason, now);
            } else {
                let party = hub::ConsultParty { peer, colleague };
                hub.consult_state(&agent, &consult, &CallId::new(call), state, party, now);
            }
        }
        CallNotice::Flags {
            call,
            agent,
            muted,
            conference,
        } => hub.call_flags(&AgentId::new(agent), &CallId::new(call), muted, conference),
        CallNotice::Monitor {
            call,
            supervisor,
            mode,
        } => hub.push_to_agent(
            &AgentId::new(supervisor),
            Event::MonitorChanged {
                call: CallId::new(call),
                mode,
            },
        ),
        CallNotice::Payment { call, agent, stage } => {
            hub.push_to_agent(
                &AgentId::new(agent),
                Event::PaymentProgress {
                    call: CallId::new(call),
                    stage,
                },
            );
        }
    }
}

/// Pushes wallboard deltas to subscribed supervisors every interval.
async fn wallboard_ticker(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut tick = tokio::time::interval(inner.settings.wallboard_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prev: Option<hotline_cti::Wallboard> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.recv() => break,
        }
        let any = inner.hub().sessions.values().any(|s| s.wallboard.is_some());
        if !any {
            prev = None;
            continue;
        }
        let Ok(board) = inner.routing.board().await else {
            break;
        };
        let mut hub = inner.hub();
        let next = wallboard::build(&board, &hub, now_millis());
        let delta = match &prev {
            Some(p) => wallboard::delta(p, &next),
            None => wallboard::delta(
                &hotline_cti::Wallboard {
                    at: next.at,
                    queues: Vec::new(),
                    agents: Vec::new(),
                },
                &next,
            ),
        };
        let subs: Vec<(String, Vec<hotline_cti::QueueId>)> = hub
            .sessions
            .iter()
            .filter_map(|(t, s)| s.wallboard.clone().map(|q| (t.clone(), q)))
            .collect();
        for (token, filter) in subs {
            let mut d = delta.clone();
            d.queues = wallboard::filter_queues(d.queues, &filter);
            hub.push_to_session(&token, Event::WallboardDelta(d));
        }
        prev = Some(next);
    }
}

/// Ends sessions whose desktop did not come back within the linger time.
async fn reaper(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let every = (inner.settings.session_linger / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.recv() => break,
        }
        let now = Instant::now();
        let expired: Vec<(String, AgentId)> = inner
            .hub()
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.conn.is_none()
                    && s.lost_at
                        .is_some_and(|t| now.duration_since(t) >= inner.settings.session_linger)
            })
            .map(|(t, s)| (t.clone(), s.agent.clone()))
            .collect();
        for (token, agent) in expired {
            inner.hub().end_session(&token, LogoutReason::Requested);
            tracing::info!(agent = %agent, "desktop did not come back; agent logged out of routing");
            if let Err(e) = inner
                .routing
                .logout(&crate::routing::AgentId::new(agent.as_str()))
                .await
            {
                tracing::debug!(error = %e, "routing logout after linger");
            }
        }
    }
}
