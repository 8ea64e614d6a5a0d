//! The engine: one authoritative state machine per agent, ordered waiting-call indexes, timers.
//!
//! Data layout (see `docs/acd.md` for the reasoning):
//! - A *target* is one widening step of one queue. It holds the requirement set in force at that
//!   step (a list of alternatives, any of which qualifies an agent), the waiting calls at that step
//!   in a `BTreeMap` ordered by `(priority desc, enqueue time, sequence)`, and the ready agents who
//!   qualify, in a `BTreeSet` ordered by the queue's strategy.
//! - Every agent knows the targets it qualifies for (recomputed on login and `set_skills`).
//! - An agent who frees up compares only the head call of each of its targets: O(k log n) for k
//!   targets and n waiting calls. A call entering a target takes the first ready agent in the
//!   strategy order: O(log m).

use crate::config::{
    AcdConfig, OverflowCondition, OverflowTarget, QueueConfig, SkillRequirement, Strategy,
};
use crate::error::AcdError;
use crate::ids::{AgentId, CallId, MAX_PROFICIENCY, MIN_PROFICIENCY, Priority, QueueId, SkillId};
use crate::output::{
    AgentState, CallSubState, Decision, EndReason, Event, Metrics, OfferKind, OverflowReason,
    QueueStats,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

mod invariants;

type AgentIx = u32;
type CallIx = u32;
type QueueIx = u32;
type TargetIx = u32;
type SkillIx = u32;

/// (priority reversed, enqueue time in ns, sequence): smallest is served first.
type CallKey = (u32, u64, u64);
/// (strategy key, idle since in ns, agent index): smallest is offered first.
type ReadyKey = (u64, u64, AgentIx);
/// (deadline in ns, sequence).
type TimerKey = (u64, u64);

/// Overflow to another queue at most this many times in a row; after that the call stays.
const MAX_OVERFLOW_HOPS: u8 = 4;
/// Handle-time samples kept per queue for the wait estimate.
const HANDLE_SAMPLES: usize = 32;

/// Reason code set when a reservation is not answered in time or the phone refuses it.
pub const REASON_MISSED: &str = "missed";
/// Reason code set when the agent rejects an offer (from the desktop or the phone's decline key).
pub const REASON_REJECTED: &str = "rejected";
/// Reason code set on login.
pub const REASON_LOGIN: &str = "login";
/// Reason code set when the agent's desktop connection is lost.
pub const REASON_DISCONNECTED: &str = "disconnected";

#[derive(Clone, Copy, Debug)]
enum Timer {
    Reservation(AgentIx),
    WrapUp(AgentIx),
    Widen(CallIx),
    MaxWait(CallIx),
    CallbackRetry(CallIx),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    LoggedOut,
    NotReady,
    Working,
}

fn class_of(s: &AgentState) -> Class {
    match s {
        AgentState::LoggedOut => Class::LoggedOut,
        AgentState::NotReady { .. } => Class::NotReady,
        _ => Class::Working,
    }
}

#[derive(Clone, Debug)]
enum After {
    NotReady(String),
    LogOut,
}

struct Agent {
    id: AgentId,
    state: AgentState,
    /// Sorted by skill index.
    skills: Vec<(SkillIx, u8)>,
    /// Targets this agent qualifies for, ascending.
    eligible: Vec<TargetIx>,
    /// Ready-set memberships while `Ready`.
    ready_in: Vec<(TargetIx, ReadyKey)>,
    idle_since: u64,
    calls_answered: u64,
    pending: Option<After>,
    timer: Option<TimerKey>,
    /// Queue of the call being handled and when it was answered (for handle times).
    handling: Option<(QueueIx, u64)>,
    /// On a direct call (not routed by the queues; its id is not one of ours).
    direct: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Waiting(TargetIx),
    Offered(Vec<AgentIx>),
    Dialing(AgentIx),
    Connected(AgentIx),
    /// A callback request between a failed dial and its retry.
    Parked,
    /// Transient while the call is being moved.
    Limbo,
}

struct Call {
    id: CallId,
    queue: QueueIx,
    key: CallKey,
    enqueued_at: u64,
    queue_since: u64,
    step: usize,
    place: Place,
    /// `Some(attempts made)` for a callback request.
    callback: Option<u32>,
    widen_timer: Option<TimerKey>,
    max_wait_timer: Option<TimerKey>,
    retry_timer: Option<TimerKey>,
    max_wait_due: bool,
    callback_offered: bool,
    /// Counted in the queue's `callbacks_waiting`.
    cb_counted: bool,
    ewt: Option<u64>,
    hops: u8,
}

struct Target {
    queue: QueueIx,
    step: usize,
    /// Any-of (all-of requirements).
    alternatives: Vec<Vec<(SkillIx, u8)>>,
    calls: BTreeMap<CallKey, CallIx>,
    ready: BTreeSet<ReadyKey>,
    logged_in: u32,
    working: u32,
}

struct Queue {
    cfg: QueueConfig,
    /// One per step, step 0 first.
    targets: Vec<TargetIx>,
    /// `step_after[k]` = wait (ns) at which step `k + 1` applies.
    step_after: Vec<u64>,
    /// Base requirements (for the most-skilled score).
    base: Vec<(SkillIx, u8)>,
    rr_cursor: Option<AgentIx>,
    capacity: Option<(usize, OverflowTarget)>,
    max_wait: Option<(u64, OverflowTarget)>,
    no_agents: Option<OverflowTarget>,
    handle: [u64; HANDLE_SAMPLES],
    handle_len: usize,
    handle_pos: usize,
    handle_sum: u64,
    callbacks_waiting: usize,
}

impl Queue {
    fn mean_handle(&self) -> u64 {
        if self.handle_len == 0 {
            dur_ns(self.cfg.default_handle_time)
        } else {
            self.handle_sum / self.handle_len as u64
        }
    }

    fn record_handle(&mut self, ns: u64) {
        if self.handle_len == HANDLE_SAMPLES {
            self.handle_sum -= self.handle[self.handle_pos];
        } else {
            self.handle_len += 1;
        }
        self.handle[self.handle_pos] = ns;
        self.handle_sum += ns;
        self.handle_pos = (self.handle_pos + 1) % HANDLE_SAMPLES;
    }

    fn widest(&self) -> TargetIx {
        self.targets[self.targets.len() - 1]
    }

    fn step_for_wait(&self, waited: u64) -> usize {
        self.step_after.iter().take_while(|&&a| a <= waited).count()
    }
}

fn dur_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The ACD routing engine. See the crate documentation for the drive contract.
pub struct Acd {
    epoch: Instant,
    now: u64,
    seq: u64,
    queues: Vec<Queue>,
    queue_ix: HashMap<QueueId, QueueIx>,
    targets: Vec<Target>,
    skills: HashMap<SkillId, SkillIx>,
    agents: Vec<Agent>,
    agent_ix: HashMap<AgentId, AgentIx>,
    calls: Vec<Option<Call>>,
    free_calls: Vec<CallIx>,
    call_ix: HashMap<CallId, CallIx>,
    timers: BTreeMap<TimerKey, Timer>,
    decisions: VecDeque<Decision>,
    events: VecDeque<Event>,
    metrics: Metrics,
    sweeps: Vec<QueueIx>,
}

impl std::fmt::Debug for Acd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acd")
            .field("queues", &self.queues.len())
            .field("agents", &self.agents.len())
            .field("calls", &self.call_ix.len())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl Acd {
    /// Builds an engine from a validated configuration. `now` is the engine's time origin; every
    /// later `now` must come from the same clock (real or simulated).
    pub fn new(config: AcdConfig, now: Instant) -> Result<Self, AcdError> {
        config.validate()?;
        let mut acd = Acd {
            epoch: now,
            now: 0,
            seq: 0,
            queues: Vec::new(),
            queue_ix: HashMap::new(),
            targets: Vec::new(),
            skills: HashMap::new(),
            agents: Vec::new(),
            agent_ix: HashMap::new(),
            calls: Vec::new(),
            free_calls: Vec::new(),
            call_ix: HashMap::new(),
            timers: BTreeMap::new(),
            decisions: VecDeque::new(),
            events: VecDeque::new(),
            metrics: Metrics::default(),
            sweeps: Vec::new(),
        };
        for (i, q) in config.queues.iter().enumerate() {
            acd.queue_ix.insert(q.id.clone(), i as QueueIx);
        }
        // Base requirement sets, needed to expand `add_queues`.
        let base: Vec<Vec<(SkillIx, u8)>> = config
            .queues
            .iter()
            .map(|q| acd.intern_reqs(&q.requires, 0))
            .collect();
        for (qi, q) in config.queues.into_iter().enumerate() {
            let mut targets = Vec::new();
            let mut step_after = Vec::new();
            let mut lowered = 0u8;
            let mut extra: Vec<QueueIx> = Vec::new();
            for step in 0..=q.widening.len() {
                if step > 0 {
                    let w = &q.widening[step - 1];
                    lowered = lowered.saturating_add(w.lower_min_by);
                    step_after.push(dur_ns(w.after));
                    for e in &w.add_queues {
                        let ei = acd.queue_ix[e];
                        if !extra.contains(&ei) && ei as usize != qi {
                            extra.push(ei);
                        }
                    }
                }
                let mut alternatives = vec![acd.intern_reqs(&q.requires, lowered)];
                for &e in &extra {
                    alternatives.push(base[e as usize].clone());
                }
                targets.push(acd.targets.len() as TargetIx);
                acd.targets.push(Target {
                    queue: qi as QueueIx,
                    step,
                    alternatives,
                    calls: BTreeMap::new(),
                    ready: BTreeSet::new(),
                    logged_in: 0,
                    working: 0,
                });
            }
            let mut capacity = None;
            let mut max_wait = None;
            let mut no_agents = None;
            for rule in &q.overflow {
                match rule.condition {
                    OverflowCondition::Capacity { max_waiting } => {
                        capacity = Some((max_waiting, rule.target.clone()))
                    }
                    OverflowCondition::MaxWait { after } => {
                        max_wait = Some((dur_ns(after), rule.target.clone()))
                    }
                    OverflowCondition::NoAgents => no_agents = Some(rule.target.clone()),
                }
            }
            acd.queues.push(Queue {
                base: base[qi].clone(),
                cfg: q,
                targets,
                step_after,
                rr_cursor: None,
                capacity,
                max_wait,
                no_agents,
                handle: [0; HANDLE_SAMPLES],
                handle_len: 0,
                handle_pos: 0,
                handle_sum: 0,
                callbacks_waiting: 0,
            });
        }
        Ok(acd)
    }

    fn intern_skill(&mut self, s: &SkillId) -> SkillIx {
        let next = self.skills.len() as SkillIx;
        *self.skills.entry(s.clone()).or_insert(next)
    }

    fn intern_reqs(&mut self, reqs: &[SkillRequirement], lowered: u8) -> Vec<(SkillIx, u8)> {
        let mut v: Vec<(SkillIx, u8)> = reqs
            .iter()
            .map(|r| {
                let min = r.min.saturating_sub(lowered).max(MIN_PROFICIENCY);
                (self.intern_skill(&r.skill), min)
            })
            .collect();
        v.sort_unstable();
        v
    }

    // ----- time -----------------------------------------------------------------------------

    fn ns(&self, now: Instant) -> u64 {
        dur_ns(now.saturating_duration_since(self.epoch))
    }

    fn at(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.now)
    }

    fn instant(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    /// Moves time forward (never back) and fires every timer due by `now`, each at its own
    /// deadline.
    fn advance(&mut self, now: Instant) {
        let target = self.ns(now).max(self.now);
        while let Some((&key, _)) = self.timers.first_key_value() {
            if key.0 > target {
                break;
            }
            let Some(timer) = self.timers.remove(&key) else {
                break;
            };
            self.now = self.now.max(key.0);
            self.fire(timer);
            self.run_sweeps();
        }
        self.now = target;
    }

    fn arm(&mut self, at: u64, timer: Timer) -> TimerKey {
        self.seq += 1;
        let key = (at, self.seq);
        self.timers.insert(key, timer);
        key
    }

    fn cancel(&mut self, key: Option<TimerKey>) {
        if let Some(k) = key {
            self.timers.remove(&k);
        }
    }

    // ----- drive contract: outputs ------------------------------------------------------------

    /// The next decision for call control to perform, in order.
    #[must_use]
    pub fn poll_decision(&mut self) -> Option<Decision> {
        self.decisions.pop_front()
    }

    /// The next event to record (agent state changes, call lifecycle), in order.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Acd::handle_timeout`] must be called next (reservation, wrap-up, widening, maximum
    /// wait, callback retry). `None`: no timer armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers
            .first_key_value()
            .map(|(k, _)| self.instant(k.0))
    }

    /// Fires every timer due at `now`. Spurious or early calls are harmless; time never goes back.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    // ----- drive contract: agent commands -----------------------------------------------------

    /// Logs an agent in with its skills; the agent starts not ready (reason `"login"`).
    pub fn login(
        &mut self,
        now: Instant,
        agent: &AgentId,
        skills: &[(SkillId, u8)],
    ) -> Result<(), AcdError> {
        self.advance(now);
        let skills = self.check_skills(skills)?;
        let a = match self.agent_ix.get(agent) {
            Some(&a) => {
                if self.agents[a as usize].state != AgentState::LoggedOut {
                    return Err(self.bad_agent(a, "log in"));
                }
                a
            }
            None => {
                let a = self.agents.len() as AgentIx;
                self.agents.push(Agent {
                    id: agent.clone(),
                    state: AgentState::LoggedOut,
                    skills: Vec::new(),
                    eligible: Vec::new(),
                    ready_in: Vec::new(),
                    idle_since: 0,
                    calls_answered: 0,
                    pending: None,
                    timer: None,
                    handling: None,
                    direct: false,
                });
                self.agent_ix.insert(agent.clone(), a);
                a
            }
        };
        self.agents[a as usize].skills = skills;
        self.agents[a as usize].eligible = self.eligible_targets(a);
        self.agents[a as usize].calls_answered = 0;
        self.set_state(
            a,
            AgentState::NotReady {
                reason: REASON_LOGIN.into(),
            },
        );
        self.run_sweeps();
        Ok(())
    }

    /// Replaces an agent's skills (for example a supervisor's change). Takes effect at once,
    /// also for a ready agent.
    pub fn set_skills(
        &mut self,
        now: Instant,
        agent: &AgentId,
        skills: &[(SkillId, u8)],
    ) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let skills = self.check_skills(skills)?;
        let was_ready = self.agents[a as usize].state == AgentState::Ready;
        if was_ready {
            self.leave_ready_sets(a);
        }
        let class = class_of(&self.agents[a as usize].state);
        self.count(a, class, -1);
        self.agents[a as usize].skills = skills;
        self.agents[a as usize].eligible = self.eligible_targets(a);
        self.count(a, class, 1);
        if was_ready {
            self.seek_work(a);
        }
        self.run_sweeps();
        Ok(())
    }

    /// The agent is ready for calls. From not ready: becomes ready (and may be offered a call at
    /// once). On a call or in wrap-up: cancels a pending not-ready/logout, so the agent becomes
    /// ready when wrap-up ends. Ready or reserved: no change.
    pub fn ready(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        match self.agents[a as usize].state {
            AgentState::LoggedOut => return Err(self.bad_agent(a, "become ready")),
            AgentState::NotReady { .. } => self.make_ready(a),
            AgentState::Ready | AgentState::Reserved { .. } => {}
            AgentState::OnCall { .. } | AgentState::WrapUp { .. } => {
                self.agents[a as usize].pending = None
            }
        }
        self.run_sweeps();
        Ok(())
    }

    /// The agent is not ready, with a reason code. A ringing reservation is withdrawn (the call
    /// goes back to its place); on a call or in wrap-up the change waits until wrap-up ends.
    pub fn not_ready(
        &mut self,
        now: Instant,
        agent: &AgentId,
        reason: &str,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let nr = AgentState::NotReady {
            reason: reason.to_owned(),
        };
        match self.agents[a as usize].state {
            AgentState::LoggedOut => return Err(self.bad_agent(a, "become not ready")),
            AgentState::NotReady { .. } | AgentState::Ready => self.set_state(a, nr),
            AgentState::Reserved { .. } => self.release_reservation(a, nr),
            AgentState::OnCall { .. } | AgentState::WrapUp { .. } => {
                self.agents[a as usize].pending = Some(After::NotReady(reason.to_owned()))
            }
        }
        self.run_sweeps();
        Ok(())
    }

    /// Logs the agent out. A ringing reservation goes back to the queue; in wrap-up the wrap-up
    /// ends; on a call the logout happens when the call and its wrap-up end. Logging out a
    /// logged-out agent does nothing.
    pub fn logout(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        self.leave(a, After::LogOut);
        self.run_sweeps();
        Ok(())
    }

    /// The agent's desktop connection dropped. The agent stops receiving calls (not ready,
    /// reason `"disconnected"`); a ringing reservation goes back to the queue; a call in progress
    /// goes on (the phone carries the audio) and the agent becomes not ready after it.
    pub fn desktop_lost(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        if self.agents[a as usize].state != AgentState::LoggedOut {
            self.leave(a, After::NotReady(REASON_DISCONNECTED.into()));
        }
        self.run_sweeps();
        Ok(())
    }

    /// The agent answered the offered `call` (its phone sent 200 OK). For an inbound call the
    /// caller is connected; for a callback the engine emits [`Decision::DialCallback`].
    pub fn answer(&mut self, now: Instant, call: &CallId, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let c = self.call(call)?;
        match &self.agents[a as usize].state {
            AgentState::Reserved { call: rc, .. } if rc == call => {}
            _ => return Err(self.bad_agent(a, "answer")),
        }
        if !matches!(self.call_ref(c).place, Place::Offered(_)) {
            return Err(self.bad_call(c, "be answered"));
        }
        let key = self.agents[a as usize].timer.take();
        self.cancel(key);
        let Place::Offered(offered) = std::mem::replace(&mut self.call_mut(c).place, Place::Limbo)
        else {
            return Ok(());
        };
        let (widen, maxw) = {
            let cl = self.call_mut(c);
            (cl.widen_timer.take(), cl.max_wait_timer.take())
        };
        self.cancel(widen);
        self.cancel(maxw);
        let queue = self.call_ref(c).queue;
        {
            let ag = &mut self.agents[a as usize];
            ag.calls_answered += 1;
            ag.handling = Some((queue, self.now));
        }
        let callback = self.call_ref(c).callback;
        self.set_state(
            a,
            AgentState::OnCall {
                call: call.clone(),
                sub: CallSubState::Talking,
            },
        );
        if let Some(attempts) = callback {
            let attempt = attempts + 1;
            let cl = self.call_mut(c);
            cl.callback = Some(attempt);
            cl.place = Place::Dialing(a);
            let counted = std::mem::replace(&mut cl.cb_counted, false);
            if counted {
                self.queues[queue as usize].callbacks_waiting -= 1;
            }
            self.metrics.callback_dials += 1;
            self.decisions.push_back(Decision::DialCallback {
                call: call.clone(),
                agent: agent.clone(),
                attempt,
            });
        } else {
            self.call_mut(c).place = Place::Connected(a);
            self.connected(c, a);
        }
        // Ring-all: the other phones stop ringing and their agents are free again.
        for o in offered.into_iter().filter(|&o| o != a) {
            let key = self.agents[o as usize].timer.take();
            self.cancel(key);
            self.decisions.push_back(Decision::CancelOffer {
                call: call.clone(),
                agent: self.agents[o as usize].id.clone(),
            });
            self.make_ready(o);
        }
        self.run_sweeps();
        Ok(())
    }

    /// The agent's phone refused or did not answer the offer (call control saw a 486/480/408 or
    /// its own ring timer). Same as the reservation timing out: the call goes back to its place
    /// and the agent becomes not ready with reason `"missed"`.
    pub fn no_answer(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        if !matches!(self.agents[a as usize].state, AgentState::Reserved { .. }) {
            return Err(self.bad_agent(a, "miss an offer"));
        }
        self.miss(a);
        self.run_sweeps();
        Ok(())
    }

    /// The agent rejected the offer (the desktop's Reject, or the phone declined with `603`):
    /// the call goes back to its place in the queue, as for a missed offer, and the agent
    /// becomes not ready with reason `"rejected"` (not offered again until they choose).
    pub fn reject(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        if !matches!(self.agents[a as usize].state, AgentState::Reserved { .. }) {
            return Err(self.bad_agent(a, "reject an offer"));
        }
        self.metrics.rejected_offers += 1;
        self.release_reservation(
            a,
            AgentState::NotReady {
                reason: REASON_REJECTED.into(),
            },
        );
        self.run_sweeps();
        Ok(())
    }

    /// Puts the agent's call on hold, back to talking, or into a consultation.
    pub fn set_call_sub_state(
        &mut self,
        now: Instant,
        agent: &AgentId,
        sub: CallSubState,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        let AgentState::OnCall { call, sub: old } = &self.agents[a as usize].state else {
            return Err(self.bad_agent(a, "change call sub-state"));
        };
        if *old != sub {
            let call = call.clone();
            self.set_state(a, AgentState::OnCall { call, sub });
        }
        Ok(())
    }

    /// The agent is on a call the queues did not route (click-to-dial, an internal call, being
    /// consulted by a colleague): on call, so nothing is offered to them meanwhile. A ready,
    /// not-ready or wrapping-up agent can start one; a not-ready agent returns to the same
    /// reason after it, and wrap-up is cut short (its handle time counted; the direct call gets
    /// a wrap-up of its own). An agent already on a direct call gets the new id (a consultation
    /// completed into a transfer keeps the agent on call under the caller's call id).
    pub fn direct_call_started(
        &mut self,
        now: Instant,
        agent: &AgentId,
        call: &CallId,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        match &self.agents[a as usize].state {
            AgentState::Ready => {}
            AgentState::OnCall { .. } if self.agents[a as usize].direct => {}
            AgentState::NotReady { reason } => {
                let reason = reason.clone();
                self.agents[a as usize].pending = Some(After::NotReady(reason));
            }
            AgentState::WrapUp { .. } => {
                let key = self.agents[a as usize].timer.take();
                self.cancel(key);
                if let Some((q, answered)) = self.agents[a as usize].handling.take() {
                    let ht = self.now.saturating_sub(answered);
                    self.queues[q as usize].record_handle(ht);
                }
            }
            _ => return Err(self.bad_agent(a, "start a direct call")),
        }
        self.agents[a as usize].direct = true;
        self.set_state(
            a,
            AgentState::OnCall {
                call: call.clone(),
                sub: CallSubState::Talking,
            },
        );
        self.run_sweeps();
        Ok(())
    }

    /// A connected queue call goes on outside the queues under the id `direct` (a consultation
    /// routed through a queue, answered by an agent: from then on that agent is on the
    /// caller's call). The queue call completes (it counts as answered and handled); the agent
    /// stays on call as on a direct call.
    pub fn continue_as_direct(
        &mut self,
        now: Instant,
        call: &CallId,
        direct: &CallId,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.call(call)?;
        let Place::Connected(a) = self.call_ref(c).place else {
            return Err(self.bad_call(c, "continue as a direct call"));
        };
        self.call_mut(c).place = Place::Limbo;
        self.end(c, EndReason::Completed);
        self.agents[a as usize].direct = true;
        self.set_state(
            a,
            AgentState::OnCall {
                call: direct.clone(),
                sub: CallSubState::Talking,
            },
        );
        self.run_sweeps();
        Ok(())
    }

    /// The agent's direct call `call` ended: wrap-up as after any call (a not-ready agent goes
    /// straight back to not ready).
    pub fn direct_call_ended(
        &mut self,
        now: Instant,
        agent: &AgentId,
        call: &CallId,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        match &self.agents[a as usize].state {
            AgentState::OnCall { call: c, .. } if c == call && self.agents[a as usize].direct => {}
            _ => return Err(self.bad_agent(a, "end a direct call")),
        }
        self.agents[a as usize].direct = false;
        if self.agents[a as usize].pending.is_some() {
            self.finish_wrapup(a);
        } else {
            self.start_wrapup(a, call.clone());
        }
        self.run_sweeps();
        Ok(())
    }

    /// The agent's direct call `call` ended before they answered it (a colleague's
    /// consultation or transfer that rang them): no wrap-up; they are as they were before it
    /// (ready, or not ready with the same reason).
    pub fn direct_call_missed(
        &mut self,
        now: Instant,
        agent: &AgentId,
        call: &CallId,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        match &self.agents[a as usize].state {
            AgentState::OnCall { call: c, .. } if c == call && self.agents[a as usize].direct => {}
            _ => return Err(self.bad_agent(a, "miss a direct call")),
        }
        self.agents[a as usize].direct = false;
        if self.agents[a as usize].pending.is_some() {
            self.finish_wrapup(a);
        } else {
            self.make_ready(a);
        }
        self.run_sweeps();
        Ok(())
    }

    /// The agent ends wrap-up early.
    pub fn wrapup_done(&mut self, now: Instant, agent: &AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agent(agent)?;
        if !matches!(self.agents[a as usize].state, AgentState::WrapUp { .. }) {
            return Err(self.bad_agent(a, "end wrap-up"));
        }
        let key = self.agents[a as usize].timer.take();
        self.cancel(key);
        self.finish_wrapup(a);
        self.run_sweeps();
        Ok(())
    }

    // ----- drive contract: call commands ------------------------------------------------------

    /// Queues a call. It is offered at once if a qualifying agent is ready, overflows if a rule
    /// says so, or waits.
    pub fn enqueue(
        &mut self,
        now: Instant,
        call: &CallId,
        queue: &QueueId,
        priority: Priority,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let q = self.queue(queue)?;
        let c = self.new_call(call, q, priority, None)?;
        self.admit(c, q, true);
        self.run_sweeps();
        Ok(())
    }

    /// Adds a callback request at the back of the queue (for a caller who accepted a callback
    /// offer at a full queue). Capacity and no-agent rules do not apply to it.
    pub fn enqueue_callback(
        &mut self,
        now: Instant,
        call: &CallId,
        queue: &QueueId,
        priority: Priority,
    ) -> Result<(), AcdError> {
        self.advance(now);
        let q = self.queue(queue)?;
        let c = self.new_call(call, q, priority, Some(0))?;
        self.queues[q as usize].callbacks_waiting += 1;
        self.call_mut(c).cb_counted = true;
        self.events.push_back(Event::CallbackRequested {
            at: self.at(),
            call: call.clone(),
        });
        self.admit(c, q, false);
        self.run_sweeps();
        Ok(())
    }

    /// A waiting caller asked to be called back. The request keeps the call's place; when it is
    /// at the head an agent is reserved first, and the customer is dialled when the agent answers.
    /// After this, `call` names the callback request: do not report the caller's hang-up.
    pub fn request_callback(&mut self, now: Instant, call: &CallId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.call(call)?;
        let cl = self.call_ref(c);
        if cl.callback.is_some() || !matches!(cl.place, Place::Waiting(_) | Place::Offered(_)) {
            return Err(self.bad_call(c, "become a callback"));
        }
        let q = cl.queue;
        let maxw = {
            let cl = self.call_mut(c);
            cl.callback = Some(0);
            cl.cb_counted = true;
            cl.max_wait_timer.take()
        };
        self.cancel(maxw);
        self.queues[q as usize].callbacks_waiting += 1;
        self.events.push_back(Event::CallbackRequested {
            at: self.at(),
            call: call.clone(),
        });
        // Asked while agents' phones rang for it: the offers are withdrawn (no fault of the
        // agents: they are ready again) and the request takes the call's place in the queue.
        match std::mem::replace(&mut self.call_mut(c).place, Place::Limbo) {
            Place::Offered(agents) => {
                // Withdrawn first, so that call control hears of it before any new offer of
                // the request.
                for &a in &agents {
                    let key = self.agents[a as usize].timer.take();
                    self.cancel(key);
                    self.decisions.push_back(Decision::CancelOffer {
                        call: call.clone(),
                        agent: self.agents[a as usize].id.clone(),
                    });
                }
                self.requeue(c);
                for a in agents {
                    self.make_ready(a);
                }
                self.run_sweeps();
            }
            // Still waiting: the place it had.
            place => self.call_mut(c).place = place,
        }
        Ok(())
    }

    /// The customer answered the callback dial: agent and customer are connected.
    pub fn callback_connected(&mut self, now: Instant, call: &CallId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.call(call)?;
        let Place::Dialing(a) = self.call_ref(c).place else {
            return Err(self.bad_call(c, "connect a callback"));
        };
        self.call_mut(c).place = Place::Connected(a);
        self.connected(c, a);
        Ok(())
    }

    /// The callback dial failed (busy, no answer). The agent goes to wrap-up; the request goes
    /// back to its place after the queue's retry delay, or ends after the last attempt.
    pub fn callback_failed(&mut self, now: Instant, call: &CallId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.call(call)?;
        let Place::Dialing(a) = self.call_ref(c).place else {
            return Err(self.bad_call(c, "fail a callback"));
        };
        let q = self.call_ref(c).queue;
        let attempts = self.call_ref(c).callback.unwrap_or(0);
        let cfg = &self.queues[q as usize].cfg;
        let (max, delay) = (cfg.callback_attempts, dur_ns(cfg.callback_retry_delay));
        if attempts >= max {
            self.call_mut(c).place = Place::Limbo;
            self.end(c, EndReason::CallbackFailed);
        } else {
            self.call_mut(c).place = Place::Parked;
            self.call_mut(c).cb_counted = true;
            self.queues[q as usize].callbacks_waiting += 1;
            let key = self.arm(self.now.saturating_add(delay), Timer::CallbackRetry(c));
            self.call_mut(c).retry_timer = Some(key);
        }
        self.start_wrapup(a, call.clone());
        self.run_sweeps();
        Ok(())
    }

    /// The call ended on call control's side: a caller who hangs up while waiting or ringing
    /// abandons; a connected call completes and its agent goes to wrap-up. For a callback request
    /// this cancels it.
    pub fn hangup(&mut self, now: Instant, call: &CallId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.call(call)?;
        let place = std::mem::replace(&mut self.call_mut(c).place, Place::Limbo);
        match place {
            Place::Waiting(t) => {
                self.remove_waiting(c, t);
                self.end(c, EndReason::Abandoned);
            }
            Place::Parked | Place::Limbo => self.end(c, EndReason::Abandoned),
            Place::Offered(agents) => {
                self.end(c, EndReason::Abandoned);
                for a in agents {
                    let key = self.agents[a as usize].timer.take();
                    self.cancel(key);
                    self.decisions.push_back(Decision::CancelOffer {
                        call: call.clone(),
                        agent: self.agents[a as usize].id.clone(),
                    });
                    self.make_ready(a);
                }
            }
            Place::Dialing(a) => {
                self.end(c, EndReason::Abandoned);
                self.start_wrapup(a, call.clone());
            }
            Place::Connected(a) => {
                self.end(c, EndReason::Completed);
                self.start_wrapup(a, call.clone());
            }
        }
        self.run_sweeps();
        Ok(())
    }

    /// Same as [`Acd::hangup`]; reads better for a caller who leaves before being connected.
    pub fn abandon(&mut self, now: Instant, call: &CallId) -> Result<(), AcdError> {
        self.hangup(now, call)
    }

    // ----- queries ------------------------------------------------------------------------------

    /// The agent's current state.
    pub fn agent_state(&self, agent: &AgentId) -> Option<&AgentState> {
        self.agent_ix
            .get(agent)
            .map(|&a| &self.agents[a as usize].state)
    }

    /// Every agent ever logged in, with its state.
    pub fn agents(&self) -> impl Iterator<Item = (&AgentId, &AgentState)> {
        self.agents.iter().map(|a| (&a.id, &a.state))
    }

    /// Whether the engine still holds `call`.
    pub fn has_call(&self, call: &CallId) -> bool {
        self.call_ix.contains_key(call)
    }

    /// Number of calls held (waiting, ringing, connected, callbacks).
    pub fn call_count(&self) -> usize {
        self.call_ix.len()
    }

    /// 1-based position of a waiting call (or callback request) in its queue; `None` when it is
    /// not waiting. Costs O(position).
    pub fn position(&self, call: &CallId) -> Option<usize> {
        let &c = self.call_ix.get(call)?;
        let cl = self.call_ref(c);
        matches!(cl.place, Place::Waiting(_)).then(|| self.position_of(cl.queue, cl.key))
    }

    /// Estimated wait from now for a waiting call, from live staffing: position divided by
    /// the agents working for its current step, times the queue's recent handle time.
    pub fn estimated_wait(&self, call: &CallId) -> Option<Duration> {
        let &c = self.call_ix.get(call)?;
        let cl = self.call_ref(c);
        let Place::Waiting(t) = cl.place else {
            return None;
        };
        let pos = self.position_of(cl.queue, cl.key);
        self.estimate(cl.queue, t, pos).map(Duration::from_nanos)
    }

    /// A live view of a queue.
    pub fn queue_stats(&self, queue: &QueueId) -> Option<QueueStats> {
        let &q = self.queue_ix.get(queue)?;
        let qu = &self.queues[q as usize];
        let t0 = &self.targets[qu.targets[0] as usize];
        let waiting = self.waiting_in(q);
        Some(QueueStats {
            waiting,
            callbacks: qu.callbacks_waiting,
            ready_agents: t0.ready.len(),
            staffed_agents: t0.working as usize,
            logged_in_agents: self.targets[qu.widest() as usize].logged_in as usize,
            handle_time: Duration::from_nanos(qu.mean_handle()),
            estimated_wait_new: self
                .estimate(q, qu.targets[0], waiting + 1)
                .map(Duration::from_nanos),
        })
    }

    /// Counters, including the wait estimate's error against actual waits.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    // ----- internals: lookups -------------------------------------------------------------------

    fn agent(&self, id: &AgentId) -> Result<AgentIx, AcdError> {
        self.agent_ix
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownAgent(id.clone()))
    }

    fn call(&self, id: &CallId) -> Result<CallIx, AcdError> {
        self.call_ix
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownCall(id.clone()))
    }

    fn queue(&self, id: &QueueId) -> Result<QueueIx, AcdError> {
        self.queue_ix
            .get(id)
            .copied()
            .ok_or_else(|| AcdError::UnknownQueue(id.clone()))
    }

    fn call_ref(&self, c: CallIx) -> &Call {
        self.calls[c as usize]
            .as_ref()
            .expect("call index refers to a live call")
    }

    fn call_mut(&mut self, c: CallIx) -> &mut Call {
        self.calls[c as usize]
            .as_mut()
            .expect("call index refers to a live call")
    }

    fn bad_agent(&self, a: AgentIx, command: &'static str) -> AcdError {
        let ag = &self.agents[a as usize];
        AcdError::InvalidAgentState {
            agent: ag.id.clone(),
            command,
            state: ag.state.name(),
        }
    }

    fn bad_call(&self, c: CallIx, command: &'static str) -> AcdError {
        let cl = self.call_ref(c);
        let state = match (&cl.place, cl.callback.is_some()) {
            (Place::Waiting(_), false) => "waiting",
            (Place::Waiting(_), true) => "a waiting callback",
            (Place::Offered(_), _) => "ringing",
            (Place::Dialing(_), _) => "dialling",
            (Place::Connected(_), _) => "connected",
            (Place::Parked, _) => "a callback awaiting retry",
            (Place::Limbo, _) => "moving",
        };
        AcdError::InvalidCallState {
            call: cl.id.clone(),
            command,
            state,
        }
    }

    fn check_skills(&mut self, skills: &[(SkillId, u8)]) -> Result<Vec<(SkillIx, u8)>, AcdError> {
        for (s, l) in skills {
            if !(MIN_PROFICIENCY..=MAX_PROFICIENCY).contains(l) {
                return Err(AcdError::InvalidProficiency {
                    skill: s.clone(),
                    level: *l,
                });
            }
        }
        let mut v: Vec<(SkillIx, u8)> = skills
            .iter()
            .map(|(s, l)| (self.intern_skill(s), *l))
            .collect();
        // A skill named twice keeps its highest level.
        v.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
        v.dedup_by_key(|x| x.0);
        Ok(v)
    }

    fn eligible_targets(&self, a: AgentIx) -> Vec<TargetIx> {
        let skills = &self.agents[a as usize].skills;
        let has = |reqs: &Vec<(SkillIx, u8)>| {
            reqs.iter().all(|&(s, min)| {
                skills
                    .binary_search_by_key(&s, |x| x.0)
                    .is_ok_and(|i| skills[i].1 >= min)
            })
        };
        self.targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.alternatives.iter().any(has))
            .map(|(i, _)| i as TargetIx)
            .collect()
    }

    fn skill_score(&self, a: AgentIx, q: QueueIx) -> u64 {
        let skills = &self.agents[a as usize].skills;
        self.queues[q as usize]
            .base
            .iter()
            .map(|&(s, _)| {
                skills
                    .binary_search_by_key(&s, |x| x.0)
                    .map_or(0, |i| skills[i].1 as u64)
            })
            .sum()
    }

    fn waiting_in(&self, q: QueueIx) -> usize {
        self.queues[q as usize]
            .targets
            .iter()
            .map(|&t| self.targets[t as usize].calls.len())
            .sum()
    }

    /// 1 + calls ahead of `key` in queue `q`. O(steps) for a call at the back (the usual case
    /// for a new normal-priority call), otherwise O(calls ahead).
    fn position_of(&self, q: QueueIx, key: CallKey) -> usize {
        1 + self.queues[q as usize]
            .targets
            .iter()
            .map(|&t| {
                let calls = &self.targets[t as usize].calls;
                match calls.last_key_value() {
                    Some((last, _)) if *last < key => calls.len(),
                    _ => calls.range(..key).count(),
                }
            })
            .sum::<usize>()
    }

    /// Expected wait (ns) for a call at `position` whose requirements are those of `t`.
    fn estimate(&self, q: QueueIx, t: TargetIx, position: usize) -> Option<u64> {
        let tg = &self.targets[t as usize];
        let ready = tg.ready.len();
        if position <= ready {
            return Some(0);
        }
        if tg.working == 0 {
            return None;
        }
        let aht = self.queues[q as usize].mean_handle() as u128;
        let ns = (position - ready) as u128 * aht / tg.working as u128;
        Some(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    // ----- internals: agent state machine ---------------------------------------------------------

    /// The single place an agent's state changes; emits the event and keeps counters right.
    fn set_state(&mut self, a: AgentIx, new: AgentState) {
        let old = std::mem::replace(&mut self.agents[a as usize].state, new.clone());
        if old == AgentState::Ready && new != AgentState::Ready {
            self.leave_ready_sets(a);
        }
        let (oc, nc) = (class_of(&old), class_of(&new));
        if oc != nc {
            self.count(a, oc, -1);
            self.count(a, nc, 1);
        }
        self.events.push_back(Event::AgentState {
            at: self.at(),
            agent: self.agents[a as usize].id.clone(),
            from: old,
            to: new,
        });
    }

    fn count(&mut self, a: AgentIx, class: Class, delta: i32) {
        if class == Class::LoggedOut {
            return;
        }
        let ag = &self.agents[a as usize];
        for &t in &ag.eligible {
            let tg = &mut self.targets[t as usize];
            tg.logged_in = tg.logged_in.wrapping_add_signed(delta);
            if class == Class::Working {
                tg.working = tg.working.wrapping_add_signed(delta);
            }
            if delta < 0 && tg.logged_in == 0 {
                let q = tg.queue;
                if self.queues[q as usize].widest() == t
                    && self.queues[q as usize].no_agents.is_some()
                {
                    self.sweeps.push(q);
                }
            }
        }
    }

    fn leave_ready_sets(&mut self, a: AgentIx) {
        let memberships = std::mem::take(&mut self.agents[a as usize].ready_in);
        for (t, key) in &memberships {
            self.targets[*t as usize].ready.remove(key);
        }
        // Keep the allocation for the next time the agent is ready.
        let mut memberships = memberships;
        memberships.clear();
        self.agents[a as usize].ready_in = memberships;
    }

    fn ready_key(&self, a: AgentIx, t: TargetIx) -> ReadyKey {
        let ag = &self.agents[a as usize];
        let q = self.targets[t as usize].queue;
        let primary = match self.queues[q as usize].cfg.strategy {
            Strategy::LongestIdle | Strategy::RingAll => 0,
            Strategy::FewestCalls => ag.calls_answered,
            Strategy::MostSkilled => u64::MAX - self.skill_score(a, q),
            Strategy::RoundRobin => a as u64,
        };
        (primary, ag.idle_since, a)
    }

    /// Ready now: take the best waiting call across every target, or join the ready sets.
    fn make_ready(&mut self, a: AgentIx) {
        self.set_state(a, AgentState::Ready);
        self.agents[a as usize].idle_since = self.now;
        self.seek_work(a);
    }

    fn seek_work(&mut self, a: AgentIx) {
        let mut best: Option<(CallKey, CallIx, TargetIx)> = None;
        for &t in &self.agents[a as usize].eligible {
            if let Some((&k, &c)) = self.targets[t as usize].calls.first_key_value()
                && best.is_none_or(|b| k < b.0)
            {
                best = Some((k, c, t));
            }
        }
        if let Some((key, c, t)) = best {
            self.targets[t as usize].calls.remove(&key);
            self.reserve(c, vec![a]);
            return;
        }
        let mut memberships = std::mem::take(&mut self.agents[a as usize].ready_in);
        for i in 0..self.agents[a as usize].eligible.len() {
            let t = self.agents[a as usize].eligible[i];
            let key = self.ready_key(a, t);
            self.targets[t as usize].ready.insert(key);
            memberships.push((t, key));
        }
        self.agents[a as usize].ready_in = memberships;
    }

    fn reserve(&mut self, c: CallIx, agents: Vec<AgentIx>) {
        let (q, id, callback) = {
            let cl = self.call_ref(c);
            (cl.queue, cl.id.clone(), cl.callback.is_some())
        };
        let ring = dur_ns(self.queues[q as usize].cfg.ring_timeout);
        let deadline = self.now.saturating_add(ring);
        for &a in &agents {
            self.set_state(
                a,
                AgentState::Reserved {
                    call: id.clone(),
                    deadline: self.instant(deadline),
                },
            );
            let key = self.arm(deadline, Timer::Reservation(a));
            self.agents[a as usize].timer = Some(key);
            self.decisions.push_back(Decision::Offer {
                call: id.clone(),
                agent: self.agents[a as usize].id.clone(),
                queue: self.queues[q as usize].cfg.id.clone(),
                kind: if callback {
                    OfferKind::Callback
                } else {
                    OfferKind::Inbound
                },
                deadline: self.instant(deadline),
            });
        }
        self.call_mut(c).place = Place::Offered(agents);
    }

    /// Timeout or refusal: the agent becomes not ready "missed", the call goes back.
    fn miss(&mut self, a: AgentIx) {
        self.metrics.missed_reservations += 1;
        self.release_reservation(
            a,
            AgentState::NotReady {
                reason: REASON_MISSED.into(),
            },
        );
    }

    /// Ends agent `a`'s reservation (its phone stops ringing), puts it in `next` (not ready or
    /// logged out), returns the call to its place if no other agent is still ringing for it.
    fn release_reservation(&mut self, a: AgentIx, next: AgentState) {
        let AgentState::Reserved { call, .. } = &self.agents[a as usize].state else {
            return;
        };
        let call = call.clone();
        let key = self.agents[a as usize].timer.take();
        self.cancel(key);
        self.decisions.push_back(Decision::CancelOffer {
            call: call.clone(),
            agent: self.agents[a as usize].id.clone(),
        });
        self.set_state(a, next);
        let Some(&c) = self.call_ix.get(&call) else {
            return;
        };
        let now_empty = match &mut self.call_mut(c).place {
            Place::Offered(list) => {
                list.retain(|&x| x != a);
                list.is_empty()
            }
            _ => false,
        };
        if now_empty {
            self.call_mut(c).place = Place::Limbo;
            self.events.push_back(Event::CallRequeued {
                at: self.at(),
                call,
            });
            self.requeue(c);
        }
    }

    /// Logout or desktop loss.
    fn leave(&mut self, a: AgentIx, after: After) {
        let next = match &after {
            After::LogOut => AgentState::LoggedOut,
            After::NotReady(r) => AgentState::NotReady { reason: r.clone() },
        };
        match self.agents[a as usize].state {
            AgentState::LoggedOut => {}
            AgentState::NotReady { .. } | AgentState::Ready => {
                if self.agents[a as usize].state != next {
                    self.set_state(a, next)
                }
            }
            AgentState::Reserved { .. } => self.release_reservation(a, next),
            AgentState::OnCall { .. } => self.agents[a as usize].pending = Some(after),
            AgentState::WrapUp { .. } => {
                let key = self.agents[a as usize].timer.take();
                self.cancel(key);
                self.agents[a as usize].pending = Some(after);
                self.finish_wrapup(a);
            }
        }
    }

    fn start_wrapup(&mut self, a: AgentIx, call: CallId) {
        let q = self.agents[a as usize]
            .handling
            .map(|h| h.0)
            .unwrap_or_default();
        let wrap = dur_ns(self.queues[q as usize].cfg.wrap_up);
        if wrap == 0 {
            self.finish_wrapup(a);
            return;
        }
        let deadline = self.now.saturating_add(wrap);
        self.set_state(
            a,
            AgentState::WrapUp {
                call,
                deadline: self.instant(deadline),
            },
        );
        let key = self.arm(deadline, Timer::WrapUp(a));
        self.agents[a as usize].timer = Some(key);
    }

    fn finish_wrapup(&mut self, a: AgentIx) {
        if let Some((q, answered)) = self.agents[a as usize].handling.take() {
            let ht = self.now.saturating_sub(answered);
            self.queues[q as usize].record_handle(ht);
        }
        match self.agents[a as usize].pending.take() {
            Some(After::LogOut) => self.set_state(a, AgentState::LoggedOut),
            Some(After::NotReady(reason)) => self.set_state(a, AgentState::NotReady { reason }),
            None => self.make_ready(a),
        }
    }

    // ----- internals: calls -----------------------------------------------------------------------

    fn new_call(
        &mut self,
        id: &CallId,
        q: QueueIx,
        priority: Priority,
        callback: Option<u32>,
    ) -> Result<CallIx, AcdError> {
        if self.call_ix.contains_key(id) {
            return Err(AcdError::DuplicateCall(id.clone()));
        }
        self.seq += 1;
        let call = Call {
            id: id.clone(),
            queue: q,
            key: (u32::MAX - priority.0, self.now, self.seq),
            enqueued_at: self.now,
            queue_since: self.now,
            step: 0,
            place: Place::Limbo,
            callback,
            widen_timer: None,
            max_wait_timer: None,
            retry_timer: None,
            max_wait_due: false,
            callback_offered: false,
            cb_counted: false,
            ewt: None,
            hops: 0,
        };
        let c = match self.free_calls.pop() {
            Some(c) => {
                self.calls[c as usize] = Some(call);
                c
            }
            None => {
                self.calls.push(Some(call));
                (self.calls.len() - 1) as CallIx
            }
        };
        self.call_ix.insert(id.clone(), c);
        self.metrics.queued += 1;
        Ok(c)
    }

    /// Puts a call (in `Limbo`) into queue `q`, applying the queue's admission rules if `check`.
    fn admit(&mut self, c: CallIx, q: QueueIx, check: bool) {
        let id = self.call_ref(c).id.clone();
        self.events.push_back(Event::CallQueued {
            at: self.at(),
            call: id.clone(),
            queue: self.queues[q as usize].cfg.id.clone(),
        });
        let check = check && self.call_ref(c).hops < MAX_OVERFLOW_HOPS;
        if check {
            if let Some((max, target)) = self.queues[q as usize].capacity.clone()
                && self.waiting_in(q) >= max
            {
                self.call_mut(c).queue = q;
                self.overflow(c, target, OverflowReason::Capacity);
                return;
            }
            if let Some(target) = self.queues[q as usize].no_agents.clone() {
                let widest = self.queues[q as usize].widest();
                if self.targets[widest as usize].logged_in == 0 {
                    self.call_mut(c).queue = q;
                    if target == OverflowTarget::CallbackOffer {
                        // The caller may accept a callback; meanwhile the call keeps its place.
                        self.call_mut(c).callback_offered = true;
                        self.push_overflow(c, target, OverflowReason::NoAgents);
                    } else {
                        self.overflow(c, target, OverflowReason::NoAgents);
                        return;
                    }
                }
            }
        }
        let now = self.now;
        {
            let cl = self.call_mut(c);
            cl.queue = q;
            cl.queue_since = now;
            cl.step = 0;
            cl.max_wait_due = false;
        }
        if self.call_ref(c).callback.is_none()
            && let Some((after, _)) = self.queues[q as usize].max_wait
        {
            let key = self.arm(now.saturating_add(after), Timer::MaxWait(c));
            self.call_mut(c).max_wait_timer = Some(key);
        }
        let step = self.queues[q as usize].step_for_wait(0);
        self.call_mut(c).step = step;
        self.arm_widen(c);
        let t = self.queues[q as usize].targets[step];
        let inbound = self.call_ref(c).callback.is_none();
        let first_entry = self.call_ref(c).ewt.is_none() && self.call_ref(c).hops == 0;
        let (position, estimate) = if inbound {
            let pos = self.position_of(q, self.call_ref(c).key);
            (pos, self.estimate(q, t, pos))
        } else {
            (0, None)
        };
        if inbound && first_entry {
            self.call_mut(c).ewt = estimate;
        }
        self.enter_target(c, t);
        if inbound
            && self.queues[q as usize].cfg.announce
            && let Place::Waiting(_) = self.call_ref(c).place
        {
            self.decisions.push_back(Decision::Announce {
                call: id,
                position,
                estimated_wait: estimate.map(Duration::from_nanos),
            });
        }
    }

    fn arm_widen(&mut self, c: CallIx) {
        let (q, step, since) = {
            let cl = self.call_ref(c);
            (cl.queue, cl.step, cl.queue_since)
        };
        let old = self.call_mut(c).widen_timer.take();
        self.cancel(old);
        if let Some(&after) = self.queues[q as usize].step_after.get(step) {
            let key = self.arm(since.saturating_add(after), Timer::Widen(c));
            self.call_mut(c).widen_timer = Some(key);
        }
    }

    /// Offer to a ready agent chosen by the queue's strategy, or wait in the target.
    fn enter_target(&mut self, c: CallIx, t: TargetIx) {
        let tg = &self.targets[t as usize];
        if tg.ready.is_empty() {
            let key = self.call_ref(c).key;
            self.targets[t as usize].calls.insert(key, c);
            self.call_mut(c).place = Place::Waiting(t);
            return;
        }
        let q = tg.queue;
        let agents: Vec<AgentIx> = match self.queues[q as usize].cfg.strategy {
            Strategy::RingAll => tg.ready.iter().map(|k| k.2).collect(),
            Strategy::RoundRobin => {
                let from = self.queues[q as usize]
                    .rr_cursor
                    .map_or(0, |x| x as u64 + 1);
                let pick = tg
                    .ready
                    .range((from, 0, 0)..)
                    .next()
                    .or_else(|| tg.ready.first())
                    .map(|k| k.2);
                self.queues[q as usize].rr_cursor = pick;
                pick.into_iter().collect()
            }
            _ => tg.ready.first().map(|k| k.2).into_iter().collect(),
        };
        self.reserve(c, agents);
    }

    fn remove_waiting(&mut self, c: CallIx, t: TargetIx) {
        let key = self.call_ref(c).key;
        self.targets[t as usize].calls.remove(&key);
        self.call_mut(c).place = Place::Limbo;
    }

    /// A call in `Limbo` goes back to its place (its original key) at its current step.
    fn requeue(&mut self, c: CallIx) {
        let q = self.call_ref(c).queue;
        if self.call_ref(c).max_wait_due {
            self.call_mut(c).max_wait_due = false;
            if let Some((_, target)) = self.queues[q as usize].max_wait.clone()
                && self.overflow_max_wait(c, target)
            {
                return;
            }
        }
        let waited = self.now.saturating_sub(self.call_ref(c).queue_since);
        let step = self.queues[q as usize].step_for_wait(waited);
        self.call_mut(c).step = step;
        self.arm_widen(c);
        let t = self.queues[q as usize].targets[step];
        self.enter_target(c, t);
    }

    /// Returns true if the call left its place.
    fn overflow_max_wait(&mut self, c: CallIx, target: OverflowTarget) -> bool {
        if target == OverflowTarget::CallbackOffer {
            if !self.call_ref(c).callback_offered {
                self.call_mut(c).callback_offered = true;
                self.push_overflow(c, target, OverflowReason::MaxWait);
            }
            return false;
        }
        self.overflow(c, target, OverflowReason::MaxWait);
        true
    }

    fn push_overflow(&mut self, c: CallIx, target: OverflowTarget, reason: OverflowReason) {
        self.metrics.overflowed += 1;
        let cl = self.call_ref(c);
        self.decisions.push_back(Decision::Overflow {
            call: cl.id.clone(),
            from: self.queues[cl.queue as usize].cfg.id.clone(),
            target,
            reason,
        });
    }

    /// Moves a call that is in `Limbo` out of its queue.
    fn overflow(&mut self, c: CallIx, target: OverflowTarget, reason: OverflowReason) {
        self.push_overflow(c, target.clone(), reason);
        let (w, m) = {
            let cl = self.call_mut(c);
            (cl.widen_timer.take(), cl.max_wait_timer.take())
        };
        self.cancel(w);
        self.cancel(m);
        match target {
            OverflowTarget::Queue(qid) => {
                let q2 = self.queue_ix[&qid];
                self.call_mut(c).hops += 1;
                self.admit(c, q2, true);
            }
            other => self.end(c, EndReason::Overflowed(other)),
        }
    }

    fn connected(&mut self, c: CallIx, a: AgentIx) {
        let (id, enq, ewt) = {
            let cl = self.call_ref(c);
            (cl.id.clone(), cl.enqueued_at, cl.ewt)
        };
        let waited = self.now.saturating_sub(enq);
        self.metrics.connected += 1;
        if let Some(est) = ewt {
            let err = (est as f64 - waited as f64) / 1e9;
            self.metrics.ewt_samples += 1;
            self.metrics.ewt_abs_error_secs += err.abs();
            self.metrics.ewt_signed_error_secs += err;
        }
        self.events.push_back(Event::CallConnected {
            at: self.at(),
            call: id,
            agent: self.agents[a as usize].id.clone(),
            waited: Duration::from_nanos(waited),
        });
    }

    /// Removes a call that is in no index and held by no reservation; emits `CallEnded` once.
    fn end(&mut self, c: CallIx, reason: EndReason) {
        let Some(cl) = self.calls[c as usize].take() else {
            return;
        };
        self.cancel(cl.widen_timer);
        self.cancel(cl.max_wait_timer);
        self.cancel(cl.retry_timer);
        if cl.cb_counted {
            self.queues[cl.queue as usize].callbacks_waiting -= 1;
        }
        self.call_ix.remove(&cl.id);
        self.free_calls.push(c);
        if reason == EndReason::Abandoned {
            self.metrics.abandoned += 1;
        }
        self.events.push_back(Event::CallEnded {
            at: self.at(),
            call: cl.id,
            reason,
        });
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::Reservation(a) => {
                self.agents[a as usize].timer = None;
                self.miss(a);
            }
            Timer::WrapUp(a) => {
                self.agents[a as usize].timer = None;
                self.finish_wrapup(a);
            }
            Timer::Widen(c) => {
                self.call_mut(c).widen_timer = None;
                let (q, step) = (self.call_ref(c).queue, self.call_ref(c).step + 1);
                self.call_mut(c).step = step;
                self.events.push_back(Event::CallWidened {
                    at: self.at(),
                    call: self.call_ref(c).id.clone(),
                    queue: self.queues[q as usize].cfg.id.clone(),
                    step,
                });
                self.arm_widen(c);
                if let Place::Waiting(t) = self.call_ref(c).place {
                    self.remove_waiting(c, t);
                    let t2 = self.queues[q as usize].targets[step];
                    self.enter_target(c, t2);
                }
            }
            Timer::MaxWait(c) => {
                self.call_mut(c).max_wait_timer = None;
                let q = self.call_ref(c).queue;
                let Some((_, target)) = self.queues[q as usize].max_wait.clone() else {
                    return;
                };
                match self.call_ref(c).place {
                    Place::Waiting(t) => {
                        if target == OverflowTarget::CallbackOffer {
                            self.overflow_max_wait(c, target);
                        } else {
                            self.remove_waiting(c, t);
                            self.overflow_max_wait(c, target);
                        }
                    }
                    Place::Offered(_) => self.call_mut(c).max_wait_due = true,
                    _ => {}
                }
            }
            Timer::CallbackRetry(c) => {
                self.call_mut(c).retry_timer = None;
                self.call_mut(c).place = Place::Limbo;
                self.requeue(c);
            }
        }
    }

    /// Applies the no-agents rule to every inbound call waiting in queues that lost their last
    /// logged-in agent.
    fn run_sweeps(&mut self) {
        while let Some(q) = self.sweeps.pop() {
            let widest = self.queues[q as usize].widest();
            if self.targets[widest as usize].logged_in != 0 {
                continue;
            }
            let Some(target) = self.queues[q as usize].no_agents.clone() else {
                continue;
            };
            let waiting: Vec<(CallIx, TargetIx)> = self.queues[q as usize]
                .targets
                .iter()
                .flat_map(|&t| {
                    self.targets[t as usize]
                        .calls
                        .values()
                        .map(move |&c| (c, t))
                })
                .collect();
            for (c, t) in waiting {
                if self.call_ref(c).callback.is_some() {
                    continue;
                }
                if target == OverflowTarget::CallbackOffer {
                    if !self.call_ref(c).callback_offered {
                        self.call_mut(c).callback_offered = true;
                        self.push_overflow(c, target.clone(), OverflowReason::NoAgents);
                    }
                    continue;
                }
                if self.call_ref(c).hops >= MAX_OVERFLOW_HOPS {
                    continue;
                }
                self.remove_waiting(c, t);
                self.overflow(c, target.clone(), OverflowReason::NoAgents);
            }
        }
    }
}
