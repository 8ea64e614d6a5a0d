//! A fake of the switch's store and payment work (`switch/src/calls/work.rs`): canned
//! customers, a PIN per customer, bookable items, the sandbox card gateway, and every
//! call-record event kept per call. Work can be held back (to race it against hang-ups) or
//! made to fail, as a store error does in the switch (look-ups find nobody, a PIN is not
//! verified, a hold is not made, a charge is a gateway error).

use std::collections::{BTreeMap, VecDeque};

use hotline_calls::Completion;
use hotline_calls::work::Work;
use hotline_ivr::{PaymentGateway, SandboxGateway};
use hotline_records::{
    CallEvent, CallEventKind, Customer, CustomerView, Identity, IdentityKind, StoredIdentity,
};

/// A canned customer.
#[derive(Debug, Clone)]
pub struct CannedCustomer {
    pub view: CustomerView,
    pub pin: String,
}

pub fn customer(id: i64, name: &str, phone: &str, account: &str, pin: &str) -> CannedCustomer {
    CannedCustomer {
        view: CustomerView {
            customer: Customer {
                id,
                display_name: name.into(),
                tier: "standard".into(),
                value_score: 0,
                priority: 0,
                birthday: None,
                language: None,
                notes: String::new(),
                created_at: 0,
            },
            identities: vec![
                StoredIdentity {
                    kind: IdentityKind::Phone,
                    value: phone.into(),
                    verified: true,
                    source: "test".into(),
                },
                StoredIdentity {
                    kind: IdentityKind::Account,
                    value: account.into(),
                    verified: true,
                    source: "test".into(),
                },
            ],
            recent_contacts: Vec::new(),
            open_tickets: Vec::new(),
            bookings: Vec::new(),
            balance: None,
        },
        pin: pin.into(),
    }
}

#[derive(Default)]
pub struct FakeStore {
    pub customers: Vec<CannedCustomer>,
    /// Every call-record event, by call id, in the order the core emitted them.
    pub records: BTreeMap<String, Vec<CallEvent>>,
    /// What was wrong with the events as they came (see [`FakeStore::record`]).
    pub violations: Vec<String>,
    /// The next this many pieces of work fail.
    pub fail_next: u32,
    /// Work waits here until released (instead of completing at once).
    pub hold: bool,
    pub held: VecDeque<Work>,
    /// Every piece of work, by kind (for asserts).
    pub done: Vec<String>,
    pub gateway: SandboxGateway,
    pub next_booking: i64,
    /// Agent -> extension, for `AgentExtension`.
    pub extensions: BTreeMap<String, String>,
    /// Voicemails filed, by call id (the ticket is the position + 1).
    pub voicemails: Vec<hotline_records::NewVoicemail>,
}

fn kind_name(w: &Work) -> &'static str {
    match w {
        Work::LookupForQueue { .. } => "lookup_for_queue",
        Work::Lookup { .. } => "lookup",
        Work::VerifyPin { .. } => "verify_pin",
        Work::ListBookable { .. } => "list_bookable",
        Work::HoldItem { .. } => "hold_item",
        Work::ReleaseHold { .. } => "release_hold",
        Work::Charge { .. } => "charge",
        Work::AgentExtension { .. } => "agent_extension",
        Work::FileVoicemail { .. } => "file_voicemail",
    }
}

impl FakeStore {
    /// Stores one event, noting what is wrong with it: an event after `ended`, a second
    /// `ended`, a sequence number out of order.
    pub fn record(&mut self, ev: CallEvent) {
        let evs = self.records.entry(ev.call_id.clone()).or_default();
        if evs
            .iter()
            .any(|e| matches!(e.kind, CallEventKind::Ended { .. }))
        {
            self.violations.push(format!(
                "call {}: event {:?} after `ended`",
                ev.call_id, ev.kind
            ));
        }
        if ev.seq != evs.len() as i64 {
            self.violations.push(format!(
                "call {}: event {} has seq {}",
                ev.call_id,
                evs.len(),
                ev.seq
            ));
        }
        evs.push(ev);
    }

    /// The `ended` events of a call.
    pub fn ended(&self, call: &str) -> usize {
        self.records.get(call).map_or(0, |evs| {
            evs.iter()
                .filter(|e| matches!(e.kind, CallEventKind::Ended { .. }))
                .count()
        })
    }

    fn find(&self, identity: &Identity) -> Option<CustomerView> {
        self.customers
            .iter()
            .find(|c| {
                c.view
                    .identities
                    .iter()
                    .any(|i| i.kind == identity.kind && i.value == identity.value)
            })
            .map(|c| c.view.clone())
    }

    /// Takes one piece of work: its completion now, or `None` (held back, or none due).
    pub fn take(&mut self, w: Work) -> Option<Completion> {
        if self.hold {
            self.held.push_back(w);
            return None;
        }
        self.perform(w)
    }

    /// Does one piece of work as `switch/src/calls/work.rs` does.
    pub fn perform(&mut self, w: Work) -> Option<Completion> {
        let fail = self.fail_next > 0;
        if fail {
            self.fail_next -= 1;
        }
        self.done.push(format!(
            "{}{}",
            kind_name(&w),
            if fail { " (failed)" } else { "" }
        ));
        Some(match w {
            Work::LookupForQueue {
                call,
                queue,
                identity,
            } => Completion::QueueLookup {
                call,
                queue,
                view: identity
                    .filter(|_| !fail)
                    .and_then(|i| self.find(&i))
                    .map(Box::new),
            },
            Work::Lookup {
                call,
                request,
                identity,
            } => Completion::Lookup {
                call,
                request,
                view: identity
                    .filter(|_| !fail)
                    .and_then(|i| self.find(&i))
                    .map(Box::new),
            },
            Work::VerifyPin {
                call,
                request,
                customer_id,
                code,
            } => {
                let verified = !fail
                    && self.customers.iter().any(|c| {
                        c.view.customer.id.to_string() == customer_id && c.pin == code.expose()
                    });
                Completion::Verified {
                    call,
                    request,
                    verified,
                }
            }
            Work::ListBookable { call, request, .. } => Completion::Bookable {
                call,
                request,
                // No bookable items: the booking node goes on to its `on_none`.
                items: Vec::new(),
            },
            Work::HoldItem { call, request, .. } => {
                self.next_booking += 1;
                Completion::Held {
                    call,
                    request,
                    booking: (!fail)
                        .then(|| (self.next_booking, format!("BK{}", self.next_booking))),
                }
            }
            Work::ReleaseHold { .. } => return None,
            Work::FileVoicemail {
                call,
                request,
                voicemail,
            } => {
                let ticket = if fail {
                    None
                } else {
                    let known = self
                        .voicemails
                        .iter()
                        .position(|v| v.call_id == voicemail.call_id);
                    Some(match known {
                        Some(i) => i as i64 + 1,
                        None => {
                            self.voicemails.push(voicemail);
                            self.voicemails.len() as i64
                        }
                    })
                };
                Completion::VoicemailFiled {
                    call,
                    request,
                    ticket,
                }
            }
            Work::Charge {
                request,
                ctx,
                charge,
            } => {
                let result = if fail {
                    Err("store error".to_string())
                } else {
                    self.gateway.charge(&charge).map_err(|e| e.to_string())
                };
                Completion::Charged {
                    call: ctx.call_id,
                    request,
                    amount_minor: charge.amount_minor,
                    currency: charge.currency.clone(),
                    key: charge.idempotency_key.0.clone(),
                    result,
                    confirmed: None,
                }
            }
            Work::AgentExtension { call, agent } => Completion::AgentExtension {
                extension: if fail {
                    None
                } else {
                    self.extensions.get(&agent).cloned()
                },
                call,
                agent,
            },
        })
    }
}
