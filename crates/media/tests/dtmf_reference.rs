//! Proves the in-band detector against tones made by an independent generator (sox, see
//! tests/data/make_dtmf_wav.sh): eight digits of 80 ms over white noise, read as linear PCM
//! and after a mu-law and an A-law round trip, are each detected exactly once.

use std::path::PathBuf;

use hotline_media::g711::Law;
use hotline_media::inband::DtmfDetector;
use hotline_media::wav::read_prompt;

fn detect(pcm: &[i16]) -> String {
    let mut det = DtmfDetector::new();
    let mut out = String::new();
    // Feed in 20 ms packets, as the engine does.
    for chunk in pcm.chunks(160) {
        det.process(chunk, |d| out.push(d));
    }
    out
}

#[test]
fn sox_generated_digits_over_noise() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/dtmf_sox.wav");
    let pcm = read_prompt(&path).expect("test data present");
    assert_eq!(detect(&pcm), "147*0#9D");
    for law in [Law::Ulaw, Law::Alaw] {
        let coded: Vec<i16> = pcm.iter().map(|&s| law.decode(law.encode(s))).collect();
        assert_eq!(detect(&coded), "147*0#9D", "{law:?}");
    }
}
