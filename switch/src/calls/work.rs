//! Store and payment work for call control ([`hotline_calls::Work`]), done in tasks off the
//! call-control task; each result goes back to the core as a [`Completion`].

use hotline_calls::Completion;
use hotline_calls::work::{ChargeContext, Pays, Work};
use hotline_ivr::{CardBrand, ChargeRequest, ChargeResult, ChargeStatus, UnixTime};
use hotline_store::Store;

use super::gateway::Gateway;
use crate::app::now_millis;

/// How long a booking stays held while the caller pays (the store's `expire_holds` frees it
/// after that even if the call never ends cleanly).
const HOLD_TIME_MS: i64 = 15 * 60 * 1000;

/// Does one piece of work; `None` for work without a result.
pub(crate) async fn perform(store: &Store, gateway: &Gateway, work: Work) -> Option<Completion> {
    Some(match work {
        Work::LookupForQueue {
            call,
            queue,
            identity,
        } => {
            let view = match identity {
                Some(i) => store.customer_view(&i).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "customer lookup failed; queued unidentified");
                    None
                }),
                None => None,
            };
            Completion::QueueLookup {
                call,
                queue,
                view: view.map(Box::new),
            }
        }
        Work::Lookup {
            call,
            request,
            identity,
        } => {
            let view = match identity {
                Some(i) => store.customer_view(&i).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "customer lookup failed");
                    None
                }),
                None => None,
            };
            Completion::Lookup {
                call,
                request,
                view: view.map(Box::new),
            }
        }
        Work::VerifyPin {
            call,
            request,
            customer_id,
            code,
        } => {
            // Checked against the customer's argon2id hash; the code is wiped when dropped
            // and never logged.
            let verified = match customer_id.parse::<i64>() {
                Ok(id) => store
                    .verify_customer_pin(id, code.expose(), now_millis())
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(call = %call, error = %e,
                            "caller PIN could not be checked: not verified");
                        false
                    }),
                Err(_) => false,
            };
            drop(code);
            tracing::info!(call = %call, customer = %customer_id, verified, "caller PIN checked");
            Completion::Verified {
                call,
                request,
                verified,
            }
        }
        Work::ListBookable {
            call,
            request,
            customer,
            max_items,
        } => {
            let items = list_bookable(store, &call, customer, max_items).await;
            Completion::Bookable {
                call,
                request,
                items,
            }
        }
        Work::HoldItem {
            call,
            request,
            customer,
            item_id,
        } => {
            let booking = hold_item(store, &call, customer, &item_id).await;
            Completion::Held {
                call,
                request,
                booking,
            }
        }
        Work::FileVoicemail {
            call,
            request,
            voicemail,
        } => {
            let ticket = file_voicemail(store, &voicemail).await;
            Completion::VoicemailFiled {
                call,
                request,
                ticket,
            }
        }
        Work::ReleaseHold { call, hold_id } => {
            release_hold(store, &call, &hold_id).await;
            return None;
        }
        Work::Charge {
            request,
            ctx,
            charge,
        } => {
            let amount_minor = charge.amount_minor;
            let currency = charge.currency.clone();
            let key = charge.idempotency_key.0.clone();
            let (result, confirmed) = charge_card(store, gateway, &ctx, charge).await;
            Completion::Charged {
                call: ctx.call_id,
                request,
                amount_minor,
                currency,
                key,
                result,
                confirmed,
            }
        }
        Work::AgentExtension { call, agent } => {
            let extension = store
                .agent_credentials(&agent)
                .await
                .ok()
                .flatten()
                .map(|a| a.extension)
                .filter(|e| !e.is_empty());
            Completion::AgentExtension {
                call,
                agent,
                extension,
            }
        }
    })
}

/// Bookable items for the IVR: free capacity, starting in the future, soonest first. Only
/// an identified caller can book (a booking belongs to a customer).
async fn list_bookable(
    store: &Store,
    call: &str,
    customer: Option<i64>,
    max_items: usize,
) -> Vec<hotline_ivr::BookableItem> {
    if customer.is_none() {
        tracing::info!(call = %call, "booking needs an identified caller: no items offered");
        return Vec::new();
    }
    let limit = i64::try_from(max_items.clamp(1, 9)).unwrap_or(9);
    match store.available_items(now_millis(), limit).await {
        Ok(items) => items
            .into_iter()
            .filter_map(|i| {
                // Items without a start time cannot be said ("for wednesday ... at ...").
                let at = i.starts_at?;
                Some(hotline_ivr::BookableItem {
                    id: i.id.to_string(),
                    starts_at: UnixTime(at.div_euclid(1000)).local(0),
                    price_minor: u64::try_from(i.price_minor).ok()?,
                    currency: i.currency,
                })
            })
            .collect(),
        Err(e) => {
            tracing::warn!(call = %call, error = %e, "bookable items could not be listed");
            Vec::new()
        }
    }
}

/// A booking reference callers can read out: two letters and six characters without the
/// easily confused 0/O and 1/I.
fn booking_reference() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut r = String::from("HL");
    let mut n = rand::random::<u64>();
    for _ in 0..6 {
        r.push(char::from(CHARS[(n % CHARS.len() as u64) as usize]));
        n /= CHARS.len() as u64;
    }
    r
}

/// Holds one unit of the item for the caller; `None` when it was taken (or is unknown).
async fn hold_item(
    store: &Store,
    call: &str,
    customer: Option<i64>,
    item: &str,
) -> Option<(i64, String)> {
    let customer = customer?;
    let item: i64 = item.parse().ok()?;
    let now = now_millis();
    // A clash of references is retried with a new one; anything else is the answer.
    for _ in 0..3 {
        let reference = booking_reference();
        match store
            .hold_booking(
                customer,
                item,
                Some(call),
                &reference,
                now + HOLD_TIME_MS,
                now,
            )
            .await
        {
            Ok(id) => {
                tracing::info!(call = %call, booking = id, reference = %reference, "booking held");
                return Some((id, reference));
            }
            Err(hotline_store::Error::Conflict(_)) => {
                tracing::info!(call = %call, item, "item taken meanwhile: not held");
                return None;
            }
            Err(e) => tracing::warn!(call = %call, error = %e, "booking could not be held"),
        }
    }
    None
}

async fn release_hold(store: &Store, call: &str, hold_id: &str) {
    let Ok(id) = hold_id.parse::<i64>() else {
        return;
    };
    match store.release_booking(id, now_millis()).await {
        Ok(()) => tracing::info!(call = %call, booking = id, "unpaid booking released"),
        Err(e) => tracing::info!(call = %call, booking = id, error = %e, "booking not released"),
    }
}

fn brand_from_name(s: &str) -> CardBrand {
    match s {
        "visa" => CardBrand::Visa,
        "mastercard" => CardBrand::Mastercard,
        "amex" => CardBrand::Amex,
        "discover" => CardBrand::Discover,
        _ => CardBrand::Other,
    }
}

/// A settled payment of the store as the gateway's answer (a repeated key).
fn stored_result(p: &hotline_store::Payment) -> Option<ChargeResult> {
    let status = match p.status.as_str() {
        "approved" => ChargeStatus::Approved,
        "declined" => match p.decline_reason.as_deref() {
            Some("insufficient_funds") => ChargeStatus::InsufficientFunds,
            r => ChargeStatus::Declined(r.unwrap_or("declined").to_string()),
        },
        _ => return None,
    };
    Some(ChargeResult {
        token: p.card_token.clone().unwrap_or_default(),
        brand: brand_from_name(p.card_brand.as_deref().unwrap_or("")),
        last_four: p.card_last4.clone().unwrap_or_default(),
        status,
    })
}

/// Files a voicemail as a ticket, retried while the database is away (a few times over about
/// half a minute: the message is on disk, and the ticket is what tells anyone it is there).
async fn file_voicemail(store: &Store, v: &hotline_store::NewVoicemail) -> Option<i64> {
    let mut wait = std::time::Duration::from_millis(250);
    for attempt in 1..=6 {
        match store.file_voicemail(v).await {
            Ok(t) => {
                tracing::info!(call = %v.call_id, ticket = t, queue = %v.queue,
                    recording = %v.recording, duration_ms = v.duration_ms, "voicemail filed");
                return Some(t);
            }
            Err(e) if attempt < 6 => {
                tracing::warn!(call = %v.call_id, attempt, error = %e, "voicemail not filed yet; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                tracing::error!(call = %v.call_id, recording = %v.recording, error = %e,
                    "voicemail could not be filed as a ticket; the recording is kept");
            }
        }
    }
    None
}

/// Charges a card exactly once per idempotency key, across the gateway and the store: a key
/// the store already holds a result for is answered from the store without charging; a new
/// key is written as `pending` before the gateway is asked (no record, no charge), then
/// updated with the result (token, brand, last four). An approved charge confirms the
/// booking it pays for. The card data is dropped (wiped) when this returns.
pub(crate) async fn charge_card(
    store: &Store,
    gateway: &Gateway,
    ctx: &ChargeContext,
    charge: ChargeRequest,
) -> (Result<ChargeResult, String>, Option<i64>) {
    let key = charge.idempotency_key.0.clone();
    match store.payment(&key).await {
        Ok(Some(p)) => {
            if let Some(r) = stored_result(&p) {
                tracing::info!(call = %ctx.call_id, key = %key, status = %p.status,
                    "charge already settled for this idempotency key: not charged again");
                if r.status == ChargeStatus::Approved && ctx.pays == Pays::Balance {
                    settle_balance(store, ctx, &key).await;
                }
                return (Ok(r), None);
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(call = %ctx.call_id, error = %e, "payment store unavailable: card not charged");
            return (Err("payment store unavailable".into()), None);
        }
    }
    let mut row = hotline_store::Payment {
        idempotency_key: key.clone(),
        booking_id: ctx.pays.booking(),
        customer_id: ctx.customer,
        call_id: Some(ctx.call_id.clone()),
        amount_minor: i64::try_from(charge.amount_minor).unwrap_or(i64::MAX),
        currency: charge.currency.clone(),
        status: "pending".into(),
        decline_reason: None,
        gateway: gateway.name().into(),
        gateway_ref: None,
        card_token: None,
        card_brand: None,
        card_last4: None,
        reference: ctx.reference.clone(),
        at: now_millis(),
    };
    if let Err(e) = store.record_payment(&row).await {
        tracing::warn!(call = %ctx.call_id, error = %e, "payment could not be recorded: card not charged");
        return (Err("payment store unavailable".into()), None);
    }
    // The sandbox answers at once; the HTTP processor is a POST with a time-out. Either
    // way this runs in the charge task, never on the call-control task.
    let (result, charges) = gateway.charge(&charge).await;
    drop(charge);
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            // Left pending: a retry with the same key updates this row.
            tracing::warn!(call = %ctx.call_id, key = %key, error = %e, "payment gateway could not decide");
            return (Err(e.to_string()), None);
        }
    };
    tracing::info!(call = %ctx.call_id, key = %key, status = hotline_calls::charge_status_name(&result.status),
        brand = %result.brand, gateway_charges = charges, "card charged");
    row.status = hotline_calls::charge_status_name(&result.status).into();
    row.decline_reason = match &result.status {
        ChargeStatus::Approved => None,
        ChargeStatus::Declined(r) => Some(r.clone()),
        ChargeStatus::InsufficientFunds => Some("insufficient_funds".into()),
    };
    row.gateway_ref = Some(result.token.clone());
    row.card_token = Some(result.token.clone());
    row.card_brand = Some(result.brand.to_string());
    row.card_last4 = Some(result.last_four.clone());
    row.at = now_millis();
    if let Err(e) = store.record_payment(&row).await {
        // The money moved: the caller hears the truth; the row stays pending for a repair.
        tracing::error!(call = %ctx.call_id, key = %key, token = %result.token, error = %e,
            "payment result could not be recorded");
    }
    let mut confirmed = None;
    if result.status == ChargeStatus::Approved {
        match ctx.pays {
            Pays::Booking(b) => match store.confirm_booking(b, now_millis()).await {
                Ok(()) => {
                    tracing::info!(call = %ctx.call_id, booking = b, "booking confirmed");
                    confirmed = Some(b);
                }
                Err(e) => tracing::error!(call = %ctx.call_id, booking = b, error = %e,
                    "paid booking could not be confirmed"),
            },
            Pays::Balance => settle_balance(store, ctx, &key).await,
            Pays::Amount => {}
        }
    }
    (Ok(result), confirmed)
}

/// Lowers the customer's balance by an approved payment, once per idempotency key (a retry
/// of a settled key changes nothing, so this also runs when a charge is answered from the
/// store).
async fn settle_balance(store: &Store, ctx: &ChargeContext, key: &str) {
    match store.settle_balance(key, now_millis()).await {
        Ok(hotline_store::Settlement::Settled(b)) => {
            tracing::info!(call = %ctx.call_id, key = %key, balance_minor = b.amount_minor,
                currency = %b.currency, "balance settled")
        }
        Ok(hotline_store::Settlement::AlreadySettled) => {}
        Err(e) => tracing::error!(call = %ctx.call_id, key = %key, error = %e,
            "approved balance payment could not lower the balance"),
    }
}

#[cfg(test)]
mod tests {
    //! One charge per idempotency key, across the gateway and the store (a real SQLite file
    //! and the sandbox gateway).

    use std::sync::{Arc, Mutex};

    use hotline_ivr::{CardData, ChargeRequest, ChargeStatus, IdempotencyKey, SandboxGateway};
    use hotline_store::Store;

    use hotline_calls::work::ChargeContext;

    use super::charge_card;
    use crate::calls::gateway::Gateway;

    fn charge(key: &str, number: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: IdempotencyKey(key.into()),
            amount_minor: 2500,
            currency: "USD".into(),
            description: "test".into(),
            card: CardData::new(number, 2035, 12, "838").expect("valid test card"),
        }
    }

    #[tokio::test]
    async fn a_key_is_charged_once_even_when_retried_or_after_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}/hotline.db", dir.path().display());
        let store = Store::open(&url, Default::default()).await.expect("store");
        let ctx = ChargeContext {
            call_id: "call-1".into(),
            customer: None,
            pays: hotline_calls::work::Pays::Amount,
            reference: Some("INV-1".into()),
        };
        let sandbox = || Arc::new(Mutex::new(SandboxGateway::new()));
        let (first, second) = (sandbox(), sandbox());
        let gateway = Gateway::Sandbox(first.clone());
        let fresh = Gateway::Sandbox(second.clone());
        let charges = |g: &Arc<Mutex<SandboxGateway>>| g.lock().expect("gateway").charges();

        // The sandbox's flaky card: the gateway cannot decide; the row stays pending.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("k1", "4000000000000119")).await;
        assert!(r.is_err(), "{r:?}");
        let p = store.payment("k1").await.expect("read").expect("row");
        assert_eq!((p.status.as_str(), p.card_last4), ("pending", None));
        assert_eq!(charges(&first), 0);

        // The retry with the same key is approved: one charge, one row.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("k1", "4000000000000119")).await;
        let approved = r.expect("approved");
        assert_eq!(approved.status, ChargeStatus::Approved);
        assert_eq!(charges(&first), 1);
        let p = store.payment("k1").await.expect("read").expect("row");
        assert_eq!(
            p.reference.as_deref(),
            Some("INV-1"),
            "the merchant reference is kept"
        );
        assert_eq!(
            (
                p.status.as_str(),
                p.card_last4.as_deref(),
                p.card_brand.as_deref()
            ),
            ("approved", Some("0119"), Some("visa"))
        );

        // Again with the same key: the store answers, the gateway is not asked.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("k1", "4000000000000119")).await;
        assert_eq!(r.expect("approved"), approved);
        assert_eq!(charges(&first), 1);

        // After a restart the sandbox has forgotten the key; the store has not.
        let (r, _) = charge_card(&store, &fresh, &ctx, charge("k1", "4000000000000119")).await;
        assert_eq!(r.expect("approved"), approved);
        assert_eq!(charges(&second), 0, "not charged again");

        // A decline is settled too: repeating its key does not charge.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("k2", "4000000000009995")).await;
        assert_eq!(r.expect("declined").status, ChargeStatus::InsufficientFunds);
        let (r, _) = charge_card(&store, &fresh, &ctx, charge("k2", "4000000000009995")).await;
        assert_eq!(r.expect("declined").status, ChargeStatus::InsufficientFunds);
        assert_eq!((charges(&first), charges(&second)), (2, 0));
        let rows = store.payments_for_call("call-1").await.expect("rows");
        assert_eq!(rows.len(), 2, "one row per key: {rows:?}");
        store.close().await;
    }
}
