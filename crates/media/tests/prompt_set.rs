//! Proves the shipped prompt set (config/prompts, made by generate.sh) matches the say helpers:
//! every name they can produce exists as an 8 kHz 16-bit mono WAV that the engine loads, the
//! common IVR phrases are there, and the whole set stays small.

use std::path::PathBuf;

use hotline_media::say::{self, Currency};
use hotline_media::wav::read_prompt;

fn prompts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/prompts")
}

fn check(name: &str) {
    let path = prompts_dir().join(format!("{name}.wav"));
    let pcm = read_prompt(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(pcm.len() > 800, "{name} is shorter than 100 ms");
    assert!(
        pcm.iter().any(|&s| s.unsigned_abs() > 3000),
        "{name} is silent"
    );
}

#[test]
fn every_said_name_exists() {
    let mut names = Vec::new();
    names.extend(say::digits("0123456789*#"));
    for n in (0..1000).chain([1000, 1_000_000, 999_999_999]) {
        names.extend(say::number(n));
    }
    for c in [0, 1, 99, 100, 101, 123456] {
        names.extend(say::money(c, Currency::Dollar));
        names.extend(say::money(c, Currency::Euro));
    }
    for m in 1..=12 {
        for d in 1..=28 {
            names.extend(say::date(2026, m, d, true).unwrap());
        }
    }
    names.extend(say::date(2026, 1, 31, false).unwrap());
    names.extend(say::date(2026, 1, 29, false).unwrap());
    names.extend(say::date(2026, 1, 30, false).unwrap());
    names.sort();
    names.dedup();
    for n in &names {
        check(n);
    }
}

#[test]
fn ivr_phrases_exist_and_set_is_small() {
    for p in [
        "welcome",
        "please-hold",
        "you-are-caller-number",
        "estimated-wait",
        "minutes",
        "press",
        "for",
        "main-menu",
        "invalid-option",
        "goodbye",
        "enter-card-number",
        "payment-approved",
        "payment-declined",
        "thank-you",
    ] {
        check(&format!("phrases/{p}"));
    }
    let mut total = 0u64;
    let mut stack = vec![prompts_dir()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                total += e.metadata().unwrap().len();
            }
        }
    }
    assert!(total < 4_000_000, "prompt set is {total} bytes");
}

/// Talk-off: the detector must not hear digits in speech. Every shipped prompt (synthetic
/// speech, about a minute in all) is run through it, also at +6 dB and through mu-law.
#[test]
fn speech_prompts_give_no_inband_digits() {
    use hotline_media::g711::Law;
    use hotline_media::inband::DtmfDetector;
    let mut stack = vec![prompts_dir()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "wav") {
                continue;
            }
            files += 1;
            let pcm = read_prompt(&p).unwrap();
            for gain in [1.0f32, 2.0] {
                let mut det = DtmfDetector::new();
                let mut got = String::new();
                let loud: Vec<i16> = pcm
                    .iter()
                    .map(|&s| {
                        Law::Ulaw.decode(
                            Law::Ulaw.encode((s as f32 * gain).clamp(-32768.0, 32767.0) as i16),
                        )
                    })
                    .collect();
                det.process(&loud, |d| got.push(d));
                assert!(
                    got.is_empty(),
                    "{} (gain {gain}) talked off: {got}",
                    p.display()
                );
            }
        }
    }
    assert!(files > 100);
}
