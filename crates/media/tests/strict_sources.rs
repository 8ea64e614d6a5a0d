//! Strict media sources (finding 6, RTP hijack; finding 10, RTP aimed at a third host), with
//! other loopback addresses standing in for other hosts:
//!
//! - a stranger that sprays RTP and a key press at a new session before the caller's first
//!   packet is not latched to: it hears nothing, its digit is not reported, its packets are
//!   counted as rejected; the caller, signalled from 127.0.0.1, latches and is heard;
//! - a phone behind NAT (SDP `c=` an unrelated address, signalling from 127.0.0.1) gets nothing
//!   sent to the SDP address; it hears audio once its first packet arrives from the signalling
//!   IP, on whatever port;
//! - a new far end (`set_remote`, a re-INVITE) re-latches; the old one is then rejected;
//! - a configured media network makes an SDP address outside the signalling IP trusted.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hotline_media::g711::Law;
use hotline_media::{IpNet, MediaEngine, MediaEvent, SessionId, SessionStats, ToneSpec};

const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const THIRD_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

fn stats_of(
    engine: &MediaEngine,
    events: &crossbeam_channel::Receiver<MediaEvent>,
    id: SessionId,
) -> SessionStats {
    engine.request_stats(id).unwrap();
    let mut seen = Vec::new();
    match wait_for(
        events,
        &mut seen,
        |e| matches!(e, MediaEvent::Stats { session, .. } if *session == id),
    ) {
        Some(MediaEvent::Stats { stats, .. }) => stats,
        other => panic!("no stats: {other:?}"),
    }
}

/// Receives on `phone` for a bounded time and returns what arrived (nothing expected).
fn listen(phone: &Phone, for_: Duration) -> usize {
    let until = Instant::now() + for_;
    let mut n = 0;
    while Instant::now() < until {
        if phone.recv().is_some() {
            n += 1;
        }
    }
    n
}

#[test]
fn a_stranger_before_the_caller_is_neither_latched_nor_heard() {
    let engine = engine(1);
    let events = engine.events();
    let mut caller = Phone::new(Law::Ulaw, 0xCA11);
    let mut stranger = Phone::at(STRANGER, Law::Ulaw, 0xBAD);
    let mut agent = Phone::new(Law::Ulaw, 0xA6E);
    // The caller signalled from 127.0.0.1 with c=127.0.0.1 (its own address).
    let a = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(a.id, caller.remote_params().signalled_from(LOCALHOST))
        .unwrap();
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    // Before the caller's first packet the stranger sprays audio and a key press ...
    for i in 0..10 {
        stranger.send_pcm(a.local, &sine(900.0, 3000.0, i * 160));
    }
    stranger.send_rfc4733_digit(a.local, 5);
    // ... while the agent talks: none of it may reach the stranger.
    for i in 0..25 {
        agent.send_pcm(b.local, &sine(500.0, 3000.0, i * 160));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        listen(&stranger, Duration::from_millis(300)),
        0,
        "the stranger heard the call"
    );
    assert!(agent.drain().is_empty(), "the stranger's audio was relayed");
    // The caller speaks: it latches and the agent's audio reaches it.
    let mut reached = false;
    for i in 0..300 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
        agent.send_pcm(b.local, &sine(500.0, 3000.0, i * 160));
        if caller.recv().is_some() {
            reached = true;
            break;
        }
    }
    assert!(reached, "the caller never heard the agent");
    caller.send_rfc4733_digit(a.local, 7);
    let mut seen = Vec::new();
    let got = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::Digit { .. })
    });
    assert!(got.is_some(), "the caller's key press was not reported");
    assert_eq!(digits(&seen), "7", "only the caller's digit counts");
    let stats = stats_of(&engine, &events, a.id);
    assert!(
        stats.packets_rejected >= 10,
        "rejected packets counted: {stats:?}"
    );
    assert_eq!(
        engine.metrics().rtp_packets_rejected,
        stats.packets_rejected
    );
    engine.shutdown();
}

#[test]
fn an_unrelated_sdp_address_gets_nothing_until_the_signalling_ip_speaks() {
    let engine = engine(1);
    let events = engine.events();
    // c= points at a third host (or a private address behind NAT); SIP came from 127.0.0.1.
    let third = Phone::at(THIRD_HOST, Law::Ulaw, 0x3);
    let mut phone = Phone::new(Law::Ulaw, 0xF0);
    let stranger = Phone::at(STRANGER, Law::Ulaw, 0xBAD);
    let a = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(a.id, third.remote_params().signalled_from(LOCALHOST))
        .unwrap();
    engine
        .play_tone(a.id, ToneSpec::steady(1000.0, 3000.0))
        .unwrap();
    stranger.send_raw(a.local, 0, true, 1, 160, &[0xFF; 160]);
    assert_eq!(
        listen(&third, Duration::from_millis(300)),
        0,
        "RTP went to the c= host"
    );
    assert_eq!(
        listen(&stranger, Duration::from_millis(100)),
        0,
        "a stranger latched"
    );
    let stats = stats_of(&engine, &events, a.id);
    assert!(
        stats.packets_withheld > 0,
        "withheld frames counted: {stats:?}"
    );
    assert_eq!(stats.packets_sent, 0, "{stats:?}");
    assert_eq!(stats.packets_rejected, 1, "{stats:?}");
    // The phone's first packet comes from the signalling IP (NAT: another port than c=).
    phone.send_pcm(a.local, &sine(400.0, 3000.0, 0));
    let got = phone.recv_n(5);
    assert_eq!(
        got.len(),
        5,
        "the phone never heard the tone after its first packet"
    );
    assert!(
        third.drain().is_empty(),
        "RTP went to the c= host after the latch"
    );
    engine.shutdown();
}

#[test]
fn a_new_remote_latches_again_and_the_old_one_is_rejected() {
    let engine = engine(1);
    let events = engine.events();
    let mut first = Phone::new(Law::Ulaw, 0x1);
    let mut second = Phone::at(STRANGER, Law::Ulaw, 0x2);
    let a = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(a.id, first.remote_params().signalled_from(LOCALHOST))
        .unwrap();
    engine
        .play_tone(a.id, ToneSpec::steady(1000.0, 3000.0))
        .unwrap();
    first.send_pcm(a.local, &sine(400.0, 3000.0, 0));
    assert_eq!(first.recv_n(3).len(), 3, "the first far end hears the tone");
    // Before a new SDP the second host is a stranger.
    second.send_pcm(a.local, &sine(400.0, 3000.0, 0));
    assert_eq!(listen(&second, Duration::from_millis(200)), 0);
    // A re-INVITE moves the call to the second host (signalled from there).
    engine
        .set_remote(a.id, second.remote_params().signalled_from(STRANGER))
        .unwrap();
    let mut heard = false;
    for i in 0..100 {
        second.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
        if second.recv().is_some() {
            heard = true;
            break;
        }
    }
    assert!(heard, "the new far end never latched");
    // The old far end is now the stranger: its key press is not reported and it hears
    // nothing (once latched, the kernel drops its datagrams on the connected socket).
    first.drain();
    first.send_rfc4733_digit(a.local, 3);
    second.send_rfc4733_digit(a.local, 9);
    let mut seen = Vec::new();
    let got = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::Digit { .. })
    });
    assert!(
        got.is_some(),
        "the new far end's key press was not reported"
    );
    std::thread::sleep(Duration::from_millis(100));
    seen.extend(events.try_iter());
    assert_eq!(digits(&seen), "9", "the old far end's digit was reported");
    assert!(
        first.drain().is_empty(),
        "the old far end still hears the call"
    );
    engine.shutdown();
}

#[test]
fn a_media_network_trusts_an_sdp_address_outside_the_signalling_ip() {
    let engine = engine(1);
    // A carrier signals from 127.0.0.1 and sends media from 127.0.0.2-3.
    let media_host = Phone::at(THIRD_HOST, Law::Ulaw, 0x3);
    let net: IpNet = "127.0.0.2/31".parse().unwrap();
    let a = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(
            a.id,
            media_host
                .remote_params()
                .signalled_from(LOCALHOST)
                .with_media_networks(Arc::from([net])),
        )
        .unwrap();
    engine
        .play_tone(a.id, ToneSpec::steady(1000.0, 3000.0))
        .unwrap();
    assert_eq!(
        media_host.recv_n(3).len(),
        3,
        "a trusted SDP address gets media before it speaks"
    );
    engine.shutdown();
}
