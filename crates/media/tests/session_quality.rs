//! A session's quality figures through the synchronous snapshot
//! ([`MediaEngine::session_stats`]), with a real engine on loopback:
//!
//! - a phone sends 50 packets of which 3 never leave it and two arrive swapped: the snapshot
//!   counts 50 expected, 47 received, 3 lost (6 %), and its MOS is the E-model's for that loss;
//! - an RTCP receiver report from the phone about our stream shows up as the far end's fraction
//!   lost and jitter;
//! - a destroyed session has no snapshot.
//!
//! Every wait is bounded ([`WAIT`]); nothing asserts on wall-clock durations.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hotline_media::g711::Law;
use hotline_media::rtcp::{self, ReportBlock};
use hotline_media::{MediaEngine, SessionId, SessionStats, ToneSpec};

/// Polls the snapshot until `done` holds (a worker publishes once per 20 ms tick).
fn snapshot_until(
    engine: &MediaEngine,
    id: SessionId,
    done: impl Fn(&SessionStats) -> bool,
) -> SessionStats {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = engine
            .session_stats(id)
            .expect("live session has a snapshot");
        if done(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_snapshot_counts_loss_and_reorder_and_the_far_ends_report() {
    let engine = engine(1);
    let mut phone = Phone::new(Law::Ulaw, 0x5EED);
    let s = session_for(&engine, &phone, None);
    let fresh = engine
        .session_stats(s.id)
        .expect("snapshot from creation on");
    assert_eq!(fresh.packets_received, 0);
    assert_eq!(fresh.remote_fraction_lost, None);

    // 50 packets: 10, 20 and 30 are "lost" (never sent); 40 and 41 arrive swapped.
    let silence = [0i16; 160];
    let mut enc = [0u8; 160];
    Law::Ulaw.encode_into(&silence, &mut enc);
    let (seq0, ts0) = (phone.seq, phone.ts);
    let mut order: Vec<u16> = (0..50).filter(|i| ![10, 20, 30].contains(i)).collect();
    let at40 = order.iter().position(|&i| i == 40).unwrap();
    order.swap(at40, at40 + 1);
    for i in order {
        let seq = seq0.wrapping_add(i);
        let ts = ts0.wrapping_add(u32::from(i) * 160);
        phone.send_raw(s.local, 0, false, seq, ts, &enc);
        std::thread::sleep(Duration::from_millis(1));
    }
    phone.seq = seq0.wrapping_add(50);
    let got = snapshot_until(&engine, s.id, |st| st.packets_received >= 47);
    assert_eq!(got.packets_received, 47, "{got:?}");
    assert_eq!(got.packets_expected, 50, "{got:?}");
    assert_eq!(got.packets_lost, 3);
    assert!((got.loss_percent - 6.0).abs() < 1e-4, "{got:?}");
    // The MOS is the documented E-model at the documented delay.
    let delay = rtcp::one_way_delay_ms(None, got.jitter_ms);
    assert!((got.one_way_delay_ms - delay).abs() < 1e-4, "{got:?}");
    let (r, mos) = rtcp::e_model(6.0, delay);
    assert!((got.r_factor - r).abs() < 1e-3 && (got.mos - mos).abs() < 1e-3);
    assert!(got.mos < 2.5, "6 % loss is bad: {got:?}");

    // The phone hears our tone, learns our SSRC and reports on it: 64/256 lost, jitter 40 units.
    engine
        .play_tone(s.id, ToneSpec::steady(1000.0, 3000.0))
        .unwrap();
    let ours = phone.recv().expect("the session sends the tone");
    let block = ReportBlock {
        ssrc: ours.ssrc,
        fraction_lost: 64,
        cumulative_lost: 12,
        extended_max_seq: u32::from(ours.seq),
        jitter: 40,
        lsr: 0,
        dlsr: 0,
    };
    let mut buf = [0u8; 200];
    let n = rtcp::build_report(&mut buf, phone.ssrc, None, Some(block), "phone@test").unwrap();
    let rtcp_port = std::net::SocketAddr::new(s.local.ip(), s.local.port() + 1);
    phone.sock.send_to(&buf[..n], rtcp_port).unwrap();
    let got = snapshot_until(&engine, s.id, |st| st.remote_fraction_lost.is_some());
    assert_eq!(got.remote_fraction_lost, Some(25.0), "{got:?}");
    assert_eq!(got.remote_packets_lost, Some(12));
    assert_eq!(got.remote_jitter_ms, Some(5.0));
    assert!(got.packets_sent > 0);

    engine.destroy(s.id).unwrap();
    assert_eq!(engine.session_stats(s.id), None);
    engine.shutdown();
}
