//! The app: channels in, state, view, commands out.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use hotline_cti::{AgentId, Command, Extension, Pii, UnixMillis};
use tokio::sync::mpsc::UnboundedSender;

use crate::client::{ClientChannels, ClientRequest, ClientUpdate, ConnState};
use crate::clock::Clock;
use crate::directory::{DirQuery, DirectoryLink};
use crate::i18n::Lang;
use crate::msg;
use crate::outbox::{
    LinkCustomer, NewCustomer, OutcomeRecord, OutcomeWriter, TicketChangeRecord, TicketEdit,
};
use crate::prefs::Preferences;
use crate::reports::{ReportAnswer, ReportRequest, ReportsLink};
use crate::state::{DeskState, Level, Place};
use crate::view::{self, Forms, UiCommand, WrapUpSubmission};

/// The agent desktop. Each frame: drain CTI updates and outbox news into [`DeskState`], draw,
/// then apply the [`UiCommand`]s the drawing returned.
pub struct DeskApp {
    /// Everything the desktop knows (read by the view, written only here).
    pub state: DeskState,
    /// Form buffers.
    pub forms: Forms,
    requests: UnboundedSender<ClientRequest>,
    updates: Receiver<ClientUpdate>,
    writer: OutcomeWriter,
    directory: DirectoryLink,
    reports: ReportsLink,
    clock: Arc<dyn Clock>,
    /// The newest offer notification the window has drawn attention to.
    attention_for: u64,
    /// Each agent's language, kept between runs.
    prefs: Preferences,
}

impl DeskApp {
    /// An app talking to a CTI client through `channels` and writing outcomes through `writer`.
    pub fn new(
        channels: ClientChannels,
        writer: OutcomeWriter,
        clock: Arc<dyn Clock>,
        default_url: &str,
    ) -> Self {
        DeskApp {
            state: DeskState::new(),
            forms: Forms::new(default_url),
            requests: channels.requests,
            updates: channels.updates,
            writer,
            directory: DirectoryLink::Unavailable,
            reports: ReportsLink::Unavailable,
            clock,
            attention_for: 0,
            prefs: Preferences::in_memory(),
        }
    }

    /// Keeps each agent's language in `prefs` (read at login, written when the agent switches).
    /// The login screen starts in the language last used on this desktop.
    #[must_use]
    pub fn with_preferences(mut self, prefs: Preferences) -> Self {
        self.use_preferences(prefs);
        self
    }

    /// Like [`Self::with_preferences`], on a running app.
    pub fn use_preferences(&mut self, prefs: Preferences) {
        self.state.lang = prefs.last().unwrap_or(self.state.lang);
        self.prefs = prefs;
    }

    /// Starts in `lang` (before login; an agent's own choice wins after login).
    #[must_use]
    pub fn with_language(mut self, lang: Lang) -> Self {
        self.state.lang = lang;
        self
    }

    /// The centre's numbering, for numbers typed in the Dial box and transfer targets.
    #[must_use]
    pub fn with_dial_plan(mut self, plan: crate::numbers::DialPlan) -> Self {
        self.state.dial_plan = plan;
        self
    }

    /// The centre's time zone (offset from UTC, ms) for reports.
    #[must_use]
    pub fn with_centre_offset(mut self, offset_ms: i64) -> Self {
        self.state.centre_offset_ms = offset_ms;
        self
    }

    /// Records what the font set-up found (shown in the state bar when a CJK font is missing).
    #[must_use]
    pub fn with_font_status(mut self, status: crate::fonts::FontStatus) -> Self {
        self.state.fonts = status;
        self
    }

    /// Adds customer search and records (read from the shared database).
    #[must_use]
    pub fn with_directory(mut self, directory: DirectoryLink) -> Self {
        self.directory = directory;
        self
    }

    /// Adds KPI reports for supervisors (read from the shared database, off the UI thread).
    #[must_use]
    pub fn with_reports(mut self, reports: ReportsLink) -> Self {
        self.reports = reports;
        self
    }

    /// Is customer search available?
    pub fn has_directory(&self) -> bool {
        self.directory.available()
    }

    /// Drains CTI updates and outbox news into the state. Called at the start of every frame.
    pub fn pump(&mut self) {
        let wall = self.clock.wall();
        while let Ok(update) = self.updates.try_recv() {
            let login = match &update {
                ClientUpdate::LoggedIn { profile, .. } => Some(profile.agent.clone()),
                _ => None,
            };
            self.state.apply(update, wall);
            if let Some(agent) = login
                && let Some(lang) = self.prefs.language_of(&agent)
            {
                self.state.lang = lang;
            }
        }
        self.state.expire(wall);
        if !self.state.messages_to_ack.is_empty() {
            let ids = std::mem::take(&mut self.state.messages_to_ack);
            self.request(ClientRequest::Send(Command::AckMessages { ids }));
        }
        if self.directory.available() {
            let zh = self.state.lang == crate::i18n::Lang::ZhCn;
            for (call, queue) in self.state.suggestions_to_ask() {
                self.directory
                    .ask(DirQuery::Suggestions { call, queue, zh });
            }
        }
        for answer in self.directory.poll() {
            self.state.apply_directory(answer, wall);
        }
        for answer in self.reports.poll() {
            self.state.apply_report(answer);
        }
        if let Some(status) = self.writer.poll(self.clock.now())
            && (status != self.state.outbox || !status.newly_rejected.is_empty())
        {
            self.state.apply_outbox(status, wall);
        }
    }

    /// One frame: pump, draw, apply.
    pub fn frame(&mut self, ui: &mut egui::Ui) {
        self.pump();
        let wall = self.clock.wall();
        // A new offer makes the window ask for attention (taskbar flash), even when minimised.
        if let Some(offer) = self
            .state
            .notifications
            .iter()
            .rev()
            .find(|n| n.level == Level::Offer)
            && offer.id > self.attention_for
        {
            self.attention_for = offer.id;
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::RequestUserAttention(
                    egui::UserAttentionType::Critical,
                ));
        }
        let commands = view::draw(ui, &self.state, &mut self.forms, wall);
        for cmd in commands {
            self.apply(cmd);
        }
        if self.directory.has_ready() {
            ui.ctx().request_repaint();
        }
        if self.state.session.is_some() {
            // Timers (time in state, wrap-up) tick once a second.
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
    }

    /// Applies one command from the view.
    pub fn apply(&mut self, cmd: UiCommand) {
        let wall = self.clock.wall();
        match cmd {
            UiCommand::Login {
                url,
                agent,
                password,
                extension,
            } => {
                self.state.login_error = None;
                self.state.connection = ConnState::Connecting;
                self.request(ClientRequest::Login {
                    url,
                    agent: AgentId::new(agent),
                    password,
                    extension: (!extension.is_empty()).then(|| Extension::new(extension)),
                });
            }
            UiCommand::Logout => self.request(ClientRequest::Logout),
            UiCommand::SetLanguage(lang) => {
                self.state.lang = lang;
                let agent = self.state.session.as_ref().map(|s| s.profile.agent.clone());
                if let Err(e) = self.prefs.set(agent.as_ref(), lang) {
                    tracing::warn!(error = %e, "cannot save the language preference");
                }
            }
            UiCommand::Dial {
                command,
                customer_name,
            } => {
                let customer = match &command {
                    Command::OutboundCall { customer, .. } => customer.clone(),
                    _ => None,
                };
                self.state.dial_pending = customer_name.map(|name| (name, customer));
                self.request(ClientRequest::Send(command));
            }
            UiCommand::AcknowledgeAnnouncement(id) => {
                self.state.acknowledge_announcement(&id);
                let ids = std::mem::take(&mut self.state.messages_to_ack);
                if !ids.is_empty() {
                    self.request(ClientRequest::Send(Command::AckMessages { ids }));
                }
            }
            UiCommand::Cti(command) => {
                match &command {
                    Command::SubscribeWallboard { .. } => self.state.wallboard_subscribed = true,
                    Command::UnsubscribeWallboard => {
                        self.state.wallboard_subscribed = false;
                        self.state.wallboard = None;
                    }
                    _ => {}
                }
                self.request(ClientRequest::Send(command));
            }
            UiCommand::LoadReport(query) => {
                if !self.state.is_supervisor() {
                    return;
                }
                self.state.reports.pending = Some(query.clone());
                if !self.reports.ask(ReportRequest::Load(query.clone())) {
                    self.state.apply_report(ReportAnswer::Loaded {
                        query,
                        report: Err(crate::t!(self.state.lang, "no-database-reason")),
                    });
                }
            }
            UiCommand::ExportCsv { path, group } => {
                let Some(report) = &self.state.reports.report else {
                    return;
                };
                let rows = report.rows(group).to_vec();
                if !self.reports.ask(ReportRequest::Export {
                    path: path.clone(),
                    rows,
                }) {
                    self.state.apply_report(ReportAnswer::Exported {
                        path,
                        rows: Err(crate::t!(self.state.lang, "reports-worker-stopped")),
                    });
                }
            }
            UiCommand::DismissHelp(agent) => self.state.help_requests.retain(|h| h.agent != agent),
            UiCommand::SubmitWrapUp(sub) => self.submit_wrap_up(sub, wall),
            UiCommand::Dismiss(id) => self.state.dismiss(id),
            UiCommand::Focus(call) => self.state.focus = Some(call),
            UiCommand::Search(text) => {
                if !self.directory.available() {
                    self.state.search.error = Some(msg!("no-database"));
                    return;
                }
                self.state.search.query = text.clone();
                self.state.search.pending = true;
                self.directory.ask(DirQuery::Search(text));
            }
            UiCommand::OpenCustomer(id) => self.directory.ask(DirQuery::Customer(id)),
            UiCommand::CloseCustomer => {
                self.state.opened = None;
                self.state.ticket_history = None;
            }
            UiCommand::ShowTicketHistory(id) => self.directory.ask(DirQuery::TicketHistory(id)),
            UiCommand::LoadWorklist => self.load_worklist(wall),
            UiCommand::EditWork { ticket, edit } => self.edit_work(ticket, edit, wall),
            UiCommand::LinkCaller {
                call,
                customer,
                name,
            } => {
                self.state
                    .notify(Level::Info, msg!("link-done", name = name.expose()), wall);
                self.state.links.insert(call, (customer, name));
            }
        }
    }

    /// Asks the directory for the agent's worklist (her queues from the login profile).
    fn load_worklist(&mut self, wall: UnixMillis) {
        let Some(session) = &self.state.session else {
            return;
        };
        if !self.directory.available() {
            self.state.worklist.load = crate::state::WorkLoad::Failed {
                at: wall,
                error: crate::t!(self.state.lang, "no-database-reason"),
            };
            return;
        }
        let query = DirQuery::Worklist {
            agent: session.profile.agent.clone(),
            queues: session.profile.queues.clone(),
        };
        self.state.worklist_asked(wall);
        self.directory.ask(query);
    }

    /// Takes or closes a ticket: written through the outbox as the agent, shown at once, and
    /// the worklist loaded again.
    fn edit_work(&mut self, ticket: hotline_cti::TicketId, edit: TicketEdit, wall: UnixMillis) {
        let Some(session) = &self.state.session else {
            return;
        };
        let change = TicketChangeRecord {
            ticket: ticket.clone(),
            agent: session.profile.agent.clone(),
            edit,
            at: wall,
        };
        if let Err(e) = self.writer.submit_ticket(change) {
            self.state.notify_at(
                Place::Work,
                Level::Error,
                msg!("work-save-failed", reason = e.to_string()),
                None,
                wall,
            );
        }
        self.state.worklist_edited(ticket, edit, wall);
        if let Some(status) = self.writer.poll(self.clock.now()) {
            self.state.apply_outbox(status, wall);
        }
    }

    fn request(&mut self, req: ClientRequest) {
        if self.requests.send(req).is_err() {
            self.state
                .notify(Level::Error, msg!("cti-stopped"), self.clock.wall());
        }
    }

    fn submit_wrap_up(&mut self, sub: WrapUpSubmission, wall: UnixMillis) {
        let Some(session) = &self.state.session else {
            return;
        };
        let wrap = self.state.wrap_up_of(&sub.call).cloned();
        let since = wrap.as_ref().map_or(wall, |w| w.since);
        let number = self.state.pops.get(&sub.call).map(|p| p.ani.clone());
        let record = OutcomeRecord {
            call: sub.call.clone(),
            agent: session.profile.agent.clone(),
            disposition: sub.disposition.clone(),
            notes: sub.notes.clone(),
            wrap_up_ms: wall.0.saturating_sub(since.0),
            customer: self.state.outcome_customer(&sub.call),
            ticket: sub.ticket.clone(),
            link_customer: self.state.links.get(&sub.call).map(|(id, _)| LinkCustomer {
                customer: id.clone(),
                number: number.clone().unwrap_or_else(|| Pii::new(String::new())),
            }),
            new_customer: sub
                .new_customer
                .filter(|_| !self.state.links.contains_key(&sub.call))
                .map(|name| NewCustomer {
                    name,
                    number: number.unwrap_or_else(|| Pii::new(String::new())),
                }),
            at: wall,
        };
        if let Err(e) = self.writer.submit(record) {
            self.state.notify(
                Level::Error,
                msg!("outbox-failed", reason = e.to_string()),
                wall,
            );
        }
        self.request(ClientRequest::Send(Command::WrapUp {
            call: sub.call.clone(),
            disposition: sub.disposition.clone(),
            notes: sub.notes,
            ticket: sub.ticket,
        }));
        // A wrap-up the switch already ended (its time limit, the next call) takes the outcome
        // above but must not be ended again: that would fail with "not in wrap-up".
        if wrap.is_some_and(|w| w.hold == crate::state::WrapHold::Switch) {
            self.request(ClientRequest::Send(Command::EndWrapUp { then: sub.then }));
        }
        self.state.finish_wrap_up(&sub.call, &sub.disposition);
        self.forms.wrap = view::WrapForm::default();
        // Show the result of the first write attempt at once.
        for answer in self.directory.poll() {
            self.state.apply_directory(answer, wall);
        }
        if let Some(status) = self.writer.poll(self.clock.now()) {
            self.state.apply_outbox(status, wall);
        }
    }
}

impl eframe::App for DeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame(ui);
    }
}

impl Drop for DeskApp {
    fn drop(&mut self) {
        let _ = self.requests.send(ClientRequest::Shutdown);
    }
}
