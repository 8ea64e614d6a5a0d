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

pub async fn run(cfg: Config) -> Result<(), String> {
    tracing::info!(node = %cfg.node.name, config = %cfg.file.display(), "hotline-switch starting");
    let store = Store::open(
        &cfg.database.url,
        StoreOptions {
            max_connections: cfg.database.max_connections,
            busy_timeout: Duration::from_millis(cfg.database.busy_timeout_ms),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("database {}: {e}", redact_url(&cfg.database.url)))?;
    tracing::info!(backend = ?store.backend(), "database open and migrated");

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

    // Routing (the ACD task) and call control, joined by the bus.
    let (bus, commands) = crate::bus::Bus::new();
    let routing_setup = crate::routing::load_queues(&cfg).map_err(|e| e.to_string())?;
    let routing = crate::routing::spawn(routing_setup, Some(store.clone()));
    let calls = crate::calls::start_from_config(
        &cfg,
        store.clone(),
        bus.clone(),
        commands,
        Some(routing.clone()),
    )
    .await?;
    let sip_addr = calls.local;

    let state = http::AppState {
        store: store.clone(),
        metrics: Arc::new(http::Metrics::default()),
        started: Instant::now(),
        node: cfg.node.name.clone(),
    };
    let listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (http.listen): {e}", cfg.http.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %local, "HTTP listening (/health, /metrics)");
    // A line for scripts and tests that start the switch with port 0.
    println!("hotline-switch ready http={local}");
    // Second line: the SIP address (UDP and TCP), for tests that use `sip.listen` port 0.
    println!("hotline-switch sip={sip_addr}");

    let server =
        axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown_signal());
    server.await.map_err(|e| format!("HTTP server: {e}"))?;

    tracing::info!("shutting down: ending calls");
    calls.shutdown().await;

    tracing::info!("shutting down: finishing database writes");
    store.close().await;
    tracing::info!("stopped");
    Ok(())
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
