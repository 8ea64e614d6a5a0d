//! Proves that digits reach call control exactly once per key press over real UDP sockets:
//! RFC 4733 (with repeated start and three end packets) and in-band tones with noise; tones
//! outside the Q.24 frequency tolerance give nothing. A final "sentinel" digit marks the end of
//! each scenario, so "nothing else arrived" is checked without waiting on a clock.

mod common;

use common::*;
use hotline_media::g711::Law;
use hotline_media::{DigitSource, MediaEvent, RemoteParams};

#[test]
fn rfc4733_key_press_is_one_digit() {
    let engine = engine(1);
    let events = engine.events();
    let mut phone = Phone::new(Law::Ulaw, 0x1111);
    let s = session_for(&engine, &phone, None);
    for i in 0..5 {
        phone.send_pcm(s.local, &sine(300.0, 1000.0, i * 160));
    }
    phone.send_rfc4733_digit(s.local, 5);
    phone.send_rfc4733_digit(s.local, 5);
    phone.send_rfc4733_digit(s.local, 11); // sentinel '#'
    let mut seen = Vec::new();
    let last = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::Digit { digit: '#', .. })
    });
    assert!(last.is_some(), "no sentinel digit; saw {seen:?}");
    assert_eq!(digits(&seen), "55#");
    assert!(seen.iter().all(|e| !matches!(
        e,
        MediaEvent::Digit { source, .. } if *source != DigitSource::Rfc4733
    )));
    engine.shutdown();
}

fn send_pcm_stream(phone: &mut Phone, to: std::net::SocketAddr, pcm: &[i16]) {
    for chunk in pcm.chunks(160) {
        phone.send_pcm(to, chunk);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Deterministic uniform noise.
fn add_noise(pcm: &mut [i16], amp: f32, seed: &mut u64) {
    for v in pcm.iter_mut() {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = ((*seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0;
        *v = (*v as f32 + u * amp).clamp(-32768.0, 32767.0) as i16;
    }
}

fn two_tone(f1: f32, f2: f32, amp: f32, ms: usize) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let w = 2.0 * std::f32::consts::PI;
            (amp * (w * f1 * t).sin() + amp * (w * f2 * t).sin()) as i16
        })
        .collect()
}

#[test]
fn inband_noisy_digit_once_and_off_frequency_rejected() {
    let engine = engine(1);
    let events = engine.events();
    let mut phone = Phone::new(Law::Alaw, 0x2222);
    let s = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(
            s.id,
            RemoteParams {
                inband_dtmf: true,
                telephone_event_pt: None,
                ..phone.remote_params()
            },
        )
        .unwrap();
    let mut seed = 42u64;
    let silence = vec![0i16; 800];
    send_pcm_stream(&mut phone, s.local, &silence);
    // '8' (852 + 1336 Hz) for 120 ms with noise at about 12 dB below the tones.
    let mut eight = two_tone(852.0, 1336.0, 5000.0, 120);
    add_noise(&mut eight, 2500.0, &mut seed);
    send_pcm_stream(&mut phone, s.local, &eight);
    let mut gap = silence.clone();
    add_noise(&mut gap, 2500.0, &mut seed);
    send_pcm_stream(&mut phone, s.local, &gap);
    // '4' with both tones 4 % high: outside the tolerance, must not be reported.
    let off = two_tone(770.0 * 1.04, 1209.0 * 1.04, 5000.0, 120);
    send_pcm_stream(&mut phone, s.local, &off);
    send_pcm_stream(&mut phone, s.local, &silence);
    // '6' 5 % low on the row tone: rejected too.
    let off = two_tone(770.0 * 0.95, 1477.0, 5000.0, 120);
    send_pcm_stream(&mut phone, s.local, &off);
    send_pcm_stream(&mut phone, s.local, &silence);
    // Sentinel '#' (941 + 1477 Hz), clean.
    send_pcm_stream(&mut phone, s.local, &two_tone(941.0, 1477.0, 5000.0, 100));
    send_pcm_stream(&mut phone, s.local, &silence);
    let mut seen = Vec::new();
    let last = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::Digit { digit: '#', .. })
    });
    assert!(last.is_some(), "no sentinel; saw {seen:?}");
    assert_eq!(digits(&seen), "8#");
    assert!(seen.iter().all(|e| !matches!(
        e,
        MediaEvent::Digit { source, .. } if *source != DigitSource::Inband
    )));
    engine.shutdown();
}

#[test]
fn engine_sends_rfc4733_and_inband_digits() {
    use hotline_media::inband::DtmfDetector;
    use hotline_media::rfc4733::Rfc4733Receiver;
    let engine = engine(1);
    let events = engine.events();
    // RFC 4733 toward a phone that negotiated telephone-event 101.
    let phone = Phone::new(Law::Ulaw, 1);
    let s = session_for(&engine, &phone, None);
    engine.send_dtmf(s.id, "12#").unwrap();
    assert!(engine.send_dtmf(s.id, "1x").is_err());
    let mut rx = Rfc4733Receiver::new();
    let mut got = String::new();
    for p in phone.recv_n(3 * 8) {
        assert_eq!(p.pt, 101);
        if let Some(d) = rx.on_packet(p.ts, &p.payload).unwrap() {
            got.push(d);
        }
    }
    assert_eq!(got, "12#");
    let mut seen = Vec::new();
    assert!(
        wait_for(&events, &mut seen, |e| matches!(
            e,
            MediaEvent::DtmfSent { .. }
        ))
        .is_some()
    );

    // In-band toward a phone without telephone-event.
    let phone2 = Phone::new(Law::Alaw, 2);
    let s2 = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(
            s2.id,
            RemoteParams {
                telephone_event_pt: None,
                ..phone2.remote_params()
            },
        )
        .unwrap();
    engine.send_dtmf(s2.id, "907").unwrap();
    let mut det = DtmfDetector::new();
    let mut got = String::new();
    // 3 digits x 8 frames (100 ms tone + 60 ms pause).
    for p in phone2.recv_n(24) {
        assert_eq!(p.pt, 8);
        det.process(&phone2.decode(&p), |d| got.push(d));
    }
    det.process(&[0i16; 800], |d| got.push(d));
    assert_eq!(got, "907");
    engine.shutdown();
}

/// A phone that sends each key press both as RFC 4733 and as an in-band tone gives one digit
/// per press, not two: once telephone-events arrive, in-band detections are not reported.
#[test]
fn both_rfc4733_and_inband_give_one_digit() {
    let engine = engine(1);
    let events = engine.events();
    let mut phone = Phone::new(Law::Ulaw, 0x4444);
    let s = engine
        .create_session(hotline_media::SessionOptions::on(LOCALHOST))
        .unwrap();
    engine
        .set_remote(
            s.id,
            RemoteParams {
                inband_dtmf: true,
                ..phone.remote_params()
            },
        )
        .unwrap();
    for (event, row, col) in [(2u8, 697.0, 1336.0), (3, 697.0, 1477.0)] {
        phone.send_rfc4733_digit(s.local, event);
        send_pcm_stream(&mut phone, s.local, &two_tone(row, col, 5000.0, 100));
        send_pcm_stream(&mut phone, s.local, &vec![0i16; 800]);
    }
    phone.send_rfc4733_digit(s.local, 11); // sentinel '#'
    let mut seen = Vec::new();
    assert!(
        wait_for(&events, &mut seen, |e| matches!(
            e,
            MediaEvent::Digit { digit: '#', .. }
        ))
        .is_some()
    );
    assert_eq!(digits(&seen), "23#");
    engine.shutdown();
}
