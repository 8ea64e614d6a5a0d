//! The desktop's state, apart from any drawing (STYLE.md item 13).
//!
//! [`DeskState`] is a plain struct. The app feeds it every [`ClientUpdate`] from the CTI client
//! at the start of each frame (also for panels that are not visible), and the drawing code only
//! reads it. Everything here is deterministic: the wall-clock time is an argument.

use std::collections::HashMap;

use hotline_cti::{
    AgentProfile, AgentState, AgentStatus, CallDirection, CallId, CallInfo, CallState, CustomerId,
    Disposition, EndReason, ErrorBody, ErrorCode, Event, LogoutReason, PaymentStage, Pii,
    ReasonCode, Reply, Role, ScreenPop, UnixMillis, Wallboard,
};

use crate::client::{ClientUpdate, ConnState};
use crate::directory::{CustomerHit, DirAnswer, TicketChangeLine};
use crate::outbox::OutboxStatus;
use crate::reports::{Report, ReportAnswer, ReportQuery};

/// What the switch told us at login.
#[derive(Debug, Clone)]
pub struct Session {
    /// The role.
    pub role: Role,
    /// The agent.
    pub profile: AgentProfile,
    /// Reasons for the not-ready picker.
    pub not_ready_reasons: Vec<ReasonCode>,
    /// Dispositions for the wrap-up form.
    pub dispositions: Vec<Disposition>,
}

/// A wrap-up the agent has to complete.
#[derive(Debug, Clone, PartialEq)]
pub struct WrapUp {
    /// The call.
    pub call: CallId,
    /// When wrap-up began.
    pub since: UnixMillis,
    /// The configured limit.
    pub limit_secs: Option<u32>,
}

/// A finished call of this session.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The call.
    pub call: CallId,
    /// Direction.
    pub direction: CallDirection,
    /// The far party.
    pub peer: Pii<String>,
    /// The customer's name, when the pop had one.
    pub customer: Option<Pii<String>>,
    /// When it ended.
    pub ended: UnixMillis,
    /// Why.
    pub end_reason: Option<EndReason>,
    /// The disposition, once wrapped up.
    pub disposition: Option<Disposition>,
}

/// How loud a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// For information.
    Info,
    /// A call is being offered.
    Offer,
    /// Something needs attention.
    Warning,
    /// Something failed.
    Error,
}

/// A message in the notification area.
#[derive(Debug, Clone)]
pub struct Notification {
    /// Unique within the run, for dismissing.
    pub id: u64,
    /// Level.
    pub level: Level,
    /// Text shown to the agent (may contain the caller's name: it is the agent's screen).
    pub text: String,
    /// When it was raised.
    pub at: UnixMillis,
    /// The call an offer notification is about (removed once the call is answered or ends).
    pub call: Option<CallId>,
}

/// Which call controls are valid for a call right now. Buttons and shortcuts use the same set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallActions {
    /// Answer a call ringing at the agent.
    pub answer: bool,
    /// Hang up (or reject while ringing).
    pub hangup: bool,
    /// Put on hold.
    pub hold: bool,
    /// Take off hold.
    pub resume: bool,
    /// Mute the agent.
    pub mute: bool,
    /// Unmute the agent.
    pub unmute: bool,
    /// Send DTMF.
    pub dtmf: bool,
    /// Blind transfer.
    pub transfer: bool,
    /// Start a consultation.
    pub consult: bool,
    /// Complete a consultative transfer.
    pub complete_transfer: bool,
    /// Drop the consultation.
    pub cancel_consult: bool,
    /// Three-way conference.
    pub conference: bool,
    /// Hand the caller to the payment flow.
    pub payment: bool,
}

/// The customer search panel.
#[derive(Debug, Clone, Default)]
pub struct CustomerSearch {
    /// The last query sent.
    pub query: String,
    /// Its results.
    pub hits: Vec<CustomerHit>,
    /// Why it failed.
    pub error: Option<String>,
    /// Waiting for the answer.
    pub pending: bool,
}

/// Supervisors' KPI report: what is loading, what was loaded, the last export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportsState {
    /// The query being loaded (answers to older queries are ignored).
    pub pending: Option<ReportQuery>,
    /// The last loaded report.
    pub report: Option<Report>,
    /// Why the last load failed.
    pub error: Option<String>,
    /// The last export: the file and rows written, or an error text.
    pub export: Option<Result<(std::path::PathBuf, usize), String>>,
}

/// Most notifications kept.
const MAX_NOTIFICATIONS: usize = 20;
/// Most history entries kept.
const MAX_HISTORY: usize = 50;

/// Everything the desktop knows.
#[derive(Debug, Clone)]
pub struct DeskState {
    /// The CTI connection.
    pub connection: ConnState,
    /// The logged-in session, if any.
    pub session: Option<Session>,
    /// Why the last login failed.
    pub login_error: Option<String>,
    /// The agent's state.
    pub agent: Option<AgentStatus>,
    /// Live calls, oldest first.
    pub calls: Vec<CallInfo>,
    /// Screen pops by call, kept until the call is wrapped up.
    pub pops: HashMap<CallId, ScreenPop>,
    /// The call whose pop and customer record are shown.
    pub focus: Option<CallId>,
    /// Finished calls, newest first.
    pub history: Vec<HistoryEntry>,
    /// A wrap-up to complete.
    pub wrap_up: Option<WrapUp>,
    /// Payment progress by call.
    pub payments: HashMap<CallId, PaymentStage>,
    /// Notifications, newest last.
    pub notifications: Vec<Notification>,
    next_notification: u64,
    /// The outcome outbox.
    pub outbox: OutboxStatus,
    /// Supervisors: the wallboard.
    pub wallboard: Option<Wallboard>,
    /// Customer search.
    pub search: CustomerSearch,
    /// A customer record opened from search.
    pub opened: Option<hotline_cti::CustomerView>,
    /// A ticket's history, as loaded.
    pub ticket_history: Option<(hotline_cti::TicketId, Result<Vec<TicketChangeLine>, String>)>,
    /// Unknown callers the agent linked to an existing customer: call -> (customer, name).
    pub links: HashMap<CallId, (CustomerId, Pii<String>)>,
    /// Supervisors: wallboard subscription sent for this session.
    pub wallboard_subscribed: bool,
    /// Supervisors: open help requests, oldest first.
    pub help_requests: Vec<HelpRequest>,
    /// Supervisors: calls being monitored and how.
    pub monitoring: HashMap<CallId, hotline_cti::MonitorMode>,
    /// Supervisors: the KPI report.
    pub reports: ReportsState,
}

/// An agent's request for help (supervisors).
#[derive(Debug, Clone, PartialEq)]
pub struct HelpRequest {
    /// Who asked.
    pub agent: hotline_cti::AgentId,
    /// The call, if any.
    pub call: Option<CallId>,
    /// The message.
    pub message: String,
    /// When.
    pub at: UnixMillis,
}

impl Default for DeskState {
    fn default() -> Self {
        DeskState::new()
    }
}

impl DeskState {
    /// The state before login.
    pub fn new() -> Self {
        DeskState {
            connection: ConnState::Offline,
            session: None,
            login_error: None,
            agent: None,
            calls: Vec::new(),
            pops: HashMap::new(),
            focus: None,
            history: Vec::new(),
            wrap_up: None,
            payments: HashMap::new(),
            notifications: Vec::new(),
            next_notification: 1,
            outbox: OutboxStatus::default(),
            wallboard: None,
            search: CustomerSearch::default(),
            opened: None,
            ticket_history: None,
            links: HashMap::new(),
            wallboard_subscribed: false,
            help_requests: Vec::new(),
            monitoring: HashMap::new(),
            reports: ReportsState::default(),
        }
    }

    /// Applies one update from the CTI client.
    pub fn apply(&mut self, update: ClientUpdate, wall: UnixMillis) {
        match update {
            ClientUpdate::Connection(state) => {
                if state == ConnState::Offline {
                    self.clear_session();
                }
                self.connection = state;
            }
            ClientUpdate::LoggedIn {
                role,
                profile,
                not_ready_reasons,
                dispositions,
            } => {
                self.clear_session();
                self.login_error = None;
                self.session = Some(Session {
                    role,
                    profile,
                    not_ready_reasons,
                    dispositions,
                });
            }
            ClientUpdate::LoginFailed(err) => {
                self.login_error = Some(login_error_text(&err));
            }
            ClientUpdate::Reply { kind, result, .. } => match result {
                Ok(Reply::Dialing { call }) => self.focus = Some(call),
                Ok(_) => {}
                Err(err) => self.notify(Level::Error, reply_error_text(&kind, &err), wall),
            },
            ClientUpdate::Event(event) => self.apply_event(event, wall),
        }
    }

    /// Applies one CTI event.
    pub fn apply_event(&mut self, event: Event, wall: UnixMillis) {
        match event {
            Event::Snapshot(snap) => {
                let snap = *snap;
                self.agent = Some(snap.agent);
                self.calls = snap.calls;
                let live: Vec<CallId> = self.calls.iter().map(|c| c.call.clone()).collect();
                let wrap_call = snap.wrap_up.as_ref().map(|w| w.call.clone());
                self.pops
                    .retain(|id, _| live.contains(id) || wrap_call.as_ref() == Some(id));
                if let Some(pop) = snap.screen_pop {
                    self.focus = Some(pop.call.clone());
                    self.pops.insert(pop.call.clone(), pop);
                }
                self.wrap_up = snap.wrap_up.map(|w| WrapUp {
                    call: w.call,
                    since: w.since,
                    limit_secs: w.limit_secs,
                });
                self.refocus();
            }
            Event::AgentStateChanged(status) => {
                let mine = self
                    .session
                    .as_ref()
                    .is_none_or(|s| s.profile.agent == status.agent);
                if let Some(row) = self
                    .wallboard
                    .as_mut()
                    .and_then(|b| b.agents.iter_mut().find(|r| r.status.agent == status.agent))
                {
                    // Supervisors see state changes at once, before the next wallboard delta.
                    row.status = status.clone();
                }
                if mine {
                    self.agent = Some(status);
                }
            }
            Event::CallOffered(pop) => {
                let pop = *pop;
                let who = pop
                    .customer
                    .as_ref()
                    .map_or("unknown caller".to_owned(), |c| c.name.expose().clone());
                self.notify(
                    Level::Offer,
                    format!("Incoming call from {who} ({})", pop.queue_name),
                    wall,
                );
                if let Some(n) = self.notifications.last_mut() {
                    n.call = Some(pop.call.clone());
                }
                if !self.calls.iter().any(|c| c.call == pop.call) {
                    self.calls.push(CallInfo {
                        call: pop.call.clone(),
                        direction: CallDirection::Inbound,
                        state: CallState::Ringing,
                        peer: pop.ani.clone(),
                        muted: false,
                        conference: false,
                        queue: Some(pop.queue.clone()),
                        consult_of: None,
                        end_reason: None,
                        since: pop.offered_at,
                    });
                }
                // Forget pops of calls that ended without a wrap-up (missed calls).
                let wrap_call = self.wrap_up.as_ref().map(|w| w.call.clone());
                let live: Vec<CallId> = self.calls.iter().map(|c| c.call.clone()).collect();
                self.pops
                    .retain(|id, _| live.contains(id) || wrap_call.as_ref() == Some(id));
                self.focus = Some(pop.call.clone());
                self.pops.insert(pop.call.clone(), pop);
            }
            Event::CallChanged(info) => {
                if matches!(info.state, CallState::Connected | CallState::Ended) {
                    // The offer is settled: its notification has done its job.
                    self.notifications
                        .retain(|n| n.level != Level::Offer || n.call.as_ref() != Some(&info.call));
                }
                if info.state == CallState::Ended {
                    let was_ringing = self.calls.iter().any(|c| {
                        c.call == info.call
                            && c.state == CallState::Ringing
                            && c.direction == CallDirection::Inbound
                    });
                    if was_ringing && info.end_reason == Some(EndReason::RemoteHangup) {
                        let who = self
                            .pops
                            .get(&info.call)
                            .and_then(|p| p.customer.as_ref())
                            .map_or_else(
                                || info.peer.expose().clone(),
                                |c| c.name.expose().clone(),
                            );
                        self.notify(
                            Level::Warning,
                            format!("Missed call: {who} hung up before it was answered"),
                            wall,
                        );
                    }
                    self.calls.retain(|c| c.call != info.call);
                    self.payments.remove(&info.call);
                    let customer = self
                        .pops
                        .get(&info.call)
                        .and_then(|p| p.customer.as_ref())
                        .map(|c| c.name.clone());
                    if info.end_reason == Some(EndReason::NotAnswered) {
                        self.pops.remove(&info.call);
                        self.notify(
                            Level::Warning,
                            "A call was not answered in time and went back to the queue".into(),
                            wall,
                        );
                    }
                    self.history.insert(
                        0,
                        HistoryEntry {
                            call: info.call,
                            direction: info.direction,
                            peer: info.peer,
                            customer,
                            ended: info.since,
                            end_reason: info.end_reason,
                            disposition: None,
                        },
                    );
                    self.history.truncate(MAX_HISTORY);
                } else if let Some(existing) = self.calls.iter_mut().find(|c| c.call == info.call) {
                    *existing = info;
                } else {
                    self.calls.push(info);
                }
                self.refocus();
            }
            Event::WrapUpStarted {
                call,
                since,
                limit_secs,
            } => {
                self.focus = Some(call.clone());
                self.wrap_up = Some(WrapUp {
                    call,
                    since,
                    limit_secs,
                });
            }
            Event::PaymentProgress { call, stage } => {
                match &stage {
                    PaymentStage::Approved { .. } => {
                        self.notify(Level::Info, "Payment approved".into(), wall);
                    }
                    PaymentStage::Declined { reason } => {
                        self.notify(Level::Warning, format!("Payment declined: {reason}"), wall);
                    }
                    _ => {}
                }
                self.payments.insert(call, stage);
            }
            Event::HelpRequested {
                agent,
                call,
                message,
                at,
            } => {
                self.notify(
                    Level::Warning,
                    format!("Agent {agent} asks for help: {message}"),
                    wall,
                );
                self.help_requests.retain(|h| h.agent != agent);
                self.help_requests.push(HelpRequest {
                    agent,
                    call,
                    message,
                    at,
                });
            }
            Event::SkillsChanged { agent, skills } => {
                if let Some(session) = self.session.as_mut().filter(|s| s.profile.agent == agent) {
                    session.profile.skills = skills;
                    self.notify(Level::Info, "Your skills were updated".into(), wall);
                }
            }
            Event::MonitorChanged { call, mode } => match mode {
                Some(mode) => {
                    self.monitoring.insert(call, mode);
                }
                None => {
                    self.monitoring.remove(&call);
                }
            },
            Event::Wallboard(board) => self.wallboard = Some(board),
            Event::WallboardDelta(delta) => {
                if let Some(board) = self.wallboard.as_mut() {
                    board.at = delta.at;
                    for q in delta.queues {
                        match board.queues.iter_mut().find(|x| x.queue == q.queue) {
                            Some(row) => *row = q,
                            None => board.queues.push(q),
                        }
                    }
                    for a in delta.agents {
                        match board
                            .agents
                            .iter_mut()
                            .find(|x| x.status.agent == a.status.agent)
                        {
                            Some(row) => *row = a,
                            None => board.agents.push(a),
                        }
                    }
                    board
                        .agents
                        .retain(|a| !delta.removed_agents.contains(&a.status.agent));
                }
            }
            Event::Error { message, .. } => self.notify(Level::Error, message, wall),
            Event::LoggedOut {
                reason: LogoutReason::Shutdown,
            } => {
                // The client reconnects and logs in again by itself; keep the screen.
                self.notify(
                    Level::Warning,
                    "The switch is restarting; reconnecting".into(),
                    wall,
                );
            }
            Event::LoggedOut { reason } => {
                let text = match reason {
                    LogoutReason::Requested => "You are logged out".to_owned(),
                    LogoutReason::Forced { by } => format!("Supervisor {by} logged you out"),
                    LogoutReason::Replaced => "You logged in at another desktop".to_owned(),
                    LogoutReason::Shutdown => "The switch is shutting down".to_owned(),
                };
                self.clear_session();
                self.login_error = Some(text);
            }
            _ => {}
        }
    }

    /// Records that the agent completed the wrap-up of `call` with `disposition`.
    pub fn finish_wrap_up(&mut self, call: &CallId, disposition: &Disposition) {
        if self.wrap_up.as_ref().is_some_and(|w| &w.call == call) {
            self.wrap_up = None;
        }
        if let Some(entry) = self.history.iter_mut().find(|h| &h.call == call) {
            entry.disposition = Some(disposition.clone());
        }
        self.pops.remove(call);
        self.links.remove(call);
        self.refocus();
    }

    /// Adds a notification.
    pub fn notify(&mut self, level: Level, text: String, at: UnixMillis) {
        let id = self.next_notification;
        self.next_notification += 1;
        self.notifications.push(Notification {
            id,
            level,
            text,
            at,
            call: None,
        });
        if self.notifications.len() > MAX_NOTIFICATIONS {
            self.notifications.remove(0);
        }
    }

    /// Removes a notification.
    pub fn dismiss(&mut self, id: u64) {
        self.notifications.retain(|n| n.id != id);
    }

    /// Applies the outbox's news.
    pub fn apply_outbox(&mut self, status: OutboxStatus, wall: UnixMillis) {
        for (call, reason) in &status.newly_rejected {
            self.notify(
                Level::Error,
                format!("The database refused the outcome of {call}: {reason}"),
                wall,
            );
        }
        self.outbox = status;
    }

    /// Applies an answer from the customer directory.
    pub fn apply_directory(&mut self, answer: DirAnswer, wall: UnixMillis) {
        match answer {
            DirAnswer::Search { query, hits } => {
                if query != self.search.query {
                    return; // an older search
                }
                self.search.pending = false;
                match hits {
                    Ok(hits) => {
                        self.search.error = None;
                        self.search.hits = hits;
                    }
                    Err(e) => {
                        self.search.hits.clear();
                        self.search.error = Some(e);
                    }
                }
            }
            DirAnswer::Customer { view, .. } => match view {
                Ok(Some(view)) => self.opened = Some(view),
                Ok(None) => self.notify(
                    Level::Warning,
                    "That customer no longer exists".into(),
                    wall,
                ),
                Err(e) => self.notify(Level::Error, format!("Cannot load the customer: {e}"), wall),
            },
            DirAnswer::TicketHistory { id, changes } => self.ticket_history = Some((id, changes)),
        }
    }

    /// Applies an answer from the reports worker.
    pub fn apply_report(&mut self, answer: ReportAnswer) {
        match answer {
            ReportAnswer::Loaded { query, report } => {
                if self.reports.pending.as_ref() != Some(&query) {
                    return; // an older request
                }
                self.reports.pending = None;
                match report {
                    Ok(r) => {
                        self.reports.error = None;
                        self.reports.report = Some(r);
                    }
                    Err(e) => self.reports.error = Some(e),
                }
            }
            ReportAnswer::Exported { path, rows } => {
                self.reports.export = Some(rows.map(|n| (path, n)));
            }
        }
    }

    /// Is the session a supervisor's (or an admin's)?
    pub fn is_supervisor(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.role >= Role::Supervisor)
    }

    /// The customer a call's outcome belongs to: a linked one, or the pop's.
    pub fn outcome_customer(&self, call: &CallId) -> Option<CustomerId> {
        self.links
            .get(call)
            .map(|(id, _)| id.clone())
            .or_else(|| self.customer_of(call))
    }

    /// The screen pop of the focused call.
    pub fn focused_pop(&self) -> Option<&ScreenPop> {
        self.focus.as_ref().and_then(|c| self.pops.get(c))
    }

    /// A live call by id.
    pub fn call(&self, id: &CallId) -> Option<&CallInfo> {
        self.calls.iter().find(|c| &c.call == id)
    }

    /// The customer id of a call's pop, if known.
    pub fn customer_of(&self, call: &CallId) -> Option<CustomerId> {
        self.pops
            .get(call)
            .and_then(|p| p.customer.as_ref())
            .map(|c| c.id.clone())
    }

    /// Seconds the agent has been in the current state.
    pub fn time_in_state(&self, wall: UnixMillis) -> Option<u64> {
        self.agent.as_ref().map(|a| a.since.secs_until(wall))
    }

    /// May the agent go ready now? (Not from wrap-up: the wrap-up form does that.)
    pub fn can_ready(&self) -> bool {
        self.connected()
            && self
                .agent
                .as_ref()
                .is_some_and(|a| a.state == AgentState::NotReady)
    }

    /// May the agent go (or change reason while) not ready?
    pub fn can_not_ready(&self) -> bool {
        self.connected()
            && self
                .agent
                .as_ref()
                .is_some_and(|a| matches!(a.state, AgentState::Ready | AgentState::NotReady))
    }

    /// May the agent log out? Not with a live call or an unfinished wrap-up.
    pub fn can_logout(&self) -> bool {
        self.session.is_some() && self.calls.is_empty() && self.wrap_up.is_none()
    }

    /// Is the CTI connection up?
    pub fn connected(&self) -> bool {
        self.connection == ConnState::Connected
    }

    /// The call controls valid for `call` now.
    pub fn actions(&self, call: &CallId) -> CallActions {
        let Some(info) = self.call(call) else {
            return CallActions::default();
        };
        if !self.connected() {
            return CallActions::default();
        }
        let consult_leg = self
            .calls
            .iter()
            .find(|c| c.consult_of.as_ref() == Some(call));
        let paying = matches!(
            self.payments.get(call),
            Some(
                PaymentStage::Started | PaymentStage::Collecting { .. } | PaymentStage::Processing
            )
        );
        let customer_call = matches!(
            info.direction,
            CallDirection::Inbound | CallDirection::Outbound
        );
        let mut a = CallActions {
            hangup: true,
            ..CallActions::default()
        };
        match info.state {
            CallState::Ringing => {
                a.answer = matches!(
                    info.direction,
                    CallDirection::Inbound | CallDirection::Internal
                ) && self.agent.as_ref().is_some_and(|s| {
                    s.state == AgentState::Ringing || s.state == AgentState::Ready
                });
            }
            CallState::Dialing | CallState::Ended => {}
            CallState::Connected => {
                a.hold = !paying;
                a.mute = !info.muted;
                a.unmute = info.muted;
                a.dtmf = !paying;
                a.transfer = !paying && info.direction != CallDirection::Consult;
                a.consult =
                    !paying && consult_leg.is_none() && info.direction != CallDirection::Consult;
                a.payment = !paying && customer_call && consult_leg.is_none() && !info.conference;
            }
            CallState::Held => {
                a.resume = consult_leg.is_none();
                a.transfer = consult_leg.is_none();
                a.complete_transfer = consult_leg.is_some();
                a.cancel_consult = consult_leg.is_some();
                a.conference = consult_leg.is_some_and(|c| c.state == CallState::Connected);
            }
        }
        a
    }

    fn clear_session(&mut self) {
        self.session = None;
        self.agent = None;
        self.calls.clear();
        self.pops.clear();
        self.focus = None;
        self.wrap_up = None;
        self.payments.clear();
        self.wallboard = None;
        self.links.clear();
        self.wallboard_subscribed = false;
        self.help_requests.clear();
        self.monitoring.clear();
        self.opened = None;
        self.ticket_history = None;
        self.search = CustomerSearch::default();
        self.reports = ReportsState::default();
    }

    /// Keeps the focus on something that still exists: the wrap-up call, a ringing call, the
    /// newest live customer call.
    fn refocus(&mut self) {
        let valid = |id: &CallId, s: &DeskState| {
            s.calls.iter().any(|c| &c.call == id)
                || s.wrap_up.as_ref().is_some_and(|w| &w.call == id)
        };
        if self.focus.as_ref().is_some_and(|f| valid(f, self)) {
            return;
        }
        self.focus = self.wrap_up.as_ref().map(|w| w.call.clone()).or_else(|| {
            self.calls
                .iter()
                .rev()
                .find(|c| c.direction != CallDirection::Consult)
                .map(|c| c.call.clone())
        });
    }
}

/// The notification for a refused command.
fn reply_error_text(kind: &str, err: &ErrorBody) -> String {
    let what = kind.replace('_', " ");
    match err.code {
        ErrorCode::RateLimited => format!(
            "{what} was not done: too many requests in a short time. Wait a moment and try again."
        ),
        _ => format!("{what} failed: {}", err.message),
    }
}

fn login_error_text(err: &ErrorBody) -> String {
    match err.code {
        ErrorCode::AuthFailed => "Wrong agent id or password".to_owned(),
        ErrorCode::LockedOut => "Too many failed logins: try again later".to_owned(),
        ErrorCode::RateLimited => {
            "Too many login attempts at once: wait a moment and try again".to_owned()
        }
        ErrorCode::UnsupportedVersion => {
            "This desktop is too old or too new for the switch".to_owned()
        }
        _ => format!("Login failed: {}", err.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command the switch refused for its rate is shown in words, not as a code.
    #[test]
    fn rate_limited_replies_and_logins_are_shown_in_words() {
        let mut s = DeskState::new();
        s.apply(
            ClientUpdate::Reply {
                kind: "request_help",
                call: None,
                result: Err(ErrorBody::new(
                    ErrorCode::RateLimited,
                    "too many help requests (at most 6 per minute); not done",
                )),
            },
            UnixMillis(1),
        );
        let n = s.notifications.last().expect("a notification");
        assert_eq!(n.level, Level::Error);
        assert_eq!(
            n.text,
            "request help was not done: too many requests in a short time. Wait a moment and try again."
        );
        s.apply(
            ClientUpdate::LoginFailed(ErrorBody::new(ErrorCode::RateLimited, "busy")),
            UnixMillis(2),
        );
        assert_eq!(
            s.login_error.as_deref(),
            Some("Too many login attempts at once: wait a moment and try again")
        );
    }
}
