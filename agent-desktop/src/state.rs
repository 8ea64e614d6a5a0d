//! The desktop's state, apart from any drawing (STYLE.md item 13).
//!
//! [`DeskState`] is a plain struct. The app feeds it every [`ClientUpdate`] from the CTI client
//! at the start of each frame (also for panels that are not visible), and the drawing code only
//! reads it. Everything here is deterministic: the wall-clock time is an argument.

use std::collections::HashMap;

use hotline_cti::{
    AgentProfile, AgentState, AgentStatus, CallDirection, CallId, CallInfo, CallState, Colleague,
    CustomerId, Disposition, EndReason, ErrorBody, ErrorCode, Event, LogoutReason, PaymentStage,
    Pii, PopContext, ReasonCode, Reply, Role, ScreenPop, UnixMillis, Wallboard,
};

use crate::client::{ClientUpdate, ConnState};
use crate::directory::{ArticleLine, CustomerHit, DirAnswer, TicketChangeLine, WorkLine};
use crate::fonts::FontStatus;
use crate::i18n::{Lang, Msg};
use crate::msg;
use crate::outbox::{OutboxStatus, RecordId, TicketEdit};
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

/// A wrap-up the agent has to complete, bound to its call.
#[derive(Debug, Clone, PartialEq)]
pub struct WrapUp {
    /// The call.
    pub call: CallId,
    /// When wrap-up began.
    pub since: UnixMillis,
    /// The configured limit.
    pub limit_secs: Option<u32>,
    /// Who the call was with (customer name or number), for the form's title.
    pub who: String,
    /// Who holds the agent in this wrap-up.
    pub hold: WrapHold,
}

/// Who holds the agent in a wrap-up, which decides what submitting sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapHold {
    /// The switch holds the agent in wrap-up for this call: submit sends the outcome
    /// (`wrap_up`) and ends the wrap-up (`end_wrap_up`).
    Switch,
    /// The switch has already ended it (its time limit, a newer call): the outcome is still
    /// taken, no `end_wrap_up` is sent.
    EndedBySwitch,
    /// A call the switch does not wrap up (an outbound call): the desktop opened the form so
    /// the outcome can be recorded; the agent's state is not touched.
    Desktop,
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
    /// The colleague at the other end of an internal call or a consultation.
    pub colleague: Option<Colleague>,
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

/// Where on the screen a message belongs: next to the control the agent used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The notification area at the bottom.
    General,
    /// The state bar (ready, not ready).
    State,
    /// Under the call controls.
    Calls,
    /// Under the Dial box.
    Dial,
    /// In the wrap-up form.
    WrapUp,
    /// Next to the help request.
    Help,
    /// On the wallboard (supervisor actions).
    Wallboard,
    /// On the Work tab (playing a voicemail, taking or closing a ticket).
    Work,
    /// Under the message box.
    Messages,
}

/// A message in the notification area (or next to a control, see [`Place`]).
#[derive(Debug, Clone)]
pub struct Notification {
    /// Unique within the run, for dismissing.
    pub id: u64,
    /// Level.
    pub level: Level,
    /// What to say, drawn in the agent's language (may name the caller: it is the agent's
    /// screen).
    pub msg: Msg,
    /// When it was last raised.
    pub at: UnixMillis,
    /// The call it is about: an offer goes once the call is answered or ends, an error once
    /// the call is over.
    pub call: Option<CallId>,
    /// Where it is shown.
    pub place: Place,
    /// How many times this kind was raised since it was last cleared (one line per kind).
    pub count: u32,
}

impl Notification {
    /// The text in `lang`, with the count when the kind was raised more than once.
    pub fn text(&self, lang: Lang) -> String {
        let text = self.msg.render(lang);
        if self.count > 1 {
            crate::t!(lang, "repeated", text = text, count = self.count)
        } else {
            text
        }
    }
}

/// How long a message without a condition stays (errors and warnings; info goes sooner).
pub const MESSAGE_TTL_MS: u64 = 60_000;
/// How long an information message stays.
pub const INFO_TTL_MS: u64 = 15_000;

/// Which call controls are valid for a call right now. Buttons and shortcuts use the same set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallActions {
    /// Answer a call ringing at the agent.
    pub answer: bool,
    /// Reject a call offered from a queue while it rings: it goes back to its queue and the
    /// agent becomes not ready (`rejected`).
    pub reject: bool,
    /// Hang up (while ringing this ends the caller's call too).
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

/// Why a call control is disabled (catalogue ids), for its tooltip; `None` where the reason
/// is plain from the call's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WhyDisabled {
    /// Answer: the phone cannot be answered from the desktop.
    pub answer: Option<&'static str>,
    /// Reject: no offered call is ringing (or the connection is down).
    pub reject: Option<&'static str>,
}

/// The customer search panel.
#[derive(Debug, Clone, Default)]
pub struct CustomerSearch {
    /// The last query sent.
    pub query: String,
    /// Its results.
    pub hits: Vec<CustomerHit>,
    /// Why it failed.
    pub error: Option<Msg>,
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

/// How often the Work tab reloads the worklist while it is shown.
pub const WORK_REFRESH_MS: u64 = 30_000;

/// Where loading the worklist stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum WorkLoad {
    /// Not asked in this session (or the agent changed something: ask again).
    #[default]
    NotLoaded,
    /// Asked at this time; the lines shown are the previous ones.
    Loading {
        /// When it was asked.
        asked: UnixMillis,
    },
    /// Loaded at this time.
    Loaded {
        /// When the answer arrived.
        at: UnixMillis,
    },
    /// The last load failed.
    Failed {
        /// When.
        at: UnixMillis,
        /// Why (the database's words).
        error: String,
    },
}

/// A change the agent made from the worklist, shown before a load confirms it.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEdit {
    /// The ticket.
    pub ticket: hotline_cti::TicketId,
    /// What she did.
    pub edit: TicketEdit,
    /// When.
    pub at: UnixMillis,
}

/// The agent's worklist (the Work tab): voicemails and tickets of her queues and her own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Worklist {
    /// The lines in the store's order (due first), with the agent's own changes applied.
    pub lines: Vec<WorkLine>,
    /// Where loading stands.
    pub load: WorkLoad,
    /// The agent's changes a load has not shown yet: kept over each new load until a load
    /// agrees, the database refuses the change, or a load asked after the outbox emptied
    /// disagrees (someone else changed the ticket since).
    pub edits: Vec<LocalEdit>,
    /// The load being waited for was asked with the outbox empty.
    asked_settled: bool,
}

impl Worklist {
    /// Should the Work tab ask for the list again at `wall`?
    pub fn due(&self, wall: UnixMillis) -> bool {
        let since = |t: UnixMillis| wall.0.saturating_sub(t.0) >= WORK_REFRESH_MS;
        match &self.load {
            WorkLoad::NotLoaded => true,
            // An answer that never came (a database that hangs) is asked again.
            WorkLoad::Loading { asked } => since(*asked),
            WorkLoad::Loaded { at } | WorkLoad::Failed { at, .. } => since(*at),
        }
    }

    /// A line by ticket.
    pub fn line(&self, ticket: &hotline_cti::TicketId) -> Option<&WorkLine> {
        self.lines.iter().find(|l| &l.ticket == ticket)
    }

    fn overlay(&mut self, me: &hotline_cti::AgentId) {
        for e in &self.edits {
            let Some(i) = self.lines.iter().position(|l| l.ticket == e.ticket) else {
                continue;
            };
            match e.edit {
                TicketEdit::Take => self.lines[i].assignee = Some(me.clone()),
                TicketEdit::Status { status } => self.lines[i].status = status,
            }
        }
    }
}

/// Does `lines` already show `e` (or no longer list its ticket)?
fn shows(lines: &[WorkLine], e: &LocalEdit, me: &hotline_cti::AgentId) -> bool {
    match lines.iter().find(|l| l.ticket == e.ticket) {
        None => true,
        Some(l) => match e.edit {
            TicketEdit::Take => l.assignee.as_ref() == Some(me),
            TicketEdit::Status { status } => l.status == status,
        },
    }
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
    /// Why the last login failed (or why the session ended).
    pub login_error: Option<Msg>,
    /// The language the desktop speaks (per agent, from the preferences).
    pub lang: Lang,
    /// Whether a CJK font could be loaded.
    pub fonts: FontStatus,
    /// When each live call began (first seen), so its timer does not restart at each change.
    pub call_started: HashMap<CallId, UnixMillis>,
    /// Customers the agent dialled from a record, by call (the name to show for the call).
    pub dialled: HashMap<CallId, Pii<String>>,
    /// Their ids, for the outcome of the call.
    pub dialled_customer: HashMap<CallId, CustomerId>,
    /// The customer (name, id) of the click-to-dial waiting for the switch's `dialing` answer.
    pub dial_pending: Option<(Pii<String>, Option<CustomerId>)>,
    /// The centre's numbering, for typed numbers.
    pub dial_plan: crate::numbers::DialPlan,
    /// The centre's time zone as an offset from UTC in milliseconds (reports' days and times).
    pub centre_offset_ms: i64,
    /// When the switch confirmed the agent's last help request (shown until a supervisor acts
    /// or the session ends).
    pub help_sent: Option<UnixMillis>,
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
    /// Wrap-ups to complete, oldest first (several when the switch sent the next call before
    /// the agent finished the form).
    pub wrap_ups: Vec<WrapUp>,
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
    /// The agent's worklist.
    pub worklist: Worklist,
    /// Knowledge-base suggestions by popped call (asked once per pop; an error text when the
    /// database could not answer).
    pub suggestions: HashMap<CallId, Result<Vec<ArticleLine>, String>>,
    /// Pops whose suggestions were asked for.
    pub suggestions_asked: std::collections::HashSet<CallId>,
    /// Messages from colleagues and supervisors, newest last (at most 50 kept).
    pub messages: Vec<ReceivedMessage>,
    /// Ids of messages shown (a message delivered again after a reconnect is not shown twice).
    pub messages_seen: std::collections::HashSet<String>,
    /// Messages shown and not yet confirmed to the switch (`ack_messages`).
    pub messages_to_ack: Vec<String>,
    /// A supervisor's messages to everyone, shown until the agent acknowledges them (only
    /// then confirmed to the switch, so a new login brings back what she has not seen).
    pub announcements: Vec<ReceivedMessage>,
}

/// A message another agent or a supervisor sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The switch's id (for `ack_messages`).
    pub id: String,
    /// Who sent it (display name).
    pub from: String,
    /// The text (personal data).
    pub text: Pii<String>,
    /// When it was sent.
    pub at: UnixMillis,
    /// Sent to everyone (an announcement).
    pub announcement: bool,
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
            lang: Lang::En,
            fonts: FontStatus::NotChecked,
            call_started: HashMap::new(),
            dialled: HashMap::new(),
            dialled_customer: HashMap::new(),
            dial_pending: None,
            dial_plan: crate::numbers::DialPlan::default(),
            centre_offset_ms: 0,
            help_sent: None,
            agent: None,
            calls: Vec::new(),
            pops: HashMap::new(),
            focus: None,
            history: Vec::new(),
            wrap_ups: Vec::new(),
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
            worklist: Worklist::default(),
            suggestions: HashMap::new(),
            suggestions_asked: std::collections::HashSet::new(),
            messages: Vec::new(),
            messages_seen: std::collections::HashSet::new(),
            messages_to_ack: Vec::new(),
            announcements: Vec::new(),
        }
    }

    /// Applies one update from the CTI client.
    pub fn apply(&mut self, update: ClientUpdate, wall: UnixMillis) {
        match update {
            ClientUpdate::Connection(state) => {
                if state == ConnState::Offline {
                    self.clear_session();
                }
                if state == ConnState::Connected {
                    // Whatever failed for want of a connection has passed.
                    self.notifications.retain(|n| n.msg.key != "cti-stopped");
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
                self.login_error = Some(login_error_msg(&err));
            }
            ClientUpdate::Reply { kind, call, result } => match result {
                Ok(Reply::Done) if kind == "request_help" => {
                    self.clear_place(Place::Help);
                    self.help_sent = Some(wall);
                }
                Ok(Reply::Done) if kind == "send_message" => {
                    self.clear_place(Place::Messages);
                    self.notify_at(
                        Place::Messages,
                        Level::Info,
                        msg!("message-sent"),
                        None,
                        wall,
                    );
                }
                Ok(Reply::Done) if kind == "reject" => {
                    // Said where the agent pressed Reject; the state bar shows the reason.
                    self.clear_refusals(kind);
                    self.notify_at(Place::Calls, Level::Info, msg!("reject-done"), None, wall);
                }
                Ok(Reply::Dialing { .. }) if kind == "play_recording" => {
                    self.clear_place(Place::Work);
                    self.notify_at(
                        Place::Work,
                        Level::Info,
                        msg!("work-play-ringing"),
                        None,
                        wall,
                    );
                }
                Ok(Reply::Dialing { call }) => {
                    self.clear_place(Place::Dial);
                    if let Some((name, customer)) = self.dial_pending.take() {
                        self.dialled.insert(call.clone(), name);
                        if let Some(id) = customer {
                            self.dialled_customer.insert(call.clone(), id);
                        }
                    }
                    self.focus = Some(call);
                }
                Ok(_) => self.clear_refusals(kind),
                Err(err) => {
                    if matches!(kind, "end_wrap_up" | "wrap_up")
                        && err.code == ErrorCode::InvalidState
                        && call.as_ref().is_none_or(|c| self.wrap_up_of(c).is_none())
                    {
                        // The switch already ended the wrap-up (its time limit) and stored the
                        // outcome we sent: nothing failed for the agent.
                        return;
                    }
                    self.notify_at(
                        place_of(kind),
                        Level::Error,
                        reply_error_msg(kind, &err),
                        call,
                        wall,
                    );
                }
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
                // Forms the switch no longer knows stay open (their outcome is still taken)
                // as long as we know whose they are.
                for w in &mut self.wrap_ups {
                    if wrap_call.as_ref() != Some(&w.call) {
                        w.hold = WrapHold::EndedBySwitch;
                    }
                }
                let pending: Vec<CallId> = self.wrap_ups.iter().map(|w| w.call.clone()).collect();
                self.pops.retain(|id, _| {
                    live.contains(id) || wrap_call.as_ref() == Some(id) || pending.contains(id)
                });
                if let Some(pop) = snap.screen_pop {
                    self.focus = Some(pop.call.clone());
                    self.pops.insert(pop.call.clone(), pop);
                }
                if let Some(w) = snap.wrap_up {
                    self.start_wrap_up(w.call, w.since, w.limit_secs, WrapHold::Switch);
                }
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
                    if !matches!(status.state, AgentState::WrapUp) {
                        // The switch moved the agent on: any open wrap-up has ended there.
                        for w in &mut self.wrap_ups {
                            if status.since >= w.since {
                                w.hold = WrapHold::EndedBySwitch;
                            }
                        }
                    }
                    if self.agent.as_ref().is_some_and(|a| a.state != status.state) {
                        // What was refused in the old state has passed.
                        self.clear_place(Place::State);
                    }
                    self.agent = Some(status);
                }
            }
            Event::CallOffered(pop) => {
                let pop = *pop;
                let caller = pop
                    .customer
                    .as_ref()
                    .map_or_else(|| pop.ani.expose().clone(), |c| c.name.expose().clone());
                let (level, offer) = match (&pop.context, &pop.customer) {
                    (Some(PopContext::Consult { by }), _) => (
                        Level::Offer,
                        msg!(
                            "offer-consult",
                            who = self.colleague_label(by),
                            caller = caller
                        ),
                    ),
                    (Some(PopContext::TakeOver { from }), _) => (
                        Level::Info,
                        msg!(
                            "took-over",
                            who = self.colleague_label(from),
                            caller = caller
                        ),
                    ),
                    (None, Some(c)) => (
                        Level::Offer,
                        msg!(
                            "offer-from",
                            who = c.name.expose(),
                            queue = pop.queue_name.as_str()
                        ),
                    ),
                    (None, None) => (
                        Level::Offer,
                        msg!(
                            "offer-unknown",
                            number = pop.ani.expose(),
                            queue = pop.queue_name.as_str()
                        ),
                    ),
                };
                self.notify_at(Place::General, level, offer, Some(pop.call.clone()), wall);
                self.call_started
                    .entry(pop.call.clone())
                    .or_insert(pop.offered_at);
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
                        colleague: None,
                        end_reason: None,
                        since: pop.offered_at,
                    });
                }
                // Forget pops of calls that ended without a wrap-up (missed calls).
                let pending: Vec<CallId> = self.wrap_ups.iter().map(|w| w.call.clone()).collect();
                let live: Vec<CallId> = self.calls.iter().map(|c| c.call.clone()).collect();
                self.pops
                    .retain(|id, _| live.contains(id) || pending.contains(id));
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
                        self.notify(Level::Warning, msg!("missed-call", who = who), wall);
                    }
                    // A call the agent placed (or a consultation) that never connected: say why,
                    // where the agent placed it.
                    let placed = self.calls.iter().find(|c| {
                        c.call == info.call
                            && matches!(c.state, CallState::Dialing | CallState::Ringing)
                            && c.direction != CallDirection::Inbound
                    });
                    if let Some(placed) = placed {
                        let who = self.peer_name(&info.call, &info.peer);
                        let secs = self
                            .call_started
                            .get(&info.call)
                            .map_or(0, |t| t.secs_until(info.since));
                        let m = match info.end_reason {
                            Some(EndReason::Rejected) => Some(msg!("far-busy", who = who)),
                            Some(EndReason::NotAnswered) => {
                                Some(msg!("far-no-answer", who = who, secs = secs))
                            }
                            Some(EndReason::Failed) => Some(msg!("far-unreachable", who = who)),
                            Some(EndReason::RemoteHangup) => Some(msg!("far-declined", who = who)),
                            _ => None,
                        };
                        let place = if placed.direction == CallDirection::Consult {
                            Place::Calls
                        } else {
                            Place::Dial
                        };
                        if let Some(m) = m {
                            self.notify_at(place, Level::Warning, m, None, wall);
                        }
                    }
                    // An outbound customer call that was talked on: the switch has no wrap-up for
                    // it, so the desktop opens the form to record the outcome.
                    let talked_outbound = self.calls.iter().any(|c| {
                        c.call == info.call
                            && c.direction == CallDirection::Outbound
                            && matches!(c.state, CallState::Connected | CallState::Held)
                    });
                    self.calls.retain(|c| c.call != info.call);
                    self.call_started.remove(&info.call);
                    self.payments.remove(&info.call);
                    let customer = self
                        .pops
                        .get(&info.call)
                        .and_then(|p| p.customer.as_ref())
                        .map(|c| c.name.clone())
                        .or_else(|| self.dialled.get(&info.call).cloned());
                    if info.end_reason == Some(EndReason::NotAnswered)
                        && info.direction == CallDirection::Inbound
                    {
                        self.pops.remove(&info.call);
                        self.notify(Level::Warning, msg!("not-answered-in-time"), wall);
                    }
                    if info.end_reason == Some(EndReason::Rejected)
                        && info.direction == CallDirection::Inbound
                    {
                        // A rejected offer went back to its queue: no wrap-up, no pop.
                        self.pops.remove(&info.call);
                    }
                    let (ended_call, ended_at) = (info.call.clone(), info.since);
                    self.history.insert(
                        0,
                        HistoryEntry {
                            call: info.call,
                            direction: info.direction,
                            peer: info.peer,
                            customer,
                            colleague: info.colleague,
                            ended: info.since,
                            end_reason: info.end_reason,
                            disposition: None,
                        },
                    );
                    self.history.truncate(MAX_HISTORY);
                    if talked_outbound && self.wrap_up_of(&ended_call).is_none() {
                        self.start_wrap_up(ended_call.clone(), ended_at, None, WrapHold::Desktop);
                        let busy = self
                            .focus
                            .as_ref()
                            .is_some_and(|f| f != &ended_call && self.call(f).is_some());
                        if !busy {
                            self.focus = Some(ended_call);
                        }
                    }
                } else {
                    self.call_started
                        .entry(info.call.clone())
                        .or_insert(info.since);
                    if let Some(existing) = self.calls.iter_mut().find(|c| c.call == info.call) {
                        *existing = info;
                    } else {
                        self.calls.push(info);
                    }
                }
                self.refocus();
            }
            Event::WrapUpStarted {
                call,
                since,
                limit_secs,
            } => {
                // The new wrap-up gets the screen unless another call is ringing or live.
                let busy = self
                    .focus
                    .as_ref()
                    .is_some_and(|f| f != &call && self.call(f).is_some());
                if !busy {
                    self.focus = Some(call.clone());
                }
                self.start_wrap_up(call, since, limit_secs, WrapHold::Switch);
            }
            Event::PaymentProgress { call, stage } => {
                match &stage {
                    PaymentStage::Approved { .. } => {
                        self.notify(Level::Info, msg!("payment-approved-note"), wall);
                    }
                    PaymentStage::Declined { reason } => {
                        self.notify(
                            Level::Warning,
                            msg!("payment-declined", reason = reason.as_str()),
                            wall,
                        );
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
                    msg!(
                        "help-asked",
                        agent = agent.as_str(),
                        message = message.as_str()
                    ),
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
            Event::MessageReceived {
                id,
                from_name,
                to,
                text,
                at,
                ..
            } => {
                let announcement = matches!(to, hotline_cti::MessageTarget::Everyone);
                let m = ReceivedMessage {
                    id: id.clone(),
                    from: from_name,
                    text,
                    at,
                    announcement,
                };
                if announcement {
                    // Shown until acknowledged; confirmed to the switch then.
                    if !self.announcements.iter().any(|a| a.id == id) {
                        self.announcements.push(m.clone());
                    }
                    if self.messages_seen.insert(id) {
                        self.messages.push(m);
                    }
                } else {
                    if self.messages_seen.insert(id.clone()) {
                        self.notify(
                            Level::Info,
                            msg!(
                                "message-from",
                                name = m.from.as_str(),
                                text = m.text.expose().as_str()
                            ),
                            wall,
                        );
                        self.messages.push(m);
                    }
                    // Confirmed again even when already shown: the switch may not have had it.
                    self.messages_to_ack.push(id);
                }
                if self.messages.len() > 50 {
                    self.messages.remove(0);
                }
            }
            Event::SkillsChanged { agent, skills } => {
                if let Some(session) = self.session.as_mut().filter(|s| s.profile.agent == agent) {
                    session.profile.skills = skills;
                    self.notify(Level::Info, msg!("skills-updated"), wall);
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
            Event::Error {
                code,
                message,
                call,
            } => {
                let place = if call.is_some() {
                    Place::Calls
                } else {
                    Place::General
                };
                self.notify_at(
                    place,
                    Level::Error,
                    event_error_msg(code, message),
                    call,
                    wall,
                );
            }
            Event::LoggedOut {
                reason: LogoutReason::Shutdown,
            } => {
                // The client reconnects and logs in again by itself; keep the screen.
                self.notify(Level::Warning, msg!("switch-restarting"), wall);
            }
            Event::LoggedOut { reason } => {
                let text = match reason {
                    LogoutReason::Requested => msg!("logged-out"),
                    LogoutReason::Forced { by } => msg!("logged-out-by", by = by.as_str()),
                    LogoutReason::Replaced => msg!("logged-out-replaced"),
                    LogoutReason::Shutdown => msg!("switch-shutting-down"),
                };
                self.clear_session();
                self.login_error = Some(text);
            }
            _ => {}
        }
    }

    fn start_wrap_up(
        &mut self,
        call: CallId,
        since: UnixMillis,
        limit_secs: Option<u32>,
        hold: WrapHold,
    ) {
        let who = self
            .pops
            .get(&call)
            .and_then(|p| p.customer.as_ref())
            .map(|c| c.name.expose().clone())
            .or_else(|| self.dialled.get(&call).map(|n| n.expose().clone()))
            .or_else(|| self.pops.get(&call).map(|p| p.ani.expose().clone()))
            .or_else(|| {
                self.history
                    .iter()
                    .find(|h| h.call == call)
                    .map(|h| h.peer.expose().clone())
            })
            .unwrap_or_default();
        match self.wrap_ups.iter_mut().find(|w| w.call == call) {
            Some(w) => {
                w.since = since;
                w.limit_secs = limit_secs;
                w.hold = WrapHold::Switch;
            }
            None => self.wrap_ups.push(WrapUp {
                call,
                since,
                limit_secs,
                who,
                hold,
            }),
        }
    }

    /// The open wrap-up of `call`.
    pub fn wrap_up_of(&self, call: &CallId) -> Option<&WrapUp> {
        self.wrap_ups.iter().find(|w| &w.call == call)
    }

    /// The wrap-up whose form is shown: the focused call's.
    pub fn focused_wrap_up(&self) -> Option<&WrapUp> {
        self.focus.as_ref().and_then(|f| self.wrap_up_of(f))
    }

    /// Records that the agent completed the wrap-up of `call` with `disposition`.
    pub fn finish_wrap_up(&mut self, call: &CallId, disposition: &Disposition) {
        self.wrap_ups.retain(|w| &w.call != call);
        self.clear_place(Place::WrapUp);
        if let Some(entry) = self.history.iter_mut().find(|h| &h.call == call) {
            entry.disposition = Some(disposition.clone());
        }
        self.pops.remove(call);
        self.links.remove(call);
        self.refocus();
    }

    /// Adds a notification to the notification area.
    pub fn notify(&mut self, level: Level, msg: Msg, at: UnixMillis) {
        self.notify_at(Place::General, level, msg, None, at);
    }

    /// Adds a message at `place`. A message of the same kind (id) already there is replaced
    /// and counted, so repeats make one line ("... (3 times)"); offers are never merged.
    pub fn notify_at(
        &mut self,
        place: Place,
        level: Level,
        msg: Msg,
        call: Option<CallId>,
        at: UnixMillis,
    ) {
        let mut count = 1;
        if level != Level::Offer
            && let Some(i) = self
                .notifications
                .iter()
                .position(|n| n.place == place && n.level == level && n.msg.key == msg.key)
        {
            count = self.notifications.remove(i).count.saturating_add(1);
        }
        let id = self.next_notification;
        self.next_notification += 1;
        self.notifications.push(Notification {
            id,
            level,
            msg,
            at,
            call,
            place,
            count,
        });
        if self.notifications.len() > MAX_NOTIFICATIONS {
            self.notifications.remove(0);
        }
    }

    /// The messages shown at `place`, newest first.
    pub fn messages_at(&self, place: Place) -> impl Iterator<Item = &Notification> {
        self.notifications
            .iter()
            .rev()
            .filter(move |n| n.place == place)
    }

    /// The command `kind` worked: an earlier failure of the same command has passed.
    fn clear_refusals(&mut self, kind: &str) {
        let place = place_of(kind);
        let action = action_key(kind);
        self.notifications.retain(|n| {
            !(n.place == place
                && n.level == Level::Error
                && n.msg
                    .args
                    .iter()
                    .any(|(k, v)| *k == "action" && *v == crate::i18n::Arg::Key(action)))
        });
    }

    /// Removes every message at `place`.
    pub fn clear_place(&mut self, place: Place) {
        self.notifications.retain(|n| n.place != place);
    }

    /// Drops messages whose condition has passed: errors about a call that is over (and
    /// wrapped up), and messages older than their time to live. Called every frame.
    pub fn expire(&mut self, wall: UnixMillis) {
        let live = |c: &CallId, s: &DeskState| {
            s.calls.iter().any(|x| &x.call == c) || s.wrap_up_of(c).is_some()
        };
        let keep: Vec<bool> = self
            .notifications
            .iter()
            .map(|n| {
                let ttl = match n.level {
                    Level::Offer => return true,
                    Level::Info => INFO_TTL_MS,
                    Level::Warning | Level::Error => MESSAGE_TTL_MS,
                };
                let call_over =
                    n.level == Level::Error && n.call.as_ref().is_some_and(|c| !live(c, self));
                !call_over && wall.0 < n.at.0.saturating_add(ttl)
            })
            .collect();
        let mut it = keep.into_iter();
        self.notifications.retain(|_| it.next().unwrap_or(true));
    }

    /// Removes a notification.
    pub fn dismiss(&mut self, id: u64) {
        self.notifications.retain(|n| n.id != id);
    }

    /// Applies the outbox's news.
    pub fn apply_outbox(&mut self, status: OutboxStatus, wall: UnixMillis) {
        for (record, reason) in &status.newly_rejected {
            match record {
                RecordId::Outcome(call) => self.notify(
                    Level::Error,
                    msg!(
                        "outcome-refused",
                        call = call.as_str(),
                        reason = reason.as_str()
                    ),
                    wall,
                ),
                RecordId::Ticket(ticket) => {
                    // The change will not happen: show the ticket as the database has it.
                    self.worklist.edits.retain(|e| &e.ticket != ticket);
                    self.worklist.load = WorkLoad::NotLoaded;
                    self.notify_at(
                        Place::Work,
                        Level::Error,
                        msg!(
                            "work-change-refused",
                            ticket = ticket.as_str(),
                            reason = reason.as_str()
                        ),
                        None,
                        wall,
                    );
                }
            }
        }
        self.outbox = status;
    }

    /// The worklist was asked for at `wall`.
    pub fn worklist_asked(&mut self, wall: UnixMillis) {
        self.worklist.load = WorkLoad::Loading { asked: wall };
        self.worklist.asked_settled = self.outbox.pending == 0;
    }

    /// The agent changed a ticket from the worklist: show it at once, and load again.
    pub fn worklist_edited(
        &mut self,
        ticket: hotline_cti::TicketId,
        edit: TicketEdit,
        wall: UnixMillis,
    ) {
        self.clear_place(Place::Work);
        self.worklist
            .edits
            .retain(|e| e.ticket != ticket || e.edit != edit);
        self.worklist.edits.push(LocalEdit {
            ticket,
            edit,
            at: wall,
        });
        if let Some(me) = self.session.as_ref().map(|s| s.profile.agent.clone()) {
            self.worklist.overlay(&me);
        }
        self.worklist.load = WorkLoad::NotLoaded;
    }

    /// The agent acknowledged an announcement: it leaves the banner and is confirmed to the
    /// switch.
    pub fn acknowledge_announcement(&mut self, id: &str) {
        if let Some(i) = self.announcements.iter().position(|a| a.id == id) {
            self.announcements.remove(i);
            self.messages_to_ack.push(id.to_string());
        }
    }

    /// Pops whose knowledge-base suggestions are not asked for yet (each is asked once), with
    /// their queue; forgets the suggestions of pops that are gone.
    pub fn suggestions_to_ask(&mut self) -> Vec<(CallId, hotline_cti::QueueId)> {
        let pops = &self.pops;
        self.suggestions.retain(|c, _| pops.contains_key(c));
        self.suggestions_asked.retain(|c| pops.contains_key(c));
        let new: Vec<(CallId, hotline_cti::QueueId)> = self
            .pops
            .iter()
            .filter(|(c, p)| !self.suggestions_asked.contains(*c) && !p.queue.as_str().is_empty())
            .map(|(c, p)| (c.clone(), p.queue.clone()))
            .collect();
        for (c, _) in &new {
            self.suggestions_asked.insert(c.clone());
        }
        new
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
                        self.search.error = Some(msg!("search-failed", reason = e));
                    }
                }
            }
            DirAnswer::Customer { view, .. } => match view {
                Ok(Some(view)) => self.opened = Some(view),
                Ok(None) => self.notify(Level::Warning, msg!("customer-gone"), wall),
                Err(e) => self.notify(Level::Error, msg!("customer-load-failed", reason = e), wall),
            },
            DirAnswer::TicketHistory { id, changes } => self.ticket_history = Some((id, changes)),
            DirAnswer::Suggestions { call, articles } => {
                if self.pops.contains_key(&call) {
                    self.suggestions.insert(call, articles);
                }
            }
            DirAnswer::Worklist { agent, lines } => {
                let Some(me) = self.session.as_ref().map(|s| s.profile.agent.clone()) else {
                    return;
                };
                if agent != me {
                    return; // asked in an earlier session
                }
                match lines {
                    Ok(lines) => {
                        // With nothing waiting in the outbox when it was asked, the load is the
                        // truth about every change made before it was asked.
                        let settled_at = match self.worklist.load {
                            WorkLoad::Loading { asked } if self.worklist.asked_settled => {
                                Some(asked)
                            }
                            _ => None,
                        };
                        self.worklist.edits.retain(|e| {
                            !shows(&lines, e, &me) && settled_at.is_none_or(|a| e.at.0 >= a.0)
                        });
                        self.worklist.lines = lines;
                        self.worklist.overlay(&me);
                        self.worklist.load = WorkLoad::Loaded { at: wall };
                    }
                    Err(error) => self.worklist.load = WorkLoad::Failed { at: wall, error },
                }
            }
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
                        self.reports.report = Some(*r);
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

    /// The name to show for a call's far party: the pop's customer, the customer dialled from
    /// a record, the colleague on an internal call, or the number.
    pub fn peer_name(&self, call: &CallId, peer: &Pii<String>) -> String {
        self.pops
            .get(call)
            .and_then(|p| p.customer.as_ref())
            .map(|c| c.name.expose().clone())
            .or_else(|| self.dialled.get(call).map(|n| n.expose().clone()))
            .or_else(|| {
                self.call(call)
                    .and_then(|c| c.colleague.as_ref())
                    .map(|c| self.colleague_label(c))
            })
            .unwrap_or_else(|| peer.expose().clone())
    }

    /// A colleague as the desktop names them: display name and extension.
    pub fn colleague_label(&self, c: &Colleague) -> String {
        match &c.extension {
            Some(ext) => crate::i18n::format(
                self.lang,
                "colleague",
                &[
                    ("name", c.name.as_str().into()),
                    ("extension", ext.as_str().into()),
                ],
            ),
            None => c.name.clone(),
        }
    }

    /// When a live call began (first seen), for its timer.
    pub fn call_start(&self, call: &CallInfo) -> UnixMillis {
        self.call_started
            .get(&call.call)
            .copied()
            .unwrap_or(call.since)
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
            .or_else(|| self.dialled_customer.get(call).cloned())
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
        self.session.is_some() && self.calls.is_empty() && self.wrap_ups.is_empty()
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
                // Only a phone that can be answered remotely (the session says so) is answered
                // from the desktop; others ring on the desk and are picked up there.
                // The switch answers a queue's offer remotely; an internal call or a
                // colleague's consultation is picked up on the phone.
                a.answer = self.remote_answer()
                    && self.is_offer(info)
                    && self.agent.as_ref().is_some_and(|s| {
                        s.state == AgentState::Ringing || s.state == AgentState::Ready
                    });
                a.reject = self.is_offer(info);
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

    /// Can this session's phone be answered from the desktop (CTI `remote_answer`)?
    pub fn remote_answer(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.profile.remote_answer)
    }

    /// Is `info` a call offered to this agent from a queue (the switch routed it here, so
    /// `reject` can send it back)? Internal calls and calls the agent placed are not offers.
    fn is_offer(&self, info: &CallInfo) -> bool {
        let pop = self.pops.get(&info.call);
        info.state == CallState::Ringing
            && info.direction == CallDirection::Inbound
            && (info.queue.is_some() || pop.is_some())
            // A colleague's consultation is theirs to cancel, not a queue's to take back.
            && pop.is_none_or(|p| p.context.is_none())
    }

    /// Why controls of `call` are disabled, where the state alone does not say it.
    pub fn why_disabled(&self, call: &CallId) -> WhyDisabled {
        let info = self.call(call);
        let ringing = info.is_some_and(|c| {
            c.state == CallState::Ringing && c.direction != CallDirection::Outbound
        });
        let reject = match info {
            _ if !self.connected() => Some("why-offline"),
            Some(c) if self.is_offer(c) => None,
            Some(c) if c.state == CallState::Ringing => Some("why-reject-not-offered"),
            _ => Some("why-reject-not-ringing"),
        };
        let answer = match info {
            _ if !ringing => None,
            _ if !self.remote_answer() => Some("why-answer-desk-phone"),
            Some(c) if !self.is_offer(c) => Some("why-answer-not-offered"),
            _ => None,
        };
        WhyDisabled { answer, reject }
    }

    fn clear_session(&mut self) {
        self.session = None;
        self.agent = None;
        self.calls.clear();
        self.pops.clear();
        self.focus = None;
        self.wrap_ups.clear();
        self.payments.clear();
        self.call_started.clear();
        self.dialled.clear();
        self.dialled_customer.clear();
        self.dial_pending = None;
        self.help_sent = None;
        self.wallboard = None;
        self.links.clear();
        self.wallboard_subscribed = false;
        self.help_requests.clear();
        self.monitoring.clear();
        self.opened = None;
        self.ticket_history = None;
        self.search = CustomerSearch::default();
        self.reports = ReportsState::default();
        self.worklist = Worklist::default();
    }

    /// Keeps the focus on something that still exists: the wrap-up call, a ringing call, the
    /// newest live customer call.
    fn refocus(&mut self) {
        let valid = |id: &CallId, s: &DeskState| {
            s.calls.iter().any(|c| &c.call == id) || s.wrap_up_of(id).is_some()
        };
        if self.focus.as_ref().is_some_and(|f| valid(f, self)) {
            return;
        }
        self.focus = self.wrap_ups.first().map(|w| w.call.clone()).or_else(|| {
            self.calls
                .iter()
                .rev()
                .find(|c| c.direction != CallDirection::Consult)
                .map(|c| c.call.clone())
        });
    }
}

/// Where the answer to a command of `kind` is shown: next to the control that sent it.
pub fn place_of(kind: &str) -> Place {
    match kind {
        "ready" | "not_ready" | "logout" => Place::State,
        "answer" | "reject" | "hangup" | "hold" | "resume" | "mute" | "unmute" | "send_dtmf"
        | "blind_transfer" | "consult" | "complete_transfer" | "cancel_consult" | "conference"
        | "start_payment" => Place::Calls,
        "outbound_call" | "internal_call" => Place::Dial,
        "play_recording" => Place::Work,
        "send_message" | "ack_messages" => Place::Messages,
        "wrap_up" | "end_wrap_up" => Place::WrapUp,
        "request_help" => Place::Help,
        "monitor"
        | "stop_monitor"
        | "take_over"
        | "force_not_ready"
        | "force_logout"
        | "set_skills"
        | "subscribe_wallboard"
        | "unsubscribe_wallboard" => Place::Wallboard,
        _ => Place::General,
    }
}

/// The catalogue id of a command's name ("Consult", "Hold"), for messages about it.
pub fn action_key(kind: &str) -> &'static str {
    match kind {
        "ready" => "action-ready",
        "not_ready" => "action-not-ready",
        "logout" => "action-logout",
        "answer" => "action-answer",
        "reject" => "action-reject",
        "hangup" => "action-hangup",
        "hold" => "action-hold",
        "resume" => "action-resume",
        "mute" => "action-mute",
        "unmute" => "action-unmute",
        "send_dtmf" => "action-dtmf",
        "blind_transfer" => "action-transfer",
        "consult" => "action-consult",
        "complete_transfer" => "action-complete",
        "cancel_consult" => "action-cancel-consult",
        "conference" => "action-conference",
        "start_payment" => "action-payment",
        "outbound_call" => "action-outbound",
        "internal_call" => "action-internal",
        "wrap_up" => "action-wrap-up",
        "end_wrap_up" => "action-end-wrap-up",
        "request_help" => "action-help",
        "monitor" => "action-monitor",
        "stop_monitor" => "action-stop-monitor",
        "take_over" => "action-take-over",
        "force_not_ready" => "action-force-not-ready",
        "force_logout" => "action-force-logout",
        "set_skills" => "action-set-skills",
        "play_recording" => "action-play",
        "send_message" => "action-message",
        "ack_messages" => "action-ack-messages",
        _ => "action-other",
    }
}

/// The message for a refused command: what was not done and why, in words.
fn reply_error_msg(kind: &str, err: &ErrorBody) -> Msg {
    let action = action_key(kind);
    let key = match err.code {
        // What stopped a message from playing (no recording, not her queue, her phone) is in
        // the switch's words; the general phrases would hide it.
        ErrorCode::InvalidState
        | ErrorCode::UnknownTarget
        | ErrorCode::TargetUnavailable
        | ErrorCode::BadRequest
            if kind == "play_recording" =>
        {
            return Msg::new("refused-other")
                .arg("action", crate::i18n::Arg::Key(action))
                .arg("reason", err.message.as_str());
        }
        ErrorCode::RateLimited => "refused-rate",
        ErrorCode::TargetUnavailable => "refused-target-unavailable",
        ErrorCode::UnknownTarget => "refused-unknown-target",
        ErrorCode::InvalidState => "refused-invalid-state",
        ErrorCode::UnknownCall => "refused-unknown-call",
        ErrorCode::UnknownAgent => "refused-unknown-agent",
        ErrorCode::Forbidden => "refused-forbidden",
        ErrorCode::PaymentFailed => "refused-payment",
        ErrorCode::NotLoggedIn | ErrorCode::SessionUnknown => "refused-not-logged-in",
        ErrorCode::Internal => "refused-internal",
        _ => {
            return Msg::new("refused-other")
                .arg("action", crate::i18n::Arg::Key(action))
                .arg("reason", err.message.as_str());
        }
    };
    Msg::new(key).arg("action", crate::i18n::Arg::Key(action))
}

/// The message for an `error` event from the switch.
fn event_error_msg(code: ErrorCode, message: String) -> Msg {
    match code {
        ErrorCode::PaymentFailed => msg!("payment-failed", reason = message),
        ErrorCode::Internal => msg!("switch-internal-error"),
        _ => msg!("switch-error", reason = message),
    }
}

fn login_error_msg(err: &ErrorBody) -> Msg {
    match err.code {
        ErrorCode::AuthFailed => msg!("login-auth-failed"),
        ErrorCode::LockedOut => msg!("login-locked-out"),
        ErrorCode::RateLimited => msg!("login-rate-limited"),
        ErrorCode::UnsupportedVersion => msg!("login-version"),
        _ => msg!("login-failed", reason = err.message.as_str()),
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
        assert_eq!(n.place, Place::Help, "shown next to the help request");
        assert_eq!(
            n.text(Lang::En),
            "Ask for help was not done: too many requests in a short time. Wait a moment and try again."
        );
        s.apply(
            ClientUpdate::LoginFailed(ErrorBody::new(ErrorCode::RateLimited, "busy")),
            UnixMillis(2),
        );
        assert_eq!(
            s.login_error
                .as_ref()
                .map(|m| m.render(Lang::En))
                .as_deref(),
            Some("Too many login attempts at once: wait a moment and try again")
        );
    }
}
