//! Proves the relay between two legs over real UDP sockets: packets flow both ways, each leg
//! sees one SSRC (ours, not the other phone's) with a continuous sequence and a timestamp that
//! advances by 160 per packet, even across the far side's sequence wrap; mu-law to A-law is
//! transcoded byte for byte; symmetric RTP latches to the real source address; DTMF can be kept
//! away from one leg (payments).

mod common;

use common::*;
use hotline_media::g711::{Law, ULAW_TO_ALAW};
use hotline_media::{MediaEvent, RemoteParams};

fn check_continuity(rx: &[Rx]) {
    assert!(!rx.is_empty());
    let ssrc = rx[0].ssrc;
    for w in rx.windows(2) {
        assert_eq!(w[1].ssrc, ssrc);
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence gap");
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160), "timestamp step");
    }
}

#[test]
fn relays_both_ways_with_sequence_continuity_and_transcoding() {
    let engine = engine(2);
    let mut caller = Phone::new(Law::Ulaw, 0xCA11);
    let mut agent = Phone::new(Law::Alaw, 0xA6E7);
    caller.seq = 65500; // crosses the wrap while relaying
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    // The bridge command is asynchronous: prime until the first packet comes through.
    let mut primed = false;
    for i in 0..200 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
        if agent.recv().is_some() {
            primed = true;
            break;
        }
    }
    assert!(primed, "bridge never relayed");
    agent.drain();
    let frames: Vec<Vec<i16>> = (0..60).map(|i| sine(400.0, 3000.0, i * 160)).collect();
    let mut sent_payloads = Vec::new();
    for f in &frames {
        let mut enc = vec![0u8; 160];
        Law::Ulaw.encode_into(f, &mut enc);
        sent_payloads.push(enc);
        caller.send_pcm(a.local, f);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let got = agent.recv_n(60);
    assert_eq!(got.len(), 60, "lost packets caller -> agent");
    check_continuity(&got);
    assert_ne!(got[0].ssrc, caller.ssrc);
    for (g, s) in got.iter().zip(&sent_payloads) {
        assert_eq!(g.pt, 8);
        let expect: Vec<u8> = s.iter().map(|&x| ULAW_TO_ALAW[x as usize]).collect();
        assert_eq!(g.payload, expect);
    }
    // The other way: A-law in, mu-law out.
    for i in 0..60 {
        agent.send_pcm(b.local, &sine(700.0, 3000.0, i * 160));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let back = caller.recv_n(60);
    assert_eq!(back.len(), 60, "lost packets agent -> caller");
    check_continuity(&back);
    assert!(back.iter().all(|p| p.pt == 0));
    let pcm: Vec<i16> = back.iter().flat_map(|p| caller.decode(p)).collect();
    assert!(level(&pcm, 700.0) > 100.0 * level(&pcm, 400.0).max(1.0));

    // Engine-wide counters see the relayed packets and both sessions.
    let m = engine.metrics();
    assert_eq!(m.sessions, 2);
    assert_eq!(m.workers, 2);
    assert!(m.rtp_packets_in >= 120 && m.rtp_packets_out >= 120, "{m:?}");
    // Stats count what arrived.
    engine.request_stats(a.id).unwrap();
    let events = engine.events();
    let mut seen = Vec::new();
    let ev = wait_for(
        &events,
        &mut seen,
        |e| matches!(e, MediaEvent::Stats { session, .. } if *session == a.id),
    );
    match ev {
        Some(MediaEvent::Stats { stats, .. }) => {
            assert!(stats.packets_received >= 61);
            assert_eq!(stats.packets_lost, 0);
            assert!(stats.mos > 4.0);
        }
        other => panic!("no stats: {other:?}"),
    }
    engine.shutdown();
}

#[test]
fn symmetric_rtp_latches_to_the_source() {
    let engine = engine(1);
    let caller = Phone::new(Law::Ulaw, 1);
    let mut agent = Phone::new(Law::Ulaw, 2);
    let a = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    // The SDP said a port where nobody listens (a NAT rewrote it).
    let wrong = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
    engine
        .set_remote(
            a.id,
            RemoteParams {
                symmetric: true,
                ..RemoteParams::g711(wrong.local_addr().unwrap(), 0)
            },
        )
        .unwrap();
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    // The caller speaks first from its real address; agent audio must then reach it.
    caller.send_raw(a.local, 0, true, 1, 160, &[0xFF; 160]);
    let mut reached = false;
    for i in 0..300 {
        agent.send_pcm(b.local, &sine(500.0, 2000.0, i * 160));
        if caller.recv().is_some() {
            reached = true;
            break;
        }
        if i % 20 == 0 {
            caller.send_raw(a.local, 0, false, 2 + i as u16, 320, &[0xFF; 160]);
        }
    }
    assert!(reached, "media never reached the latched address");
    engine.shutdown();
}

#[test]
fn dtmf_is_suppressed_toward_one_leg() {
    let engine = engine(1);
    let events = engine.events();
    let mut caller = Phone::new(Law::Ulaw, 1);
    let agent = Phone::new(Law::Ulaw, 2);
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    engine.suppress_dtmf(b.id, true).unwrap();
    // Prime the bridge with audio.
    for i in 0..200 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
        if agent.recv().is_some() {
            break;
        }
    }
    caller.send_rfc4733_digit(a.local, 3);
    let mut seen = Vec::new();
    assert!(
        wait_for(&events, &mut seen, |e| matches!(
            e,
            MediaEvent::Digit { digit: '3', .. }
        ))
        .is_some()
    );
    // A marked audio packet after the key press: everything relayed before it is in order.
    let mut got = Vec::new();
    let mut done = false;
    for _ in 0..50 {
        caller.send_raw(a.local, 0, true, caller.seq, caller.ts, &[0xFF; 160]);
        caller.seq = caller.seq.wrapping_add(1);
        caller.ts = caller.ts.wrapping_add(160);
        while let Some(p) = agent.recv() {
            let is_sentinel = p.marker && p.pt == 0;
            got.push(p);
            if is_sentinel {
                done = true;
                break;
            }
        }
        if done {
            break;
        }
    }
    assert!(done, "sentinel never relayed");
    assert!(
        got.iter().all(|p| p.pt != 101),
        "telephone-event reached the agent"
    );
    // Without suppression the event goes through (payload type mapped to the agent's 101).
    engine.suppress_dtmf(b.id, false).unwrap();
    let mut relayed = false;
    for _ in 0..20 {
        caller.send_rfc4733_digit(a.local, 4);
        if agent.drain().iter().any(|p| p.pt == 101) {
            relayed = true;
            break;
        }
    }
    assert!(relayed);
    engine.shutdown();
}

/// A prompt played to one leg of a bridge (e.g. "this call is recorded") replaces the relayed
/// audio for its length; afterwards the relay resumes. The leg's sequence numbers stay
/// continuous across relay -> prompt -> relay, and the timestamp never goes backwards.
#[test]
fn prompt_on_a_bridged_leg_keeps_the_stream_continuous() {
    let engine = engine(1);
    let events = engine.events();
    let mut caller = Phone::new(Law::Ulaw, 1);
    let agent = Phone::new(Law::Ulaw, 2);
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    let mut n = 0;
    let mut got = Vec::new();
    // Relay until something arrives.
    while got.is_empty() && n < 300 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, n * 160));
        n += 1;
        got.extend(agent.drain());
    }
    assert!(!got.is_empty());
    let pcm: hotline_media::wav::Pcm = sine(1000.0, 3000.0, 0).repeat(10).into();
    engine
        .play_pcm(b.id, vec![pcm], hotline_media::PlayOptions::default())
        .unwrap();
    let mut seen = Vec::new();
    let mut finished = false;
    let mut after = 0;
    // Keep the caller talking (paced) through the prompt and a while after it.
    for _ in 0..400 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, n * 160));
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(5));
        got.extend(agent.drain());
        while let Ok(ev) = events.try_recv() {
            finished |= matches!(
                ev,
                MediaEvent::PromptFinished {
                    interrupted: false,
                    ..
                }
            );
            seen.push(ev);
        }
        if finished {
            after += 1;
            if after > 40 {
                break;
            }
        }
    }
    assert!(finished, "prompt never finished: {seen:?}");
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence gap");
        assert!(
            w[1].ts.wrapping_sub(w[0].ts) < 0x8000_0000,
            "timestamp went back"
        );
    }
    let prompt_packets = got
        .iter()
        .filter(|p| level(&agent.decode(p), 1000.0) > 1e6)
        .count();
    assert_eq!(prompt_packets, 10, "the prompt is 10 frames of 1 kHz");
    let last: Vec<i16> = got
        .iter()
        .rev()
        .take(10)
        .flat_map(|p| agent.decode(p))
        .collect();
    assert!(level(&last, 400.0) > 1e5, "relay did not resume");
    engine.shutdown();
}

/// New calls are spread over the workers (round robin), and `near` keeps a call's legs together.
#[test]
fn calls_spread_over_workers_and_legs_stay_together() {
    let engine = engine(2);
    let mut workers = Vec::new();
    for _ in 0..4 {
        let a = engine
            .create_session(hotline_media::SessionOptions::on(LOCALHOST))
            .unwrap();
        let b = engine
            .create_session(hotline_media::SessionOptions::near(LOCALHOST, a.id))
            .unwrap();
        assert_eq!(a.id.worker(), b.id.worker());
        workers.push(a.id.worker());
    }
    assert_eq!(workers, vec![0, 1, 0, 1]);
    engine.shutdown();
}

/// RTCP sent to the RTP port (rtcp-mux peers) is not mistaken for RTP: it does not reset the
/// receive statistics and is not relayed.
#[test]
fn rtcp_on_the_rtp_port_is_not_rtp() {
    let engine = engine(1);
    let events = engine.events();
    let mut caller = Phone::new(Law::Ulaw, 0x77);
    let agent = Phone::new(Law::Ulaw, 2);
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    for i in 0..10 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
    }
    let mut buf = [0u8; 200];
    let n = hotline_media::rtcp::build_report(&mut buf, 0x9999, None, None, "mux").unwrap();
    caller.sock.send_to(&buf[..n], a.local).unwrap();
    for i in 10..20 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
    }
    let got = agent.recv_n(20);
    assert_eq!(got.len(), 20);
    assert!(agent.drain().is_empty(), "RTCP was relayed");
    engine.request_stats(a.id).unwrap();
    let mut seen = Vec::new();
    match wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::Stats { .. })
    }) {
        Some(MediaEvent::Stats { stats, .. }) => {
            assert_eq!(stats.packets_received, 20);
            assert_eq!(stats.packets_lost, 0);
        }
        other => panic!("no stats: {other:?}"),
    }
    engine.shutdown();
}

/// A phone that offered PCMU but sends PCMA is still understood: its packets are transcoded by
/// their real payload type.
#[test]
fn the_other_g711_law_is_accepted() {
    let engine = engine(1);
    let mut caller = Phone::new(Law::Ulaw, 0x31);
    let agent = Phone::new(Law::Ulaw, 0x32);
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    caller.law = Law::Alaw; // sends payload type 8 from now on
    let mut got = Vec::new();
    for i in 0..200 {
        caller.send_pcm(a.local, &sine(600.0, 4000.0, i * 160));
        got.extend(agent.drain());
        if got.len() >= 20 {
            break;
        }
    }
    assert!(got.len() >= 20, "nothing relayed");
    assert!(got.iter().all(|p| p.pt == 0));
    // 600 Hz is 12 whole cycles per frame: every frame is the same sine, within the
    // quantisation error of A-law plus mu-law.
    let reference = sine(600.0, 4000.0, 0);
    for p in &got {
        let pcm = agent.decode(p);
        let err = pcm
            .iter()
            .zip(&reference)
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap_or(i32::MAX);
        assert!(err < 400, "frame differs by {err}");
    }
    engine.shutdown();
}

/// Packets that queue up on a leg's socket (a burst after a network stall, more than one
/// `recvmmsg` batch) are all relayed, in order and with a continuous sequence; none waits for
/// a later packet to be read.
#[test]
fn a_burst_queued_on_one_socket_is_relayed_whole() {
    let engine = engine(1);
    let mut caller = Phone::new(Law::Ulaw, 0xB0);
    let agent = Phone::new(Law::Ulaw, 0xB1);
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    let mut primed = false;
    for i in 0..200 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
        if agent.recv().is_some() {
            primed = true;
            break;
        }
    }
    assert!(primed, "bridge never relayed");
    agent.drain();
    for burst in 0..3 {
        // 50 datagrams back to back: far more than the relay reads per system call.
        for i in 0..50 {
            caller.send_pcm(a.local, &sine(400.0, 3000.0, (burst * 50 + i) * 160));
        }
        let got = agent.recv_n(50);
        assert_eq!(got.len(), 50, "burst {burst}: lost or stuck packets");
        check_continuity(&got);
        assert!(agent.drain().is_empty(), "burst {burst}: extra packets");
    }
    engine.shutdown();
}

/// Once a symmetric leg has latched, datagrams from any other source are not relayed; a new
/// far end (re-INVITE) latches afresh to whoever sends first.
#[test]
fn a_latched_leg_ignores_other_sources_until_the_remote_changes() {
    let engine = engine(1);
    let mut caller = Phone::new(Law::Ulaw, 0x1A);
    let mut intruder = Phone::new(Law::Ulaw, 0x1B);
    let agent = Phone::new(Law::Ulaw, 0x1C);
    let a = session_for(&engine, &caller, None);
    let b = session_for(&engine, &agent, Some(a));
    engine.bridge(a.id, b.id).unwrap();
    let mut primed = false;
    for i in 0..200 {
        caller.send_pcm(a.local, &sine(400.0, 3000.0, i * 160));
        if agent.recv().is_some() {
            primed = true;
            break;
        }
    }
    assert!(primed, "bridge never relayed");
    agent.drain();
    // Latched to the caller: the intruder's packets go nowhere, the caller's still flow.
    for i in 0..20 {
        intruder.send_pcm(a.local, &sine(900.0, 3000.0, i * 160));
    }
    caller.send_pcm(a.local, &sine(400.0, 3000.0, 0));
    let got = agent.recv_n(1);
    assert_eq!(got.len(), 1, "the latched source stopped flowing");
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(agent.drain().is_empty(), "another source was relayed");
    // A new far end: the first source to send latches, here the former intruder.
    engine.set_remote(a.id, intruder.remote_params()).unwrap();
    let mut relayed = false;
    for i in 0..200 {
        intruder.send_pcm(a.local, &sine(900.0, 3000.0, i * 160));
        if agent.recv().is_some() {
            relayed = true;
            break;
        }
    }
    assert!(relayed, "the new far end was never relayed");
    agent.drain();
    caller.send_pcm(a.local, &sine(400.0, 3000.0, 0));
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(agent.drain().is_empty(), "the old far end is still relayed");
    engine.shutdown();
}
