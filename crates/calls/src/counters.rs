//! Counters call control exports for `/metrics`: calls started, active and ended by
//! direction, how they ended, calls refused over a quota, and the SIP endpoint's counters
//! (requests by method, responses by class, retransmissions, live transactions). Shared with the switch's HTTP
//! server through an `Arc`; updated as call-record events are emitted, so the figures and the
//! call records can never disagree. Labels are a fixed set (directions, outcomes): no number,
//! name or id ever becomes a label.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hotline_records::{CallEvent, CallEventKind, Direction};

/// Every direction a call record can have, in the order of the counters' arrays.
pub const DIRECTIONS: [Direction; 4] = [
    Direction::Inbound,
    Direction::Outbound,
    Direction::Internal,
    Direction::Callback,
];

/// How a call ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Someone (an agent, an extension, the far end of an outside call) answered.
    Answered,
    /// The caller hung up before anyone answered.
    Abandoned,
    /// Ended unanswered for another reason (no route, busy, refused, failed).
    Unanswered,
}

impl CallOutcome {
    /// Every outcome, in the order of the counters' arrays.
    pub const ALL: [CallOutcome; 3] = [
        CallOutcome::Answered,
        CallOutcome::Abandoned,
        CallOutcome::Unanswered,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Abandoned => "abandoned",
            CallOutcome::Unanswered => "unanswered",
        }
    }
}

fn direction_index(d: Direction) -> usize {
    match d {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
        Direction::Internal => 2,
        Direction::Callback => 3,
    }
}

/// Counters call control exports (read by `/metrics`).
#[derive(Debug, Default)]
pub struct CallCounters {
    /// New calls refused because their source, trunk or extension had too many.
    pub refused_over_quota: AtomicU64,
    started: [AtomicU64; 4],
    /// `ended[direction][outcome]`.
    ended: [[AtomicU64; 3]; 4],
    /// The SIP endpoint's counters and live transactions, copied once a second.
    sip: Mutex<(hotline_sip::Stats, usize)>,
    /// Media quality of each leg that ended (what the switch received from it).
    quality: Mutex<QualityHistograms>,
}

/// A Prometheus histogram: cumulative counts per upper bound, plus count and sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds, ascending (`+Inf` is implied).
    pub bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative here; see [`Histogram::cumulative`]).
    counts: Vec<u64>,
    /// Observations above the last bound.
    over: u64,
    pub sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            over: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.sum += v;
        match self.bounds.iter().position(|b| v <= *b) {
            Some(i) => self.counts[i] += 1,
            None => self.over += 1,
        }
    }

    /// `(bound, observations <= bound)` for each bound, as Prometheus buckets count.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        self.bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                acc += c;
                (*b, acc)
            })
            .collect()
    }

    /// All observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.over
    }
}

/// MOS, jitter and loss of legs whose media ended.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityHistograms {
    pub mos: Histogram,
    pub jitter_seconds: Histogram,
    pub loss_ratio: Histogram,
}

impl Default for QualityHistograms {
    fn default() -> QualityHistograms {
        QualityHistograms {
            mos: Histogram::new(&[1.0, 2.0, 2.6, 3.1, 3.6, 4.0, 4.3, 4.5]),
            jitter_seconds: Histogram::new(&[0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]),
            loss_ratio: Histogram::new(&[0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]),
        }
    }
}

impl CallCounters {
    /// Calls refused over a per-source, per-trunk or per-extension cap since start.
    pub fn refused_over_quota(&self) -> u64 {
        self.refused_over_quota.load(Ordering::Relaxed)
    }

    /// Calls started in `direction` since the switch started.
    pub fn started(&self, direction: Direction) -> u64 {
        self.started[direction_index(direction)].load(Ordering::Relaxed)
    }

    /// Calls of `direction` that ended with `outcome` since the switch started.
    pub fn ended(&self, direction: Direction, outcome: CallOutcome) -> u64 {
        self.ended[direction_index(direction)][outcome as usize].load(Ordering::Relaxed)
    }

    /// Media quality of the legs that ended so far.
    pub fn quality(&self) -> QualityHistograms {
        self.quality
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The SIP endpoint's counters and the number of live transactions, as of the last second.
    pub fn sip(&self) -> (hotline_sip::Stats, usize) {
        *self.sip.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_sip(&self, stats: hotline_sip::Stats, transactions: usize) {
        *self.sip.lock().unwrap_or_else(|e| e.into_inner()) = (stats, transactions);
    }

    /// Calls of `direction` in progress now.
    pub fn active(&self, direction: Direction) -> u64 {
        let ended: u64 = CallOutcome::ALL
            .iter()
            .map(|o| self.ended(direction, *o))
            .sum();
        self.started(direction).saturating_sub(ended)
    }
}

/// Follows the call-record events call control emits and counts calls from them.
#[derive(Debug, Default)]
pub(crate) struct CallTally {
    /// Direction and whether answered, per call in progress.
    live: HashMap<String, (Direction, bool)>,
}

impl CallTally {
    pub(crate) fn observe(&mut self, counters: &CallCounters, ev: &CallEvent) {
        match &ev.kind {
            CallEventKind::Arrived { direction, .. }
                if self
                    .live
                    .insert(ev.call_id.clone(), (*direction, false))
                    .is_none() =>
            {
                counters.started[direction_index(*direction)].fetch_add(1, Ordering::Relaxed);
            }
            CallEventKind::Quality(q) => {
                let mut h = counters.quality.lock().unwrap_or_else(|e| e.into_inner());
                if q.packets > 0 {
                    h.mos.observe(q.mos);
                    h.jitter_seconds.observe(q.jitter_ms / 1000.0);
                    h.loss_ratio.observe(q.loss_percent / 100.0);
                }
            }
            CallEventKind::Answered { .. } => {
                if let Some(c) = self.live.get_mut(&ev.call_id) {
                    c.1 = true;
                }
            }
            CallEventKind::Ended { abandoned, .. } => {
                if let Some((direction, answered)) = self.live.remove(&ev.call_id) {
                    let outcome = if answered {
                        CallOutcome::Answered
                    } else if *abandoned {
                        CallOutcome::Abandoned
                    } else {
                        CallOutcome::Unanswered
                    };
                    counters.ended[direction_index(direction)][outcome as usize]
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(call: &str, kind: CallEventKind) -> CallEvent {
        CallEvent {
            call_id: call.into(),
            seq: 0,
            at: 0,
            kind,
        }
    }

    fn arrived(call: &str, direction: Direction) -> CallEvent {
        ev(
            call,
            CallEventKind::Arrived {
                direction,
                ani: "+12125550100".into(),
                dnis: "100".into(),
            },
        )
    }

    fn ended(call: &str, abandoned: bool) -> CallEvent {
        ev(
            call,
            CallEventKind::Ended {
                reason: "x".into(),
                abandoned,
            },
        )
    }

    #[test]
    fn calls_are_counted_by_direction_and_outcome() {
        let c = CallCounters::default();
        let mut t = CallTally::default();
        t.observe(&c, &arrived("a", Direction::Inbound));
        t.observe(&c, &arrived("b", Direction::Inbound));
        t.observe(&c, &arrived("c", Direction::Outbound));
        t.observe(&c, &arrived("a", Direction::Inbound)); // a repeat counts once
        assert_eq!(c.started(Direction::Inbound), 2);
        assert_eq!(c.active(Direction::Inbound), 2);
        t.observe(
            &c,
            &ev(
                "a",
                CallEventKind::Answered {
                    agent_id: "alice".into(),
                },
            ),
        );
        t.observe(&c, &ended("a", false));
        t.observe(&c, &ended("b", true));
        t.observe(&c, &ended("c", false));
        t.observe(&c, &ended("c", false)); // unknown by now: ignored
        assert_eq!(c.ended(Direction::Inbound, CallOutcome::Answered), 1);
        assert_eq!(c.ended(Direction::Inbound, CallOutcome::Abandoned), 1);
        assert_eq!(c.ended(Direction::Outbound, CallOutcome::Unanswered), 1);
        assert_eq!(c.active(Direction::Inbound), 0);
        assert_eq!(c.active(Direction::Outbound), 0);
        assert!(t.live.is_empty());
    }

    #[test]
    fn leg_quality_goes_into_histograms() {
        let c = CallCounters::default();
        let mut t = CallTally::default();
        let leg = |packets, mos, jitter_ms, loss_percent| {
            ev(
                "a",
                CallEventKind::Quality(hotline_records::LegQuality {
                    leg: "caller".into(),
                    agent_id: None,
                    packets,
                    lost: 0,
                    loss_percent,
                    jitter_ms,
                    mos,
                    remote_loss_percent: None,
                    remote_jitter_ms: None,
                    rtt_ms: None,
                }),
            )
        };
        t.observe(&c, &leg(500, 4.4, 3.0, 0.0));
        t.observe(&c, &leg(500, 3.5, 45.0, 2.5));
        t.observe(&c, &leg(0, 1.0, 0.0, 0.0)); // no media: not a measurement
        let q = c.quality();
        assert_eq!(q.mos.count(), 2);
        assert_eq!(q.mos.cumulative()[4], (3.6, 1), "one leg at or below 3.6");
        assert_eq!(q.mos.cumulative().last(), Some(&(4.5, 2)));
        assert_eq!(q.jitter_seconds.cumulative()[0], (0.005, 1));
        assert_eq!(q.jitter_seconds.cumulative()[4], (0.05, 2));
        assert_eq!(q.loss_ratio.cumulative()[0], (0.001, 1));
        assert_eq!(q.loss_ratio.cumulative()[4], (0.03, 2));
        assert!((q.mos.sum - 7.9).abs() < 1e-9);
    }
}
