//! Work call control hands to its driver because it waits on a database or a payment
//! processor: caller look-ups, PIN checks, bookings and card charges. Each is an
//! [`crate::Output::Work`]; the driver does it off the call-control thread and feeds the
//! result back as a [`crate::Completion`] (except [`Work::ReleaseHold`], which has none).
//! Secrets (a PIN, card data) travel in types that redact their `Debug` and wipe on drop.

use hotline_ivr::{ChargeRequest, RequestId, Secret};
use hotline_records::Identity;

/// What a charge belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeContext {
    pub call_id: String,
    /// Stored against the customer only when the caller proved to be them (PIN).
    pub customer: Option<i64>,
    /// What an approved charge pays off.
    pub pays: Pays,
    /// The merchant reference of an agent-assisted payment (the desktop's `StartPayment`).
    pub reference: Option<String>,
}

/// What an approved charge pays off, for the driver to record once the money moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pays {
    /// A set amount (an agent-assisted payment, a fee): nothing else to do.
    Amount,
    /// The booking this session holds: confirm it.
    Booking(i64),
    /// The verified customer's balance due: lower it by the amount paid.
    Balance,
}

impl Pays {
    /// The booking a charge pays for, stored with the payment row.
    pub fn booking(self) -> Option<i64> {
        match self {
            Pays::Booking(b) => Some(b),
            Pays::Amount | Pays::Balance => None,
        }
    }
}

/// One piece of work for the driver.
#[derive(Debug)]
pub enum Work {
    /// Look the caller of a queue number up by number, then queue the call
    /// ([`crate::Completion::QueueLookup`]). `identity` is `None` when the number is unusable.
    LookupForQueue {
        call: String,
        queue: String,
        identity: Option<Identity>,
    },
    /// The IVR's caller look-up ([`crate::Completion::Lookup`]).
    Lookup {
        call: String,
        request: RequestId,
        identity: Option<Identity>,
    },
    /// Check a caller's PIN against the customer's hash ([`crate::Completion::Verified`]).
    /// Never log `code`.
    VerifyPin {
        call: String,
        request: RequestId,
        customer_id: String,
        code: Secret,
    },
    /// Bookable items for the IVR ([`crate::Completion::Bookable`]); only a verified
    /// customer may book.
    ListBookable {
        call: String,
        request: RequestId,
        customer: Option<i64>,
        max_items: usize,
    },
    /// Hold one unit of an item ([`crate::Completion::Held`]).
    HoldItem {
        call: String,
        request: RequestId,
        customer: Option<i64>,
        item_id: String,
    },
    /// Release an unpaid booking hold (no completion).
    ReleaseHold { call: String, hold_id: String },
    /// Charge a card once per idempotency key ([`crate::Completion::Charged`]).
    Charge {
        request: RequestId,
        ctx: ChargeContext,
        charge: ChargeRequest,
    },
    /// File a voicemail as a ticket in its queue ([`crate::Completion::VoicemailFiled`]);
    /// `request` is the IVR's, when the caller is still on the line to hear the reference.
    FileVoicemail {
        call: String,
        request: Option<RequestId>,
        voicemail: hotline_records::NewVoicemail,
    },
    /// An agent's extension not known at start-up ([`crate::Completion::AgentExtension`]).
    AgentExtension { call: String, agent: String },
}
