//! Issue 7's end-to-end acceptance, with real peers on every side of the switch:
//! a sipp caller dials the service number and walks the IVR (RFC 4733 digits 1, 2) into the
//! `sales` queue; agent alice's phone is a sipp UAS registered to the switch with digest auth;
//! alice's desktop is a CTI client over the real WebSocket. The test checks that the desktop
//! receives the screen pop with the right customer record BEFORE the call is connected (the
//! phone is still ringing), that the call connects and ends, that alice wraps up with a
//! disposition over CTI, and that the call record and the outcome are in the database, joined
//! by call id.
//!
//! The whole switch runs in this process exactly as `hotline-switch run` wires it
//! (`app::start` with call control and the CTI server). No wall-clock assertions; timeouts only
//! guard against a hung test.

mod cti_util;
mod sip_util;

use std::time::Duration;

use cti_util::Desk;
use hotline_cti::{CallId, CallState, Command, Disposition, Event, Pii, Reply};
use hotline_switch::app::{StartOptions, start};
use sip_util::{Sipp, finished, free_port};

#[test]
fn sipp_caller_pops_on_alice_desktop_before_answer_and_the_outcome_joins_the_call_record() {
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

async fn scenario() {
    let (_dir, cfg, db_url) = sip_util::service_config("");
    let sw = start(cfg, StartOptions::default())
        .await
        .expect("switch starts");
    let sip = sw.sip.expect("call control runs");

    // Alice's desktop: log in over the WebSocket and go ready.
    let mut desk = Desk::connect(&format!("ws://{}/cti", sw.http)).await;
    desk.hello().await;
    desk.login("alice", "alice-demo")
        .await
        .expect("alice logs in");
    assert_eq!(desk.request(Command::Ready).await, Ok(Reply::Done));

    // Alice's phone: a sipp UAS, registered as extension 1001 with digest auth.
    let phone = sip_util::registered_phone(sip, "1001", "alice-phone", "uas.xml", &[]).await;

    // The caller: Ada Lovelace (+1 212 555 0100, a VIP in the demo data), pressing 1 then 2.
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

    // The desktop's view of the call, in the order the events arrive.
    let mut order: Vec<&'static str> = Vec::new();
    let mut pop = None;
    let mut call_id = None;
    let watch = async {
        loop {
            let ev = desk.event().await;
            match ev.event {
                Event::CallOffered(p) => {
                    order.push("pop");
                    call_id = Some(p.call.clone());
                    pop = Some(p);
                }
                Event::CallChanged(info) if Some(&info.call) == call_id.as_ref() => {
                    match info.state {
                        CallState::Connected => order.push("connected"),
                        CallState::Ended => {
                            order.push("ended");
                            break;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), watch)
        .await
        .expect("the call reached alice's desktop and ended");

    let pop = pop.expect("screen pop");
    assert_eq!(
        order,
        ["pop", "connected", "ended"],
        "the pop arrives while the phone rings"
    );
    let customer = pop
        .customer
        .as_ref()
        .expect("known caller: the customer record is in the pop");
    assert_eq!(customer.name.expose(), "Ada Lovelace");
    assert_eq!(customer.tier, "vip");
    assert!(
        !customer.open_tickets.is_empty(),
        "her open ticket is shown"
    );
    assert_eq!(pop.queue.as_str(), "sales");
    assert_eq!(pop.ani.expose(), "+12125550100");

    assert!(
        finished(caller).await,
        "the caller's sipp scenario succeeded"
    );
    assert!(finished(phone).await, "alice's phone (sipp) succeeded");

    // Wrap up from the desktop with a disposition and notes.
    let call = pop.call.clone();
    let reply = desk
        .request(Command::WrapUp {
            call: CallId::new(call.as_str()),
            disposition: Disposition::new("sale"),
            notes: Pii::new("booked FRA-JFK".into()),
            ticket: None,
        })
        .await;
    assert_eq!(reply, Ok(Reply::Done));

    // Stop the switch (call records drained), then read the database: call and outcome, joined.
    sw.shutdown().await.expect("clean stop");
    let store = hotline_store::Store::open(&db_url, Default::default())
        .await
        .expect("reopen");
    let rec = store
        .call(call.as_str())
        .await
        .expect("read")
        .expect("call record");
    assert_eq!(rec.agent_id.as_deref(), Some("alice"));
    assert_eq!(rec.queue_id.as_deref(), Some("sales"));
    assert!(
        rec.answered_at.is_some() && rec.ended_at.is_some(),
        "{rec:?}"
    );
    let outcomes = store.outcomes_for_call(call.as_str()).await.expect("read");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        (
            outcomes[0].agent_id.as_str(),
            outcomes[0].disposition.as_str()
        ),
        ("alice", "sale")
    );
    let view = store
        .customer_view(&hotline_store::Identity::phone("+12125550100").expect("phone"))
        .await
        .expect("view")
        .expect("Ada");
    let contact = view
        .recent_contacts
        .iter()
        .find(|c| c.call_id == call.as_str())
        .expect("the call is among her contacts");
    assert_eq!(
        contact.disposition.as_deref(),
        Some("sale"),
        "outcome joined to the call by id"
    );
    store.close().await;
}
