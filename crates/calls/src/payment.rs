//! Agent-assisted payment: the agent hands the caller to the payment flow and stays on the
//! line, hearing no tones; the desktop sees progress (counts), never digits.
//!
//! `StartPayment` runs the IVR flow `agent_pay` (`config/ivr/agent_pay.toml`: a `pay` node
//! whose amount comes from the variables `amount_minor` and `currency`, ending in a `return`
//! node) in a second IVR session on the connected call. Caller and agent stay bridged: the
//! caller hears the payment prompts (a prompt on a bridged leg replaces the agent's voice
//! while it plays), the agent keeps hearing the caller's voice. The session's own actions do
//! the rest, performed by `service.rs`: `SuppressDtmfToAgent` drops RFC 4733 events and
//! silences in-band tones towards the agent's leg, `PauseRecording` pauses a recording of the
//! call, `PaymentProgress` becomes `CallNotice::Payment` (the CTI's `payment_progress`:
//! digit counts, approved, declined, cancelled) and `Charge` goes through the gateway and the
//! store like an IVR payment. When the session ends (return node, or given up) the previous
//! IVR session is put back, suppression is turned off and caller and agent talk normally.

use crate::CallKey;
use std::time::Instant;

use hotline_ivr::{Ani, Dnis, Event as IvrEvent, Outcome, Session, UnixTime};
use hotline_records::CallEventKind;

use super::Core;
use crate::messages::CallError;

/// The flow an agent hands callers to.
pub(crate) const AGENT_PAY_FLOW: &str = "agent_pay";

/// An agent-assisted payment in progress on a call.
pub(crate) struct Assist {
    /// The call's IVR session from before (put back at the end).
    pub(crate) previous: Option<Session>,
    /// The agent who started it (progress goes to their desktop).
    pub(crate) agent: String,
    /// The desktop's merchant reference, stored with the payment.
    pub(crate) reference: String,
}

/// Largest amount an agent may ask for (minor units): a typo guard, not a business rule.
const MAX_AMOUNT_MINOR: i64 = 100_000_000;

/// Longest merchant reference accepted from a desktop.
const MAX_REFERENCE: usize = 64;

impl Core {
    /// Hands the caller of call `key` to the payment flow for `amount_minor` in `currency`.
    pub(crate) fn start_payment(
        &mut self,
        now: Instant,
        key: CallKey,
        amount_minor: i64,
        currency: &str,
        reference: &str,
    ) -> Result<(), CallError> {
        if !(1..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
            return Err(CallError::BadRequest(format!(
                "amount must be between 1 and {MAX_AMOUNT_MINOR} minor units"
            )));
        }
        let currency = currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CallError::BadRequest(
                "currency must be a three-letter ISO 4217 code".into(),
            ));
        }
        // The reference goes to the processor (statement text) and into the payments table:
        // short, printable, and never anything that looks like a card number.
        let reference = reference.trim();
        if reference.len() > MAX_REFERENCE
            || reference.chars().any(|c| c.is_control())
            || hotline_records::contains_card_number(reference)
        {
            return Err(CallError::BadRequest(format!(
                "the reference must be at most {MAX_REFERENCE} printable characters and no card number"
            )));
        }
        let flow = self
            .deps
            .flows
            .as_ref()
            .and_then(|f| f.get(AGENT_PAY_FLOW))
            .ok_or_else(|| {
                CallError::Unsupported("no agent payment flow (config/ivr/agent_pay.toml)".into())
            })?;
        let c = self.calls.get_mut(&key).ok_or_else(CallError::gone)?;
        let agent = c.agent.clone().ok_or("the call has no agent")?;
        let bridged = c.talk.connected()
            && c.legs
                .callee
                .as_ref()
                .is_some_and(|b| b.answered() && b.media.is_some())
            && c.legs.caller.media.is_some();
        if !bridged {
            return Err("the call is not connected through the switch's media".into());
        }
        if c.talk.held_since().is_some() {
            return Err("the call is on hold".into());
        }
        if c.service.assist.is_some() {
            return Err("a payment is already in progress on this call".into());
        }
        c.service.payments += 1;
        // Each hand-over has its own session id, so its idempotency keys
        // (`<session>:<node>:<card attempt>`) never repeat an earlier payment's.
        let session_id = format!("{}.pay{}", c.id, c.service.payments);
        let mut s = Session::new(flow, &session_id);
        s.set_variable("amount_minor", &amount_minor.to_string());
        s.set_variable("currency", &currency);
        // Without a reference from the desktop the call id serves as one.
        let reference = if reference.is_empty() {
            c.id.clone()
        } else {
            reference.to_string()
        };
        s.set_variable("reference", &reference);
        // The caller keeps the language they chose in the IVR (e.g. Mandarin).
        if let Some(language) = c.service.ivr.as_ref().map(|ivr| ivr.language())
            && !language.is_base()
            && !s.set_language(language)
        {
            tracing::info!(call = %c.id, %language, "the payment flow cannot say its amounts in the caller's language");
        }
        s.handle_event(
            now,
            IvrEvent::CallStarted {
                ani: Ani::new(c.ani.clone()),
                dnis: Dnis(c.dnis.clone()),
                wall_clock: UnixTime(self.wall_ms / 1000),
            },
        );
        let previous = c.service.ivr.replace(s);
        c.service.assist = Some(Assist {
            previous,
            agent: agent.clone(),
            reference: reference.clone(),
        });
        let ev = c.log.event(
            self.wall_ms,
            CallEventKind::Note {
                what: "payment_started".into(),
                detail: serde_json::json!({
                    "agent": agent,
                    "amount_minor": amount_minor,
                    "currency": currency,
                    "reference": reference,
                }),
            },
        );
        self.out.record(ev);
        tracing::info!(call = %c.id, agent = %agent, amount_minor, currency = %currency,
            "caller handed to the payment flow");
        self.drive_ivr(now, key);
        Ok(())
    }

    /// The payment session ended (return node or given up): back to the agent.
    pub(crate) fn payment_finished(&mut self, _now: Instant, key: CallKey) {
        let Some(c) = self.calls.get_mut(&key) else {
            return;
        };
        let Some(assist) = c.service.assist.take() else {
            return;
        };
        let done = std::mem::replace(&mut c.service.ivr, assist.previous);
        c.service.playback = None;
        let outcome = done
            .as_ref()
            .and_then(|s| s.outcome())
            .map(|o| match o {
                Outcome::Returned => "returned",
                Outcome::HungUp => "hung up",
                Outcome::CallerHungUp => "caller hung up",
                _ => "ended",
            })
            .unwrap_or("ended");
        let payment = done.as_ref().and_then(|s| s.payment()).map(|p| {
            serde_json::json!({
                "token": p.token,
                "brand": p.brand.to_string(),
                "last4": p.last_four,
                "amount_minor": p.amount_minor,
                "currency": p.currency,
            })
        });
        let ev = c.log.event(
            self.wall_ms,
            CallEventKind::Note {
                what: "payment_ended".into(),
                detail: serde_json::json!({
                    "agent": assist.agent,
                    "outcome": outcome,
                    "payment": payment,
                }),
            },
        );
        self.out.record(ev);
        tracing::info!(call = %c.id, agent = %assist.agent, outcome, paid = payment.is_some(),
            "payment flow ended: caller back with the agent");
        // The session restores suppression and recording itself on every way out of card
        // entry; do it again here so no path can leave the agent deaf to tones or the
        // recording paused. Then caller and agent talk normally.
        let (a, b) = (
            c.legs.caller.media,
            c.legs.callee.as_ref().and_then(|b| b.media),
        );
        if let Some(m) = &self.deps.media {
            if let Some(b) = b {
                let _ = m.suppress_dtmf(b, false);
            }
            if let Some(a) = a {
                let _ = m.stop_playback(a);
            }
        }
        self.pause_call_recording(key, false);
        self.bridge_media(key);
    }
}
