//! Call control: the switch's B2BUA.
//!
//! One tokio task owns everything about calls: the SIP [`Endpoint`] (transactions), the
//! [`Registrar`], every call with its legs and dialogs, the IVR sessions and the media session
//! ids. It is the thin async shell of STYLE.md item 5: it waits in one `select!` for a UDP
//! datagram, a framed TCP message, the single timer, a bus command, a media event, a routing
//! decision or the result of a store lookup; feeds the input to the owner; then drains the
//! endpoint's transmits to the sockets and re-arms one `sleep_until` at the earliest deadline.
//!
//! Every call has an inbound leg (A) and at most one outbound leg (B) at a time, each with its
//! own dialog, Call-ID and tags: nothing from one leg's headers leaks to the other except the
//! caller's number and the SDP (copied in direct-media mode, re-offered by our media engine when
//! anchoring). Every call writes its call record through [`cdr::CdrWriter`], also when it fails.
//!
//! See `docs/call-control.md` for the call flows, the security rules and the dial plan.

pub mod cdr;
pub mod dialplan;
pub(crate) mod gateway;
mod legs;
mod payment;
mod quota;
mod slice;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hotline_media::{IpNet, MediaEngine, MediaEvent, RemoteParams, SessionId};
use hotline_sip::sdp::{self, AudioCaps, Direction as SdpDirection, SessionDescription};
use hotline_sip::{
    Dialog, DialogId, Endpoint, Event, Message, Method, SourceTrust, StatusCode, Transport, TsxId,
    Uri,
};
use hotline_store::{CallEventKind, Direction, Store};
use tokio::sync::{mpsc, watch};

use crate::app::now_millis;
use crate::bus::{Bus, CallAction, CallCommand, CallNotice};
use crate::config::Config;
use crate::pii::redact;
use crate::sip::config::TrunkConfig;
use crate::sip::registrar::Registrar;
use crate::sip::transport::{Inbound, Transports};
use cdr::{CallLog, CdrWriter};
use dialplan::{Dialplan, NoRoute, Target};
use quota::{Admission, Quota, Quotas};

pub use quota::CallCounters;
pub use slice::SliceDeps;

/// What `start` returns: the bound address and the handle to stop call control.
pub struct CallControl {
    /// The SIP address (UDP and TCP).
    pub local: SocketAddr,
    /// Counters of the digest gate (failures, bans), for `/metrics`.
    pub auth_metrics: std::sync::Arc<crate::sip::registrar::AuthMetrics>,
    /// SIP-over-TCP connection counters (for `/metrics`).
    pub sip_tcp: std::sync::Arc<crate::netlimits::Listener>,
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
                "call records written"
            ),
            Err(e) => tracing::error!("call record writer failed: {e}"),
        }
    }
}

/// Binds the SIP sockets and starts call control.
pub async fn start(
    cfg: &Config,
    store: Store,
    bus: Bus,
    commands: mpsc::Receiver<CallCommand>,
    deps: SliceDeps,
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
    let ep = Endpoint::new(hotline_sip::Config {
        timers: hotline_sip::TimerConfig {
            t1: Duration::from_millis(cfg.sip.t1_ms),
            ..Default::default()
        },
        sent_by: advertise.clone(),
        user_agent: Some("Hotline".into()),
        seed,
        ..Default::default()
    });
    let registrar = Registrar::new(
        &cfg.sip,
        &cfg.extensions,
        &cfg.trunks,
        &seed.to_le_bytes(),
        now,
    );
    let auth_metrics = registrar.metrics();
    let (cdr, cdr_task) = CdrWriter::spawn(store.clone());
    let cdr_watch = cdr.watch();
    let (stop, stop_rx) = watch::channel(false);
    let (internal_tx, internal_rx) = mpsc::unbounded_channel();
    let media_rx = match &deps.media {
        Some(m) => forward_media_events(m.clone()),
        None => mpsc::unbounded_channel().1,
    };
    let counters = Arc::new(CallCounters::default());
    let media = deps.media.clone();
    let quotas = Quotas::new(quota::Limits {
        per_source: cfg.sip.max_calls_per_source,
        per_extension: cfg.sip.max_calls_per_extension,
        per_trunk: cfg
            .trunks
            .iter()
            .map(|t| (t.name.clone(), t.max_calls))
            .collect(),
    });
    let mut core = Core {
        ep,
        reg: registrar,
        tr: transports,
        plan: Dialplan::new(&cfg.dialplan, &cfg.extensions, &cfg.node.country_code),
        trunks: cfg
            .trunks
            .iter()
            .map(|t| (t.name.clone(), TrunkState::new(t.clone())))
            .collect(),
        calls: HashMap::new(),
        by_id: HashMap::new(),
        by_tsx: HashMap::new(),
        by_dialog: HashMap::new(),
        by_media: HashMap::new(),
        timers: BinaryHeap::new(),
        timer_seq: 0,
        timer_actions: HashMap::new(),
        keepalives: HashMap::new(),
        invite_dst: HashMap::new(),
        next_call: 1,
        advertise,
        ring_timeout: Duration::from_secs(cfg.sip.ring_timeout_secs),
        max_calls: cfg.sip.max_calls,
        anchor: cfg.media.anchor,
        media_ip: cfg.media.ip,
        caps: AudioCaps::default(),
        cdr,
        bus,
        store,
        internal: internal_tx,
        deps,
        country_code: cfg.node.country_code.clone(),
        record_calls: cfg.media.record_calls && cfg.media.anchor,
        stats: CoreStats::default(),
        quotas,
        counters: counters.clone(),
    };
    core.schedule(now + Duration::from_secs(1), TimerAction::Housekeeping);
    core.slice_init();
    tracing::info!(addr = %local, tcp = cfg.sip.tcp, "SIP listening");
    let task = tokio::spawn(core.run(tcp_rx, commands, media_rx, internal_rx, stop_rx));
    Ok(CallControl {
        local,
        auth_metrics,
        sip_tcp,
        stop,
        task,
        cdr_task,
        counters,
        media,
        cdr_watch,
    })
}

/// Builds what call control needs from the configuration (media engine, IVR flows, agents'
/// extensions, queue names) and starts it. `routing` is the ACD task's handle, if running.
pub async fn start_from_config(
    cfg: &Config,
    store: Store,
    bus: Bus,
    commands: mpsc::Receiver<CallCommand>,
    routing: Option<crate::routing::RoutingHandle>,
) -> Result<CallControl, String> {
    let mut deps = SliceDeps::default();
    if cfg.media.anchor {
        let engine = MediaEngine::start(hotline_media::EngineConfig {
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
        deps.media = Some(engine);
        let prompts = hotline_ivr::PromptDir::default_for(&cfg.dir);
        deps.hold_music = prompts.resolve("flow/hold-music");
        deps.flows = cfg
            .load_flows()
            .map_err(|e| e.to_string())?
            .map(std::sync::Arc::new);
        deps.prompts = Some(prompts);
    }
    match store.list_agents().await {
        Ok(list) => {
            for (id, _, ext, _) in list {
                if !ext.is_empty() {
                    deps.agents.insert(id, ext);
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list agents; extensions are looked up per call")
        }
    }
    if let Some(r) = routing {
        deps.queue_names = r
            .queues()
            .iter()
            .map(|(q, n)| (q.as_str().to_string(), n.clone()))
            .collect();
        deps.decisions = r.take_decisions();
        if deps.decisions.is_none() {
            tracing::error!("routing decisions are already taken: agents will not be rung");
        }
        deps.routing = Some(r);
    }
    if cfg.payments.gateway == crate::config::GatewayKind::Http {
        let g = gateway::HttpGateway::new(
            &cfg.payments.url,
            &cfg.payments.api_key,
            Duration::from_secs(cfg.payments.timeout_secs),
        )?;
        deps.gateway = Some(gateway::Gateway::Http(std::sync::Arc::new(g)));
        tracing::info!(url = %cfg.payments.url, "card payments go to the HTTP processor");
    }
    start(cfg, store, bus, commands, deps).await
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

/// Results of work done off the call-control task (store lookups, routing replies).
#[derive(Debug)]
pub(crate) enum Internal {
    Slice(slice::SliceResult),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Side {
    /// The caller (or, on a click-to-dial call, the customer the switch dials).
    A,
    /// The agent's phone or the dialed extension/trunk.
    B,
    /// A supervisor's phone joined for monitor, whisper or barge.
    S,
    /// The third party of a consultation or conference.
    C,
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsxRole {
    /// The initial INVITE of a B leg (`generation` tells stale legs apart).
    Invite { generation: u32 },
    /// The initial INVITE of any other leg we place (supervisor, consultation, the customer of
    /// a click-to-dial call).
    Leg { side: Side, generation: u32 },
    /// A re-INVITE on a leg (hold, resume).
    ReInvite(Side),
    /// BYE and other in-dialog requests whose answer we only log.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LegTarget {
    Caller,
    Extension(String),
    Trunk(String),
    Agent { agent: String, extension: String },
}

pub(crate) struct Leg {
    pub(crate) invite_tsx: Option<TsxId>,
    /// A: the INVITE as received. B: as sent (with our Via).
    pub(crate) invite_req: Message<'static>,
    pub(crate) tag: String,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) dst: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) media: Option<SessionId>,
    /// The SDP we sent on this leg (anchored: our offer/answer; direct: the other leg's).
    pub(crate) our_sdp: Option<SessionDescription>,
    pub(crate) sdp_version: u64,
    pub(crate) answered: bool,
    pub(crate) target: LegTarget,
    pub(crate) auth_tries: u32,
    pub(crate) generation: u32,
    /// We sent this leg's INVITE (UAC); `false` for a caller's INVITE we received.
    pub(crate) outgoing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A to B, answered when B answers.
    Bridge,
    /// Answered by the switch; IVR and/or queue; B is an agent.
    Service,
    /// Click-to-dial: B is the agent's phone, rung first; A is the customer, dialed when the
    /// agent answers.
    Outbound,
}

pub(crate) struct Call {
    pub(crate) id: String,
    pub(crate) log: CallLog,
    pub(crate) a: Leg,
    pub(crate) b: Option<Leg>,
    pub(crate) ani: String,
    pub(crate) dnis: String,
    pub(crate) mode: Mode,
    pub(crate) started: Instant,
    pub(crate) connected: Option<Instant>,
    pub(crate) agent: Option<String>,
    pub(crate) held: Option<Instant>,
    /// Anchored bridge calls: the answer for A, sent when B answers.
    pub(crate) a_answer: Option<SessionDescription>,
    pub(crate) caller_ext: Option<String>,
    pub(crate) b_generation: u32,
    pub(crate) slice: slice::SliceCall,
    /// Supervisor, consultation and conference legs, mute, and the media topology.
    pub(crate) extra: legs::Extra,
    /// What the caller's leg counts against (per-source caps).
    pub(crate) quota: Quota,
}

#[derive(Debug, Clone)]
enum TimerAction {
    Housekeeping,
    RingTimeout {
        call: u64,
        side: Side,
        generation: u32,
    },
    Slice(u64),
}

struct TrunkState {
    cfg: TrunkConfig,
    /// `media_networks`, parsed.
    media_networks: Arc<[IpNet]>,
    transport: Transport,
    registered_until: Option<Instant>,
    next_register: Instant,
    reg_call_id: String,
    reg_seq: u32,
    reg_tsx: Option<TsxId>,
    reg_auth_tries: u32,
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Quota::None => write!(f, "none"),
            Quota::Source(ip) => write!(f, "source {ip}"),
            Quota::Trunk(name) => write!(f, "trunk {name}"),
            Quota::Extension(ext) => write!(f, "extension {ext}"),
        }
    }
}

impl TrunkState {
    fn new(cfg: TrunkConfig) -> TrunkState {
        let transport = if cfg.transport == "tcp" {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        TrunkState {
            media_networks: cfg.media_networks().into(),
            cfg,
            transport,
            registered_until: None,
            next_register: Instant::now(),
            reg_call_id: String::new(),
            reg_seq: 0,
            reg_tsx: None,
            reg_auth_tries: 0,
        }
    }

    fn domain(&self) -> String {
        if self.cfg.domain.is_empty() {
            self.cfg.address.to_string()
        } else {
            self.cfg.domain.clone()
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct CoreStats {
    calls: u64,
    rejected: u64,
}

pub(crate) struct Core {
    ep: Endpoint,
    reg: Registrar,
    tr: Transports,
    plan: Dialplan,
    trunks: HashMap<String, TrunkState>,
    pub(crate) calls: HashMap<u64, Call>,
    pub(crate) by_id: HashMap<String, u64>,
    by_tsx: HashMap<TsxId, (u64, TsxRole)>,
    by_dialog: HashMap<DialogId, (u64, Side)>,
    pub(crate) by_media: HashMap<SessionId, u64>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    timer_seq: u64,
    timer_actions: HashMap<u64, TimerAction>,
    keepalives: HashMap<TsxId, (String, String)>,
    /// Where each INVITE of ours went, to ACK and BYE a 2xx that arrives after we gave up.
    invite_dst: HashMap<TsxId, (SocketAddr, Transport)>,
    next_call: u64,
    advertise: String,
    ring_timeout: Duration,
    max_calls: usize,
    pub(crate) anchor: bool,
    pub(crate) media_ip: std::net::IpAddr,
    pub(crate) caps: AudioCaps,
    pub(crate) cdr: CdrWriter,
    pub(crate) bus: Bus,
    pub(crate) store: Store,
    pub(crate) internal: mpsc::UnboundedSender<Internal>,
    pub(crate) deps: SliceDeps,
    pub(crate) country_code: String,
    /// `[media] record_calls` (with anchored media).
    pub(crate) record_calls: bool,
    stats: CoreStats,
    /// Live calls per source, trunk and extension, and their caps.
    quotas: Quotas,
    counters: Arc<CallCounters>,
}

/// Who may send a leg's media, and receive ours before it has sent any (strict media sources,
/// see [`hotline_media::RemoteParams`]): the IP its signalling comes from and, for a trunk,
/// the trunk's media networks.
#[derive(Debug, Clone)]
pub(crate) struct MediaPeer {
    signalling: IpAddr,
    networks: Arc<[IpNet]>,
}

impl MediaPeer {
    /// The media engine's view of the far end from a negotiated SDP.
    pub(crate) fn params(&self, remote: SocketAddr, neg: &sdp::Negotiated) -> RemoteParams {
        RemoteParams {
            telephone_event_pt: neg.telephone_event,
            ..RemoteParams::g711(remote, neg.codec.payload_type())
        }
        .signalled_from(self.signalling)
        .with_media_networks(self.networks.clone())
    }
}

fn sdp_of(msg: &Message<'_>) -> Option<SessionDescription> {
    if msg.body.is_empty() {
        return None;
    }
    let ct = msg.header("Content-Type").unwrap_or("application/sdp");
    if !ct.to_ascii_lowercase().starts_with("application/sdp") {
        return None;
    }
    std::str::from_utf8(&msg.body)
        .ok()
        .and_then(|t| SessionDescription::parse(t).ok())
}

fn with_reason(mut r: Message<'static>, reason: &str) -> Message<'static> {
    if let Some(code) = r.status() {
        r.start = hotline_sip::StartLine::Response {
            code,
            reason: reason.to_string().into(),
        };
    }
    r
}

/// The user part of a request's target: the number dialed.
fn dialed_number(req: &Message<'_>) -> Option<String> {
    let uri = Uri::parse(req.request_uri()?).ok()?;
    uri.user.map(|u| u.to_string())
}

fn caller_number(req: &Message<'_>) -> String {
    req.from_header()
        .ok()
        .and_then(|f| f.uri().ok().and_then(|u| u.user.map(str::to_string)))
        .unwrap_or_else(|| "anonymous".into())
}

impl Core {
    // ----- the drive loop -------------------------------------------------------------------

    async fn run(
        mut self,
        mut tcp_rx: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<CallCommand>,
        mut media_rx: mpsc::UnboundedReceiver<MediaEvent>,
        mut internal_rx: mpsc::UnboundedReceiver<Internal>,
        mut stop: watch::Receiver<bool>,
    ) {
        let udp = self.tr.udp.clone();
        let mut buf = vec![0u8; 65_535];
        let mut stopping: Option<Instant> = None;
        loop {
            let deadline = self.next_deadline();
            let sleep = tokio::time::sleep_until(
                deadline
                    .map(tokio::time::Instant::from_std)
                    .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                r = udp.recv_from(&mut buf) => {
                    if let Ok((n, src)) = r {
                        let now = Instant::now();
                        self.ep.handle_datagram(now, src, Transport::Udp, &buf[..n]);
                        self.process(now);
                        // Drain what else is already queued without going back to select!.
                        for _ in 0..64 {
                            match udp.try_recv_from(&mut buf) {
                                Ok((n, src)) => {
                                    self.ep.handle_datagram(now, src, Transport::Udp, &buf[..n]);
                                    self.process(now);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                }
                Some(m) = tcp_rx.recv() => {
                    let now = Instant::now();
                    self.ep.handle_datagram(now, m.src, m.transport, &m.bytes);
                    self.process(now);
                }
                () = sleep => {
                    let now = Instant::now();
                    self.ep.handle_timeout(now);
                    self.fire_timers(now);
                    self.process(now);
                }
                Some(cmd) = commands.recv(), if stopping.is_none() => {
                    let now = Instant::now();
                    self.on_command(now, cmd);
                    self.process(now);
                }
                Some(ev) = media_rx.recv() => {
                    let now = Instant::now();
                    self.on_media(now, ev);
                    self.process(now);
                }
                Some(r) = internal_rx.recv() => {
                    let now = Instant::now();
                    match r {
                        Internal::Slice(s) => self.on_slice_result(now, s),
                    }
                    self.process(now);
                }
                Some(d) = slice::next_decision(&mut self.deps) => {
                    let now = Instant::now();
                    self.on_decision(now, d);
                    self.process(now);
                }
                r = stop.changed(), if stopping.is_none() => {
                    let now = Instant::now();
                    if r.is_err() || *stop.borrow() {
                        tracing::info!(calls = self.calls.len(), "SIP: ending calls for shutdown");
                        let keys: Vec<u64> = self.calls.keys().copied().collect();
                        for k in keys {
                            self.end_call(now, k, None, "switch shutdown", Some(StatusCode::SERVICE_UNAVAILABLE));
                        }
                        self.process(now);
                        stopping = Some(now + Duration::from_secs(2));
                    }
                }
            }
            if let Some(until) = stopping {
                // Wait a little for BYE answers, then stop.
                if Instant::now() >= until || self.ep.transaction_count() == 0 {
                    break;
                }
                if self.timers.is_empty() {
                    self.schedule(until, TimerAction::Housekeeping);
                }
            }
        }
        tracing::info!(
            calls = self.stats.calls,
            rejected = self.stats.rejected,
            "SIP stopped"
        );
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let ep = self.ep.poll_timeout();
        let own = self.timers.peek().map(|Reverse((t, _))| *t);
        match (ep, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn schedule_slice(&mut self, at: Instant, call: u64) {
        self.schedule(at, TimerAction::Slice(call));
    }

    fn schedule(&mut self, at: Instant, action: TimerAction) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq)));
        self.timer_actions.insert(self.timer_seq, action);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(action) = self.timer_actions.remove(&id) else {
                continue;
            };
            match action {
                TimerAction::Housekeeping => {
                    self.housekeeping(now);
                    self.schedule(now + Duration::from_secs(1), TimerAction::Housekeeping);
                }
                TimerAction::RingTimeout {
                    call,
                    side: Side::B,
                    generation,
                } => self.ring_timeout(now, call, generation),
                TimerAction::RingTimeout {
                    call,
                    side,
                    generation,
                } => self.leg_ring_timeout(now, call, side, generation),
                TimerAction::Slice(call) => self.slice_timeout(now, call),
            }
        }
    }

    /// After any input: handle the endpoint's events, then send what it wants sent.
    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            self.on_sip_event(now, ev);
        }
        while let Some(t) = self.ep.poll_transmit() {
            self.tr.send(t);
        }
    }

    fn contact(&self, transport: Transport) -> String {
        match transport {
            Transport::Tcp => format!("<sip:hotline@{};transport=tcp>", self.advertise),
            _ => format!("<sip:hotline@{}>", self.advertise),
        }
    }

    fn respond(&mut self, now: Instant, tsx: TsxId, r: Message<'static>) {
        if let Err(e) = self.ep.respond(now, tsx, r) {
            tracing::debug!(tsx = %tsx, error = %e, "response not sent");
        }
    }

    // ----- SIP events -----------------------------------------------------------------------

    fn on_sip_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Request {
                tsx,
                request,
                src,
                transport,
            } => self.on_request(now, tsx, request, src, transport),
            Event::Response {
                tsx,
                response,
                local,
            } => self.on_response(now, tsx, response, local),
            Event::Ack { .. } => {}
            Event::Cancelled { invite } => {
                if let Some(&(key, _)) = self.by_tsx.get(&invite) {
                    self.by_tsx.remove(&invite);
                    if let Some(c) = self.calls.get_mut(&key) {
                        c.a.invite_tsx = None;
                    }
                    self.end_call(now, key, Some(Side::A), "cancelled", None);
                }
            }
            Event::AckTimeout { invite } => {
                if let Some(&(key, _)) = self.by_tsx.get(&invite) {
                    self.end_call(now, key, None, "no ACK", None);
                }
            }
            Event::Terminated { tsx } => {
                self.by_tsx.remove(&tsx);
                self.keepalives.remove(&tsx);
                self.invite_dst.remove(&tsx);
            }
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        tsx: TsxId,
        req: Message<'static>,
        src: SocketAddr,
        transport: Transport,
    ) {
        let method = req.method().cloned().unwrap_or(Method::Options);
        let in_dialog = req.to_header().ok().and_then(|t| t.tag()).is_some();
        if in_dialog {
            self.on_dialog_request(now, tsx, req, method);
            return;
        }
        match method {
            Method::Register => {
                let r = self.reg.register(now, &req, src, transport);
                self.tr.note_registration(now, src, transport, &r);
                self.respond(now, tsx, r);
            }
            Method::Invite => self.on_invite(now, tsx, req, src, transport),
            Method::Options => {
                let tag = self.ep.new_tag();
                let r = req
                    .make_response(StatusCode::OK, Some(&tag))
                    .with_header(
                        "Allow",
                        "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE",
                    )
                    .with_header("Accept", "application/sdp");
                self.respond(now, tsx, r);
            }
            _ => {
                let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
                self.respond(now, tsx, r);
            }
        }
    }

    fn trunk_at(&self, src: SocketAddr) -> Option<String> {
        self.trunks
            .values()
            .find(|t| t.cfg.address.ip() == src.ip())
            .map(|t| t.cfg.name.clone())
    }

    /// The strict-source view of a leg whose signalling goes to and comes from `signalling`.
    pub(crate) fn media_peer(&self, signalling: SocketAddr) -> MediaPeer {
        let networks = self
            .trunks
            .values()
            .find(|t| t.cfg.address.ip() == signalling.ip())
            .map(|t| t.media_networks.clone())
            .unwrap_or_else(|| Arc::from([]));
        MediaPeer {
            signalling: signalling.ip(),
            networks,
        }
    }

    /// Refuses a new call over its quota (503 with Retry-After, counted); true when it fits.
    fn admit_quota(&mut self, now: Instant, tsx: TsxId, req: &Message<'_>, q: &Quota) -> bool {
        let Admission::Refused { limit, first } = self.quotas.admit(q) else {
            return true;
        };
        self.counters
            .refused_over_quota
            .fetch_add(1, Ordering::Relaxed);
        if first {
            tracing::warn!(quota = %q, limit, "too many concurrent calls: new ones get 503");
        }
        self.stats.rejected += 1;
        let tag = self.ep.new_tag();
        let r = with_reason(
            req.make_response(StatusCode::SERVICE_UNAVAILABLE, Some(&tag)),
            "Too Many Calls",
        )
        .with_header("Retry-After", quota::RETRY_AFTER_SECS.to_string());
        self.respond(now, tsx, r);
        false
    }

    fn reject(&mut self, now: Instant, tsx: TsxId, req: &Message<'_>, code: StatusCode, why: &str) {
        self.stats.rejected += 1;
        let tag = self.ep.new_tag();
        let r = with_reason(req.make_response(code, Some(&tag)), why);
        self.respond(now, tsx, r);
    }

    fn on_invite(
        &mut self,
        now: Instant,
        tsx: TsxId,
        req: Message<'static>,
        src: SocketAddr,
        transport: Transport,
    ) {
        // Until the source proves itself (a trunk's address, or digest credentials below),
        // rejections go out once per INVITE, not on timer G (no amplification to a spoofed
        // source address).
        let from_trunk = self.trunk_at(src);
        if from_trunk.is_none() {
            let _ = self.ep.set_source_trust(tsx, SourceTrust::Unverified);
        }
        if self.reg.source_banned(now, src.ip()) {
            return self.reject(now, tsx, &req, StatusCode::FORBIDDEN, "Forbidden");
        }
        if self.calls.len() >= self.max_calls {
            return self.reject(now, tsx, &req, StatusCode::SERVICE_UNAVAILABLE, "Busy");
        }
        // Per-source cap, before any media port is taken: a trunk counts against its own
        // limit, anyone else against its IP until it authenticates as an extension (below).
        let mut quota = match self.trunk_at(src) {
            Some(trunk) => Quota::Trunk(trunk),
            None => Quota::Source(src.ip()),
        };
        if !self.admit_quota(now, tsx, &req, &quota) {
            return;
        }
        let Some(dialed) = dialed_number(&req) else {
            return self.reject(now, tsx, &req, StatusCode::NOT_FOUND, "No number");
        };
        let route = match self.plan.resolve(&dialed) {
            Ok(r) => r,
            Err(NoRoute::NotFound) => {
                return self.reject(now, tsx, &req, StatusCode::NOT_FOUND, "Not Found");
            }
            Err(NoRoute::BadNumber) => {
                return self.reject(now, tsx, &req, StatusCode(484), "Address Incomplete");
            }
        };
        let is_trunk_target = matches!(route.target, Target::Trunk { .. });
        // Who is calling? Public numbers take anyone; everything else needs an authenticated
        // extension. Registered phones (or requests carrying credentials) are challenged;
        // unknown sources are refused outright.
        let mut caller_ext = None;
        if !route.public || is_trunk_target {
            let known =
                self.reg.extension_at(src, now).is_some() || req.authorization(true).is_some();
            if !known {
                tracing::info!(source = %src, dialed = %redact(&dialed), "INVITE from an unknown source to a non-public number: 403");
                return self.reject(now, tsx, &req, StatusCode::FORBIDDEN, "Forbidden");
            }
            match self.reg.authenticate(now, &req, src, true) {
                Ok(ext) => {
                    let _ = self.ep.set_source_trust(tsx, SourceTrust::Verified);
                    caller_ext = Some(ext);
                }
                Err(refused) => {
                    self.stats.rejected += 1;
                    self.respond(now, tsx, *refused.response);
                    return;
                }
            }
        }
        let ani = match &caller_ext {
            Some(e) => e.clone(),
            None => caller_number(&req),
        };
        let direction = match (&route.target, &caller_ext, &from_trunk) {
            (Target::Trunk { .. }, _, _) => Direction::Outbound,
            (_, Some(_), _) => Direction::Internal,
            _ => Direction::Inbound,
        };
        if let Some(ext) = &caller_ext {
            quota = Quota::Extension(ext.clone());
            if !self.admit_quota(now, tsx, &req, &quota) {
                return;
            }
        }
        let offer = sdp_of(&req);
        let key = self.next_call;
        self.next_call += 1;
        self.stats.calls += 1;
        let id = format!("{}-{key}", self.ep.new_tag());
        let mut log = CallLog::new(id.clone());
        self.cdr.write(log.event(
            now_millis(),
            CallEventKind::Arrived {
                direction,
                ani: ani.clone(),
                dnis: dialed.clone(),
            },
        ));
        let a = Leg {
            invite_tsx: Some(tsx),
            invite_req: req,
            tag: self.ep.new_tag(),
            dialog: None,
            dst: src,
            transport,
            media: None,
            our_sdp: None,
            sdp_version: 1,
            answered: false,
            target: LegTarget::Caller,
            auth_tries: 0,
            generation: 0,
            outgoing: false,
        };
        let mode = match route.target {
            Target::Ivr(_) | Target::Queue(_) => Mode::Service,
            _ => Mode::Bridge,
        };
        let call = Call {
            id: id.clone(),
            log,
            a,
            b: None,
            ani,
            dnis: dialed,
            mode,
            started: now,
            connected: None,
            agent: None,
            held: None,
            a_answer: None,
            caller_ext,
            b_generation: 0,
            slice: slice::SliceCall::default(),
            extra: legs::Extra::default(),
            quota,
        };
        self.quotas.acquire(&call.quota);
        self.calls.insert(key, call);
        self.by_id.insert(id, key);
        self.by_tsx.insert(tsx, (key, TsxRole::Other));

        // Media for the caller's leg when anchoring.
        if self.anchor {
            let Some(offer) = offer else {
                self.end_call(
                    now,
                    key,
                    None,
                    "no SDP offer",
                    Some(StatusCode::NOT_ACCEPTABLE_HERE),
                );
                return;
            };
            if let Err(why) = self.anchor_a(key, &offer) {
                tracing::info!(call = key, "{why}");
                self.end_call(now, key, None, why, Some(StatusCode::NOT_ACCEPTABLE_HERE));
                return;
            }
        }
        match route.target {
            Target::Extension(ext) => self.ring_extension(now, key, &ext, None),
            Target::Trunk { trunk, number } => self.dial_trunk(now, key, &trunk, &number),
            Target::Ivr(flow) => self.start_service(now, key, Some(flow), None),
            Target::Queue(q) => self.start_service(now, key, None, Some(q)),
        }
    }

    /// Creates the caller's media session and the SDP answer to its offer.
    fn anchor_a(&mut self, key: u64, offer: &SessionDescription) -> Result<(), &'static str> {
        let Some(media) = self.deps.media.clone() else {
            return Err("media anchoring without a media engine");
        };
        let Some(peer) = self.calls.get(&key).map(|c| self.media_peer(c.a.dst)) else {
            return Err("call ended");
        };
        let info = media
            .create_session(hotline_media::SessionOptions::on(self.media_ip))
            .map_err(|_| "no media session")?;
        let sid = key;
        let (answer, neg) = match sdp::answer(
            offer,
            &self.caps,
            self.media_ip,
            info.local.port(),
            SdpDirection::SendRecv,
            sid,
            1,
        ) {
            Ok(x) => x,
            Err(_) => {
                let _ = media.destroy(info.id);
                return Err("offer has no usable codec");
            }
        };
        if let Some(remote) = neg.remote {
            let _ = media.set_remote(info.id, peer.params(remote, &neg));
        }
        self.by_media.insert(info.id, key);
        if let Some(c) = self.calls.get_mut(&key) {
            c.a.media = Some(info.id);
            c.a_answer = Some(answer);
        }
        Ok(())
    }

    /// Answers the caller's INVITE (200 with our SDP) in service mode.
    pub(crate) fn answer_a(&mut self, now: Instant, key: u64) {
        let contact = {
            let Some(c) = self.calls.get(&key) else {
                return;
            };
            self.contact(c.a.transport)
        };
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(tsx) = c.a.invite_tsx.take() else {
            return;
        };
        let mut r =
            c.a.invite_req
                .make_response(StatusCode::OK, Some(&c.a.tag))
                .with_header("Contact", contact.clone());
        if let Some(sd) = c.a_answer.take() {
            r.set_body("application/sdp", sd.to_bytes());
            c.a.our_sdp = Some(sd);
        }
        let dialog = Dialog::uas(&c.a.invite_req, &c.a.tag, &contact).ok();
        c.a.answered = true;
        if let Some(mut d) = dialog {
            d.on_response_sent(&Method::Invite, StatusCode::OK);
            self.by_dialog.insert(d.id.clone(), (key, Side::A));
            c.a.dialog = Some(d);
        }
        let _ = self.ep.respond(now, tsx, r);
    }

    fn relay_provisional(&mut self, now: Instant, key: u64, code: StatusCode, body: Option<&[u8]>) {
        let contact = match self.calls.get(&key) {
            Some(c) => self.contact(c.a.transport),
            None => return,
        };
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let Some(tsx) = c.a.invite_tsx else { return };
        let mut r =
            c.a.invite_req
                .make_response(code, Some(&c.a.tag))
                .with_header("Contact", contact);
        if let Some(b) = body
            && !self.anchor
            && !b.is_empty()
        {
            r.set_body("application/sdp", b.to_vec());
        }
        let _ = self.ep.respond(now, tsx, r);
    }

    // ----- B legs ---------------------------------------------------------------------------

    fn ring_extension(&mut self, now: Instant, key: u64, ext: &str, agent: Option<String>) {
        self.ring_extension_on(now, key, Side::B, ext, agent);
    }

    /// Rings `ext` as leg `side` of call `key` (the most recently registered contact).
    pub(crate) fn ring_extension_on(
        &mut self,
        now: Instant,
        key: u64,
        side: Side,
        ext: &str,
        agent: Option<String>,
    ) {
        let contacts = self.reg.contacts(ext, now);
        let Some(b) = contacts.last().cloned() else {
            tracing::info!(extension = %ext, "extension not registered");
            if side != Side::B {
                self.leg_failed(now, key, side, "not registered");
                return;
            }
            let service = self
                .calls
                .get(&key)
                .is_some_and(|c| c.mode == Mode::Service);
            if agent.is_some() || service {
                self.agent_leg_failed(now, key, "not registered");
            } else {
                self.end_call(
                    now,
                    key,
                    None,
                    "not registered",
                    Some(StatusCode::TEMPORARILY_UNAVAILABLE),
                );
            }
            return;
        };
        let (caller, name) = match self.calls.get(&key) {
            Some(c) => (
                c.ani.clone(),
                c.caller_ext
                    .as_ref()
                    .map(|e| self.reg.name(e).to_string())
                    .unwrap_or_default(),
            ),
            None => return,
        };
        let from_display = if name.is_empty() {
            String::new()
        } else {
            format!("\"{}\" ", name.replace('"', ""))
        };
        let target = match agent {
            Some(a) => LegTarget::Agent {
                agent: a,
                extension: ext.to_string(),
            },
            None => LegTarget::Extension(ext.to_string()),
        };
        let host = self.advertise.clone();
        let from = format!("{from_display}<sip:{caller}@{host}>");
        let to = format!("<sip:{ext}@{host}>");
        self.send_leg_invite(
            now,
            key,
            side,
            b.uri,
            from,
            to,
            b.source,
            b.transport,
            target,
        );
    }

    fn dial_trunk(&mut self, now: Instant, key: u64, trunk: &str, number: &str) {
        self.dial_trunk_on(now, key, Side::B, trunk, number);
    }

    /// Dials `number` through `trunk` as leg `side` of call `key`, with the trunk's caller ID.
    pub(crate) fn dial_trunk_on(
        &mut self,
        now: Instant,
        key: u64,
        side: Side,
        trunk: &str,
        number: &str,
    ) {
        let Some(t) = self.trunks.get(trunk) else {
            if side != Side::B {
                self.leg_failed(now, key, side, "no such trunk");
                return;
            }
            self.end_call(
                now,
                key,
                None,
                "no such trunk",
                Some(StatusCode::SERVICE_UNAVAILABLE),
            );
            return;
        };
        let domain = t.domain();
        let caller_id = if t.cfg.caller_id.is_empty() {
            self.calls
                .get(&key)
                .map(|c| c.ani.clone())
                .unwrap_or_default()
        } else {
            t.cfg.caller_id.clone()
        };
        let (dst, transport) = (t.cfg.address, t.transport);
        let uri = if transport == Transport::Tcp {
            format!("sip:{number}@{domain};transport=tcp")
        } else {
            format!("sip:{number}@{domain}")
        };
        let from = format!("<sip:{caller_id}@{}>", self.advertise);
        let to = format!("<sip:{number}@{domain}>");
        self.send_leg_invite(
            now,
            key,
            side,
            uri,
            from,
            to,
            dst,
            transport,
            LegTarget::Trunk(trunk.to_string()),
        );
    }

    /// Sends the INVITE of leg `side` (B, or a supervisor, consultation or click-to-dial leg)
    /// with our own offer from a media session next to the caller's, and arms its ring timer.
    #[allow(clippy::too_many_arguments)]
    fn send_leg_invite(
        &mut self,
        now: Instant,
        key: u64,
        side: Side,
        uri: String,
        from: String,
        to: String,
        dst: SocketAddr,
        transport: Transport,
        target: LegTarget,
    ) {
        let tag = self.ep.new_tag();
        let call_id = self.ep.new_call_id();
        let contact = self.contact(transport);
        let media = self.deps.media.clone();
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        c.b_generation += 1;
        let generation = c.b_generation;
        let mut inv = Message::request(Method::Invite, uri);
        inv.push_header("From", format!("{from};tag={tag}"));
        inv.push_header("To", to);
        inv.push_header("Call-ID", call_id);
        inv.push_header("CSeq", "1 INVITE");
        inv.push_header("Contact", contact);
        inv.push_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE");
        if let LegTarget::Agent { extension, .. } = &target
            && self.reg.auto_answer(extension)
        {
            // The two conventions phones honour for "answer this by yourself".
            inv.push_header(
                "Call-Info",
                format!("<sip:{}>;answer-after=0", self.advertise),
            );
            inv.push_header(
                "Alert-Info",
                "<http://127.0.0.1>;info=alert-autoanswer;delay=0",
            );
        }
        let mut b_media = None;
        let mut our_sdp = None;
        // The customer's leg of a click-to-dial call already has its media session.
        let existing = match side {
            Side::A => c.a.media.zip(c.extra.a_local),
            _ => None,
        };
        if self.anchor {
            let (Some(media), Some(a_sid)) = (media, c.a.media) else {
                return;
            };
            let session = match existing {
                Some((id, local)) => Ok(hotline_media::SessionInfo { id, local }),
                None => {
                    media.create_session(hotline_media::SessionOptions::near(self.media_ip, a_sid))
                }
            };
            match session {
                Ok(info) => {
                    let sd = sdp::offer(
                        &self.caps,
                        self.media_ip,
                        info.local.port(),
                        SdpDirection::SendRecv,
                        key ^ (u64::from(generation) << 48),
                        1,
                    );
                    inv.set_body("application/sdp", sd.to_bytes());
                    b_media = Some(info.id);
                    our_sdp = Some(sd);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no media session for the outbound leg");
                }
            }
        } else if !c.a.invite_req.body.is_empty() {
            inv.set_body(
                c.a.invite_req
                    .header("Content-Type")
                    .unwrap_or("application/sdp"),
                c.a.invite_req.body.to_vec(),
            );
        }
        let tsx = match self.ep.send_request(now, inv, dst, transport) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot send INVITE");
                return;
            }
        };
        let sent = self
            .ep
            .request(tsx)
            .cloned()
            .unwrap_or_else(|| Message::request(Method::Invite, ""));
        if let Some(m) = b_media {
            self.by_media.insert(m, key);
        }
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let leg = Leg {
            invite_tsx: Some(tsx),
            invite_req: sent,
            tag,
            dialog: None,
            dst,
            transport,
            media: b_media,
            our_sdp,
            sdp_version: 1,
            answered: false,
            target,
            auth_tries: 0,
            generation,
            outgoing: true,
        };
        let role = match side {
            Side::B => TsxRole::Invite { generation },
            side => TsxRole::Leg { side, generation },
        };
        match side {
            Side::A => c.a = leg,
            Side::B => c.b = Some(leg),
            Side::S => c.extra.s = Some(leg),
            Side::C => c.extra.c = Some(leg),
        }
        self.by_tsx.insert(tsx, (key, role));
        self.invite_dst.insert(tsx, (dst, transport));
        self.schedule(
            now + self.ring_timeout,
            TimerAction::RingTimeout {
                call: key,
                side,
                generation,
            },
        );
    }

    fn ring_timeout(&mut self, now: Instant, key: u64, generation: u32) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let Some(b) = &c.b else { return };
        if b.generation != generation || b.answered {
            return;
        }
        if let Some(tsx) = b.invite_tsx {
            let _ = self.ep.cancel(now, tsx);
        }
        tracing::info!(call = %c.id, "no answer");
        let is_agent = matches!(b.target, LegTarget::Agent { .. }) || c.mode == Mode::Service;
        if is_agent {
            self.agent_leg_failed(now, key, "no answer");
        } else {
            self.drop_b(key);
            self.end_call(
                now,
                key,
                None,
                "no answer",
                Some(StatusCode::TEMPORARILY_UNAVAILABLE),
            );
        }
    }

    /// Forgets the B leg (its transactions finish on their own) and frees its media.
    pub(crate) fn drop_b(&mut self, key: u64) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(mixer) = c.extra.mixer.take()
            && let Some(media) = &self.deps.media
        {
            let _ = media.destroy_mixer(mixer);
        }
        c.extra.topology = legs::Topology::Idle;
        if let Some(b) = c.b.take() {
            if let Some(d) = &b.dialog {
                self.by_dialog.remove(&d.id);
            }
            if let Some(m) = b.media {
                self.by_media.remove(&m);
                if let Some(media) = &self.deps.media {
                    let _ = media.destroy(m);
                }
            }
        }
        self.update_recording(key);
    }

    fn on_response(&mut self, now: Instant, tsx: TsxId, resp: Message<'static>, local: bool) {
        if let Some((ext, uri)) = self.keepalives.get(&tsx).cloned() {
            if resp.status() == Some(StatusCode::REQUEST_TIMEOUT) && local {
                self.reg.unreachable(&ext, &uri);
            }
            return;
        }
        if self.on_trunk_register_response(now, tsx, &resp) {
            return;
        }
        let Some(&(key, role)) = self.by_tsx.get(&tsx) else {
            // A 2xx for a leg we already gave up (CANCEL crossed it): ACK and BYE.
            if resp.status().is_some_and(|c| c.is_success())
                && resp.cseq().is_ok_and(|c| c.method == Method::Invite)
            {
                self.ack_and_bye(now, tsx, &resp);
            }
            return;
        };
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        match role {
            TsxRole::Invite { generation } => {
                self.on_b_invite_response(now, key, tsx, generation, resp, code)
            }
            TsxRole::Leg { side, generation } => {
                self.on_leg_invite_response(now, key, tsx, side, generation, resp, code)
            }
            TsxRole::ReInvite(side) => self.on_reinvite_response(now, key, tsx, side, resp, code),
            TsxRole::Other => {
                if code.is_final() {
                    self.by_tsx.remove(&tsx);
                }
            }
        }
    }

    fn ack_and_bye(&mut self, now: Instant, tsx: TsxId, resp: &Message<'static>) {
        let Some((dst, transport)) = self.invite_dst.get(&tsx).copied() else {
            return;
        };
        let inv = self.ep.request(tsx).cloned();
        let Ok(mut d) = Dialog::uac(inv.as_ref().unwrap_or(resp), resp) else {
            return;
        };
        let seq = resp.cseq().map(|c| c.seq).unwrap_or(1);
        let _ = self.ep.ack_2xx(tsx, d.ack(seq), dst);
        if let Ok(bye) = d.request(Method::Bye) {
            let _ = self.ep.send_request(now, bye, dst, transport);
        }
    }

    fn on_b_invite_response(
        &mut self,
        now: Instant,
        key: u64,
        tsx: TsxId,
        generation: u32,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        let stale = self
            .calls
            .get(&key)
            .is_none_or(|c| c.b.as_ref().is_none_or(|b| b.generation != generation));
        if stale {
            // An old leg (cancelled, timed out, transferred away) answered after all.
            if code.is_success() {
                self.ack_and_bye(now, tsx, &resp);
            }
            if code.is_final() {
                self.by_tsx.remove(&tsx);
            }
            return;
        }
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let is_agent =
            c.b.as_ref()
                .is_some_and(|b| matches!(b.target, LegTarget::Agent { .. }));
        let mode = c.mode;
        if code.is_provisional() {
            if code.0 > 100 {
                if mode == Mode::Bridge {
                    let body = resp.body.to_vec();
                    self.relay_provisional(now, key, code, Some(&body));
                } else if is_agent {
                    self.agent_ringing(now, key);
                }
            }
            return;
        }
        self.by_tsx.remove(&tsx);
        if code.is_success() {
            self.on_b_answered(now, key, tsx, resp);
            return;
        }
        // A failure. Trunks may challenge us.
        if matches!(code.0, 401 | 407) && self.retry_with_credentials(now, key, Side::B, tsx, &resp)
        {
            return;
        }
        if let Some(b) = self.calls.get_mut(&key).and_then(|c| c.b.as_mut()) {
            b.invite_tsx = None;
        }
        let reason = failure_reason(code);
        if mode == Mode::Outbound {
            // Click-to-dial: the agent's own phone did not take the call.
            self.drop_b(key);
            self.end_call(now, key, None, reason, None);
            return;
        }
        if is_agent || mode == Mode::Service {
            self.agent_leg_failed(now, key, reason);
            return;
        }
        self.drop_b(key);
        let to_a = match code.0 {
            401 | 407 => StatusCode::FORBIDDEN,
            c => StatusCode(c),
        };
        self.end_call(now, key, None, reason, Some(to_a));
    }

    pub(crate) fn retry_with_credentials(
        &mut self,
        now: Instant,
        key: u64,
        side: Side,
        tsx: TsxId,
        resp: &Message<'static>,
    ) -> bool {
        let Some(c) = self.calls.get(&key) else {
            return false;
        };
        let Some(b) = c.leg(side) else { return false };
        let LegTarget::Trunk(name) = &b.target else {
            return false;
        };
        if b.auth_tries >= 1 {
            return false;
        }
        let Some(t) = self.trunks.get(name) else {
            return false;
        };
        if t.cfg.username.is_empty() {
            return false;
        }
        let Ok(ch) = hotline_sip::auth::Challenge::pick(resp) else {
            return false;
        };
        let Some(prev) = self
            .ep
            .request(tsx)
            .cloned()
            .or_else(|| Some(b.invite_req.clone()))
        else {
            return false;
        };
        let uri = prev.request_uri().unwrap_or_default().to_string();
        let proxy = resp.status() == Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let cnonce = self.ep.new_tag();
        let value = hotline_sip::auth::authorize(
            &ch,
            &Method::Invite,
            &uri,
            &t.cfg.username,
            &t.cfg.password,
            &cnonce,
            1,
        );
        let mut inv = Message::request(Method::Invite, uri);
        for h in &prev.headers {
            if h.is("Via")
                || h.is("CSeq")
                || h.is("Authorization")
                || h.is("Proxy-Authorization")
                || h.is("Content-Length")
                || h.is("Content-Type")
                || h.is("Max-Forwards")
                || h.is("User-Agent")
            {
                continue;
            }
            inv.push_header(h.name().to_string(), h.value.to_string());
        }
        let seq = prev.cseq().map(|s| s.seq).unwrap_or(1) + 1;
        inv.push_header("CSeq", format!("{seq} INVITE"));
        inv.push_header(
            if proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            },
            value,
        );
        if !prev.body.is_empty() {
            inv.set_body("application/sdp", prev.body.to_vec());
        }
        let (dst, transport, generation) = (b.dst, b.transport, b.generation);
        let Ok(new_tsx) = self.ep.send_request(now, inv, dst, transport) else {
            return false;
        };
        let sent = self.ep.request(new_tsx).cloned();
        if let Some(b) = self.leg_mut(key, side) {
            b.auth_tries += 1;
            b.invite_tsx = Some(new_tsx);
            if let Some(s) = sent {
                b.invite_req = s;
            }
        }
        let role = match side {
            Side::B => TsxRole::Invite { generation },
            side => TsxRole::Leg { side, generation },
        };
        self.by_tsx.insert(new_tsx, (key, role));
        self.invite_dst.insert(new_tsx, (dst, transport));
        true
    }

    fn on_b_answered(&mut self, now: Instant, key: u64, tsx: TsxId, resp: Message<'static>) {
        let media = self.deps.media.clone();
        let anchor = self.anchor;
        let peer = self
            .calls
            .get(&key)
            .and_then(|c| c.b.as_ref())
            .map(|b| self.media_peer(b.dst));
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(b) = c.b.as_mut() else { return };
        b.invite_tsx = None;
        b.answered = true;
        let dialog = match Dialog::uac(&b.invite_req, &resp) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "2xx without a usable dialog");
                return;
            }
        };
        let seq = b.invite_req.cseq().map(|s| s.seq).unwrap_or(1);
        let _ = self.ep.ack_2xx(tsx, dialog.ack(seq), b.dst);
        self.by_dialog.insert(dialog.id.clone(), (key, Side::B));
        b.dialog = Some(dialog);
        // Media: learn where B listens.
        if anchor {
            if let (Some(m), Some(ours), Some(theirs), Some(peer)) =
                (&media, &b.our_sdp, sdp_of(&resp), &peer)
                && let Ok(neg) = sdp::negotiated_from_answer(ours, &theirs)
                && let (Some(remote), Some(sid)) = (neg.remote, b.media)
            {
                let _ = m.set_remote(sid, peer.params(remote, &neg));
            }
        } else {
            b.our_sdp = sdp_of(&c.a.invite_req);
        }
        let b_target = b.target.clone();
        let b_body = resp.body.to_vec();
        c.connected = Some(now);
        match c.mode {
            Mode::Bridge => {
                // Answer the caller now.
                if !anchor {
                    c.a_answer = None;
                }
                let answered_by = match &b_target {
                    LegTarget::Extension(e) => format!("ext:{e}"),
                    LegTarget::Trunk(t) => format!("trunk:{t}"),
                    LegTarget::Agent { agent, .. } => agent.clone(),
                    LegTarget::Caller => String::new(),
                };
                let ev = c.log.event(
                    now_millis(),
                    CallEventKind::Answered {
                        agent_id: answered_by,
                    },
                );
                self.cdr.write(ev);
                if !anchor {
                    // Direct media: B's SDP goes to A.
                    let contact = match c.a.transport {
                        Transport::Tcp => format!("<sip:hotline@{};transport=tcp>", self.advertise),
                        _ => format!("<sip:hotline@{}>", self.advertise),
                    };
                    if let Some(t) = c.a.invite_tsx.take() {
                        let mut r =
                            c.a.invite_req
                                .make_response(StatusCode::OK, Some(&c.a.tag))
                                .with_header("Contact", contact.clone());
                        if !b_body.is_empty() {
                            r.set_body("application/sdp", b_body.clone());
                            c.a.our_sdp = std::str::from_utf8(&b_body)
                                .ok()
                                .and_then(|t| SessionDescription::parse(t).ok());
                        }
                        if let Ok(mut d) = Dialog::uas(&c.a.invite_req, &c.a.tag, &contact) {
                            d.on_response_sent(&Method::Invite, StatusCode::OK);
                            self.by_dialog.insert(d.id.clone(), (key, Side::A));
                            c.a.dialog = Some(d);
                        }
                        c.a.answered = true;
                        let _ = self.ep.respond(now, t, r);
                    }
                } else {
                    self.answer_a(now, key);
                    self.bridge_media(key);
                }
            }
            Mode::Service => {
                self.agent_answered(now, key);
            }
            Mode::Outbound => {
                c.connected = None;
                self.dial_agent_answered(now, key);
            }
        }
    }

    /// Connects caller and B in media (a relay, or a mixer when a supervisor, a conference or
    /// mute needs one).
    pub(crate) fn bridge_media(&mut self, key: u64) {
        self.apply_media(key);
    }

    // ----- in-dialog requests ---------------------------------------------------------------

    fn on_dialog_request(
        &mut self,
        now: Instant,
        tsx: TsxId,
        req: Message<'static>,
        method: Method,
    ) {
        let Some(id) = DialogId::for_incoming(&req) else {
            return;
        };
        let Some(&(key, side)) = self.by_dialog.get(&id) else {
            let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
            self.respond(now, tsx, r);
            return;
        };
        let check = {
            let Some(leg) = self.leg_mut(key, side) else {
                let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
                self.respond(now, tsx, r);
                return;
            };
            match leg.dialog.as_mut() {
                Some(d) => d.on_request(&req),
                None => Err(StatusCode::CALL_DOES_NOT_EXIST),
            }
        };
        if let Err(code) = check {
            let r = req.make_response(code, None);
            self.respond(now, tsx, r);
            return;
        }
        match method {
            Method::Bye => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
                if let Some(leg) = self.leg_mut(key, side)
                    && let Some(d) = leg.dialog.take()
                {
                    self.by_dialog.remove(&d.id);
                }
                if matches!(side, Side::S | Side::C) {
                    self.leg_hung_up(now, key, side, "hung up");
                    return;
                }
                if side == Side::B && self.agent_phone_hung_up(now, key) {
                    return;
                }
                let reason = if side == Side::A {
                    "caller hung up"
                } else {
                    "callee hung up"
                };
                if side == Side::B && self.b_is_agent(key) && !self.b_connected(key) {
                    self.agent_leg_failed(now, key, "agent hung up");
                } else {
                    self.end_call(now, key, Some(side), reason, None);
                }
            }
            Method::Invite | Method::Update => self.on_reinvite(now, key, side, tsx, req, method),
            Method::Info => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
                if side == Side::A
                    && let Some(d) = info_digit(&req)
                {
                    self.slice_digit(now, key, d);
                }
            }
            Method::Options => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
            }
            _ => {
                let r = req.make_response(StatusCode::NOT_IMPLEMENTED, None);
                self.respond(now, tsx, r);
            }
        }
    }

    fn leg_mut(&mut self, key: u64, side: Side) -> Option<&mut Leg> {
        self.calls.get_mut(&key)?.leg_mut(side)
    }

    fn b_is_agent(&self, key: u64) -> bool {
        self.calls
            .get(&key)
            .and_then(|c| c.b.as_ref())
            .is_some_and(|b| matches!(b.target, LegTarget::Agent { .. }))
    }

    fn b_connected(&self, key: u64) -> bool {
        self.calls
            .get(&key)
            .and_then(|c| c.b.as_ref())
            .is_some_and(|b| b.answered)
    }

    /// A re-INVITE or UPDATE from a peer (a phone's own hold, a session refresh). We answer
    /// for our side: anchored, from our media session (following the peer's new address and
    /// direction); direct, with the SDP we gave before.
    fn on_reinvite(
        &mut self,
        now: Instant,
        key: u64,
        side: Side,
        tsx: TsxId,
        req: Message<'static>,
        method: Method,
    ) {
        let anchor = self.anchor;
        let media = self.deps.media.clone();
        let caps = self.caps.clone();
        let ip = self.media_ip;
        let Some(peer) = self
            .calls
            .get(&key)
            .and_then(|c| c.leg(side))
            .map(|l| self.media_peer(l.dst))
        else {
            return;
        };
        let Some(leg) = self.leg_mut(key, side) else {
            return;
        };
        let mut r = req.make_response(StatusCode::OK, None);
        let offer = sdp_of(&req);
        let mut answer_body = None;
        match (offer, anchor) {
            (Some(offer), true) => {
                let port = leg
                    .our_sdp
                    .as_ref()
                    .and_then(|s| s.audio())
                    .map(|m| m.port)
                    .unwrap_or(0);
                leg.sdp_version += 1;
                match sdp::answer(
                    &offer,
                    &caps,
                    ip,
                    port,
                    SdpDirection::SendRecv,
                    key,
                    leg.sdp_version,
                ) {
                    Ok((sd, neg)) => {
                        if let (Some(m), Some(sid)) = (&media, leg.media)
                            && let Some(remote) = neg.remote
                        {
                            // A new SDP: the leg may latch again (strict sources).
                            let _ = m.set_remote(sid, peer.params(remote, &neg));
                        }
                        answer_body = Some(sd.to_bytes());
                        leg.our_sdp = Some(sd);
                    }
                    Err(_) => r = req.make_response(StatusCode::NOT_ACCEPTABLE_HERE, None),
                }
            }
            (Some(_), false) | (None, _) => {
                if let Some(sd) = &mut leg.our_sdp {
                    sd.session_version += 1;
                    answer_body = Some(sd.to_bytes());
                }
            }
        }
        if (method == Method::Invite || answer_body.is_some())
            && let Some(b) = answer_body
            && r.status() == Some(StatusCode::OK)
        {
            r.set_body("application/sdp", b);
        }
        let contact = leg
            .dialog
            .as_ref()
            .map(|d| d.local_contact.clone())
            .unwrap_or_default();
        if !contact.is_empty() {
            r.push_header("Contact", contact);
        }
        let code = r.status().unwrap_or(StatusCode::OK);
        if let Some(d) = leg.dialog.as_mut() {
            d.on_response_sent(&method, code);
        }
        self.respond(now, tsx, r);
    }

    /// Sends a re-INVITE on a leg with our SDP in `direction` (hold: sendonly; resume:
    /// sendrecv).
    pub(crate) fn send_reinvite(
        &mut self,
        now: Instant,
        key: u64,
        side: Side,
        direction: SdpDirection,
    ) -> Result<(), String> {
        let Some(leg) = self.leg_mut(key, side) else {
            return Err("no such leg".into());
        };
        let (dst, transport) = (leg.dst, leg.transport);
        let Some(d) = leg.dialog.as_mut() else {
            return Err("the leg is not connected".into());
        };
        let mut req = d
            .request(Method::Invite)
            .map_err(|e| format!("cannot re-INVITE now: {e}"))?;
        if let Some(sd) = leg.our_sdp.as_mut() {
            sd.session_version += 1;
            sd.direction = None;
            for m in &mut sd.media {
                if m.port != 0 {
                    m.direction = Some(direction);
                }
            }
            req.set_body("application/sdp", sd.to_bytes());
        }
        let tsx = self
            .ep
            .send_request(now, req, dst, transport)
            .map_err(|e| e.to_string())?;
        self.by_tsx.insert(tsx, (key, TsxRole::ReInvite(side)));
        Ok(())
    }

    fn on_reinvite_response(
        &mut self,
        now: Instant,
        key: u64,
        tsx: TsxId,
        side: Side,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        if !code.is_final() {
            return;
        }
        self.by_tsx.remove(&tsx);
        let Some(leg) = self.leg_mut(key, side) else {
            return;
        };
        let dst = leg.dst;
        if let Some(d) = leg.dialog.as_mut() {
            d.on_response(&resp);
            if code.is_success() {
                let seq = resp.cseq().map(|s| s.seq).unwrap_or(0);
                let ack = d.ack(seq);
                let _ = self.ep.ack_2xx(tsx, ack, dst);
            }
        }
        let _ = now;
    }

    // ----- ending ---------------------------------------------------------------------------

    /// Ends a call: final response or BYE to every leg except `from` (the side that hung up),
    /// frees media, tells routing and the CTI, and writes the end of the call record.
    pub(crate) fn end_call(
        &mut self,
        now: Instant,
        key: u64,
        from: Option<Side>,
        reason: &str,
        code_for_a: Option<StatusCode>,
    ) {
        let Some(mut c) = self.calls.remove(&key) else {
            return;
        };
        self.quotas.release(&c.quota);
        self.by_id.remove(&c.id);
        self.end_extras(now, &mut c, from);
        // The caller's leg.
        if c.a.outgoing
            && let Some(tsx) = c.a.invite_tsx.take()
        {
            let _ = self.ep.cancel(now, tsx);
        } else if let Some(tsx) = c.a.invite_tsx.take() {
            let code = code_for_a.unwrap_or(StatusCode::TEMPORARILY_UNAVAILABLE);
            let r = with_reason(c.a.invite_req.make_response(code, Some(&c.a.tag)), reason);
            let _ = self.ep.respond(now, tsx, r);
        } else if from != Some(Side::A)
            && let Some(d) = c.a.dialog.as_mut()
            && let Ok(bye) = d.request(Method::Bye)
        {
            let _ = self.ep.send_request(now, bye, c.a.dst, c.a.transport);
        }
        if let Some(d) = &c.a.dialog {
            self.by_dialog.remove(&d.id);
        }
        // The outbound leg.
        if let Some(mut b) = c.b.take() {
            if let Some(tsx) = b.invite_tsx.take() {
                let _ = self.ep.cancel(now, tsx);
            } else if from != Some(Side::B)
                && let Some(d) = b.dialog.as_mut()
                && let Ok(bye) = d.request(Method::Bye)
            {
                let _ = self.ep.send_request(now, bye, b.dst, b.transport);
            }
            if let Some(d) = &b.dialog {
                self.by_dialog.remove(&d.id);
            }
            if let Some(m) = b.media {
                self.by_media.remove(&m);
                if let Some(media) = &self.deps.media {
                    let _ = media.destroy(m);
                }
            }
            c.b = Some(b);
        }
        if let Some(m) = c.a.media {
            self.by_media.remove(&m);
            if let Some(media) = &self.deps.media {
                let _ = media.destroy(m);
            }
        }
        let abandoned = c.connected.is_none() && from == Some(Side::A);
        self.slice_ended(now, &mut c, reason);
        let ev = c.log.event(
            now_millis(),
            CallEventKind::Ended {
                reason: reason.to_string(),
                abandoned,
            },
        );
        self.cdr.write(ev);
        tracing::info!(call = %c.id, reason, secs = now.saturating_duration_since(c.started).as_secs(), "call ended");
    }

    // ----- housekeeping: registrations, keep-alives, trunk registration ------------------------

    fn housekeeping(&mut self, now: Instant) {
        self.reg.expire(now);
        for (ext, b) in self.reg.due_keepalives(now) {
            let mut m = Message::request(Method::Options, b.uri.clone());
            let tag = self.ep.new_tag();
            m.push_header(
                "From",
                format!("<sip:hotline@{}>;tag={tag}", self.advertise),
            );
            m.push_header("To", format!("<{}>", b.uri));
            m.push_header("Call-ID", self.ep.new_call_id());
            m.push_header("CSeq", "1 OPTIONS");
            if let Ok(tsx) = self.ep.send_request(now, m, b.source, b.transport) {
                self.keepalives.insert(tsx, (ext, b.uri));
            }
        }
        let names: Vec<String> = self.trunks.keys().cloned().collect();
        for n in names {
            self.trunk_register(now, &n, None);
        }
    }

    fn trunk_register(&mut self, now: Instant, name: &str, challenge: Option<&Message<'_>>) {
        let cnonce = self.ep.new_tag();
        let call_id = self.ep.new_call_id();
        let tag = self.ep.new_tag();
        let advertise = self.advertise.clone();
        let Some(t) = self.trunks.get_mut(name) else {
            return;
        };
        if !t.cfg.register {
            return;
        }
        if challenge.is_none() && (now < t.next_register || t.reg_tsx.is_some()) {
            return;
        }
        if t.reg_call_id.is_empty() {
            t.reg_call_id = call_id;
        }
        t.reg_seq += 1;
        let domain = t.domain();
        let uri = format!("sip:{domain}");
        let mut m = Message::request(Method::Register, uri.clone());
        m.push_header(
            "From",
            format!("<sip:{}@{domain}>;tag={tag}", t.cfg.username),
        );
        m.push_header("To", format!("<sip:{}@{domain}>", t.cfg.username));
        m.push_header("Call-ID", t.reg_call_id.clone());
        m.push_header("CSeq", format!("{} REGISTER", t.reg_seq));
        m.push_header("Contact", format!("<sip:{}@{advertise}>", t.cfg.username));
        m.push_header("Expires", t.cfg.register_expires_secs.to_string());
        if let Some(ch) = challenge.and_then(|r| hotline_sip::auth::Challenge::pick(r).ok()) {
            let proxy = challenge.and_then(|r| r.status())
                == Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
            let v = hotline_sip::auth::authorize(
                &ch,
                &Method::Register,
                &uri,
                &t.cfg.username,
                &t.cfg.password,
                &cnonce,
                1,
            );
            m.push_header(
                if proxy {
                    "Proxy-Authorization"
                } else {
                    "Authorization"
                },
                v,
            );
        }
        let (dst, tr) = (t.cfg.address, t.transport);
        // Retry in 30 s unless an answer reschedules it.
        t.next_register = now + Duration::from_secs(30);
        match self.ep.send_request(now, m, dst, tr) {
            Ok(tsx) => {
                if let Some(t) = self.trunks.get_mut(name) {
                    t.reg_tsx = Some(tsx);
                }
            }
            Err(e) => tracing::warn!(trunk = name, error = %e, "REGISTER not sent"),
        }
    }

    fn on_trunk_register_response(&mut self, now: Instant, tsx: TsxId, resp: &Message<'_>) -> bool {
        let Some(name) = self
            .trunks
            .iter()
            .find(|(_, t)| t.reg_tsx == Some(tsx))
            .map(|(n, _)| n.clone())
        else {
            return false;
        };
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        if !code.is_final() {
            return true;
        }
        let Some(t) = self.trunks.get_mut(&name) else {
            return true;
        };
        t.reg_tsx = None;
        if code.is_success() {
            let granted = resp
                .contacts()
                .ok()
                .and_then(|c| c.first().and_then(|c| c.expires()))
                .or(resp.expires().ok().flatten())
                .unwrap_or(t.cfg.register_expires_secs)
                .max(10);
            t.registered_until = Some(now + Duration::from_secs(u64::from(granted)));
            t.next_register = now + Duration::from_secs(u64::from(granted) * 3 / 4);
            t.reg_auth_tries = 0;
            tracing::info!(trunk = %name, expires = granted, "registered with trunk");
        } else if matches!(code.0, 401 | 407) && t.reg_auth_tries < 2 {
            t.reg_auth_tries += 1;
            self.trunk_register(now, &name, Some(resp));
        } else {
            t.registered_until = None;
            t.reg_auth_tries = 0;
            t.next_register = now + Duration::from_secs(60);
            tracing::warn!(trunk = %name, code = code.0, "trunk registration failed");
        }
        true
    }

    // ----- bus commands ---------------------------------------------------------------------

    fn on_command(&mut self, now: Instant, cmd: CallCommand) {
        let result = match cmd.action {
            CallAction::Dial { number } => self.click_to_dial(now, &cmd.agent, &number).map(Some),
            CallAction::Consult { call, target } => self
                .by_id
                .get(&call)
                .copied()
                .filter(|k| {
                    self.calls
                        .get(k)
                        .is_some_and(|c| c.agent.as_deref() == Some(cmd.agent.as_str()))
                })
                .ok_or_else(|| format!("no call {call} of yours"))
                .and_then(|key| self.consult(now, key, &target))
                .map(Some),
            action => self.command(now, &cmd.agent, action).map(|()| None),
        };
        let _ = cmd.reply.send(result);
    }

    fn command(&mut self, now: Instant, agent: &str, action: CallAction) -> Result<(), String> {
        let call_of = |s: &Core, call: &str| -> Result<u64, String> {
            let key = *s.by_id.get(call).ok_or_else(|| format!("no call {call}"))?;
            let c = s.calls.get(&key).ok_or("no such call")?;
            if c.agent.as_deref() != Some(agent) {
                return Err("the call is not yours".into());
            }
            Ok(key)
        };
        match action {
            CallAction::Hangup { call } => {
                let key = call_of(self, &call)?;
                if self.agent_leaves_conference(now, key) {
                    return Ok(());
                }
                self.end_call(
                    now,
                    key,
                    None,
                    "agent hung up",
                    Some(StatusCode::REQUEST_TERMINATED),
                );
                Ok(())
            }
            CallAction::Hold { call } => {
                let key = call_of(self, &call)?;
                self.hold(now, key, true)
            }
            CallAction::Resume { call } => {
                let key = call_of(self, &call)?;
                self.hold(now, key, false)
            }
            CallAction::BlindTransfer { call, target } => {
                let key = call_of(self, &call)?;
                self.blind_transfer(now, key, &target)
            }
            CallAction::SendDtmf { call, digits } => {
                let key = call_of(self, &call)?;
                let c = self.calls.get(&key).ok_or("no such call")?;
                match (&self.deps.media, c.a.media) {
                    (Some(m), Some(a)) => m.send_dtmf(a, &digits).map_err(|e| e.to_string()),
                    _ => Err("no media on this call".into()),
                }
            }
            CallAction::Mute { call, on } => {
                let key = call_of(self, &call)?;
                self.mute(now, key, on)
            }
            CallAction::CompleteTransfer { call } => {
                let key = call_of(self, &call)?;
                self.complete_transfer(now, key)
            }
            CallAction::CancelConsult { call } => {
                let key = call_of(self, &call)?;
                self.cancel_consult(now, key)
            }
            CallAction::Conference { call } => {
                let key = call_of(self, &call)?;
                self.conference(now, key)
            }
            CallAction::Dial { .. } | CallAction::Consult { .. } => {
                Err("handled in on_command".into())
            }
            CallAction::Monitor { call, mode } => {
                let key = *self
                    .by_id
                    .get(&call)
                    .ok_or_else(|| format!("no call {call}"))?;
                self.monitor(now, key, agent, mode)
            }
            CallAction::StopMonitor { call } => {
                let key = *self
                    .by_id
                    .get(&call)
                    .ok_or_else(|| format!("no call {call}"))?;
                self.stop_monitor(now, key, agent)
            }
            CallAction::TakeOver { call } => {
                let key = *self
                    .by_id
                    .get(&call)
                    .ok_or_else(|| format!("no call {call}"))?;
                self.take_over(now, key, agent)
            }
            CallAction::StartPayment {
                call,
                amount_minor,
                currency,
                reference,
            } => {
                let key = call_of(self, &call)?;
                self.start_payment(now, key, amount_minor, &currency, &reference)
            }
        }
    }

    fn hold(&mut self, now: Instant, key: u64, on: bool) -> Result<(), String> {
        let (id, agent, a_media, b_media, held) = {
            let c = self.calls.get(&key).ok_or("no such call")?;
            if c.connected.is_none() {
                return Err("the call is not connected".into());
            }
            (
                c.id.clone(),
                c.agent.clone().unwrap_or_default(),
                c.a.media,
                c.b.as_ref().and_then(|b| b.media),
                c.held,
            )
        };
        if on == held.is_some() {
            return Err(if on { "already on hold" } else { "not on hold" }.into());
        }
        self.hold_allowed(key)?;
        // The agent's phone learns of the hold by a re-INVITE with sendonly (we send, it
        // does not); the caller hears hold music from the media engine.
        let dir = if on {
            SdpDirection::SendOnly
        } else {
            SdpDirection::SendRecv
        };
        self.send_reinvite(now, key, Side::B, dir)?;
        let _ = (a_media, b_media);
        let c = self.calls.get_mut(&key).ok_or("no such call")?;
        c.held = on.then_some(now);
        self.apply_media(key);
        let c = self.calls.get_mut(&key).ok_or("no such call")?;
        if on {
            c.held = Some(now);
            let ev = c.log.event(now_millis(), CallEventKind::Held);
            self.cdr.write(ev);
            self.bus.notify(CallNotice::Held { call: id, agent });
        } else {
            let hold_ms = held
                .map(|h| now.duration_since(h).as_millis() as i64)
                .unwrap_or(0);
            c.held = None;
            let ev = c
                .log
                .event(now_millis(), CallEventKind::Resumed { hold_ms });
            self.cdr.write(ev);
            self.bus.notify(CallNotice::Resumed { call: id, agent });
        }
        Ok(())
    }

    /// Blind transfer of a connected call: the agent's leg ends, the caller rings `target`
    /// (an extension, an agent id, a queue id or a number the dial plan routes).
    fn blind_transfer(&mut self, now: Instant, key: u64, target: &str) -> Result<(), String> {
        self.transfer_allowed(key)?;
        let target = target.trim();
        let resolved = if let Some(ext) = self.agent_extension(target) {
            Target::Extension(ext)
        } else if self.deps.is_queue(target) {
            Target::Queue(target.to_string())
        } else {
            match self.plan.resolve(target) {
                Ok(r) => r.target,
                Err(_) => return Err(format!("no route to {target}")),
            }
        };
        let (agent, id) = {
            let c = self.calls.get(&key).ok_or("no such call")?;
            (c.agent.clone(), c.id.clone())
        };
        // A supervisor listening in leaves with the agent.
        self.drop_leg(now, key, Side::S);
        self.leg_hung_up(now, key, Side::S, "transferred");
        // End the agent's leg.
        self.hang_up_b(now, key);
        if let Some(c) = self.calls.get_mut(&key) {
            c.agent = None;
            c.connected = None;
            c.held = None;
            c.mode = Mode::Service;
            let ev = c.log.event(
                now_millis(),
                CallEventKind::Transferred {
                    to: target.to_string(),
                },
            );
            self.cdr.write(ev);
        }
        if let Some(a) = agent.clone() {
            self.slice_agent_released(now, key, &a);
            self.bus.notify(CallNotice::Ended {
                call: id,
                agent: Some(a),
                reason: "transferred".into(),
            });
        }
        match resolved {
            Target::Extension(ext) => self.ring_extension(now, key, &ext, None),
            Target::Trunk { trunk, number } => self.dial_trunk(now, key, &trunk, &number),
            Target::Queue(q) => self.start_service(now, key, None, Some(q)),
            Target::Ivr(f) => self.start_service(now, key, Some(f), None),
        }
        Ok(())
    }

    fn on_media(&mut self, now: Instant, ev: MediaEvent) {
        match ev {
            MediaEvent::Digit { session, digit, .. } => {
                if let Some(&key) = self.by_media.get(&session)
                    && self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.a.media == Some(session))
                {
                    self.slice_digit(now, key, digit);
                }
            }
            MediaEvent::PromptFinished { session, .. } => {
                if let Some(&key) = self.by_media.get(&session)
                    && self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.a.media == Some(session))
                {
                    self.slice_prompt_finished(now, key);
                }
            }
            MediaEvent::RtpTimeout { session } => {
                if let Some(&key) = self.by_media.get(&session)
                    && let Some(side) = self.extra_side_of(key, session)
                {
                    tracing::info!(
                        ?side,
                        "no RTP on a supervisor or consultation leg: dropping it"
                    );
                    self.drop_leg(now, key, side);
                    self.leg_hung_up(now, key, side, "media timeout");
                } else if let Some(&key) = self.by_media.get(&session) {
                    tracing::info!("no RTP: ending the call");
                    self.end_call(now, key, None, "media timeout", None);
                }
            }
            MediaEvent::Failed(f) => tracing::debug!(reason = ?f, "media command failed"),
            _ => {}
        }
    }
}

/// The call-record reason for a failed INVITE.
pub(crate) fn failure_reason(code: StatusCode) -> &'static str {
    match code.0 {
        486 | 600 => "busy",
        487 => "cancelled",
        408 | 480 => "no answer",
        603 => "declined",
        _ => "rejected",
    }
}

/// A digit from a SIP INFO (`application/dtmf-relay` `Signal=5`, or `application/dtmf`).
fn info_digit(req: &Message<'_>) -> Option<char> {
    let body = std::str::from_utf8(&req.body).ok()?;
    let ct = req
        .header("Content-Type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let v = if ct.starts_with("application/dtmf-relay") {
        body.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Signal=")
                    .or_else(|| l.trim().strip_prefix("Signal ="))
            })?
            .trim()
    } else if ct.starts_with("application/dtmf") {
        body.trim()
    } else {
        return None;
    };
    let c = v.chars().next()?;
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}
