//! Proves booking by phone (list, say date/time/price, pick, hold, item taken meanwhile,
//! nothing available) and paying by phone with the sandbox gateway: approval, a declined
//! card offered a retry with a new idempotency key, a gateway error retried with the SAME key
//! (charged once), invalid entries, recording paused and DTMF to the agent suppressed during
//! entry, progress events with counts only, and no card digits anywhere in the session's
//! Debug, path, inputs, summary, progress events or the events fed in.

mod common;
use std::time::Duration;

use common::*;
use hotline_ivr::time::{CivilDate, CivilDateTime};
use hotline_ivr::*;

const FLOW: &str = r#"
[flow]
start = "book"

[nodes.book]
type = "booking"
category = "appointments"
max_items = 3
intro_prompts = ["available_times"]
retries = 1
invalid_prompts = ["invalid_option"]
next = "pay"
on_none = "agent"

[nodes.pay]
type = "pay"
amount = "booking"
description = "Appointment deposit"
retries = 1
next = "done"
on_fail = "agent"

[nodes.done]
type = "hangup"
prompts = ["thank_you"]

[nodes.agent]
type = "transfer"
extension = "2000"
"#;

const CARD: &str = "4111111111111111";
const CVV: &str = "737";

fn item(id: &str, day: u32, hour: u32, price: u64) -> BookableItem {
    BookableItem {
        id: id.into(),
        starts_at: CivilDateTime {
            date: CivilDate {
                year: 2026,
                month: 12,
                day,
            },
            hour,
            minute: 30,
        },
        price_minor: price,
        currency: "USD".into(),
    }
}

/// Runs the booking part and holds item 2 (Dec 2, 14:30, $45.50).
fn booked() -> Sim {
    let mut sim = Sim::new(FLOW);
    let a = sim.start();
    assert!(
        matches!(&a[0], Action::ListBookable { category, max_items: 3, .. } if category == "appointments")
    );
    let r = sim.last_request();
    let a = sim.event(Event::BookableItems {
        request: r,
        items: vec![
            item("A1", 1, 9, 2500),
            item("A2", 2, 14, 4550),
            item("A3", 3, 10, 2500),
            item("A4", 4, 10, 1),
        ],
    });
    let p = played(&a);
    assert_eq!(p[0], "available_times");
    // Item 2: "for wednesday december second at fourteen thirty forty five dollars and fifty cents press two"
    let two = p.iter().position(|x| x == "days/wednesday").unwrap();
    assert_eq!(
        p[two - 1..two + 14],
        [
            "phrases/for",
            "days/wednesday",
            "months/12",
            "ordinals/2",
            "flow/at",
            "numbers/14",
            "numbers/30",
            "numbers/40",
            "digits/5",
            "currency/dollars",
            "currency/and",
            "numbers/50",
            "currency/cents",
            "phrases/press",
            "digits/2"
        ]
    );
    assert!(
        !p.contains(&"ordinals/4".to_string()),
        "only max_items are offered"
    );
    sim.finish_prompt();
    let a = sim.digits("2");
    assert!(matches!(&a[0], Action::HoldItem { item_id, .. } if item_id == "A2"));
    let r = sim.last_request();
    let a = sim.event(Event::HoldResult {
        request: r,
        hold_id: Some("H-9".into()),
    });
    assert_eq!(sim.s.held_item().unwrap().hold_id, "H-9");
    assert_eq!(names(&a)[..2], ["SetVariable", "SetVariable"]);
    assert!(a.iter().any(|a| matches!(a, Action::PauseRecording)));
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::SuppressDtmfToAgent(true)))
    );
    assert!(a.iter().any(|a| matches!(a,
        Action::PaymentProgress(PaymentProgress::Started { amount_minor: 4550, currency }) if currency == "USD")));
    let p = played(&a);
    assert_eq!(p.last().unwrap(), "phrases/enter-card-number");
    sim.finish_prompt();
    sim
}

/// Enters a card, expiry and CVV; returns the Charge action's request and card.
fn enter_card(sim: &mut Sim, number: &str, expiry: &str, cvv: &str) -> (RequestId, ChargeRequest) {
    assert!(sim.s.in_sensitive_entry());
    let a = sim.digits(&format!("{number}#"));
    assert_eq!(played(&a), ["phrases/enter-expiry"], "{a:?}");
    sim.finish_prompt();
    let a = sim.digits(expiry);
    assert_eq!(played(&a), ["phrases/enter-cvv"], "{a:?}");
    sim.finish_prompt();
    let a = sim.digits(cvv);
    a.iter()
        .find_map(|a| match a {
            Action::Charge {
                request, charge, ..
            } => Some((*request, charge.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no charge in {a:?}"))
}

fn pay_with(
    sim: &mut Sim,
    gw: &mut SandboxGateway,
    req: RequestId,
    charge: &ChargeRequest,
) -> Vec<Action> {
    let result = gw.charge(charge).map_err(|e| e.to_string());
    sim.event(Event::PaymentResult {
        request: req,
        result,
    })
}

fn assert_no_card_data(sim: &Sim) {
    let summary = serde_json::to_string(&sim.s.summary()).unwrap();
    let debug = format!("{:?}", sim.s);
    let events = sim.events.join("\n");
    let actions: Vec<String> = sim.log.iter().map(|a| format!("{a:?}")).collect();
    let progress: Vec<String> = sim
        .log
        .iter()
        .filter_map(|a| match a {
            Action::PaymentProgress(p) => Some(serde_json::to_string(p).unwrap()),
            _ => None,
        })
        .collect();
    for (what, text) in [
        ("summary", &summary),
        ("debug", &debug),
        ("events", &events),
        ("actions", &actions.join("\n")),
        ("progress", &progress.join("\n")),
    ] {
        assert!(!text.contains(CARD), "card number in {what}: {text}");
        assert!(!text.contains("4000000000000002"), "card number in {what}");
        assert!(!text.contains("411111"), "card prefix in {what}");
    }
    // The CVV and expiry entries only as lengths in the data the screen pop shows.
    for text in [&summary, &progress.join("\n")] {
        assert!(!text.contains(CVV) && !text.contains("1230"), "{text}");
    }
}

#[test]
fn book_and_pay_approved() {
    let mut sim = booked();
    let mut gw = SandboxGateway::new();
    let (req, charge) = enter_card(&mut sim, CARD, "1230", CVV);
    assert_eq!(charge.card.number(), CARD);
    assert_eq!(
        (
            charge.card.exp_month(),
            charge.card.exp_year(),
            charge.card.cvv()
        ),
        (12, 2030, CVV)
    );
    assert_eq!(
        (charge.amount_minor, charge.currency.as_str()),
        (4550, "USD")
    );
    assert_eq!(charge.idempotency_key.0, "call-1:pay:1");
    let a = pay_with(&mut sim, &mut gw, req, &charge);
    drop(charge);
    assert!(!sim.s.in_sensitive_entry());
    assert_eq!(played(&a), ["phrases/payment-approved"]);
    assert!(a.iter().any(|a| matches!(a, Action::ResumeRecording)));
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::SuppressDtmfToAgent(false)))
    );
    let rec = sim.s.payment().unwrap().clone();
    assert_eq!(
        (rec.last_four.as_str(), rec.brand, rec.amount_minor),
        ("1111", CardBrand::Visa, 4550)
    );
    assert!(rec.token.starts_with("tok_sandbox_"));
    sim.finish_prompt();
    sim.finish_prompt();
    assert_eq!(sim.path(), ["book", "pay", "done"]);
    assert_eq!(gw.charges(), 1);
    // Progress: counts 1..=16 for the number, 1..=4 expiry, 1..=3 CVV, then approved.
    let counts: Vec<(CardField, usize)> = sim
        .log
        .iter()
        .filter_map(|a| match a {
            Action::PaymentProgress(PaymentProgress::Digits { field, count, .. }) => {
                Some((*field, *count))
            }
            _ => None,
        })
        .collect();
    assert_eq!(counts.len(), 16 + 4 + 3);
    assert_eq!(counts[15], (CardField::Number, 16));
    assert_eq!(counts[22], (CardField::SecurityCode, 3));
    assert!(sim.log.iter().any(|a| matches!(a,
        Action::PaymentProgress(PaymentProgress::Approved { last_four, .. }) if last_four == "1111")));
    // The held item is not released when paid.
    assert!(
        !sim.log
            .iter()
            .any(|a| matches!(a, Action::ReleaseHold { .. }))
    );
    let inputs: Vec<_> = sim.s.inputs().iter().map(|i| i.value.clone()).collect();
    assert_eq!(
        inputs,
        [
            InputValue::Digits("2".into()),
            InputValue::Masked(16),
            InputValue::Masked(4),
            InputValue::Masked(3)
        ]
    );
    assert_no_card_data(&sim);
}

#[test]
fn declined_card_is_offered_a_retry_with_a_new_key() {
    let mut sim = booked();
    let mut gw = SandboxGateway::new();
    let (req, charge) = enter_card(&mut sim, "4000000000000002", "1230", CVV);
    let a = pay_with(&mut sim, &mut gw, req, &charge);
    assert_eq!(played(&a), ["phrases/payment-declined", "flow/retry-card"]);
    assert!(a.iter().any(|a| matches!(a,
        Action::PaymentProgress(PaymentProgress::Declined { reason }) if reason == "card_declined")));
    // Still in payment mode: recording paused, DTMF suppressed.
    assert!(!a.iter().any(|a| matches!(a, Action::ResumeRecording)));
    sim.finish_prompt();
    let a = sim.digits("1");
    assert_eq!(played(&a), ["phrases/enter-card-number"]);
    sim.finish_prompt();
    let (req2, charge2) = enter_card(&mut sim, CARD, "1230", CVV);
    assert_eq!(charge2.idempotency_key.0, "call-1:pay:2");
    let a = pay_with(&mut sim, &mut gw, req2, &charge2);
    assert_eq!(played(&a), ["phrases/payment-approved"]);
    assert_eq!(gw.charges(), 2);
    // A duplicate delivery of the first (declined) request is ignored.
    sim.event(Event::PaymentResult {
        request: req,
        result: Err("late".into()),
    });
    assert_eq!(sim.s.payment().unwrap().last_four, "1111");
    assert_no_card_data(&sim);
}

#[test]
fn gateway_error_is_retried_with_the_same_key_and_charges_once() {
    let mut sim = booked();
    let mut gw = SandboxGateway::new();
    // 4000000000000119: the sandbox fails the first attempt of a key, as if the network dropped.
    let (req, charge) = enter_card(&mut sim, "4000000000000119", "1230", CVV);
    let a = pay_with(&mut sim, &mut gw, req, &charge);
    let (req2, retry) = a
        .iter()
        .find_map(|a| match a {
            Action::Charge {
                request, charge, ..
            } => Some((*request, charge.clone())),
            _ => None,
        })
        .expect("retried");
    assert_eq!(retry.idempotency_key, charge.idempotency_key);
    assert_ne!(req2, req);
    let a = pay_with(&mut sim, &mut gw, req2, &retry);
    assert_eq!(played(&a), ["phrases/payment-approved"]);
    assert_eq!(gw.charges(), 1);
    // Call control re-sending the same charge (e.g. after its own timeout) charges nothing more.
    assert_eq!(gw.charge(&retry).unwrap().status, ChargeStatus::Approved);
    assert_eq!(gw.charges(), 1);
    assert_eq!(gw.approved_total_minor(), 4550);
}

#[test]
fn gateway_silence_retries_once_then_gives_up_to_an_agent() {
    let mut sim = booked();
    let (_req, _charge) = enter_card(&mut sim, CARD, "1230", CVV);
    let a = sim.advance(CHARGE_TIMEOUT);
    assert!(
        matches!(a[0], Action::Charge { .. }),
        "same-key retry after a timeout"
    );
    let a = sim.advance(CHARGE_TIMEOUT);
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::PaymentProgress(PaymentProgress::Abandoned)))
    );
    assert!(a.iter().any(|a| matches!(a, Action::ResumeRecording)));
    assert_eq!(played(&a), ["phrases/payment-declined"]);
    sim.finish_prompt();
    assert_eq!(sim.node(), "agent");
    assert_eq!(sim.s.variables()["payment"], "failed");
}

#[test]
fn invalid_number_and_past_expiry_are_re_entered() {
    let mut sim = booked();
    let a = sim.digits("4111111111111112#");
    assert_eq!(
        played(&a),
        ["flow/invalid-entry", "phrases/enter-card-number"]
    );
    assert!(a.iter().any(|a| matches!(
        a,
        Action::PaymentProgress(PaymentProgress::Invalid {
            field: CardField::Number
        })
    )));
    sim.finish_prompt();
    sim.digits(&format!("{CARD}#"));
    sim.finish_prompt();
    let a = sim.digits("1025");
    assert_eq!(played(&a), ["flow/invalid-entry", "phrases/enter-expiry"]);
    sim.finish_prompt();
    let a = sim.digits("0127");
    assert_eq!(played(&a), ["phrases/enter-cvv"]);
    sim.finish_prompt();
    // Two digits of a three-digit code, then silence: too short, asked again.
    let a = sim.digits("73");
    assert!(!a.iter().any(|a| matches!(a, Action::Charge { .. })));
    let a = sim.advance(Duration::from_secs(5));
    assert_eq!(played(&a), ["flow/invalid-entry", "phrases/enter-cvv"]);
    assert_no_card_data(&sim);
}

#[test]
fn insufficient_funds_twice_gives_up_and_releases_nothing_until_hangup() {
    let mut sim = booked();
    let mut gw = SandboxGateway::new();
    let (req, charge) = enter_card(&mut sim, "4000000000009995", "1230", CVV);
    let a = pay_with(&mut sim, &mut gw, req, &charge);
    assert!(a.iter().any(|a| matches!(a,
        Action::PaymentProgress(PaymentProgress::Declined { reason }) if reason == "insufficient_funds")));
    sim.finish_prompt();
    sim.digits("1");
    sim.finish_prompt();
    let (req, charge) = enter_card(&mut sim, "4000000000009995", "1230", CVV);
    let a = pay_with(&mut sim, &mut gw, req, &charge);
    // retries = 1: no second offer.
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::PaymentProgress(PaymentProgress::Abandoned)))
    );
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::SuppressDtmfToAgent(false)))
    );
    assert_eq!(sim.node(), "agent");
    let a = sim.event(Event::CallerHungUp);
    assert!(matches!(&a[0], Action::ReleaseHold { hold_id } if hold_id == "H-9"));
    assert_eq!(gw.charges(), 2);
}

#[test]
fn caller_hangup_during_entry_restores_recording_and_releases_hold() {
    let mut sim = booked();
    sim.digits("41111111");
    let a = sim.event(Event::CallerHungUp);
    assert_eq!(
        names(&a),
        [
            "PaymentProgress",
            "ResumeRecording",
            "SuppressDtmfToAgent",
            "ReleaseHold"
        ]
    );
    assert!(!format!("{:?}", sim.s).contains("41111111"));
}

#[test]
fn item_taken_meanwhile_is_relisted_and_nothing_available_goes_on() {
    let mut sim = Sim::new(FLOW);
    sim.start();
    let r = sim.last_request();
    sim.event(Event::BookableItems {
        request: r,
        items: vec![item("A1", 1, 9, 2500)],
    });
    sim.finish_prompt();
    let a = sim.digits("5");
    assert_eq!(played(&a)[0], "invalid_option");
    sim.finish_prompt();
    sim.digits("1");
    let r = sim.last_request();
    let a = sim.event(Event::HoldResult {
        request: r,
        hold_id: None,
    });
    assert_eq!(played(&a), ["flow/item-unavailable"]);
    let a = sim.finish_prompt();
    assert!(matches!(&a[0], Action::ListBookable { .. }));
    let r = sim.last_request();
    let a = sim.event(Event::BookableItems {
        request: r,
        items: vec![],
    });
    assert_eq!(played(&a), ["flow/no-availability"]);
    let a = sim.finish_prompt();
    assert!(matches!(&a[0], Action::Transfer { .. }));
    assert_eq!(sim.path(), ["book", "agent"]);
}

#[test]
fn fixed_amount_payment_without_booking() {
    let text = r#"
[flow]
start = "pay"
[nodes.pay]
type = "pay"
amount_minor = 1999
currency = "EUR"
next = "bye"
on_fail = "bye"
[nodes.bye]
type = "hangup"
"#;
    let mut sim = Sim::new(text);
    let a = sim.start();
    // "The amount due is nineteen euros and ninety nine cents. Please enter your card number."
    assert_eq!(
        played(&a),
        [
            "phrases/amount-due",
            "numbers/19",
            "currency/euros",
            "currency/and",
            "numbers/90",
            "digits/9",
            "currency/cents",
            "phrases/enter-card-number"
        ]
    );
    sim.finish_prompt();
    let (_r, charge) = enter_card(&mut sim, "378282246310005", "1230", "1234");
    assert_eq!(
        (
            charge.amount_minor,
            charge.currency.as_str(),
            charge.card.brand()
        ),
        (1999, "EUR", CardBrand::Amex)
    );
}
