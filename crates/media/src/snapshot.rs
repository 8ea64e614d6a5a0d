//! The latest quality figures of each session, for readers that cannot wait for an event.
//!
//! A worker owns its sessions' statistics ([`crate::rtcp::ReceiverStats`] and the RTCP state)
//! and, once per 20 ms tick, copies each session's [`SessionStats`] into that session's
//! [`StatsCell`]: relaxed atomic stores, no lock and no allocation on the media thread. Call
//! control reads the cell through [`crate::MediaEngine::session_stats`] just before it destroys
//! a leg, to put the leg's quality in the call record. The figures are at most one tick old and
//! may mix two consecutive ticks (each field is read on its own), which is fine for statistics.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::SessionStats;

/// Marks an absent `i64` (far-end report not received).
const NO_I64: i64 = i64::MIN;

/// One session's published [`SessionStats`], field by field.
#[derive(Debug)]
pub(crate) struct StatsCell {
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    packets_expected: AtomicU64,
    packets_lost: AtomicI64,
    loss_percent: AtomicU32,
    jitter_ms: AtomicU32,
    remote_packets_lost: AtomicI64,
    remote_fraction_lost: AtomicU32,
    remote_jitter_ms: AtomicU32,
    rtt_ms: AtomicU32,
    packets_rejected: AtomicU64,
    packets_withheld: AtomicU64,
    one_way_delay_ms: AtomicU32,
    r_factor: AtomicU32,
    mos: AtomicU32,
}

/// `f32` as bits, `None` as NaN (never a real figure).
fn opt_bits(v: Option<f32>) -> u32 {
    v.unwrap_or(f32::NAN).to_bits()
}

fn from_opt_bits(b: u32) -> Option<f32> {
    let v = f32::from_bits(b);
    (!v.is_nan()).then_some(v)
}

impl StatsCell {
    /// A cell holding the figures of a session that has seen nothing yet.
    pub(crate) fn new() -> StatsCell {
        let cell = StatsCell {
            packets_sent: AtomicU64::new(0),
            packets_received: AtomicU64::new(0),
            packets_expected: AtomicU64::new(0),
            packets_lost: AtomicI64::new(0),
            loss_percent: AtomicU32::new(0),
            jitter_ms: AtomicU32::new(0),
            remote_packets_lost: AtomicI64::new(NO_I64),
            remote_fraction_lost: AtomicU32::new(opt_bits(None)),
            remote_jitter_ms: AtomicU32::new(opt_bits(None)),
            rtt_ms: AtomicU32::new(opt_bits(None)),
            packets_rejected: AtomicU64::new(0),
            packets_withheld: AtomicU64::new(0),
            one_way_delay_ms: AtomicU32::new(0),
            r_factor: AtomicU32::new(0),
            mos: AtomicU32::new(0),
        };
        cell.publish(&SessionStats::default());
        cell
    }

    /// Stores `s` (the worker, once per tick).
    pub(crate) fn publish(&self, s: &SessionStats) {
        self.packets_sent.store(s.packets_sent, Relaxed);
        self.packets_received.store(s.packets_received, Relaxed);
        self.packets_expected.store(s.packets_expected, Relaxed);
        self.packets_lost.store(s.packets_lost, Relaxed);
        self.loss_percent.store(s.loss_percent.to_bits(), Relaxed);
        self.jitter_ms.store(s.jitter_ms.to_bits(), Relaxed);
        self.remote_packets_lost
            .store(s.remote_packets_lost.map_or(NO_I64, i64::from), Relaxed);
        self.remote_fraction_lost
            .store(opt_bits(s.remote_fraction_lost), Relaxed);
        self.remote_jitter_ms
            .store(opt_bits(s.remote_jitter_ms), Relaxed);
        self.rtt_ms.store(opt_bits(s.rtt_ms), Relaxed);
        self.packets_rejected.store(s.packets_rejected, Relaxed);
        self.packets_withheld.store(s.packets_withheld, Relaxed);
        self.one_way_delay_ms
            .store(s.one_way_delay_ms.to_bits(), Relaxed);
        self.r_factor.store(s.r_factor.to_bits(), Relaxed);
        self.mos.store(s.mos.to_bits(), Relaxed);
    }

    /// The last published figures.
    pub(crate) fn load(&self) -> SessionStats {
        let remote_lost = self.remote_packets_lost.load(Relaxed);
        SessionStats {
            packets_sent: self.packets_sent.load(Relaxed),
            packets_received: self.packets_received.load(Relaxed),
            packets_expected: self.packets_expected.load(Relaxed),
            packets_lost: self.packets_lost.load(Relaxed),
            loss_percent: f32::from_bits(self.loss_percent.load(Relaxed)),
            jitter_ms: f32::from_bits(self.jitter_ms.load(Relaxed)),
            remote_packets_lost: (remote_lost != NO_I64)
                .then(|| i32::try_from(remote_lost).unwrap_or(i32::MAX)),
            remote_fraction_lost: from_opt_bits(self.remote_fraction_lost.load(Relaxed)),
            remote_jitter_ms: from_opt_bits(self.remote_jitter_ms.load(Relaxed)),
            rtt_ms: from_opt_bits(self.rtt_ms.load(Relaxed)),
            packets_rejected: self.packets_rejected.load(Relaxed),
            packets_withheld: self.packets_withheld.load(Relaxed),
            one_way_delay_ms: f32::from_bits(self.one_way_delay_ms.load(Relaxed)),
            r_factor: f32::from_bits(self.r_factor.load(Relaxed)),
            mos: f32::from_bits(self.mos.load(Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_snapshot_reads_back_unchanged() {
        let cell = StatsCell::new();
        assert_eq!(cell.load(), SessionStats::default());
        let s = SessionStats {
            packets_sent: 500,
            packets_received: 490,
            packets_expected: 500,
            packets_lost: 10,
            loss_percent: 2.0,
            jitter_ms: 3.5,
            remote_packets_lost: Some(-2),
            remote_fraction_lost: Some(0.390625),
            remote_jitter_ms: Some(1.25),
            rtt_ms: Some(42.0),
            packets_rejected: 3,
            packets_withheld: 4,
            one_way_delay_ms: 48.0,
            r_factor: 80.5,
            mos: 4.02,
        };
        cell.publish(&s);
        assert_eq!(cell.load(), s);
        // Back to "no far-end report": the absent values stay absent.
        cell.publish(&SessionStats::default());
        assert_eq!(cell.load(), SessionStats::default());
    }
}
