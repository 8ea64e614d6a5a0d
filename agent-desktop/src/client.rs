//! The CTI client: a background thread with its own tokio runtime that keeps one WebSocket to
//! the switch, and talks to the UI over channels.
//!
//! The UI sends [`ClientRequest`]s (log in, send a command, log out) through a tokio unbounded
//! sender, whose `send` is a plain synchronous call; it receives [`ClientUpdate`]s on a
//! `std::sync::mpsc` receiver that it drains every frame. The client does the protocol chores so
//! the UI does not have to: `hello`, `login`, heartbeats, sequence checking (duplicates dropped,
//! a gap forces a resync), and reconnecting with exponential back-off plus `resume_session`, so
//! an agent whose network blips keeps their call and sees the events they missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AgentId, AgentProfile, CallId, ClientFrame, Command, ErrorBody, ErrorCode, Event, Extension,
    LogoutReason, PROTOCOL_VERSION, Reply, RequestId, Role, Secret, SeqCheck, SeqTracker,
    ServerFrame, decode_server, encode_client,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant as TokioInstant, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::DeskError;

/// What the UI asks the client to do.
#[derive(Debug, Clone)]
pub enum ClientRequest {
    /// Connect to `url` (e.g. `ws://127.0.0.1:8080/cti`) and log in.
    Login {
        /// The switch's CTI WebSocket URL.
        url: String,
        /// Agent id.
        agent: AgentId,
        /// Password.
        password: Secret,
        /// Phone for today, if not the agent's own.
        extension: Option<Extension>,
    },
    /// Send a session command; its reply comes back as [`ClientUpdate::Reply`].
    Send(Command),
    /// Log out and disconnect.
    Logout,
    /// Stop the client thread.
    Shutdown,
}

/// The connection as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Not connected and not trying (before login, after logout).
    Offline,
    /// Connecting for the first time.
    Connecting,
    /// Connected and logged in.
    Connected,
    /// Lost; the next attempt is in `retry_in`.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Delay before the next attempt.
        retry_in: Duration,
        /// Why the connection was lost (no personal data).
        reason: String,
    },
}

/// What the client tells the UI.
#[derive(Debug, Clone)]
pub enum ClientUpdate {
    /// The connection state changed.
    Connection(ConnState),
    /// Logged in (a fresh session, not a resume): a `snapshot` event follows.
    LoggedIn {
        /// The role.
        role: Role,
        /// The agent's profile.
        profile: AgentProfile,
        /// Reasons for the not-ready picker.
        not_ready_reasons: Vec<hotline_cti::ReasonCode>,
        /// Dispositions for the wrap-up form.
        dispositions: Vec<hotline_cti::Disposition>,
    },
    /// The switch refused the login (wrong password, locked out, bad version).
    LoginFailed(ErrorBody),
    /// The answer to a [`ClientRequest::Send`].
    Reply {
        /// The command's wire type (`"answer"`).
        kind: &'static str,
        /// The call it concerned, if any.
        call: Option<CallId>,
        /// The reply.
        result: Result<Reply, ErrorBody>,
    },
    /// An event, in order and without duplicates.
    Event(Event),
}

/// Exponential back-off with deterministic jitter: 1 s, 2 s, 4 s ... up to `max`, each scaled by
/// a factor in [0.5, 1.0) drawn from a seeded generator so a whole floor of desktops does not
/// reconnect in the same millisecond after a switch restart.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A back-off starting at `base`, capped at `max`, jittered from `seed` (e.g. a hash of the
    /// agent id).
    pub fn new(base: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// Attempts made since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        let capped = exp.min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let factor = 0.5 + (self.rng % 1000) as f64 / 2000.0;
        capped.mul_f64(factor)
    }

    /// Back to the first delay (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Tunables of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name sent in `hello`.
    pub client_name: String,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Limit for TCP + WebSocket connect and for each handshake reply.
    pub connect_timeout: Duration,
    /// TLS settings for `wss://` URLs (see [`tls_config`]); `None`: the public web roots only.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            client_name: format!("hotline-desktop/{}", env!("CARGO_PKG_VERSION")),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            tls: None,
        }
    }
}

/// TLS settings for `wss://`: the public web roots plus, optionally, the center's own CA
/// certificate(s) from a PEM file (a switch with a certificate from an internal CA).
pub fn tls_config(
    extra_ca_pem: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, DeskError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca_pem {
        let shown = path.display();
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| DeskError::Tls(format!("{shown}: {e}")))?
        {
            let cert = cert.map_err(|e| DeskError::Tls(format!("{shown}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| DeskError::Tls(format!("{shown}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(DeskError::Tls(format!(
                "{shown}: no certificate in the file"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DeskError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The UI's ends of the client's channels.
pub struct ClientChannels {
    /// Requests to the client.
    pub requests: UnboundedSender<ClientRequest>,
    /// Updates from the client.
    pub updates: mpsc::Receiver<ClientUpdate>,
}

/// Starts the client thread. `wake_ui` is called after each update (the app passes
/// `egui::Context::request_repaint`).
pub fn spawn(
    config: ClientConfig,
    wake_ui: Arc<dyn Fn() + Send + Sync>,
) -> Result<(ClientChannels, std::thread::JoinHandle<()>), DeskError> {
    let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel();
    let (upd_tx, upd_rx) = mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DeskError::io("tokio runtime", e))?;
    let thread = std::thread::Builder::new()
        .name("cti-client".into())
        .spawn(move || {
            let out = Out {
                tx: upd_tx,
                wake: wake_ui,
            };
            runtime.block_on(run(config, req_rx, out));
        })
        .map_err(|e| DeskError::io("cti thread", e))?;
    Ok((
        ClientChannels {
            requests: req_tx,
            updates: upd_rx,
        },
        thread,
    ))
}

struct Out {
    tx: mpsc::Sender<ClientUpdate>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Out {
    /// Sends an update; false when the UI is gone.
    fn send(&self, update: ClientUpdate) -> bool {
        let alive = self.tx.send(update).is_ok();
        (self.wake)();
        alive
    }
}

#[derive(Clone)]
struct Creds {
    url: String,
    agent: AgentId,
    password: Secret,
    extension: Option<Extension>,
}

/// How one connection ended.
enum End {
    /// Lost; reconnect (`connected` says whether login/resume had succeeded).
    Dropped { reason: String, connected: bool },
    /// Session over (logout, forced logout, login refused): go offline.
    Offline,
    /// New credentials while connected.
    Relogin(Creds),
    /// Stop the thread.
    Shutdown,
}

async fn run(config: ClientConfig, mut requests: UnboundedReceiver<ClientRequest>, out: Out) {
    let mut creds: Option<Creds> = None;
    let mut session: Option<Secret> = None;
    let mut tracker = SeqTracker::new();
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_max, 0x9e37_79b9);
    loop {
        let Some(current) = creds.clone() else {
            match requests.recv().await {
                Some(ClientRequest::Login {
                    url,
                    agent,
                    password,
                    extension,
                }) => {
                    backoff = Backoff::new(
                        config.backoff_base,
                        config.backoff_max,
                        seed_from(agent.as_str()),
                    );
                    creds = Some(Creds {
                        url,
                        agent,
                        password,
                        extension,
                    });
                    session = None;
                    if !out.send(ClientUpdate::Connection(ConnState::Connecting)) {
                        return;
                    }
                }
                Some(ClientRequest::Send(cmd)) => {
                    let _ = out.send(not_connected(&cmd));
                }
                Some(ClientRequest::Logout) => {}
                Some(ClientRequest::Shutdown) | None => return,
            }
            continue;
        };

        let end = connect_and_run(
            &config,
            &current,
            &mut session,
            &mut tracker,
            &mut requests,
            &out,
            &mut backoff,
        )
        .await;
        match end {
            End::Shutdown => return,
            End::Offline => {
                creds = None;
                session = None;
                tracker.reset();
                if !out.send(ClientUpdate::Connection(ConnState::Offline)) {
                    return;
                }
            }
            End::Relogin(new) => {
                creds = Some(new);
                session = None;
                tracker.reset();
            }
            End::Dropped { reason, connected } => {
                if connected {
                    backoff.reset();
                }
                let delay = backoff.next_delay();
                tracing::info!(%reason, ?delay, "cti: connection lost, reconnecting");
                let state = ConnState::Reconnecting {
                    attempt: backoff.attempt(),
                    retry_in: delay,
                    reason,
                };
                if !out.send(ClientUpdate::Connection(state)) {
                    return;
                }
                let wake_at = TokioInstant::now() + delay;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep_until(wake_at) => break,
                        req = requests.recv() => match req {
                            Some(ClientRequest::Send(cmd)) => { let _ = out.send(not_connected(&cmd)); }
                            Some(ClientRequest::Logout) => {
                                creds = None;
                                session = None;
                                tracker.reset();
                                let _ = out.send(ClientUpdate::Connection(ConnState::Offline));
                                break;
                            }
                            Some(ClientRequest::Login { url, agent, password, extension }) => {
                                creds = Some(Creds { url, agent, password, extension });
                                session = None;
                                tracker.reset();
                                break;
                            }
                            Some(ClientRequest::Shutdown) | None => return,
                        },
                    }
                }
            }
        }
    }
}

fn seed_from(text: &str) -> u64 {
    // FNV-1a: a stable, dependency-free hash for the jitter seed.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn not_connected(cmd: &Command) -> ClientUpdate {
    ClientUpdate::Reply {
        kind: cmd.kind(),
        call: cmd.call().cloned(),
        result: Err(ErrorBody::new(
            ErrorCode::Other,
            "not connected to the switch; try again when the connection is back",
        )),
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Conn {
    ws: Ws,
    next_id: u64,
    /// Events that arrived while waiting for a handshake reply.
    early_events: Vec<hotline_cti::EventFrame>,
}

impl Conn {
    async fn send(&mut self, cmd: Command) -> Result<RequestId, String> {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let text = encode_client(&ClientFrame { id, cmd }).map_err(|e| e.to_string())?;
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| format!("send failed: {e}"))?;
        Ok(id)
    }

    /// Sends a handshake command and waits for its reply.
    async fn call(
        &mut self,
        cmd: Command,
        limit: Duration,
    ) -> Result<Result<Reply, ErrorBody>, String> {
        let id = self.send(cmd).await?;
        let deadline = TokioInstant::now() + limit;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| "no reply from the switch".to_owned())?;
            let text = match next {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None => return Err("closed by the switch".into()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("read failed: {e}")),
            };
            match decode_server(text.as_str()).map_err(|e| e.to_string())? {
                ServerFrame::Response(r) if r.re == id => return Ok(r.result),
                ServerFrame::Response(_) => continue,
                ServerFrame::Event(e) => self.early_events.push(e),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn connect_and_run(
    config: &ClientConfig,
    creds: &Creds,
    session: &mut Option<Secret>,
    tracker: &mut SeqTracker,
    requests: &mut UnboundedReceiver<ClientRequest>,
    out: &Out,
    backoff: &mut Backoff,
) -> End {
    let dropped = |reason: String| End::Dropped {
        reason,
        connected: false,
    };
    let tls = match &config.tls {
        Some(tls) => Some(tls.clone()),
        None if creds.url.starts_with("wss:") => match tls_config(None) {
            Ok(tls) => Some(tls),
            Err(e) => return dropped(e.to_string()),
        },
        None => None,
    };
    let ws = match timeout(
        config.connect_timeout,
        tokio_tungstenite::connect_async_tls_with_config(
            creds.url.as_str(),
            None,
            false,
            tls.map(tokio_tungstenite::Connector::Rustls),
        ),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return dropped(format!("cannot connect: {e}")),
        Err(_) => return dropped("connect timed out".into()),
    };
    let mut conn = Conn {
        ws,
        next_id: 1,
        early_events: Vec::new(),
    };

    let hello = Command::Hello {
        versions: vec![PROTOCOL_VERSION],
        client: config.client_name.clone(),
    };
    let heartbeat = match conn.call(hello, config.connect_timeout).await {
        Ok(Ok(Reply::Welcome { heartbeat_secs, .. })) => {
            Duration::from_secs(u64::from(heartbeat_secs.max(1)))
        }
        Ok(Ok(other)) => return dropped(format!("unexpected reply to hello: {}", other.kind())),
        Ok(Err(err)) => {
            let _ = out.send(ClientUpdate::LoginFailed(err));
            return End::Offline;
        }
        Err(reason) => return dropped(reason),
    };

    let mut resumed = false;
    if let Some(token) = session.clone() {
        let resume = Command::ResumeSession {
            session: token,
            last_seq: tracker.last_seq(),
        };
        match conn.call(resume, config.connect_timeout).await {
            Ok(Ok(Reply::Resumed { .. })) => resumed = true,
            Ok(Ok(other)) => {
                return dropped(format!("unexpected reply to resume: {}", other.kind()));
            }
            Ok(Err(err)) if err.code == ErrorCode::SessionUnknown => *session = None,
            Ok(Err(err)) => return dropped(format!("resume refused: {}", err.message)),
            Err(reason) => return dropped(reason),
        }
    }
    if !resumed {
        let login = Command::Login {
            agent: creds.agent.clone(),
            password: creds.password.clone(),
            extension: creds.extension.clone(),
        };
        match conn.call(login, config.connect_timeout).await {
            Ok(Ok(Reply::LoggedIn {
                session: token,
                role,
                profile,
                not_ready_reasons,
                dispositions,
            })) => {
                *session = Some(token);
                tracker.reset();
                let _ = out.send(ClientUpdate::LoggedIn {
                    role,
                    profile,
                    not_ready_reasons,
                    dispositions,
                });
            }
            Ok(Ok(other)) => {
                return dropped(format!("unexpected reply to login: {}", other.kind()));
            }
            Ok(Err(err)) => {
                let _ = out.send(ClientUpdate::LoginFailed(err));
                return End::Offline;
            }
            Err(reason) => return dropped(reason),
        }
    }
    backoff.reset();
    if !out.send(ClientUpdate::Connection(ConnState::Connected)) {
        return End::Shutdown;
    }
    let dropped = |reason: String| End::Dropped {
        reason,
        connected: true,
    };

    for frame in std::mem::take(&mut conn.early_events) {
        if let Some(end) = deliver(frame, tracker, out) {
            return end;
        }
    }

    let mut pending: HashMap<RequestId, (&'static str, Option<CallId>)> = HashMap::new();
    let mut last_rx = TokioInstant::now();
    let mut beat = tokio::time::interval(heartbeat);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.reset();
    loop {
        tokio::select! {
            msg = conn.ws.next() => {
                last_rx = TokioInstant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None => return dropped("closed by the switch".into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return dropped(format!("read failed: {e}")),
                };
                let frame = match decode_server(text.as_str()) {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::warn!(error = %e, "cti: undecodable frame from the switch");
                        continue;
                    }
                };
                match frame {
                    ServerFrame::Response(r) => {
                        let Some((kind, call)) = pending.remove(&r.re) else { continue };
                        if kind == "heartbeat" {
                            if let Ok(Reply::Beat { last_seq }) = r.result
                                && last_seq > tracker.last_seq() {
                                    return dropped("events were lost; resyncing".into());
                                }
                            continue;
                        }
                        if !out.send(ClientUpdate::Reply { kind, call, result: r.result }) {
                            return End::Shutdown;
                        }
                    }
                    ServerFrame::Event(e) => {
                        if let Some(end) = deliver(e, tracker, out) {
                            return end;
                        }
                    }
                }
            }
            req = requests.recv() => match req {
                Some(ClientRequest::Send(cmd)) => {
                    let info = (cmd.kind(), cmd.call().cloned());
                    match conn.send(cmd).await {
                        Ok(id) => { pending.insert(id, info); }
                        Err(reason) => return dropped(reason),
                    }
                }
                Some(ClientRequest::Logout) => {
                    let _ = conn.call(Command::Logout, Duration::from_secs(2)).await;
                    let _ = conn.ws.close(None).await;
                    return End::Offline;
                }
                Some(ClientRequest::Login { url, agent, password, extension }) => {
                    let _ = conn.call(Command::Logout, Duration::from_secs(2)).await;
                    let _ = conn.ws.close(None).await;
                    return End::Relogin(Creds { url, agent, password, extension });
                }
                Some(ClientRequest::Shutdown) | None => {
                    let _ = conn.ws.close(None).await;
                    return End::Shutdown;
                }
            },
            _ = beat.tick() => {
                if last_rx.elapsed() > heartbeat * 3 {
                    return dropped("the switch stopped answering heartbeats".into());
                }
                match conn.send(Command::Heartbeat).await {
                    Ok(id) => { pending.insert(id, ("heartbeat", None)); }
                    Err(reason) => return dropped(reason),
                }
            }
        }
    }
}

/// Passes an event to the UI after sequence checks. `Some(end)` ends the connection.
fn deliver(frame: hotline_cti::EventFrame, tracker: &mut SeqTracker, out: &Out) -> Option<End> {
    match tracker.observe(&frame) {
        SeqCheck::Apply => {
            let end = match &frame.event {
                // A switch restart: keep the credentials and come back when it is up (the old
                // session is gone, so the resume is refused and the client logs in afresh).
                Event::LoggedOut {
                    reason: LogoutReason::Shutdown,
                } => Some(End::Dropped {
                    reason: "the switch is restarting".into(),
                    connected: true,
                }),
                Event::LoggedOut { .. } => Some(End::Offline),
                _ => None,
            };
            if !out.send(ClientUpdate::Event(frame.event)) {
                return Some(End::Shutdown);
            }
            end
        }
        SeqCheck::Duplicate => None,
        SeqCheck::Gap { expected, got } => Some(End::Dropped {
            reason: format!("event gap: expected seq {}, got {}", expected.0, got.0),
            connected: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 42);
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        let nominal = [1u64, 2, 4, 8, 16, 30, 30, 30];
        for (d, n) in delays.iter().zip(nominal) {
            let n = Duration::from_secs(n);
            assert!(*d >= n / 2 && *d < n, "{d:?} not in [{:?}, {n:?})", n / 2);
        }
        assert_eq!(b.attempt(), 8);
        b.reset();
        assert!(b.next_delay() < Duration::from_secs(1));
        // Same seed, same delays: deterministic.
        let mut a = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 42);
        let again: Vec<Duration> = (0..8).map(|_| a.next_delay()).collect();
        assert_eq!(again, delays);
    }
}
