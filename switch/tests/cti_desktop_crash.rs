//! The agent's desktop dies in the middle of a call (the WebSocket drops without a word): the
//! call goes on (SIP and media do not depend on the desktop), routing keeps the agent on the
//! call, and the desktop gets it back both ways it can: resuming its session with the last
//! seq it processed (the missed events are replayed, then the call's end arrives), and, after a
//! second crash, a fresh login (the snapshot lists the live call).
//!
//! Real peers: a sipp caller dialing a number routed to the `sales` queue, alice's phone a sipp
//! UAS registered with digest auth, alice's desktop a CTI client over the real WebSocket, the
//! switch wired as `hotline-switch run` does. Timeouts only guard against a hung test.

mod cti_util;
mod sip_util;

use std::time::Duration;

use cti_util::Desk;
use hotline_cti::{CallState, Command, Event, Reply, Resync, Secret};
use hotline_switch::app::{StartOptions, start};
use hotline_switch::routing::{AgentId, AgentState};
use sip_util::{Sipp, finished, free_port};

const QUEUE_ROUTE: &str = r#"
[[dialplan.routes]]
number = "+18005550111"
public = true
queue = "sales"
"#;

const GUARD: Duration = Duration::from_secs(60);

#[test]
fn a_call_goes_on_when_the_desktop_dies_and_the_desktop_gets_it_back() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(scenario());
}

async fn scenario() {
    let (_dir, cfg, _db) = sip_util::service_config(QUEUE_ROUTE);
    let sw = start(cfg, StartOptions::default())
        .await
        .expect("switch starts");
    let sip = sw.sip.expect("call control runs");
    let url = format!("ws://{}/cti", sw.http);

    let mut desk = Desk::connect(&url).await;
    desk.hello().await;
    desk.login("alice", "alice-demo").await.expect("login");
    let token = desk.session.clone().expect("session token");
    assert_eq!(desk.request(Command::Ready).await, Ok(Reply::Done));
    let phone = sip_util::registered_phone(sip, "1001", "alice-phone", "uas.xml", &[]).await;
    // The caller stays 25 s, then hangs up: long enough for two desktop crashes.
    let caller = Sipp::spawn(
        sip,
        "uac_wait.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+12125550100",
            "-key",
            "dial",
            "+18005550111",
            "-d",
            "25000",
        ],
    );
    let connected = tokio::time::timeout(
        GUARD,
        desk.event_where(|e| matches!(e, Event::CallChanged(i) if i.state == CallState::Connected)),
    )
    .await
    .expect("alice's call connects");
    let Event::CallChanged(info) = &connected.event else {
        unreachable!()
    };
    let call = info.call.clone();
    let seen = desk.last_seq;

    // Crash 1: the desktop vanishes.
    drop(desk);
    let cti = sw.cti.clone().expect("cti runs");
    tokio::time::timeout(GUARD, async {
        while cti.connected_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server sees the connection gone");
    // The call goes on: routing still has alice on it.
    let alice = AgentId::new("alice");
    match sw.routing.agent_state(&alice).await.expect("state") {
        Some(AgentState::OnCall { call: c, .. }) => assert_eq!(c.as_str(), call.as_str()),
        other => panic!("the call must go on without the desktop: {other:?}"),
    }

    // Resume with the token and the last seq processed.
    let mut desk = Desk::connect(&url).await;
    desk.hello().await;
    let r = desk
        .request(Command::ResumeSession {
            session: Secret::new(token),
            last_seq: seen,
        })
        .await;
    assert!(
        matches!(
            r,
            Ok(Reply::Resumed {
                resync: Resync::Replay { .. } | Resync::Snapshot
            })
        ),
        "{r:?}"
    );

    // Crash 2, then a fresh login: the snapshot lists the live call, connected.
    drop(desk);
    tokio::time::timeout(GUARD, async {
        while cti.connected_count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server sees the connection gone");
    let mut desk = Desk::connect(&url).await;
    desk.hello().await;
    desk.login("alice", "alice-demo")
        .await
        .expect("login again");
    let snap = tokio::time::timeout(GUARD, desk.event_where(|e| matches!(e, Event::Snapshot(_))))
        .await
        .expect("a snapshot after login");
    let Event::Snapshot(s) = &snap.event else {
        unreachable!()
    };
    assert!(
        s.calls
            .iter()
            .any(|c| c.call == call && c.state == CallState::Connected),
        "the snapshot shows the live call: {s:?}"
    );

    // The call goes on to its planned end (the caller hangs up), and the desktop hears it.
    assert!(
        finished(caller).await,
        "the caller's call went on to its end"
    );
    tokio::time::timeout(
        GUARD,
        desk.event_where(
            |e| matches!(e, Event::CallChanged(i) if i.call == call && i.state == CallState::Ended),
        ),
    )
    .await
    .expect("the call's end reaches the new desktop");
    assert!(
        finished(phone).await,
        "alice's phone call went on to its end"
    );
    sw.shutdown().await.expect("clean stop");
}
