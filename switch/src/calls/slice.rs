//! The service side of call control: IVR sessions, queueing through routing, ringing agents
//! with a screen pop, and connecting them.
//!
//! A call to an `ivr` or `queue` route is answered by the switch (media anchored). The IVR
//! session ([`hotline_ivr::Session`]) is driven like every sans-IO core: after any input drain
//! its actions, perform them through media, the store and routing, and re-arm one timer at its
//! `poll_timeout`. Store lookups and routing commands run off the call-control task; their
//! results come back as [`SliceResult`]s. Routing commands go through one mailbox task so they
//! reach the ACD in the order call control issued them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_acd::{AgentId, CallId as AcdCallId, Decision, OverflowTarget, Priority, QueueId};
use hotline_ivr::{
    Action, Ani, CardBrand, CardField, ChargeRequest, ChargeResult, ChargeStatus, Dnis,
    Event as IvrEvent, FlowSet, InputValue, LookupKey, PaymentProgress, PlaybackId, PromptDir,
    QueueStatus, RequestId, SandboxGateway, Session, TransferTarget, UnixTime,
};
use hotline_media::{MediaEngine, PlayOptions};
use hotline_store::{CallEventKind, Identity, IdentityKind, Store};
use tokio::sync::mpsc;

use super::gateway::Gateway;
use super::{Core, Internal, LegTarget, Mode, Side};
use crate::app::now_millis;
use crate::bus::CallNotice;
use crate::routing::RoutingHandle;

/// What the service side needs; all optional so a signalling-only switch (benchmarks, direct
/// media) runs without them.
#[derive(Default)]
pub struct SliceDeps {
    pub media: Option<MediaEngine>,
    /// Looped while a caller waits or is on hold.
    pub hold_music: Option<PathBuf>,
    pub flows: Option<Arc<FlowSet>>,
    pub prompts: Option<PromptDir>,
    pub routing: Option<RoutingHandle>,
    pub decisions: Option<mpsc::UnboundedReceiver<Decision>>,
    /// Agent id -> extension, loaded at start-up (misses are looked up in the store).
    pub agents: HashMap<String, String>,
    /// Queue id -> display name.
    pub queue_names: HashMap<String, String>,
    pub(crate) ops: Option<mpsc::UnboundedSender<RoutingOp>>,
    /// The payment gateway (`[payments]`: the sandbox unless configured otherwise; shared
    /// with the charge tasks, which run off the call-control task).
    pub(crate) gateway: Option<Gateway>,
    /// Callback requests routing holds, by the id of the call they came from (calls/legs.rs
    /// dials them).
    pub(crate) callbacks: HashMap<String, super::legs::PendingCallback>,
}

/// How long a booking stays held while the caller pays (the store's `expire_holds` frees it
/// after that even if the call never ends cleanly).
const HOLD_TIME_MS: i64 = 15 * 60 * 1000;

impl SliceDeps {
    pub(crate) fn is_queue(&self, q: &str) -> bool {
        self.queue_names.contains_key(q)
    }
}

/// Per-call service state.
#[derive(Default)]
pub(crate) struct SliceCall {
    /// The IVR left the queue; routing hears `abandon` unless a callback request follows.
    leave_pending: bool,
    pub(crate) ivr: Option<Session>,
    pub(crate) playback: Option<PlaybackId>,
    queue: Option<String>,
    queued_at: Option<Instant>,
    priority: u8,
    /// The identified caller (after verification, when the flow asks for a PIN).
    customer: Option<hotline_store::CustomerView>,
    /// How `customer` was identified: a caller number alone proves nothing (it can be forged).
    proof: Proof,
    /// The caller the last look-up found, not yet identified: it becomes `customer` when the
    /// IVR says `CustomerIdentified` (a flow that verifies says so only after a right PIN).
    looked_up: Option<(hotline_store::CustomerView, Proof)>,
    /// The agent being rung.
    offered: Option<String>,
    /// When routing's reservation of that agent lapses (the queue's ring timeout).
    offer_deadline: Option<Instant>,
    transfer: Option<RequestId>,
    voicemail: Option<(RequestId, hotline_media::RecordingId, Instant)>,
    /// The IVR's path and inputs are in the call record already.
    ivr_recorded: bool,
    /// An agent handed the caller to the payment flow (`payment.rs`).
    pub(crate) assist: Option<super::payment::Assist>,
    /// Agent-assisted payments started on this call (numbers their sessions).
    pub(crate) payments: u32,
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

impl SliceCall {
    /// The customer id, when the caller proved to be that customer on this call (PIN).
    pub(crate) fn verified_customer(&self) -> Option<i64> {
        match self.proof {
            Proof::Pin => self.customer.as_ref().map(|v| v.customer.id),
            Proof::Claimed => None,
        }
    }

    /// The routing priority the caller has (set by the IVR or the queue route).
    pub(crate) fn priority(&self) -> u8 {
        self.priority
    }

    /// The caller's customer record (screen pops).
    pub(crate) fn set_customer(&mut self, v: Option<hotline_store::CustomerView>, proof: Proof) {
        self.customer = v;
        self.proof = proof;
    }
}

/// Results of work done off the call-control task.
#[derive(Debug)]
pub(crate) enum SliceResult {
    /// The caller of a queue number looked up by number; then the call is queued.
    QueueLookup {
        call: String,
        queue: String,
        view: Option<Box<hotline_store::CustomerView>>,
    },
    Lookup {
        call: String,
        request: RequestId,
        view: Option<Box<hotline_store::CustomerView>>,
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

/// Commands for the routing mailbox.
#[derive(Debug)]
pub(crate) enum RoutingOp {
    Enqueue(String, String, u8),
    Answer(String, String),
    NoAnswer(String),
    Hangup(String),
    Abandon(String),
    RequestCallback(String),
    CallbackFailed(String),
    QueryQueue(String, RequestId, String),
    /// (agent, call): a call the queues did not route (calls/legs.rs).
    DirectStarted(String, String),
    DirectEnded(String, String),
    /// (queue call, direct call): a consultation answered through a queue.
    ContinueDirect(String, String),
    /// The customer answered a callback dial.
    CallbackConnected(String),
}

/// Waits for the next routing decision (pending forever without routing).
pub(crate) async fn next_decision(deps: &mut SliceDeps) -> Option<Decision> {
    match deps.decisions.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn routing_mailbox(
    routing: RoutingHandle,
    mut rx: mpsc::UnboundedReceiver<RoutingOp>,
    internal: mpsc::UnboundedSender<Internal>,
) {
    while let Some(op) = rx.recv().await {
        let r = match &op {
            RoutingOp::Enqueue(call, queue, prio) => {
                routing
                    .enqueue(
                        &AcdCallId::new(call.as_str()),
                        &QueueId::new(queue.as_str()),
                        Priority(u32::from(*prio)),
                    )
                    .await
            }
            RoutingOp::Answer(call, agent) => {
                routing
                    .answer(
                        &AcdCallId::new(call.as_str()),
                        &AgentId::new(agent.as_str()),
                    )
                    .await
            }
            RoutingOp::NoAnswer(agent) => routing.no_answer(&AgentId::new(agent.as_str())).await,
            RoutingOp::DirectStarted(agent, call) => {
                routing
                    .direct_call_started(
                        &AgentId::new(agent.as_str()),
                        &AcdCallId::new(call.as_str()),
                    )
                    .await
            }
            RoutingOp::CallbackConnected(call) => {
                routing
                    .callback_connected(&AcdCallId::new(call.as_str()))
                    .await
            }
            RoutingOp::ContinueDirect(call, direct) => {
                routing
                    .continue_as_direct(
                        &AcdCallId::new(call.as_str()),
                        &AcdCallId::new(direct.as_str()),
                    )
                    .await
            }
            RoutingOp::DirectEnded(agent, call) => {
                routing
                    .direct_call_ended(
                        &AgentId::new(agent.as_str()),
                        &AcdCallId::new(call.as_str()),
                    )
                    .await
            }
            RoutingOp::Hangup(call) => routing.hangup(&AcdCallId::new(call.as_str())).await,
            RoutingOp::Abandon(call) => routing.abandon(&AcdCallId::new(call.as_str())).await,
            RoutingOp::RequestCallback(call) => {
                routing
                    .request_callback(&AcdCallId::new(call.as_str()))
                    .await
            }
            RoutingOp::CallbackFailed(call) => {
                routing
                    .callback_failed(&AcdCallId::new(call.as_str()))
                    .await
            }
            RoutingOp::QueryQueue(call, request, queue) => {
                let stats = routing.queue_stats(&QueueId::new(queue.as_str())).await;
                let position = routing
                    .position(&AcdCallId::new(call.as_str()))
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                let status = match stats {
                    Ok(Some(s)) => QueueStatus {
                        position: position as u32,
                        waiting: s.waiting as u32,
                        agents_available: s.ready_agents as u32,
                        estimated_wait: s.estimated_wait_new.unwrap_or(Duration::from_secs(600)),
                    },
                    _ => QueueStatus {
                        position: position as u32,
                        waiting: 0,
                        agents_available: 0,
                        estimated_wait: Duration::from_secs(600),
                    },
                };
                let _ = internal.send(Internal::Slice(SliceResult::QueueStatus {
                    call: call.clone(),
                    request: *request,
                    status,
                }));
                Ok(())
            }
        };
        if let Err(e) = r {
            tracing::info!(op = ?op, error = %e, "routing refused");
        }
    }
}

/// Store customer view -> the CTI's.
pub(crate) fn cti_customer(v: &hotline_store::CustomerView) -> hotline_cti::CustomerView {
    hotline_cti::from_store::customer_view(v)
}

/// Is `number` one of the customer's phone numbers on record?
fn own_number(customer: &Option<hotline_store::CustomerView>, number: &str, cc: &str) -> bool {
    let Ok(wanted) = Identity::phone_in(number, cc) else {
        return false;
    };
    customer.as_ref().is_some_and(|v| {
        v.identities
            .iter()
            .any(|i| i.kind == wanted.kind && i.value == wanted.value && i.verified)
    })
}

fn ivr_customer(v: &hotline_store::CustomerView) -> hotline_ivr::Customer {
    hotline_ivr::Customer {
        id: v.customer.id.to_string(),
        tier: v.customer.tier.clone(),
        name: Some(v.customer.display_name.clone()),
        attributes: Default::default(),
    }
}

impl Core {
    pub(crate) fn slice_init(&mut self) {
        if let Some(r) = self.deps.routing.clone() {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(routing_mailbox(r, rx, self.internal.clone()));
            self.deps.ops = Some(tx);
        }
        if self.deps.gateway.is_none() {
            self.deps.gateway = Some(Gateway::Sandbox(Arc::new(
                Mutex::new(SandboxGateway::new()),
            )));
        }
    }

    pub(crate) fn routing(&self, op: RoutingOp) {
        match &self.deps.ops {
            Some(tx) => {
                let _ = tx.send(op);
            }
            None => tracing::debug!(op = ?op, "no routing: dropped"),
        }
    }

    pub(crate) fn agent_extension(&self, agent: &str) -> Option<String> {
        self.deps.agents.get(agent).cloned()
    }

    /// The switch answers the caller and starts the IVR flow or queues the call.
    pub(crate) fn start_service(
        &mut self,
        now: Instant,
        key: u64,
        flow: Option<String>,
        queue: Option<String>,
    ) {
        let answered = self.calls.get(&key).is_some_and(|c| c.a.answered);
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
                    wall_clock: UnixTime(now_millis() / 1000),
                },
            );
            c.slice.ivr = Some(s);
            self.drive_ivr(now, key);
        } else if let Some(q) = queue {
            // A queue number without an IVR: hold music at once, and the caller is looked up
            // by number before the call is queued, so the agent's pop shows who is calling.
            if let (Some(m), Some(c)) = (&self.deps.media, self.calls.get(&key))
                && let (Some(a), Some(music)) = (c.a.media, &self.deps.hold_music)
            {
                let _ = m.music_on_hold(a, music);
            }
            let Some(c) = self.calls.get(&key) else {
                return;
            };
            let (call, store, tx) = (c.id.clone(), self.store.clone(), self.internal.clone());
            let identity = Identity::phone_in(&c.ani, &self.country_code);
            tokio::spawn(async move {
                let view = match identity {
                    Ok(i) => store.customer_view(&i).await.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "customer lookup failed; queued unidentified");
                        None
                    }),
                    Err(_) => None,
                };
                let _ = tx.send(Internal::Slice(SliceResult::QueueLookup {
                    call,
                    queue: q,
                    view: view.map(Box::new),
                }));
            });
        }
    }

    fn enqueue(&mut self, now: Instant, key: u64, queue: &str, priority: u8) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.slice.queue = Some(queue.to_string());
        c.slice.queued_at = Some(now);
        c.slice.priority = priority;
        let id = c.id.clone();
        let ev = c.log.event(
            now_millis(),
            CallEventKind::Enqueued {
                queue_id: queue.to_string(),
                priority: i64::from(priority),
            },
        );
        self.cdr.write(ev);
        self.routing(RoutingOp::Enqueue(id, queue.to_string(), priority));
    }

    fn feed(&mut self, now: Instant, key: u64, ev: IvrEvent) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(s) = c.slice.ivr.as_mut() else {
            return;
        };
        s.handle_event(now, ev);
        self.drive_ivr(now, key);
    }

    pub(crate) fn slice_timeout(&mut self, now: Instant, key: u64) {
        if let Some((rid, rec, _)) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.slice.voicemail.take_if(|v| now >= v.2))
        {
            // Voicemail recording time is up.
            if let Some(m) = &self.deps.media {
                let _ = m.stop_recording(rec);
            }
            self.feed(now, key, IvrEvent::RecordingFinished { request: rid });
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(s) = c.slice.ivr.as_mut() else {
            return;
        };
        s.handle_timeout(now);
        self.drive_ivr(now, key);
    }

    pub(crate) fn slice_digit(&mut self, now: Instant, key: u64, digit: char) {
        let Some(d) = hotline_ivr::Digit::from_char(digit) else {
            return;
        };
        self.feed(now, key, IvrEvent::Digit(d));
    }

    pub(crate) fn slice_prompt_finished(&mut self, now: Instant, key: u64) {
        let Some(id) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.slice.playback.take())
        else {
            return;
        };
        self.feed(now, key, IvrEvent::PromptFinished(id));
    }

    /// After any input to the session: perform its actions, re-arm its timer.
    pub(crate) fn drive_ivr(&mut self, now: Instant, key: u64) {
        let mut answers: Vec<IvrEvent> = Vec::new();
        loop {
            let action = {
                let Some(c) = self.calls.get_mut(&key) else {
                    return;
                };
                let Some(s) = c.slice.ivr.as_mut() else {
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
            && std::mem::take(&mut c.slice.leave_pending)
        {
            let id = c.id.clone();
            self.routing(RoutingOp::Abandon(id));
        }
        let assisted_done = self.calls.get(&key).is_some_and(|c| {
            c.slice.assist.is_some() && c.slice.ivr.as_ref().is_some_and(|s| s.is_finished())
        });
        if assisted_done {
            self.payment_finished(now, key);
            return;
        }
        if let Some(at) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.slice.ivr.as_mut())
            .and_then(|s| s.poll_timeout())
        {
            self.schedule_slice(at, key);
        }
    }

    /// Performs one IVR action; returns an answer to feed back at once, if it has one.
    fn perform(&mut self, now: Instant, key: u64, action: Action) -> Option<IvrEvent> {
        let media = self.deps.media.clone();
        let c = self.calls.get_mut(&key)?;
        let a_media = c.a.media;
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
                        c.slice.playback = Some(id);
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
                c.slice.playback = None;
                let path = self
                    .deps
                    .prompts
                    .as_ref()
                    .and_then(|d| d.resolve(music.name()))
                    .or_else(|| self.deps.hold_music.clone());
                if let (Some(m), Some(a), Some(p)) = (&media, a_media, path) {
                    let _ = m.music_on_hold(a, p);
                }
                None
            }
            Action::StopPlayback => {
                c.slice.playback = None;
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
                let store = self.store.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let view = match identity {
                        Ok(i) => store.customer_view(&i).await.unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "customer lookup failed");
                            None
                        }),
                        Err(_) => None,
                    };
                    let _ = tx.send(Internal::Slice(SliceResult::Lookup {
                        call: call_id,
                        request,
                        view: view.map(Box::new),
                    }));
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
                let store = self.store.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let verified = match customer_id.parse::<i64>() {
                        Ok(id) => store
                            .verify_customer_pin(id, code.expose(), now_millis())
                            .await
                            .unwrap_or_else(|e| {
                                tracing::warn!(call = %call_id, error = %e,
                                    "caller PIN could not be checked: not verified");
                                false
                            }),
                        Err(_) => false,
                    };
                    drop(code);
                    tracing::info!(call = %call_id, customer = %customer_id, verified,
                        "caller PIN checked");
                    let _ = tx.send(Internal::Slice(SliceResult::Verified {
                        call: call_id,
                        request,
                        verified,
                    }));
                });
                None
            }
            Action::CustomerIdentified { customer_id, .. } => {
                // The looked-up caller is the call's customer from now on (screen pop,
                // bookings, payments).
                if let Some((view, proof)) = c
                    .slice
                    .looked_up
                    .take_if(|(v, _)| v.customer.id.to_string() == customer_id)
                {
                    c.slice.set_customer(Some(view), proof);
                    if proof == Proof::Pin {
                        // The caller's own number on record may now be called back even if
                        // it is outside the allowed prefixes (never a denied range).
                        let own = own_number(&c.slice.customer, &c.ani, &self.country_code);
                        if own
                            && self.plan.callback_target(&c.ani, true).is_ok()
                            && let Some(s) = c.slice.ivr.as_mut()
                        {
                            s.set_callback_offer(hotline_ivr::CallbackOffer::Allowed);
                        }
                    }
                }
                if let Ok(id) = customer_id.parse::<i64>() {
                    let ev = c
                        .log
                        .event(now_millis(), CallEventKind::Identified { customer_id: id });
                    self.cdr.write(ev);
                }
                None
            }
            Action::QueryQueue { request, queue } => {
                self.routing(RoutingOp::QueryQueue(call_id, request, queue));
                None
            }
            Action::SetPriority(p) => {
                c.slice.priority = p;
                None
            }
            Action::SetSkills(_) | Action::SetVariable { .. } | Action::CollectDigits { .. } => {
                None
            }
            Action::Enqueue {
                queue, priority, ..
            } => {
                // The IVR part so far goes into the call record.
                if let Some(ev) = ivr_record(c) {
                    self.cdr.write(ev);
                }
                let p = priority.unwrap_or(c.slice.priority);
                self.enqueue(now, key, &queue, p);
                None
            }
            Action::LeaveQueue { .. } => {
                // Held back until the IVR's next actions are known: a callback request keeps
                // the call's place in the queue (drive_ivr sends the abandon otherwise).
                c.slice.leave_pending = c.slice.queue.take().is_some();
                None
            }
            Action::RequestCallback { queue, number } => {
                c.slice.leave_pending = false;
                let own_verified = c.slice.verified_customer().is_some()
                    && own_number(&c.slice.customer, number.as_str(), &self.country_code);
                let pending = super::legs::PendingCallback {
                    number: number.as_str().to_string(),
                    own_verified,
                    queue,
                    customer: c.slice.customer.clone(),
                    attempts: 0,
                };
                self.deps.callbacks.insert(call_id.clone(), pending);
                let ev = c.log.event(
                    now_millis(),
                    CallEventKind::Note {
                        what: "callback_requested".into(),
                        detail: serde_json::json!({}),
                    },
                );
                self.cdr.write(ev);
                self.routing(RoutingOp::RequestCallback(call_id));
                None
            }
            Action::Transfer { request, target } => {
                c.slice.transfer = Some(request);
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
                ..
            } => {
                let rec = match (&media, a_media) {
                    (Some(m), Some(a)) => m.start_recording(&format!("vm-{call_id}"), &[a]).ok(),
                    _ => None,
                };
                match rec {
                    Some(r) => {
                        c.slice.voicemail = Some((request, r, now + max_duration));
                        self.schedule_slice(now + max_duration, key);
                        None
                    }
                    None => Some(IvrEvent::RecordingFinished { request }),
                }
            }
            Action::ListBookable {
                request, max_items, ..
            } => {
                // The store has no item categories: every bookable item is offered. Only a
                // caller who proved to be the customer (PIN) books on the customer's account.
                let customer = c.slice.verified_customer();
                let store = self.store.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let items = list_bookable(&store, &call_id, customer, max_items).await;
                    let _ = tx.send(Internal::Slice(SliceResult::Bookable {
                        call: call_id,
                        request,
                        items,
                    }));
                });
                None
            }
            Action::HoldItem { request, item_id } => {
                let customer = c.slice.verified_customer();
                let store = self.store.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let booking = hold_item(&store, &call_id, customer, &item_id).await;
                    let _ = tx.send(Internal::Slice(SliceResult::Held {
                        call: call_id,
                        request,
                        booking,
                    }));
                });
                None
            }
            Action::ReleaseHold { hold_id } => {
                let store = self.store.clone();
                tokio::spawn(release_hold(store, call_id, hold_id));
                None
            }
            Action::Charge { request, charge } => {
                let Some(gateway) = self.deps.gateway.clone() else {
                    return Some(IvrEvent::PaymentResult {
                        request,
                        result: Err("no payment gateway".into()),
                    });
                };
                let ctx = ChargeContext {
                    call_id: call_id.clone(),
                    // Stored against the customer only when the caller proved to be them.
                    customer: c.slice.verified_customer(),
                    // A booking held by this session and not paid yet is what this charge pays.
                    booking: c
                        .slice
                        .ivr
                        .as_ref()
                        .filter(|s| s.payment().is_none())
                        .and_then(|s| s.held_item())
                        .and_then(|h| h.hold_id.parse::<i64>().ok()),
                    reference: c.slice.assist.as_ref().map(|a| a.reference.clone()),
                };
                let store = self.store.clone();
                let tx = self.internal.clone();
                tokio::spawn(async move {
                    let amount_minor = charge.amount_minor;
                    let currency = charge.currency.clone();
                    let key = charge.idempotency_key.0.clone();
                    let (result, confirmed) = charge_card(&store, &gateway, &ctx, charge).await;
                    let _ = tx.send(Internal::Slice(SliceResult::Charged {
                        call: ctx.call_id,
                        request,
                        amount_minor,
                        currency,
                        key,
                        result,
                        confirmed,
                    }));
                });
                None
            }
            Action::PaymentProgress(p) => {
                let agent = c
                    .slice
                    .assist
                    .as_ref()
                    .map(|a| a.agent.clone())
                    .or_else(|| c.agent.clone());
                let reference = c
                    .slice
                    .ivr
                    .as_ref()
                    .and_then(|s| s.payment())
                    .map(|r| r.token.clone());
                if let (Some(agent), Some(stage)) = (agent, payment_stage(&p, reference)) {
                    self.bus.notify(CallNotice::Payment {
                        call: call_id,
                        agent,
                        stage,
                    });
                }
                None
            }
            Action::PauseRecording | Action::ResumeRecording | Action::SuppressDtmfToAgent(_)
                if c.slice.assist.is_some()
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
                if let (Some(m), Some(b)) = (&media, c.b.as_ref().and_then(|b| b.media)) {
                    let _ = m.suppress_dtmf(b, on);
                }
                None
            }
            Action::Hangup => {
                if let Some(ev) = ivr_record(c) {
                    self.cdr.write(ev);
                }
                self.end_call(now, key, None, "IVR hung up", None);
                None
            }
            _ => None,
        }
    }

    /// Rings an extension from a call the switch answered (IVR transfer).
    fn ring_service_leg(&mut self, now: Instant, key: u64, ext: &str) {
        self.ring_extension(now, key, ext, None);
    }

    pub(crate) fn on_slice_result(&mut self, now: Instant, r: SliceResult) {
        match r {
            SliceResult::QueueLookup { call, queue, view } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&key) {
                    if let Some(v) = &view {
                        let ev = c.log.event(
                            now_millis(),
                            CallEventKind::Identified {
                                customer_id: v.customer.id,
                            },
                        );
                        self.cdr.write(ev);
                    }
                    c.slice.set_customer(view.map(|v| *v), Proof::Claimed);
                }
                self.enqueue(now, key, &queue, 0);
            }
            SliceResult::Lookup {
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
                    c.slice.looked_up = view.map(|v| (*v, Proof::Claimed));
                }
                self.feed(now, key, IvrEvent::LookupResult { request, customer });
            }
            SliceResult::Verified {
                call,
                request,
                verified,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                if verified
                    && let Some(c) = self.calls.get_mut(&key)
                    && let Some((_, proof)) = c.slice.looked_up.as_mut()
                {
                    *proof = Proof::Pin;
                }
                self.feed(now, key, IvrEvent::VerifyResult { request, verified });
            }
            SliceResult::QueueStatus {
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
            SliceResult::Bookable {
                call,
                request,
                items,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    return;
                };
                self.feed(now, key, IvrEvent::BookableItems { request, items });
            }
            SliceResult::Held {
                call,
                request,
                booking,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    // The caller left while the hold was being made: free it again.
                    if let Some((id, _)) = booking {
                        tokio::spawn(release_hold(self.store.clone(), call, id.to_string()));
                    }
                    return;
                };
                if let (Some(c), Some((id, reference))) = (self.calls.get_mut(&key), &booking) {
                    let ev = c.log.event(
                        now_millis(),
                        CallEventKind::Note {
                            what: "booking_held".into(),
                            detail: serde_json::json!({ "booking": id, "reference": reference }),
                        },
                    );
                    self.cdr.write(ev);
                }
                let hold_id = booking.map(|(id, _)| id.to_string());
                self.feed(now, key, IvrEvent::HoldResult { request, hold_id });
            }
            SliceResult::Charged {
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
                            "status": status_name(&r.status),
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
                        now_millis(),
                        CallEventKind::Note {
                            what: "payment".into(),
                            detail,
                        },
                    );
                    self.cdr.write(ev);
                }
                self.feed(now, key, IvrEvent::PaymentResult { request, result });
            }
            SliceResult::AgentExtension {
                call,
                agent,
                extension,
            } => {
                let Some(&key) = self.by_id.get(&call) else {
                    self.routing(RoutingOp::NoAnswer(agent));
                    return;
                };
                match extension {
                    Some(ext) => {
                        self.deps.agents.insert(agent.clone(), ext.clone());
                        self.offer(now, key, &agent, &ext);
                    }
                    None => {
                        tracing::warn!(agent = %agent, "agent has no extension");
                        self.routing(RoutingOp::NoAnswer(agent));
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
                    self.routing(RoutingOp::NoAnswer(agent.as_str().to_string()));
                    return;
                };
                if let Some(c) = self.calls.get_mut(&key) {
                    c.slice.offer_deadline = Some(deadline);
                }
                let agent = agent.as_str().to_string();
                match self.agent_extension(&agent) {
                    Some(ext) => self.offer(now, key, &agent, &ext),
                    None => {
                        let store = self.store.clone();
                        let tx = self.internal.clone();
                        let call = call.as_str().to_string();
                        tokio::spawn(async move {
                            let extension = store
                                .agent_credentials(&agent)
                                .await
                                .ok()
                                .flatten()
                                .map(|a| a.extension)
                                .filter(|e| !e.is_empty());
                            let _ = tx.send(Internal::Slice(SliceResult::AgentExtension {
                                call,
                                agent,
                                extension,
                            }));
                        });
                    }
                }
            }
            Decision::CancelOffer { call, agent } => {
                if let Some(key) = self.consult_key(call.as_str()) {
                    self.consult_offer_withdrawn(now, key, agent.as_str());
                    return;
                }
                if let Some(key) = self.callback_key(call.as_str()) {
                    self.callback_withdrawn(now, key);
                    return;
                }
                let Some(&key) = self.by_id.get(call.as_str()) else {
                    return;
                };
                let ringing = self.calls.get(&key).is_some_and(|c| {
                    c.slice.offered.as_deref() == Some(agent.as_str())
                        && c.b.as_ref().is_some_and(|b| !b.answered)
                });
                if ringing {
                    if let Some(tsx) = self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.b.as_mut())
                        .and_then(|b| b.invite_tsx.take())
                    {
                        let _ = self.ep.cancel(now, tsx);
                    }
                    self.drop_b(key);
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.slice.offered = None;
                        // The queue's reservation lapsed (or routing moved the call): leave the
                        // same trace as a phone that did not answer.
                        tracing::info!(call = %c.id, agent = %agent.as_str(), "offer withdrawn by routing");
                        let ev = c.log.event(
                            now_millis(),
                            CallEventKind::Note {
                                what: "offer_failed".into(),
                                detail: serde_json::json!({
                                    "agent": agent.as_str(),
                                    "reason": "offer withdrawn"
                                }),
                            },
                        );
                        self.cdr.write(ev);
                        self.bus.notify(CallNotice::Ended {
                            call: c.id.clone(),
                            agent: Some(agent.as_str().to_string()),
                            reason: "offer withdrawn".into(),
                        });
                    }
                }
            }
            Decision::Overflow { call, target, .. } => {
                let Some(&key) = self.by_id.get(call.as_str()) else {
                    return;
                };
                match target {
                    OverflowTarget::Queue(q) => {
                        if let Some(c) = self.calls.get_mut(&key) {
                            c.slice.queue = Some(q.as_str().to_string());
                            let ev = c.log.event(
                                now_millis(),
                                CallEventKind::Enqueued {
                                    queue_id: q.as_str().to_string(),
                                    priority: i64::from(c.slice.priority),
                                },
                            );
                            self.cdr.write(ev);
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
                    self.routing(RoutingOp::CallbackFailed(call.as_str().to_string()));
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
        key: u64,
        queue: &str,
        ring_secs: u32,
    ) -> Option<hotline_cti::ScreenPop> {
        let c = self.calls.get(&key)?;
        let summary = c.slice.ivr.as_ref().map(|s| s.summary());
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
            waited_secs: c
                .slice
                .queued_at
                .map(|t| now.saturating_duration_since(t).as_secs() as u32)
                .unwrap_or(0),
            offered_at: hotline_cti::UnixMillis(now_millis().max(0) as u64),
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
            customer: c.slice.customer.as_ref().map(cti_customer),
            new_customer_form: c.slice.customer.is_none(),
            caller_proof: match c.slice.proof {
                Proof::Claimed => hotline_cti::CallerProof::Claimed,
                Proof::Pin => hotline_cti::CallerProof::Pin,
            },
        })
    }

    /// Rings the agent's phone and, at the same moment, publishes the screen pop.
    fn offer(&mut self, now: Instant, key: u64, agent: &str, ext: &str) {
        let sip_ring = self.ring_timeout;
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        // The pop's countdown: whichever ends the ringing first, the queue's reservation or the
        // switch's own ring timer.
        let ring = c
            .slice
            .offer_deadline
            .map(|d| d.saturating_duration_since(now).min(sip_ring))
            .unwrap_or(sip_ring);
        let ring_secs = ring.as_secs_f64().round() as u32;
        if c.b.is_some() {
            // Already ringing someone (or connected): refuse this offer.
            self.routing(RoutingOp::NoAnswer(agent.to_string()));
            return;
        }
        c.slice.offered = Some(agent.to_string());
        let queue = c.slice.queue.clone().unwrap_or_default();
        let Some(pop) = self.screen_pop(now, key, &queue, ring_secs) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let ev = c.log.event(
            now_millis(),
            CallEventKind::Offered {
                agent_id: agent.to_string(),
            },
        );
        self.cdr.write(ev);
        self.bus.notify(CallNotice::Offered {
            agent: agent.to_string(),
            pop: Box::new(pop),
        });
        self.ring_extension(now, key, ext, Some(agent.to_string()));
    }

    pub(crate) fn agent_ringing(&mut self, _now: Instant, key: u64) {
        if let Some(c) = self.calls.get(&key)
            && let Some(agent) = &c.slice.offered
        {
            self.bus.notify(CallNotice::Ringing {
                call: c.id.clone(),
                agent: agent.clone(),
            });
        }
    }

    /// The B leg of a service call answered: an agent (connect, tell routing) or an IVR
    /// transfer target.
    pub(crate) fn agent_answered(&mut self, now: Instant, key: u64) {
        self.bridge_media(key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let target = c.b.as_ref().map(|b| b.target.clone());
        if let Some(LegTarget::Agent { agent, .. }) = target {
            c.agent = Some(agent.clone());
            c.slice.offered = None;
            let id = c.id.clone();
            let ev = c.log.event(
                now_millis(),
                CallEventKind::Answered {
                    agent_id: agent.clone(),
                },
            );
            self.cdr.write(ev);
            self.routing(RoutingOp::Answer(id.clone(), agent.clone()));
            self.bus.notify(CallNotice::Connected {
                call: id,
                agent: agent.clone(),
            });
            self.feed(now, key, IvrEvent::AgentConnected { agent });
        } else {
            let req = c.slice.transfer.take();
            let ev = c.log.event(
                now_millis(),
                CallEventKind::Answered {
                    agent_id: match target {
                        Some(LegTarget::Extension(e)) => format!("ext:{e}"),
                        Some(LegTarget::Trunk(t)) => format!("trunk:{t}"),
                        _ => String::new(),
                    },
                },
            );
            self.cdr.write(ev);
            if let Some(request) = req {
                self.feed(now, key, IvrEvent::TransferResult { request, ok: true });
            }
        }
    }

    /// The B leg of a service call failed (no answer, busy, not registered): the call goes
    /// back to routing, or the IVR hears that its transfer failed.
    pub(crate) fn agent_leg_failed(&mut self, now: Instant, key: u64, reason: &str) {
        let agent = self
            .calls
            .get(&key)
            .and_then(|c| match c.b.as_ref().map(|b| &b.target) {
                Some(LegTarget::Agent { agent, .. }) => Some(agent.clone()),
                _ => c.slice.offered.clone(),
            });
        self.drop_b(key);
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
        c.slice.offered = None;
        let id = c.id.clone();
        if let Some(agent) = agent {
            let ev = c.log.event(
                now_millis(),
                CallEventKind::Note {
                    what: "offer_failed".into(),
                    detail: serde_json::json!({ "agent": agent, "reason": reason }),
                },
            );
            self.cdr.write(ev);
            self.bus.notify(CallNotice::Ended {
                call: id,
                agent: Some(agent.clone()),
                reason: reason.to_string(),
            });
            self.routing(RoutingOp::NoAnswer(agent));
        } else if let Some(request) = c.slice.transfer.take() {
            self.feed(now, key, IvrEvent::TransferResult { request, ok: false });
        }
    }

    /// The agent left a call that continues (blind transfer): routing ends their part.
    pub(crate) fn slice_agent_released(&mut self, _now: Instant, key: u64, _agent: &str) {
        if let Some(c) = self.calls.get(&key) {
            self.routing(RoutingOp::Hangup(c.id.clone()));
        }
    }

    /// The call is over: tell routing, the IVR and the CTI.
    pub(crate) fn slice_ended(&mut self, now: Instant, c: &mut super::Call, reason: &str) {
        if self.callback_ended(c, reason) {
            return;
        }
        if let Some(s) = c.slice.ivr.as_mut() {
            s.handle_event(now, IvrEvent::CallerHungUp);
            // What the session still asks for: an unpaid hold to release; the rest (playback,
            // queue, payment mode) ends with the call.
            while let Some(a) = s.poll_action() {
                if let Action::ReleaseHold { hold_id } = a {
                    tokio::spawn(release_hold(self.store.clone(), c.id.clone(), hold_id));
                }
            }
        }
        if let Some(a) = c.slice.assist.take() {
            c.slice.ivr = a.previous;
        }
        if let Some(ev) = ivr_record(c) {
            self.cdr.write(ev);
        }
        if let (Some((_, rec, _)), Some(m)) = (c.slice.voicemail.take(), &self.deps.media) {
            let _ = m.stop_recording(rec);
        }
        let agent = c.agent.clone().or_else(|| c.slice.offered.clone());
        if c.slice.queue.is_some() || agent.is_some() {
            if c.agent.is_some() {
                self.routing(RoutingOp::Hangup(c.id.clone()));
            } else {
                self.routing(RoutingOp::Abandon(c.id.clone()));
            }
        }
        if let Some(a) = agent {
            self.bus.notify(CallNotice::Ended {
                call: c.id.clone(),
                agent: Some(a),
                reason: reason.to_string(),
            });
        }
        let _ = Side::A;
    }
}

/// The `ivr` call-record event (path and inputs; sensitive entries only as their length),
/// once per call, and never for an agent-assisted payment session.
fn ivr_record(c: &mut super::Call) -> Option<hotline_store::CallEvent> {
    if c.slice.ivr_recorded || c.slice.assist.is_some() {
        return None;
    }
    let s = c.slice.ivr.as_ref()?;
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
    c.slice.ivr_recorded = true;
    Some(
        c.log
            .event(now_millis(), CallEventKind::Ivr { path, inputs }),
    )
}

/// Bookable items for the IVR: free capacity, starting in the future, soonest first. Only
/// an identified caller can book (a booking belongs to a customer).
async fn list_bookable(
    store: &Store,
    call: &str,
    customer: Option<i64>,
    max_items: usize,
) -> Vec<hotline_ivr::BookableItem> {
    if customer.is_none() {
        tracing::info!(call = %call, "booking needs an identified caller: no items offered");
        return Vec::new();
    }
    let limit = i64::try_from(max_items.clamp(1, 9)).unwrap_or(9);
    match store.available_items(now_millis(), limit).await {
        Ok(items) => items
            .into_iter()
            .filter_map(|i| {
                // Items without a start time cannot be said ("for wednesday ... at ...").
                let at = i.starts_at?;
                Some(hotline_ivr::BookableItem {
                    id: i.id.to_string(),
                    starts_at: UnixTime(at.div_euclid(1000)).local(0),
                    price_minor: u64::try_from(i.price_minor).ok()?,
                    currency: i.currency,
                })
            })
            .collect(),
        Err(e) => {
            tracing::warn!(call = %call, error = %e, "bookable items could not be listed");
            Vec::new()
        }
    }
}

/// A booking reference callers can read out: two letters and six characters without the
/// easily confused 0/O and 1/I.
fn booking_reference() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut r = String::from("HL");
    let mut n = rand::random::<u64>();
    for _ in 0..6 {
        r.push(char::from(CHARS[(n % CHARS.len() as u64) as usize]));
        n /= CHARS.len() as u64;
    }
    r
}

/// Holds one unit of the item for the caller; `None` when it was taken (or is unknown).
async fn hold_item(
    store: &Store,
    call: &str,
    customer: Option<i64>,
    item: &str,
) -> Option<(i64, String)> {
    let customer = customer?;
    let item: i64 = item.parse().ok()?;
    let now = now_millis();
    // A clash of references is retried with a new one; anything else is the answer.
    for _ in 0..3 {
        let reference = booking_reference();
        match store
            .hold_booking(
                customer,
                item,
                Some(call),
                &reference,
                now + HOLD_TIME_MS,
                now,
            )
            .await
        {
            Ok(id) => {
                tracing::info!(call = %call, booking = id, reference = %reference, "booking held");
                return Some((id, reference));
            }
            Err(hotline_store::Error::Conflict(_)) => {
                tracing::info!(call = %call, item, "item taken meanwhile: not held");
                return None;
            }
            Err(e) => tracing::warn!(call = %call, error = %e, "booking could not be held"),
        }
    }
    None
}

async fn release_hold(store: Store, call: String, hold_id: String) {
    let Ok(id) = hold_id.parse::<i64>() else {
        return;
    };
    match store.release_booking(id, now_millis()).await {
        Ok(()) => tracing::info!(call = %call, booking = id, "unpaid booking released"),
        Err(e) => tracing::info!(call = %call, booking = id, error = %e, "booking not released"),
    }
}

/// What a charge belongs to.
pub(super) struct ChargeContext {
    pub(super) call_id: String,
    pub(super) customer: Option<i64>,
    pub(super) booking: Option<i64>,
    /// The merchant reference of an agent-assisted payment (the desktop's `StartPayment`).
    pub(super) reference: Option<String>,
}

fn status_name(s: &ChargeStatus) -> &'static str {
    match s {
        ChargeStatus::Approved => "approved",
        ChargeStatus::Declined(_) | ChargeStatus::InsufficientFunds => "declined",
    }
}

fn brand_from_name(s: &str) -> CardBrand {
    match s {
        "visa" => CardBrand::Visa,
        "mastercard" => CardBrand::Mastercard,
        "amex" => CardBrand::Amex,
        "discover" => CardBrand::Discover,
        _ => CardBrand::Other,
    }
}

/// A settled payment of the store as the gateway's answer (a repeated key).
fn stored_result(p: &hotline_store::Payment) -> Option<ChargeResult> {
    let status = match p.status.as_str() {
        "approved" => ChargeStatus::Approved,
        "declined" => match p.decline_reason.as_deref() {
            Some("insufficient_funds") => ChargeStatus::InsufficientFunds,
            r => ChargeStatus::Declined(r.unwrap_or("declined").to_string()),
        },
        _ => return None,
    };
    Some(ChargeResult {
        token: p.card_token.clone().unwrap_or_default(),
        brand: brand_from_name(p.card_brand.as_deref().unwrap_or("")),
        last_four: p.card_last4.clone().unwrap_or_default(),
        status,
    })
}

/// Charges a card exactly once per idempotency key, across the gateway and the store: a key
/// the store already holds a result for is answered from the store without charging; a new
/// key is written as `pending` before the gateway is asked (no record, no charge), then
/// updated with the result (token, brand, last four). An approved charge confirms the
/// booking it pays for. The card data is dropped (wiped) when this returns.
pub(super) async fn charge_card(
    store: &Store,
    gateway: &Gateway,
    ctx: &ChargeContext,
    charge: ChargeRequest,
) -> (Result<ChargeResult, String>, Option<i64>) {
    let key = charge.idempotency_key.0.clone();
    match store.payment(&key).await {
        Ok(Some(p)) => {
            if let Some(r) = stored_result(&p) {
                tracing::info!(call = %ctx.call_id, key = %key, status = %p.status,
                    "charge already settled for this idempotency key: not charged again");
                return (Ok(r), None);
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(call = %ctx.call_id, error = %e, "payment store unavailable: card not charged");
            return (Err("payment store unavailable".into()), None);
        }
    }
    let mut row = hotline_store::Payment {
        idempotency_key: key.clone(),
        booking_id: ctx.booking,
        customer_id: ctx.customer,
        call_id: Some(ctx.call_id.clone()),
        amount_minor: i64::try_from(charge.amount_minor).unwrap_or(i64::MAX),
        currency: charge.currency.clone(),
        status: "pending".into(),
        decline_reason: None,
        gateway: gateway.name().into(),
        gateway_ref: None,
        card_token: None,
        card_brand: None,
        card_last4: None,
        reference: ctx.reference.clone(),
        at: now_millis(),
    };
    if let Err(e) = store.record_payment(&row).await {
        tracing::warn!(call = %ctx.call_id, error = %e, "payment could not be recorded: card not charged");
        return (Err("payment store unavailable".into()), None);
    }
    // The sandbox answers at once; the HTTP processor is a POST with a time-out. Either
    // way this runs in the charge task, never on the call-control task.
    let (result, charges) = gateway.charge(&charge).await;
    drop(charge);
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            // Left pending: a retry with the same key updates this row.
            tracing::warn!(call = %ctx.call_id, key = %key, error = %e, "payment gateway could not decide");
            return (Err(e.to_string()), None);
        }
    };
    tracing::info!(call = %ctx.call_id, key = %key, status = status_name(&result.status),
        brand = %result.brand, gateway_charges = charges, "card charged");
    row.status = status_name(&result.status).into();
    row.decline_reason = match &result.status {
        ChargeStatus::Approved => None,
        ChargeStatus::Declined(r) => Some(r.clone()),
        ChargeStatus::InsufficientFunds => Some("insufficient_funds".into()),
    };
    row.gateway_ref = Some(result.token.clone());
    row.card_token = Some(result.token.clone());
    row.card_brand = Some(result.brand.to_string());
    row.card_last4 = Some(result.last_four.clone());
    row.at = now_millis();
    if let Err(e) = store.record_payment(&row).await {
        // The money moved: the caller hears the truth; the row stays pending for a repair.
        tracing::error!(call = %ctx.call_id, key = %key, token = %result.token, error = %e,
            "payment result could not be recorded");
    }
    let mut confirmed = None;
    if result.status == ChargeStatus::Approved
        && let Some(b) = ctx.booking
    {
        match store.confirm_booking(b, now_millis()).await {
            Ok(()) => {
                tracing::info!(call = %ctx.call_id, booking = b, "booking confirmed");
                confirmed = Some(b);
            }
            Err(e) => tracing::error!(call = %ctx.call_id, booking = b, error = %e,
                "paid booking could not be confirmed"),
        }
    }
    (Ok(result), confirmed)
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
