//! The demo: a contact center a newcomer can run without owning a phone.
//!
//! `hotline-switch demo` starts the switch exactly as `run` does ([`crate::app::start`]), then
//! plays everybody else over loopback with real protocols:
//!
//! * **agent phones** ([`phone::Phone`]): one SIP user agent per demo agent's extension,
//!   registered with the digest credentials of the switch's `[[extensions]]`; they ring, answer
//!   after a few seconds with PCMU/PCMA and telephone-event and send RTP (a quiet tone);
//! * **simulated agents** ([`desk::simulate_agent`]): every demo agent except `alice` (kept for
//!   the person at the desktop) and the supervisors/admins logs into the CTI server over the
//!   WebSocket, goes ready, receives screen pops, wraps up each call with a disposition;
//! * **callers**: a Poisson stream (`--calls-per-minute`) from the demo customers' numbers (so
//!   screen pops show real customer records) and some unknown numbers, dialing the service
//!   number, walking the IVR with RFC 4733 digits into the sales or support queue, staying on
//!   the line for a while and hanging up.
//!
//! A summary line is printed every five seconds; Ctrl-C stops callers, agents and the switch.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! let cfg = hotline_switch::config::Config::load(std::path::Path::new("config/switch.toml"))
//!     .map_err(|e| e.to_string())?;
//! hotline_switch::demo::run(cfg, hotline_switch::demo::DemoOptions::default()).await
//! # }
//! ```

pub mod desk;
pub mod phone;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{RngExt as _, SeedableRng as _};

use crate::config::Config;
use desk::{AgentBehaviour, AgentNotice};
use phone::{CallScript, Phone, PhoneConfig, PhoneEvent};

/// Errors of the demo's own parts (the switch's start-up errors stay strings, as in `app`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The CTI connection failed or a command was refused.
    #[error("CTI: {0}")]
    Cti(String),
    /// A socket could not be opened.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration or demo data does not allow a demo.
    #[error("{0}")]
    Setup(String),
}

/// `hotline-switch demo` options.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Mean arrival rate of simulated callers (Poisson); 0 = no callers.
    pub calls_per_minute: f64,
    /// Largest number of simulated agents (besides alice's phone).
    pub agents: usize,
    /// Seed for the caller stream (`None`: random).
    pub seed: Option<u64>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            calls_per_minute: 6.0,
            agents: 4,
            seed: None,
        }
    }
}

/// The service number callers dial: the first public dial-plan route to an IVR.
pub fn service_number(cfg: &Config) -> Option<String> {
    cfg.dialplan
        .routes
        .iter()
        .find(|r| r.public && r.ivr.is_some())
        .and_then(|r| r.number.clone())
}

/// What a caller presses in the main IVR flow (`config/ivr/main.toml`): the welcome (and, for
/// VIP customers, a greeting) plays first, so the first digit comes 12.5 s after the answer,
/// while the main menu listens. `sales` is 1 then 2 ("talk to sales"); support is 2.
pub fn menu_digits(sales: bool) -> Vec<(Duration, String)> {
    if sales {
        vec![
            (Duration::from_millis(12_500), "1".into()),
            (Duration::from_secs(3), "2".into()),
        ]
    } else {
        vec![(Duration::from_millis(12_500), "2".into())]
    }
}

/// A free RTP range for the phones that stays clear of the switch's `[media]` range.
fn phone_ports(cfg: &Config) -> (u16, u16) {
    let (lo, hi) = (cfg.media.port_min, cfg.media.port_max);
    for start in [40_000u16, 10_000, 50_000] {
        let end = start + 4_000;
        if end <= lo || start >= hi {
            return (start, end);
        }
    }
    (60_000, 64_000)
}

#[derive(Default)]
struct Counters {
    placed: AtomicU64,
    completed: AtomicU64,
    not_connected: AtomicU64,
    active: AtomicU64,
    pops: AtomicU64,
    wrapped: AtomicU64,
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(mut cfg: Config, opts: DemoOptions) -> Result<(), String> {
    // Every simulated caller calls from this machine's address: the per-source call cap,
    // which stops one stranger from taking every media port, would turn them away.
    cfg.sip.max_calls_per_source = 0;
    let data = crate::seed::load(&cfg.resolve(&cfg.demo.file)).map_err(|e| e.to_string())?;
    let number = service_number(&cfg)
        .ok_or("the dial plan has no public number routed to an IVR for the callers to dial")?;
    let running = crate::app::start(cfg.clone(), crate::app::StartOptions::default()).await?;
    let Some(sip) = running.sip else {
        return Err("call control did not start".into());
    };
    let cti_url = format!("ws://{}/cti", running.http);
    println!("hotline-switch ready http={}", running.http);
    println!("hotline-switch sip={sip}");

    let (lo, hi) = phone_ports(&cfg);
    let media = phone::media_engine(lo, hi).map_err(|e| format!("demo media engine: {e}"))?;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    // Agent phones: alice's (answers after a few seconds so the person sees the pop ringing)
    // and one per simulated agent.
    let password_of = |ext: &str| {
        cfg.extensions
            .iter()
            .find(|e| e.number == ext)
            .map(|e| e.password.clone())
    };
    let mut phones = Vec::new();
    let mut simulated = Vec::new();
    let mut alice = None;
    for a in &data.agents {
        let Some(ext_password) = password_of(&a.extension) else {
            continue;
        };
        let is_alice = a.id == "alice";
        if !is_alice && (a.role != hotline_store::Role::Agent || simulated.len() >= opts.agents) {
            continue;
        }
        let mut pc = PhoneConfig::new(format!("ext {}", a.extension), &a.extension, sip);
        pc.credentials = Some((a.extension.clone(), ext_password));
        pc.register = Some(cfg.sip.default_expires_secs.max(cfg.sip.min_expires_secs));
        pc.tone_hz = 350.0 + 40.0 * phones.len() as f32;
        if is_alice {
            pc.auto_answer = Some(Duration::from_secs(4));
            alice = Some((a.extension.clone(), a.password.clone()));
        } else {
            pc.auto_answer = Some(Duration::from_secs(2));
            pc.talk_time = Some(Duration::from_secs(20));
            pc.talk_jitter = Duration::from_secs(40);
            simulated.push((a.id.clone(), a.password.clone(), a.extension.clone()));
        }
        let (p, mut ev) = Phone::start(pc, media.clone())
            .await
            .map_err(|e| format!("agent phone {}: {e}", a.extension))?;
        let ext = a.extension.clone();
        tokio::spawn(async move {
            while let Some(e) = ev.recv().await {
                match e {
                    PhoneEvent::Registered { .. } => {
                        tracing::debug!(extension = %ext, "demo phone registered")
                    }
                    PhoneEvent::RegistrationFailed { code } => {
                        tracing::warn!(extension = %ext, code, "demo phone could not register");
                    }
                    _ => {}
                }
            }
        });
        phones.push(p);
    }

    // Simulated agents on the CTI server.
    let (notice_tx, mut notice_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut agent_tasks = Vec::new();
    for (id, password, _) in &simulated {
        agent_tasks.push(tokio::spawn(desk::simulate_agent(
            cti_url.clone(),
            id.clone(),
            password.clone(),
            AgentBehaviour::default(),
            notice_tx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(notice_tx);
    {
        let c = counters.clone();
        tokio::spawn(async move {
            while let Some(n) = notice_rx.recv().await {
                match n {
                    AgentNotice::Ready { agent } => {
                        tracing::info!(agent = %agent, "simulated agent ready");
                    }
                    AgentNotice::Pop { .. } => {
                        c.pops.fetch_add(1, Ordering::Relaxed);
                    }
                    AgentNotice::WrappedUp { .. } => {
                        c.wrapped.fetch_add(1, Ordering::Relaxed);
                    }
                    AgentNotice::Gone { agent, why } => {
                        if why != "stopped" {
                            tracing::warn!(agent = %agent, %why, "simulated agent stopped");
                        }
                    }
                }
            }
        });
    }

    // Callers.
    let mut known: Vec<String> = data
        .customers
        .iter()
        .flat_map(|c| c.identities.iter())
        .filter(|i| i.kind == hotline_store::IdentityKind::Phone)
        .map(|i| i.value.clone())
        .collect();
    known.sort();
    known.dedup();
    let generator = tokio::spawn(callers(
        sip,
        number,
        known,
        opts.clone(),
        media.clone(),
        counters.clone(),
        stop_rx.clone(),
    ));

    let you = match &alice {
        Some((ext, password)) => format!(
            "alice's phone is extension {ext} (it answers by itself): log in on the desktop as alice / {password}"
        ),
        None => "alice has no phone (no demo agent alice with an [[extensions]] entry)".into(),
    };
    println!(
        "demo: {} simulated agents ({}); {you}; callers at {:.1}/min. Ctrl-C stops.",
        simulated.len(),
        simulated
            .iter()
            .map(|(id, _, _)| id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        opts.calls_per_minute
    );

    let mut summary = tokio::time::interval(Duration::from_secs(5));
    summary.tick().await;
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            _ = summary.tick() => print_summary(&counters, &running.routing).await,
        }
    }

    println!("demo: stopping");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), generator).await;
    for t in agent_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
    }
    for p in phones {
        p.stop().await;
    }
    media.shutdown();
    running.shutdown().await
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One line: callers, the queues with traffic, agent states, pops and wrap-ups.
async fn print_summary(c: &Counters, routing: &crate::routing::RoutingHandle) {
    let mut line = format!(
        "demo | callers {} placed, {} on the line, {} done ({} never connected)",
        c.placed.load(Ordering::Relaxed),
        c.active.load(Ordering::Relaxed),
        c.completed.load(Ordering::Relaxed) + c.not_connected.load(Ordering::Relaxed),
        c.not_connected.load(Ordering::Relaxed),
    );
    if let Ok(board) = routing.board().await {
        for q in board
            .queues
            .iter()
            .filter(|q| q.offered > 0 || q.stats.waiting > 0)
        {
            line.push_str(&format!(
                " | {}: {} waiting (longest {} s), {} answered, {} abandoned",
                q.queue.as_str(),
                q.stats.waiting,
                q.longest_wait.as_secs(),
                q.answered,
                q.abandoned
            ));
        }
        let count = |name: &str| {
            board
                .agents
                .iter()
                .filter(|a| crate::routing::state_name(&a.state).0 == name)
                .count()
        };
        line.push_str(&format!(
            " | agents {} ready, {} ringing, {} on call, {} wrap-up",
            count("ready"),
            count("reserved"),
            count("on_call") + count("on_hold") + count("consulting"),
            count("wrap_up"),
        ));
    }
    line.push_str(&format!(
        " | pops {}, wrap-ups {}",
        c.pops.load(Ordering::Relaxed),
        c.wrapped.load(Ordering::Relaxed)
    ));
    println!("{line}");
}

/// The time to the next caller of a Poisson stream with `mean_gap` seconds between calls:
/// exponentially distributed (inverse transform), capped at an hour.
pub fn arrival_gap(rng: &mut impl rand::Rng, mean_gap: f64) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Duration::from_secs_f64((-u.ln() * mean_gap).clamp(0.0, 3600.0))
}

/// The caller generator: exponential gaps (a Poisson stream), one phone per call.
async fn callers(
    sip: std::net::SocketAddr,
    service: String,
    known: Vec<String>,
    opts: DemoOptions,
    media: hotline_media::MediaEngine,
    counters: Arc<Counters>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if opts.calls_per_minute <= 0.0 {
        let _ = stop.changed().await;
        return;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed.unwrap_or_else(rand::random));
    let mean_gap = 60.0 / opts.calls_per_minute;
    let mut calls = tokio::task::JoinSet::new();
    let mut n: u64 = 0;
    loop {
        let gap = arrival_gap(&mut rng, mean_gap);
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(gap) => {}
        }
        n += 1;
        tracing::debug!(caller = n, gap_ms = gap.as_millis() as u64, "demo caller");
        // Mostly demo customers (their records pop), sometimes a number nobody knows.
        let ani = if !known.is_empty() && rng.random_bool(0.8) {
            known[rng.random_range(0..known.len())].clone()
        } else {
            format!("+1415555{:04}", 100 + rng.random_range(0..100u32))
        };
        let sales = rng.random_bool(0.6);
        let script = CallScript {
            number: service.clone(),
            digits: menu_digits(sales),
            // IVR (about 16 s) plus patience: some callers give up in the queue.
            hang_up_after: Some(Duration::from_secs(16 + rng.random_range(45..240u64))),
        };
        let mut pc = PhoneConfig::new(format!("caller {n}"), ani, sip);
        pc.tone_hz = 500.0 + rng.random_range(0..200u32) as f32;
        pc.seed = rng.random();
        let counters = counters.clone();
        let media = media.clone();
        let mut stop = stop.clone();
        calls.spawn(async move {
            let (phone, mut ev) = match Phone::start(pc, media).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "caller phone");
                    return;
                }
            };
            counters.placed.fetch_add(1, Ordering::Relaxed);
            counters.active.fetch_add(1, Ordering::Relaxed);
            phone.call(script);
            let mut connected = false;
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    e = ev.recv() => match e {
                        Some(PhoneEvent::Answered { .. }) => connected = true,
                        Some(PhoneEvent::Ended { .. }) | None => break,
                        Some(_) => {}
                    },
                }
            }
            counters.active.fetch_sub(1, Ordering::Relaxed);
            if connected {
                counters.completed.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.not_connected.fetch_add(1, Ordering::Relaxed);
            }
            phone.stop().await;
        });
        while calls.try_join_next().is_some() {}
    }
    // Stopping: every caller hangs up.
    while calls.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrival_gaps_average_the_mean_and_vary() {
        for seed in [1u64, 3, 7] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let n = 20_000;
            let gaps: Vec<f64> = (0..n)
                .map(|_| arrival_gap(&mut rng, 2.0).as_secs_f64())
                .collect();
            let mean = gaps.iter().sum::<f64>() / n as f64;
            assert!((mean - 2.0).abs() < 0.1, "seed {seed}: mean gap {mean}");
            // Exponential: about 63 % of the gaps are shorter than the mean.
            let short = gaps.iter().filter(|g| **g < 2.0).count() as f64 / n as f64;
            assert!((short - 0.632).abs() < 0.02, "seed {seed}: {short}");
        }
    }

    #[test]
    fn menu_digits_lead_to_sales_and_support() {
        let sales: Vec<String> = menu_digits(true).into_iter().map(|(_, d)| d).collect();
        assert_eq!(sales, ["1", "2"]);
        let support: Vec<String> = menu_digits(false).into_iter().map(|(_, d)| d).collect();
        assert_eq!(support, ["2"]);
    }
}
