//! Call control: Hotline's back-to-back user agent (B2BUA) as a sans-IO core.
//!
//! [`Core`] owns everything about calls: the SIP [`Endpoint`] (transactions), the
//! [`Registrar`], every call with its legs and dialogs, the IVR sessions and the media session
//! ids. It does no I/O of its own and reads no clock: the switch's driver feeds it
//! ([`Core::handle_datagram`], [`Core::handle_timeout`], [`Core::handle_command`],
//! [`Core::handle_media`], [`Core::handle_decision`], [`Core::handle_completion`]) with the
//! monotonic time of the input, the wall clock comes through a [`Clock`], and tags, Call-IDs
//! and references from RNGs seeded by [`CoreConfig::seed`]. After every input the driver drains
//! [`Core::poll_output`] (datagrams to send, notices for the CTI server, call-record events,
//! routing commands, store and payment work, command replies) and re-arms one timer at
//! [`Core::poll_timeout`]. The one exception is media: SDP answers need an RTP port at once, so
//! media is driven through the narrow [`MediaControl`] trait (see `docs/decisions.md`).
//!
//! Every call has an inbound leg (A) and at most one outbound leg (B) at a time, each with its
//! own dialog, Call-ID and tags: nothing from one leg's headers leaks to the other except the
//! caller's number and the SDP (copied in direct-media mode, re-offered by our media engine when
//! anchoring). Every call writes its call record ([`Output::Record`]), also when it fails.
//!
//! See `docs/call-control.md` for the call flows, the security rules and the dial plan.

pub mod config;
pub mod counters;
pub mod dialplan;
mod fork;
mod legs;
pub mod media;
pub mod messages;
mod payment;
pub mod pii;
mod quality;
mod quota;
pub mod record;
pub mod registrar;
mod service;
mod transfer;
pub mod work;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hotline_media::{IpNet, MediaEvent, RemoteParams, SessionId};
use hotline_records::{CallEvent, CallEventKind, Direction};
use hotline_sip::sdp::{self, AudioCaps, Direction as SdpDirection, SessionDescription};
use hotline_sip::{
    Dialog, DialogId, Endpoint, Event, Message, Method, SourceTrust, StatusCode, Transmit,
    Transport, TsxId, Uri,
};

use config::{DialplanConfig, ExtensionConfig, MediaConfig, SipConfig, TrunkConfig};
use dialplan::{Dialplan, NoRoute, Target};
use messages::{CallAction, CallError, CallNotice};
use pii::redact;
use quota::{Admission, Quota, Quotas};
use record::CallLog;
use registrar::Registrar;

pub use counters::{CallCounters, CallOutcome};
pub use media::MediaControl;
use service::OfferRefusal;
pub use service::{Completion, RoutingOp, RoutingRefusal, ServiceDeps, charge_status_name};
pub use work::Work;

/// The wall clock, for call records and the IVR's time of day (monotonic time comes with each
/// input). The switch passes the system clock; tests pass a simulated one.
pub trait Clock: Send {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// What call control is configured with (sections of `switch.toml`).
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub dialplan: DialplanConfig,
    pub trunks: Vec<TrunkConfig>,
    pub extensions: Vec<ExtensionConfig>,
    /// `[node] country_code`: numbers without `+` are read in this country.
    pub country_code: String,
    /// The host:port put in Via and Contact (`sip.advertise`, or the bound address).
    pub advertise: String,
    /// Seeds the endpoint's tags and Call-IDs, the registrar's nonce key and every reference
    /// call control makes up (the switch seeds from the OS; tests use a fixed seed).
    pub seed: u64,
}

/// An agent's command waiting for its answer ([`Output::Reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandId(pub u64);

/// What the core asks its driver to do, in order.
#[derive(Debug)]
pub enum Output {
    /// Send one SIP message.
    Transmit(Transmit),
    /// Tell the CTI server (screen pops, call states).
    Notice(CallNotice),
    /// Store one call-record event (idempotent by call id and sequence).
    Record(CallEvent),
    /// A command for routing (the ACD).
    Routing(RoutingOp),
    /// Store or payment work; its result comes back through [`Core::handle_completion`].
    Work(Work),
    /// The answer to [`Core::handle_command`]: `Ok` once the action is under way (with the new
    /// call's id when it started one), or why it is refused.
    Reply {
        command: CommandId,
        result: Result<Option<String>, CallError>,
    },
    /// A REGISTER over a connection was answered `200`: the connection carries a registration
    /// until `until` (`None`: it carries none any more), so it must not be closed as idle.
    Registered {
        src: SocketAddr,
        transport: Transport,
        until: Option<Instant>,
    },
}

/// The outputs waiting for the driver. A field of its own so that code holding a call
/// (`self.calls`) can still emit.
pub(crate) struct Outbox {
    queue: VecDeque<Output>,
    /// Routing is running: [`RoutingOp`]s are emitted, not dropped.
    routing: bool,
    /// Calls counted from their records, for `/metrics`.
    counters: Arc<CallCounters>,
    tally: counters::CallTally,
}

impl Outbox {
    pub(crate) fn emit(&mut self, o: Output) {
        self.queue.push_back(o);
    }

    /// Publishes a notice for the CTI server.
    pub(crate) fn notify(&mut self, n: CallNotice) {
        self.queue.push_back(Output::Notice(n));
    }

    /// Hands one call-record event to the writer.
    pub(crate) fn record(&mut self, ev: CallEvent) {
        self.tally.observe(&self.counters, &ev);
        self.queue.push_back(Output::Record(ev));
    }

    /// Asks the driver to do store or payment work.
    pub(crate) fn work(&mut self, w: Work) {
        self.queue.push_back(Output::Work(w));
    }

    /// A command for routing; dropped (and logged) when routing is not running.
    pub(crate) fn routing(&mut self, op: RoutingOp) {
        if self.routing {
            self.queue.push_back(Output::Routing(op));
        } else {
            tracing::debug!(op = ?op, "no routing: dropped");
        }
    }
}

/// What [`Core::snapshot`] shows of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSnapshot {
    pub id: String,
    /// The agent talking on the call (or whose click-to-dial it is).
    pub agent: Option<String>,
    /// The agent being rung for it.
    pub offered: Option<String>,
    /// The agent rung for, or talking on, its consultation.
    pub consulted: Option<String>,
    /// Agents it keeps busy in routing as a direct call.
    pub direct_agents: Vec<String>,
    /// Agents whose phone it rings (a leg placed to an agent, not answered yet).
    pub rung_agents: Vec<String>,
    /// Legs it holds (caller, agent or callee, supervisor, consulted party).
    pub legs: usize,
    /// Media sessions its legs hold.
    pub media_sessions: usize,
    /// Caller and callee (or agent) are talking.
    pub connected: bool,
}

/// What [`Core::snapshot`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Calls in progress, by id.
    pub calls: Vec<CallSnapshot>,
    /// Client transactions call control waits on, by call.
    pub transactions: usize,
    /// Dialogs it routes in-dialog requests by.
    pub dialogs: usize,
    /// Media sessions it routes media events by.
    pub media_sessions: usize,
    /// Its own timers (ring time-outs, IVR waits, housekeeping), including stale ones not yet
    /// due.
    pub timers: usize,
    /// The SIP endpoint's open transactions.
    pub sip_transactions: usize,
}

/// Calls handled and refused since start.
#[derive(Debug, Default, Clone, Copy)]
pub struct CoreStats {
    pub calls: u64,
    pub rejected: u64,
}

/// What a leg is to its call: a call's legs live in one table ([`Legs`]), one slot per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// The caller (or, on a click-to-dial call, the customer the switch dials).
    Caller,
    /// The agent's phone, or the extension or trunk the caller dialled.
    Callee,
    /// A supervisor's phone joined for monitor, whisper or barge.
    Supervisor,
    /// The party an agent consults; the conference's third party once joined.
    Consulted,
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TsxRole {
    /// The initial INVITE of a B leg (`generation` tells stale legs apart).
    Invite { generation: u32 },
    /// The INVITE to another phone of B's extension (parallel forking), for B's `generation`.
    Fork { generation: u32 },
    /// The initial INVITE of any other leg we place (supervisor, consultation, the customer of
    /// a click-to-dial call).
    Leg { role: Role, generation: u32 },
    /// A re-INVITE on a leg (hold, resume).
    ReInvite(Role),
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
    /// Where the leg's INVITE stands (see [`LegState`]).
    pub(crate) state: LegState,
    /// The caller's leg: the INVITE as received. A leg we place: as sent (with our Via).
    pub(crate) invite_req: Message<'static>,
    pub(crate) tag: String,
    pub(crate) dst: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) media: Option<SessionId>,
    /// What the media engine was told of the far end (to move the leg to another session).
    pub(crate) remote: Option<RemoteParams>,
    /// The SDP we sent on this leg (anchored: our offer/answer; direct: the other leg's).
    pub(crate) our_sdp: Option<SessionDescription>,
    pub(crate) sdp_version: u64,
    pub(crate) target: LegTarget,
    pub(crate) auth_tries: u32,
    pub(crate) generation: u32,
    /// We sent this leg's INVITE (UAC); `false` for a caller's INVITE we received.
    pub(crate) outgoing: bool,
}

/// Where a leg's INVITE stands. One state at a time: a leg is never both ringing and
/// answered, and the transaction to CANCEL or answer exists only while the INVITE is open.
#[derive(Debug)]
pub(crate) enum LegState {
    /// Made, not dialled yet (the customer of a click-to-dial call, dialled once the agent
    /// answers).
    Idle,
    /// The INVITE awaits its final response: the caller's (we answer on `tsx`) or ours (`tsx`
    /// is the client transaction a CANCEL refers to).
    Inviting { tsx: TsxId },
    /// Our INVITE rings with a To tag: the early dialog (for the desktop's Answer, `NOTIFY`
    /// `Event: talk`) and whether the phone advertised `talk`.
    Early {
        tsx: TsxId,
        dialog: Dialog,
        talk: bool,
    },
    /// A 2xx went out or came in: the dialog is confirmed.
    Answered { dialog: Dialog },
    /// Refused, cancelled, timed out or failed before an answer: nothing left to answer,
    /// CANCEL or BYE.
    Released,
    /// Answered, and the far end has ended the dialog (its BYE came).
    HungUp,
}

impl Leg {
    /// The leg's INVITE was answered (2xx), whether or not its dialog is still up.
    pub(crate) fn answered(&self) -> bool {
        matches!(self.state, LegState::Answered { .. } | LegState::HungUp)
    }

    /// The confirmed dialog, once answered.
    pub(crate) fn dialog(&self) -> Option<&Dialog> {
        match &self.state {
            LegState::Answered { dialog } => Some(dialog),
            _ => None,
        }
    }

    pub(crate) fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.state {
            LegState::Answered { dialog } => Some(dialog),
            _ => None,
        }
    }

    /// The open INVITE transaction (ours to CANCEL, or the caller's to answer).
    pub(crate) fn invite_tsx(&self) -> Option<TsxId> {
        match self.state {
            LegState::Inviting { tsx } | LegState::Early { tsx, .. } => Some(tsx),
            _ => None,
        }
    }

    /// Closes the open INVITE transaction (the caller will get, or our INVITE got, its final
    /// response) and returns it; the leg is [`LegState::Released`] until it is answered.
    pub(crate) fn take_invite_tsx(&mut self) -> Option<TsxId> {
        let tsx = self.invite_tsx()?;
        self.state = LegState::Released;
        Some(tsx)
    }

    /// The early dialog of a ringing phone and whether it takes `Event: talk`.
    pub(crate) fn early(&self) -> Option<(&Dialog, bool)> {
        match &self.state {
            LegState::Early { dialog, talk, .. } => Some((dialog, *talk)),
            _ => None,
        }
    }
}

/// A call's legs, one slot per [`Role`]; the caller's leg is always there.
pub(crate) struct Legs {
    pub(crate) caller: Leg,
    pub(crate) callee: Option<Leg>,
    pub(crate) supervisor: Option<Leg>,
    pub(crate) consulted: Option<Leg>,
}

impl Legs {
    pub(crate) fn new(caller: Leg) -> Legs {
        Legs {
            caller,
            callee: None,
            supervisor: None,
            consulted: None,
        }
    }

    /// The leg in `role`'s slot, if any.
    pub(crate) fn get(&self, role: Role) -> Option<&Leg> {
        match role {
            Role::Caller => Some(&self.caller),
            Role::Callee => self.callee.as_ref(),
            Role::Supervisor => self.supervisor.as_ref(),
            Role::Consulted => self.consulted.as_ref(),
        }
    }

    /// The leg in `role`'s slot, if any.
    pub(crate) fn get_mut(&mut self, role: Role) -> Option<&mut Leg> {
        match role {
            Role::Caller => Some(&mut self.caller),
            Role::Callee => self.callee.as_mut(),
            Role::Supervisor => self.supervisor.as_mut(),
            Role::Consulted => self.consulted.as_mut(),
        }
    }

    /// Empties `role`'s slot. The caller's leg stays: it lives as long as the call.
    pub(crate) fn take(&mut self, role: Role) -> Option<Leg> {
        match role {
            Role::Caller => None,
            Role::Callee => self.callee.take(),
            Role::Supervisor => self.supervisor.take(),
            Role::Consulted => self.consulted.take(),
        }
    }

    /// Puts `leg` in `role`'s slot (a leg already there is replaced: release it first).
    pub(crate) fn put(&mut self, role: Role, leg: Leg) {
        match role {
            Role::Caller => self.caller = leg,
            Role::Callee => self.callee = Some(leg),
            Role::Supervisor => self.supervisor = Some(leg),
            Role::Consulted => self.consulted = Some(leg),
        }
    }

    /// Every leg with its role, the caller first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Role, &Leg)> {
        [
            Some((Role::Caller, &self.caller)),
            self.callee.as_ref().map(|l| (Role::Callee, l)),
            self.supervisor.as_ref().map(|l| (Role::Supervisor, l)),
            self.consulted.as_ref().map(|l| (Role::Consulted, l)),
        ]
        .into_iter()
        .flatten()
    }
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
    /// Every leg of the call by role.
    pub(crate) legs: Legs,
    pub(crate) ani: String,
    pub(crate) dnis: String,
    pub(crate) mode: Mode,
    pub(crate) started: Instant,
    /// Whether the caller talks to someone, and whether they are on hold.
    pub(crate) talk: Talk,
    pub(crate) agent: Option<String>,
    /// Anchored bridge calls: the answer for A, sent when B answers.
    pub(crate) a_answer: Option<SessionDescription>,
    pub(crate) caller_ext: Option<String>,
    pub(crate) b_generation: u32,
    pub(crate) service: service::ServiceCall,
    /// Supervisor, consultation and conference legs, mute, and the media topology.
    pub(crate) extra: legs::Extra,
    /// What the caller's leg counts against (per-source caps).
    pub(crate) quota: Quota,
    /// The extension's other registered phones, rung at the same time as leg B (parallel
    /// forking): the first to answer becomes leg B, the others get CANCEL.
    pub(crate) forks: Vec<Leg>,
}

/// Whether a call's caller is talking to the answering party: one value instead of
/// `connected` and `held` flags that could disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Talk {
    /// Nobody has answered for the caller yet (ringing, IVR, queue), or the answering agent
    /// left (transfer) and the caller waits again.
    #[default]
    NotConnected,
    /// The caller and the answering party are connected.
    Connected,
    /// Connected, and the agent put the caller on hold at `since`.
    Held { since: Instant },
}

impl Talk {
    /// Connected, on hold or not.
    pub(crate) fn connected(self) -> bool {
        !matches!(self, Talk::NotConnected)
    }

    /// On hold, since when.
    pub(crate) fn held_since(self) -> Option<Instant> {
        match self {
            Talk::Held { since } => Some(since),
            _ => None,
        }
    }
}

/// A call's key in the core's tables (its SIP Call-ID and its CTI id are strings that can
/// change, as on a transfer; this one does not). Numbered from 1 in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CallKey(u64);

impl std::fmt::Display for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl CallKey {
    /// The number, for SDP session ids.
    pub(crate) fn number(self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone)]
pub(crate) enum TimerAction {
    Housekeeping,
    RingTimeout {
        call: CallKey,
        role: Role,
        generation: u32,
    },
    Service(CallKey),
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
    fn new(cfg: TrunkConfig, now: Instant) -> TrunkState {
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
            next_register: now,
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

/// Call control: every call, its legs, dialogs, media sessions and IVR session (see the
/// crate's documentation for the drive contract).
pub struct Core {
    ep: Endpoint,
    reg: Registrar,
    plan: Dialplan,
    trunks: HashMap<String, TrunkState>,
    pub(crate) calls: HashMap<CallKey, Call>,
    pub(crate) by_id: HashMap<String, CallKey>,
    by_tsx: HashMap<TsxId, (CallKey, TsxRole)>,
    by_dialog: HashMap<DialogId, (CallKey, Role)>,
    pub(crate) by_media: HashMap<SessionId, CallKey>,
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
    pub(crate) deps: ServiceDeps,
    /// What the driver is to do next, in order.
    pub(crate) out: Outbox,
    clock: Box<dyn Clock>,
    /// The wall clock at the current input (Unix ms), read once per input from `clock`.
    pub(crate) wall_ms: i64,

    pub(crate) country_code: String,
    /// `[media] record_calls` (with anchored media).
    pub(crate) record_calls: bool,
    /// Where recordings (calls, voicemails) are written and played back from.
    pub(crate) recordings_dir: std::path::PathBuf,
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
    // ----- the drive contract ----------------------------------------------------------------

    /// Call control with nothing going on; `now` is the monotonic time of the first input.
    pub fn new(cfg: &CoreConfig, deps: ServiceDeps, clock: Box<dyn Clock>, now: Instant) -> Core {
        let ep = Endpoint::new(hotline_sip::Config {
            timers: hotline_sip::TimerConfig {
                t1: Duration::from_millis(cfg.sip.t1_ms),
                ..Default::default()
            },
            sent_by: cfg.advertise.clone(),
            user_agent: Some("Hotline".into()),
            seed: cfg.seed,
            ..Default::default()
        });
        let reg = Registrar::new(
            &cfg.sip,
            &cfg.extensions,
            &cfg.trunks,
            &cfg.seed.to_le_bytes(),
            now,
        );
        let quotas = Quotas::new(quota::Limits {
            per_source: cfg.sip.max_calls_per_source,
            per_extension: cfg.sip.max_calls_per_extension,
            per_trunk: cfg
                .trunks
                .iter()
                .map(|t| (t.name.clone(), t.max_calls))
                .collect(),
        });
        let wall_ms = clock.now_millis();
        let deps_routing = deps.routing;
        let counters = Arc::new(CallCounters::default());
        let mut core = Core {
            ep,
            reg,
            plan: Dialplan::new(&cfg.dialplan, &cfg.extensions, &cfg.country_code),
            trunks: cfg
                .trunks
                .iter()
                .map(|t| (t.name.clone(), TrunkState::new(t.clone(), now)))
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
            advertise: cfg.advertise.clone(),
            ring_timeout: Duration::from_secs(cfg.sip.ring_timeout_secs),
            max_calls: cfg.sip.max_calls,
            anchor: cfg.media.anchor,
            media_ip: cfg.media.ip,
            caps: AudioCaps::default(),
            deps,
            out: Outbox {
                queue: VecDeque::new(),
                routing: deps_routing,
                counters: counters.clone(),
                tally: counters::CallTally::default(),
            },
            clock,
            wall_ms,
            country_code: cfg.country_code.clone(),
            record_calls: cfg.media.record_calls && cfg.media.anchor,
            recordings_dir: cfg.media.recordings_dir.clone(),
            stats: CoreStats::default(),
            quotas,
            counters,
        };
        core.schedule(now + Duration::from_secs(1), TimerAction::Housekeeping);
        core
    }

    /// The key of a new call.
    pub(crate) fn new_call_key(&mut self) -> CallKey {
        let key = CallKey(self.next_call);
        self.next_call += 1;
        key
    }

    /// The registrar's digest-gate counters (failures, bans), for `/metrics`.
    pub fn auth_metrics(&self) -> Arc<registrar::AuthMetrics> {
        self.reg.metrics()
    }

    /// Live-call counters and caps (for `/metrics`); shared, updated as calls come and go.
    pub fn counters(&self) -> Arc<CallCounters> {
        self.counters.clone()
    }

    /// Calls handled and refused since start.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// No SIP transaction is open (after [`Core::shutdown`]: every BYE and CANCEL answered).
    pub fn is_idle(&self) -> bool {
        self.ep.transaction_count() == 0
    }

    /// A read-only view of everything call control holds, for invariant checks in tests and
    /// for diagnostics.
    pub fn snapshot(&self) -> Snapshot {
        let mut calls: Vec<CallSnapshot> = self
            .calls
            .values()
            .map(|c| CallSnapshot {
                id: c.id.clone(),
                agent: c.agent.clone(),
                offered: c.service.offered().map(str::to_string),
                consulted: c.extra.consulted().map(str::to_string),
                direct_agents: c.extra.direct.iter().map(|(a, _)| a.clone()).collect(),
                rung_agents: [
                    c.legs.callee.as_ref(),
                    c.legs.supervisor.as_ref(),
                    c.legs.consulted.as_ref(),
                ]
                .into_iter()
                .flatten()
                .filter(|l| !l.answered())
                .filter_map(|l| match &l.target {
                    LegTarget::Agent { agent, .. } => Some(agent.clone()),
                    _ => None,
                })
                .collect(),
                legs: 1
                    + c.forks.len()
                    + usize::from(c.legs.callee.is_some())
                    + usize::from(c.legs.supervisor.is_some())
                    + usize::from(c.legs.consulted.is_some()),
                media_sessions: [
                    c.legs.caller.media,
                    c.legs.callee.as_ref().and_then(|l| l.media),
                    c.legs.supervisor.as_ref().and_then(|l| l.media),
                    c.legs.consulted.as_ref().and_then(|l| l.media),
                ]
                .into_iter()
                .flatten()
                .count(),
                connected: c.talk.connected(),
            })
            .collect();
        calls.sort_by(|a, b| a.id.cmp(&b.id));
        Snapshot {
            calls,
            transactions: self.by_tsx.len(),
            dialogs: self.by_dialog.len(),
            media_sessions: self.by_media.len(),
            timers: self.timer_actions.len(),
            sip_transactions: self.ep.transaction_count(),
        }
    }

    /// The next thing for the driver to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.queue.pop_front()
    }

    /// When [`Core::handle_timeout`] is due next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_deadline()
    }

    fn input(&mut self) {
        self.wall_ms = self.clock.now_millis();
    }

    /// One SIP message from the network (a UDP datagram or a framed TCP message).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        self.input();
        self.ep.handle_datagram(now, src, transport, bytes);
        self.process(now);
    }

    /// Timers due at `now` (SIP retransmissions and time-outs, ring time-outs, IVR waits,
    /// housekeeping).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.input();
        self.ep.handle_timeout(now);
        self.fire_timers(now);
        self.process(now);
    }

    /// An agent's command (already authenticated and authorised by the CTI server); the
    /// answer comes as [`Output::Reply`] with the same `command`.
    pub fn handle_command(
        &mut self,
        now: Instant,
        command: CommandId,
        agent: &str,
        action: CallAction,
    ) {
        self.input();
        self.on_command(now, command, agent, action);
        self.process(now);
    }

    /// An event of the media engine (digits, prompt ends, RTP time-outs).
    pub fn handle_media(&mut self, now: Instant, ev: MediaEvent) {
        self.input();
        self.on_media(now, ev);
        self.process(now);
    }

    /// A routing decision (offer, cancel offer, overflow, callback dial, announcement).
    pub fn handle_decision(&mut self, now: Instant, d: hotline_acd::Decision) {
        self.input();
        self.on_decision(now, d);
        self.process(now);
    }

    /// The result of [`Output::Work`] or of a routing query.
    pub fn handle_completion(&mut self, now: Instant, c: Completion) {
        self.input();
        self.on_completion(now, c);
        self.process(now);
    }

    /// Ends every call (BYE, CANCEL, final responses `503`) for shutdown. The driver then
    /// keeps feeding input until [`Core::is_idle`] or its own deadline.
    pub fn shutdown(&mut self, now: Instant) {
        self.input();
        tracing::info!(calls = self.calls.len(), "SIP: ending calls for shutdown");
        let keys: Vec<CallKey> = self.calls.keys().copied().collect();
        for k in keys {
            self.end_call(
                now,
                k,
                None,
                "switch shutdown",
                Some(StatusCode::SERVICE_UNAVAILABLE),
            );
        }
        self.process(now);
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

    pub(crate) fn schedule_service(&mut self, at: Instant, call: CallKey) {
        self.schedule(at, TimerAction::Service(call));
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
                    self.counters
                        .set_sip(self.ep.stats(), self.ep.transaction_count());
                    self.schedule(now + Duration::from_secs(1), TimerAction::Housekeeping);
                }
                TimerAction::RingTimeout {
                    call,
                    role: Role::Callee,
                    generation,
                } => self.ring_timeout(now, call, generation),
                TimerAction::RingTimeout {
                    call,
                    role,
                    generation,
                } => self.leg_ring_timeout(now, call, role, generation),
                TimerAction::Service(call) => self.service_timeout(now, call),
            }
        }
    }

    /// After any input: handle the endpoint's events, then send what it wants sent.
    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            self.on_sip_event(now, ev);
        }
        while let Some(t) = self.ep.poll_transmit() {
            self.out.emit(Output::Transmit(t));
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
                        c.legs.caller.state = LegState::Released;
                    }
                    self.end_call(now, key, Some(Role::Caller), "cancelled", None);
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
                if transport != Transport::Udp && r.status() == Some(StatusCode::OK) {
                    let longest = r
                        .contacts()
                        .ok()
                        .and_then(|cs| cs.iter().filter_map(|c| c.expires()).max());
                    self.out.emit(Output::Registered {
                        src,
                        transport,
                        until: longest.map(|secs| now + Duration::from_secs(u64::from(secs))),
                    });
                }
                self.respond(now, tsx, r);
            }
            Method::Invite => self.on_invite(now, tsx, req, src, transport),
            Method::Options => {
                let tag = self.ep.new_tag();
                let r = req
                    .make_response(StatusCode::OK, Some(&tag))
                    .with_header(
                        "Allow",
                        "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY",
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
        let key = self.new_call_key();
        self.stats.calls += 1;
        let id = format!("{}-{key}", self.ep.new_tag());
        let mut log = CallLog::new(id.clone());
        self.out.record(log.event(
            self.wall_ms,
            CallEventKind::Arrived {
                direction,
                ani: ani.clone(),
                dnis: dialed.clone(),
            },
        ));
        let a = Leg {
            state: LegState::Inviting { tsx },
            invite_req: req,
            tag: self.ep.new_tag(),
            dst: src,
            transport,
            media: None,
            remote: None,
            our_sdp: None,
            sdp_version: 1,
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
            legs: Legs::new(a),
            ani,
            dnis: dialed,
            mode,
            started: now,
            talk: Talk::NotConnected,
            agent: None,
            a_answer: None,
            caller_ext,
            b_generation: 0,
            service: service::ServiceCall::default(),
            extra: legs::Extra::default(),
            quota,
            forks: Vec::new(),
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
                tracing::info!(call = key.number(), "{why}");
                self.end_call(now, key, None, why, Some(StatusCode::NOT_ACCEPTABLE_HERE));
                return;
            }
        }
        match route.target {
            Target::Extension(ext) => {
                self.ring_extension(now, key, &ext, None);
                if direction == Direction::Internal {
                    self.internal_call_from_phone(key, &ext);
                }
            }
            Target::Trunk { trunk, number } => self.dial_trunk(now, key, &trunk, &number),
            Target::Ivr(flow) => self.start_service(now, key, Some(flow), None),
            Target::Queue(q) => self.start_service(now, key, None, Some(q)),
        }
    }

    /// Creates the caller's media session and the SDP answer to its offer.
    fn anchor_a(&mut self, key: CallKey, offer: &SessionDescription) -> Result<(), &'static str> {
        let Some(media) = self.deps.media.clone() else {
            return Err("media anchoring without a media engine");
        };
        let Some(peer) = self
            .calls
            .get(&key)
            .map(|c| self.media_peer(c.legs.caller.dst))
        else {
            return Err("call ended");
        };
        let info = media
            .create_session(hotline_media::SessionOptions::on(self.media_ip))
            .map_err(|_| "no media session")?;
        let sid = key.number();
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
            c.legs.caller.media = Some(info.id);
            c.a_answer = Some(answer);
        }
        Ok(())
    }

    /// Answers the caller's INVITE (200 with our SDP, `a_answer`) in service mode and on
    /// anchored bridges.
    pub(crate) fn answer_a(&mut self, now: Instant, key: CallKey) {
        self.answer_caller(now, key, None);
    }

    /// The one path that answers the caller's INVITE: 200 with `body` (direct media: the
    /// callee's SDP as it came) or else our own answer (`a_answer`), and the dialog confirmed.
    /// A caller's INVITE no dialog can be made of gets 500 and the call ends.
    fn answer_caller(&mut self, now: Instant, key: CallKey, body: Option<Vec<u8>>) {
        let contact = {
            let Some(c) = self.calls.get(&key) else {
                return;
            };
            self.contact(c.legs.caller.transport)
        };
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(tsx) = c.legs.caller.take_invite_tsx() else {
            return;
        };
        let a = &mut c.legs.caller;
        let Ok(mut dialog) = Dialog::uas(&a.invite_req, &a.tag, &contact) else {
            tracing::warn!(call = %c.id, "the caller's INVITE makes no dialog");
            let r = a
                .invite_req
                .make_response(StatusCode::SERVER_INTERNAL_ERROR, Some(&a.tag));
            let _ = self.ep.respond(now, tsx, r);
            self.end_call(now, key, Some(Role::Caller), "bad request", None);
            return;
        };
        let mut r = a
            .invite_req
            .make_response(StatusCode::OK, Some(&a.tag))
            .with_header("Contact", contact);
        match body {
            Some(raw) => {
                if !raw.is_empty() {
                    a.our_sdp = std::str::from_utf8(&raw)
                        .ok()
                        .and_then(|t| SessionDescription::parse(t).ok());
                    r.set_body("application/sdp", raw);
                }
                c.a_answer = None;
            }
            None => {
                if let Some(sd) = c.a_answer.take() {
                    r.set_body("application/sdp", sd.to_bytes());
                    c.legs.caller.our_sdp = Some(sd);
                }
            }
        }
        dialog.on_response_sent(&Method::Invite, StatusCode::OK);
        self.by_dialog
            .insert(dialog.id.clone(), (key, Role::Caller));
        c.legs.caller.state = LegState::Answered { dialog };
        let _ = self.ep.respond(now, tsx, r);
    }

    fn relay_provisional(
        &mut self,
        now: Instant,
        key: CallKey,
        code: StatusCode,
        body: Option<&[u8]>,
    ) {
        let contact = match self.calls.get(&key) {
            Some(c) => self.contact(c.legs.caller.transport),
            None => return,
        };
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let Some(tsx) = c.legs.caller.invite_tsx() else {
            return;
        };
        let mut r = c
            .legs
            .caller
            .invite_req
            .make_response(code, Some(&c.legs.caller.tag))
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

    fn ring_extension(&mut self, now: Instant, key: CallKey, ext: &str, agent: Option<String>) {
        self.ring_extension_on(now, key, Role::Callee, ext, agent);
    }

    /// Rings `ext` as leg `role` of call `key` (the most recently registered contact).
    pub(crate) fn ring_extension_on(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        ext: &str,
        agent: Option<String>,
    ) {
        let contacts = self.reg.contacts(ext, now);
        let others: Vec<_> = if role == Role::Callee {
            contacts.iter().rev().skip(1).cloned().collect()
        } else {
            Vec::new()
        };
        let Some(b) = contacts.last().cloned() else {
            tracing::info!(extension = %ext, "extension not registered");
            if role != Role::Callee {
                self.leg_failed(now, key, role, "not registered");
                return;
            }
            let service = self
                .calls
                .get(&key)
                .is_some_and(|c| c.mode == Mode::Service);
            if agent.is_some() || service {
                self.agent_leg_failed(now, key, "not registered", OfferRefusal::NoAnswer);
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
            role,
            b.uri,
            from.clone(),
            to.clone(),
            b.source,
            b.transport,
            target.clone(),
            false,
        );
        // Every other phone of the extension rings too; the first to answer takes the call.
        for o in others {
            self.send_leg_invite(
                now,
                key,
                role,
                o.uri,
                from.clone(),
                to.clone(),
                o.source,
                o.transport,
                target.clone(),
                true,
            );
        }
    }

    fn dial_trunk(&mut self, now: Instant, key: CallKey, trunk: &str, number: &str) {
        self.dial_trunk_on(now, key, Role::Callee, trunk, number);
    }

    /// Dials `number` through `trunk` as leg `role` of call `key`, with the trunk's caller ID.
    pub(crate) fn dial_trunk_on(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        trunk: &str,
        number: &str,
    ) {
        let Some(t) = self.trunks.get(trunk) else {
            if role != Role::Callee {
                self.leg_failed(now, key, role, "no such trunk");
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
            role,
            uri,
            from,
            to,
            dst,
            transport,
            LegTarget::Trunk(trunk.to_string()),
            false,
        );
    }

    /// Sends the INVITE of leg `role` (B, or a supervisor, consultation or click-to-dial leg)
    /// with our own offer from a media session next to the caller's, and arms its ring timer.
    #[allow(clippy::too_many_arguments)]
    fn send_leg_invite(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        uri: String,
        from: String,
        to: String,
        dst: SocketAddr,
        transport: Transport,
        target: LegTarget,
        fork: bool,
    ) {
        let tag = self.ep.new_tag();
        let call_id = self.ep.new_call_id();
        let contact = self.contact(transport);
        let media = self.deps.media.clone();
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if !fork {
            c.b_generation += 1;
        }
        let generation = c.b_generation;
        let mut inv = Message::request(Method::Invite, uri);
        inv.push_header("From", format!("{from};tag={tag}"));
        inv.push_header("To", to);
        inv.push_header("Call-ID", call_id);
        inv.push_header("CSeq", "1 INVITE");
        inv.push_header("Contact", contact);
        inv.push_header(
            "Allow",
            "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY",
        );
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
        let existing = match role {
            Role::Caller => c.legs.caller.media.zip(c.extra.a_local),
            _ => None,
        };
        if self.anchor {
            let (Some(media), Some(a_sid)) = (media, c.legs.caller.media) else {
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
                        key.number() ^ (u64::from(generation) << 48),
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
        } else if !c.legs.caller.invite_req.body.is_empty() {
            inv.set_body(
                c.legs
                    .caller
                    .invite_req
                    .header("Content-Type")
                    .unwrap_or("application/sdp"),
                c.legs.caller.invite_req.body.to_vec(),
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
            state: LegState::Inviting { tsx },
            invite_req: sent,
            tag,
            dst,
            transport,
            media: b_media,
            remote: None,
            our_sdp,
            sdp_version: 1,
            target,
            auth_tries: 0,
            generation,
            outgoing: true,
        };
        if fork {
            c.forks.push(leg);
            self.by_tsx.insert(tsx, (key, TsxRole::Fork { generation }));
            self.invite_dst.insert(tsx, (dst, transport));
            // Leg B's ring timer covers its forks.
            return;
        }
        let tsx_role = match role {
            Role::Callee => TsxRole::Invite { generation },
            role => TsxRole::Leg { role, generation },
        };
        c.legs.put(role, leg);
        self.by_tsx.insert(tsx, (key, tsx_role));
        self.invite_dst.insert(tsx, (dst, transport));
        self.schedule(
            now + self.ring_timeout,
            TimerAction::RingTimeout {
                call: key,
                role,
                generation,
            },
        );
    }

    fn ring_timeout(&mut self, now: Instant, key: CallKey, generation: u32) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let Some(b) = &c.legs.callee else { return };
        if b.generation != generation || b.answered() {
            return;
        }
        if let Some(tsx) = b.invite_tsx() {
            let _ = self.ep.cancel(now, tsx);
        }
        tracing::info!(call = %c.id, "no answer");
        let is_agent = matches!(b.target, LegTarget::Agent { .. }) || c.mode == Mode::Service;
        if is_agent {
            self.agent_leg_failed(now, key, "no answer", OfferRefusal::NoAnswer);
        } else {
            self.drop_b(now, key);
            self.end_call(
                now,
                key,
                None,
                "no answer",
                Some(StatusCode::TEMPORARILY_UNAVAILABLE),
            );
        }
    }

    /// Drops the callee's leg (its transactions finish on their own; [`Core::hang_up_b`]
    /// ends it from our side first): the leg is released with its quality written, the
    /// extension's other phones still ringing for it get CANCEL, the mixer goes, and an agent
    /// rung as a transfer target is free again in routing.
    pub(crate) fn drop_b(&mut self, now: Instant, key: CallKey) {
        self.cancel_forks(now, key);
        let b = self.take_leg(key, Role::Callee);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if let Some(mixer) = c.extra.mixer.take()
            && let Some(media) = &self.deps.media
        {
            let _ = media.destroy_mixer(mixer);
        }
        c.extra.topology = legs::Topology::Idle;
        let id = c.id.clone();
        // A transfer that rang an agent's phone: routing's direct call ends with the leg.
        if let Some(b) = b
            && let LegTarget::Extension(ext) = &b.target
            && let Some(agent) = self.agent_of_extension(ext)
        {
            if b.answered() {
                self.direct(key, &agent, &id, false);
            } else {
                self.direct_missed(key, &agent, &id);
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
            TsxRole::Fork { generation } => {
                self.on_fork_response(now, key, tsx, generation, resp, code)
            }
            TsxRole::Leg { role, generation } => {
                self.on_leg_invite_response(now, key, tsx, role, generation, resp, code)
            }
            TsxRole::ReInvite(role) => self.on_reinvite_response(now, key, tsx, role, resp, code),
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
        key: CallKey,
        tsx: TsxId,
        generation: u32,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        let stale = self.calls.get(&key).is_none_or(|c| {
            c.legs
                .callee
                .as_ref()
                .is_none_or(|b| b.generation != generation)
        });
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
        let is_agent = c
            .legs
            .callee
            .as_ref()
            .is_some_and(|b| matches!(b.target, LegTarget::Agent { .. }));
        let mode = c.mode;
        if code.is_provisional() {
            if code.0 > 100 {
                if is_agent {
                    self.note_early_dialog(key, &resp);
                }
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
        if matches!(code.0, 401 | 407)
            && self.retry_with_credentials(now, key, Role::Callee, tsx, &resp)
        {
            return;
        }
        if let Some(b) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.legs.callee.as_mut())
        {
            b.state = LegState::Released;
        }
        // One phone of the extension said no: another still ringing takes over as leg B
        // (a 6xx, "decline everywhere", ends them all).
        if code.0 < 600 && self.promote_fork(now, key) {
            return;
        }
        self.b_refused(now, key, code);
    }

    /// Leg B (with its forks) will not answer: `code` is its final status. The one path of
    /// a refused B leg, whichever phone said it.
    pub(crate) fn b_refused(&mut self, now: Instant, key: CallKey, code: StatusCode) {
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        let is_agent = c
            .legs
            .callee
            .as_ref()
            .is_some_and(|b| matches!(b.target, LegTarget::Agent { .. }));
        let mode = c.mode;
        let reason = failure_reason(code);
        if mode == Mode::Outbound {
            // Click-to-dial: the agent's own phone did not take the call.
            self.drop_b(now, key);
            self.end_call(now, key, None, reason, None);
            return;
        }
        if is_agent || mode == Mode::Service {
            // The phone's decline key (603) is the agent rejecting the offer.
            let refusal = if code.0 == 603 {
                OfferRefusal::Rejected
            } else {
                OfferRefusal::NoAnswer
            };
            self.agent_leg_failed(now, key, reason, refusal);
            return;
        }
        self.drop_b(now, key);
        let to_a = match code.0 {
            401 | 407 => StatusCode::FORBIDDEN,
            c => StatusCode(c),
        };
        self.end_call(now, key, None, reason, Some(to_a));
    }

    pub(crate) fn retry_with_credentials(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        tsx: TsxId,
        resp: &Message<'static>,
    ) -> bool {
        let Some(c) = self.calls.get(&key) else {
            return false;
        };
        let Some(b) = c.leg(role) else { return false };
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
        if let Some(b) = self.leg_mut(key, role) {
            b.auth_tries += 1;
            b.state = LegState::Inviting { tsx: new_tsx };
            if let Some(s) = sent {
                b.invite_req = s;
            }
        }
        let role = match role {
            Role::Callee => TsxRole::Invite { generation },
            role => TsxRole::Leg { role, generation },
        };
        self.by_tsx.insert(new_tsx, (key, role));
        self.invite_dst.insert(new_tsx, (dst, transport));
        true
    }

    fn on_b_answered(&mut self, now: Instant, key: CallKey, tsx: TsxId, resp: Message<'static>) {
        // The extension's other phones stop ringing.
        self.cancel_forks(now, key);
        let media = self.deps.media.clone();
        let anchor = self.anchor;
        let peer = self
            .calls
            .get(&key)
            .and_then(|c| c.legs.callee.as_ref())
            .map(|b| self.media_peer(b.dst));
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(b) = c.legs.callee.as_mut() else {
            return;
        };
        let mut dialog = match Dialog::uac(&b.invite_req, &resp) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "2xx without a usable dialog");
                b.state = LegState::Released;
                self.ack_and_bye(now, tsx, &resp);
                self.b_refused(now, key, StatusCode::SERVER_INTERNAL_ERROR);
                return;
            }
        };
        // CSeqs used in the early dialog (a talk NOTIFY) are not used again.
        if let Some((early, _)) = b.early()
            && early.id == dialog.id
        {
            dialog.local_seq = dialog.local_seq.max(early.local_seq);
        }
        let seq = b.invite_req.cseq().map(|s| s.seq).unwrap_or(1);
        let _ = self.ep.ack_2xx(tsx, dialog.ack(seq), b.dst);
        self.by_dialog
            .insert(dialog.id.clone(), (key, Role::Callee));
        b.state = LegState::Answered { dialog };
        // Media: learn where B listens.
        if anchor {
            if let (Some(m), Some(ours), Some(theirs), Some(peer)) =
                (&media, &b.our_sdp, sdp_of(&resp), &peer)
                && let Ok(neg) = sdp::negotiated_from_answer(ours, &theirs)
                && let (Some(remote), Some(sid)) = (neg.remote, b.media)
            {
                let params = peer.params(remote, &neg);
                let _ = m.set_remote(sid, params.clone());
                b.remote = Some(params);
            }
        } else {
            b.our_sdp = sdp_of(&c.legs.caller.invite_req);
        }
        let b_target = b.target.clone();
        let b_body = resp.body.to_vec();
        c.talk = Talk::Connected;
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
                    self.wall_ms,
                    CallEventKind::Answered {
                        agent_id: answered_by,
                    },
                );
                self.out.record(ev);
                if !anchor {
                    // Direct media: B's SDP goes to A.
                    self.answer_caller(now, key, Some(b_body));
                } else {
                    self.answer_a(now, key);
                    self.bridge_media(key);
                }
                self.colleague_answered(key);
            }
            Mode::Service => {
                self.agent_answered(now, key);
            }
            Mode::Outbound => {
                c.talk = Talk::NotConnected;
                self.dial_agent_answered(now, key);
            }
        }
    }

    /// Connects caller and B in media (a relay, or a mixer when a supervisor, a conference or
    /// mute needs one).
    pub(crate) fn bridge_media(&mut self, key: CallKey) {
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
        let Some(&(key, role)) = self.by_dialog.get(&id) else {
            let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
            self.respond(now, tsx, r);
            return;
        };
        let check = {
            let Some(leg) = self.leg_mut(key, role) else {
                let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
                self.respond(now, tsx, r);
                return;
            };
            match leg.dialog_mut() {
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
                if let Some(leg) = self.leg_mut(key, role)
                    && let LegState::Answered { dialog } =
                        std::mem::replace(&mut leg.state, LegState::HungUp)
                {
                    self.by_dialog.remove(&dialog.id);
                }
                if matches!(role, Role::Supervisor | Role::Consulted) {
                    self.leg_hung_up(now, key, role, "hung up");
                    return;
                }
                if role == Role::Callee && self.agent_phone_hung_up(now, key) {
                    return;
                }
                let reason = if role == Role::Caller {
                    "caller hung up"
                } else {
                    "callee hung up"
                };
                if role == Role::Callee && self.b_is_agent(key) && !self.b_connected(key) {
                    self.agent_leg_failed(now, key, "agent hung up", OfferRefusal::NoAnswer);
                } else {
                    self.end_call(now, key, Some(role), reason, None);
                }
            }
            Method::Invite | Method::Update => self.on_reinvite(now, key, role, tsx, req, method),
            Method::Info => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
                if role == Role::Caller
                    && let Some(d) = info_digit(&req)
                {
                    self.service_digit(now, key, d);
                }
            }
            Method::Options => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
            }
            Method::Refer => self.on_refer(now, key, role, tsx, &req),
            Method::Notify => {
                // Progress of a REFER we sent (none today) or a phone's unsolicited notice.
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
            }
            _ => {
                let r = req.make_response(StatusCode::NOT_IMPLEMENTED, None);
                self.respond(now, tsx, r);
            }
        }
    }

    fn leg_mut(&mut self, key: CallKey, role: Role) -> Option<&mut Leg> {
        self.calls.get_mut(&key)?.leg_mut(role)
    }

    fn b_is_agent(&self, key: CallKey) -> bool {
        self.calls
            .get(&key)
            .and_then(|c| c.legs.callee.as_ref())
            .is_some_and(|b| matches!(b.target, LegTarget::Agent { .. }))
    }

    fn b_connected(&self, key: CallKey) -> bool {
        self.calls
            .get(&key)
            .and_then(|c| c.legs.callee.as_ref())
            .is_some_and(|b| b.answered())
    }

    /// A re-INVITE or UPDATE from a peer (a phone's own hold, a session refresh). We answer
    /// for our role: anchored, from our media session (following the peer's new address and
    /// direction); direct, with the SDP we gave before.
    fn on_reinvite(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
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
            .and_then(|c| c.leg(role))
            .map(|l| self.media_peer(l.dst))
        else {
            return;
        };
        let Some(leg) = self.leg_mut(key, role) else {
            return;
        };
        let mut r = req.make_response(StatusCode::OK, None);
        let offer = sdp_of(&req);
        // What the peer asks for: sendonly or inactive is its hold key.
        let offered_direction = offer
            .as_ref()
            .and_then(|o| o.audio().map(|m| o.direction_of(m)));
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
                    key.number(),
                    leg.sdp_version,
                ) {
                    Ok((sd, neg)) => {
                        if let (Some(m), Some(sid)) = (&media, leg.media)
                            && let Some(remote) = neg.remote
                        {
                            // A new SDP: the leg may latch again (strict sources).
                            let params = peer.params(remote, &neg);
                            let _ = m.set_remote(sid, params.clone());
                            leg.remote = Some(params);
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
            .dialog()
            .map(|d| d.local_contact.clone())
            .unwrap_or_default();
        if !contact.is_empty() {
            r.push_header("Contact", contact);
        }
        let code = r.status().unwrap_or(StatusCode::OK);
        if let Some(d) = leg.dialog_mut() {
            d.on_response_sent(&method, code);
        }
        self.respond(now, tsx, r);
        if role == Role::Callee
            && code == StatusCode::OK
            && let Some(direction) = offered_direction
        {
            self.phone_hold(now, key, direction);
        }
    }

    /// The agent's phone put the caller on hold with its own key (a re-INVITE with sendonly
    /// or inactive), or took them off it (sendrecv): the same bookkeeping as the desktop's
    /// Hold, so the record, the desktop and hold music agree whichever was pressed.
    fn phone_hold(&mut self, now: Instant, key: CallKey, direction: SdpDirection) {
        let on = matches!(direction, SdpDirection::SendOnly | SdpDirection::Inactive);
        let Some(c) = self.calls.get(&key) else {
            return;
        };
        if c.agent.is_none()
            || !c.talk.connected()
            || on == c.talk.held_since().is_some()
            || self.hold_allowed(key).is_err()
        {
            return;
        }
        tracing::info!(call = %c.id, on, "hold from the agent's phone");
        self.set_held(now, key, on);
    }

    /// Sends a re-INVITE on a leg with our SDP in `direction` (hold: sendonly; resume:
    /// sendrecv).
    pub(crate) fn send_reinvite(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        direction: SdpDirection,
    ) -> Result<(), CallError> {
        let Some(leg) = self.leg_mut(key, role) else {
            return Err("no such leg".into());
        };
        let (dst, transport) = (leg.dst, leg.transport);
        let Some(d) = leg.dialog_mut() else {
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
        self.by_tsx.insert(tsx, (key, TsxRole::ReInvite(role)));
        Ok(())
    }

    fn on_reinvite_response(
        &mut self,
        now: Instant,
        key: CallKey,
        tsx: TsxId,
        role: Role,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        if !code.is_final() {
            return;
        }
        self.by_tsx.remove(&tsx);
        let Some(leg) = self.leg_mut(key, role) else {
            return;
        };
        let dst = leg.dst;
        if let Some(d) = leg.dialog_mut() {
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

    /// Ends a call: the one path every call leaves by. Each leg is hung up ([`legs::hang_up`]:
    /// CANCEL, the caller's final response `code_for_a` with `reason`, or BYE), except that
    /// the leg `from` (the party that hung up) gets no BYE, and released
    /// ([`Core::forget_leg`]); then routing and the desktops are told and the call record gets
    /// its `ended` event.
    pub(crate) fn end_call(
        &mut self,
        now: Instant,
        key: CallKey,
        from: Option<Role>,
        reason: &str,
        code_for_a: Option<StatusCode>,
    ) {
        let Some(mut c) = self.calls.remove(&key) else {
            return;
        };
        self.record_call_quality(&mut c);
        self.quotas.release(&c.quota);
        for mut f in std::mem::take(&mut c.forks) {
            legs::hang_up(&mut self.ep, now, &mut f, None);
            self.forget_leg(&f);
        }
        // A call whose caller asked for a callback no longer owns its id (the callback call
        // dialled for that request may).
        if self.by_id.get(&c.id) == Some(&key) {
            self.by_id.remove(&c.id);
        }
        self.end_extras(&mut c);
        for agent in c.extra.colleagues() {
            self.out.notify(CallNotice::Ended {
                call: c.id.clone(),
                agent: Some(agent.clone()),
                reason: reason.to_string(),
            });
        }
        let refusal = (
            code_for_a.unwrap_or(StatusCode::TEMPORARILY_UNAVAILABLE),
            reason,
        );
        for role in [
            Role::Supervisor,
            Role::Consulted,
            Role::Caller,
            Role::Callee,
        ] {
            let Some(leg) = c.legs.get_mut(role) else {
                continue;
            };
            // The party that hung up has no dialog left to end; an INVITE still open is
            // answered (or CANCELled) all the same.
            if !(from == Some(role) && leg.answered()) {
                legs::hang_up(&mut self.ep, now, leg, Some(refusal));
            }
            if let Some(leg) = c.legs.get(role) {
                self.forget_leg(leg);
            }
        }
        let abandoned = !c.talk.connected() && from == Some(Role::Caller);
        self.service_ended(now, &mut c, reason);
        let ev = c.log.event(
            self.wall_ms,
            CallEventKind::Ended {
                reason: reason.to_string(),
                abandoned,
            },
        );
        self.out.record(ev);
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

    fn on_command(&mut self, now: Instant, command: CommandId, agent: &str, action: CallAction) {
        let result = match action {
            CallAction::Dial { number } => self.click_to_dial(now, agent, &number).map(Some),
            CallAction::PlayRecording { file, label } => {
                self.play_to_agent(now, agent, &file, &label).map(Some)
            }
            CallAction::Consult { call, target } => self
                .by_id
                .get(&call)
                .copied()
                .filter(|k| {
                    self.calls
                        .get(k)
                        .is_some_and(|c| c.agent.as_deref() == Some(agent))
                })
                .ok_or_else(|| CallError::NotYours(format!("no call {call} of yours")))
                .and_then(|key| self.consult(now, key, &target))
                .map(Some),
            CallAction::Reject { call } => self.reject_offer(now, agent, &call).map(|()| None),
            // Hanging up a call that only rings for this agent refuses the offer (the caller
            // stays in the queue), as a phone's decline key does.
            CallAction::Hangup { call } if self.offered_to(agent, &call) => {
                self.reject_offer(now, agent, &call).map(|()| None)
            }
            CallAction::Hangup { call } if !self.owns(agent, &call) => {
                match self.colleague_hangs_up(now, agent, &call) {
                    Some(r) => r.map(|()| None),
                    None => self
                        .command(now, agent, CallAction::Hangup { call })
                        .map(|()| None),
                }
            }
            CallAction::Answer { call } => self.answer_offer(now, agent, &call).map(|()| None),
            action => self.command(now, agent, action).map(|()| None),
        };
        self.out.emit(Output::Reply { command, result });
    }

    /// Whether `call` is `agent`'s own call (they are its agent).
    fn owns(&self, agent: &str, call: &str) -> bool {
        self.by_id
            .get(call)
            .and_then(|k| self.calls.get(k))
            .is_some_and(|c| c.agent.as_deref() == Some(agent))
    }

    /// Whether `call` is a queue call being offered to `agent` (not yet answered).
    fn offered_to(&self, agent: &str, call: &str) -> bool {
        self.by_id
            .get(call)
            .and_then(|k| self.calls.get(k))
            .is_some_and(|c| c.agent.is_none() && c.service.offered() == Some(agent))
    }

    fn command(&mut self, now: Instant, agent: &str, action: CallAction) -> Result<(), CallError> {
        let call_of = |s: &Core, call: &str| -> Result<CallKey, CallError> {
            let key = *s
                .by_id
                .get(call)
                .ok_or_else(|| CallError::UnknownCall(format!("no call {call}")))?;
            let c = s
                .calls
                .get(&key)
                .ok_or_else(|| CallError::UnknownCall("no such call".into()))?;
            if c.agent.as_deref() != Some(agent) {
                return Err(CallError::NotYours("the call is not yours".into()));
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
                let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
                match (&self.deps.media, c.legs.caller.media) {
                    (Some(m), Some(a)) => m
                        .send_dtmf(a, &digits)
                        .map_err(|e| CallError::InvalidState(e.to_string())),
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
            CallAction::Dial { .. }
            | CallAction::PlayRecording { .. }
            | CallAction::Consult { .. }
            | CallAction::Reject { .. }
            | CallAction::Answer { .. } => Err("handled in on_command".into()),
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

    fn hold(&mut self, now: Instant, key: CallKey, on: bool) -> Result<(), CallError> {
        let held = {
            let c = self.calls.get(&key).ok_or_else(CallError::gone)?;
            if !c.talk.connected() {
                return Err("the call is not connected".into());
            }
            c.talk.held_since()
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
        self.send_reinvite(now, key, Role::Callee, dir)?;
        self.set_held(now, key, on);
        Ok(())
    }

    /// Puts the call on hold or takes it off: the talk state, hold music (media plan), the
    /// call record and the desktop's notice. The one path of the desktop's and the phone's
    /// hold.
    fn set_held(&mut self, now: Instant, key: CallKey, on: bool) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let (id, agent, held) = (
            c.id.clone(),
            c.agent.clone().unwrap_or_default(),
            c.talk.held_since(),
        );
        c.talk = if on {
            Talk::Held { since: now }
        } else {
            Talk::Connected
        };
        self.apply_media(key);
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        if on {
            let ev = c.log.event(self.wall_ms, CallEventKind::Held);
            self.out.record(ev);
            self.out.notify(CallNotice::Held { call: id, agent });
        } else {
            let hold_ms = held
                .map(|h| now.duration_since(h).as_millis() as i64)
                .unwrap_or(0);
            let ev = c
                .log
                .event(self.wall_ms, CallEventKind::Resumed { hold_ms });
            self.out.record(ev);
            self.out.notify(CallNotice::Resumed { call: id, agent });
        }
    }

    /// Blind transfer of a connected call: the agent's leg ends, the caller rings `target`
    /// (an extension, an agent id, a queue id or a number the dial plan routes).
    /// The desktop's blind transfer: the agent's leg ends, the caller goes to `target`.
    fn blind_transfer(
        &mut self,
        now: Instant,
        key: CallKey,
        target: &str,
    ) -> Result<(), CallError> {
        self.transfer_allowed(key)?;
        let target = target.trim();
        let resolved = self.transfer_target(target)?;
        self.transfer_caller(now, key, target, resolved);
        Ok(())
    }

    /// Where a transfer to `target` (an agent id, a queue id, or anything the dial plan
    /// knows, under the same rules as dialling) goes.
    pub(crate) fn transfer_target(&self, target: &str) -> Result<Target, CallError> {
        let resolved = if let Some(ext) = self.agent_extension(target) {
            Target::Extension(ext)
        } else if self.deps.is_queue(target) {
            Target::Queue(target.to_string())
        } else {
            self.plan
                .resolve(target)
                .map(|r| r.target)
                .map_err(|_| CallError::UnknownTarget(format!("no route to {target}")))?
        };
        if let Target::Extension(ext) = &resolved {
            self.extension_free(ext)?;
        }
        Ok(resolved)
    }

    /// Ends leg B (and a supervisor listening in) and sends the caller to `resolved`: the one
    /// path of every blind transfer (desktop and REFER).
    pub(crate) fn transfer_caller(
        &mut self,
        now: Instant,
        key: CallKey,
        target: &str,
        resolved: Target,
    ) {
        let (agent, id) = match self.calls.get(&key) {
            Some(c) => (c.agent.clone(), c.id.clone()),
            None => return,
        };
        // A supervisor listening in leaves with the agent.
        self.drop_leg(now, key, Role::Supervisor);
        self.leg_hung_up(now, key, Role::Supervisor, "transferred");
        // End the agent's leg.
        self.hang_up_b(now, key);
        if let Some(c) = self.calls.get_mut(&key) {
            c.agent = None;
            c.talk = Talk::NotConnected;
            c.mode = Mode::Service;
            let ev = c.log.event(
                self.wall_ms,
                CallEventKind::Transferred {
                    to: target.to_string(),
                },
            );
            self.out.record(ev);
        }
        if let Some(a) = agent.clone() {
            self.agent_released(now, key, &a);
            self.out.notify(CallNotice::Ended {
                call: id,
                agent: Some(a),
                reason: "transferred".into(),
            });
        }
        match resolved {
            Target::Extension(ext) => {
                // An agent's phone: routing hears now that the agent is on this call.
                if let Some(a) = self.agent_of_extension(&ext) {
                    let call = self
                        .calls
                        .get(&key)
                        .map(|c| c.id.clone())
                        .unwrap_or_default();
                    self.direct(key, &a, &call, true);
                }
                self.ring_extension(now, key, &ext, None)
            }
            Target::Trunk { trunk, number } => self.dial_trunk(now, key, &trunk, &number),
            Target::Queue(q) => self.start_service(now, key, None, Some(q)),
            Target::Ivr(f) => self.start_service(now, key, Some(f), None),
        }
    }

    fn on_media(&mut self, now: Instant, ev: MediaEvent) {
        match ev {
            MediaEvent::Digit { session, digit, .. } => {
                if let Some(&key) = self.by_media.get(&session)
                    && self
                        .calls
                        .get(&key)
                        .is_some_and(|c| c.legs.caller.media == Some(session))
                {
                    self.service_digit(now, key, digit);
                }
            }
            MediaEvent::PromptFinished { session, .. } => {
                let Some(&key) = self.by_media.get(&session) else {
                    return;
                };
                let Some(c) = self.calls.get(&key) else {
                    return;
                };
                if c.legs.caller.media == Some(session) {
                    self.service_prompt_finished(now, key);
                } else if c.extra.playback.is_some()
                    && c.legs.callee.as_ref().and_then(|b| b.media) == Some(session)
                {
                    // A recording played to an agent's phone has ended: so does the call.
                    self.end_call(now, key, None, "recording played", None);
                }
            }
            MediaEvent::RtpTimeout { session } => {
                if let Some(&key) = self.by_media.get(&session)
                    && let Some(role) = self.extra_role_of(key, session)
                {
                    tracing::info!(
                        ?role,
                        "no RTP on a supervisor or consultation leg: dropping it"
                    );
                    self.drop_leg(now, key, role);
                    self.leg_hung_up(now, key, role, "media timeout");
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
