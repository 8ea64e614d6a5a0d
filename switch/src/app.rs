//! Start-up, the run loop and shutdown of the switch.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hotline_store::{Store, StoreOptions};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::{http, pii, seed};

/// Installs the log subscriber from `[log]` (RUST_LOG overrides the level).
pub fn init_logging(cfg: &Config) {
    pii::show_personal_data(cfg.log.personal_data);
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Wall-clock milliseconds for records (state machines get `Instant`s instead).
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What [`start`] may leave out, for tests and tools that play a part themselves.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Start call control (SIP, media, IVR). Without it the bus's command receiver is handed
    /// back in [`Running::call_commands`] and nobody takes routing's decisions: the caller plays
    /// call control.
    pub call_control: bool,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions { call_control: true }
    }
}

/// A started switch: its addresses and the handles on its parts.
pub struct Running {
    /// The HTTP listener (`/health`, `/metrics`, `/cti`).
    pub http: std::net::SocketAddr,
    /// The TLS listener for the same routes, when `[cti] tls_cert` and `tls_key` are set.
    pub https: Option<std::net::SocketAddr>,
    /// The SIP address (UDP and TCP), when call control runs.
    pub sip: Option<std::net::SocketAddr>,
    pub store: Store,
    pub bus: crate::bus::Bus,
    pub routing: crate::routing::RoutingHandle,
    /// The CTI server, unless `[cti] enabled = false`.
    pub cti: Option<crate::cti::CtiServer>,
    /// The bus's command receiver when call control was not started.
    pub call_commands: Option<tokio::sync::mpsc::Receiver<crate::bus::CallCommand>>,
    calls: Option<crate::calls::CallControl>,
    /// The webhook delivery worker, unless `[webhooks] enabled = false`.
    webhooks: Option<crate::webhooks::Worker>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    tls: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// Opens and seeds the database, starts routing, call control, the CTI server and the HTTP
/// server, and returns once everything listens.
pub async fn start(cfg: Config, options: StartOptions) -> Result<Running, String> {
    tracing::info!(node = %cfg.node.name, config = %cfg.file.display(), "hotline-switch starting");
    check_open_files(&cfg);
    let store = Store::open(
        &cfg.database.url,
        StoreOptions {
            max_connections: cfg.database.max_connections,
            busy_timeout: Duration::from_millis(cfg.database.busy_timeout_ms),
            node: Some(cfg.node.name.clone()),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("database {}: {e}", redact_url(&cfg.database.url)))?;
    tracing::info!(backend = ?store.backend(), "database open and migrated");
    close_calls_left_open(&store, &cfg.node.name).await?;

    if cfg.demo.seed && store.is_empty().await.map_err(|e| e.to_string())? {
        let path = cfg.resolve(&cfg.demo.file);
        let data = seed::load(&path).map_err(|e| e.to_string())?;
        let report = seed::seed(&store, &data, now_millis())
            .await
            .map_err(|e| format!("seeding {}: {e}", path.display()))?;
        tracing::info!(
            customers = report.customers,
            agents = report.agents,
            items = report.items,
            "demo data loaded"
        );
    }
    if cfg.demo.seed {
        seed::seed_knowledge_base(&store, &cfg.resolve(&cfg.demo.knowledge_base), now_millis())
            .await?;
    }

    // Routing (the ACD task) and call control, joined by the bus.
    let (bus, commands) = crate::bus::Bus::new();
    let routing_setup = crate::routing::load_queues(&cfg).map_err(|e| e.to_string())?;
    cfg.check_references(
        &routing_setup,
        cfg.load_flows().map_err(|e| e.to_string())?.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    let routing = crate::routing::spawn(routing_setup, Some(store.clone()));
    let (calls, call_commands) = if options.call_control {
        let calls = crate::calls::start_from_config(
            &cfg,
            store.clone(),
            bus.clone(),
            commands,
            Some(routing.clone()),
        )
        .await?;
        (Some(calls), None)
    } else {
        (None, Some(commands))
    };
    let sip = calls.as_ref().map(|c| c.local);

    // The CTI server subscribes to the bus and routing before anything can happen on them.
    let cti = cfg.cti.enabled.then(|| {
        crate::cti::CtiServer::start(
            crate::cti::CtiSettings::from_switch_config(&cfg),
            store.clone(),
            routing.clone(),
            bus.clone(),
        )
    });

    let http_limits = http::ServeLimits::from_config(&cfg.connections.http);
    let http_stats = crate::netlimits::Listener::new("http", http_limits.connections);
    let tls_stats = crate::netlimits::Listener::new("tls", http_limits.connections);
    let mut listeners = vec![http_stats.clone()];
    if cfg.cti.tls_cert.is_some() {
        listeners.push(tls_stats.clone());
    }
    listeners.extend(calls.as_ref().map(|c| c.sip_tcp.clone()));
    let state = http::AppState {
        store: store.clone(),
        metrics: Arc::new(http::Metrics::default()),
        started: Instant::now(),
        node: cfg.node.name.clone(),
        sip_auth: calls.as_ref().map(|c| c.auth_metrics.clone()),
        calls: calls.as_ref().map(|c| c.counters()),
        call_records: calls.as_ref().map(|c| c.cdr_watch()),
        media: calls.as_ref().and_then(|c| c.media_engine()),
        cti: cti.as_ref().map(|c| c.shared_metrics()),
        listeners,
        routing: Some(routing.clone()),
    };
    let mut router = http::router(state);
    router = router.merge(crate::api::router(
        crate::api::ApiState::new(
            store.clone(),
            crate::api::auth::RateLimit {
                burst: cfg.http.api_burst,
                per_second: cfg.http.api_per_second,
            },
        )
        .with_country_code(&cfg.node.country_code),
    ));
    if let Some(cti) = &cti {
        router = router.merge(cti.router());
    }
    let (https, tls) = match (&cfg.cti.tls_cert, &cfg.cti.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = crate::cti::tls::acceptor(&cfg.resolve(cert), &cfg.resolve(key))?;
            let listener = tokio::net::TcpListener::bind(cfg.cti.tls_listen)
                .await
                .map_err(|e| {
                    format!(
                        "cannot listen on {} (cti.tls_listen): {e}",
                        cfg.cti.tls_listen
                    )
                })?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(%addr, "TLS listening (wss://.../cti, https://.../health)");
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(http::serve(
                listener,
                router.clone(),
                Some(acceptor),
                http_limits,
                tls_stats,
                async {
                    let _ = stopped.await;
                },
            ));
            (Some(addr), Some((stop, task)))
        }
        _ => (None, None),
    };
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (http.listen): {e}", cfg.http.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, cti = cti.is_some(), "HTTP listening (/health, /metrics, /cti)");
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(
        listener,
        router,
        None,
        http_limits,
        http_stats,
        async {
            let _ = stopped.await;
        },
    ));
    let webhooks = cfg
        .webhooks
        .enabled
        .then(|| crate::webhooks::Worker::spawn(store.clone(), cfg.webhooks.options()));
    Ok(Running {
        webhooks,
        http: local,
        https,
        tls,
        sip,
        store,
        bus,
        routing,
        cti,
        call_commands,
        calls,
        stop_http,
        server,
    })
}

/// End reason of the call records a crashed process of this node left open.
pub const SWITCH_RESTARTED: &str = "switch restarted";

/// Closes the call records this node left without an end when its last process died (SIGKILL,
/// power loss), before any new call starts. Only this node's records: several nodes may share
/// the database, and each tags the records it creates with its `[node] name`.
async fn close_calls_left_open(store: &Store, node: &str) -> Result<(), String> {
    let closed = store
        .close_calls_left_open(node, SWITCH_RESTARTED)
        .await
        .map_err(|e| format!("closing call records left open: {e}"))?;
    if !closed.is_empty() {
        tracing::warn!(
            calls = closed.len(),
            node,
            "closed call records left open by a previous run (reason: {SWITCH_RESTARTED})"
        );
    }
    Ok(())
}

impl Running {
    /// Stops in order: desktops are told and closed, HTTP stops, calls end, database writes
    /// finish.
    pub async fn shutdown(self) -> Result<(), String> {
        if let Some(cti) = &self.cti {
            tracing::info!("shutting down: closing CTI sessions");
            cti.shutdown();
        }
        let _ = self.stop_http.send(());
        if let Some((stop, task)) = self.tls {
            let _ = stop.send(());
            let _ = task.await;
        }
        let served = self
            .server
            .await
            .map_err(|e| format!("HTTP server task: {e}"));
        if let Some(calls) = self.calls {
            tracing::info!("shutting down: ending calls");
            calls.shutdown().await;
        }
        if let Some(webhooks) = self.webhooks {
            webhooks.stop().await;
        }
        tracing::info!("shutting down: finishing database writes");
        self.store.close().await;
        tracing::info!("stopped");
        served
    }
}

pub async fn run(cfg: Config) -> Result<(), String> {
    let running = start(cfg, StartOptions::default()).await?;
    // A line for scripts and tests that start the switch with port 0, then the SIP address
    // (UDP and TCP) for tests that use `sip.listen` port 0. One write, and a reader that went
    // away is no reason to stop.
    let mut lines = format!("hotline-switch ready http={}\n", running.http);
    if let Some(sip) = running.sip {
        lines.push_str(&format!("hotline-switch sip={sip}\n"));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(lines.as_bytes());
        let _ = out.flush();
    }
    shutdown_signal().await;
    running.shutdown().await
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

/// Raises the open-files limit to its maximum and warns when the configured connection limits
/// and media ports could need more descriptors than that (new connections would then fail with
/// `EMFILE`, and new calls for want of RTP sockets).
fn check_open_files(cfg: &Config) {
    let Some(limit) = crate::netlimits::raise_open_files_limit() else {
        return;
    };
    let needed = crate::netlimits::descriptors_needed(cfg);
    if needed > limit {
        tracing::warn!(
            limit,
            needed,
            "the open-files limit is below what media ports and [connections] limits may use: \
             raise it (systemd LimitNOFILE) or lower [connections] max_connections"
        );
    }
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
