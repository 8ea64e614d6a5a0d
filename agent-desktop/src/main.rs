//! hotline-desktop: the agent desktop binary. See the library docs (`hotline_desktop`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use hotline_desktop::app::DeskApp;
use hotline_desktop::client::{self, ClientChannels, ClientConfig, ClientUpdate};
use hotline_desktop::clock::{Clock, SystemClock};
use hotline_desktop::directory::DirectoryLink;
use hotline_desktop::outbox::{
    Outbox, OutboxWorker, OutcomeRecord, OutcomeSink, OutcomeWriter, SinkError, TicketChangeRecord,
};
use hotline_desktop::reports::{ReportQuery, ReportsLink, StoreReports};
use hotline_desktop::sample;
use hotline_desktop::store_sink::StoreDirectory;
use hotline_desktop::view::UiCommand;

/// The Hotline agent desktop.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The switch's CTI WebSocket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/cti")]
    url: String,
    /// The shared database for outcomes and tickets (e.g. `sqlite://data/hotline.db`); default:
    /// the `HOTLINE_DATABASE_URL` environment variable.
    #[arg(long)]
    database: Option<String>,
    /// The local outbox file for outcomes not yet in the database.
    #[arg(long)]
    outbox: Option<PathBuf>,
    /// A PEM file with the CA certificate(s) of the switch's TLS certificate, for `wss://`
    /// URLs when the switch's certificate is not from a public CA.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// The centre's country code (digits, like the switch's `node.country_code`): numbers typed
    /// in national format are dialled and searched in this country.
    #[arg(long, default_value = "1")]
    country_code: String,
    /// The centre's time zone as an offset from UTC (`+08:00`, `-05:00`): report days begin at
    /// its midnight and times are shown in it. Fixed: no daylight-saving changes.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    utc_offset: String,
    /// The language before login (`en` or `zh-CN`); each agent's own choice is kept in the
    /// preferences file and wins after login. Default: the last used, else `LANG`.
    #[arg(long)]
    lang: Option<String>,
    /// The preferences file (each agent's language).
    #[arg(long)]
    prefs: Option<PathBuf>,
    /// Show sample data (a logged-in agent and a screen pop) without a switch.
    #[arg(long)]
    preview: bool,
    /// No switch: like `--preview`, after the call, with the wrap-up form open.
    #[arg(long)]
    preview_wrap_up: bool,
    /// Show a sample supervisor wallboard without a switch.
    #[arg(long)]
    preview_wallboard: bool,
    /// Show supervisor KPI reports over a sample day written into a temporary SQLite database.
    #[arg(long)]
    preview_reports: bool,
    /// No switch: an agent logged in, on the Work tab with a sample worklist.
    #[arg(long)]
    preview_work: bool,
}

/// The preview's sample database file (removed again when the window closes).
fn sample_database_path() -> PathBuf {
    std::env::temp_dir().join(format!("hotline-preview-{}.db", std::process::id()))
}

/// Writes today's sample traffic into a fresh SQLite file in the temp directory; returns its URL.
fn sample_database(clock: &dyn Clock) -> Result<String, Box<dyn std::error::Error>> {
    let path = sample_database_path();
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}", path.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store =
            hotline_store::Store::open(&url, hotline_store::StoreOptions::default()).await?;
        let wall = i64::try_from(clock.wall().0).unwrap_or(0);
        sample::seed_day(&store, wall - wall.rem_euclid(86_400_000)).await?;
        store.close().await;
        Ok::<(), hotline_store::Error>(())
    })?;
    tracing::info!(%url, "preview: sample day written");
    Ok(url)
}

/// Used when no database is configured: outcomes stay in the outbox file.
struct NoDatabase;

impl OutcomeSink for NoDatabase {
    fn write(&mut self, _: &OutcomeRecord) -> Result<(), SinkError> {
        Err(SinkError::Unavailable(
            "no database configured (--database)".into(),
        ))
    }

    fn write_ticket(&mut self, _: &TicketChangeRecord) -> Result<(), SinkError> {
        Err(SinkError::Unavailable(
            "no database configured (--database)".into(),
        ))
    }
}

fn default_outbox() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("hotline").join("outbox.jsonl")
}

fn open_sink(database: Option<&str>) -> Box<dyn OutcomeSink> {
    match database {
        Some(url) => match hotline_desktop::store_sink::StoreSink::open(url) {
            Ok(sink) => Box::new(sink),
            Err(e) => {
                tracing::error!(error = %e, "cannot open the database; outcomes stay in the outbox");
                Box::new(NoDatabase)
            }
        },
        None => Box::new(NoDatabase),
    }
}

fn preview_channels(
    clock: &dyn Clock,
    wallboard: bool,
    wrap_up: bool,
    chinese: bool,
    work: bool,
) -> ClientChannels {
    let (req_tx, mut req_rx) = tokio::sync::mpsc::unbounded_channel();
    let (upd_tx, upd_rx) = std::sync::mpsc::channel();
    let wall = clock.wall();
    let earlier = hotline_cti::UnixMillis(wall.0.saturating_sub(4_000));
    if wallboard {
        for update in sample::login_as(hotline_cti::Role::Supervisor, earlier) {
            let _ = upd_tx.send(update);
        }
        let _ = upd_tx.send(ClientUpdate::Event(hotline_cti::Event::Wallboard(
            sample::wallboard(wall),
        )));
        let _ = upd_tx.send(ClientUpdate::Event(hotline_cti::Event::HelpRequested {
            agent: "1002".into(),
            call: Some("c-20261123-0009".into()),
            message: "Customer asks for a manager".into(),
            at: earlier,
        }));
    } else if work {
        for update in sample::login(earlier) {
            let _ = upd_tx.send(update);
        }
    } else {
        for update in sample::login(earlier) {
            let _ = upd_tx.send(update);
        }
        let _ = upd_tx.send(ClientUpdate::Event(hotline_cti::Event::AgentStateChanged(
            sample::status(hotline_cti::AgentState::Ringing, None, earlier.0),
        )));
        let pop = if chinese {
            sample::screen_pop_zh(earlier)
        } else {
            sample::screen_pop(earlier)
        };
        let peer = pop.ani.clone();
        let _ = upd_tx.send(ClientUpdate::Event(hotline_cti::Event::CallOffered(
            Box::new(pop),
        )));
        if wrap_up {
            // The call was answered, talked for a while and ended: the wrap-up form is open.
            let call = |state, end| {
                ClientUpdate::Event(hotline_cti::Event::CallChanged(hotline_cti::CallInfo {
                    call: sample::call(),
                    direction: hotline_cti::CallDirection::Inbound,
                    state,
                    peer: peer.clone(),
                    muted: false,
                    conference: false,
                    queue: Some("billing".into()),
                    consult_of: None,
                    colleague: None,
                    end_reason: end,
                    since: earlier,
                }))
            };
            let _ = upd_tx.send(call(hotline_cti::CallState::Connected, None));
            let _ = upd_tx.send(call(
                hotline_cti::CallState::Ended,
                Some(hotline_cti::EndReason::RemoteHangup),
            ));
            let _ = upd_tx.send(ClientUpdate::Event(hotline_cti::Event::WrapUpStarted {
                call: sample::call(),
                since: earlier,
                limit_secs: Some(120),
            }));
            let _ = upd_tx.send(ClientUpdate::Event(hotline_cti::Event::AgentStateChanged(
                sample::status(hotline_cti::AgentState::WrapUp, None, earlier.0),
            )));
        }
    }
    std::thread::spawn(move || {
        while let Some(req) = req_rx.blocking_recv() {
            tracing::info!(?req, "preview: request not sent anywhere");
        }
        drop(upd_tx);
    });
    ClientChannels {
        requests: req_tx,
        updates: upd_rx,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let client_config = ClientConfig {
        tls: Some(client::tls_config(args.ca_cert.as_deref())?),
        ..ClientConfig::default()
    };
    let outbox = Outbox::open(args.outbox.clone().unwrap_or_else(default_outbox))?;
    if !outbox.pending().is_empty() {
        tracing::info!(
            pending = outbox.pending().len(),
            "outbox: records from an earlier run are waiting"
        );
    }

    let args_preview_reports = args.preview_reports;
    let preview_db = if args.preview_reports {
        Some(sample_database(clock.as_ref())?)
    } else {
        None
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("Hotline agent desktop"),
        ..Default::default()
    };
    eframe::run_native(
        "hotline-desktop",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            let ctx2 = cc.egui_ctx.clone();
            let database = args
                .database
                .clone()
                .or_else(|| std::env::var("HOTLINE_DATABASE_URL").ok());
            let sink = open_sink(database.as_deref());
            let writer = OutcomeWriter::Worker(OutboxWorker::spawn(
                outbox,
                sink,
                clock.clone(),
                Box::new(move || ctx2.request_repaint()),
            )?);
            let preview = args.preview
                || args.preview_wrap_up
                || args.preview_wallboard
                || args.preview_reports
                || args.preview_work;
            let chinese = args
                .lang
                .as_deref()
                .and_then(hotline_desktop::i18n::Lang::parse)
                == Some(hotline_desktop::i18n::Lang::ZhCn);
            let channels = if preview {
                preview_channels(
                    clock.as_ref(),
                    args.preview_wallboard || args.preview_reports,
                    args.preview_wrap_up,
                    chinese,
                    args.preview_work,
                )
            } else {
                client::spawn(client_config, Arc::new(move || ctx.request_repaint()))?.0
            };
            let directory = if preview {
                let mut dir = hotline_desktop::directory::MemoryDirectory::default();
                if let Some(c) = sample::screen_pop(clock.wall()).customer {
                    dir.customers.push(c);
                }
                dir.work = sample::worklist(clock.wall());
                DirectoryLink::inline(Box::new(dir))
            } else {
                match database.as_deref().map(StoreDirectory::open) {
                    Some(Ok(dir)) => {
                        let dir = dir.with_country_code(&args.country_code);
                        let ctx3 = cc.egui_ctx.clone();
                        DirectoryLink::spawn(
                            Box::new(dir),
                            Box::new(move || ctx3.request_repaint()),
                        )?
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "customer search unavailable");
                        DirectoryLink::Unavailable
                    }
                    None => DirectoryLink::Unavailable,
                }
            };
            let reports_url =
                preview_db
                    .as_deref()
                    .or(if preview { None } else { database.as_deref() });
            let reports = match reports_url.map(StoreReports::open) {
                Some(Ok(source)) => {
                    let ctx4 = cc.egui_ctx.clone();
                    ReportsLink::spawn(Box::new(source), Box::new(move || ctx4.request_repaint()))?
                }
                Some(Err(e)) => {
                    tracing::error!(error = %e, "reports unavailable");
                    ReportsLink::Unavailable
                }
                None => ReportsLink::Unavailable,
            };
            let wall = clock.wall();
            let fonts = hotline_desktop::fonts::setup(&cc.egui_ctx);
            let prefs = hotline_desktop::prefs::Preferences::open(
                args.prefs
                    .clone()
                    .unwrap_or_else(hotline_desktop::prefs::Preferences::default_path),
            );
            let env_lang = std::env::var("LANG")
                .ok()
                .and_then(|l| hotline_desktop::i18n::Lang::parse(&l));
            let mut app = DeskApp::new(channels, writer, clock, &args.url)
                .with_directory(directory)
                .with_reports(reports)
                .with_font_status(fonts)
                .with_dial_plan(hotline_desktop::numbers::DialPlan::new(&args.country_code))
                .with_centre_offset(
                    hotline_desktop::reports::parse_offset(&args.utc_offset).unwrap_or_else(|| {
                        tracing::warn!(offset = %args.utc_offset, "not a UTC offset; using UTC");
                        0
                    }),
                );
            if let Some(lang) = env_lang {
                app = app.with_language(lang);
            }
            app = app.with_preferences(prefs);
            if let Some(lang) = args.lang.as_deref() {
                match hotline_desktop::i18n::Lang::parse(lang) {
                    Some(lang) => app = app.with_language(lang),
                    None => tracing::warn!(lang, "unknown language; use en or zh-CN"),
                }
            }
            if args.preview_work {
                app.forms.tab = hotline_desktop::view::Tab::Work;
            }
            if args.preview_wallboard {
                app.forms.tab = hotline_desktop::view::Tab::Wallboard;
            }
            if args.preview_reports {
                app.forms.tab = hotline_desktop::view::Tab::Reports;
                app.pump(); // the supervisor's login
                let day = i64::try_from(wall.0).unwrap_or(0);
                app.apply(UiCommand::LoadReport(ReportQuery::new(
                    day - day.rem_euclid(86_400_000),
                    app.forms.report_interval,
                )));
            }
            Ok(Box::new(app))
        }),
    )?;
    if args_preview_reports {
        let path = sample_database_path();
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
    Ok(())
}
