//! Proves play and menu nodes with simulated time: branching, barge-in, timeouts and invalid
//! keys with their retry prompts, giving up to on_fail, stale prompt ends, early timers.

mod common;
use std::time::Duration;

use common::*;
use hotline_ivr::*;

const FLOW: &str = r#"
[flow]
start = "hello"

[nodes.hello]
type = "play"
prompts = ["welcome"]
next = "menu"

[nodes.menu]
type = "menu"
prompts = ["main_menu"]
branches = { 1 = "sales", 2 = "support" }
timeout_ms = 4000
retries = 2
invalid_prompts = ["invalid_option"]
timeout_prompts = ["no_input"]
on_fail = "bye"

[nodes.sales]
type = "hangup"
prompts = ["sales"]

[nodes.support]
type = "hangup"
prompts = ["support"]

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

#[test]
fn play_then_menu_then_branch() {
    let mut sim = Sim::new(FLOW);
    let a = sim.start();
    assert_eq!(played(&a), ["welcome"]);
    assert!(
        sim.s.poll_timeout().is_none(),
        "a plain prompt arms no timer"
    );
    // Keys during a plain play are ignored.
    sim.digits("2");
    assert_eq!(sim.node(), "hello");
    let a = sim.finish_prompt();
    assert_eq!(played(&a), ["main_menu"]);
    assert!(names(&a).contains(&"CollectDigits".to_string()));
    sim.finish_prompt();
    let deadline = sim.s.poll_timeout().expect("first-digit timer");
    assert_eq!(deadline - sim.now, Duration::from_millis(4000));
    let a = sim.digits("2");
    assert_eq!(played(&a), ["support"]);
    sim.finish_prompt();
    assert_eq!(sim.s.outcome(), Some(&Outcome::HungUp));
    assert_eq!(sim.path(), ["hello", "menu", "support"]);
    assert_eq!(sim.s.inputs()[0].value, InputValue::Digits("2".into()));
    assert!(matches!(sim.log.last(), Some(Action::Hangup)));
}

#[test]
fn barge_in_stops_the_prompt_and_branches() {
    let mut sim = Sim::new(FLOW);
    sim.start();
    sim.finish_prompt();
    // Menu prompt is playing; the caller knows the menu already.
    let a = sim.digits("1");
    assert!(matches!(a[0], Action::StopPlayback), "{a:?}");
    assert_eq!(played(&a), ["sales"]);
    // A late PromptFinished of the stopped menu prompt must not end the "sales" prompt.
    let menu_id = sim
        .log
        .iter()
        .find_map(|a| match a {
            Action::Play { id, prompts, .. } if prompts[0].name() == "main_menu" => Some(*id),
            _ => None,
        })
        .unwrap();
    sim.event(Event::PromptFinished(menu_id));
    assert!(!sim.s.is_finished());
    assert_eq!(sim.s.ignored_events(), 1);
    sim.finish_prompt();
    assert!(sim.s.is_finished());
}

#[test]
fn timeout_and_invalid_retry_then_give_up() {
    let mut sim = Sim::new(FLOW);
    sim.start();
    sim.finish_prompt();
    sim.finish_prompt();
    // Early timer call: nothing happens.
    sim.s.handle_timeout(sim.now + Duration::from_millis(3999));
    assert!(sim.s.poll_action().is_none());
    // No input: timeout prompt then the menu again.
    let a = sim.advance(Duration::from_millis(4000));
    assert_eq!(played(&a), ["no_input", "main_menu"]);
    sim.finish_prompt();
    // Invalid key.
    let a = sim.digits("9");
    assert_eq!(played(&a), ["invalid_option", "main_menu"]);
    sim.finish_prompt();
    // Retries (2) used up: on_fail.
    let a = sim.digits("7");
    assert_eq!(played(&a), ["goodbye"]);
    assert_eq!(sim.path(), ["hello", "menu", "bye"]);
    let inputs: Vec<_> = sim.s.inputs().iter().map(|i| i.value.clone()).collect();
    assert_eq!(
        inputs,
        [
            InputValue::NoInput,
            InputValue::Digits("9".into()),
            InputValue::Digits("7".into())
        ]
    );
}

#[test]
fn nothing_happens_before_call_started_and_after_hangup() {
    let mut sim = Sim::new(FLOW);
    let a = sim.digits("1");
    assert!(a.is_empty());
    assert!(sim.s.poll_timeout().is_none());
    sim.start();
    sim.event(Event::CallerHungUp);
    assert_eq!(sim.s.outcome(), Some(&Outcome::CallerHungUp));
    assert!(sim.digits("1").is_empty());
    assert!(sim.s.poll_timeout().is_none());
}

#[test]
fn barge_in_off_ignores_keys_during_prompt() {
    let text = FLOW.replace("timeout_ms = 4000", "timeout_ms = 4000\nbarge_in = false");
    let mut sim = Sim::new(&text);
    sim.start();
    sim.finish_prompt();
    let a = sim.digits("1");
    assert!(a.is_empty());
    sim.finish_prompt();
    let a = sim.digits("1");
    assert_eq!(played(&a), ["sales"]);
}

#[test]
fn a_flow_that_loops_without_waiting_is_stopped() {
    let text = r#"
[flow]
start = "a"
[nodes.a]
type = "set"
variables = { x = "1" }
next = "b"
[nodes.b]
type = "condition"
test = "variable"
variable = "x"
equals = "1"
then = "a"
else = "c"
[nodes.c]
type = "hangup"
"#;
    let mut sim = Sim::new(text);
    let a = sim.start();
    assert!(matches!(a.last(), Some(Action::Hangup)));
    assert_eq!(sim.s.outcome(), Some(&Outcome::FlowLoop));
}
