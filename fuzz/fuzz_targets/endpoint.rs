//! Datagrams and clock jumps into an `Endpoint` that answers every request.
//!
//! Input format: chunks separated by `\0\0`; a chunk starting with `T` advances the clock by
//! its next byte times 100 ms, a chunk starting with `R` answers the oldest pending request with
//! a status chosen by its next byte, anything else is a datagram from one of two sources.
//! Properties: nothing panics, we only send parseable messages, after `handle_timeout(now)`
//! every armed timer is in the future, and once all timers ran out the endpoint is idle.
#![no_main]

use hotline_sip::{Config, Endpoint, Event, Message, StatusCode, Transport};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut now = start;
    let mut ep = Endpoint::new(Config::default());
    let mut pending: Vec<(hotline_sip::TsxId, Message<'static>)> = Vec::new();
    let sources = [
        "192.0.2.1:5060".parse().unwrap(),
        "[2001:db8::1]:5070".parse().unwrap(),
    ];
    for (i, chunk) in data
        .split(|&b| b == 0)
        .filter(|c| !c.is_empty())
        .enumerate()
    {
        match chunk[0] {
            b'T' => {
                now += Duration::from_millis(100 * u64::from(*chunk.get(1).unwrap_or(&1)));
                ep.handle_timeout(now);
            }
            b'R' if !pending.is_empty() => {
                let (tsx, req) = pending.remove(0);
                let codes = [180, 200, 486, 404, 487, 183, 302, 500];
                let code = codes[usize::from(*chunk.get(1).unwrap_or(&0)) % codes.len()];
                let _ = ep.respond(now, tsx, req.make_response(StatusCode(code), Some("fz")));
                if chunk.get(2) == Some(&b'C') {
                    let _ = ep.cancel(now, tsx);
                }
            }
            _ => {
                let transport = if i % 3 == 0 {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                ep.handle_datagram(now, sources[i % 2], transport, chunk);
            }
        }
        while let Some(t) = ep.poll_transmit() {
            assert!(
                Message::parse(&t.payload).is_ok(),
                "we only send parseable messages"
            );
        }
        while let Some(e) = ep.poll_event() {
            if let Event::Request { tsx, request, .. } = e {
                pending.push((tsx, request));
            }
        }
        ep.handle_timeout(now);
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
        if let Some(t) = ep.poll_timeout() {
            assert!(t > now, "a due timer survived handle_timeout");
        }
    }
    // Run every timer out: the endpoint must become idle.
    for _ in 0..10_000 {
        match ep.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                ep.handle_timeout(now);
                while ep.poll_transmit().is_some() {}
                while ep.poll_event().is_some() {}
            }
            None => break,
        }
    }
    assert!(ep.poll_timeout().is_none(), "timers never stop");
});
