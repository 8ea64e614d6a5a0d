//! The CTI server's shared state: sessions (with their numbered event logs and current
//! connection) and, per agent, what a desktop needs to draw itself (state, calls, pending screen
//! pop, wrap-up). Agent state outlives connections and sessions, so a snapshot after a reconnect
//! or a fresh login is complete.
//!
//! Everything here is synchronous and runs under one `std::sync::Mutex`, never held across an
//! `.await`: the dispatcher applies a notice and pushes its event in one step, so events and
//! snapshots are always consistent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

use axum::extract::ws::Utf8Bytes;
use hotline_cti::{
    AgentId, AgentState, AgentStatus, CallDirection, CallId, CallInfo, CallState, Colleague,
    CustomerId, EndReason, Event, EventLog, LogoutReason, Pii, QueueId, ReasonCode, Role,
    ScreenPop, Snapshot, UnixMillis, WrapUpInfo, encode_server,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ratelimit::CommandLimits;

/// What the hub sends a connection's writer.
#[derive(Debug)]
pub enum Outgoing {
    /// One text frame.
    Text(Utf8Bytes),
    /// Send a close frame and stop.
    Close,
}

/// The live connection of a session.
#[derive(Debug, Clone)]
pub struct Conn {
    pub id: u64,
    pub tx: mpsc::Sender<Outgoing>,
}

impl Conn {
    /// Queues a frame; a connection whose queue is full misses it (the event stays in the
    /// session's log: the desktop sees the gap and resumes).
    pub fn send_text(&self, text: String) {
        if self.tx.try_send(Outgoing::Text(text.into())).is_err() {
            tracing::warn!(
                conn = self.id,
                "CTI connection is not keeping up; frame dropped"
            );
        }
    }

    pub fn close(&self) {
        let _ = self.tx.try_send(Outgoing::Close);
    }
}

/// A logged-in session.
#[derive(Debug)]
pub struct Session {
    pub agent: AgentId,
    pub role: Role,
    pub log: EventLog,
    pub conn: Option<Conn>,
    /// When the connection was lost (for the linger timer).
    pub lost_at: Option<Instant>,
    /// Subscribed to the wallboard, with its queue filter (empty: all).
    pub wallboard: Option<Vec<QueueId>>,
    /// The address that logged in: the session can be resumed only from there.
    pub addr: IpAddr,
    /// Command rate limits, kept across resumes.
    pub limits: CommandLimits,
}

/// What the hub knows about one agent's desk.
#[derive(Debug, Clone)]
pub struct Desk {
    pub status: AgentStatus,
    pub calls: BTreeMap<CallId, CallInfo>,
    pub pop: Option<ScreenPop>,
    pub wrap_up: Option<WrapUpInfo>,
    /// Recently ended calls (newest last), so a late wrap-up for them is accepted.
    pub recent: VecDeque<CallId>,
}

impl Desk {
    fn new(agent: &AgentId) -> Self {
        Desk {
            status: AgentStatus {
                agent: agent.clone(),
                state: AgentState::LoggedOut,
                reason: None,
                since: UnixMillis(0),
            },
            calls: BTreeMap::new(),
            pop: None,
            wrap_up: None,
            recent: VecDeque::new(),
        }
    }

    /// Is `call` one this agent has, had recently, or is wrapping up?
    pub fn knows(&self, call: &CallId) -> bool {
        self.calls.contains_key(call)
            || self.recent.contains(call)
            || self.wrap_up.as_ref().is_some_and(|w| &w.call == call)
            || self.pop.as_ref().is_some_and(|p| &p.call == call)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            agent: self.status.clone(),
            calls: self.calls.values().cloned().collect(),
            screen_pop: self.pop.clone(),
            wrap_up: self.wrap_up.clone(),
        }
    }
}

/// Whom a consultation leg consults, as far as a notice says: the target as typed, the
/// colleague once known.
#[derive(Debug, Clone, Default)]
pub struct ConsultParty {
    pub peer: Option<String>,
    pub colleague: Option<Colleague>,
}

/// The customer a call is about (from its screen pop), for the wallboard and tickets.
#[derive(Debug, Clone)]
pub struct CallCustomer {
    pub id: Option<CustomerId>,
    pub name: Option<Pii<String>>,
}

const RECENT_CALLS: usize = 8;

/// All sessions and desks.
#[derive(Debug, Default)]
pub struct Hub {
    pub sessions: HashMap<String, Session>,
    pub by_agent: HashMap<AgentId, String>,
    pub desks: HashMap<AgentId, Desk>,
    /// Which agent a call is at (for notices that name no agent).
    pub call_agent: HashMap<CallId, AgentId>,
    pub customers: HashMap<CallId, CallCustomer>,
    /// Display names, loaded from the store.
    pub names: HashMap<AgentId, String>,
}

impl Hub {
    pub fn desk(&mut self, agent: &AgentId) -> &mut Desk {
        self.desks
            .entry(agent.clone())
            .or_insert_with(|| Desk::new(agent))
    }

    /// Numbers `event` in the session's log and sends it if connected.
    pub fn push_to_session(&mut self, token: &str, event: Event) {
        if let Some(s) = self.sessions.get_mut(token) {
            let frame = s.log.push(event);
            if let Some(conn) = &s.conn {
                match encode_server(&hotline_cti::ServerFrame::Event(frame)) {
                    Ok(text) => conn.send_text(text),
                    Err(e) => tracing::error!(error = %e, "cannot encode CTI event"),
                }
            }
        }
    }

    /// Pushes `event` to the agent's session, if it has one.
    pub fn push_to_agent(&mut self, agent: &AgentId, event: Event) {
        if let Some(token) = self.by_agent.get(agent).cloned() {
            self.push_to_session(&token, event);
        }
    }

    /// Pushes to every session of a supervisor or admin.
    pub fn push_to_supervisors(&mut self, event: &Event) {
        let tokens: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.role >= Role::Supervisor)
            .map(|(t, _)| t.clone())
            .collect();
        for t in tokens {
            self.push_to_session(&t, event.clone());
        }
    }

    /// Removes a session (logout, forced logout, replaced, linger over), telling its desktop
    /// why if it is connected. Returns the session.
    pub fn end_session(&mut self, token: &str, reason: LogoutReason) -> Option<Session> {
        self.push_to_session(token, Event::LoggedOut { reason });
        let s = self.sessions.remove(token)?;
        if self.by_agent.get(&s.agent).is_some_and(|t| t == token) {
            self.by_agent.remove(&s.agent);
        }
        if let Some(c) = &s.conn {
            c.close();
        }
        Some(s)
    }

    // ----- applying call notices ---------------------------------------------------------------

    pub fn offered(&mut self, agent: &AgentId, pop: ScreenPop) {
        let call = pop.call.clone();
        self.call_agent.insert(call.clone(), agent.clone());
        self.customers.insert(
            call.clone(),
            CallCustomer {
                id: pop.customer.as_ref().map(|c| c.id.clone()),
                name: pop.customer.as_ref().map(|c| c.name.clone()),
            },
        );
        let info = CallInfo {
            call: call.clone(),
            direction: CallDirection::Inbound,
            state: CallState::Ringing,
            peer: pop.ani.clone(),
            muted: false,
            conference: false,
            queue: Some(pop.queue.clone()),
            consult_of: None,
            colleague: None,
            end_reason: None,
            since: pop.offered_at,
        };
        let desk = self.desk(agent);
        desk.calls.insert(call, info);
        desk.pop = Some(pop.clone());
        self.push_to_agent(agent, Event::CallOffered(Box::new(pop)));
    }

    /// A call of `agent` changed state (ringing, connected, held, resumed).
    pub fn call_state(
        &mut self,
        agent: &AgentId,
        call: &CallId,
        state: CallState,
        now: UnixMillis,
    ) {
        self.call_agent.insert(call.clone(), agent.clone());
        let desk = self.desk(agent);
        // No screen pop came first: the agent placed this call.
        let info = desk
            .calls
            .entry(call.clone())
            .or_insert_with(|| new_call_info(call, CallDirection::Outbound, state, now));
        if info.state != state {
            info.state = state;
            info.since = now;
        }
        let info = info.clone();
        if state == CallState::Connected && desk.pop.as_ref().is_some_and(|p| &p.call == call) {
            desk.pop = None;
        }
        self.push_to_agent(agent, Event::CallChanged(info));
    }

    /// Click-to-dial: the switch is calling the agent's phone, then `peer` (a colleague's
    /// agent id or extension makes it an internal call to them).
    pub fn dialing(
        &mut self,
        agent: &AgentId,
        call: &CallId,
        peer: String,
        colleague: Option<Colleague>,
        now: UnixMillis,
    ) {
        self.call_agent.insert(call.clone(), agent.clone());
        let direction = match colleague {
            Some(_) => CallDirection::Internal,
            None => CallDirection::Outbound,
        };
        let info = CallInfo {
            peer: Pii::new(peer),
            colleague,
            ..new_call_info(call, direction, CallState::Dialing, now)
        };
        self.desk(agent).calls.insert(call.clone(), info.clone());
        self.push_to_agent(agent, Event::CallChanged(info));
    }

    /// An internal call rings the agent's own phone: `peer` calls, `colleague` names them.
    pub fn incoming(
        &mut self,
        agent: &AgentId,
        call: &CallId,
        peer: String,
        colleague: Option<Colleague>,
        now: UnixMillis,
    ) {
        self.call_agent.insert(call.clone(), agent.clone());
        let info = CallInfo {
            peer: Pii::new(peer),
            colleague,
            ..new_call_info(call, CallDirection::Internal, CallState::Ringing, now)
        };
        self.desk(agent).calls.insert(call.clone(), info.clone());
        self.push_to_agent(agent, Event::CallChanged(info));
    }

    /// The agent's consultation leg `consult` of call `of` changed state (and, when `party`
    /// says, whom it consults).
    pub fn consult_state(
        &mut self,
        agent: &AgentId,
        consult: &CallId,
        of: &CallId,
        state: CallState,
        party: ConsultParty,
        now: UnixMillis,
    ) {
        let desk = self.desk(agent);
        let info = desk
            .calls
            .entry(consult.clone())
            .or_insert_with(|| CallInfo {
                consult_of: Some(of.clone()),
                ..new_call_info(consult, CallDirection::Consult, state, now)
            });
        if info.state != state {
            info.state = state;
            info.since = now;
        }
        if let Some(peer) = party.peer {
            info.peer = Pii::new(peer);
        }
        if party.colleague.is_some() {
            info.colleague = party.colleague;
        }
        let info = info.clone();
        self.push_to_agent(agent, Event::CallChanged(info));
    }

    /// The muted / conference flags of an agent's call changed.
    pub fn call_flags(&mut self, agent: &AgentId, call: &CallId, muted: bool, conference: bool) {
        let desk = self.desk(agent);
        let Some(info) = desk.calls.get_mut(call) else {
            return;
        };
        info.muted = muted;
        info.conference = conference;
        let info = info.clone();
        self.push_to_agent(agent, Event::CallChanged(info));
    }

    pub fn ended(&mut self, agent: &AgentId, call: &CallId, reason: &str, now: UnixMillis) {
        self.call_agent.remove(call);
        let desk = self.desk(agent);
        let mut info = desk
            .calls
            .remove(call)
            .unwrap_or_else(|| new_call_info(call, CallDirection::Inbound, CallState::Ended, now));
        if desk.pop.as_ref().is_some_and(|p| &p.call == call) {
            desk.pop = None;
        }
        desk.recent.push_back(call.clone());
        let mut forgotten = Vec::new();
        while desk.recent.len() > RECENT_CALLS {
            forgotten.extend(desk.recent.pop_front());
        }
        for old in forgotten {
            self.customers.remove(&old);
        }
        info.state = CallState::Ended;
        info.end_reason = Some(end_reason(reason));
        info.since = now;
        self.push_to_agent(agent, Event::CallChanged(info));
    }

    // ----- applying routing's agent states -----------------------------------------------------

    pub fn agent_state(&mut self, agent: &AgentId, to: &hotline_acd::AgentState, at_ms: i64) {
        let since = UnixMillis(u64::try_from(at_ms).unwrap_or(0));
        let status = status_of(agent, to, since);
        let desk = self.desk(agent);
        desk.status = status.clone();
        let mut wrap = None;
        match to {
            hotline_acd::AgentState::WrapUp { call, deadline } => {
                let limit = deadline
                    .checked_duration_since(tokio::time::Instant::now().into_std())
                    .map(|d| d.as_secs_f64().round() as u32);
                let info = WrapUpInfo {
                    call: CallId::new(call.as_str()),
                    since,
                    limit_secs: limit,
                };
                desk.wrap_up = Some(info.clone());
                wrap = Some(info);
            }
            _ => desk.wrap_up = None,
        }
        self.push_to_agent(agent, Event::AgentStateChanged(status));
        if let Some(w) = wrap {
            self.push_to_agent(
                agent,
                Event::WrapUpStarted {
                    call: w.call,
                    since: w.since,
                    limit_secs: w.limit_secs,
                },
            );
        }
    }
}

/// The CTI view of a routing state.
pub fn status_of(agent: &AgentId, s: &hotline_acd::AgentState, since: UnixMillis) -> AgentStatus {
    use hotline_acd::AgentState as A;
    let (state, reason) = match s {
        A::LoggedOut => (AgentState::LoggedOut, None),
        A::NotReady { reason } => (AgentState::NotReady, Some(ReasonCode::new(reason.as_str()))),
        A::Ready => (AgentState::Ready, None),
        A::Reserved { .. } => (AgentState::Ringing, None),
        A::OnCall { .. } => (AgentState::OnCall, None),
        A::WrapUp { .. } => (AgentState::WrapUp, None),
    };
    AgentStatus {
        agent: agent.clone(),
        state,
        reason,
        since,
    }
}

/// Call control's free-text end reason, as the protocol's enum.
pub fn end_reason(reason: &str) -> EndReason {
    // Call control says "no answer", SIP-side names say "no_answer": one spelling here.
    let r = reason.to_ascii_lowercase().replace([' ', '-'], "_");
    if r.contains("transfer") {
        EndReason::Transferred
    } else if r.contains("agent") {
        EndReason::AgentHangup
    } else if r.contains("no_answer")
        || r.contains("not_answered")
        || r.contains("timeout")
        || r.contains("withdrawn")
    {
        EndReason::NotAnswered
    } else if r.contains("busy") || r.contains("reject") || r.contains("declin") {
        EndReason::Rejected
    } else if r.contains("fail")
        || r.contains("error")
        || r.contains("not_registered")
        || r.contains("unavailable")
    {
        EndReason::Failed
    } else if r.contains("taken") || r.contains("takeover") {
        EndReason::TakenOver
    } else {
        EndReason::RemoteHangup
    }
}

/// A call as a desktop first sees it: no peer, no flags, no queue.
fn new_call_info(
    call: &CallId,
    direction: CallDirection,
    state: CallState,
    now: UnixMillis,
) -> CallInfo {
    CallInfo {
        call: call.clone(),
        direction,
        state,
        peer: Pii::new(String::new()),
        muted: false,
        conference: false,
        queue: None,
        consult_of: None,
        colleague: None,
        end_reason: None,
        since: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_reasons_of_call_control_map_to_their_kind() {
        for (reason, want) in [
            ("no answer", EndReason::NotAnswered),
            ("no_answer", EndReason::NotAnswered),
            ("offer withdrawn", EndReason::NotAnswered),
            ("rejected", EndReason::Rejected),
            ("busy", EndReason::Rejected),
            ("not registered", EndReason::Failed),
            ("transferred", EndReason::Transferred),
            ("agent hung up", EndReason::AgentHangup),
            ("taken over", EndReason::TakenOver),
            ("caller hung up", EndReason::RemoteHangup),
        ] {
            assert_eq!(end_reason(reason), want, "{reason}");
        }
    }
}
