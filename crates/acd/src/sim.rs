//! A discrete-event simulator that drives the real engine with simulated time.
//!
//! One queue, `agents` identical agents who answer every offer at once, Poisson arrivals and
//! exponential handle times, no wrap-up and no abandonment: the M/M/N system the Erlang C formula
//! describes. The test suite compares its service level and mean wait against [`crate::erlang`];
//! the benchmark uses it to time a simulated hour of a contact center.
//!
//! Deterministic: the same [`SimConfig`] (seed included) produces the same [`SimReport`].

use crate::rng::SplitMix64;
use crate::{
    Acd, AcdConfig, AgentId, CallId, Decision, Event, Metrics, Priority, QueueConfig, QueueId,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Number of agents, all logged in and ready from the start.
    pub agents: u32,
    /// Poisson arrival rate, calls per second.
    pub arrivals_per_sec: f64,
    /// Mean of the exponential handle time.
    pub mean_handle: Duration,
    /// Calls to generate.
    pub calls: u64,
    /// The first calls are not measured (the system starts empty).
    pub warmup_calls: u64,
    /// Service-level threshold ("answered within 20 s").
    pub service_threshold: Duration,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            agents: 10,
            arrivals_per_sec: 8.0 / 180.0,
            mean_handle: Duration::from_secs(180),
            calls: 20_000,
            warmup_calls: 500,
            service_threshold: Duration::from_secs(20),
            seed: 1,
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// Calls whose wait was measured.
    pub measured: u64,
    /// Mean wait of measured calls.
    pub mean_wait: Duration,
    /// Fraction of measured calls answered within the threshold.
    pub service_level: f64,
    /// Fraction of measured calls that waited at all.
    pub waited_fraction: f64,
    /// Longest wait.
    pub max_wait: Duration,
    /// Simulated time from the first arrival to the last hang-up.
    pub simulated: Duration,
    /// Offers made by the engine (routing decisions).
    pub offers: u64,
    /// The engine's own counters (wait-estimate error included).
    pub metrics: Metrics,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival(u64),
    Hangup(u64),
}

/// Runs the simulation. `origin` is the simulated clock's zero (any `Instant`; nothing is timed).
///
/// # Panics
/// Only on a bug in the engine (a decision it emitted being refused), which is what a
/// simulation is for.
pub fn run(cfg: &SimConfig, origin: Instant) -> SimReport {
    let queue = QueueId::new("q");
    let qc = QueueConfig::new("q").wrap_up(Duration::ZERO);
    let mut acd = Acd::new(AcdConfig { queues: vec![qc] }, origin).expect("valid config");
    let mut rng = SplitMix64::new(cfg.seed);
    let at = |ns: u64| origin + Duration::from_nanos(ns);
    for i in 0..cfg.agents {
        let id = AgentId::new(format!("a{i}"));
        acd.login(origin, &id, &[]).expect("login");
        acd.ready(origin, &id).expect("ready");
    }
    drain_events(&mut acd, cfg, &mut Stats::default());

    let inter_ns = 1e9 / cfg.arrivals_per_sec;
    let handle_ns = cfg.mean_handle.as_secs_f64() * 1e9;
    let mut heap: BinaryHeap<Reverse<(u64, Ev)>> = BinaryHeap::new();
    let mut next_arrival = rng.exponential(inter_ns) as u64;
    let mut arrived = 0u64;
    if cfg.calls > 0 {
        heap.push(Reverse((next_arrival, Ev::Arrival(0))));
    }
    let mut stats = Stats::default();
    let mut last = 0u64;
    loop {
        let timer = acd
            .poll_timeout()
            .map(|t| dur_ns(t.saturating_duration_since(origin)));
        let ev = heap.peek().map(|Reverse(e)| *e);
        let now = match (ev, timer) {
            (None, None) => break,
            (Some((t, _)), Some(tt)) if tt < t => {
                acd.handle_timeout(at(tt));
                tt
            }
            (None, Some(tt)) => {
                acd.handle_timeout(at(tt));
                tt
            }
            (Some((t, e)), _) => {
                heap.pop();
                match e {
                    Ev::Arrival(n) => {
                        arrived += 1;
                        acd.enqueue(at(t), &CallId::new(n.to_string()), &queue, Priority::NORMAL)
                            .expect("enqueue");
                        if arrived < cfg.calls {
                            next_arrival += rng.exponential(inter_ns) as u64;
                            heap.push(Reverse((next_arrival, Ev::Arrival(arrived))));
                        }
                    }
                    Ev::Hangup(n) => {
                        acd.hangup(at(t), &CallId::new(n.to_string()))
                            .expect("hangup");
                    }
                }
                t
            }
        };
        last = now;
        while let Some(d) = acd.poll_decision() {
            if let Decision::Offer { call, agent, .. } = d {
                stats.offers += 1;
                acd.answer(at(now), &call, &agent).expect("answer");
                let n: u64 = call.as_str().parse().unwrap_or(0);
                let h = rng.exponential(handle_ns) as u64;
                heap.push(Reverse((now + h, Ev::Hangup(n))));
            }
        }
        drain_events(&mut acd, cfg, &mut stats);
    }
    let m = stats.measured.max(1) as f64;
    SimReport {
        measured: stats.measured,
        mean_wait: Duration::from_secs_f64(stats.wait_sum / m),
        service_level: stats.within as f64 / m,
        waited_fraction: stats.waited as f64 / m,
        max_wait: stats.max_wait,
        simulated: Duration::from_nanos(last),
        offers: stats.offers,
        metrics: acd.metrics().clone(),
    }
}

#[derive(Default)]
struct Stats {
    measured: u64,
    wait_sum: f64,
    within: u64,
    waited: u64,
    max_wait: Duration,
    offers: u64,
}

fn drain_events(acd: &mut Acd, cfg: &SimConfig, s: &mut Stats) {
    while let Some(e) = acd.poll_event() {
        if let Event::CallConnected { call, waited, .. } = e {
            let n: u64 = call.as_str().parse().unwrap_or(0);
            if n >= cfg.warmup_calls {
                s.measured += 1;
                s.wait_sum += waited.as_secs_f64();
                s.within += u64::from(waited <= cfg.service_threshold);
                s.waited += u64::from(!waited.is_zero());
                s.max_wait = s.max_wait.max(waited);
            }
        }
    }
}

fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
