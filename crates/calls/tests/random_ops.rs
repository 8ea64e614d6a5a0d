//! Random operation sequences against the core with the real ACD and IVR: callers arriving
//! and hanging up, agents' phones answering, rejecting or not answering, desktop hang-ups,
//! phones unregistering, hold and resume (desktop and phone), blind transfer, consultation
//! (complete, cancel, conference), supervisor monitor, barge and take-over, agent-assisted
//! payments, digits, RTP time-outs, agents going ready and not ready, store work failing or
//! held back, and random amounts of simulated time. After every step the world's invariants
//! are checked (`World::check_invariants`): an agent is on at most one call, no offer outlives
//! its deadline, routing's view of every agent matches call control's, at most one `ended`
//! record per call and nothing after it. At the end of every sequence everybody hangs up and
//! nothing may be left: calls, legs, dialogs, transactions, media sessions, mixers,
//! recordings, timers, routing's calls; every call has exactly one `ended` record.
//!
//! CI runs `SEEDS` fixed seeds of `STEPS` steps. Reproduce or run longer with
//! `HOTLINE_SEED=<seed>` (one seed), `HOTLINE_SEEDS=<n>` (seeds 1..=n) and
//! `HOTLINE_STEPS=<steps per seed>`, e.g.
//! `HOTLINE_SEEDS=2000 HOTLINE_STEPS=5000 cargo test --release -p hotline-calls --test random_ops -- --nocapture`.

mod harness;

use std::time::{Duration, Instant};

use harness::phone::{Policy, UaState};
use harness::{KNOWN_CALLER, SALES_NUMBER, SERVICE_NUMBER, World, WorldConfig};
use hotline_calls::messages::CallAction;
use hotline_cti::MonitorMode;
use hotline_media::MediaEvent;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const SEEDS: u64 = 50;
const STEPS: usize = 2_000;

const AGENTS: [&str; 3] = ["alice", "bob", "carol"];

fn world_with(seed: u64, keepalive_secs: u64) -> World {
    let mut w = World::new(WorldConfig {
        seed,
        keepalive_secs,
        agents: vec![
            ("alice".into(), "1001".into()),
            ("bob".into(), "1002".into()),
            ("carol".into(), "1003".into()),
        ],
        record_calls: true,
        ..WorldConfig::default()
    });
    w.phone("sam").policy = Policy::Answer(Duration::from_secs(1));
    // Alice's extension is registered from a softphone too: her calls fork to both.
    w.add_device("alice", "alice-soft");
    w
}

/// The phone an operation on `agent`'s phone uses: alice has two.
fn device<'a>(agent: &'a str, rng: &mut StdRng) -> &'a str {
    if agent == "alice" && rng.random_bool(0.5) {
        "alice-soft"
    } else {
        agent
    }
}

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> Option<&'a T> {
    if v.is_empty() {
        None
    } else {
        Some(&v[rng.random_range(0..v.len())])
    }
}

/// One random step; returns what it did (for the failure report).
fn step(w: &mut World, rng: &mut StdRng) -> String {
    let snap = w.snapshot();
    let call_ids: Vec<String> = snap.calls.iter().map(|c| c.id.clone()).collect();
    let agent = *pick(rng, &AGENTS).expect("agents");
    let agent_call = snap
        .calls
        .iter()
        .find(|c| c.agent.as_deref() == Some(agent))
        .map(|c| c.id.clone());
    let any_call = |rng: &mut StdRng| pick(rng, &call_ids).cloned().unwrap_or_default();
    // Callback calls are handed on like any other (known bug 1, fixed: routing knows them by
    // their request's id).
    let agent_call_no_cb = agent_call.clone();
    let roll = rng.random_range(0..100u32);
    match roll {
        // Callers arrive (a few at a time).
        0..=9 => {
            let live = w.phone("trunk").live().filter(|c| c.outgoing).count();
            if live >= 6 {
                return "no new call (6 live)".into();
            }
            let number = if rng.random_bool(0.75) {
                SALES_NUMBER
            } else {
                SERVICE_NUMBER
            };
            let from = if rng.random_bool(0.3) {
                KNOWN_CALLER.to_string()
            } else {
                format!("+1212555{:04}", rng.random_range(0..10_000u32))
            };
            let id = w.pstn_call(&from, number);
            format!("caller {id} dials {number}")
        }
        // A caller hangs up.
        10..=14 => {
            let ids: Vec<u32> = w.phone("trunk").live().map(|c| c.id).collect();
            match pick(rng, &ids).copied() {
                Some(id) => {
                    w.with_phone("trunk", |p, now| p.hangup(now, id));
                    format!("trunk hangs up {id}")
                }
                None => "no caller to hang up".into(),
            }
        }
        // How an agent's phone treats the next INVITEs.
        15..=19 => {
            let policy = match rng.random_range(0..6u32) {
                0 => Policy::Ignore,
                1 => Policy::Reject(if rng.random_bool(0.5) { 486 } else { 603 }),
                _ => Policy::Answer(Duration::from_millis(rng.random_range(0..25_000u64))),
            };
            let phone = device(agent, rng);
            w.phone(phone).policy = policy;
            format!("{phone}'s phone: {policy:?}")
        }
        // An agent's phone: answer, reject or hang up what it has.
        20..=26 => {
            let agent = device(agent, rng);
            let Some(id) = w.live_call(agent) else {
                return format!("{agent}'s phone is idle");
            };
            let state = w.ua_state(agent, id);
            match (state, rng.random_range(0..3u32)) {
                (Some(UaState::Ringing), 0) => {
                    w.with_phone(agent, |p, now| p.answer(now, id));
                    format!("{agent} answers {id}")
                }
                (Some(UaState::Ringing), 1) => {
                    w.with_phone(agent, |p, now| p.reject(now, id, 486));
                    format!("{agent} rejects {id}")
                }
                _ => {
                    w.with_phone(agent, |p, now| p.hangup(now, id));
                    format!("{agent}'s phone hangs up {id}")
                }
            }
        }
        // Desktop hang-up.
        27..=30 => match agent_call {
            Some(call) => {
                let r = w.command(agent, CallAction::Hangup { call });
                format!("{agent} desktop hang-up: {r:?}")
            }
            None => format!("{agent} has no call to hang up"),
        },
        // A phone unregisters or registers again.
        31..=32 => {
            let register = rng.random_bool(0.6);
            let who = if rng.random_bool(0.8) {
                device(agent, rng)
            } else {
                "sam"
            };
            w.with_phone(who, |p, now| {
                p.register(now, if register { 3600 } else { 0 })
            });
            format!(
                "{who} {}",
                if register { "registers" } else { "unregisters" }
            )
        }
        // Hold and resume from the desktop, or from the phone (re-INVITE).
        33..=37 => {
            if rng.random_bool(0.3) {
                let Some(id) = w.live_call(agent) else {
                    return format!("{agent}: no call to hold on the phone");
                };
                let on = rng.random_bool(0.5);
                let ok = w.with_phone(agent, |p, now| p.hold(now, id, on));
                return format!("{agent}'s phone hold={on}: {ok}");
            }
            let Some(call) = agent_call else {
                return format!("{agent}: no call to hold");
            };
            let action = if rng.random_bool(0.5) {
                CallAction::Hold { call }
            } else {
                CallAction::Resume { call }
            };
            let r = w.command(agent, action.clone());
            format!("{agent} {action:?}: {r:?}")
        }
        // Blind transfer.
        38..=40 => {
            let Some(call) = agent_call_no_cb else {
                return format!("{agent}: no call to transfer");
            };
            // Agents too, by id and by extension (known bug 3: a busy agent is refused; one
            // routing has busy is taken off again).
            let target = *pick(
                rng,
                &[
                    "2001",
                    "sales",
                    "support",
                    "+12125550177",
                    "alice",
                    "bob",
                    "1003",
                ],
            )
            .expect("targets");
            let r = w.command(
                agent,
                CallAction::BlindTransfer {
                    call,
                    target: target.into(),
                },
            );
            format!("{agent} blind transfer to {target}: {r:?}")
        }
        // Consultation and what follows it.
        41..=50 => {
            let Some(call) = agent_call_no_cb else {
                return format!("{agent}: no call to consult on");
            };
            let action = match rng.random_range(0..5u32) {
                0 => {
                    // Agents by id and extension (known bug 3), queues (known bug 6).
                    let target = *pick(
                        rng,
                        &["2001", "+12125550188", "support", "alice", "carol", "1002"],
                    )
                    .expect("targets");
                    CallAction::Consult {
                        call,
                        target: target.into(),
                    }
                }
                1 => CallAction::CompleteTransfer { call },
                2 => CallAction::CancelConsult { call },
                3 => CallAction::Conference { call },
                _ => CallAction::Mute {
                    call,
                    on: rng.random_bool(0.5),
                },
            };
            let r = w.command(agent, action.clone());
            format!("{agent} {action:?}: {r:?}")
        }
        // The supervisor.
        51..=56 => {
            if call_ids.is_empty() {
                return "nothing to monitor".into();
            }
            let call = any_call(rng);
            let action = match rng.random_range(0..5u32) {
                0 | 1 => CallAction::Monitor {
                    call,
                    mode: *pick(
                        rng,
                        &[
                            MonitorMode::Listen,
                            MonitorMode::Whisper,
                            MonitorMode::Barge,
                        ],
                    )
                    .expect("modes"),
                },
                2 => CallAction::StopMonitor { call },
                3 => CallAction::TakeOver { call },
                _ => {
                    // The supervisor's phone hangs up.
                    if let Some(id) = w.live_call("sam") {
                        w.with_phone("sam", |p, now| p.hangup(now, id));
                        return format!("sam's phone hangs up {id}");
                    }
                    return "sam has no call".into();
                }
            };
            let r = w.command("sam", action.clone());
            format!("sam {action:?}: {r:?}")
        }
        // Agent-assisted payment.
        57..=58 => {
            let Some(call) = agent_call else {
                return format!("{agent}: no call to take a payment on");
            };
            let r = w.command(
                agent,
                CallAction::StartPayment {
                    call,
                    amount_minor: rng.random_range(1..100_000),
                    currency: "USD".into(),
                    reference: String::new(),
                },
            );
            format!("{agent} payment: {r:?}")
        }
        // A caller keys digits (menus, callback, card).
        59..=65 => {
            let ids: Vec<u32> = w.phone("trunk").live().map(|c| c.id).collect();
            let Some(id) = pick(rng, &ids).copied() else {
                return "no caller to key digits".into();
            };
            let Some(session) = w.session_of("trunk", id) else {
                return format!("caller {id} has no session yet");
            };
            // A callback may be asked for while an agent's phone rings for the call (known
            // bug 4, fixed: routing withdraws the offer, the agent is ready again).
            let digits = match rng.random_range(0..6u32) {
                0 => "4111111111111111#".to_string(),
                1 => "1230".to_string(),
                2 => "123".to_string(),
                _ => rng.random_range(0..4u32).to_string(),
            };
            w.press(session, &digits);
            format!("caller {id} keys {digits}")
        }
        // RTP stops on some leg.
        66 => {
            let sessions: Vec<_> = w.media.lock().sessions.keys().copied().collect();
            match pick(rng, &sessions).copied() {
                Some(session) => {
                    w.media_event(MediaEvent::RtpTimeout { session });
                    format!("RTP timeout on {session}")
                }
                None => "no media".into(),
            }
        }
        // Agents' desktops.
        67..=74 => {
            if rng.random_bool(0.75) {
                let r = w.ready(agent);
                format!("{agent} ready: {r:?}")
            } else {
                let r = w.not_ready(agent, "break");
                format!("{agent} not ready: {r:?}")
            }
        }
        // The store fails or stalls.
        75..=77 => match rng.random_range(0..3u32) {
            0 => {
                w.store.fail_next += 1;
                "the next store work fails".into()
            }
            1 => {
                w.store.hold = true;
                "store work is held".into()
            }
            _ => {
                w.store.hold = false;
                let held: Vec<_> = w.store.held.drain(..).collect();
                let n = held.len();
                for work in held {
                    if let Some(c) = w.store.perform(work) {
                        w.complete(c);
                    }
                }
                format!("store releases {n} pieces of work")
            }
        },
        // The desk phone 2001 (a transfer target).
        78..=79 => {
            let policy = match rng.random_range(0..3u32) {
                0 => Policy::Ignore,
                1 => Policy::Reject(486),
                _ => Policy::Answer(Duration::from_secs(rng.random_range(0..8u64))),
            };
            w.phone("2001").policy = policy;
            if let Some(id) = w.live_call("2001")
                && rng.random_bool(0.5)
            {
                w.with_phone("2001", |p, now| p.hangup(now, id));
                return format!("2001 hangs up {id}");
            }
            format!("2001: {policy:?}")
        }
        // Time passes.
        _ => {
            let d = match rng.random_range(0..10u32) {
                0..=5 => Duration::from_millis(rng.random_range(0..1_500)),
                6..=8 => Duration::from_millis(rng.random_range(1_500..12_000)),
                _ => Duration::from_millis(rng.random_range(12_000..45_000)),
            };
            w.advance(d);
            format!("advance {d:?}")
        }
    }
}

/// One sequence; `Err` with the seed, the step and the recent trace on a broken invariant.
fn run(seed: u64, steps: usize, keep_trace: bool) -> Result<u64, String> {
    run_with(seed, steps, keep_trace, 30)
}

fn run_with(seed: u64, steps: usize, keep_trace: bool, keepalive: u64) -> Result<u64, String> {
    let mut w = world_with(seed, keepalive);
    w.keep_trace = keep_trace;
    w.trace_cap = std::env::var("HOTLINE_TRACE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0..steps {
        let what = step(&mut w, &mut rng);
        w.log(format!("step {n}: {what}"));
        if n % 64 == 0 {
            for p in &mut w.phones {
                p.prune();
            }
        }
        if let Err(e) = w.check_invariants() {
            return Err(failure(&w, seed, Some(n), &e));
        }
    }
    w.log("wind down");
    if let Err(e) = w.wind_down(Duration::from_secs(900)) {
        return Err(failure(&w, seed, None, &e));
    }
    Ok(w.trace_hash())
}

fn failure(w: &World, seed: u64, step: Option<usize>, e: &str) -> String {
    let trace: Vec<&String> = w.trace.iter().collect();
    format!(
        "seed {seed}, {}: {e}\nreproduce: HOTLINE_SEED={seed} HOTLINE_STEPS={} cargo test -p hotline-calls --test random_ops -- --nocapture\nlast trace lines:\n{}",
        step.map_or("at the end".to_string(), |s| format!("step {s}")),
        step.map_or(0, |s| s + 1),
        trace
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn random_operation_sequences_keep_every_invariant() {
    let steps = env("HOTLINE_STEPS").map_or(STEPS, |s| s as usize);
    let seeds: Vec<u64> = match (env("HOTLINE_SEED"), env("HOTLINE_SEEDS")) {
        (Some(s), _) => vec![s],
        (None, Some(n)) => (1..=n).collect(),
        (None, None) => (1..=SEEDS).collect(),
    };
    let keep = std::env::var("HOTLINE_SEED").is_ok();
    let started = Instant::now();
    let mut failures = Vec::new();
    for &seed in &seeds {
        if let Err(e) = run(seed, steps, true) {
            failures.push(e);
            if keep || failures.len() >= 3 {
                break;
            }
        }
    }
    println!(
        "random_ops: {} steps over {} seeds ({} per seed) in {:?}",
        steps * seeds.len(),
        seeds.len(),
        steps,
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same seed gives the same trace (every datagram byte, notice, record, routing command
/// and decision), with and without OPTIONS keep-alives (known bug 2, fixed: the keep-alives
/// walked the registrar's `HashMap` and drew tags and Call-IDs in a random order).
#[test]
fn the_same_seed_gives_the_same_trace() {
    for keepalive in [0, 30] {
        let a = run_with(7, 600, false, keepalive).expect("seed 7");
        let b = run_with(7, 600, false, keepalive).expect("seed 7 again");
        assert_eq!(
            a, b,
            "same seed, different trace (keep-alive {keepalive} s)"
        );
        let c = run_with(8, 600, false, keepalive).expect("seed 8");
        assert_ne!(a, c, "the trace depends on the seed");
    }
}
