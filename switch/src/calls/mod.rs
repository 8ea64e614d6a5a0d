//! The driver of call control: sockets, one timer, the media engine, store and payment work,
//! and the bus, around the sans-IO [`hotline_calls::Core`].
//!
//! One tokio task owns the core. It waits in one `select!` for a UDP datagram, a framed TCP
//! message, the single timer (re-armed at [`Core::poll_timeout`]), a bus command, a media
//! event, a routing decision or a finished piece of work; feeds the input to the core; then
//! performs every [`Output`] in order: datagrams to the sockets, notices to the bus, call-record
//! events to the writer ([`cdr`]), routing commands to one mailbox task (so they reach the ACD
//! in the order they were issued), store and payment work to tasks of their own ([`work`]),
//! command replies to the waiting desktop. The wall clock is the system's.
//!
//! See `docs/call-control.md` for the call flows, the security rules and the dial plan.

pub mod cdr;
pub(crate) mod gateway;
mod work;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_acd::{Decision, Priority};
use hotline_calls::{Clock, CommandId, Completion, Core, CoreConfig, Output, RoutingOp};
use hotline_ivr::{QueueStatus, SandboxGateway};
use hotline_media::{MediaEngine, MediaEvent};
use hotline_sip::Transport;
use hotline_store::Store;
use tokio::sync::{mpsc, oneshot, watch};

use crate::app::now_millis;
use crate::bus::{Bus, CallCommand};
use crate::config::Config;
use crate::routing::RoutingHandle;
use crate::sip::transport::{Inbound, Transports};
use cdr::CdrWriter;
use gateway::Gateway;

pub use hotline_calls::{CallCounters, ServiceDeps, dialplan};

/// What `start` returns: the bound address and the handle to stop call control.
pub struct CallControl {
    /// The SIP address (UDP and TCP).
    pub local: SocketAddr,
    /// Counters of the digest gate (failures, bans), for `/metrics`.
    pub auth_metrics: Arc<hotline_calls::registrar::AuthMetrics>,
    /// SIP-over-TCP connection counters (for `/metrics`).
    pub sip_tcp: Arc<crate::netlimits::Listener>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    cdr_task: tokio::task::JoinHandle<cdr::WriterReport>,
    counters: Arc<CallCounters>,
    media: Option<MediaEngine>,
    cdr_watch: cdr::CdrWatch,
}

impl CallControl {
    /// Call control's counters (for `/metrics`).
    pub fn counters(&self) -> Arc<CallCounters> {
        self.counters.clone()
    }

    /// The media engine's counters (sessions, RTP in and out, packets rejected from strange
    /// sources and withheld from unproven addresses), when media is anchored.
    pub fn media_metrics(&self) -> Option<hotline_media::EngineMetrics> {
        self.media.as_ref().map(MediaEngine::metrics)
    }

    /// The call-record queue's depth and drops (for `/metrics`).
    pub fn cdr_watch(&self) -> cdr::CdrWatch {
        self.cdr_watch.clone()
    }

    /// The media engine, when media is anchored (for `/metrics`).
    pub fn media_engine(&self) -> Option<MediaEngine> {
        self.media.clone()
    }

    /// Ends every call (BYE, CANCEL, final responses), stops, and waits until every call
    /// record is written.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!("call control task failed: {e}");
        }
        match self.cdr_task.await {
            Ok(r) => tracing::info!(
                events = r.written,
                refused = r.refused,
                abandoned = r.abandoned,
                batches = r.batches,
                "call records written"
            ),
            Err(e) => tracing::error!("call record writer failed: {e}"),
        }
    }
}

/// The system's wall clock.
struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        now_millis()
    }
}

/// What the driver needs besides the core's own dependencies.
struct Driver {
    core: Core,
    tr: Transports,
    bus: Bus,
    cdr: CdrWriter,
    store: Store,
    gateway: Gateway,
    /// Routing commands, delivered in order by the mailbox task.
    routing: Option<mpsc::UnboundedSender<RoutingOp>>,
    /// Finished work and routing queries, back into the core.
    done_tx: mpsc::UnboundedSender<Completion>,
    replies: HashMap<
        CommandId,
        oneshot::Sender<Result<Option<String>, hotline_calls::messages::CallError>>,
    >,
    next_command: u64,
}

/// Binds the SIP sockets and starts call control. `engine` is the media engine when media is
/// anchored (`deps.media` is then the same engine).
#[allow(clippy::too_many_arguments)]
async fn start(
    cfg: &Config,
    store: Store,
    bus: Bus,
    commands: mpsc::Receiver<CallCommand>,
    deps: ServiceDeps,
    engine: Option<MediaEngine>,
    routing: Option<RoutingHandle>,
    gateway: Gateway,
) -> Result<CallControl, String> {
    let tcp_limits = crate::sip::transport::TcpLimits::from_config(&cfg.connections.sip_tcp);
    let (transports, tcp_rx) = Transports::bind(cfg.sip.listen, cfg.sip.tcp, tcp_limits)
        .await
        .map_err(|e| format!("cannot listen on {} (sip.listen): {e}", cfg.sip.listen))?;
    let local = transports.local;
    let sip_tcp = transports.tcp_stats();
    let advertise = if cfg.sip.advertise.is_empty() {
        local.to_string()
    } else {
        cfg.sip.advertise.clone()
    };
    let now = Instant::now();
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now_millis() as u128);
        h.finish()
    };
    // The core names recordings to play back by path; the media engine reads a relative path
    // from its prompts folder, so the recordings folder (relative to the working directory,
    // where the engine writes them) is made absolute here.
    let mut media_cfg = cfg.media.clone();
    if media_cfg.recordings_dir.is_relative()
        && let Ok(cwd) = std::env::current_dir()
    {
        media_cfg.recordings_dir = cwd.join(&media_cfg.recordings_dir);
    }
    let core_cfg = CoreConfig {
        sip: cfg.sip.clone(),
        media: media_cfg,
        dialplan: cfg.dialplan.clone(),
        trunks: cfg.trunks.clone(),
        extensions: cfg.extensions.clone(),
        country_code: cfg.node.country_code.clone(),
        advertise,
        seed,
    };
    let core = Core::new(&core_cfg, deps, Box::new(SystemClock), now);
    let auth_metrics = core.auth_metrics();
    let counters = core.counters();
    let (cdr, cdr_task) = CdrWriter::spawn(store.clone());
    let cdr_watch = cdr.watch();
    let (stop, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let media_rx = match &engine {
        Some(m) => forward_media_events(m.clone()),
        None => mpsc::unbounded_channel().1,
    };
    let decisions = match &routing {
        Some(r) => {
            let d = r.take_decisions();
            if d.is_none() {
                tracing::error!("routing decisions are already taken: agents will not be rung");
            }
            d
        }
        None => None,
    };
    let routing_tx = routing.map(|r| {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(routing_mailbox(r, rx, done_tx.clone()));
        tx
    });
    let driver = Driver {
        core,
        tr: transports,
        bus,
        cdr,
        store,
        gateway,
        routing: routing_tx,
        done_tx,
        replies: HashMap::new(),
        next_command: 1,
    };
    tracing::info!(addr = %local, tcp = cfg.sip.tcp, "SIP listening");
    let task = tokio::spawn(driver.run(tcp_rx, commands, media_rx, done_rx, decisions, stop_rx));
    Ok(CallControl {
        local,
        auth_metrics,
        sip_tcp,
        stop,
        task,
        cdr_task,
        counters,
        media: engine,
        cdr_watch,
    })
}

/// Builds what call control needs from the configuration (media engine, IVR flows, agents'
/// extensions, queue names, payment gateway) and starts it. `routing` is the ACD task's
/// handle, if running.
pub async fn start_from_config(
    cfg: &Config,
    store: Store,
    bus: Bus,
    commands: mpsc::Receiver<CallCommand>,
    routing: Option<RoutingHandle>,
) -> Result<CallControl, String> {
    let mut deps = ServiceDeps::default();
    let mut engine = None;
    if cfg.media.anchor {
        let e = MediaEngine::start(hotline_media::EngineConfig {
            workers: cfg.media.workers,
            port_min: cfg.media.port_min,
            port_max: cfg.media.port_max,
            rtp_timeout: if cfg.media.rtp_timeout_secs == 0 {
                Duration::from_secs(365 * 24 * 3600)
            } else {
                Duration::from_secs(cfg.media.rtp_timeout_secs)
            },
            prompts_dir: cfg.dir.join("prompts"),
            recordings_dir: cfg.media.recordings_dir.clone(),
            ..Default::default()
        })
        .map_err(|e| format!("media engine: {e}"))?;
        deps.media = Some(Arc::new(e.clone()));
        engine = Some(e);
        let prompts = hotline_ivr::PromptDir::default_for(&cfg.dir);
        deps.hold_music = prompts.resolve("flow/hold-music");
        let flows = cfg.load_flows().map_err(|e| e.to_string())?;
        // Prompts missing in a flow's other languages: those play in English.
        for w in flows.iter().flat_map(|f| f.warnings()) {
            tracing::warn!("IVR flows: {w}");
        }
        deps.flows = flows.map(Arc::new);
        deps.prompts = Some(prompts);
    }
    match store.list_agents().await {
        Ok(list) => {
            for (id, name, ext, _) in list {
                if !name.is_empty() {
                    deps.agent_names.insert(id.clone(), name);
                }
                if !ext.is_empty() {
                    deps.agents.insert(id, ext);
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list agents; extensions are looked up per call")
        }
    }
    if let Some(r) = &routing {
        deps.queue_names = r
            .queues()
            .iter()
            .map(|(q, n)| (q.as_str().to_string(), n.clone()))
            .collect();
        deps.work_due = r.work_due();
        deps.routing = true;
    }
    let gateway = if cfg.payments.gateway == crate::config::GatewayKind::Http {
        let g = gateway::HttpGateway::new(
            &cfg.payments.url,
            &cfg.payments.api_key,
            Duration::from_secs(cfg.payments.timeout_secs),
        )?;
        tracing::info!(url = %cfg.payments.url, "card payments go to the HTTP processor");
        Gateway::Http(Arc::new(g))
    } else {
        Gateway::Sandbox(Arc::new(Mutex::new(SandboxGateway::new())))
    };
    start(cfg, store, bus, commands, deps, engine, routing, gateway).await
}

/// Media events come on a crossbeam channel; one blocking thread forwards them.
fn forward_media_events(engine: MediaEngine) -> mpsc::UnboundedReceiver<MediaEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    let events = engine.events();
    std::thread::Builder::new()
        .name("media-events".into())
        .spawn(move || {
            while let Ok(ev) = events.recv() {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        })
        .ok();
    rx
}

/// Waits for the next routing decision (pending forever without routing).
async fn next_decision(
    decisions: &mut Option<mpsc::UnboundedReceiver<Decision>>,
) -> Option<Decision> {
    match decisions.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn run(
        mut self,
        mut tcp_rx: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<CallCommand>,
        mut media_rx: mpsc::UnboundedReceiver<MediaEvent>,
        mut done_rx: mpsc::UnboundedReceiver<Completion>,
        mut decisions: Option<mpsc::UnboundedReceiver<Decision>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let udp = self.tr.udp.clone();
        let mut buf = vec![0u8; 65_535];
        let mut stopping: Option<Instant> = None;
        loop {
            let deadline = self.core.poll_timeout();
            let sleep = tokio::time::sleep_until(
                deadline
                    .map(tokio::time::Instant::from_std)
                    .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                r = udp.recv_from(&mut buf) => {
                    if let Ok((n, src)) = r {
                        let now = Instant::now();
                        self.core.handle_datagram(now, src, Transport::Udp, &buf[..n]);
                        self.perform();
                        // Drain what else is already queued without going back to select!.
                        for _ in 0..64 {
                            match udp.try_recv_from(&mut buf) {
                                Ok((n, src)) => {
                                    self.core.handle_datagram(now, src, Transport::Udp, &buf[..n]);
                                    self.perform();
                                }
                                Err(_) => break,
                            }
                        }
                    }
                }
                Some(m) = tcp_rx.recv() => {
                    self.core.handle_datagram(Instant::now(), m.src, m.transport, &m.bytes);
                }
                () = sleep => {
                    self.core.handle_timeout(Instant::now());
                }
                Some(cmd) = commands.recv(), if stopping.is_none() => {
                    let id = CommandId(self.next_command);
                    self.next_command += 1;
                    self.replies.insert(id, cmd.reply);
                    self.core.handle_command(Instant::now(), id, &cmd.agent, cmd.action);
                }
                Some(ev) = media_rx.recv() => {
                    self.core.handle_media(Instant::now(), ev);
                }
                Some(c) = done_rx.recv() => {
                    self.core.handle_completion(Instant::now(), c);
                }
                Some(d) = next_decision(&mut decisions) => {
                    self.core.handle_decision(Instant::now(), d);
                }
                r = stop.changed(), if stopping.is_none() => {
                    if r.is_err() || *stop.borrow() {
                        let now = Instant::now();
                        self.core.shutdown(now);
                        // Wait a little for BYE answers, then stop.
                        stopping = Some(now + Duration::from_secs(2));
                    }
                }
            }
            self.perform();
            if let Some(until) = stopping
                && (Instant::now() >= until || self.core.is_idle())
            {
                break;
            }
        }
    }

    /// Does what the core asked, in order.
    fn perform(&mut self) {
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Transmit(t) => self.tr.send(t),
                Output::Notice(n) => self.bus.notify(n),
                Output::Record(ev) => self.cdr.write(ev),
                Output::Routing(op) => match &self.routing {
                    Some(tx) => {
                        let _ = tx.send(op);
                    }
                    None => tracing::debug!(op = ?op, "no routing: dropped"),
                },
                Output::Work(w) => {
                    let (store, gateway, done) = (
                        self.store.clone(),
                        self.gateway.clone(),
                        self.done_tx.clone(),
                    );
                    tokio::spawn(async move {
                        if let Some(c) = work::perform(&store, &gateway, w).await {
                            let _ = done.send(c);
                        }
                    });
                }
                Output::Reply { command, result } => {
                    if let Some(tx) = self.replies.remove(&command) {
                        let _ = tx.send(result);
                    }
                }
                Output::Registered {
                    src,
                    transport,
                    until,
                } => self.tr.note_registration(src, transport, until),
            }
        }
    }
}

async fn routing_mailbox(
    routing: RoutingHandle,
    mut rx: mpsc::UnboundedReceiver<RoutingOp>,
    done: mpsc::UnboundedSender<Completion>,
) {
    while let Some(op) = rx.recv().await {
        let r = match &op {
            RoutingOp::Enqueue {
                call,
                queue,
                priority,
            } => {
                routing
                    .enqueue(call, queue, Priority(u32::from(*priority)))
                    .await
            }
            RoutingOp::Answer { call, agent } => routing.answer(call, agent).await,
            RoutingOp::NoAnswer { agent } => routing.no_answer(agent).await,
            RoutingOp::Reject { agent } => routing.reject(agent).await,
            RoutingOp::DirectStarted { agent, call } => {
                routing.direct_call_started(agent, call).await
            }
            RoutingOp::CallbackConnected { call } => routing.callback_connected(call).await,
            RoutingOp::ContinueDirect { call, direct } => {
                routing.continue_as_direct(call, direct).await
            }
            RoutingOp::DirectEnded { agent, call } => routing.direct_call_ended(agent, call).await,
            RoutingOp::DirectMissed { agent, call } => {
                routing.direct_call_missed(agent, call).await
            }
            RoutingOp::Hangup { call } => routing.hangup(call).await,
            RoutingOp::Abandon { call } => routing.abandon(call).await,
            RoutingOp::RequestCallback { call } => routing.request_callback(call).await,
            RoutingOp::CallbackFailed { call } => routing.callback_failed(call).await,
            RoutingOp::QueryQueue {
                call,
                request,
                queue,
            } => {
                let stats = routing.queue_stats(queue).await;
                let position = routing.position(call).await.ok().flatten().unwrap_or(0);
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
                let _ = done.send(Completion::QueueStatus {
                    call: call.as_str().to_string(),
                    request: *request,
                    status,
                });
                Ok(())
            }
        };
        if let Err(e) = r {
            let error = match e {
                crate::routing::RoutingError::Acd(a) => hotline_calls::RoutingRefusal::Acd(a),
                other => hotline_calls::RoutingRefusal::Unavailable(other.to_string()),
            };
            let _ = done.send(Completion::RoutingRefused { op, error });
        }
    }
}
