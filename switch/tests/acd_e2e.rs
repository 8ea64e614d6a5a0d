//! Issue 5's end-to-end acceptance: queues and routing through the real `hotline-switch`
//! binary, with real SIP (sipp) and real agent desktops (CTI over WebSocket).
//!
//! - `five_callers_alternate_by_longest_idle`: two agents' phones (sipp UASes registered as
//!   extensions 1001 alice and 1002 bob with digest auth), both agents logged in over CTI and
//!   made ready (bob first, so he has been idle longest), five callers dial a queue number one
//!   after the other. The queue uses the default strategy (longest idle), so the calls go bob,
//!   alice, bob, alice, bob: every call is offered (screen pop on the right desktop) to the
//!   agent whose wait is longest, not the first logged in nor the first by name. Each agent
//!   answers on the phone, hangs up and ends wrap-up from the desktop. All five calls have call
//!   records with the queue and the answering agent.
//! - `unanswered_offer_goes_back_to_the_head_and_the_agent_to_missed`: two callers wait in the
//!   queue (a supervisor's wallboard shows both); bob becomes ready and is offered the first
//!   caller, but his phone only rings. When the queue's ring timeout passes, the switch cancels
//!   the INVITE, bob's desktop shows not ready with reason "missed", and the call is back at the
//!   head of the queue: when alice becomes ready she is offered that same first caller, not the
//!   second one who waited behind it; she then takes the second caller too. The first call's
//!   record shows two offers and alice as its agent.
//! - `phone_ring_timer_also_sends_the_call_back_to_the_head_as_missed`: the same, but the
//!   switch's own SIP ring timer (`sip.ring_timeout_secs`) is shorter than the queue's, so call
//!   control cancels the INVITE and reports "no answer" to routing: same outcome.
//! - `rejected_offer_from_the_desktop_goes_back_to_the_head_and_the_agent_to_rejected`: the
//!   same, but bob presses Reject on the desktop while his phone rings (issue 13): the switch
//!   cancels the INVITE, bob's desktop shows not ready "rejected", a second reject is refused,
//!   and the call is back at the head for alice.
//!
//! Every child process (switch, sipp) is killed when its handle drops. No wall-clock
//! assertions; the timeouts are generous guards only.

mod cti_util;
mod sip_util;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cti_util::Desk;
use hotline_cti::{AfterWrapUp, AgentState, CallId, CallState, Command as Cti, Event, ScreenPop};
use sip_util::{Setup, Switch, free_port, register, scenario, sipp_media_port};

/// The queue's number in the temporary dial plan (straight to the queue, no IVR).
const QUEUE_NUMBER: &str = "+18005550111";

/// A guard against a hung test, never an assertion about speed.
const GUARD: Duration = Duration::from_secs(90);

/// A sipp process in its own process group (with `timeout` around it); the whole group is
/// killed when this drops, so no sipp outlives the test.
struct Peer {
    child: Child,
    name: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Peer {
    /// `sipp <target> -sf tests/sipp/<name> -p <port> -m <calls> <args>`, capped at two minutes.
    fn spawn(target: SocketAddr, name: &str, port: u16, calls: u32, args: &[&str]) -> Peer {
        let child = Command::new("timeout")
            .arg("120")
            .arg("sipp")
            .arg(target.to_string())
            .arg("-sf")
            .arg(scenario(name))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &sipp_media_port().to_string()])
            .args(["-m", &calls.to_string(), "-nostdin", "-trace_err"])
            .args(args)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn sipp (installed as /usr/bin/sipp?)");
        Peer {
            child,
            name: name.to_string(),
        }
    }

    /// A caller dialling the queue number, waiting until the switch hangs up.
    fn caller(target: SocketAddr, number: &str) -> Peer {
        Peer::spawn(
            target,
            "acd_caller.xml",
            free_port(),
            1,
            &["-key", "caller", number, "-key", "dial", QUEUE_NUMBER],
        )
    }

    /// Waits (in a blocking thread) for sipp to exit; true when every call succeeded.
    async fn finished(mut self) -> bool {
        tokio::task::spawn_blocking(move || {
            let status = self.child.wait().expect("wait sipp");
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                eprintln!("sipp {} failed: {status} {err}", self.name);
            }
            status.success()
        })
        .await
        .expect("join")
    }
}

/// The switch binary with a queue `sales` that any English speaker at level 4 can take (alice
/// and bob in the demo data), the default strategy, the given ring timeout, and a public number
/// straight into it. The returned folder holds the queues file: keep it alive.
fn start_switch(ring_timeout_secs: u32, sip_ring_timeout_secs: u64) -> (Switch, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let queues = dir.path().join("queues.toml");
    std::fs::write(
        &queues,
        format!(
            r#"
[[queues]]
id = "sales"
name = "Sales and bookings"
requires = [{{ skill = "english", min = 4 }}]
# no strategy: longest_idle is the default
ring_timeout = {ring_timeout_secs}
wrap_up = 30

# The shipped main flow (on the service number) names these too; no call goes there here.
[[queues]]
id = "support"

[[queues]]
id = "billing"
"#
        ),
    )
    .expect("queues file");
    let extra = format!(
        r#"
[[dialplan.routes]]
number = "{QUEUE_NUMBER}"
public = true
queue = "sales"

[routing]
queues_file = "{}"

[cti]
heartbeat_secs = 300
wallboard_interval_ms = 200
"#,
        queues.display()
    );
    let sw = Switch::start(Setup {
        extra,
        ring_timeout_secs: sip_ring_timeout_secs,
        ..Setup::default()
    });
    (sw, dir)
}

/// A phone for an extension: a sipp UAS taking `calls` calls, registered with digest auth.
fn phone(sw: &Switch, ext: &str, password: &str, scenario_name: &str, calls: u32) -> Peer {
    let port = free_port();
    let uas = Peer::spawn(sw.sip, scenario_name, port, calls, &[]);
    assert!(
        register(sw, ext, password, port),
        "extension {ext} registered"
    );
    uas
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// An agent's desktop. Screen pops come from call control and state changes from routing, two
/// sources whose events may interleave either way (a pop can arrive before the `ready` that
/// led to it), so pops skipped while waiting for something else are kept, never lost.
struct Agent {
    desk: Desk,
    pops: VecDeque<ScreenPop>,
}

async fn desk(sw: &Switch, agent: &str, password: &str) -> Agent {
    let mut d = Desk::connect(&format!("ws://{}/cti", sw.http)).await;
    d.hello().await;
    d.login(agent, password)
        .await
        .unwrap_or_else(|e| panic!("{agent} logs in: {e:?}"));
    Agent {
        desk: d,
        pops: VecDeque::new(),
    }
}

impl Agent {
    /// The next event matching `pred`; screen pops passed over are kept for [`offer`].
    async fn event_where(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        tokio::time::timeout(GUARD, async {
            loop {
                let e = self.desk.event().await.event;
                if pred(&e) {
                    return e;
                }
                if let Event::CallOffered(pop) = e {
                    self.pops.push_back(*pop);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what} in time"))
    }
}

/// The next `agent_state_changed` to `state` on this desk; returns its reason.
async fn state(d: &mut Agent, state: AgentState) -> Option<String> {
    let what = format!("agent state {state:?}");
    match d
        .event_where(
            &what,
            |e| matches!(e, Event::AgentStateChanged(s) if s.state == state),
        )
        .await
    {
        Event::AgentStateChanged(s) => s.reason.map(|r| r.as_str().to_string()),
        _ => unreachable!("matched above"),
    }
}

/// Sends `ready` and waits for the state change.
async fn make_ready(d: &mut Agent) {
    let r = d.desk.request(Cti::Ready).await;
    assert!(r.is_ok(), "ready: {r:?}");
    state(d, AgentState::Ready).await;
}

/// The next screen pop on this desk.
async fn offer(d: &mut Agent) -> ScreenPop {
    if let Some(p) = d.pops.pop_front() {
        return p;
    }
    match d
        .event_where("an offer", |e| matches!(e, Event::CallOffered(_)))
        .await
    {
        Event::CallOffered(pop) => *pop,
        _ => unreachable!("matched above"),
    }
}

/// The first screen pop on either desk, with the name of the agent who got it.
async fn first_offer(alice: &mut Agent, bob: &mut Agent) -> (&'static str, ScreenPop) {
    tokio::select! {
        p = offer(alice) => ("alice", p),
        p = offer(bob) => ("bob", p),
    }
}

/// The offered call connects (the phone answers), the agent hangs up from the desktop, the
/// agent is in wrap-up, ends it early and is ready again.
async fn talk_and_hang_up(d: &mut Agent, call: &CallId) {
    d.event_where("connected", |e| {
        matches!(e, Event::CallChanged(c) if &c.call == call && c.state == CallState::Connected)
    })
    .await;
    let r = d.desk.request(Cti::Hangup { call: call.clone() }).await;
    assert!(r.is_ok(), "hangup: {r:?}");
    state(d, AgentState::WrapUp).await;
    let r = d
        .desk
        .request(Cti::EndWrapUp {
            then: AfterWrapUp::Ready,
        })
        .await;
    assert!(r.is_ok(), "end wrap-up: {r:?}");
    state(d, AgentState::Ready).await;
}

/// Bob became ready first, so he has waited longest for call 1; after each call the agent who
/// just hung up has waited least.
const LONGEST_IDLE_ORDER: [&str; 5] = ["bob", "alice", "bob", "alice", "bob"];

#[test]
fn five_callers_alternate_by_longest_idle() {
    let (sw, _queues) = start_switch(20, 30);
    // Bob takes calls 1, 3 and 5, alice 2 and 4 (each phone exits after that many calls).
    let alice_phone = phone(&sw, "1001", "alice-phone", "uas.xml", 2);
    let bob_phone = phone(&sw, "1002", "bob-phone", "uas.xml", 3);

    let offers: Vec<(String, String)> = runtime().block_on(async {
        // Alice logs in first and is first by name; bob becomes ready first.
        let mut alice = desk(&sw, "alice", "alice-demo").await;
        let mut bob = desk(&sw, "bob", "bob-demo").await;
        make_ready(&mut bob).await;
        make_ready(&mut alice).await;

        let mut offers = Vec::new();
        for i in 1..=5 {
            let number = format!("+1555000000{i}");
            let caller = Peer::caller(sw.sip, &number);
            let (agent, pop) = first_offer(&mut alice, &mut bob).await;
            assert_eq!(
                pop.ani.expose(),
                &number,
                "call {i}: the new caller is offered"
            );
            assert_eq!(pop.queue.as_str(), "sales");
            assert_eq!(pop.dnis, QUEUE_NUMBER);
            assert_eq!(
                agent,
                LONGEST_IDLE_ORDER[i - 1],
                "call {i}: longest idle offers it to the agent who has waited longest"
            );
            let d = if agent == "alice" {
                &mut alice
            } else {
                &mut bob
            };
            talk_and_hang_up(d, &pop.call).await;
            assert!(caller.finished().await, "caller {i} ended cleanly");
            offers.push((agent.to_string(), pop.call.as_str().to_string()));
        }
        assert!(
            alice.pops.is_empty() && bob.pops.is_empty(),
            "no offers beyond the five calls"
        );
        offers
    });

    let rt = runtime();
    assert!(
        rt.block_on(alice_phone.finished()),
        "alice's phone took 2 calls"
    );
    assert!(
        rt.block_on(bob_phone.finished()),
        "bob's phone took 3 calls"
    );
    drop(rt);

    let ids: Vec<String> = offers.iter().map(|(_, c)| c.clone()).collect();
    let records = sw.call_records(&ids);
    assert_eq!(records.len(), 5);
    for ((agent, id), rec) in offers.iter().zip(&records) {
        assert_eq!(&rec.id, id);
        assert_eq!(rec.queue_id.as_deref(), Some("sales"), "{rec:?}");
        assert_eq!(rec.agent_id.as_deref(), Some(agent.as_str()), "{rec:?}");
        assert!(
            rec.answered_at.is_some() && rec.ended_at.is_some(),
            "{rec:?}"
        );
        assert!(!rec.abandoned, "{rec:?}");
        assert_eq!(rec.end_reason.as_deref(), Some("agent hung up"), "{rec:?}");
    }

    // /metrics counts the same calls, and no label carries a number or a name.
    let text = sw.metrics();
    let m = |series: &str| Switch::metric(&text, series);
    assert_eq!(
        m(r#"hotline_calls_started_total{direction="inbound"}"#),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        m(r#"hotline_calls_ended_total{direction="inbound",outcome="answered"}"#),
        Some(5.0)
    );
    assert_eq!(m(r#"hotline_calls_active{direction="inbound"}"#), Some(0.0));
    assert_eq!(
        m(r#"hotline_queue_answered_today{queue="sales"}"#),
        Some(5.0)
    );
    assert_eq!(
        m(r#"hotline_queue_offered_today{queue="sales"}"#),
        Some(5.0)
    );
    assert_eq!(
        m(r#"hotline_queue_calls_waiting{queue="sales"}"#),
        Some(0.0)
    );
    let agents: f64 = text
        .lines()
        .filter(|l| l.starts_with("hotline_agents{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(agents, 2.0, "alice and bob are logged in: {text}");
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !l.contains("555000000") && !l.contains("alice") && !l.contains("bob"),
            "personal data in a label: {l}"
        );
    }
    // SIP counters are copied from call control once a second: wait (bounded, generously for
    // a loaded machine) for the fifth INVITE to show.
    let mut sip = String::new();
    for _ in 0..200 {
        sip = sw.metrics();
        if Switch::metric(
            &sip,
            r#"hotline_sip_requests_total{direction="received",method="INVITE"}"#,
        )
        .is_some_and(|n| n >= 5.0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = |series: &str| Switch::metric(&sip, series).unwrap_or(-1.0);
    assert!(
        s(r#"hotline_sip_requests_total{direction="received",method="INVITE"}"#) >= 5.0,
        "{sip}"
    );
    assert!(
        s(r#"hotline_sip_requests_total{direction="sent",method="INVITE"}"#) >= 5.0,
        "to the phones"
    );
    assert!(s(r#"hotline_sip_responses_total{direction="sent",class="2xx"}"#) >= 5.0);
    assert!(s("hotline_sip_transactions") >= 0.0);
    assert!(s("process_resident_memory_bytes") > 1e6, "{sip}");
    assert!(s("process_open_fds") > 3.0 && s("process_max_fds") >= s("process_open_fds"));
    assert!(s("process_cpu_seconds_total") > 0.0);
    assert!(
        s("hotline_cti_logins_total") >= 2.0,
        "alice and bob signed in"
    );
    assert!(s("hotline_cti_connections_total") >= s("hotline_cti_logins_total"));
    assert!(s("hotline_cti_connections_open") >= 0.0);
    assert_eq!(s("hotline_cti_login_failures_total"), 0.0);
    // Every series the shipped alert rules and dashboard read exists.
    for file in [
        "config/ops/hotline-alerts.yml",
        "config/ops/grafana-dashboard.json",
    ] {
        let ops = std::fs::read_to_string(sip_util::root().join(file)).expect("ops file");
        let mut names: Vec<&str> = ops
            .match_indices("hotline_")
            .map(|(i, _)| {
                let rest = &ops[i..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .filter(|n| n.len() > "hotline_".len())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 5, "{file}: {names:?}");
        for name in names {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' '])),
                "{file} reads {name}, which /metrics does not export"
            );
        }
    }
}

#[test]
fn unanswered_offer_goes_back_to_the_head_and_the_agent_to_missed() {
    // The queue's ring timeout (routing's reservation timer) fires first; the switch cancels
    // the phone's INVITE.
    missed_offer(3, 30, Miss::Timer);
}

#[test]
fn phone_ring_timer_also_sends_the_call_back_to_the_head_as_missed() {
    // Call control's SIP ring timer fires first: it cancels the INVITE and tells routing "no
    // answer", with the same result.
    missed_offer(20, 3, Miss::Timer);
}

#[test]
fn rejected_offer_from_the_desktop_goes_back_to_the_head_and_the_agent_to_rejected() {
    // Bob presses Reject while his phone rings (both ring timers far away): the switch cancels
    // the INVITE, the call goes back to the head, bob is not ready "rejected".
    missed_offer(60, 60, Miss::Reject);
}

/// How bob's offer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// A ring timer (the queue's or the switch's, whichever is shorter).
    Timer,
    /// Bob's desktop sends `reject`.
    Reject,
}

fn missed_offer(queue_ring_timeout_secs: u32, sip_ring_timeout_secs: u64, how: Miss) {
    let (sw, _queues) = start_switch(queue_ring_timeout_secs, sip_ring_timeout_secs);
    let alice_phone = phone(&sw, "1001", "alice-phone", "uas.xml", 2);
    // Rings (180) and never answers; expects the switch's CANCEL (200, 487, ACK).
    let bob_phone = phone(&sw, "1002", "bob-phone", "uas_cancel.xml", 1);
    let first = "+15550000011";
    let second = "+15550000012";

    let (first_id, second_id) = runtime().block_on(async {
        let mut alice = desk(&sw, "alice", "alice-demo").await;
        let mut bob = desk(&sw, "bob", "bob-demo").await;
        let mut sue = desk(&sw, "sue", "sue-demo").await;
        let r = sue
            .desk
            .request(Cti::SubscribeWallboard {
                queues: vec![hotline_cti::QueueId::new("sales")],
            })
            .await;
        assert!(r.is_ok(), "wallboard: {r:?}");

        // Two callers wait, nobody is ready; the second arrives after the first is queued.
        let caller1 = Peer::caller(sw.sip, first);
        waiting(&mut sue, 1).await;
        let caller2 = Peer::caller(sw.sip, second);
        waiting(&mut sue, 2).await;

        // Bob is offered the head call; his phone only rings.
        make_ready(&mut bob).await;
        let pop = offer(&mut bob).await;
        assert_eq!(pop.ani.expose(), first, "the longest-waiting caller first");
        let expected_ring = u64::from(queue_ring_timeout_secs).min(sip_ring_timeout_secs);
        assert!(
            u64::from(pop.ring_timeout_secs) <= expected_ring,
            "the pop's countdown ({} s) is the shorter of the queue's and the switch's ring time ({expected_ring} s)",
            pop.ring_timeout_secs
        );
        let expected = match how {
            Miss::Timer => "missed",
            Miss::Reject => {
                let r = bob
                    .desk
                    .request(Cti::Reject {
                        call: pop.call.clone(),
                    })
                    .await;
                assert!(r.is_ok(), "reject: {r:?}");
                // Rejecting again (nothing is offered any more) is refused, changing nothing.
                let again = bob
                    .desk
                    .request(Cti::Reject {
                        call: pop.call.clone(),
                    })
                    .await;
                // ... as not this agent's call any more (its own error code, not a state).
                assert!(
                    matches!(&again, Err(e) if e.code == hotline_cti::ErrorCode::UnknownCall),
                    "a second reject is refused: {again:?}"
                );
                "rejected"
            }
        };
        let reason = state(&mut bob, AgentState::NotReady).await;
        assert_eq!(reason.as_deref(), Some(expected), "bob's offer ended {how:?}");

        // The missed call is back at the head: alice gets it before the second caller.
        make_ready(&mut alice).await;
        let again = offer(&mut alice).await;
        assert_eq!(
            again.call, pop.call,
            "the same call, offered to the other agent"
        );
        assert_eq!(again.ani.expose(), first);
        talk_and_hang_up(&mut alice, &again.call).await;
        assert!(caller1.finished().await, "first caller ended cleanly");

        let next = offer(&mut alice).await;
        assert_eq!(next.ani.expose(), second);
        talk_and_hang_up(&mut alice, &next.call).await;
        assert!(caller2.finished().await, "second caller ended cleanly");
        assert!(
            alice.pops.is_empty() && bob.pops.is_empty(),
            "no offers beyond these three"
        );
        assert!(bob_phone.finished().await, "bob's phone was cancelled");
        assert!(alice_phone.finished().await, "alice's phone took 2 calls");
        (
            pop.call.as_str().to_string(),
            next.call.as_str().to_string(),
        )
    });

    // Which timer ended bob's ringing: call control logs "no answer" only for its own.
    assert_eq!(
        sw.logged("no answer"),
        how == Miss::Timer && sip_ring_timeout_secs < u64::from(queue_ring_timeout_secs),
        "the intended ring timer fired"
    );
    assert_eq!(
        sw.logged("offer rejected from the desktop"),
        how == Miss::Reject
    );
    let records = sw.call_records(&[first_id.clone(), second_id.clone()]);
    for rec in &records {
        assert_eq!(rec.queue_id.as_deref(), Some("sales"), "{rec:?}");
        assert_eq!(rec.agent_id.as_deref(), Some("alice"), "{rec:?}");
        assert!(rec.answered_at.is_some(), "{rec:?}");
        assert!(!rec.abandoned, "{rec:?}");
    }
    assert_eq!(records[0].ani, first);
    assert_eq!(records[1].ani, second);
    let kinds = runtime().block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let k = store.call_event_kinds(&first_id).await.expect("events");
        store.close().await;
        k
    });
    assert_eq!(
        kinds.iter().filter(|k| *k == "offered").count(),
        2,
        "offered to bob, then to alice: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "note").count(),
        1,
        "the missed offer leaves one note, whichever way it ended: {kinds:?}"
    );
}

/// Waits until the supervisor's wallboard shows `n` calls waiting in `sales`.
async fn waiting(sue: &mut Agent, n: u32) {
    tokio::time::timeout(GUARD, async {
        loop {
            let e = sue.desk.event().await;
            let queues = match &e.event {
                Event::Wallboard(w) => &w.queues,
                Event::WallboardDelta(d) => &d.queues,
                _ => continue,
            };
            if queues
                .iter()
                .any(|q| q.queue.as_str() == "sales" && q.waiting == n)
            {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} calls waiting in time"));
}
