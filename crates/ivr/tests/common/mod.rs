//! A simulated call around one [`Session`]: simulated time, a log of every action, helpers
//! to press keys, finish prompts and answer requests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_ivr::time::CivilDate;
use hotline_ivr::*;

/// Monday 2026-11-23 10:00:00 UTC.
pub fn monday_10am() -> UnixTime {
    let d = CivilDate::parse("2026-11-23").unwrap();
    UnixTime(d.to_days() * 86_400 + 10 * 3600)
}

pub struct Sim {
    pub s: Session,
    pub now: Instant,
    pub log: Vec<Action>,
    pub events: Vec<String>,
}

impl Sim {
    pub fn new(flow_text: &str) -> Sim {
        let flow = Flow::parse(Path::new("test.toml"), flow_text, &AnyPrompt)
            .unwrap_or_else(|e| panic!("{e}"));
        Sim::with_flow(Arc::new(flow))
    }

    pub fn with_flow(flow: Arc<Flow>) -> Sim {
        Sim {
            s: Session::new(flow, "call-1"),
            now: Instant::now(),
            log: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn start(&mut self) -> Vec<Action> {
        self.start_at("+15551234567", monday_10am())
    }

    pub fn start_at(&mut self, ani: &str, wall: UnixTime) -> Vec<Action> {
        self.event(Event::CallStarted {
            ani: Ani::new(ani),
            dnis: Dnis("1000".into()),
            wall_clock: wall,
        })
    }

    fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.s.poll_action() {
            out.push(a);
        }
        self.log.extend(out.iter().cloned());
        out
    }

    pub fn event(&mut self, e: Event) -> Vec<Action> {
        self.events.push(format!("{e:?}"));
        self.s.handle_event(self.now, e);
        self.drain()
    }

    pub fn digits(&mut self, keys: &str) -> Vec<Action> {
        let mut out = Vec::new();
        for c in keys.chars() {
            out.extend(self.event(Event::Digit(Digit::from_char(c).unwrap())));
            self.now += Duration::from_millis(200);
        }
        out
    }

    /// Moves time forward, running every timer that falls due on the way.
    pub fn advance(&mut self, d: Duration) -> Vec<Action> {
        let end = self.now + d;
        let mut out = Vec::new();
        for _ in 0..1000 {
            match self.s.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.s.handle_timeout(self.now);
                    out.extend(self.drain());
                }
                _ => break,
            }
        }
        self.now = end;
        out
    }

    /// Jumps to the next deadline and runs it.
    pub fn step(&mut self) -> Vec<Action> {
        let t = self.s.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(t);
        self.s.handle_timeout(self.now);
        self.drain()
    }

    pub fn last_play(&self) -> Option<(PlaybackId, Vec<String>)> {
        self.log.iter().rev().find_map(|a| match a {
            Action::Play { id, prompts, .. } => {
                Some((*id, prompts.iter().map(|p| p.name().to_string()).collect()))
            }
            _ => None,
        })
    }

    /// The last playback ends.
    pub fn finish_prompt(&mut self) -> Vec<Action> {
        let (id, _) = self.last_play().expect("something was played");
        self.now += Duration::from_millis(500);
        self.event(Event::PromptFinished(id))
    }

    pub fn last_request(&self) -> RequestId {
        self.log
            .iter()
            .rev()
            .find_map(|a| match a {
                Action::LookupCaller { request, .. }
                | Action::VerifyCaller { request, .. }
                | Action::QueryQueue { request, .. }
                | Action::Transfer { request, .. }
                | Action::RecordVoicemail { request, .. }
                | Action::ListBookable { request, .. }
                | Action::HoldItem { request, .. }
                | Action::Charge { request, .. } => Some(*request),
                _ => None,
            })
            .expect("a request was made")
    }

    pub fn path(&self) -> Vec<String> {
        self.s.path().iter().map(|p| p.node.to_string()).collect()
    }

    pub fn node(&self) -> String {
        self.s.current_node().unwrap_or("").to_string()
    }
}

pub fn names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| {
            format!("{a:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

pub fn played(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, .. } => Some(
                prompts
                    .iter()
                    .map(|p| p.name().to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

impl Sim {
    pub fn last_request_opt(&self) -> Option<RequestId> {
        self.log.iter().rev().find_map(|a| match a {
            Action::LookupCaller { request, .. }
            | Action::VerifyCaller { request, .. }
            | Action::QueryQueue { request, .. }
            | Action::Transfer { request, .. }
            | Action::RecordVoicemail { request, .. }
            | Action::ListBookable { request, .. }
            | Action::HoldItem { request, .. }
            | Action::Charge { request, .. } => Some(*request),
            _ => None,
        })
    }
}
