//! Frames come from the network: whatever bytes arrive, decoding returns a value or an error and
//! never panics. Random text, and the documented examples with random bytes changed, cut or
//! inserted (the shapes a fuzzer would find first).

use hotline_cti::{decode_client, decode_server, encode_client, encode_server};
use proptest::prelude::*;

fn examples() -> Vec<String> {
    let md = include_str!("../../../docs/cti-protocol.md");
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```json") => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(b), l) => b.push_str(l),
            (None, _) => {}
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in ".{0,300}") {
        let _ = decode_client(&text);
        let _ = decode_server(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let all = examples();
        let mut bytes = all[pick.index(all.len())].clone().into_bytes();
        for (at, byte, op) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            // Anything that still decodes must encode again.
            if let Ok(frame) = decode_client(text) {
                prop_assert!(encode_client(&frame).is_ok());
            }
            if let Ok(frame) = decode_server(text) {
                prop_assert!(encode_server(&frame).is_ok());
            }
        }
    }
}
