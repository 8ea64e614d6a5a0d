//! Pacing benchmark: a simulated 8-hour day at 50 and 300 agents and answer rates of 15, 30 and
//! 60 %, predictive pacing against a sweep of fixed ratios (1.5 to 4 lines per free agent) and
//! progressive, with the time the dialler takes per pacing tick.
//!
//! Run: `cargo run --release -p hotline-dialler --example pacing_bench`
//! (`SEED=n` changes the seed; `QUICK=1` runs 50 agents at 30 % only.)
//!
//! Occupancy is agents' talk plus wrap-up time over their shift time; abandon is abandoned over
//! calls a person answered, for the day. Tick times are wall-clock, measured here around
//! `Dialler::tick` only (the core never reads a clock).

use hotline_dialler::sim::{self, SimConfig, SimReport};
use hotline_dialler::{PacingMode, PredictiveSettings};
use std::time::Instant;

struct Row {
    mode: String,
    report: SimReport,
    tick_mean_ns: f64,
    tick_p99_ns: u64,
}

fn run(cfg: &SimConfig, mode: PacingMode, label: String) -> Row {
    let cfg = SimConfig {
        mode,
        ..cfg.clone()
    };
    let mut ns: Vec<u64> = Vec::new();
    let report = sim::run_with(&cfg, |d, now| {
        let t = Instant::now();
        d.tick(now);
        ns.push(t.elapsed().as_nanos() as u64);
    });
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len().max(1) as f64;
    let p99 = ns.get(ns.len() * 99 / 100).copied().unwrap_or(0);
    Row {
        mode: label,
        report,
        tick_mean_ns: mean,
        tick_p99_ns: p99,
    }
}

fn main() {
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let quick = std::env::var("QUICK").is_ok();
    let agent_counts: &[u32] = if quick { &[50] } else { &[50, 300] };
    let rates: &[f64] = if quick { &[0.3] } else { &[0.15, 0.3, 0.6] };
    println!(
        "| mode | agents | answer rate | dials | connected | occupancy % | abandon % | tick mean ns | tick p99 ns |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for &agents in agent_counts {
        for &rate in rates {
            let cfg = SimConfig {
                agents,
                answer_rate: rate,
                seed,
                ..SimConfig::default()
            };
            let mut rows = vec![run(
                &cfg,
                PacingMode::Predictive(PredictiveSettings::default()),
                "predictive".into(),
            )];
            for r in [1.5, 2.0, 2.5, 3.0, 3.5, 4.0] {
                rows.push(run(
                    &cfg,
                    PacingMode::Ratio { lines_per_agent: r },
                    format!("ratio {r:.1}"),
                ));
            }
            rows.push(run(&cfg, PacingMode::Progressive, "progressive".into()));
            for row in &rows {
                let r = &row.report;
                println!(
                    "| {} | {} | {:.0} % | {} | {} | {:.1} | {:.2} | {:.0} | {} |",
                    row.mode,
                    agents,
                    rate * 100.0,
                    r.dials,
                    r.connected,
                    r.occupancy * 100.0,
                    r.abandon_rate() * 100.0,
                    row.tick_mean_ns,
                    row.tick_p99_ns,
                );
            }
            let pred = &rows[0].report;
            // The best fixed ratio that abandons no more than predictive did.
            let best = rows[1..rows.len() - 1]
                .iter()
                .filter(|x| x.report.abandon_rate() <= pred.abandon_rate())
                .max_by(|a, b| a.report.occupancy.total_cmp(&b.report.occupancy));
            summary.push(match best {
                Some(b) => format!(
                    "{agents} agents, {:.0} %: predictive {:.1} % occupancy at {:.2} % abandon; best fixed ratio at or under that abandon rate: {} with {:.1} % at {:.2} %",
                    rate * 100.0,
                    pred.occupancy * 100.0,
                    pred.abandon_rate() * 100.0,
                    b.mode,
                    b.report.occupancy * 100.0,
                    b.report.abandon_rate() * 100.0
                ),
                None => format!("{agents} agents, {:.0} %: no ratio abandons as little as predictive", rate * 100.0),
            });
        }
    }
    println!();
    for s in summary {
        println!("- {s}");
    }
}
