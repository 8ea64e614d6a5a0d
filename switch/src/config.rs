//! Configuration: `config/switch.toml` plus the files it names. Every error says which file,
//! which line and which key is wrong, because the person reading it is an operator at 3 a.m.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration error that names the file, the line and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// Dotted key path (`http.listen`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The whole switch configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub node: NodeConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub demo: DemoConfig,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub cti: CtiConfig,
    #[serde(default)]
    pub payments: PaymentsConfig,
    #[serde(default)]
    pub webhooks: crate::webhooks::WebhooksConfig,
    #[serde(default)]
    pub sip: crate::sip::config::SipConfig,
    #[serde(default)]
    pub media: crate::sip::config::MediaConfig,
    #[serde(default)]
    pub dialplan: crate::sip::config::DialplanConfig,
    #[serde(default)]
    pub trunks: Vec<crate::sip::config::TrunkConfig>,
    #[serde(default)]
    pub extensions: Vec<crate::sip::config::ExtensionConfig>,
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// The folder holding switch.toml; relative paths in the config are resolved against it.
    #[serde(skip)]
    pub dir: PathBuf,
    /// The file this was read from.
    #[serde(skip)]
    pub file: PathBuf,
    /// The text it was parsed from (for the line numbers of later cross-file checks).
    #[serde(skip)]
    pub text: SourceText,
}

/// A configuration file's text. It holds secrets (passwords, API keys), so `Debug` prints
/// only its length.
#[derive(Clone, Default)]
pub struct SourceText(pub String);

impl fmt::Debug for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes of configuration text>", self.0.len())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Name of this switch in logs and metrics.
    pub name: String,
    /// Country code (digits) used to normalise national numbers to E.164.
    pub country_code: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: "hotline-1".into(),
            country_code: "1".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP server (`/health`, `/metrics`, `/cti`, `/api/v1`).
    pub listen: SocketAddr,
    /// REST API requests one token may send at once before the rate limit (docs/api.md).
    pub api_burst: u32,
    /// REST API requests a second one token may send, sustained.
    pub api_per_second: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        let limit = crate::api::auth::RateLimit::default();
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_burst: limit.burst,
            api_per_second: limit.per_second,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://<file>` (relative to the working directory) or `postgres://user@host:port/db`.
    pub url: String,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://data/hotline.db".into(),
            max_connections: 8,
            busy_timeout_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `hotline_switch=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// Show caller numbers and names in logs. Off by default; switch on only to debug.
    pub personal_data: bool,
    /// `text` for people, `json` for log shippers.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            personal_data: false,
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Load the demo data file into an empty database at start-up.
    pub seed: bool,
    /// The demo data file, relative to the config folder.
    pub file: PathBuf,
    /// Knowledge-base articles loaded when the knowledge base is empty (with `seed`), relative
    /// to the config folder; a missing file loads nothing.
    pub knowledge_base: PathBuf,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: true,
            file: PathBuf::from("demo.toml"),
            knowledge_base: PathBuf::from("kb.toml"),
        }
    }
}

/// `[routing]`: the ACD task.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The queues file (routing rules per queue), relative to the config folder. Unset: the
    /// shipped `config/queues.toml`, built into the binary.
    pub queues_file: Option<PathBuf>,
}

/// `[cti]`: the agent desktops' WebSocket server (`/cti` on the HTTP listener).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CtiConfig {
    /// Serve `/cti`.
    pub enabled: bool,
    /// Desktops send a heartbeat at least this often (told in `welcome`).
    pub heartbeat_secs: u32,
    /// A connection silent for this many heartbeat intervals is closed (the session and its
    /// calls survive for a resume).
    pub missed_heartbeats: u32,
    /// Failed logins for one agent id, from addresses that have not logged in as that agent
    /// recently, that lock the agent id against such addresses (its recent addresses still log
    /// in); also the failures in a row that cost a recent address its trust.
    pub lockout_failures: u32,
    /// Failed logins from one source address (an IPv6 /64), for agents it has not logged in as
    /// recently, that ban the source. Higher than `lockout_failures`: a whole site may sit
    /// behind one NAT address.
    pub lockout_failures_per_address: u32,
    /// Failures older than this no longer count.
    pub lockout_window_secs: u64,
    /// How long a lock-out or ban lasts.
    pub lockout_secs: u64,
    /// How long a successful login keeps its address trusted for that agent (not refused by
    /// the agent's lock-out or a ban of the address). Remembered in memory only.
    pub lockout_trust_secs: u64,
    /// A connection that has not logged in (or resumed a session) this many milliseconds after
    /// it opened is closed, whatever it sends (pings and heartbeats included).
    pub login_timeout_ms: u64,
    /// Commands per second a session may send on average (any command) ...
    pub commands_per_sec: f64,
    /// ... and in a burst. Commands over the limit are answered `rate_limited`, not executed.
    pub command_burst: u32,
    /// Agent state changes (ready, not_ready, end_wrap_up, and supervisors' force_not_ready,
    /// force_logout, set_skills) per second a session may send on average, and in a burst.
    pub state_changes_per_sec: f64,
    pub state_change_burst: u32,
    /// Help requests per second a session may send on average, and in a burst.
    pub help_requests_per_sec: f64,
    pub help_request_burst: u32,
    /// How long a session whose connection dropped can be resumed; after it the agent is logged
    /// out of routing (a call in progress is not touched).
    pub session_linger_secs: u64,
    /// Events remembered per session for replay after a reconnect; older gaps get a snapshot.
    pub event_log_capacity: usize,
    /// How often subscribed supervisors get wallboard updates, in milliseconds (100 to 1000).
    pub wallboard_interval_ms: u64,
    /// Not-ready reason codes agents may pick.
    pub not_ready_reasons: Vec<String>,
    /// PEM certificate chain: with `tls_key`, the HTTP routes (`/cti`, `/health`, `/metrics`)
    /// are also served over TLS (wss://, https://) on `tls_listen`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The TLS listener's address (port 0 picks a free port).
    pub tls_listen: SocketAddr,
}

impl Default for CtiConfig {
    fn default() -> Self {
        CtiConfig {
            enabled: true,
            heartbeat_secs: 15,
            missed_heartbeats: 3,
            lockout_failures: 5,
            lockout_failures_per_address: 20,
            lockout_window_secs: 300,
            lockout_secs: 300,
            lockout_trust_secs: 30 * 86_400,
            login_timeout_ms: 10_000,
            commands_per_sec: 20.0,
            command_burst: 40,
            state_changes_per_sec: 0.5,
            state_change_burst: 5,
            help_requests_per_sec: 0.1,
            help_request_burst: 3,
            session_linger_secs: 300,
            event_log_capacity: 256,
            wallboard_interval_ms: 1000,
            not_ready_reasons: ["break", "lunch", "training", "meeting", "admin"]
                .map(String::from)
                .to_vec(),
            tls_cert: None,
            tls_key: None,
            tls_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
        }
    }
}

/// `[connections]`: limits and time-outs of the stream listeners, so that idle or slow
/// connections cannot exhaust file descriptors or memory (docs/security.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// `[connections.http]`: the HTTP listener (`[http] listen`, with `/cti`) and the TLS
    /// listener (`[cti] tls_listen`), each on its own.
    pub http: HttpLimitsConfig,
    /// `[connections.sip_tcp]`: SIP over TCP (`[sip] listen` with `tcp = true`).
    pub sip_tcp: SipTcpLimitsConfig,
}

/// `[connections.http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimitsConfig {
    /// Open connections at most, per listener; more are closed at accept.
    pub max_connections: usize,
    /// Open connections at most from one IP address, per listener (a site behind one NAT
    /// address has one WebSocket per desktop).
    pub max_connections_per_ip: usize,
    /// A request's header must be complete this many seconds after the server starts waiting
    /// for it (a new connection, or a kept-alive one between requests): slowloris protection.
    pub header_timeout_secs: u64,
    /// A connection that moves no byte for this long while a request is being read or
    /// answered is closed. Upgraded WebSockets are left to the CTI heartbeat.
    pub idle_timeout_secs: u64,
    /// The TLS handshake must finish within this many seconds.
    pub tls_handshake_timeout_secs: u64,
}

impl Default for HttpLimitsConfig {
    fn default() -> Self {
        HttpLimitsConfig {
            max_connections: 2048,
            max_connections_per_ip: 512,
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            tls_handshake_timeout_secs: 10,
        }
    }
}

/// `[connections.sip_tcp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTcpLimitsConfig {
    /// Accepted connections at most; more are closed at accept.
    pub max_connections: usize,
    /// Accepted connections at most from one IP address.
    pub max_connections_per_ip: usize,
    /// A message (the first one on a new connection, or one that has started arriving) must
    /// be complete within this many seconds.
    pub message_timeout_secs: u64,
    /// A connection with no message and no CRLF keep-alive for this long is closed, unless a
    /// registration uses it.
    pub idle_timeout_secs: u64,
    /// Bytes waiting to be written to one connection at most; a peer that does not read is
    /// disconnected when its queue is full (slow-peer policy).
    pub send_queue_bytes: usize,
}

impl Default for SipTcpLimitsConfig {
    fn default() -> Self {
        SipTcpLimitsConfig {
            max_connections: 2048,
            max_connections_per_ip: 256,
            message_timeout_secs: 30,
            idle_timeout_secs: 120,
            send_queue_bytes: 64 * 1024,
        }
    }
}

/// `[payments]`: where card charges from the IVR's `pay` node go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// `sandbox` (built in, charges nothing real; the test cards of docs/ivr.md) or `http`
    /// (the HTTP JSON adapter: `POST url` with the API key, docs/ivr.md#payments).
    pub gateway: GatewayKind,
    /// The processor's charge endpoint, for `gateway = "http"`: `http://` to this machine
    /// only (127.0.0.1, ::1, localhost), i.e. a local TLS-terminating proxy, because the body
    /// carries card data.
    pub url: String,
    /// The processor's API key (sent as `Authorization: Bearer`); never logged.
    pub api_key: String,
    /// How long one charge may take (connect, send, answer) before it counts as a gateway
    /// error and is retried with the same idempotency key.
    pub timeout_secs: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            gateway: GatewayKind::Sandbox,
            url: String::new(),
            api_key: String::new(),
            timeout_secs: 10,
        }
    }
}

impl fmt::Debug for PaymentsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentsConfig")
            .field("gateway", &self.gateway)
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// `[payments] gateway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Sandbox,
    Http,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates configuration text; `path` is used in errors and to resolve files.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = parse_toml(path, text)?;
        cfg.file = path.to_path_buf();
        cfg.text = SourceText(text.to_string());
        // Absolute, so that paths resolved against it (prompts, flows, queues, certificates)
        // mean the same file to every component, whatever their own base directory.
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        cfg.dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        cfg.validate(text)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: self.file.clone(),
            line: find_key_line(text, key),
            key: Some(key.to_string()),
            message,
        };
        if let Err(e) = hotline_store::Backend::from_url(&self.database.url) {
            return Err(err("database.url", e.to_string()));
        }
        if self.database.max_connections == 0 {
            return Err(err("database.max_connections", "must be at least 1".into()));
        }
        if self.http.api_burst == 0 {
            return Err(err("http.api_burst", "must be at least 1".into()));
        }
        if !(self.http.api_per_second.is_finite() && self.http.api_per_second > 0.0) {
            return Err(err(
                "http.api_per_second",
                "must be a number above 0".into(),
            ));
        }
        let cc = &self.node.country_code;
        if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "node.country_code",
                "must be 1 to 3 digits, without `+`".into(),
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(err("log.level", format!("not a valid log filter: {e}")));
        }
        if self.demo.seed && !self.dir.join(&self.demo.file).is_file() {
            return Err(err(
                "demo.file",
                format!(
                    "{} does not exist (set demo.seed = false to start without demo data)",
                    self.dir.join(&self.demo.file).display()
                ),
            ));
        }
        if let Some(q) = &self.routing.queues_file
            && !self.resolve(q).is_file()
        {
            return Err(err(
                "routing.queues_file",
                format!("{} does not exist", self.resolve(q).display()),
            ));
        }
        let cti = &self.cti;
        for (key, value) in [
            ("cti.heartbeat_secs", u64::from(cti.heartbeat_secs)),
            ("cti.missed_heartbeats", u64::from(cti.missed_heartbeats)),
            ("cti.lockout_failures", u64::from(cti.lockout_failures)),
            (
                "cti.lockout_failures_per_address",
                u64::from(cti.lockout_failures_per_address),
            ),
            ("cti.lockout_window_secs", cti.lockout_window_secs),
            ("cti.event_log_capacity", cti.event_log_capacity as u64),
            ("cti.login_timeout_ms", cti.login_timeout_ms),
            ("cti.command_burst", u64::from(cti.command_burst)),
            ("cti.state_change_burst", u64::from(cti.state_change_burst)),
            ("cti.help_request_burst", u64::from(cti.help_request_burst)),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        for (key, value) in [
            ("cti.commands_per_sec", cti.commands_per_sec),
            ("cti.state_changes_per_sec", cti.state_changes_per_sec),
            ("cti.help_requests_per_sec", cti.help_requests_per_sec),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(err(key, "must be a number above 0".into()));
            }
        }
        if !(100..=1000).contains(&cti.wallboard_interval_ms) {
            return Err(err(
                "cti.wallboard_interval_ms",
                "must be 100 to 1000 (supervisors see updates at least every second)".into(),
            ));
        }
        if cti.not_ready_reasons.is_empty()
            || cti.not_ready_reasons.iter().any(|r| r.trim().is_empty())
        {
            return Err(err(
                "cti.not_ready_reasons",
                "must list at least one non-empty reason code".into(),
            ));
        }
        match (&cti.tls_cert, &cti.tls_key) {
            (None, None) => {}
            (Some(_), None) => {
                return Err(err("cti.tls_cert", "needs cti.tls_key as well".into()));
            }
            (None, Some(_)) => {
                return Err(err("cti.tls_key", "needs cti.tls_cert as well".into()));
            }
            (Some(c), Some(k)) => {
                for (key, p) in [("cti.tls_cert", c), ("cti.tls_key", k)] {
                    if !self.resolve(p).is_file() {
                        return Err(err(
                            key,
                            format!("{} does not exist", self.resolve(p).display()),
                        ));
                    }
                }
            }
        }
        let http = &self.connections.http;
        let sip_tcp = &self.connections.sip_tcp;
        for (key, value) in [
            (
                "connections.http.max_connections",
                http.max_connections as u64,
            ),
            (
                "connections.http.max_connections_per_ip",
                http.max_connections_per_ip as u64,
            ),
            (
                "connections.http.header_timeout_secs",
                http.header_timeout_secs,
            ),
            ("connections.http.idle_timeout_secs", http.idle_timeout_secs),
            (
                "connections.http.tls_handshake_timeout_secs",
                http.tls_handshake_timeout_secs,
            ),
            (
                "connections.sip_tcp.max_connections",
                sip_tcp.max_connections as u64,
            ),
            (
                "connections.sip_tcp.max_connections_per_ip",
                sip_tcp.max_connections_per_ip as u64,
            ),
            (
                "connections.sip_tcp.message_timeout_secs",
                sip_tcp.message_timeout_secs,
            ),
            (
                "connections.sip_tcp.idle_timeout_secs",
                sip_tcp.idle_timeout_secs,
            ),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1".into()));
            }
        }
        // The largest SIP message (64 KiB of header, 1 MiB of body) must fit in the queue.
        if sip_tcp.send_queue_bytes < 64 * 1024 {
            return Err(err(
                "connections.sip_tcp.send_queue_bytes",
                "must be at least 65536 (one large SIP message)".into(),
            ));
        }
        let pay = &self.payments;
        if pay.gateway == GatewayKind::Http {
            // A key that is missing altogether is reported at the `gateway` line that needs it.
            let pay_err = |key: &str, message: String| {
                let mut e = err(key, message);
                e.line = e.line.or_else(|| find_key_line(text, "payments.gateway"));
                e
            };
            if let Err(e) = crate::calls::gateway::check_url(&pay.url) {
                return Err(pay_err("payments.url", e));
            }
            if pay.api_key.trim().is_empty() {
                return Err(pay_err(
                    "payments.api_key",
                    "gateway = \"http\" needs the processor's API key".into(),
                ));
            }
        }
        if !(1..=120).contains(&pay.timeout_secs) {
            return Err(err("payments.timeout_secs", "must be 1 to 120".into()));
        }
        if let Err((key, message)) = self.webhooks.check() {
            return Err(err(key, message));
        }
        crate::sip::config::validate(
            &self.file,
            text,
            &self.sip,
            &self.media,
            &self.dialplan,
            &self.trunks,
            &self.extensions,
        )?;
        Ok(())
    }

    /// The IVR flows of `<config dir>/ivr`, checked against the prompts; `None` when the folder
    /// does not exist or media is not anchored (no IVR without media).
    pub fn load_flows(&self) -> Result<Option<hotline_ivr::FlowSet>, ConfigError> {
        let dir = self.dir.join("ivr");
        if !self.media.anchor || !dir.is_dir() {
            return Ok(None);
        }
        let prompts = hotline_ivr::PromptDir::default_for(&self.dir);
        hotline_ivr::FlowSet::load_dir(&dir, &prompts)
            .map(Some)
            .map_err(|e| ConfigError {
                file: dir,
                line: None,
                key: None,
                message: format!("IVR flows: {e}"),
            })
    }

    /// Checks what the dial plan and the IVR flows name against what exists: every route's
    /// `queue` is a queue of the queues file, every `ivr` a loaded flow, and every queue a
    /// routed flow sends callers to is a queue. Run at start-up and by `check-config`, so a typo fails
    /// the start instead of the first call that takes the route.
    pub fn check_references(
        &self,
        queues: &crate::routing::RoutingSetup,
        flows: Option<&hotline_ivr::FlowSet>,
    ) -> Result<(), ConfigError> {
        let queue_ids: Vec<&str> = queues.queues.iter().map(|q| q.acd.id.as_str()).collect();
        let flow_names: Vec<&str> = flows.map(|f| f.names()).unwrap_or_default();
        crate::sip::config::validate_targets(
            &self.file,
            &self.text.0,
            &self.dialplan,
            &queue_ids,
            &flow_names,
        )?;
        if let Some(flows) = flows {
            // The flows callers can reach; a sample flow no route names is not checked.
            let routed = self.dialplan.routes.iter().filter_map(|r| r.ivr.as_deref());
            for name in routed {
                let Some(flow) = flows.get(name) else {
                    continue;
                };
                for (node, queue) in flow.queue_references() {
                    if !queue_ids.contains(&queue) {
                        return Err(ConfigError {
                            file: flow.file().to_path_buf(),
                            line: None,
                            key: Some(format!("nodes.{node}.queue")),
                            message: format!(
                                "no queue {queue:?} in the queues file (queues: {})",
                                queue_ids.join(", ")
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// A path from the configuration, resolved against the config folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

/// Deserialises TOML text, turning any error into one that names file, line and key.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => locate(text, span.start),
            None => (None, None),
        };
        ConfigError {
            file: path.to_path_buf(),
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })
}

/// Line number and dotted key at a byte offset of a TOML document.
fn locate(text: &str, offset: usize) -> (Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let mut table = String::new();
    for l in text[..line_start].lines() {
        if let Some(h) = table_header(l) {
            table = h;
        }
    }
    let trimmed = line.trim_start();
    let key = if let Some(h) = table_header(line) {
        Some(h)
    } else if let Some((k, _)) = trimmed.split_once('=') {
        let k = k.trim().trim_matches('"');
        Some(if table.is_empty() {
            k.to_string()
        } else {
            format!("{table}.{k}")
        })
    } else if !table.is_empty() {
        Some(table)
    } else {
        None
    };
    (Some(line_no), key)
}

fn table_header(line: &str) -> Option<String> {
    let t = line.trim();
    let t = t.split('#').next().unwrap_or("").trim();
    if t.starts_with('[') && t.ends_with(']') {
        Some(t.trim_matches(|c| c == '[' || c == ']').trim().to_string())
    } else {
        None
    }
}

/// The line on which a dotted key (`http.listen`) is set, if it is set in the text.
pub fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, key) = match dotted.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        if let Some(h) = table_header(l) {
            current = h;
            continue;
        }
        if current == table
            && let Some((k, _)) = l.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("demo.toml"), "").expect("demo");
        let file = dir.path().join("switch.toml");
        Config::parse(&file, text).map_err(|mut e| {
            e.file = PathBuf::from("switch.toml");
            e
        })
    }

    #[test]
    fn defaults_are_valid() {
        let c = parse("").expect("empty config is valid");
        assert_eq!(c.http.listen.port(), 8080);
        assert!(c.database.url.starts_with("sqlite://"));
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let e = parse("[node]\nname = \"x\"\n\n[http]\nlisten = \"localhost:port\"\n").unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert_eq!(e.key.as_deref(), Some("http.listen"), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with("switch.toml:5: key `http.listen`: "),
            "{shown}"
        );
    }

    #[test]
    fn api_rate_limit_is_checked() {
        let c = parse("").expect("defaults");
        assert_eq!((c.http.api_burst, c.http.api_per_second), (100, 20.0));
        let e = parse("[http]\napi_burst = 0\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("http.api_burst")),
            "{e}"
        );
        let e = parse("[http]\napi_per_second = 0.0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("http.api_per_second"), "{e}");
    }

    #[test]
    fn unknown_key_names_it() {
        let e = parse("[database]\nurl = \"sqlite://x.db\"\nmax_conections = 3\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("database.max_conections")),
            "{e}"
        );
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_key_too() {
        let e = parse("[database]\n\nurl = \"mysql://db\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("database.url")),
            "{e}"
        );
        let e = parse("[log]\nlevel = \"info,,=[\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("log.level"), "{e}");
        let e = parse("[node]\ncountry_code = \"+49\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("node.country_code")),
            "{e}"
        );
    }

    #[test]
    fn a_bad_trunk_media_network_names_its_key() {
        let e = parse(
            "[[trunks]]\nname = \"c\"\naddress = \"192.0.2.1:5060\"\nmedia_networks = [\"192.0.2.0/24\", \"carrier\"]\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some("trunks[0].media_networks[1]")),
            "{e}"
        );
        let ok = parse(
            "[[trunks]]\nname = \"c\"\naddress = \"192.0.2.1:5060\"\nmedia_networks = [\"192.0.2.0/24\", \"198.51.100.7\"]\nmax_calls = 100\n",
        )
        .unwrap();
        assert_eq!(ok.trunks[0].media_networks().len(), 2);
    }

    #[test]
    fn cti_and_routing_errors_name_their_keys() {
        let e = parse("[cti]\nheartbeat_secs = 0\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("cti.heartbeat_secs")),
            "{e}"
        );
        let e = parse("[cti]\nstate_changes_per_sec = 0.0\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("cti.state_changes_per_sec")),
            "{e}"
        );
        let e = parse("[cti]\nlogin_timeout_ms = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("cti.login_timeout_ms"), "{e}");
        let e = parse("[cti]\nwallboard_interval_ms = 5000\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("cti.wallboard_interval_ms"), "{e}");
        let e = parse("[cti]\ntls_cert = \"a.crt\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("cti.tls_cert")),
            "{e}"
        );
        let e = parse("[cti]\ntls_cert = \"a.crt\"\ntls_key = \"a.key\"\n").unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        let e = parse("[routing]\nqueues_file = \"nope.toml\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("routing.queues_file")),
            "{e}"
        );
    }

    #[test]
    fn payment_gateway_errors_name_their_keys() {
        let c = parse("").expect("valid");
        assert_eq!(c.payments.gateway, GatewayKind::Sandbox);
        let c = parse(
            "[payments]\ngateway = \"http\"\nurl = \"http://127.0.0.1:9000/v1/charges\"\napi_key = \"sk_live_secret\"\n",
        )
        .expect("valid");
        assert_eq!(c.payments.gateway, GatewayKind::Http);
        assert!(
            !format!("{c:?}").contains("sk_live_secret"),
            "the key is redacted"
        );
        let e = parse("[payments]\ngateway = \"stripe\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("payments.gateway")),
            "{e}"
        );
        for (text, line, key) in [
            (
                "[payments]\ngateway = \"http\"\napi_key = \"k\"\n",
                Some(2),
                "payments.url",
            ),
            (
                "[payments]\ngateway = \"http\"\nurl = \"https://pay.example.com/charges\"\napi_key = \"k\"\n",
                Some(3),
                "payments.url",
            ),
            (
                "[payments]\ngateway = \"http\"\nurl = \"http://10.0.0.5/charges\"\napi_key = \"k\"\n",
                Some(3),
                "payments.url",
            ),
            (
                "[payments]\ngateway = \"http\"\nurl = \"http://127.0.0.1:9000/c\"\n",
                Some(2),
                "payments.api_key",
            ),
            (
                "[payments]\ngateway = \"http\"\nurl = \"http://127.0.0.1:9000/c\"\napi_key = \"\"\n",
                Some(4),
                "payments.api_key",
            ),
            (
                "[payments]\ntimeout_secs = 0\n",
                Some(2),
                "payments.timeout_secs",
            ),
            (
                "[payments]\ntimout_secs = 5\n",
                Some(2),
                "payments.timout_secs",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{text}: {e}");
            assert!(!e.to_string().contains("sk_"), "{e}");
        }
    }

    #[test]
    fn connection_limit_errors_name_their_keys() {
        let c = parse("").expect("valid");
        assert_eq!(c.connections.http.header_timeout_secs, 10);
        assert_eq!(c.connections.sip_tcp.send_queue_bytes, 64 * 1024);
        let c = parse("[connections.sip_tcp]\nmax_connections_per_ip = 3\n").expect("valid");
        assert_eq!(c.connections.sip_tcp.max_connections_per_ip, 3);
        for (text, line, key) in [
            (
                "[connections.http]\nheader_timeout_secs = 0\n",
                2,
                "connections.http.header_timeout_secs",
            ),
            (
                "[connections.sip_tcp]\n\nmax_connections = 0\n",
                3,
                "connections.sip_tcp.max_connections",
            ),
            (
                "[connections.sip_tcp]\nsend_queue_bytes = 100\n",
                2,
                "connections.sip_tcp.send_queue_bytes",
            ),
            (
                "[connections.http]\nmax_conections = 5\n",
                2,
                "connections.http.max_conections",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(line), Some(key)),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("[http]\nlisten = \"127.0.0.1:80\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn config_folder_is_absolute() {
        // Components resolve files against it from their own base directory (the media engine
        // joins prompt paths onto its prompts folder): a relative folder once doubled the prefix
        // and silenced every IVR prompt when the switch ran from the repository root.
        let c = Config::parse(
            Path::new("some/where/switch.toml"),
            "[demo]\nseed = false\n",
        )
        .expect("valid");
        assert!(c.dir.is_absolute(), "{}", c.dir.display());
        assert!(c.dir.ends_with("some/where"));
        let c = Config::parse(Path::new("switch.toml"), "[demo]\nseed = false\n").expect("valid");
        assert!(c.dir.is_absolute(), "{}", c.dir.display());
    }

    #[test]
    fn shipped_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/switch.toml");
        Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}
