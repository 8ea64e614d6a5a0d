//! The vertical slice, end to end over real SIP and RTP: a caller (sipp) dials the service
//! number, hears the IVR (`config/ivr/main.toml`), presses 1 then 2 as RFC 4733 DTMF and lands
//! in the `sales` queue; routing offers the call to agent alice, whose phone (a sipp UAS
//! registered as extension 1001 with digest auth) rings while the screen pop is published on
//! the bus; alice answers, caller and agent are bridged, the caller hangs up, and the call
//! record in the SQLite database shows the IVR path, the queue, the agent, the end and the
//! caller leg's media quality.
//!
//! The switch runs in this process (configuration, store, routing, call control exactly as
//! `app` wires them) so the test can log alice in through routing and watch the bus; the peers
//! are real sipp processes. No wall-clock assertions; generous timeouts.

mod sip_util;

use std::time::Duration;

use hotline_acd::AgentId;
use hotline_switch::bus::{Bus, CallNotice};
use sip_util::{Sipp, free_port};

#[test]
fn caller_through_ivr_and_queue_to_agent_alice_and_into_the_database() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(slice());
}

async fn slice() {
    let (dir, cfg, db_url) = sip_util::service_config("");

    // What app::run does: store, demo data, routing, bus, call control.
    let store = hotline_store::Store::open(&db_url, Default::default())
        .await
        .expect("store");
    let data = hotline_switch::seed::load(&dir.path().join("demo.toml")).expect("demo data");
    hotline_switch::seed::seed(&store, &data, hotline_switch::app::now_millis())
        .await
        .expect("seed");
    let setup = hotline_switch::routing::load_queues(&cfg).expect("queues");
    let routing = hotline_switch::routing::spawn(setup, Some(store.clone()));
    let (bus, commands) = Bus::new();
    let mut notices = bus.notices.subscribe();
    let calls = hotline_switch::calls::start_from_config(
        &cfg,
        store.clone(),
        bus.clone(),
        commands,
        Some(routing.clone()),
    )
    .await
    .expect("call control");
    let sip = calls.local;

    // Alice's desktop would do this through CTI: log in, become ready.
    let alice = AgentId::new("alice");
    routing.login(&alice).await.expect("login");
    routing.ready(&alice).await.expect("ready");

    // Alice's phone: a UAS on one port, registered (digest auth) from another.
    let phone = sip_util::registered_phone(sip, "1001", "alice-phone", "uas.xml", &[]).await;

    // The caller: a known VIP customer (+1 212 555 0100 in demo.toml). Welcome (5.1 s) and the
    // VIP greeting (4.8 s) play first; the main menu then takes digits with barge-in for about
    // 15 s, the sales menu for about 11 s.
    let caller = Sipp::spawn(
        sip,
        "uac_ivr_dtmf.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+12125550100",
            "-key",
            "dial",
            "+18005550100",
        ],
    );

    // Watch the bus: the offer with its screen pop, then connected, then ended.
    let mut offered = None;
    let mut connected = false;
    let mut ended = false;
    let watch = async {
        loop {
            match notices.recv().await {
                Ok(CallNotice::Offered { agent, pop }) => offered = Some((agent, pop)),
                Ok(CallNotice::Connected { agent, .. }) => connected = agent == "alice",
                Ok(CallNotice::Ended { .. }) if connected => {
                    ended = true;
                    break;
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(90), watch).await;

    let caller_ok = tokio::task::spawn_blocking(move || caller.success())
        .await
        .expect("join");
    let phone_ok = tokio::task::spawn_blocking(move || phone.success())
        .await
        .expect("join");
    assert!(caller_ok, "the caller's sipp failed");
    assert!(phone_ok, "alice's phone (sipp) failed");

    let (agent, pop) = offered.expect("the call was offered with a screen pop");
    assert_eq!(agent, "alice");
    assert!(connected, "alice was connected");
    assert!(ended, "the end was published");
    assert_eq!(pop.queue.as_str(), "sales");
    assert_eq!(pop.dnis, "+18005550100");
    let customer = pop
        .customer
        .as_ref()
        .expect("known caller: customer view in the pop");
    assert_eq!(customer.tier, "vip");
    assert!(
        pop.ivr_path.iter().any(|n| n == "main_menu"),
        "{:?}",
        pop.ivr_path
    );
    assert!(
        pop.ivr_path.iter().any(|n| n == "sales_menu"),
        "{:?}",
        pop.ivr_path
    );
    let keys: Vec<&str> = pop
        .ivr_inputs
        .iter()
        .map(|i| i.value.expose().as_str())
        .collect();
    assert_eq!(keys, ["1", "2"], "digits entered");

    // Stop call control: it drains the call-record writer.
    calls.shutdown().await;
    let call = pop.call.as_str().to_string();
    let rec = store.call(&call).await.expect("read").expect("call record");
    assert_eq!(rec.direction, "inbound");
    assert_eq!(rec.ani, "+12125550100");
    assert_eq!(rec.queue_id.as_deref(), Some("sales"));
    assert_eq!(rec.agent_id.as_deref(), Some("alice"));
    assert!(rec.customer_id.is_some(), "identified by ANI");
    assert!(
        rec.ivr_path.iter().any(|n| n == "main_menu"),
        "{:?}",
        rec.ivr_path
    );
    assert!(
        rec.answered_at.is_some() && rec.ended_at.is_some(),
        "{rec:?}"
    );
    assert_eq!(rec.end_reason.as_deref(), Some("caller hung up"));
    assert!(!rec.abandoned);
    // The caller's RTP (the DTMF packets of its pcap) was measured on the anchored leg: the
    // `quality` column holds the caller's figures. (Alice's sipp sends no RTP, so her leg has
    // none.) The pcap's sequence numbers jump between the two key presses, so its loss is high
    // and its MOS low: only the range is checked.
    let caller_q = rec
        .quality
        .iter()
        .find(|q| q.leg == "caller")
        .unwrap_or_else(|| panic!("no caller quality in {:?}", rec.quality));
    assert!(caller_q.packets > 0, "{caller_q:?}");
    assert!((1.0..=4.5).contains(&caller_q.mos), "{caller_q:?}");
    assert!(
        rec.quality.iter().all(|q| q.packets > 0),
        "{:?}",
        rec.quality
    );
    let kinds = store.call_event_kinds(&call).await.expect("events");
    for k in [
        "arrived",
        "identified",
        "ivr",
        "enqueued",
        "offered",
        "answered",
        "ended",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    store.close().await;
}
