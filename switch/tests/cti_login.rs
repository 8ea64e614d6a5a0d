//! CTI login over a real WebSocket on 127.0.0.1: a correct password opens a session with the
//! stored role and a snapshot as event 1, and logs the agent into routing (not ready, "login");
//! a wrong password is refused; repeated failures lock the agent id out even for the right
//! password, while other agents still log in; commands before hello or login are refused.

mod cti_util;

use cti_util::{Desk, TestSwitch};
use hotline_cti::{AgentState, Command, ErrorCode, Event, Reply, Role, Seq};
use hotline_switch::routing::AgentState as RoutingState;

#[tokio::test]
async fn login_ok_gives_role_snapshot_and_routing_login() {
    let t = TestSwitch::start("").await;
    let mut d = Desk::connect(&t.url()).await;
    // Before hello: refused.
    let r = d.request(Command::Ready).await.unwrap_err();
    assert_eq!(r.code, ErrorCode::HelloRequired);
    d.hello().await;
    // Before login: refused.
    let r = d.request(Command::Ready).await.unwrap_err();
    assert_eq!(r.code, ErrorCode::NotLoggedIn);
    match d.login("alice", "alice-demo").await {
        Ok(Reply::LoggedIn {
            role,
            profile,
            not_ready_reasons,
            dispositions,
            ..
        }) => {
            assert_eq!(role, Role::Agent);
            assert_eq!(profile.name, "Alice Agent");
            assert_eq!(profile.extension.as_str(), "1001");
            assert!(profile.skills.iter().any(|s| s.skill.as_str() == "booking"));
            assert!(not_ready_reasons.iter().any(|r| r.as_str() == "break"));
            assert!(dispositions.iter().any(|d| d.as_str() == "resolved"));
        }
        other => panic!("{other:?}"),
    }
    let first = d.event().await;
    assert_eq!(first.seq, Seq(1));
    assert!(matches!(first.event, Event::Snapshot(_)), "{first:?}");
    let state = t
        .wait_agent_state("alice", |s| !matches!(s, RoutingState::LoggedOut))
        .await;
    assert_eq!(
        state,
        RoutingState::NotReady {
            reason: "login".into()
        }
    );
    // The routing login reaches the desktop as a state event (unless the snapshot had it).
    if let Event::Snapshot(s) = &first.event
        && s.agent.state != AgentState::NotReady
    {
        let e = d
            .event_where(|e| matches!(e, Event::AgentStateChanged(_)))
            .await;
        assert_eq!(e.seq, Seq(2));
    }
    // A supervisor gets its role.
    let mut sue = Desk::connect(&t.url()).await;
    sue.hello().await;
    assert!(matches!(
        sue.login("sue", "sue-demo").await,
        Ok(Reply::LoggedIn {
            role: Role::Supervisor,
            ..
        })
    ));
    t.sw.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn wrong_password_is_refused_and_unknown_agents_look_the_same() {
    let t = TestSwitch::start("").await;
    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    let e = d.login("alice", "not-her-password").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::AuthFailed);
    let e2 = d.login("nobody", "x").await.unwrap_err();
    assert_eq!(e2, e, "same answer for an unknown id");
    // Nothing was logged into routing.
    let state =
        t.sw.routing
            .agent_state(&hotline_switch::routing::AgentId::new("alice"))
            .await
            .expect("routing runs");
    assert_eq!(state, None);
    // The same connection can still log in properly.
    assert!(d.login("alice", "alice-demo").await.is_ok());
}

#[tokio::test]
async fn repeated_failures_lock_the_agent_out() {
    let t = TestSwitch::start("lockout_failures = 3\nlockout_failures_per_address = 50\n").await;
    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    for _ in 0..3 {
        assert_eq!(
            d.login("bob", "guess").await.unwrap_err().code,
            ErrorCode::AuthFailed
        );
    }
    // Locked: even the right password is refused, on a new connection too.
    let e = d.login("bob", "bob-demo").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::LockedOut);
    let mut d2 = Desk::connect(&t.url()).await;
    d2.hello().await;
    assert_eq!(
        d2.login("bob", "bob-demo").await.unwrap_err().code,
        ErrorCode::LockedOut
    );
    // Another agent from the same address is not affected.
    assert!(d2.login("carol", "carol-demo").await.is_ok());
}

#[tokio::test]
async fn an_address_trying_many_ids_is_locked_out() {
    let t = TestSwitch::start("lockout_failures = 10\nlockout_failures_per_address = 4\n").await;
    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    for id in ["a1", "a2", "a3", "a4"] {
        assert_eq!(
            d.login(id, "x").await.unwrap_err().code,
            ErrorCode::AuthFailed
        );
    }
    assert_eq!(
        d.login("alice", "alice-demo").await.unwrap_err().code,
        ErrorCode::LockedOut
    );
}
