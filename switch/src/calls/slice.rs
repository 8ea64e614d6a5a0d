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
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotline_acd::{AgentId, CallId as AcdCallId, Decision, OverflowTarget, Priority, QueueId};
use hotline_ivr::{
    Action, Ani, Dnis, Event as IvrEvent, FlowSet, InputValue, LookupKey, PaymentGateway,
    PlaybackId, PromptDir, QueueStatus, RequestId, SandboxGateway, Session, TransferTarget,
    UnixTime,
};
use hotline_media::{MediaEngine, PlayOptions};
use hotline_store::{CallEventKind, Identity, IdentityKind};
use tokio::sync::mpsc;

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
    pub(crate) gateway: Option<SandboxGateway>,
}

impl SliceDeps {
    pub(crate) fn is_queue(&self, q: &str) -> bool {
        self.queue_names.contains_key(q)
    }
}

/// Per-call service state.
#[derive(Default)]
pub(crate) struct SliceCall {
    ivr: Option<Session>,
    playback: Option<PlaybackId>,
    queue: Option<String>,
    queued_at: Option<Instant>,
    priority: u8,
    customer: Option<hotline_store::CustomerView>,
    /// The agent being rung.
    offered: Option<String>,
    /// When routing's reservation of that agent lapses (the queue's ring timeout).
    offer_deadline: Option<Instant>,
    transfer: Option<RequestId>,
    voicemail: Option<(RequestId, hotline_media::RecordingId, Instant)>,
}

/// Results of work done off the call-control task.
#[derive(Debug)]
pub(crate) enum SliceResult {
    Lookup {
        call: String,
        request: RequestId,
        view: Option<Box<hotline_store::CustomerView>>,
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
        self.deps.gateway = Some(SandboxGateway::new());
    }

    fn routing(&self, op: RoutingOp) {
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
            self.enqueue(now, key, &q, 0);
            if let (Some(m), Some(c)) = (&self.deps.media, self.calls.get(&key))
                && let (Some(a), Some(music)) = (c.a.media, &self.deps.hold_music)
            {
                let _ = m.music_on_hold(a, music);
            }
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
    fn drive_ivr(&mut self, now: Instant, key: u64) {
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
            Action::VerifyCaller { request, .. } => {
                tracing::warn!(call = %call_id, "caller verification codes are not stored: not verified");
                Some(IvrEvent::VerifyResult {
                    request,
                    verified: false,
                })
            }
            Action::CustomerIdentified { customer_id, .. } => {
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
                if let Some(s) = &c.slice.ivr {
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
                    let ev = c
                        .log
                        .event(now_millis(), CallEventKind::Ivr { path, inputs });
                    self.cdr.write(ev);
                }
                let p = priority.unwrap_or(c.slice.priority);
                self.enqueue(now, key, &queue, p);
                None
            }
            Action::LeaveQueue { .. } => {
                c.slice.queue = None;
                self.routing(RoutingOp::Abandon(call_id));
                None
            }
            Action::RequestCallback { .. } => {
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
            Action::ListBookable { request, .. } => {
                tracing::warn!(call = %call_id, "booking by phone is not wired into call control: no items offered");
                Some(IvrEvent::BookableItems {
                    request,
                    items: Vec::new(),
                })
            }
            Action::HoldItem { request, .. } => Some(IvrEvent::HoldResult {
                request,
                hold_id: None,
            }),
            Action::ReleaseHold { .. } => None,
            Action::Charge { request, charge } => {
                let result = self
                    .deps
                    .gateway
                    .as_mut()
                    .map(|g| g.charge(&charge).map_err(|e| e.to_string()))
                    .unwrap_or_else(|| Err("no payment gateway".into()));
                Some(IvrEvent::PaymentResult { request, result })
            }
            Action::SuppressDtmfToAgent(on) => {
                if let (Some(m), Some(b)) = (&media, c.b.as_ref().and_then(|b| b.media)) {
                    let _ = m.suppress_dtmf(b, on);
                }
                None
            }
            Action::Hangup => {
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
                    c.slice.customer = view.map(|v| *v);
                }
                self.feed(now, key, IvrEvent::LookupResult { request, customer });
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
            Decision::DialCallback { call, .. } => {
                tracing::warn!(call = %call.as_str(), "callbacks are not dialled by call control yet");
                self.routing(RoutingOp::CallbackFailed(call.as_str().to_string()));
            }
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
        let summary = c.slice.ivr.as_ref().map(|s| s.summary());
        let pop = hotline_cti::ScreenPop {
            call: hotline_cti::CallId::new(c.id.clone()),
            ani: hotline_cti::Pii::new(c.ani.clone()),
            dnis: c.dnis.clone(),
            queue: hotline_cti::QueueId::new(queue.clone()),
            queue_name: self
                .deps
                .queue_names
                .get(&queue)
                .cloned()
                .unwrap_or_else(|| queue.clone()),
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
        if let Some(s) = c.slice.ivr.as_mut() {
            s.handle_event(now, IvrEvent::CallerHungUp);
            while s.poll_action().is_some() {}
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
