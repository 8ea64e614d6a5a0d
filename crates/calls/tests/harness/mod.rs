//! A deterministic simulated world around the call-control core: simulated time, SIP phones
//! and a trunk on the sans-IO endpoint talking to the core over an in-memory network, the
//! real ACD ([`hotline_acd::Acd`]) driven as `switch/src/routing.rs` drives it, the real IVR
//! flows of `config/ivr/`, a recording fake of the media engine and a fake store.
//!
//! The world plays the switch's driver (`switch/src/calls/mod.rs`): after every input it
//! drains the core's outputs in order, sends transmits over the network, hands routing
//! commands to the ACD in the order they were issued and feeds the ACD's decisions back, does
//! store work and feeds the completions back. [`World::advance`] moves simulated time,
//! delivering every due timer (core, ACD, phones, prompt ends) in time order and every
//! queued message until nothing is left, always in the same order: the same seed gives the
//! same trace ([`World::trace_hash`]).

#![allow(dead_code)]

pub mod media;
pub mod phone;
pub mod store;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_acd::{Acd, AcdConfig, AgentId, AgentState, Decision, Priority, QueueConfig, SkillId};
use hotline_calls::config::{
    DialplanConfig, ExtensionConfig, MediaConfig, RouteConfig, SipConfig, TrunkConfig,
};
use hotline_calls::messages::{CallAction, CallNotice};
use hotline_calls::{
    CallSnapshot, Clock, CommandId, Completion, Core, CoreConfig, Output, RoutingOp, ServiceDeps,
    Snapshot,
};
use hotline_ivr::{FlowSet, PromptDir, QueueStatus};
use hotline_media::{DigitSource, MediaEvent, SessionId};
use hotline_records::CallEventKind;

use media::FakeMedia;
use phone::{Phone, Policy, UaState};
use store::FakeStore;

/// The switch's SIP address.
pub const CORE: &str = "10.0.0.1:5060";
/// The carrier's SIP server (the `pstn` trunk).
pub const TRUNK: &str = "10.0.0.100:5060";
/// The public service number (IVR `main`).
pub const SERVICE_NUMBER: &str = "+18005550100";
/// A public number straight into the `sales` queue (no IVR).
pub const SALES_NUMBER: &str = "+18005550101";
/// The caller number the canned customer has on record.
pub const KNOWN_CALLER: &str = "+12125550123";
/// 2025-01-02 10:00:00 UTC: the wall clock at the start.
const WALL_BASE_MS: i64 = 1_735_812_000_000;
/// How long the fake media engine takes to play one prompt file.
pub const PROMPT_TIME: Duration = Duration::from_millis(800);

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// The wall clock of the simulation: the same offset as the monotonic clock.
pub struct SimClock {
    offset_ns: Arc<AtomicU64>,
}

impl Clock for SimClock {
    fn now_millis(&self) -> i64 {
        WALL_BASE_MS + (self.offset_ns.load(Ordering::Relaxed) / 1_000_000) as i64
    }
}

/// What a world is built from.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub seed: u64,
    /// (agent id, extension). The agents log in to the ACD with every skill at 5.
    pub agents: Vec<(String, String)>,
    /// (supervisor id, extension): known to call control, not logged in to routing.
    pub supervisors: Vec<(String, String)>,
    /// `[media] record_calls`.
    pub record_calls: bool,
    /// The queues file (`config/queues.toml` text by default).
    pub queues_toml: String,
    /// Agents are made ready at the start.
    pub ready: bool,
    /// `sip.keepalive_secs` (OPTIONS toward registered phones).
    pub keepalive_secs: u64,
}

/// The agent directory's display name of agent `id` in these worlds: `alice` is "Alice".
pub fn display_name(id: &str) -> String {
    let mut c = id.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub fn repo_config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 1,
            agents: vec![
                ("alice".into(), "1001".into()),
                ("bob".into(), "1002".into()),
            ],
            supervisors: vec![("sam".into(), "1901".into())],
            record_calls: false,
            queues_toml: std::fs::read_to_string(repo_config_dir().join("queues.toml"))
                .expect("config/queues.toml"),
            ready: true,
            keepalive_secs: 30,
        }
    }
}

/// The queues of a queues file, read as `switch/src/routing.rs` reads them (the ACD's rules
/// plus a display name).
pub fn parse_queues(text: &str) -> (AcdConfig, BTreeMap<String, String>) {
    let raw: toml::Table = toml::from_str(text).expect("queues toml");
    let mut queues = Vec::new();
    let mut names = BTreeMap::new();
    if let Some(toml::Value::Array(qs)) = raw.get("queues") {
        for q in qs {
            let mut t = q.as_table().expect("[[queues]] table").clone();
            let name = t
                .remove("name")
                .and_then(|v| v.as_str().map(str::to_string));
            t.remove("service_level_secs");
            let cfg: QueueConfig = toml::Value::Table(t).try_into().expect("queue rules");
            names.insert(
                cfg.id.to_string(),
                name.unwrap_or_else(|| cfg.id.to_string()),
            );
            queues.push(cfg);
        }
    }
    let cfg = AcdConfig { queues };
    cfg.validate().expect("valid queues");
    (cfg, names)
}

fn ext_cfg(number: &str) -> ExtensionConfig {
    ExtensionConfig {
        number: number.into(),
        password: format!("pw-{number}"),
        name: format!("Phone {number}"),
        auto_answer: false,
        remote_answer: Default::default(),
    }
}

/// One message in flight.
struct Packet {
    src: SocketAddr,
    dst: SocketAddr,
    payload: Vec<u8>,
}

/// FNV-1a, for a compact trace hash.
#[derive(Debug, Clone, Copy)]
pub struct TraceHash(pub u64);

impl TraceHash {
    fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x100_0000_01b3);
    }
}

pub struct World {
    pub now: Instant,
    pub base: Instant,
    offset_ns: Arc<AtomicU64>,
    pub core: Core,
    pub acd: Acd,
    pub media: Arc<FakeMedia>,
    pub store: FakeStore,
    pub phones: Vec<Phone>,
    pub cfg: WorldConfig,
    net: VecDeque<Packet>,
    decisions: VecDeque<Decision>,
    completions: VecDeque<Completion>,
    media_events: VecDeque<MediaEvent>,
    /// Prompt ends due: (at, seq) -> (session, play generation).
    prompt_ends: BTreeMap<(Instant, u64), (SessionId, u64)>,
    prompt_seq: u64,
    pub notices: Vec<(Duration, CallNotice)>,
    pub replies: BTreeMap<u64, Result<Option<String>, String>>,
    /// Routing commands as delivered, with the ACD's verdict.
    pub routing: Vec<(RoutingOp, Result<(), String>)>,
    next_command: u64,
    /// Summary lines of everything that happened (when `keep_trace`), the last `trace_cap`
    /// of them (0: all).
    pub trace: VecDeque<String>,
    pub keep_trace: bool,
    pub trace_cap: usize,
    hash: TraceHash,
    /// Messages sent to an address nobody listens on.
    pub lost: u64,
    /// Agents -> extension (routing's agents).
    pub agents: BTreeMap<String, String>,
}

impl World {
    pub fn new(cfg: WorldConfig) -> World {
        let base = Instant::now();
        let offset_ns = Arc::new(AtomicU64::new(0));
        let (acd_cfg, queue_names) = parse_queues(&cfg.queues_toml);
        let acd = Acd::new(acd_cfg, base).expect("acd");
        let dir = repo_config_dir();
        let prompts = PromptDir::default_for(&dir);
        let flows = FlowSet::load_dir(&dir.join("ivr"), &prompts).expect("IVR flows");
        let media = Arc::new(FakeMedia::default());
        let mut deps = ServiceDeps::default();
        deps.media = Some(media.clone());
        deps.hold_music = prompts.resolve("flow/hold-music");
        deps.flows = Some(Arc::new(flows));
        deps.prompts = Some(prompts);
        deps.routing = true;
        deps.queue_names = queue_names.into_iter().collect();
        let mut agents = BTreeMap::new();
        for (a, e) in cfg.agents.iter().chain(&cfg.supervisors) {
            deps.agents.insert(a.clone(), e.clone());
            deps.agent_names.insert(a.clone(), display_name(a));
            agents.insert(a.clone(), e.clone());
        }
        let mut extensions: Vec<ExtensionConfig> = agents.values().map(|e| ext_cfg(e)).collect();
        // A plain desk phone (no agent) for calls and transfers to an extension.
        extensions.push(ext_cfg("2001"));
        let sip = SipConfig {
            listen: addr(CORE),
            advertise: CORE.into(),
            keepalive_secs: cfg.keepalive_secs,
            ..SipConfig::default()
        };
        let media_cfg = MediaConfig {
            anchor: true,
            ip: addr(CORE).ip(),
            record_calls: cfg.record_calls,
            ..MediaConfig::default()
        };
        let route = |number: Option<&str>, prefix: Option<&str>| RouteConfig {
            number: number.map(str::to_string),
            prefix: prefix.map(str::to_string),
            ..RouteConfig::default()
        };
        let dialplan = DialplanConfig {
            routes: vec![
                RouteConfig {
                    public: true,
                    ivr: Some("main".into()),
                    ..route(Some(SERVICE_NUMBER), None)
                },
                RouteConfig {
                    public: true,
                    queue: Some("sales".into()),
                    ..route(Some(SALES_NUMBER), None)
                },
                RouteConfig {
                    queue: Some("sales".into()),
                    ..route(Some("7001"), None)
                },
                RouteConfig {
                    queue: Some("support".into()),
                    ..route(Some("7002"), None)
                },
                RouteConfig {
                    strip: 1,
                    trunk: Some("pstn".into()),
                    ..route(None, Some("9"))
                },
                RouteConfig {
                    trunk: Some("pstn".into()),
                    ..route(None, Some("+"))
                },
            ],
            callbacks: Default::default(),
        };
        let trunk = TrunkConfig {
            name: "pstn".into(),
            address: addr(TRUNK),
            transport: "udp".into(),
            domain: String::new(),
            username: String::new(),
            password: String::new(),
            register: false,
            register_expires_secs: 600,
            caller_id: SERVICE_NUMBER.into(),
            max_calls: 0,
            media_networks: Vec::new(),
        };
        let core_cfg = CoreConfig {
            sip,
            media: media_cfg,
            dialplan,
            trunks: vec![trunk],
            extensions: extensions.clone(),
            country_code: "1".into(),
            advertise: CORE.into(),
            seed: cfg.seed,
        };
        let clock = SimClock {
            offset_ns: offset_ns.clone(),
        };
        let core = Core::new(&core_cfg, deps, Box::new(clock), base);
        let mut store = FakeStore {
            customers: vec![store::customer(
                42,
                "Ada Lovelace",
                KNOWN_CALLER,
                "12345678",
                "1234",
            )],
            extensions: agents.clone(),
            ..FakeStore::default()
        };
        store.hold = false;
        // Phones: one per extension (10.0.1.N), then the trunk.
        let mut phones = Vec::new();
        for (i, e) in extensions.iter().enumerate() {
            let a = SocketAddr::new(format!("10.0.1.{}", i + 1).parse().expect("ip"), 5060);
            phones.push(Phone::new(
                &e.number,
                a,
                Some((&e.number, &e.password)),
                addr(CORE),
                cfg.seed.wrapping_mul(1000).wrapping_add(i as u64 + 1),
            ));
        }
        let mut trunk = Phone::new(
            "trunk",
            addr(TRUNK),
            None,
            addr(CORE),
            cfg.seed.wrapping_mul(1000),
        );
        trunk.policy = Policy::Answer(Duration::from_secs(3));
        phones.push(trunk);
        let mut w = World {
            now: base,
            base,
            offset_ns,
            core,
            acd,
            media,
            store,
            phones,
            cfg: cfg.clone(),
            net: VecDeque::new(),
            decisions: VecDeque::new(),
            completions: VecDeque::new(),
            media_events: VecDeque::new(),
            prompt_ends: BTreeMap::new(),
            prompt_seq: 0,
            notices: Vec::new(),
            replies: BTreeMap::new(),
            routing: Vec::new(),
            next_command: 1,
            trace: VecDeque::new(),
            keep_trace: false,
            trace_cap: 0,
            hash: TraceHash(0xcbf2_9ce4_8422_2325),
            lost: 0,
            agents,
        };
        // Every phone registers; agents log in (and get ready).
        let now = w.now;
        for p in &mut w.phones {
            if p.ext.is_some() {
                p.register(now, 3600);
            }
        }
        w.flush_phones();
        w.settle();
        for (a, _) in cfg.agents.clone() {
            let skills: Vec<(SkillId, u8)> = ["booking", "technical", "billing", "english"]
                .iter()
                .map(|s| (SkillId::new(*s), 5))
                .collect();
            w.acd
                .login(now, &AgentId::new(a.as_str()), &skills)
                .expect("login");
            if cfg.ready {
                w.acd.ready(now, &AgentId::new(a.as_str())).expect("ready");
            }
        }
        w.drain_acd();
        w.settle();
        w
    }

    // ----- time -------------------------------------------------------------------------

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    fn set_now(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
            self.offset_ns
                .store((t - self.base).as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// Moves simulated time forward by `d`, delivering every timer due on the way in time
    /// order, and everything they cause.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.settle();
        loop {
            match self.next_deadline() {
                Some(t) if t <= target => {
                    self.set_now(t);
                    self.fire_due();
                    self.settle();
                }
                _ => break,
            }
        }
        self.set_now(target);
        self.fire_due();
        self.settle();
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t: Instant| t.min(x)));
            }
        };
        consider(self.core.poll_timeout());
        consider(self.acd.poll_timeout());
        for p in &mut self.phones {
            consider(p.poll_timeout());
        }
        consider(self.prompt_ends.keys().next().map(|k| k.0));
        // Never behind now (a timer due now fires at now).
        t.map(|t| t.max(self.now))
    }

    /// Fires every timer due at `now`: the core's, the ACD's, each phone's, prompt ends.
    fn fire_due(&mut self) {
        let now = self.now;
        if self.core.poll_timeout().is_some_and(|t| t <= now) {
            self.core.handle_timeout(now);
            self.drain_core();
        }
        if self.acd.poll_timeout().is_some_and(|t| t <= now) {
            self.acd.handle_timeout(now);
            self.drain_acd();
        }
        for i in 0..self.phones.len() {
            if self.phones[i].poll_timeout().is_some_and(|t| t <= now) {
                self.phones[i].handle_timeout(now);
                self.flush_phone(i);
            }
        }
        while let Some((&(at, seq), &(session, generation))) = self.prompt_ends.iter().next() {
            if at > now {
                break;
            }
            self.prompt_ends.remove(&(at, seq));
            let done = {
                let mut m = self.media.lock();
                let current = matches!(
                    m.playing.get(&session),
                    Some(media::Playing::Prompts { generation: g, .. }) if *g == generation
                );
                if current {
                    m.playing.remove(&session);
                }
                current
            };
            if done {
                self.media_events.push_back(MediaEvent::PromptFinished {
                    session,
                    interrupted: false,
                });
            }
        }
    }

    // ----- the driver -------------------------------------------------------------------

    fn note(&mut self, line: impl FnOnce() -> String) {
        let l = line();
        self.hash.add(l.as_bytes());
        if self.keep_trace {
            let t = self.elapsed().as_millis();
            self.push_trace(format!("{t:>9} {l}"));
        }
    }

    fn push_trace(&mut self, line: String) {
        if self.trace_cap > 0 && self.trace.len() >= self.trace_cap {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    /// Notes a line of the test's own in the trace (the operation it performs).
    pub fn log(&mut self, line: impl Into<String>) {
        let l = line.into();
        self.note(|| l);
    }

    /// The trace so far, as one number (same seed, same trace).
    pub fn trace_hash(&self) -> u64 {
        self.hash.0
    }

    fn flush_phone(&mut self, i: usize) {
        let src = self.phones[i].addr;
        while let Some(t) = self.phones[i].poll_transmit() {
            self.net.push_back(Packet {
                src,
                dst: t.dst,
                payload: t.payload,
            });
        }
    }

    fn flush_phones(&mut self) {
        for i in 0..self.phones.len() {
            self.flush_phone(i);
        }
    }

    /// Performs the core's outputs, in order (what `Driver::perform` does).
    fn drain_core(&mut self) {
        let core_addr = addr(CORE);
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Transmit(t) => {
                    self.net.push_back(Packet {
                        src: core_addr,
                        dst: t.dst,
                        payload: t.payload,
                    });
                }
                Output::Notice(n) => {
                    self.note(|| format!("notice {n:?}"));
                    self.notices.push((self.now - self.base, n));
                }
                Output::Record(ev) => {
                    self.note(|| format!("record {} {} {:?}", ev.call_id, ev.seq, ev.kind));
                    self.store.record(ev);
                }
                Output::Routing(op) => self.route(op),
                Output::Work(w) => {
                    self.note(|| format!("work {w:?}"));
                    if let Some(c) = self.store.take(w) {
                        self.completions.push_back(c);
                    }
                }
                Output::Reply { command, result } => {
                    self.note(|| format!("reply {} {result:?}", command.0));
                    self.replies
                        .insert(command.0, result.map_err(|e| e.to_string()));
                }
                Output::Registered { .. } => {}
            }
        }
        // Prompts the core started play for a while, then end (unless stopped or replaced).
        let plays = std::mem::take(&mut self.media.lock().new_plays);
        for (session, generation, files) in plays {
            self.prompt_seq += 1;
            let at = self.now + PROMPT_TIME * (files.max(1) as u32);
            self.prompt_ends
                .insert((at, self.prompt_seq), (session, generation));
        }
    }

    /// Delivers one routing command to the ACD as `switch/src/routing.rs` does.
    fn route(&mut self, op: RoutingOp) {
        let now = self.now;
        let acd = &mut self.acd;
        let r = match &op {
            RoutingOp::Enqueue {
                call,
                queue,
                priority,
            } => acd.enqueue(now, call, queue, Priority(u32::from(*priority))),
            RoutingOp::Answer { call, agent } => acd.answer(now, call, agent),
            RoutingOp::NoAnswer { agent } => acd.no_answer(now, agent),
            RoutingOp::Reject { agent } => acd.reject(now, agent),
            RoutingOp::DirectStarted { agent, call } => acd.direct_call_started(now, agent, call),
            RoutingOp::CallbackConnected { call } => acd.callback_connected(now, call),
            RoutingOp::ContinueDirect { call, direct } => acd.continue_as_direct(now, call, direct),
            RoutingOp::DirectEnded { agent, call } => acd.direct_call_ended(now, agent, call),
            RoutingOp::DirectMissed { agent, call } => acd.direct_call_missed(now, agent, call),
            RoutingOp::Hangup { call } => acd.hangup(now, call),
            // routing.rs: `abandon` sends the same command as `hangup`.
            RoutingOp::Abandon { call } => acd.hangup(now, call),
            RoutingOp::RequestCallback { call } => acd.request_callback(now, call),
            RoutingOp::CallbackFailed { call } => acd.callback_failed(now, call),
            RoutingOp::QueryQueue {
                call: c,
                request,
                queue,
            } => {
                let stats = acd.queue_stats(queue);
                let position = acd.position(c).unwrap_or(0);
                let status = match stats {
                    Some(s) => QueueStatus {
                        position: position as u32,
                        waiting: s.waiting as u32,
                        agents_available: s.ready_agents as u32,
                        estimated_wait: s.estimated_wait_new.unwrap_or(Duration::from_secs(600)),
                    },
                    None => QueueStatus {
                        position: position as u32,
                        waiting: 0,
                        agents_available: 0,
                        estimated_wait: Duration::from_secs(600),
                    },
                };
                self.completions.push_back(Completion::QueueStatus {
                    call: c.as_str().to_string(),
                    request: *request,
                    status,
                });
                Ok(())
            }
        };
        if let Err(e) = &r {
            // As switch/src/calls/mod.rs does: the refusal goes back to call control.
            self.completions.push_back(Completion::RoutingRefused {
                op: op.clone(),
                error: hotline_calls::RoutingRefusal::Acd(e.clone()),
            });
        }
        let r = r.map_err(|e| e.to_string());
        self.note(|| format!("routing {op:?} -> {r:?}"));
        self.routing.push((op, r));
        self.drain_acd();
    }

    /// Takes the ACD's decisions (queued for the core) and notes its agent states.
    fn drain_acd(&mut self) {
        while let Some(d) = self.acd.poll_decision() {
            let line = self.fmt_decision(&d);
            self.note(|| line);
            self.decisions.push_back(d);
        }
        while let Some(e) = self.acd.poll_event() {
            if let hotline_acd::Event::AgentState { agent, to, .. } = &e {
                let line = format!("acd {} -> {} {:?}", agent, to.name(), to.call());
                self.note(|| line);
            }
        }
    }

    fn fmt_decision(&self, d: &Decision) -> String {
        match d {
            Decision::Offer {
                call,
                agent,
                queue,
                kind,
                deadline,
            } => format!(
                "decision offer {call} to {agent} in {queue} {kind:?} until {}",
                deadline.saturating_duration_since(self.base).as_millis()
            ),
            other => format!("decision {other:?}"),
        }
    }

    /// Delivers everything queued (messages, decisions, completions, media events) until
    /// nothing is left, in a fixed order.
    pub fn settle(&mut self) {
        let core_addr = addr(CORE);
        let mut rounds = 0u64;
        loop {
            rounds += 1;
            assert!(rounds < 1_000_000, "the world does not settle");
            self.drain_core();
            if let Some(p) = self.net.pop_front() {
                let now = self.now;
                let first = String::from_utf8_lossy(
                    p.payload.split(|b| *b == b'\r').next().unwrap_or_default(),
                )
                .into_owned();
                let mut hash_input = format!("{} > {} ", p.src, p.dst).into_bytes();
                hash_input.extend_from_slice(&p.payload);
                self.hash.add(&hash_input);
                if self.keep_trace {
                    let t = self.elapsed().as_millis();
                    self.push_trace(format!("{t:>9} {} > {} {first}", p.src, p.dst));
                }
                if p.dst == core_addr {
                    self.core
                        .handle_datagram(now, p.src, hotline_sip::Transport::Udp, &p.payload);
                } else if let Some(i) = self.phones.iter().position(|ph| ph.addr == p.dst) {
                    self.phones[i].handle_datagram(now, p.src, &p.payload);
                    self.flush_phone(i);
                } else {
                    self.lost += 1;
                }
                continue;
            }
            if let Some(d) = self.decisions.pop_front() {
                self.core.handle_decision(self.now, d);
                continue;
            }
            if let Some(c) = self.completions.pop_front() {
                self.note(|| format!("completion {c:?}"));
                self.core.handle_completion(self.now, c);
                continue;
            }
            if let Some(e) = self.media_events.pop_front() {
                self.note(|| format!("media {e:?}"));
                self.core.handle_media(self.now, e);
                continue;
            }
            break;
        }
    }

    // ----- acting -----------------------------------------------------------------------

    pub fn phone_index(&self, name: &str) -> usize {
        self.phones
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no phone {name}"))
    }

    /// The phone of an agent (by agent id) or an extension or `trunk`.
    pub fn phone(&mut self, who: &str) -> &mut Phone {
        let name = self
            .agents
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let i = self.phone_index(&name);
        &mut self.phones[i]
    }

    /// Another phone registering as the extension of `who` (an agent id or an extension), at
    /// an address of its own; `name` is what tests call it.
    pub fn add_device(&mut self, who: &str, name: &str) {
        let ext = self
            .agents
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let n = self.phones.len();
        let a = SocketAddr::new(format!("10.0.2.{}", n + 1).parse().expect("ip"), 5060);
        let password = format!("pw-{ext}");
        let mut p = Phone::new(
            name,
            a,
            Some((&ext, &password)),
            addr(CORE),
            self.cfg
                .seed
                .wrapping_mul(1000)
                .wrapping_add(500 + n as u64),
        );
        let now = self.now;
        p.register(now, 3600);
        self.phones.push(p);
        self.flush_phone(n);
        self.settle();
    }

    /// Runs `f` on a phone at the current time, then sends what it sent.
    pub fn with_phone<R>(&mut self, who: &str, f: impl FnOnce(&mut Phone, Instant) -> R) -> R {
        let name = self
            .agents
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let i = self.phone_index(&name);
        let now = self.now;
        let r = f(&mut self.phones[i], now);
        self.flush_phone(i);
        self.settle();
        r
    }

    /// A caller on the PSTN dials `number` through the trunk; returns the trunk's call id.
    pub fn pstn_call(&mut self, from: &str, number: &str) -> u32 {
        self.with_phone("trunk", |p, now| p.invite(now, number, Some(from)))
    }

    /// A desktop command; returns the core's reply.
    pub fn command(&mut self, agent: &str, action: CallAction) -> Result<Option<String>, String> {
        let id = self.next_command;
        self.next_command += 1;
        self.note(|| format!("command {id} {agent} {action:?}"));
        self.core
            .handle_command(self.now, CommandId(id), agent, action);
        self.settle();
        self.replies
            .remove(&id)
            .unwrap_or_else(|| Err("no reply".into()))
    }

    /// The agent's desktop sets them ready (or back from wrap-up).
    pub fn ready(&mut self, agent: &str) -> Result<(), String> {
        let now = self.now;
        let a = AgentId::new(agent);
        let r = match self.acd.agent_state(&a) {
            Some(AgentState::WrapUp { .. }) => self.acd.wrapup_done(now, &a),
            _ => self.acd.ready(now, &a),
        };
        self.drain_acd();
        self.settle();
        r.map_err(|e| e.to_string())
    }

    pub fn not_ready(&mut self, agent: &str, reason: &str) -> Result<(), String> {
        let now = self.now;
        let r = self.acd.not_ready(now, &AgentId::new(agent), reason);
        self.drain_acd();
        self.settle();
        r.map_err(|e| e.to_string())
    }

    pub fn agent_state(&self, agent: &str) -> Option<AgentState> {
        self.acd.agent_state(&AgentId::new(agent)).cloned()
    }

    /// A completion of work the test did itself (released store work).
    pub fn complete(&mut self, c: Completion) {
        self.completions.push_back(c);
        self.settle();
    }

    /// A media event from the engine (digits, RTP time-outs...).
    pub fn media_event(&mut self, ev: MediaEvent) {
        self.media_events.push_back(ev);
        self.settle();
    }

    /// The caller keys `digits` on session `session` (RFC 4733): a prompt with barge-in ends
    /// at the first digit, as the engine does.
    pub fn press(&mut self, session: SessionId, digits: &str) {
        for d in digits.chars() {
            self.media_events.push_back(MediaEvent::Digit {
                session,
                digit: d,
                source: DigitSource::Rfc4733,
            });
            let barge = {
                let mut m = self.media.lock();
                let b = matches!(
                    m.playing.get(&session),
                    Some(media::Playing::Prompts { barge_in: true, .. })
                );
                if b {
                    m.playing.remove(&session);
                }
                b
            };
            if barge {
                self.media_events.push_back(MediaEvent::PromptFinished {
                    session,
                    interrupted: true,
                });
            }
            self.settle();
        }
    }

    /// The switch's media session a UA call sends its RTP to (from the SDP it received).
    pub fn session_of(&self, who: &str, call: u32) -> Option<SessionId> {
        let name = self
            .agents
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let p = &self.phones[self.phone_index(&name)];
        let port = p.call(call)?.remote_sdp.as_ref()?.audio()?.port;
        self.media.lock().session_at_port(port)
    }

    pub fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }

    /// The live call (in the core) whose agent is `agent`.
    pub fn call_of(&self, agent: &str) -> Option<CallSnapshot> {
        self.snapshot()
            .calls
            .into_iter()
            .find(|c| c.agent.as_deref() == Some(agent))
    }

    /// The one live UA call on a phone (ringing or connected).
    pub fn live_call(&self, who: &str) -> Option<u32> {
        let name = self
            .agents
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let p = &self.phones[self.phone_index(&name)];
        p.live().last().map(|c| c.id)
    }

    pub fn ua_state(&self, who: &str, call: u32) -> Option<UaState> {
        let name = self
            .agents
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        let p = &self.phones[self.phone_index(&name)];
        p.call(call).map(|c| c.state)
    }

    /// The call-record events of a call, by kind name (`arrived`, `offered`, `ended` ...).
    pub fn record_kinds(&self, call: &str) -> Vec<String> {
        self.store
            .records
            .get(call)
            .map(|evs| evs.iter().map(|e| kind_name(&e.kind)).collect())
            .unwrap_or_default()
    }

    /// A caller from the PSTN reaches `agent` through the sales queue (every other agent is
    /// made not ready first); returns the trunk's call id and the core's call id.
    pub fn connected_call(&mut self, agent: &str, from: &str) -> (u32, String) {
        let others: Vec<String> = self
            .cfg
            .agents
            .iter()
            .map(|(a, _)| a.clone())
            .filter(|a| a != agent)
            .collect();
        for o in &others {
            let _ = self.not_ready(o, "busy elsewhere");
        }
        let trunk_call = self.pstn_call(from, SALES_NUMBER);
        self.advance(Duration::from_secs(4));
        let c = self
            .call_of(agent)
            .unwrap_or_else(|| panic!("{agent} is not connected: {:?}", self.snapshot()));
        assert!(c.connected, "{c:?}");
        (trunk_call, c.id)
    }

    /// The media session of the caller's leg (A) and of a phone's leg.
    pub fn sessions(&self, trunk_call: u32, who: &str) -> (SessionId, SessionId) {
        let a = self
            .session_of("trunk", trunk_call)
            .expect("caller's session");
        let call = self.live_call(who).expect("a live call");
        let b = self.session_of(who, call).expect("phone's session");
        (a, b)
    }

    /// The bridge partner of a media session, if relayed.
    pub fn bridged_with(&self, s: SessionId) -> Option<SessionId> {
        self.media.lock().bridges.get(&s).copied()
    }

    /// The one live mixer: its parties and matrix.
    pub fn mixer(&self) -> Option<media::Mixer> {
        let m = self.media.lock();
        assert!(m.mixers.len() <= 1, "{:?}", m.mixers);
        m.mixers.values().next().cloned()
    }

    // ----- invariants -------------------------------------------------------------------

    /// What must hold after every step (see `tests/random_ops.rs`).
    pub fn check_invariants(&self) -> Result<(), String> {
        let snap = self.snapshot();
        let now = self.now;
        // Call records: at most one `ended`, nothing after it, in sequence; none for a live
        // call.
        if let Some(v) = self.store.violations.first() {
            return Err(v.clone());
        }
        for c in &snap.calls {
            if self.store.ended(&c.id) > 0 {
                return Err(format!("call {} is live but its record has ended", c.id));
            }
        }
        // Agents (logged in to routing): on at most one call, and routing agrees.
        for agent in self.cfg.agents.iter().map(|(a, _)| a) {
            let mine: Vec<&CallSnapshot> = snap
                .calls
                .iter()
                .filter(|c| {
                    c.agent.as_deref() == Some(agent)
                        || c.offered.as_deref() == Some(agent)
                        || c.consulted.as_deref() == Some(agent)
                        || c.direct_agents.iter().any(|a| a == agent)
                        || c.rung_agents.iter().any(|a| a == agent)
                })
                .collect();
            if mine.len() > 1 {
                return Err(format!(
                    "agent {agent} is on {} calls: {:?}",
                    mine.len(),
                    mine.iter().map(|c| &c.id).collect::<Vec<_>>()
                ));
            }
            let ext = &self.agents[agent];
            let phone = &self.phones[self.phone_index(ext)];
            let live = phone.live().count();
            if live > 1 {
                return Err(format!("agent {agent}'s phone has {live} live calls"));
            }
            let state = self
                .acd
                .agent_state(&AgentId::new(agent.as_str()))
                .cloned()
                .unwrap_or(AgentState::LoggedOut);
            let talking = mine.first().is_some_and(|c| {
                c.agent.as_deref() == Some(agent)
                    || c.direct_agents.iter().any(|a| a == agent)
                    || (c.consulted.as_deref() == Some(agent)
                        && !c.rung_agents.iter().any(|a| a == agent))
            });
            let ringing = mine.first().is_some_and(|c| {
                c.offered.as_deref() == Some(agent) || c.rung_agents.iter().any(|a| a == agent)
            });
            match &state {
                AgentState::Reserved { call, deadline } => {
                    if *deadline < now {
                        return Err(format!(
                            "agent {agent}'s reservation for {call} outlived its deadline"
                        ));
                    }
                    if !ringing {
                        return Err(format!(
                            "routing has {agent} reserved for {call}; call control rings them for nothing ({:?})",
                            mine.first()
                        ));
                    }
                }
                AgentState::OnCall { call, .. } => {
                    if !talking {
                        return Err(format!(
                            "routing has {agent} on call {call}; call control has them on {:?}",
                            mine.first()
                        ));
                    }
                }
                other => {
                    if let Some(c) = mine.first() {
                        return Err(format!(
                            "routing has {agent} {}; call control has them on {c:?}",
                            other.name()
                        ));
                    }
                }
            }
        }
        // No phone rings longer than the switch lets it (its ring time-out).
        let ring = Duration::from_secs(SipConfig::default().ring_timeout_secs);
        for p in &self.phones {
            for c in p.live() {
                if !c.outgoing && c.state == UaState::Ringing && now - c.started > ring {
                    return Err(format!(
                        "phone {} has rung for {:?} (call {})",
                        p.name,
                        now - c.started,
                        c.id
                    ));
                }
            }
        }
        let misuse = &self.media.lock().misuse;
        if !misuse.is_empty() {
            return Err(format!("media misuse: {misuse:?}"));
        }
        Ok(())
    }

    /// Hangs up every phone and lets time run until nothing is left (callbacks included);
    /// `Err` when something is still there after `limit`.
    pub fn wind_down(&mut self, limit: Duration) -> Result<(), String> {
        let until = self.now + limit;
        let agents: Vec<String> = self.cfg.agents.iter().map(|(a, _)| a.clone()).collect();
        // Every phone is registered again and answers: callbacks still waiting get dialled.
        self.store.hold = false;
        for work in self.store.held.drain(..).collect::<Vec<_>>() {
            if let Some(c) = self.store.perform(work) {
                self.completions.push_back(c);
            }
        }
        for i in 0..self.phones.len() {
            let now = self.now;
            let p = &mut self.phones[i];
            p.policy = Policy::Answer(Duration::from_secs(1));
            if p.ext.is_some() && !p.wants_registration {
                p.register(now, 3600);
            }
            self.flush_phone(i);
        }
        self.settle();
        while self.now < until {
            for i in 0..self.phones.len() {
                let now = self.now;
                for id in self.phones[i].live_ids() {
                    self.phones[i].hangup(now, id);
                }
                self.flush_phone(i);
            }
            self.settle();
            for a in &agents {
                if matches!(
                    self.agent_state(a),
                    Some(AgentState::WrapUp { .. } | AgentState::NotReady { .. })
                ) {
                    let _ = self.ready(a);
                }
            }
            self.advance(Duration::from_secs(5));
            let idle = self.snapshot().calls.is_empty()
                && self.acd.call_count() == 0
                && self.phones.iter().all(|p| p.live().count() == 0);
            if idle {
                break;
            }
        }
        // Let every stale timer and IVR timer run out; then the phones switch off
        // (unregister: no more keep-alives) and every transaction ends.
        self.advance(Duration::from_secs(1000));
        for i in 0..self.phones.len() {
            if self.phones[i].ext.is_some() {
                let now = self.now;
                self.phones[i].register(now, 0);
                self.flush_phone(i);
            }
        }
        self.advance(Duration::from_secs(60));
        self.check_end()
    }

    /// What must hold when everything has ended.
    pub fn check_end(&self) -> Result<(), String> {
        let snap = self.snapshot();
        let mut problems = Vec::new();
        if !snap.calls.is_empty() {
            problems.push(format!("calls left: {:?}", snap.calls));
        }
        if snap.transactions != 0 {
            problems.push(format!("{} call transactions left", snap.transactions));
        }
        if snap.dialogs != 0 {
            problems.push(format!("{} dialogs left", snap.dialogs));
        }
        if snap.media_sessions != 0 {
            problems.push(format!("{} media session ids left", snap.media_sessions));
        }
        if snap.timers != 1 {
            problems.push(format!(
                "{} timers left (only housekeeping should be)",
                snap.timers
            ));
        }
        if snap.sip_transactions != 0 {
            problems.push(format!("{} SIP transactions left", snap.sip_transactions));
        }
        {
            let m = self.media.lock();
            if !m.sessions.is_empty() {
                problems.push(format!("media sessions left: {:?}", m.sessions.keys()));
            }
            if !m.mixers.is_empty() {
                problems.push(format!("mixers left: {:?}", m.mixers));
            }
            if !m.recordings.is_empty() {
                problems.push(format!("recordings left: {:?}", m.recordings));
            }
        }
        if self.acd.call_count() != 0 {
            problems.push(format!(
                "routing still holds {} calls",
                self.acd.call_count()
            ));
        }
        for (id, evs) in &self.store.records {
            let ended = self.store.ended(id);
            if ended != 1 {
                problems.push(format!(
                    "call {id} has {ended} `ended` events: {:?}",
                    evs.iter().map(|e| kind_name(&e.kind)).collect::<Vec<_>>()
                ));
            }
        }
        for p in &self.phones {
            if p.live().count() != 0 {
                problems.push(format!("phone {} still has calls", p.name));
            }
            if p.transaction_count() != 0 {
                problems.push(format!(
                    "phone {} has {} transactions",
                    p.name,
                    p.transaction_count()
                ));
            }
        }
        for (a, _) in &self.cfg.agents {
            if let Some(AgentState::OnCall { .. } | AgentState::Reserved { .. }) =
                self.agent_state(a)
            {
                problems.push(format!("agent {a} is {:?}", self.agent_state(a)))
            }
        }
        if problems.is_empty() {
            self.check_invariants()
        } else {
            Err(problems.join("\n"))
        }
    }
}

pub fn kind_name(k: &CallEventKind) -> String {
    match k {
        CallEventKind::Arrived { .. } => "arrived".into(),
        CallEventKind::Identified { .. } => "identified".into(),
        CallEventKind::Ivr { .. } => "ivr".into(),
        CallEventKind::Enqueued { queue_id, .. } => format!("enqueued:{queue_id}"),
        CallEventKind::Offered { agent_id } => format!("offered:{agent_id}"),
        CallEventKind::Answered { agent_id } => format!("answered:{agent_id}"),
        CallEventKind::Held => "held".into(),
        CallEventKind::Resumed { .. } => "resumed".into(),
        CallEventKind::Transferred { to } => format!("transferred:{to}"),
        CallEventKind::Ended { reason, .. } => format!("ended:{reason}"),
        CallEventKind::Note { what, .. } => format!("note:{what}"),
        CallEventKind::Quality(q) => format!("quality:{}", q.leg),
        #[allow(unreachable_patterns)]
        _ => "other".into(),
    }
}
