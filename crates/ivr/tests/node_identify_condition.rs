//! Proves identify (by caller number, by account with a verification code, lookup timeout,
//! failed verification retries), condition (business hours with offset and holidays, tier,
//! queue wait, staffing with a status timeout, variable) and set (priority, skills,
//! variables carried into the enqueue).

mod common;
use std::time::Duration;

use common::*;
use hotline_ivr::*;

const IDENTIFY: &str = r#"
[flow]
start = "by_ani"

[nodes.by_ani]
type = "identify"
by = "caller_number"
found = "tier"
not_found = "by_account"

[nodes.by_account]
type = "identify"
by = "account"
prompts = ["enter_account_number"]
min_length = 6
max_length = 8
verify_prompts = ["enter_pin"]
verify_length = 4
retries = 1
invalid_prompts = ["invalid_entry"]
found = "tier"
not_found = "anon"

[nodes.tier]
type = "condition"
test = "tier"
tiers = ["vip", "gold"]
then = "vip"
else = "standard"

[nodes.vip]
type = "hangup"
prompts = ["vip"]
[nodes.standard]
type = "hangup"
prompts = ["standard"]
[nodes.anon]
type = "hangup"
prompts = ["anon"]
"#;

fn customer(tier: &str) -> Customer {
    Customer {
        id: "C-77".into(),
        tier: tier.into(),
        name: Some("Ada Lovelace".into()),
        attributes: [("balance_minor".to_string(), "1250".to_string())].into(),
    }
}

#[test]
fn caller_number_found_and_vip_routed() {
    let mut sim = Sim::new(IDENTIFY);
    let a = sim.start();
    match &a[0] {
        Action::LookupCaller {
            key: LookupKey::CallerNumber(ani),
            ..
        } => assert_eq!(ani.as_str(), "+15551234567"),
        other => panic!("{other:?}"),
    }
    let request = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request,
        customer: Some(customer("vip")),
    });
    assert!(
        matches!(&a[0], Action::CustomerIdentified { customer_id, tier } if customer_id == "C-77" && tier == "vip")
    );
    assert_eq!(played(&a), ["vip"]);
    assert_eq!(sim.path(), ["by_ani", "tier", "vip"]);
    // Personal data stays out of Debug.
    let dbg = format!("{:?}", sim.s);
    assert!(
        !dbg.contains("+15551234567") && !dbg.contains("Ada"),
        "{dbg}"
    );
}

#[test]
fn anonymous_caller_skips_the_lookup() {
    let mut sim = Sim::new(IDENTIFY);
    let a = sim.start_at("", monday_10am());
    assert!(!a.iter().any(|a| matches!(a, Action::LookupCaller { .. })));
    assert_eq!(played(&a), ["enter_account_number"]);
}

#[test]
fn stale_lookup_answer_is_ignored_and_timeout_means_not_found() {
    let mut sim = Sim::new(IDENTIFY);
    sim.start();
    let request = sim.last_request();
    sim.event(Event::LookupResult {
        request: RequestId(request.0 + 100),
        customer: Some(customer("vip")),
    });
    assert_eq!(sim.s.ignored_events(), 1);
    let a = sim.advance(RESULT_TIMEOUT);
    assert_eq!(played(&a), ["enter_account_number"]);
    assert_eq!(sim.node(), "by_account");
}

#[test]
fn account_with_verification() {
    let mut sim = Sim::new(IDENTIFY);
    sim.start();
    let r = sim.last_request();
    sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    sim.finish_prompt();
    let a = sim.digits("123456#");
    assert!(
        matches!(&a[0], Action::LookupCaller { key: LookupKey::Account(acct), .. } if acct == "123456")
    );
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: Some(customer("standard")),
    });
    assert_eq!(played(&a), ["enter_pin"]);
    sim.finish_prompt();
    // Wrong PIN: retry once.
    let a = sim.digits("9999");
    let Action::VerifyCaller {
        code, customer_id, ..
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert_eq!((code.expose(), customer_id.as_str()), ("9999", "C-77"));
    assert!(
        !format!("{a:?}").contains("9999"),
        "verification codes are redacted"
    );
    let r = sim.last_request();
    let a = sim.event(Event::VerifyResult {
        request: r,
        verified: false,
    });
    assert_eq!(played(&a), ["invalid_entry", "enter_pin"]);
    sim.finish_prompt();
    sim.digits("4321");
    let r = sim.last_request();
    let a = sim.event(Event::VerifyResult {
        request: r,
        verified: true,
    });
    assert_eq!(played(&a), ["standard"]);
    assert_eq!(sim.s.customer().unwrap().id, "C-77");
    // The account number is shown; the PIN is masked.
    let inputs: Vec<_> = sim.s.inputs().iter().map(|i| i.value.clone()).collect();
    assert_eq!(
        inputs,
        [
            InputValue::Digits("123456".into()),
            InputValue::Masked(4),
            InputValue::Masked(4)
        ]
    );
}

#[test]
fn unknown_account_retries_then_not_found() {
    let mut sim = Sim::new(IDENTIFY);
    sim.start();
    let r = sim.last_request();
    sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    sim.finish_prompt();
    sim.digits("111111#");
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    assert_eq!(played(&a), ["invalid_entry", "enter_account_number"]);
    sim.finish_prompt();
    sim.digits("222222#");
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    assert_eq!(played(&a), ["anon"]);
}

fn hours_flow() -> &'static str {
    r#"
[flow]
start = "open"
[nodes.open]
type = "condition"
test = "business_hours"
utc_offset = "-05:00"
hours = { weekdays = ["08:00-12:00", "13:00-18:00"], sat = "09:00-12:00" }
holidays = ["2026-11-26"]
then = "yes"
else = "no"
[nodes.yes]
type = "hangup"
prompts = ["open"]
[nodes.no]
type = "hangup"
prompts = ["closed"]
"#
}

#[test]
fn business_hours_with_offset_lunch_and_holiday() {
    let at = |date: &str, h: i64, m: i64| {
        let d = hotline_ivr::time::CivilDate::parse(date).unwrap();
        UnixTime(d.to_days() * 86_400 + h * 3600 + m * 60)
    };
    let cases = [
        (at("2026-11-23", 14, 0), "open"),    // Mon 09:00 local
        (at("2026-11-23", 12, 59), "closed"), // Mon 07:59 local
        (at("2026-11-23", 17, 30), "closed"), // lunch 12:30 local
        (at("2026-11-26", 15, 0), "closed"),  // Thanksgiving (holiday)
        (at("2026-11-28", 15, 0), "open"),    // Sat 10:00 local
        (at("2026-11-29", 15, 0), "closed"),  // Sunday
    ];
    for (wall, expect) in cases {
        let mut sim = Sim::new(hours_flow());
        let a = sim.start_at("+1", wall);
        assert_eq!(played(&a), [expect], "at {wall:?}");
    }
}

#[test]
fn queue_wait_and_staffing_conditions() {
    let text = r#"
[flow]
start = "wait"
[nodes.wait]
type = "condition"
test = "queue_wait"
queue = "support"
max_wait_secs = 120
then = "staffed"
else = "long"
[nodes.staffed]
type = "condition"
test = "staffing"
queue = "support"
min_agents = 2
then = "ok"
else = "few"
[nodes.ok]
type = "hangup"
prompts = ["ok"]
[nodes.few]
type = "hangup"
prompts = ["few"]
[nodes.long]
type = "hangup"
prompts = ["long"]
"#;
    let mut sim = Sim::new(text);
    let a = sim.start();
    assert!(matches!(&a[0], Action::QueryQueue { queue, .. } if queue == "support"));
    let r = sim.last_request();
    let a = sim.event(Event::QueueStatus {
        request: Some(r),
        status: QueueStatus {
            estimated_wait: Duration::from_secs(90),
            agents_available: 1,
            ..Default::default()
        },
    });
    assert!(matches!(&a[0], Action::QueryQueue { .. }));
    // No answer about staffing: treated as false.
    let a = sim.advance(RESULT_TIMEOUT);
    assert_eq!(played(&a), ["few"]);

    let mut sim = Sim::new(text);
    sim.start();
    let r = sim.last_request();
    let a = sim.event(Event::QueueStatus {
        request: Some(r),
        status: QueueStatus {
            estimated_wait: Duration::from_secs(600),
            ..Default::default()
        },
    });
    assert_eq!(played(&a), ["long"]);
}

#[test]
fn set_node_feeds_enqueue() {
    let text = r#"
[flow]
start = "set"
[nodes.set]
type = "set"
priority = 7
skills = ["spanish", "billing"]
variables = { reason = "billing", lang = "es" }
next = "q"
[nodes.q]
type = "queue"
queue = "billing"
announce_position = false
announce_wait_time = false
"#;
    let mut sim = Sim::new(text);
    let a = sim.start();
    assert!(matches!(a[0], Action::SetPriority(7)));
    assert!(
        matches!(&a[1], Action::SetSkills(s) if s == &["spanish".to_string(), "billing".to_string()])
    );
    assert!(
        matches!(&a[2], Action::SetVariable { name, value } if name == "reason" && value == "billing")
    );
    let enq = a
        .iter()
        .find(|a| matches!(a, Action::Enqueue { .. }))
        .unwrap();
    let Action::Enqueue {
        queue,
        priority,
        skills,
        ..
    } = enq
    else {
        unreachable!()
    };
    assert_eq!(
        (queue.as_str(), *priority, skills.len()),
        ("billing", Some(7), 2)
    );
    assert_eq!(sim.s.variables()["lang"], "es");
}
