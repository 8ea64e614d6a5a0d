//! The service role of call control: IVR sessions, queueing through routing, ringing agents
//! with a screen pop, and connecting them.
//!
//! A call to an `ivr` or `queue` route is answered by the switch (media anchored). The IVR
//! session ([`hotline_ivr::Session`]) is driven like every sans-IO core: after any input drain
//! its actions, perform them through media, the store and routing, and re-arm one timer at its
//! `poll_timeout`. Store lookups and payments are [`crate::Work`] for the driver; their results
//! come back as [`Completion`]s. Routing commands are [`RoutingOp`] outputs, which the driver
//! must deliver to the ACD in the order they were issued.

use crate::CallKey;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_acd::{Decision, OverflowTarget};
use hotline_ivr::{
    Action, Ani, CardField, ChargeResult, ChargeStatus, Dnis, Event as IvrEvent, FlowSet,
    InputValue, LookupKey, PaymentProgress, PlaybackId, PromptDir, QueueStatus, RequestId, Session,
    TransferTarget, UnixTime,
};
use hotline_media::PlayOptions;
use hotline_records::{CallEventKind, Identity, IdentityKind};

use crate::media::MediaControl;
use crate::messages::{CallError, CallNotice};
use crate::work::{ChargeContext, Pays, Work};
use crate::{Core, LegTarget, Mode, Role};

/// What the service role needs; all optional so a signalling-only switch (benchmarks, direct
/// media) runs without them.
#[derive(Default)]
pub struct ServiceDeps {
    /// The media engine (anchored media); `None` for direct media.
    pub media: Option<Arc<dyn MediaControl>>,
    /// Looped while a caller waits or is on hold.
    pub hold_music: Option<PathBuf>,
    pub flows: Option<Arc<FlowSet>>,
    pub prompts: Option<PromptDir>,
    /// Routing (the ACD) is running and takes [`RoutingOp`] outputs.
    pub routing: bool,
    /// Agent id -> extension, loaded at start-up (misses are looked up in the store).
    pub agents: HashMap<String, String>,
    /// Agent id -> display name (the agent directory), for colleagues named on desktops.
    pub agent_names: HashMap<String, String>,
    /// Queue id -> display name.
    pub queue_names: HashMap<String, String>,
    /// Queue id -> how long its work may wait, by ticket priority (a voicemail is `normal`).
    pub work_due: HashMap<String, std::collections::BTreeMap<String, std::time::Duration>>,
    /// Callback requests routing holds, by the id of the call they came from (legs.rs
    /// dials them).
    pub(crate) callbacks: HashMap<String, crate::legs::PendingCallback>,
}

impl ServiceDeps {
    pub(crate) fn is_queue(&self, q: &str) -> bool {
        self.queue_names.contains_key(q)
    }
}

/// Per-call service state.
#[derive(Default)]
pub(crate) struct ServiceCall {
    /// The caller's place in a queue.
    queueing: Queueing,
    pub(crate) ivr: Option<Session>,
    pub(crate) playback: Option<PlaybackId>,
    priority: u8,
    /// The identified caller (after verification, when the flow asks for a PIN).
    customer: Option<hotline_records::CustomerView>,
    /// How `customer` was identified: a caller number alone proves nothing (it can be forged).
    proof: Proof,
    /// The caller the last look-up found, not yet identified: it becomes `customer` when the
    /// IVR says `CustomerIdentified` (a flow that verifies says so only after a right PIN).
    looked_up: Option<(hotline_records::CustomerView, Proof)>,
    /// The agent routing reserved for the call, from routing's offer until the agent answers,
    /// the phone fails or routing withdraws it.
    offer: Option<Offer>,
    transfer: Option<RequestId>,
    voicemail: Option<VoicemailRecording>,
    /// The IVR's path and inputs are in the call record already.
    ivr_recorded: bool,
    /// An agent handed the caller to the payment flow (`payment.rs`).
    pub(crate) assist: Option<super::payment::Assist>,
    /// Agent-assisted payments started on this call (numbers their sessions).
    pub(crate) payments: u32,
}

/// A voicemail being recorded: what it is filed as when it ends (time up, the caller's end
/// key, or the caller hanging up).
#[derive(Debug)]
struct VoicemailRecording {
    request: RequestId,
    recording: hotline_media::RecordingId,
    started: Instant,
    ends_at: Instant,
    queue: String,
    subject: String,
    customer: Option<i64>,
}

/// The caller's place in a queue.
#[derive(Debug, Clone, Default)]
pub(crate) enum Queueing {
    /// Never queued (IVR, a direct or bridged call).
    #[default]
    NotQueued,
    /// Put in `queue` at `since` (it stays there while an agent of the queue serves it; an
    /// overflow moves it to another queue, keeping `since`).
    Queued { queue: String, since: Instant },
    /// The IVR left the queue: routing hears `abandon` once the IVR's next actions are known,
    /// unless they ask for a callback (which keeps the caller's place).
    Leaving,
}

impl Queueing {
    /// The queue the call is in.
    pub(crate) fn queue(&self) -> Option<&str> {
        match self {
            Queueing::Queued { queue, .. } => Some(queue),
            Queueing::NotQueued | Queueing::Leaving => None,
        }
    }
}

/// Routing's offer of the call to an agent.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub(crate) agent: String,
    /// When routing's reservation lapses (the queue's ring timeout).
    pub(crate) deadline: Instant,
}

/// How the call's customer is known. Bookings, payments on the customer's account and
/// callbacks outside the allowed numbers need [`Proof::Pin`]; the screen pop shows which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Proof {
    /// Found by the caller's number or an account number the caller typed: either can be
    /// known to a stranger, so this is a guess good for routing and the pop, not for money.
    #[default]
    Claimed,
    /// The caller typed the customer's PIN on this call (checked against its argon2 hash).
    Pin,
}

impl ServiceCall {
    /// The customer id, when the caller proved to be that customer on this call (PIN).
    pub(crate) fn verified_customer(&self) -> Option<i64> {
        match self.proof {
            Proof::Pin => self.customer.as_ref().map(|v| v.customer.id),
            Proof::Claimed => None,
        }
    }

    /// The agent routing offered this call to (being rung, or their extension being found).
    pub(crate) fn offered(&self) -> Option<&str> {
        self.offer.as_ref().map(|o| o.agent.as_str())
    }

    /// Ends the offer to `agent`, if the call is offered to them; true if it was.
    fn withdraw_offer(&mut self, agent: &str) -> bool {
        let theirs = self.offered() == Some(agent);
        if theirs {
            self.offer = None;
        }
        theirs
    }

    /// The routing priority the caller has (set by the IVR or the queue route).
    /// The queue the caller waited in, while it keeps its place there.
    pub(crate) fn queue(&self) -> Option<&str> {
        self.queueing.queue()
    }

    pub(crate) fn priority(&self) -> u8 {
        self.priority
    }

    /// The caller's customer record (screen pops).
    pub(crate) fn set_customer(&mut self, v: Option<hotline_records::CustomerView>, proof: Proof) {
        self.customer = v;
        self.proof = proof;
    }
}

/// The result of [`Work`] (or of a routing query), fed back with
/// [`Core::handle_completion`].
#[derive(Debug)]
pub enum Completion {
    /// Routing refused a command (its state differs from call control's view): call control
    /// repairs what it can (an agent routing has busy is not kept on a consultation).
    RoutingRefused {
        op: RoutingOp,
        error: RoutingRefusal,
    },
    /// The caller of a queue number looked up by number; then the call is queued.
    QueueLookup {
        call: String,
        queue: String,
        view: Option<Box<hotline_records::CustomerView>>,
    },
    Lookup {
        call: String,
        request: RequestId,
        view: Option<Box<hotline_records::CustomerView>>,
    },
    /// A caller's PIN checked (`Store::verify_customer_pin`).
    Verified {
        call: String,
        request: RequestId,
        verified: bool,
    },
    AgentExtension {
        call: String,
        agent: String,
        extension: Option<String>,
    },
    QueueStatus {
        call: String,
        request: RequestId,
        status: QueueStatus,
    },
    Bookable {
        call: String,
        request: RequestId,
        items: Vec<hotline_ivr::BookableItem>,
    },
    Held {
        call: String,
        request: RequestId,
        /// The booking id and its reference.
        booking: Option<(i64, String)>,
    },
    /// A voicemail filed as a ticket (`None`: it could not be written).
    VoicemailFiled {
        call: String,
        request: Option<RequestId>,
        ticket: Option<i64>,
    },
    Charged {
        call: String,
        request: RequestId,
        amount_minor: u64,
        currency: String,
        key: String,
        result: Result<ChargeResult, String>,
        /// The booking confirmed by an approved charge.
        confirmed: Option<i64>,
    },
}

/// Why routing refused a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingRefusal {
    /// The ACD's verdict (unknown agent or call, a state that does not allow it).
    Acd(hotline_acd::AcdError),
    /// Routing could not be asked (stopped, its store away).
    Unavailable(String),
}

impl std::fmt::Display for RoutingRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoutingRefusal::Acd(e) => write!(f, "{e}"),
            RoutingRefusal::Unavailable(m) => f.write_str(m),
        }
    }
}

/// How an agent's phone failed to take an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferRefusal {
    /// No answer in time, busy, unreachable: routing makes the agent not ready `missed`.
    NoAnswer,
    /// The agent declined (desktop Reject, or the phone's decline key, `603`): not ready
    /// `rejected`.
    Rejected,
}

/// Commands for routing (the ACD), in the order the driver must deliver them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingOp {
    /// The caller waits in `queue` for an agent.
    Enqueue {
        call: hotline_acd::CallId,
        queue: hotline_acd::QueueId,
        priority: u8,
    },
    /// The offered agent answered.
    Answer {
        call: hotline_acd::CallId,
        agent: hotline_acd::AgentId,
    },
    /// The offered agent's phone did not answer (or could not be rung).
    NoAnswer { agent: hotline_acd::AgentId },
    /// The agent rejected the offer (the call goes back, the agent is not ready `rejected`).
    Reject { agent: hotline_acd::AgentId },
    /// The call ended after an agent answered it.
    Hangup { call: hotline_acd::CallId },
    /// The caller left (or was lost) before an agent answered.
    Abandon { call: hotline_acd::CallId },
    /// The caller asked to be called back, keeping their place.
    RequestCallback { call: hotline_acd::CallId },
    /// A callback's dial to the customer failed.
    CallbackFailed { call: hotline_acd::CallId },
    /// The IVR asks for the queue's figures (position, wait) for an announcement.
    QueryQueue {
        call: hotline_acd::CallId,
        request: RequestId,
        queue: hotline_acd::QueueId,
    },
    /// A call the queues did not route keeps `agent` busy (calls/legs.rs).
    DirectStarted {
        agent: hotline_acd::AgentId,
        call: hotline_acd::CallId,
    },
    /// That direct call ended; the agent wraps up.
    DirectEnded {
        agent: hotline_acd::AgentId,
        call: hotline_acd::CallId,
    },
    /// That direct call rang the agent and ended before they answered.
    DirectMissed {
        agent: hotline_acd::AgentId,
        call: hotline_acd::CallId,
    },
    /// A consultation answered through a queue continues as the direct call `direct`.
    ContinueDirect {
        call: hotline_acd::CallId,
        direct: hotline_acd::CallId,
    },
    /// The customer answered a callback dial.
    CallbackConnected { call: hotline_acd::CallId },
}

/// The recording's name for a call's voicemail (the media engine adds `.wav`).
fn voicemail_name(call_id: &str) -> String {
    format!("vm-{call_id}")
}

/// Stops a voicemail's recording and says how to file it; `answer` when the IVR still waits
/// for [`IvrEvent::RecordingFinished`] (the caller is still on the line).
#[allow(clippy::too_many_arguments)]
fn file_voicemail(
    media: &Option<Arc<dyn MediaControl>>,
    work_due: &HashMap<String, std::collections::BTreeMap<String, std::time::Duration>>,
    call_id: &str,
    caller: &str,
    v: VoicemailRecording,
    now: Instant,
    wall_ms: i64,
    answer: bool,
) -> Work {
    let due_at = work_due
        .get(&v.queue)
        .and_then(|d| d.get("normal"))
        .map(|d| wall_ms + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
    if let Some(m) = media {
        let _ = m.stop_recording(v.recording);
    }
    let duration = now.saturating_duration_since(v.started);
    Work::FileVoicemail {
        call: call_id.to_string(),
        request: answer.then_some(v.request),
        voicemail: hotline_records::NewVoicemail {
            call_id: call_id.to_string(),
            queue: v.queue,
            subject: v.subject,
            caller: caller.to_string(),
            customer_id: v.customer,
            recording: format!("{}.wav", voicemail_name(call_id)),
            duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            due_at,
            at: wall_ms,
        },
    }
}

/// Store customer view -> the CTI's.
pub(crate) fn cti_customer(v: &hotline_records::CustomerView) -> hotline_cti::CustomerView {
    hotline_cti::from_store::customer_view(v)
}

/// Is `number` one of the customer's phone numbers on record?
fn own_number(customer: &Option<hotline_records::CustomerView>, number: &str, cc: &str) -> bool {
    let Ok(wanted) = Identity::phone_in(number, cc) else {
        return false;
    };
    customer.as_ref().is_some_and(|v| {
        v.identities
            .iter()
            .any(|i| i.kind == wanted.kind && i.value == wanted.value && i.verified)
    })
}

fn ivr_customer(v: &hotline_records::CustomerView) -> hotline_ivr::Customer {
    // The record's language (a flow that speaks it switches the call to it) and the balance
    // due, which a pay node with `amount = "balance"` offers to pay. Amounts, not personal
    // data: the name stays out of the attributes.
    let mut attributes: std::collections::BTreeMap<String, String> = v
        .customer
        .language
        .iter()
        .map(|l| ("language".to_string(), l.clone()))
        .collect();
    if let Some(b) = v.balance.as_ref().filter(|b| b.amount_minor > 0) {
        attributes.insert("balance_minor".into(), b.amount_minor.to_string());
        attributes.insert("currency".into(), b.currency.clone());
    }
    hotline_ivr::Customer {
        id: v.customer.id.to_string(),
        tier: v.customer.tier.clone(),
        name: Some(v.customer.display_name.clone()),
        attributes,
    }
}

impl Core {
    pub(crate) fn agent_extension(&self, agent: &str) -> Option<String> {
        self.deps.agents.get(agent).cloned()
    }

    /// `agent` as a desktop names a colleague: display name and extension from the agent
    /// directory.
    pub(crate) fn colleague(&self, agent: &str) -> hotline_cti::Colleague {
        hotline_cti::Colleague {
            agent: hotline_cti::AgentId::new(agent),
            name: self
                .deps
                .agent_names
                .get(agent)
                .cloned()
                .unwrap_or_else(|| agent.to_string()),
            extension: self.agent_extension(agent).map(hotline_cti::Extension::new),
        }
    }

    /// The switch answers the caller and starts the IVR flow or queues the call.
    pub(crate) fn start_service(
        &mut self,
        now: Instant,
        key: CallKey,
        flow: Option<String>,
        queue: Option<String>,
    ) {
        let answered = self
            .calls
            .get(&key)
            .is_some_and(|c| c.legs.caller.answered());
        if !answered {
            self.answer_a(now, key);
        }
        if let Some(name) = flow {
            let f = self.deps.flows.as_ref().and_then(|s| s.get(&name));
            let Some(f) = f else {
                tracing::error!(flow = %name, "no such IVR flow");
                self.end_call(
                    now,
                    key,
                    None,
                    "no IVR flow",
                    Some(hotline_sip::StatusCode::SERVICE_UNAVAILABLE),
                );
                return;
            };
            let Some(c) = self.calls.get_mut(&key) else {
                return;
            };
            let mut s = Session::new(f, c.id.as_str());
            // A callback is offered only to a number the switch may call back: the caller's
            // number can be forged (a premium line would be dialled on the center's bill).
            if let Err(why) = self.plan.callback_target(&c.ani, false) {
                tracing::info!(call = %c.id, reason = why.as_str(), "no callback offer for this caller's number");
                s.set_callback_offer(hotline_ivr::CallbackOffer::Withheld);
            }
            s.handle_event(
                now,
                IvrEvent::CallStarted {
                    ani: Ani::new(c.ani.clone()),
                    dnis: Dnis(c.dnis.clone()),
                    wall_clock: UnixTime(self.wall_ms / 1000),
                },
            );
            c.service.ivr = Some(s);
            self.drive_ivr(now, key);
        } else if let Some(q) = queue {
            // A queue number without an IVR: hold music at once, and the caller is looked up
            // by number before the call is queued, so the agent's pop shows who is calling.
            if let (Some(m), Some(c)) = (&self.deps.media, self.calls.get(&key))
                && let (Some(a), Some(music)) = (c.legs.caller.media, &self.deps.hold_music)
            {
                let _ = m.music_on_hold(a, music);
            }
            let Some(c) = self.calls.get(&key) else {
                return;
            };
            let call = c.id.clone();
            let identity = Identity::phone_in(&c.ani, &self.country_code).ok();
            self.out.work(Work::LookupForQueue {
                call,
                queue: q,
                identity,
            });
        }
    }

    fn enqueue(&mut self, now: Instant, key: CallKey, queue: &str, priority: u8) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.service.queueing = Queueing::Queued {
            queue: queue.to_string(),
            since: now,
        };
        c.service.priority = priority;
        let id = c.id.clone();
        let ev = c.log.event(
            self.wall_ms,
            CallEventKind::Enqueued {
                queue_id: queue.to_string(),
                priority: i64::from(priority),
            },
        );
        self.out.record(ev);
        self.out.routing(RoutingOp::Enqueue {
            call: hotline_acd::CallId::new(id),
            queue: hotline_acd::QueueId::new(queue.to_string()),
            priority,
        });
    }

    fn feed(&mut self, now: Instant, key: CallKey, ev: IvrEvent) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(s) = c.service.ivr.as_mut() else {
            return;
        };
        s.handle_event(now, ev);
        self.drive_ivr(now, key);
    }

    /// Ends a voicemail recording with the caller still on the line (time up or her end key):
    /// the message is filed and the IVR told the ticket when it is.
    fn end_voicemail(&mut self, now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(v) = c.service.voicemail.take() else {
            return;
        };
        let work = file_voicemail(
            &self.deps.media,
            &self.deps.work_due,
            &c.id,
            &c.ani,
            v,
            now,
            self.wall_ms,
            true,
        );
        self.out.work(work);
    }

    pub(crate) fn service_timeout(&mut self, now: Instant, key: CallKey) {
        if self
            .calls
            .get(&key)
            .and_then(|c| c.service.voicemail.as_ref())
            .is_some_and(|v| now >= v.ends_at)
        {
            // Voicemail recording time is up.
            self.end_voicemail(now, key);
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(s) = c.service.ivr.as_mut() else {
            return;
        };
        s.handle_timeout(now);
        self.drive_ivr(now, key);
    }

    pub(crate) fn service_digit(&mut self, now: Instant, key: CallKey, digit: char) {
        let Some(d) = hotline_ivr::Digit::from_char(digit) else {
            return;
        };
        self.feed(now, key, IvrEvent::Digit(d));
    }

    pub(crate) fn service_prompt_finished(&mut self, now: Instant, key: CallKey) {
        let Some(id) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.service.playback.take())
        else {
            return;
        };
        self.feed(now, key, IvrEvent::PromptFinished(id));
    }

    /// After any input to the session: perform its actions, re-arm its timer.
    pub(crate) fn drive_ivr(&mut self, now: Instant, key: CallKey) {
        let mut answers: Vec<IvrEvent> = Vec::new();
        loop {
            let action = {
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                let Some(s) = c.service.ivr.as_mut() else {
                    return;
                };
                match s.poll_action() {
                    Some(a) => a,
                    None => {
                        if let Some(ev) = answers.pop() {
                            s.handle_event(now, ev);
                            continue;
                        }
                        break;
                    }
                }
            };
            if let Some(ev) = self.perform(now, key, action) {
                answers.push(ev);
            }
            if !self.calls.contains_key(&key) {
                return;
            }
        }
        if let Some(c) = self.calls.get_mut(&key)
            && matches!(c.service.queueing, Queueing::Leaving)
        {
            c.service.queueing = Queueing::NotQueued;
            let id = c.id.clone();
            self.out.routing(RoutingOp::Abandon {
                call: hotline_acd::CallId::new(id),
            });
        }
        let assisted_done = self.calls.get(&key).is_some_and(|c| {
            c.service.assist.is_some() && c.service.ivr.as_ref().is_some_and(|s| s.is_finished())
        });
        if assisted_done {
            self.payment_finished(now, key);
            return;
        }
        if let Some(at) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.service.ivr.as_mut())
            .and_then(|s| s.poll_timeout())
        {
            self.schedule_service(at, key);
        }
    }

    /// Performs one IVR action; returns an answer to feed back at once, if it has one.
    fn perform(&mut self, now: Instant, key: CallKey, action: Action) -> Option<IvrEvent> {
        let media = self.deps.media.clone();
        let c = self.calls.get_mut(&key)?;
        let a_media = c.legs.caller.media;
        let call_id = c.id.clone();
        match action {
            Action::Play {
                id,
                prompts,
                barge_in,
            } => {
                let paths: Vec<PathBuf> = prompts
                    .iter()
                    .filter_map(|p| self.deps.prompts.as_ref().and_then(|d| d.resolve(p.name())))
                    .collect();
                let played = match (&media, a_media) {
                    (Some(m), Some(a)) if !paths.is_empty() => m
                        .play(
                            a,
                            &paths,
                            PlayOptions {
                                barge_in,
                                looped: false,
                            },
                        )
                        .map_err(|e| e.to_string()),
                    (Some(_), Some(_)) => Err("no prompt file found".to_string()),
                    _ => Err("the call has no media session".to_string()),
                };
                match played {
                    Ok(()) => {
                        c.service.playback = Some(id);
                        None
                    }
                    Err(why) => {
                        tracing::warn!(
                            call = %call_id,
                            prompts = ?prompts.iter().map(|p| p.name()).collect::<Vec<_>>(),
                            error = %why,
                            "prompt could not be played"
                        );
                        Some(IvrEvent::PromptFinished(id))
                    }
                }
            }
            Action::PlayMusic { music, .. } => {
                c.service.playback = None;
                let path = self
                    .deps
                    .prompts
                    .as_ref()
                    .and_then(|d| d.resolve(music.name()))
                    .or_else(|| self.deps.hold_music.clone());
                if let (Some(m), Some(a), Some(p)) = (&media, a_media, path) {
                    let _ = m.music_on_hold(a, &p);
                }
                None
            }
            Action::PromptFallback { language, prompt } => {
                tracing::warn!(
                    call = %call_id,
                    %language,
                    prompt = prompt.name(),
                    "prompt missing in the caller's language; playing the English one"
                );
                None
            }
            Action::StopPlayback => {
                c.service.playback = None;
                if let (Some(m), Some(a)) = (&media, a_media) {
                    let _ = m.stop_playback(a);
                }
                None
            }
            Action::LookupCaller { request, key: lk } => {
                let identity = match &lk {
                    LookupKey::CallerNumber(ani) => {
                        Identity::phone_in(ani.as_str(), &self.country_code)
                    }
                    LookupKey::Account(a) => Identity::new(IdentityKind::Account, a),
                    LookupKey::BookingReference(r) => Identity::new(IdentityKind::BookingRef, r),
                };
                self.out.work(Work::Lookup {
                    call: call_id,
                    request,
                    identity: identity.ok(),
                });
                None
            }
            Action::VerifyCaller {
                request,
                customer_id,
                code,
            } => {
                // The PIN is checked against its argon2id hash in the store, off this task;
                // the code is wiped when the task drops it and is never logged.
                self.out.work(Work::VerifyPin {
                    call: call_id,
                    request,
                    customer_id,
                    code,
                });
                None
            }
            Action::CustomerIdentified { customer_id, .. } => {
                // The looked-up caller is the call's customer from now on (screen pop,
                // bookings, payments).
                if let Some((view, proof)) = c
                    .service
                    .looked_up
                    .take_if(|(v, _)| v.customer.id.to_string() == customer_id)
                {
                    c.service.set_customer(Some(view), proof);
                    if proof == Proof::Pin {
                        // The caller's own number on record may now be called back even if
                        // it is outside the allowed prefixes (never a denied range).
                        let own = own_number(&c.service.customer, &c.ani, &self.country_code);
                        if own
                            && self.plan.callback_target(&c.ani, true).is_ok()
                            && let Some(s) = c.service.ivr.as_mut()
                        {
                            s.set_callback_offer(hotline_ivr::CallbackOffer::Allowed);
                        }
                    }
                }
                if let Ok(id) = customer_id.parse::<i64>() {
                    let ev = c
                        .log
                        .event(self.wall_ms, CallEventKind::Identified { customer_id: id });
                    self.out.record(ev);
                }
                None
            }
            Action::QueryQueue { request, queue } => {
                self.out.routing(RoutingOp::QueryQueue {
                    call: hotline_acd::CallId::new(call_id),
                    request,
                    queue: hotline_acd::QueueId::new(queue),
                });
                None
            }
            Action::SetPriority(p) => {
                c.service.priority = p;
                None
            }
            Action::SetSkills(_) | Action::SetVariable { .. } | Action::CollectDigits { .. } => {
                None
            }
            Action::Enqueue {
                queue, priority, ..
            } => {
                // The IVR part so far goes into the call record.
                if let Some(ev) = ivr_record(c, self.wall_ms) {
                    self.out.record(ev);
                }
                let p = priority.unwrap_or(c.service.priority);
                self.enqueue(now, key, &queue, p);
                None
            }
            Action::LeaveQueue { .. } => {
                // Held back until the IVR's next actions are known: a callback request keeps
                // the call's place in the queue (drive_ivr sends the abandon otherwise).
                c.service.queueing = match c.service.queueing {
                    Queueing::Queued { .. } => Queueing::Leaving,
                    _ => Queueing::NotQueued,
                };
                None
            }
            Action::RequestCallback { queue, number } => {
                if matches!(c.service.queueing, Queueing::Leaving) {
                    c.service.queueing = Queueing::NotQueued;
                }
                let own_verified = c.service.verified_customer().is_some()
                    && own_number(&c.service.customer, number.as_str(), &self.country_code);
                let pending = super::legs::PendingCallback {
                    number: number.as_str().to_string(),
                    own_verified,
                    queue,
                    customer: c.service.customer.clone(),
                    attempts: 0,
                };
                self.deps.callbacks.insert(call_id.clone(), pending);
                let ev = c.log.event(
                    self.wall_ms,
                    CallEventKind::Note {
                        what: "callback_requested".into(),
                        detail: serde_json::json!({}),
                    },
                );
                self.out.record(ev);
                self.out.routing(RoutingOp::RequestCallback {
                    call: hotline_acd::CallId::new(call_id.clone()),
                });
                // From now on routing knows `call_id` as the callback request: its offers and
                // announcements are not for this call, which only says goodbye.
                if self.by_id.get(&call_id) == Some(&key) {
                    self.by_id.remove(&call_id);
                }
                // Asked while an agent's phone rang for the call: routing withdraws the offer
                // (the agent is ready again, no fault of theirs); the phone stops ringing here.
                let ringing = self.calls.get_mut(&key).and_then(|c| {
                    let agent = c.service.offer.take()?.agent;
                    Some((
                        agent,
                        c.legs.callee.as_mut().and_then(|b| b.take_invite_tsx()),
                    ))
                });
                if let Some((agent, tsx)) = ringing {
                    if let Some(tsx) = tsx {
                        let _ = self.ep.cancel(now, tsx);
                    }
                    self.drop_b(now, key);
                    self.out.notify(CallNotice::Ended {
                        call: call_id,
                        agent: Some(agent),
                        reason: "callback requested".into(),
                    });
                }
                None
            }
            Action::Transfer { request, target } => {
                c.service.transfer = Some(request);
                match target {
                    TransferTarget::Extension(e) => self.ring_service_leg(now, key, &e),
                    TransferTarget::External(n) => match self.plan.resolve(&n).map(|r| r.target) {
                        Ok(super::Target::Trunk { trunk, number }) => {
                            self.dial_trunk(now, key, &trunk, &number)
                        }
                        Ok(super::Target::Extension(e)) => self.ring_service_leg(now, key, &e),
                        _ => {
                            return Some(IvrEvent::TransferResult { request, ok: false });
                        }
                    },
                }
                None
            }
            Action::RecordVoicemail {
                request,
                max_duration,
                ticket_queue,
                subject,
                customer_id,
            } => {
                let rec = match (&media, a_media) {
                    (Some(m), Some(a)) => m.start_recording(&voicemail_name(&call_id), &[a]).ok(),
                    _ => None,
                };
                match rec {
                    Some(recording) => {
                        c.service.voicemail = Some(VoicemailRecording {
                            request,
                            recording,
                            started: now,
                            ends_at: now + max_duration,
                            queue: ticket_queue,
                            subject,
                            customer: customer_id.and_then(|id| id.parse().ok()),
                        });
                        self.schedule_service(now + max_duration, key);
                        None
                    }
                    None => Some(IvrEvent::RecordingFinished {
                        request,
                        ticket: None,
                    }),
                }
            }
            Action::EndRecording => {
                self.end_voicemail(now, key);
                None
            }
            Action::ListBookable {
                request, max_items, ..
            } => {
                // The store has no item categories: every bookable item is offered. Only a
                // caller who proved to be the customer (PIN) books on the customer's account.
                let customer = c.service.verified_customer();
                self.out.work(Work::ListBookable {
                    call: call_id,
                    request,
                    customer,
                    max_items,
                });
                None
            }
            Action::HoldItem { request, item_id } => {
                let customer = c.service.verified_customer();
                self.out.work(Work::HoldItem {
                    call: call_id,
                    request,
                    customer,
                    item_id,
                });
                None
            }
            Action::ReleaseHold { hold_id } => {
                self.out.work(Work::ReleaseHold {
                    call: call_id,
                    hold_id,
                });
                None
            }
            Action::Charge {
                request,
                charge,
                settles,
            } => {
                let pays = match settles {
                    hotline_ivr::Settles::Amount => Pays::Amount,
                    // The booking held by this session and not paid yet.
                    hotline_ivr::Settles::Booking => c
                        .service
                        .ivr
                        .as_ref()
                        .filter(|s| s.payment().is_none())
                        .and_then(|s| s.held_item())
                        .and_then(|h| h.hold_id.parse::<i64>().ok())
                        .map_or(Pays::Amount, Pays::Booking),
                    hotline_ivr::Settles::Balance => Pays::Balance,
                };
                let ctx = ChargeContext {
                    call_id: call_id.clone(),
                    // Stored against the customer only when the caller proved to be them.
                    customer: c.service.verified_customer(),
                    pays,
                    reference: c.service.assist.as_ref().map(|a| a.reference.clone()),
                };
                self.out.work(Work::Charge {
                    request,
                    ctx,
                    charge,
                });
                None
            }
            Action::PaymentProgress(p) => {
                let agent = c
                    .service
                    .assist
                    .as_ref()
                    .map(|a| a.agent.clone())
                    .or_else(|| c.agent.clone());
                let reference = c
                    .service
                    .ivr
                    .as_ref()
                    .and_then(|s| s.payment())
                    .map(|r| r.token.clone());
                if let (Some(agent), Some(stage)) = (agent, payment_stage(&p, reference)) {
                    self.out.notify(CallNotice::Payment {
                        call: call_id,
                        agent,
                        stage,
                    });
                }
                None
            }
            Action::PauseRecording | Action::ResumeRecording | Action::SuppressDtmfToAgent(_)
                if c.service.assist.is_some()
                    && matches!(
                        action,
                        Action::ResumeRecording | Action::SuppressDtmfToAgent(false)
                    ) =>
            {
                // An agent-assisted payment: the session restores recording and the agent's
                // DTMF the moment the last digit is taken, while that key's telephone-events
                // (and tone) are still arriving; the agent would hear its tail. Both stay off
                // until the payment flow hands the caller back (`payment_finished`).
                None
            }
            Action::PauseRecording | Action::ResumeRecording => {
                // The call recording (`[media] record_calls`, calls/legs.rs): silence while card
                // digits are entered.
                self.pause_call_recording(key, matches!(action, Action::PauseRecording));
                None
            }
            Action::SuppressDtmfToAgent(on) => {
                if let (Some(m), Some(b)) = (&media, c.legs.callee.as_ref().and_then(|b| b.media)) {
                    let _ = m.suppress_dtmf(b, on);
                }
                None
            }
            Action::Hangup => {
                if let Some(ev) = ivr_record(c, self.wall_ms) {
                    self.out.record(ev);
                }
                self.end_call(now, key, None, "IVR hung up", None);
                None
            }
            _ => None,
        }
    }

    /// Rings an extension from a call the switch answered (IVR transfer).
    fn ring_service_leg(&mut self, now: Instant, key: CallKey, ext: &str) {
        self.ring_extension(now, key, ext, None);
    }

    pub(crate) fn on_completion(&mut self, now: Instant, r: Completion) {
        match r {
            Completion::RoutingRefused { op, error } => self.routing_refused(now, op, &error),
            Completion::QueueLookup { call, queue, view } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&key) {
                    if let Some(v) = &view {
                        let ev = c.log.event(
                            self.wall_ms,
                            CallEventKind::Identified {
                                customer_id: v.customer.id,
                            },
                        );
                        self.out.record(ev);
                    }
                    c.service.set_customer(view.map(|v| *v), Proof::Claimed);
                }
                self.enqueue(now, key, &queue, 0);
            }
            Completion::Lookup {
                call,
                request,
                view,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                let customer = view.as_deref().map(ivr_customer);
                if let Some(c) = self.calls.get_mut(&key) {
                    // Not the call's customer yet: a flow that verifies the caller says
                    // `CustomerIdentified` only after the right PIN.
                    c.service.looked_up = view.map(|v| (*v, Proof::Claimed));
                }
                self.feed(now, key, IvrEvent::LookupResult { request, customer });
            }
            Completion::Verified {
                call,
                request,
                verified,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                if verified
                    && let Some(c) = self.calls.get_mut(&key)
                    && let Some((_, proof)) = c.service.looked_up.as_mut()
                {
                    *proof = Proof::Pin;
                }
                self.feed(now, key, IvrEvent::VerifyResult { request, verified });
            }
            Completion::QueueStatus {
                call,
                request,
                status,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                self.feed(
                    now,
                    key,
                    IvrEvent::QueueStatus {
                        request: Some(request),
                        status,
                    },
                );
            }
            Completion::Bookable {
                call,
                request,
                items,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                self.feed(now, key, IvrEvent::BookableItems { request, items });
            }
            Completion::VoicemailFiled {
                call,
                request,
                ticket,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                if let (Some(c), Some(t)) = (self.calls.get_mut(&key), ticket) {
                    let ev = c.log.event(
                        self.wall_ms,
                        CallEventKind::Note {
                            what: "voicemail_filed".into(),
                            detail: serde_json::json!({ "ticket": t }),
                        },
                    );
                    self.out.record(ev);
                }
                if let Some(request) = request {
                    self.feed(
                        now,
                        key,
                        IvrEvent::RecordingFinished {
                            request,
                            ticket: ticket.map(|t| t.to_string()),
                        },
                    );
                }
            }
            Completion::Held {
                call,
                request,
                booking,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    // The caller left while the hold was being made: free it again.
                    if let Some((id, _)) = booking {
                        self.out.work(Work::ReleaseHold {
                            call,
                            hold_id: id.to_string(),
                        });
                    }
                    return;
                };
                if let (Some(c), Some((id, reference))) = (self.calls.get_mut(&key), &booking) {
                    let ev = c.log.event(
                        self.wall_ms,
                        CallEventKind::Note {
                            what: "booking_held".into(),
                            detail: serde_json::json!({ "booking": id, "reference": reference }),
                        },
                    );
                    self.out.record(ev);
                }
                let hold_id = booking.map(|(id, _)| id.to_string());
                self.feed(now, key, IvrEvent::HoldResult { request, hold_id });
            }
            Completion::Charged {
                call,
                request,
                amount_minor,
                currency,
                key: idempotency_key,
                result,
                confirmed,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&key) {
                    // Token, brand, last four and the outcome: never the card.
                    let detail = match &result {
                        Ok(r) => serde_json::json!({
                            "idempotency_key": idempotency_key,
                            "amount_minor": amount_minor,
                            "currency": currency,
                            "status": charge_status_name(&r.status),
                            "token": r.token,
                            "brand": r.brand.to_string(),
                            "last4": r.last_four,
                            "booking_confirmed": confirmed,
                        }),
                        Err(e) => serde_json::json!({
                            "idempotency_key": idempotency_key,
                            "amount_minor": amount_minor,
                            "currency": currency,
                            "status": "gateway_error",
                            "error": e,
                        }),
                    };
                    let ev = c.log.event(
                        self.wall_ms,
                        CallEventKind::Note {
                            what: "payment".into(),
                            detail,
                        },
                    );
                    self.out.record(ev);
                }
                self.feed(now, key, IvrEvent::PaymentResult { request, result });
            }
            Completion::AgentExtension {
                call,
                agent,
                extension,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    self.out.routing(RoutingOp::NoAnswer {
                        agent: hotline_acd::AgentId::new(agent),
                    });
                    return;
                };
                match extension {
                    Some(ext) => {
                        self.deps.agents.insert(agent.clone(), ext.clone());
                        self.offer(now, key, &agent, &ext);
                    }
                    None => {
                        tracing::warn!(agent = %agent, "agent has no extension");
                        if let Some(c) = self.calls.get_mut(&key) {
                            c.service.withdraw_offer(&agent);
                        }
                        self.out.routing(RoutingOp::NoAnswer {
                            agent: hotline_acd::AgentId::new(agent),
                        });
                    }
                }
            }
        }
    }

    pub(crate) fn on_decision(&mut self, now: Instant, d: Decision) {
        match d {
            Decision::Offer {
                call,
                agent,
                deadline,
                ..
            } => {
                if let Some(key) = self.consult_key(call.as_str()) {
                    // A consultation routed through a queue (calls/legs.rs).
                    self.consult_offer(now, key, agent.as_str(), deadline);
                    return;
                }
                if !self.by_id.contains_key(call.as_str())
                    && self.deps.callbacks.contains_key(call.as_str())
                {
                    // A callback request at the head of its queue (calls/legs.rs).
                    self.callback_offer(now, call.as_str(), agent.as_str(), deadline);
                    return;
                }
                let Some(&key) = self.by_id.get(call.as_str()) else {
                    tracing::info!(call = %call.as_str(), "offer for a call that is gone");
                    self.out.routing(RoutingOp::NoAnswer {
                        agent: hotline_acd::AgentId::new(agent.as_str().to_string()),
                    });
                    return;
                };
                let agent = agent.as_str().to_string();
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                if c.legs.callee.is_some() || c.service.offer.is_some() {
                    // Already ringing someone (or connected): refuse this offer.
                    self.out.routing(RoutingOp::NoAnswer {
                        agent: hotline_acd::AgentId::new(agent),
                    });
                    return;
                }
                c.service.offer = Some(Offer {
                    agent: agent.clone(),
                    deadline,
                });
                match self.agent_extension(&agent) {
                    Some(ext) => self.offer(now, key, &agent, &ext),
                    None => {
                        let call = call.as_str().to_string();
                        self.out.work(Work::AgentExtension { call, agent });
                    }
                }
            }
            Decision::CancelOffer { call, agent } => {
                if let Some(key) = self.consult_key(call.as_str()) {
                    self.consult_offer_withdrawn(now, key, agent.as_str());
                    return;
                }
                if let Some(key) = self.callback_key(call.as_str()) {
                    // Only the agent the callback call rings (an older offer of the same id
                    // to someone else is not this one).
                    let ringing_this_agent = self.calls.get(&key).is_some_and(|c| {
                        c.extra
                            .callback
                            .as_ref()
                            .is_some_and(|cb| cb.agent == agent.as_str())
                    });
                    if ringing_this_agent {
                        self.callback_withdrawn(now, key);
                    }
                    return;
                }
                let Some(&key) = self.by_id.get(call.as_str()) else {
                    return;
                };
                let ringing = self.calls.get(&key).is_some_and(|c| {
                    c.service.offered() == Some(agent.as_str())
                        && c.legs.callee.as_ref().is_some_and(|b| !b.answered())
                });
                if ringing {
                    if let Some(tsx) = self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.legs.callee.as_mut())
                        .and_then(|b| b.take_invite_tsx())
                    {
                        let _ = self.ep.cancel(now, tsx);
                    }
                    self.drop_b(now, key);
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.service.offer = None;
                        // The queue's reservation lapsed (or routing moved the call): leave the
                        // same trace as a phone that did not answer.
                        tracing::info!(call = %c.id, agent = %agent.as_str(), "offer withdrawn by routing");
                        let ev = c.log.event(
                            self.wall_ms,
                            CallEventKind::Note {
                                what: "offer_failed".into(),
                                detail: serde_json::json!({
                                    "agent": agent.as_str(),
                                    "reason": "offer withdrawn"
                                }),
                            },
                        );
                        self.out.record(ev);
                        self.out.notify(CallNotice::Ended {
                            call: c.id.clone(),
                            agent: Some(agent.as_str().to_string()),
                            reason: "offer withdrawn".into(),
                        });
                    }
                } else if let Some(c) = self.calls.get_mut(&key) {
                    // Withdrawn while the agent's extension was being found: nothing rings.
                    c.service.withdraw_offer(agent.as_str());
                }
            }
            Decision::Overflow { call, target, .. } => {
                let Some(&key) = self.by_id.get(call.as_str()) else {
                    return;
                };
                match target {
                    OverflowTarget::Queue(q) => {
                        if let Some(c) = self.calls.get_mut(&key) {
                            let since = match &c.service.queueing {
                                Queueing::Queued { since, .. } => *since,
                                _ => now,
                            };
                            c.service.queueing = Queueing::Queued {
                                queue: q.as_str().to_string(),
                                since,
                            };
                            let ev = c.log.event(
                                self.wall_ms,
                                CallEventKind::Enqueued {
                                    queue_id: q.as_str().to_string(),
                                    priority: i64::from(c.service.priority),
                                },
                            );
                            self.out.record(ev);
                        }
                    }
                    other => {
                        tracing::info!(target = ?other, "overflow target handled by the IVR flow's own timers");
                    }
                }
            }
            Decision::DialCallback { call, .. } => match self.callback_key(call.as_str()) {
                Some(key) => self.dial_callback(now, key),
                None => {
                    tracing::info!(call = %call.as_str(), "callback dial for no callback call");
                    self.out.routing(RoutingOp::CallbackFailed {
                        call: hotline_acd::CallId::new(call.as_str().to_string()),
                    });
                }
            },
            Decision::Announce {
                call,
                position,
                estimated_wait,
            } => {
                let Some(&key) = self.by_id.get(call.as_str()) else {
                    return;
                };
                self.feed(
                    now,
                    key,
                    IvrEvent::QueueStatus {
                        request: None,
                        status: QueueStatus {
                            position: position as u32,
                            waiting: position as u32,
                            agents_available: 0,
                            estimated_wait: estimated_wait.unwrap_or(Duration::from_secs(600)),
                        },
                    },
                );
            }
        }
    }

    /// The screen pop for call `key`: the customer view, the IVR path and inputs, `queue`
    /// and the time waited, and the ring countdown.
    pub(crate) fn screen_pop(
        &self,
        now: Instant,
        key: CallKey,
        queue: &str,
        ring_secs: u32,
    ) -> Option<hotline_cti::ScreenPop> {
        let c = self.calls.get(&key)?;
        let summary = c.service.ivr.as_ref().map(|s| s.summary());
        Some(hotline_cti::ScreenPop {
            call: hotline_cti::CallId::new(c.id.clone()),
            ani: hotline_cti::Pii::new(c.ani.clone()),
            dnis: c.dnis.clone(),
            queue: hotline_cti::QueueId::new(queue),
            queue_name: self
                .deps
                .queue_names
                .get(queue)
                .cloned()
                .unwrap_or_else(|| queue.to_string()),
            waited_secs: match &c.service.queueing {
                Queueing::Queued { since, .. } => {
                    now.saturating_duration_since(*since).as_secs() as u32
                }
                _ => 0,
            },
            offered_at: hotline_cti::UnixMillis(self.wall_ms.max(0) as u64),
            ring_timeout_secs: ring_secs,
            ivr_path: summary
                .as_ref()
                .map(|s| s.path.iter().map(|p| p.node.to_string()).collect())
                .unwrap_or_default(),
            ivr_inputs: summary
                .as_ref()
                .map(|s| {
                    s.inputs
                        .iter()
                        .filter_map(|i| match &i.value {
                            InputValue::Digits(d) => Some(hotline_cti::IvrInput {
                                name: i.node.to_string(),
                                value: hotline_cti::Pii::new(d.clone()),
                            }),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            customer: c.service.customer.as_ref().map(cti_customer),
            new_customer_form: c.service.customer.is_none(),
            caller_proof: match c.service.proof {
                Proof::Claimed => hotline_cti::CallerProof::Claimed,
                Proof::Pin => hotline_cti::CallerProof::Pin,
            },
            context: None,
        })
    }

    /// Rings the agent's phone and, at the same moment, publishes the screen pop.
    fn offer(&mut self, now: Instant, key: CallKey, agent: &str, ext: &str) {
        let sip_ring = self.ring_timeout;
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        // The pop's countdown: whichever ends the ringing first, the queue's reservation or the
        // switch's own ring timer.
        let deadline = match &c.service.offer {
            Some(o) if o.agent == agent && c.legs.callee.is_none() => o.deadline,
            // Routing withdrew the offer while the extension was being found.
            None => return,
            _ => {
                // Withdrawn meanwhile, or already ringing someone (or connected).
                self.out.routing(RoutingOp::NoAnswer {
                    agent: hotline_acd::AgentId::new(agent.to_string()),
                });
                return;
            }
        };
        let ring = deadline.saturating_duration_since(now).min(sip_ring);
        let ring_secs = ring.as_secs_f64().round() as u32;
        let queue = c.service.queueing.queue().unwrap_or_default().to_string();
        let Some(pop) = self.screen_pop(now, key, &queue, ring_secs) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let ev = c.log.event(
            self.wall_ms,
            CallEventKind::Offered {
                agent_id: agent.to_string(),
            },
        );
        self.out.record(ev);
        self.out.notify(CallNotice::Offered {
            agent: agent.to_string(),
            pop: Box::new(pop),
        });
        self.ring_extension(now, key, ext, Some(agent.to_string()));
    }

    pub(crate) fn agent_ringing(&mut self, _now: Instant, key: CallKey) {
        let remote_answer = self.remote_answer_possible(key).is_ok();
        if let Some(c) = self.calls.get(&key)
            && let Some(agent) = c.service.offered()
        {
            self.out.notify(CallNotice::Ringing {
                call: c.id.clone(),
                agent: agent.to_string(),
                remote_answer,
            });
        }
    }

    /// Keeps the early dialog of an agent's ringing phone (an 18x with a To tag) and whether
    /// the phone advertised the `talk` event.
    pub(crate) fn note_early_dialog(&mut self, key: CallKey, resp: &hotline_sip::Message<'static>) {
        let Some(b) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.legs.callee.as_mut())
        else {
            return;
        };
        let crate::LegState::Inviting { tsx } = b.state else {
            return;
        };
        let talk = resp
            .header("Allow-Events")
            .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("talk")));
        if let Ok(dialog) = hotline_sip::Dialog::uac(&b.invite_req, resp) {
            b.state = crate::LegState::Early { tsx, dialog, talk };
        }
    }

    /// Whether the desktop's Answer can reach the phone ringing for call `key`, or why not.
    fn remote_answer_possible(&self, key: CallKey) -> Result<(), CallError> {
        let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
        let b = c
            .legs
            .callee
            .as_ref()
            .filter(|b| !b.answered())
            .ok_or("the phone is not ringing")?;
        let LegTarget::Agent { extension, .. } = &b.target else {
            return Err("the phone is not ringing".into());
        };
        let talk = match b.early() {
            Some((_, talk)) => talk,
            None => return Err("the phone is not ringing yet".into()),
        };
        match self.reg.remote_answer(extension) {
            crate::config::RemoteAnswer::Talk => Ok(()),
            crate::config::RemoteAnswer::Auto if talk => Ok(()),
            _ => Err(CallError::Unsupported(
                "this phone cannot be answered from the desktop: lift the handset".into(),
            )),
        }
    }

    /// The desktop's Answer: the switch tells the agent's ringing phone to pick up
    /// (`NOTIFY` with `Event: talk` in the early dialog; the phone then answers the INVITE).
    pub(crate) fn answer_offer(
        &mut self,
        now: Instant,
        agent: &str,
        call: &str,
    ) -> Result<(), CallError> {
        let key = *self
            .by_id
            .get(call)
            .ok_or_else(|| CallError::UnknownCall(format!("no call {call}")))?;
        let offered = self
            .calls
            .get(&key)
            .is_some_and(|c| c.service.offered() == Some(agent));
        if !offered {
            return Err(CallError::NotYours(
                "the call is not being offered to you".into(),
            ));
        }
        self.remote_answer_possible(key)?;
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
        let b = c.legs.callee.as_mut().ok_or("the phone is not ringing")?;
        let (dst, transport) = (b.dst, b.transport);
        let crate::LegState::Early { dialog: d, .. } = &mut b.state else {
            return Err("the phone is not ringing yet".into());
        };
        let mut n = d
            .request(hotline_sip::Method::Notify)
            .map_err(|e| format!("cannot signal the phone: {e}"))?;
        n.push_header("Event", "talk");
        n.push_header("Subscription-State", "terminated");
        tracing::info!(call = %c.id, agent = %agent, "answer from the desktop: talk event sent");
        self.ep
            .send_request(now, n, dst, transport)
            .map(|_| ())
            .map_err(|e| CallError::InvalidState(format!("cannot signal the phone: {e}")))
    }

    /// The B leg of a service call answered: an agent (connect, tell routing) or an IVR
    /// transfer target.
    pub(crate) fn agent_answered(&mut self, now: Instant, key: CallKey) {
        self.bridge_media(key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let target = c.legs.callee.as_ref().map(|b| b.target.clone());
        if let Some(LegTarget::Agent { agent, .. }) = target {
            c.agent = Some(agent.clone());
            c.service.offer = None;
            let id = c.id.clone();
            let ev = c.log.event(
                self.wall_ms,
                CallEventKind::Answered {
                    agent_id: agent.clone(),
                },
            );
            self.out.record(ev);
            self.out.routing(RoutingOp::Answer {
                call: hotline_acd::CallId::new(id.clone()),
                agent: hotline_acd::AgentId::new(agent.clone()),
            });
            self.out.notify(CallNotice::Connected {
                call: id,
                agent: agent.clone(),
            });
            self.feed(now, key, IvrEvent::AgentConnected { agent });
        } else {
            let req = c.service.transfer.take();
            let ev = c.log.event(
                self.wall_ms,
                CallEventKind::Answered {
                    agent_id: match target {
                        Some(LegTarget::Extension(e)) => format!("ext:{e}"),
                        Some(LegTarget::Trunk(t)) => format!("trunk:{t}"),
                        _ => String::new(),
                    },
                },
            );
            self.out.record(ev);
            if let Some(request) = req {
                self.feed(now, key, IvrEvent::TransferResult { request, ok: true });
            }
        }
    }

    /// The agent rejects the call being offered to them (the desktop's Reject while their
    /// phone rings): the phone stops ringing (CANCEL), the call goes back to its place in the
    /// queue and the agent becomes not ready with reason `rejected`.
    pub(crate) fn reject_offer(
        &mut self,
        now: Instant,
        agent: &str,
        call: &str,
    ) -> Result<(), CallError> {
        let key = *self
            .by_id
            .get(call)
            .ok_or_else(|| CallError::UnknownCall(format!("no call {call}")))?;
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
        if c.service.offered() != Some(agent) {
            return Err(CallError::NotYours(
                "the call is not being offered to you".into(),
            ));
        }
        let Some(b) = c.legs.callee.as_mut().filter(|b| !b.answered()) else {
            return Err("the call is no longer ringing".into());
        };
        if let Some(tsx) = b.take_invite_tsx() {
            let _ = self.ep.cancel(now, tsx);
        }
        tracing::info!(call = %c.id, agent = %agent, "offer rejected from the desktop");
        self.agent_leg_failed(now, key, "rejected", OfferRefusal::Rejected);
        Ok(())
    }

    /// The B leg of a service call failed (no answer, busy, not registered, rejected): the
    /// call goes back to routing, or the IVR hears that its transfer failed.
    pub(crate) fn agent_leg_failed(
        &mut self,
        now: Instant,
        key: CallKey,
        reason: &str,
        refusal: OfferRefusal,
    ) {
        let agent =
            self.calls
                .get(&key)
                .and_then(|c| match c.legs.callee.as_ref().map(|b| &b.target) {
                    Some(LegTarget::Agent { agent, .. }) => Some(agent.clone()),
                    _ => c.service.offered().map(str::to_string),
                });
        self.drop_b(now, key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if c.mode != Mode::Service {
            self.end_call(
                now,
                key,
                None,
                reason,
                Some(hotline_sip::StatusCode::TEMPORARILY_UNAVAILABLE),
            );
            return;
        }
        c.service.offer = None;
        let id = c.id.clone();
        if let Some(agent) = agent {
            let ev = c.log.event(
                self.wall_ms,
                CallEventKind::Note {
                    what: "offer_failed".into(),
                    detail: serde_json::json!({ "agent": agent, "reason": reason }),
                },
            );
            self.out.record(ev);
            self.out.notify(CallNotice::Ended {
                call: id,
                agent: Some(agent.clone()),
                reason: reason.to_string(),
            });
            self.out.routing(match refusal {
                OfferRefusal::NoAnswer => RoutingOp::NoAnswer {
                    agent: hotline_acd::AgentId::new(agent),
                },
                OfferRefusal::Rejected => RoutingOp::Reject {
                    agent: hotline_acd::AgentId::new(agent),
                },
            });
        } else if let Some(request) = c.service.transfer.take() {
            self.feed(now, key, IvrEvent::TransferResult { request, ok: false });
        }
    }

    /// The agent left a call that continues (blind transfer, consultation completed,
    /// conference left, take-over): routing ends their part. A callback call is known to
    /// routing by its request's id; once its agent has left, it is an ordinary call.
    pub(crate) fn agent_released(&mut self, _now: Instant, key: CallKey, _agent: &str) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let routing_id = match c.extra.callback.take() {
            Some(cb) => {
                self.deps.callbacks.remove(&cb.request);
                if self.by_id.get(&cb.request) == Some(&key) {
                    self.by_id.remove(&cb.request);
                }
                cb.request
            }
            None => c.id.clone(),
        };
        self.out.routing(RoutingOp::Hangup {
            call: hotline_acd::CallId::new(routing_id),
        });
    }

    /// The call is over: tell routing, the IVR and the CTI.
    pub(crate) fn service_ended(&mut self, now: Instant, c: &mut super::Call, reason: &str) {
        if self.callback_ended(c, reason) {
            return;
        }
        if let Some(s) = c.service.ivr.as_mut() {
            s.handle_event(now, IvrEvent::CallerHungUp);
            // What the session still asks for: an unpaid hold to release; the rest (playback,
            // queue, payment mode) ends with the call.
            while let Some(a) = s.poll_action() {
                if let Action::ReleaseHold { hold_id } = a {
                    let call = c.id.clone();
                    self.out.work(Work::ReleaseHold { call, hold_id });
                }
            }
        }
        if let Some(a) = c.service.assist.take() {
            c.service.ivr = a.previous;
        }
        if let Some(ev) = ivr_record(c, self.wall_ms) {
            self.out.record(ev);
        }
        if let Some(v) = c.service.voicemail.take() {
            // The usual end of a message: the caller hangs up. Filed all the same.
            let work = file_voicemail(
                &self.deps.media,
                &self.deps.work_due,
                &c.id,
                &c.ani,
                v,
                now,
                self.wall_ms,
                false,
            );
            self.out.work(work);
        }
        let agent = c
            .agent
            .clone()
            .or_else(|| c.service.offered().map(str::to_string));
        if c.service.queueing.queue().is_some() || agent.is_some() {
            if c.agent.is_some() {
                self.out.routing(RoutingOp::Hangup {
                    call: hotline_acd::CallId::new(c.id.clone()),
                });
            } else {
                self.out.routing(RoutingOp::Abandon {
                    call: hotline_acd::CallId::new(c.id.clone()),
                });
            }
        }
        if let Some(a) = agent {
            self.out.notify(CallNotice::Ended {
                call: c.id.clone(),
                agent: Some(a),
                reason: reason.to_string(),
            });
        }
        let _ = Role::Caller;
    }
}

/// The `ivr` call-record event (path and inputs; sensitive entries only as their length),
/// once per call, and never for an agent-assisted payment session.
fn ivr_record(c: &mut super::Call, wall_ms: i64) -> Option<hotline_records::CallEvent> {
    if c.service.ivr_recorded || c.service.assist.is_some() {
        return None;
    }
    let s = c.service.ivr.as_ref()?;
    let sum = s.summary();
    let path = sum.path.iter().map(|p| p.node.to_string()).collect();
    let mut inputs = serde_json::Map::new();
    for i in &sum.inputs {
        let v = match &i.value {
            InputValue::Digits(d) => serde_json::Value::String(d.clone()),
            InputValue::Masked(n) => serde_json::json!({ "masked": n }),
            InputValue::NoInput => serde_json::Value::Null,
        };
        inputs.insert(i.node.to_string(), v);
    }
    c.service.ivr_recorded = true;
    Some(c.log.event(wall_ms, CallEventKind::Ivr { path, inputs }))
}

/// How a charge's outcome is stored and shown (`approved`, `declined`).
pub fn charge_status_name(s: &ChargeStatus) -> &'static str {
    match s {
        ChargeStatus::Approved => "approved",
        ChargeStatus::Declined(_) | ChargeStatus::InsufficientFunds => "declined",
    }
}

/// The desktop's view of payment progress: counts and outcomes, never digits.
pub(crate) fn payment_stage(
    p: &PaymentProgress,
    reference: Option<String>,
) -> Option<hotline_cti::PaymentStage> {
    use hotline_cti::{PaymentField, PaymentStage};
    let field = |f: &CardField| match f {
        CardField::Number => PaymentField::CardNumber,
        CardField::Expiry => PaymentField::Expiry,
        CardField::SecurityCode => PaymentField::SecurityCode,
    };
    let count = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    Some(match p {
        PaymentProgress::Started { .. } => PaymentStage::Started,
        PaymentProgress::Digits {
            field: f,
            count: n,
            expected,
        } => PaymentStage::Collecting {
            field: field(f),
            entered: count(*n),
            expected: expected.map(count),
        },
        PaymentProgress::Invalid { field: f } => PaymentStage::Collecting {
            field: field(f),
            entered: 0,
            expected: None,
        },
        PaymentProgress::Submitted => PaymentStage::Processing,
        PaymentProgress::Approved { .. } => PaymentStage::Approved {
            reference: reference.unwrap_or_default(),
        },
        PaymentProgress::Declined { reason } => PaymentStage::Declined {
            reason: reason.clone(),
        },
        PaymentProgress::Abandoned => PaymentStage::Cancelled,
        _ => return None,
    })
}
