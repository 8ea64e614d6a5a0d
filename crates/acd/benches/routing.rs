//! Routing benchmarks (a bench binary, `harness = false`):
//!
//! 1. Routing decision latency with 5,000 agents, 100 skills and 10,000 waiting calls:
//!    - "agent frees up": wrap-up ends, the agent compares the head calls of every queue step it
//!      qualifies for, reserves itself for the best one and the offer is emitted;
//!    - "call arrives": a new call is indexed (or offered at once if someone qualifying is ready).
//!
//!    Each sample times the command plus draining its decisions and events.
//! 2. A simulated hour of a 300-seat center (about 10,000 calls) through the simulator.
//!
//! Run: `cargo bench -p hotline-acd --bench routing`

use hotline_acd::rng::SplitMix64;
use hotline_acd::sim::{self, SimConfig};
use hotline_acd::{
    Acd, AcdConfig, AgentId, AgentState, CallId, Decision, Priority, QueueConfig, QueueId, SkillId,
    WideningStep,
};
use std::time::{Duration, Instant};

const AGENTS: usize = 5_000;
const SKILLS: usize = 100;
const WAITING: usize = 10_000;
const SAMPLES: usize = 20_000;

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    routing_decisions();
    simulated_hour();
}

fn drain(acd: &mut Acd, offers: &mut Vec<(CallId, AgentId)>) {
    while let Some(d) = acd.poll_decision() {
        if let Decision::Offer { call, agent, .. } = d {
            offers.push((call, agent));
        }
    }
    while acd.poll_event().is_some() {}
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i] as f64 / 1000.0
}

fn routing_decisions() {
    let t0 = Instant::now();
    let mut now = t0;
    let mut rng = SplitMix64::new(2026);
    let queues: Vec<QueueConfig> = (0..SKILLS)
        .map(|i| {
            QueueConfig::new(format!("q{i}"))
                .require(format!("s{i}"), 2)
                .widen(WideningStep {
                    after: Duration::from_secs(30),
                    lower_min_by: 1,
                    add_queues: vec![],
                })
                .wrap_up(Duration::from_secs(30))
        })
        .collect();
    let qids: Vec<QueueId> = (0..SKILLS).map(|i| QueueId::new(format!("q{i}"))).collect();
    let mut acd = Acd::new(AcdConfig { queues }, t0).expect("config");
    let mut offers = Vec::new();
    let agents: Vec<AgentId> = (0..AGENTS)
        .map(|i| AgentId::new(format!("agent{i}")))
        .collect();
    for a in &agents {
        let skills: Vec<(SkillId, u8)> = (0..5)
            .map(|_| {
                (
                    SkillId::new(format!("s{}", rng.below(SKILLS as u64))),
                    1 + rng.below(5) as u8,
                )
            })
            .collect();
        acd.login(now, a, &skills).expect("login");
        acd.ready(now, a).expect("ready");
    }
    drain(&mut acd, &mut offers);
    let next_call = std::cell::Cell::new(0u64);
    let enqueue = |acd: &mut Acd, now: Instant, rng: &mut SplitMix64| {
        let q = &qids[rng.below(SKILLS as u64) as usize];
        let prio = if rng.below(10) == 0 {
            Priority(10)
        } else {
            Priority::NORMAL
        };
        let n = next_call.get();
        acd.enqueue(now, &CallId::new(format!("call{n}")), q, prio)
            .expect("enqueue");
        next_call.set(n + 1);
    };
    // Fill: every offer is answered, until 10,000 calls wait.
    let mut waiting = 0usize;
    while waiting < WAITING {
        enqueue(&mut acd, now, &mut rng);
        drain(&mut acd, &mut offers);
        for (c, a) in offers.drain(..) {
            acd.answer(now, &c, &a).expect("answer");
        }
        drain(&mut acd, &mut offers);
        waiting = qids
            .iter()
            .map(|q| acd.queue_stats(q).expect("queue").waiting)
            .sum();
    }
    let busy: Vec<(AgentId, CallId)> = agents
        .iter()
        .filter_map(|a| match acd.agent_state(a) {
            Some(AgentState::OnCall { call, .. }) => Some((a.clone(), call.clone())),
            _ => None,
        })
        .collect();
    println!(
        "setup: {AGENTS} agents, {SKILLS} skills/queues, {waiting} waiting calls, {} agents on calls, {} calls enqueued",
        busy.len(),
        next_call.get()
    );
    let mut busy = busy;
    let mut free_ns = Vec::with_capacity(SAMPLES);
    let mut arrive_ns = Vec::with_capacity(SAMPLES);
    let mut offered = 0usize;
    for _ in 0..SAMPLES {
        now += Duration::from_millis(10);
        let i = rng.below(busy.len() as u64) as usize;
        let (agent, call) = busy[i].clone();
        acd.hangup(now, &call).expect("hangup");
        drain(&mut acd, &mut offers);
        // The routing decision: the agent frees up and picks the best call it qualifies for.
        let s = Instant::now();
        acd.wrapup_done(now, &agent).expect("wrap-up done");
        drain(&mut acd, &mut offers);
        free_ns.push(s.elapsed().as_nanos() as u64);
        let mut replaced = false;
        for (c, a) in std::mem::take(&mut offers) {
            acd.answer(now, &c, &a).expect("answer");
            offered += 1;
            if a == agent {
                busy[i] = (a, c);
                replaced = true;
            } else {
                busy.push((a, c));
            }
        }
        if !replaced {
            busy.swap_remove(i);
        }
        // A new call arrives to keep the backlog at 10,000.
        let s = Instant::now();
        enqueue(&mut acd, now, &mut rng);
        drain(&mut acd, &mut offers);
        arrive_ns.push(s.elapsed().as_nanos() as u64);
        for (c, a) in std::mem::take(&mut offers) {
            acd.answer(now, &c, &a).expect("answer");
            busy.push((a, c));
        }
        drain(&mut acd, &mut offers);
    }
    let waiting: usize = qids
        .iter()
        .map(|q| acd.queue_stats(q).expect("queue").waiting)
        .sum();
    println!("after {SAMPLES} rounds: {waiting} waiting, {offered} offers from freed agents");
    for (name, v) in [
        ("agent frees up -> offer", &mut free_ns),
        ("call arrives", &mut arrive_ns),
    ] {
        let mean = v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0;
        println!(
            "{name:<26} n={} mean {mean:.2} us  p50 {:.2} us  p99 {:.2} us  p99.9 {:.2} us  max {:.2} us",
            v.len(),
            pct(v, 0.50),
            pct(v, 0.99),
            pct(v, 0.999),
            pct(v, 1.0)
        );
    }
}

fn simulated_hour() {
    let cfg = SimConfig {
        agents: 300,
        arrivals_per_sec: 10_000.0 / 3600.0,
        mean_handle: Duration::from_secs(100),
        calls: 10_000,
        warmup_calls: 0,
        service_threshold: Duration::from_secs(20),
        seed: 300,
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let s = Instant::now();
        let r = sim::run(&cfg, Instant::now());
        times.push(s.elapsed());
        last = Some(r);
    }
    times.sort();
    let r = last.expect("ran");
    println!(
        "simulated hour, 300 seats, {:.1} Erlang: {} calls over {:.2} simulated h, SL(20s) {:.3}, \
         mean wait {:.1} s, EWT mean abs error {:.1} s",
        cfg.arrivals_per_sec * cfg.mean_handle.as_secs_f64(),
        r.measured,
        r.simulated.as_secs_f64() / 3600.0,
        r.service_level,
        r.mean_wait.as_secs_f64(),
        r.metrics.ewt_mean_abs_error_secs().unwrap_or(f64::NAN),
    );
    println!(
        "  wall time over 5 runs: min {:?} median {:?} max {:?}",
        times[0], times[2], times[4]
    );
}
