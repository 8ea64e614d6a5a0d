//! Answering through the phone: a queue call to an agent whose extension has
//! `auto_answer = true` carries `Call-Info: ...;answer-after=0` and
//! `Alert-Info: ...;info=alert-autoanswer`, so the desk phone or softphone answers by itself;
//! an extension without it rings normally (no such headers). The sipp phones' scenarios fail
//! if the headers are missing (`uas_autoanswer.xml`) or present (`uas_no_autoanswer.xml`).
//!
//! Answering from the desktop (issue 13): a phone that advertises the `talk` event in its
//! ringing response (`uas_talk.xml`) is told to pick up with `NOTIFY` `Event: talk` when the
//! agent answers on the desktop, and the ringing notice says the desktop's Answer works for it;
//! a phone that does not advertise it gets no NOTIFY and the desktop's Answer is refused with
//! the reason.

mod sip_util;

use std::time::Duration;

use hotline_switch::bus::{CallAction, CallNotice};
use sip_util::{InProcess, Sipp, finished, free_port};

const SETUP: &str = r#"
[[dialplan.routes]]
number = "+18005550177"
public = true
queue = "sales"

[[extensions]]
number = "1003"
password = "carol-phone"
auto_answer = true
"#;

fn runtime() -> tokio::runtime::Runtime {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One queue call to `agent` (the only ready agent) whose phone runs `scenario`; returns
/// whether the phone's and the caller's scenarios succeeded and the call connected.
async fn one_call(agent: &str, ext: &str, password: &str, scenario: &str) -> (bool, bool, bool) {
    let mut sw = InProcess::start(SETUP).await;
    let mut notices = sw.bus.notices.subscribe();
    let phone = sw.phone(ext, password, scenario, &[]).await;
    sw.ready(agent).await;
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
            "+18005550177",
            "-d",
            "8000",
        ],
    );
    let agent_name = agent.to_string();
    let connected = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match notices.recv().await {
                Ok(CallNotice::Connected { agent, .. }) if agent == agent_name => return true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    let caller_ok = finished(caller).await;
    let phone_ok = finished(phone).await;
    sw.stop().await;
    (connected, caller_ok, phone_ok)
}

#[test]
fn auto_answer_extension_is_asked_to_answer_by_itself() {
    runtime().block_on(async {
        let (connected, caller_ok, phone_ok) =
            one_call("carol", "1003", "carol-phone", "uas_autoanswer.xml").await;
        assert!(connected, "carol was connected");
        assert!(caller_ok, "the caller's scenario succeeded");
        assert!(
            phone_ok,
            "carol's phone saw Call-Info answer-after=0 and Alert-Info auto-answer"
        );
    });
}

#[test]
fn other_extensions_ring_normally() {
    runtime().block_on(async {
        let (connected, caller_ok, phone_ok) =
            one_call("alice", "1001", "alice-phone", "uas_no_autoanswer.xml").await;
        assert!(connected, "alice was connected");
        assert!(caller_ok, "the caller's scenario succeeded");
        assert!(phone_ok, "alice's phone got no auto-answer request");
    });
}

/// One queue call to `agent` whose phone runs `scenario`; when the ringing notice comes, the
/// agent presses Answer on the desktop. Returns (what the ringing notice said about remote
/// answer, the Answer command's result, connected, caller ok, phone ok).
async fn desktop_answer(
    agent: &str,
    ext: &str,
    password: &str,
    scenario: &str,
) -> (bool, Result<(), String>, bool, bool, bool) {
    let mut sw = InProcess::start(SETUP).await;
    let mut notices = sw.bus.notices.subscribe();
    let phone = sw.phone(ext, password, scenario, &[]).await;
    sw.ready(agent).await;
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
            "+18005550177",
            "-d",
            "8000",
        ],
    );
    let name = agent.to_string();
    let ringing = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match notices.recv().await {
                Ok(CallNotice::Ringing {
                    call,
                    agent,
                    remote_answer,
                }) if agent == name => return Some((call, remote_answer)),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let Some((call, remote_answer)) = ringing else {
        panic!("{agent}'s phone never rang");
    };
    let answered = sw.command(agent, CallAction::Answer { call }).await;
    let connected = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match notices.recv().await {
                Ok(CallNotice::Connected { agent, .. }) if agent == name => return true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    let caller_ok = finished(caller).await;
    let phone_ok = finished(phone).await;
    sw.stop().await;
    (remote_answer, answered, connected, caller_ok, phone_ok)
}

#[test]
fn answer_from_the_desktop_tells_a_talk_phone_to_pick_up() {
    runtime().block_on(async {
        let (remote_answer, answered, connected, caller_ok, phone_ok) =
            desktop_answer("alice", "1001", "alice-phone", "uas_talk.xml").await;
        assert!(
            remote_answer,
            "the ringing notice offers the desktop's Answer"
        );
        assert_eq!(answered, Ok(()), "the switch took the Answer");
        assert!(connected, "alice was connected");
        assert!(caller_ok, "the caller's scenario succeeded");
        assert!(
            phone_ok,
            "alice's phone got NOTIFY Event: talk and answered only then"
        );
    });
}

#[test]
fn answer_from_the_desktop_is_refused_for_a_phone_without_talk() {
    runtime().block_on(async {
        // The phone answers by itself 200 ms after ringing; whether the desktop's Answer
        // arrives before or after that, it is refused and sends nothing to the phone.
        let (remote_answer, answered, connected, caller_ok, phone_ok) =
            desktop_answer("alice", "1001", "alice-phone", "uas_no_autoanswer.xml").await;
        assert!(
            !remote_answer,
            "the ringing notice says Answer does not work here"
        );
        assert!(answered.is_err(), "refused: {answered:?}");
        assert!(connected, "alice answered on the phone");
        assert!(caller_ok, "the caller's scenario succeeded");
        assert!(phone_ok, "alice's phone saw no NOTIFY and no auto-answer");
    });
}
