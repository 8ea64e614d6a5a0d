//! Proves the shipped flows in config/ivr load against the shipped prompts (config/prompts
//! and config/ivr/prompts), and walks the default flow the way the end-to-end test will:
//! menu by DTMF, identified by caller number (VIP), book an item, pay with a sandbox card;
//! then the support queue with its callback offer, and the agent-assisted payment flow.

mod common;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use hotline_ivr::time::{CivilDate, CivilDateTime};
use hotline_ivr::*;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn flows() -> FlowSet {
    let config = config_dir();
    FlowSet::load_dir(&config.join("ivr"), &PromptDir::default_for(&config))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shipped_flows_load_with_every_prompt_present() {
    let set = flows();
    assert_eq!(set.names(), vec!["agent_pay", "main"]);
    let catalog = PromptDir::default_for(&config_dir());
    for name in set.names() {
        for p in set.get(name).unwrap().prompts() {
            assert!(catalog.resolve(p.name()).is_some(), "{}", p.name());
        }
    }
    // Every prompt that saying numbers, dates and prices can produce exists too.
    for p in say::required_prompts(Language::English) {
        assert!(catalog.resolve(p).is_some(), "{p}");
    }
}

fn vip() -> Customer {
    Customer {
        id: "cust-1".into(),
        tier: "vip".into(),
        name: Some("Ada Lovelace".into()),
        attributes: Default::default(),
    }
}

#[test]
fn main_flow_vip_books_and_pays() {
    let flow = flows().get("main").unwrap();
    let mut sim = Sim::with_flow(Arc::clone(&flow));
    sim.start_at("+12125550100", monday_10am());
    sim.finish_prompt(); // welcome
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: Some(vip()),
    });
    assert!(a.iter().any(|a| matches!(a, Action::SetPriority(9))));
    assert_eq!(played(&a), ["flow/vip-welcome"]);
    sim.finish_prompt();
    sim.digits("1"); // sales (barge-in on the menu)
    sim.digits("1"); // book: the caller proves who they are first
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: Some(vip()),
    });
    assert_eq!(played(&a), ["flow/enter-pin"]);
    let a = sim.digits("7391");
    let Some(Action::VerifyCaller { request, .. }) =
        a.iter().find(|a| matches!(a, Action::VerifyCaller { .. }))
    else {
        panic!("the PIN is checked before booking: {a:?}")
    };
    let request = *request;
    sim.event(Event::VerifyResult {
        request,
        verified: true,
    });
    let r = sim.last_request();
    let starts_at = CivilDateTime {
        date: CivilDate {
            year: 2027,
            month: 3,
            day: 10,
        },
        hour: 8,
        minute: 30,
    };
    sim.event(Event::BookableItems {
        request: r,
        items: vec![BookableItem {
            id: "HL400-Y-2027-03-10".into(),
            starts_at,
            price_minor: 49900,
            currency: "USD".into(),
        }],
    });
    sim.digits("1");
    let r = sim.last_request();
    sim.event(Event::HoldResult {
        request: r,
        hold_id: Some("hold-1".into()),
    });
    let mut gw = SandboxGateway::new();
    let a = sim.digits("4111111111111111#1230");
    assert!(played(&a).contains(&"phrases/enter-cvv".to_string()));
    let a = sim.digits("737");
    let Some(Action::Charge {
        request, charge, ..
    }) = a.iter().find(|a| matches!(a, Action::Charge { .. }))
    else {
        panic!("{a:?}")
    };
    let result = gw.charge(charge).map_err(|e| e.to_string());
    let a = sim.event(Event::PaymentResult {
        request: *request,
        result,
    });
    assert_eq!(played(&a), ["phrases/payment-approved"]);
    sim.finish_prompt();
    sim.finish_prompt();
    sim.finish_prompt();
    assert_eq!(sim.s.outcome(), Some(&Outcome::HungUp));
    assert_eq!(
        sim.path(),
        [
            "welcome",
            "hours",
            "identify_caller",
            "vip_check",
            "vip_priority",
            "vip_welcome",
            "main_menu",
            "sales",
            "sales_menu",
            "book_verify",
            "book",
            "pay_booking",
            "booked",
            "goodbye"
        ]
    );
    let pay = sim.s.payment().unwrap();
    assert_eq!((pay.last_four.as_str(), pay.amount_minor), ("1111", 49900));
    assert_eq!(gw.charges(), 1);
    let summary = serde_json::to_string(&sim.s.summary()).unwrap();
    assert!(!summary.contains("4111111111111111") && !summary.contains("737"));
}

#[test]
fn main_flow_billing_pays_the_balance_due() {
    let flow = flows().get("main").unwrap();
    let mut sim = Sim::with_flow(Arc::clone(&flow));
    sim.start_at("+12125550113", monday_10am());
    sim.finish_prompt(); // welcome
    let r = sim.last_request();
    sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    sim.digits("3"); // billing
    sim.digits("100169#");
    let r = sim.last_request();
    let mut hedy = vip();
    hedy.tier = "silver".into();
    hedy.attributes = [
        ("balance_minor".to_string(), "4275".to_string()),
        ("currency".to_string(), "USD".to_string()),
    ]
    .into();
    sim.event(Event::LookupResult {
        request: r,
        customer: Some(hedy),
    });
    let a = sim.digits("4052");
    let Some(Action::VerifyCaller { request, .. }) =
        a.iter().find(|a| matches!(a, Action::VerifyCaller { .. }))
    else {
        panic!("the PIN is checked before paying: {a:?}")
    };
    let request = *request;
    let a = sim.event(Event::VerifyResult {
        request,
        verified: true,
    });
    assert!(
        a.iter().any(|a| matches!(
            a,
            Action::PaymentProgress(PaymentProgress::Started { amount_minor: 4275, currency })
                if currency == "USD"
        )),
        "{a:?}"
    );
    let a = sim.digits("4111111111111111#1230737");
    let Some(Action::Charge {
        request,
        charge,
        settles,
    }) = a.iter().find(|a| matches!(a, Action::Charge { .. }))
    else {
        panic!("{a:?}")
    };
    assert_eq!(*settles, Settles::Balance);
    assert_eq!(
        (charge.amount_minor, charge.currency.as_str()),
        (4275, "USD")
    );
    let mut gw = SandboxGateway::new();
    let result = gw.charge(charge).map_err(|e| e.to_string());
    let a = sim.event(Event::PaymentResult {
        request: *request,
        result,
    });
    assert_eq!(played(&a), ["phrases/payment-approved"]);
    let a = sim.finish_prompt();
    assert_eq!(played(&a), ["phrases/thank-you"]);
    assert!(sim.path().contains(&"paid".to_string()), "{:?}", sim.path());
}

#[test]
fn main_flow_billing_without_a_balance_goes_to_the_queue() {
    let flow = flows().get("main").unwrap();
    let mut sim = Sim::with_flow(Arc::clone(&flow));
    sim.start_at("+12125550113", monday_10am());
    sim.finish_prompt();
    let r = sim.last_request();
    sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    sim.digits("3");
    sim.digits("100169#");
    let r = sim.last_request();
    sim.event(Event::LookupResult {
        request: r,
        customer: Some(vip()),
    });
    let a = sim.digits("4052");
    let Some(Action::VerifyCaller { request, .. }) =
        a.iter().find(|a| matches!(a, Action::VerifyCaller { .. }))
    else {
        panic!("{a:?}")
    };
    let request = *request;
    let a = sim.event(Event::VerifyResult {
        request,
        verified: true,
    });
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::Enqueue { queue, .. } if queue == "billing")),
        "{a:?}"
    );
}

#[test]
fn main_flow_support_queue_callback() {
    let flow = flows().get("main").unwrap();
    let mut sim = Sim::with_flow(flow);
    sim.start();
    sim.finish_prompt();
    let r = sim.last_request();
    sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    let a = sim.digits("2");
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::Enqueue { queue, skills, .. }
        if queue == "support" && skills == &["technical".to_string()]))
    );
    let a = sim.digits("1");
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::RequestCallback { .. }))
    );
    assert_eq!(played(&a), ["flow/callback-confirmed", "phrases/goodbye"]);
}

#[test]
fn agent_assisted_payment_returns_to_the_agent() {
    let flow = flows().get("agent_pay").unwrap();
    let mut sim = Sim::with_flow(flow);
    sim.s.set_variable("amount_minor", "2500");
    sim.s.set_variable("currency", "EUR");
    sim.s.set_variable("reference", "INV-7");
    sim.start();
    let a = sim.finish_prompt();
    assert_eq!(
        names(&a)[..3],
        ["PauseRecording", "SuppressDtmfToAgent", "PaymentProgress"]
    );
    sim.finish_prompt();
    let a = sim.digits("4000000000000002#1230737");
    let Some(Action::Charge {
        request, charge, ..
    }) = a.iter().find(|a| matches!(a, Action::Charge { .. }))
    else {
        panic!("{a:?}")
    };
    assert_eq!(
        (charge.amount_minor, charge.currency.as_str()),
        (2500, "EUR")
    );
    assert_eq!(
        charge.description,
        "Payment taken by phone, reference INV-7"
    );
    let mut gw = SandboxGateway::new();
    let result = gw.charge(charge).map_err(|e| e.to_string());
    let a = sim.event(Event::PaymentResult {
        request: *request,
        result,
    });
    assert_eq!(played(&a), ["phrases/payment-declined", "flow/retry-card"]);
    sim.finish_prompt();
    sim.digits("1");
    sim.finish_prompt();
    let a = sim.digits("4111111111111111#1230737");
    let Some(Action::Charge {
        request, charge, ..
    }) = a.iter().find(|a| matches!(a, Action::Charge { .. }))
    else {
        panic!("{a:?}")
    };
    let result = gw.charge(charge).map_err(|e| e.to_string());
    let a = sim.event(Event::PaymentResult {
        request: *request,
        result,
    });
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::SuppressDtmfToAgent(false)))
    );
    sim.finish_prompt(); // approved
    sim.finish_prompt(); // thank you
    assert!(!sim.s.is_finished());
    sim.finish_prompt(); // returning you to your agent
    assert_eq!(sim.s.outcome(), Some(&Outcome::Returned));
    assert!(!sim.log.iter().any(|a| matches!(a, Action::Hangup)));
    // What the desktop sees: only counts and outcomes.
    let progress: Vec<String> = sim
        .log
        .iter()
        .filter_map(|a| match a {
            Action::PaymentProgress(p) => Some(serde_json::to_string(p).unwrap()),
            _ => None,
        })
        .collect();
    let all = progress.join("\n");
    assert!(
        !all.contains("4111") && !all.contains("737") && !all.contains("1230"),
        "{all}"
    );
    assert!(all.contains(r#""event":"approved""#) && all.contains(r#""event":"declined""#));
    assert!(
        all.contains(r#"{"event":"digits","field":"number","count":16}"#),
        "{all}"
    );
    assert!(
        all.contains(r#"{"event":"digits","field":"expiry","count":4,"expected":4}"#),
        "{all}"
    );
}
