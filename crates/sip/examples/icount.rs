//! A fixed-iteration run of the two benchmarked operations, for instruction counting with
//! callgrind (deterministic, unlike wall-clock time on a shared VM):
//!
//! ```text
//! cargo build --release -p hotline-sip --example icount
//! valgrind --tool=callgrind target/release/examples/icount endpoint 2000
//! valgrind --tool=callgrind target/release/examples/icount endpoint 0   # start-up cost
//! ```
//!
//! `parse N` parses the benchmark INVITE N times; `endpoint N` runs N INVITE server
//! transactions (INVITE in, 100 and 200 out, ACK in, timer L).

use hotline_sip::{Config, Endpoint, Event, Message, StatusCode, Transport};
use std::time::{Duration, Instant};
const INVITE: &[u8] = include_bytes!("../benches/invite.sip");
fn main() {
    let what = std::env::args().nth(1).unwrap();
    let n: u64 = std::env::args().nth(2).unwrap().parse().unwrap();
    let src = "10.0.0.1:5060".parse().unwrap();
    let ack = b"ACK sip:+4930123456@10.0.0.2:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nTo: <sip:+4930123456@10.0.0.2>;tag=b1\r\nFrom: \"Alice\" <sip:1001@10.0.0.1>;tag=1928301774\r\nCall-ID: a84b4c76e66710@10.0.0.1\r\nCSeq: 314159 ACK\r\nContent-Length: 0\r\n\r\n";
    let mut acc = 0usize;
    let mut ep = Endpoint::new(Config::default());
    let now = Instant::now();
    for _ in 0..n {
        match what.as_str() {
            "parse" => {
                acc += Message::parse(std::hint::black_box(INVITE))
                    .unwrap()
                    .headers
                    .len()
            }
            _ => {
                ep.handle_datagram(now, src, Transport::Udp, INVITE);
                let Some(Event::Request { tsx, request, .. }) = ep.poll_event() else {
                    panic!()
                };
                ep.respond(now, tsx, request.make_response(StatusCode::OK, Some("b1")))
                    .unwrap();
                ep.handle_datagram(now, src, Transport::Udp, ack);
                while let Some(t) = ep.poll_transmit() {
                    acc += t.payload.len();
                }
                while ep.poll_event().is_some() {}
                ep.handle_timeout(now + Duration::from_secs(33));
                while ep.poll_event().is_some() {}
            }
        }
    }
    println!("{acc}");
}
