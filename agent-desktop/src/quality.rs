//! Call quality in words: a [`Grade`] (good, fair, poor) for each figure the switch stores per
//! leg ([`LegQuality`]: packet loss, jitter, the E-model MOS; docs/media.md explains them) and
//! for the leg as a whole (its worst figure), so a supervisor sees at a glance which leg of a
//! call was bad and why.
//!
//! The thresholds follow the E-model's user-satisfaction bands (ITU-T G.107 / G.109: R 80 and
//! up, MOS about 4.0, "satisfied"; R 70 to 80, MOS 3.6 to 4.0, "some users dissatisfied";
//! below, "many dissatisfied") and the usual VoIP planning figures for G.711 without packet
//! loss concealment (1 % loss already costs about 0.6 MOS; jitter up to 30 ms is absorbed by a
//! small jitter buffer, from 50 ms on it is heard).

use hotline_store::LegQuality;

/// How good a figure (or a leg) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    /// Nobody notices anything.
    Good,
    /// Noticeable: some callers would complain.
    Fair,
    /// Bad: most callers would complain.
    Poor,
}

/// MOS at or above this is good.
pub const MOS_GOOD: f64 = 4.0;
/// MOS at or above this (and below [`MOS_GOOD`]) is fair; below it, poor.
pub const MOS_FAIR: f64 = 3.6;
/// Packet loss (percent) below this is good.
pub const LOSS_GOOD: f64 = 1.0;
/// Packet loss (percent) below this (and at least [`LOSS_GOOD`]) is fair; from it on, poor.
pub const LOSS_FAIR: f64 = 3.0;
/// Jitter (ms) below this is good.
pub const JITTER_GOOD: f64 = 30.0;
/// Jitter (ms) below this (and at least [`JITTER_GOOD`]) is fair; from it on, poor.
pub const JITTER_FAIR: f64 = 50.0;

impl Grade {
    /// The grade of an estimated MOS (higher is better).
    pub fn of_mos(mos: f64) -> Grade {
        if mos >= MOS_GOOD {
            Grade::Good
        } else if mos >= MOS_FAIR {
            Grade::Fair
        } else {
            Grade::Poor
        }
    }

    /// The grade of a packet loss in percent (lower is better).
    pub fn of_loss(percent: f64) -> Grade {
        if percent < LOSS_GOOD {
            Grade::Good
        } else if percent < LOSS_FAIR {
            Grade::Fair
        } else {
            Grade::Poor
        }
    }

    /// The grade of a jitter in ms (lower is better).
    pub fn of_jitter(ms: f64) -> Grade {
        if ms < JITTER_GOOD {
            Grade::Good
        } else if ms < JITTER_FAIR {
            Grade::Fair
        } else {
            Grade::Poor
        }
    }

    /// A leg's grade: the worst of its loss, jitter and MOS (what we received from its phone).
    pub fn of_leg(leg: &LegQuality) -> Grade {
        Grade::of_mos(leg.mos)
            .max(Grade::of_loss(leg.loss_percent))
            .max(Grade::of_jitter(leg.jitter_ms))
    }

    /// A call's grade: its worst leg; `None` for a call without figures.
    pub fn of_call(legs: &[LegQuality]) -> Option<Grade> {
        legs.iter().map(Grade::of_leg).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(loss: f64, jitter: f64, mos: f64) -> LegQuality {
        LegQuality {
            leg: "caller".into(),
            agent_id: None,
            packets: 1000,
            lost: 0,
            loss_percent: loss,
            jitter_ms: jitter,
            mos,
            remote_loss_percent: None,
            remote_jitter_ms: None,
            rtt_ms: None,
        }
    }

    #[test]
    fn the_bands_match_the_e_model_figures_of_docs_media() {
        // A clean LAN leg (MOS 4.39), 1 % loss (3.80), 2 % (3.22), 5 % (2.13).
        assert_eq!(Grade::of_mos(4.39), Grade::Good);
        assert_eq!(Grade::of_mos(3.80), Grade::Fair);
        assert_eq!(Grade::of_mos(3.22), Grade::Poor);
        assert_eq!(Grade::of_mos(MOS_GOOD), Grade::Good);
        assert_eq!(Grade::of_mos(MOS_FAIR), Grade::Fair);
        assert_eq!(Grade::of_loss(0.0), Grade::Good);
        assert_eq!(Grade::of_loss(LOSS_GOOD), Grade::Fair);
        assert_eq!(Grade::of_loss(LOSS_FAIR), Grade::Poor);
        assert_eq!(Grade::of_jitter(29.9), Grade::Good);
        assert_eq!(Grade::of_jitter(30.0), Grade::Fair);
        assert_eq!(Grade::of_jitter(50.0), Grade::Poor);
    }

    #[test]
    fn a_leg_is_as_bad_as_its_worst_figure_and_a_call_as_its_worst_leg() {
        assert_eq!(Grade::of_leg(&leg(0.1, 2.0, 4.4)), Grade::Good);
        assert_eq!(Grade::of_leg(&leg(0.1, 35.0, 4.3)), Grade::Fair);
        assert_eq!(Grade::of_leg(&leg(4.0, 2.0, 4.1)), Grade::Poor);
        let legs = [leg(0.1, 2.0, 4.4), leg(1.5, 2.0, 3.7)];
        assert_eq!(Grade::of_call(&legs), Some(Grade::Fair));
        assert_eq!(Grade::of_call(&[]), None);
    }
}
