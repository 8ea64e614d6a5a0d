//! Call control driven from the bus and routing, over real SIP (sipp phones), with the switch
//! in this process:
//!
//! - an agent's `Hold` sends a re-INVITE with `a=sendonly` to their phone, `Resume` one with
//!   `a=sendrecv` (the phone's scenario checks both), `BlindTransfer` to an extension releases
//!   the agent's phone with BYE and rings the target, which then talks to the caller; the call
//!   record counts the hold and the transfer;
//! - an agent whose phone is busy does not get the call: routing hears "no answer", the call
//!   goes back to the queue and is offered to the next agent, who answers.

mod sip_util;

use std::time::Duration;

use hotline_switch::bus::{CallAction, CallNotice};
use sip_util::{InProcess, Sipp, finished, free_port};
use tokio::sync::broadcast::Receiver;

const QUEUE_ROUTE: &str = r#"
[[dialplan.routes]]
number = "+18005550111"
public = true
queue = "sales"
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The next notice matching `f`, within a generous time.
async fn wait_for<T>(
    rx: &mut Receiver<CallNotice>,
    mut f: impl FnMut(&CallNotice) -> Option<T>,
) -> T {
    let fut = async {
        loop {
            match rx.recv().await {
                Ok(n) => {
                    if let Some(t) = f(&n) {
                        return t;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("bus closed: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("notice in time")
}

#[test]
fn hold_resume_and_blind_transfer_from_the_bus() {
    runtime().block_on(async {
        let mut sw = InProcess::start(QUEUE_ROUTE).await;
        let mut notices = sw.bus.notices.subscribe();
        let alice_phone = sw.phone("1001", "alice-phone", "uas_hold.xml", &[]).await;
        let bob_phone = sw.phone("1002", "bob-phone", "uas.xml", &[]).await;
        sw.ready("alice").await;
        let caller = Sipp::spawn(
            sw.sip,
            "uac_wait.xml",
            free_port(),
            &[
                "-key",
                "caller",
                "+15550001234",
                "-key",
                "dial",
                "+18005550111",
                "-d",
                "12000",
            ],
        );
        let call = wait_for(&mut notices, |n| match n {
            CallNotice::Connected { call, agent } if agent == "alice" => Some(call.clone()),
            _ => None,
        })
        .await;

        // Someone else's command is refused.
        let r = sw
            .command("bob", CallAction::Hold { call: call.clone() })
            .await;
        assert!(r.is_err(), "{r:?}");

        sw.command("alice", CallAction::Hold { call: call.clone() })
            .await
            .expect("hold");
        wait_for(&mut notices, |n| {
            matches!(n, CallNotice::Held { .. }).then_some(())
        })
        .await;
        assert!(
            sw.command("alice", CallAction::Hold { call: call.clone() })
                .await
                .is_err(),
            "already on hold"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        sw.command("alice", CallAction::Resume { call: call.clone() })
            .await
            .expect("resume");
        wait_for(&mut notices, |n| {
            matches!(n, CallNotice::Resumed { .. }).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        sw.command(
            "alice",
            CallAction::BlindTransfer {
                call: call.clone(),
                target: "1002".into(),
            },
        )
        .await
        .expect("transfer");
        wait_for(&mut notices, |n| match n {
            CallNotice::Ended { agent, reason, .. }
                if agent.as_deref() == Some("alice") && reason == "transferred" =>
            {
                Some(())
            }
            _ => None,
        })
        .await;

        assert!(
            finished(alice_phone).await,
            "alice's phone: answer, hold, resume, BYE"
        );
        assert!(finished(caller).await, "caller");
        assert!(
            finished(bob_phone).await,
            "bob's phone answered the transfer"
        );

        sw.stop().await;
        let rec = sw.store.call(&call).await.expect("read").expect("record");
        assert_eq!(rec.transfers, 1, "{rec:?}");
        assert!(rec.hold_ms > 0, "{rec:?}");
        assert_eq!(rec.end_reason.as_deref(), Some("caller hung up"));
        let kinds = sw.store.call_event_kinds(&call).await.expect("kinds");
        for k in ["held", "resumed", "transferred"] {
            assert!(kinds.iter().any(|x| x == k), "{k} missing: {kinds:?}");
        }
    });
}

#[test]
fn busy_agent_phone_sends_the_call_back_to_the_queue_for_the_next_agent() {
    runtime().block_on(async {
        let mut sw = InProcess::start(QUEUE_ROUTE).await;
        let mut notices = sw.bus.notices.subscribe();
        let alice_phone = sw.phone("1001", "alice-phone", "uas_busy.xml", &[]).await;
        let sue_phone = sw.phone("1901", "sue-phone", "uas.xml", &[]).await;
        sw.ready("alice").await;
        let caller = Sipp::spawn(
            sw.sip,
            "uac_wait.xml",
            free_port(),
            &[
                "-key",
                "caller",
                "+15550001234",
                "-key",
                "dial",
                "+18005550111",
                "-d",
                "6000",
            ],
        );
        let first = wait_for(&mut notices, |n| match n {
            CallNotice::Offered { agent, pop } => {
                Some((agent.clone(), pop.call.as_str().to_string()))
            }
            _ => None,
        })
        .await;
        assert_eq!(first.0, "alice");
        let reason = wait_for(&mut notices, |n| match n {
            CallNotice::Ended { agent, reason, .. } if agent.as_deref() == Some("alice") => {
                Some(reason.clone())
            }
            _ => None,
        })
        .await;
        assert_eq!(reason, "busy");
        // The call is back in the queue; the next agent becomes ready and gets it.
        sw.ready("sue").await;
        let (agent, call) = wait_for(&mut notices, |n| match n {
            CallNotice::Connected { agent, call } => Some((agent.clone(), call.clone())),
            _ => None,
        })
        .await;
        assert_eq!(agent, "sue");
        assert_eq!(call, first.1, "the same call");
        assert!(finished(alice_phone).await);
        assert!(finished(caller).await);
        assert!(finished(sue_phone).await);
        sw.stop().await;
        let rec = sw.store.call(&call).await.expect("read").expect("record");
        assert_eq!(rec.agent_id.as_deref(), Some("sue"));
        assert!(rec.answered_at.is_some());
    });
}
