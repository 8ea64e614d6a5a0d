//! Proves that every kind of broken flow file is rejected at load time with an error naming
//! the file, the line and the problem, and that a good file loads.

use std::path::Path;

use hotline_ivr::{AnyPrompt, Error, Flow, FlowError, FlowSet, Problem, PromptDir};

const FILE: &str = "config/ivr/test.toml";

fn errors(text: &str) -> Vec<FlowError> {
    match Flow::parse(Path::new(FILE), text, &AnyPrompt) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(Error::Flow(e)) => e,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn one(text: &str) -> FlowError {
    let e = errors(text);
    assert_eq!(e.len(), 1, "expected exactly one error, got {e:#?}");
    assert_eq!(e[0].file, Path::new(FILE));
    e.into_iter().next().unwrap()
}

const GOOD: &str = r#"
[flow]
name = "good"
start = "menu"

[nodes.menu]
type = "menu"
prompts = ["welcome"]
branches = { 1 = "bye", 2 = "bye" }
on_fail = "bye"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

#[test]
fn good_file_loads() {
    let flow = Flow::parse(Path::new(FILE), GOOD, &AnyPrompt).unwrap();
    assert_eq!(flow.name(), "good");
    assert_eq!(flow.start().name(), "menu");
    assert_eq!(flow.node("bye").unwrap().line(), 12);
    assert_eq!(flow.node("bye").unwrap().type_name(), "hangup");
}

#[test]
fn toml_syntax_error_names_line() {
    let e = one("[flow]\nstart = \"a\"\n\n[nodes.a]\ntype = \"hangup\nprompts = []\n");
    assert_eq!(e.line, 5);
    assert!(matches!(e.problem, Problem::Syntax(_)), "{e}");
    assert!(e.to_string().starts_with("config/ivr/test.toml:5:"), "{e}");
}

#[test]
fn unknown_node_reference() {
    let text = GOOD.replace("on_fail = \"bye\"", "on_fail = \"byee\"");
    let e = one(&text);
    assert_eq!(e.line, 10);
    assert_eq!(
        e.problem,
        Problem::UnknownNode {
            node: "byee".into(),
            field: "on_fail".into()
        }
    );
    assert!(e.to_string().contains("unknown node 'byee'"), "{e}");
}

#[test]
fn unknown_node_in_menu_branch_and_start() {
    let text = GOOD
        .replace("2 = \"bye\"", "2 = \"nowhere\"")
        .replace("start = \"menu\"", "start = \"mneu\"");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(e[0].line, 4);
    assert!(
        matches!(&e[0].problem, Problem::UnknownNode { node, field } if node == "mneu" && field == "start")
    );
    assert_eq!(e[1].line, 9);
    assert!(
        matches!(&e[1].problem, Problem::UnknownNode { node, field } if node == "nowhere" && field == "branches.2")
    );
}

#[test]
fn unreachable_node() {
    let text = format!(
        "{GOOD}\n[nodes.orphan]\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\n"
    );
    let e = one(&text);
    assert_eq!(e.line, 16);
    assert_eq!(e.problem, Problem::Unreachable("orphan".into()));
}

#[test]
fn duplicate_node() {
    let text = format!("{GOOD}\n[nodes.bye]\ntype = \"hangup\"\n");
    let e = one(&text);
    assert_eq!(e.line, 16);
    assert_eq!(e.problem, Problem::DuplicateNode("bye".into()));
}

#[test]
fn missing_prompt_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("welcome.wav"), b"RIFF").unwrap();
    let err = Flow::parse(Path::new(FILE), GOOD, &PromptDir::new(dir.path())).unwrap_err();
    let Error::Flow(e) = err else { panic!() };
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].line, 14);
    match &e[0].problem {
        Problem::MissingPrompt { prompt, expected } => {
            assert_eq!(prompt, "goodbye");
            assert!(expected.ends_with("goodbye.wav"), "{expected}");
        }
        p => panic!("{p:?}"),
    }
    std::fs::write(dir.path().join("goodbye.wav"), b"RIFF").unwrap();
    Flow::parse(Path::new(FILE), GOOD, &PromptDir::new(dir.path())).unwrap();
}

#[test]
fn default_prompts_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    for p in ["welcome", "goodbye"] {
        std::fs::write(dir.path().join(format!("{p}.wav")), b"RIFF").unwrap();
    }
    let text = r#"
[flow]
start = "pay"
[nodes.pay]
type = "pay"
amount_minor = 500
currency = "USD"
next = "bye"
on_fail = "bye"
[nodes.bye]
type = "hangup"
"#;
    let Error::Flow(e) =
        Flow::parse(Path::new(FILE), text, &PromptDir::new(dir.path())).unwrap_err()
    else {
        panic!()
    };
    assert!(e.iter().any(|e| e.line == 4
        && matches!(&e.problem, Problem::MissingPrompt { prompt, .. } if prompt == "phrases/enter-card-number")));
    // Saying the amount needs the number prompts.
    assert!(e.iter().any(|e| matches!(&e.problem, Problem::MissingPrompt { prompt, .. } if prompt.starts_with("digits/1 "))));
}

#[test]
fn bad_field_type_and_value() {
    let text = GOOD.replace(
        "on_fail = \"bye\"",
        "on_fail = \"bye\"\ntimeout_ms = \"five\"\nretries = 99",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(e[0].line, 11);
    assert!(matches!(&e[0].problem, Problem::BadField { field, .. } if field == "timeout_ms"));
    assert_eq!(e[1].line, 12);
    assert!(
        matches!(&e[1].problem, Problem::BadField { field, reason } if field == "retries" && reason.contains("outside"))
    );
}

#[test]
fn bad_branch_digit_and_node_type() {
    let text = GOOD
        .replace("2 = \"bye\"", "12 = \"bye\"")
        .replace("type = \"hangup\"", "type = \"hang_up\"");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(matches!(&e[0].problem, Problem::BadField { field, .. } if field == "branches"));
    assert_eq!(e[0].line, 9);
    assert!(
        matches!(&e[1].problem, Problem::BadField { field, reason } if field == "type" && reason.contains("hang_up"))
    );
    assert_eq!(e[1].line, 13);
}

#[test]
fn unknown_field_is_reported_at_its_line() {
    let text = GOOD.replace("on_fail = \"bye\"", "on_fail = \"bye\"\ntimout_ms = 3000");
    let e = one(&text);
    assert_eq!(e.line, 11);
    assert_eq!(
        e.problem,
        Problem::UnknownField {
            field: "timout_ms".into(),
            node_type: "menu".into()
        }
    );
}

#[test]
fn missing_field_is_reported_at_the_node() {
    let text = GOOD.replace("on_fail = \"bye\"\n", "");
    let e = one(&text);
    assert_eq!(e.line, 6);
    assert_eq!(e.problem, Problem::MissingField("on_fail".into()));
}

#[test]
fn business_hours_fields_are_checked() {
    let text = r#"
[flow]
start = "hours"
[nodes.hours]
type = "condition"
test = "business_hours"
utc_offset = "+25:00"
hours = { weekdays = "09:00-17:00", sat = "12:00-10:00", funday = "09:00-10:00" }
holidays = ["2026-02-30"]
then = "bye"
else = "bye"
[nodes.bye]
type = "hangup"
"#;
    let e = errors(text);
    let fields: Vec<(usize, String)> = e
        .iter()
        .map(|e| match &e.problem {
            Problem::BadField { field, .. } => (e.line, field.clone()),
            p => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (7, "utc_offset".to_string()),
            (8, "hours".to_string()),
            (8, "hours".to_string()),
            (9, "holidays".to_string())
        ]
    );
}

#[test]
fn missing_flow_table_and_empty_file() {
    let e = errors("");
    assert!(
        e.iter()
            .any(|e| e.problem == Problem::MissingField("[flow]".into()) && e.line == 1)
    );
}

#[test]
fn load_dir_reports_all_files_and_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        GOOD.replace("name = \"good\"", "name = \"a\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        GOOD.replace("on_fail = \"bye\"", "on_fail = \"x\""),
    )
    .unwrap();
    let err = FlowSet::load_dir(dir.path(), &AnyPrompt).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("b.toml:10:"), "{msg}");
    std::fs::write(
        dir.path().join("b.toml"),
        GOOD.replace("name = \"good\"", "name = \"b\""),
    )
    .unwrap();
    let set = FlowSet::load_dir(dir.path(), &AnyPrompt).unwrap();
    assert_eq!(set.names(), vec!["a", "b"]);
    std::fs::write(
        dir.path().join("c.toml"),
        GOOD.replace("name = \"good\"", "name = \"a\""),
    )
    .unwrap();
    assert!(matches!(
        FlowSet::load_dir(dir.path(), &AnyPrompt),
        Err(Error::DuplicateFlow { .. })
    ));
}
