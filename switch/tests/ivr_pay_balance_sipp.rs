//! Issue 17's balance payment, end to end through the real `hotline-switch` binary: a sipp
//! caller from Hedy Perlman's number (+1 212 555 0113; the demo data says she owes 42.75 USD)
//! dials the service number and keys, as RFC 4733 telephone-events, 3 (billing), her account
//! number 100169 and `#`, her PIN, then the sandbox card `4111111111111111`, its expiry and
//! security code. The shipped flow's `pay_balance` node (`amount = "balance"`) charges what
//! the look-up said she owes.
//!
//! It proves:
//! - the charge is for the balance on record (4275 USD), approved, and the payment row holds
//!   only a token, the brand and the last four digits (no booking);
//! - the balance is now zero, lowered once, and the screen-pop view says so;
//! - neither the card number nor the security code nor the PIN is in the log (at `trace`),
//!   the database file or its WAL.
//!
//! Key presses sit at fixed times after the answer (see `dtmf_util`) inside the windows in
//! which each node takes digits; every digit node has barge-in. Timeouts only bound a hung
//! test; nothing asserts on speed.

mod dtmf_util;
mod secrets_util;
mod sip_util;

use secrets_util::{contains, has_secret};

use sip_util::{Setup, Sipp, Switch, free_port};

const CARD: &str = "4111111111111111";
const EXPIRY: &str = "1235";
const CVV: &str = "838";
const HEDY: &str = "+12125550113";
const HEDY_ACCOUNT: &str = "100169";
const HEDY_PIN: &str = "4052";

#[test]
fn identified_caller_pays_her_balance_by_phone_and_it_is_settled_once() {
    let sw = Switch::start_in_dir(Setup::default(), &[("RUST_LOG", "trace")]);

    // Welcome and recording notice 5.1 s, then the main menu (8.9 s, barge-in); the account
    // prompt (3.6 s) and the PIN prompt (2.2 s) take digits while they play; the PIN check,
    // then the pay node (amount due and card prompt, then 10 s), expiry and security code
    // prompts (3.1 s and 2.6 s, then 10 s each).
    let mut keys = Vec::new();
    keys.extend(dtmf_util::presses(8_000, "3", 0));
    keys.extend(dtmf_util::presses(9_500, &format!("{HEDY_ACCOUNT}#"), 200));
    keys.extend(dtmf_util::presses(12_500, HEDY_PIN, 200));
    keys.extend(dtmf_util::presses(17_500, &format!("{CARD}#"), 200));
    keys.extend(dtmf_util::presses(22_500, EXPIRY, 200));
    keys.extend(dtmf_util::presses(24_500, CVV, 200));
    dtmf_util::write_pcap(&sw.dir.path().join("caller_dtmf.pcap"), &keys);

    let caller = Sipp::spawn_in(
        sw.dir.path(),
        sw.sip,
        "uac_pay_dtmf.xml",
        free_port(),
        &["-key", "caller", HEDY, "-key", "dial", "+18005550100"],
    );
    let logs_text = || -> String {
        let logs = sw.logs.lock().expect("logs").clone();
        logs.iter().map(|v| format!("{v}\n")).collect()
    };
    assert!(
        caller.success(),
        "the caller's sipp failed; the switch's log:\n{}",
        logs_text()
            .lines()
            .filter(|l| !l.contains("sqlx::query"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "one call ended");
    let call = ended[0].clone();
    let rec = sw.call_records(std::slice::from_ref(&call)).remove(0);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (customer, payments, balance, view_due) = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let hedy = hotline_store::Identity::phone_in(HEDY, "1").expect("phone");
        let view = store
            .customer_view(&hedy)
            .await
            .expect("lookup")
            .expect("Hedy is in the demo data");
        let payments = store.payments_for_call(&call).await.expect("payments");
        let balance = store.balance(view.customer.id).await.expect("balance");
        let due = hotline_cti::from_store::customer_view(&view).balance_due;
        store.close().await;
        (view.customer.id, payments, balance, due)
    });

    assert_eq!(
        rec.customer_id,
        Some(customer),
        "identified by account and PIN"
    );
    for node in ["main_menu", "billing_identify", "pay_balance", "paid"] {
        assert!(
            rec.ivr_path.iter().any(|n| n == node),
            "{node} in {:?}",
            rec.ivr_path
        );
    }
    let rows: Vec<_> = payments
        .iter()
        .map(|p| {
            (
                p.idempotency_key.as_str(),
                p.status.as_str(),
                p.amount_minor,
                p.currency.as_str(),
                p.card_brand.as_deref(),
                p.card_last4.as_deref(),
                p.card_token.as_deref(),
                p.booking_id,
                p.customer_id,
            )
        })
        .collect();
    let key = format!("{call}:pay_balance:1");
    assert_eq!(
        rows,
        [(
            key.as_str(),
            "approved",
            4275,
            "USD",
            Some("visa"),
            Some("1111"),
            Some("tok_sandbox_000001"),
            None,
            Some(customer)
        )],
        "the call's payments"
    );
    let balance = balance.expect("Hedy's balance row");
    assert_eq!(
        (balance.amount_minor, balance.currency.as_str()),
        (0, "USD")
    );
    assert_eq!(view_due, None, "nothing due on the screen pop any more");
    let text = logs_text();
    assert_eq!(
        text.matches("\"balance settled\"").count(),
        1,
        "settled once"
    );

    // Nowhere: the card number, the security code, the PIN.
    assert!(!text.contains(CARD), "card number in the log");
    for (what, secret) in [("security code", CVV), ("PIN", HEDY_PIN)] {
        assert!(
            !has_secret(text.as_bytes(), secret.as_bytes()),
            "{what} in the log"
        );
    }
    for f in ["hotline.db", "hotline.db-wal"] {
        let bytes = std::fs::read(sw.dir.path().join(f)).unwrap_or_default();
        assert!(!contains(&bytes, CARD.as_bytes()), "card number in {f}");
        for (what, secret) in [("security code", CVV), ("PIN", HEDY_PIN)] {
            assert!(!has_secret(&bytes, secret.as_bytes()), "{what} in {f}");
        }
    }
}
