//! Shared set-up for the desktop UI tests: a [`DeskApp`] wired to channels the test holds (no
//! CTI server), an in-memory sink that can be told to fail, a temp outbox file and a manual
//! clock.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use egui_kittest::Harness;
use hotline_cti::{Command, Event, UnixMillis};
use hotline_desktop::app::DeskApp;
use hotline_desktop::client::{ClientChannels, ClientRequest, ClientUpdate};
use hotline_desktop::clock::{Clock, ManualClock};
use hotline_desktop::directory::{Directory, DirectoryLink, MemoryDirectory, TicketChangeLine};
use hotline_desktop::outbox::{MemorySink, Outbox, OutcomeSink, OutcomeWriter};
use hotline_desktop::reports::ReportsLink;

/// Wall time at the start of every test: 2026-11-23 01:20 UTC.
pub const T0: UnixMillis = UnixMillis(1_795_396_800_000);

pub struct Desk {
    pub harness: Harness<'static, DeskApp>,
    pub requests: tokio::sync::mpsc::UnboundedReceiver<ClientRequest>,
    pub updates: std::sync::mpsc::Sender<ClientUpdate>,
    pub sink: MemorySink,
    pub clock: ManualClock,
    pub outbox_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Default for Desk {
    fn default() -> Self {
        Self::new()
    }
}

impl Desk {
    pub fn new() -> Desk {
        let sink = MemorySink::new();
        Desk::with_sink(sink.clone(), Box::new(sink))
    }

    /// A desk writing outcomes to `writer_sink` (`sink` is what the tests inspect when it is the
    /// memory sink).
    pub fn with_sink(sink: MemorySink, writer_sink: Box<dyn OutcomeSink>) -> Desk {
        Desk::build(sink, writer_sink, ReportsLink::Unavailable, None)
    }

    /// A desk reading customers and work from `directory` (answered inline), writing outcomes
    /// and ticket changes to `writer_sink`.
    pub fn with_directory(
        sink: MemorySink,
        writer_sink: Box<dyn OutcomeSink>,
        directory: Box<dyn Directory>,
    ) -> Desk {
        Desk::build(sink, writer_sink, ReportsLink::Unavailable, Some(directory))
    }

    /// The sample directory: the sample customer and a history for its ticket T-881.
    pub fn sample_directory() -> MemoryDirectory {
        let mut directory = MemoryDirectory::default();
        if let Some(c) = hotline_desktop::sample::screen_pop(T0).customer {
            directory.customers.push(c);
        }
        directory.history.insert(
            "T-881".into(),
            vec![TicketChangeLine {
                at: UnixMillis(T0.0 - 3_600_000),
                actor: Some("1003".into()),
                field: "status".into(),
                old: Some("open".into()),
                new: Some("pending".into()),
            }],
        );
        directory
    }

    /// A desk whose Reports tab reads through `reports`.
    pub fn with_reports(reports: ReportsLink) -> Desk {
        let sink = MemorySink::new();
        Desk::build(sink.clone(), Box::new(sink), reports, None)
    }

    fn build(
        sink: MemorySink,
        writer_sink: Box<dyn OutcomeSink>,
        reports: ReportsLink,
        directory: Option<Box<dyn Directory>>,
    ) -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox_path = dir.path().join("outbox.jsonl");
        let clock = ManualClock::new(T0);
        let (req_tx, req_rx) = tokio::sync::mpsc::unbounded_channel();
        let (upd_tx, upd_rx) = std::sync::mpsc::channel();
        let writer = OutcomeWriter::Inline {
            outbox: Outbox::open(&outbox_path).expect("outbox opens"),
            sink: writer_sink,
        };
        let app_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let app = DeskApp::new(
            ClientChannels {
                requests: req_tx,
                updates: upd_rx,
            },
            writer,
            app_clock,
            "ws://127.0.0.1:8080/cti",
        );
        let directory = directory.unwrap_or_else(|| Box::new(Desk::sample_directory()));
        let app = app
            .with_directory(DirectoryLink::inline(directory))
            .with_reports(reports);
        let harness = Harness::builder()
            .with_size(egui::vec2(1280.0, 900.0))
            .build_eframe(|_cc| app);
        Desk {
            harness,
            requests: req_rx,
            updates: upd_tx,
            sink,
            clock,
            outbox_path,
            _dir: dir,
        }
    }

    /// Sends updates as the CTI client would, and runs frames until the UI settles.
    pub fn feed(&mut self, updates: impl IntoIterator<Item = ClientUpdate>) {
        for u in updates {
            self.updates.send(u).expect("app alive");
        }
        self.harness.run();
    }

    pub fn event(&mut self, event: Event) {
        self.feed([ClientUpdate::Event(event)]);
    }

    /// Everything the app asked the CTI client to do since the last call.
    pub fn sent(&mut self) -> Vec<ClientRequest> {
        let mut out = Vec::new();
        while let Ok(r) = self.requests.try_recv() {
            out.push(r);
        }
        out
    }

    /// The CTI commands among [`Self::sent`].
    pub fn sent_commands(&mut self) -> Vec<Command> {
        self.sent()
            .into_iter()
            .filter_map(|r| match r {
                ClientRequest::Send(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    pub fn advance(&mut self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
        self.harness.run();
    }

    pub fn wall(&self) -> UnixMillis {
        self.clock.wall()
    }
}
