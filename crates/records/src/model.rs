//! Plain data types the store reads and writes. They are serde-friendly so the switch can put
//! them on the CTI wire or in logs (personal data is redacted by the callers' `Pii` wrapper).

use serde::{Deserialize, Serialize};

use crate::{Error, Millis, Result};

/// Database id of a customer.
pub type CustomerId = i64;
/// Database id of a ticket.
pub type TicketId = i64;
/// Database id of a bookable item.
pub type ItemId = i64;
/// Database id of a booking.
pub type BookingId = i64;

/// The kinds of identity that can point at one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A phone number in E.164 (`+4930123456`).
    Phone,
    /// A customer or contract account number.
    Account,
    /// A loyalty or frequent-flyer number.
    Loyalty,
    /// An e-mail address, lower-cased.
    Email,
    /// A booking reference (PNR).
    BookingRef,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Account => "account",
            IdentityKind::Loyalty => "loyalty",
            IdentityKind::Email => "email",
            IdentityKind::BookingRef => "booking_ref",
        }
    }

    pub fn parse(s: &str) -> Result<IdentityKind> {
        Ok(match s {
            "phone" => IdentityKind::Phone,
            "account" => IdentityKind::Account,
            "loyalty" => IdentityKind::Loyalty,
            "email" => IdentityKind::Email,
            "booking_ref" => IdentityKind::BookingRef,
            other => return Err(Error::Corrupt(format!("unknown identity kind {other:?}"))),
        })
    }
}

/// One normalised identity. Build it with the constructors: they normalise the value so that
/// the same person typed two ways is one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    /// A phone number already in E.164 form, or a national/international form that
    /// [`crate::phone::normalize`] can read without a default country.
    pub fn phone(raw: &str) -> Result<Identity> {
        Ok(Identity {
            kind: IdentityKind::Phone,
            value: crate::phone::normalize(raw, None)?,
        })
    }

    /// A phone number in a national form, completed with `country_code` (e.g. `"49"`).
    pub fn phone_in(raw: &str, country_code: &str) -> Result<Identity> {
        Ok(Identity {
            kind: IdentityKind::Phone,
            value: crate::phone::normalize(raw, Some(country_code))?,
        })
    }

    /// Any other kind: trimmed, upper-cased (e-mail lower-cased), inner spaces removed.
    pub fn new(kind: IdentityKind, raw: &str) -> Result<Identity> {
        if kind == IdentityKind::Phone {
            return Identity::phone(raw);
        }
        let v: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if v.is_empty() || v.len() > 200 {
            return Err(Error::Invalid(format!(
                "empty or overlong {}",
                kind.as_str()
            )));
        }
        let value = match kind {
            IdentityKind::Email => {
                if !v.contains('@') {
                    return Err(Error::Invalid("e-mail address without @".into()));
                }
                v.to_lowercase()
            }
            _ => v.to_uppercase(),
        };
        Ok(Identity { kind, value })
    }
}

/// Customer tiers, best first. The tier gives the base routing priority.
pub const TIERS: [&str; 4] = ["vip", "gold", "silver", "standard"];

/// Routing priority for a tier (higher is served first).
pub fn tier_priority(tier: &str) -> i64 {
    match tier {
        "vip" => 30,
        "gold" => 20,
        "silver" => 10,
        _ => 0,
    }
}

/// A new customer record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewCustomer {
    pub display_name: String,
    pub tier: String,
    pub value_score: i64,
    pub birthday: Option<String>,
    pub language: Option<String>,
    pub notes: String,
}

/// A stored customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub display_name: String,
    pub tier: String,
    pub value_score: i64,
    pub priority: i64,
    pub birthday: Option<String>,
    pub language: Option<String>,
    pub notes: String,
    pub created_at: Millis,
}

/// An identity as stored, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredIdentity {
    pub kind: IdentityKind,
    pub value: String,
    pub verified: bool,
    pub source: String,
}

/// One earlier contact with its outcome, newest first in a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub call_id: String,
    pub direction: String,
    pub arrived_at: Millis,
    pub queue_id: Option<String>,
    pub agent_id: Option<String>,
    pub end_reason: Option<String>,
    pub disposition: Option<String>,
    pub notes: Option<String>,
}

/// A ticket summary as shown in a screen pop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub customer_id: Option<CustomerId>,
    pub call_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub priority: String,
    pub assignee: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a customer owes, as the billing system last set it (lowered by payments by phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Minor units (cents, fen); positive is due, zero or negative is nothing due.
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. `USD`, `CNY`.
    pub currency: String,
    pub updated_at: Millis,
}

/// A booking with its item, as shown in a screen pop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingSummary {
    pub id: BookingId,
    pub reference: String,
    pub item_sku: String,
    pub item_name: String,
    pub starts_at: Option<Millis>,
    pub quantity: i64,
    pub status: String,
    pub created_at: Millis,
}

/// Everything an agent needs the moment a call is offered, fetched in one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerView {
    pub customer: Customer,
    pub identities: Vec<StoredIdentity>,
    /// Up to [`VIEW_CONTACTS`] most recent calls, newest first, with the outcome if written.
    pub recent_contacts: Vec<Contact>,
    pub open_tickets: Vec<Ticket>,
    /// Up to [`VIEW_BOOKINGS`] most recent bookings.
    pub bookings: Vec<BookingSummary>,
    /// The account balance on record, if any.
    #[serde(default)]
    pub balance: Option<Balance>,
}

/// How many contacts a view carries.
pub const VIEW_CONTACTS: i64 = 10;
/// How many bookings a view carries.
pub const VIEW_BOOKINGS: i64 = 10;

/// A short line in a customer search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub id: CustomerId,
    pub display_name: String,
    pub tier: String,
}

/// Direction of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    Internal,
    Callback,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::Callback => "callback",
        }
    }
}

/// One step in a call's life. The store's `Store::record_call_event` stores the event and
/// updates the call's row accordingly, in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallEventKind {
    /// The call exists (creates the call row).
    Arrived {
        direction: Direction,
        ani: String,
        dnis: String,
    },
    /// The caller was matched to a customer.
    Identified { customer_id: CustomerId },
    /// The IVR path so far and the (non-sensitive) inputs.
    Ivr {
        path: Vec<String>,
        inputs: serde_json::Map<String, serde_json::Value>,
    },
    /// Entered a queue.
    Enqueued { queue_id: String, priority: i64 },
    /// Offered to (ringing at) an agent.
    Offered { agent_id: String },
    /// Answered by an agent.
    Answered { agent_id: String },
    /// Put on hold.
    Held,
    /// Taken off hold; `hold_ms` is how long this hold lasted.
    Resumed { hold_ms: i64 },
    /// Transferred to another agent, queue or number.
    Transferred { to: String },
    /// The call ended. `abandoned` is true when the caller hung up before any agent answered.
    Ended { reason: String, abandoned: bool },
    /// Any other audit event (monitor started, payment started, ...).
    Note {
        what: String,
        detail: serde_json::Value,
    },
    /// One leg's media quality, written by call control just before the leg's media session
    /// ends; appended to the call's `quality` column ([`CallRecord::quality`]).
    Quality(LegQuality),
}

/// The media quality of one leg of a call (the figures are explained in `docs/media.md`):
/// what we measured on the audio the leg's phone sent us, what that phone reported in RTCP
/// about the audio we sent it, and an E-model MOS estimate. A leg that is replaced (a transfer
/// to another agent) or rejoins (a second consultation) gets one entry each time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegQuality {
    /// Which party: `caller`, `agent` (or `callee` on a call without an agent: an extension
    /// or an outside number), `supervisor` or `third` (consulted or conference party).
    pub leg: String,
    /// The agent on that leg, when it is an agent's or supervisor's phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// RTP packets received from the leg.
    pub packets: u64,
    /// Packets the sequence numbers say were sent but never arrived.
    pub lost: u64,
    /// `lost` in percent of the packets expected.
    pub loss_percent: f64,
    /// RFC 3550 interarrival jitter of what we received, ms.
    pub jitter_ms: f64,
    /// Estimated MOS (1 to 4.5) of what we received from the leg.
    pub mos: f64,
    /// What the phone reported about our audio: fraction lost in its last RTCP report, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_loss_percent: Option<f64>,
    /// What the phone reported: jitter of our audio, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_jitter_ms: Option<f64>,
    /// RTCP round trip, ms (once the phone has answered one of our sender reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
}

impl CallEventKind {
    pub fn name(&self) -> &'static str {
        match self {
            CallEventKind::Arrived { .. } => "arrived",
            CallEventKind::Identified { .. } => "identified",
            CallEventKind::Ivr { .. } => "ivr",
            CallEventKind::Enqueued { .. } => "enqueued",
            CallEventKind::Offered { .. } => "offered",
            CallEventKind::Answered { .. } => "answered",
            CallEventKind::Held => "held",
            CallEventKind::Resumed { .. } => "resumed",
            CallEventKind::Transferred { .. } => "transferred",
            CallEventKind::Ended { .. } => "ended",
            CallEventKind::Note { .. } => "note",
            CallEventKind::Quality(_) => "quality",
        }
    }
}

/// A call event as written by the switch. `seq` numbers the events of one call from 0; writing
/// the same `(call_id, seq)` twice is a no-op, so the writer can retry without duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    pub call_id: String,
    pub seq: i64,
    pub at: Millis,
    pub kind: CallEventKind,
}

/// A call row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: String,
    pub direction: String,
    pub ani: String,
    pub dnis: String,
    pub customer_id: Option<CustomerId>,
    pub ivr_path: Vec<String>,
    pub ivr_inputs: serde_json::Map<String, serde_json::Value>,
    pub queue_id: Option<String>,
    pub priority: i64,
    pub arrived_at: Millis,
    pub enqueued_at: Option<Millis>,
    pub offered_at: Option<Millis>,
    pub answered_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub agent_id: Option<String>,
    pub end_reason: Option<String>,
    pub abandoned: bool,
    pub hold_ms: i64,
    pub transfers: i64,
    /// Per leg media quality, in the order the legs ended (empty for calls without anchored
    /// media, or written before the figures existed).
    #[serde(default)]
    pub quality: Vec<LegQuality>,
}

/// Agent roles, least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Ok(match s {
            "agent" => Role::Agent,
            "supervisor" => Role::Supervisor,
            "admin" => Role::Admin,
            other => return Err(Error::Invalid(format!("unknown role {other:?}"))),
        })
    }
}

/// An agent account to create or update. `password_hash` is an argon2 PHC string
/// (see `hotline_store::password::hash`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAgent {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub role: Role,
    pub password_hash: String,
}

/// What the CTI server needs to log an agent in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCredentials {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub role: Role,
    pub password_hash: String,
    pub active: bool,
}

/// An agent account as stored, without its password hash (what the REST API shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub role: Role,
    /// False once disabled: the CTI login refuses the agent.
    pub active: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A defined skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub name: String,
    pub description: String,
}

/// What an API token may do, least to most privileged for people; `Integration` is a machine
/// (a CRM, an ERP) that reads and writes customers and tickets but manages no accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiRole {
    Supervisor,
    Admin,
    Integration,
}

impl ApiRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Supervisor => "supervisor",
            ApiRole::Admin => "admin",
            ApiRole::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Result<ApiRole> {
        Ok(match s {
            "supervisor" => ApiRole::Supervisor,
            "admin" => ApiRole::Admin,
            "integration" => ApiRole::Integration,
            other => {
                return Err(Error::Invalid(format!(
                    "unknown API role {other:?} (supervisor, admin or integration)"
                )));
            }
        })
    }
}

/// Id of an API token row.
pub type ApiTokenId = i64;

/// An API token to store: only the hash of the secret (lowercase hex SHA-256) is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub name: String,
    pub role: ApiRole,
    pub token_hash: String,
    /// Who created it (`cli` from the command line, `token:<id>` through the API).
    pub created_by: String,
}

/// An API token as stored (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub name: String,
    pub role: ApiRole,
    pub created_by: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A skill with proficiency 1 (novice) to 5 (expert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillLevel {
    pub skill: String,
    pub proficiency: i64,
}

/// An agent state change, as the routing engine reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStateEvent {
    pub agent_id: String,
    pub at: Millis,
    pub state: String,
    pub reason: Option<String>,
    pub call_id: Option<String>,
}

/// A wrap-up code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disposition {
    pub code: String,
    pub label: String,
    /// The contact's issue was resolved (counts towards first-contact resolution).
    pub resolved: bool,
}

/// An agent's outcome for a call. One row per `(call_id, agent_id)`: writing it again replaces
/// the earlier content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub call_id: String,
    pub agent_id: String,
    pub disposition: String,
    pub notes: String,
    pub wrapup_ms: i64,
    pub ticket_id: Option<TicketId>,
    pub at: Millis,
}

/// A ticket to create. `client_key`, when given, makes creation idempotent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTicket {
    pub client_key: Option<String>,
    pub customer_id: Option<CustomerId>,
    pub call_id: Option<String>,
    pub subject: String,
    pub body: String,
    pub priority: String,
    pub assignee: Option<String>,
    pub created_by: Option<String>,
    pub at: Millis,
}

/// A voicemail to file as a ticket: who left it, for which queue, and the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewVoicemail {
    pub call_id: String,
    /// The queue whose agents work it.
    pub queue: String,
    pub subject: String,
    /// The calling number as presented (the ticket's body says it).
    pub caller: String,
    pub customer_id: Option<CustomerId>,
    /// The recording's file name under the switch's recordings folder (`vm-<call>.wav`).
    pub recording: String,
    /// How long the message is.
    pub duration_ms: i64,
    /// When it is due (the queue's work SLA for normal priority), if the queue has one.
    pub due_at: Option<Millis>,
    pub at: Millis,
}

/// Who a message between agents was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageAudience {
    /// One agent.
    Agent,
    /// Every supervisor and admin.
    Supervisors,
    /// Everyone (a supervisor's announcement).
    Everyone,
}

impl MessageAudience {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageAudience::Agent => "agent",
            MessageAudience::Supervisors => "supervisors",
            MessageAudience::Everyone => "everyone",
        }
    }

    pub fn parse(s: &str) -> Option<MessageAudience> {
        match s {
            "agent" => Some(MessageAudience::Agent),
            "supervisors" => Some(MessageAudience::Supervisors),
            "everyone" => Some(MessageAudience::Everyone),
            _ => None,
        }
    }
}

/// One recipient's copy of a message between agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessage {
    pub id: i64,
    pub sender: String,
    pub recipient: String,
    pub audience: MessageAudience,
    pub body: String,
    pub sent_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// What kind of work a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    Ticket,
    Voicemail,
    FollowUp,
}

impl WorkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Ticket => "ticket",
            WorkKind::Voicemail => "voicemail",
            WorkKind::FollowUp => "follow_up",
        }
    }

    pub fn parse(s: &str) -> Option<WorkKind> {
        match s {
            "ticket" => Some(WorkKind::Ticket),
            "voicemail" => Some(WorkKind::Voicemail),
            "follow_up" => Some(WorkKind::FollowUp),
            _ => None,
        }
    }
}

/// A ticket on an agent's worklist: the ticket, the queue it waits in, its kind, when it is
/// due and, for a voicemail, the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkItem {
    pub ticket: Ticket,
    pub queue: Option<String>,
    pub kind: WorkKind,
    pub due_at: Option<Millis>,
    pub recording: Option<String>,
}

/// Changes to a ticket; each field that is `Some` and differs is written to the history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketUpdate {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub assignee: Option<Option<String>>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub comment: Option<String>,
    pub actor: Option<String>,
    pub at: Millis,
}

/// One line of a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketChange {
    pub at: Millis,
    pub actor: Option<String>,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// Ticket statuses that count as open.
pub const OPEN_TICKET_STATUSES: [&str; 2] = ["open", "pending"];

/// A bookable item (a flight seat class, a technician slot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookableItem {
    pub id: ItemId,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub starts_at: Option<Millis>,
    pub price_minor: i64,
    pub currency: String,
    pub capacity: i64,
    pub held: i64,
    pub sold: i64,
}

impl BookableItem {
    pub fn available(&self) -> i64 {
        self.capacity - self.held - self.sold
    }
}

/// A bookable item to create or update (by sku).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewItem {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub starts_at: Option<Millis>,
    pub price_minor: i64,
    pub currency: String,
    pub capacity: i64,
}

/// A booking row (held while the caller pays, then confirmed or cancelled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub reference: String,
    pub customer_id: CustomerId,
    pub item_id: ItemId,
    pub call_id: Option<String>,
    pub quantity: i64,
    /// held | confirmed | cancelled | expired
    pub status: String,
    pub hold_expires_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A payment as stored: never a card number or a security code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub idempotency_key: String,
    pub booking_id: Option<BookingId>,
    pub customer_id: Option<CustomerId>,
    pub call_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    /// pending | approved | declined | failed | refunded
    pub status: String,
    pub decline_reason: Option<String>,
    pub gateway: String,
    pub gateway_ref: Option<String>,
    pub card_token: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    /// The merchant reference (order, invoice) given by the agent's desktop, if any.
    pub reference: Option<String>,
    pub at: Millis,
}

/// A supervisor or admin action, allowed or refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub call_id: Option<String>,
    pub allowed: bool,
    pub detail: serde_json::Value,
}
