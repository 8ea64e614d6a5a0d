//! Proves the Mandarin prompt set is chosen per call: a caller of the shipped main flow who
//! presses 9 hears every later prompt from the zh set, the amount due said by the Mandarin
//! rules (三十五元五角) and queue announcements with 两; a flow can start in Mandarin, an
//! identified caller hears the language of their record and an agent-assisted payment goes on
//! in the caller's language; a prompt missing in zh is a load-time warning (file, line,
//! column, field) and plays in English with one `PromptFallback` per call; missing Mandarin
//! number prompts are an error. All in simulated time.

mod common;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hotline_ivr::*;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn main_flow() -> Arc<Flow> {
    let config = config_dir();
    let set = FlowSet::load_dir(&config.join("ivr"), &PromptDir::default_for(&config))
        .unwrap_or_else(|e| panic!("{e}"));
    set.get("main").unwrap()
}

fn zh(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("zh/{n}")).collect()
}

/// The shipped main flow up to its menu, for a caller not found by number.
fn at_main_menu() -> Sim {
    let mut sim = Sim::with_flow(main_flow());
    sim.start();
    sim.finish_prompt(); // welcome
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: None,
    });
    assert_eq!(played(&a), ["phrases/main-menu", "flow/other-language"]);
    sim
}

fn set_language(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::SetVariable { name, value } if name == "language" => Some(value.as_str()),
        _ => None,
    })
}

#[test]
fn shipped_flow_speaks_mandarin_with_every_prompt_present() {
    let flow = main_flow();
    assert_eq!(flow.language(), Language::English);
    assert_eq!(flow.languages(), [Language::English, Language::Mandarin]);
    assert!(flow.can_speak(Language::Mandarin));
    assert!(flow.warnings().is_empty(), "{:#?}", flow.warnings());
    let catalog = PromptDir::default_for(&config_dir());
    for p in flow.prompts() {
        if p.name() != "flow/hold-music" {
            let local = Language::Mandarin.prompt(p);
            assert!(catalog.resolve(local.name()).is_some(), "{}", local.name());
        }
    }
    for p in say::required_prompts(Language::Mandarin) {
        assert!(catalog.resolve(&format!("zh/{p}")).is_some(), "zh/{p}");
    }
}

#[test]
fn caller_who_picks_mandarin_hears_zh_prompts_and_the_amount_in_yuan() {
    let mut sim = at_main_menu();
    let a = sim.digits("9");
    assert_eq!(set_language(&a), Some("zh"));
    assert_eq!(sim.s.language(), Language::Mandarin);
    assert_eq!(
        played(&a),
        zh(&["phrases/main-menu", "flow/other-language"])
    );
    let a = sim.digits("3"); // billing
    assert_eq!(played(&a), zh(&["flow/enter-account-number"]));
    let a = sim.digits("881234#");
    assert!(a.iter().any(|a| matches!(
        a,
        Action::LookupCaller { key: LookupKey::Account(n), .. } if n == "881234"
    )));
    let r = sim.last_request();
    let attributes = BTreeMap::from([
        ("balance_minor".to_string(), "3550".to_string()),
        ("currency".to_string(), "CNY".to_string()),
    ]);
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: Some(Customer {
            id: "cust-88".into(),
            tier: "standard".into(),
            name: Some("王芳".into()),
            attributes,
        }),
    });
    assert_eq!(played(&a), zh(&["flow/enter-pin"]));
    sim.digits("2468");
    let r = sim.last_request();
    let a = sim.event(Event::VerifyResult {
        request: r,
        verified: true,
    });
    // 您需要支付的金额是 三十 五 元 五 角，请输入您的卡号...
    assert_eq!(
        played(&a),
        zh(&[
            "phrases/amount-due",
            "numbers/30",
            "digits/5",
            "currency/yuan",
            "digits/5",
            "currency/jiao",
            "phrases/enter-card-number",
        ])
    );
    let a = sim.digits("4111111111111111#");
    assert_eq!(played(&a), zh(&["phrases/enter-expiry"]));
    assert!(
        !sim.log
            .iter()
            .any(|a| matches!(a, Action::PromptFallback { .. })),
        "every prompt of the path exists in zh"
    );
}

#[test]
fn mandarin_queue_announcements_say_two_minutes_with_liang() {
    let mut sim = at_main_menu();
    sim.digits("9");
    let a = sim.digits("2"); // support queue
    assert!(names(&a).contains(&"Enqueue".to_string()));
    let r = sim.last_request();
    let a = sim.event(Event::QueueStatus {
        request: Some(r),
        status: QueueStatus {
            position: 2,
            waiting: 2,
            agents_available: 0,
            estimated_wait: Duration::from_secs(110),
        },
    });
    // 您现在排在第二位，您预计需要等待两分钟，请稍候...
    assert_eq!(
        played(&a),
        zh(&[
            "phrases/you-are-caller-number",
            "digits/2",
            "phrases/in-line",
            "phrases/estimated-wait",
            "numbers/liang",
            "phrases/minutes",
            "phrases/please-hold",
            "flow/callback-offer",
        ])
    );
    // Hold music has no words: the same file in every language.
    sim.finish_prompt();
    let music: Vec<&Prompt> = sim
        .log
        .iter()
        .filter_map(|a| match a {
            Action::PlayMusic { music, .. } => Some(music),
            _ => None,
        })
        .collect();
    assert!(music.iter().all(|m| m.name() == "flow/hold-music"));
}

#[test]
fn nine_again_goes_back_to_english() {
    let mut sim = at_main_menu();
    sim.digits("9");
    let a = sim.digits("9");
    assert_eq!(set_language(&a), Some("en"));
    assert_eq!(played(&a), ["phrases/main-menu", "flow/other-language"]);
    assert_eq!(sim.s.language(), Language::English);
}

const ZH_FLOW: &str = r#"
[flow]
name = "hotline-cn"
start = "greet"
language = "zh"

[nodes.greet]
type = "menu"
prompts = ["welcome", "menu"]
branches = { 1 = "pay" }
retries = 1
invalid_prompts = ["invalid"]
on_fail = "bye"

[nodes.pay]
type = "pay"
amount_minor = 20000
currency = "CNY"
next = "bye"
on_fail = "bye"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

/// Every prompt exists except the Mandarin files in `missing`.
struct Without(&'static [&'static str]);

impl PromptCatalog for Without {
    fn contains(&self, name: &str) -> bool {
        !self.0.contains(&name)
    }
    fn expected_path(&self, name: &str) -> String {
        format!("prompts/{name}.wav")
    }
}

#[test]
fn a_flow_can_start_in_mandarin() {
    let flow = Flow::parse(Path::new("cn.toml"), ZH_FLOW, &AnyPrompt).unwrap();
    assert_eq!(flow.language(), Language::Mandarin);
    let mut sim = Sim::with_flow(Arc::new(flow));
    let a = sim.start();
    assert_eq!(set_language(&a), Some("zh"));
    assert_eq!(played(&a), ["zh/welcome", "zh/menu"]);
    let a = sim.digits("1");
    // 您需要支付的金额是两百元
    assert_eq!(
        played(&a)[..4],
        zh(&[
            "phrases/amount-due",
            "numbers/liang",
            "numbers/hundred",
            "currency/yuan"
        ])
    );
}

#[test]
fn missing_zh_prompt_warns_at_load_and_plays_english_once_per_call() {
    let flow = Flow::parse(Path::new("cn.toml"), ZH_FLOW, &Without(&["zh/menu"]))
        .unwrap_or_else(|e| panic!("a missing zh prompt is not an error: {e}"));
    let w = flow.warnings();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0].line, w[0].column), (9, 23));
    assert!(
        matches!(&w[0].problem, Problem::MissingTranslation { language: Language::Mandarin, prompt, field, .. }
            if prompt == "menu" && field == "prompts"),
        "{w:?}"
    );
    assert_eq!(
        w[0].to_string(),
        "cn.toml:9:23: prompt 'menu' in field 'prompts' has no zh file prompts/zh/menu.wav; \
         the English prompt plays instead"
    );
    let mut sim = Sim::with_flow(Arc::new(flow));
    let a = sim.start();
    assert_eq!(played(&a), ["zh/welcome", "menu"]);
    let fallbacks = |a: &[Action]| {
        a.iter()
            .filter(|a| matches!(a, Action::PromptFallback { language: Language::Mandarin, prompt } if prompt.name() == "menu"))
            .count()
    };
    assert_eq!(fallbacks(&a), 1);
    let a = sim.digits("7"); // not a branch: invalid, the menu again
    assert_eq!(played(&a), ["zh/invalid", "zh/welcome", "menu"]);
    assert_eq!(fallbacks(&a), 0, "reported once per call");
}

#[test]
fn missing_mandarin_number_prompts_are_an_error() {
    let e = match Flow::parse(
        Path::new("cn.toml"),
        ZH_FLOW,
        &Without(&["zh/currency/jiao"]),
    ) {
        Err(Error::Flow(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(e.len(), 1, "{e:#?}");
    let text = e[0].to_string();
    assert!(
        text.starts_with(
            "cn.toml:2:1: prompt 'zh/currency/jiao (needed to say numbers and dates in zh)'"
        ),
        "{text}"
    );
}

#[test]
fn call_control_can_switch_only_to_a_language_the_flow_can_say_values_in() {
    let english_only = ZH_FLOW.replace("language = \"zh\"\n", "");
    let flow = Flow::parse(
        Path::new("en.toml"),
        &english_only,
        &Without(&["zh/numbers/liang"]),
    )
    .unwrap();
    // The flow does not speak zh, so nothing is reported; but its pay node could not say
    // the amount in Mandarin.
    assert!(flow.warnings().is_empty());
    assert!(!flow.can_speak(Language::Mandarin));
    let mut sim = Sim::with_flow(Arc::new(flow));
    assert!(!sim.s.set_language(Language::Mandarin));
    assert!(sim.s.set_language(Language::English));
    let a = sim.start();
    assert_eq!(played(&a), ["welcome", "menu"]);

    // With every Mandarin prompt there, call control may start the call in Mandarin (e.g.
    // for a Mandarin-speaking customer's number).
    let flow = Flow::parse(Path::new("en.toml"), &english_only, &AnyPrompt).unwrap();
    let mut sim = Sim::with_flow(Arc::new(flow));
    assert!(sim.s.set_language(Language::Mandarin));
    let a = sim.start();
    assert_eq!(set_language(&a), Some("zh"));
    assert_eq!(played(&a), ["zh/welcome", "zh/menu"]);
}

#[test]
fn unknown_language_is_a_field_error() {
    let text = ZH_FLOW.replace("language = \"zh\"", "language = \"klingon\"");
    let e = match Flow::parse(Path::new("cn.toml"), &text, &AnyPrompt) {
        Err(Error::Flow(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        e[0].to_string(),
        "cn.toml:5:12: bad field 'language': 'klingon' is not one of en, zh"
    );
}

#[test]
fn an_identified_caller_hears_the_language_of_their_record() {
    let flow = r#"
[flow]
start = "who"

[nodes.who]
type = "identify"
by = "caller_number"
found = "menu"
not_found = "menu"

[nodes.menu]
type = "menu"
prompts = ["menu"]
branches = { 9 = "mandarin" }
on_fail = "bye"

[nodes.mandarin]
type = "set"
language = "zh"
next = "menu"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
"#;
    let customer = |language: &str| Customer {
        id: "cust-7".into(),
        tier: "standard".into(),
        name: None,
        attributes: BTreeMap::from([("language".to_string(), language.to_string())]),
    };
    let mut sim = Sim::new(flow);
    sim.start();
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: Some(customer("zh-CN")),
    });
    assert_eq!(set_language(&a), Some("zh"));
    assert_eq!(played(&a), ["zh/menu"]);

    // A flow that never speaks Mandarin stays in English.
    let english_only = flow.replace("language = \"zh\"\n", "");
    let mut sim = Sim::new(&english_only);
    sim.start();
    let r = sim.last_request();
    let a = sim.event(Event::LookupResult {
        request: r,
        customer: Some(customer("zh")),
    });
    assert_eq!(set_language(&a), None);
    assert_eq!(played(&a), ["menu"]);
}

#[test]
fn agent_assisted_payment_continues_in_the_callers_language() {
    let config = config_dir();
    let set = FlowSet::load_dir(&config.join("ivr"), &PromptDir::default_for(&config)).unwrap();
    let mut sim = Sim::with_flow(set.get("agent_pay").unwrap());
    sim.s.set_variable("amount_minor", "2500");
    sim.s.set_variable("currency", "CNY");
    // What call control does when the caller chose Mandarin earlier in the call.
    assert!(sim.s.set_language(Language::Mandarin));
    let a = sim.start();
    assert_eq!(played(&a), zh(&["phrases/one-moment"]));
    let a = sim.finish_prompt();
    // 您需要支付的金额是二十五元，请输入您的卡号...
    assert_eq!(
        played(&a),
        zh(&[
            "phrases/amount-due",
            "numbers/20",
            "digits/5",
            "currency/yuan",
            "phrases/enter-card-number",
        ])
    );
    assert!(
        !sim.log
            .iter()
            .any(|a| matches!(a, Action::PromptFallback { .. }))
    );
}
