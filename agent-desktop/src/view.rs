//! Drawing. Reads [`DeskState`], edits only form buffers ([`Forms`]), and returns
//! [`UiCommand`]s that the app applies after the frame (STYLE.md item 13).

use egui::{Color32, Key, Modifiers, RichText, Ui};
use hotline_cti::{
    AfterWrapUp, AgentState, CallDirection, CallId, CallState, Command, DtmfDigits, Money,
    PaymentField, PaymentStage, Pii, ReasonCode, TicketDraft, TicketId, TicketPriority,
    TicketStatus, TransferTarget, UnixMillis,
};

use crate::client::ConnState;
use crate::clock::{format_duration, format_span};
use crate::reports::{Report, ReportQuery, format_day, format_hhmm, parse_day};
use crate::state::{CallActions, DeskState, Level};
use hotline_store::reports::{KpiGroup, KpiRow};

/// What the agent asked for during a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
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
    /// Supervisors: the wallboard, agents and help requests.
    Wallboard,
    /// Supervisors: KPI reports per interval, queue and agent.
    Reports,
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
    /// Customer search text.
    pub search: String,
    /// The central area's tab.
    pub tab: Tab,
    /// Supervisors: skills being edited, per agent (`billing:5, spanish:3`).
    pub skills: std::collections::HashMap<hotline_cti::AgentId, String>,
    /// Wrap-up form.
    pub wrap: WrapForm,
    /// Reports: the day (`YYYY-MM-DD`, UTC); filled with today at first sight.
    pub report_day: String,
    /// Reports: interval length in minutes (15, 30 or 60).
    pub report_interval: u32,
    /// Reports: thresholds and the vendor-dependent choices (the interval is `report_interval`).
    pub report_settings: hotline_store::reports::KpiSettings,
    /// Reports: the table shown and exported.
    pub report_group: KpiGroup,
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
            target_kind: TargetKind::Agent,
            target: String::new(),
            dtmf: String::new(),
            dial: String::new(),
            pay_amount: String::new(),
            pay_reference: String::new(),
            help: String::new(),
            search: String::new(),
            tab: Tab::Calls,
            skills: std::collections::HashMap::new(),
            wrap: WrapForm::default(),
            report_day: String::new(),
            report_interval: 30,
            report_settings: hotline_store::reports::KpiSettings::default(),
            report_group: KpiGroup::Queue,
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
    if forms.tab == Tab::Wallboard && state.is_supervisor() {
        if !state.wallboard_subscribed && state.connected() {
            out.push(UiCommand::Cti(Command::SubscribeWallboard {
                queues: Vec::new(),
            }));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::both()
                .id_salt("board_scroll")
                .show(ui, |ui| wallboard(ui, state, forms, wall, &mut out));
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
    egui::Panel::right("customers")
        .default_size(360.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("customers_scroll")
                .show(ui, |ui| customers_panel(ui, state, forms, wall, &mut out));
        });
    egui::CentralPanel::default().show(ui, |ui| {
        egui::ScrollArea::vertical()
            .id_salt("pop_scroll")
            .show(ui, |ui| {
                if state.wrap_up.is_some() {
                    wrap_up_form(ui, state, forms, wall, &mut out);
                    ui.separator();
                }
                screen_pop(ui, state, wall, &mut out);
            });
    });
    out
}

fn login_screen(ui: &mut Ui, state: &DeskState, forms: &mut Forms, out: &mut Vec<UiCommand>) {
    egui::CentralPanel::default().show(ui, |ui| {
        ui.heading("Hotline agent desktop");
        ui.add_space(8.0);
        egui::Grid::new("login_grid").num_columns(2).show(ui, |ui| {
            let l = ui.label("Switch URL");
            ui.add(egui::TextEdit::singleline(&mut forms.url).hint_text("ws://host:8080/cti"))
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Agent id");
            ui.add(egui::TextEdit::singleline(&mut forms.agent).hint_text("1001"))
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Password");
            ui.add(egui::TextEdit::singleline(&mut forms.password).password(true))
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Extension");
            ui.add(egui::TextEdit::singleline(&mut forms.extension).hint_text("own phone"))
                .labelled_by(l.id);
            ui.end_row();
        });
        let busy = matches!(state.connection, ConnState::Connecting);
        let ready = !forms.agent.trim().is_empty() && !forms.password.is_empty() && !busy;
        let submit = ui.add_enabled(ready, egui::Button::new("Log in")).clicked()
            || (ready && ui.input(|i| i.key_pressed(Key::Enter)));
        if submit {
            out.push(UiCommand::Login {
                url: forms.url.trim().to_owned(),
                agent: forms.agent.trim().to_owned(),
                password: hotline_cti::Secret::new(std::mem::take(&mut forms.password)),
                extension: forms.extension.trim().to_owned(),
            });
        }
        connection_label(ui, &state.connection);
        if let Some(err) = &state.login_error {
            ui.colored_label(Color32::LIGHT_RED, err);
        }
    });
}

fn connection_label(ui: &mut Ui, conn: &ConnState) {
    let (color, text) = match conn {
        ConnState::Offline => (Color32::GRAY, "Offline".to_owned()),
        ConnState::Connecting => (Color32::YELLOW, "Connecting...".to_owned()),
        ConnState::Connected => (Color32::LIGHT_GREEN, "Connected".to_owned()),
        ConnState::Reconnecting {
            attempt,
            retry_in,
            reason,
        } => (
            Color32::ORANGE,
            format!(
                "Reconnecting (attempt {attempt}, next in {:.0} s): {reason}",
                retry_in.as_secs_f32().ceil()
            ),
        ),
    };
    ui.colored_label(color, text);
}

fn state_name(state: AgentState) -> &'static str {
    match state {
        AgentState::LoggedOut => "Logged out",
        AgentState::NotReady => "Not ready",
        AgentState::Ready => "Ready",
        AgentState::Ringing => "Ringing",
        AgentState::OnCall => "On call",
        AgentState::WrapUp => "Wrap-up",
    }
}

fn state_bar(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    ui.horizontal(|ui| {
        if let Some(session) = &state.session {
            ui.label(
                RichText::new(format!(
                    "{} ({})",
                    session.profile.name, session.profile.agent
                ))
                .strong(),
            );
        }
        if state.is_supervisor() {
            ui.separator();
            ui.selectable_value(&mut forms.tab, Tab::Calls, "Calls");
            ui.selectable_value(&mut forms.tab, Tab::Wallboard, "Wallboard");
            ui.selectable_value(&mut forms.tab, Tab::Reports, "Reports");
        }
        match &state.agent {
            Some(agent) => {
                let mut text = format!("State: {}", state_name(agent.state));
                if let Some(reason) = &agent.reason {
                    text.push_str(&format!(" ({reason})"));
                }
                ui.label(RichText::new(text).strong());
                ui.label(format!(
                    "for {}",
                    format_duration(state.time_in_state(wall).unwrap_or(0))
                ));
            }
            None => {
                ui.label("State: unknown");
            }
        }
        ui.separator();
        if ui
            .add_enabled(state.can_ready(), egui::Button::new("Ready"))
            .on_hover_text("F2")
            .clicked()
        {
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
        egui::ComboBox::from_label("Reason")
            .selected_text(forms.reason.as_ref().map_or("", |r| r.as_str()).to_owned())
            .show_ui(ui, |ui| {
                for r in &reasons {
                    ui.selectable_value(&mut forms.reason, Some(r.clone()), r.as_str());
                }
            });
        let can_nr = state.can_not_ready() && forms.reason.is_some();
        if ui
            .add_enabled(can_nr, egui::Button::new("Not ready"))
            .on_hover_text("F3")
            .clicked()
            && let Some(reason) = forms.reason.clone()
        {
            out.push(UiCommand::Cti(Command::NotReady { reason }));
        }
        ui.separator();
        connection_label(ui, &state.connection);
        if state.outbox.pending > 0 {
            ui.colored_label(
                Color32::ORANGE,
                format!(
                    "{} outcome(s) waiting for the database",
                    state.outbox.pending
                ),
            )
            .on_hover_text(state.outbox.last_error.clone().unwrap_or_default());
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .add_enabled(state.can_logout(), egui::Button::new("Log out"))
                .clicked()
            {
                out.push(UiCommand::Logout);
            }
        });
    });
}

fn notifications(ui: &mut Ui, state: &DeskState, out: &mut Vec<UiCommand>) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Notifications").strong());
        if state.notifications.is_empty() {
            ui.label("none");
        }
    });
    for n in state.notifications.iter().rev().take(4) {
        ui.horizontal(|ui| {
            let color = match n.level {
                Level::Info => Color32::LIGHT_BLUE,
                Level::Offer => Color32::LIGHT_GREEN,
                Level::Warning => Color32::ORANGE,
                Level::Error => Color32::LIGHT_RED,
            };
            ui.colored_label(color, &n.text);
            if ui.small_button("Dismiss").clicked() {
                out.push(UiCommand::Dismiss(n.id));
            }
        });
    }
}

fn call_state_name(s: CallState) -> &'static str {
    match s {
        CallState::Dialing => "dialing",
        CallState::Ringing => "ringing",
        CallState::Connected => "connected",
        CallState::Held => "on hold",
        CallState::Ended => "ended",
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

fn transfer_target(forms: &Forms) -> Option<TransferTarget> {
    let t = forms.target.trim();
    if t.is_empty() {
        return None;
    }
    Some(match forms.target_kind {
        TargetKind::Agent => TransferTarget::Agent { agent: t.into() },
        TargetKind::Queue => TransferTarget::Queue { queue: t.into() },
        TargetKind::External => TransferTarget::External {
            number: Pii::new(t.to_owned()),
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
    ui.heading("Calls");
    if state.calls.is_empty() {
        ui.label("No calls");
    }
    for c in &state.calls {
        let name = state
            .pops
            .get(&c.call)
            .and_then(|p| p.customer.as_ref())
            .map_or_else(|| c.peer.expose().clone(), |cu| cu.name.expose().clone());
        let mut text = format!(
            "{} {} · {} · {}",
            match c.direction {
                CallDirection::Inbound => "In",
                CallDirection::Outbound => "Out",
                CallDirection::Internal => "Internal",
                CallDirection::Consult => "Consult",
            },
            name,
            call_state_name(c.state),
            format_duration(c.since.secs_until(wall))
        );
        if c.muted {
            text.push_str(" · muted");
        }
        if c.conference {
            text.push_str(" · conference");
        }
        let selected = state.focus.as_ref() == Some(&c.call);
        if ui.selectable_label(selected, text).clicked() {
            out.push(UiCommand::Focus(c.call.clone()));
        }
        if let Some(stage) = state.payments.get(&c.call) {
            ui.label(payment_text(stage));
        }
    }
    ui.separator();
    if let Some(call) = control_call(state) {
        let a = state.actions(&call);
        call_controls(ui, &call, a, forms, out);
    }
    ui.separator();
    ui.label(RichText::new("Dial").strong());
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut forms.dial)
                .hint_text("Number or extension")
                .desired_width(150.0),
        );
        let can_dial = state.connected()
            && !forms.dial.trim().is_empty()
            && state
                .agent
                .as_ref()
                .is_some_and(|a| matches!(a.state, AgentState::NotReady | AgentState::Ready));
        if ui
            .add_enabled(can_dial, egui::Button::new("Call"))
            .clicked()
        {
            let t = forms.dial.trim().to_owned();
            let cmd = if t.len() <= 5 && t.bytes().all(|b| b.is_ascii_digit()) {
                Command::InternalCall {
                    to: hotline_cti::InternalTarget::Extension {
                        extension: t.as_str().into(),
                    },
                }
            } else {
                Command::OutboundCall {
                    number: Pii::new(t),
                    customer: None,
                }
            };
            out.push(UiCommand::Cti(cmd));
        }
    });
    ui.separator();
    ui.label(RichText::new("Help").strong());
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut forms.help)
                .hint_text("Message to supervisor")
                .desired_width(150.0),
        );
        if ui
            .add_enabled(state.connected(), egui::Button::new("Ask for help"))
            .clicked()
        {
            out.push(UiCommand::Cti(Command::RequestHelp {
                call: control_call(state),
                message: std::mem::take(&mut forms.help),
            }));
        }
    });
    ui.separator();
    ui.collapsing("Call history", |ui| {
        if state.history.is_empty() {
            ui.label("No calls yet");
        }
        for h in &state.history {
            let who = h
                .customer
                .as_ref()
                .map_or_else(|| h.peer.expose().clone(), |n| n.expose().clone());
            ui.label(format!(
                "{} · {} · {}",
                who,
                h.end_reason
                    .map_or("ended".to_owned(), |r| format!("{r:?}")),
                h.disposition
                    .as_ref()
                    .map_or("not wrapped up", |d| d.as_str())
            ));
        }
    });
}

fn call_controls(
    ui: &mut Ui,
    call: &CallId,
    a: CallActions,
    forms: &mut Forms,
    out: &mut Vec<UiCommand>,
) {
    let call_cmd = |f: fn(CallId) -> Command| UiCommand::Cti(f(call.clone()));
    ui.label(RichText::new("Call controls").strong());
    ui.horizontal_wrapped(|ui| {
        let button = |ui: &mut Ui, enabled: bool, label: &str, key: &str| {
            ui.add_enabled(enabled, egui::Button::new(label))
                .on_hover_text(key)
                .clicked()
        };
        if button(ui, a.answer, "Answer", "F5") {
            out.push(call_cmd(|call| Command::Answer { call }));
        }
        if button(ui, a.hold, "Hold", "F6") {
            out.push(call_cmd(|call| Command::Hold { call }));
        }
        if button(ui, a.resume, "Resume", "F6") {
            out.push(call_cmd(|call| Command::Resume { call }));
        }
        if button(ui, a.mute, "Mute", "F7") {
            out.push(call_cmd(|call| Command::Mute { call }));
        }
        if button(ui, a.unmute, "Unmute", "F7") {
            out.push(call_cmd(|call| Command::Unmute { call }));
        }
        if button(ui, a.hangup, "Hang up", "F8") {
            out.push(call_cmd(|call| Command::Hangup { call }));
        }
    });
    ui.horizontal(|ui| {
        ui.radio_value(&mut forms.target_kind, TargetKind::Agent, "Agent");
        ui.radio_value(&mut forms.target_kind, TargetKind::Queue, "Queue");
        ui.radio_value(&mut forms.target_kind, TargetKind::External, "Number");
    });
    ui.horizontal(|ui| {
        let l = ui.label("Transfer target");
        ui.add(
            egui::TextEdit::singleline(&mut forms.target)
                .hint_text("agent, queue or number")
                .desired_width(160.0),
        )
        .labelled_by(l.id);
    });
    let target = transfer_target(forms);
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(
                a.transfer && target.is_some(),
                egui::Button::new("Transfer"),
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
            .add_enabled(a.consult && target.is_some(), egui::Button::new("Consult"))
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
            .add_enabled(a.complete_transfer, egui::Button::new("Complete transfer"))
            .on_hover_text("F11")
            .clicked()
        {
            out.push(call_cmd(|call| Command::CompleteTransfer { call }));
        }
        if ui
            .add_enabled(a.cancel_consult, egui::Button::new("Cancel consult"))
            .clicked()
        {
            out.push(call_cmd(|call| Command::CancelConsult { call }));
        }
        if ui
            .add_enabled(a.conference, egui::Button::new("Conference"))
            .on_hover_text("F12")
            .clicked()
        {
            out.push(call_cmd(|call| Command::Conference { call }));
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut forms.dtmf)
                .hint_text("DTMF digits")
                .desired_width(100.0),
        );
        let digits = DtmfDigits::new(forms.dtmf.trim()).ok();
        if ui
            .add_enabled(a.dtmf && digits.is_some(), egui::Button::new("Send DTMF"))
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
                .hint_text("Amount")
                .desired_width(70.0),
        );
        ui.add(
            egui::TextEdit::singleline(&mut forms.pay_reference)
                .hint_text("Reference")
                .desired_width(90.0),
        );
        let amount = parse_amount(&forms.pay_amount);
        let ok = a.payment && amount.is_some() && !forms.pay_reference.trim().is_empty();
        if ui
            .add_enabled(ok, egui::Button::new("Take payment"))
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

fn payment_text(stage: &PaymentStage) -> String {
    match stage {
        PaymentStage::Started => "Payment: caller is in the payment flow".into(),
        PaymentStage::Collecting {
            field,
            entered,
            expected,
        } => {
            let f = match field {
                PaymentField::CardNumber => "card number",
                PaymentField::Expiry => "expiry",
                PaymentField::SecurityCode => "security code",
            };
            match expected {
                Some(n) => format!("Payment: {f}, {entered} of {n} digits"),
                None => format!("Payment: {f}, {entered} digits"),
            }
        }
        PaymentStage::Processing => "Payment: processing".into(),
        PaymentStage::Approved { reference } => format!("Payment approved ({reference})"),
        PaymentStage::Declined { reason } => format!("Payment declined: {reason}"),
        PaymentStage::Cancelled => "Payment cancelled".into(),
    }
}

fn screen_pop(ui: &mut Ui, state: &DeskState, wall: UnixMillis, out: &mut Vec<UiCommand>) {
    let Some(pop) = state.focused_pop() else {
        ui.heading("No call");
        ui.label("The caller's record appears here when a call is offered.");
        return;
    };
    let ringing = state
        .call(&pop.call)
        .is_some_and(|c| c.state == CallState::Ringing);
    ui.heading(if ringing { "Incoming call" } else { "Caller" });
    egui::Grid::new("pop_grid").num_columns(2).show(ui, |ui| {
        ui.label("Number");
        ui.label(pop.ani.expose());
        ui.end_row();
        ui.label("Dialed");
        ui.label(&pop.dnis);
        ui.end_row();
        ui.label("Queue");
        ui.label(&pop.queue_name);
        ui.end_row();
        ui.label("Waited");
        ui.label(format_duration(u64::from(pop.waited_secs)));
        ui.end_row();
        if ringing {
            ui.label("Ringing for");
            ui.label(format_duration(pop.offered_at.secs_until(wall)));
            ui.end_row();
        }
        ui.label("IVR path");
        ui.add(egui::Label::new(pop.ivr_path.join(" > ")).wrap());
        ui.end_row();
        for input in &pop.ivr_inputs {
            ui.label(format!("Entered {}", input.name));
            ui.label(input.value.expose());
            ui.end_row();
        }
    });
    ui.separator();
    let Some(customer) = &pop.customer else {
        ui.heading("Unknown caller");
        match state.links.get(&pop.call) {
            Some((_, name)) => {
                ui.label(format!("The number will be linked to {}", name.expose()));
            }
            None => {
                ui.label("No customer has this number. Find the customer on the right and link the number, or enter a name in the wrap-up form to create one.");
            }
        }
        return;
    };
    ui.label(match pop.caller_proof {
        hotline_cti::CallerProof::Pin => "Identity verified: the caller keyed the customer's PIN.",
        hotline_cti::CallerProof::Claimed => {
            "Identity not verified: matched by number only, which can be forged. Check who is calling before changing the account."
        }
    });
    customer_record(ui, state, customer, wall, out);
}

/// May the agent start a call now (click-to-dial)?
fn can_dial(state: &DeskState) -> bool {
    state.connected()
        && state
            .agent
            .as_ref()
            .is_some_and(|a| matches!(a.state, AgentState::NotReady | AgentState::Ready))
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
    ui.heading(customer.name.expose());
    ui.label(format!("Tier: {}", customer.tier));
    let dial_ok = can_dial(state);
    for id in &customer.identities {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{}: {}{}",
                id.kind,
                id.value.expose(),
                if id.verified { " (verified)" } else { "" }
            ));
            if id.kind == "phone"
                && ui
                    .add_enabled(
                        dial_ok,
                        egui::Button::new(format!("Call {}", id.value.expose())),
                    )
                    .clicked()
            {
                out.push(UiCommand::Cti(Command::OutboundCall {
                    number: id.value.clone(),
                    customer: Some(customer.id.clone()),
                }));
            }
        });
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Open tickets").strong());
    if customer.open_tickets.is_empty() {
        ui.label("none");
    }
    for t in &customer.open_tickets {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} {} [{:?}, {:?}]",
                t.id, t.subject, t.status, t.priority
            ));
            if ui.small_button(format!("History {}", t.id)).clicked() {
                out.push(UiCommand::ShowTicketHistory(t.id.clone()));
            }
        });
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Last contacts").strong());
    if customer.last_contacts.is_empty() {
        ui.label("none");
    }
    for c in &customer.last_contacts {
        ui.label(format!(
            "{} ago · {} · {}{}",
            format_span(c.at.secs_until(wall)),
            c.queue.as_ref().map_or("-", |q| q.as_str()),
            c.disposition.as_ref().map_or("no outcome", |d| d.as_str()),
            c.summary
                .as_ref()
                .map_or(String::new(), |s| format!(" · {}", s.expose()))
        ));
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Bookings").strong());
    if customer.bookings.is_empty() {
        ui.label("none");
    }
    for b in &customer.bookings {
        let when = if b.at > wall {
            format!("in {}", format_span(wall.secs_until(b.at)))
        } else {
            format!("{} ago", format_span(b.at.secs_until(wall)))
        };
        ui.label(format!("{} {} · {} · {}", b.id, b.what, when, b.status));
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
    ui.heading("Customers");
    ui.horizontal(|ui| {
        let l = ui.label("Find customer");
        let r = ui
            .add(
                egui::TextEdit::singleline(&mut forms.search)
                    .hint_text("name, number, e-mail")
                    .desired_width(150.0),
            )
            .labelled_by(l.id);
        let enter = r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
        let ok = !forms.search.trim().is_empty();
        if (ui.add_enabled(ok, egui::Button::new("Search")).clicked() || enter) && ok {
            out.push(UiCommand::Search(forms.search.trim().to_owned()));
        }
    });
    if state.search.pending {
        ui.label("Searching...");
    }
    if let Some(err) = &state.search.error {
        ui.colored_label(Color32::LIGHT_RED, err);
    } else if !state.search.pending
        && !state.search.query.is_empty()
        && state.search.hits.is_empty()
    {
        ui.label("No customer found");
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
                    .small_button(format!("Link {} to caller", hit.name.expose()))
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
        if ui.small_button("Close record").clicked() {
            out.push(UiCommand::CloseCustomer);
        }
        customer_record(ui, state, view, wall, out);
    }
    if let Some((id, changes)) = &state.ticket_history {
        ui.separator();
        ui.label(RichText::new(format!("Ticket {id} history")).strong());
        match changes {
            Ok(list) if list.is_empty() => {
                ui.label("No changes recorded");
            }
            Ok(list) => {
                for c in list {
                    let what = match (&c.old, &c.new) {
                        (Some(o), Some(n)) => format!("{}: {o} -> {n}", c.field),
                        (None, Some(n)) => format!("{}: {n}", c.field),
                        _ => c.field.clone(),
                    };
                    ui.label(format!(
                        "{} ago · {} · {what}",
                        format_span(c.at.secs_until(wall)),
                        c.actor.as_deref().unwrap_or("-")
                    ));
                }
            }
            Err(e) => {
                ui.colored_label(Color32::LIGHT_RED, format!("Cannot load the history: {e}"));
            }
        }
    }
}

fn wrap_up_form(
    ui: &mut Ui,
    state: &DeskState,
    forms: &mut Forms,
    wall: UnixMillis,
    out: &mut Vec<UiCommand>,
) {
    let Some(wrap) = &state.wrap_up else { return };
    if forms.wrap.call.as_ref() != Some(&wrap.call) {
        forms.wrap = WrapForm {
            call: Some(wrap.call.clone()),
            ..WrapForm::default()
        };
    }
    let pop = state.pops.get(&wrap.call);
    ui.heading("Wrap-up");
    let elapsed = wrap.since.secs_until(wall);
    let timer = match wrap.limit_secs {
        Some(limit) => format!(
            "Wrap-up time {} of {}",
            format_duration(elapsed),
            format_duration(u64::from(limit))
        ),
        None => format!("Wrap-up time {}", format_duration(elapsed)),
    };
    let over = wrap.limit_secs.is_some_and(|l| elapsed > u64::from(l));
    ui.colored_label(if over { Color32::ORANGE } else { Color32::GRAY }, timer);

    ui.label(RichText::new("Disposition (required)").strong());
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
    let l = ui.label("Notes");
    ui.add(
        egui::TextEdit::multiline(&mut forms.wrap.notes)
            .hint_text("What happened, what was promised")
            .desired_rows(3),
    )
    .labelled_by(l.id);

    if pop.is_some_and(|p| p.new_customer_form) {
        let l = ui.label("New customer name");
        ui.add(
            egui::TextEdit::singleline(&mut forms.wrap.new_customer)
                .hint_text("Leave empty to skip"),
        )
        .labelled_by(l.id);
    }

    ui.label(RichText::new("Ticket").strong());
    let open: Vec<(TicketId, String)> = pop
        .and_then(|p| p.customer.as_ref())
        .map(|c| {
            c.open_tickets
                .iter()
                .map(|t| (t.id.clone(), t.subject.clone()))
                .collect()
        })
        .unwrap_or_default();
    ui.horizontal_wrapped(|ui| {
        ui.radio_value(&mut forms.wrap.ticket, TicketChoice::None, "No ticket");
        ui.radio_value(&mut forms.wrap.ticket, TicketChoice::New, "New ticket");
        for (id, subject) in &open {
            ui.radio_value(
                &mut forms.wrap.ticket,
                TicketChoice::Update(id.clone()),
                format!("Update {id}: {subject}"),
            );
        }
    });
    if forms.wrap.ticket != TicketChoice::None {
        if let TicketChoice::Update(id) = &forms.wrap.ticket
            && forms.wrap.subject.is_empty()
            && let Some((_, subject)) = open.iter().find(|(t, _)| t == id)
        {
            forms.wrap.subject = subject.clone();
        }
        ui.add(egui::TextEdit::singleline(&mut forms.wrap.subject).hint_text("Ticket subject"));
        ui.add(
            egui::TextEdit::multiline(&mut forms.wrap.body)
                .hint_text("Ticket text")
                .desired_rows(2),
        );
        let status = forms.wrap.status.get_or_insert(TicketStatus::Open);
        ui.horizontal(|ui| {
            ui.label("Status");
            for (s, name) in [
                (TicketStatus::Open, "open"),
                (TicketStatus::Pending, "pending"),
                (TicketStatus::Solved, "solved"),
            ] {
                ui.radio_value(status, s, name);
            }
        });
        let priority = forms.wrap.priority.get_or_insert(TicketPriority::Normal);
        ui.horizontal(|ui| {
            ui.label("Priority");
            for (p, name) in [
                (TicketPriority::Low, "low"),
                (TicketPriority::Normal, "normal"),
                (TicketPriority::High, "high"),
                (TicketPriority::Urgent, "urgent"),
            ] {
                ui.radio_value(priority, p, name);
            }
        });
    }

    let reasons = state
        .session
        .as_ref()
        .map(|s| s.not_ready_reasons.clone())
        .unwrap_or_default();
    ui.horizontal(|ui| {
        ui.label("Afterwards");
        ui.radio_value(&mut forms.wrap.then_not_ready, None, "ready");
        for r in &reasons {
            ui.radio_value(
                &mut forms.wrap.then_not_ready,
                Some(r.clone()),
                format!("not ready: {r}"),
            );
        }
    });

    let ticket_ok =
        forms.wrap.ticket == TicketChoice::None || !forms.wrap.subject.trim().is_empty();
    let can_submit = forms.wrap.disposition.is_some() && ticket_ok;
    let clicked = ui
        .add_enabled(can_submit, egui::Button::new("Submit wrap-up"))
        .on_hover_text("Ctrl+Enter")
        .clicked()
        || (can_submit && ui.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::Enter)));
    if !can_submit {
        ui.label("Pick a disposition to finish wrap-up.");
    }
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

fn mode_name(mode: hotline_cti::MonitorMode) -> &'static str {
    match mode {
        hotline_cti::MonitorMode::Listen => "listening",
        hotline_cti::MonitorMode::Whisper => "whispering",
        hotline_cti::MonitorMode::Barge => "barged in",
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
    ui.heading("Wallboard");
    let Some(board) = &state.wallboard else {
        ui.label(if state.connected() {
            "Waiting for the first wallboard..."
        } else {
            "Not connected"
        });
        return;
    };
    ui.label(format!(
        "Updated {} ago",
        format_duration(board.at.secs_until(wall))
    ));
    egui::Grid::new("queues_grid")
        .striped(true)
        .num_columns(9)
        .show(ui, |ui| {
            for h in [
                "Queue",
                "Waiting",
                "Longest",
                "Service level",
                "ASA",
                "Answered",
                "Abandoned",
                "Callbacks",
                "Agents r/b/w/n",
            ] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for q in &board.queues {
                ui.label(&q.name);
                ui.label(format!("{} waiting", q.waiting));
                ui.label(format_duration(u64::from(q.longest_wait_secs)));
                ui.label(format!(
                    "{}.{} % in {} s",
                    q.service_level_permille / 10,
                    q.service_level_permille % 10,
                    q.service_level_secs
                ));
                ui.label(format!("{} s", q.asa_secs));
                ui.label(format!("{} of {}", q.answered, q.offered));
                ui.label(q.abandoned.to_string());
                ui.label(q.callbacks_pending.to_string());
                ui.label(format!(
                    "{}/{}/{}/{}",
                    q.agents.ready, q.agents.busy, q.agents.wrap_up, q.agents.not_ready
                ));
                ui.end_row();
            }
        });
    ui.separator();
    ui.heading("Agents");
    let connected = state.connected();
    for row in &board.agents {
        let agent = &row.status.agent;
        let mut text = format!(
            "{} ({}) · {}",
            row.name,
            agent,
            state_name(row.status.state)
        );
        if let Some(r) = &row.status.reason {
            text.push_str(&format!(" ({r})"));
        }
        text.push_str(&format!(
            " · {} · {} handled",
            format_duration(row.status.since.secs_until(wall)),
            row.handled_today
        ));
        if let Some(c) = &row.customer {
            text.push_str(&format!(" · with {}", c.expose()));
        }
        let me = state
            .session
            .as_ref()
            .is_some_and(|s| &s.profile.agent == agent);
        if me {
            ui.label(format!("{text} (you)"));
            ui.add_space(4.0);
            continue;
        }
        ui.label(text);
        ui.horizontal_wrapped(|ui| {
            let call = row.call.clone();
            let mine = call.as_ref().and_then(|c| state.monitoring.get(c)).copied();
            for (mode, verb) in [
                (MonitorMode::Listen, "Listen"),
                (MonitorMode::Whisper, "Whisper"),
                (MonitorMode::Barge, "Barge"),
            ] {
                let enabled = connected && call.is_some() && mine != Some(mode);
                if ui
                    .add_enabled(enabled, egui::Button::new(format!("{verb} {agent}")))
                    .clicked()
                    && let Some(call) = call.clone()
                {
                    out.push(UiCommand::Cti(Command::Monitor { call, mode }));
                }
            }
            if let (Some(c), Some(mode)) = (&call, mine) {
                ui.label(format!("You are {}", mode_name(mode)));
                if ui.button(format!("Stop monitoring {agent}")).clicked() {
                    out.push(UiCommand::Cti(Command::StopMonitor { call: c.clone() }));
                }
            }
            if ui
                .add_enabled(
                    connected && call.is_some(),
                    egui::Button::new(format!("Take over {agent}")),
                )
                .clicked()
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
                    egui::Button::new(format!("Not ready {agent}")),
                )
                .on_hover_text("with the reason selected in the state bar")
                .clicked()
                && let Some(reason) = forms.reason.clone()
            {
                out.push(UiCommand::Cti(Command::ForceNotReady {
                    agent: agent.clone(),
                    reason,
                }));
            }
            if ui
                .add_enabled(connected, egui::Button::new(format!("Log out {agent}")))
                .clicked()
            {
                out.push(UiCommand::Cti(Command::ForceLogout {
                    agent: agent.clone(),
                }));
            }
        });
        ui.horizontal(|ui| {
            let text = forms.skills.entry(agent.clone()).or_default();
            let l = ui.label(format!("Skills {agent}"));
            ui.add(
                egui::TextEdit::singleline(text)
                    .hint_text("billing:5, spanish:3")
                    .desired_width(200.0),
            )
            .labelled_by(l.id);
            let parsed = parse_skills(text);
            if ui
                .add_enabled(
                    connected && parsed.is_some(),
                    egui::Button::new(format!("Set skills {agent}")),
                )
                .on_hover_text("replaces the agent's skills; routing uses them at once")
                .clicked()
                && let Some(skills) = parsed
            {
                out.push(UiCommand::Cti(Command::SetSkills {
                    agent: agent.clone(),
                    skills,
                }));
            }
        });
        ui.add_space(4.0);
    }
    ui.separator();
    ui.heading("Help requests");
    if state.help_requests.is_empty() {
        ui.label("none");
    }
    for h in &state.help_requests {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "{} asks: {} ({} ago)",
                h.agent,
                h.message,
                format_duration(h.at.secs_until(wall))
            ));
            if let Some(call) = &h.call
                && ui
                    .add_enabled(
                        connected,
                        egui::Button::new(format!("Whisper to {}", h.agent)),
                    )
                    .clicked()
            {
                out.push(UiCommand::Cti(Command::Monitor {
                    call: call.clone(),
                    mode: MonitorMode::Whisper,
                }));
            }
            if ui.small_button(format!("Done {}", h.agent)).clicked() {
                out.push(UiCommand::DismissHelp(h.agent.clone()));
            }
        });
    }
}

/// `81.2 %`, or a dash when there is no value.
fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1} %", v * 100.0))
}

/// Whole seconds, or a dash.
fn secs(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{} s", (ms + 500) / 1000))
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
    ui.heading("Reports");
    if forms.report_day.is_empty() {
        forms.report_day = format_day(i64::try_from(wall.0).unwrap_or(0));
    }
    let r = &state.reports;
    ui.horizontal(|ui| {
        let l = ui.label("Day");
        ui.add(egui::TextEdit::singleline(&mut forms.report_day).desired_width(100.0))
            .labelled_by(l.id)
            .on_hover_text("YYYY-MM-DD, UTC");
        ui.label("Interval");
        for mins in [15, 30, 60] {
            ui.selectable_value(&mut forms.report_interval, mins, format!("{mins} min"));
        }
        let day = parse_day(&forms.report_day);
        if ui
            .add_enabled(
                day.is_some() && r.pending.is_none(),
                egui::Button::new("Load report"),
            )
            .clicked()
            && let Some(day) = day
        {
            out.push(UiCommand::LoadReport(ReportQuery {
                day,
                settings: hotline_store::reports::KpiSettings {
                    interval_mins: forms.report_interval,
                    ..forms.report_settings.clone()
                },
            }));
        }
        if day.is_none() {
            ui.colored_label(Color32::RED, "Not a date (YYYY-MM-DD)");
        }
        if r.pending.is_some() {
            ui.spinner();
            ui.label("Loading...");
        }
    });
    // Where vendors disagree it is a setting (docs/kpis.md); applied at the next load.
    ui.horizontal_wrapped(|ui| {
        let set = &mut forms.report_settings;
        let mut sl = set.service_level_ms / 1000;
        let l = ui.label("Service level within");
        ui.add(egui::DragValue::new(&mut sl).range(1..=600).suffix(" s"))
            .labelled_by(l.id);
        set.service_level_ms = sl * 1000;
        let mut short = set.short_abandon_ms / 1000;
        let l = ui.label("Short abandon under");
        ui.add(egui::DragValue::new(&mut short).range(0..=120).suffix(" s"))
            .labelled_by(l.id);
        set.short_abandon_ms = short * 1000;
        ui.checkbox(
            &mut set.sl_counts_abandons,
            "Abandons count against service level",
        );
        ui.checkbox(&mut set.exclude_short_abandons, "Leave out short abandons");
    });
    if let Some(e) = &r.error {
        ui.colored_label(Color32::RED, format!("Cannot load the report: {e}"));
    }
    let Some(report) = &r.report else {
        ui.label("No report loaded");
        return;
    };
    let s = &report.query.settings;
    ui.label(format!(
        "{} in {} minute intervals (UTC); service level: answered within {} s{}; short abandons (under {} s) {}",
        format_day(report.query.day),
        s.interval_mins,
        s.service_level_ms / 1000,
        if s.sl_counts_abandons {
            ", abandons count against it"
        } else {
            ""
        },
        s.short_abandon_ms / 1000,
        if s.exclude_short_abandons {
            "left out"
        } else {
            "counted"
        },
    ));
    let t = &report.total;
    ui.label(
        RichText::new(format!(
            "Day total: offered {} · answered {} · abandoned {} · service level {}",
            t.offered,
            t.answered,
            t.abandoned,
            percent(t.service_level)
        ))
        .strong(),
    );
    report_charts(ui, report);
    ui.separator();
    ui.horizontal(|ui| {
        ui.selectable_value(&mut forms.report_group, KpiGroup::Queue, "By queue");
        ui.selectable_value(&mut forms.report_group, KpiGroup::Agent, "By agent");
        ui.separator();
        let l = ui.label("CSV file");
        ui.add(egui::TextEdit::singleline(&mut forms.report_csv).desired_width(260.0))
            .labelled_by(l.id);
        let path = forms.report_csv.trim();
        if ui
            .add_enabled(!path.is_empty(), egui::Button::new("Export CSV"))
            .on_hover_text("writes the rows of the table below")
            .clicked()
        {
            out.push(UiCommand::ExportCsv {
                path: path.into(),
                group: forms.report_group,
            });
        }
        match &r.export {
            Some(Ok((path, n))) => {
                ui.label(format!("Wrote {n} rows to {}", path.display()));
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::RED, format!("Export failed: {e}"));
            }
            None => {}
        }
    });
    report_table(ui, report, forms.report_group);
}

/// Offered/answered/abandoned bars and the service-level line, per interval, over the busy part
/// of the day.
fn report_charts(ui: &mut Ui, report: &Report) {
    use egui_plot::{Bar, BarChart, Legend, Line, Plot};
    let Some((first, last)) = report.busy_span() else {
        ui.label("No calls on this day");
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
            ui.label(RichText::new("Calls per interval").strong());
            Plot::new("calls_plot")
                .height(height)
                .width(width)
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
                    p.bar_chart(bars("Offered", -w, Color32::from_rgb(90, 140, 220), &|i| {
                        i.offered
                    }));
                    p.bar_chart(bars(
                        "Answered",
                        0.0,
                        Color32::from_rgb(80, 170, 90),
                        &|i| i.answered,
                    ));
                    p.bar_chart(bars("Abandoned", w, Color32::from_rgb(220, 90, 80), &|i| {
                        i.abandoned
                    }));
                });
        });
        ui.vertical(|ui| {
            ui.label(RichText::new("Service level per interval (%)").strong());
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
                        Line::new("Service level", points.clone())
                            .width(2.0)
                            .color(amber),
                    );
                    p.points(
                        egui_plot::Points::new("Service level", points)
                            .radius(3.0)
                            .color(amber),
                    );
                    p.hline(egui_plot::HLine::new("Target 80 %", target).color(Color32::GRAY));
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
fn report_table(ui: &mut Ui, report: &Report, group: KpiGroup) {
    let rows: &[KpiRow] = report.rows(group);
    if rows.is_empty() {
        ui.label("No rows");
        return;
    }
    let agents = group == KpiGroup::Agent;
    egui::Grid::new(if agents { "kpi_agents" } else { "kpi_queues" })
        .striped(true)
        .show(ui, |ui| {
            let mut headers = vec![
                "Interval",
                if agents { "Agent" } else { "Queue" },
                "Offered",
                "Answered",
                "Abandoned",
                "Short ab.",
                "Service level",
                "ASA",
                "AHT",
                "Transfers",
                "Callbacks",
                "FCR",
            ];
            if agents {
                headers.push("Occupancy");
            }
            for h in headers {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for r in rows {
                let step = i64::from(report.query.settings.interval_mins) * 60_000;
                ui.label(format!(
                    "{}-{}",
                    format_hhmm(r.interval_start),
                    format_hhmm(r.interval_start + step)
                ));
                ui.label(&r.key);
                for n in [r.offered, r.answered, r.abandoned, r.short_abandoned] {
                    ui.label(n.to_string());
                }
                ui.label(percent(r.service_level));
                ui.label(secs(r.asa_ms));
                ui.label(secs(r.aht_ms));
                ui.label(r.transfers.to_string());
                ui.label(r.callbacks.to_string());
                ui.label(percent(r.fcr));
                if agents {
                    ui.label(percent(r.occupancy));
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
    let target = transfer_target(forms);
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
