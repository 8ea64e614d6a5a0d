//! The app: channels in, state, view, commands out.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use hotline_cti::{AgentId, Command, Extension, Pii, UnixMillis};
use tokio::sync::mpsc::UnboundedSender;

use crate::client::{ClientChannels, ClientRequest, ClientUpdate, ConnState};
use crate::clock::Clock;
use crate::directory::{DirQuery, DirectoryLink};
use crate::outbox::{LinkCustomer, NewCustomer, OutcomeRecord, OutcomeWriter};
use crate::reports::{ReportAnswer, ReportRequest, ReportsLink};
use crate::state::{DeskState, Level};
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
        }
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
            self.state.apply(update, wall);
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
                        report: Err("no database configured (--database)".into()),
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
                        rows: Err("the reports worker has stopped".into()),
                    });
                }
            }
            UiCommand::DismissHelp(agent) => self.state.help_requests.retain(|h| h.agent != agent),
            UiCommand::SubmitWrapUp(sub) => self.submit_wrap_up(sub, wall),
            UiCommand::Dismiss(id) => self.state.dismiss(id),
            UiCommand::Focus(call) => self.state.focus = Some(call),
            UiCommand::Search(text) => {
                if !self.directory.available() {
                    self.state.search.error = Some("No database configured (--database)".into());
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
            UiCommand::LinkCaller {
                call,
                customer,
                name,
            } => {
                self.state.notify(
                    Level::Info,
                    format!("The caller's number will be linked to {}", name.expose()),
                    wall,
                );
                self.state.links.insert(call, (customer, name));
            }
        }
    }

    fn request(&mut self, req: ClientRequest) {
        if self.requests.send(req).is_err() {
            self.state.notify(
                Level::Error,
                "The CTI client stopped; restart the desktop".into(),
                self.clock.wall(),
            );
        }
    }

    fn submit_wrap_up(&mut self, sub: WrapUpSubmission, wall: UnixMillis) {
        let Some(session) = &self.state.session else {
            return;
        };
        let since = self
            .state
            .wrap_up
            .as_ref()
            .filter(|w| w.call == sub.call)
            .map_or(wall, |w| w.since);
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
        if let Err(e) = self.writer.submit(record, self.clock.now()) {
            self.state.notify(
                Level::Error,
                format!("Could not save the outcome locally: {e}"),
                wall,
            );
        }
        self.request(ClientRequest::Send(Command::WrapUp {
            call: sub.call.clone(),
            disposition: sub.disposition.clone(),
            notes: sub.notes,
            ticket: sub.ticket,
        }));
        self.request(ClientRequest::Send(Command::EndWrapUp { then: sub.then }));
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
