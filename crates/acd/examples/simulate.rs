//! Runs the discrete-event simulator and compares it with Erlang C.
//!
//! ```text
//! cargo run --release -p hotline-acd --example simulate -- agents=10 load=8 aht=180 calls=200000 seed=1
//! ```
//! `load` is the offered load in Erlangs (arrival rate = load / aht).

use hotline_acd::erlang;
use hotline_acd::sim::{SimConfig, run};
use std::time::{Duration, Instant};

fn main() {
    let mut agents = 10u32;
    let mut load = 8.0f64;
    let mut aht = 180.0f64;
    let mut calls = 200_000u64;
    let mut seed = 1u64;
    let mut threshold = 20.0f64;
    for arg in std::env::args().skip(1) {
        let Some((k, v)) = arg.split_once('=') else {
            eprintln!("arguments are key=value: agents, load, aht, calls, seed, threshold");
            std::process::exit(2);
        };
        let ok = match k {
            "agents" => v.parse().map(|x| agents = x).is_ok(),
            "load" => v.parse().map(|x| load = x).is_ok(),
            "aht" => v.parse().map(|x| aht = x).is_ok(),
            "calls" => v.parse().map(|x| calls = x).is_ok(),
            "seed" => v.parse().map(|x| seed = x).is_ok(),
            "threshold" => v.parse().map(|x| threshold = x).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!("bad argument {arg}");
            std::process::exit(2);
        }
    }
    let cfg = SimConfig {
        agents,
        arrivals_per_sec: load / aht,
        mean_handle: Duration::from_secs_f64(aht),
        calls,
        warmup_calls: calls / 50,
        service_threshold: Duration::from_secs_f64(threshold),
        seed,
    };
    let started = Instant::now();
    let r = run(&cfg, Instant::now());
    let took = started.elapsed();
    let sl = erlang::service_level(agents, load, cfg.mean_handle, cfg.service_threshold);
    let pw = erlang::erlang_c(agents, load);
    let asa = erlang::average_wait(agents, load, cfg.mean_handle);
    println!("agents {agents}, load {load} Erlang, AHT {aht} s, {calls} calls, seed {seed}");
    println!(
        "service level ({threshold} s): sim {:.4}  Erlang C {sl:.4}",
        r.service_level
    );
    println!(
        "P(wait > 0):        sim {:.4}  Erlang C {pw:.4}",
        r.waited_fraction
    );
    println!(
        "mean wait:          sim {:.2} s  Erlang C {}",
        r.mean_wait.as_secs_f64(),
        asa.map_or("unstable".into(), |d| format!("{:.2} s", d.as_secs_f64()))
    );
    println!(
        "max wait {:.1} s, simulated {:.1} h, {} offers",
        r.max_wait.as_secs_f64(),
        r.simulated.as_secs_f64() / 3600.0,
        r.offers
    );
    if let (Some(mae), Some(bias)) = (
        r.metrics.ewt_mean_abs_error_secs(),
        r.metrics.ewt_bias_secs(),
    ) {
        println!(
            "wait estimate: mean abs error {mae:.2} s, bias {bias:+.2} s over {} calls",
            r.metrics.ewt_samples
        );
    }
    println!("wall time {took:?}");
}
