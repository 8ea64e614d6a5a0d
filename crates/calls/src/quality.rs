//! Call quality in the call record: just before a leg's media session is destroyed, call
//! control reads the session's figures from the media engine ([`MediaControl::session_stats`],
//! a synchronous snapshot) and writes them as a [`CallEventKind::Quality`] event, which the
//! store appends to the call's `quality` column. One event per leg that carried media; legs in
//! direct-media mode have no session and so no figures. The figures and the MOS formula are in
//! `docs/media.md`, what the record holds in `docs/call-control.md` ("Call quality").

use crate::CallKey;
use hotline_media::SessionStats;
use hotline_records::{CallEventKind, LegQuality};

use crate::record::CallLog;
use crate::{Call, Core, Leg, LegTarget, MediaControl, Outbox, Role};

/// The party a leg connects, as the call record names it.
fn leg_label(role: Role, leg: &Leg) -> &'static str {
    match (role, &leg.target) {
        (Role::Caller, _) => "caller",
        (Role::Callee, LegTarget::Agent { .. }) => "agent",
        (Role::Callee, _) => "callee",
        (Role::Supervisor, _) => "supervisor",
        (Role::Consulted, _) => "third",
    }
}

/// Two decimals are plenty for a call record (and keep `f32` noise out of the JSON).
fn round2(v: f32) -> f64 {
    (f64::from(v) * 100.0).round() / 100.0
}

/// The record's figures for a leg, or `None` when the session saw no media at all (a leg that
/// rang and never answered, a session the engine no longer knows).
pub(crate) fn leg_quality(
    label: &str,
    agent_id: Option<&str>,
    s: &SessionStats,
) -> Option<LegQuality> {
    if s.packets_received == 0 && s.remote_fraction_lost.is_none() {
        return None;
    }
    Some(LegQuality {
        leg: label.to_string(),
        agent_id: agent_id.map(str::to_string),
        packets: s.packets_received,
        lost: s.packets_lost.max(0) as u64,
        loss_percent: round2(s.loss_percent),
        jitter_ms: round2(s.jitter_ms),
        mos: round2(s.mos),
        remote_loss_percent: s.remote_fraction_lost.map(round2),
        remote_jitter_ms: s.remote_jitter_ms.map(round2),
        rtt_ms: s.rtt_ms.map(round2),
    })
}

/// Emits the `quality` event of one leg (if it had media) into the call's record.
fn record_leg(
    media: Option<&dyn MediaControl>,
    out: &mut Outbox,
    wall_ms: i64,
    log: &mut CallLog,
    role: Role,
    leg: &Leg,
) {
    let (Some(media), Some(session)) = (media, leg.media) else {
        return;
    };
    let agent = match &leg.target {
        LegTarget::Agent { agent, .. } => Some(agent.as_str()),
        _ => None,
    };
    if let Some(q) = media
        .session_stats(session)
        .and_then(|s| leg_quality(leg_label(role, leg), agent, &s))
    {
        out.record(log.event(wall_ms, CallEventKind::Quality(q)));
    }
}

impl Core {
    /// Records the quality of one leg of a live call (leg B when it is dropped) before its
    /// media session is destroyed; the leg is still in the call.
    pub(crate) fn record_quality(&mut self, key: CallKey, role: Role) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let leg = c.legs.get(role);
        if let Some(leg) = leg {
            let media = self.deps.media.as_deref();
            record_leg(media, &mut self.out, self.wall_ms, &mut c.log, role, leg);
        }
    }

    /// Records the quality of leg S or C just taken out of a live call, before its media
    /// session is destroyed.
    pub(crate) fn record_leg_quality(&mut self, key: CallKey, role: Role, leg: &Leg) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let media = self.deps.media.as_deref();
        record_leg(media, &mut self.out, self.wall_ms, &mut c.log, role, leg);
    }

    /// Records the quality of every leg of a call that is ending (`c` is already out of
    /// `calls`), before the legs' media sessions are destroyed.
    pub(crate) fn record_call_quality(&mut self, c: &mut Call) {
        let media = self.deps.media.as_deref();
        for (role, leg) in c.legs.iter() {
            record_leg(media, &mut self.out, self.wall_ms, &mut c.log, role, leg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leg_without_media_has_no_figures() {
        assert_eq!(leg_quality("agent", None, &SessionStats::default()), None);
    }

    #[test]
    fn figures_are_rounded_and_loss_is_never_negative() {
        let s = SessionStats {
            packets_received: 1502,
            packets_expected: 1500,
            packets_lost: -2,
            loss_percent: 0.0,
            jitter_ms: 1.23456,
            mos: 4.394_917,
            remote_fraction_lost: Some(0.390_625),
            ..Default::default()
        };
        let q = leg_quality("caller", None, &s).expect("figures");
        assert_eq!(q.lost, 0);
        assert_eq!((q.jitter_ms, q.mos), (1.23, 4.39));
        assert_eq!(q.remote_loss_percent, Some(0.39));
        assert_eq!(q.remote_jitter_ms, None);
    }
}
