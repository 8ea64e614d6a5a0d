//! Proves the complete example flow in docs/ivr.md parses and uses every node type, and that
//! every node snippet in the reference has a `type` the loader knows.

use std::path::Path;

use hotline_ivr::{AnyPrompt, Flow};

fn docs() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ivr.md"))
        .expect("docs/ivr.md")
}

fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        match (&mut cur, line.trim_start()) {
            (None, "```toml") => cur = Some(String::new()),
            (Some(_), "```") => blocks.extend(cur.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn complete_example_parses_and_covers_every_node_type() {
    let text = docs();
    let example = toml_blocks(&text)
        .into_iter()
        .find(|b| b.contains("name = \"example\""))
        .expect("complete example");
    let flow = Flow::parse(Path::new("docs/ivr.md"), &example, &AnyPrompt)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut types: Vec<&str> = flow.nodes().iter().map(|n| n.type_name()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types,
        [
            "booking",
            "collect",
            "condition",
            "hangup",
            "identify",
            "menu",
            "pay",
            "play",
            "queue",
            "return",
            "set",
            "transfer",
            "voicemail"
        ]
    );
}

#[test]
fn every_snippet_node_parses_inside_a_minimal_flow() {
    // Each reference snippet becomes a flow whose referenced nodes are stubbed as hangups.
    for block in toml_blocks(&docs()) {
        if block.contains("[flow]") || !block.contains("[nodes.") {
            continue;
        }
        let first = block
            .lines()
            .find_map(|l| l.strip_prefix("[nodes.").and_then(|r| r.strip_suffix(']')))
            .unwrap()
            .to_string();
        let defined: Vec<String> = block
            .lines()
            .filter_map(|l| l.strip_prefix("[nodes.").and_then(|r| r.strip_suffix(']')))
            .map(str::to_string)
            .collect();
        let mut referenced: Vec<String> = Vec::new();
        for line in block.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let node_fields = [
                "next",
                "on_fail",
                "found",
                "not_found",
                "then",
                "else",
                "on_callback",
                "on_max_wait",
                "on_none",
            ];
            if node_fields.contains(&key) {
                referenced.push(value.trim().trim_matches('"').to_string());
            }
            if key == "branches" {
                for part in value
                    .trim()
                    .trim_start_matches('{')
                    .trim_end_matches('}')
                    .split(',')
                {
                    if let Some((_, v)) = part.split_once('=') {
                        referenced.push(v.trim().trim_matches('"').to_string());
                    }
                }
            }
        }
        let mut text = format!(
            "[flow]\nstart = \"start_here\"\n\n[nodes.start_here]\ntype = \"menu\"\nprompts = \"x\"\non_fail = \"{first}\"\nbranches = {{ "
        );
        let branches: Vec<String> = defined
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{} = \"{d}\"", i + 1))
            .collect();
        text.push_str(&branches.join(", "));
        text.push_str(" }\n\n");
        text.push_str(&block);
        referenced.sort();
        referenced.dedup();
        for r in referenced.iter().filter(|r| !defined.contains(r)) {
            text.push_str(&format!("\n[nodes.{r}]\ntype = \"hangup\"\n"));
        }
        if let Err(e) = Flow::parse(Path::new("snippet.toml"), &text, &AnyPrompt) {
            panic!("snippet starting with [nodes.{first}] does not parse:\n{e}\n---\n{text}");
        }
    }
}
