//! A small fixed-size jitter buffer for decoded 20 ms frames, used where the engine needs audio
//! on its own clock (mixer, recording). Relayed calls never pass through it.
//!
//! Frames are stored by RTP sequence number in eight slots (160 ms). Each tick takes the oldest
//! frame at or after the expected sequence number: a lost packet is skipped at once instead of
//! leaving a gap, reordered packets inside the window are put back in order, and an empty buffer
//! gives silence without advancing. When more than four frames wait (sender clock faster than
//! ours, or a burst), the oldest are dropped to keep the delay small.

const SLOTS: usize = 8;
const FRAME: usize = 160;
const MAX_DEPTH: usize = 4;

/// The jitter buffer.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    frames: [[i16; FRAME]; SLOTS],
    seqs: [Option<u16>; SLOTS],
    next: Option<u16>,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new()
    }
}

fn ahead(a: u16, b: u16) -> u16 {
    a.wrapping_sub(b)
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        JitterBuffer {
            frames: [[0; FRAME]; SLOTS],
            seqs: [None; SLOTS],
            next: None,
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.seqs.iter().filter(|s| s.is_some()).count()
    }

    /// True when no frame waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (a new source).
    pub fn reset(&mut self) {
        self.seqs = [None; SLOTS];
        self.next = None;
    }

    /// Stores a frame (shorter frames are padded with silence).
    pub fn push(&mut self, seq: u16, pcm: &[i16]) {
        let next = *self.next.get_or_insert(seq);
        let d = ahead(seq, next);
        if d >= 0x8000 {
            return; // late: already played or skipped
        }
        if d as usize >= SLOTS {
            // Far ahead: move the window so that `seq` is its last slot.
            let new_next = seq.wrapping_sub(SLOTS as u16 - 1);
            for s in self.seqs.iter_mut() {
                if matches!(s, Some(q) if ahead(*q, new_next) >= 0x8000) {
                    *s = None;
                }
            }
            self.next = Some(new_next);
        }
        let slot = seq as usize % SLOTS;
        let n = pcm.len().min(FRAME);
        self.frames[slot][..n].copy_from_slice(&pcm[..n]);
        self.frames[slot][n..].fill(0);
        self.seqs[slot] = Some(seq);
        while self.len() > MAX_DEPTH {
            self.drop_oldest();
        }
    }

    fn oldest(&self) -> Option<(usize, u16)> {
        let next = self.next?;
        self.seqs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|q| (i, q)))
            .min_by_key(|(_, q)| ahead(*q, next))
    }

    fn drop_oldest(&mut self) {
        if let Some((slot, q)) = self.oldest() {
            self.seqs[slot] = None;
            self.next = Some(q.wrapping_add(1));
        }
    }

    /// Takes the next frame into `out`; returns false (and silence) when none is there.
    pub fn pop(&mut self, out: &mut [i16; FRAME]) -> bool {
        match self.oldest() {
            Some((slot, q)) => {
                out.copy_from_slice(&self.frames[slot]);
                self.seqs[slot] = None;
                self.next = Some(q.wrapping_add(1));
                true
            }
            None => {
                out.fill(0);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> [i16; FRAME] {
        [v; FRAME]
    }

    #[test]
    fn in_order_reordered_lost_and_late() {
        let mut jb = JitterBuffer::new();
        let mut out = [0i16; FRAME];
        assert!(!jb.pop(&mut out));
        jb.push(100, &frame(1));
        jb.push(102, &frame(3));
        jb.push(101, &frame(2));
        for v in 1..=3 {
            assert!(jb.pop(&mut out));
            assert_eq!(out[0], v);
        }
        jb.push(100, &frame(9)); // late
        assert!(!jb.pop(&mut out));
        assert_eq!(out[0], 0);
        jb.push(105, &frame(6)); // 103, 104 lost: skipped at once
        assert!(jb.pop(&mut out));
        assert_eq!(out[0], 6);
    }

    #[test]
    fn overrun_keeps_the_newest_and_wraps() {
        let mut jb = JitterBuffer::new();
        let mut out = [0i16; FRAME];
        for (i, q) in (65530u16..=65535).chain(0..4).enumerate() {
            jb.push(q, &frame(i as i16));
        }
        assert_eq!(jb.len(), MAX_DEPTH);
        let mut got = Vec::new();
        while jb.pop(&mut out) {
            got.push(out[0]);
        }
        assert_eq!(got, vec![6, 7, 8, 9]);
        // A jump far ahead moves the window.
        jb.push(1000, &frame(42));
        assert!(jb.pop(&mut out));
        assert_eq!(out[0], 42);
    }

    #[test]
    fn short_frames_are_padded() {
        let mut jb = JitterBuffer::new();
        let mut out = [0i16; FRAME];
        jb.push(1, &[5; 80]);
        assert!(jb.pop(&mut out));
        assert_eq!(out[79], 5);
        assert_eq!(out[80], 0);
    }
}
