//! A simulated-time harness shared by the rule tests.
#![allow(dead_code)]

use hotline_acd::*;
use std::time::{Duration, Instant};

pub struct H {
    pub acd: Acd,
    pub t0: Instant,
    pub now: Instant,
    pub decisions: Vec<Decision>,
    pub events: Vec<Event>,
}

pub fn a(s: &str) -> AgentId {
    AgentId::new(s)
}
pub fn c(s: &str) -> CallId {
    CallId::new(s)
}
pub fn q(s: &str) -> QueueId {
    QueueId::new(s)
}
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl H {
    pub fn new(queues: Vec<QueueConfig>) -> H {
        let t0 = Instant::now();
        let acd = Acd::new(AcdConfig { queues }, t0).expect("valid config");
        H {
            acd,
            t0,
            now: t0,
            decisions: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Moves simulated time forward, firing timers, and collects outputs.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(t) = self.acd.poll_timeout() {
            if t > target {
                break;
            }
            self.acd.handle_timeout(t);
            self.now = t;
            self.drain();
        }
        self.now = target;
        self.acd.handle_timeout(target);
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(d) = self.acd.poll_decision() {
            self.decisions.push(d);
        }
        while let Some(e) = self.acd.poll_event() {
            self.events.push(e);
        }
        self.acd.check_invariants().expect("invariants hold");
    }

    /// Takes the decisions collected so far.
    pub fn take(&mut self) -> Vec<Decision> {
        self.drain();
        std::mem::take(&mut self.decisions)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        self.drain();
        std::mem::take(&mut self.events)
    }

    /// The offers (call, agent) among the decisions collected so far, consuming all decisions.
    pub fn offers(&mut self) -> Vec<(String, String)> {
        self.take()
            .into_iter()
            .filter_map(|d| match d {
                Decision::Offer { call, agent, .. } => Some((call.0, agent.0)),
                _ => None,
            })
            .collect()
    }

    pub fn login_ready(&mut self, agent: &str, skills: &[(&str, u8)]) {
        let skills: Vec<(SkillId, u8)> =
            skills.iter().map(|(s, l)| (SkillId::new(*s), *l)).collect();
        self.acd.login(self.now, &a(agent), &skills).unwrap();
        self.acd.ready(self.now, &a(agent)).unwrap();
        self.drain();
    }

    pub fn enqueue(&mut self, call: &str, queue: &str, prio: u32) {
        self.acd
            .enqueue(self.now, &c(call), &q(queue), Priority(prio))
            .unwrap();
        self.drain();
    }

    pub fn answer(&mut self, call: &str, agent: &str) {
        self.acd.answer(self.now, &c(call), &a(agent)).unwrap();
        self.drain();
    }

    pub fn hangup(&mut self, call: &str) {
        self.acd.hangup(self.now, &c(call)).unwrap();
        self.drain();
    }

    pub fn state(&self, agent: &str) -> AgentState {
        self.acd
            .agent_state(&a(agent))
            .cloned()
            .expect("known agent")
    }

    /// Answer, talk, hang up, finish wrap-up at once: the agent is free again.
    pub fn serve(&mut self, call: &str, agent: &str) {
        self.answer(call, agent);
        self.hangup(call);
        self.acd.wrapup_done(self.now, &a(agent)).unwrap();
        self.drain();
    }

    pub fn ended(&self, call: &str) -> Vec<EndReason> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::CallEnded {
                    call: cc, reason, ..
                } if cc.as_str() == call => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }
}
