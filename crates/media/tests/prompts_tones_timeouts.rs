//! Proves prompt playback, tones, barge-in, music on hold, RTP timeout and RTCP over real UDP
//! sockets: a prompt list is played in order and ends with PromptFinished; a digit interrupts a
//! barge-in prompt; busy tone has its two frequencies; a silent peer gives RtpTimeout; RTCP
//! reports are sent on port + 1 and the peer's receiver report shows up in the stats.

mod common;

use common::*;
use hotline_media::g711::Law;
use hotline_media::rtcp::{self, ReportBlock};
use hotline_media::{MediaEvent, PlayOptions, ToneSpec};

fn write_tone_wav(path: &std::path::Path, freq: f32, ms: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..ms * 8 {
        let t = i as f32 / 8000.0;
        w.write_sample((5000.0 * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn prompt_list_plays_in_order_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    write_tone_wav(&dir.path().join("low.wav"), 500.0, 200);
    write_tone_wav(&dir.path().join("high.wav"), 1500.0, 200);
    let prompts = dir.path().to_path_buf();
    let engine = engine_with(1, |c| c.prompts_dir = prompts);
    let events = engine.events();
    let phone = Phone::new(Law::Ulaw, 9);
    let s = session_for(&engine, &phone, None);
    assert!(
        engine
            .play(s.id, &["missing"], PlayOptions::default())
            .is_err()
    );
    engine
        .play(s.id, &["low", "high.wav"], PlayOptions::default())
        .unwrap();
    let mut seen = Vec::new();
    assert!(
        wait_for(&events, &mut seen, |e| matches!(
            e,
            MediaEvent::PromptFinished {
                interrupted: false,
                ..
            }
        ))
        .is_some()
    );
    let rx = phone.drain();
    assert_eq!(rx.len(), 20, "400 ms of prompts is 20 packets");
    assert!(rx[0].marker);
    let first: Vec<i16> = rx[..10].iter().flat_map(|p| phone.decode(p)).collect();
    let second: Vec<i16> = rx[10..].iter().flat_map(|p| phone.decode(p)).collect();
    assert!(level(&first, 500.0) > 1e6 && level(&first, 1500.0) < 1e4);
    assert!(level(&second, 1500.0) > 1e6 && level(&second, 500.0) < 1e4);
    engine.shutdown();
}

#[test]
fn digit_interrupts_a_barge_in_prompt_and_music_loops() {
    let dir = tempfile::tempdir().unwrap();
    write_tone_wav(&dir.path().join("long.wav"), 700.0, 20_000);
    write_tone_wav(&dir.path().join("moh.wav"), 900.0, 100);
    let prompts = dir.path().to_path_buf();
    let engine = engine_with(1, |c| c.prompts_dir = prompts);
    let events = engine.events();
    let mut phone = Phone::new(Law::Ulaw, 9);
    let s = session_for(&engine, &phone, None);
    engine
        .play(
            s.id,
            &["long"],
            PlayOptions {
                barge_in: true,
                looped: false,
            },
        )
        .unwrap();
    assert_eq!(phone.recv_n(3).len(), 3, "prompt is playing");
    phone.send_rfc4733_digit(s.local, 1);
    let mut seen = Vec::new();
    assert!(
        wait_for(&events, &mut seen, |e| matches!(
            e,
            MediaEvent::PromptFinished {
                interrupted: true,
                ..
            }
        ))
        .is_some()
    );
    assert_eq!(digits(&seen), "1");
    // Music on hold: a 100 ms file looped well past its length.
    engine.music_on_hold(s.id, "moh").unwrap();
    let got = phone.recv_n(40);
    assert_eq!(got.len(), 40);
    let pcm: Vec<i16> = got[20..].iter().flat_map(|p| phone.decode(p)).collect();
    assert!(level(&pcm, 900.0) > 1e6);
    engine.stop_playback(s.id).unwrap();
    seen.clear();
    assert!(
        wait_for(&events, &mut seen, |e| matches!(
            e,
            MediaEvent::PromptFinished {
                interrupted: true,
                ..
            }
        ))
        .is_some()
    );
    engine.shutdown();
}

#[test]
fn busy_tone_has_both_frequencies() {
    let engine = engine(1);
    let phone = Phone::new(Law::Alaw, 9);
    let s = session_for(&engine, &phone, None);
    engine.play_tone(s.id, ToneSpec::busy_us()).unwrap();
    let got = phone.recv_n(20);
    assert_eq!(got.len(), 20);
    // The first 500 ms are "on".
    let pcm: Vec<i16> = got[2..22.min(got.len())]
        .iter()
        .flat_map(|p| phone.decode(p))
        .take(2400)
        .collect();
    assert!(level(&pcm, 480.0) > 1e5 && level(&pcm, 620.0) > 1e5);
    assert!(level(&pcm, 440.0) < level(&pcm, 480.0) / 10.0);
    engine.shutdown();
}

#[test]
fn silent_peer_times_out() {
    let engine = engine_with(1, |c| c.rtp_timeout = std::time::Duration::from_millis(300));
    let events = engine.events();
    let phone = Phone::new(Law::Ulaw, 9);
    let s = session_for(&engine, &phone, None);
    let mut seen = Vec::new();
    let ev = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::RtpTimeout { .. })
    });
    assert_eq!(ev, Some(MediaEvent::RtpTimeout { session: s.id }));
    // A leg on hold: its timeout is switched off, the other leg still times out.
    let held = session_for(&engine, &phone, None);
    engine.set_rtp_timeout(held.id, None).unwrap();
    let other = session_for(&engine, &phone, None);
    seen.clear();
    let ev = wait_for(
        &events,
        &mut seen,
        |e| matches!(e, MediaEvent::RtpTimeout { session } if *session == other.id),
    );
    assert!(ev.is_some());
    assert!(
        !seen.contains(&MediaEvent::RtpTimeout { session: held.id }),
        "a leg without timeout timed out"
    );
    engine.destroy(s.id).unwrap();
    seen.clear();
    let ev = wait_for(&events, &mut seen, |e| {
        matches!(
            e,
            MediaEvent::Stats {
                final_report: true,
                ..
            }
        )
    });
    assert!(ev.is_some());
    engine.shutdown();
}

#[test]
fn rtcp_reports_both_ways() {
    let engine = engine_with(1, |c| {
        c.rtcp_interval = std::time::Duration::from_millis(100)
    });
    let events = engine.events();
    // A phone whose port + 1 is free for its RTCP socket.
    let (mut phone, rtcp_sock) = (0..50)
        .find_map(|_| {
            let phone = Phone::new(Law::Ulaw, 0x5151);
            let rtcp =
                std::net::UdpSocket::bind((LOCALHOST, phone.addr().port().checked_add(1)?)).ok()?;
            Some((phone, rtcp))
        })
        .expect("a phone with a free RTCP port");
    rtcp_sock
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let mut p = phone.remote_params();
    p.symmetric = false;
    let s = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine.set_remote(s.id, p).unwrap();
    engine
        .play_tone(s.id, ToneSpec::steady(1000.0, 3000.0))
        .unwrap();
    // 20 packets with two lost (seq +1 skipped twice).
    for i in 0..22u16 {
        if i == 5 || i == 9 {
            phone.seq = phone.seq.wrapping_add(1);
            phone.ts = phone.ts.wrapping_add(160);
            continue;
        }
        phone.send_pcm(s.local, &sine(300.0, 1000.0, i as usize * 160));
    }
    // Wait for an SR from the engine that reports on our SSRC.
    let deadline = std::time::Instant::now() + WAIT;
    let mut engine_ssrc = None;
    let mut report = None;
    while std::time::Instant::now() < deadline && report.is_none() {
        let mut buf = [0u8; 1500];
        if let Ok((n, _)) = rtcp_sock.recv_from(&mut buf) {
            let info = rtcp::parse(&buf[..n], phone.ssrc).unwrap();
            engine_ssrc = Some(info.ssrc);
            if info.sender.is_some() && info.about_us.is_some_and(|b| b.cumulative_lost == 2) {
                report = info.about_us;
            }
        }
    }
    let block = report.expect("an SR with our loss");
    assert_eq!(
        block.extended_max_seq & 0xFFFF,
        phone.seq.wrapping_sub(1) as u32
    );
    // Answer with an RR claiming 7 lost packets of the engine's stream.
    let mut buf = [0u8; 200];
    let rr = ReportBlock {
        ssrc: engine_ssrc.unwrap(),
        cumulative_lost: 7,
        jitter: 80,
        ..Default::default()
    };
    let n = rtcp::build_report(&mut buf, phone.ssrc, None, Some(rr), "phone").unwrap();
    rtcp_sock
        .send_to(
            &buf[..n],
            std::net::SocketAddr::new(LOCALHOST, s.local.port() + 1),
        )
        .unwrap();
    let mut seen = Vec::new();
    let mut ok = false;
    for _ in 0..50 {
        engine.request_stats(s.id).unwrap();
        if let Some(MediaEvent::Stats { stats, .. }) = wait_for(&events, &mut seen, |e| {
            matches!(e, MediaEvent::Stats { .. })
        }) {
            assert_eq!(stats.packets_lost, 2);
            if stats.remote_packets_lost == Some(7) {
                assert_eq!(stats.remote_jitter_ms, Some(10.0));
                assert!(stats.mos < 4.5 && stats.mos > 1.0);
                ok = true;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ok, "the receiver report never reached the stats");
    engine.shutdown();
}

/// Dropping every engine handle stops the workers and closes open recordings; after `shutdown`
/// commands fail with an error instead of hanging.
#[test]
fn shutdown_and_drop_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_path_buf();
    let engine = engine_with(1, |c| c.recordings_dir = folder.clone());
    let events = engine.events();
    let phone = Phone::new(Law::Ulaw, 9);
    let s = session_for(&engine, &phone, None);
    engine.start_recording("dropped", &[s.id]).unwrap();
    drop(engine);
    let mut seen = Vec::new();
    let ev = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::RecordingStopped { .. })
    });
    assert!(ev.is_some(), "recording not closed on drop: {seen:?}");
    assert!(dir.path().join("dropped.wav").exists());

    let engine = engine_with(1, |_| {});
    let s = session_for(&engine, &phone, None);
    engine.shutdown();
    assert!(engine.request_stats(s.id).is_err());
    assert!(
        engine
            .create_session(hotline_media::SessionOptions::on(LOCALHOST))
            .is_err()
    );
}

/// With `stats_interval` set, sessions report their figures without being asked.
#[test]
fn periodic_stats() {
    let engine = engine_with(1, |c| {
        c.stats_interval = Some(std::time::Duration::from_millis(100))
    });
    let events = engine.events();
    let mut phone = Phone::new(Law::Ulaw, 9);
    let s = session_for(&engine, &phone, None);
    for i in 0..5 {
        phone.send_pcm(s.local, &sine(300.0, 1000.0, i * 160));
    }
    let mut seen = Vec::new();
    let ev = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::Stats { session, stats, final_report: false }
            if *session == s.id && stats.packets_received == 5)
    });
    assert!(ev.is_some(), "{seen:?}");
    engine.shutdown();
}
