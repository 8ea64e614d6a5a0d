//! Proves the collect node: length limits, terminator, inter-digit timeout, Luhn and expiry
//! validation with retries, and masking of sensitive entries.

mod common;
use std::time::Duration;

use common::*;
use hotline_ivr::*;

fn flow(extra: &str) -> String {
    format!(
        r#"
[flow]
start = "ask"
[nodes.ask]
type = "collect"
prompts = ["enter_number"]
variable = "entered"
min_length = 3
max_length = 6
timeout_ms = 5000
inter_digit_timeout_ms = 2000
retries = 1
invalid_prompts = ["invalid_entry"]
timeout_prompts = ["no_input"]
on_fail = "fail"
next = "done"
{extra}
[nodes.done]
type = "hangup"
prompts = ["thank_you"]
[nodes.fail]
type = "hangup"
prompts = ["goodbye"]
"#
    )
}

#[test]
fn terminator_ends_entry() {
    let mut sim = Sim::new(&flow(""));
    sim.start();
    sim.finish_prompt();
    let a = sim.digits("1234#");
    assert_eq!(played(&a), ["thank_you"]);
    assert_eq!(sim.s.variables()["entered"], "1234");
}

#[test]
fn max_length_ends_entry_without_terminator() {
    let mut sim = Sim::new(&flow(""));
    sim.start();
    sim.finish_prompt();
    let a = sim.digits("123456");
    assert_eq!(played(&a), ["thank_you"]);
    assert_eq!(sim.s.variables()["entered"], "123456");
}

#[test]
fn inter_digit_timeout_ends_entry() {
    let mut sim = Sim::new(&flow(""));
    sim.start();
    sim.finish_prompt();
    sim.digits("4321");
    let deadline = sim.s.poll_timeout().unwrap();
    assert_eq!(
        deadline,
        sim.now - Duration::from_millis(200) + Duration::from_millis(2000)
    );
    let a = sim.advance(Duration::from_secs(2));
    assert_eq!(played(&a), ["thank_you"]);
    assert_eq!(sim.s.variables()["entered"], "4321");
}

#[test]
fn too_short_is_invalid_then_retries_exhausted() {
    let mut sim = Sim::new(&flow(""));
    sim.start();
    sim.finish_prompt();
    let a = sim.digits("12#");
    assert_eq!(played(&a), ["invalid_entry", "enter_number"]);
    sim.finish_prompt();
    let a = sim.advance(Duration::from_secs(5));
    assert_eq!(played(&a), ["goodbye"]);
    assert_eq!(sim.path(), ["ask", "fail"]);
}

#[test]
fn luhn_validation_and_masking() {
    let text = flow("validation = \"luhn\"").replace("min_length = 3\nmax_length = 6\n", "");
    let mut sim = Sim::new(&text);
    sim.start();
    sim.finish_prompt();
    let a = sim.digits("4111111111111112#");
    assert_eq!(played(&a), ["invalid_entry", "enter_number"]);
    sim.finish_prompt();
    let a = sim.digits("4111111111111111#");
    assert_eq!(played(&a), ["thank_you"]);
    // Sensitive by default for luhn: never stored in clear.
    assert_eq!(sim.s.inputs()[1].value, InputValue::Masked(16));
    assert_eq!(sim.s.variables()["entered"], "<16 digits>");
    assert!(!format!("{:?}", sim.s).contains("4111111111111111"));
}

#[test]
fn expiry_validation_uses_the_wall_clock() {
    let text = flow("validation = \"expiry\"").replace("min_length = 3\nmax_length = 6\n", "");
    let mut sim = Sim::new(&text);
    sim.start(); // 2026-11
    sim.finish_prompt();
    let a = sim.digits("1026"); // October 2026: past
    assert_eq!(played(&a), ["invalid_entry", "enter_number"]);
    sim.finish_prompt();
    let a = sim.digits("1126"); // this month: valid
    assert_eq!(played(&a), ["thank_you"]);
}

#[test]
fn star_is_rejected_by_digits_validation_but_kept_by_any() {
    let mut sim = Sim::new(&flow(""));
    sim.start();
    sim.finish_prompt();
    let a = sim.digits("12*4#");
    assert_eq!(played(&a), ["invalid_entry", "enter_number"]);
    let mut sim = Sim::new(&flow("validation = \"any\""));
    sim.start();
    sim.finish_prompt();
    sim.digits("12*4#");
    assert_eq!(sim.s.variables()["entered"], "12*4");
}
