//! IVR capacity: N concurrent callers driven through the shipped main flow (welcome prompt,
//! caller lookup, main menu by DTMF with barge-in, sales sub-menu, queue with an announcement,
//! a queue timer, agent answer), one event at a time across all callers (round-robin, so all
//! N sessions are live at once). Reports CPU per caller event, sessions per second and the
//! time to load and validate the flow files.
//!
//! Run: `cargo bench -p hotline-ivr --bench ivr_sessions` (release). Optional argument: a
//! comma-separated list of concurrent caller counts (default 1000,10000,100000).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_ivr::*;

/// CPU seconds this thread has run, from /proc/thread-self/schedstat (Linux, nanoseconds).
/// Other processes on the shared machine do not count here, unlike wall time.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |ns| ns / 1e9)
}

/// Resident memory of this process in bytes, from /proc/self/statm.
fn rss_bytes() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |pages| pages * 4096.0)
}

struct Caller {
    s: Session,
    play: Option<PlaybackId>,
    request: Option<RequestId>,
    actions: u64,
}

impl Caller {
    fn drain(&mut self) {
        while let Some(a) = self.s.poll_action() {
            self.actions += 1;
            match a {
                Action::Play { id, .. } => self.play = Some(id),
                Action::LookupCaller { request, .. } | Action::QueryQueue { request, .. } => {
                    self.request = Some(request)
                }
                _ => {}
            }
        }
    }
}

fn step(c: &mut Caller, phase: usize, now: Instant, wall: UnixTime) {
    let digit = |ch| Event::Digit(Digit::from_char(ch).expect("digit"));
    match phase {
        0 => c.s.handle_event(
            now,
            Event::CallStarted {
                ani: Ani::new("+12125550100"),
                dnis: Dnis("1000".into()),
                wall_clock: wall,
            },
        ),
        1 | 4 | 7 => {
            c.s.handle_event(now, Event::PromptFinished(c.play.expect("playing")))
        }
        2 => c.s.handle_event(
            now,
            Event::LookupResult {
                request: c.request.expect("lookup"),
                customer: None,
            },
        ),
        3 => c.s.handle_event(now, digit('1')), // barge into the main menu: sales
        5 => c.s.handle_event(now, digit('2')), // sales menu: talk to sales -> queue
        6 => c.s.handle_event(
            now,
            Event::QueueStatus {
                request: c.request,
                status: QueueStatus {
                    position: 3,
                    waiting: 5,
                    agents_available: 0,
                    estimated_wait: Duration::from_secs(150),
                },
            },
        ),
        8 => c.s.handle_timeout(now), // 45 s later: next announcement is due
        _ => c.s.handle_event(
            now,
            Event::AgentConnected {
                agent: "alice".into(),
            },
        ),
    }
    c.drain();
}

const PHASES: usize = 10;

fn run(flow: &Arc<Flow>, n: usize) {
    let wall = UnixTime(1_795_392_000);
    let t0 = Instant::now();
    let rss0 = rss_bytes();
    let mut callers: Vec<Caller> = (0..n)
        .map(|i| Caller {
            s: Session::new(Arc::clone(flow), &format!("call-{i}")),
            play: None,
            request: None,
            actions: 0,
        })
        .collect();
    let cpu0 = cpu_secs();
    let wall0 = Instant::now();
    let mut sim_now = t0;
    for phase in 0..PHASES {
        if phase == 8 {
            sim_now += Duration::from_secs(45);
        } else {
            sim_now += Duration::from_millis(300);
        }
        for c in &mut callers {
            step(c, phase, sim_now, wall);
        }
    }
    let elapsed = wall0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let rss_per_caller = (rss_bytes() - rss0) / n as f64;
    let events = (n * PHASES) as f64;
    let actions: u64 = callers.iter().map(|c| c.actions).sum();
    let finished = callers.iter().filter(|c| c.s.is_finished()).count();
    assert_eq!(finished, n, "every caller reached an agent");
    assert!(callers.iter().all(|c| c.s.path().len() == 7));
    println!(
        "callers={n:>6}  events={events:>7}  actions={actions:>8}  wall={elapsed:.3}s  cpu={cpu:.3}s  \
         per event: {:.2} us cpu ({:.2} us wall)  callers/s: {:.0} per cpu-second ({:.0} wall)  memory: {:.0} bytes/caller",
        cpu / events * 1e6,
        elapsed / events * 1e6,
        n as f64 / cpu,
        n as f64 / elapsed,
        rss_per_caller
    );
}

fn main() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let prompts = PromptDir::default_for(&config);
    let t = Instant::now();
    let rounds = 20;
    let mut set = None;
    for _ in 0..rounds {
        set = Some(FlowSet::load_dir(&config.join("ivr"), &prompts).expect("shipped flows load"));
    }
    println!(
        "load + validate config/ivr (2 files, prompt files checked): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / f64::from(rounds)
    );
    let flow = set.and_then(|s| s.get("main")).expect("main flow");
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    println!(
        "session size: {} bytes (plus heap: path, inputs, variables)",
        std::mem::size_of::<Session>()
    );
    for n in sizes {
        run(&flow, n);
    }
}
