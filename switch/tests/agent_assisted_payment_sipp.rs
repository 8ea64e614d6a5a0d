//! Issue 6's agent-assisted payment acceptance, end to end: a sipp caller dials a public queue
//! number and is connected to agent alice, whose phone is a sipp UAS registered to the switch
//! with its RTP going to a UDP socket of this test (`dtmf_util::RtpPeer`), so the test hears
//! exactly what the agent's phone hears. Alice's desktop is a CTI client over the real
//! WebSocket; the whole switch runs in this process as `hotline-switch run` wires it.
//!
//! It proves:
//! - before the hand-over, a key the caller presses (7) does reach the agent's RTP stream (the
//!   check below is not blind);
//! - after alice's desktop sends `StartPayment`, the caller keys a card number, expiry and
//!   security code (RFC 4733) and not one of those telephone-events reaches the agent's RTP
//!   stream, while the payment is approved;
//! - alice's desktop gets `payment_progress` events with counts (16 card digits, 4 of 4
//!   expiry digits, 3 of 3 security-code digits), processing and approved, and none of the
//!   desktop's frames for the payment carries the card number or the security code;
//! - afterwards suppression is off again: a key pressed after the payment (9) reaches the
//!   agent, and caller and agent are still connected (alice hangs up from the desktop);
//! - the database holds one approved payment for the call with token, brand and last four.
//!
//! The caller's key presses sit at fixed times in a pcap (see `dtmf_util`); the test starts the
//! payment when the agent's side has heard the first key. Timeouts only bound a hung test.

mod cti_util;
mod dtmf_util;
mod sip_util;

use std::time::Duration;

use cti_util::Desk;
use hotline_cti::{CallId, CallState, Command, Event, Money, PaymentField, PaymentStage, Reply};
use hotline_switch::app::{StartOptions, start};
use sip_util::{Sipp, finished, free_port};

const CARD: &str = "4111111111111111";
const EXPIRY: &str = "1235";
const CVV: &str = "838";

#[test]
fn agent_hears_no_card_digits_and_sees_only_counts() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(scenario());
}

/// Waits (bounded) until the agent's RTP peer has heard a key press with `code`.
async fn agent_hears(peer: &dtmf_util::RtpPeer, code: u8) -> bool {
    tokio::time::timeout(Duration::from_secs(40), async {
        while !peer.snapshot().codes().contains(&code) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

async fn scenario() {
    let (dir, cfg, db_url) = sip_util::service_config(
        "\n[[dialplan.routes]]\nnumber = \"+18005550177\"\npublic = true\nqueue = \"sales\"\n",
    );
    let sw = start(cfg, StartOptions::default())
        .await
        .expect("switch starts");
    let sip = sw.sip.expect("call control runs");

    let mut desk = Desk::connect(&format!("ws://{}/cti", sw.http)).await;
    desk.hello().await;
    desk.login("alice", "alice-demo")
        .await
        .expect("alice logs in");
    assert_eq!(desk.request(Command::Ready).await, Ok(Reply::Done));

    // Alice's phone: signalling by sipp, media to our socket.
    let peer = dtmf_util::RtpPeer::start();
    let rtp_port = peer.port.to_string();
    let phone = sip_util::registered_phone(
        sip,
        "1001",
        "alice-phone",
        "uas_rtp_peer.xml",
        &["-key", "rtp_port", &rtp_port],
    )
    .await;

    // The caller's keys, in ms after the switch answered: 7 once connected to alice; the
    // card from 9 s (the hand-over at about 5 s, "one moment" 1.3 s, then the amount and the
    // card prompt with barge-in), the expiry and security code after their prompts; 9 well
    // after the approval and the "returning you to the agent" prompt (about 6 s).
    let mut keys = Vec::new();
    keys.extend(dtmf_util::presses(5_000, "7", 0));
    keys.extend(dtmf_util::presses(9_000, &format!("{CARD}#"), 200));
    keys.extend(dtmf_util::presses(14_000, EXPIRY, 200));
    keys.extend(dtmf_util::presses(16_500, CVV, 200));
    keys.extend(dtmf_util::presses(29_000, "9", 0));
    dtmf_util::write_pcap(&dir.path().join("caller_dtmf.pcap"), &keys);
    let caller = Sipp::spawn_in(
        dir.path(),
        sip,
        "uac_pay_dtmf.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+12125550113",
            "-key",
            "dial",
            "+18005550177",
        ],
    );

    // The call reaches alice.
    let call: CallId = tokio::time::timeout(Duration::from_secs(40), async {
        let mut offered = None;
        loop {
            let ev = desk.event().await;
            match ev.event {
                Event::CallOffered(p) => offered = Some(p.call.clone()),
                Event::CallChanged(info)
                    if Some(&info.call) == offered.as_ref()
                        && info.state == CallState::Connected =>
                {
                    return info.call;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the call is connected to alice");

    // Before the hand-over the agent hears the caller's keys.
    assert!(
        agent_hears(&peer, 7).await,
        "the key pressed before the payment reached the agent: {:?}",
        peer.snapshot()
    );
    let reply = desk
        .request(Command::StartPayment {
            call: call.clone(),
            amount: Money {
                minor: 2500,
                currency: "USD".into(),
            },
            reference: "INV-1001".into(),
        })
        .await;
    assert_eq!(reply, Ok(Reply::Done), "StartPayment accepted");

    // Progress on the desktop until the outcome.
    let mut stages: Vec<PaymentStage> = Vec::new();
    let mut frames: Vec<String> = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let ev = desk.event().await;
            if let Event::PaymentProgress { call: c, stage } = &ev.event
                && *c == call
            {
                frames.push(serde_json::to_string(&ev).expect("json"));
                stages.push(stage.clone());
                if matches!(
                    stage,
                    PaymentStage::Approved { .. } | PaymentStage::Cancelled
                ) {
                    break;
                }
            }
        }
    })
    .await
    .expect("the payment ended");

    // Back to normal talk: the key after the payment reaches the agent again.
    assert!(
        agent_hears(&peer, 9).await,
        "the key pressed after the payment reached the agent: {:?}",
        peer.snapshot()
    );
    let seen = peer.snapshot();
    let codes = seen.codes();
    assert_eq!(
        codes,
        [7u8, 9].into_iter().collect(),
        "the agent heard exactly the keys pressed outside card entry (no card, expiry or \
         security-code digit, no #): {seen:?}"
    );

    // Alice hangs up from the desktop: the caller is still with her.
    assert_eq!(
        desk.request(Command::Hangup { call: call.clone() }).await,
        Ok(Reply::Done)
    );
    assert!(finished(caller).await, "the caller's sipp succeeded");
    assert!(finished(phone).await, "alice's phone (sipp) succeeded");

    // Counts, never digits.
    assert_eq!(stages.first(), Some(&PaymentStage::Started), "{stages:?}");
    let most = |field: PaymentField| {
        stages
            .iter()
            .filter_map(|s| match s {
                PaymentStage::Collecting {
                    field: f,
                    entered,
                    expected,
                } if *f == field => Some((*entered, *expected)),
                _ => None,
            })
            .max()
    };
    assert_eq!(
        most(PaymentField::CardNumber),
        Some((16, None)),
        "{stages:?}"
    );
    assert_eq!(most(PaymentField::Expiry), Some((4, Some(4))), "{stages:?}");
    assert_eq!(
        most(PaymentField::SecurityCode),
        Some((3, Some(3))),
        "{stages:?}"
    );
    assert!(stages.contains(&PaymentStage::Processing), "{stages:?}");
    let Some(PaymentStage::Approved { reference }) = stages.last() else {
        panic!("approved: {stages:?}");
    };
    assert!(reference.starts_with("tok_sandbox_"), "{reference}");
    for f in &frames {
        assert!(!f.contains(CARD), "card number in a desktop frame: {f}");
        assert!(!f.contains(EXPIRY), "expiry in a desktop frame: {f}");
        assert!(!f.contains(CVV), "security code in a desktop frame: {f}");
    }

    // The database: the payment with token, brand and last four only.
    sw.shutdown().await.expect("clean stop");
    let store = hotline_store::Store::open(&db_url, Default::default())
        .await
        .expect("reopen");
    let payments = store
        .payments_for_call(call.as_str())
        .await
        .expect("payments");
    assert_eq!(payments.len(), 1, "{payments:?}");
    let p = &payments[0];
    assert_eq!(
        (
            p.idempotency_key.clone(),
            p.status.as_str(),
            p.amount_minor,
            p.currency.as_str(),
            p.card_brand.as_deref(),
            p.card_last4.as_deref(),
            p.card_token.as_deref(),
        ),
        (
            format!("{}.pay1:pay:1", call.as_str()),
            "approved",
            2500,
            "USD",
            Some("visa"),
            Some("1111"),
            Some(reference.as_str()),
        )
    );
    assert_eq!(p.booking_id, None);
    // The desktop's merchant reference is stored with the payment.
    assert_eq!(p.reference.as_deref(), Some("INV-1001"), "{p:?}");
    let rec = store
        .call(call.as_str())
        .await
        .expect("read")
        .expect("call record");
    assert_eq!(rec.agent_id.as_deref(), Some("alice"));
    assert_eq!(rec.end_reason.as_deref(), Some("agent hung up"), "{rec:?}");
    store.close().await;
}
