//! Tone generation: call-progress tones (ringback, busy) with a cadence, and DTMF digits.

use std::f32::consts::TAU;

use crate::inband::digit_frequencies;
use crate::rfc4733::Digit;

const RATE: f32 = 8000.0;

/// A call-progress tone: up to two frequencies, played with an on/off cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    /// Frequencies in Hz (one or two; zero entries are ignored).
    pub freqs: [f32; 2],
    /// Amplitude of each frequency (linear, 16-bit scale).
    pub amplitude: f32,
    /// Milliseconds on.
    pub on_ms: u32,
    /// Milliseconds off (0 = continuous).
    pub off_ms: u32,
    /// Stop after this many cycles (`None` = until stopped).
    pub cycles: Option<u32>,
}

impl ToneSpec {
    /// North-American ringback: 440 + 480 Hz, 2 s on, 4 s off.
    pub fn ringback_us() -> Self {
        ToneSpec {
            freqs: [440.0, 480.0],
            amplitude: 3000.0,
            on_ms: 2000,
            off_ms: 4000,
            cycles: None,
        }
    }

    /// North-American busy: 480 + 620 Hz, 0.5 s on, 0.5 s off.
    pub fn busy_us() -> Self {
        ToneSpec {
            freqs: [480.0, 620.0],
            amplitude: 3000.0,
            on_ms: 500,
            off_ms: 500,
            cycles: None,
        }
    }

    /// European (CEPT) ringback: 425 Hz, 1 s on, 4 s off.
    pub fn ringback_eu() -> Self {
        ToneSpec {
            freqs: [425.0, 0.0],
            amplitude: 4000.0,
            on_ms: 1000,
            off_ms: 4000,
            cycles: None,
        }
    }

    /// European (CEPT) busy: 425 Hz, 0.5 s on, 0.5 s off.
    pub fn busy_eu() -> Self {
        ToneSpec {
            freqs: [425.0, 0.0],
            amplitude: 4000.0,
            on_ms: 500,
            off_ms: 500,
            cycles: None,
        }
    }

    /// A steady single tone (used by tests and line checks).
    pub fn steady(freq: f32, amplitude: f32) -> Self {
        ToneSpec {
            freqs: [freq, 0.0],
            amplitude,
            on_ms: 1000,
            off_ms: 0,
            cycles: None,
        }
    }
}

/// Generates a [`ToneSpec`] sample by sample with continuous phase: each frequency is a unit
/// phasor rotated by a fixed step (two multiply-adds per sample, no `sin`), renormalised once
/// per call so rounding cannot make it drift.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    spec: ToneSpec,
    /// (cos, sin) of the current phase of each frequency.
    phasor: [(f32, f32); 2],
    /// (cos, sin) of the per-sample phase step.
    step: [(f32, f32); 2],
    /// Position inside the current cycle, in samples.
    pos: u32,
    cycle_len: u32,
    on_len: u32,
    cycles_done: u32,
}

impl ToneGenerator {
    /// A generator at the start of its first cycle.
    pub fn new(spec: ToneSpec) -> Self {
        let on_len = spec.on_ms * 8;
        let cycle_len = (spec.on_ms + spec.off_ms) * 8;
        ToneGenerator {
            step: [0, 1].map(|k| {
                let w = TAU * spec.freqs[k] / RATE;
                (w.cos(), w.sin())
            }),
            spec,
            phasor: [(1.0, 0.0); 2],
            pos: 0,
            cycle_len: cycle_len.max(1),
            on_len,
            cycles_done: 0,
        }
    }

    /// True once the configured number of cycles has been played.
    pub fn is_done(&self) -> bool {
        matches!(self.spec.cycles, Some(n) if self.cycles_done >= n)
    }

    /// Fills `out`; returns false (and fills silence) once done.
    pub fn fill(&mut self, out: &mut [i16]) -> bool {
        if self.is_done() {
            out.fill(0);
            return false;
        }
        let mut done = false;
        for o in out.iter_mut() {
            if done {
                *o = 0;
                continue;
            }
            let mut v = 0.0;
            let on = self.pos < self.on_len || self.spec.off_ms == 0;
            for k in 0..2 {
                let (c, s) = self.phasor[k];
                if on && self.spec.freqs[k] > 0.0 {
                    v += self.spec.amplitude * s;
                }
                let (sc, ss) = self.step[k];
                self.phasor[k] = (c * sc - s * ss, s * sc + c * ss);
            }
            *o = v.clamp(-32767.0, 32767.0) as i16;
            self.pos += 1;
            if self.pos >= self.cycle_len {
                self.pos = 0;
                self.cycles_done += 1;
                done = self.is_done();
            }
        }
        for p in self.phasor.iter_mut() {
            let norm = (p.0 * p.0 + p.1 * p.1).sqrt();
            if norm > 0.0 {
                *p = (p.0 / norm, p.1 / norm);
            }
        }
        true
    }
}

/// The tone spec for one DTMF digit: 100 ms on, 60 ms off, once.
pub fn dtmf_tone(d: Digit, amplitude: f32) -> Option<ToneSpec> {
    let (r, c) = digit_frequencies(d)?;
    Some(ToneSpec {
        freqs: [r, c],
        amplitude,
        on_ms: 100,
        off_ms: 60,
        cycles: Some(1),
    })
}

/// Renders a digit string as in-band DTMF (100 ms tones, 60 ms pauses); unknown characters are
/// skipped.
pub fn dtmf_samples(digits: &str, amplitude: f32) -> Vec<i16> {
    let mut out = Vec::new();
    for d in digits.chars() {
        if let Some(spec) = dtmf_tone(d, amplitude) {
            let mut g = ToneGenerator::new(spec);
            let mut buf = [0i16; 160];
            for _ in 0..8 {
                g.fill(&mut buf);
                out.extend_from_slice(&buf);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inband::tone_level;

    #[test]
    fn busy_cadence_is_half_second_on_off() {
        let mut g = ToneGenerator::new(ToneSpec::busy_us());
        let mut buf = vec![0i16; 8000];
        assert!(g.fill(&mut buf));
        let on = &buf[100..3900];
        let off = &buf[4100..7900];
        assert!(tone_level(on, 480.0) > 1e5);
        assert!(tone_level(on, 620.0) > 1e5);
        assert!(off.iter().all(|&s| s == 0));
    }

    #[test]
    fn phasor_does_not_drift_over_ten_minutes() {
        let mut g = ToneGenerator::new(ToneSpec::steady(1000.0, 10000.0));
        let mut buf = [0i16; 160];
        for _ in 0..(600 * 50) {
            g.fill(&mut buf);
        }
        let peak = buf.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((9900..=10000).contains(&peak), "peak {peak}");
        assert!(tone_level(&buf, 1000.0) > 0.99 * 10000.0 * 10000.0 / 4.0);
    }

    #[test]
    fn limited_cycles_end() {
        let mut g = ToneGenerator::new(dtmf_tone('5', 5000.0).unwrap());
        let mut buf = [0i16; 160];
        for _ in 0..8 {
            assert!(g.fill(&mut buf));
        }
        assert!(g.is_done());
        assert!(!g.fill(&mut buf));
        assert!(buf.iter().all(|&s| s == 0));
    }
}
