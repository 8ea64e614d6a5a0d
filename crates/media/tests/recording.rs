//! Proves recording over real UDP sockets: caller and agent land on separate channels of
//! `<folder>/<call id>.wav` (each channel holds only its own leg's tone), and while paused the
//! file holds silence, even though the phones keep talking (a third tone sent only during the
//! pause never appears in the file).

mod common;

use common::*;
use hotline_media::MediaEvent;
use hotline_media::g711::Law;

const CALLER_HZ: f32 = 600.0;
const AGENT_HZ: f32 = 1000.0;
const SECRET_HZ: f32 = 1400.0;

fn talk(
    phones: &mut [Phone],
    to: &[std::net::SocketAddr],
    freqs: [f32; 2],
    frames: usize,
    n: &mut usize,
) {
    for _ in 0..frames {
        for (i, p) in phones.iter_mut().enumerate() {
            let amp = if freqs[i] > 0.0 { 4000.0 } else { 0.0 };
            p.send_pcm(to[i], &sine(freqs[i].max(1.0), amp, *n * 160));
        }
        *n += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn two_channels_and_silence_while_paused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_path_buf();
    let engine = engine_with(1, |c| c.recordings_dir = folder.clone());
    let events = engine.events();
    let mut phones = vec![Phone::new(Law::Ulaw, 1), Phone::new(Law::Alaw, 2)];
    let caller = session_for(&engine, &phones[0], None);
    let agent = session_for(&engine, &phones[1], Some(caller));
    engine.bridge(caller.id, agent.id).unwrap();
    assert!(engine.start_recording("../escape", &[caller.id]).is_err());
    let rec = engine
        .start_recording("call-42", &[caller.id, agent.id])
        .unwrap();
    let to = [caller.local, agent.local];
    let mut n = 0;
    talk(&mut phones, &to, [CALLER_HZ, AGENT_HZ], 40, &mut n);
    engine.pause_recording(rec).unwrap();
    // Card digits would be spoken here: silence around a tone that must not be recorded.
    talk(&mut phones, &to, [0.0, 0.0], 10, &mut n);
    talk(&mut phones, &to, [SECRET_HZ, SECRET_HZ], 30, &mut n);
    talk(&mut phones, &to, [0.0, 0.0], 10, &mut n);
    engine.resume_recording(rec).unwrap();
    talk(&mut phones, &to, [CALLER_HZ, AGENT_HZ], 40, &mut n);
    engine.stop_recording(rec).unwrap();
    let mut seen = Vec::new();
    let ev = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::RecordingStopped { .. })
    });
    let Some(MediaEvent::RecordingStopped { path, recording }) = ev else {
        panic!("no RecordingStopped: {seen:?}");
    };
    assert_eq!(recording, rec);
    assert_eq!(path, dir.path().join("call-42.wav"));
    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    let ch = |c: usize| -> Vec<i16> { samples.iter().skip(c).step_by(2).copied().collect() };
    let (c0, c1) = (ch(0), ch(1));
    assert!(c0.len() >= 100 * 160, "too short: {}", c0.len());
    let frames = |v: &[i16]| -> Vec<Vec<i16>> { v.chunks_exact(160).map(|f| f.to_vec()).collect() };
    let (f0, f1) = (frames(&c0), frames(&c1));
    let count = |fs: &[Vec<i16>], hz: f32| fs.iter().filter(|f| level(f, hz) > 1e6).count();
    // Each channel holds its own leg and not the other.
    assert!(
        count(&f0, CALLER_HZ) >= 40,
        "caller channel lacks the caller"
    );
    assert!(count(&f1, AGENT_HZ) >= 40, "agent channel lacks the agent");
    assert_eq!(
        count(&f0, AGENT_HZ),
        0,
        "agent leaked into the caller channel"
    );
    assert_eq!(
        count(&f1, CALLER_HZ),
        0,
        "caller leaked into the agent channel"
    );
    // Nothing said during the pause was recorded...
    assert_eq!(
        count(&f0, SECRET_HZ) + count(&f1, SECRET_HZ),
        0,
        "paused audio recorded"
    );
    // ...and the pause is there as digital silence in both channels, for at least 40 frames.
    let mut run = 0;
    let mut best = 0;
    for (a, b) in f0.iter().zip(&f1) {
        if a.iter().chain(b).all(|&s| s == 0) {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    assert!(best >= 40, "longest silent stretch {best} frames");
    engine.shutdown();
}

/// With a supervisor in a monitor mixer, the recording has three channels: caller, agent,
/// supervisor, each with only its own leg.
#[test]
fn supervisor_gets_a_third_channel() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_path_buf();
    let engine = engine_with(1, |c| c.recordings_dir = folder.clone());
    let events = engine.events();
    let mut phones = [
        Phone::new(Law::Ulaw, 1),
        Phone::new(Law::Ulaw, 2),
        Phone::new(Law::Ulaw, 3),
    ];
    let caller = session_for(&engine, &phones[0], None);
    let agent = session_for(&engine, &phones[1], Some(caller));
    let sup = session_for(&engine, &phones[2], Some(caller));
    let ids = [caller.id, agent.id, sup.id];
    engine
        .create_mixer(&ids, hotline_media::HearMatrix::monitor())
        .unwrap();
    let rec = engine.start_recording("call-43", &ids).unwrap();
    let to = [caller.local, agent.local, sup.local];
    let hz = [600.0f32, 1000.0, 1400.0];
    for n in 0..40 {
        for (i, p) in phones.iter_mut().enumerate() {
            p.send_pcm(to[i], &sine(hz[i], 4000.0, n * 160));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    engine.stop_recording(rec).unwrap();
    let mut seen = Vec::new();
    let Some(MediaEvent::RecordingStopped { path, .. }) = wait_for(&events, &mut seen, |e| {
        matches!(e, MediaEvent::RecordingStopped { .. })
    }) else {
        panic!("no RecordingStopped: {seen:?}");
    };
    let mut reader = hound::WavReader::open(&path).unwrap();
    assert_eq!(reader.spec().channels, 3);
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    for c in 0..3 {
        let ch: Vec<i16> = samples.iter().skip(c).step_by(3).copied().collect();
        let frames: Vec<&[i16]> = ch.chunks_exact(160).collect();
        for (k, f) in hz.iter().enumerate() {
            let n = frames.iter().filter(|fr| level(fr, *f) > 1e6).count();
            if k == c {
                assert!(n >= 20, "channel {c} lacks its own leg ({n} frames)");
            } else {
                assert_eq!(n, 0, "channel {c} holds leg {k}");
            }
        }
    }
    engine.shutdown();
}
