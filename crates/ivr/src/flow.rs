//! The validated, immutable flow model. Build one with [`Flow::parse`] or [`FlowSet::load_dir`];
//! share it between calls with an `Arc`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::digits::Digit;
use crate::error::FlowError;
use crate::language::Language;
use crate::time::BusinessHours;

/// Index of a node inside its [`Flow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The name of a prompt: a file `<name>.wav` in the prompts directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Prompt(pub Arc<str>);

impl Prompt {
    /// A prompt by name.
    pub fn new(name: &str) -> Prompt {
        Prompt(Arc::from(name))
    }
    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// A validated flow: a start node and a graph of nodes in which every reference resolves and
/// every node is reachable. Immutable; share it with `Arc<Flow>`.
#[derive(Debug)]
pub struct Flow {
    pub(crate) name: String,
    pub(crate) file: PathBuf,
    pub(crate) start: NodeId,
    pub(crate) nodes: Vec<Node>,
    pub(crate) by_name: HashMap<String, NodeId>,
    /// The language a call starts in (`[flow] language`).
    pub(crate) language: Language,
    /// Every language the flow speaks: its own and those its set nodes switch to.
    pub(crate) languages: Vec<Language>,
    /// What the flow has in each language other than the base set.
    pub(crate) layers: Vec<Layer>,
    /// Problems that do not stop the flow (prompts missing in a language; English plays).
    pub(crate) warnings: Vec<FlowError>,
}

/// The flow's prompts in one language other than the base set, fixed at load time.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) language: Language,
    /// Prompt name to the name that plays it in this language, for the prompts (flow
    /// prompts and value prompts) that have a file in it.
    pub(crate) prompts: HashMap<Arc<str>, Prompt>,
    /// Whether the flow can say its numbers, dates and prices in this language: it says
    /// none, or every value prompt of the language exists.
    pub(crate) values: bool,
}

impl Flow {
    /// The flow's name (`[flow] name`, or the file stem).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Every ACD queue the flow names, with the node that names it (queue nodes and the
    /// queue-wait and staffing conditions), so a loader can check them against the queues
    /// that exist.
    pub fn queue_references(&self) -> Vec<(&str, &str)> {
        self.nodes
            .iter()
            .filter_map(|n| {
                let queue = match &n.kind {
                    NodeKind::Queue(q) => &q.queue,
                    NodeKind::Condition {
                        test: Test::QueueWait { queue, .. } | Test::Staffing { queue, .. },
                        ..
                    } => queue,
                    _ => return None,
                };
                Some((&*n.name, queue.as_str()))
            })
            .collect()
    }
    /// The language a call starts in (`[flow] language`, English when absent).
    pub fn language(&self) -> Language {
        self.language
    }
    /// Every language the flow speaks: its own first, then those its set nodes switch to.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }
    /// Whether a call of this flow can be switched to `language`: English always; another
    /// language when the flow says no numbers, dates or prices, or has all of that
    /// language's prompts for them. (Single prompts missing in it play in English.)
    pub fn can_speak(&self, language: Language) -> bool {
        language.is_base() || self.layer(language).is_some_and(|l| l.values)
    }
    /// Problems that do not stop the flow from loading: a prompt without a file in one of
    /// the flow's languages (the English prompt plays instead). Each names file, line and
    /// column like the errors of [`Flow::parse`].
    pub fn warnings(&self) -> &[FlowError] {
        &self.warnings
    }
    /// The prompt that plays `prompt` in `language`, or None when that language has no
    /// file for it (the English one plays).
    pub fn localise(&self, language: Language, prompt: &Prompt) -> Option<Prompt> {
        if language.is_base() {
            return Some(prompt.clone());
        }
        self.layer(language)?.prompts.get(prompt.name()).cloned()
    }
    fn layer(&self, language: Language) -> Option<&Layer> {
        self.layers.iter().find(|l| l.language == language)
    }
    /// The file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }
    /// The start node.
    pub fn start(&self) -> &Node {
        &self.nodes[self.start.index()]
    }
    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.by_name.get(name).map(|id| &self.nodes[id.index()])
    }
    /// All nodes in file order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    pub(crate) fn get(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }
    /// Every prompt name the flow can play directly (not counting numbers and dates).
    pub fn prompts(&self) -> Vec<&Prompt> {
        let mut v = Vec::new();
        for n in &self.nodes {
            n.kind.for_each_prompt(&mut |p| v.push(p));
        }
        v
    }
}

/// One node of a flow.
#[derive(Debug)]
pub struct Node {
    pub(crate) name: Arc<str>,
    pub(crate) line: usize,
    pub(crate) kind: NodeKind,
}

impl Node {
    /// The node's name (its key under `[nodes]`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The line of its `[nodes.<name>]` header.
    pub fn line(&self) -> usize {
        self.line
    }
    /// The node type as written in the file (`play`, `menu`, ...).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// Settings for collecting digits that several node types share.
#[derive(Debug, Clone)]
pub(crate) struct GatherSpec {
    pub min_len: usize,
    pub max_len: usize,
    pub terminator: Option<Digit>,
    /// Wait for the first digit after the prompts end.
    pub first_timeout: Duration,
    /// Wait between digits.
    pub inter_digit_timeout: Duration,
    /// Digits during the prompt stop it and count as input.
    pub barge_in: bool,
}

/// Retry policy on timeout or invalid input.
#[derive(Debug, Clone)]
pub(crate) struct Retry {
    /// Further attempts after the first one.
    pub retries: u32,
    pub invalid_prompts: Vec<Prompt>,
    pub timeout_prompts: Vec<Prompt>,
    pub on_fail: NodeId,
}

/// What a collect node checks entered digits against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Any digits `0`-`9` within the length limits.
    Digits,
    /// Digits passing the Luhn check.
    Luhn,
    /// `MMYY` not in the past.
    Expiry,
    /// Anything within the length limits (including `*`).
    Any,
}

/// How an identify node finds the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyBy {
    /// By the calling number (ANI), no input.
    CallerNumber,
    /// By an account number the caller enters.
    Account,
    /// By a booking reference the caller enters.
    BookingReference,
}

/// The condition tested by a condition node.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    BusinessHours(BusinessHours),
    /// True when the identified customer's tier is in the list.
    Tier(Vec<String>),
    /// True when the queue's estimated wait is at most this.
    QueueWait {
        queue: String,
        max_wait: Duration,
    },
    /// True when at least this many agents are available for the queue.
    Staffing {
        queue: String,
        min_agents: u32,
    },
    /// True when a variable equals a value.
    Variable {
        name: String,
        equals: String,
    },
}

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "number")]
pub enum TransferTarget {
    /// An internal extension (an agent phone, another queue's pilot).
    Extension(String),
    /// An outside number, dialled through a trunk.
    External(String),
}

/// Where the amount of a pay node comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AmountFrom {
    Fixed {
        minor: u64,
        currency: String,
    },
    /// The price of the item held by the last booking node.
    Booking,
    /// The identified customer's balance due (`customer.balance_minor` in
    /// `customer.currency`, from the look-up); an approved charge settles it.
    Balance,
    /// A call variable holding minor units (set by a lookup, a set node or call control).
    Variable {
        name: String,
        currency: String,
        currency_variable: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct QueueSpec {
    pub queue: String,
    pub announce_position: bool,
    pub announce_wait: bool,
    pub announce_every: Duration,
    pub periodic_prompts: Vec<Prompt>,
    pub music: Option<Prompt>,
    pub callback_digit: Option<Digit>,
    pub callback_prompts: Vec<Prompt>,
    pub on_callback: Option<NodeId>,
    pub max_wait: Option<Duration>,
    pub on_max_wait: Option<NodeId>,
}

#[derive(Debug, Clone)]
pub(crate) struct PaySpec {
    pub amount: AmountFrom,
    pub description: String,
    /// A call variable appended to the description (a merchant reference).
    pub description_variable: Option<String>,
    pub card_prompts: Vec<Prompt>,
    pub expiry_prompts: Vec<Prompt>,
    pub cvv_prompts: Vec<Prompt>,
    pub invalid_prompts: Vec<Prompt>,
    pub approved_prompts: Vec<Prompt>,
    pub declined_prompts: Vec<Prompt>,
    pub retry_prompts: Vec<Prompt>,
    pub retry_digit: Digit,
    /// New cards after a decline.
    pub retries: u32,
    /// Re-entries of one field after invalid input.
    pub entry_retries: u32,
    pub first_timeout: Duration,
    pub inter_digit_timeout: Duration,
    pub next: NodeId,
    pub on_fail: NodeId,
}

#[derive(Debug, Clone)]
pub(crate) struct BookingSpec {
    pub category: String,
    pub max_items: usize,
    pub intro_prompts: Vec<Prompt>,
    pub none_prompts: Vec<Prompt>,
    pub unavailable_prompts: Vec<Prompt>,
    pub gather: GatherSpec,
    pub retry: Retry,
    pub next: NodeId,
    pub on_none: NodeId,
}

#[derive(Debug, Clone)]
pub(crate) struct IdentifySpec {
    pub by: IdentifyBy,
    pub prompts: Vec<Prompt>,
    pub gather: GatherSpec,
    pub verify_prompts: Vec<Prompt>,
    pub verify: Option<GatherSpec>,
    pub retry: Retry,
    pub found: NodeId,
    pub not_found: NodeId,
}

#[derive(Debug, Clone)]
pub(crate) struct CollectSpec {
    pub prompts: Vec<Prompt>,
    pub variable: String,
    pub gather: GatherSpec,
    pub validation: Validation,
    pub sensitive: bool,
    pub retry: Retry,
    pub next: NodeId,
}

/// The node types; the file format is documented in `docs/ivr.md`.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// Play prompts, then go on.
    Play {
        /// Prompts in order.
        prompts: Vec<Prompt>,
        /// Next node.
        next: NodeId,
    },
    /// Play prompts and branch on one digit.
    Menu {
        /// Menu prompts.
        prompts: Vec<Prompt>,
        /// Digit to node.
        branches: Vec<(Digit, NodeId)>,
        gather: GatherSpec,
        retry: Retry,
    },
    /// Collect digits into a variable.
    Collect(CollectSpec),
    /// Identify the caller.
    Identify(IdentifySpec),
    /// Branch on a condition.
    Condition {
        test: Test,
        /// Node when true.
        then: NodeId,
        /// Node when false.
        otherwise: NodeId,
    },
    /// Set routing data.
    Set {
        /// Call priority for the ACD (higher is served first).
        priority: Option<u8>,
        /// Required skills.
        skills: Vec<String>,
        /// Variables for the screen pop.
        variables: Vec<(String, String)>,
        /// Switch the call to this language: every later prompt and spoken value uses it.
        language: Option<Language>,
        /// Next node.
        next: NodeId,
    },
    /// Wait in an ACD queue.
    Queue(QueueSpec),
    /// Transfer the call.
    Transfer {
        /// Prompts before transferring.
        prompts: Vec<Prompt>,
        /// Destination.
        target: TransferTarget,
        /// Node when the transfer fails; the call ends if absent.
        on_fail: Option<NodeId>,
    },
    /// Record a message into a ticket.
    Voicemail {
        /// Prompts before the tone.
        prompts: Vec<Prompt>,
        /// Longest message.
        max_duration: Duration,
        /// Queue (or team) the ticket is filed to.
        ticket_queue: String,
        /// Ticket subject.
        subject: String,
        /// The key that ends the message (the caller may also just hang up).
        end_digit: Option<Digit>,
        /// Said before the ticket's reference number, digit by digit, once it is filed;
        /// none: the reference is not said.
        reference_prompts: Vec<Prompt>,
        /// Node after the recording.
        next: NodeId,
    },
    /// Offer bookable items, let the caller pick one and hold it.
    Booking(BookingSpec),
    /// Take a card payment by DTMF.
    Pay(PaySpec),
    /// Play prompts and hang up.
    Hangup {
        /// Prompts before hanging up.
        prompts: Vec<Prompt>,
    },
    /// Play prompts and end the IVR without hanging up: the call goes back to whoever
    /// handed it to the flow (an agent who started an assisted payment).
    Return {
        /// Prompts before returning.
        prompts: Vec<Prompt>,
    },
}

impl NodeKind {
    /// The type name as written in flow files.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            NodeKind::Play { .. } => "play",
            NodeKind::Menu { .. } => "menu",
            NodeKind::Collect(_) => "collect",
            NodeKind::Identify(_) => "identify",
            NodeKind::Condition { .. } => "condition",
            NodeKind::Set { .. } => "set",
            NodeKind::Queue(_) => "queue",
            NodeKind::Transfer { .. } => "transfer",
            NodeKind::Voicemail { .. } => "voicemail",
            NodeKind::Booking(_) => "booking",
            NodeKind::Pay(_) => "pay",
            NodeKind::Hangup { .. } => "hangup",
            NodeKind::Return { .. } => "return",
        }
    }

    /// Every node this one can go to.
    pub(crate) fn successors(&self) -> Vec<NodeId> {
        let mut v = Vec::new();
        let retry = |v: &mut Vec<NodeId>, r: &Retry| v.push(r.on_fail);
        match self {
            NodeKind::Play { next, .. } | NodeKind::Set { next, .. } => v.push(*next),
            NodeKind::Menu {
                branches, retry: r, ..
            } => {
                v.extend(branches.iter().map(|b| b.1));
                retry(&mut v, r);
            }
            NodeKind::Collect(c) => {
                v.push(c.next);
                retry(&mut v, &c.retry);
            }
            NodeKind::Identify(i) => {
                v.extend([i.found, i.not_found]);
                retry(&mut v, &i.retry);
            }
            NodeKind::Condition {
                then, otherwise, ..
            } => v.extend([*then, *otherwise]),
            NodeKind::Queue(q) => v.extend(q.on_callback.iter().chain(q.on_max_wait.iter())),
            NodeKind::Transfer { on_fail, .. } => v.extend(on_fail.iter()),
            NodeKind::Voicemail { next, .. } => v.push(*next),
            NodeKind::Booking(b) => {
                v.extend([b.next, b.on_none]);
                retry(&mut v, &b.retry);
            }
            NodeKind::Pay(p) => v.extend([p.next, p.on_fail]),
            NodeKind::Hangup { .. } | NodeKind::Return { .. } => {}
        }
        v
    }

    pub(crate) fn for_each_prompt<'a>(&'a self, f: &mut dyn FnMut(&'a Prompt)) {
        let mut all = |ps: &'a [Prompt]| ps.iter().for_each(&mut *f);
        match self {
            NodeKind::Play { prompts, .. }
            | NodeKind::Transfer { prompts, .. }
            | NodeKind::Voicemail { prompts, .. }
            | NodeKind::Hangup { prompts }
            | NodeKind::Return { prompts } => all(prompts),
            NodeKind::Menu { prompts, retry, .. } => {
                all(prompts);
                all(&retry.invalid_prompts);
                all(&retry.timeout_prompts);
            }
            NodeKind::Collect(c) => {
                all(&c.prompts);
                all(&c.retry.invalid_prompts);
                all(&c.retry.timeout_prompts);
            }
            NodeKind::Identify(i) => {
                all(&i.prompts);
                all(&i.verify_prompts);
                all(&i.retry.invalid_prompts);
                all(&i.retry.timeout_prompts);
            }
            NodeKind::Condition { .. } | NodeKind::Set { .. } => {}
            NodeKind::Queue(q) => {
                all(&q.periodic_prompts);
                all(&q.callback_prompts);
                if let Some(m) = &q.music {
                    all(std::slice::from_ref(m));
                }
            }
            NodeKind::Booking(b) => {
                all(&b.intro_prompts);
                all(&b.none_prompts);
                all(&b.unavailable_prompts);
                all(&b.retry.invalid_prompts);
                all(&b.retry.timeout_prompts);
            }
            NodeKind::Pay(p) => {
                for ps in [
                    &p.card_prompts,
                    &p.expiry_prompts,
                    &p.cvv_prompts,
                    &p.invalid_prompts,
                    &p.approved_prompts,
                    &p.declined_prompts,
                    &p.retry_prompts,
                ] {
                    all(ps);
                }
            }
        }
    }

    /// Whether the node speaks numbers or dates (and so needs the number prompts).
    pub(crate) fn says_numbers(&self) -> bool {
        match self {
            NodeKind::Queue(q) => q.announce_position || q.announce_wait,
            NodeKind::Booking(_) | NodeKind::Pay(_) => true,
            _ => false,
        }
    }
}

/// Tells the loader whether a prompt exists. [`PromptDir`] checks files; tests may use
/// [`AnyPrompt`].
pub trait PromptCatalog {
    /// Whether `name` can be played.
    fn contains(&self, name: &str) -> bool;
    /// Where the prompt is expected (for error messages).
    fn expected_path(&self, name: &str) -> String;
}

/// Prompts are files `<dir>/<name>.wav`, looked up in several directories in order (names
/// may contain `/` for subfolders, e.g. `digits/7`). The default search path is
/// `config/prompts` (the shared set) then `config/ivr/prompts` (the flows' own prompts);
/// call control should play what [`PromptDir::resolve`] returns.
#[derive(Debug, Clone)]
pub struct PromptDir {
    dirs: Vec<PathBuf>,
}

impl PromptDir {
    /// A catalog over one directory.
    pub fn new(dir: impl Into<PathBuf>) -> PromptDir {
        PromptDir {
            dirs: vec![dir.into()],
        }
    }

    /// Adds a directory searched after the ones before it.
    pub fn and(mut self, dir: impl Into<PathBuf>) -> PromptDir {
        self.dirs.push(dir.into());
        self
    }

    /// `config/prompts` then `config/ivr/prompts` under a configuration directory.
    pub fn default_for(config_dir: &Path) -> PromptDir {
        PromptDir::new(config_dir.join("prompts")).and(config_dir.join("ivr").join("prompts"))
    }

    /// The file to play for a prompt name, if it exists.
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        if name.is_empty() || name.contains("..") || name.starts_with('/') || name.contains('\\') {
            return None;
        }
        self.dirs
            .iter()
            .map(|d| d.join(format!("{name}.wav")))
            .find(|p| p.is_file())
    }
}

impl PromptCatalog for PromptDir {
    fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }
    fn expected_path(&self, name: &str) -> String {
        let all: Vec<String> = self
            .dirs
            .iter()
            .map(|d| d.join(format!("{name}.wav")).display().to_string())
            .collect();
        all.join(" or ")
    }
}

/// Accepts every prompt name (for tests and tools that only check the graph).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyPrompt;

impl PromptCatalog for AnyPrompt {
    fn contains(&self, _name: &str) -> bool {
        true
    }
    fn expected_path(&self, name: &str) -> String {
        name.to_string()
    }
}

/// All flows of a directory, by name.
#[derive(Debug, Default, Clone)]
pub struct FlowSet {
    flows: HashMap<String, Arc<Flow>>,
}

impl FlowSet {
    /// Loads every `*.toml` in `dir` (sorted by file name), checking prompts against
    /// `prompts`. All problems of all files are reported together.
    pub fn load_dir(dir: &Path, prompts: &dyn PromptCatalog) -> Result<FlowSet, crate::Error> {
        let io = |path: &Path, source| crate::Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut set = FlowSet::default();
        let mut errors = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            match Flow::parse(&path, &text, prompts) {
                Ok(flow) => {
                    if let Some(other) = set.flows.get(flow.name()) {
                        return Err(crate::Error::DuplicateFlow {
                            path,
                            name: flow.name().to_string(),
                            other: other.file().to_path_buf(),
                        });
                    }
                    set.flows.insert(flow.name().to_string(), Arc::new(flow));
                }
                Err(crate::Error::Flow(mut e)) => errors.append(&mut e),
                Err(e) => return Err(e),
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(crate::Error::Flow(errors))
        }
    }

    /// The warnings of every flow ([`Flow::warnings`]), by file and line.
    pub fn warnings(&self) -> Vec<&FlowError> {
        let mut v: Vec<&FlowError> = self.flows.values().flat_map(|f| f.warnings()).collect();
        v.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        v
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    /// Flow names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.flows.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}
