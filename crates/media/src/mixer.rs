//! The "who hears whom" matrix of a mixer, and the mixing arithmetic.
//!
//! A mixer has up to 64 parties. Row `i` of the matrix is a bit set of the parties that party `i`
//! hears. Every 20 ms tick each party receives the sum of the frames of the parties it hears
//! (never itself), saturated to 16 bits. Changing the matrix takes effect on the next tick, so
//! switching a supervisor between monitor, whisper and barge never interrupts anyone's audio.

/// Who hears whom among `len` parties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HearMatrix {
    rows: Vec<u64>,
}

/// Party positions used by the supervision presets.
pub mod role {
    /// The customer.
    pub const CALLER: usize = 0;
    /// The agent.
    pub const AGENT: usize = 1;
    /// The supervisor.
    pub const SUPERVISOR: usize = 2;
}

impl HearMatrix {
    /// The largest number of parties.
    pub const MAX_PARTIES: usize = 64;

    /// `n` parties, nobody hears anybody.
    pub fn silent(n: usize) -> Self {
        HearMatrix {
            rows: vec![0; n.min(Self::MAX_PARTIES)],
        }
    }

    /// `n` parties, everyone hears everyone else (a conference, or barge with three).
    pub fn conference(n: usize) -> Self {
        let mut m = Self::silent(n);
        for i in 0..m.len() {
            for j in 0..m.len() {
                m.set(i, j, i != j);
            }
        }
        m
    }

    /// Caller, agent, supervisor: caller and agent hear each other, the supervisor hears both,
    /// nobody hears the supervisor.
    pub fn monitor() -> Self {
        use role::*;
        let mut m = Self::silent(3);
        m.set(CALLER, AGENT, true);
        m.set(AGENT, CALLER, true);
        m.set(SUPERVISOR, CALLER, true);
        m.set(SUPERVISOR, AGENT, true);
        m
    }

    /// Monitor, plus the agent hears the supervisor (the caller does not).
    pub fn whisper() -> Self {
        let mut m = Self::monitor();
        m.set(role::AGENT, role::SUPERVISOR, true);
        m
    }

    /// Everyone hears everyone.
    pub fn barge() -> Self {
        Self::conference(3)
    }

    /// Number of parties.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no parties.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Sets whether `listener` hears `speaker` (ignored for out-of-range or self).
    pub fn set(&mut self, listener: usize, speaker: usize, hears: bool) {
        if listener >= self.len() || speaker >= self.len() || listener == speaker {
            return;
        }
        if hears {
            self.rows[listener] |= 1 << speaker;
        } else {
            self.rows[listener] &= !(1 << speaker);
        }
    }

    /// Whether `listener` hears `speaker`.
    pub fn hears(&self, listener: usize, speaker: usize) -> bool {
        listener < self.len() && speaker < 64 && self.rows[listener] & (1 << speaker) != 0
    }

    /// The bit set of speakers `listener` hears.
    pub fn row(&self, listener: usize) -> u64 {
        self.rows.get(listener).copied().unwrap_or(0)
    }
}

/// Mixes the frames selected by `row` (bit `j` = frame `j`) into `out`, saturating.
pub fn mix_into(out: &mut [i16], frames: &[&[i16]], row: u64) {
    let mut acc = [0i32; 160];
    let n = out.len().min(acc.len());
    for (j, f) in frames.iter().enumerate() {
        if j < 64 && row & (1 << j) != 0 {
            for (a, s) in acc[..n].iter_mut().zip(f.iter()) {
                *a += *s as i32;
            }
        }
    }
    for (o, a) in out[..n].iter_mut().zip(&acc[..n]) {
        *o = (*a).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::role::*;
    use super::*;

    #[test]
    fn presets() {
        let m = HearMatrix::monitor();
        assert!(m.hears(SUPERVISOR, CALLER) && m.hears(SUPERVISOR, AGENT));
        assert!(!m.hears(CALLER, SUPERVISOR) && !m.hears(AGENT, SUPERVISOR));
        assert!(m.hears(CALLER, AGENT) && m.hears(AGENT, CALLER));
        let w = HearMatrix::whisper();
        assert!(w.hears(AGENT, SUPERVISOR) && !w.hears(CALLER, SUPERVISOR));
        let b = HearMatrix::barge();
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(b.hears(i, j), i != j);
            }
        }
    }

    #[test]
    fn nobody_hears_themselves() {
        let mut m = HearMatrix::silent(2);
        m.set(0, 0, true);
        assert!(!m.hears(0, 0));
        m.set(5, 0, true);
        assert_eq!(m.row(5), 0);
    }

    #[test]
    fn mixing_saturates() {
        let a = [30000i16; 160];
        let b = [10000i16; 160];
        let c = [-5i16; 160];
        let mut out = [0i16; 160];
        mix_into(&mut out, &[&a, &b, &c], 0b011);
        assert!(out.iter().all(|&s| s == i16::MAX));
        mix_into(&mut out, &[&a, &b, &c], 0b110);
        assert!(out.iter().all(|&s| s == 9995));
        mix_into(&mut out, &[&a, &b, &c], 0);
        assert!(out.iter().all(|&s| s == 0));
    }
}
