//! A full consistency check of the engine's indexes, for tests and debugging.

use super::{Acd, AgentState, Place, Timer};
use std::collections::HashMap;

impl Acd {
    /// Checks every internal invariant and returns the first violation. Costs O(everything):
    /// meant for tests (the randomized-operations test calls it after every step) and debugging.
    ///
    /// Checked: an agent is on at most one call and its state agrees with the call's; a ready
    /// agent sits in exactly the ready sets it qualifies for, others in none; no reservation or
    /// wrap-up outlives its deadline; every waiting call is in exactly one ordered set, the one of
    /// its queue and step; no call waits in a set that has a ready agent (work conservation);
    /// staffing counters match a recount; every armed timer belongs to a live object.
    pub fn check_invariants(&self) -> Result<(), String> {
        let now = self.at();
        let mut on_call: HashMap<&str, &str> = HashMap::new();
        for (ai, ag) in self.agents.iter().enumerate() {
            let a = ai as u32;
            let name = ag.id.as_str();
            let ready = ag.state == AgentState::Ready;
            if ready == ag.ready_in.is_empty() && !ag.eligible.is_empty() {
                return Err(format!(
                    "agent {name}: ready={ready} but ready_in={:?}",
                    ag.ready_in
                ));
            }
            if ready {
                if ag.ready_in.len() != ag.eligible.len() {
                    return Err(format!(
                        "agent {name}: in {} of {} ready sets",
                        ag.ready_in.len(),
                        ag.eligible.len()
                    ));
                }
                for (t, key) in &ag.ready_in {
                    if !self.targets[*t as usize].ready.contains(key) || key.2 != a {
                        return Err(format!("agent {name}: missing from ready set {t}"));
                    }
                }
            }
            let call_of = |id: &crate::CallId| -> Result<&super::Call, String> {
                let c = self
                    .call_ix
                    .get(id)
                    .ok_or_else(|| format!("agent {name}: call {id} unknown"))?;
                self.calls[*c as usize]
                    .as_ref()
                    .ok_or_else(|| format!("agent {name}: call slot empty"))
            };
            match &ag.state {
                AgentState::Reserved { call, deadline } => {
                    if *deadline <= now {
                        return Err(format!("agent {name}: reservation outlived its deadline"));
                    }
                    let cl = call_of(call)?;
                    if !matches!(&cl.place, Place::Offered(v) if v.contains(&a)) {
                        return Err(format!(
                            "agent {name}: reserved for {call} but call is {:?}",
                            cl.place
                        ));
                    }
                    self.check_timer(ag.timer, Timer::Reservation(a), name)?;
                }
                AgentState::OnCall { .. } if ag.direct => {
                    // A direct call may share the id of a queue call (a colleague consulted on
                    // the caller's call): it is not in the queues' books.
                    if ag.timer.is_some() {
                        return Err(format!("agent {name}: timer armed on a call"));
                    }
                }
                AgentState::OnCall { call, .. } => {
                    let cl = call_of(call)?;
                    if cl.place != Place::Connected(a) && cl.place != Place::Dialing(a) {
                        return Err(format!(
                            "agent {name}: on {call} but call is {:?}",
                            cl.place
                        ));
                    }
                    if let Some(other) = on_call.insert(call.as_str(), name) {
                        return Err(format!("call {call} is on two agents: {other} and {name}"));
                    }
                    if ag.timer.is_some() {
                        return Err(format!("agent {name}: timer armed on a call"));
                    }
                }
                AgentState::WrapUp { deadline, .. } => {
                    if *deadline <= now {
                        return Err(format!("agent {name}: wrap-up outlived its deadline"));
                    }
                    self.check_timer(ag.timer, Timer::WrapUp(a), name)?;
                }
                _ => {
                    if ag.timer.is_some() {
                        return Err(format!("agent {name}: stray timer in {:?}", ag.state));
                    }
                    if ag.pending.is_some() {
                        return Err(format!("agent {name}: pending change while {:?}", ag.state));
                    }
                }
            }
        }
        // Calls.
        let mut waiting = 0usize;
        let mut cb_counted = vec![0usize; self.queues.len()];
        for (ci, slot) in self.calls.iter().enumerate() {
            let Some(cl) = slot else { continue };
            let c = ci as u32;
            let id = cl.id.as_str();
            if self.call_ix.get(&cl.id) != Some(&c) {
                return Err(format!("call {id}: id map disagrees"));
            }
            if cl.cb_counted {
                cb_counted[cl.queue as usize] += 1;
            }
            match &cl.place {
                Place::Waiting(t) => {
                    waiting += 1;
                    let tg = &self.targets[*t as usize];
                    if tg.calls.get(&cl.key) != Some(&c) {
                        return Err(format!("call {id}: not in its target's set"));
                    }
                    if tg.queue != cl.queue || tg.step != cl.step {
                        return Err(format!("call {id}: waits in the wrong target"));
                    }
                }
                Place::Offered(agents) => {
                    if agents.is_empty() {
                        return Err(format!("call {id}: offered to nobody"));
                    }
                    for &a in agents {
                        match &self.agents[a as usize].state {
                            AgentState::Reserved { call, .. } if call == &cl.id => {}
                            s => return Err(format!("call {id}: offered agent is {s:?}")),
                        }
                    }
                }
                Place::Connected(a) | Place::Dialing(a) => match &self.agents[*a as usize].state {
                    AgentState::OnCall { call, .. } if call == &cl.id => {}
                    s => return Err(format!("call {id}: connected agent is {s:?}")),
                },
                Place::Parked => {
                    if cl.retry_timer.is_none() {
                        return Err(format!("call {id}: parked without a retry timer"));
                    }
                }
                Place::Limbo => return Err(format!("call {id}: left in limbo")),
            }
            for (key, want) in [
                (cl.widen_timer, Timer::Widen(c)),
                (cl.max_wait_timer, Timer::MaxWait(c)),
                (cl.retry_timer, Timer::CallbackRetry(c)),
            ] {
                if key.is_some() {
                    self.check_timer(key, want, id)?;
                }
            }
        }
        let in_sets: usize = self.targets.iter().map(|t| t.calls.len()).sum();
        if in_sets != waiting {
            return Err(format!("{in_sets} calls in sets but {waiting} waiting"));
        }
        for (qi, q) in self.queues.iter().enumerate() {
            if q.callbacks_waiting != cb_counted[qi] {
                return Err(format!(
                    "queue {}: callback counter {} != {}",
                    q.cfg.id, q.callbacks_waiting, cb_counted[qi]
                ));
            }
        }
        // Targets: work conservation and counters.
        let mut logged = vec![0u32; self.targets.len()];
        let mut working = vec![0u32; self.targets.len()];
        let mut ready = vec![0usize; self.targets.len()];
        for ag in &self.agents {
            for &t in &ag.eligible {
                match ag.state {
                    AgentState::LoggedOut => {}
                    AgentState::NotReady { .. } => logged[t as usize] += 1,
                    _ => {
                        logged[t as usize] += 1;
                        working[t as usize] += 1;
                    }
                }
                if ag.state == AgentState::Ready {
                    ready[t as usize] += 1;
                }
            }
        }
        for (ti, t) in self.targets.iter().enumerate() {
            if !t.calls.is_empty() && !t.ready.is_empty() {
                return Err(format!("target {ti}: calls wait while agents are ready"));
            }
            if t.logged_in != logged[ti] || t.working != working[ti] || t.ready.len() != ready[ti] {
                return Err(format!(
                    "target {ti}: counters logged {}/{} working {}/{} ready {}/{}",
                    t.logged_in,
                    logged[ti],
                    t.working,
                    working[ti],
                    t.ready.len(),
                    ready[ti]
                ));
            }
        }
        // Timers.
        for (key, timer) in &self.timers {
            let ok = match *timer {
                Timer::Reservation(a) | Timer::WrapUp(a) => {
                    self.agents[a as usize].timer == Some(*key)
                }
                Timer::Widen(c) => self.calls[c as usize]
                    .as_ref()
                    .is_some_and(|x| x.widen_timer == Some(*key)),
                Timer::MaxWait(c) => self.calls[c as usize]
                    .as_ref()
                    .is_some_and(|x| x.max_wait_timer == Some(*key)),
                Timer::CallbackRetry(c) => self.calls[c as usize]
                    .as_ref()
                    .is_some_and(|x| x.retry_timer == Some(*key)),
            };
            if !ok {
                return Err(format!("stray timer {timer:?} at {key:?}"));
            }
            if key.0 < self.now {
                return Err(format!("timer {timer:?} overdue"));
            }
        }
        Ok(())
    }

    fn check_timer(
        &self,
        key: Option<super::TimerKey>,
        want: Timer,
        who: &str,
    ) -> Result<(), String> {
        let Some(key) = key else {
            return Err(format!("{who}: no timer armed"));
        };
        match self.timers.get(&key) {
            Some(t) if std::mem::discriminant(t) == std::mem::discriminant(&want) => Ok(()),
            other => Err(format!("{who}: timer {key:?} is {other:?}, want {want:?}")),
        }
    }
}
