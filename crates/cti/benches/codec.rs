//! CTI codec throughput: decoding client commands (what the server does per request) and
//! encoding/decoding screen pops and state events (what the server does per push and the
//! desktop per receive). Run: `cargo bench -p hotline-cti --bench codec`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_cti::{ServerFrame, decode_client, decode_server, encode_server};

const ANSWER: &str = r#"{"id": 6, "cmd": {"type": "answer", "call": "c-20261123-0001"}}"#;
const WRAP_UP: &str = r#"{"id": 24, "cmd": {"type": "wrap_up", "call": "c-20261123-0001", "disposition": "resolved", "notes": "Explained the late fee; waived once.", "ticket": {"ticket": "T-881", "subject": "Late fee dispute", "body": "Fee waived as goodwill.", "status": "solved", "priority": "normal"}}}"#;
const STATE: &str = r#"{"seq": 2, "event": {"type": "agent_state_changed", "agent": "1001", "state": "not_ready", "reason": "lunch", "since": 1795395600000}}"#;

fn screen_pop() -> String {
    let md = include_str!("../../../docs/cti-protocol.md");
    md.lines()
        .find(|l| l.contains("\"call_offered\"") && l.contains("Ada Lovelace"))
        .map(str::to_owned)
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let pop = screen_pop();
    assert!(!pop.is_empty(), "screen pop example missing from the doc");
    let pop_frame: ServerFrame = decode_server(&pop).expect("example decodes");
    let state_frame: ServerFrame = decode_server(STATE).expect("example decodes");

    let mut g = c.benchmark_group("cti");
    for (name, text) in [("decode_answer", ANSWER), ("decode_wrap_up", WRAP_UP)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| decode_client(black_box(text)).expect("decodes"))
        });
    }
    g.throughput(Throughput::Bytes(pop.len() as u64));
    g.bench_function("encode_screen_pop", |b| {
        b.iter(|| encode_server(black_box(&pop_frame)).expect("encodes"))
    });
    g.bench_function("decode_screen_pop", |b| {
        b.iter(|| decode_server(black_box(&pop)).expect("decodes"))
    });
    g.throughput(Throughput::Bytes(STATE.len() as u64));
    g.bench_function("encode_state_event", |b| {
        b.iter(|| encode_server(black_box(&state_frame)).expect("encodes"))
    });
    g.bench_function("decode_state_event", |b| {
        b.iter(|| decode_server(black_box(STATE)).expect("decodes"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
