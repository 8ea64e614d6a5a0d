//! Supervisor commands over CTI: an agent is refused a supervisor command and the refusal is in
//! the audit log; a supervisor forces an agent not ready and out (the agent's desktop is told,
//! both actions audited); skills set live are used by routing at once; the wallboard is pushed
//! (full on subscribe, then deltas) without polling; help requests reach supervisors; monitor is
//! refused as not built yet.

mod cti_util;

use cti_util::{Desk, TestSwitch};
use hotline_cti::{
    AgentId, AgentState, CallId, Command, ErrorCode, Event, LogoutReason, MonitorMode, QueueId,
    ReasonCode, Reply, Skill, SkillLevel,
};
use hotline_switch::routing::{
    AgentId as RAgent, AgentState as RState, CallId as RCall, Decision, Priority, QueueId as RQueue,
};

async fn settled(t: &TestSwitch, agent: &str, pw: &str) -> Desk {
    let d = t.desk(agent, pw).await;
    t.wait_agent_state(agent, |s| !matches!(s, RState::LoggedOut))
        .await;
    d
}

#[tokio::test]
async fn agent_refused_a_supervisor_command_and_the_refusal_is_audited() {
    let t = TestSwitch::start("").await;
    let mut alice = settled(&t, "alice", "alice-demo").await;
    let e = alice
        .request(Command::ForceLogout {
            agent: AgentId::new("bob"),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    let e = alice
        .request(Command::SubscribeWallboard { queues: vec![] })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    // An agent command is not audited, supervisor ones are (the refusal is written before the
    // response is sent).
    let audit = t.sw.store.audit_entries(0, 100).await.expect("audit");
    let actions: Vec<(&str, &str, bool)> = audit
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str(), a.allowed))
        .collect();
    assert_eq!(
        actions,
        [
            ("alice", "force_logout", false),
            ("alice", "subscribe_wallboard", false)
        ]
    );
    assert_eq!(audit[0].target.as_deref(), Some("bob"));
}

#[tokio::test]
async fn supervisor_forces_not_ready_and_logout_and_both_are_audited() {
    let t = TestSwitch::start("").await;
    let mut alice = settled(&t, "alice", "alice-demo").await;
    let mut sue = settled(&t, "sue", "sue-demo").await;
    assert_eq!(alice.request(Command::Ready).await, Ok(Reply::Done));
    t.wait_agent_state("alice", |s| *s == RState::Ready).await;
    let r = sue
        .request(Command::ForceNotReady {
            agent: AgentId::new("alice"),
            reason: ReasonCode::new("meeting"),
        })
        .await;
    assert_eq!(r, Ok(Reply::Done));
    let e = alice
        .event_where(|e| {
            matches!(e, Event::AgentStateChanged(s)
                if s.state == AgentState::NotReady
                    && s.reason.as_ref().is_some_and(|r| r.as_str() == "meeting"))
        })
        .await;
    assert!(e.seq.0 > 1);
    let r = sue
        .request(Command::ForceLogout {
            agent: AgentId::new("alice"),
        })
        .await;
    assert_eq!(r, Ok(Reply::Done));
    let out = alice
        .event_where(|e| matches!(e, Event::LoggedOut { .. }))
        .await;
    assert!(matches!(
        out.event,
        Event::LoggedOut { reason: LogoutReason::Forced { by } } if by.as_str() == "sue"
    ));
    alice.closed().await;
    assert_eq!(
        t.sw.routing
            .agent_state(&RAgent::new("alice"))
            .await
            .unwrap(),
        Some(RState::LoggedOut)
    );
    let audit = t.sw.store.audit_entries(0, 100).await.expect("audit");
    let actions: Vec<(&str, &str, Option<&str>, bool)> = audit
        .iter()
        .map(|a| {
            (
                a.actor.as_str(),
                a.action.as_str(),
                a.target.as_deref(),
                a.allowed,
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("sue", "force_not_ready", Some("alice"), true),
            ("sue", "force_logout", Some("alice"), true)
        ]
    );
}

#[tokio::test]
async fn skills_set_live_are_used_by_routing_at_once() {
    let t = TestSwitch::start("").await;
    let mut decisions =
        t.sw.routing
            .take_decisions()
            .expect("the test plays call control");
    // Bob has no billing skill: a billing call waits.
    let mut bob = settled(&t, "bob", "bob-demo").await;
    assert_eq!(bob.request(Command::Ready).await, Ok(Reply::Done));
    t.wait_agent_state("bob", |s| *s == RState::Ready).await;
    let call = RCall::new("bill-1");
    t.sw.routing
        .enqueue(&call, &RQueue::new("billing"), Priority::NORMAL)
        .await
        .expect("enqueue");
    assert_eq!(
        t.sw.routing.position(&call).await.unwrap(),
        Some(1),
        "waiting, nobody qualifies"
    );
    let mut sue = settled(&t, "sue", "sue-demo").await;
    // Out of range for this switch (1..=5): refused, nothing changes.
    let bad = sue
        .request(Command::SetSkills {
            agent: AgentId::new("bob"),
            skills: vec![SkillLevel {
                skill: Skill::new("billing"),
                level: 9,
            }],
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::BadRequest);
    let r = sue
        .request(Command::SetSkills {
            agent: AgentId::new("bob"),
            skills: vec![
                SkillLevel {
                    skill: Skill::new("english"),
                    level: 4,
                },
                SkillLevel {
                    skill: Skill::new("billing"),
                    level: 4,
                },
            ],
        })
        .await;
    assert_eq!(r, Ok(Reply::Done));
    // Routing offers the waiting billing call to bob at once.
    match decisions.recv().await {
        Some(Decision::Offer { call: c, agent, .. }) => {
            assert_eq!((c.as_str(), agent.as_str()), ("bill-1", "bob"));
        }
        other => panic!("{other:?}"),
    }
    // Bob's desktop is told; the store keeps the skills for his next login.
    bob.event_where(|e| matches!(e, Event::SkillsChanged { .. }))
        .await;
    let stored = t.sw.store.agent_skills("bob").await.expect("skills");
    assert!(
        stored
            .iter()
            .any(|s| s.skill == "billing" && s.proficiency == 4)
    );
    let audit = t.sw.store.audit_entries(0, 100).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "set_skills" && a.actor == "sue" && a.allowed)
    );
}

#[tokio::test]
async fn wallboard_is_pushed_to_subscribers() {
    let t = TestSwitch::start("wallboard_interval_ms = 100\n").await;
    let mut sue = settled(&t, "sue", "sue-demo").await;
    let mut alice = settled(&t, "alice", "alice-demo").await;
    let r = sue
        .request(Command::SubscribeWallboard {
            queues: vec![QueueId::new("sales"), QueueId::new("support")],
        })
        .await;
    assert_eq!(r, Ok(Reply::Done));
    let full = sue.event_where(|e| matches!(e, Event::Wallboard(_))).await;
    let Event::Wallboard(wb) = full.event else {
        unreachable!()
    };
    let ids: Vec<&str> = wb.queues.iter().map(|q| q.queue.as_str()).collect();
    assert_eq!(ids, ["sales", "support"], "only the queues asked for");
    assert_eq!(wb.queues[0].service_level_secs, 20);
    assert!(wb.agents.iter().any(|a| a.status.agent.as_str() == "alice"));
    // A waiting call (support: alice does not qualify) and an agent going ready show up in pushed deltas, without asking.
    t.sw.routing
        .enqueue(
            &RCall::new("w-1"),
            &RQueue::new("support"),
            Priority::NORMAL,
        )
        .await
        .expect("enqueue");
    assert_eq!(alice.request(Command::Ready).await, Ok(Reply::Done));
    let mut saw_ready = false;
    let mut saw_waiting = false;
    while !(saw_ready && saw_waiting) {
        let e = sue.event().await;
        if let Event::WallboardDelta(d) = e.event {
            saw_ready |= d
                .agents
                .iter()
                .any(|a| a.status.agent.as_str() == "alice" && a.status.state == AgentState::Ready);
            saw_waiting |= d
                .queues
                .iter()
                .any(|q| q.queue.as_str() == "support" && q.waiting == 1 && q.offered == 1);
            assert!(
                d.queues
                    .iter()
                    .all(|q| ["sales", "support"].contains(&q.queue.as_str()))
            );
        }
    }
    assert_eq!(
        sue.request(Command::UnsubscribeWallboard).await,
        Ok(Reply::Done)
    );
}

#[tokio::test]
async fn help_requests_reach_supervisors_and_monitor_goes_to_call_control() {
    let mut t = TestSwitch::start("").await;
    let mut sue = settled(&t, "sue", "sue-demo").await;
    let mut alice = settled(&t, "alice", "alice-demo").await;
    assert_eq!(
        alice
            .request(Command::RequestHelp {
                call: None,
                message: "angry caller".into()
            })
            .await,
        Ok(Reply::Done)
    );
    let h = sue
        .event_where(|e| matches!(e, Event::HelpRequested { .. }))
        .await;
    assert!(matches!(h.event, Event::HelpRequested { agent, .. } if agent.as_str() == "alice"));
    // This test plays call control: the monitor request arrives as a bus command from sue,
    // and call control's refusal reaches sue and the audit log.
    let mut commands = t.sw.call_commands.take().expect("call control left out");
    let play = tokio::spawn(async move {
        let cmd = commands.recv().await.expect("a command");
        let seen = (cmd.agent.clone(), cmd.action.clone());
        let _ = cmd.reply.send(Err("no call c-1".into()));
        seen
    });
    let e = sue
        .request(Command::Monitor {
            call: CallId::new("c-1"),
            mode: MonitorMode::Whisper,
        })
        .await
        .unwrap_err();
    let (who, action) = play.await.expect("call control played");
    assert_eq!(who, "sue");
    assert_eq!(
        action,
        hotline_switch::bus::CallAction::Monitor {
            call: "c-1".into(),
            mode: MonitorMode::Whisper
        }
    );
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert!(e.message.contains("no call"), "{}", e.message);
    let audit = t.sw.store.audit_entries(0, 100).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "monitor"
            && a.call_id.as_deref() == Some("c-1")
            && a.detail.get("mode").and_then(|m| m.as_str()) == Some("whisper")
            && a.detail.get("result").and_then(|m| m.as_str()) == Some("refused")),
        "{audit:?}"
    );
}
