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

use crate::CallKey;
use std::net::SocketAddr;
use std::time::Instant;

use hotline_cti::{CallState, MonitorMode};
use hotline_media::{HearMatrix, MixerId, RecordingId, SessionId, ToneSpec};
use hotline_records::{CallEventKind, Direction};
use hotline_sip::{Dialog, Message, Method, StatusCode, Transport, TsxId, sdp};

use super::dialplan::Target;
use super::{Call, Core, Leg, LegState, LegTarget, Legs, Mode, Role, failure_reason, sdp_of};
use crate::messages::{CallError, CallNotice};
use crate::service::{RoutingOp, RoutingRefusal};

/// Party positions in a mixer: the caller, the agent, then the conference's third party (if
/// any), then the supervisor (if any).
const CALLER: usize = 0;
const AGENT: usize = 1;

/// How the media engine connects a call's legs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Topology {
    /// Nothing set up by us (ringing, IVR, queue music: the service role owns the caller).
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
    pub(crate) sup: Option<Supervision>,
    /// The agent's consultation (and the conference it may become), if any.
    pub(crate) consult: Option<Consultation>,
    /// The agent's microphone is muted toward the caller (and the conference).
    pub(crate) muted: bool,
    pub(crate) mixer: Option<MixerId>,
    pub(crate) topology: Topology,
    /// Click-to-dial: the customer's media session's local address (for our offer).
    pub(crate) a_local: Option<SocketAddr>,
    /// Click-to-dial: whom to dial once the agent answers.
    pub(crate) dial: Option<Target>,
    /// A recording to play to the agent's phone once it answers (the call ends after it).
    pub(crate) playback: Option<std::path::PathBuf>,
    /// The call recording in progress (`[media] record_calls`).
    pub(crate) recording: Option<CallRecording>,
    /// Recording paused (card entry); also applies to the next segment.
    pub(crate) recording_paused: bool,
    /// Recording segments started so far.
    pub(crate) segments: u32,
    /// A callback: the request it serves and how far it got.
    pub(crate) callback: Option<CallbackCall>,
    /// Agents this call keeps busy in routing as a direct call: (agent, the call id routing
    /// knows it by).
    pub(crate) direct: Vec<(String, String)>,
    /// The agent whose own phone an internal call rings: their desktop follows the call.
    pub(crate) colleague_rung: Option<String>,
    /// The agent whose own desk phone placed an internal call (no desktop dialled it): their
    /// desktop follows the call too.
    pub(crate) colleague_calling: Option<String>,
}

impl Extra {
    /// Agents whose desktops follow an internal call without owning it.
    pub(crate) fn colleagues(&self) -> impl Iterator<Item = &String> {
        self.colleague_rung.iter().chain(&self.colleague_calling)
    }
}

/// An agent's consultation on the call, from the agent's request until it ends or its party
/// takes the call over (transfer, the agent leaving a conference).
#[derive(Debug, Clone)]
pub(crate) struct Consultation {
    /// Its call id on the agent's desktop (`<call>-consult<n>`).
    pub(crate) id: String,
    /// The target as the agent typed it.
    pub(crate) to: String,
    /// The queue it waits in when the agent consulted a queue (routing picks the agent).
    pub(crate) queue: Option<String>,
    /// The agent being rung for, or talking on, the consultation leg.
    pub(crate) agent: Option<String>,
    pub(crate) stage: ConsultStage,
}

/// Who hears whom in a consultation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsultStage {
    /// The agent and the consulted party (once answered) talk; the caller hears hold music.
    Private,
    /// Caller, agent and consulted party talk together.
    Conference,
}

impl Extra {
    /// The consultation became a three-way conference.
    pub(crate) fn in_conference(&self) -> bool {
        self.consult
            .as_ref()
            .is_some_and(|x| x.stage == ConsultStage::Conference)
    }

    /// The queue the consultation waits in, if it went to a queue.
    pub(crate) fn consult_queue(&self) -> Option<&str> {
        self.consult.as_ref().and_then(|x| x.queue.as_deref())
    }

    /// The agent rung for, or talking on, the consultation.
    pub(crate) fn consulted(&self) -> Option<&str> {
        self.consult.as_ref().and_then(|x| x.agent.as_deref())
    }
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
    pub(crate) customer: Option<hotline_records::CustomerView>,
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

/// The callback role of a call.
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
    let (Some(a), Some(b)) = (
        c.legs.caller.media.filter(|_| c.legs.caller.answered()),
        answered_media(&c.legs.callee),
    ) else {
        return Vec::new();
    };
    let mut legs = vec![a, b];
    let third = answered_media(&c.legs.supervisor)
        .filter(|_| c.extra.sup.is_some())
        .or_else(|| answered_media(&c.legs.consulted).filter(|_| c.extra.in_conference()));
    legs.extend(third);
    legs
}

impl Call {
    /// Leg `role` of the call, if it has one.
    pub(crate) fn leg(&self, role: Role) -> Option<&Leg> {
        self.legs.get(role)
    }

    /// Leg `role` of the call, if it has one.
    pub(crate) fn leg_mut(&mut self, role: Role) -> Option<&mut Leg> {
        self.legs.get_mut(role)
    }
}

/// The one hang-up path, for any leg in or out of its call: CANCEL for our INVITE still
/// ringing; for the caller's INVITE not answered yet, a final response (`refusal`: code and
/// reason phrase, else 480); BYE on a confirmed dialog; nothing for a leg already released.
/// A confirmed leg keeps its dialog, for [`Core::forget_leg`] to unmap.
pub(crate) fn hang_up(
    ep: &mut hotline_sip::Endpoint,
    now: Instant,
    leg: &mut Leg,
    refusal: Option<(StatusCode, &str)>,
) {
    if let Some(tsx) = leg.take_invite_tsx() {
        if leg.outgoing {
            let _ = ep.cancel(now, tsx);
        } else {
            let (code, reason) = refusal.unwrap_or((StatusCode::TEMPORARILY_UNAVAILABLE, "gone"));
            let r = super::with_reason(leg.invite_req.make_response(code, Some(&leg.tag)), reason);
            let _ = ep.respond(now, tsx, r);
        }
    } else if let Some(d) = leg.dialog_mut()
        && let Ok(bye) = d.request(Method::Bye)
    {
        let _ = ep.send_request(now, bye, leg.dst, leg.transport);
    }
}

fn answered_media(l: &Option<Leg>) -> Option<SessionId> {
    l.as_ref().filter(|l| l.answered()).and_then(|l| l.media)
}

/// What everyone should hear, from the call's state alone.
pub(crate) fn plan(c: &Call) -> Topology {
    let (Some(a), Some(b)) = (
        c.legs.caller.media.filter(|_| c.legs.caller.answered()),
        answered_media(&c.legs.callee),
    ) else {
        return Topology::Idle;
    };
    let x = answered_media(&c.legs.consulted);
    if c.legs.consulted.is_some() && !c.extra.in_conference() {
        return Topology::Consult {
            talking: x.is_some(),
        };
    }
    if c.talk.held_since().is_some() {
        return Topology::Hold;
    }
    let third = x.filter(|_| c.extra.in_conference());
    let sup = answered_media(&c.legs.supervisor).zip(c.extra.sup.as_ref().map(|s| s.mode));
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
    pub(crate) fn apply_media(&mut self, key: CallKey) {
        self.apply_topology(key);
        self.update_recording(key);
    }

    /// Starts, restarts (a new segment with the new set of legs) or stops the call recording.
    pub(crate) fn update_recording(&mut self, key: CallKey) {
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
    pub(crate) fn pause_call_recording(&mut self, key: CallKey, pause: bool) {
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

    fn apply_topology(&mut self, key: CallKey) {
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
        let (a, b) = (
            c.legs.caller.media,
            c.legs.callee.as_ref().and_then(|l| l.media),
        );
        let x = c.legs.consulted.as_ref().and_then(|l| l.media);
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
    pub(crate) fn extra_role_of(&self, key: CallKey, session: SessionId) -> Option<Role> {
        let c = self.calls.get(&key)?;
        if c.legs.supervisor.as_ref().and_then(|l| l.media) == Some(session) {
            Some(Role::Supervisor)
        } else if c.legs.consulted.as_ref().and_then(|l| l.media) == Some(session) {
            Some(Role::Consulted)
        } else {
            None
        }
    }

    /// The one release path: frees what the core holds for a leg that leaves (its dialog's
    /// entry in `by_dialog`, its media session). The leg's signalling is ended first by
    /// [`hang_up`], or was ended by the far end.
    pub(crate) fn forget_leg(&mut self, leg: &Leg) {
        if let Some(d) = leg.dialog() {
            self.by_dialog.remove(&d.id);
        }
        if let Some(sid) = leg.media {
            self.by_media.remove(&sid);
            if let Some(m) = &self.deps.media {
                let _ = m.destroy(sid);
            }
        }
    }

    /// Takes leg `role` out of call `key` (its quality written to the call record first) and
    /// releases it. The caller's leg is not taken: it leaves with its call ([`Core::end_call`]).
    pub(crate) fn take_leg(&mut self, key: CallKey, role: Role) -> Option<Leg> {
        self.record_quality(key, role);
        let leg = self.calls.get_mut(&key)?.legs.take(role)?;
        self.forget_leg(&leg);
        Some(leg)
    }

    /// Ends leg `role` of call `key` from our side ([`hang_up`]) and releases it; the call
    /// goes on. Only the leg: [`Core::leg_hung_up`] does the supervisor's and consultation's
    /// bookkeeping, [`Core::drop_b`] the callee's.
    pub(crate) fn drop_leg(&mut self, now: Instant, key: CallKey, role: Role) {
        if let Some(mut leg) = self.take_leg(key, role) {
            hang_up(&mut self.ep, now, &mut leg, None);
        }
    }

    /// Ends the callee's leg from our side (nothing when the phone hung up itself) and drops
    /// it ([`Core::drop_b`]); the call goes on.
    pub(crate) fn hang_up_b(&mut self, now: Instant, key: CallKey) {
        if let Some(b) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.legs.callee.as_mut())
        {
            hang_up(&mut self.ep, now, b, None);
        }
        self.drop_b(now, key);
    }

    /// Leg S or C is gone (hung up, failed, dropped): update the call, its media and the
    /// desktops.
    pub(crate) fn leg_hung_up(&mut self, now: Instant, key: CallKey, role: Role, reason: &str) {
        let answered = self
            .calls
            .get(&key)
            .and_then(|c| c.leg(role))
            .is_some_and(|l| l.answered());
        let _ = self.take_leg(key, role);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let (id, agent) = (c.id.clone(), c.agent.clone().unwrap_or_default());
        match role {
            Role::Supervisor => {
                let Some(sup) = c.extra.sup.take() else {
                    return;
                };
                self.note(
                    key,
                    "monitor_ended",
                    serde_json::json!({ "supervisor": sup.supervisor, "reason": reason }),
                );
                self.apply_media(key);
                self.out.notify(CallNotice::Monitor {
                    call: id,
                    supervisor: sup.supervisor,
                    mode: None,
                });
            }
            Role::Consulted => {
                let Some(x) = c.extra.consult.take() else {
                    return;
                };
                let (consult, queue, consulted) = (x.id, x.queue, x.agent);
                if queue.is_some() && (consulted.is_none() || !answered) {
                    // Still waiting in the queue, or ringing the agent routing reserved: it
                    // leaves (the agent is ready again).
                    self.out.routing(RoutingOp::Abandon {
                        call: hotline_acd::CallId::new(consult.clone()),
                    });
                }
                if let Some(a) = consulted {
                    if answered {
                        self.direct(key, &a, &id, false);
                    } else {
                        self.direct_missed(key, &a, &id);
                    }
                    self.out.notify(CallNotice::Ended {
                        call: id.clone(),
                        agent: Some(a),
                        reason: reason.to_string(),
                    });
                }
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                self.by_id.remove(&consult);
                let was_conference = x.stage == ConsultStage::Conference;
                let muted = c.extra.muted;
                self.note(
                    key,
                    "consult_ended",
                    serde_json::json!({ "reason": reason }),
                );
                self.apply_media(key);
                self.out.notify(CallNotice::Consult {
                    call: id.clone(),
                    consult,
                    agent: agent.clone(),
                    state: CallState::Ended,
                    reason: Some(reason.to_string()),
                    peer: None,
                    colleague: None,
                });
                if was_conference {
                    self.out.notify(CallNotice::Flags {
                        call: id,
                        agent,
                        muted,
                        conference: false,
                    });
                } else {
                    self.out.notify(CallNotice::Resumed { call: id, agent });
                }
            }
            Role::Caller | Role::Callee => {}
        }
        let _ = now;
    }

    /// A leg we placed could not be set up (not registered, busy, no answer, rejected).
    pub(crate) fn leg_failed(&mut self, now: Instant, key: CallKey, role: Role, reason: &str) {
        let routed = self
            .calls
            .get(&key)
            .is_some_and(|c| c.extra.consult_queue().is_some());
        if role == Role::Consulted && routed {
            // The agent routing picked did not answer: the consultation goes back to the head
            // of the queue and routing offers it again.
            let _ = self.take_leg(key, Role::Consulted);
            if let Some((id, agent)) = self.calls.get_mut(&key).and_then(|c| {
                let a = c.extra.consult.as_mut()?.agent.take()?;
                Some((c.id.clone(), a))
            }) {
                self.out.routing(RoutingOp::NoAnswer {
                    agent: hotline_acd::AgentId::new(agent.clone()),
                });
                self.out.notify(CallNotice::Ended {
                    call: id,
                    agent: Some(agent),
                    reason: reason.to_string(),
                });
            }
            self.apply_media(key);
            return;
        }
        match role {
            Role::Caller => self.end_call(now, key, None, reason, None),
            Role::Callee => {}
            Role::Supervisor | Role::Consulted => self.leg_hung_up(now, key, role, reason),
        }
    }

    pub(crate) fn leg_ring_timeout(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        generation: u32,
    ) {
        let tsx = {
            let Some(c) = self.calls.get_mut(&key) else {
                return;
            };
            let Some(leg) = c.leg_mut(role) else { return };
            if leg.generation != generation || leg.answered() || !leg.outgoing {
                return;
            }
            leg.take_invite_tsx()
        };
        if let Some(tsx) = tsx {
            let _ = self.ep.cancel(now, tsx);
        }
        self.leg_failed(now, key, role, "no answer");
    }

    /// A response to the INVITE of leg S, C or (click-to-dial) A.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_leg_invite_response(
        &mut self,
        now: Instant,
        key: CallKey,
        tsx: TsxId,
        role: Role,
        generation: u32,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        let stale = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.leg_mut(role))
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
                self.leg_ringing(key, role);
            }
            return;
        }
        self.by_tsx.remove(&tsx);
        if code.is_success() {
            let media = self.deps.media.clone();
            let Some(peer) = self
                .calls
                .get(&key)
                .and_then(|c| c.leg(role))
                .map(|l| self.media_peer(l.dst))
            else {
                return;
            };
            let Some(c) = self.calls.get_mut(&key) else {
                return;
            };
            let Some(leg) = c.leg_mut(role) else { return };
            leg.state = LegState::Released;
            let dialog = match Dialog::uac(&leg.invite_req, &resp) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "2xx without a usable dialog");
                    self.ack_and_bye(now, tsx, &resp);
                    self.leg_failed(now, key, role, "rejected");
                    return;
                }
            };
            let seq = leg.invite_req.cseq().map(|s| s.seq).unwrap_or(1);
            let _ = self.ep.ack_2xx(tsx, dialog.ack(seq), leg.dst);
            self.by_dialog.insert(dialog.id.clone(), (key, role));
            if let (Some(m), Some(ours), Some(theirs)) = (&media, &leg.our_sdp, sdp_of(&resp))
                && let Ok(neg) = sdp::negotiated_from_answer(ours, &theirs)
                && let (Some(remote), Some(sid)) = (neg.remote, leg.media)
            {
                let params = peer.params(remote, &neg);
                let _ = m.set_remote(sid, params.clone());
                leg.remote = Some(params);
            }
            leg.state = LegState::Answered { dialog };
            self.leg_answered(key, role);
            return;
        }
        if matches!(code.0, 401 | 407) && self.retry_with_credentials(now, key, role, tsx, &resp) {
            return;
        }
        if let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(role)) {
            leg.state = LegState::Released;
        }
        self.leg_failed(now, key, role, failure_reason(code));
    }

    fn leg_ringing(&mut self, key: CallKey, role: Role) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let agent = c.agent.clone().unwrap_or_default();
        match role {
            Role::Consulted if c.extra.consult.is_some() => {
                if let Some(consulted) = c.extra.consulted() {
                    self.out.notify(CallNotice::Ringing {
                        call: c.id.clone(),
                        agent: consulted.to_string(),
                        remote_answer: false,
                    });
                }
                self.out.notify(CallNotice::Consult {
                    call: c.id.clone(),
                    consult: c
                        .extra
                        .consult
                        .as_ref()
                        .map(|x| x.id.clone())
                        .unwrap_or_default(),
                    agent,
                    state: CallState::Ringing,
                    reason: None,
                    peer: None,
                    colleague: c.extra.consulted().map(|a| self.colleague(a)),
                })
            }
            Role::Caller if c.mode == Mode::Outbound => self.out.notify(CallNotice::Ringing {
                call: c.id.clone(),
                agent,
                remote_answer: false,
            }),
            _ => {}
        }
    }

    fn leg_answered(&mut self, key: CallKey, role: Role) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let (id, agent) = (c.id.clone(), c.agent.clone().unwrap_or_default());
        match role {
            Role::Supervisor => {
                let Some(sup) = c.extra.sup.clone() else {
                    return;
                };
                self.apply_media(key);
                self.out.notify(CallNotice::Monitor {
                    call: id,
                    supervisor: sup.supervisor,
                    mode: Some(sup.mode),
                });
            }
            Role::Consulted => {
                let consult = c
                    .extra
                    .consult
                    .as_ref()
                    .map(|x| x.id.clone())
                    .unwrap_or_default();
                let routed = c.extra.consult_queue().is_some();
                if let Some(consulted) = c.extra.consulted().map(str::to_string) {
                    if routed {
                        // Answered through the queue: from now on the consulted agent is on
                        // the caller's call, outside the queues.
                        self.out.routing(RoutingOp::Answer {
                            call: hotline_acd::CallId::new(consult.clone()),
                            agent: hotline_acd::AgentId::new(consulted.clone()),
                        });
                        self.out.routing(RoutingOp::ContinueDirect {
                            call: hotline_acd::CallId::new(consult.clone()),
                            direct: hotline_acd::CallId::new(id.clone()),
                        });
                        if let Some(c) = self.calls.get_mut(&key) {
                            c.extra.direct.push((consulted.clone(), id.clone()));
                        }
                    } else {
                        self.direct(key, &consulted, &id, true);
                    }
                    self.out.notify(CallNotice::Connected {
                        call: id.clone(),
                        agent: consulted,
                    });
                }
                self.apply_media(key);
                self.out.notify(CallNotice::Consult {
                    call: id,
                    consult,
                    agent,
                    state: CallState::Connected,
                    reason: None,
                    peer: None,
                    colleague: None,
                });
            }
            Role::Caller => {
                // Click-to-dial or a callback: the customer answered.
                c.talk = crate::Talk::Connected;
                if let Some(cb) = c.extra.callback.as_mut() {
                    cb.stage = CallbackStage::Connected;
                    let request = cb.request.clone();
                    self.out.routing(RoutingOp::CallbackConnected {
                        call: hotline_acd::CallId::new(request),
                    });
                }
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                let ev = c.log.event(
                    self.wall_ms,
                    CallEventKind::Answered {
                        agent_id: agent.clone(),
                    },
                );
                self.out.record(ev);
                self.apply_media(key);
                self.out.notify(CallNotice::Connected { call: id, agent });
                self.colleague_answered(key);
            }
            Role::Callee => {}
        }
    }

    // ----- guards used by hold and transfer -------------------------------------------------

    pub(crate) fn hold_allowed(&self, key: CallKey) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        if c.extra.in_conference() {
            return Err("a conference cannot be put on hold".into());
        }
        if c.legs.consulted.is_some() {
            return Err("the caller is already waiting during the consultation".into());
        }
        Ok(())
    }

    pub(crate) fn transfer_allowed(&self, key: CallKey) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        if !c.legs.caller.answered() {
            // A click-to-dial or callback call whose customer is still being dialled.
            return Err("the other party has not answered yet".into());
        }
        if c.extra.consult.is_some() {
            return Err(
                "a consultation is in progress: complete the transfer or cancel it first".into(),
            );
        }
        Ok(())
    }

    /// The agent whose phone is extension `ext`, if any.
    pub(crate) fn agent_of_extension(&self, ext: &str) -> Option<String> {
        self.deps
            .agents
            .iter()
            .find(|(_, e)| e.as_str() == ext)
            .map(|(a, _)| a.clone())
    }

    /// Whether `agent` answered one of the call's legs (the phone the switch rang for them, by
    /// agent or by extension), or is its agent.
    pub(crate) fn agent_answered_on(&self, c: &Call, agent: &str) -> bool {
        let ext = self.deps.agents.get(agent);
        let theirs = |l: &Leg| match &l.target {
            LegTarget::Agent { agent: a, .. } => a == agent,
            LegTarget::Extension(e) => ext == Some(e),
            _ => false,
        };
        c.agent.as_deref() == Some(agent)
            || [c.legs.callee.as_ref(), c.legs.consulted.as_ref()]
                .into_iter()
                .flatten()
                .any(|l| l.answered() && theirs(l))
            || (c.extra.consulted() == Some(agent)
                && c.legs.consulted.as_ref().is_some_and(|l| l.answered()))
    }

    /// Whether call control has `agent` busy: talking, rung for a call (queue offer,
    /// consultation, callback, transfer), or on a call the queues did not route.
    pub(crate) fn agent_engaged(&self, agent: &str) -> bool {
        let rung = |l: &Option<Leg>| {
            l.as_ref().is_some_and(
                |l| matches!(&l.target, LegTarget::Agent { agent: a, .. } if a == agent),
            )
        };
        self.calls.values().any(|c| {
            c.agent.as_deref() == Some(agent)
                || c.service.offered() == Some(agent)
                || c.extra.consulted() == Some(agent)
                || c.extra.direct.iter().any(|(a, _)| a == agent)
                || c.extra
                    .callback
                    .as_ref()
                    .is_some_and(|cb| cb.agent == agent)
                || rung(&c.legs.callee)
                || rung(&c.legs.consulted)
        })
    }

    /// An agent's phone is not rung for a consultation or transfer while the agent is busy
    /// (an agent takes one call at a time; routing would not offer them one either).
    pub(crate) fn extension_free(&self, ext: &str) -> Result<(), CallError> {
        match self.agent_of_extension(ext) {
            Some(agent) if self.agent_engaged(&agent) => {
                Err(CallError::TargetUnavailable(format!("{agent} is busy")))
            }
            _ => Ok(()),
        }
    }

    /// Routing refused `op`. An agent it has busy with a call (reserved for one meanwhile,
    /// or on one) is taken off the consultation or transfer that rang them; an agent routing
    /// does not know or has logged out is just a phone and keeps ringing. Anything else is
    /// logged, loudly, since call control and routing disagree.
    pub(crate) fn routing_refused(&mut self, now: Instant, op: RoutingOp, error: &RoutingRefusal) {
        let busy = matches!(
            error,
            RoutingRefusal::Acd(hotline_acd::AcdError::InvalidAgentState { state, .. })
                if *state == "reserved" || *state == "on call"
        );
        if busy {
            tracing::info!(op = ?op, reason = %error, "routing has the agent busy");
        } else {
            tracing::warn!(op = ?op, reason = %error, "routing refused a command");
        }
        let RoutingOp::DirectStarted { agent, call } = op else {
            return;
        };
        if !busy {
            return;
        }
        let entry = (agent.0, call.0);
        let agent = entry.0.clone();
        let Some(key) = self
            .calls
            .iter()
            .find(|(_, c)| c.extra.direct.contains(&entry))
            .map(|(k, _)| *k)
        else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&key) {
            c.extra.direct.retain(|e| *e != entry);
        }
        let consulted = self
            .calls
            .get(&key)
            .is_some_and(|c| c.extra.consulted() == Some(agent.as_str()));
        if consulted {
            self.drop_leg(now, key, Role::Consulted);
            self.leg_hung_up(now, key, Role::Consulted, "busy");
            return;
        }
        // A blind transfer ringing the agent's phone: the agent cannot take it (logged out,
        // reserved meanwhile). Nobody is left to take the caller back.
        let ringing_b = self.calls.get(&key).is_some_and(|c| {
            c.legs.callee.as_ref().is_some_and(|b| {
                !b.answered()
                    && matches!(&b.target, LegTarget::Extension(e)
                        if self.agent_of_extension(e).as_deref() == Some(agent.as_str()))
            })
        });
        if ringing_b {
            self.end_call(
                now,
                key,
                None,
                "transfer target busy",
                Some(hotline_sip::StatusCode::BUSY_HERE),
            );
        }
    }

    /// Ends what a call that is ending has besides its legs: mixer, recording, routing's direct
    /// calls, monitoring and consultation (`c` is already out of `calls`).
    pub(crate) fn end_extras(&mut self, c: &mut Call) {
        let consult_answered = c.legs.consulted.as_ref().is_some_and(|l| l.answered());
        // Which agents on a direct call of this one never answered (rung by a consultation
        // or a transfer): routing puts them back without wrap-up.
        let unanswered: Vec<String> = c
            .extra
            .direct
            .iter()
            .filter(|(a, _)| !self.agent_answered_on(c, a))
            .map(|(a, _)| a.clone())
            .collect();
        if let (Some(id), Some(m)) = (c.extra.mixer.take(), &self.deps.media) {
            let _ = m.destroy_mixer(id);
        }
        if let (Some(r), Some(m)) = (c.extra.recording.take(), &self.deps.media) {
            let _ = m.stop_recording(r.id);
        }
        for (agent, routing_id) in std::mem::take(&mut c.extra.direct) {
            if unanswered.contains(&agent) {
                self.out.routing(RoutingOp::DirectMissed {
                    agent: hotline_acd::AgentId::new(agent),
                    call: hotline_acd::CallId::new(routing_id),
                });
            } else {
                self.out.routing(RoutingOp::DirectEnded {
                    agent: hotline_acd::AgentId::new(agent),
                    call: hotline_acd::CallId::new(routing_id),
                });
            }
        }
        if let Some(sup) = c.extra.sup.take() {
            self.out.notify(CallNotice::Monitor {
                call: c.id.clone(),
                supervisor: sup.supervisor,
                mode: None,
            });
        }
        if let Some(x) = c.extra.consult.take() {
            let consult = x.id;
            self.by_id.remove(&consult);
            let consulted = x.agent;
            // Still waiting in its queue, or ringing the agent routing picked: routing ends
            // it (an agent it reserved is ready again).
            if x.queue.is_some() && (consulted.is_none() || !consult_answered) {
                self.out.routing(RoutingOp::Abandon {
                    call: hotline_acd::CallId::new(consult.clone()),
                });
            }
            if let Some(a) = consulted {
                self.out.notify(CallNotice::Ended {
                    call: c.id.clone(),
                    agent: Some(a),
                    reason: "call ended".into(),
                });
            }
            if let Some(agent) = c.agent.clone() {
                self.out.notify(CallNotice::Consult {
                    call: c.id.clone(),
                    consult,
                    agent,
                    state: CallState::Ended,
                    reason: Some("call ended".into()),
                    peer: None,
                    colleague: None,
                });
            }
        }
    }

    /// Tells routing that `agent` is on (or off) a call it did not route, so it offers them
    /// nothing meanwhile and wraps them up after.
    /// A direct call that rang `agent` ended before they answered: routing puts them back
    /// as they were (no wrap-up).
    pub(crate) fn direct_missed(&mut self, key: CallKey, agent: &str, routing_id: &str) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let entry = (agent.to_string(), routing_id.to_string());
        if let Some(i) = c.extra.direct.iter().position(|e| *e == entry) {
            c.extra.direct.remove(i);
            self.out.routing(RoutingOp::DirectMissed {
                agent: hotline_acd::AgentId::new(agent.to_string()),
                call: hotline_acd::CallId::new(routing_id.to_string()),
            });
        }
    }

    pub(crate) fn direct(&mut self, key: CallKey, agent: &str, routing_id: &str, on: bool) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let entry = (agent.to_string(), routing_id.to_string());
        if on {
            if c.extra.direct.contains(&entry) {
                return;
            }
            c.extra.direct.push(entry);
            self.out.routing(RoutingOp::DirectStarted {
                agent: hotline_acd::AgentId::new(agent.to_string()),
                call: hotline_acd::CallId::new(routing_id.to_string()),
            });
        } else if let Some(i) = c.extra.direct.iter().position(|e| *e == entry) {
            c.extra.direct.remove(i);
            self.out.routing(RoutingOp::DirectEnded {
                agent: hotline_acd::AgentId::new(agent.to_string()),
                call: hotline_acd::CallId::new(routing_id.to_string()),
            });
        }
    }

    fn note(&mut self, key: CallKey, what: &str, detail: serde_json::Value) {
        if let Some(c) = self.calls.get_mut(&key) {
            let ev = c.log.event(
                self.wall_ms,
                CallEventKind::Note {
                    what: what.into(),
                    detail,
                },
            );
            self.out.record(ev);
        }
    }

    fn flags(&mut self, key: CallKey) {
        if let Some(c) = self.calls.get(&key)
            && let Some(agent) = &c.agent
        {
            self.out.notify(CallNotice::Flags {
                call: c.id.clone(),
                agent: agent.clone(),
                muted: c.extra.muted,
                conference: c.extra.in_conference(),
            });
        }
    }

    fn agent_connected(&self, key: CallKey) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        if !c.talk.connected() || !c.legs.callee.as_ref().is_some_and(|b| b.answered()) {
            return Err("the call is not connected".into());
        }
        Ok(())
    }

    // ----- agent: mute ----------------------------------------------------------------------

    /// Mutes or unmutes the agent toward the caller (and the conference). The media engine
    /// mixes the call with a matrix in which nobody but a supervisor hears the agent.
    pub(crate) fn mute(&mut self, _now: Instant, key: CallKey, on: bool) -> Result<(), CallError> {
        self.agent_connected(key)?;
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
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
        key: CallKey,
        target: &str,
    ) -> Result<String, CallError> {
        self.agent_connected(key)?;
        {
            let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
            if c.extra.consult.is_some() {
                return Err("a consultation is already in progress".into());
            }
            if c.talk.held_since().is_some() {
                return Err(
                    "resume the call first: the consultation puts the caller on hold".into(),
                );
            }
        }
        let target = target.trim();
        let resolved = if let Some(ext) = self.agent_extension(target) {
            (Target::Extension(ext), Some(target.to_string()))
        } else if self.deps.is_queue(target) {
            if !self.deps.routing {
                return Err(CallError::Unsupported(
                    "routing is not running: no queue can be consulted".into(),
                ));
            }
            (Target::Queue(target.to_string()), None)
        } else {
            match self.plan.resolve(target) {
                Ok(r) => match r.target {
                    t @ (Target::Extension(_) | Target::Trunk { .. }) => (t, None),
                    _ => return Err(format!("{target} is a service number, not a person").into()),
                },
                Err(_) => return Err(CallError::UnknownTarget(format!("no route to {target}"))),
            }
        };
        if let (Target::Extension(ext), _) = &resolved
            && self.reg.contacts(ext, now).is_empty()
        {
            return Err(CallError::TargetUnavailable(format!(
                "{target} is not reachable (no phone registered)"
            )));
        }
        if let (Target::Extension(ext), _) = &resolved {
            self.extension_free(ext)?;
        }
        // An agent's extension dialled by number is that agent.
        let resolved = match resolved {
            (Target::Extension(ext), None) => {
                let agent = self.agent_of_extension(&ext);
                (Target::Extension(ext), agent)
            }
            r => r,
        };
        let (id, agent) = {
            let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
            let consult = Consultation {
                id: format!("{}-consult{}", c.id, c.b_generation + 1),
                to: target.to_string(),
                queue: None,
                agent: None,
                stage: ConsultStage::Private,
            };
            c.extra.consult = Some(consult);
            (c.id.clone(), c.agent.clone().unwrap_or_default())
        };
        let consult = self.calls[&key]
            .extra
            .consult
            .as_ref()
            .map(|x| x.id.clone())
            .unwrap_or_default();
        self.by_id.insert(consult.clone(), key);
        self.note(key, "consult", serde_json::json!({ "to": target }));
        match resolved {
            (Target::Queue(queue), _) => {
                // Routing picks an agent; its offer comes back through `consult_offer`.
                let Some(c) = self.calls.get_mut(&key) else {
                    return Err(CallError::gone());
                };
                if let Some(x) = c.extra.consult.as_mut() {
                    x.queue = Some(queue.clone());
                }
                let priority = c.service.priority();
                self.out.routing(RoutingOp::Enqueue {
                    call: hotline_acd::CallId::new(consult.clone()),
                    queue: hotline_acd::QueueId::new(queue),
                    priority,
                });
            }
            (Target::Extension(ext), Some(agent_id)) => {
                self.consult_pop(now, key, &agent_id, "");
                if let Some(x) = self
                    .calls
                    .get_mut(&key)
                    .and_then(|c| c.extra.consult.as_mut())
                {
                    x.agent = Some(agent_id.clone());
                }
                // Routing hears now, while the phone rings, so that it offers the agent
                // nothing else meanwhile (and says so if it has them busy).
                self.direct(key, &agent_id, &id, true);
                self.ring_extension_on(now, key, Role::Consulted, &ext, Some(agent_id))
            }
            (Target::Extension(ext), None) => {
                self.ring_extension_on(now, key, Role::Consulted, &ext, None)
            }
            (Target::Trunk { trunk, number }, _) => {
                self.dial_trunk_on(now, key, Role::Consulted, &trunk, &number)
            }
            _ => {}
        }
        if self
            .calls
            .get(&key)
            .is_none_or(|c| c.legs.consulted.is_none() && c.extra.consult_queue().is_none())
        {
            // Nothing rings and nothing waits: there is no consultation.
            if let Some(x) = self
                .calls
                .get_mut(&key)
                .and_then(|c| c.extra.consult.take())
            {
                self.by_id.remove(&x.id);
                if let Some(a) = x.agent {
                    self.direct_missed(key, &a, &id);
                }
            }
            return Err(CallError::TargetUnavailable(format!(
                "{target} could not be called"
            )));
        }
        self.apply_media(key);
        self.out.notify(CallNotice::Held {
            call: id.clone(),
            agent: agent.clone(),
        });
        let colleague = self
            .calls
            .get(&key)
            .and_then(|c| c.extra.consulted())
            .map(|a| self.colleague(a));
        self.out.notify(CallNotice::Consult {
            call: id,
            consult: consult.clone(),
            agent,
            state: CallState::Dialing,
            reason: None,
            peer: Some(target.to_string()),
            colleague,
        });
        Ok(consult)
    }

    /// Hangs up the consultation (ringing or talking) and brings the agent back to the caller.
    pub(crate) fn cancel_consult(&mut self, now: Instant, key: CallKey) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        if c.legs.consulted.is_none() {
            return Err("there is no consultation".into());
        }
        self.drop_leg(now, key, Role::Consulted);
        self.leg_hung_up(now, key, Role::Consulted, "cancelled");
        Ok(())
    }

    /// The consulted party takes the caller; the agent's leg ends.
    pub(crate) fn complete_transfer(
        &mut self,
        now: Instant,
        key: CallKey,
    ) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        if !c.legs.consulted.as_ref().is_some_and(|l| l.answered()) {
            return Err("the consulted party has not answered yet".into());
        }
        self.hand_over_to_third_party(now, key, "transferred");
        Ok(())
    }

    /// Joins caller, agent and the consulted party in a three-way conference.
    pub(crate) fn conference(&mut self, _now: Instant, key: CallKey) -> Result<(), CallError> {
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
        if !c.legs.consulted.as_ref().is_some_and(|l| l.answered()) {
            return Err("consult the third party first; they have not answered yet".into());
        }
        let Some(x) = c.extra.consult.as_mut() else {
            return Err("consult the third party first".into());
        };
        if x.stage == ConsultStage::Conference {
            return Err("the call is already a conference".into());
        }
        x.stage = ConsultStage::Conference;
        let consult = x.id.clone();
        let (id, agent) = (c.id.clone(), c.agent.clone().unwrap_or_default());
        self.note(key, "conference", serde_json::json!({}));
        self.apply_media(key);
        self.flags(key);
        self.out.notify(CallNotice::Resumed {
            call: id.clone(),
            agent: agent.clone(),
        });
        self.out.notify(CallNotice::Consult {
            call: id,
            consult,
            agent,
            state: CallState::Connected,
            reason: None,
            peer: None,
            colleague: None,
        });
        Ok(())
    }

    /// The agent leaves a conference (hang-up from the desktop or the phone): the caller and
    /// the third party stay connected. Returns false when the call is not a conference.
    /// The agent's phone hung up (BYE). In a conference, or while talking to the consulted
    /// party, that hands the caller over to the third party (attended transfer by hanging up,
    /// as desk phones do it); returns false when the call simply ends.
    pub(crate) fn agent_phone_hung_up(&mut self, now: Instant, key: CallKey) -> bool {
        let talking_to_third = self
            .calls
            .get(&key)
            .is_some_and(|c| c.legs.consulted.as_ref().is_some_and(|l| l.answered()));
        if talking_to_third {
            let reason = if self
                .calls
                .get(&key)
                .is_some_and(|c| c.extra.in_conference())
            {
                "left conference"
            } else {
                "transferred"
            };
            self.hand_over_to_third_party(now, key, reason);
        }
        talking_to_third
    }

    pub(crate) fn agent_leaves_conference(&mut self, now: Instant, key: CallKey) -> bool {
        let in_conference = self.calls.get(&key).is_some_and(|c| {
            c.extra.in_conference() && c.legs.consulted.as_ref().is_some_and(|l| l.answered())
        });
        if in_conference {
            self.hand_over_to_third_party(now, key, "left conference");
        }
        in_conference
    }

    /// Leg C becomes the call's B leg; the agent's leg (and any supervisor) is dropped.
    fn hand_over_to_third_party(&mut self, now: Instant, key: CallKey, reason: &str) {
        self.drop_leg(now, key, Role::Supervisor);
        self.leg_hung_up(now, key, Role::Supervisor, reason);
        self.hang_up_b(now, key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(third) = c.legs.consulted.take() else {
            return;
        };
        if let Some(d) = third.dialog() {
            self.by_dialog.insert(d.id.clone(), (key, Role::Callee));
        }
        let old_agent = c.agent.take();
        let (consult, to) = c
            .extra
            .consult
            .take()
            .map(|x| (x.id, x.to))
            .unwrap_or_default();
        self.by_id.remove(&consult);
        c.extra.muted = false;
        c.agent = match &third.target {
            LegTarget::Agent { agent, .. } => Some(agent.clone()),
            _ => None,
        };
        let new_agent = c.agent.clone();
        c.legs.callee = Some(third);
        let id = c.id.clone();
        let ev = c
            .log
            .event(self.wall_ms, CallEventKind::Transferred { to: to.clone() });
        self.out.record(ev);
        if let Some(a) = old_agent {
            self.agent_released(now, key, &a);

            self.out.notify(CallNotice::Consult {
                call: id.clone(),
                consult,
                agent: a.clone(),
                state: CallState::Ended,
                reason: Some(reason.to_string()),
                peer: None,
                colleague: None,
            });
            self.out.notify(CallNotice::Ended {
                call: id.clone(),
                agent: Some(a),
                reason: reason.to_string(),
            });
        }
        if let Some(a) = new_agent {
            self.out
                .notify(CallNotice::Connected { call: id, agent: a });
        }
        self.apply_media(key);
    }

    /// The call whose consultation routing knows as `id`, if any.
    pub(crate) fn consult_key(&self, id: &str) -> Option<CallKey> {
        let key = *self.by_id.get(id)?;
        self.calls
            .get(&key)
            .is_some_and(|c| {
                c.extra
                    .consult
                    .as_ref()
                    .is_some_and(|x| x.id == id && x.queue.is_some())
            })
            .then_some(key)
    }

    /// An internal call placed on a desk phone rang extension `ext`: when both phones are
    /// agents', the caller's desktop shows the call naming the colleague rung, as if they had
    /// dialled it there; then the colleague rung hears of it.
    pub(crate) fn internal_call_from_phone(&mut self, key: CallKey, ext: &str) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let caller = match (&c.agent, &c.caller_ext) {
            (None, Some(e)) => self.agent_of_extension(e),
            _ => None,
        };
        let rung = self.agent_of_extension(ext);
        if let (Some(caller), Some(rung)) = (caller, rung) {
            let id = c.id.clone();
            let colleague = Some(self.colleague(&rung));
            if let Some(c) = self.calls.get_mut(&key) {
                c.extra.colleague_calling = Some(caller.clone());
            }
            self.out.notify(CallNotice::Dialing {
                call: id,
                agent: caller,
                peer: ext.to_string(),
                colleague,
            });
        }
        self.ring_colleague(key, ext);
    }

    /// An internal call rang extension `ext`: when it is an agent's own phone, their desktop
    /// hears of it, naming the colleague calling (the agent who dialled from the desktop, or
    /// the agent at the calling phone). Connected and ended follow (`colleague_rung`).
    pub(crate) fn ring_colleague(&mut self, key: CallKey, ext: &str) {
        let Some(agent) = self.agent_of_extension(ext) else {
            return;
        };
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let caller = c.agent.clone().or_else(|| {
            c.caller_ext
                .as_deref()
                .and_then(|e| self.agent_of_extension(e))
        });
        let peer = caller
            .as_deref()
            .and_then(|a| self.agent_extension(a))
            .or_else(|| c.caller_ext.clone())
            .unwrap_or_else(|| c.ani.clone());
        let (id, colleague) = (c.id.clone(), caller.map(|a| self.colleague(&a)));
        if let Some(c) = self.calls.get_mut(&key) {
            c.extra.colleague_rung = Some(agent.clone());
        }
        // Routing hears that the agent is taken while their phone rings for a colleague, so
        // no queue call is offered to them meanwhile (a busy agent makes this call busy).
        self.direct(key, &agent, &id, true);
        self.out.notify(CallNotice::Incoming {
            call: id,
            agent,
            peer,
            colleague,
        });
    }

    /// `agent` hangs up from the desktop a call that is not theirs but rings or talks on
    /// their phone: a consultation (it ends, the consulting agent is back with the caller; a
    /// queue's consultation that only rang goes back to its queue) or an internal call to
    /// them (it ends). `None` when `agent` is neither on `call`.
    pub(crate) fn colleague_hangs_up(
        &mut self,
        now: Instant,
        agent: &str,
        call: &str,
    ) -> Option<Result<(), CallError>> {
        let key = *self.by_id.get(call)?;
        let c = self.calls.get_mut(&key)?;
        if c.agent.as_deref() == Some(agent) {
            return None;
        }
        if c.extra.consulted() == Some(agent) {
            let leg = c.legs.consulted.as_mut()?;
            if leg.answered() {
                hang_up(&mut self.ep, now, leg, None);
                self.leg_hung_up(now, key, Role::Consulted, "hung up");
            } else {
                self.drop_leg(now, key, Role::Consulted);
                self.leg_failed(now, key, Role::Consulted, "declined");
            }
            return Some(Ok(()));
        }
        let (reason, code) = match (c.talk.connected(), c.extra.colleague_rung.as_deref()) {
            (true, _) => ("hung up", StatusCode::REQUEST_TERMINATED),
            (false, Some(rung)) if rung == agent => ("declined", StatusCode::DECLINE),
            (false, _) => ("cancelled", StatusCode::REQUEST_TERMINATED),
        };
        if c.extra.colleagues().any(|a| a == agent) {
            self.end_call(now, key, None, reason, Some(code));
            return Some(Ok(()));
        }
        None
    }

    /// The colleague an internal call rang answered: the desktops following it say so.
    pub(crate) fn colleague_answered(&mut self, key: CallKey) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let id = c.id.clone();
        for agent in c.extra.colleagues().cloned().collect::<Vec<_>>() {
            self.out.notify(CallNotice::Connected {
                call: id.clone(),
                agent,
            });
        }
    }

    /// Pushes the caller's screen pop to the agent being consulted, saying who consults them.
    fn consult_pop(&mut self, now: Instant, key: CallKey, agent: &str, queue: &str) {
        let ring_secs = self.ring_timeout.as_secs() as u32;
        let by = self
            .calls
            .get(&key)
            .and_then(|c| c.agent.as_deref())
            .map(|a| self.colleague(a));
        if let Some(mut pop) = self.screen_pop(now, key, queue, ring_secs) {
            pop.context = by.map(|by| hotline_cti::PopContext::Consult { by });
            self.out.notify(CallNotice::Offered {
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
        key: CallKey,
        agent: &str,
        _deadline: Instant,
    ) {
        let busy = self
            .calls
            .get(&key)
            .is_none_or(|c| c.legs.consulted.is_some() || c.extra.consulted().is_some());
        let ext = self.agent_extension(agent);
        let (Some(ext), false) = (ext, busy) else {
            self.out.routing(RoutingOp::NoAnswer {
                agent: hotline_acd::AgentId::new(agent.to_string()),
            });
            return;
        };
        let queue = self
            .calls
            .get(&key)
            .and_then(|c| c.extra.consult_queue().map(str::to_string))
            .unwrap_or_default();
        self.consult_pop(now, key, agent, &queue);
        if let Some(x) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.extra.consult.as_mut())
        {
            x.agent = Some(agent.to_string());
        }
        self.ring_extension_on(now, key, Role::Consulted, &ext, Some(agent.to_string()));
    }

    /// Routing withdrew its offer of the consultation (the queue's reservation lapsed).
    pub(crate) fn consult_offer_withdrawn(&mut self, now: Instant, key: CallKey, agent: &str) {
        let ringing = self.calls.get(&key).is_some_and(|c| {
            c.extra.consulted() == Some(agent)
                && c.legs.consulted.as_ref().is_some_and(|l| !l.answered())
        });
        if !ringing {
            return;
        }
        self.drop_leg(now, key, Role::Consulted);
        if let Some(c) = self.calls.get_mut(&key) {
            if let Some(x) = c.extra.consult.as_mut() {
                x.agent = None;
            }
            let id = c.id.clone();
            self.out.notify(CallNotice::Ended {
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
    ) -> Result<(CallKey, String), String> {
        let Some(media) = self.deps.media.clone() else {
            return Err(
                "calls from the switch need media anchoring ([media] anchor = true)".into(),
            );
        };
        let info = media
            .create_session(hotline_media::SessionOptions::on(self.media_ip))
            .map_err(|e| format!("no media session: {e}"))?;
        let key = self.new_call_key();
        let id = id.unwrap_or_else(|| format!("{}-{key}", self.ep.new_tag()));
        let mut log = crate::record::CallLog::new(id.clone());
        self.out.record(log.event(
            self.wall_ms,
            CallEventKind::Arrived {
                direction,
                ani: ext.to_string(),
                dnis: number.to_string(),
            },
        ));
        let a = Leg {
            state: LegState::Idle,
            invite_req: Message::request(Method::Invite, ""),
            tag: self.ep.new_tag(),
            dst: SocketAddr::from(([0, 0, 0, 0], 0)),
            transport: Transport::Udp,
            media: Some(info.id),
            remote: None,
            our_sdp: None,
            sdp_version: 1,
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
                legs: Legs::new(a),
                ani: ext.to_string(),
                dnis: number.to_string(),
                mode: Mode::Outbound,
                started: now,
                talk: crate::Talk::NotConnected,
                agent: agent.map(str::to_string),
                a_answer: None,
                caller_ext: Some(ext.to_string()),
                b_generation: 0,
                service: Default::default(),
                extra,
                quota: super::quota::Quota::None,
                forks: Vec::new(),
            },
        );
        self.by_id.insert(id.clone(), key);
        self.by_media.insert(info.id, key);
        Ok((key, id))
    }

    // ----- callbacks ------------------------------------------------------------------------

    /// The callback call serving routing's request `request`, if one is up.
    pub(crate) fn callback_key(&self, request: &str) -> Option<CallKey> {
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
            self.out.routing(RoutingOp::NoAnswer {
                agent: hotline_acd::AgentId::new(agent.to_string()),
            });
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
                self.out.routing(RoutingOp::NoAnswer {
                    agent: hotline_acd::AgentId::new(agent.to_string()),
                });
                return;
            }
        };
        // Routing's decisions name the request.
        self.by_id.insert(request.to_string(), key);
        if let Some(c) = self.calls.get_mut(&key) {
            // What the caller proved on their call is not carried over: the pop shows a
            // claimed identity until the agent checks it.
            c.service
                .set_customer(p.customer.clone(), crate::service::Proof::Claimed);
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
            self.out.notify(CallNotice::Offered {
                agent: agent.to_string(),
                pop: Box::new(pop),
            });
        }
        let _ = id;
        self.ring_extension_on(now, key, Role::Callee, &ext, Some(agent.to_string()));
    }

    /// Routing withdrew the callback offer (the reservation lapsed): stop ringing.
    pub(crate) fn callback_withdrawn(&mut self, now: Instant, key: CallKey) {
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
    pub(crate) fn dial_callback(&mut self, now: Instant, key: CallKey) {
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
                tracing::warn!(
                    call = key.number(),
                    reason = why.as_str(),
                    "callback number refused"
                );
                self.end_call(now, key, None, "callback number refused", None);
                return;
            }
        };
        if let (Some(m), Some(c)) = (&self.deps.media, self.calls.get_mut(&key)) {
            if let Some(b) = c.legs.callee.as_ref().and_then(|b| b.media) {
                let _ = m.play_tone(b, ToneSpec::ringback_eu());
            }
            c.extra.topology = Topology::Consult { talking: false };
        }
        match target {
            Target::Extension(e) => self.ring_extension_on(now, key, Role::Caller, &e, None),
            Target::Trunk { trunk, number } => {
                self.dial_trunk_on(now, key, Role::Caller, &trunk, &number)
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
            CallbackStage::Ringing => self.out.routing(RoutingOp::NoAnswer {
                agent: hotline_acd::AgentId::new(cb.agent.clone()),
            }),
            CallbackStage::Withdrawn => {}
            CallbackStage::AgentAnswered => self.out.routing(RoutingOp::CallbackFailed {
                call: hotline_acd::CallId::new(cb.request.clone()),
            }),
            CallbackStage::Connected => {
                self.deps.callbacks.remove(&cb.request);
                self.out.routing(RoutingOp::Hangup {
                    call: hotline_acd::CallId::new(cb.request.clone()),
                });
            }
        }
        self.out.notify(CallNotice::Ended {
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
    ) -> Result<String, CallError> {
        let number = number.trim();
        let ext = self
            .agent_extension(agent)
            .ok_or_else(|| CallError::Unsupported("you have no phone extension".into()))?;
        if self.reg.contacts(&ext, now).is_empty() {
            return Err(CallError::Unsupported(format!(
                "your phone (extension {ext}) is not registered"
            )));
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
                    _ => return Err(format!("{number} is a service number").into()),
                },
                Err(_) => return Err(CallError::UnknownTarget(format!("no route to {number}"))),
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
        // A colleague dialled by agent id or by their extension.
        let colleague = match &target {
            Target::Extension(e) => self
                .agent_extension(number)
                .map(|_| number.to_string())
                .or_else(|| self.agent_of_extension(e))
                .map(|a| self.colleague(&a)),
            _ => None,
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
        self.out.notify(CallNotice::Dialing {
            call: id.clone(),
            agent: agent.to_string(),
            peer: number.to_string(),
            colleague,
        });
        self.direct(key, agent, &id, true);
        self.ring_extension_on(now, key, Role::Callee, &ext, Some(agent.to_string()));
        Ok(id)
    }

    /// Plays a recording to `agent`'s own phone: rings it (the agent is busy in routing
    /// meanwhile, as on any direct call), plays `file` from the recordings folder when she
    /// answers, and ends the call when it has played.
    pub(crate) fn play_to_agent(
        &mut self,
        now: Instant,
        agent: &str,
        file: &str,
        label: &str,
    ) -> Result<String, CallError> {
        if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
            return Err(CallError::BadRequest(format!(
                "{file:?} is not a recording's file name"
            )));
        }
        let ext = self
            .agent_extension(agent)
            .ok_or_else(|| CallError::Unsupported("you have no phone extension".into()))?;
        if self.reg.contacts(&ext, now).is_empty() {
            return Err(CallError::Unsupported(format!(
                "your phone (extension {ext}) is not registered"
            )));
        }
        if self
            .calls
            .values()
            .any(|c| c.agent.as_deref() == Some(agent))
        {
            return Err("you are already on a call".into());
        }
        let path = self.recordings_dir.join(file);
        let (key, id) = self.new_outbound_call(
            now,
            None,
            &ext,
            label,
            Direction::Internal,
            Some(agent),
            None,
        )?;
        if let Some(c) = self.calls.get_mut(&key) {
            c.extra.playback = Some(path);
        }
        self.note(key, "play_recording", serde_json::json!({ "file": file }));
        self.out.notify(CallNotice::Dialing {
            call: id.clone(),
            agent: agent.to_string(),
            peer: label.to_string(),
            colleague: None,
        });
        self.direct(key, agent, &id, true);
        self.ring_extension_on(now, key, Role::Callee, &ext, Some(agent.to_string()));
        Ok(id)
    }

    /// Click-to-dial: the agent's phone answered; ringback to the agent, dial the customer.
    /// A recording call plays its recording instead.
    pub(crate) fn dial_agent_answered(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(path) = c.extra.playback.clone() {
            let b = c.legs.callee.as_ref().and_then(|b| b.media);
            let played = match (&self.deps.media, b) {
                (Some(m), Some(b)) => m
                    .play(
                        b,
                        std::slice::from_ref(&path),
                        hotline_media::PlayOptions {
                            barge_in: false,
                            looped: false,
                        },
                    )
                    .map_err(|e| e.to_string()),
                _ => Err("the agent's leg has no media session".to_string()),
            };
            if let Err(why) = played {
                tracing::warn!(call = %c.id, error = %why, "recording could not be played");
                self.end_call(now, key, None, "recording not found", None);
            }
            return;
        }
        if let Some(cb) = c.extra.callback.as_mut() {
            // A callback: routing hears the answer and asks for the dial (DialCallback).
            cb.stage = CallbackStage::AgentAnswered;
            let (request, agent) = (cb.request.clone(), cb.agent.clone());
            c.agent = Some(agent.clone());
            let id = c.id.clone();
            self.note(key, "callback_agent", serde_json::json!({ "agent": agent }));
            self.out.routing(RoutingOp::Answer {
                call: hotline_acd::CallId::new(request),
                agent: hotline_acd::AgentId::new(agent.clone()),
            });
            self.out.notify(CallNotice::Ringing {
                call: id,
                agent,
                remote_answer: false,
            });
            return;
        }
        let Some(target) = c.extra.dial.take() else {
            return;
        };
        if let (Some(m), Some(b)) = (
            &self.deps.media,
            c.legs.callee.as_ref().and_then(|b| b.media),
        ) {
            let _ = m.play_tone(b, ToneSpec::ringback_eu());
            // The agent hears ringback until the customer answers (plan: Consult-like tone).
        }
        c.extra.topology = Topology::Consult { talking: false };
        match target {
            Target::Extension(e) => {
                self.ring_extension_on(now, key, Role::Caller, &e, None);
                self.ring_colleague(key, &e);
            }
            Target::Trunk { trunk, number } => {
                self.dial_trunk_on(now, key, Role::Caller, &trunk, &number)
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
        key: CallKey,
        supervisor: &str,
        mode: MonitorMode,
    ) -> Result<(), CallError> {
        self.agent_connected(key)?;
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
        if c.agent.as_deref() == Some(supervisor) {
            return Err("this is your own call".into());
        }
        if let Some(s) = &mut c.extra.sup {
            if s.supervisor != supervisor {
                return Err(format!("the call is already monitored by {}", s.supervisor).into());
            }
            if s.mode == mode {
                return Ok(());
            }
            s.mode = mode;
            let answered = c.legs.supervisor.as_ref().is_some_and(|l| l.answered());
            let id = c.id.clone();
            self.note(
                key,
                "monitor",
                serde_json::json!({ "supervisor": supervisor, "mode": mode }),
            );
            self.apply_media(key);
            if answered {
                self.out.notify(CallNotice::Monitor {
                    call: id,
                    supervisor: supervisor.to_string(),
                    mode: Some(mode),
                });
            }
            return Ok(());
        }
        let ext = self.agent_extension(supervisor).ok_or_else(|| {
            CallError::Unsupported("you have no phone extension to listen on".into())
        })?;
        if self.reg.contacts(&ext, now).is_empty() {
            return Err(CallError::Unsupported(format!(
                "your phone (extension {ext}) is not registered"
            )));
        }
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
        c.extra.sup = Some(Supervision {
            supervisor: supervisor.to_string(),
            mode,
        });
        self.note(
            key,
            "monitor",
            serde_json::json!({ "supervisor": supervisor, "mode": mode }),
        );
        self.ring_extension_on(
            now,
            key,
            Role::Supervisor,
            &ext,
            Some(supervisor.to_string()),
        );
        if self
            .calls
            .get(&key)
            .is_none_or(|c| c.legs.supervisor.is_none())
        {
            return Err(CallError::TargetUnavailable(
                "your phone could not be called".into(),
            ));
        }
        Ok(())
    }

    /// The supervisor leaves the call.
    pub(crate) fn stop_monitor(
        &mut self,
        now: Instant,
        key: CallKey,
        supervisor: &str,
    ) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        match &c.extra.sup {
            Some(s) if s.supervisor == supervisor => {}
            Some(_) => return Err("another supervisor is monitoring this call".into()),
            None => return Err("you are not monitoring this call".into()),
        }
        self.drop_leg(now, key, Role::Supervisor);
        self.leg_hung_up(now, key, Role::Supervisor, "stopped");
        Ok(())
    }

    /// The supervisor takes the call: their leg becomes the call's B leg, the agent's leg
    /// ends and the agent goes to wrap-up.
    pub(crate) fn take_over(
        &mut self,
        now: Instant,
        key: CallKey,
        supervisor: &str,
    ) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        match &c.extra.sup {
            Some(s) if s.supervisor == supervisor => {}
            _ => return Err("monitor the call first".into()),
        }
        if !c.legs.supervisor.as_ref().is_some_and(|l| l.answered()) {
            return Err("your phone has not answered yet".into());
        }
        if c.legs.consulted.is_some() {
            return Err("the agent is consulting; wait until the consultation ends".into());
        }
        self.hang_up_b(now, key);
        let Some(c) = self.calls.get_mut(&key) else {
            return Err(CallError::gone());
        };
        let Some(s_leg) = c.legs.supervisor.take() else {
            return Err("no supervisor leg".into());
        };
        c.extra.sup = None;
        c.extra.muted = false;
        if let Some(d) = s_leg.dialog() {
            self.by_dialog.insert(d.id.clone(), (key, Role::Callee));
        }
        c.legs.callee = Some(s_leg);
        let old_agent = c.agent.replace(supervisor.to_string());
        let id = c.id.clone();
        let ev = c.log.event(
            self.wall_ms,
            CallEventKind::Transferred {
                to: supervisor.to_string(),
            },
        );
        self.out.record(ev);
        self.note(
            key,
            "taken_over",
            serde_json::json!({ "supervisor": supervisor, "agent": old_agent }),
        );
        let from = old_agent.as_deref().map(|a| self.colleague(a));
        if let Some(a) = old_agent {
            self.agent_released(now, key, &a);
            self.out.notify(CallNotice::Ended {
                call: id.clone(),
                agent: Some(a),
                reason: "taken over".into(),
            });
        }
        self.out.notify(CallNotice::Monitor {
            call: id.clone(),
            supervisor: supervisor.to_string(),
            mode: None,
        });
        // The caller's record comes to the supervisor's desk with the call.
        let queue = self
            .calls
            .get(&key)
            .and_then(|c| c.service.queue().map(str::to_string))
            .unwrap_or_default();
        if let Some(mut pop) = self.screen_pop(now, key, &queue, 0) {
            pop.context = from.map(|from| hotline_cti::PopContext::TakeOver { from });
            self.out.notify(CallNotice::Offered {
                agent: supervisor.to_string(),
                pop: Box::new(pop),
            });
        }
        self.out.notify(CallNotice::Connected {
            call: id,
            agent: supervisor.to_string(),
        });
        self.apply_media(key);
        Ok(())
    }
}
