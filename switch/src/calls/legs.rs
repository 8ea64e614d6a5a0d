//! Legs beyond the caller and the agent, and the media topology of a call.
//!
//! A call has its caller (A) and its agent or callee (B). This module adds the legs an agent
//! or a supervisor asks for from the desktop, all placed by the switch as UAC legs next to the
//! caller's media session:
//!
//! * **S**, a supervisor's phone: silent monitor, whisper (coach) and barge-in, switchable on
//!   the live call, and take-over (S becomes B, the agent's leg is dropped).
//! * **C**, the third party of a consultation: the caller waits with hold music while the agent
//!   talks to C; then complete the transfer (C becomes B), cancel (back to the caller) or join
//!   everyone in a three-way conference.
//! * **A on a click-to-dial call**: the switch rings the agent's phone first (B), then dials
//!   the customer (A) through the dial plan with the trunk's caller ID.
//!
//! What everyone hears follows from the call's state through one function, [`plan`]: a relay
//! between caller and agent when nothing else is going on (no decoding), hold music, a
//! consultation (agent with C, caller on music), or a mixer with a "who hears whom" matrix
//! when a supervisor, a conference or mute needs one. [`Core::apply_media`] moves the media
//! engine from the topology in place to the planned one; a mode switch on the same parties
//! only changes the matrix, from the next 20 ms tick, without a gap in anyone's audio.

use std::net::SocketAddr;
use std::time::Instant;

use hotline_cti::{CallState, MonitorMode};
use hotline_media::{HearMatrix, MixerId, RecordingId, SessionId, ToneSpec};
use hotline_sip::{Dialog, Message, Method, StatusCode, Transport, TsxId, sdp};
use hotline_store::{CallEventKind, Direction};

use super::dialplan::Target;
use super::slice::RoutingOp;
use super::{Call, Core, Leg, LegTarget, Mode, Side, failure_reason, sdp_of};
use crate::app::now_millis;
use crate::bus::CallNotice;

/// Party positions in a mixer: the caller, the agent, then the conference's third party (if
/// any), then the supervisor (if any).
const CALLER: usize = 0;
const AGENT: usize = 1;

/// How the media engine connects a call's legs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Topology {
    /// Nothing set up by us (ringing, IVR, queue music: the service side owns the caller).
    #[default]
    Idle,
    /// The caller hears hold music; the agent's leg is idle.
    Hold,
    /// Caller and agent relayed packet for packet.
    Bridge,
    /// The caller hears hold music; the agent hears ringback (`talking == false`) or talks
    /// to the consulted party.
    Consult { talking: bool },
    /// A mixer over `parties` (sessions) with `matrix`.
    Mix {
        parties: Vec<SessionId>,
        matrix: HearMatrix,
    },
}

/// A supervisor on the call.
#[derive(Debug, Clone)]
pub(crate) struct Supervision {
    pub(crate) supervisor: String,
    pub(crate) mode: MonitorMode,
}

/// The extra state of a call (see the module doc).
#[derive(Default)]
pub(crate) struct Extra {
    /// The supervisor's leg.
    pub(crate) s: Option<Leg>,
    /// The consulted party's leg.
    pub(crate) c: Option<Leg>,
    pub(crate) sup: Option<Supervision>,
    /// The consultation's call id on the agent's desktop (`<call>-consult<n>`), empty when
    /// there is none.
    pub(crate) consult_id: String,
    /// The consultation's target as the agent typed it.
    pub(crate) consult_to: String,
    pub(crate) conference: bool,
    /// The agent's microphone is muted toward the caller (and the conference).
    pub(crate) muted: bool,
    pub(crate) mixer: Option<MixerId>,
    pub(crate) topology: Topology,
    /// Click-to-dial: the customer's media session's local address (for our offer).
    pub(crate) a_local: Option<SocketAddr>,
    /// Click-to-dial: whom to dial once the agent answers.
    pub(crate) dial: Option<Target>,
    /// The call recording in progress (`[media] record_calls`).
    pub(crate) recording: Option<CallRecording>,
    /// Recording paused (card entry); also applies to the next segment.
    pub(crate) recording_paused: bool,
    /// Recording segments started so far.
    pub(crate) segments: u32,
    /// The consultation goes through this queue (routing picks the agent).
    pub(crate) consult_queue: Option<String>,
    /// The agent being rung for, or talking on, the consultation leg.
    pub(crate) consulted: Option<String>,
    /// A callback: the request it serves and how far it got.
    pub(crate) callback: Option<CallbackCall>,
    /// Agents this call keeps busy in routing as a direct call: (agent, the call id routing
    /// knows it by).
    pub(crate) direct: Vec<(String, String)>,
}

/// A callback request routing holds (the caller asked in a queue and hung up).
#[derive(Debug, Clone)]
pub(crate) struct PendingCallback {
    /// The number to call back (the caller's number).
    pub(crate) number: String,
    /// The number is on record for the customer, who proved who they are (PIN) on the call
    /// that asked: it may be called back outside `[dialplan.callbacks] allow_prefixes`.
    pub(crate) own_verified: bool,
    pub(crate) queue: String,
    pub(crate) customer: Option<hotline_store::CustomerView>,
    /// Dial attempts so far (names the call records `<request>-cb<n>`).
    pub(crate) attempts: u32,
}

/// Where a callback call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackStage {
    /// The agent's phone rings.
    Ringing,
    /// Routing withdrew the offer.
    Withdrawn,
    /// The agent answered; the customer is (about to be) dialled.
    AgentAnswered,
    /// Agent and customer talk.
    Connected,
}

/// The callback side of a call.
#[derive(Debug, Clone)]
pub(crate) struct CallbackCall {
    /// The request's id in routing (the original call's id).
    pub(crate) request: String,
    pub(crate) agent: String,
    pub(crate) number: String,
    /// See [`PendingCallback::own_verified`].
    pub(crate) own_verified: bool,
    pub(crate) stage: CallbackStage,
}

/// One recording segment: the file's channels are `legs`, in order.
pub(crate) struct CallRecording {
    pub(crate) id: RecordingId,
    pub(crate) legs: Vec<SessionId>,
}

/// Which legs a recording holds: caller and agent, then the supervisor, or else the
/// conference's third party (three channels at most). Empty until both are talking.
fn recorded_legs(c: &Call) -> Vec<SessionId> {
    let (Some(a), Some(b)) = (c.a.media.filter(|_| c.a.answered), answered_media(&c.b)) else {
        return Vec::new();
    };
    let mut legs = vec![a, b];
    let third = answered_media(&c.extra.s)
        .filter(|_| c.extra.sup.is_some())
        .or_else(|| answered_media(&c.extra.c).filter(|_| c.extra.conference));
    legs.extend(third);
    legs
}

impl Call {
    /// Leg `side` of the call, if it has one.
    pub(crate) fn leg(&self, side: Side) -> Option<&Leg> {
        match side {
            Side::A => Some(&self.a),
            Side::B => self.b.as_ref(),
            Side::S => self.extra.s.as_ref(),
            Side::C => self.extra.c.as_ref(),
        }
    }

    /// Leg `side` of the call, if it has one.
    pub(crate) fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::A => Some(&mut self.a),
            Side::B => self.b.as_mut(),
            Side::S => self.extra.s.as_mut(),
            Side::C => self.extra.c.as_mut(),
        }
    }
}

fn answered_media(l: &Option<Leg>) -> Option<SessionId> {
    l.as_ref().filter(|l| l.answered).and_then(|l| l.media)
}

/// What everyone should hear, from the call's state alone.
pub(crate) fn plan(c: &Call) -> Topology {
    let (Some(a), Some(b)) = (c.a.media.filter(|_| c.a.answered), answered_media(&c.b)) else {
        return Topology::Idle;
    };
    let x = answered_media(&c.extra.c);
    if c.extra.c.is_some() && !c.extra.conference {
        return Topology::Consult {
            talking: x.is_some(),
        };
    }
    if c.held.is_some() {
        return Topology::Hold;
    }
    let third = x.filter(|_| c.extra.conference);
    let sup = answered_media(&c.extra.s).zip(c.extra.sup.as_ref().map(|s| s.mode));
    if third.is_none() && sup.is_none() && !c.extra.muted {
        return Topology::Bridge;
    }
    let mut parties = vec![a, b];
    parties.extend(third);
    let talkers = parties.len();
    let mut m = HearMatrix::silent(talkers + usize::from(sup.is_some()));
    for i in 0..talkers {
        for j in 0..talkers {
            m.set(i, j, true);
        }
    }
    if c.extra.muted {
        for i in 0..talkers {
            m.set(i, AGENT, false);
        }
    }
    if let Some((s, mode)) = sup {
        let si = parties.len();
        parties.push(s);
        for j in 0..talkers {
            m.set(si, j, true);
        }
        match mode {
            MonitorMode::Listen => {}
            MonitorMode::Whisper => m.set(AGENT, si, true),
            MonitorMode::Barge => {
                for i in 0..talkers {
                    m.set(i, si, true);
                }
            }
        }
    }
    let _ = CALLER;
    Topology::Mix { parties, matrix: m }
}

impl Core {
    // ----- media topology -------------------------------------------------------------------

    /// Moves the call's media from the topology in place to the one [`plan`] gives, and keeps
    /// the call recording's channels in step with who is on the call.
    pub(crate) fn apply_media(&mut self, key: u64) {
        self.apply_topology(key);
        self.update_recording(key);
    }

    /// Starts, restarts (a new segment with the new set of legs) or stops the call recording.
    pub(crate) fn update_recording(&mut self, key: u64) {
        if !self.record_calls {
            return;
        }
        let Some(m) = self.deps.media.clone() else {
            return;
        };
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let legs = recorded_legs(c);
        if c.extra.recording.as_ref().map(|r| &r.legs) == Some(&legs)
            || (legs.is_empty() && c.extra.recording.is_none())
        {
            return;
        }
        if let Some(r) = c.extra.recording.take() {
            let _ = m.stop_recording(r.id);
        }
        if legs.is_empty() {
            return;
        }
        c.extra.segments += 1;
        let name = match c.extra.segments {
            1 => c.id.clone(),
            n => format!("{}-{n}", c.id),
        };
        match m.start_recording(&name, &legs) {
            Ok(id) => {
                if c.extra.recording_paused {
                    let _ = m.pause_recording(id);
                }
                c.extra.recording = Some(CallRecording { id, legs });
                let channels = if c.extra.recording.as_ref().map_or(0, |r| r.legs.len()) == 3 {
                    if c.extra.sup.is_some() {
                        "caller, agent, supervisor"
                    } else {
                        "caller, agent, third party"
                    }
                } else {
                    "caller, agent"
                };
                self.note(
                    key,
                    "recording",
                    serde_json::json!({ "file": format!("{name}.wav"), "channels": channels }),
                );
            }
            Err(e) => tracing::warn!(call = %c.id, error = %e, "call not recorded"),
        }
    }

    /// Pauses (card entry) or resumes the call's recording; a segment started while paused
    /// starts paused.
    pub(crate) fn pause_call_recording(&mut self, key: u64, pause: bool) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.extra.recording_paused = pause;
        if let (Some(r), Some(m)) = (&c.extra.recording, &self.deps.media) {
            let _ = if pause {
                m.pause_recording(r.id)
            } else {
                m.resume_recording(r.id)
            };
        }
    }

    fn apply_topology(&mut self, key: u64) {
        let Some(m) = self.deps.media.clone() else {
            return;
        };
        let music = self.deps.hold_music.clone();
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let want = plan(c);
        if want == c.extra.topology {
            return;
        }
        let have = std::mem::replace(&mut c.extra.topology, want.clone());
        let (a, b) = (c.a.media, c.b.as_ref().and_then(|l| l.media));
        let x = c.extra.c.as_ref().and_then(|l| l.media);
        // Same parties, another matrix (monitor -> whisper -> barge, mute): no gap.
        if let (Topology::Mix { parties: old, .. }, Topology::Mix { parties, matrix }) =
            (&have, &want)
            && old == parties
            && let Some(id) = c.extra.mixer
        {
            if let Err(e) = m.set_matrix(id, matrix.clone()) {
                tracing::warn!(call = %c.id, error = %e, "mixer matrix not changed");
            }
            return;
        }
        if let Some(id) = c.extra.mixer.take() {
            let _ = m.destroy_mixer(id);
        }
        let (Some(a), Some(b)) = (a, b) else {
            return;
        };
        let had_tone = matches!(have, Topology::Consult { talking: false });
        match want {
            Topology::Idle => {}
            Topology::Hold => {
                let _ = m.unbridge(a);
                if let Some(p) = &music {
                    let _ = m.music_on_hold(a, p);
                }
            }
            Topology::Bridge => {
                let _ = m.stop_playback(a);
                if had_tone {
                    let _ = m.stop_playback(b);
                }
                if let Err(e) = m.bridge(a, b) {
                    tracing::warn!(call = %c.id, error = %e, "bridge failed");
                }
            }
            Topology::Consult { talking } => {
                if !matches!(have, Topology::Hold | Topology::Consult { .. }) {
                    let _ = m.unbridge(a);
                    if let Some(p) = &music {
                        let _ = m.music_on_hold(a, p);
                    }
                }
                match x.filter(|_| talking) {
                    Some(x) => {
                        if had_tone {
                            let _ = m.stop_playback(b);
                        }
                        let _ = m.bridge(b, x);
                    }
                    None => {
                        let _ = m.unbridge(b);
                        let _ = m.play_tone(b, ToneSpec::ringback_eu());
                    }
                }
            }
            Topology::Mix { parties, matrix } => {
                let _ = m.stop_playback(a);
                if had_tone {
                    let _ = m.stop_playback(b);
                }
                match m.create_mixer(&parties, matrix) {
                    Ok(id) => c.extra.mixer = Some(id),
                    Err(e) => tracing::warn!(call = %c.id, error = %e, "mixer not created"),
                }
            }
        }
    }

    // ----- legs -----------------------------------------------------------------------------

    /// Which extra leg (S or C) of call `key` owns media session `session`.
    pub(crate) fn extra_side_of(&self, key: u64, session: SessionId) -> Option<Side> {
        let c = self.calls.get(&key)?;
        if c.extra.s.as_ref().and_then(|l| l.media) == Some(session) {
            Some(Side::S)
        } else if c.extra.c.as_ref().and_then(|l| l.media) == Some(session) {
            Some(Side::C)
        } else {
            None
        }
    }

    /// Takes leg S or C out of the call and frees its dialog mapping and media.
    fn take_leg(&mut self, key: u64, side: Side) -> Option<Leg> {
        let c = self.calls.get_mut(&key)?;
        let leg = match side {
            Side::S => c.extra.s.take(),
            Side::C => c.extra.c.take(),
            _ => None,
        }?;
        if let Some(d) = &leg.dialog {
            self.by_dialog.remove(&d.id);
        }
        if let Some(sid) = leg.media {
            self.by_media.remove(&sid);
            if let Some(m) = &self.deps.media {
                let _ = m.destroy(sid);
            }
        }
        Some(leg)
    }

    /// Ends leg S or C from our side: CANCEL while it rings, BYE once answered. Only the leg;
    /// [`Core::leg_hung_up`] does the bookkeeping.
    pub(crate) fn drop_leg(&mut self, now: Instant, key: u64, side: Side) {
        if let Some(mut leg) = self.take_leg(key, side) {
            self.hang_up_leg(now, &mut leg);
            // Keep the leg's bookkeeping reachable for leg_hung_up: nothing else to do.
        }
    }

    /// BYE to the agent's leg (nothing when the phone hung up itself) and forget it; the call
    /// goes on.
    pub(crate) fn hang_up_b(&mut self, now: Instant, key: u64) {
        if let Some(c) = self.calls.get_mut(&key)
            && let Some(b) = c.b.as_mut()
            && let Some(d) = b.dialog.as_mut()
            && let Ok(bye) = d.request(Method::Bye)
        {
            let _ = self.ep.send_request(now, bye, b.dst, b.transport);
        }
        self.drop_b(key);
    }

    fn hang_up_leg(&mut self, now: Instant, leg: &mut Leg) {
        if let Some(tsx) = leg.invite_tsx.take() {
            let _ = self.ep.cancel(now, tsx);
        } else if let Some(d) = leg.dialog.as_mut()
            && let Ok(bye) = d.request(Method::Bye)
        {
            let _ = self.ep.send_request(now, bye, leg.dst, leg.transport);
        }
    }

    /// Leg S or C is gone (hung up, failed, dropped): update the call, its media and the
    /// desktops.
    pub(crate) fn leg_hung_up(&mut self, now: Instant, key: u64, side: Side, reason: &str) {
        let _ = self.take_leg(key, side);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let (id, agent) = (c.id.clone(), c.agent.clone().unwrap_or_default());
        match side {
            Side::S => {
                let Some(sup) = c.extra.sup.take() else {
                    return;
                };
                self.note(
                    key,
                    "monitor_ended",
                    serde_json::json!({ "supervisor": sup.supervisor, "reason": reason }),
                );
                self.apply_media(key);
                self.bus.notify(CallNotice::Monitor {
                    call: id,
                    supervisor: sup.supervisor,
                    mode: None,
                });
            }
            Side::C => {
                if c.extra.consult_id.is_empty() {
                    return;
                }
                let consult = c.extra.consult_id.clone();
                let queue = c.extra.consult_queue.take();
                let consulted = c.extra.consulted.take();
                if queue.is_some() && consulted.is_none() {
                    // Still waiting in the queue: it leaves.
                    self.routing(RoutingOp::Abandon(consult.clone()));
                }
                if let Some(a) = consulted {
                    self.direct(key, &a, &id, false);
                    self.bus.notify(CallNotice::Ended {
                        call: id.clone(),
                        agent: Some(a),
                        reason: reason.to_string(),
                    });
                }
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                let consult = std::mem::take(&mut c.extra.consult_id);
                self.by_id.remove(&consult);
                let was_conference = std::mem::take(&mut c.extra.conference);
                let muted = c.extra.muted;
                self.note(
                    key,
                    "consult_ended",
                    serde_json::json!({ "reason": reason }),
                );
                self.apply_media(key);
                self.bus.notify(CallNotice::Consult {
                    call: id.clone(),
                    consult,
                    agent: agent.clone(),
                    state: CallState::Ended,
                    reason: Some(reason.to_string()),
                });
                if was_conference {
                    self.bus.notify(CallNotice::Flags {
                        call: id,
                        agent,
                        muted,
                        conference: false,
                    });
                } else {
                    self.bus.notify(CallNotice::Resumed { call: id, agent });
                }
            }
            Side::A | Side::B => {}
        }
        let _ = now;
    }

    /// A leg we placed could not be set up (not registered, busy, no answer, rejected).
    pub(crate) fn leg_failed(&mut self, now: Instant, key: u64, side: Side, reason: &str) {
        let routed = self
            .calls
            .get(&key)
            .is_some_and(|c| c.extra.consult_queue.is_some());
        if side == Side::C && routed {
            // The agent routing picked did not answer: the consultation goes back to the head
            // of the queue and routing offers it again.
            let _ = self.take_leg(key, Side::C);
            if let Some((id, agent)) = self
                .calls
                .get_mut(&key)
                .and_then(|c| c.extra.consulted.take().map(|a| (c.id.clone(), a)))
            {
                self.routing(RoutingOp::NoAnswer(agent.clone()));
                self.bus.notify(CallNotice::Ended {
                    call: id,
                    agent: Some(agent),
                    reason: reason.to_string(),
                });
            }
            self.apply_media(key);
            return;
        }
        match side {
            Side::A => self.end_call(now, key, None, reason, None),
            Side::B => {}
            Side::S | Side::C => self.leg_hung_up(now, key, side, reason),
        }
    }

    pub(crate) fn leg_ring_timeout(&mut self, now: Instant, key: u64, side: Side, generation: u32) {
        let tsx = {
            let Some(c) = self.calls.get_mut(&key) else {
                return;
            };
            let Some(leg) = c.leg_mut(side) else { return };
            if leg.generation != generation || leg.answered || !leg.outgoing {
                return;
            }
            leg.invite_tsx.take()
        };
        if let Some(tsx) = tsx {
            let _ = self.ep.cancel(now, tsx);
        }
        self.leg_failed(now, key, side, "no answer");
    }

    /// A response to the INVITE of leg S, C or (click-to-dial) A.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_leg_invite_response(
        &mut self,
        now: Instant,
        key: u64,
        tsx: TsxId,
        side: Side,
        generation: u32,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        let stale = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.leg_mut(side))
            .is_none_or(|l| l.generation != generation || !l.outgoing);
        if stale {
            if code.is_success() {
                self.ack_and_bye(now, tsx, &resp);
            }
            if code.is_final() {
                self.by_tsx.remove(&tsx);
            }
            return;
        }
        if code.is_provisional() {
            if code.0 > 100 {
                self.leg_ringing(key, side);
            }
            return;
        }
        self.by_tsx.remove(&tsx);
        if code.is_success() {
            let media = self.deps.media.clone();
            let Some(peer) = self
                .calls
                .get(&key)
                .and_then(|c| c.leg(side))
                .map(|l| self.media_peer(l.dst))
            else {
                return;
            };
            let Some(c) = self.calls.get_mut(&key) else {
                return;
            };
            let Some(leg) = c.leg_mut(side) else { return };
            leg.invite_tsx = None;
            let dialog = match Dialog::uac(&leg.invite_req, &resp) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "2xx without a usable dialog");
                    self.ack_and_bye(now, tsx, &resp);
                    self.leg_failed(now, key, side, "rejected");
                    return;
                }
            };
            leg.answered = true;
            let seq = leg.invite_req.cseq().map(|s| s.seq).unwrap_or(1);
            let _ = self.ep.ack_2xx(tsx, dialog.ack(seq), leg.dst);
            self.by_dialog.insert(dialog.id.clone(), (key, side));
            if let (Some(m), Some(ours), Some(theirs)) = (&media, &leg.our_sdp, sdp_of(&resp))
                && let Ok(neg) = sdp::negotiated_from_answer(ours, &theirs)
                && let (Some(remote), Some(sid)) = (neg.remote, leg.media)
            {
                let _ = m.set_remote(sid, peer.params(remote, &neg));
            }
            leg.dialog = Some(dialog);
            self.leg_answered(now, key, side);
            return;
        }
        if matches!(code.0, 401 | 407) && self.retry_with_credentials(now, key, side, tsx, &resp) {
            return;
        }
        if let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)) {
            leg.invite_tsx = None;
        }
        self.leg_failed(now, key, side, failure_reason(code));
    }

    fn leg_ringing(&mut self, key: u64, side: Side) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let agent = c.agent.clone().unwrap_or_default();
        match side {
            Side::C if !c.extra.consult_id.is_empty() => {
                if let Some(consulted) = &c.extra.consulted {
                    self.bus.notify(CallNotice::Ringing {
                        call: c.id.clone(),
                        agent: consulted.clone(),
                    });
                }
                self.bus.notify(CallNotice::Consult {
                    call: c.id.clone(),
                    consult: c.extra.consult_id.clone(),
                    agent,
                    state: CallState::Ringing,
                    reason: None,
                })
            }
            Side::A if c.mode == Mode::Outbound => self.bus.notify(CallNotice::Ringing {
                call: c.id.clone(),
                agent,
            }),
            _ => {}
        }
    }

    fn leg_answered(&mut self, now: Instant, key: u64, side: Side) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let (id, agent) = (c.id.clone(), c.agent.clone().unwrap_or_default());
        match side {
            Side::S => {
                let Some(sup) = c.extra.sup.clone() else {
                    return;
                };
                self.apply_media(key);
                self.bus.notify(CallNotice::Monitor {
                    call: id,
                    supervisor: sup.supervisor,
                    mode: Some(sup.mode),
                });
            }
            Side::C => {
                let consult = c.extra.consult_id.clone();
                let routed = c.extra.consult_queue.is_some();
                if let Some(consulted) = c.extra.consulted.clone() {
                    if routed {
                        // Answered through the queue: from now on the consulted agent is on
                        // the caller's call, outside the queues.
                        self.routing(RoutingOp::Answer(consult.clone(), consulted.clone()));
                        self.routing(RoutingOp::ContinueDirect(consult.clone(), id.clone()));
                        if let Some(c) = self.calls.get_mut(&key) {
                            c.extra.direct.push((consulted.clone(), id.clone()));
                        }
                    } else {
                        self.direct(key, &consulted, &id, true);
                    }
                    self.bus.notify(CallNotice::Connected {
                        call: id.clone(),
                        agent: consulted,
                    });
                }
                self.apply_media(key);
                self.bus.notify(CallNotice::Consult {
                    call: id,
                    consult,
                    agent,
                    state: CallState::Connected,
                    reason: None,
                });
            }
            Side::A => {
                // Click-to-dial or a callback: the customer answered.
                c.connected = Some(now);
                if let Some(cb) = c.extra.callback.as_mut() {
                    cb.stage = CallbackStage::Connected;
                    let request = cb.request.clone();
                    self.routing(RoutingOp::CallbackConnected(request));
                }
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                let ev = c.log.event(
                    now_millis(),
                    CallEventKind::Answered {
                        agent_id: agent.clone(),
                    },
                );
                self.cdr.write(ev);
                self.apply_media(key);
                self.bus.notify(CallNotice::Connected { call: id, agent });
            }
            Side::B => {}
        }
    }

    // ----- guards used by hold and transfer -------------------------------------------------

    pub(crate) fn hold_allowed(&self, key: u64) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        if c.extra.conference {
            return Err("a conference cannot be put on hold".into());
        }
        if c.extra.c.is_some() {
            return Err("the caller is already waiting during the consultation".into());
        }
        Ok(())
    }

    pub(crate) fn transfer_allowed(&self, key: u64) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        if c.extra.c.is_some() {
            return Err(
                "a consultation is in progress: complete the transfer or cancel it first".into(),
            );
        }
        Ok(())
    }

    /// Ends every extra leg of a call that is ending (`c` is already out of `calls`).
    pub(crate) fn end_extras(&mut self, now: Instant, c: &mut Call, from: Option<Side>) {
        for side in [Side::S, Side::C] {
            let leg = match side {
                Side::S => c.extra.s.take(),
                _ => c.extra.c.take(),
            };
            let Some(mut leg) = leg else { continue };
            if from != Some(side) {
                self.hang_up_leg(now, &mut leg);
            }
            if let Some(d) = &leg.dialog {
                self.by_dialog.remove(&d.id);
            }
            if let Some(sid) = leg.media {
                self.by_media.remove(&sid);
                if let Some(m) = &self.deps.media {
                    let _ = m.destroy(sid);
                }
            }
        }
        if let (Some(id), Some(m)) = (c.extra.mixer.take(), &self.deps.media) {
            let _ = m.destroy_mixer(id);
        }
        if let (Some(r), Some(m)) = (c.extra.recording.take(), &self.deps.media) {
            let _ = m.stop_recording(r.id);
        }
        for (agent, routing_id) in std::mem::take(&mut c.extra.direct) {
            self.routing(RoutingOp::DirectEnded(agent, routing_id));
        }
        if let Some(sup) = c.extra.sup.take() {
            self.bus.notify(CallNotice::Monitor {
                call: c.id.clone(),
                supervisor: sup.supervisor,
                mode: None,
            });
        }
        if !c.extra.consult_id.is_empty() {
            let consult = std::mem::take(&mut c.extra.consult_id);
            self.by_id.remove(&consult);
            let consulted = c.extra.consulted.take();
            if c.extra.consult_queue.take().is_some() && consulted.is_none() {
                self.routing(RoutingOp::Abandon(consult.clone()));
            }
            if let Some(a) = consulted {
                self.bus.notify(CallNotice::Ended {
                    call: c.id.clone(),
                    agent: Some(a),
                    reason: "call ended".into(),
                });
            }
            if let Some(agent) = c.agent.clone() {
                self.bus.notify(CallNotice::Consult {
                    call: c.id.clone(),
                    consult,
                    agent,
                    state: CallState::Ended,
                    reason: Some("call ended".into()),
                });
            }
        }
    }

    /// Tells routing that `agent` is on (or off) a call it did not route, so it offers them
    /// nothing meanwhile and wraps them up after.
    fn direct(&mut self, key: u64, agent: &str, routing_id: &str, on: bool) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let entry = (agent.to_string(), routing_id.to_string());
        if on {
            if c.extra.direct.contains(&entry) {
                return;
            }
            c.extra.direct.push(entry);
            self.routing(RoutingOp::DirectStarted(
                agent.to_string(),
                routing_id.to_string(),
            ));
        } else if let Some(i) = c.extra.direct.iter().position(|e| *e == entry) {
            c.extra.direct.remove(i);
            self.routing(RoutingOp::DirectEnded(
                agent.to_string(),
                routing_id.to_string(),
            ));
        }
    }

    fn note(&mut self, key: u64, what: &str, detail: serde_json::Value) {
        if let Some(c) = self.calls.get_mut(&key) {
            let ev = c.log.event(
                now_millis(),
                CallEventKind::Note {
                    what: what.into(),
                    detail,
                },
            );
            self.cdr.write(ev);
        }
    }

    fn flags(&self, key: u64) {
        if let Some(c) = self.calls.get(&key)
            && let Some(agent) = &c.agent
        {
            self.bus.notify(CallNotice::Flags {
                call: c.id.clone(),
                agent: agent.clone(),
                muted: c.extra.muted,
                conference: c.extra.conference,
            });
        }
    }

    fn agent_connected(&self, key: u64) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        if c.connected.is_none() || !c.b.as_ref().is_some_and(|b| b.answered) {
            return Err("the call is not connected".into());
        }
        Ok(())
    }

    // ----- agent: mute ----------------------------------------------------------------------

    /// Mutes or unmutes the agent toward the caller (and the conference). The media engine
    /// mixes the call with a matrix in which nobody but a supervisor hears the agent.
    pub(crate) fn mute(&mut self, _now: Instant, key: u64, on: bool) -> Result<(), String> {
        self.agent_connected(key)?;
        let c = self.calls.get_mut(&key).ok_or("no such call")?;
        if c.extra.muted == on {
            return Ok(());
        }
        c.extra.muted = on;
        self.note(
            key,
            if on { "muted" } else { "unmuted" },
            serde_json::json!({}),
        );
        self.apply_media(key);
        self.flags(key);
        Ok(())
    }

    // ----- agent: consultation, transfer, conference ------------------------------------------

    /// Rings `target` (an agent, an extension or an outside number) while the caller waits
    /// with hold music; the agent hears ringback, then talks to the target.
    pub(crate) fn consult(
        &mut self,
        now: Instant,
        key: u64,
        target: &str,
    ) -> Result<String, String> {
        self.agent_connected(key)?;
        {
            let c = self.calls.get(&key).ok_or("no such call")?;
            if c.extra.c.is_some() {
                return Err("a consultation is already in progress".into());
            }
            if c.held.is_some() {
                return Err(
                    "resume the call first: the consultation puts the caller on hold".into(),
                );
            }
        }
        let target = target.trim();
        let resolved = if let Some(ext) = self.agent_extension(target) {
            (Target::Extension(ext), Some(target.to_string()))
        } else if self.deps.is_queue(target) {
            if self.deps.ops.is_none() {
                return Err("routing is not running: no queue can be consulted".into());
            }
            (Target::Queue(target.to_string()), None)
        } else {
            match self.plan.resolve(target) {
                Ok(r) => match r.target {
                    t @ (Target::Extension(_) | Target::Trunk { .. }) => (t, None),
                    _ => return Err(format!("{target} is a service number, not a person")),
                },
                Err(_) => return Err(format!("no route to {target}")),
            }
        };
        if let (Target::Extension(ext), _) = &resolved
            && self.reg.contacts(ext, now).is_empty()
        {
            return Err(format!("{target} is not reachable (no phone registered)"));
        }
        let (id, agent) = {
            let c = self.calls.get_mut(&key).ok_or("no such call")?;
            c.extra.consult_id = format!("{}-consult{}", c.id, c.b_generation + 1);
            c.extra.consult_to = target.to_string();
            (c.id.clone(), c.agent.clone().unwrap_or_default())
        };
        let consult = self.calls[&key].extra.consult_id.clone();
        self.by_id.insert(consult.clone(), key);
        self.note(key, "consult", serde_json::json!({ "to": target }));
        match resolved {
            (Target::Queue(queue), _) => {
                // Routing picks an agent; its offer comes back through `consult_offer`.
                let Some(c) = self.calls.get_mut(&key) else {
                    return Err("no such call".into());
                };
                c.extra.consult_queue = Some(queue.clone());
                let priority = c.slice.priority();
                self.routing(RoutingOp::Enqueue(consult.clone(), queue, priority));
            }
            (Target::Extension(ext), Some(agent_id)) => {
                self.consult_pop(now, key, &agent_id, "");
                if let Some(c) = self.calls.get_mut(&key) {
                    c.extra.consulted = Some(agent_id.clone());
                }
                self.ring_extension_on(now, key, Side::C, &ext, Some(agent_id))
            }
            (Target::Extension(ext), None) => self.ring_extension_on(now, key, Side::C, &ext, None),
            (Target::Trunk { trunk, number }, _) => {
                self.dial_trunk_on(now, key, Side::C, &trunk, &number)
            }
            _ => {}
        }
        if self
            .calls
            .get(&key)
            .is_none_or(|c| c.extra.c.is_none() && c.extra.consult_queue.is_none())
        {
            return Err(format!("{target} could not be called"));
        }
        self.apply_media(key);
        self.bus.notify(CallNotice::Held {
            call: id.clone(),
            agent: agent.clone(),
        });
        self.bus.notify(CallNotice::Consult {
            call: id,
            consult: consult.clone(),
            agent,
            state: CallState::Dialing,
            reason: None,
        });
        Ok(consult)
    }

    /// Hangs up the consultation (ringing or talking) and brings the agent back to the caller.
    pub(crate) fn cancel_consult(&mut self, now: Instant, key: u64) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        if c.extra.c.is_none() {
            return Err("there is no consultation".into());
        }
        self.drop_leg(now, key, Side::C);
        self.leg_hung_up(now, key, Side::C, "cancelled");
        Ok(())
    }

    /// The consulted party takes the caller; the agent's leg ends.
    pub(crate) fn complete_transfer(&mut self, now: Instant, key: u64) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        if !c.extra.c.as_ref().is_some_and(|l| l.answered) {
            return Err("the consulted party has not answered yet".into());
        }
        self.hand_over_to_third_party(now, key, "transferred");
        Ok(())
    }

    /// Joins caller, agent and the consulted party in a three-way conference.
    pub(crate) fn conference(&mut self, _now: Instant, key: u64) -> Result<(), String> {
        let c = self.calls.get_mut(&key).ok_or("no such call")?;
        if !c.extra.c.as_ref().is_some_and(|l| l.answered) {
            return Err("consult the third party first; they have not answered yet".into());
        }
        if c.extra.conference {
            return Err("the call is already a conference".into());
        }
        c.extra.conference = true;
        let (id, agent, consult) = (
            c.id.clone(),
            c.agent.clone().unwrap_or_default(),
            c.extra.consult_id.clone(),
        );
        self.note(key, "conference", serde_json::json!({}));
        self.apply_media(key);
        self.flags(key);
        self.bus.notify(CallNotice::Resumed {
            call: id.clone(),
            agent: agent.clone(),
        });
        self.bus.notify(CallNotice::Consult {
            call: id,
            consult,
            agent,
            state: CallState::Connected,
            reason: None,
        });
        Ok(())
    }

    /// The agent leaves a conference (hang-up from the desktop or the phone): the caller and
    /// the third party stay connected. Returns false when the call is not a conference.
    /// The agent's phone hung up (BYE). In a conference, or while talking to the consulted
    /// party, that hands the caller over to the third party (attended transfer by hanging up,
    /// as desk phones do it); returns false when the call simply ends.
    pub(crate) fn agent_phone_hung_up(&mut self, now: Instant, key: u64) -> bool {
        let talking_to_third = self
            .calls
            .get(&key)
            .is_some_and(|c| c.extra.c.as_ref().is_some_and(|l| l.answered));
        if talking_to_third {
            let reason = if self.calls.get(&key).is_some_and(|c| c.extra.conference) {
                "left conference"
            } else {
                "transferred"
            };
            self.hand_over_to_third_party(now, key, reason);
        }
        talking_to_third
    }

    pub(crate) fn agent_leaves_conference(&mut self, now: Instant, key: u64) -> bool {
        let in_conference = self
            .calls
            .get(&key)
            .is_some_and(|c| c.extra.conference && c.extra.c.as_ref().is_some_and(|l| l.answered));
        if in_conference {
            self.hand_over_to_third_party(now, key, "left conference");
        }
        in_conference
    }

    /// Leg C becomes the call's B leg; the agent's leg (and any supervisor) is dropped.
    fn hand_over_to_third_party(&mut self, now: Instant, key: u64, reason: &str) {
        self.drop_leg(now, key, Side::S);
        self.leg_hung_up(now, key, Side::S, reason);
        self.hang_up_b(now, key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(third) = c.extra.c.take() else {
            return;
        };
        if let Some(d) = &third.dialog {
            self.by_dialog.insert(d.id.clone(), (key, Side::B));
        }
        let old_agent = c.agent.take();
        c.extra.consult_queue = None;
        c.extra.consulted = None;
        let consult = std::mem::take(&mut c.extra.consult_id);
        self.by_id.remove(&consult);
        let to = std::mem::take(&mut c.extra.consult_to);
        c.extra.conference = false;
        c.extra.muted = false;
        c.agent = match &third.target {
            LegTarget::Agent { agent, .. } => Some(agent.clone()),
            _ => None,
        };
        let new_agent = c.agent.clone();
        c.b = Some(third);
        let id = c.id.clone();
        let ev = c
            .log
            .event(now_millis(), CallEventKind::Transferred { to: to.clone() });
        self.cdr.write(ev);
        if let Some(a) = old_agent {
            self.slice_agent_released(now, key, &a);

            self.bus.notify(CallNotice::Consult {
                call: id.clone(),
                consult,
                agent: a.clone(),
                state: CallState::Ended,
                reason: Some(reason.to_string()),
            });
            self.bus.notify(CallNotice::Ended {
                call: id.clone(),
                agent: Some(a),
                reason: reason.to_string(),
            });
        }
        if let Some(a) = new_agent {
            self.bus
                .notify(CallNotice::Connected { call: id, agent: a });
        }
        self.apply_media(key);
    }

    /// The call whose consultation routing knows as `id`, if any.
    pub(crate) fn consult_key(&self, id: &str) -> Option<u64> {
        let key = *self.by_id.get(id)?;
        self.calls
            .get(&key)
            .is_some_and(|c| c.extra.consult_id == id && c.extra.consult_queue.is_some())
            .then_some(key)
    }

    /// Pushes the caller's screen pop to the agent being consulted.
    fn consult_pop(&mut self, now: Instant, key: u64, agent: &str, queue: &str) {
        let ring_secs = self.ring_timeout.as_secs() as u32;
        if let Some(pop) = self.screen_pop(now, key, queue, ring_secs) {
            self.bus.notify(CallNotice::Offered {
                agent: agent.to_string(),
                pop: Box::new(pop),
            });
        }
    }

    /// Routing offers a consultation that waits in a queue to `agent`: their phone rings as
    /// leg C with the caller's screen pop.
    pub(crate) fn consult_offer(
        &mut self,
        now: Instant,
        key: u64,
        agent: &str,
        _deadline: Instant,
    ) {
        let busy = self
            .calls
            .get(&key)
            .is_none_or(|c| c.extra.c.is_some() || c.extra.consulted.is_some());
        let ext = self.agent_extension(agent);
        let (Some(ext), false) = (ext, busy) else {
            self.routing(RoutingOp::NoAnswer(agent.to_string()));
            return;
        };
        let queue = self
            .calls
            .get(&key)
            .and_then(|c| c.extra.consult_queue.clone())
            .unwrap_or_default();
        self.consult_pop(now, key, agent, &queue);
        if let Some(c) = self.calls.get_mut(&key) {
            c.extra.consulted = Some(agent.to_string());
        }
        self.ring_extension_on(now, key, Side::C, &ext, Some(agent.to_string()));
    }

    /// Routing withdrew its offer of the consultation (the queue's reservation lapsed).
    pub(crate) fn consult_offer_withdrawn(&mut self, now: Instant, key: u64, agent: &str) {
        let ringing = self.calls.get(&key).is_some_and(|c| {
            c.extra.consulted.as_deref() == Some(agent)
                && c.extra.c.as_ref().is_some_and(|l| !l.answered)
        });
        if !ringing {
            return;
        }
        self.drop_leg(now, key, Side::C);
        if let Some(c) = self.calls.get_mut(&key) {
            c.extra.consulted = None;
            let id = c.id.clone();
            self.bus.notify(CallNotice::Ended {
                call: id,
                agent: Some(agent.to_string()),
                reason: "offer withdrawn".into(),
            });
        }
    }

    /// A call the switch places: the customer's leg (A) gets its media session now and is
    /// dialled later; B (the agent's phone) is rung by the caller of this. `id`: the call's
    /// id, or a new one.
    #[allow(clippy::too_many_arguments)]
    fn new_outbound_call(
        &mut self,
        now: Instant,
        id: Option<String>,
        ext: &str,
        number: &str,
        direction: Direction,
        agent: Option<&str>,
        dial: Option<Target>,
    ) -> Result<(u64, String), String> {
        let Some(media) = self.deps.media.clone() else {
            return Err(
                "calls from the switch need media anchoring ([media] anchor = true)".into(),
            );
        };
        let info = media
            .create_session(hotline_media::SessionOptions::on(self.media_ip))
            .map_err(|e| format!("no media session: {e}"))?;
        let key = self.next_call;
        self.next_call += 1;
        let id = id.unwrap_or_else(|| format!("{}-{key}", self.ep.new_tag()));
        let mut log = super::cdr::CallLog::new(id.clone());
        self.cdr.write(log.event(
            now_millis(),
            CallEventKind::Arrived {
                direction,
                ani: ext.to_string(),
                dnis: number.to_string(),
            },
        ));
        let a = Leg {
            invite_tsx: None,
            invite_req: Message::request(Method::Invite, ""),
            tag: self.ep.new_tag(),
            dialog: None,
            dst: SocketAddr::from(([0, 0, 0, 0], 0)),
            transport: Transport::Udp,
            media: Some(info.id),
            our_sdp: None,
            sdp_version: 1,
            answered: false,
            target: LegTarget::Caller,
            auth_tries: 0,
            generation: 0,
            outgoing: true,
        };
        let extra = Extra {
            a_local: Some(info.local),
            dial,
            ..Extra::default()
        };
        self.calls.insert(
            key,
            Call {
                id: id.clone(),
                log,
                a,
                b: None,
                ani: ext.to_string(),
                dnis: number.to_string(),
                mode: Mode::Outbound,
                started: now,
                connected: None,
                agent: agent.map(str::to_string),
                held: None,
                a_answer: None,
                caller_ext: Some(ext.to_string()),
                b_generation: 0,
                slice: Default::default(),
                extra,
                quota: super::quota::Quota::None,
            },
        );
        self.by_id.insert(id.clone(), key);
        self.by_media.insert(info.id, key);
        Ok((key, id))
    }

    // ----- callbacks ------------------------------------------------------------------------

    /// The callback call serving routing's request `request`, if one is up.
    pub(crate) fn callback_key(&self, request: &str) -> Option<u64> {
        let key = *self.by_id.get(request)?;
        self.calls
            .get(&key)
            .is_some_and(|c| {
                c.extra
                    .callback
                    .as_ref()
                    .is_some_and(|cb| cb.request == request)
            })
            .then_some(key)
    }

    /// Routing offers callback request `request` to `agent`: the agent's phone rings with the
    /// customer's screen pop; the customer is dialled once the agent answers (DialCallback).
    pub(crate) fn callback_offer(
        &mut self,
        now: Instant,
        request: &str,
        agent: &str,
        _deadline: Instant,
    ) {
        let ext = self.agent_extension(agent);
        let pending = self.deps.callbacks.get_mut(request);
        let (Some(ext), Some(pending)) = (ext, pending) else {
            self.routing(RoutingOp::NoAnswer(agent.to_string()));
            return;
        };
        pending.attempts += 1;
        let p = pending.clone();
        let id = format!("{request}-cb{}", p.attempts);
        let (key, id) = match self.new_outbound_call(
            now,
            Some(id),
            &ext,
            &p.number,
            Direction::Outbound,
            None,
            None,
        ) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "callback not started");
                self.routing(RoutingOp::NoAnswer(agent.to_string()));
                return;
            }
        };
        // Routing's decisions name the request.
        self.by_id.insert(request.to_string(), key);
        if let Some(c) = self.calls.get_mut(&key) {
            // What the caller proved on their call is not carried over: the pop shows a
            // claimed identity until the agent checks it.
            c.slice
                .set_customer(p.customer.clone(), super::slice::Proof::Claimed);
            c.extra.callback = Some(CallbackCall {
                request: request.to_string(),
                agent: agent.to_string(),
                number: p.number.clone(),
                own_verified: p.own_verified,
                stage: CallbackStage::Ringing,
            });
        }
        self.note(
            key,
            "callback",
            serde_json::json!({ "request": request, "attempt": p.attempts }),
        );
        let ring_secs = self.ring_timeout.as_secs() as u32;
        if let Some(pop) = self.screen_pop(now, key, &p.queue, ring_secs) {
            self.bus.notify(CallNotice::Offered {
                agent: agent.to_string(),
                pop: Box::new(pop),
            });
        }
        let _ = id;
        self.ring_extension_on(now, key, Side::B, &ext, Some(agent.to_string()));
    }

    /// Routing withdrew the callback offer (the reservation lapsed): stop ringing.
    pub(crate) fn callback_withdrawn(&mut self, now: Instant, key: u64) {
        let ringing = self.calls.get_mut(&key).and_then(|c| {
            let cb = c.extra.callback.as_mut()?;
            (cb.stage == CallbackStage::Ringing).then(|| cb.stage = CallbackStage::Withdrawn)
        });
        if ringing.is_some() {
            self.end_call(now, key, None, "offer withdrawn", None);
        }
    }

    /// Routing asks for the callback dial: the agent hears ringback while the customer's
    /// number is called through the dial plan (a trunk shows its caller ID).
    pub(crate) fn dial_callback(&mut self, now: Instant, key: u64) {
        let Some((number, own_verified)) = self.calls.get(&key).and_then(|c| {
            c.extra
                .callback
                .as_ref()
                .map(|cb| (cb.number.clone(), cb.own_verified))
        }) else {
            return;
        };
        // Checked again at dial time (the policy may have changed since the request).
        let target = match self.plan.callback_target(&number, own_verified) {
            Ok(t) => t,
            Err(why) => {
                tracing::warn!(call = key, reason = why.as_str(), "callback number refused");
                self.end_call(now, key, None, "callback number refused", None);
                return;
            }
        };
        if let (Some(m), Some(c)) = (&self.deps.media, self.calls.get_mut(&key)) {
            if let Some(b) = c.b.as_ref().and_then(|b| b.media) {
                let _ = m.play_tone(b, ToneSpec::ringback_eu());
            }
            c.extra.topology = Topology::Consult { talking: false };
        }
        match target {
            Target::Extension(e) => self.ring_extension_on(now, key, Side::A, &e, None),
            Target::Trunk { trunk, number } => {
                self.dial_trunk_on(now, key, Side::A, &trunk, &number)
            }
            _ => {}
        }
    }

    /// A callback call ends: routing hears what happened to its request (the agent missed the
    /// offer, the dial failed and may be retried, or the call completed). Returns false for
    /// other calls.
    pub(crate) fn callback_ended(&mut self, c: &mut Call, reason: &str) -> bool {
        let Some(cb) = c.extra.callback.take() else {
            return false;
        };
        self.by_id.remove(&cb.request);
        match cb.stage {
            CallbackStage::Ringing => self.routing(RoutingOp::NoAnswer(cb.agent.clone())),
            CallbackStage::Withdrawn => {}
            CallbackStage::AgentAnswered => {
                self.routing(RoutingOp::CallbackFailed(cb.request.clone()))
            }
            CallbackStage::Connected => {
                self.deps.callbacks.remove(&cb.request);
                self.routing(RoutingOp::Hangup(cb.request.clone()));
            }
        }
        self.bus.notify(CallNotice::Ended {
            call: c.id.clone(),
            agent: Some(cb.agent),
            reason: reason.to_string(),
        });
        true
    }

    // ----- agent: click-to-dial -------------------------------------------------------------

    /// Rings the agent's phone (auto-answer when configured) and, once it answers, dials
    /// `number` (an agent id, an extension or an outside number through the dial plan, with
    /// the trunk's caller ID).
    pub(crate) fn click_to_dial(
        &mut self,
        now: Instant,
        agent: &str,
        number: &str,
    ) -> Result<String, String> {
        let number = number.trim();
        let ext = self
            .agent_extension(agent)
            .ok_or("you have no phone extension")?;
        if self.reg.contacts(&ext, now).is_empty() {
            return Err(format!("your phone (extension {ext}) is not registered"));
        }
        if self
            .calls
            .values()
            .any(|c| c.agent.as_deref() == Some(agent))
        {
            return Err("you are already on a call".into());
        }
        let target = if let Some(e) = self.agent_extension(number) {
            Target::Extension(e)
        } else {
            match self.plan.resolve(number) {
                Ok(r) => match r.target {
                    t @ (Target::Extension(_) | Target::Trunk { .. }) => t,
                    _ => return Err(format!("{number} is a service number")),
                },
                Err(_) => return Err(format!("no route to {number}")),
            }
        };
        if let Target::Extension(e) = &target
            && e == &ext
        {
            return Err("that is your own phone".into());
        }
        let direction = match target {
            Target::Trunk { .. } => Direction::Outbound,
            _ => Direction::Internal,
        };
        let (key, id) = self.new_outbound_call(
            now,
            None,
            &ext,
            number,
            direction,
            Some(agent),
            Some(target),
        )?;
        self.bus.notify(CallNotice::Dialing {
            call: id.clone(),
            agent: agent.to_string(),
            peer: number.to_string(),
        });
        self.direct(key, agent, &id, true);
        self.ring_extension_on(now, key, Side::B, &ext, Some(agent.to_string()));
        Ok(id)
    }

    /// Click-to-dial: the agent's phone answered; ringback to the agent, dial the customer.
    pub(crate) fn dial_agent_answered(&mut self, now: Instant, key: u64) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(cb) = c.extra.callback.as_mut() {
            // A callback: routing hears the answer and asks for the dial (DialCallback).
            cb.stage = CallbackStage::AgentAnswered;
            let (request, agent) = (cb.request.clone(), cb.agent.clone());
            c.agent = Some(agent.clone());
            let id = c.id.clone();
            self.note(key, "callback_agent", serde_json::json!({ "agent": agent }));
            self.routing(RoutingOp::Answer(request, agent.clone()));
            self.bus.notify(CallNotice::Ringing { call: id, agent });
            return;
        }
        let Some(target) = c.extra.dial.take() else {
            return;
        };
        if let (Some(m), Some(b)) = (&self.deps.media, c.b.as_ref().and_then(|b| b.media)) {
            let _ = m.play_tone(b, ToneSpec::ringback_eu());
            // The agent hears ringback until the customer answers (plan: Consult-like tone).
        }
        c.extra.topology = Topology::Consult { talking: false };
        match target {
            Target::Extension(e) => self.ring_extension_on(now, key, Side::A, &e, None),
            Target::Trunk { trunk, number } => {
                self.dial_trunk_on(now, key, Side::A, &trunk, &number)
            }
            _ => self.end_call(now, key, None, "no route", None),
        }
    }

    // ----- supervisor: monitor, whisper, barge, take-over ---------------------------------------

    /// Joins `supervisor` to the agent's call in `mode` (their phone is rung), or switches the
    /// mode on the live call.
    pub(crate) fn monitor(
        &mut self,
        now: Instant,
        key: u64,
        supervisor: &str,
        mode: MonitorMode,
    ) -> Result<(), String> {
        self.agent_connected(key)?;
        let c = self.calls.get_mut(&key).ok_or("no such call")?;
        if c.agent.as_deref() == Some(supervisor) {
            return Err("this is your own call".into());
        }
        if let Some(s) = &mut c.extra.sup {
            if s.supervisor != supervisor {
                return Err(format!("the call is already monitored by {}", s.supervisor));
            }
            if s.mode == mode {
                return Ok(());
            }
            s.mode = mode;
            let answered = c.extra.s.as_ref().is_some_and(|l| l.answered);
            let id = c.id.clone();
            self.note(
                key,
                "monitor",
                serde_json::json!({ "supervisor": supervisor, "mode": mode }),
            );
            self.apply_media(key);
            if answered {
                self.bus.notify(CallNotice::Monitor {
                    call: id,
                    supervisor: supervisor.to_string(),
                    mode: Some(mode),
                });
            }
            return Ok(());
        }
        let ext = self
            .agent_extension(supervisor)
            .ok_or("you have no phone extension to listen on")?;
        if self.reg.contacts(&ext, now).is_empty() {
            return Err(format!("your phone (extension {ext}) is not registered"));
        }
        let c = self.calls.get_mut(&key).ok_or("no such call")?;
        c.extra.sup = Some(Supervision {
            supervisor: supervisor.to_string(),
            mode,
        });
        self.note(
            key,
            "monitor",
            serde_json::json!({ "supervisor": supervisor, "mode": mode }),
        );
        self.ring_extension_on(now, key, Side::S, &ext, Some(supervisor.to_string()));
        if self.calls.get(&key).is_none_or(|c| c.extra.s.is_none()) {
            return Err("your phone could not be called".into());
        }
        Ok(())
    }

    /// The supervisor leaves the call.
    pub(crate) fn stop_monitor(
        &mut self,
        now: Instant,
        key: u64,
        supervisor: &str,
    ) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        match &c.extra.sup {
            Some(s) if s.supervisor == supervisor => {}
            Some(_) => return Err("another supervisor is monitoring this call".into()),
            None => return Err("you are not monitoring this call".into()),
        }
        self.drop_leg(now, key, Side::S);
        self.leg_hung_up(now, key, Side::S, "stopped");
        Ok(())
    }

    /// The supervisor takes the call: their leg becomes the call's B leg, the agent's leg
    /// ends and the agent goes to wrap-up.
    pub(crate) fn take_over(
        &mut self,
        now: Instant,
        key: u64,
        supervisor: &str,
    ) -> Result<(), String> {
        let c = self.calls.get(&key).ok_or("no such call")?;
        match &c.extra.sup {
            Some(s) if s.supervisor == supervisor => {}
            _ => return Err("monitor the call first".into()),
        }
        if !c.extra.s.as_ref().is_some_and(|l| l.answered) {
            return Err("your phone has not answered yet".into());
        }
        if c.extra.c.is_some() {
            return Err("the agent is consulting; wait until the consultation ends".into());
        }
        self.hang_up_b(now, key);
        let Some(c) = self.calls.get_mut(&key) else {
            return Err("no such call".into());
        };
        let Some(s_leg) = c.extra.s.take() else {
            return Err("no supervisor leg".into());
        };
        c.extra.sup = None;
        c.extra.muted = false;
        if let Some(d) = &s_leg.dialog {
            self.by_dialog.insert(d.id.clone(), (key, Side::B));
        }
        c.b = Some(s_leg);
        let old_agent = c.agent.replace(supervisor.to_string());
        let id = c.id.clone();
        let ev = c.log.event(
            now_millis(),
            CallEventKind::Transferred {
                to: supervisor.to_string(),
            },
        );
        self.cdr.write(ev);
        self.note(
            key,
            "taken_over",
            serde_json::json!({ "supervisor": supervisor, "agent": old_agent }),
        );
        if let Some(a) = old_agent {
            self.slice_agent_released(now, key, &a);
            self.bus.notify(CallNotice::Ended {
                call: id.clone(),
                agent: Some(a),
                reason: "taken over".into(),
            });
        }
        self.bus.notify(CallNotice::Monitor {
            call: id.clone(),
            supervisor: supervisor.to_string(),
            mode: None,
        });
        self.bus.notify(CallNotice::Connected {
            call: id,
            agent: supervisor.to_string(),
        });
        self.apply_media(key);
        Ok(())
    }
}
