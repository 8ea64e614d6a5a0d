//! Criterion benchmarks: parsing a typical INVITE (zero-copy), printing it, and one endpoint
//! running a whole INVITE server transaction (INVITE in, 100 + 200 out, ACK in).

use criterion::{Criterion, criterion_group, criterion_main};
use hotline_sip::{Config, Endpoint, Event, Message, StatusCode, Transport};
use std::hint::black_box;
use std::time::Instant;

const INVITE: &[u8] = include_bytes!("invite.sip");

fn ack_for(call_id: &str, to_tag: &str) -> Vec<u8> {
    format!(
        "ACK sip:+4930123456@10.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nTo: <sip:+4930123456@10.0.0.2>;tag={to_tag}\r\nFrom: \"Alice\" <sip:1001@10.0.0.1>;tag=1928301774\r\nCall-ID: {call_id}\r\nCSeq: 314159 ACK\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    c.bench_function("parse INVITE", |b| {
        b.iter(|| Message::parse(black_box(INVITE)).unwrap())
    });
    c.bench_function("parse INVITE + decode Via/From/To/CSeq/Call-ID", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(INVITE)).unwrap();
            (
                m.top_via().unwrap().branch().is_some(),
                m.from_header().unwrap().tag().is_some(),
                m.to_header().is_ok(),
                m.cseq().unwrap().seq,
                m.call_id().unwrap().len(),
            )
        })
    });
    let parsed = Message::parse(INVITE).unwrap();
    c.bench_function("print INVITE", |b| b.iter(|| black_box(&parsed).to_bytes()));

    let src = "10.0.0.1:5060".parse().unwrap();
    let ack = ack_for("a84b4c76e66710@10.0.0.1", "b1");
    c.bench_function(
        "endpoint INVITE server transaction (INVITE, 100, 200, ACK)",
        |b| {
            let mut ep = Endpoint::new(Config::default());
            let now = Instant::now();
            b.iter(|| {
                ep.handle_datagram(now, src, Transport::Udp, INVITE);
                let Some(Event::Request { tsx, request, .. }) = ep.poll_event() else {
                    panic!("no request")
                };
                ep.respond(now, tsx, request.make_response(StatusCode::OK, Some("b1")))
                    .unwrap();
                ep.handle_datagram(now, src, Transport::Udp, &ack);
                let mut sent = 0;
                while ep.poll_transmit().is_some() {
                    sent += 1;
                }
                while ep.poll_event().is_some() {}
                // Let the transaction end so the next iteration starts clean (timer L).
                ep.handle_timeout(now + std::time::Duration::from_secs(33));
                while ep.poll_event().is_some() {}
                black_box(sent)
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
