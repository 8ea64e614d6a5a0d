//! Every JSON example in `docs/cti-protocol.md` is a valid message that round-trips exactly
//! (typed value -> JSON equals the example), and every command, reply and event type has at
//! least one example there. The doc cannot drift from the types.

use std::collections::BTreeSet;

use hotline_cti::{
    Command, Event, Reply, ServerFrame, decode_client, decode_server, encode_client, encode_server,
};
use serde_json::Value;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cti-protocol.md");
    std::fs::read_to_string(path).expect("docs/cti-protocol.md is readable")
}

fn json_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```json") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap_or_default()),
            (Some(buf), text) => {
                buf.push_str(text);
                buf.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "unterminated ```json block");
    blocks
}

#[test]
fn every_example_round_trips_and_every_type_has_one() {
    let md = doc();
    let blocks = json_blocks(&md);
    assert!(blocks.len() > 50, "only {} examples found", blocks.len());

    let mut commands = BTreeSet::new();
    let mut replies = BTreeSet::new();
    let mut events = BTreeSet::new();
    let mut error_responses = 0;

    for block in &blocks {
        let original: Value = serde_json::from_str(block)
            .unwrap_or_else(|e| panic!("example is not JSON ({e}):\n{block}"));
        let reencoded = if original.get("cmd").is_some() {
            let frame = decode_client(block).unwrap_or_else(|e| panic!("{e}:\n{block}"));
            commands.insert(frame.cmd.kind());
            encode_client(&frame).expect("encodes")
        } else {
            let frame = decode_server(block).unwrap_or_else(|e| panic!("{e}:\n{block}"));
            match &frame {
                ServerFrame::Response(r) => match &r.result {
                    Ok(body) => {
                        replies.insert(body.kind());
                    }
                    Err(_) => error_responses += 1,
                },
                ServerFrame::Event(e) => {
                    events.insert(e.event.kind());
                }
            }
            encode_server(&frame).expect("encodes")
        };
        let back: Value = serde_json::from_str(&reencoded).expect("our output is JSON");
        assert_eq!(back, original, "example does not round-trip:\n{block}");
    }

    let missing = |all: &[&'static str], seen: &BTreeSet<&'static str>| -> Vec<&'static str> {
        all.iter().copied().filter(|t| !seen.contains(t)).collect()
    };
    assert_eq!(
        missing(Command::TYPES, &commands),
        Vec::<&str>::new(),
        "commands without example"
    );
    assert_eq!(
        missing(Reply::TYPES, &replies),
        Vec::<&str>::new(),
        "replies without example"
    );
    assert_eq!(
        missing(Event::TYPES, &events),
        Vec::<&str>::new(),
        "events without example"
    );
    assert!(error_responses >= 1, "no error response example");
}

#[test]
fn type_lists_match_the_serde_names() {
    // kind() must agree with the serde tag, or the coverage check above proves nothing.
    let md = doc();
    for block in json_blocks(&md) {
        let v: Value = serde_json::from_str(&block).expect("json");
        if let Some(cmd) = v.get("cmd") {
            let frame = decode_client(&block).expect("decodes");
            assert_eq!(cmd["type"], frame.cmd.kind());
        } else if let Some(ev) = v.get("event") {
            let ServerFrame::Event(frame) = decode_server(&block).expect("decodes") else {
                panic!("not an event: {block}");
            };
            assert_eq!(ev["type"], frame.event.kind());
        } else if let Some(ok) = v.get("ok") {
            let ServerFrame::Response(r) = decode_server(&block).expect("decodes") else {
                panic!("not a response: {block}");
            };
            assert_eq!(ok["type"], r.result.expect("ok").kind());
        }
    }
}
