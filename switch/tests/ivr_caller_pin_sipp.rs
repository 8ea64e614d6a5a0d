//! Caller verification by PIN, end to end through the real `hotline-switch` binary and the
//! shipped flow (`config/ivr/main.toml`, billing: identify by account number, then a 4-digit
//! PIN). Two sipp callers from numbers the demo data does not know call at the same time and
//! key, as RFC 4733 telephone-events, 3 (billing), an account number with `#`, and a PIN:
//!
//! - the first keys Ada Lovelace's account (100000) and her demo PIN: she is identified (the
//!   call record names her, `identified` is written, the flow goes on to `pay_balance`);
//! - the second keys Grace Liskov's account (100013) and a wrong PIN: the call is not
//!   identified (no customer, no `identified`, never `pay_balance`), the flow asks again.
//!
//! It also proves that neither PIN appears in the switch's log (every line, at `trace`), in
//! the call records, or in the raw bytes of the SQLite file and its WAL (the store keeps an
//! argon2id hash only), while the log says which check succeeded.
//!
//! The key presses sit at fixed times after the answer (see `dtmf_util`) inside the windows in
//! which each node takes digits; every digit node has barge-in. Timeouts only bound a hung
//! test; nothing asserts on speed.

mod dtmf_util;
mod secrets_util;
mod sip_util;

use secrets_util::has_secret;
use std::path::Path;

use sip_util::{Setup, Sipp, Switch, free_port};

const ADA_ACCOUNT: &str = "100000";
const ADA_PIN: &str = "7391";
const GRACE_ACCOUNT: &str = "100013";
const WRONG_PIN: &str = "8046";

/// Writes the caller's key presses into `dir/caller_dtmf.pcap`: main menu 3 (billing), the
/// account number and `#`, then the PIN.
fn keys(dir: &Path, account: &str, pin: &str) {
    std::fs::create_dir_all(dir).expect("dir");
    // Welcome and recording notice 5.1 s, then the main menu (8.9 s, barge-in); the account
    // prompt (3.6 s) and the PIN prompt (2.2 s) take digits while they play.
    let mut k = Vec::new();
    k.extend(dtmf_util::presses(8_000, "3", 0));
    k.extend(dtmf_util::presses(9_500, &format!("{account}#"), 200));
    k.extend(dtmf_util::presses(12_500, pin, 200));
    dtmf_util::write_pcap(&dir.join("caller_dtmf.pcap"), &k);
}

#[test]
fn right_pin_identifies_the_caller_and_a_wrong_one_does_not_and_no_pin_is_kept() {
    let sw = Switch::start_in_dir(Setup::default(), &[("RUST_LOG", "trace")]);
    let right_dir = sw.dir.path().join("right");
    let wrong_dir = sw.dir.path().join("wrong");
    keys(&right_dir, ADA_ACCOUNT, ADA_PIN);
    keys(&wrong_dir, GRACE_ACCOUNT, WRONG_PIN);

    // Both hang up 17 s after the answer, while queued (right) or asked again (wrong).
    let right = Sipp::spawn_in(
        &right_dir,
        sw.sip,
        "uac_dtmf_hangup.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+12125559901",
            "-key",
            "dial",
            "+18005550100",
            "-d",
            "17000",
        ],
    );
    let wrong = Sipp::spawn_in(
        &wrong_dir,
        sw.sip,
        "uac_dtmf_hangup.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+12125559902",
            "-key",
            "dial",
            "+18005550100",
            "-d",
            "17000",
        ],
    );
    assert!(right.success(), "the first caller's sipp failed");
    assert!(wrong.success(), "the second caller's sipp failed");
    let ended = sw.wait_ended(2);
    assert_eq!(ended.len(), 2, "two calls ended");
    let recs = sw.call_records(&ended);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ada, grace, ada_has_pin, kinds) = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let by_account = async |a: &str| {
            let id = hotline_store::Identity::new(hotline_store::IdentityKind::Account, a)
                .expect("account");
            store
                .customer_view(&id)
                .await
                .expect("lookup")
                .expect("in the demo data")
                .customer
                .id
        };
        let ada = by_account(ADA_ACCOUNT).await;
        let grace = by_account(GRACE_ACCOUNT).await;
        let has_pin = store.has_customer_pin(ada).await.expect("pin");
        let mut kinds = Vec::new();
        for r in &recs {
            kinds.push(store.call_event_kinds(&r.id).await.expect("events"));
        }
        store.close().await;
        (ada, grace, has_pin, kinds)
    });
    assert!(ada_has_pin, "the demo data gives Ada a PIN");

    let (ri, wi) = match recs.iter().position(|r| r.ani.ends_with("9901")) {
        Some(0) => (0, 1),
        Some(_) => (1, 0),
        None => panic!("no call from the first caller: {recs:?}"),
    };
    let (r, w) = (&recs[ri], &recs[wi]);

    // The right PIN: identified as Ada, on to the payment of her balance.
    assert_eq!(r.customer_id, Some(ada), "{r:?}");
    assert!(
        kinds[ri].iter().any(|k| k == "identified"),
        "{:?}",
        kinds[ri]
    );
    for node in ["main_menu", "billing_identify", "pay_balance"] {
        assert!(
            r.ivr_path.iter().any(|n| n == node),
            "{node} in {:?}",
            r.ivr_path
        );
    }
    // The wrong PIN: not identified (not Grace, nobody), asked again instead.
    assert_eq!(w.customer_id, None, "{w:?}");
    assert_ne!(w.customer_id, Some(grace));
    assert!(
        !kinds[wi].iter().any(|k| k == "identified"),
        "{:?}",
        kinds[wi]
    );
    assert!(
        w.ivr_path.iter().any(|n| n == "billing_identify"),
        "{:?}",
        w.ivr_path
    );
    assert!(
        !w.ivr_path.iter().any(|n| n == "pay_balance"),
        "{:?}",
        w.ivr_path
    );

    // The log says which check succeeded, without the code.
    let logs = sw.logs.lock().expect("logs").clone();
    let checks: Vec<(String, bool)> = logs
        .iter()
        .filter(|v| v["fields"]["message"] == "caller PIN checked")
        .map(|v| {
            (
                v["fields"]["call"].as_str().unwrap_or("").to_string(),
                v["fields"]["verified"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert!(checks.contains(&(r.id.clone(), true)), "{checks:?}");
    assert!(checks.contains(&(w.id.clone(), false)), "{checks:?}");
    assert!(!checks.contains(&(w.id.clone(), true)), "{checks:?}");

    // Neither PIN anywhere: log, call records, database file and WAL.
    let log_text: String = logs.iter().map(|v| format!("{v}\n")).collect();
    assert!(
        logs.len() > 100,
        "trace logging captured ({} lines)",
        logs.len()
    );
    let rec_text = format!(
        "{recs:?} {}",
        serde_json::json!([r.ivr_inputs, w.ivr_inputs])
    );
    // The PIN entry is in the call record as its length only.
    for rec in [r, w] {
        assert_eq!(
            rec.ivr_inputs.get("billing_identify"),
            Some(&serde_json::json!({ "masked": 4 })),
            "{:?}",
            rec.ivr_inputs
        );
    }
    for pin in [ADA_PIN, WRONG_PIN] {
        assert!(
            !has_secret(log_text.as_bytes(), pin.as_bytes()),
            "PIN {pin} in the log"
        );
        assert!(
            !has_secret(rec_text.as_bytes(), pin.as_bytes()),
            "PIN {pin} in a call record"
        );
        for f in ["hotline.db", "hotline.db-wal"] {
            let bytes = std::fs::read(sw.dir.path().join(f)).unwrap_or_default();
            assert!(!has_secret(&bytes, pin.as_bytes()), "PIN {pin} in {f}");
        }
    }
}
