//! Routing: the `hotline-acd` engine in one tokio task, the single writer of agent and queue
//! state (DESIGN.md "one writer per piece of state").
//!
//! # The API (stable: call control and the CTI server code against it)
//!
//! * [`spawn`] starts the actor from a [`RoutingSetup`] (the queues of `config/queues.toml`, read
//!   with [`load_queues`] or [`RoutingSetup::from_file`]) and returns a cloneable [`RoutingHandle`].
//! * **Decisions** ([`Decision`]: `Offer`, `CancelOffer`, `Overflow`, `DialCallback`,
//!   `Announce`) go to exactly ONE receiver, which call control takes once with
//!   [`RoutingHandle::take_decisions`]. The channel is unbounded so the actor never waits for call
//!   control (call control may await the handle while decisions pile up: no deadlock).
//! * **Events** ([`RoutingEvent`]: every ACD [`AcdEvent`] with a wall-clock stamp) are broadcast
//!   to any number of subscribers ([`RoutingHandle::subscribe`]); the CTI server turns agent state
//!   changes into `agent_state_changed` events. Every agent state change is also appended to the
//!   store's `agent_state_events` (in order, by a writer task, so the actor never waits for SQL).
//! * **Commands**: one async method per ACD command, each answering with the engine's verdict
//!   ([`RoutingError::Acd`] wraps [`AcdError`]; a refused command changed nothing):
//!   [`login`](RoutingHandle::login) (skills from the store),
//!   [`login_with_skills`](RoutingHandle::login_with_skills), [`ready`](RoutingHandle::ready),
//!   [`not_ready`](RoutingHandle::not_ready), [`logout`](RoutingHandle::logout),
//!   [`desktop_lost`](RoutingHandle::desktop_lost), [`set_skills`](RoutingHandle::set_skills),
//!   [`enqueue`](RoutingHandle::enqueue), [`enqueue_callback`](RoutingHandle::enqueue_callback),
//!   [`request_callback`](RoutingHandle::request_callback),
//!   [`callback_connected`](RoutingHandle::callback_connected),
//!   [`callback_failed`](RoutingHandle::callback_failed), [`answer`](RoutingHandle::answer),
//!   [`no_answer`](RoutingHandle::no_answer), [`reject`](RoutingHandle::reject),
//!   [`set_call_sub_state`](RoutingHandle::set_call_sub_state),
//!   [`hangup`](RoutingHandle::hangup) / [`abandon`](RoutingHandle::abandon),
//!   [`wrapup_done`](RoutingHandle::wrapup_done).
//! * **Queries**: [`agent_state`](RoutingHandle::agent_state),
//!   [`position`](RoutingHandle::position), [`estimated_wait`](RoutingHandle::estimated_wait),
//!   [`queue_stats`](RoutingHandle::queue_stats), [`board`](RoutingHandle::board) (the live
//!   figures behind the supervisors' wallboard), [`queues`](RoutingHandle::queues).
//!
//! Ids are `hotline_acd` ids (`AgentId::new("alice")`, `CallId::new(call_id)`,
//! `QueueId::new("sales")`), the same strings as everywhere else.
//!
//! # The actor's loop
//!
//! After every command it drains `poll_decision` and `poll_event`, then re-arms one
//! `sleep_until(poll_timeout)`. Time comes from `tokio::time::Instant` (so tests may pause it).
//!
//! ```no_run
//! # async fn demo(store: hotline_store::Store) -> Result<(), Box<dyn std::error::Error>> {
//! use hotline_acd::{AgentId, CallId, Decision, Priority, QueueId};
//! use hotline_switch::routing::{self, RoutingSetup};
//!
//! let setup = RoutingSetup::from_file(std::path::Path::new("config/queues.toml"))?;
//! let routing = routing::spawn(setup, Some(store));
//! let mut decisions = routing.take_decisions().expect("taken once, by call control");
//! routing.login(&AgentId::new("alice")).await?; // skills from the store
//! routing.ready(&AgentId::new("alice")).await?;
//! routing.enqueue(&CallId::new("c-1"), &QueueId::new("sales"), Priority::NORMAL).await?;
//! while let Some(decision) = decisions.recv().await {
//!     if let Decision::Offer { call, agent, .. } = decision {
//!         // ring the agent's phone, publish CallNotice::Offered with the screen pop ...
//! #       let _ = (call, agent);
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_acd::{Acd, EndReason};
pub use hotline_acd::{
    AcdConfig, AcdError, AgentId, AgentState, CallId, CallSubState, Decision, Event as AcdEvent,
    Priority, QueueConfig, QueueId, QueueStats, SkillId,
};
use hotline_store::{AgentStateEvent, Store};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::config::{ConfigError, find_key_line, parse_toml};

/// Why a routing command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// The engine refused the command (unknown id, wrong state); nothing changed.
    #[error(transparent)]
    Acd(#[from] AcdError),
    /// The agent's skills could not be read from the store.
    #[error("cannot read the agent's skills: {0}")]
    Store(String),
    /// The routing task has stopped (shutdown).
    #[error("routing is not running")]
    Stopped,
}

/// One queue of `config/queues.toml`: the ACD's queue plus what people see.
#[derive(Debug, Clone)]
pub struct QueueDef {
    /// Display name (wallboard, screen pop).
    pub name: String,
    /// Service-level threshold: answered within this many seconds counts as "in service level".
    pub service_level_secs: u32,
    /// The routing rules (id, requires, strategy, ring_timeout, wrap_up, widening, overflow ...).
    pub acd: QueueConfig,
    /// How long the queue's work (tickets, voicemails) may wait, by priority (`low`, `normal`,
    /// `high`, `urgent`); a priority not named has no due time.
    pub work_due: BTreeMap<String, Duration>,
}

#[derive(Debug, Deserialize)]
struct QueueExtra {
    #[serde(default)]
    name: String,
    #[serde(default = "default_sl")]
    service_level_secs: u32,
    #[serde(default)]
    work_due_mins: WorkDueMins,
}

/// `work_due_mins = { normal = 1440, high = 240 }`: minutes, per ticket priority.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkDueMins {
    low: Option<u32>,
    normal: Option<u32>,
    high: Option<u32>,
    urgent: Option<u32>,
}

impl WorkDueMins {
    fn to_map(&self) -> BTreeMap<String, Duration> {
        [
            ("low", self.low),
            ("normal", self.normal),
            ("high", self.high),
            ("urgent", self.urgent),
        ]
        .into_iter()
        .filter_map(|(p, m)| m.map(|m| (p.to_string(), Duration::from_secs(u64::from(m) * 60))))
        .collect()
    }
}

fn default_sl() -> u32 {
    20
}

/// Keys a `[[queues]]` table may have.
const QUEUE_KEYS: &[&str] = &[
    "id",
    "name",
    "service_level_secs",
    "requires",
    "strategy",
    "ring_timeout",
    "wrap_up",
    "default_handle_time",
    "widening",
    "overflow",
    "announce",
    "callback_attempts",
    "callback_retry_delay",
    "work_due_mins",
];

#[derive(Debug, Deserialize)]
struct QueuesFile<Q> {
    #[serde(default = "Vec::new")]
    queues: Vec<Q>,
}

/// A queue's skill requirements: (skill, minimum proficiency) pairs, all needed.
type SkillNeeds = Vec<(String, u8)>;

/// Everything the routing task starts from.
#[derive(Debug, Clone)]
pub struct RoutingSetup {
    /// The queues, in file order.
    pub queues: Vec<QueueDef>,
}

impl RoutingSetup {
    /// Reads and validates a queues file (see `config/queues.toml`).
    pub fn from_file(path: &Path) -> Result<RoutingSetup, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        RoutingSetup::parse(path, &text)
    }

    /// Parses and validates queues text; `path` is used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<RoutingSetup, ConfigError> {
        // Two typed passes keep toml's spans (so errors have lines); a third finds unknown keys.
        let rules: QueuesFile<QueueConfig> = parse_toml(path, text)?;
        let extra: QueuesFile<QueueExtra> = parse_toml(path, text)?;
        let raw: toml::Table = parse_toml(path, text)?;
        for key in raw.keys() {
            if key != "queues" {
                return Err(ConfigError {
                    file: path.to_path_buf(),
                    line: find_key_line(text, key),
                    key: Some(key.clone()),
                    message: "unknown key (expected only [[queues]] tables)".into(),
                });
            }
        }
        if let Some(toml::Value::Array(qs)) = raw.get("queues") {
            for q in qs.iter().filter_map(toml::Value::as_table) {
                if let Some(k) = q.keys().find(|k| !QUEUE_KEYS.contains(&k.as_str())) {
                    return Err(ConfigError {
                        file: path.to_path_buf(),
                        line: find_key_line(text, &format!("queues.{k}")),
                        key: Some(format!("queues.{k}")),
                        message: format!("unknown key; expected one of {}", QUEUE_KEYS.join(", ")),
                    });
                }
            }
        }
        let setup = RoutingSetup {
            queues: rules
                .queues
                .into_iter()
                .zip(extra.queues)
                .map(|(acd, x)| QueueDef {
                    name: x.name,
                    service_level_secs: x.service_level_secs,
                    work_due: x.work_due_mins.to_map(),
                    acd,
                })
                .collect(),
        };
        if let Err(e) = setup.acd_config().validate() {
            // The ACD names the queue; point at the first `[[queues]]` line as the place.
            return Err(ConfigError {
                file: path.to_path_buf(),
                line: text
                    .lines()
                    .position(|l| l.trim() == "[[queues]]")
                    .map(|i| i + 1),
                key: Some("queues".into()),
                message: e.to_string(),
            });
        }
        for q in &setup.queues {
            if q.service_level_secs == 0 {
                return Err(ConfigError {
                    file: path.to_path_buf(),
                    line: find_key_line(text, "queues.service_level_secs"),
                    key: Some("queues.service_level_secs".into()),
                    message: format!("queue {}: must be at least 1 second", q.acd.id),
                });
            }
        }
        Ok(setup)
    }

    /// The engine's configuration.
    pub fn acd_config(&self) -> AcdConfig {
        AcdConfig {
            queues: self.queues.iter().map(|q| q.acd.clone()).collect(),
        }
    }
}

/// The shipped `config/queues.toml`, built in (used when `[routing] queues_file` is unset).
pub const DEFAULT_QUEUES: &str = include_str!("../../config/queues.toml");

/// The queues for a configuration: `[routing] queues_file`, or the built-in default.
pub fn load_queues(cfg: &crate::config::Config) -> Result<RoutingSetup, ConfigError> {
    match &cfg.routing.queues_file {
        Some(p) => RoutingSetup::from_file(&cfg.resolve(p)),
        None => RoutingSetup::parse(Path::new("<built-in config/queues.toml>"), DEFAULT_QUEUES),
    }
}

/// An ACD event with the wall-clock time it was observed (Unix milliseconds).
#[derive(Debug, Clone)]
pub struct RoutingEvent {
    /// Wall-clock stamp for records and desktops.
    pub at_ms: i64,
    /// The engine's event (its `at` is a monotonic `Instant`).
    pub event: AcdEvent,
}

/// One queue's live figures for the wallboard.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBoard {
    pub queue: QueueId,
    pub name: String,
    pub stats: QueueStats,
    /// The longest wait among calls waiting now (not ringing).
    pub longest_wait: Duration,
    /// Since the start of the (UTC) day.
    pub offered: u32,
    pub answered: u32,
    pub abandoned: u32,
    /// Answered within the threshold since the start of the day.
    pub answered_in_sl: u32,
    /// Sum of the waits of the answered calls (for ASA).
    pub answered_wait: Duration,
    pub service_level_secs: u32,
    /// Agents qualifying for the queue (base step) per state.
    pub ready: u32,
    pub busy: u32,
    pub wrap_up: u32,
    pub not_ready: u32,
}

impl QueueBoard {
    /// Service level in per mille: answered within the threshold / (answered + abandoned).
    /// 1000 when nothing was offered yet. (See docs/kpis.md.)
    pub fn service_level_permille(&self) -> u16 {
        let denom = u64::from(self.answered) + u64::from(self.abandoned);
        if denom == 0 {
            return 1000;
        }
        (u64::from(self.answered_in_sl) * 1000 / denom) as u16
    }

    /// Average speed of answer.
    pub fn asa(&self) -> Duration {
        if self.answered == 0 {
            Duration::ZERO
        } else {
            self.answered_wait / self.answered
        }
    }
}

/// One agent's live row for the wallboard.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentBoard {
    pub agent: AgentId,
    pub state: AgentState,
    /// Wall-clock time the agent entered `state`.
    pub since_ms: i64,
    /// Calls answered since the start of the (UTC) day.
    pub handled_today: u32,
}

/// Everything a wallboard shows, computed by the routing task in one go.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub queues: Vec<QueueBoard>,
    /// Every agent that is logged in.
    pub agents: Vec<AgentBoard>,
}

type Reply<T> = oneshot::Sender<Result<T, AcdError>>;

enum Cmd {
    Login(AgentId, Vec<(SkillId, u8)>, Reply<()>),
    SetSkills(AgentId, Vec<(SkillId, u8)>, Reply<()>),
    Ready(AgentId, Reply<()>),
    NotReady(AgentId, String, Reply<()>),
    Logout(AgentId, Reply<()>),
    DesktopLost(AgentId, Reply<()>),
    Enqueue(CallId, QueueId, Priority, Reply<()>),
    EnqueueCallback(CallId, QueueId, Priority, Reply<()>),
    RequestCallback(CallId, Reply<()>),
    CallbackConnected(CallId, Reply<()>),
    CallbackFailed(CallId, Reply<()>),
    Answer(CallId, AgentId, Reply<()>),
    NoAnswer(AgentId, Reply<()>),
    Reject(AgentId, Reply<()>),
    SubState(AgentId, CallSubState, Reply<()>),
    Hangup(CallId, Reply<()>),
    DirectStarted(AgentId, CallId, Reply<()>),
    DirectEnded(AgentId, CallId, Reply<()>),
    DirectMissed(AgentId, CallId, Reply<()>),
    ContinueDirect(CallId, CallId, Reply<()>),
    WrapupDone(AgentId, Reply<()>),
    AgentState(AgentId, oneshot::Sender<Option<AgentState>>),
    Position(CallId, oneshot::Sender<Option<(usize, Option<Duration>)>>),
    QueueStats(QueueId, oneshot::Sender<Option<QueueStats>>),
    Board(oneshot::Sender<Board>),
}

/// A cheap, cloneable handle on the routing task.
#[derive(Clone)]
pub struct RoutingHandle {
    tx: mpsc::Sender<Cmd>,
    events: broadcast::Sender<RoutingEvent>,
    decisions: Arc<Mutex<Option<mpsc::UnboundedReceiver<Decision>>>>,
    store: Option<Store>,
    queues: Arc<Vec<(QueueId, String)>>,
    /// Each queue's skill requirements, in file order.
    requirements: Arc<Vec<(QueueId, SkillNeeds)>>,
    /// Each queue's work due times by priority (`work_due_mins`).
    work_due: Arc<HashMap<String, BTreeMap<String, Duration>>>,
}

/// Starts the routing task. With a store, agent skills are read from it at
/// [`RoutingHandle::login`] and state changes are written to `agent_state_events`.
pub fn spawn(setup: RoutingSetup, store: Option<Store>) -> RoutingHandle {
    let acd = match Acd::new(setup.acd_config(), tokio::time::Instant::now().into_std()) {
        Ok(acd) => acd,
        Err(e) => {
            // `RoutingSetup::parse` validated it; a setup built by hand may not be.
            tracing::error!(error = %e, "invalid routing configuration; starting with no queues");
            Acd::new(AcdConfig::default(), tokio::time::Instant::now().into_std())
                .unwrap_or_else(|_| unreachable!("an empty configuration is valid"))
        }
    };
    let (tx, rx) = mpsc::channel(4096);
    let (events, _) = broadcast::channel(8192);
    let (dtx, drx) = mpsc::unbounded_channel();
    let writer = store.clone().map(spawn_state_writer);
    let queues: Vec<(QueueId, String)> = setup
        .queues
        .iter()
        .map(|q| {
            let name = if q.name.is_empty() {
                q.acd.id.to_string()
            } else {
                q.name.clone()
            };
            (q.acd.id.clone(), name)
        })
        .collect();
    let requirements: Vec<(QueueId, SkillNeeds)> = setup
        .queues
        .iter()
        .map(|q| {
            let needs = q
                .acd
                .requires
                .iter()
                .map(|r| (r.skill.to_string(), r.min))
                .collect();
            (q.acd.id.clone(), needs)
        })
        .collect();
    let work_due: HashMap<String, BTreeMap<String, Duration>> = setup
        .queues
        .iter()
        .filter(|q| !q.work_due.is_empty())
        .map(|q| (q.acd.id.to_string(), q.work_due.clone()))
        .collect();
    let actor = Actor {
        acd,
        queues: setup.queues,
        decisions: dtx,
        events: events.clone(),
        writer,
        live: Live::default(),
    };
    tokio::spawn(actor.run(rx));
    RoutingHandle {
        tx,
        events,
        decisions: Arc::new(Mutex::new(Some(drx))),
        store,
        queues: Arc::new(queues),
        requirements: Arc::new(requirements),
        work_due: Arc::new(work_due),
    }
}

macro_rules! ask {
    ($self:ident, $variant:ident $(, $arg:expr)*) => {{
        let (reply, rx) = oneshot::channel();
        $self
            .tx
            .send(Cmd::$variant($($arg,)* reply))
            .await
            .map_err(|_| RoutingError::Stopped)?;
        rx.await.map_err(|_| RoutingError::Stopped)?.map_err(RoutingError::from)
    }};
}

macro_rules! query {
    ($self:ident, $variant:ident $(, $arg:expr)*) => {{
        let (reply, rx) = oneshot::channel();
        $self
            .tx
            .send(Cmd::$variant($($arg,)* reply))
            .await
            .map_err(|_| RoutingError::Stopped)?;
        rx.await.map_err(|_| RoutingError::Stopped)
    }};
}

impl RoutingHandle {
    /// The decision stream, for call control. `Some` exactly once.
    pub fn take_decisions(&self) -> Option<mpsc::UnboundedReceiver<Decision>> {
        self.decisions.lock().ok().and_then(|mut d| d.take())
    }

    /// Every ACD event from now on. A subscriber that falls more than 8192 events behind gets
    /// `RecvError::Lagged` and should re-read the state with the queries.
    pub fn subscribe(&self) -> broadcast::Receiver<RoutingEvent> {
        self.events.subscribe()
    }

    /// The configured queues with their display names, in file order.
    pub fn queues(&self) -> &[(QueueId, String)] {
        &self.queues
    }

    /// Each queue's work due times by ticket priority (queues without `work_due_mins` absent).
    pub fn work_due(&self) -> HashMap<String, BTreeMap<String, Duration>> {
        self.work_due.as_ref().clone()
    }

    /// The queues an agent with these skills (skill, proficiency) can take calls from: every
    /// skill a queue requires at its minimum proficiency or better.
    pub fn queues_for(&self, skills: &[(String, u8)]) -> Vec<QueueId> {
        self.requirements
            .iter()
            .filter(|(_, needs)| {
                needs
                    .iter()
                    .all(|(skill, min)| skills.iter().any(|(s, p)| s == skill && p >= min))
            })
            .map(|(q, _)| q.clone())
            .collect()
    }

    /// Logs an agent in with the skills stored for it (starts not ready, reason `login`).
    pub async fn login(&self, agent: &AgentId) -> Result<(), RoutingError> {
        let skills = match &self.store {
            Some(store) => store
                .agent_skills(agent.as_str())
                .await
                .map_err(|e| RoutingError::Store(e.to_string()))?
                .into_iter()
                .map(|s| {
                    (
                        SkillId::new(s.skill),
                        u8::try_from(s.proficiency).unwrap_or(0),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        self.login_with_skills(agent, skills).await
    }

    /// Logs an agent in with the given skills (proficiency 1..=5).
    pub async fn login_with_skills(
        &self,
        agent: &AgentId,
        skills: Vec<(SkillId, u8)>,
    ) -> Result<(), RoutingError> {
        ask!(self, Login, agent.clone(), skills)
    }

    /// Replaces an agent's skills; routing uses them at once.
    pub async fn set_skills(
        &self,
        agent: &AgentId,
        skills: Vec<(SkillId, u8)>,
    ) -> Result<(), RoutingError> {
        ask!(self, SetSkills, agent.clone(), skills)
    }

    pub async fn ready(&self, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, Ready, agent.clone())
    }

    pub async fn not_ready(&self, agent: &AgentId, reason: &str) -> Result<(), RoutingError> {
        ask!(self, NotReady, agent.clone(), reason.to_string())
    }

    pub async fn logout(&self, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, Logout, agent.clone())
    }

    /// The agent's desktop connection is gone: not ready `disconnected`; a call in progress
    /// continues (the phone carries the audio).
    pub async fn desktop_lost(&self, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, DesktopLost, agent.clone())
    }

    pub async fn enqueue(
        &self,
        call: &CallId,
        queue: &QueueId,
        priority: Priority,
    ) -> Result<(), RoutingError> {
        ask!(self, Enqueue, call.clone(), queue.clone(), priority)
    }

    pub async fn enqueue_callback(
        &self,
        call: &CallId,
        queue: &QueueId,
        priority: Priority,
    ) -> Result<(), RoutingError> {
        ask!(self, EnqueueCallback, call.clone(), queue.clone(), priority)
    }

    pub async fn request_callback(&self, call: &CallId) -> Result<(), RoutingError> {
        ask!(self, RequestCallback, call.clone())
    }

    pub async fn callback_connected(&self, call: &CallId) -> Result<(), RoutingError> {
        ask!(self, CallbackConnected, call.clone())
    }

    pub async fn callback_failed(&self, call: &CallId) -> Result<(), RoutingError> {
        ask!(self, CallbackFailed, call.clone())
    }

    /// The reserved agent's phone answered.
    pub async fn answer(&self, call: &CallId, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, Answer, call.clone(), agent.clone())
    }

    /// The reserved agent's phone refused or timed out.
    pub async fn no_answer(&self, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, NoAnswer, agent.clone())
    }

    /// The reserved agent rejected the offer (desktop Reject, or the phone declined): the
    /// call goes back to its place, the agent becomes not ready `rejected`.
    pub async fn reject(&self, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, Reject, agent.clone())
    }

    /// Talking / hold / consulting.
    pub async fn set_call_sub_state(
        &self,
        agent: &AgentId,
        sub: CallSubState,
    ) -> Result<(), RoutingError> {
        ask!(self, SubState, agent.clone(), sub)
    }

    /// The call is over (caller or agent hung up, before or after connect).
    pub async fn hangup(&self, call: &CallId) -> Result<(), RoutingError> {
        ask!(self, Hangup, call.clone())
    }

    /// The agent is on a call the queues did not route (click-to-dial, internal, consulted).
    pub async fn direct_call_started(
        &self,
        agent: &AgentId,
        call: &CallId,
    ) -> Result<(), RoutingError> {
        ask!(self, DirectStarted, agent.clone(), call.clone())
    }

    /// That direct call ended: wrap-up, or back to not ready.
    pub async fn direct_call_ended(
        &self,
        agent: &AgentId,
        call: &CallId,
    ) -> Result<(), RoutingError> {
        ask!(self, DirectEnded, agent.clone(), call.clone())
    }

    /// That direct call rang the agent and ended unanswered: back as before, no wrap-up.
    pub async fn direct_call_missed(
        &self,
        agent: &AgentId,
        call: &CallId,
    ) -> Result<(), RoutingError> {
        ask!(self, DirectMissed, agent.clone(), call.clone())
    }

    /// A connected queue call (a consultation through a queue) goes on as the agent's direct
    /// call `direct`.
    pub async fn continue_as_direct(
        &self,
        call: &CallId,
        direct: &CallId,
    ) -> Result<(), RoutingError> {
        ask!(self, ContinueDirect, call.clone(), direct.clone())
    }

    /// Same as [`RoutingHandle::hangup`]; reads better for a caller who gave up waiting.
    pub async fn abandon(&self, call: &CallId) -> Result<(), RoutingError> {
        ask!(self, Hangup, call.clone())
    }

    /// The agent ends wrap-up early.
    pub async fn wrapup_done(&self, agent: &AgentId) -> Result<(), RoutingError> {
        ask!(self, WrapupDone, agent.clone())
    }

    /// The agent's state; `None` if the agent never logged in.
    pub async fn agent_state(&self, agent: &AgentId) -> Result<Option<AgentState>, RoutingError> {
        query!(self, AgentState, agent.clone())
    }

    /// Position (1-based) of a waiting call in its queue.
    pub async fn position(&self, call: &CallId) -> Result<Option<usize>, RoutingError> {
        Ok(query!(self, Position, call.clone())?.map(|p| p.0))
    }

    /// Estimated wait of a waiting call.
    pub async fn estimated_wait(&self, call: &CallId) -> Result<Option<Duration>, RoutingError> {
        Ok(query!(self, Position, call.clone())?.and_then(|p| p.1))
    }

    /// A queue's live statistics.
    pub async fn queue_stats(&self, queue: &QueueId) -> Result<Option<QueueStats>, RoutingError> {
        query!(self, QueueStats, queue.clone())
    }

    /// The wallboard figures.
    pub async fn board(&self) -> Result<Board, RoutingError> {
        query!(self, Board)
    }
}

/// Figures the actor keeps beside the engine, from the events it drains.
#[derive(Default)]
struct Live {
    /// UTC day (ms / 86 400 000) the daily counters belong to.
    day: i64,
    /// Calls waiting (not ringing): queue and first enqueue time.
    waiting: HashMap<CallId, (QueueId, Instant)>,
    /// Queue of every call the engine holds, and when it was first queued.
    calls: HashMap<CallId, (QueueId, Instant)>,
    daily: HashMap<QueueId, Daily>,
    handled: HashMap<AgentId, u32>,
    since: HashMap<AgentId, i64>,
    skills: HashMap<AgentId, Vec<(SkillId, u8)>>,
}

#[derive(Default, Clone, Copy)]
struct Daily {
    offered: u32,
    answered: u32,
    abandoned: u32,
    in_sl: u32,
    wait: Duration,
}

struct Actor {
    acd: Acd,
    queues: Vec<QueueDef>,
    decisions: mpsc::UnboundedSender<Decision>,
    events: broadcast::Sender<RoutingEvent>,
    writer: Option<mpsc::UnboundedSender<AgentStateEvent>>,
    live: Live,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        loop {
            let wake = self.acd.poll_timeout();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                () = sleep => self.acd.handle_timeout(now()),
            }
            self.drain();
        }
        tracing::debug!("routing task stopped");
    }

    fn handle(&mut self, cmd: Cmd) {
        let t = now();
        match cmd {
            Cmd::Login(a, skills, r) => {
                let res = self.acd.login(t, &a, &skills);
                if res.is_ok() {
                    self.live.skills.insert(a, skills);
                }
                let _ = r.send(res);
            }
            Cmd::SetSkills(a, skills, r) => {
                let res = self.acd.set_skills(t, &a, &skills);
                if res.is_ok() {
                    self.live.skills.insert(a, skills);
                }
                let _ = r.send(res);
            }
            Cmd::Ready(a, r) => {
                let _ = r.send(self.acd.ready(t, &a));
            }
            Cmd::NotReady(a, reason, r) => {
                let _ = r.send(self.acd.not_ready(t, &a, &reason));
            }
            Cmd::Logout(a, r) => {
                let _ = r.send(self.acd.logout(t, &a));
            }
            Cmd::DesktopLost(a, r) => {
                let _ = r.send(self.acd.desktop_lost(t, &a));
            }
            Cmd::Enqueue(c, q, p, r) => {
                let _ = r.send(self.acd.enqueue(t, &c, &q, p));
            }
            Cmd::EnqueueCallback(c, q, p, r) => {
                let _ = r.send(self.acd.enqueue_callback(t, &c, &q, p));
            }
            Cmd::RequestCallback(c, r) => {
                let _ = r.send(self.acd.request_callback(t, &c));
            }
            Cmd::CallbackConnected(c, r) => {
                let _ = r.send(self.acd.callback_connected(t, &c));
            }
            Cmd::CallbackFailed(c, r) => {
                let _ = r.send(self.acd.callback_failed(t, &c));
            }
            Cmd::Answer(c, a, r) => {
                let _ = r.send(self.acd.answer(t, &c, &a));
            }
            Cmd::NoAnswer(a, r) => {
                let _ = r.send(self.acd.no_answer(t, &a));
            }
            Cmd::Reject(a, r) => {
                let _ = r.send(self.acd.reject(t, &a));
            }
            Cmd::SubState(a, s, r) => {
                let _ = r.send(self.acd.set_call_sub_state(t, &a, s));
            }
            Cmd::Hangup(c, r) => {
                let _ = r.send(self.acd.hangup(t, &c));
            }
            Cmd::DirectStarted(a, c, r) => {
                let _ = r.send(self.acd.direct_call_started(t, &a, &c));
            }
            Cmd::DirectEnded(a, c, r) => {
                let _ = r.send(self.acd.direct_call_ended(t, &a, &c));
            }
            Cmd::DirectMissed(a, c, r) => {
                let _ = r.send(self.acd.direct_call_missed(t, &a, &c));
            }
            Cmd::ContinueDirect(c, d, r) => {
                let _ = r.send(self.acd.continue_as_direct(t, &c, &d));
            }
            Cmd::WrapupDone(a, r) => {
                let _ = r.send(self.acd.wrapup_done(t, &a));
            }
            Cmd::AgentState(a, r) => {
                let _ = r.send(self.acd.agent_state(&a).cloned());
            }
            Cmd::Position(c, r) => {
                let _ = r.send(
                    self.acd
                        .position(&c)
                        .map(|p| (p, self.acd.estimated_wait(&c))),
                );
            }
            Cmd::QueueStats(q, r) => {
                let _ = r.send(self.acd.queue_stats(&q));
            }
            Cmd::Board(r) => {
                let _ = r.send(self.board(t));
            }
        }
    }

    /// The drive contract: after any input, drain decisions and events.
    fn drain(&mut self) {
        while let Some(d) = self.acd.poll_decision() {
            if let Decision::Offer { call, .. } = &d {
                self.live.waiting.remove(call);
            }
            let _ = self.decisions.send(d);
        }
        let at_ms = crate::app::now_millis();
        while let Some(e) = self.acd.poll_event() {
            self.observe(&e, at_ms);
            let _ = self.events.send(RoutingEvent { at_ms, event: e });
        }
    }

    fn roll_day(&mut self, at_ms: i64) {
        let day = at_ms.div_euclid(86_400_000);
        if day != self.live.day {
            self.live.day = day;
            self.live.daily.clear();
            self.live.handled.clear();
        }
    }

    fn sl_secs(&self, q: &QueueId) -> u32 {
        self.queues
            .iter()
            .find(|d| &d.acd.id == q)
            .map_or(20, |d| d.service_level_secs)
    }

    fn observe(&mut self, e: &AcdEvent, at_ms: i64) {
        self.roll_day(at_ms);
        match e {
            AcdEvent::AgentState { agent, to, .. } => {
                self.live.since.insert(agent.clone(), at_ms);
                if *to == AgentState::LoggedOut {
                    self.live.skills.remove(agent);
                }
                if let Some(w) = &self.writer {
                    let (state, reason) = state_name(to);
                    let _ = w.send(AgentStateEvent {
                        agent_id: agent.to_string(),
                        at: at_ms,
                        state: state.to_string(),
                        reason,
                        call_id: to.call().map(|c| c.to_string()),
                    });
                }
            }
            AcdEvent::CallQueued { at, call, queue } => {
                let first = match self.live.calls.get(call) {
                    Some((_, t)) => *t,
                    None => {
                        self.live.daily.entry(queue.clone()).or_default().offered += 1;
                        *at
                    }
                };
                self.live.calls.insert(call.clone(), (queue.clone(), first));
                self.live
                    .waiting
                    .insert(call.clone(), (queue.clone(), first));
            }
            AcdEvent::CallRequeued { call, .. } => {
                if let Some(entry) = self.live.calls.get(call).cloned() {
                    self.live.waiting.insert(call.clone(), entry);
                }
            }
            AcdEvent::CallConnected {
                call,
                agent,
                waited,
                ..
            } => {
                self.live.waiting.remove(call);
                *self.live.handled.entry(agent.clone()).or_default() += 1;
                if let Some((q, _)) = self.live.calls.get(call).cloned() {
                    let sl = Duration::from_secs(u64::from(self.sl_secs(&q)));
                    let d = self.live.daily.entry(q).or_default();
                    d.answered += 1;
                    d.wait += *waited;
                    if *waited <= sl {
                        d.in_sl += 1;
                    }
                }
            }
            AcdEvent::CallEnded { call, reason, .. } => {
                self.live.waiting.remove(call);
                if let Some((q, _)) = self.live.calls.remove(call)
                    && *reason == EndReason::Abandoned
                {
                    self.live.daily.entry(q).or_default().abandoned += 1;
                }
            }
            AcdEvent::CallWidened { .. } | AcdEvent::CallbackRequested { .. } => {}
        }
    }

    fn qualifies(skills: &[(SkillId, u8)], q: &QueueConfig) -> bool {
        q.requires.iter().all(|r| {
            skills
                .iter()
                .any(|(s, level)| *s == r.skill && *level >= r.min)
        })
    }

    fn board(&mut self, t: Instant) -> Board {
        self.roll_day(crate::app::now_millis());
        let mut agents = Vec::new();
        for (id, state) in self.acd.agents() {
            if *state == AgentState::LoggedOut {
                continue;
            }
            agents.push(AgentBoard {
                agent: id.clone(),
                state: state.clone(),
                since_ms: self.live.since.get(id).copied().unwrap_or(0),
                handled_today: self.live.handled.get(id).copied().unwrap_or(0),
            });
        }
        agents.sort_by(|a, b| a.agent.cmp(&b.agent));
        let mut queues = Vec::new();
        for def in &self.queues {
            let id = &def.acd.id;
            let Some(stats) = self.acd.queue_stats(id) else {
                continue;
            };
            let longest_wait = self
                .live
                .waiting
                .values()
                .filter(|(q, _)| q == id)
                .map(|(_, since)| t.saturating_duration_since(*since))
                .max()
                .unwrap_or_default();
            let d = self.live.daily.get(id).copied().unwrap_or_default();
            let (mut ready, mut busy, mut wrap_up, mut not_ready) = (0, 0, 0, 0);
            for a in &agents {
                let skills = self
                    .live
                    .skills
                    .get(&a.agent)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                if !Self::qualifies(skills, &def.acd) {
                    continue;
                }
                match a.state {
                    AgentState::Ready => ready += 1,
                    AgentState::Reserved { .. } | AgentState::OnCall { .. } => busy += 1,
                    AgentState::WrapUp { .. } => wrap_up += 1,
                    AgentState::NotReady { .. } => not_ready += 1,
                    AgentState::LoggedOut => {}
                }
            }
            queues.push(QueueBoard {
                queue: id.clone(),
                name: if def.name.is_empty() {
                    id.to_string()
                } else {
                    def.name.clone()
                },
                stats,
                longest_wait,
                offered: d.offered,
                answered: d.answered,
                abandoned: d.abandoned,
                answered_in_sl: d.in_sl,
                answered_wait: d.wait,
                service_level_secs: def.service_level_secs,
                ready,
                busy,
                wrap_up,
                not_ready,
            });
        }
        Board { queues, agents }
    }
}

/// The name stored in `agent_state_events.state` and the reason, for a state.
pub fn state_name(s: &AgentState) -> (&'static str, Option<String>) {
    match s {
        AgentState::LoggedOut => ("logged_out", None),
        AgentState::NotReady { reason } => ("not_ready", Some(reason.clone())),
        AgentState::Ready => ("ready", None),
        AgentState::Reserved { .. } => ("reserved", None),
        AgentState::OnCall { sub, .. } => (
            match sub {
                CallSubState::Talking => "on_call",
                CallSubState::Hold => "on_hold",
                CallSubState::Consulting => "consulting",
            },
            None,
        ),
        AgentState::WrapUp { .. } => ("wrap_up", None),
    }
}

/// Writes agent state changes in order, off the routing task.
fn spawn_state_writer(store: Store) -> mpsc::UnboundedSender<AgentStateEvent> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AgentStateEvent>();
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let Err(err) = store.record_agent_state(&e).await {
                tracing::error!(agent = %e.agent_id, error = %err, "cannot record agent state");
            }
        }
    });
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn setup() -> RoutingSetup {
        RoutingSetup::parse(
            &PathBuf::from("queues.toml"),
            "[[queues]]\nid = \"sales\"\nname = \"Sales\"\nring_timeout = 10\nwrap_up = 5\nrequires = [{ skill = \"booking\", min = 2 }]\n",
        )
        .expect("valid")
    }

    #[test]
    fn shipped_queues_file_is_valid_and_matches_the_demo_queues() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/queues.toml");
        let s = RoutingSetup::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = s.queues.iter().map(|q| q.acd.id.as_str()).collect();
        assert_eq!(ids, ["sales", "support", "billing", "vip"]);
        assert!(s.queues.iter().all(|q| !q.name.is_empty()));
    }

    #[test]
    fn bad_queue_file_names_file_line_and_key() {
        let e = RoutingSetup::parse(
            &PathBuf::from("queues.toml"),
            "[[queues]]\nid = \"a\"\n\n[[queues]]\nid = \"b\"\nring_timeot = 3\n",
        )
        .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(6), Some("queues.ring_timeot")),
            "{e}"
        );
        let e = RoutingSetup::parse(
            &PathBuf::from("queues.toml"),
            "[[queues]]\nid = \"a\"\nstrategy = \"fastest\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = RoutingSetup::parse(
            &PathBuf::from("queues.toml"),
            "[[queues]]\nid = \"a\"\noverflow = [{ when = \"no_agents\", target = { to = \"queue\", queue = \"zz\" } }]\n",
        )
        .unwrap_err();
        assert!(e.message.contains("zz"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn offer_reaches_the_one_decision_receiver_and_states_are_broadcast() {
        let r = spawn(setup(), None);
        let mut decisions = r.take_decisions().expect("first take");
        assert!(r.take_decisions().is_none(), "only one receiver");
        let mut events = r.subscribe();
        let alice = AgentId::new("alice");
        r.login_with_skills(&alice, vec![(SkillId::new("booking"), 3)])
            .await
            .expect("login");
        assert!(matches!(
            r.login_with_skills(&alice, vec![]).await,
            Err(RoutingError::Acd(AcdError::InvalidAgentState { .. }))
        ));
        r.ready(&alice).await.expect("ready");
        r.enqueue(&CallId::new("c1"), &QueueId::new("sales"), Priority::NORMAL)
            .await
            .expect("enqueue");
        match decisions.recv().await {
            Some(Decision::Offer { call, agent, .. }) => {
                assert_eq!((call.as_str(), agent.as_str()), ("c1", "alice"));
            }
            other => panic!("{other:?}"),
        }
        let mut states = Vec::new();
        while let Ok(e) = events.try_recv() {
            if let AcdEvent::AgentState { to, .. } = e.event {
                states.push(state_name(&to).0);
            }
        }
        assert_eq!(states, ["not_ready", "ready", "reserved"]);
        // Nobody answers: the reservation timer (10 s) fires on its own, the call goes back.
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(matches!(
            decisions.recv().await,
            Some(Decision::CancelOffer { .. })
        ));
        assert_eq!(
            r.agent_state(&alice).await.expect("running"),
            Some(AgentState::NotReady {
                reason: "missed".into()
            })
        );
        let board = r.board().await.expect("board");
        assert_eq!(board.queues[0].stats.waiting, 1);
        assert_eq!(board.queues[0].offered, 1);
        assert_eq!(board.queues[0].not_ready, 1);
        assert_eq!(board.queues[0].longest_wait, Duration::from_secs(11));
        assert_eq!(board.agents.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn answered_calls_count_towards_asa_and_handled_today() {
        let r = spawn(setup(), None);
        let _d = r.take_decisions();
        let a = AgentId::new("a");
        r.login_with_skills(&a, vec![(SkillId::new("booking"), 5)])
            .await
            .expect("login");
        let c = CallId::new("c");
        r.enqueue(&c, &QueueId::new("sales"), Priority::NORMAL)
            .await
            .expect("enqueue");
        tokio::time::sleep(Duration::from_secs(30)).await;
        r.ready(&a).await.expect("ready");
        r.answer(&c, &a).await.expect("answer");
        r.hangup(&c).await.expect("hangup");
        let b = r.board().await.expect("board");
        let q = &b.queues[0];
        assert_eq!((q.offered, q.answered, q.answered_in_sl), (1, 1, 0));
        assert_eq!(q.asa(), Duration::from_secs(30));
        assert_eq!(q.service_level_permille(), 0);
        assert_eq!(q.wrap_up, 1);
        assert_eq!(b.agents[0].handled_today, 1);
        r.wrapup_done(&a).await.expect("wrap-up done");
        assert_eq!(
            r.agent_state(&a).await.expect("running"),
            Some(AgentState::Ready)
        );
    }
}
