//! The engine, driven by the discrete-event simulator (Poisson arrivals, exponential handle
//! times, N agents, one queue), produces the service level, probability of waiting and mean wait
//! that the Erlang C formula predicts: within 2 percentage points.

use hotline_acd::erlang;
use hotline_acd::sim::{SimConfig, run};
use std::time::{Duration, Instant};

fn check(cfg: SimConfig) {
    let load = erlang::offered_load(cfg.arrivals_per_sec, cfg.mean_handle);
    let sl = erlang::service_level(cfg.agents, load, cfg.mean_handle, cfg.service_threshold);
    let pw = erlang::erlang_c(cfg.agents, load);
    let asa = erlang::average_wait(cfg.agents, load, cfg.mean_handle).expect("stable system");
    let started = Instant::now();
    let r = run(&cfg, Instant::now());
    eprintln!(
        "N={} A={load:.2}: SL sim {:.4} theory {sl:.4}; P(wait) sim {:.4} theory {pw:.4}; \
         ASA sim {:.2}s theory {:.2}s; measured {} calls in {:?}",
        cfg.agents,
        r.service_level,
        r.waited_fraction,
        r.mean_wait.as_secs_f64(),
        asa.as_secs_f64(),
        r.measured,
        started.elapsed()
    );
    assert_eq!(r.measured, cfg.calls - cfg.warmup_calls);
    assert!(
        (r.service_level - sl).abs() < 0.02,
        "service level off by more than 2 points"
    );
    assert!(
        (r.waited_fraction - pw).abs() < 0.02,
        "P(wait) off by more than 2 points"
    );
    // Mean wait, in points of the mean handle time.
    let d = (r.mean_wait.as_secs_f64() - asa.as_secs_f64()).abs() / cfg.mean_handle.as_secs_f64();
    assert!(
        d < 0.02,
        "mean wait off by {:.2} points of handle time",
        d * 100.0
    );
}

#[test]
fn ten_agents_at_80_percent_match_erlang_c() {
    check(SimConfig {
        agents: 10,
        arrivals_per_sec: 8.0 / 180.0,
        mean_handle: Duration::from_secs(180),
        calls: 300_000,
        warmup_calls: 4_000,
        service_threshold: Duration::from_secs(20),
        seed: 42,
    });
}

#[test]
fn thirty_agents_at_83_percent_match_erlang_c() {
    check(SimConfig {
        agents: 30,
        arrivals_per_sec: 25.0 / 300.0,
        mean_handle: Duration::from_secs(300),
        calls: 200_000,
        warmup_calls: 2_000,
        service_threshold: Duration::from_secs(30),
        seed: 7,
    });
}
