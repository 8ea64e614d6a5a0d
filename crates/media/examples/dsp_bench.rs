//! Per-frame cost of the signal processing the workers do besides relaying: G.711 decode and
//! encode, in-band DTMF detection, 3-party mixing, tone generation. One thread, 20 ms frames.
//!
//! ```text
//! cargo run --release -p hotline-media --example dsp_bench
//! ```

use std::hint::black_box;
use std::time::Instant;

use hotline_media::g711::Law;
use hotline_media::inband::DtmfDetector;
use hotline_media::mixer::{HearMatrix, mix_into};
use hotline_media::tone::{ToneGenerator, ToneSpec};

fn frame(freq: f32, n0: usize) -> [i16; 160] {
    let mut f = [0i16; 160];
    for (i, s) in f.iter_mut().enumerate() {
        let t = (n0 + i) as f32 / 8000.0;
        *s = (6000.0 * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16;
    }
    f
}

fn measure(name: &str, frames: usize, mut f: impl FnMut(usize)) {
    // Warm up, then time.
    for i in 0..frames / 10 {
        f(i);
    }
    let t = Instant::now();
    for i in 0..frames {
        f(i);
    }
    let ns = t.elapsed().as_nanos() as f64 / frames as f64;
    // A stream needs 50 frames per second: share of one core per 100 streams.
    let pct_per_100 = ns * 50.0 * 100.0 / 1e9 * 100.0;
    println!("{name:<34} {ns:>9.0} ns/frame   {pct_per_100:>6.2} % of a core per 100 streams");
}

fn main() {
    let frames = 200_000;
    let pcm: Vec<[i16; 160]> = (0..64)
        .map(|k| frame(300.0 + 37.0 * k as f32, k * 160))
        .collect();
    let mut enc = [[0u8; 160]; 64];
    for (e, p) in enc.iter_mut().zip(&pcm) {
        Law::Ulaw.encode_into(p, e);
    }
    let mut out = [0i16; 160];
    let mut bytes = [0u8; 160];
    measure("g711 decode (mu-law)", frames, |i| {
        Law::Ulaw.decode_into(black_box(&enc[i % 64]), &mut out);
        black_box(&out);
    });
    measure("g711 encode (mu-law)", frames, |i| {
        Law::Ulaw.encode_into(black_box(&pcm[i % 64]), &mut bytes);
        black_box(&bytes);
    });
    let mut det = DtmfDetector::new();
    measure("in-band DTMF detector, other audio", frames / 4, |i| {
        det.process(black_box(&pcm[i % 64]), |d| {
            black_box(d);
        });
    });
    let tones = hotline_media::tone::dtmf_samples("5555555555", 6000.0);
    let dtmf: Vec<&[i16]> = tones.chunks_exact(160).collect();
    let mut det = DtmfDetector::new();
    measure("in-band DTMF detector, DTMF input", frames / 4, |i| {
        det.process(black_box(dtmf[i % dtmf.len()]), |d| {
            black_box(d);
        });
    });
    let m = HearMatrix::barge();
    measure("mix 3 parties (one listener)", frames, |i| {
        let a = &pcm[i % 64];
        let b = &pcm[(i + 1) % 64];
        let c = &pcm[(i + 2) % 64];
        mix_into(&mut out, &[a, b, c], m.row(i % 3));
        black_box(&out);
    });
    let mut g = ToneGenerator::new(ToneSpec::ringback_us());
    measure("tone generator (2 frequencies)", frames / 4, |_| {
        g.fill(&mut out);
        black_box(&out);
    });
}
