//! Outbound campaigns as plain values: a campaign and its settings, the contacts it calls (with
//! their dialling state), one attempt per dial, do-not-call entries, the reports of a contact
//! import or a list built from customers, and the counters of a live board.
//!
//! The dialler core decides pacing and recycling from these values; `hotline-store` keeps them.
//! Nothing here reads a clock: every time is [`Millis`] given by the caller.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{CustomerId, Error, Millis, Result};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_newtype!(
    /// Database id of an outbound campaign.
    CampaignId
);
id_newtype!(
    /// Database id of one contact (a number to call) in a campaign.
    CampaignContactId
);
id_newtype!(
    /// Database id of one dial attempt.
    AttemptId
);
id_newtype!(
    /// Database id of a do-not-call entry.
    DncEntryId
);

/// A phone number in E.164 (`+4930123456`), normalised by [`crate::phone::normalize`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Reads `raw` as a phone number; national forms need `default_cc` (digits, no `+`).
    pub fn parse(raw: &str, default_cc: Option<&str>) -> Result<E164> {
        crate::phone::normalize(raw, default_cc).map(E164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for E164 {
    type Error = Error;
    fn try_from(s: String) -> Result<E164> {
        E164::parse(&s, None)
    }
}

impl From<E164> for String {
    fn from(n: E164) -> String {
        n.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a campaign paces its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    /// The agent sees the contact first and starts the call.
    Preview,
    /// One call per free agent, placed automatically.
    Progressive,
    /// More calls than free agents, paced by an abandon-rate model.
    Predictive,
    /// A fixed number of lines per free agent ([`CampaignSettings::lines_per_agent`]).
    Ratio,
}

impl DialMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DialMode::Preview => "preview",
            DialMode::Progressive => "progressive",
            DialMode::Predictive => "predictive",
            DialMode::Ratio => "ratio",
        }
    }

    pub fn parse(s: &str) -> Result<DialMode> {
        Ok(match s {
            "preview" => DialMode::Preview,
            "progressive" => DialMode::Progressive,
            "predictive" => DialMode::Predictive,
            "ratio" => DialMode::Ratio,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown dial mode {other:?} (preview, progressive, predictive or ratio)"
                )));
            }
        })
    }
}

/// Where a campaign is in its life. `Stopped` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Running,
    Paused,
    Stopped,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Result<CampaignStatus> {
        Ok(match s {
            "draft" => CampaignStatus::Draft,
            "running" => CampaignStatus::Running,
            "paused" => CampaignStatus::Paused,
            "stopped" => CampaignStatus::Stopped,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown campaign status {other:?} (draft, running, paused or stopped)"
                )));
            }
        })
    }

    /// The allowed moves: draft to running; running and paused to each other; anything but
    /// stopped to stopped. Staying in the same status is allowed (a repeated command).
    pub fn can_become(self, next: CampaignStatus) -> bool {
        use CampaignStatus::*;
        self == next
            || matches!(
                (self, next),
                (Draft, Running)
                    | (Running, Paused)
                    | (Paused, Running)
                    | (Draft | Running | Paused, Stopped)
            )
    }
}

/// A day of the week, for calling windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A local time of day (in the contact's, else the campaign's, time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8) -> Result<TimeOfDay> {
        if hour > 24 || minute > 59 || (hour == 24 && minute != 0) {
            return Err(Error::Invalid(format!(
                "{hour:02}:{minute:02} is not a time of day"
            )));
        }
        Ok(TimeOfDay { hour, minute })
    }

    /// Minutes since local midnight (0 to 1440).
    pub fn minutes(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }
}

/// Calls may be placed on `days` from `from` (inclusive) to `until` (exclusive), local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallingWindow {
    pub days: Vec<Weekday>,
    pub from: TimeOfDay,
    pub until: TimeOfDay,
}

/// When a contact whose last attempt ended with `outcome` is dialled again: after
/// `retry_after_minutes`, unless it has already had `max_attempts` attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecycleRule {
    pub outcome: OutcomeKind,
    pub retry_after_minutes: u32,
    pub max_attempts: u32,
}

/// The fewest seconds a campaign may let a number ring (regulators and courtesy: 15).
pub const MIN_RING_SECONDS: u32 = 15;

/// How a campaign dials. Stored as one JSON document; [`CampaignSettings::validate`] is the
/// contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSettings {
    /// When calls may be placed; at least one window.
    pub calling_hours: Vec<CallingWindow>,
    /// IANA time zone (`Europe/Berlin`) of contacts that have none of their own.
    pub time_zone: String,
    /// Country code (digits, no `+`) used to read national numbers in imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// How long a number rings before the attempt is `no_answer`; at least [`MIN_RING_SECONDS`].
    pub ring_seconds: u32,
    /// Largest share of live answers that may be abandoned, percent (e.g. 3.0).
    pub abandon_cap_percent: f64,
    /// The number presented to the called party (E.164); needed before the campaign runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Most calls the campaign may have in progress at once.
    pub max_lines: u32,
    /// Lines dialled per free agent in [`DialMode::Ratio`] (1.0 or more).
    pub lines_per_agent: f64,
    /// Most attempts per contact, whatever the outcomes.
    pub max_attempts: u32,
    /// Per-outcome retry rules; an outcome without a rule is not retried.
    pub recycling: Vec<RecycleRule>,
}

impl Default for CampaignSettings {
    /// Weekdays 09:00 to 20:00 UTC, 25 s ring, 3 % abandon cap, 10 lines, 3 attempts; busy
    /// retried after 15 minutes, no answer after 2 hours, answering machine after 4 hours.
    fn default() -> Self {
        use Weekday::*;
        CampaignSettings {
            calling_hours: vec![CallingWindow {
                days: vec![Mon, Tue, Wed, Thu, Fri],
                from: TimeOfDay { hour: 9, minute: 0 },
                until: TimeOfDay {
                    hour: 20,
                    minute: 0,
                },
            }],
            time_zone: "UTC".into(),
            country_code: None,
            ring_seconds: 25,
            abandon_cap_percent: 3.0,
            caller_id: None,
            max_lines: 10,
            lines_per_agent: 1.0,
            max_attempts: 3,
            recycling: vec![
                RecycleRule {
                    outcome: OutcomeKind::Busy,
                    retry_after_minutes: 15,
                    max_attempts: 3,
                },
                RecycleRule {
                    outcome: OutcomeKind::NoAnswer,
                    retry_after_minutes: 120,
                    max_attempts: 3,
                },
                RecycleRule {
                    outcome: OutcomeKind::Machine,
                    retry_after_minutes: 240,
                    max_attempts: 2,
                },
            ],
        }
    }
}

/// Checks an IANA-looking time zone name (`UTC`, `Europe/Berlin`, `America/Argentina/Salta`).
/// Whether the zone exists is for whoever holds the time zone database.
pub fn check_time_zone(tz: &str) -> Result<()> {
    let ok = !tz.is_empty()
        && tz.len() <= 64
        && tz.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{tz:?} is not a time zone name")))
    }
}

impl CampaignSettings {
    /// Refuses settings a dialler cannot honour, saying which field is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.calling_hours.is_empty() {
            return bad("calling_hours needs at least one window".into());
        }
        for w in &self.calling_hours {
            TimeOfDay::new(w.from.hour, w.from.minute)?;
            TimeOfDay::new(w.until.hour, w.until.minute)?;
            if w.days.is_empty() || w.from >= w.until {
                return bad("a calling window needs days and from < until".into());
            }
        }
        check_time_zone(&self.time_zone)?;
        if let Some(cc) = &self.country_code
            && (cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()))
        {
            return bad(format!("country_code {cc:?} must be 1 to 3 digits"));
        }
        if self.ring_seconds < MIN_RING_SECONDS {
            return bad(format!(
                "ring_seconds must be at least {MIN_RING_SECONDS} (got {})",
                self.ring_seconds
            ));
        }
        if !(0.0..=100.0).contains(&self.abandon_cap_percent) {
            return bad("abandon_cap_percent must be between 0 and 100".into());
        }
        if let Some(cli) = &self.caller_id {
            crate::phone::normalize(cli, None)
                .map_err(|_| Error::Invalid(format!("caller_id {cli:?} is not an E.164 number")))?;
        }
        if self.max_lines == 0 || self.max_attempts == 0 {
            return bad("max_lines and max_attempts must be at least 1".into());
        }
        if !(1.0..=10.0).contains(&self.lines_per_agent) {
            return bad("lines_per_agent must be between 1 and 10".into());
        }
        for r in &self.recycling {
            if r.max_attempts == 0 || r.retry_after_minutes == 0 {
                return bad(format!(
                    "recycling rule for {} needs max_attempts and retry_after_minutes of 1 or more",
                    r.outcome.as_str()
                ));
            }
        }
        Ok(())
    }
}

/// A campaign to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCampaign {
    pub name: String,
    pub mode: DialMode,
    pub settings: CampaignSettings,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub mode: DialMode,
    pub status: CampaignStatus,
    pub settings: CampaignSettings,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Changes to a campaign; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignUpdate {
    pub name: Option<String>,
    pub mode: Option<DialMode>,
    pub settings: Option<CampaignSettings>,
}

/// How a dial attempt ended, without the disposition: what is stored in the `outcome` column
/// and what recycling rules name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    AnsweredPerson,
    Machine,
    Busy,
    NoAnswer,
    Failed,
    Abandoned,
    WrongNumber,
    DoNotCall,
    Completed,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::AnsweredPerson => "answered_person",
            OutcomeKind::Machine => "machine",
            OutcomeKind::Busy => "busy",
            OutcomeKind::NoAnswer => "no_answer",
            OutcomeKind::Failed => "failed",
            OutcomeKind::Abandoned => "abandoned",
            OutcomeKind::WrongNumber => "wrong_number",
            OutcomeKind::DoNotCall => "do_not_call",
            OutcomeKind::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Result<OutcomeKind> {
        Ok(match s {
            "answered_person" => OutcomeKind::AnsweredPerson,
            "machine" => OutcomeKind::Machine,
            "busy" => OutcomeKind::Busy,
            "no_answer" => OutcomeKind::NoAnswer,
            "failed" => OutcomeKind::Failed,
            "abandoned" => OutcomeKind::Abandoned,
            "wrong_number" => OutcomeKind::WrongNumber,
            "do_not_call" => OutcomeKind::DoNotCall,
            "completed" => OutcomeKind::Completed,
            other => return Err(Error::Corrupt(format!("unknown attempt outcome {other:?}"))),
        })
    }

    /// A person answered and was put through or handled (the board's "connected"). An
    /// abandoned call (a person answered, no agent was free) is counted apart.
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            OutcomeKind::AnsweredPerson
                | OutcomeKind::Completed
                | OutcomeKind::WrongNumber
                | OutcomeKind::DoNotCall
        )
    }

    /// The kinds [`OutcomeKind::is_connected`] accepts.
    pub const CONNECTED: [OutcomeKind; 4] = [
        OutcomeKind::AnsweredPerson,
        OutcomeKind::Completed,
        OutcomeKind::WrongNumber,
        OutcomeKind::DoNotCall,
    ];
}

/// How a dial attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A person answered (the agent has not written a disposition yet).
    AnsweredPerson,
    /// An answering machine or voicemail answered.
    Machine,
    Busy,
    NoAnswer,
    /// The network refused or the call failed before ringing.
    Failed,
    /// A person answered and no agent was free in time.
    Abandoned,
    WrongNumber,
    /// The person asked not to be called again.
    DoNotCall,
    /// The agent finished the call with a wrap-up code.
    Completed {
        disposition: String,
    },
}

impl AttemptOutcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            AttemptOutcome::AnsweredPerson => OutcomeKind::AnsweredPerson,
            AttemptOutcome::Machine => OutcomeKind::Machine,
            AttemptOutcome::Busy => OutcomeKind::Busy,
            AttemptOutcome::NoAnswer => OutcomeKind::NoAnswer,
            AttemptOutcome::Failed => OutcomeKind::Failed,
            AttemptOutcome::Abandoned => OutcomeKind::Abandoned,
            AttemptOutcome::WrongNumber => OutcomeKind::WrongNumber,
            AttemptOutcome::DoNotCall => OutcomeKind::DoNotCall,
            AttemptOutcome::Completed { .. } => OutcomeKind::Completed,
        }
    }

    /// The disposition of a completed call.
    pub fn disposition(&self) -> Option<&str> {
        match self {
            AttemptOutcome::Completed { disposition } => Some(disposition),
            _ => None,
        }
    }

    /// Rebuilds an outcome from its stored columns.
    pub fn from_parts(kind: &str, disposition: Option<String>) -> Result<AttemptOutcome> {
        Ok(match OutcomeKind::parse(kind)? {
            OutcomeKind::AnsweredPerson => AttemptOutcome::AnsweredPerson,
            OutcomeKind::Machine => AttemptOutcome::Machine,
            OutcomeKind::Busy => AttemptOutcome::Busy,
            OutcomeKind::NoAnswer => AttemptOutcome::NoAnswer,
            OutcomeKind::Failed => AttemptOutcome::Failed,
            OutcomeKind::Abandoned => AttemptOutcome::Abandoned,
            OutcomeKind::WrongNumber => AttemptOutcome::WrongNumber,
            OutcomeKind::DoNotCall => AttemptOutcome::DoNotCall,
            OutcomeKind::Completed => AttemptOutcome::Completed {
                disposition: disposition.ok_or_else(|| {
                    Error::Corrupt("completed attempt without a disposition".into())
                })?,
            },
        })
    }
}

/// Where a contact is in the campaign's dialling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ContactState {
    /// Ready to be dialled (never tried, or due again).
    Pending,
    /// To be dialled at `at`: a retry, or a callback. With an `owner`, it is that agent's
    /// callback ("call me Tuesday at 10") and only that agent gets it.
    Scheduled { at: Millis, owner: Option<String> },
    /// An attempt is in progress.
    Dialling,
    /// Nothing more to do (reached, refused, out of attempts).
    Done,
}

impl ContactState {
    pub fn name(&self) -> &'static str {
        match self {
            ContactState::Pending => "pending",
            ContactState::Scheduled { .. } => "scheduled",
            ContactState::Dialling => "dialling",
            ContactState::Done => "done",
        }
    }

    /// Rebuilds a state from its stored columns (`state`, `next_attempt_at`, `owner_agent`).
    pub fn from_parts(
        state: &str,
        at: Option<Millis>,
        owner: Option<String>,
    ) -> Result<ContactState> {
        Ok(match (state, at) {
            ("pending", None) => ContactState::Pending,
            ("scheduled", Some(at)) => ContactState::Scheduled { at, owner },
            ("dialling", None) => ContactState::Dialling,
            ("done", None) => ContactState::Done,
            (other, _) => {
                return Err(Error::Corrupt(format!(
                    "contact state {other:?} with next_attempt_at {at:?}"
                )));
            }
        })
    }
}

/// A contact to add to a campaign by hand (imports and lists build these themselves).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewCampaignContact {
    pub customer: Option<CustomerId>,
    /// Read with the campaign's `country_code` when national.
    pub number: String,
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub priority: i64,
    /// Fields for the agent's script.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A contact of a campaign as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignContact {
    pub id: CampaignContactId,
    pub campaign: CampaignId,
    pub customer: Option<CustomerId>,
    pub number: E164,
    pub name: Option<String>,
    pub time_zone: Option<String>,
    /// Higher is dialled first.
    pub priority: i64,
    pub state: ContactState,
    /// Attempts started so far.
    pub attempts: u32,
    pub last_outcome: Option<AttemptOutcome>,
    /// Fields for the agent's script (the extra columns of an import).
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The start of a dial attempt. Writing the same `(contact, attempt_no)` again is a no-op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAttempt {
    pub contact: CampaignContactId,
    /// 1 for the first attempt on this contact, then 2, 3, ...
    pub attempt_no: u32,
    pub started_at: Millis,
    /// The switch's call id, when the call exists.
    pub call_id: Option<String>,
    /// The agent the call was placed for (preview and progressive modes).
    pub agent: Option<String>,
}

/// The end of a dial attempt, and what becomes of the contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptEnd {
    pub contact: CampaignContactId,
    pub attempt_no: u32,
    pub ended_at: Millis,
    pub outcome: AttemptOutcome,
    /// The agent who took the call, if one did.
    pub agent: Option<String>,
    /// The contact's state after this attempt (the dialler's recycling decision); not
    /// [`ContactState::Dialling`].
    pub then: ContactState,
}

/// How a stored attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptResult {
    pub ended_at: Millis,
    pub outcome: AttemptOutcome,
}

/// One dial attempt as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: AttemptId,
    pub campaign: CampaignId,
    pub contact: CampaignContactId,
    pub attempt_no: u32,
    pub number: E164,
    pub started_at: Millis,
    /// `None` while the call is in progress.
    pub result: Option<AttemptResult>,
    pub agent: Option<String>,
    pub call_id: Option<String>,
}

/// Which do-not-call list: the centre's, or one campaign's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "campaign", rename_all = "snake_case")]
pub enum DncScope {
    Global,
    Campaign(CampaignId),
}

/// Who put a number on a do-not-call list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DncSource {
    /// An administrator or supervisor, by hand or through the API.
    Admin,
    /// An imported suppression list.
    Import,
    /// The customer asked, and the agent recorded it at wrap-up.
    CustomerRequest,
}

impl DncSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DncSource::Admin => "admin",
            DncSource::Import => "import",
            DncSource::CustomerRequest => "customer_request",
        }
    }

    pub fn parse(s: &str) -> Result<DncSource> {
        Ok(match s {
            "admin" => DncSource::Admin,
            "import" => DncSource::Import,
            "customer_request" => DncSource::CustomerRequest,
            other => return Err(Error::Corrupt(format!("unknown DNC source {other:?}"))),
        })
    }
}

/// A number to put on a do-not-call list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDncEntry {
    pub scope: DncScope,
    /// Any form [`crate::phone::normalize`] reads without a country.
    pub number: String,
    pub source: DncSource,
    /// Who added it (an agent or admin login, `api:<token>`, `import:<file>`).
    pub added_by: String,
    pub note: String,
}

/// Who took a number off a list, when and why (the entry is kept for the audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DncRemoval {
    pub at: Millis,
    pub by: String,
    pub reason: String,
}

/// A do-not-call entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DncEntry {
    pub id: DncEntryId,
    pub scope: DncScope,
    pub number: E164,
    pub source: DncSource,
    pub added_by: String,
    pub added_at: Millis,
    pub note: String,
    /// `None` while the entry is in force.
    pub removed: Option<DncRemoval>,
}

/// Why a row of a contact import was not loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ImportRefusal {
    /// The row has a different number of fields from the header.
    FieldCount { expected: usize, found: usize },
    /// A required field is empty.
    MissingValue { column: String },
    /// The number cannot be read as a phone number.
    BadNumber { value: String },
    /// A field that must be a number, a time zone or a customer id is not one.
    BadValue { column: String, value: String },
    /// `customer_id` names no (unmerged) customer.
    UnknownCustomer { customer: CustomerId },
    /// The same number is on an earlier row of this file.
    DuplicateInList { first_row: usize },
    /// The campaign already has a contact with this number.
    DuplicateInCampaign,
    /// The number is on a do-not-call list.
    DoNotCall { scope: DncScope },
}

/// A refused row: `row` is the line of the file where the record starts (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRow {
    pub row: usize,
    pub reason: ImportRefusal,
}

/// A loaded row and the contact it became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedRow {
    pub row: usize,
    pub contact: CampaignContactId,
}

/// What a contact import did: every data row is either loaded or refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub loaded: Vec<LoadedRow>,
    pub refused: Vec<RefusedRow>,
}

/// A calendar date (no time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CalendarDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl CalendarDate {
    pub fn new(year: i32, month: u8, day: u8) -> Result<CalendarDate> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        if day == 0 || day > days {
            return Err(Error::Invalid(format!(
                "{year:04}-{month:02}-{day:02} is not a date"
            )));
        }
        Ok(CalendarDate { year, month, day })
    }

    pub fn is_leap_year(self) -> bool {
        (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0
    }
}

/// A list of customers to call, built from what the store knows about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "list", rename_all = "snake_case")]
pub enum CustomerList {
    /// Customers whose birthday (month and day) is `on`. On 28 February of a year that is not
    /// a leap year, those born on 29 February are included.
    BirthdayOn { on: CalendarDate },
    /// Customers of `tier` with no call (either direction) since `since`.
    TierNotContactedSince { tier: String, since: Millis },
    /// Customers with a confirmed booking whose item (flight, delivery, appointment) started
    /// in `[from, until)` and with no call since it started.
    ServedBetweenNoFollowUp { from: Millis, until: Millis },
}

/// Why a customer of a list was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ListRefusal {
    /// The customer has no phone number.
    NoNumber,
    DoNotCall {
        scope: DncScope,
    },
    /// The campaign already has this number.
    AlreadyInCampaign,
}

/// A customer added to a campaign by a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAdded {
    pub customer: CustomerId,
    pub contact: CampaignContactId,
}

/// A customer a list matched but did not add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRefused {
    pub customer: CustomerId,
    pub reason: ListRefusal,
}

/// What building a list did: every matched customer is either added or refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReport {
    pub added: Vec<ListAdded>,
    pub refused: Vec<ListRefused>,
}

/// Attempts in one time window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialCounts {
    /// Attempts started.
    pub dialled: u64,
    /// Attempts a person answered and that were handled ([`OutcomeKind::is_connected`]).
    pub connected: u64,
    /// Attempts a person answered with no agent free.
    pub abandoned: u64,
}

impl DialCounts {
    /// Abandoned share of live answers (connected + abandoned), percent; 0 with none.
    pub fn abandon_percent(&self) -> f64 {
        let live = self.connected + self.abandoned;
        if live == 0 {
            0.0
        } else {
            self.abandoned as f64 * 100.0 / live as f64
        }
    }
}

/// The numbers of a campaign's live board.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCounters {
    pub today: DialCounts,
    pub last_30_days: DialCounts,
    pub contacts_total: u64,
    /// Contacts not yet done.
    pub contacts_left: u64,
    /// Contacts with at least one attempt.
    pub contacts_attempted: u64,
}

impl CampaignCounters {
    /// Contacts attempted in percent of all contacts; 0 for an empty campaign.
    pub fn penetration_percent(&self) -> f64 {
        if self.contacts_total == 0 {
            0.0
        } else {
            self.contacts_attempted as f64 * 100.0 / self.contacts_total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_moves() {
        use CampaignStatus::*;
        assert!(Draft.can_become(Running));
        assert!(Running.can_become(Paused) && Paused.can_become(Running));
        assert!(!Stopped.can_become(Running));
        assert!(!Paused.can_become(Draft));
        assert!(Draft.can_become(Stopped));
    }

    #[test]
    fn settings_are_checked() {
        let ok = CampaignSettings::default();
        assert!(ok.validate().is_ok());
        let short_ring = CampaignSettings {
            ring_seconds: 14,
            ..ok.clone()
        };
        assert!(short_ring.validate().is_err());
        let bad_cli = CampaignSettings {
            caller_id: Some("12ab".into()),
            ..ok.clone()
        };
        assert!(bad_cli.validate().is_err());
        let bad_tz = CampaignSettings {
            time_zone: "Europe/ Berlin".into(),
            ..ok
        };
        assert!(bad_tz.validate().is_err());
    }

    #[test]
    fn outcome_round_trips_through_columns() {
        let done = AttemptOutcome::Completed {
            disposition: "sale".into(),
        };
        let back = AttemptOutcome::from_parts(
            done.kind().as_str(),
            done.disposition().map(str::to_string),
        )
        .expect("parts");
        assert_eq!(back, done);
        assert!(AttemptOutcome::from_parts("completed", None).is_err());
        assert_eq!(
            ContactState::from_parts("scheduled", Some(5), Some("ann".into())).expect("state"),
            ContactState::Scheduled {
                at: 5,
                owner: Some("ann".into())
            }
        );
        assert!(ContactState::from_parts("pending", Some(5), None).is_err());
    }

    #[test]
    fn dates() {
        assert!(CalendarDate::new(2027, 2, 29).is_err());
        assert!(CalendarDate::new(2028, 2, 29).is_ok());
        assert!(CalendarDate::new(2027, 4, 31).is_err());
    }
}
