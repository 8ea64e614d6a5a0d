//! Chinese and English (issue 14, item 1): a Chinese customer name renders with every glyph in
//! the loaded fonts (Noto Sans CJK from the system as egui fallback); without a CJK font the
//! desktop says so in words; the language switch turns the whole UI to Chinese, and a walk over
//! every text on screen (login, ringing pop, call, wrap-up, notifications, unknown caller)
//! finds no English left but the data itself (names, queue, dispositions); the agent's choice is
//! kept for the next login; every message id used in the code is in both catalogues.

mod common;

use std::collections::BTreeSet;

use common::Desk;
use egui::accesskit::Role;
use egui_kittest::kittest::{self, NodeT as _, Queryable};
use hotline_cti::{
    AgentState, CallDirection, CallInfo, CallState, EndReason, Event, Pii, UnixMillis,
};
use hotline_desktop::fonts::{self, FontStatus};
use hotline_desktop::i18n::{self, Lang};
use hotline_desktop::prefs::Preferences;
use hotline_desktop::sample;

/// Every text on screen: labels (their value), the labels of other widgets, and the hints
/// shown in empty text fields.
fn screen_texts(desk: &Desk) -> Vec<String> {
    desk.harness
        .query_all(kittest::by().predicate(|_| true))
        .flat_map(|n| {
            let n = n.accesskit_node();
            let text = if n.role() == Role::Label {
                n.value()
            } else {
                n.label()
            };
            [text, n.placeholder().map(str::to_owned)]
        })
        .flatten()
        .filter(|t| !t.trim().is_empty())
        // egui's own name for a panel's resize handle (screen readers only, never drawn).
        .filter(|t| t != "Resize panel")
        .collect()
}

/// Loads the system's CJK font into the desk, or fails the test saying what to install.
fn with_cjk_font(desk: &mut Desk) {
    let status = fonts::setup_with(&desk.harness.ctx, None, fonts::CANDIDATES);
    assert!(
        matches!(status, FontStatus::Loaded { .. }),
        "no CJK font: install fonts-noto-cjk ({status:?})"
    );
    desk.harness.state_mut().state.fonts = status;
    desk.harness.run();
}

fn chinese_pop(wall: UnixMillis) -> hotline_cti::ScreenPop {
    let mut pop = sample::screen_pop(wall);
    if let Some(c) = pop.customer.as_mut() {
        c.name = Pii::new("欧阳娜娜".into());
    }
    pop
}

fn all_glyphs(desk: &Desk, text: &str) -> bool {
    let font = egui::FontId::proportional(14.0);
    desk.harness
        .ctx
        .fonts_mut(|f| text.chars().all(|c| f.has_glyph(&font, c)))
}

#[test]
fn a_chinese_customer_name_renders_with_every_glyph_in_the_loaded_fonts() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    let name = "欧阳娜娜";
    // egui's own fonts have none of these glyphs: this is what showed as boxes.
    assert!(!all_glyphs(&desk, name), "egui alone has no CJK glyphs");
    with_cjk_font(&mut desk);
    desk.event(Event::AgentStateChanged(sample::status(
        AgentState::Ringing,
        None,
        wall.0,
    )));
    desk.event(Event::CallOffered(Box::new(chinese_pop(wall))));
    // The name is on screen (the record's heading and the call list) ...
    desk.harness.get_by_label(name);
    // ... and every one of its glyphs is in the loaded fonts.
    for c in name.chars() {
        assert!(
            all_glyphs(&desk, &c.to_string()),
            "no glyph for {c:?} in the loaded fonts"
        );
    }
    // Every text on the Chinese screen renders too.
    desk.harness.get_by_label("中文").click();
    desk.harness.run();
    for text in screen_texts(&desk) {
        assert!(all_glyphs(&desk, &text), "missing glyphs in {text:?}");
    }
}

#[test]
fn without_a_cjk_font_the_desktop_says_so_in_words() {
    let mut desk = Desk::new();
    let status = fonts::setup_with(
        &desk.harness.ctx,
        None,
        &[("/nonexistent/NotoSansCJK-Regular.ttc", 2)],
    );
    assert!(matches!(status, FontStatus::Missing { .. }), "{status:?}");
    desk.harness.state_mut().state.fonts = status;
    desk.harness.run();
    desk.harness.get_by_label_contains("No Chinese font found");
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk.harness
        .get_by_label_contains("Install fonts-noto-cjk or set HOTLINE_CJK_FONT");
}

/// The words of the data the switch sent (names, queue, reasons, dispositions, tickets): these
/// stay as they are in any language.
fn data_words(pop: &hotline_cti::ScreenPop) -> BTreeSet<String> {
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    strings(
        &serde_json::to_value(pop).expect("pop serialises"),
        &mut texts,
    );
    texts.extend(
        [
            "Alice Agent",
            "break",
            "lunch",
            "training",
            "resolved",
            "callback",
            "escalated",
            "sale",
        ]
        .map(String::from),
    );
    texts
        .iter()
        .flat_map(|t| ascii_words(t))
        .collect::<BTreeSet<_>>()
}

fn ascii_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2)
        .map(str::to_owned)
        .collect()
}

/// Texts on screen with an English word that is not data (and not the language's own name).
fn untranslated(desk: &Desk, data: &BTreeSet<String>) -> Vec<String> {
    screen_texts(desk)
        .into_iter()
        .filter(|t| {
            ascii_words(t)
                .iter()
                // The product's name and the language switch's own "English" stay.
                // as does the example agent id in the login hint (an identifier).
                .any(|w| {
                    !data.contains(w) && !["English", "Hotline", "alice"].contains(&w.as_str())
                })
        })
        .collect()
}

#[test]
fn the_whole_ui_switches_to_chinese_with_nothing_left_in_english() {
    let mut desk = Desk::new();
    with_cjk_font(&mut desk);
    let wall = desk.wall();
    let pop = sample::screen_pop(wall);
    let data = data_words(&pop);

    // The login screen.
    desk.harness.get_by_label("中文").click();
    desk.harness.run();
    let left = untranslated(&desk, &data);
    assert!(left.is_empty(), "login screen: {left:?}");
    desk.harness.get_by_label("登录");

    // Logged in (the agent's language stays), a call rings with the pop.
    desk.feed(sample::login(wall));
    desk.event(Event::AgentStateChanged(sample::status(
        AgentState::Ringing,
        None,
        wall.0,
    )));
    desk.event(Event::CallOffered(Box::new(pop.clone())));
    desk.harness.get_by_label("来电");
    // Times read as Chinese does: "22天0小时 前".
    desk.harness
        .get_by_label_contains("22天0小时 前 · billing · callback");
    let left = untranslated(&desk, &data);
    assert!(left.is_empty(), "ringing pop: {left:?}");

    // Connected, then ended: the wrap-up form with its messages.
    let info = |state, end| {
        Event::CallChanged(CallInfo {
            call: sample::call(),
            direction: CallDirection::Inbound,
            state,
            peer: Pii::new("+441632960001".into()),
            muted: false,
            conference: false,
            queue: Some("billing".into()),
            consult_of: None,
            colleague: None,
            end_reason: end,
            since: wall,
        })
    };
    desk.event(info(CallState::Connected, None));
    desk.event(Event::AgentStateChanged(sample::status(
        AgentState::OnCall,
        None,
        wall.0,
    )));
    let left = untranslated(&desk, &data);
    assert!(left.is_empty(), "connected: {left:?}");
    desk.event(info(CallState::Ended, Some(EndReason::RemoteHangup)));
    desk.event(Event::WrapUpStarted {
        call: sample::call(),
        since: wall,
        limit_secs: Some(120),
    });
    desk.event(Event::AgentStateChanged(sample::status(
        AgentState::WrapUp,
        None,
        wall.0,
    )));
    desk.harness.get_by_label("新建工单").click();
    desk.harness.run();
    desk.harness.get_by_label_contains("话后整理：Ada Lovelace");
    desk.harness.get_by_label("请选择处理结果以完成话后整理。");
    desk.harness
        .get_by_label("请填写工单标题，或选择“不建工单”。");
    // A refused command is said in Chinese too.
    desk.feed([hotline_desktop::client::ClientUpdate::Reply {
        kind: "consult",
        call: None,
        result: Err(hotline_cti::ErrorBody::new(
            hotline_cti::ErrorCode::TargetUnavailable,
            "target busy",
        )),
    }]);
    desk.harness.get_by_label("“咨询”：对方正忙或无人接听");
    let left = untranslated(&desk, &data);
    assert!(left.is_empty(), "wrap-up: {left:?}");

    // And back: the same screen in English.
    desk.harness.get_by_label("English").click();
    desk.harness.run();
    desk.harness.get_by_label("Submit wrap-up");
}

#[test]
fn the_language_is_kept_per_agent() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("desktop.json");
    let mut desk = Desk::new();
    with_cjk_font(&mut desk);
    desk.harness
        .state_mut()
        .use_preferences(Preferences::open(&path));
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk.harness.get_by_label("中文").click();
    desk.harness.run();
    assert_eq!(desk.harness.state().state.lang, Lang::ZhCn);
    // A new desktop on the same computer: the login screen is Chinese, and so is alice after
    // login even when someone switched it back to English before.
    let mut again = Desk::new();
    with_cjk_font(&mut again);
    again
        .harness
        .state_mut()
        .use_preferences(Preferences::open(&path));
    again.harness.run();
    again.harness.get_by_label("登录");
    again.harness.get_by_label("English").click();
    again.harness.run();
    again.harness.get_by_label("Log in");
    again.feed(sample::login(wall));
    assert_eq!(again.harness.state().state.lang, Lang::ZhCn);
    again.harness.get_by_label("示闲");
}

/// Every message id the code names is in both catalogues (a typo would show as `[id]`).
#[test]
fn every_message_the_code_uses_is_in_both_catalogues() {
    let en = i18n::keys(Lang::En);
    let zh = i18n::keys(Lang::ZhCn);
    assert_eq!(en, zh, "both locales have the same messages");
    let re_src = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        for marker in ["t!(", "msg!(", "Msg::new(", "format(l, ", "format(lang, "] {
            for (i, _) in s.match_indices(marker) {
                let rest = &s[i + marker.len()..];
                // The id is the first string literal of the call.
                if let Some(start) = rest.find('"') {
                    let head = &rest[..start];
                    if head.contains(')') || head.contains(';') {
                        continue;
                    }
                    let tail = &rest[start + 1..];
                    if let Some(end) = tail.find('"') {
                        out.push(tail[..end].to_owned());
                    }
                }
            }
        }
        for (i, _) in s.match_indices('"') {
            let rest = &s[i + 1..];
            for p in [
                "why-", "action-", "wb-", "rep-", "missing-", "refused-", "work-",
            ] {
                if rest.starts_with(p)
                    && let Some(end) = rest.find('"')
                {
                    out.push(rest[..end].to_owned());
                }
            }
        }
        out
    };
    let mut used = BTreeSet::new();
    for file in ["view.rs", "state.rs", "app.rs"] {
        let src = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src")
                .join(file),
        )
        .expect("source");
        // The code, not its unit tests.
        let code = src.split("#[cfg(test)]").next().unwrap_or_default();
        used.extend(re_src(code));
    }
    let used: BTreeSet<String> = used
        .into_iter()
        .filter(|k| {
            k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .collect();
    assert!(used.len() > 200, "the walk found the ids: {}", used.len());
    let missing: Vec<_> = used.iter().filter(|k| !en.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "used but not in the catalogue: {missing:?}"
    );
}
