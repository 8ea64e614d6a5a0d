//! In-band DTMF detection (Goertzel) with the ITU-T Q.24 limits.
//!
//! The detector looks at 160-sample (20 ms) Hann-windowed blocks every 80 samples (10 ms):
//!
//! 1. Goertzel power at the eight DTMF frequencies, computed in one pass over the block (eight
//!    independent recursions, which the CPU overlaps); the strongest row and column tone are the
//!    candidates. If those two cannot hold enough of the block's energy even at the edge of the
//!    tolerance, the block is rejected here (speech mostly stops at this step).
//! 2. Each candidate's true frequency is measured: power at the nominal frequency and at one and
//!    two bins (50 Hz) either side, then a Gaussian fit of the three bins around the peak. A tone
//!    more than 2.5 % from nominal is rejected: Q.24 asks to accept within 1.5 % and to reject
//!    beyond 3.5 %, and 2.5 % leaves 1 % of margin on either side.
//! 3. The two tones must hold most of the block's energy (60 %), each must reach -31 dBm0, and
//!    the twist must be within 8 dB (row stronger) and 4 dB (column stronger).
//! 4. A digit is reported once, after three consecutive blocks agree with steady amplitude
//!    (that needs about 40 ms of tone; a 20 ms burst never gives three steady blocks), and the
//!    next digit needs two blocks without it first.

use std::f32::consts::PI;

use crate::rfc4733::Digit;

/// DTMF row frequencies (Hz).
pub const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF column frequencies (Hz).
pub const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The row and column frequency of a digit.
pub fn digit_frequencies(d: Digit) -> Option<(f32, f32)> {
    let d = d.to_ascii_uppercase();
    for (r, row) in KEYS.iter().enumerate() {
        for (c, k) in row.iter().enumerate() {
            if *k == d {
                return Some((ROWS[r], COLS[c]));
            }
        }
    }
    None
}

const RATE: f32 = 8000.0;
const N: usize = 160;
const HOP: usize = 80;
const BIN: f32 = RATE / N as f32;
/// Largest accepted deviation from the nominal frequency (fraction).
pub const MAX_DEVIATION: f32 = 0.025;
const MIN_ENERGY_FRACTION: f32 = 0.6;
/// Minimum amplitude per tone: about -31 dBm0 (0 dBm0 is a sine of amplitude 22,767).
const MIN_AMPLITUDE: f32 = 640.0;
const MAX_NORMAL_TWIST_DB: f32 = 8.0;
const MAX_REVERSE_TWIST_DB: f32 = 4.0;
const CONFIRM_BLOCKS: usize = 3;
const RELEASE_BLOCKS: u8 = 2;
/// The weakest of the confirming blocks must reach this fraction of the strongest.
const STEADY_RATIO: f32 = 0.7;

/// Detects DTMF tones in 8 kHz linear PCM.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    window: [f32; N],
    hann: [f32; N],
    hann_sum: f32,
    fill: usize,
    candidate: Option<Digit>,
    amplitudes: [f32; CONFIRM_BLOCKS],
    run: usize,
    held: Option<Digit>,
    misses: u8,
    /// True while the latest block held a valid DTMF tone (used to mute tones for payments).
    pub tone_present: bool,
    /// Goertzel coefficients of the 8 nominal frequencies (rows, then columns).
    center: [f32; 8],
    /// Coefficients at -2, -1, +1, +2 bins around each nominal frequency.
    around: [[f32; 4]; 8],
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of the frequency analysis of one tone.
#[derive(Debug, Clone, Copy)]
struct ToneFit {
    freq: f32,
    amplitude: f32,
}

impl DtmfDetector {
    /// A detector with an empty history.
    pub fn new() -> Self {
        let mut hann = [0f32; N];
        for (i, w) in hann.iter_mut().enumerate() {
            *w = 0.5 - 0.5 * (2.0 * PI * i as f32 / (N as f32 - 1.0)).cos();
        }
        let hann_sum = hann.iter().sum();
        let nominal: Vec<f32> = ROWS.iter().chain(COLS.iter()).copied().collect();
        let mut center = [0f32; 8];
        let mut around = [[0f32; 4]; 8];
        for (k, f) in nominal.iter().enumerate() {
            center[k] = coefficient(*f);
            for (j, off) in [-2.0f32, -1.0, 1.0, 2.0].iter().enumerate() {
                around[k][j] = coefficient(f + off * BIN);
            }
        }
        DtmfDetector {
            center,
            around,
            window: [0.0; N],
            hann,
            hann_sum,
            fill: N - HOP,
            candidate: None,
            amplitudes: [0.0; CONFIRM_BLOCKS],
            run: 0,
            held: None,
            misses: 0,
            tone_present: false,
        }
    }

    /// Feeds samples; calls `on_digit` once per detected key press.
    pub fn process(&mut self, samples: &[i16], mut on_digit: impl FnMut(Digit)) {
        for &s in samples {
            self.window[self.fill] = s as f32;
            self.fill += 1;
            if self.fill == N {
                if let Some(d) = self.analyze_block() {
                    on_digit(d);
                }
                self.window.copy_within(HOP.., 0);
                self.fill = N - HOP;
            }
        }
    }

    /// Feeds samples and returns the first digit detected in them, if any.
    pub fn process_first(&mut self, samples: &[i16]) -> Option<Digit> {
        let mut first = None;
        self.process(samples, |d| {
            first.get_or_insert(d);
        });
        first
    }

    fn analyze_block(&mut self) -> Option<Digit> {
        let mut x = [0f32; N];
        let mut energy = 0f32;
        for ((xi, w), h) in x.iter_mut().zip(&self.window).zip(&self.hann) {
            *xi = w * h;
            energy += *xi * *xi;
        }
        let result = self.classify(&x, energy);
        self.tone_present = result.is_some();
        let (digit, amp) = match result {
            Some((d, a)) => (Some(d), a),
            None => (None, 0.0),
        };
        // Release the held digit after enough blocks without it.
        if let Some(h) = self.held {
            if digit == Some(h) {
                self.misses = 0;
            } else {
                self.misses += 1;
                if self.misses >= RELEASE_BLOCKS {
                    self.held = None;
                    self.misses = 0;
                }
            }
        }
        if digit != self.candidate {
            self.candidate = digit;
            self.run = 0;
        }
        let d = digit?;
        self.amplitudes[self.run % CONFIRM_BLOCKS] = amp;
        self.run += 1;
        if self.held.is_some() || self.run < CONFIRM_BLOCKS {
            return None;
        }
        let max = self.amplitudes.iter().copied().fold(0.0, f32::max);
        let min = self.amplitudes.iter().copied().fold(f32::MAX, f32::min);
        if min < STEADY_RATIO * max {
            return None;
        }
        self.held = Some(d);
        self.misses = 0;
        Some(d)
    }

    /// Decides whether one windowed block holds a valid DTMF pair; returns the digit and the
    /// summed tone amplitude.
    fn classify(&self, x: &[f32; N], energy: f32) -> Option<(Digit, f32)> {
        // A block quieter than the minimum tone level cannot hold a digit.
        let min_tone_energy = 0.5 * MIN_AMPLITUDE * MIN_AMPLITUDE * self.hann_sq_sum();
        if energy < min_tone_energy {
            return None;
        }
        // All eight nominal frequencies in one pass (independent recursions run in parallel).
        let p = goertzel_multi(x, &self.center);
        let r = argmax(&p[..4]);
        let c = argmax(&p[4..]);
        // Cheap pre-check before the frequency fit: a tone inside the tolerance loses at most
        // 1.5 dB at the nominal bin, so speech and noise are dropped here.
        let to_energy = |power: f32| {
            let a = 2.0 * power.sqrt() / self.hann_sum;
            0.5 * a * a * self.hann_sq_sum()
        };
        if to_energy(p[r]) + to_energy(p[4 + c]) < 0.5 * MIN_ENERGY_FRACTION * energy {
            return None;
        }
        let mut coeffs = [0f32; 8];
        coeffs[..4].copy_from_slice(&self.around[r]);
        coeffs[4..].copy_from_slice(&self.around[4 + c]);
        let q = goertzel_multi(x, &coeffs);
        let mags = |center: f32, o: &[f32]| {
            [
                o[0].sqrt(),
                o[1].sqrt(),
                center.sqrt(),
                o[2].sqrt(),
                o[3].sqrt(),
            ]
        };
        let row = self.fit(mags(p[r], &q[..4]), ROWS[r])?;
        let col = self.fit(mags(p[4 + c], &q[4..]), COLS[c])?;
        for (fit, nominal) in [(row, ROWS[r]), (col, COLS[c])] {
            if ((fit.freq - nominal) / nominal).abs() > MAX_DEVIATION {
                return None;
            }
            if fit.amplitude < MIN_AMPLITUDE {
                return None;
            }
        }
        let twist_db = 20.0 * (row.amplitude / col.amplitude).log10();
        if twist_db > MAX_NORMAL_TWIST_DB || -twist_db > MAX_REVERSE_TWIST_DB {
            return None;
        }
        let tone_energy =
            0.5 * (row.amplitude.powi(2) + col.amplitude.powi(2)) * self.hann_sq_sum();
        if tone_energy < MIN_ENERGY_FRACTION * energy {
            return None;
        }
        Some((KEYS[r][c], row.amplitude + col.amplitude))
    }

    fn hann_sq_sum(&self) -> f32 {
        // For the Hann window, sum(w^2) = 3N/8 (periodic) - close enough for thresholds.
        3.0 * N as f32 / 8.0
    }

    /// Measures the true frequency and amplitude of the tone near `nominal`.
    /// `mags`: magnitudes at -2, -1, 0, +1, +2 bins around `nominal`.
    fn fit(&self, mags: [f32; 5], nominal: f32) -> Option<ToneFit> {
        let (peak, _) =
            mags.iter().enumerate().fold(
                (0, -1.0),
                |acc, (i, &m)| if m > acc.1 { (i, m) } else { acc },
            );
        // A peak two bins away is at least 75 Hz off: far beyond tolerance for every DTMF tone.
        if peak == 0 || peak == 4 {
            return None;
        }
        let floor = 1e-3f32;
        let (a, b, c) = (
            mags[peak - 1].max(floor).ln(),
            mags[peak].max(floor).ln(),
            mags[peak + 1].max(floor).ln(),
        );
        let denom = a - 2.0 * b + c;
        let delta = if denom.abs() < 1e-9 {
            0.0
        } else {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        };
        let peak_log = b - 0.25 * (a - c) * delta;
        let freq = nominal + (peak as f32 - 2.0 + delta) * BIN;
        // Coherent gain of the window: |X| = A / 2 * sum(w).
        let amplitude = 2.0 * peak_log.exp() / self.hann_sum;
        Some(ToneFit { freq, amplitude })
    }
}

fn argmax(p: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// The Goertzel coefficient `2 cos(w)` for `freq` at 8 kHz.
fn coefficient(freq: f32) -> f32 {
    2.0 * (2.0 * PI * freq / RATE).cos()
}

/// Goertzel powers of `x` at K frequencies (given by coefficient) in one pass over the samples.
fn goertzel_multi<const K: usize>(x: &[f32], coeffs: &[f32; K]) -> [f32; K] {
    let mut s1 = [0f32; K];
    let mut s2 = [0f32; K];
    for &v in x {
        for k in 0..K {
            let s = v + coeffs[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s;
        }
    }
    let mut out = [0f32; K];
    for k in 0..K {
        out[k] = (s1[k] * s1[k] + s2[k] * s2[k] - coeffs[k] * s1[k] * s2[k]).max(0.0);
    }
    out
}

/// Goertzel: squared magnitude of the DTFT of `x` at `freq` (Hz, 8 kHz sampling).
pub fn goertzel_power(x: &[f32], freq: f32) -> f32 {
    let w = 2.0 * PI * freq / RATE;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0)
}

/// Relative power of a pure tone at `freq` in a block of 16-bit PCM: the Goertzel power
/// normalised so that a full-block sine of amplitude A gives A^2/4 (tests and the mixer check).
pub fn tone_level(samples: &[i16], freq: f32) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let x: Vec<f32> = samples.iter().map(|&s| s as f32).collect();
    let n = x.len() as f32;
    goertzel_power(&x, freq) / (n * n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::dtmf_samples;

    /// Deterministic noise (xorshift), uniform in [-amp, amp].
    fn noise(seed: &mut u32, amp: f32) -> f32 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        (*seed as f32 / u32::MAX as f32 * 2.0 - 1.0) * amp
    }

    fn tone(f1: f32, f2: f32, a1: f32, a2: f32, ms: usize, offset: usize) -> Vec<i16> {
        let mut v = vec![0i16; offset];
        let n = ms * 8;
        for i in 0..n {
            let t = i as f32 / RATE;
            let s = a1 * (2.0 * PI * f1 * t).sin() + a2 * (2.0 * PI * f2 * t).sin();
            v.push(s as i16);
        }
        v.extend(std::iter::repeat_n(0, 400));
        v
    }

    fn detect(samples: &[i16]) -> String {
        let mut det = DtmfDetector::new();
        let mut out = String::new();
        det.process(samples, |d| out.push(d));
        out
    }

    #[test]
    fn every_digit_once_at_nominal_frequency() {
        for d in "0123456789*#ABCD".chars() {
            let (r, c) = digit_frequencies(d).unwrap();
            assert_eq!(
                detect(&tone(r, c, 7000.0, 7000.0, 100, 37)),
                d.to_string(),
                "{d}"
            );
        }
    }

    #[test]
    fn noisy_digit_is_detected_once() {
        let mut seed = 0x1234_5678;
        let mut s = tone(852.0, 1477.0, 5000.0, 5000.0, 120, 123);
        for v in s.iter_mut() {
            *v = (*v as f32 + noise(&mut seed, 2500.0)) as i16;
        }
        assert_eq!(detect(&s), "9");
    }

    #[test]
    fn accepts_within_one_and_a_half_percent() {
        for d in "147*2580369#ABCD".chars() {
            let (r, c) = digit_frequencies(d).unwrap();
            for (kr, kc) in [
                (1.015, 1.015),
                (0.985, 0.985),
                (1.015, 0.985),
                (0.985, 1.015),
            ] {
                let s = tone(r * kr, c * kc, 6000.0, 6000.0, 80, 11);
                assert_eq!(detect(&s), d.to_string(), "{d} {kr} {kc}");
            }
        }
    }

    #[test]
    fn rejects_beyond_three_and_a_half_percent() {
        for d in "147*2580369#ABCD".chars() {
            let (r, c) = digit_frequencies(d).unwrap();
            for (kr, kc) in [
                (1.036, 1.0),
                (0.964, 1.0),
                (1.0, 1.036),
                (1.0, 0.964),
                (1.05, 1.0),
                (1.0, 0.94),
            ] {
                let s = tone(r * kr, c * kc, 6000.0, 6000.0, 80, 11);
                assert_eq!(detect(&s), "", "{d} {kr} {kc}");
            }
        }
    }

    #[test]
    fn worst_accepted_case_with_noise() {
        // 1.5 % off on both tones, 6 dB normal twist, 40 ms, noise: still one digit, for every
        // digit and both signs of the deviation.
        let mut seed = 99;
        for d in "147*2580369#ABCD".chars() {
            let (r, c) = digit_frequencies(d).unwrap();
            for k in [1.015f32, 0.985] {
                let mut s = tone(r * k, c * k, 6000.0, 3000.0, 45, 29);
                for v in s.iter_mut() {
                    *v = (*v as f32 + noise(&mut seed, 800.0)) as i16;
                }
                assert_eq!(detect(&s), d.to_string(), "{d} {k}");
            }
        }
    }

    #[test]
    fn twist_limits() {
        // Row 6 dB stronger: accepted. Row 10 dB stronger: rejected.
        assert_eq!(detect(&tone(770.0, 1336.0, 8000.0, 4000.0, 80, 0)), "5");
        assert_eq!(detect(&tone(770.0, 1336.0, 9000.0, 2846.0, 80, 0)), "");
        // Column 3 dB stronger: accepted. Column 6 dB stronger: rejected.
        assert_eq!(detect(&tone(770.0, 1336.0, 5000.0, 7063.0, 80, 0)), "5");
        assert_eq!(detect(&tone(770.0, 1336.0, 4000.0, 7981.0, 80, 0)), "");
    }

    #[test]
    fn minimum_duration() {
        for offset in [0, 20, 40, 60, 79] {
            assert_eq!(
                detect(&tone(941.0, 1336.0, 7000.0, 7000.0, 40, offset)),
                "0",
                "{offset}"
            );
            assert_eq!(
                detect(&tone(941.0, 1336.0, 7000.0, 7000.0, 20, offset)),
                "",
                "{offset}"
            );
        }
    }

    #[test]
    fn two_presses_with_a_pause_are_two_digits_and_a_single_tone_is_not() {
        let mut s = tone(697.0, 1209.0, 7000.0, 7000.0, 60, 0);
        s.extend(tone(697.0, 1209.0, 7000.0, 7000.0, 60, 0));
        assert_eq!(detect(&s), "11");
        assert_eq!(detect(&tone(697.0, 1000.0, 7000.0, 0.0, 200, 0)), "");
        assert_eq!(detect(&tone(440.0, 480.0, 7000.0, 7000.0, 200, 0)), "");
    }

    #[test]
    fn generator_output_is_detected() {
        let s = dtmf_samples("31#", 8000.0);
        assert_eq!(detect(&s), "31#");
    }

    #[test]
    fn quiet_tone_below_minimum_level_is_rejected() {
        assert_eq!(detect(&tone(852.0, 1209.0, 300.0, 300.0, 100, 0)), "");
        assert_eq!(detect(&tone(852.0, 1209.0, 1500.0, 1500.0, 100, 0)), "7");
    }
}
