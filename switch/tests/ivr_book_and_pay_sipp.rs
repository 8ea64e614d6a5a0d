//! Issue 6's booking-and-payment acceptance, end to end through the real `hotline-switch`
//! binary: a sipp caller (Hedy Perlman, +1 212 555 0113 in the demo data) dials the service
//! number and keys, as RFC 4733 telephone-events, 1 (sales) and 1 (book) in the menus of
//! `config/ivr/main.toml`, is found by her calling number and proves it with her PIN (a
//! calling number can be forged: no booking without the PIN), picks the first flight (1),
//! and pays with sandbox test cards: first `4000000000000002` (declined), then, offered a
//! retry (1), `4000000000000119`, whose first charge the sandbox fails like a network
//! timeout; the IVR retries it with the same idempotency key and it is approved.
//!
//! It proves:
//! - the database holds one confirmed booking for Hedy and, for the call, one declined and one
//!   approved payment, each with only a token, the brand and the last four digits;
//! - the retried charge (same key) did not charge twice: one payment row per key, the
//!   sandbox gateway counted two charges in all (the decline and the approval, tokens
//!   `tok_sandbox_000001`/`000002`) although it was asked three times, and the switch's log
//!   shows the gateway failure and exactly one charge for that key;
//! - neither full card number nor the security code (as a token of its own) appears in the
//!   raw bytes of the SQLite file, its WAL, the switch's log output (every line, at `trace`)
//!   or any file the switch wrote (recordings); the call record shows the card entries only
//!   as their lengths.
//!
//! The caller's key presses sit at fixed times after the answer in a pcap written by the
//! test (see `dtmf_util`), chosen inside the windows in which each node takes digits (prompt
//! lengths of `config/prompts`; every digit node has barge-in). Timeouts only bound a hung
//! test; nothing asserts on speed.

mod dtmf_util;
mod secrets_util;
mod sip_util;

use secrets_util::{contains, has_secret, secret_at};
use std::path::Path;

use sip_util::{Setup, Sipp, Switch, free_port};

const DECLINED_CARD: &str = "4000000000000002";
const FLAKY_CARD: &str = "4000000000000119";
const EXPIRY: &str = "1235";
const CVV: &str = "838";
const HEDY: &str = "+12125550113";
const HEDY_PIN: &str = "4052";

/// Every file under `dir` (the database, its WAL, recordings, anything else the switch wrote).
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        // The flows and prompts are links into the repository: not the switch's output.
        if e.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn caller_books_a_flight_and_pays_by_phone_and_no_card_digits_are_kept() {
    let sw = Switch::start_in_dir(Setup::default(), &[("RUST_LOG", "trace")]);

    // Key presses, in ms after the answer. Welcome 5.1 s, then the main menu (8.9 s prompt,
    // 6 s timeout), the sales menu (5.1 s + 6 s), the booking list (intro and three flights,
    // then 5 s), the pay node (amount due, card prompt, then 10 s), expiry and security code
    // prompts (3.1 s and 2.6 s, then 10 s), the decline and retry offer (4.6 s, then 10 s).
    let mut keys = Vec::new();
    keys.extend(dtmf_util::presses(8_000, "1", 0)); // main menu: sales
    keys.extend(dtmf_util::presses(10_000, "1", 0)); // sales menu: book
    keys.extend(dtmf_util::presses(11_000, HEDY_PIN, 200)); // the PIN (2.2 s prompt, then 10 s)
    keys.extend(dtmf_util::presses(16_000, "1", 0)); // the first flight
    keys.extend(dtmf_util::presses(
        18_000,
        &format!("{DECLINED_CARD}#"),
        200,
    ));
    keys.extend(dtmf_util::presses(23_000, EXPIRY, 200));
    keys.extend(dtmf_util::presses(25_000, CVV, 200));
    keys.extend(dtmf_util::presses(28_000, "1", 0)); // declined: try another card
    keys.extend(dtmf_util::presses(30_000, &format!("{FLAKY_CARD}#"), 200));
    keys.extend(dtmf_util::presses(35_000, EXPIRY, 200));
    keys.extend(dtmf_util::presses(37_000, CVV, 200));
    dtmf_util::write_pcap(&sw.dir.path().join("caller_dtmf.pcap"), &keys);

    let caller = Sipp::spawn_in(
        sw.dir.path(),
        sw.sip,
        "uac_pay_dtmf.xml",
        free_port(),
        &["-key", "caller", HEDY, "-key", "dial", "+18005550100"],
    );
    if !caller.success() {
        let logs = sw.logs.lock().expect("logs").clone();
        let ivr: Vec<String> = logs
            .iter()
            .map(|v| v.to_string())
            .filter(|l| !l.contains("sqlx::query"))
            .collect();
        panic!(
            "the caller's sipp failed; the switch's IVR log:\n{}",
            ivr.join("\n")
        );
    }
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "one call ended");
    let call = ended[0].clone();
    let rec = sw.call_records(std::slice::from_ref(&call)).remove(0);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (customer, bookings, payments, item, kinds) = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let hedy = hotline_store::Identity::phone_in(HEDY, "1").expect("phone");
        let customer = store
            .customer_view(&hedy)
            .await
            .expect("lookup")
            .expect("Hedy is in the demo data")
            .customer
            .id;
        let bookings = store.bookings_for_call(&call).await.expect("bookings");
        let payments = store.payments_for_call(&call).await.expect("payments");
        let item = match bookings.first() {
            Some(b) => store.item(b.item_id).await.expect("item"),
            None => None,
        };
        let kinds = store.call_event_kinds(&call).await.expect("events");
        store.close().await;
        (customer, bookings, payments, item, kinds)
    });

    if let Ok(path) = std::env::var("HOTLINE_TEST_LOG_DUMP") {
        let logs = sw.logs.lock().expect("logs").clone();
        let text: String = logs.iter().map(|v| format!("{v}\n")).collect();
        std::fs::write(path, text).expect("dump");
    }
    // Through the menus by RFC 4733, identified by the calling number.
    assert_eq!(rec.customer_id, Some(customer), "identified by ANI and PIN");
    for node in [
        "main_menu",
        "sales_menu",
        "book_verify",
        "book",
        "pay_booking",
        "booked",
    ] {
        assert!(
            rec.ivr_path.iter().any(|n| n == node),
            "{node} in {:?}",
            rec.ivr_path
        );
    }
    assert_eq!(rec.end_reason.as_deref(), Some("IVR hung up"), "{rec:?}");
    for k in ["arrived", "identified", "ivr", "ended"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    // The card entries are in the call record as their length only.
    let pay_input = rec.ivr_inputs.get("pay_booking").cloned();
    assert_eq!(
        pay_input,
        Some(serde_json::json!({ "masked": CVV.len() })),
        "inputs: {:?}",
        rec.ivr_inputs
    );

    // One booking, held while paying, confirmed after the approval.
    assert_eq!(bookings.len(), 1, "{bookings:?}");
    let b = &bookings[0];
    assert_eq!(b.status, "confirmed", "{b:?}");
    assert_eq!(b.customer_id, customer);
    let item = item.expect("the booked item");
    assert_eq!((item.held, item.sold), (0, 1), "{item:?}");

    // One row per idempotency key: the decline, then the approval of the retried charge.
    let key1 = format!("{call}:pay_booking:1");
    let key2 = format!("{call}:pay_booking:2");
    let rows: Vec<_> = payments
        .iter()
        .map(|p| {
            (
                p.idempotency_key.as_str(),
                p.status.as_str(),
                p.card_brand.as_deref(),
                p.card_last4.as_deref(),
                p.card_token.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                key1.as_str(),
                "declined",
                Some("visa"),
                Some("0002"),
                Some("tok_sandbox_000001")
            ),
            (
                key2.as_str(),
                "approved",
                Some("visa"),
                Some("0119"),
                Some("tok_sandbox_000002")
            ),
        ],
        "payments of the call"
    );
    assert_eq!(payments[1].booking_id, Some(b.id));
    assert_eq!(payments[1].amount_minor, item.price_minor);
    assert_eq!(payments[0].decline_reason.as_deref(), Some("card_declined"));

    // The log: the gateway failed once for key 2, was retried with the same key and charged
    // once; two charges in all.
    let logs = sw.logs.lock().expect("logs").clone();
    let with = |msg: &str, key: &str| -> Vec<serde_json::Value> {
        logs.iter()
            .filter(|v| v["fields"]["message"] == msg && v["fields"]["key"] == key)
            .cloned()
            .collect()
    };
    assert_eq!(with("payment gateway could not decide", &key2).len(), 1);
    let charged = with("card charged", &key2);
    assert_eq!(charged.len(), 1, "one charge for the retried key");
    assert_eq!(charged[0]["fields"]["gateway_charges"], 2, "{charged:?}");
    assert_eq!(with("card charged", &key1).len(), 1);

    // Nowhere: the full card numbers and the security code.
    let log_text: String = logs.iter().map(|v| format!("{v}\n")).collect();
    assert!(
        logs.len() > 100,
        "trace logging captured ({} lines)",
        logs.len()
    );
    for card in [DECLINED_CARD, FLAKY_CARD] {
        assert!(!log_text.contains(card), "card number {card} in the log");
    }
    for (what, secret) in [("security code", CVV), ("PIN", HEDY_PIN)] {
        let leak = secret_at(log_text.as_bytes(), secret.as_bytes());
        assert!(leak.is_none(), "{what} in the log: {leak:?}");
    }
    let mut files = Vec::new();
    files_under(sw.dir.path(), &mut files);
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(names.iter().any(|n| n == "hotline.db"), "{names:?}");
    assert!(names.iter().any(|n| n == "hotline.db-wal"), "{names:?}");
    for f in &files {
        if f.file_name()
            .is_some_and(|n| n == "caller_dtmf.pcap" || n == "demo.toml")
        {
            // The caller's own key presses, written by this test, and the demo data the
            // switch reads (with Hedy's public demo PIN): inputs, not what the switch wrote.
            continue;
        }
        let bytes = std::fs::read(f).expect("read");
        for card in [DECLINED_CARD, FLAKY_CARD] {
            assert!(
                !contains(&bytes, card.as_bytes()),
                "card number {card} in {}",
                f.display()
            );
        }
        for (what, secret) in [("security code", CVV), ("PIN", HEDY_PIN)] {
            assert!(
                !has_secret(&bytes, secret.as_bytes()),
                "{what} in {}",
                f.display()
            );
        }
    }
}
