//! One call's walk through a [`Flow`]: events in, actions out, time as an argument.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::digits::{CardBrand, Digit, DigitBuf, expiry_not_past, luhn_valid, parse_expiry};
use crate::flow::*;
use crate::language::Language;
use crate::payment::{
    CardData, CardField, ChargeRequest, ChargeResult, ChargeStatus, IdempotencyKey, PaymentProgress,
};
use crate::say;
use crate::time::{CivilDateTime, UnixTime};

/// How long the session waits for a lookup, verification, queue status, booking list or hold
/// before treating it as "not found" / "unavailable".
pub const RESULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the session waits for the payment gateway before retrying with the same key.
pub const CHARGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a transfer may take to be confirmed or refused.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// Nodes entered back to back without waiting for anything, before the session declares the
/// flow a loop and hangs up.
const MAX_HOPS: u32 = 64;
/// How often a booking node lists items again after the chosen one was taken meanwhile.
const MAX_RELISTS: u32 = 3;

/// The calling number (ANI). Personal data: Debug and Display print it redacted.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Ani(String);

impl Ani {
    /// Wraps a calling number.
    pub fn new(number: impl Into<String>) -> Ani {
        Ani(number.into())
    }
    /// The number, for lookups and callbacks.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Ani {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ani(<redacted>)")
    }
}

impl fmt::Display for Ani {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The dialled number (DNIS): ours, not personal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Dnis(pub String);

/// What an approved charge pays off, for call control to record against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Settles {
    /// A set amount: nothing to settle.
    Amount,
    /// The item held by the last booking node: confirm that booking.
    Booking,
    /// The identified customer's balance due: lower it by the amount paid.
    Balance,
}

fn settles(p: &PaySpec) -> Settles {
    match p.amount {
        AmountFrom::Fixed { .. } | AmountFrom::Variable { .. } => Settles::Amount,
        AmountFrom::Booking => Settles::Booking,
        AmountFrom::Balance => Settles::Balance,
    }
}

/// Matches an action that asks for something to the event that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RequestId(pub u32);

/// Identifies one `Play`/`PlayMusic` so a late `PromptFinished` of a stopped playback is not
/// mistaken for the end of the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PlaybackId(pub u32);

/// What a lookup returns. The name is personal data and never printed by Debug.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    /// Customer id in the store.
    pub id: String,
    /// Tier, e.g. `standard`, `gold`, `vip`.
    pub tier: String,
    /// Display name, if known.
    #[serde(skip)]
    pub name: Option<String>,
    /// Further facts from the store (e.g. `balance_minor`), copied into call variables as
    /// `customer.<key>` so conditions and pay nodes can use them. Not personal data.
    pub attributes: BTreeMap<String, String>,
}

impl fmt::Debug for Customer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Customer")
            .field("id", &self.id)
            .field("tier", &self.tier)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .field("attributes", &self.attributes)
            .finish()
    }
}

/// How to find a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// By the calling number.
    CallerNumber(Ani),
    /// By an account number the caller entered.
    Account(String),
    /// By a booking reference the caller entered.
    BookingReference(String),
}

/// A verification code the caller entered (PIN, date of birth...). Debug is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The code, for the check.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// What the ACD says about a queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct QueueStatus {
    /// This caller's position (1 = next), 0 when not queued.
    pub position: u32,
    /// Calls waiting.
    pub waiting: u32,
    /// Agents ready for this queue now.
    pub agents_available: u32,
    /// Estimated wait for this caller (or a new caller).
    pub estimated_wait: Duration,
}

/// A bookable item offered on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookableItem {
    /// Id in the store.
    pub id: String,
    /// Local start date and time (said to the caller).
    pub starts_at: CivilDateTime,
    /// Price in minor units.
    pub price_minor: u64,
    /// ISO 4217 code.
    pub currency: String,
}

/// An item held for this caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldItem {
    /// The item.
    pub item: BookableItem,
    /// The store's hold id (release it if the call ends unpaid).
    pub hold_id: String,
}

/// The only payment facts that are kept: token, brand, last four, amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRecord {
    /// Processor reference.
    pub token: String,
    /// Card brand.
    pub brand: CardBrand,
    /// Last four digits.
    pub last_four: String,
    /// Minor units.
    pub amount_minor: u64,
    /// ISO 4217.
    pub currency: String,
    /// The idempotency key used.
    pub idempotency_key: String,
}

/// Announcement settings passed with [`Action::Enqueue`] (for the ACD and for reporting;
/// the session itself times and plays the announcements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueAnnouncements {
    /// Say the caller's position.
    pub position: bool,
    /// Say the estimated wait.
    pub wait_time: bool,
    /// Interval between announcements.
    pub every: Duration,
    /// Hold music.
    pub music: Option<Prompt>,
}

/// Inputs from call control. Feed them with [`Session::handle_event`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The call was answered and the flow should start.
    CallStarted {
        /// Calling number.
        ani: Ani,
        /// Dialled number.
        dnis: Dnis,
        /// Wall-clock time now, for business hours and card expiry.
        wall_clock: UnixTime,
    },
    /// A DTMF key (RFC 4733 or in-band).
    Digit(Digit),
    /// A playback ended (all its prompts played, or stopped).
    PromptFinished(PlaybackId),
    /// Answer to [`Action::LookupCaller`].
    LookupResult {
        /// The request answered.
        request: RequestId,
        /// The customer, if found.
        customer: Option<Customer>,
    },
    /// Answer to [`Action::VerifyCaller`].
    VerifyResult {
        /// The request answered.
        request: RequestId,
        /// Whether the code matched.
        verified: bool,
    },
    /// Answer to [`Action::QueryQueue`], or an unsolicited update while queued (`request` None).
    QueueStatus {
        /// The request answered, if any.
        request: Option<RequestId>,
        /// The status.
        status: QueueStatus,
    },
    /// An agent answered the queued call; the IVR is done.
    AgentConnected {
        /// The agent's id.
        agent: String,
    },
    /// Answer to [`Action::Transfer`].
    TransferResult {
        /// The request answered.
        request: RequestId,
        /// Whether the transfer succeeded.
        ok: bool,
    },
    /// Answer to [`Action::RecordVoicemail`]: the recording ended (time up, or after
    /// [`Action::EndRecording`]) and the message was filed.
    RecordingFinished {
        /// The request answered.
        request: RequestId,
        /// The ticket the message was filed to, said to the caller as a reference; `None`
        /// when nothing was recorded or the ticket could not be written.
        ticket: Option<String>,
    },
    /// Answer to [`Action::ListBookable`].
    BookableItems {
        /// The request answered.
        request: RequestId,
        /// Available items (the session offers at most `max_items`).
        items: Vec<BookableItem>,
    },
    /// Answer to [`Action::HoldItem`]: a hold id, or None when the item was taken.
    HoldResult {
        /// The request answered.
        request: RequestId,
        /// The hold id.
        hold_id: Option<String>,
    },
    /// Answer to [`Action::Charge`]: the gateway's result, or why it could not decide.
    PaymentResult {
        /// The request answered.
        request: RequestId,
        /// Result, or a gateway error (then the session retries once with the same key).
        result: Result<ChargeResult, String>,
    },
    /// The caller hung up.
    CallerHungUp,
}

/// Outputs for call control. Drain them with [`Session::poll_action`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// Play prompts in order, then send [`Event::PromptFinished`] with this id. With
    /// `barge_in`, a digit may stop it (the session then sends [`Action::StopPlayback`]).
    Play {
        /// Playback id.
        id: PlaybackId,
        /// Prompt names (files `<prompts>/<name>.wav`).
        prompts: Vec<Prompt>,
        /// Digits interrupt.
        barge_in: bool,
    },
    /// Loop hold music until the next `Play` or `StopPlayback`.
    PlayMusic {
        /// Playback id.
        id: PlaybackId,
        /// The music prompt.
        music: Prompt,
    },
    /// Stop what is playing now.
    StopPlayback,
    /// A prompt has no file in the caller's language, so the next `Play` has the English
    /// one instead. Sent once per prompt and call, before that `Play`; call control logs it
    /// as a warning (load time lists them too: [`Flow::warnings`]).
    PromptFallback {
        /// The caller's language.
        language: Language,
        /// The prompt played in English.
        prompt: Prompt,
    },
    /// The session is now taking digits (advisory: the session keeps the timers itself).
    CollectDigits {
        /// At most this many.
        max_digits: usize,
        /// Ends entry early.
        terminator: Option<Digit>,
        /// Wait for the first digit.
        first_timeout: Duration,
        /// Wait between digits.
        inter_digit_timeout: Duration,
    },
    /// Look a caller up; answer with [`Event::LookupResult`].
    LookupCaller {
        /// Request id.
        request: RequestId,
        /// What to look up by.
        key: LookupKey,
    },
    /// Check a verification code; answer with [`Event::VerifyResult`].
    VerifyCaller {
        /// Request id.
        request: RequestId,
        /// The customer found.
        customer_id: String,
        /// The code entered.
        code: Secret,
    },
    /// The caller is identified (tag the call; the screen pop shows it).
    CustomerIdentified {
        /// Customer id.
        customer_id: String,
        /// Tier.
        tier: String,
    },
    /// Ask the ACD about a queue; answer with [`Event::QueueStatus`].
    QueryQueue {
        /// Request id.
        request: RequestId,
        /// Queue id.
        queue: String,
    },
    /// Set the call's priority for routing.
    SetPriority(u8),
    /// Set the call's required skills.
    SetSkills(Vec<String>),
    /// Set a call variable (shown in the screen pop).
    SetVariable {
        /// Name.
        name: String,
        /// Value.
        value: String,
    },
    /// Put the call in a queue.
    Enqueue {
        /// Queue id.
        queue: String,
        /// Priority set so far.
        priority: Option<u8>,
        /// Skills set so far.
        skills: Vec<String>,
        /// Announcement settings.
        announcements: QueueAnnouncements,
        /// Digit that asks for a callback, if offered.
        callback_digit: Option<Digit>,
    },
    /// Take the call out of the queue.
    LeaveQueue {
        /// Queue id.
        queue: String,
    },
    /// The caller asked to be called back.
    RequestCallback {
        /// Queue id.
        queue: String,
        /// Number to call.
        number: Ani,
    },
    /// Transfer the call; answer with [`Event::TransferResult`].
    Transfer {
        /// Request id.
        request: RequestId,
        /// Where to.
        target: TransferTarget,
    },
    /// The caller pressed the voicemail node's end key: stop the recording and file it (the
    /// answer to the pending [`Action::RecordVoicemail`] is still
    /// [`Event::RecordingFinished`]).
    EndRecording,
    /// Record a message into a new ticket; answer with [`Event::RecordingFinished`].
    RecordVoicemail {
        /// Request id.
        request: RequestId,
        /// Longest message.
        max_duration: Duration,
        /// Ticket queue.
        ticket_queue: String,
        /// Ticket subject.
        subject: String,
        /// Identified customer, if any.
        customer_id: Option<String>,
    },
    /// List bookable items; answer with [`Event::BookableItems`].
    ListBookable {
        /// Request id.
        request: RequestId,
        /// Item category.
        category: String,
        /// Identified customer, if any.
        customer_id: Option<String>,
        /// At most this many are offered.
        max_items: usize,
    },
    /// Hold an item; answer with [`Event::HoldResult`].
    HoldItem {
        /// Request id.
        request: RequestId,
        /// Item id.
        item_id: String,
    },
    /// Release a hold (the call ended without paying).
    ReleaseHold {
        /// Hold id.
        hold_id: String,
    },
    /// Charge a card through the gateway; answer with [`Event::PaymentResult`].
    /// The card data is redacted in Debug and wiped when the action is dropped.
    Charge {
        /// Request id.
        request: RequestId,
        /// The charge.
        charge: ChargeRequest,
        /// What an approved charge pays off.
        settles: Settles,
    },
    /// Forward to the agent desktop (counts and outcomes only).
    PaymentProgress(PaymentProgress),
    /// Pause call recording (card entry starts).
    PauseRecording,
    /// Resume call recording.
    ResumeRecording,
    /// Stop (true) or restore (false) DTMF towards a bridged agent.
    SuppressDtmfToAgent(bool),
    /// Hang the call up.
    Hangup,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
#[non_exhaustive]
pub enum Outcome {
    /// An agent answered from a queue.
    Connected {
        /// Queue id.
        queue: String,
        /// Agent id.
        agent: String,
    },
    /// Transferred away.
    Transferred {
        /// Where to.
        target: TransferTarget,
    },
    /// The flow hung up.
    HungUp,
    /// The caller hung up.
    CallerHungUp,
    /// A return node ended the IVR; the call goes back to the agent (or whoever started it).
    Returned,
    /// The flow looped without waiting for anything.
    FlowLoop,
}

/// One node visited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStep {
    /// Node name.
    pub node: Arc<str>,
    /// Node type.
    pub node_type: &'static str,
    /// Milliseconds since the call started.
    pub at_ms: u64,
}

/// One entry made by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    /// Node name.
    pub node: Arc<str>,
    /// What was entered.
    pub value: InputValue,
}

/// An entry, masked when sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum InputValue {
    /// The digits (non-sensitive nodes only).
    Digits(String),
    /// A sensitive entry: only its length.
    Masked(usize),
    /// Nothing entered before the timeout.
    NoInput,
}

/// What the screen pop shows about the IVR part of the call.
#[derive(Debug, Clone, Serialize)]
pub struct IvrSummary {
    /// Flow name.
    pub flow: String,
    /// Nodes visited.
    pub path: Vec<PathStep>,
    /// Entries (sensitive ones masked).
    pub inputs: Vec<Input>,
    /// Variables set.
    pub variables: BTreeMap<String, String>,
    /// Identified customer.
    pub customer: Option<Customer>,
    /// Held booking item.
    pub booking: Option<HeldItem>,
    /// Payment (token, brand, last four only).
    pub payment: Option<PaymentRecord>,
}

/// What the session is waiting for (STYLE item 6: states are enums).
#[derive(Debug)]
enum Wait {
    /// `CallStarted` not seen yet.
    NotStarted,
    /// Between two states while an input is being handled (never seen from outside).
    Idle,
    /// A playback is running; `gather` when digits are being taken with it.
    Playing { id: PlaybackId, gather: bool },
    /// Taking digits; the deadline is the first-digit or inter-digit timeout.
    AwaitDigits { deadline: Instant },
    /// An answer to a request.
    AwaitResult {
        request: RequestId,
        deadline: Instant,
    },
    /// Waiting in a queue.
    InQueue {
        next_announcement: Instant,
        give_up: Option<Instant>,
        announcing: Option<PlaybackId>,
        status_request: Option<RequestId>,
    },
    /// Done.
    Finished(Outcome),
}

/// Card details being entered. Debug shows only counts; digits are wiped on drop.
#[derive(Default)]
struct CardEntry {
    number: DigitBuf,
    expiry: Option<(i32, u32)>,
    /// The charge sent, kept only until its result, for a same-key retry.
    pending: Option<ChargeRequest>,
    gateway_retried: bool,
}

impl fmt::Debug for CardEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardEntry({} digits, <redacted>)", self.number.len())
    }
}

/// Which part of the current node is running.
#[derive(Debug)]
enum Step {
    None,
    Play,
    Menu {
        attempt: u32,
    },
    Collect {
        attempt: u32,
    },
    IdentifyEntry {
        attempt: u32,
    },
    IdentifyLookup {
        attempt: u32,
    },
    IdentifyVerifyEntry {
        attempt: u32,
        customer: Customer,
    },
    IdentifyVerifyCheck {
        attempt: u32,
        customer: Customer,
    },
    ConditionQuery,
    Queue,
    TransferPrompt,
    Transferring,
    VoicemailPrompt,
    Recording {
        end_digit: Option<Digit>,
        ended: bool,
    },
    VoicemailReference,
    BookingList {
        attempt: u32,
    },
    BookingPick {
        attempt: u32,
        items: Vec<BookableItem>,
    },
    BookingHold {
        attempt: u32,
        item: BookableItem,
    },
    BookingUnavailable {
        attempt: u32,
    },
    BookingNone,
    PayEntry {
        field: CardField,
        attempt: u32,
    },
    PayCharge,
    PayApproved,
    PayRetryOffer,
    PayFailed,
    Hangup,
    Return,
}

/// Entry settings of the digits being taken.
#[derive(Debug, Clone)]
struct Gathering {
    spec: GatherSpec,
    sensitive: bool,
    progress: Option<CardField>,
}

/// One call's IVR session. Create it with [`Session::new`], feed it [`Event`]s and timeouts,
/// drain [`Action`]s. See the crate docs for the drive loop.
pub struct Session {
    flow: Arc<Flow>,
    call_id: Arc<str>,
    wait: Wait,
    step: Step,
    node: Option<NodeId>,
    started: Option<Instant>,
    wall_at_start: UnixTime,
    ani: Ani,
    dnis: Dnis,
    actions: VecDeque<Action>,
    path: Vec<PathStep>,
    inputs: Vec<Input>,
    variables: BTreeMap<String, String>,
    customer: Option<Customer>,
    priority: Option<u8>,
    skills: Vec<String>,
    next_id: u32,
    gathering: Option<Gathering>,
    buf: DigitBuf,
    card: Option<CardEntry>,
    card_attempt: u32,
    booking_relists: u32,
    held: Option<HeldItem>,
    payment: Option<PaymentRecord>,
    queue_status: Option<QueueStatus>,
    hops: u32,
    ignored_events: u64,
    callback: CallbackOffer,
    /// The language prompts and spoken values are played in.
    language: Language,
    /// Prompts already reported with [`Action::PromptFallback`].
    fallbacks: HashSet<Prompt>,
}

/// Whether queue nodes may offer this caller a callback (call control decides: the number
/// must be one the dial plan lets the switch call back, so a forged caller number cannot make
/// the switch dial a premium line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackOffer {
    /// Offered where the flow offers it: the caller's number may be called back.
    #[default]
    Allowed,
    /// Not offered: callback prompts are skipped and the callback digit is ignored.
    Withheld,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("call_id", &self.call_id)
            .field("flow", &self.flow.name())
            .field("node", &self.node.map(|n| self.flow.get(n).name()))
            .field("wait", &self.wait)
            .field("step", &self.step)
            .field("ani", &self.ani)
            .field("path", &self.path)
            .field("inputs", &self.inputs)
            .field("entry", &self.buf)
            .field("card", &self.card)
            .field("customer", &self.customer)
            .field("payment", &self.payment)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for one call. Nothing happens until [`Event::CallStarted`].
    pub fn new(flow: Arc<Flow>, call_id: &str) -> Session {
        Session {
            language: flow.language(),
            fallbacks: HashSet::new(),
            flow,
            call_id: Arc::from(call_id),
            wait: Wait::NotStarted,
            step: Step::None,
            node: None,
            started: None,
            wall_at_start: UnixTime(0),
            ani: Ani::default(),
            dnis: Dnis::default(),
            actions: VecDeque::new(),
            path: Vec::new(),
            inputs: Vec::new(),
            variables: BTreeMap::new(),
            customer: None,
            priority: None,
            skills: Vec::new(),
            next_id: 1,
            gathering: None,
            buf: DigitBuf::default(),
            card: None,
            card_attempt: 0,
            booking_relists: 0,
            held: None,
            payment: None,
            queue_status: None,
            hops: 0,
            ignored_events: 0,
            callback: CallbackOffer::Allowed,
        }
    }

    /// Allows or withholds callback offers (before or during the flow). Withheld: queue nodes
    /// play no callback prompts and ignore the callback digit.
    pub fn set_callback_offer(&mut self, offer: CallbackOffer) {
        self.callback = offer;
    }

    /// Switches the call's language before or during the flow (e.g. from the caller's record
    /// or the number dialled): every later prompt and spoken value uses it. Returns false,
    /// changing nothing, when the flow cannot say its values in it ([`Flow::can_speak`]).
    #[must_use]
    pub fn set_language(&mut self, language: Language) -> bool {
        if !self.flow.can_speak(language) {
            return false;
        }
        self.switch_language(language);
        true
    }

    /// The language prompts and spoken values are played in now.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Sets a call variable before or during the flow (e.g. the amount an agent entered
    /// before handing the caller to a payment flow). Emits no action.
    pub fn set_variable(&mut self, name: &str, value: &str) {
        self.variables.insert(name.to_string(), value.to_string());
    }

    // ----- drive contract -------------------------------------------------------------

    /// Feeds one event. Events that do not fit the current state (a stale request id, a
    /// digit while nothing listens) are ignored and counted in [`Session::ignored_events`].
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        self.hops = 0;
        if self.is_finished() {
            self.ignored_events += 1;
            return;
        }
        match event {
            Event::CallStarted {
                ani,
                dnis,
                wall_clock,
            } => {
                if !matches!(self.wait, Wait::NotStarted) {
                    self.ignored_events += 1;
                    return;
                }
                self.ani = ani;
                self.dnis = dnis;
                self.wall_at_start = wall_clock;
                self.started = Some(now);
                if !self.language.is_base() && !self.variables.contains_key("language") {
                    self.set_var("language", self.language.code().to_string());
                }
                let start = self.flow.start;
                self.enter(now, start);
            }
            Event::CallerHungUp => self.caller_hung_up(),
            Event::Digit(d) => self.on_digit(now, d),
            Event::PromptFinished(id) => self.on_prompt_finished(now, id),
            Event::AgentConnected { agent } => {
                if matches!(self.wait, Wait::InQueue { .. })
                    && let Some(NodeKind::Queue(q)) = self.node.map(|n| &self.flow.get(n).kind)
                {
                    let queue = q.queue.clone();
                    if self.playing() {
                        self.actions.push_back(Action::StopPlayback);
                    }
                    self.finish(Outcome::Connected { queue, agent });
                } else {
                    self.ignored_events += 1;
                }
            }
            Event::QueueStatus { request, status } => self.on_queue_status(now, request, status),
            Event::LookupResult { request, customer } => {
                if self.take_request(request) {
                    self.on_lookup(now, customer);
                }
            }
            Event::VerifyResult { request, verified } => {
                if self.take_request(request) {
                    self.on_verify(now, verified);
                }
            }
            Event::TransferResult { request, ok } => {
                if self.take_request(request) {
                    self.on_transfer_result(now, ok);
                }
            }
            Event::RecordingFinished { request, ticket } => {
                if self.take_request(request) {
                    self.after_recording(now, ticket);
                }
            }
            Event::BookableItems { request, items } => {
                if self.take_request(request) {
                    self.on_bookable(now, items);
                }
            }
            Event::HoldResult { request, hold_id } => {
                if self.take_request(request) {
                    self.on_hold(now, hold_id);
                }
            }
            Event::PaymentResult { request, result } => {
                if self.take_request(request) {
                    self.on_payment(now, result);
                }
            }
        }
    }

    /// The earliest time at which [`Session::handle_timeout`] must be called, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.wait {
            Wait::AwaitDigits { deadline } | Wait::AwaitResult { deadline, .. } => Some(*deadline),
            Wait::InQueue {
                next_announcement,
                give_up,
                ..
            } => Some(give_up.map_or(*next_announcement, |g| g.min(*next_announcement))),
            _ => None,
        }
    }

    /// Runs the timers due at `now`. Early or repeated calls are no-ops.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.hops = 0;
        match self.wait {
            Wait::AwaitDigits { deadline } if now >= deadline => self.digits_timed_out(now),
            Wait::AwaitResult { deadline, .. } if now >= deadline => {
                self.wait = Wait::Idle;
                self.result_timed_out(now);
            }
            Wait::InQueue {
                next_announcement,
                give_up,
                ..
            } => {
                if give_up.is_some_and(|g| now >= g) {
                    self.queue_gave_up(now);
                } else if now >= next_announcement {
                    self.queue_announce_due(now, false);
                }
            }
            _ => {}
        }
    }

    /// The next action for call control, if any.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    // ----- read-only views ------------------------------------------------------------

    /// Whether the session has ended.
    pub fn is_finished(&self) -> bool {
        matches!(self.wait, Wait::Finished(_))
    }
    /// How it ended, once finished.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.wait {
            Wait::Finished(o) => Some(o),
            _ => None,
        }
    }
    /// The call id given to [`Session::new`].
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
    /// The current node's name.
    pub fn current_node(&self) -> Option<&str> {
        self.node.map(|n| self.flow.get(n).name())
    }
    /// Nodes visited, in order.
    pub fn path(&self) -> &[PathStep] {
        &self.path
    }
    /// Entries made, sensitive ones masked.
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }
    /// Call variables.
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }
    /// The identified customer.
    pub fn customer(&self) -> Option<&Customer> {
        self.customer.as_ref()
    }
    /// The calling number.
    pub fn ani(&self) -> &Ani {
        &self.ani
    }
    /// The dialled number.
    pub fn dnis(&self) -> &Dnis {
        &self.dnis
    }
    /// Priority set by set nodes.
    pub fn priority(&self) -> Option<u8> {
        self.priority
    }
    /// Skills set by set nodes.
    pub fn skills(&self) -> &[String] {
        &self.skills
    }
    /// The held booking item.
    pub fn held_item(&self) -> Option<&HeldItem> {
        self.held.as_ref()
    }
    /// The approved payment.
    pub fn payment(&self) -> Option<&PaymentRecord> {
        self.payment.as_ref()
    }
    /// True while the caller is entering something sensitive (card details, a verification
    /// code, a sensitive collect node): call control must not log the digits it receives
    /// (RFC 4733 events, in-band detections) while this holds.
    pub fn in_sensitive_entry(&self) -> bool {
        self.gathering.as_ref().is_some_and(|g| g.sensitive)
            || matches!(self.step, Step::PayEntry { .. } | Step::PayCharge)
    }

    /// Events that did not fit the state and were dropped.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }
    /// Everything the screen pop shows about the IVR part of the call.
    pub fn summary(&self) -> IvrSummary {
        IvrSummary {
            flow: self.flow.name().to_string(),
            path: self.path.clone(),
            inputs: self.inputs.clone(),
            variables: self.variables.clone(),
            customer: self.customer.clone(),
            booking: self.held.clone(),
            payment: self.payment.clone(),
        }
    }

    // ----- helpers --------------------------------------------------------------------

    fn next_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn request(&mut self, now: Instant, timeout: Duration) -> RequestId {
        let request = RequestId(self.next_id());
        self.wait = Wait::AwaitResult {
            request,
            deadline: now + timeout,
        };
        request
    }

    fn take_request(&mut self, request: RequestId) -> bool {
        match self.wait {
            Wait::AwaitResult { request: r, .. } if r == request => {
                // Placeholder until the handler sets the next wait.
                self.wait = Wait::Idle;
                true
            }
            _ => {
                self.ignored_events += 1;
                false
            }
        }
    }

    fn elapsed_ms(&self, now: Instant) -> u64 {
        self.started
            .map_or(0, |s| now.saturating_duration_since(s).as_millis() as u64)
    }

    fn wall_now(&self, now: Instant) -> UnixTime {
        self.wall_at_start.plus(
            self.started
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
        )
    }

    fn node_name(&self) -> Arc<str> {
        self.node
            .map_or_else(|| Arc::from(""), |n| self.flow.get(n).name.clone())
    }

    fn playing(&self) -> bool {
        matches!(self.wait, Wait::Playing { .. } | Wait::InQueue { .. })
    }

    fn set_var(&mut self, name: &str, value: String) {
        self.variables.insert(name.to_string(), value.clone());
        self.actions.push_back(Action::SetVariable {
            name: name.to_string(),
            value,
        });
    }

    /// Every later prompt and value in `language`; the call variable `language` says which
    /// (for the screen pop, routing and conditions).
    fn switch_language(&mut self, language: Language) {
        self.language = language;
        self.set_var("language", language.code().to_string());
    }

    /// The prompts to play in the caller's language: each one's file in that language, or
    /// the English one (reported once per call with [`Action::PromptFallback`]).
    fn localised(&mut self, prompts: Vec<Prompt>) -> Vec<Prompt> {
        if self.language.is_base() {
            return prompts;
        }
        prompts
            .into_iter()
            .map(|p| match self.flow.localise(self.language, &p) {
                Some(local) => local,
                None => {
                    if self.fallbacks.insert(p.clone()) {
                        self.actions.push_back(Action::PromptFallback {
                            language: self.language,
                            prompt: p.clone(),
                        });
                    }
                    p
                }
            })
            .collect()
    }

    fn finish(&mut self, outcome: Outcome) {
        self.gathering = None;
        self.buf.clear();
        self.card = None;
        self.step = Step::None;
        self.wait = Wait::Finished(outcome);
    }

    fn caller_hung_up(&mut self) {
        if matches!(
            self.step,
            Step::PayEntry { .. } | Step::PayCharge | Step::PayRetryOffer
        ) {
            self.end_payment_mode(true);
        }
        if matches!(self.wait, Wait::InQueue { .. })
            && let Some(NodeKind::Queue(q)) = self.node.map(|n| &self.flow.get(n).kind)
        {
            self.actions.push_back(Action::LeaveQueue {
                queue: q.queue.clone(),
            });
        }
        if self.payment.is_none()
            && let Some(h) = self.held.take()
        {
            self.actions
                .push_back(Action::ReleaseHold { hold_id: h.hold_id });
        }
        self.finish(Outcome::CallerHungUp);
    }

    /// Plays prompts; with `gather`, digits are taken (during the prompt when barge-in is on,
    /// after it otherwise). With no prompts, goes straight to taking digits or to
    /// [`Session::played`].
    fn play(&mut self, now: Instant, prompts: Vec<Prompt>, gather: Option<Gathering>) {
        self.buf.clear();
        let barge_in = gather.as_ref().is_some_and(|g| g.spec.barge_in);
        if let Some(g) = &gather {
            self.actions.push_back(Action::CollectDigits {
                max_digits: g.spec.max_len,
                terminator: g.spec.terminator,
                first_timeout: g.spec.first_timeout,
                inter_digit_timeout: g.spec.inter_digit_timeout,
            });
        }
        let gathering = gather.is_some();
        self.gathering = gather;
        if prompts.is_empty() {
            if let Some(g) = &self.gathering {
                self.wait = Wait::AwaitDigits {
                    deadline: now + g.spec.first_timeout,
                };
            } else {
                self.played(now);
            }
            return;
        }
        let prompts = self.localised(prompts);
        let id = PlaybackId(self.next_id());
        self.actions.push_back(Action::Play {
            id,
            prompts,
            barge_in,
        });
        self.wait = Wait::Playing {
            id,
            gather: gathering,
        };
    }

    fn on_prompt_finished(&mut self, now: Instant, id: PlaybackId) {
        match self.wait {
            Wait::Playing { id: cur, gather } if cur == id => {
                if gather {
                    let timeout = self
                        .gathering
                        .as_ref()
                        .map_or(Duration::from_secs(5), |g| g.spec.first_timeout);
                    self.wait = Wait::AwaitDigits {
                        deadline: now + timeout,
                    };
                } else {
                    self.played(now);
                }
            }
            Wait::InQueue {
                announcing: Some(cur),
                ..
            } if cur == id => {
                if let Wait::InQueue { announcing, .. } = &mut self.wait {
                    *announcing = None;
                }
                self.queue_music();
            }
            _ => self.ignored_events += 1,
        }
    }

    fn on_digit(&mut self, now: Instant, d: Digit) {
        match self.wait {
            Wait::Playing { gather: true, .. } => {
                let barge = self.gathering.as_ref().is_some_and(|g| g.spec.barge_in);
                if !barge {
                    self.ignored_events += 1;
                    return;
                }
                self.actions.push_back(Action::StopPlayback);
                self.take_digit(now, d);
            }
            Wait::AwaitDigits { .. } => self.take_digit(now, d),
            Wait::InQueue { .. } => self.queue_digit(now, d),
            _ => match &mut self.step {
                Step::Recording {
                    end_digit: Some(end),
                    ended,
                } if *end == d && !*ended => {
                    *ended = true;
                    self.actions.push_back(Action::EndRecording);
                }
                _ => self.ignored_events += 1,
            },
        }
    }

    fn take_digit(&mut self, now: Instant, d: Digit) {
        let Some(g) = self.gathering.clone() else {
            self.ignored_events += 1;
            return;
        };
        if Some(d) == g.spec.terminator {
            self.digits_done(now);
            return;
        }
        self.buf.push(d);
        if let Some(field) = g.progress {
            self.actions
                .push_back(Action::PaymentProgress(PaymentProgress::Digits {
                    field,
                    count: self.buf.len(),
                    expected: (g.spec.min_len == g.spec.max_len).then_some(g.spec.max_len),
                }));
        }
        if self.buf.len() >= g.spec.max_len {
            self.digits_done(now);
        } else {
            self.wait = Wait::AwaitDigits {
                deadline: now + g.spec.inter_digit_timeout,
            };
        }
    }

    fn digits_timed_out(&mut self, now: Instant) {
        if self.buf.is_empty() {
            self.wait = Wait::Idle;
            self.gathering = None;
            self.record_input(InputValue::NoInput);
            self.entry_failed(now, true);
        } else {
            // Complete, or too short (then digits_done reports it as invalid).
            self.digits_done(now);
        }
    }

    fn digits_done(&mut self, now: Instant) {
        let digits = self.buf.take();
        let sensitive = self.gathering.as_ref().is_some_and(|g| g.sensitive);
        let g = self.gathering.take();
        self.wait = Wait::Idle;
        let value = if sensitive {
            InputValue::Masked(digits.len())
        } else {
            InputValue::Digits(digits.as_str().to_string())
        };
        self.record_input(value);
        let min = g.as_ref().map_or(1, |g| g.spec.min_len);
        if digits.len() < min {
            self.entry_failed(now, false);
        } else {
            self.gathered(now, digits);
        }
    }

    fn record_input(&mut self, value: InputValue) {
        let node = self.node_name();
        self.inputs.push(Input { node, value });
    }

    fn gather_for(spec: &GatherSpec) -> Gathering {
        Gathering {
            spec: spec.clone(),
            sensitive: false,
            progress: None,
        }
    }

    // ----- nodes ----------------------------------------------------------------------

    fn goto(&mut self, now: Instant, id: NodeId) {
        self.enter(now, id);
    }

    fn enter(&mut self, now: Instant, id: NodeId) {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            self.actions.push_back(Action::Hangup);
            self.finish(Outcome::FlowLoop);
            return;
        }
        let flow = Arc::clone(&self.flow);
        let node = flow.get(id);
        self.node = Some(id);
        self.path.push(PathStep {
            node: node.name.clone(),
            node_type: node.kind.type_name(),
            at_ms: self.elapsed_ms(now),
        });
        match &node.kind {
            NodeKind::Play { prompts, .. } => {
                self.step = Step::Play;
                self.play(now, prompts.clone(), None);
            }
            NodeKind::Menu {
                prompts, gather, ..
            } => {
                self.step = Step::Menu { attempt: 0 };
                self.play(now, prompts.clone(), Some(Self::gather_for(gather)));
            }
            NodeKind::Collect(c) => {
                self.step = Step::Collect { attempt: 0 };
                let g = Gathering {
                    spec: c.gather.clone(),
                    sensitive: c.sensitive,
                    progress: None,
                };
                self.play(now, c.prompts.clone(), Some(g));
            }
            NodeKind::Identify(i) => {
                if i.by == IdentifyBy::CallerNumber && self.ani.as_str().is_empty() {
                    // Anonymous caller (no or withheld ANI): nothing to look up.
                    self.goto(now, i.not_found);
                } else if i.by == IdentifyBy::CallerNumber {
                    self.step = Step::IdentifyLookup { attempt: 0 };
                    let request = self.request(now, RESULT_TIMEOUT);
                    self.actions.push_back(Action::LookupCaller {
                        request,
                        key: LookupKey::CallerNumber(self.ani.clone()),
                    });
                } else {
                    self.step = Step::IdentifyEntry { attempt: 0 };
                    self.play(now, i.prompts.clone(), Some(Self::gather_for(&i.gather)));
                }
            }
            NodeKind::Condition {
                test,
                then,
                otherwise,
            } => {
                let verdict = match test {
                    Test::BusinessHours(bh) => Some(bh.is_open(self.wall_now(now))),
                    Test::Tier(tiers) => Some(
                        self.customer
                            .as_ref()
                            .is_some_and(|c| tiers.contains(&c.tier)),
                    ),
                    Test::Variable { name, equals } => {
                        Some(self.variables.get(name) == Some(equals))
                    }
                    Test::QueueWait { queue, .. } | Test::Staffing { queue, .. } => {
                        self.step = Step::ConditionQuery;
                        let request = self.request(now, RESULT_TIMEOUT);
                        self.actions.push_back(Action::QueryQueue {
                            request,
                            queue: queue.clone(),
                        });
                        None
                    }
                };
                if let Some(v) = verdict {
                    self.goto(now, if v { *then } else { *otherwise });
                }
            }
            NodeKind::Set {
                priority,
                skills,
                variables,
                language,
                next,
            } => {
                if let Some(p) = priority {
                    self.priority = Some(*p);
                    self.actions.push_back(Action::SetPriority(*p));
                }
                if !skills.is_empty() {
                    self.skills = skills.clone();
                    self.actions.push_back(Action::SetSkills(skills.clone()));
                }
                for (k, v) in variables {
                    self.set_var(k, v.clone());
                }
                // Checked at load time: the flow can say its values in every language its
                // set nodes name.
                if let Some(l) = language
                    && self.flow.can_speak(*l)
                {
                    self.switch_language(*l);
                }
                self.goto(now, *next);
            }
            NodeKind::Queue(q) => {
                self.step = Step::Queue;
                self.actions.push_back(Action::Enqueue {
                    queue: q.queue.clone(),
                    priority: self.priority,
                    skills: self.skills.clone(),
                    announcements: QueueAnnouncements {
                        position: q.announce_position,
                        wait_time: q.announce_wait,
                        every: q.announce_every,
                        music: q.music.clone(),
                    },
                    callback_digit: q.callback_digit,
                });
                self.wait = Wait::InQueue {
                    next_announcement: now,
                    give_up: q.max_wait.map(|d| now + d),
                    announcing: None,
                    status_request: None,
                };
                // Music and the first announcement start right away.
                self.queue_announce_due(now, true);
            }
            NodeKind::Transfer { prompts, .. } => {
                self.step = Step::TransferPrompt;
                self.play(now, prompts.clone(), None);
            }
            NodeKind::Voicemail { prompts, .. } => {
                self.step = Step::VoicemailPrompt;
                self.play(now, prompts.clone(), None);
            }
            NodeKind::Booking(b) => {
                self.booking_relists = 0;
                self.booking_list(now, b, 0);
            }
            NodeKind::Pay(p) => self.pay_start(now, p),
            NodeKind::Hangup { prompts } => {
                self.step = Step::Hangup;
                self.play(now, prompts.clone(), None);
            }
            NodeKind::Return { prompts } => {
                self.step = Step::Return;
                self.play(now, prompts.clone(), None);
            }
        }
    }

    /// A playback without digit entry ended.
    fn played(&mut self, now: Instant) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let kind = &flow.get(id).kind;
        match (std::mem::replace(&mut self.step, Step::None), kind) {
            (Step::Play, NodeKind::Play { next, .. }) => self.goto(now, *next),
            (Step::TransferPrompt, NodeKind::Transfer { target, .. }) => {
                self.step = Step::Transferring;
                let request = self.request(now, TRANSFER_TIMEOUT);
                self.actions.push_back(Action::Transfer {
                    request,
                    target: target.clone(),
                });
            }
            (
                Step::VoicemailPrompt,
                NodeKind::Voicemail {
                    max_duration,
                    ticket_queue,
                    subject,
                    end_digit,
                    ..
                },
            ) => {
                self.step = Step::Recording {
                    end_digit: *end_digit,
                    ended: false,
                };
                let request = self.request(now, *max_duration + RESULT_TIMEOUT);
                self.actions.push_back(Action::RecordVoicemail {
                    request,
                    max_duration: *max_duration,
                    ticket_queue: ticket_queue.clone(),
                    subject: subject.clone(),
                    customer_id: self.customer.as_ref().map(|c| c.id.clone()),
                });
            }
            (Step::VoicemailReference, NodeKind::Voicemail { next, .. }) => {
                self.goto(now, *next);
            }
            (Step::Hangup, _) => {
                self.actions.push_back(Action::Hangup);
                if self.payment.is_none()
                    && let Some(h) = self.held.take()
                {
                    self.actions
                        .push_back(Action::ReleaseHold { hold_id: h.hold_id });
                }
                self.finish(Outcome::HungUp);
            }
            (Step::Return, _) => self.finish(Outcome::Returned),
            (Step::BookingNone, NodeKind::Booking(b)) => self.goto(now, b.on_none),
            (Step::BookingUnavailable { attempt }, NodeKind::Booking(b)) => {
                // Not the caller's fault: list again, a bounded number of times.
                if self.booking_relists >= MAX_RELISTS {
                    self.goto(now, b.retry.on_fail);
                } else {
                    self.booking_relists += 1;
                    self.booking_list(now, b, attempt);
                }
            }
            (Step::PayApproved, NodeKind::Pay(p)) => self.goto(now, p.next),
            (Step::PayFailed, NodeKind::Pay(p)) => self.goto(now, p.on_fail),
            (step, _) => {
                // Retry prompts for steps that take digits go through `play` with a gather,
                // so nothing else ends here; keep the step rather than lose it.
                self.step = step;
            }
        }
    }

    /// Digits were entered (at least `min_len`).
    fn gathered(&mut self, now: Instant, digits: DigitBuf) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let kind = &flow.get(id).kind;
        match (std::mem::replace(&mut self.step, Step::None), kind) {
            (Step::Menu { attempt }, NodeKind::Menu { branches, .. }) => {
                let first = digits.as_str().chars().next().and_then(Digit::from_char);
                match branches.iter().find(|(d, _)| Some(*d) == first) {
                    Some((_, target)) => self.goto(now, *target),
                    None => {
                        self.step = Step::Menu { attempt };
                        self.entry_failed(now, false);
                    }
                }
            }
            (Step::Collect { attempt }, NodeKind::Collect(c)) => {
                let ok = match c.validation {
                    Validation::Digits => digits.as_str().bytes().all(|b| b.is_ascii_digit()),
                    Validation::Luhn => luhn_valid(digits.as_str()),
                    Validation::Expiry => parse_expiry(digits.as_str())
                        .is_some_and(|e| expiry_not_past(e, self.today(now))),
                    Validation::Any => true,
                };
                if ok {
                    let value = if c.sensitive {
                        format!("<{} digits>", digits.len())
                    } else {
                        digits.as_str().to_string()
                    };
                    self.set_var(&c.variable, value);
                    self.goto(now, c.next);
                } else {
                    self.step = Step::Collect { attempt };
                    self.entry_failed(now, false);
                }
            }
            (Step::IdentifyEntry { attempt }, NodeKind::Identify(i)) => {
                if !digits.as_str().bytes().all(|b| b.is_ascii_digit()) {
                    self.step = Step::IdentifyEntry { attempt };
                    self.entry_failed(now, false);
                    return;
                }
                let value = digits.as_str().to_string();
                let key = if i.by == IdentifyBy::Account {
                    LookupKey::Account(value)
                } else {
                    LookupKey::BookingReference(value)
                };
                self.step = Step::IdentifyLookup { attempt };
                let request = self.request(now, RESULT_TIMEOUT);
                self.actions
                    .push_back(Action::LookupCaller { request, key });
            }
            (Step::IdentifyVerifyEntry { attempt, customer }, NodeKind::Identify(_)) => {
                let request = self.request(now, RESULT_TIMEOUT);
                self.actions.push_back(Action::VerifyCaller {
                    request,
                    customer_id: customer.id.clone(),
                    code: Secret(digits.as_str().to_string()),
                });
                self.step = Step::IdentifyVerifyCheck { attempt, customer };
            }
            (Step::BookingPick { attempt, items }, NodeKind::Booking(_)) => {
                let pick = digits
                    .as_str()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=items.len()).contains(n));
                match pick {
                    Some(n) => {
                        let item = items[n - 1].clone();
                        let request = self.request(now, RESULT_TIMEOUT);
                        self.actions.push_back(Action::HoldItem {
                            request,
                            item_id: item.id.clone(),
                        });
                        self.step = Step::BookingHold { attempt, item };
                    }
                    None => {
                        self.step = Step::BookingPick { attempt, items };
                        self.entry_failed(now, false);
                    }
                }
            }
            (Step::PayEntry { field, attempt }, NodeKind::Pay(p)) => {
                self.pay_field(now, p, field, attempt, digits)
            }
            (Step::PayRetryOffer, NodeKind::Pay(p)) => {
                if digits.as_str().chars().next().and_then(Digit::from_char) == Some(p.retry_digit)
                {
                    self.pay_entry(now, p, CardField::Number, 0, false);
                } else {
                    self.pay_give_up(now, p, false);
                }
            }
            (step, _) => self.step = step,
        }
    }

    /// Entry timed out (`timeout`) or was invalid: retry with prompts, or give up.
    fn entry_failed(&mut self, now: Instant, timeout: bool) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let kind = &flow.get(id).kind;
        let retry_prompts = |r: &Retry, again: &[Prompt]| -> Vec<Prompt> {
            let first = if timeout {
                &r.timeout_prompts
            } else {
                &r.invalid_prompts
            };
            first.iter().chain(again).cloned().collect()
        };
        match (std::mem::replace(&mut self.step, Step::None), kind) {
            (
                Step::Menu { attempt },
                NodeKind::Menu {
                    prompts,
                    gather,
                    retry,
                    ..
                },
            ) => {
                if attempt >= retry.retries {
                    self.goto(now, retry.on_fail);
                } else {
                    self.step = Step::Menu {
                        attempt: attempt + 1,
                    };
                    self.play(
                        now,
                        retry_prompts(retry, prompts),
                        Some(Self::gather_for(gather)),
                    );
                }
            }
            (Step::Collect { attempt }, NodeKind::Collect(c)) => {
                if attempt >= c.retry.retries {
                    self.goto(now, c.retry.on_fail);
                } else {
                    self.step = Step::Collect {
                        attempt: attempt + 1,
                    };
                    let g = Gathering {
                        spec: c.gather.clone(),
                        sensitive: c.sensitive,
                        progress: None,
                    };
                    self.play(now, retry_prompts(&c.retry, &c.prompts), Some(g));
                }
            }
            (Step::IdentifyEntry { attempt }, NodeKind::Identify(i)) => {
                self.identify_retry(now, i, attempt, timeout);
            }
            (Step::IdentifyVerifyEntry { attempt, customer }, NodeKind::Identify(i)) => {
                self.verify_retry(now, i, attempt, customer, timeout);
            }
            (Step::BookingPick { attempt, items }, NodeKind::Booking(b)) => {
                if attempt >= b.retry.retries {
                    self.goto(now, b.retry.on_fail);
                } else {
                    let again = self.booking_prompts(b, &items);
                    self.step = Step::BookingPick {
                        attempt: attempt + 1,
                        items,
                    };
                    self.play(
                        now,
                        retry_prompts(&b.retry, &again),
                        Some(Self::gather_for(&b.gather)),
                    );
                }
            }
            (Step::PayEntry { field, attempt }, NodeKind::Pay(p)) => {
                self.actions
                    .push_back(Action::PaymentProgress(PaymentProgress::Invalid { field }));
                if attempt >= p.entry_retries {
                    self.pay_give_up(now, p, false);
                } else {
                    self.pay_entry(now, p, field, attempt + 1, true);
                }
            }
            (Step::PayRetryOffer, NodeKind::Pay(p)) => self.pay_give_up(now, p, false),
            (step, _) => self.step = step,
        }
    }

    fn today(&self, now: Instant) -> crate::time::CivilDate {
        self.wall_now(now).local(0).date
    }

    // ----- identify -------------------------------------------------------------------

    fn identify_retry(&mut self, now: Instant, i: &IdentifySpec, attempt: u32, timeout: bool) {
        if attempt >= i.retry.retries {
            self.goto(now, i.retry.on_fail);
            return;
        }
        let first = if timeout {
            &i.retry.timeout_prompts
        } else {
            &i.retry.invalid_prompts
        };
        let prompts = first.iter().chain(&i.prompts).cloned().collect();
        self.step = Step::IdentifyEntry {
            attempt: attempt + 1,
        };
        self.play(now, prompts, Some(Self::gather_for(&i.gather)));
    }

    fn verify_retry(
        &mut self,
        now: Instant,
        i: &IdentifySpec,
        attempt: u32,
        customer: Customer,
        timeout: bool,
    ) {
        let Some(spec) = &i.verify else { return };
        if attempt >= i.retry.retries {
            self.goto(now, i.retry.on_fail);
            return;
        }
        let first = if timeout {
            &i.retry.timeout_prompts
        } else {
            &i.retry.invalid_prompts
        };
        let prompts = first.iter().chain(&i.verify_prompts).cloned().collect();
        self.step = Step::IdentifyVerifyEntry {
            attempt: attempt + 1,
            customer,
        };
        let g = Gathering {
            spec: spec.clone(),
            sensitive: true,
            progress: None,
        };
        self.play(now, prompts, Some(g));
    }

    fn on_lookup(&mut self, now: Instant, customer: Option<Customer>) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Identify(i) = &flow.get(id).kind else {
            return;
        };
        let Step::IdentifyLookup { attempt } = std::mem::replace(&mut self.step, Step::None) else {
            return;
        };
        match customer {
            Some(c) => {
                if let Some(spec) = &i.verify {
                    self.step = Step::IdentifyVerifyEntry {
                        attempt: 0,
                        customer: c,
                    };
                    let g = Gathering {
                        spec: spec.clone(),
                        sensitive: true,
                        progress: None,
                    };
                    self.play(now, i.verify_prompts.clone(), Some(g));
                } else {
                    self.identified(now, i, c);
                }
            }
            None if i.by == IdentifyBy::CallerNumber => self.goto(now, i.not_found),
            None => self.identify_retry(now, i, attempt, false),
        }
    }

    fn on_verify(&mut self, now: Instant, verified: bool) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Identify(i) = &flow.get(id).kind else {
            return;
        };
        let Step::IdentifyVerifyCheck { attempt, customer } =
            std::mem::replace(&mut self.step, Step::None)
        else {
            return;
        };
        if verified {
            self.identified(now, i, customer);
        } else {
            self.verify_retry(now, i, attempt, customer, false);
        }
    }

    fn identified(&mut self, now: Instant, i: &IdentifySpec, c: Customer) {
        self.actions.push_back(Action::CustomerIdentified {
            customer_id: c.id.clone(),
            tier: c.tier.clone(),
        });
        for (k, v) in &c.attributes {
            self.set_var(&format!("customer.{k}"), v.clone());
        }
        // The caller's own language, when the record has one the flow speaks.
        if let Some(l) = c
            .attributes
            .get("language")
            .and_then(|l| Language::parse(l))
            && l != self.language
            && self.flow.languages().contains(&l)
            && self.flow.can_speak(l)
        {
            self.switch_language(l);
        }
        self.customer = Some(c);
        self.goto(now, i.found);
    }

    // ----- results that time out ------------------------------------------------------

    fn result_timed_out(&mut self, now: Instant) {
        match self.step {
            Step::IdentifyLookup { .. } => self.on_lookup(now, None),
            Step::IdentifyVerifyCheck { .. } => self.on_verify(now, false),
            Step::ConditionQuery => self.on_condition_status(now, None),
            Step::Transferring => self.on_transfer_result(now, false),
            Step::Recording { .. } => self.after_recording(now, None),
            Step::BookingList { .. } => self.on_bookable(now, Vec::new()),
            Step::BookingHold { .. } => self.on_hold(now, None),
            Step::PayCharge => self.on_payment(now, Err("gateway timeout".to_string())),
            _ => {}
        }
    }

    // ----- condition on queue status --------------------------------------------------

    fn on_queue_status(&mut self, now: Instant, request: Option<RequestId>, status: QueueStatus) {
        match self.wait {
            Wait::AwaitResult { request: r, .. }
                if Some(r) == request && matches!(self.step, Step::ConditionQuery) =>
            {
                self.wait = Wait::Idle;
                self.on_condition_status(now, Some(status));
            }
            Wait::InQueue { status_request, .. } => {
                let answered = request.is_some() && request == status_request;
                self.queue_status = Some(status);
                if answered {
                    self.queue_announce();
                }
            }
            _ => self.ignored_events += 1,
        }
    }

    fn on_condition_status(&mut self, now: Instant, status: Option<QueueStatus>) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Condition {
            test,
            then,
            otherwise,
        } = &flow.get(id).kind
        else {
            return;
        };
        self.step = Step::None;
        let verdict = match (test, status) {
            (Test::QueueWait { max_wait, .. }, Some(s)) => s.estimated_wait <= *max_wait,
            (Test::Staffing { min_agents, .. }, Some(s)) => s.agents_available >= *min_agents,
            _ => false,
        };
        self.goto(now, if verdict { *then } else { *otherwise });
    }

    // ----- queue ----------------------------------------------------------------------

    fn queue_spec(&self) -> Option<(Arc<Flow>, NodeId)> {
        let id = self.node?;
        matches!(self.flow.get(id).kind, NodeKind::Queue(_)).then(|| (Arc::clone(&self.flow), id))
    }

    fn queue_music(&mut self) {
        let Some((flow, id)) = self.queue_spec() else {
            return;
        };
        let NodeKind::Queue(q) = &flow.get(id).kind else {
            return;
        };
        if let Some(music) = &q.music {
            let pid = PlaybackId(self.next_id());
            self.actions.push_back(Action::PlayMusic {
                id: pid,
                music: music.clone(),
            });
        }
    }

    /// The timer for the next announcement fired (or the caller just joined: `first`).
    fn queue_announce_due(&mut self, now: Instant, first: bool) {
        let Some((flow, id)) = self.queue_spec() else {
            return;
        };
        let NodeKind::Queue(q) = &flow.get(id).kind else {
            return;
        };
        let request = (q.announce_position || q.announce_wait).then(|| RequestId(self.next_id()));
        if let Wait::InQueue {
            next_announcement,
            status_request,
            ..
        } = &mut self.wait
        {
            *next_announcement = now + q.announce_every;
            *status_request = request;
        }
        if first {
            self.queue_music();
        }
        match request {
            // The announcement is played when the status arrives.
            Some(request) => self.actions.push_back(Action::QueryQueue {
                request,
                queue: q.queue.clone(),
            }),
            None => {
                let periodic = if first {
                    &[][..]
                } else {
                    &q.periodic_prompts[..]
                };
                let prompts: Vec<Prompt> = periodic
                    .iter()
                    .chain(self.callback_prompts(q))
                    .cloned()
                    .collect();
                if !prompts.is_empty() {
                    self.queue_play(prompts);
                }
            }
        }
    }

    /// The queue's callback prompts, when a callback may be offered to this caller.
    fn callback_prompts<'q>(&self, q: &'q QueueSpec) -> &'q [Prompt] {
        match self.callback {
            CallbackOffer::Allowed => &q.callback_prompts,
            CallbackOffer::Withheld => &[],
        }
    }

    fn queue_play(&mut self, prompts: Vec<Prompt>) {
        let prompts = self.localised(prompts);
        let pid = PlaybackId(self.next_id());
        self.actions.push_back(Action::Play {
            id: pid,
            prompts,
            barge_in: true,
        });
        if let Wait::InQueue { announcing, .. } = &mut self.wait {
            *announcing = Some(pid);
        }
    }

    fn queue_announce(&mut self) {
        let Some((flow, id)) = self.queue_spec() else {
            return;
        };
        let NodeKind::Queue(q) = &flow.get(id).kind else {
            return;
        };
        let status = self.queue_status.clone().unwrap_or_default();
        let mut prompts = Vec::new();
        if q.announce_position && status.position > 0 {
            say::queue_position(self.language, u64::from(status.position), &mut prompts);
        }
        if q.announce_wait {
            say::wait(self.language, status.estimated_wait.as_secs(), &mut prompts);
        }
        prompts.extend(q.periodic_prompts.iter().cloned());
        prompts.extend(self.callback_prompts(q).iter().cloned());
        if prompts.is_empty() {
            self.queue_music();
        } else {
            self.queue_play(prompts);
        }
    }

    fn queue_digit(&mut self, now: Instant, d: Digit) {
        let Some((flow, id)) = self.queue_spec() else {
            return;
        };
        let NodeKind::Queue(q) = &flow.get(id).kind else {
            return;
        };
        if q.callback_digit != Some(d) || self.callback == CallbackOffer::Withheld {
            self.ignored_events += 1;
            return;
        }
        let Some(target) = q.on_callback else { return };
        self.record_input(InputValue::Digits(d.to_string()));
        self.actions.push_back(Action::StopPlayback);
        self.actions.push_back(Action::LeaveQueue {
            queue: q.queue.clone(),
        });
        self.actions.push_back(Action::RequestCallback {
            queue: q.queue.clone(),
            number: self.ani.clone(),
        });
        self.set_var("callback", "requested".to_string());
        self.step = Step::None;
        self.wait = Wait::Idle;
        self.goto(now, target);
    }

    fn queue_gave_up(&mut self, now: Instant) {
        let Some((flow, id)) = self.queue_spec() else {
            return;
        };
        let NodeKind::Queue(q) = &flow.get(id).kind else {
            return;
        };
        self.actions.push_back(Action::StopPlayback);
        self.actions.push_back(Action::LeaveQueue {
            queue: q.queue.clone(),
        });
        self.step = Step::None;
        self.wait = Wait::Idle;
        match q.on_max_wait {
            Some(target) => self.goto(now, target),
            None => {
                self.actions.push_back(Action::Hangup);
                self.finish(Outcome::HungUp);
            }
        }
    }

    // ----- transfer and voicemail -----------------------------------------------------

    fn on_transfer_result(&mut self, now: Instant, ok: bool) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Transfer {
            target, on_fail, ..
        } = &flow.get(id).kind
        else {
            return;
        };
        self.step = Step::None;
        if ok {
            self.finish(Outcome::Transferred {
                target: target.clone(),
            });
        } else {
            match on_fail {
                Some(n) => self.goto(now, *n),
                None => {
                    self.actions.push_back(Action::Hangup);
                    self.finish(Outcome::HungUp);
                }
            }
        }
    }

    fn after_recording(&mut self, now: Instant, ticket: Option<String>) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Voicemail {
            next,
            reference_prompts,
            ..
        } = &flow.get(id).kind
        else {
            return;
        };
        self.step = Step::None;
        self.set_var("voicemail", "recorded".to_string());
        match ticket {
            Some(t) => {
                self.set_var("ticket", t.clone());
                if reference_prompts.is_empty() {
                    self.goto(now, *next);
                } else {
                    let mut prompts = reference_prompts.clone();
                    say::digits(self.language, &t, &mut prompts);
                    self.step = Step::VoicemailReference;
                    self.play(now, prompts, None);
                }
            }
            None => self.goto(now, *next),
        }
    }

    // ----- booking --------------------------------------------------------------------

    fn booking_list(&mut self, now: Instant, b: &BookingSpec, attempt: u32) {
        self.step = Step::BookingList { attempt };
        let request = self.request(now, RESULT_TIMEOUT);
        self.actions.push_back(Action::ListBookable {
            request,
            category: b.category.clone(),
            customer_id: self.customer.as_ref().map(|c| c.id.clone()),
            max_items: b.max_items,
        });
    }

    fn booking_prompts(&self, b: &BookingSpec, items: &[BookableItem]) -> Vec<Prompt> {
        let mut prompts = b.intro_prompts.clone();
        for (i, item) in items.iter().enumerate() {
            say::booking_option(
                self.language,
                item.starts_at,
                item.price_minor,
                &item.currency,
                i as u64 + 1,
                &mut prompts,
            );
        }
        prompts
    }

    fn on_bookable(&mut self, now: Instant, mut items: Vec<BookableItem>) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Booking(b) = &flow.get(id).kind else {
            return;
        };
        let Step::BookingList { attempt } = std::mem::replace(&mut self.step, Step::None) else {
            return;
        };
        items.truncate(b.max_items);
        if items.is_empty() {
            self.step = Step::BookingNone;
            self.play(now, b.none_prompts.clone(), None);
            return;
        }
        let prompts = self.booking_prompts(b, &items);
        self.step = Step::BookingPick { attempt, items };
        self.play(now, prompts, Some(Self::gather_for(&b.gather)));
    }

    fn on_hold(&mut self, now: Instant, hold_id: Option<String>) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Booking(b) = &flow.get(id).kind else {
            return;
        };
        let Step::BookingHold { attempt, item } = std::mem::replace(&mut self.step, Step::None)
        else {
            return;
        };
        match hold_id {
            Some(hold_id) => {
                self.set_var("booking_item", item.id.clone());
                self.set_var("booking_hold", hold_id.clone());
                if let Some(old) = self.held.replace(HeldItem { item, hold_id }) {
                    self.actions.push_back(Action::ReleaseHold {
                        hold_id: old.hold_id,
                    });
                }
                self.goto(now, b.next);
            }
            None => {
                self.step = Step::BookingUnavailable { attempt };
                self.play(now, b.unavailable_prompts.clone(), None);
            }
        }
    }

    // ----- pay ------------------------------------------------------------------------

    fn pay_amount(&self, p: &PaySpec) -> Option<(u64, String)> {
        match &p.amount {
            AmountFrom::Fixed { minor, currency } => Some((*minor, currency.clone())),
            AmountFrom::Booking => self
                .held
                .as_ref()
                .map(|h| (h.item.price_minor, h.item.currency.clone())),
            AmountFrom::Balance => {
                let currency = self
                    .variables
                    .get("customer.currency")
                    .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))?;
                self.variables
                    .get("customer.balance_minor")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .filter(|m| *m > 0)
                    .map(|m| (m, currency.clone()))
            }
            AmountFrom::Variable {
                name,
                currency,
                currency_variable,
            } => {
                let currency = currency_variable
                    .as_ref()
                    .and_then(|v| self.variables.get(v))
                    .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
                    .unwrap_or(currency);
                self.variables
                    .get(name)
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .filter(|m| *m > 0)
                    .map(|m| (m, currency.clone()))
            }
        }
    }

    fn pay_start(&mut self, now: Instant, p: &PaySpec) {
        let Some((amount_minor, currency)) = self.pay_amount(p) else {
            // Nothing to pay for (no held item): not a caller error, go on to on_fail.
            self.set_var("payment", "no_amount".to_string());
            self.goto(now, p.on_fail);
            return;
        };
        self.card_attempt = 0;
        self.actions.push_back(Action::PauseRecording);
        self.actions.push_back(Action::SuppressDtmfToAgent(true));
        self.actions
            .push_back(Action::PaymentProgress(PaymentProgress::Started {
                amount_minor,
                currency,
            }));
        self.pay_entry(now, p, CardField::Number, 0, false);
    }

    fn pay_entry(
        &mut self,
        now: Instant,
        p: &PaySpec,
        field: CardField,
        attempt: u32,
        invalid: bool,
    ) {
        if field == CardField::Number {
            self.card = Some(CardEntry::default());
        }
        let (min, max, base) = match field {
            CardField::Number => (12, 19, &p.card_prompts),
            CardField::Expiry => (4, 4, &p.expiry_prompts),
            CardField::SecurityCode => {
                let len = self
                    .card
                    .as_ref()
                    .map_or(3, |c| CardBrand::detect(c.number.as_str()).cvv_len());
                (len, len, &p.cvv_prompts)
            }
        };
        let mut prompts = Vec::new();
        if invalid {
            prompts.extend(p.invalid_prompts.iter().cloned());
        }
        if field == CardField::Number
            && attempt == 0
            && !invalid
            && self.card_attempt == 0
            && let Some((minor, currency)) = self.pay_amount(p)
        {
            // "The amount due is ..." before the first card prompt.
            say::amount_due(self.language, minor, &currency, &mut prompts);
        }
        prompts.extend(base.iter().cloned());
        let g = Gathering {
            spec: GatherSpec {
                min_len: min,
                max_len: max,
                terminator: Some(Digit::HASH),
                first_timeout: p.first_timeout,
                inter_digit_timeout: p.inter_digit_timeout,
                barge_in: true,
            },
            sensitive: true,
            progress: Some(field),
        };
        self.step = Step::PayEntry { field, attempt };
        self.play(now, prompts, Some(g));
    }

    fn pay_field(
        &mut self,
        now: Instant,
        p: &PaySpec,
        field: CardField,
        attempt: u32,
        digits: DigitBuf,
    ) {
        let all_digits = digits.as_str().bytes().all(|b| b.is_ascii_digit());
        match field {
            CardField::Number => {
                if all_digits && luhn_valid(digits.as_str()) {
                    if let Some(card) = &mut self.card {
                        card.number = digits;
                    }
                    self.pay_entry(now, p, CardField::Expiry, 0, false);
                } else {
                    self.step = Step::PayEntry { field, attempt };
                    self.entry_failed(now, false);
                }
            }
            CardField::Expiry => {
                let today = self.today(now);
                match parse_expiry(digits.as_str()).filter(|e| expiry_not_past(*e, today)) {
                    Some(e) => {
                        if let Some(card) = &mut self.card {
                            card.expiry = Some(e);
                        }
                        self.pay_entry(now, p, CardField::SecurityCode, 0, false);
                    }
                    None => {
                        self.step = Step::PayEntry { field, attempt };
                        self.entry_failed(now, false);
                    }
                }
            }
            CardField::SecurityCode => {
                let card = self.card.as_ref().and_then(|c| {
                    let (y, m) = c.expiry?;
                    CardData::new(c.number.as_str(), y as u16, m as u8, digits.as_str())
                });
                match card {
                    Some(card) => self.pay_charge(now, p, card),
                    None => {
                        self.step = Step::PayEntry { field, attempt };
                        self.entry_failed(now, false);
                    }
                }
            }
        }
    }

    fn pay_charge(&mut self, now: Instant, p: &PaySpec, card: CardData) {
        let Some((amount_minor, currency)) = self.pay_amount(p) else {
            self.pay_give_up(now, p, false);
            return;
        };
        let node = self.node_name();
        let charge = ChargeRequest {
            idempotency_key: IdempotencyKey(format!(
                "{}:{}:{}",
                self.call_id,
                node,
                self.card_attempt + 1
            )),
            amount_minor,
            currency,
            description: p
                .description_variable
                .as_ref()
                .and_then(|v| self.variables.get(v))
                .map_or_else(
                    || p.description.clone(),
                    |d| format!("{} {d}", p.description),
                ),
            card,
        };
        if let Some(entry) = &mut self.card {
            entry.number.clear();
            entry.pending = Some(charge.clone());
            entry.gateway_retried = false;
        }
        self.step = Step::PayCharge;
        let request = self.request(now, CHARGE_TIMEOUT);
        self.actions
            .push_back(Action::PaymentProgress(PaymentProgress::Submitted));
        let settles = settles(p);
        self.actions.push_back(Action::Charge {
            request,
            charge,
            settles,
        });
    }

    fn on_payment(&mut self, now: Instant, result: Result<ChargeResult, String>) {
        let Some(id) = self.node else { return };
        let flow = Arc::clone(&self.flow);
        let NodeKind::Pay(p) = &flow.get(id).kind else {
            return;
        };
        if !matches!(self.step, Step::PayCharge) {
            return;
        }
        match result {
            Ok(r) => {
                let pending = self.card.take().and_then(|mut c| c.pending.take());
                match r.status {
                    ChargeStatus::Approved => {
                        let (amount_minor, currency, key) = pending.map_or_else(
                            || (0, String::new(), String::new()),
                            |c| {
                                (
                                    c.amount_minor,
                                    c.currency.clone(),
                                    c.idempotency_key.0.clone(),
                                )
                            },
                        );
                        self.actions.push_back(Action::PaymentProgress(
                            PaymentProgress::Approved {
                                brand: r.brand,
                                last_four: r.last_four.clone(),
                            },
                        ));
                        self.set_var("payment_token", r.token.clone());
                        self.set_var("payment_last_four", r.last_four.clone());
                        self.payment = Some(PaymentRecord {
                            token: r.token,
                            brand: r.brand,
                            last_four: r.last_four,
                            amount_minor,
                            currency,
                            idempotency_key: key,
                        });
                        self.end_payment_mode(false);
                        self.step = Step::PayApproved;
                        self.play(now, p.approved_prompts.clone(), None);
                    }
                    ChargeStatus::Declined(reason) => self.pay_declined(now, p, reason),
                    ChargeStatus::InsufficientFunds => {
                        self.pay_declined(now, p, "insufficient_funds".to_string())
                    }
                }
            }
            Err(_) => {
                // The gateway could not decide: retry once with the same idempotency key,
                // so a charge that did go through is not taken twice.
                let retry = self.card.as_mut().and_then(|c| {
                    if c.gateway_retried {
                        None
                    } else {
                        c.gateway_retried = true;
                        c.pending.clone()
                    }
                });
                match retry {
                    Some(charge) => {
                        let request = self.request(now, CHARGE_TIMEOUT);
                        self.actions.push_back(Action::Charge {
                            request,
                            charge,
                            settles: settles(p),
                        });
                    }
                    None => {
                        self.card = None;
                        self.pay_give_up(now, p, true);
                    }
                }
            }
        }
    }

    fn pay_declined(&mut self, now: Instant, p: &PaySpec, reason: String) {
        self.card = None;
        self.actions
            .push_back(Action::PaymentProgress(PaymentProgress::Declined {
                reason,
            }));
        self.card_attempt += 1;
        if self.card_attempt > p.retries {
            self.pay_give_up(now, p, false);
            return;
        }
        let prompts = p
            .declined_prompts
            .iter()
            .chain(&p.retry_prompts)
            .cloned()
            .collect();
        self.step = Step::PayRetryOffer;
        let g = Gathering {
            spec: GatherSpec {
                min_len: 1,
                max_len: 1,
                terminator: None,
                first_timeout: p.first_timeout,
                inter_digit_timeout: p.inter_digit_timeout,
                barge_in: true,
            },
            sensitive: false,
            progress: None,
        };
        self.play(now, prompts, Some(g));
    }

    /// Leaves card entry: recording back on, DTMF to the agent back on.
    fn end_payment_mode(&mut self, abandoned: bool) {
        self.card = None;
        if abandoned {
            self.actions
                .push_back(Action::PaymentProgress(PaymentProgress::Abandoned));
        }
        self.actions.push_back(Action::ResumeRecording);
        self.actions.push_back(Action::SuppressDtmfToAgent(false));
    }

    fn pay_give_up(&mut self, now: Instant, p: &PaySpec, say_declined: bool) {
        self.end_payment_mode(true);
        self.set_var("payment", "failed".to_string());
        self.step = Step::PayFailed;
        let prompts = if say_declined {
            p.declined_prompts.clone()
        } else {
            Vec::new()
        };
        self.play(now, prompts, None);
    }
}
