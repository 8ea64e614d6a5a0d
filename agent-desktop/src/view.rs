//! Drawing. Reads [`DeskState`], edits only form buffers ([`Forms`]), and returns
//! [`UiCommand`]s that the app applies after the frame (STYLE.md item 13).

use egui::{Color32, Key, Modifiers, RichText, Ui};
use hotline_cti::{
    AfterWrapUp, AgentState, CallDirection, CallId, CallState, Command, DtmfDigits, Money,
    PaymentField, PaymentStage, Pii, ReasonCode, TicketDraft, TicketId, TicketPriority,
    TicketStatus, TransferTarget, UnixMillis,
};

use crate::client::ConnState;
use crate::clock::format_duration;
use crate::directory::{WorkKind, WorkLine};
use crate::i18n::{Lang, span};
use crate::outbox::TicketEdit;
use crate::quality::{self, Grade};
use crate::reports::{DayCall, Report, ReportQuery, format_day, parse_day};
use crate::state::Place;
use crate::state::{CallActions, DeskState, Level, WorkLoad};
use crate::t;
use hotline_store::reports::{KpiGroup, KpiRow};

/// What the agent asked for during a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    /// The agent acknowledged a supervisor's announcement.
    AcknowledgeAnnouncement(String),
    /// Connect and log in.
    Login {
        /// Switch URL.
        url: String,
        /// Agent id.
        agent: String,
        /// Password.
        password: hotline_cti::Secret,
        /// Extension for today (empty: the agent's own).
        extension: String,
    },
    /// Log out.
    Logout,
    /// Speak this language (saved for the agent).
    SetLanguage(Lang),
    /// Place a call (click-to-dial or the Dial box); the customer's name, when dialled from a
    /// record, names the call until it ends.
    Dial {
        /// `outbound_call` or `internal_call`.
        command: Command,
        /// The customer dialled, if from a record.
        customer_name: Option<Pii<String>>,
    },
    /// Send a CTI command as is.
    Cti(Command),
    /// Complete wrap-up: write the outcome (outbox) and tell the switch.
    SubmitWrapUp(WrapUpSubmission),
    /// Remove a notification.
    Dismiss(u64),
    /// Show this call's pop and customer.
    Focus(CallId),
    /// Search customers.
    Search(String),
    /// Open a customer's record.
    OpenCustomer(hotline_cti::CustomerId),
    /// Close the opened record.
    CloseCustomer,
    /// Load a ticket's history.
    ShowTicketHistory(TicketId),
    /// Load the agent's worklist.
    LoadWorklist,
    /// Take or close a ticket of the worklist (written as the agent).
    EditWork {
        /// The ticket.
        ticket: TicketId,
        /// What to do.
        edit: TicketEdit,
    },
    /// Supervisors: load a KPI report (answered off the UI thread).
    LoadReport(crate::reports::ReportQuery),
    /// Supervisors: write the loaded report's rows of `group` as CSV to `path`.
    ExportCsv {
        /// The file.
        path: std::path::PathBuf,
        /// Queue rows or agent rows.
        group: KpiGroup,
    },
    /// Supervisors: forget a help request.
    DismissHelp(hotline_cti::AgentId),
    /// Link an unknown caller's number to an existing customer (written with the outcome).
    LinkCaller {
        /// The call.
        call: CallId,
        /// The customer.
        customer: hotline_cti::CustomerId,
        /// The customer's name, for the confirmation.
        name: Pii<String>,
    },
}

/// The wrap-up form's content.
#[derive(Debug, Clone, PartialEq)]
pub struct WrapUpSubmission {
    /// The call.
    pub call: CallId,
    /// The disposition (required).
    pub disposition: hotline_cti::Disposition,
    /// Notes.
    pub notes: Pii<String>,
    /// A ticket to create or update.
    pub ticket: Option<TicketDraft>,
    /// For an unknown caller: create a customer with this name and link the number.
    pub new_customer: Option<Pii<String>>,
    /// State after wrap-up.
    pub then: AfterWrapUp,
}

/// Transfer and consult target kinds in the picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetKind {
    /// Another agent.
    #[default]
    Agent,
    /// A queue.
    Queue,
    /// An outside number.
    External,
}

/// What the central area shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// The agent's own calls: pop, record, wrap-up.
    #[default]
    Calls,
    /// The agent's worklist: voicemails and tickets of her queues and her own.
    Work,
    /// Supervisors: the wallboard, agents and help requests.
    Wallboard,
    /// Supervisors: KPI reports per interval, queue and agent.
    Reports,
}

/// The table under a loaded report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportTable {
    /// KPI rows per interval and queue.
    #[default]
    Queues,
    /// KPI rows per interval and agent.
    Agents,
    /// The day's calls; a click shows a call's detail with its per leg quality.
    Calls,
}

impl ReportTable {
    /// The KPI rows the table shows (and *Export CSV* writes); `None` for the call list.
    pub fn group(self) -> Option<KpiGroup> {
        match self {
            ReportTable::Queues => Some(KpiGroup::Queue),
            ReportTable::Agents => Some(KpiGroup::Agent),
            ReportTable::Calls => None,
        }
    }
}

/// Ticket choice in the wrap-up form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TicketChoice {
    /// No ticket.
    #[default]
    None,
    /// Create one.
    New,
    /// Update an open ticket.
    Update(TicketId),
}

/// The wrap-up form buffers.
#[derive(Debug, Clone, Default)]
pub struct WrapForm {
    /// The call the buffers belong to (reset when it changes).
    pub call: Option<CallId>,
    /// Chosen disposition.
    pub disposition: Option<hotline_cti::Disposition>,
    /// Notes.
    pub notes: String,
    /// Ticket choice.
    pub ticket: TicketChoice,
    /// Ticket subject.
    pub subject: String,
    /// Ticket body.
    pub body: String,
    /// Ticket status.
    pub status: Option<TicketStatus>,
    /// Ticket priority.
    pub priority: Option<TicketPriority>,
    /// New customer's name (unknown caller).
    pub new_customer: String,
    /// Stay not ready after wrap-up with this reason (`None`: ready).
    pub then_not_ready: Option<ReasonCode>,
}

/// Editable buffers of the forms. View state only: nothing here is the truth about calls.
#[derive(Debug, Clone)]
pub struct Forms {
    /// Switch URL on the login screen.
    pub url: String,
    /// Agent id on the login screen.
    pub agent: String,
    /// Password on the login screen.
    pub password: String,
    /// Extension on the login screen.
    pub extension: String,
    /// Selected not-ready reason.
    pub reason: Option<ReasonCode>,
    /// The agent-state change the reason picker last followed.
    pub reason_seen: Option<UnixMillis>,
    /// Transfer target kind.
    pub target_kind: TargetKind,
    /// Transfer target.
    pub target: String,
    /// DTMF to send.
    pub dtmf: String,
    /// Number to dial.
    pub dial: String,
    /// Payment amount (e.g. `49.99`).
    pub pay_amount: String,
    /// Payment reference.
    pub pay_reference: String,
    /// Help message.
    pub help: String,
    /// A message's recipient (an agent id; empty: the supervisors).
    pub message_to: String,
    /// A message's text.
    pub message: String,
    /// Customer search text.
    pub search: String,
    /// The central area's tab.
    pub tab: Tab,
    /// The tab drawn in the last frame (opening the Work tab loads the worklist).
    pub shown_tab: Tab,
    /// Supervisors: skills being edited, per agent (`billing:5, spanish:3`).
    pub skills: std::collections::HashMap<hotline_cti::AgentId, String>,
    /// Wrap-up form (of the focused wrap-up).
    pub wrap: WrapForm,
    /// Buffers of other open wrap-ups, by call.
    pub parked: std::collections::HashMap<CallId, WrapForm>,
    /// Reports: the day (`YYYY-MM-DD`, UTC); filled with today at first sight.
    pub report_day: String,
    /// Reports: interval length in minutes (15, 30 or 60).
    pub report_interval: u32,
    /// Reports: thresholds and the vendor-dependent choices (the interval is `report_interval`).
    pub report_settings: hotline_store::reports::KpiSettings,
    /// Reports: the table shown (and exported, for KPI rows).
    pub report_table: ReportTable,
    /// Reports: the call whose detail is open in the call list.
    pub report_call: Option<String>,
    /// Reports: the CSV file to write.
    pub report_csv: String,
}

impl Forms {
    /// Empty forms with a default switch URL.
    pub fn new(url: &str) -> Self {
        Forms {
            url: url.to_owned(),
            agent: String::new(),
            password: String::new(),
            extension: String::new(),
            reason: None,
            reason_seen: None,
            target_kind: TargetKind::Agent,
            target: String::new(),
            dtmf: String::new(),
            dial: String::new(),
            pay_amount: String::new(),
            pay_reference: String::new(),
            help: String::new(),
            message_to: String::new(),
            message: String::new(),
            search: String::new(),
            tab: Tab::Calls,
            shown_tab: Tab::Calls,
            skills: std::collections::HashMap::new(),
            wrap: WrapForm::default(),
            parked: std::collections::HashMap::new(),
            report_day: String::new(),
            report_interval: 30,
            report_settings: hotline_store::reports::KpiSettings::default(),
            report_table: ReportTable::Queues,
            report_call: None,
            report_csv: "kpi-report.csv".into(),
        }
    }
}

/// Keyboard shortcuts (also shown as button tooltips).
pub mod keys {
    use egui::Key;
    /// Go ready.
    pub const READY: Key = Key::F2;
    /// Go not ready with the selected reason.
    pub const NOT_READY: Key = Key::F3;
    /// Reject the call offered (ringing): back to its queue, the agent not ready.
    pub const REJECT: Key = Key::F4;
    /// Answer the ringing call.
    pub const ANSWER: Key = Key::F5;
    /// Hold or resume.
    pub const HOLD: Key = Key::F6;
    /// Mute or unmute.
    pub const MUTE: Key = Key::F7;
    /// Hang up.
    pub const HANGUP: Key = Key::F8;
    /// Blind transfer to the entered target.
    pub const TRANSFER: Key = Key::F9;
    /// Consult the entered target.
    pub const CONSULT: Key = Key::F10;
    /// Complete the consultative transfer.
    pub const COMPLETE: Key = Key::F11;
    /// Conference.
    pub const CONFERENCE: Key = Key::F12;
}

/// Draws the whole desktop for one frame.
pub fn draw(ui: &mut Ui, state: &DeskState, forms: &mut Forms, wall: UnixMillis) -> Vec<UiCommand> {
    let mut out = Vec::new();
    if state.session.is_none() {
        login_screen(ui, state, forms, &mut out);
        return out;
    }
    shortcuts(ui, state, forms, &mut out);
    egui::Panel::top("state_bar").show(ui, |ui| state_bar(ui, state, forms, wall, &mut out));
    if !state.announcements.is_empty() {
        egui::Panel::top("announcements").show(ui, |ui| announcements(ui, state, wall, &mut out));
    }
    egui::Panel::bottom("notifications").show(ui, |ui| notifications(ui, state, &mut out));
    egui::Panel::left("calls")
        .default_size(330.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("calls_scroll")
                .show(ui, |ui| calls_panel(ui, state, forms, wall, &mut out));
        });
    // A call ringing at a supervisor brings the pop to the front.
    if state
        .calls
        .iter()
        .any(|c| c.state == CallState::Ringing && c.direction == CallDirection::Inbound)
    {
        forms.tab = Tab::Calls;
    }
    let opened = forms.tab != forms.shown_tab;
    forms.shown_tab = forms.tab;
    if forms.tab == Tab::Work {
        if opened || state.worklist.due(wall) {
            out.push(UiCommand::LoadWorklist);
        }
        customers_side(ui, state, forms, wall, &mut out);
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::both()
                .id_salt("work_scroll")
                .show(ui, |ui| worklist(ui, state, wall, &mut out));
        });
        return out;
    }
    if forms.tab == Tab::Wallboard && state.is_supervisor() {
        if !state.wallboard_subscribed && state.connected() {
            out.push(UiCommand::Cti(Command::SubscribeWallboard {
                queues: Vec::new(),
            }));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            wallboard(ui, state, forms, wall, &mut out);
        });
        return out;
    }
    if forms.tab == Tab::Reports && state.is_supervisor() {
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::both()
                .id_salt("reports_scroll")
                .show(ui, |ui| reports(ui, state, forms, wall, &mut out));
        });
        return out;
    }
    customers_side(ui, state, forms, wall, &mut out);
    egui::CentralPanel::default().show(ui, |ui| {
        egui::ScrollArea::vertical()
            .id_salt("pop_scroll")
            .show(ui, |ui| {
                if state.focused_wrap_up().is_some() {
                    wrap_up_form(ui, state, forms, wall, &mut out);
                    ui.separator();
                }
                screen_pop(ui, state, wall, &mut out);
            });
    });
    out
}

/// Customer search and the opened record, on the right.
fn customers_side(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    egui::Panel::right("customers")
        .default_size(360.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("customers_scroll")
                .show(ui, |ui| customers_panel(ui, state, forms, wall, out));
        });
}

/// The language switch: each shipped language under its own name.
fn language_switch(ui: &mut Ui, state: &DeskState, out: &mut Vec<UiCommand>) {
    let l = state.lang;
    ui.label(t!(l, "language"));
    // A language's own name needs its script: without a CJK font it is named in ASCII.
    let script_ok = matches!(state.fonts, crate::fonts::FontStatus::Loaded { .. });
    for lang in Lang::ALL {
        let name = if script_ok || lang.native_name().is_ascii() {
            lang.native_name()
        } else {
            lang.ascii_name()
        };
        if ui.selectable_label(state.lang == lang, name).clicked() && lang != state.lang {
            out.push(UiCommand::SetLanguage(lang));
        }
    }
}

/// A warning in words when no CJK font could be loaded (names would show as boxes).
fn font_warning(ui: &mut Ui, state: &DeskState) {
    if let crate::fonts::FontStatus::Missing { .. } = state.fonts {
        ui.colored_label(Color32::ORANGE, t!(state.lang, "font-missing"));
    }
}

/// Messages raised at `place`, one line per kind with its count, drawn where the agent acted.
fn place_messages(ui: &mut Ui, state: &DeskState, place: Place) {
    for n in state.messages_at(place) {
        let color = match n.level {
            Level::Info => Color32::LIGHT_BLUE,
            Level::Offer => Color32::LIGHT_GREEN,
            Level::Warning => Color32::ORANGE,
            Level::Error => Color32::LIGHT_RED,
        };
        ui.add(egui::Label::new(RichText::new(n.text(state.lang)).color(color)).wrap());
    }
}

fn login_screen(ui: &mut Ui, state: &DeskState, forms: &mut Forms, out: &mut Vec<UiCommand>) {
    let l = state.lang;
    egui::CentralPanel::default().show(ui, |ui| {
        ui.horizontal(|ui| language_switch(ui, state, out));
        ui.heading(t!(l, "app-title"));
        font_warning(ui, state);
        ui.add_space(8.0);
        egui::Grid::new("login_grid").num_columns(2).show(ui, |ui| {
            let lb = ui.label(t!(l, "login-url"));
            ui.add(egui::TextEdit::singleline(&mut forms.url).hint_text("ws://host:8080/cti"))
                .labelled_by(lb.id);
            ui.end_row();
            let lb = ui.label(t!(l, "login-agent"));
            ui.add(
                egui::TextEdit::singleline(&mut forms.agent).hint_text(t!(l, "login-agent-hint")),
            )
            .labelled_by(lb.id);
            ui.end_row();
            let lb = ui.label(t!(l, "login-password"));
            ui.add(egui::TextEdit::singleline(&mut forms.password).password(true))
                .labelled_by(lb.id);
            ui.end_row();
            let lb = ui.label(t!(l, "login-extension"));
            ui.add(
                egui::TextEdit::singleline(&mut forms.extension)
                    .hint_text(t!(l, "login-extension-hint")),
            )
            .labelled_by(lb.id);
            ui.end_row();
        });
        let busy = matches!(state.connection, ConnState::Connecting);
        let ready = !forms.agent.trim().is_empty() && !forms.password.is_empty() && !busy;
        let submit = ui
            .add_enabled(ready, egui::Button::new(t!(l, "login-button")))
            .clicked()
            || (ready && ui.input(|i| i.key_pressed(Key::Enter)));
        if submit {
            out.push(UiCommand::Login {
                url: forms.url.trim().to_owned(),
                agent: forms.agent.trim().to_owned(),
                password: hotline_cti::Secret::new(std::mem::take(&mut forms.password)),
                extension: forms.extension.trim().to_owned(),
            });
        }
        connection_label(ui, l, &state.connection);
        if let Some(err) = &state.login_error {
            ui.colored_label(Color32::LIGHT_RED, err.render(l));
        }
    });
}

fn connection_label(ui: &mut Ui, l: Lang, conn: &ConnState) {
    let (color, text) = match conn {
        ConnState::Offline => (Color32::GRAY, t!(l, "conn-offline")),
        ConnState::Connecting => (Color32::YELLOW, t!(l, "conn-connecting")),
        ConnState::Connected => (Color32::LIGHT_GREEN, t!(l, "conn-connected")),
        ConnState::Reconnecting {
            attempt,
            retry_in,
            reason,
        } => (
            Color32::ORANGE,
            t!(
                l,
                "conn-reconnecting",
                attempt = *attempt,
                secs = u64::try_from(retry_in.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
                reason = reason.as_str()
            ),
        ),
    };
    ui.colored_label(color, text);
}

/// A not-ready reason in words: the switch's own reasons (an offer the agent rejected or did
/// not answer) are translated; the centre's reason codes are shown as configured.
pub fn reason_name(l: Lang, reason: &ReasonCode) -> String {
    match reason.as_str() {
        "rejected" => t!(l, "reason-rejected"),
        "missed" => t!(l, "reason-missed"),
        other => other.to_owned(),
    }
}

/// An agent state in words.
pub fn state_name(l: Lang, state: AgentState) -> String {
    match state {
        AgentState::LoggedOut => t!(l, "state-logged-out"),
        AgentState::NotReady => t!(l, "state-not-ready"),
        AgentState::Ready => t!(l, "state-ready"),
        AgentState::Ringing => t!(l, "state-ringing"),
        AgentState::OnCall => t!(l, "state-on-call"),
        AgentState::WrapUp => t!(l, "state-wrap-up"),
    }
}

fn state_bar(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.horizontal_wrapped(|ui| {
        if let Some(session) = &state.session {
            ui.label(
                RichText::new(format!(
                    "{} ({})",
                    session.profile.name, session.profile.agent
                ))
                .strong(),
            );
        }
        ui.separator();
        ui.selectable_value(&mut forms.tab, Tab::Calls, t!(l, "tab-calls"));
        ui.selectable_value(&mut forms.tab, Tab::Work, t!(l, "tab-work"));
        if state.is_supervisor() {
            ui.selectable_value(&mut forms.tab, Tab::Wallboard, t!(l, "tab-wallboard"));
            ui.selectable_value(&mut forms.tab, Tab::Reports, t!(l, "tab-reports"));
        }
        match &state.agent {
            Some(agent) => {
                let name = state_name(l, agent.state);
                let text = match &agent.reason {
                    Some(reason) => t!(
                        l,
                        "state-line-reason",
                        state = name,
                        reason = reason_name(l, reason)
                    ),
                    None => t!(l, "state-line", state = name),
                };
                ui.label(RichText::new(text).strong());
                ui.label(t!(
                    l,
                    "state-for",
                    time = format_duration(state.time_in_state(wall).unwrap_or(0))
                ));
                // The picker follows the state: after a change (also one made by a supervisor
                // or at another desk) it shows the reason actually in force.
                if forms.reason_seen != Some(agent.since) {
                    forms.reason_seen = Some(agent.since);
                    if let Some(reason) = &agent.reason {
                        forms.reason = Some(reason.clone());
                    }
                }
            }
            None => {
                ui.label(t!(l, "state-unknown"));
            }
        }
        ui.separator();
        let why_not_ready = ready_blocker(state);
        let r = ui
            .add_enabled(
                why_not_ready.is_none(),
                egui::Button::new(t!(l, "ready-button")),
            )
            .on_hover_text("F2");
        let r = match why_not_ready {
            Some(key) => r.on_disabled_hover_text(crate::i18n::format(l, key, &[])),
            None => r,
        };
        if r.clicked() {
            out.push(UiCommand::Cti(Command::Ready));
        }
        let reasons = state
            .session
            .as_ref()
            .map(|s| s.not_ready_reasons.clone())
            .unwrap_or_default();
        if forms.reason.is_none() {
            forms.reason = reasons.first().cloned();
        }
        egui::ComboBox::from_label(t!(l, "reason"))
            .selected_text(
                forms
                    .reason
                    .as_ref()
                    .map_or_else(String::new, |r| reason_name(l, r)),
            )
            .show_ui(ui, |ui| {
                for r in &reasons {
                    ui.selectable_value(&mut forms.reason, Some(r.clone()), r.as_str());
                }
            });
        let same_reason = state.agent.as_ref().is_some_and(|a| {
            a.state == AgentState::NotReady && a.reason.is_some() && a.reason == forms.reason
        });
        let can_nr = state.can_not_ready() && forms.reason.is_some() && !same_reason;
        let r = ui
            .add_enabled(can_nr, egui::Button::new(t!(l, "not-ready-button")))
            .on_hover_text("F3");
        let r = if same_reason {
            r.on_disabled_hover_text(t!(l, "why-same-reason"))
        } else if !state.can_not_ready() {
            r.on_disabled_hover_text(t!(l, "why-not-ready-busy"))
        } else {
            r
        };
        if r.clicked()
            && let Some(reason) = forms.reason.clone()
        {
            out.push(UiCommand::Cti(Command::NotReady { reason }));
        }
        place_messages(ui, state, Place::State);
        ui.separator();
        connection_label(ui, l, &state.connection);
        if state.outbox.pending > 0 {
            ui.colored_label(
                Color32::ORANGE,
                t!(l, "outbox-waiting", count = state.outbox.pending),
            )
            .on_hover_text(state.outbox.last_error.clone().unwrap_or_default());
        }
        font_warning(ui, state);
        ui.separator();
        language_switch(ui, state, out);
        ui.separator();
        let r = ui.add_enabled(state.can_logout(), egui::Button::new(t!(l, "logout")));
        let r = if state.can_logout() {
            r
        } else {
            r.on_disabled_hover_text(t!(l, "why-logout"))
        };
        if r.clicked() {
            out.push(UiCommand::Logout);
        }
    });
}

/// Why Ready is disabled now (a catalogue id), or `None` when it is enabled.
fn ready_blocker(state: &DeskState) -> Option<&'static str> {
    if state.can_ready() {
        return None;
    }
    Some(match state.agent.as_ref().map(|a| a.state) {
        _ if !state.connected() => "why-offline",
        Some(AgentState::Ready) => "why-already-ready",
        Some(AgentState::WrapUp) => "why-ready-wrap-up",
        _ => "why-ready-on-call",
    })
}

fn notifications(ui: &mut Ui, state: &DeskState, out: &mut Vec<UiCommand>) {
    let l = state.lang;
    let general: Vec<_> = state.messages_at(Place::General).take(4).collect();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(t!(l, "notifications")).strong());
        if general.is_empty() {
            ui.label(t!(l, "none"));
        }
    });
    for n in general {
        ui.horizontal(|ui| {
            let color = match n.level {
                Level::Info => Color32::LIGHT_BLUE,
                Level::Offer => Color32::LIGHT_GREEN,
                Level::Warning => Color32::ORANGE,
                Level::Error => Color32::LIGHT_RED,
            };
            ui.colored_label(color, n.text(l));
            if ui.small_button(t!(l, "dismiss")).clicked() {
                out.push(UiCommand::Dismiss(n.id));
            }
        });
    }
}

fn call_state_name(l: Lang, s: CallState) -> String {
    match s {
        CallState::Dialing => t!(l, "call-dialing"),
        CallState::Ringing => t!(l, "call-ringing"),
        CallState::Connected => t!(l, "call-connected"),
        CallState::Held => t!(l, "call-held"),
        CallState::Ended => t!(l, "call-ended"),
    }
}

fn direction_name(l: Lang, d: CallDirection) -> String {
    match d {
        CallDirection::Inbound => t!(l, "dir-in"),
        CallDirection::Outbound => t!(l, "dir-out"),
        CallDirection::Internal => t!(l, "dir-internal"),
        CallDirection::Consult => t!(l, "dir-consult"),
    }
}

/// How a call ended, in words.
pub fn end_reason_name(l: Lang, r: Option<hotline_cti::EndReason>) -> String {
    use hotline_cti::EndReason;
    match r {
        None => t!(l, "end-ended"),
        Some(EndReason::RemoteHangup) => t!(l, "end-remote-hangup"),
        Some(EndReason::AgentHangup) => t!(l, "end-agent-hangup"),
        Some(EndReason::Transferred) => t!(l, "end-transferred"),
        Some(EndReason::NotAnswered) => t!(l, "end-not-answered"),
        Some(EndReason::Rejected) => t!(l, "end-rejected"),
        Some(EndReason::Failed) => t!(l, "end-failed"),
        Some(EndReason::TakenOver) => t!(l, "end-taken-over"),
    }
}

/// The call the controls act on: the focused call if live, else the newest live call.
fn control_call(state: &DeskState) -> Option<CallId> {
    state
        .focus
        .as_ref()
        .filter(|f| state.call(f).is_some())
        .cloned()
        .or_else(|| {
            state
                .calls
                .iter()
                .rev()
                .find(|c| c.direction != CallDirection::Consult)
                .map(|c| c.call.clone())
        })
}

fn transfer_target(forms: &Forms, plan: &crate::numbers::DialPlan) -> Option<TransferTarget> {
    let t = forms.target.trim();
    if t.is_empty() {
        return None;
    }
    Some(match forms.target_kind {
        TargetKind::Agent => TransferTarget::Agent { agent: t.into() },
        TargetKind::Queue => TransferTarget::Queue { queue: t.into() },
        TargetKind::External => TransferTarget::External {
            number: Pii::new(crate::numbers::normalise(t, plan).unwrap_or_else(|| t.to_owned())),
        },
    })
}

fn calls_panel(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.heading(t!(l, "calls"));
    if state.calls.is_empty() {
        ui.label(t!(l, "no-calls"));
    }
    for c in &state.calls {
        let name = state.peer_name(&c.call, &c.peer);
        let mut text = t!(
            l,
            "call-line",
            direction = direction_name(l, c.direction),
            who = name,
            state = call_state_name(l, c.state),
            time = format_duration(state.call_start(c).secs_until(wall))
        );
        if c.muted {
            text.push_str(&t!(l, "call-muted-suffix"));
        }
        if c.conference {
            text.push_str(&t!(l, "call-conference-suffix"));
        }
        let selected = state.focus.as_ref() == Some(&c.call);
        if ui.selectable_label(selected, text).clicked() {
            out.push(UiCommand::Focus(c.call.clone()));
        }
        if let Some(stage) = state.payments.get(&c.call) {
            ui.label(payment_text(l, stage));
        }
    }
    // Wrap-ups still open while the agent is on another call: each stays with its caller.
    for w in &state.wrap_ups {
        if state.focus.as_ref() == Some(&w.call) {
            continue;
        }
        if ui
            .button(t!(
                l,
                "wrap-up-waiting",
                who = w.who.as_str(),
                call = w.call.as_str()
            ))
            .clicked()
        {
            out.push(UiCommand::Focus(w.call.clone()));
        }
    }
    ui.separator();
    if let Some(call) = control_call(state) {
        let a = state.actions(&call);
        call_controls(ui, state, &call, a, forms, out);
    }
    place_messages(ui, state, Place::Calls);
    ui.separator();
    ui.label(RichText::new(t!(l, "dial")).strong());
    let dial_blocker = dial_blocker(state);
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "dial-number"));
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut forms.dial)
                    .hint_text(t!(l, "dial-hint"))
                    .desired_width(150.0),
            )
            .labelled_by(lb.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
        let typed = crate::numbers::dial_string(&forms.dial);
        let can_dial = dial_blocker.is_none() && typed.is_some();
        let b = ui.add_enabled(can_dial, egui::Button::new(t!(l, "dial-call")));
        let b = match (dial_blocker, &typed) {
            (Some(key), _) => b.on_disabled_hover_text(crate::i18n::format(l, key, &[])),
            (None, None) => b.on_disabled_hover_text(t!(l, "why-dial-empty")),
            _ => b.on_hover_text(t!(l, "dial-how")),
        };
        if (b.clicked() || (enter && can_dial))
            && let Some(typed) = typed
        {
            let command = match typed {
                crate::numbers::DialString::Extension(ext) => Command::InternalCall {
                    to: hotline_cti::InternalTarget::Extension {
                        extension: ext.as_str().into(),
                    },
                },
                crate::numbers::DialString::Number(n) => Command::OutboundCall {
                    number: Pii::new(crate::numbers::normalise(&n, &state.dial_plan).unwrap_or(n)),
                    customer: None,
                },
            };
            out.push(UiCommand::Dial {
                command,
                customer_name: None,
            });
        }
    });
    place_messages(ui, state, Place::Dial);
    ui.separator();
    ui.label(RichText::new(t!(l, "help")).strong());
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "help-message"));
        ui.add(
            egui::TextEdit::singleline(&mut forms.help)
                .hint_text(t!(l, "help-hint"))
                .desired_width(150.0),
        )
        .labelled_by(lb.id);
        let b = ui.add_enabled(state.connected(), egui::Button::new(t!(l, "help-button")));
        let b = if state.connected() {
            b
        } else {
            b.on_disabled_hover_text(t!(l, "why-offline"))
        };
        if b.clicked() {
            out.push(UiCommand::Cti(Command::RequestHelp {
                call: control_call(state),
                message: std::mem::take(&mut forms.help),
            }));
        }
    });
    if let Some(at) = state.help_sent {
        ui.colored_label(
            Color32::LIGHT_GREEN,
            t!(l, "help-sent", time = format_duration(at.secs_until(wall))),
        );
    }
    place_messages(ui, state, Place::Help);
    ui.separator();
    colleague_messages(ui, state, forms, wall, out);
    ui.separator();
    ui.collapsing(t!(l, "history"), |ui| {
        if state.history.is_empty() {
            ui.label(t!(l, "history-empty"));
        }
        for h in &state.history {
            let who = match (&h.customer, &h.colleague) {
                (Some(n), _) => n.expose().clone(),
                (None, Some(c)) => state.colleague_label(c),
                (None, None) => h.peer.expose().clone(),
            };
            ui.label(t!(
                l,
                "history-line",
                direction = direction_name(l, h.direction),
                who = who,
                how = end_reason_name(l, h.end_reason),
                disposition = h
                    .disposition
                    .as_ref()
                    .map_or_else(|| t!(l, "not-wrapped-up"), |d| d.as_str().to_owned())
            ));
        }
    });
}

/// Why no call can be placed now (a catalogue id), or `None`.
fn dial_blocker(state: &DeskState) -> Option<&'static str> {
    if !state.connected() {
        return Some("why-offline");
    }
    match state.agent.as_ref().map(|a| a.state) {
        Some(AgentState::NotReady | AgentState::Ready) => None,
        Some(AgentState::WrapUp) => Some("why-dial-wrap-up"),
        _ => Some("why-dial-on-call"),
    }
}

fn call_controls(
    ui: &mut Ui,
    state: &DeskState,
    call: &CallId,
    a: CallActions,
    forms: &mut Forms,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    let call_cmd = |f: fn(CallId) -> Command| UiCommand::Cti(f(call.clone()));
    ui.label(RichText::new(t!(l, "controls")).strong());
    let why = state.why_disabled(call);
    ui.horizontal_wrapped(|ui| {
        let button = |ui: &mut Ui, enabled: bool, label: String, key: &str, why: Option<&str>| {
            let r = ui
                .add_enabled(enabled, egui::Button::new(label))
                .on_hover_text(key);
            match why {
                Some(why) if !enabled => {
                    r.on_disabled_hover_text(format!("{key}: {}", crate::i18n::format(l, why, &[])))
                }
                _ => r,
            }
            .clicked()
        };
        if button(ui, a.answer, t!(l, "answer"), "F5", why.answer) {
            out.push(call_cmd(|call| Command::Answer { call }));
        }
        if button(ui, a.reject, t!(l, "reject"), "F4", why.reject) {
            out.push(call_cmd(|call| Command::Reject { call }));
        }
        if button(ui, a.hold, t!(l, "hold"), "F6", None) {
            out.push(call_cmd(|call| Command::Hold { call }));
        }
        if button(ui, a.resume, t!(l, "resume"), "F6", None) {
            out.push(call_cmd(|call| Command::Resume { call }));
        }
        if button(ui, a.mute, t!(l, "mute"), "F7", None) {
            out.push(call_cmd(|call| Command::Mute { call }));
        }
        if button(ui, a.unmute, t!(l, "unmute"), "F7", None) {
            out.push(call_cmd(|call| Command::Unmute { call }));
        }
        if button(ui, a.hangup, t!(l, "hangup"), "F8", None) {
            out.push(call_cmd(|call| Command::Hangup { call }));
        }
    });
    if let Some(why) = why.answer
        && !a.answer
    {
        ui.label(RichText::new(crate::i18n::format(l, why, &[])).weak());
    }
    ui.horizontal(|ui| {
        ui.radio_value(
            &mut forms.target_kind,
            TargetKind::Agent,
            t!(l, "target-agent"),
        );
        ui.radio_value(
            &mut forms.target_kind,
            TargetKind::Queue,
            t!(l, "target-queue"),
        );
        ui.radio_value(
            &mut forms.target_kind,
            TargetKind::External,
            t!(l, "target-number"),
        );
    });
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "transfer-target"));
        ui.add(
            egui::TextEdit::singleline(&mut forms.target)
                .hint_text(t!(l, "transfer-target-hint"))
                .desired_width(160.0),
        )
        .labelled_by(lb.id);
    });
    let target = transfer_target(forms, &state.dial_plan);
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(
                a.transfer && target.is_some(),
                egui::Button::new(t!(l, "transfer")),
            )
            .on_hover_text("F9")
            .clicked()
            && let Some(to) = target.clone()
        {
            out.push(UiCommand::Cti(Command::BlindTransfer {
                call: call.clone(),
                to,
            }));
        }
        if ui
            .add_enabled(
                a.consult && target.is_some(),
                egui::Button::new(t!(l, "consult")),
            )
            .on_hover_text("F10")
            .clicked()
            && let Some(to) = target.clone()
        {
            out.push(UiCommand::Cti(Command::Consult {
                call: call.clone(),
                to,
            }));
        }
        if ui
            .add_enabled(
                a.complete_transfer,
                egui::Button::new(t!(l, "complete-transfer")),
            )
            .on_hover_text("F11")
            .clicked()
        {
            out.push(call_cmd(|call| Command::CompleteTransfer { call }));
        }
        if ui
            .add_enabled(a.cancel_consult, egui::Button::new(t!(l, "cancel-consult")))
            .clicked()
        {
            out.push(call_cmd(|call| Command::CancelConsult { call }));
        }
        if ui
            .add_enabled(a.conference, egui::Button::new(t!(l, "conference")))
            .on_hover_text("F12")
            .clicked()
        {
            out.push(call_cmd(|call| Command::Conference { call }));
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut forms.dtmf)
                .hint_text(t!(l, "dtmf-hint"))
                .desired_width(100.0),
        );
        let digits = DtmfDigits::new(forms.dtmf.trim()).ok();
        if ui
            .add_enabled(
                a.dtmf && digits.is_some(),
                egui::Button::new(t!(l, "dtmf-send")),
            )
            .clicked()
            && let Some(digits) = digits
        {
            forms.dtmf.clear();
            out.push(UiCommand::Cti(Command::SendDtmf {
                call: call.clone(),
                digits,
            }));
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut forms.pay_amount)
                .hint_text(t!(l, "pay-amount"))
                .desired_width(70.0),
        );
        ui.add(
            egui::TextEdit::singleline(&mut forms.pay_reference)
                .hint_text(t!(l, "pay-reference"))
                .desired_width(90.0),
        );
        let amount = parse_amount(&forms.pay_amount);
        let ok = a.payment && amount.is_some() && !forms.pay_reference.trim().is_empty();
        if ui
            .add_enabled(ok, egui::Button::new(t!(l, "pay-button")))
            .clicked()
            && let Some(minor) = amount
        {
            out.push(UiCommand::Cti(Command::StartPayment {
                call: call.clone(),
                amount: Money {
                    minor,
                    currency: "EUR".into(),
                },
                reference: forms.pay_reference.trim().to_owned(),
            }));
        }
    });
}

/// Parses a skill list like `billing:5, spanish:3` (levels 1 to 5, as routing uses them). `None` when empty or
/// malformed.
pub fn parse_skills(text: &str) -> Option<Vec<hotline_cti::SkillLevel>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, level) = part.split_once(':')?;
        let name = name.trim();
        let level: u8 = level.trim().parse().ok()?;
        if name.is_empty() || !(1..=5).contains(&level) {
            return None;
        }
        out.push(hotline_cti::SkillLevel {
            skill: name.into(),
            level,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// `125.50 USD`: minor units with two decimals (the currencies the demo and the IVR's Mandarin
/// amounts use) and the ISO code.
fn money(m: &hotline_cti::Money) -> String {
    format!("{}.{:02} {}", m.minor / 100, m.minor % 100, m.currency)
}

/// Parses `49.99` or `49` into minor units.
pub fn parse_amount(text: &str) -> Option<u64> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    whole.checked_mul(100)?.checked_add(frac).filter(|m| *m > 0)
}

fn payment_text(l: Lang, stage: &PaymentStage) -> String {
    match stage {
        PaymentStage::Started => t!(l, "pay-started"),
        PaymentStage::Collecting {
            field,
            entered,
            expected,
        } => {
            let f = match field {
                PaymentField::CardNumber => t!(l, "pay-field-card"),
                PaymentField::Expiry => t!(l, "pay-field-expiry"),
                PaymentField::SecurityCode => t!(l, "pay-field-code"),
            };
            match expected {
                Some(n) => t!(
                    l,
                    "pay-collecting-of",
                    field = f,
                    entered = *entered,
                    expected = *n
                ),
                None => t!(l, "pay-collecting", field = f, entered = *entered),
            }
        }
        PaymentStage::Processing => t!(l, "pay-processing"),
        PaymentStage::Approved { reference } => {
            t!(l, "pay-approved", reference = reference.as_str())
        }
        PaymentStage::Declined { reason } => t!(l, "payment-declined", reason = reason.as_str()),
        PaymentStage::Cancelled => t!(l, "pay-cancelled"),
    }
}

fn screen_pop(ui: &mut Ui, state: &DeskState, wall: UnixMillis, out: &mut Vec<UiCommand>) {
    let l = state.lang;
    let Some(pop) = state.focused_pop() else {
        ui.heading(t!(l, "no-pop"));
        ui.label(t!(l, "no-pop-hint"));
        return;
    };
    let ringing = state
        .call(&pop.call)
        .is_some_and(|c| c.state == CallState::Ringing);
    ui.heading(match (&pop.context, ringing) {
        (Some(hotline_cti::PopContext::Consult { .. }), _) => t!(l, "pop-consult"),
        (_, true) => t!(l, "pop-incoming"),
        (_, false) => t!(l, "pop-caller"),
    });
    // Why this caller's record is here when no queue offered the call.
    match &pop.context {
        Some(hotline_cti::PopContext::Consult { by }) => {
            ui.add(
                egui::Label::new(
                    RichText::new(t!(l, "pop-consulted-by", who = state.colleague_label(by)))
                        .strong(),
                )
                .wrap(),
            );
        }
        Some(hotline_cti::PopContext::TakeOver { from }) => {
            ui.add(
                egui::Label::new(
                    RichText::new(t!(
                        l,
                        "pop-taken-over-from",
                        who = state.colleague_label(from)
                    ))
                    .strong(),
                )
                .wrap(),
            );
        }
        None => {}
    }
    egui::Grid::new("pop_grid").num_columns(2).show(ui, |ui| {
        ui.label(t!(l, "pop-number"));
        ui.label(pop.ani.expose());
        ui.end_row();
        ui.label(t!(l, "pop-dialed"));
        ui.label(&pop.dnis);
        ui.end_row();
        ui.label(t!(l, "pop-queue"));
        ui.label(&pop.queue_name);
        ui.end_row();
        ui.label(t!(l, "pop-waited"));
        ui.label(format_duration(u64::from(pop.waited_secs)));
        ui.end_row();
        if ringing {
            ui.label(t!(l, "pop-ringing-for"));
            ui.label(format_duration(pop.offered_at.secs_until(wall)));
            ui.end_row();
        }
        ui.label(t!(l, "pop-ivr-path"));
        ui.add(egui::Label::new(pop.ivr_path.join(" > ")).wrap());
        ui.end_row();
        for input in &pop.ivr_inputs {
            ui.label(t!(l, "pop-entered", name = input.name.as_str()));
            ui.label(input.value.expose());
            ui.end_row();
        }
    });
    pop_suggestions(ui, state, &pop.call);
    ui.separator();
    let Some(customer) = &pop.customer else {
        ui.heading(t!(l, "unknown-caller"));
        match state.links.get(&pop.call) {
            Some((_, name)) => {
                ui.label(t!(l, "link-note", name = name.expose()));
            }
            None => {
                ui.add(egui::Label::new(t!(l, "unknown-caller-hint")).wrap());
            }
        }
        return;
    };
    ui.add(
        egui::Label::new(match pop.caller_proof {
            hotline_cti::CallerProof::Pin => t!(l, "proof-pin"),
            hotline_cti::CallerProof::Claimed => t!(l, "proof-claimed"),
        })
        .wrap(),
    );
    customer_record(ui, state, customer, wall, out);
}

/// Supervisors' messages to everyone, each until the agent acknowledges it.
fn announcements(ui: &mut Ui, state: &DeskState, wall: UnixMillis, out: &mut Vec<UiCommand>) {
    let l = state.lang;
    for a in &state.announcements {
        ui.horizontal(|ui| {
            ui.add(
                egui::Label::new(
                    RichText::new(t!(
                        l,
                        "announcement",
                        name = a.from.as_str(),
                        text = a.text.expose().as_str(),
                        ago = format_duration(a.at.secs_until(wall))
                    ))
                    .strong()
                    .color(Color32::from_rgb(230, 180, 60)),
                )
                .wrap(),
            );
            if ui.button(t!(l, "announcement-ack")).clicked() {
                out.push(UiCommand::AcknowledgeAnnouncement(a.id.clone()));
            }
        });
    }
}

/// Messages: write to a colleague (by agent id) or to the supervisors (no id); supervisors
/// may write to everyone (`*`). Below, the latest messages received.
fn colleague_messages(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.label(RichText::new(t!(l, "messages")).strong());
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "message-to"));
        ui.add(
            egui::TextEdit::singleline(&mut forms.message_to)
                .hint_text(t!(l, "message-to-hint"))
                .desired_width(70.0),
        )
        .labelled_by(lb.id);
    });
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "message-text"));
        ui.add(egui::TextEdit::singleline(&mut forms.message).desired_width(150.0))
            .labelled_by(lb.id);
        let ready = state.connected() && !forms.message.trim().is_empty();
        let b = ui.add_enabled(ready, egui::Button::new(t!(l, "message-send")));
        let b = if !state.connected() {
            b.on_disabled_hover_text(t!(l, "why-offline"))
        } else if forms.message.trim().is_empty() {
            b.on_disabled_hover_text(t!(l, "why-message-empty"))
        } else {
            b
        };
        if b.clicked() {
            let to = match forms.message_to.trim() {
                "" => hotline_cti::MessageTarget::Supervisors,
                "*" => hotline_cti::MessageTarget::Everyone,
                agent => hotline_cti::MessageTarget::Agent {
                    agent: hotline_cti::AgentId::new(agent),
                },
            };
            out.push(UiCommand::Cti(Command::SendMessage {
                to,
                text: hotline_cti::Pii::new(std::mem::take(&mut forms.message)),
            }));
        }
    });
    place_messages(ui, state, Place::Messages);
    for m in state.messages.iter().rev().take(5) {
        let line = t!(
            l,
            "message-line",
            name = m.from.as_str(),
            text = m.text.expose().as_str(),
            ago = format_duration(m.at.secs_until(wall))
        );
        if m.announcement {
            ui.add(egui::Label::new(RichText::new(line).strong()).wrap());
        } else {
            ui.add(egui::Label::new(line).wrap());
        }
    }
}

/// The knowledge base's articles for the popped call's queue, best first: the title opens the
/// article's first paragraph.
fn pop_suggestions(ui: &mut Ui, state: &DeskState, call: &CallId) {
    let l = state.lang;
    let Some(found) = state.suggestions.get(call) else {
        return;
    };
    ui.add_space(4.0);
    ui.label(RichText::new(t!(l, "kb-suggested")).strong());
    match found {
        Ok(articles) if articles.is_empty() => {
            ui.label(t!(l, "kb-none"));
        }
        Ok(articles) => {
            for a in articles {
                egui::CollapsingHeader::new(&a.title)
                    .id_salt(("kb", call.as_str(), a.id))
                    .show(ui, |ui| {
                        ui.add(egui::Label::new(&a.excerpt).wrap());
                        if a.helpful > 0 {
                            ui.label(RichText::new(t!(l, "kb-helpful", count = a.helpful)).weak());
                        }
                    });
            }
        }
        Err(e) => {
            ui.label(RichText::new(t!(l, "kb-failed", reason = e.as_str())).weak());
        }
    }
}

/// A customer record: identities (phone numbers dial on click), open tickets (with history),
/// last contacts and bookings.
fn customer_record(
    ui: &mut Ui,
    state: &DeskState,
    customer: &hotline_cti::CustomerView,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.heading(customer.name.expose());
    ui.label(t!(l, "tier", tier = customer.tier.as_str()));
    if let Some(due) = &customer.balance_due {
        ui.label(t!(l, "balance-due", amount = money(due)));
    }
    // Wished on the day or shortly before (the centre's calendar day).
    let local = i64::try_from(wall.0).unwrap_or(0) + state.centre_offset_ms;
    match customer
        .birthday
        .as_ref()
        .and_then(|b| crate::reports::days_to_birthday(b.expose(), local))
    {
        Some(0) => {
            ui.label(RichText::new(t!(l, "birthday-today")).strong());
        }
        Some(n) if n <= 7 => {
            ui.label(t!(l, "birthday-soon", days = n));
        }
        _ => {}
    }
    let blocker = dial_blocker(state);
    for id in &customer.identities {
        ui.horizontal(|ui| {
            let kind = match id.kind.as_str() {
                "phone" => t!(l, "id-phone"),
                "email" => t!(l, "id-email"),
                "account" => t!(l, "id-account"),
                other => other.to_owned(),
            };
            ui.label(if id.verified {
                t!(
                    l,
                    "identity-verified",
                    kind = kind,
                    value = id.value.expose()
                )
            } else {
                t!(l, "identity", kind = kind, value = id.value.expose())
            });
            if id.kind == "phone" {
                let b = ui.add_enabled(
                    blocker.is_none(),
                    egui::Button::new(t!(l, "call-number", number = id.value.expose())),
                );
                let b = match blocker {
                    Some(key) => b.on_disabled_hover_text(crate::i18n::format(l, key, &[])),
                    None => b,
                };
                if b.clicked() {
                    out.push(UiCommand::Dial {
                        command: Command::OutboundCall {
                            number: id.value.clone(),
                            customer: Some(customer.id.clone()),
                        },
                        customer_name: Some(customer.name.clone()),
                    });
                }
            }
        });
    }
    ui.add_space(6.0);
    ui.label(RichText::new(t!(l, "open-tickets")).strong());
    if customer.open_tickets.is_empty() {
        ui.label(t!(l, "none"));
    }
    for tk in &customer.open_tickets {
        ui.horizontal(|ui| {
            ui.label(t!(
                l,
                "ticket-line",
                id = tk.id.as_str(),
                subject = tk.subject.as_str(),
                status = ticket_status_name(l, tk.status),
                priority = priority_name(l, tk.priority)
            ));
            if ui
                .small_button(t!(l, "ticket-history-button", id = tk.id.as_str()))
                .clicked()
            {
                out.push(UiCommand::ShowTicketHistory(tk.id.clone()));
            }
        });
    }
    ui.add_space(6.0);
    ui.label(RichText::new(t!(l, "last-contacts")).strong());
    if customer.last_contacts.is_empty() {
        ui.label(t!(l, "none"));
    }
    for c in &customer.last_contacts {
        let disposition = c
            .disposition
            .as_ref()
            .map_or_else(|| t!(l, "no-outcome"), |d| d.as_str().to_owned());
        let ago = t!(l, "ago", time = span(l, c.at.secs_until(wall)));
        let queue = c.queue.as_ref().map_or("-", |q| q.as_str());
        ui.add(
            egui::Label::new(match &c.summary {
                Some(summary) => t!(
                    l,
                    "contact-line-summary",
                    ago = ago,
                    queue = queue,
                    disposition = disposition,
                    summary = summary.expose()
                ),
                None => t!(
                    l,
                    "contact-line",
                    ago = ago,
                    queue = queue,
                    disposition = disposition
                ),
            })
            .wrap(),
        );
    }
    ui.add_space(6.0);
    ui.label(RichText::new(t!(l, "bookings")).strong());
    if customer.bookings.is_empty() {
        ui.label(t!(l, "none"));
    }
    for b in &customer.bookings {
        let when = if b.at > wall {
            t!(l, "in-time", time = span(l, wall.secs_until(b.at)))
        } else {
            t!(l, "ago", time = span(l, b.at.secs_until(wall)))
        };
        ui.label(format!("{} {} · {} · {}", b.id, b.what, when, b.status));
    }
}

fn ticket_status_name(l: Lang, s: TicketStatus) -> String {
    match s {
        TicketStatus::Open => t!(l, "ticket-open"),
        TicketStatus::Pending => t!(l, "ticket-pending"),
        TicketStatus::Solved => t!(l, "ticket-solved"),
        TicketStatus::Closed => t!(l, "ticket-closed"),
    }
}

fn priority_name(l: Lang, p: TicketPriority) -> String {
    match p {
        TicketPriority::Low => t!(l, "prio-low"),
        TicketPriority::Normal => t!(l, "prio-normal"),
        TicketPriority::High => t!(l, "prio-high"),
        TicketPriority::Urgent => t!(l, "prio-urgent"),
    }
}

/// Customer search, the opened record and ticket history.
fn customers_panel(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.heading(t!(l, "customers"));
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "find-customer"));
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut forms.search)
                    .hint_text(t!(l, "find-hint"))
                    .desired_width(150.0),
            )
            .labelled_by(lb.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
        let ok = !forms.search.trim().is_empty();
        if (ui
            .add_enabled(ok, egui::Button::new(t!(l, "search")))
            .clicked()
            || enter)
            && ok
        {
            out.push(UiCommand::Search(forms.search.trim().to_owned()));
        }
    });
    if state.search.pending {
        ui.label(t!(l, "searching"));
    }
    if let Some(err) = &state.search.error {
        ui.colored_label(Color32::LIGHT_RED, err.render(l));
    } else if !state.search.pending
        && !state.search.query.is_empty()
        && state.search.hits.is_empty()
    {
        ui.label(t!(l, "no-customer-found"));
    }
    // An unknown caller being handled can be linked to a search result.
    let unknown_call = state
        .focused_pop()
        .filter(|p| p.customer.is_none())
        .map(|p| p.call.clone());
    for hit in &state.search.hits {
        ui.horizontal(|ui| {
            if ui
                .button(format!("{} ({})", hit.name.expose(), hit.tier))
                .clicked()
            {
                out.push(UiCommand::OpenCustomer(hit.id.clone()));
            }
            if let Some(call) = &unknown_call
                && ui
                    .small_button(t!(l, "link-button", name = hit.name.expose()))
                    .clicked()
            {
                out.push(UiCommand::LinkCaller {
                    call: call.clone(),
                    customer: hit.id.clone(),
                    name: hit.name.clone(),
                });
            }
        });
    }
    if let Some(view) = &state.opened {
        ui.separator();
        if ui.small_button(t!(l, "close-record")).clicked() {
            out.push(UiCommand::CloseCustomer);
        }
        customer_record(ui, state, view, wall, out);
    }
    if let Some((id, changes)) = &state.ticket_history {
        ui.separator();
        ui.label(RichText::new(t!(l, "ticket-history", id = id.as_str())).strong());
        match changes {
            Ok(list) if list.is_empty() => {
                ui.label(t!(l, "no-changes"));
            }
            Ok(list) => {
                for c in list {
                    let what = match (&c.old, &c.new) {
                        (Some(o), Some(n)) => format!("{}: {o} -> {n}", c.field),
                        (None, Some(n)) => format!("{}: {n}", c.field),
                        _ => c.field.clone(),
                    };
                    ui.label(format!(
                        "{} · {} · {what}",
                        t!(l, "ago", time = span(l, c.at.secs_until(wall))),
                        c.actor.as_deref().unwrap_or("-")
                    ));
                }
            }
            Err(e) => {
                ui.colored_label(
                    Color32::LIGHT_RED,
                    t!(l, "history-load-failed", reason = e.as_str()),
                );
            }
        }
    }
}

/// What the wrap-up form still needs before it can be submitted (catalogue ids), in the order
/// of the form.
pub fn wrap_up_missing(wrap: &WrapForm) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if wrap.disposition.is_none() {
        missing.push("missing-disposition");
    }
    if wrap.ticket != TicketChoice::None && wrap.subject.trim().is_empty() {
        missing.push("missing-subject");
    }
    missing
}

fn wrap_up_form(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    let Some(wrap) = state.focused_wrap_up() else {
        return;
    };
    if forms.wrap.call.as_ref() != Some(&wrap.call) {
        // Each call keeps its own buffers: switching between two open wrap-ups loses nothing.
        let old = std::mem::take(&mut forms.wrap);
        if let Some(old_call) = old.call.clone()
            && state.wrap_up_of(&old_call).is_some()
        {
            forms.parked.insert(old_call, old);
        }
        forms.wrap = forms.parked.remove(&wrap.call).unwrap_or_else(|| WrapForm {
            call: Some(wrap.call.clone()),
            ..WrapForm::default()
        });
    }
    let pop = state.pops.get(&wrap.call);
    // The form names its caller and its call, so it can never be taken for another's.
    ui.heading(t!(
        l,
        "wrap-up-title",
        who = wrap.who.as_str(),
        call = wrap.call.as_str()
    ));
    let elapsed = wrap.since.secs_until(wall);
    let timer = match wrap.limit_secs {
        Some(limit) => t!(
            l,
            "wrap-up-time-of",
            time = format_duration(elapsed),
            limit = format_duration(u64::from(limit))
        ),
        None => t!(l, "wrap-up-time", time = format_duration(elapsed)),
    };
    let over = wrap.limit_secs.is_some_and(|x| elapsed > u64::from(x));
    ui.colored_label(if over { Color32::ORANGE } else { Color32::GRAY }, timer);
    match wrap.hold {
        crate::state::WrapHold::Switch => {}
        crate::state::WrapHold::EndedBySwitch => {
            ui.label(t!(l, "wrap-up-ended-by-switch"));
        }
        crate::state::WrapHold::Desktop => {
            ui.label(t!(l, "wrap-up-desktop"));
        }
    }

    ui.label(RichText::new(t!(l, "disposition-required")).strong());
    let dispositions = state
        .session
        .as_ref()
        .map(|s| s.dispositions.clone())
        .unwrap_or_default();
    ui.horizontal_wrapped(|ui| {
        for d in &dispositions {
            ui.radio_value(&mut forms.wrap.disposition, Some(d.clone()), d.as_str());
        }
    });
    let lb = ui.label(t!(l, "notes"));
    ui.add(
        egui::TextEdit::multiline(&mut forms.wrap.notes)
            .hint_text(t!(l, "notes-hint"))
            .desired_rows(3),
    )
    .labelled_by(lb.id);

    if pop.is_some_and(|p| p.new_customer_form) {
        let lb = ui.label(t!(l, "new-customer-name"));
        ui.add(
            egui::TextEdit::singleline(&mut forms.wrap.new_customer)
                .hint_text(t!(l, "new-customer-hint")),
        )
        .labelled_by(lb.id);
    }

    ui.label(RichText::new(t!(l, "ticket")).strong());
    let open: Vec<(TicketId, String)> = pop
        .and_then(|p| p.customer.as_ref())
        .map(|c| {
            c.open_tickets
                .iter()
                .map(|tk| (tk.id.clone(), tk.subject.clone()))
                .collect()
        })
        .unwrap_or_default();
    ui.horizontal_wrapped(|ui| {
        ui.radio_value(
            &mut forms.wrap.ticket,
            TicketChoice::None,
            t!(l, "no-ticket"),
        );
        ui.radio_value(
            &mut forms.wrap.ticket,
            TicketChoice::New,
            t!(l, "new-ticket"),
        );
        for (id, subject) in &open {
            ui.radio_value(
                &mut forms.wrap.ticket,
                TicketChoice::Update(id.clone()),
                t!(
                    l,
                    "update-ticket",
                    id = id.as_str(),
                    subject = subject.as_str()
                ),
            );
        }
    });
    if forms.wrap.ticket != TicketChoice::None {
        if let TicketChoice::Update(id) = &forms.wrap.ticket
            && forms.wrap.subject.is_empty()
            && let Some((_, subject)) = open.iter().find(|(tk, _)| tk == id)
        {
            forms.wrap.subject = subject.clone();
        }
        let lb = ui.label(t!(l, "ticket-subject"));
        ui.add(
            egui::TextEdit::singleline(&mut forms.wrap.subject).hint_text(t!(l, "ticket-subject")),
        )
        .labelled_by(lb.id);
        ui.add(
            egui::TextEdit::multiline(&mut forms.wrap.body)
                .hint_text(t!(l, "ticket-text"))
                .desired_rows(2),
        );
        let status = forms.wrap.status.get_or_insert(TicketStatus::Open);
        ui.horizontal_wrapped(|ui| {
            ui.label(t!(l, "ticket-status"));
            for st in [
                TicketStatus::Open,
                TicketStatus::Pending,
                TicketStatus::Solved,
            ] {
                ui.radio_value(status, st, ticket_status_name(l, st));
            }
        });
        let priority = forms.wrap.priority.get_or_insert(TicketPriority::Normal);
        ui.horizontal_wrapped(|ui| {
            ui.label(t!(l, "ticket-priority"));
            for p in [
                TicketPriority::Low,
                TicketPriority::Normal,
                TicketPriority::High,
                TicketPriority::Urgent,
            ] {
                ui.radio_value(priority, p, priority_name(l, p));
            }
        });
    }

    let reasons = state
        .session
        .as_ref()
        .map(|s| s.not_ready_reasons.clone())
        .unwrap_or_default();
    // Wrapped: with many reasons the row continues on the next line instead of being cut off.
    ui.horizontal_wrapped(|ui| {
        ui.label(t!(l, "afterwards"));
        ui.radio_value(&mut forms.wrap.then_not_ready, None, t!(l, "then-ready"));
        for r in &reasons {
            ui.radio_value(
                &mut forms.wrap.then_not_ready,
                Some(r.clone()),
                t!(l, "then-not-ready", reason = r.as_str()),
            );
        }
    });

    let missing = wrap_up_missing(&forms.wrap);
    let can_submit = missing.is_empty();
    let clicked = ui
        .add_enabled(can_submit, egui::Button::new(t!(l, "submit-wrap-up")))
        .on_hover_text("Ctrl+Enter")
        .clicked()
        || (can_submit && ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::Enter)));
    for key in &missing {
        ui.colored_label(Color32::ORANGE, crate::i18n::format(l, key, &[]));
    }
    place_messages(ui, state, Place::WrapUp);
    if clicked && let Some(disposition) = forms.wrap.disposition.clone() {
        let ticket = match &forms.wrap.ticket {
            TicketChoice::None => None,
            choice => Some(TicketDraft {
                ticket: match choice {
                    TicketChoice::Update(id) => Some(id.clone()),
                    _ => None,
                },
                subject: forms.wrap.subject.trim().to_owned(),
                body: Pii::new(forms.wrap.body.clone()),
                status: forms.wrap.status.unwrap_or(TicketStatus::Open),
                priority: forms.wrap.priority.unwrap_or(TicketPriority::Normal),
            }),
        };
        let name = forms.wrap.new_customer.trim();
        out.push(UiCommand::SubmitWrapUp(WrapUpSubmission {
            call: wrap.call.clone(),
            disposition,
            notes: Pii::new(forms.wrap.notes.clone()),
            ticket,
            new_customer: (!name.is_empty()).then(|| Pii::new(name.to_owned())),
            then: match &forms.wrap.then_not_ready {
                None => AfterWrapUp::Ready,
                Some(reason) => AfterWrapUp::NotReady {
                    reason: reason.clone(),
                },
            },
        }));
    }
}

fn mode_name(l: Lang, mode: hotline_cti::MonitorMode) -> String {
    match mode {
        hotline_cti::MonitorMode::Listen => t!(l, "mode-listening"),
        hotline_cti::MonitorMode::Whisper => t!(l, "mode-whispering"),
        hotline_cti::MonitorMode::Barge => t!(l, "mode-barged"),
    }
}

/// Supervisors: queue figures, agents with monitor and control buttons, help requests.
fn wallboard(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    use hotline_cti::MonitorMode;
    let l = state.lang;
    ui.heading(t!(l, "tab-wallboard"));
    place_messages(ui, state, Place::Wallboard);
    let Some(board) = &state.wallboard else {
        ui.label(if state.connected() {
            t!(l, "wallboard-waiting")
        } else {
            t!(l, "conn-offline")
        });
        return;
    };
    ui.label(t!(
        l,
        "wallboard-updated",
        time = format_duration(board.at.secs_until(wall))
    ));
    // The queues: a table that scrolls on its own when a centre has many.
    egui::ScrollArea::both()
        .id_salt("queues_scroll")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("queues_grid")
                .striped(true)
                .num_columns(12)
                .show(ui, |ui| {
                    for h in [
                        "wb-queue",
                        "wb-waiting",
                        "wb-longest",
                        "wb-service-level",
                        "wb-asa",
                        "wb-answered",
                        "wb-abandoned",
                        "wb-callbacks",
                        "wb-agents-ready",
                        "wb-agents-busy",
                        "wb-agents-wrap-up",
                        "wb-agents-not-ready",
                    ] {
                        ui.label(RichText::new(crate::i18n::format(l, h, &[])).strong());
                    }
                    ui.end_row();
                    for q in &board.queues {
                        ui.label(&q.name);
                        ui.label(q.waiting.to_string());
                        ui.label(format_duration(u64::from(q.longest_wait_secs)));
                        ui.label(t!(
                            l,
                            "wb-sl-value",
                            value = format!(
                                "{}.{}",
                                q.service_level_permille / 10,
                                q.service_level_permille % 10
                            ),
                            secs = q.service_level_secs
                        ));
                        ui.label(t!(l, "secs", n = q.asa_secs));
                        ui.label(t!(l, "wb-of", n = q.answered, total = q.offered));
                        ui.label(q.abandoned.to_string());
                        ui.label(q.callbacks_pending.to_string());
                        for n in [
                            q.agents.ready,
                            q.agents.busy,
                            q.agents.wrap_up,
                            q.agents.not_ready,
                        ] {
                            ui.label(n.to_string());
                        }
                        ui.end_row();
                    }
                });
        });
    let connected = state.connected();
    ui.separator();
    ui.heading(t!(l, "help-requests"));
    if state.help_requests.is_empty() {
        ui.label(t!(l, "none"));
    }
    for h in &state.help_requests {
        ui.horizontal_wrapped(|ui| {
            ui.label(t!(
                l,
                "help-request-line",
                agent = h.agent.as_str(),
                message = h.message.as_str(),
                time = format_duration(h.at.secs_until(wall))
            ));
            if let Some(call) = &h.call
                && ui
                    .add_enabled(
                        connected,
                        egui::Button::new(t!(l, "wb-whisper-to", agent = h.agent.as_str())),
                    )
                    .clicked()
            {
                out.push(UiCommand::Cti(Command::Monitor {
                    call: call.clone(),
                    mode: MonitorMode::Whisper,
                }));
            }
            if ui
                .small_button(t!(l, "wb-done", agent = h.agent.as_str()))
                .clicked()
            {
                out.push(UiCommand::DismissHelp(h.agent.clone()));
            }
        });
    }
    ui.separator();
    ui.heading(t!(l, "wb-agents"));
    // A stable order (by name, then id): rows do not jump as states change.
    let mut agents: Vec<&hotline_cti::AgentRow> = board.agents.iter().collect();
    agents.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.status.agent.as_str().cmp(b.status.agent.as_str()))
    });
    // Only the rows on screen are laid out (show_rows): 300 agents cost what a screenful does.
    // Each row has a fixed height: name line, buttons, skills.
    let line = ui
        .spacing()
        .interact_size
        .y
        .max(ui.text_style_height(&egui::TextStyle::Body));
    let row_h = 3.0 * line + 2.0 * ui.spacing().item_spacing.y + 4.0;
    egui::ScrollArea::both()
        .id_salt("agents_scroll")
        .auto_shrink([false, false])
        .show_rows(ui, row_h, agents.len(), |ui, range| {
            for row in &agents[range] {
                ui.allocate_ui_with_layout(
                    egui::vec2(ui.available_width(), row_h),
                    egui::Layout::top_down(egui::Align::Min),
                    |ui| {
                        ui.set_min_height(row_h);
                        let agent = &row.status.agent;
                        let mut text = format!(
                            "{} ({}) · {}",
                            row.name,
                            agent,
                            state_name(l, row.status.state)
                        );
                        if let Some(r) = &row.status.reason {
                            text.push_str(&format!(" ({})", reason_name(l, r)));
                        }
                        text.push_str(&format!(
                            " · {} · {}",
                            format_duration(row.status.since.secs_until(wall)),
                            t!(l, "wb-handled", n = row.handled_today)
                        ));
                        if let Some(c) = &row.customer {
                            text.push_str(&format!(" · {}", t!(l, "wb-with", who = c.expose())));
                        }
                        let me = state
                            .session
                            .as_ref()
                            .is_some_and(|s| &s.profile.agent == agent);
                        if me {
                            ui.label(t!(l, "wb-you", text = text));
                            return;
                        }
                        ui.label(text);
                        ui.horizontal(|ui| {
                            let call = row.call.clone();
                            let mine = call.as_ref().and_then(|c| state.monitoring.get(c)).copied();
                            let no_call = t!(l, "why-no-call");
                            for (mode, verb) in [
                                (MonitorMode::Listen, "wb-listen"),
                                (MonitorMode::Whisper, "wb-whisper"),
                                (MonitorMode::Barge, "wb-barge"),
                            ] {
                                let enabled = connected && call.is_some() && mine != Some(mode);
                                let label = crate::i18n::format(
                                    l,
                                    verb,
                                    &[("agent", crate::i18n::Arg::from(agent.as_str()))],
                                );
                                let r = ui.add_enabled(enabled, egui::Button::new(label));
                                let r = if call.is_none() {
                                    r.on_disabled_hover_text(&no_call)
                                } else if mine == Some(mode) {
                                    r.on_disabled_hover_text(t!(l, "why-mode-current"))
                                } else {
                                    r
                                };
                                if r.clicked()
                                    && let Some(call) = call.clone()
                                {
                                    out.push(UiCommand::Cti(Command::Monitor { call, mode }));
                                }
                            }
                            if let (Some(c), Some(mode)) = (&call, mine) {
                                ui.label(t!(l, "wb-you-are", mode = mode_name(l, mode)));
                                if ui
                                    .button(t!(l, "wb-stop", agent = agent.as_str()))
                                    .clicked()
                                {
                                    out.push(UiCommand::Cti(Command::StopMonitor {
                                        call: c.clone(),
                                    }));
                                }
                            }
                            // Take over joins from a monitor session: enabled once the supervisor listens,
                            // whispers or barges on this call.
                            let can_take = connected && call.is_some() && mine.is_some();
                            let r = ui.add_enabled(
                                can_take,
                                egui::Button::new(t!(l, "wb-take-over", agent = agent.as_str())),
                            );
                            let r = if call.is_none() {
                                r.on_disabled_hover_text(&no_call)
                            } else if mine.is_none() {
                                r.on_disabled_hover_text(t!(l, "why-take-over"))
                            } else {
                                r
                            };
                            if r.clicked()
                                && let Some(call) = call.clone()
                            {
                                out.push(UiCommand::Cti(Command::TakeOver { call }));
                            }
                            let can_force_nr = connected
                                && forms.reason.is_some()
                                && matches!(row.status.state, AgentState::Ready);
                            if ui
                                .add_enabled(
                                    can_force_nr,
                                    egui::Button::new(t!(
                                        l,
                                        "wb-not-ready",
                                        agent = agent.as_str()
                                    )),
                                )
                                .on_hover_text(t!(l, "wb-not-ready-how"))
                                .clicked()
                                && let Some(reason) = forms.reason.clone()
                            {
                                out.push(UiCommand::Cti(Command::ForceNotReady {
                                    agent: agent.clone(),
                                    reason,
                                }));
                            }
                            if ui
                                .add_enabled(
                                    connected,
                                    egui::Button::new(t!(l, "wb-logout", agent = agent.as_str())),
                                )
                                .clicked()
                            {
                                out.push(UiCommand::Cti(Command::ForceLogout {
                                    agent: agent.clone(),
                                }));
                            }
                        });
                        ui.horizontal(|ui| {
                            let text = forms.skills.entry(agent.clone()).or_default();
                            let lb = ui.label(t!(l, "wb-skills", agent = agent.as_str()));
                            ui.add(
                                egui::TextEdit::singleline(text)
                                    .hint_text("billing:5, spanish:3")
                                    .desired_width(200.0),
                            )
                            .labelled_by(lb.id);
                            let parsed = parse_skills(text);
                            let r = ui
                                .add_enabled(
                                    connected && parsed.is_some(),
                                    egui::Button::new(t!(
                                        l,
                                        "wb-set-skills",
                                        agent = agent.as_str()
                                    )),
                                )
                                .on_hover_text(t!(l, "wb-set-skills-how"));
                            let r = if parsed.is_none() {
                                r.on_disabled_hover_text(t!(l, "why-skills"))
                            } else {
                                r
                            };
                            if r.clicked()
                                && let Some(skills) = parsed
                            {
                                out.push(UiCommand::Cti(Command::SetSkills {
                                    agent: agent.clone(),
                                    skills,
                                }));
                            }
                        });
                    },
                );
            }
        });
}

/// Whole seconds, or a dash.
fn secs(l: Lang, ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| t!(l, "secs", n = (ms + 500) / 1000))
}

/// Supervisors: KPI report for a day, per interval: totals, charts, the queue or agent table and
/// CSV export.
fn reports(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.heading(t!(l, "tab-reports"));
    if forms.report_day.is_empty() {
        forms.report_day = format_day(i64::try_from(wall.0).unwrap_or(0) + state.centre_offset_ms);
    }
    let r = &state.reports;
    ui.horizontal(|ui| {
        let lb = ui.label(t!(l, "rep-day"));
        ui.add(egui::TextEdit::singleline(&mut forms.report_day).desired_width(100.0))
            .labelled_by(lb.id)
            .on_hover_text(t!(l, "rep-day-hint"));
        ui.label(t!(l, "rep-interval"));
        for mins in [15, 30, 60] {
            ui.selectable_value(&mut forms.report_interval, mins, t!(l, "minutes", n = mins));
        }
        // The centre's day: from its midnight, in its time zone.
        let day = parse_day(&forms.report_day).map(|d| d - state.centre_offset_ms);
        if ui
            .add_enabled(
                day.is_some() && r.pending.is_none(),
                egui::Button::new(t!(l, "rep-load")),
            )
            .clicked()
            && let Some(day) = day
        {
            out.push(UiCommand::LoadReport(ReportQuery {
                day,
                offset_ms: state.centre_offset_ms,
                settings: hotline_store::reports::KpiSettings {
                    interval_mins: forms.report_interval,
                    // No data after now: today's later intervals stay empty.
                    until: i64::try_from(wall.0).ok(),
                    ..forms.report_settings.clone()
                },
            }));
        }
        if day.is_none() {
            ui.colored_label(Color32::RED, t!(l, "rep-bad-day"));
        }
        if r.pending.is_some() {
            ui.spinner();
            ui.label(t!(l, "loading"));
        }
    });
    // Where vendors disagree it is a setting (docs/kpis.md); applied at the next load.
    ui.horizontal_wrapped(|ui| {
        let set = &mut forms.report_settings;
        let mut sl = set.service_level_ms / 1000;
        let lb = ui.label(t!(l, "rep-sl-within"));
        ui.add(
            egui::DragValue::new(&mut sl)
                .range(1..=600)
                .suffix(t!(l, "secs-suffix")),
        )
        .labelled_by(lb.id);
        set.service_level_ms = sl * 1000;
        let mut short = set.short_abandon_ms / 1000;
        let lb = ui.label(t!(l, "rep-short-under"));
        ui.add(
            egui::DragValue::new(&mut short)
                .range(0..=120)
                .suffix(t!(l, "secs-suffix")),
        )
        .labelled_by(lb.id);
        set.short_abandon_ms = short * 1000;
        ui.checkbox(&mut set.sl_counts_abandons, t!(l, "rep-abandons-count"));
        ui.checkbox(&mut set.exclude_short_abandons, t!(l, "rep-exclude-short"));
    });
    if let Some(e) = &r.error {
        ui.colored_label(Color32::RED, t!(l, "rep-load-failed", reason = e.as_str()));
    }
    let Some(report) = &r.report else {
        ui.label(t!(l, "rep-none"));
        return;
    };
    let s = &report.query.settings;
    ui.add(
        egui::Label::new(t!(
            l,
            "rep-settings",
            day = report.query.day_text(),
            mins = s.interval_mins,
            sl = s.service_level_ms / 1000,
            abandons = if s.sl_counts_abandons {
                t!(l, "rep-abandons-against")
            } else {
                String::new()
            },
            short = s.short_abandon_ms / 1000,
            treatment = if s.exclude_short_abandons {
                t!(l, "rep-left-out")
            } else {
                t!(l, "rep-counted")
            },
            zone = report.query.zone()
        ))
        .wrap(),
    );
    let tot = &report.total;
    ui.label(
        RichText::new(t!(
            l,
            "rep-day-total",
            offered = tot.offered,
            answered = tot.answered,
            abandoned = tot.abandoned,
            sl = crate::i18n::percent(l, tot.service_level)
        ))
        .strong(),
    );
    report_charts(ui, l, report);
    ui.separator();
    ui.horizontal(|ui| {
        ui.selectable_value(
            &mut forms.report_table,
            ReportTable::Queues,
            t!(l, "rep-by-queue"),
        );
        ui.selectable_value(
            &mut forms.report_table,
            ReportTable::Agents,
            t!(l, "rep-by-agent"),
        );
        ui.selectable_value(
            &mut forms.report_table,
            ReportTable::Calls,
            t!(l, "rep-calls"),
        );
        ui.separator();
        let lb = ui.label(t!(l, "rep-csv-file"));
        ui.add(egui::TextEdit::singleline(&mut forms.report_csv).desired_width(260.0))
            .labelled_by(lb.id);
        let path = forms.report_csv.trim();
        let group = forms.report_table.group();
        let b = ui
            .add_enabled(
                !path.is_empty() && group.is_some(),
                egui::Button::new(t!(l, "rep-export")),
            )
            .on_hover_text(t!(l, "rep-export-how"));
        let b = if group.is_none() {
            b.on_disabled_hover_text(t!(l, "rep-why-export-calls"))
        } else {
            b.on_disabled_hover_text(t!(l, "rep-why-export-file"))
        };
        if b.clicked()
            && let Some(group) = group
        {
            out.push(UiCommand::ExportCsv {
                path: path.into(),
                group,
            });
        }
        match &r.export {
            Some(Ok((path, n))) => {
                ui.label(t!(
                    l,
                    "rep-wrote",
                    n = *n,
                    path = path.display().to_string()
                ));
            }
            Some(Err(e)) => {
                ui.colored_label(
                    Color32::RED,
                    t!(l, "rep-export-failed", reason = e.as_str()),
                );
            }
            None => {}
        }
    });
    match forms.report_table.group() {
        Some(group) => report_table(ui, l, report, group),
        None => day_calls(ui, l, report, &mut forms.report_call),
    }
}

/// A grade in words ("good", "fair", "poor").
fn grade_word(l: Lang, grade: Grade) -> String {
    let key = match grade {
        Grade::Good => "rep-q-good",
        Grade::Fair => "rep-q-fair",
        Grade::Poor => "rep-q-poor",
    };
    crate::i18n::format(l, key, &[])
}

/// A grade's colour: green, amber, red.
fn grade_color(grade: Grade) -> Color32 {
    match grade {
        Grade::Good => Color32::from_rgb(0x2e, 0xa0, 0x43),
        Grade::Fair => Color32::from_rgb(0xd0, 0x8a, 0x00),
        Grade::Poor => Color32::from_rgb(0xd0, 0x30, 0x30),
    }
}

/// A grade in words, in its colour.
fn grade_text(l: Lang, grade: Grade) -> RichText {
    RichText::new(grade_word(l, grade))
        .color(grade_color(grade))
        .strong()
}

/// A figure in the colour of its grade, the grade in words as its tooltip.
fn graded(ui: &mut Ui, l: Lang, text: String, grade: Grade) {
    ui.label(RichText::new(text).color(grade_color(grade)))
        .on_hover_text(grade_word(l, grade));
}

/// A stored call direction in words (as the switch writes it; other values as they are).
fn stored_direction(l: Lang, d: &str) -> String {
    match d {
        "inbound" => t!(l, "dir-in"),
        "outbound" => t!(l, "dir-out"),
        "internal" => t!(l, "dir-internal"),
        other => other.to_owned(),
    }
}

/// The report's day as a list of calls (newest first); clicking a caller opens the call's
/// detail above the list: who and when, then per leg packet loss, jitter and MOS, graded.
fn day_calls(ui: &mut Ui, l: Lang, report: &Report, selected: &mut Option<String>) {
    if report.calls.is_empty() {
        ui.label(t!(l, "rep-no-rows"));
        return;
    }
    if let Some(call) = selected
        .as_ref()
        .and_then(|id| report.calls.iter().find(|c| &c.id == id))
    {
        call_detail(ui, l, report, call);
        ui.separator();
    }
    let shown = report.calls.len();
    ui.label(if report.more_calls {
        t!(l, "rep-calls-latest", n = shown)
    } else {
        t!(l, "rep-calls-all", n = shown)
    });
    let dash = || "-".to_owned();
    egui::Grid::new("day_calls").striped(true).show(ui, |ui| {
        for h in [
            "rep-col-time",
            "rep-col-direction",
            "rep-col-caller",
            "rep-col-queue",
            "rep-col-agent",
            "rep-col-end",
            "rep-col-quality",
        ] {
            ui.label(RichText::new(crate::i18n::format(l, h, &[])).strong());
        }
        ui.end_row();
        for c in &report.calls {
            ui.label(report.query.hhmm(c.arrived_at));
            ui.label(stored_direction(l, &c.direction));
            let open = selected.as_ref() == Some(&c.id);
            let r = ui
                .selectable_label(open, c.caller.expose().as_str())
                .on_hover_text(t!(l, "rep-call-open", call = c.id.as_str()));
            if r.clicked() {
                *selected = if open { None } else { Some(c.id.clone()) };
            }
            ui.label(c.queue.clone().unwrap_or_else(dash));
            ui.label(c.agent.clone().unwrap_or_else(dash));
            ui.label(c.end_reason.clone().unwrap_or_else(dash));
            match Grade::of_call(&c.legs) {
                Some(g) => ui.label(grade_text(l, g)),
                None => ui.label("-"),
            };
            ui.end_row();
        }
    });
}

/// One call of the day: who, when, how it ended, and each leg's media quality.
fn call_detail(ui: &mut Ui, l: Lang, report: &Report, c: &DayCall) {
    let time = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| report.query.hhmm(t));
    ui.label(
        RichText::new(t!(
            l,
            "rep-call-title",
            call = c.id.as_str(),
            caller = c.caller.expose().as_str()
        ))
        .strong(),
    );
    ui.label(t!(
        l,
        "rep-call-line",
        queue = c.queue.clone().unwrap_or_else(|| "-".into()),
        agent = c.agent.clone().unwrap_or_else(|| "-".into()),
        arrived = report.query.hhmm(c.arrived_at),
        answered = time(c.answered_at),
        ended = time(c.ended_at),
        how = c.end_reason.clone().unwrap_or_else(|| "-".into())
    ));
    if c.legs.is_empty() {
        ui.label(t!(l, "rep-q-none"));
        return;
    }
    egui::Grid::new("call_quality")
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "rep-col-leg",
                "rep-col-agent",
                "rep-col-loss",
                "rep-col-jitter",
                "rep-col-mos",
                "rep-col-rating",
                "rep-col-far",
            ] {
                ui.label(RichText::new(crate::i18n::format(l, h, &[])).strong());
            }
            ui.end_row();
            for leg in &c.legs {
                ui.label(leg_name(l, &leg.leg));
                ui.label(leg.agent_id.clone().unwrap_or_else(|| "-".into()));
                graded(
                    ui,
                    l,
                    crate::i18n::percent(l, Some(leg.loss_percent / 100.0)),
                    Grade::of_loss(leg.loss_percent),
                );
                graded(
                    ui,
                    l,
                    t!(l, "rep-ms", value = format!("{:.1}", leg.jitter_ms)),
                    Grade::of_jitter(leg.jitter_ms),
                );
                graded(ui, l, format!("{:.2}", leg.mos), Grade::of_mos(leg.mos));
                ui.label(grade_text(l, Grade::of_leg(leg)));
                // What the phone reported about the audio the switch sent it, when it did.
                let mut far = Vec::new();
                if let Some(p) = leg.remote_loss_percent {
                    far.push(t!(
                        l,
                        "rep-far-loss",
                        value = crate::i18n::percent(l, Some(p / 100.0))
                    ));
                }
                if let Some(j) = leg.remote_jitter_ms {
                    far.push(t!(l, "rep-far-jitter", value = format!("{j:.1}")));
                }
                if let Some(rtt) = leg.rtt_ms {
                    far.push(t!(l, "rep-far-rtt", value = format!("{rtt:.0}")));
                }
                ui.label(if far.is_empty() {
                    "-".to_owned()
                } else {
                    far.join(" · ")
                });
                ui.end_row();
            }
        });
    ui.label(
        RichText::new(t!(
            l,
            "rep-q-legend",
            mos_good = format!("{:.1}", quality::MOS_GOOD),
            mos_fair = format!("{:.1}", quality::MOS_FAIR),
            loss_good = format!("{}", quality::LOSS_GOOD),
            loss_fair = format!("{}", quality::LOSS_FAIR),
            jitter_good = format!("{}", quality::JITTER_GOOD),
            jitter_fair = format!("{}", quality::JITTER_FAIR)
        ))
        .weak(),
    );
}

/// A leg of a call record in words (`caller`, `agent`, ...; others as stored).
fn leg_name(l: Lang, leg: &str) -> String {
    match leg {
        "caller" => t!(l, "rep-leg-caller"),
        "agent" => t!(l, "rep-leg-agent"),
        "callee" => t!(l, "rep-leg-callee"),
        "supervisor" => t!(l, "rep-leg-supervisor"),
        "third" => t!(l, "rep-leg-third"),
        other => other.to_owned(),
    }
}

/// Offered/answered/abandoned bars and the service-level line, per interval, over the busy part
/// of the day.
fn report_charts(ui: &mut Ui, l: Lang, report: &Report) {
    use egui_plot::{Bar, BarChart, Legend, Line, Plot};
    let Some((first, last)) = report.busy_span() else {
        ui.label(t!(l, "rep-no-calls"));
        return;
    };
    let step_h = f64::from(report.query.settings.interval_mins) / 60.0;
    let hour = |ms: i64| (ms - report.query.day) as f64 / 3_600_000.0;
    let shown: Vec<_> = report
        .intervals
        .iter()
        .filter(|i| i.start >= first && i.start <= last)
        .collect();
    let w = step_h / 4.0;
    // The busy part of the day, whole intervals, so that one interval is not drawn edge to edge.
    let (x_min, x_max) = (hour(first), hour(last) + step_h);
    // Head room above the tallest bar for the legend.
    let y_max = shown.iter().map(|i| i.offered).max().unwrap_or(0);
    let y_top = f64::from(y_max) * 1.45;
    let bars = |name: &str,
                off: f64,
                color: Color32,
                v: &dyn Fn(&crate::reports::IntervalTotals) -> u32| {
        BarChart::new(
            name,
            shown
                .iter()
                .map(|i| Bar::new(hour(i.start) + step_h / 2.0 + off, f64::from(v(i))).width(w))
                .collect(),
        )
        .color(color)
    };
    let hhmm = |x: f64| {
        let mins = (x * 60.0).round() as i64;
        format!("{:02}:{:02}", mins.div_euclid(60), mins.rem_euclid(60))
    };
    let height = 190.0;
    let width = (ui.available_width() / 2.0 - 12.0).max(200.0);
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            ui.label(RichText::new(t!(l, "rep-chart-calls")).strong());
            Plot::new("calls_plot")
                .height(height)
                .width(width)
                // A value scale: whole calls on the y axis, titled, and the time zone on x.
                .y_axis_label(t!(l, "rep-axis-calls"))
                .x_axis_label(report.query.zone())
                .y_axis_formatter(|m, _| {
                    if m.value.fract() == 0.0 {
                        format!("{:.0}", m.value)
                    } else {
                        String::new()
                    }
                })
                .legend(Legend::default().position(egui_plot::Corner::LeftTop))
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .include_y(0.0)
                .include_y(y_top)
                .x_axis_formatter(move |m, _| hhmm(m.value))
                .x_grid_spacer(hour_grid())
                .include_x(x_min)
                .include_x(x_max)
                .show(ui, |p| {
                    p.bar_chart(bars(
                        &t!(l, "rep-offered"),
                        -w,
                        Color32::from_rgb(90, 140, 220),
                        &|i| i.offered,
                    ));
                    p.bar_chart(bars(
                        &t!(l, "rep-answered"),
                        0.0,
                        Color32::from_rgb(80, 170, 90),
                        &|i| i.answered,
                    ));
                    p.bar_chart(bars(
                        &t!(l, "rep-abandoned"),
                        w,
                        Color32::from_rgb(220, 90, 80),
                        &|i| i.abandoned,
                    ));
                });
        });
        ui.vertical(|ui| {
            ui.label(RichText::new(t!(l, "rep-chart-sl")).strong());
            let points: Vec<[f64; 2]> = shown
                .iter()
                .filter_map(|i| {
                    i.service_level
                        .map(|sl| [hour(i.start) + step_h / 2.0, sl * 100.0])
                })
                .collect();
            let target = 80.0;
            Plot::new("sl_plot")
                .height(height)
                .width(width)
                .y_axis_label(t!(l, "rep-axis-percent"))
                .x_axis_label(report.query.zone())
                .y_axis_formatter(|m, _| format!("{:.0} %", m.value))
                .legend(Legend::default().position(egui_plot::Corner::RightBottom))
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .include_y(0.0)
                .include_y(100.0)
                .x_axis_formatter(move |m, _| hhmm(m.value))
                .x_grid_spacer(hour_grid())
                .include_x(x_min)
                .include_x(x_max)
                .show(ui, |p| {
                    let amber = Color32::from_rgb(230, 170, 60);
                    p.line(
                        Line::new(t!(l, "rep-service-level"), points.clone())
                            .width(2.0)
                            .color(amber),
                    );
                    p.points(
                        egui_plot::Points::new(t!(l, "rep-service-level"), points)
                            .radius(3.0)
                            .color(amber),
                    );
                    p.hline(
                        egui_plot::HLine::new(t!(l, "rep-target", value = 80), target)
                            .color(Color32::GRAY),
                    );
                });
        });
    });
}

/// Grid lines on the hours axis: quarter hours when a few hours are shown, else half hours.
fn hour_grid() -> Box<dyn Fn(egui_plot::GridInput) -> Vec<egui_plot::GridMark>> {
    egui_plot::uniform_grid_spacer(|input| {
        if input.bounds.1 - input.bounds.0 <= 3.0 {
            [0.25, 0.5, 1.0]
        } else {
            [0.5, 1.0, 2.0]
        }
    })
}

/// One row per interval and queue (or agent).
fn report_table(ui: &mut Ui, l: Lang, report: &Report, group: KpiGroup) {
    let rows: &[KpiRow] = report.rows(group);
    if rows.is_empty() {
        ui.label(t!(l, "rep-no-rows"));
        return;
    }
    let agents = group == KpiGroup::Agent;
    egui::Grid::new(if agents { "kpi_agents" } else { "kpi_queues" })
        .striped(true)
        .show(ui, |ui| {
            let mut headers = vec![
                "rep-col-interval",
                if agents {
                    "rep-col-agent"
                } else {
                    "rep-col-queue"
                },
                "rep-offered",
                "rep-answered",
                "rep-abandoned",
                "rep-col-short",
                "rep-service-level",
                "wb-asa",
                "rep-col-aht",
                "rep-col-transfers",
                "wb-callbacks",
                "rep-col-fcr",
            ];
            if agents {
                headers.push("rep-col-occupancy");
            }
            for h in headers {
                ui.label(RichText::new(crate::i18n::format(l, h, &[])).strong());
            }
            ui.end_row();
            for r in rows {
                let step = i64::from(report.query.settings.interval_mins) * 60_000;
                ui.label(format!(
                    "{}-{}",
                    report.query.hhmm(r.interval_start),
                    report.query.hhmm(r.interval_start + step)
                ));
                ui.label(&r.key);
                for n in [r.offered, r.answered, r.abandoned, r.short_abandoned] {
                    ui.label(n.to_string());
                }
                ui.label(crate::i18n::percent(l, r.service_level));
                ui.label(secs(l, r.asa_ms));
                ui.label(secs(l, r.aht_ms));
                ui.label(r.transfers.to_string());
                ui.label(r.callbacks.to_string());
                ui.label(crate::i18n::percent(l, r.fcr));
                if agents {
                    ui.label(crate::i18n::percent(l, r.occupancy));
                }
                ui.end_row();
            }
        });
}

/// Keyboard shortcuts for call actions; each only fires when its button would be enabled.
fn shortcuts(ui: &mut Ui, state: &DeskState, forms: &Forms, out: &mut Vec<UiCommand>) {
    let pressed = |ui: &mut Ui, key: Key| ui.input_mut(|i| i.consume_key(Modifiers::NONE, key));
    if pressed(ui, keys::READY) && state.can_ready() {
        out.push(UiCommand::Cti(Command::Ready));
    }
    if pressed(ui, keys::NOT_READY)
        && state.can_not_ready()
        && let Some(reason) = forms.reason.clone()
    {
        out.push(UiCommand::Cti(Command::NotReady { reason }));
    }
    let Some(call) = control_call(state) else {
        return;
    };
    let a = state.actions(&call);
    let c = || call.clone();
    if pressed(ui, keys::ANSWER) && a.answer {
        out.push(UiCommand::Cti(Command::Answer { call: c() }));
    }
    if pressed(ui, keys::REJECT) && a.reject {
        out.push(UiCommand::Cti(Command::Reject { call: c() }));
    }
    if pressed(ui, keys::HOLD) {
        if a.hold {
            out.push(UiCommand::Cti(Command::Hold { call: c() }));
        } else if a.resume {
            out.push(UiCommand::Cti(Command::Resume { call: c() }));
        }
    }
    if pressed(ui, keys::MUTE) {
        if a.mute {
            out.push(UiCommand::Cti(Command::Mute { call: c() }));
        } else if a.unmute {
            out.push(UiCommand::Cti(Command::Unmute { call: c() }));
        }
    }
    if pressed(ui, keys::HANGUP) && a.hangup {
        out.push(UiCommand::Cti(Command::Hangup { call: c() }));
    }
    let target = transfer_target(forms, &state.dial_plan);
    if pressed(ui, keys::TRANSFER)
        && a.transfer
        && let Some(to) = target.clone()
    {
        out.push(UiCommand::Cti(Command::BlindTransfer { call: c(), to }));
    }
    if pressed(ui, keys::CONSULT)
        && a.consult
        && let Some(to) = target
    {
        out.push(UiCommand::Cti(Command::Consult { call: c(), to }));
    }
    if pressed(ui, keys::COMPLETE) && a.complete_transfer {
        out.push(UiCommand::Cti(Command::CompleteTransfer { call: c() }));
    }
    if pressed(ui, keys::CONFERENCE) && a.conference {
        out.push(UiCommand::Cti(Command::Conference { call: c() }));
    }
}

/// Why a worklist line's Take button is disabled (a catalogue id), or `None`.
pub fn take_blocker(state: &DeskState, line: &WorkLine) -> Option<&'static str> {
    let me = state.session.as_ref().map(|s| &s.profile.agent);
    if is_done(line) {
        Some("work-why-closed")
    } else if line.assignee.is_some() && line.assignee.as_ref() == me {
        Some("work-why-yours")
    } else {
        None
    }
}

/// Why a voicemail's Play button is disabled (a catalogue id), or `None`.
pub fn play_blocker(state: &DeskState, line: &WorkLine) -> Option<&'static str> {
    if !line.has_recording {
        Some("work-why-no-recording")
    } else if !state.connected() {
        Some("why-offline")
    } else if !state.calls.is_empty() {
        Some("work-why-on-call")
    } else {
        None
    }
}

/// Why a worklist line's Close button is disabled (a catalogue id), or `None`.
pub fn close_blocker(line: &WorkLine) -> Option<&'static str> {
    is_done(line).then_some("work-why-closed")
}

fn is_done(line: &WorkLine) -> bool {
    matches!(line.status, TicketStatus::Solved | TicketStatus::Closed)
}

fn kind_text(l: Lang, kind: WorkKind) -> RichText {
    match kind {
        WorkKind::Voicemail => RichText::new(t!(l, "work-kind-voicemail"))
            .strong()
            .color(Color32::from_rgb(0xE0, 0x9A, 0x30)),
        WorkKind::Ticket => RichText::new(t!(l, "work-kind-ticket")),
        WorkKind::FollowUp => RichText::new(t!(l, "work-kind-follow-up")),
    }
}

/// When a line is due, or how long it has waited.
fn when_text(l: Lang, line: &WorkLine, wall: UnixMillis) -> RichText {
    match line.due {
        Some(due) if due.0 >= wall.0 => RichText::new(t!(
            l,
            "work-due-in",
            time = crate::clock::format_span(wall.secs_until(due))
        )),
        Some(due) => RichText::new(t!(
            l,
            "work-overdue",
            time = crate::clock::format_span(due.secs_until(wall))
        ))
        .color(Color32::LIGHT_RED),
        None => RichText::new(t!(
            l,
            "work-waiting",
            time = crate::clock::format_span(line.created.secs_until(wall))
        )),
    }
}

/// A button that says on hover why it is disabled.
fn work_button(ui: &mut Ui, l: Lang, label: String, why: Option<&'static str>) -> bool {
    let r = ui.add_enabled(why.is_none(), egui::Button::new(label));
    match why {
        Some(why) => r.on_disabled_hover_text(crate::i18n::format(l, why, &[])),
        None => r,
    }
    .clicked()
}

/// The Work tab: the agent's worklist, due first, with Take, Play and Close on each line.
fn worklist(ui: &mut Ui, state: &DeskState, wall: UnixMillis, out: &mut Vec<UiCommand>) {
    let l = state.lang;
    let me = state.session.as_ref().map(|s| s.profile.agent.clone());
    ui.horizontal(|ui| {
        ui.heading(t!(l, "work-title"));
        if ui.button(t!(l, "work-refresh")).clicked() {
            out.push(UiCommand::LoadWorklist);
        }
        match &state.worklist.load {
            WorkLoad::NotLoaded | WorkLoad::Loading { .. } => {
                ui.label(t!(l, "work-loading"));
            }
            WorkLoad::Loaded { at } => {
                ui.label(t!(
                    l,
                    "work-loaded",
                    time = crate::clock::format_span(at.secs_until(wall))
                ));
            }
            WorkLoad::Failed { error, .. } => {
                ui.colored_label(
                    Color32::LIGHT_RED,
                    t!(l, "work-load-failed", reason = error.as_str()),
                );
            }
        }
    });
    if let Some(session) = &state.session {
        let queues: Vec<&str> = session.profile.queues.iter().map(|q| q.as_str()).collect();
        ui.label(if queues.is_empty() {
            t!(l, "work-no-queues")
        } else {
            t!(l, "work-queues", queues = queues.join(", "))
        });
    }
    place_messages(ui, state, Place::Work);
    ui.separator();
    let lines = &state.worklist.lines;
    if lines.is_empty() {
        if matches!(state.worklist.load, WorkLoad::Loaded { .. }) {
            ui.label(t!(l, "work-empty"));
        }
        return;
    }
    for line in lines {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            work_row(ui, state, line, me.as_ref(), wall, out);
        });
    }
}

/// One worklist line in two rows: what and who, then where, when, whose and the actions.
fn work_row(
    ui: &mut Ui,
    state: &DeskState,
    line: &WorkLine,
    me: Option<&hotline_cti::AgentId>,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let l = state.lang;
    ui.horizontal_wrapped(|ui| {
        ui.label(kind_text(l, line.kind));
        let subject = RichText::new(&line.subject).strong();
        let subject = if is_done(line) {
            subject.strikethrough()
        } else {
            subject
        };
        ui.label(subject).on_hover_text(t!(
            l,
            "work-ticket-line",
            id = line.ticket.as_str(),
            status = ticket_status_name(l, line.status),
            priority = priority_name(l, line.priority)
        ));
        ui.label("·");
        match &line.customer {
            Some(c) => {
                let name = c
                    .name
                    .as_ref()
                    .map_or_else(|| c.id.as_str().to_owned(), |n| n.expose().clone());
                if ui.link(name).clicked() {
                    out.push(UiCommand::OpenCustomer(c.id.clone()));
                }
            }
            None => {
                ui.label(t!(l, "work-no-customer"));
            }
        }
    });
    ui.horizontal_wrapped(|ui| {
        if let Some(q) = &line.queue {
            ui.label(t!(l, "work-in-queue", queue = q.as_str()));
            ui.label("·");
        }
        ui.label(when_text(l, line, wall));
        ui.label("·");
        ui.label(match &line.assignee {
            Some(a) if Some(a) == me => t!(l, "work-assignee-me", agent = a.as_str()),
            Some(a) => t!(l, "work-assignee", agent = a.as_str()),
            None => t!(l, "work-unassigned"),
        });
        ui.separator();
        if work_button(ui, l, t!(l, "work-take"), take_blocker(state, line)) {
            out.push(UiCommand::EditWork {
                ticket: line.ticket.clone(),
                edit: TicketEdit::Take,
            });
        }
        if line.kind == WorkKind::Voicemail
            && work_button(ui, l, t!(l, "work-play"), play_blocker(state, line))
        {
            out.push(UiCommand::Cti(Command::PlayRecording {
                ticket: line.ticket.clone(),
            }));
        }
        if work_button(ui, l, t!(l, "work-close"), close_blocker(line)) {
            out.push(UiCommand::EditWork {
                ticket: line.ticket.clone(),
                edit: TicketEdit::Status {
                    status: TicketStatus::Solved,
                },
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn skill_lists_parse() {
        let s = super::parse_skills(" billing:5, spanish : 4 ").expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!((s[1].skill.as_str(), s[1].level), ("spanish", 4));
        assert!(super::parse_skills("").is_none());
        assert!(super::parse_skills("billing").is_none());
        assert!(super::parse_skills("billing:0").is_none());
        assert!(super::parse_skills("billing:6").is_none());
        assert!(super::parse_skills(":3").is_none());
    }

    #[test]
    fn amounts_parse_to_minor_units() {
        assert_eq!(parse_amount("49.99"), Some(4999));
        assert_eq!(parse_amount("49.9"), Some(4990));
        assert_eq!(parse_amount("12"), Some(1200));
        assert_eq!(parse_amount(" 0.5 "), Some(50));
        assert_eq!(parse_amount("0"), None);
        assert_eq!(parse_amount("1.234"), None);
        assert_eq!(parse_amount("abc"), None);
        assert_eq!(parse_amount(".5"), None);
        assert_eq!(parse_amount("-1"), None);
    }
}
