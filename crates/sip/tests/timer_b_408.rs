//! When nothing answers an INVITE, timer B fires at 64*T1 (32 s): the client transaction
//! reports a locally generated 408 Request Timeout and terminates, after exactly seven
//! transmissions of the INVITE (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s). T1 is configurable.

mod common;
use common::*;
use hotline_sip::{Event, StatusCode, TimerConfig, Transport};
use std::time::Duration;

#[test]
fn timer_b_gives_408_after_64_t1() {
    let mut sim = Sim::new();
    sim.drop = Box::new(|w| w.to == addr(B)); // B is unreachable
    let now = sim.now;
    let tsx = sim
        .a()
        .ep
        .send_request(now, invite("c1", "a1"), addr(B), Transport::Udp)
        .unwrap();

    sim.run_until(secs(31.9));
    assert!(
        take_response(sim.a()).is_none(),
        "no verdict before timer B"
    );
    sim.drive_bounded(100);

    let (id, resp, local) = take_response(sim.a()).expect("a 408");
    assert_eq!(
        (id, resp.status(), local),
        (tsx, Some(StatusCode::REQUEST_TIMEOUT), true)
    );
    assert_eq!(sim.elapsed(), Duration::from_secs(32));
    let times: Vec<f64> = sim
        .sent(A, |w| w.is_request("INVITE"))
        .iter()
        .map(|w| w.at.as_secs_f64())
        .collect();
    assert_eq!(times, vec![0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]);
    assert!(sim.a().events.contains(&Event::Terminated { tsx }));
    assert_eq!(sim.a().ep.transaction_count(), 0);
}

#[test]
fn t1_is_configurable() {
    let mut a = config(A, 1);
    a.timers = TimerConfig {
        t1: Duration::from_millis(100),
        ..TimerConfig::default()
    };
    let mut sim = Sim::with_configs(a, config(B, 2));
    sim.drop = Box::new(|w| w.to == addr(B));
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, invite("c2", "a2"), addr(B), Transport::Udp)
        .unwrap();
    sim.drive_bounded(100);
    assert_eq!(sim.elapsed(), Duration::from_millis(6400));
    let (_, resp, _) = take_response(sim.a()).unwrap();
    assert_eq!(resp.status(), Some(StatusCode::REQUEST_TIMEOUT));
}
