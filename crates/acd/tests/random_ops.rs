//! Randomized sequences of operations (log in, ready, offer, answer, no answer, caller hangs up
//! while ringing, agent logs out while reserved, desktop drops, callbacks, widening, time jumps)
//! with the invariants checked after every step: an agent is on at most one call, no reservation
//! outlives its timeout, indexes agree with states, and every call ends exactly once.

use hotline_acd::{
    Acd, AcdConfig, AgentId, AgentState, CallId, CallSubState, Decision, Event, OverflowCondition,
    OverflowTarget, Priority, QueueConfig, QueueId, SkillId, WideningStep,
};
use proptest::prelude::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const AGENTS: u8 = 4;
const CALLS: u8 = 8;

#[derive(Clone, Debug)]
enum Op {
    Login(u8, u8),
    Ready(u8),
    NotReady(u8),
    Logout(u8),
    DesktopLost(u8),
    SetSkills(u8, u8),
    Enqueue(u8, u8, u8),
    Answer(u8),
    AnswerWrong(u8, u8),
    NoAnswer(u8),
    Hangup(u8),
    WrapDone(u8),
    Hold(u8),
    RequestCallback(u8),
    CallbackConnected(u8),
    CallbackFailed(u8),
    /// Log in with a skill set and become ready at once.
    LoginReady(u8, u8),
    /// Whichever agent is k-th among the reserved ones answers.
    AnswerSome(u8),
    /// Whichever agent is k-th among the reserved ones misses.
    MissSome(u8),
    /// The k-th callback being dialled connects (or fails).
    DialResult(u8, bool),
    /// Advance time, firing timers one by one as a driver should.
    Advance(u16),
    /// Jump time without calling `handle_timeout`: the next input must catch up by itself.
    Jump(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let ag = 0..AGENTS;
    let ca = 0..CALLS;
    prop_oneof![
        1 => (ag.clone(), 0..4u8).prop_map(|(a, s)| Op::Login(a, s)),
        3 => ag.clone().prop_map(Op::Ready),
        1 => ag.clone().prop_map(Op::NotReady),
        1 => ag.clone().prop_map(Op::Logout),
        1 => ag.clone().prop_map(Op::DesktopLost),
        1 => (ag.clone(), 0..4u8).prop_map(|(a, s)| Op::SetSkills(a, s)),
        4 => (ca.clone(), 0..3u8, 0..3u8).prop_map(|(c, q, p)| Op::Enqueue(c, q, p)),
        4 => ag.clone().prop_map(Op::Answer),
        1 => (ag.clone(), ca.clone()).prop_map(|(a, c)| Op::AnswerWrong(a, c)),
        2 => ag.clone().prop_map(Op::NoAnswer),
        3 => ca.clone().prop_map(Op::Hangup),
        2 => ag.clone().prop_map(Op::WrapDone),
        1 => ag.clone().prop_map(Op::Hold),
        1 => ca.clone().prop_map(Op::RequestCallback),
        1 => ca.clone().prop_map(Op::CallbackConnected),
        1 => ca.clone().prop_map(Op::CallbackFailed),
        3 => (ag.clone(), 0..4u8).prop_map(|(a, s)| Op::LoginReady(a, s)),
        4 => any::<u8>().prop_map(Op::AnswerSome),
        1 => any::<u8>().prop_map(Op::MissSome),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(k, ok)| Op::DialResult(k, ok)),
        3 => (0..45u16).prop_map(Op::Advance),
        1 => (0..45u16).prop_map(Op::Jump),
    ]
}

fn config() -> AcdConfig {
    let mut general = QueueConfig::new("general")
        .require("en", 2)
        .ring_timeout(Duration::from_secs(10))
        .wrap_up(Duration::from_secs(15))
        .widen(WideningStep {
            after: Duration::from_secs(20),
            lower_min_by: 1,
            add_queues: vec![],
        })
        .widen(WideningStep {
            after: Duration::from_secs(40),
            lower_min_by: 0,
            add_queues: vec![QueueId::new("vip")],
        })
        .overflow(
            OverflowCondition::Capacity { max_waiting: 5 },
            OverflowTarget::CallbackOffer,
        )
        .overflow(
            OverflowCondition::MaxWait {
                after: Duration::from_secs(90),
            },
            OverflowTarget::Voicemail,
        );
    general.callback_retry_delay = Duration::from_secs(30);
    general.callback_attempts = 2;
    let vip = QueueConfig::new("vip")
        .require("vip", 3)
        .strategy(hotline_acd::Strategy::RingAll)
        .ring_timeout(Duration::from_secs(8))
        .wrap_up(Duration::ZERO)
        .overflow(
            OverflowCondition::NoAgents,
            OverflowTarget::Queue(QueueId::new("general")),
        );
    let spanish = QueueConfig::new("spanish")
        .require("es", 1)
        .strategy(hotline_acd::Strategy::RoundRobin)
        .overflow(
            OverflowCondition::MaxWait {
                after: Duration::from_secs(30),
            },
            OverflowTarget::CallbackOffer,
        );
    AcdConfig {
        queues: vec![general, vip, spanish],
    }
}

fn skills(set: u8) -> Vec<(SkillId, u8)> {
    let s = |n: &str, l: u8| (SkillId::new(n), l);
    match set {
        0 => vec![s("en", 1)],
        1 => vec![s("en", 3), s("vip", 4)],
        2 => vec![s("es", 2), s("en", 2), s("vip", 3)],
        _ => vec![s("vip", 3), s("es", 5)],
    }
}

struct World {
    acd: Acd,
    now: Instant,
    live: HashSet<String>,
    began: u64,
    dialing: Vec<CallId>,
    ended: u64,
    enqueued: u64,
}

impl World {
    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(d) = self.acd.poll_decision() {
            if let Decision::DialCallback { call, .. } = d {
                self.dialing.push(call);
            }
        }
        while let Some(e) = self.acd.poll_event() {
            match e {
                // The first `CallQueued` of an id begins a call; later ones (overflow to another
                // queue) move it.
                Event::CallQueued { call, .. } => {
                    self.began += u64::from(self.live.insert(call.0));
                }
                Event::CallConnected { call, .. } => self.dialing.retain(|c| *c != call),
                Event::CallEnded { call, .. } => {
                    self.dialing.retain(|c| *c != call);
                    prop_assert!(
                        self.live.remove(call.as_str()),
                        "call {call} ended twice or never began"
                    );
                    self.ended += 1;
                }
                _ => {}
            }
        }
        self.acd.check_invariants().map_err(TestCaseError::fail)?;
        // Agents and calls agree with the model of live calls.
        prop_assert_eq!(self.acd.call_count(), self.live.len());
        for (id, st) in self.acd.agents() {
            if let AgentState::Reserved { deadline, .. } | AgentState::WrapUp { deadline, .. } = st
            {
                prop_assert!(
                    *deadline > self.now || self.acd.poll_timeout().is_some_and(|t| t <= *deadline),
                    "agent {id}: deadline passed without a timer"
                );
            }
        }
        Ok(())
    }

    fn advance(&mut self, d: Duration) -> Result<(), TestCaseError> {
        let target = self.now + d;
        while let Some(t) = self.acd.poll_timeout() {
            if t > target {
                break;
            }
            self.now = t;
            self.acd.handle_timeout(t);
            self.drain()?;
        }
        self.now = target;
        self.acd.handle_timeout(target);
        self.drain()
    }
}

fn agent(i: u8) -> AgentId {
    AgentId::new(format!("a{i}"))
}
fn call(i: u8) -> CallId {
    CallId::new(format!("c{i}"))
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    let mut w = World {
        acd: Acd::new(config(), t0).expect("valid"),
        now: t0,
        live: HashSet::new(),
        began: 0,
        dialing: Vec::new(),
        ended: 0,
        enqueued: 0,
    };
    let queues = ["general", "vip", "spanish"];
    for op in ops {
        let now = w.now;
        let acd = &mut w.acd;
        match op {
            Op::Login(a, s) => drop(acd.login(now, &agent(a), &skills(s))),
            Op::Ready(a) => drop(acd.ready(now, &agent(a))),
            Op::NotReady(a) => drop(acd.not_ready(now, &agent(a), "break")),
            Op::Logout(a) => drop(acd.logout(now, &agent(a))),
            Op::DesktopLost(a) => drop(acd.desktop_lost(now, &agent(a))),
            Op::SetSkills(a, s) => drop(acd.set_skills(now, &agent(a), &skills(s))),
            Op::Enqueue(c, q, p) => {
                let known = acd.has_call(&call(c));
                let r = acd.enqueue(
                    now,
                    &call(c),
                    &QueueId::new(queues[q as usize]),
                    Priority(p as u32 * 5),
                );
                match r {
                    Ok(()) => w.enqueued += 1,
                    // Refused only for an id still held (after catching up with due timers).
                    Err(e) => prop_assert!(known && acd.has_call(&call(c)), "enqueue refused: {e}"),
                }
            }
            Op::Answer(a) => {
                if let Some(AgentState::Reserved { call, .. }) = acd.agent_state(&agent(a)).cloned()
                {
                    // Refused only if the reservation lapsed first (a due timer fires before
                    // any input at the same or a later time).
                    if let Err(e) = acd.answer(now, &call, &agent(a)) {
                        let still = matches!(acd.agent_state(&agent(a)), Some(AgentState::Reserved { call: c2, .. }) if *c2 == call);
                        prop_assert!(!still, "answer refused while reserved: {e}");
                    }
                }
            }
            Op::AnswerWrong(a, c) => {
                // Catch up first, so the state read below is the one `answer` will see.
                acd.handle_timeout(now);
                let reserved_for = acd.agent_state(&agent(a)).and_then(|s| match s {
                    AgentState::Reserved { call, .. } => Some(call.clone()),
                    _ => None,
                });
                let r = acd.answer(now, &call(c), &agent(a));
                if reserved_for != Some(call(c)) {
                    prop_assert!(r.is_err(), "answer without a reservation must be refused");
                }
            }
            Op::NoAnswer(a) => drop(acd.no_answer(now, &agent(a))),
            Op::Hangup(c) => {
                // Refused only for a call that is not held (after catching up with due timers).
                if let Err(e) = acd.hangup(now, &call(c)) {
                    prop_assert!(!acd.has_call(&call(c)), "hangup refused: {e}");
                }
            }
            Op::WrapDone(a) => drop(acd.wrapup_done(now, &agent(a))),
            Op::Hold(a) => drop(acd.set_call_sub_state(now, &agent(a), CallSubState::Hold)),
            Op::RequestCallback(c) => drop(acd.request_callback(now, &call(c))),
            Op::CallbackConnected(c) | Op::CallbackFailed(c) => {
                let r = if matches!(op, Op::CallbackConnected(_)) {
                    acd.callback_connected(now, &call(c))
                } else {
                    acd.callback_failed(now, &call(c))
                };
                if r.is_ok() {
                    w.dialing.retain(|x| *x != call(c));
                }
            }
            Op::LoginReady(a, s) => {
                drop(acd.login(now, &agent(a), &skills(s)));
                drop(acd.ready(now, &agent(a)));
            }
            Op::AnswerSome(k) | Op::MissSome(k) => {
                let reserved: Vec<(AgentId, CallId)> = acd
                    .agents()
                    .filter_map(|(id, st)| match st {
                        AgentState::Reserved { call, .. } => Some((id.clone(), call.clone())),
                        _ => None,
                    })
                    .collect();
                if !reserved.is_empty() {
                    let (a, c) = reserved[k as usize % reserved.len()].clone();
                    let r = if matches!(op, Op::AnswerSome(_)) {
                        acd.answer(now, &c, &a)
                    } else {
                        acd.no_answer(now, &a)
                    };
                    if let Err(e) = r {
                        let still = matches!(acd.agent_state(&a), Some(AgentState::Reserved { call, .. }) if *call == c);
                        prop_assert!(!still, "refused while reserved: {e}");
                    }
                }
            }
            Op::DialResult(k, ok) => {
                if !w.dialing.is_empty() {
                    let c = w.dialing.remove(k as usize % w.dialing.len());
                    let r = if ok {
                        acd.callback_connected(now, &c)
                    } else {
                        acd.callback_failed(now, &c)
                    };
                    r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
            Op::Advance(s) => {
                w.advance(Duration::from_secs(s as u64))?;
                continue;
            }
            Op::Jump(s) => {
                w.now += Duration::from_secs(s as u64);
                continue;
            }
        }
        w.drain()?;
    }
    // Everyone hangs up: every call ends exactly once and nothing is left behind.
    let now = w.now;
    for c in 0..CALLS {
        if w.acd.has_call(&call(c)) {
            if let Err(e) = w.acd.hangup(now, &call(c)) {
                prop_assert!(!w.acd.has_call(&call(c)), "hangup refused: {e}");
            }
            w.drain()?;
        }
    }
    w.advance(Duration::from_secs(3600))?;
    prop_assert!(w.live.is_empty(), "calls never ended: {:?}", w.live);
    prop_assert_eq!(w.began, w.enqueued);
    prop_assert_eq!(w.ended, w.enqueued);
    prop_assert_eq!(w.acd.call_count(), 0);
    for (id, st) in w.acd.agents() {
        prop_assert!(
            matches!(
                st,
                AgentState::LoggedOut | AgentState::NotReady { .. } | AgentState::Ready
            ),
            "agent {id} stuck in {st:?}"
        );
    }
    prop_assert_eq!(
        w.acd.poll_timeout(),
        None,
        "no timer left once every call ended"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_keep_every_invariant(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
