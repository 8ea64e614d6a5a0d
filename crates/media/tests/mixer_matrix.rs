//! Proves the supervision matrix over real UDP sockets. Caller, agent and supervisor each send a
//! distinct steady tone (500, 1100, 1700 Hz); Goertzel on what each phone receives tells whom it
//! hears. The matrix is switched monitor -> whisper -> barge on the live mixer, and every phone's
//! received stream keeps a continuous sequence (no gap at the switches).

mod common;

use common::*;
use hotline_media::HearMatrix;
use hotline_media::g711::Law;

const TONES: [f32; 3] = [500.0, 1100.0, 1700.0];
const NAMES: [&str; 3] = ["caller", "agent", "supervisor"];

/// Average per-frame Goertzel level of `freq` over the frames.
fn avg_level(frames: &[Vec<i16>], freq: f32) -> f32 {
    frames.iter().map(|f| level(f, freq)).sum::<f32>() / frames.len().max(1) as f32
}

#[test]
fn monitor_whisper_barge() {
    let engine = engine(1);
    let mut phones: Vec<Phone> = (0..3).map(|i| Phone::new(Law::Ulaw, 100 + i)).collect();
    let caller = session_for(&engine, &phones[0], None);
    let agent = session_for(&engine, &phones[1], Some(caller));
    let sup = session_for(&engine, &phones[2], Some(caller));
    let locals = [caller.local, agent.local, sup.local];
    let mixer = engine
        .create_mixer(&[caller.id, agent.id, sup.id], HearMatrix::monitor())
        .unwrap();
    let phases = [
        ("monitor", HearMatrix::monitor()),
        ("whisper", HearMatrix::whisper()),
        ("barge", HearMatrix::barge()),
    ];
    let mut all_rx: Vec<Vec<Rx>> = vec![Vec::new(); 3];
    let mut n = 0usize;
    for (name, matrix) in phases.iter() {
        engine.set_matrix(mixer, matrix.clone()).unwrap();
        let mut per_phone: Vec<Vec<Vec<i16>>> = vec![Vec::new(); 3];
        let mut received_in_phase = [0usize; 3];
        for _ in 0..60 {
            for (i, p) in phones.iter_mut().enumerate() {
                p.send_pcm(locals[i], &sine(TONES[i], 3000.0, n * 160));
            }
            n += 1;
            std::thread::sleep(std::time::Duration::from_millis(20));
            for (i, p) in phones.iter().enumerate() {
                for rx in p.drain() {
                    received_in_phase[i] += 1;
                    // Skip the first frames of a phase: the switch and the jitter buffer.
                    if received_in_phase[i] > 15 {
                        per_phone[i].push(p.decode(&rx));
                    }
                    all_rx[i].push(rx);
                }
            }
        }
        for listener in 0..3 {
            assert!(
                per_phone[listener].len() >= 10,
                "{name}: {} got too little audio",
                NAMES[listener]
            );
            for speaker in 0..3 {
                let l = avg_level(&per_phone[listener], TONES[speaker]);
                let should = matrix.hears(listener, speaker);
                if should {
                    assert!(
                        l > 3e5,
                        "{name}: {} should hear {} (level {l})",
                        NAMES[listener],
                        NAMES[speaker]
                    );
                } else {
                    assert!(
                        l < 3e4,
                        "{name}: {} must not hear {} (level {l})",
                        NAMES[listener],
                        NAMES[speaker]
                    );
                }
            }
        }
    }
    for (i, rx) in all_rx.iter().enumerate() {
        for w in rx.windows(2) {
            assert_eq!(
                w[1].seq,
                w[0].seq.wrapping_add(1),
                "gap in {}'s audio",
                NAMES[i]
            );
            assert_eq!(w[1].ssrc, w[0].ssrc);
        }
    }
    engine.destroy_mixer(mixer).unwrap();
    engine.shutdown();
}
