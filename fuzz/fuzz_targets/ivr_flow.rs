//! IVR flow files (`crates/ivr/src/parse.rs`): TOML parse and the load-time validation, then a
//! short walk of a session through any flow that loads.
//!
//! Input: the flow file's text (UTF-8 only). Prompt names starting with `missing` are reported
//! missing, so the prompt checks run too.
//! Properties: nothing panics; a rejected file gets at least one problem, each with a line and
//! column inside the text, and its message formats; a flow that loads can be walked by a
//! `Session` (prompts finish, digits `1`, `2`, `#` arrive, timers run) without panics, every
//! armed timer lies in the future after `handle_timeout`, and the walk is bounded.
#![no_main]

use hotline_ivr::{Action, Ani, Digit, Dnis, Error, Event, Flow, PromptCatalog, Session, UnixTime};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct SomePrompts;

impl PromptCatalog for SomePrompts {
    fn contains(&self, name: &str) -> bool {
        !name.starts_with("missing")
    }
    fn expected_path(&self, name: &str) -> String {
        format!("prompts/{name}.wav")
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let flow = match Flow::parse(Path::new("fuzz.toml"), text, &SomePrompts) {
        Ok(flow) => flow,
        Err(Error::Flow(problems)) => {
            assert!(!problems.is_empty(), "rejected without a problem");
            let lines = text.split('\n').count();
            for p in &problems {
                assert!(p.line >= 1 && p.line <= lines, "line {} of {lines}", p.line);
                assert!(p.column >= 1, "column 0");
                let _ = p.to_string();
            }
            let _ = Error::Flow(problems).to_string();
            return;
        }
        Err(other) => {
            let _ = other.to_string();
            return;
        }
    };

    let mut now = Instant::now();
    let mut session = Session::new(Arc::new(flow), "fuzz-1");
    session.handle_event(
        now,
        Event::CallStarted {
            ani: Ani::new("+15551230000"),
            dnis: Dnis("1000".into()),
            wall_clock: UnixTime(1_795_392_035),
        },
    );
    let keys = ['1', '2', '#'];
    for step in 0..200 {
        let mut finished = Vec::new();
        while let Some(action) = session.poll_action() {
            if let Action::Play { id, .. } = action {
                finished.push(id);
            }
        }
        if session.is_finished() {
            break;
        }
        for id in finished {
            session.handle_event(now, Event::PromptFinished(id));
        }
        if step % 2 == 1 {
            let key = Digit::from_char(keys[step % keys.len()]).unwrap();
            session.handle_event(now, Event::Digit(key));
        }
        now = match session.poll_timeout() {
            Some(t) if t > now => t,
            _ => now + Duration::from_millis(500),
        };
        session.handle_timeout(now);
        if let Some(t) = session.poll_timeout() {
            assert!(t > now, "a due timer survived handle_timeout");
        }
        let _ = (
            session.current_node(),
            session.summary(),
            format!("{session:?}"),
        );
    }
});
