//! CTI events over a real WebSocket: ready / not ready produce `agent_state_changed` events with
//! increasing seqs; a `CallNotice::Offered` on the bus reaches exactly the agent it names as a
//! screen pop with the customer; a desktop that reconnects with its last seq gets exactly the
//! events it missed (or a snapshot when they are no longer remembered); a silent connection is
//! closed by the heartbeat timeout while routing keeps the agent's call; wrap-up writes the
//! outcome once (idempotent) and ends wrap-up in routing; a desktop that does not come back is
//! logged out after the linger time; payment progress and the shutdown notice reach the desktop;
//! an internal call names the colleague on both desks.

mod cti_util;

use cti_util::{Desk, TestSwitch};
use hotline_cti::{
    AfterWrapUp, AgentState, CallId, CallState, Command, CustomerId, CustomerView, Disposition,
    ErrorCode, Event, Pii, QueueId, ReasonCode, Reply, Resync, ScreenPop, Secret, Seq,
    TicketPriority, TicketStatus, UnixMillis,
};
use hotline_switch::bus::CallNotice;
use hotline_switch::routing::{
    AgentId as RAgent, AgentState as RState, CallId as RCall, Decision, Priority, QueueId as RQueue,
};

fn pop(call: &str, customer: Option<&str>) -> ScreenPop {
    ScreenPop {
        call: CallId::new(call),
        ani: Pii::new("+15550100".into()),
        dnis: "800".into(),
        queue: QueueId::new("sales"),
        queue_name: "Sales and bookings".into(),
        waited_secs: 12,
        offered_at: UnixMillis(1),
        ring_timeout_secs: 20,
        ivr_path: vec!["welcome".into(), "sales_queue".into()],
        ivr_inputs: vec![],
        customer: customer.map(|name| CustomerView {
            id: CustomerId::new("42"),
            name: Pii::new(name.into()),
            tier: "gold".into(),
            identities: vec![],
            last_contacts: vec![],
            open_tickets: vec![],
            bookings: vec![],
            balance_due: None,
            birthday: None,
        }),
        new_customer_form: customer.is_none(),
        caller_proof: hotline_cti::CallerProof::Claimed,
        context: None,
    }
}

/// Logs in and reads events until the agent is reported not ready after login.
async fn logged_in(t: &TestSwitch, agent: &str, pw: &str) -> Desk {
    let mut d = t.desk(agent, pw).await;
    let snap = d.event().await;
    let already =
        matches!(&snap.event, Event::Snapshot(s) if s.agent.state == AgentState::NotReady);
    if !already {
        d.event_where(
            |e| matches!(e, Event::AgentStateChanged(s) if s.state == AgentState::NotReady),
        )
        .await;
    }
    d
}

#[tokio::test]
async fn ready_and_not_ready_produce_state_events_with_increasing_seq() {
    let t = TestSwitch::start("").await;
    let mut d = logged_in(&t, "alice", "alice-demo").await;
    let before = d.last_seq;
    assert_eq!(d.request(Command::Ready).await, Ok(Reply::Done));
    let e1 = d
        .event_where(|e| matches!(e, Event::AgentStateChanged(_)))
        .await;
    assert!(matches!(&e1.event, Event::AgentStateChanged(s) if s.state == AgentState::Ready));
    assert_eq!(e1.seq, before.next());
    let r = d
        .request(Command::NotReady {
            reason: ReasonCode::new("lunch"),
        })
        .await;
    assert_eq!(r, Ok(Reply::Done));
    let e2 = d.event().await;
    match &e2.event {
        Event::AgentStateChanged(s) => {
            assert_eq!(s.state, AgentState::NotReady);
            assert_eq!(s.reason.as_ref().map(|r| r.as_str()), Some("lunch"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e2.seq, e1.seq.next());
    // An unknown reason is refused and changes nothing.
    let bad = d
        .request(Command::NotReady {
            reason: ReasonCode::new("nap"),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::BadRequest);
    // Heartbeat tells the last seq sent: nothing after e2.
    assert_eq!(
        d.request(Command::Heartbeat).await,
        Ok(Reply::Beat { last_seq: e2.seq })
    );
    // The routing state agrees.
    assert_eq!(
        t.sw.routing
            .agent_state(&RAgent::new("alice"))
            .await
            .unwrap(),
        Some(RState::NotReady {
            reason: "lunch".into()
        })
    );
}

#[tokio::test]
async fn an_offered_notice_pops_on_exactly_that_agents_desktop() {
    let t = TestSwitch::start("").await;
    let mut alice = logged_in(&t, "alice", "alice-demo").await;
    let mut bob = logged_in(&t, "bob", "bob-demo").await;
    let bob_seq = bob.last_seq;
    t.sw.bus.notify(CallNotice::Offered {
        agent: "alice".into(),
        pop: Box::new(pop("call-1", Some("Grace Gold"))),
    });
    let e = alice
        .event_where(|e| matches!(e, Event::CallOffered(_)))
        .await;
    match e.event {
        Event::CallOffered(p) => {
            assert_eq!(p.call.as_str(), "call-1");
            let c = p.customer.expect("customer in the pop");
            assert_eq!(c.name.expose(), "Grace Gold");
            assert_eq!(c.tier, "gold");
            assert!(!p.new_customer_form);
        }
        other => panic!("{other:?}"),
    }
    // Ringing then connected reach alice as call state changes.
    t.sw.bus.notify(CallNotice::Connected {
        call: "call-1".into(),
        agent: "alice".into(),
    });
    let c = alice
        .event_where(|e| matches!(e, Event::CallChanged(_)))
        .await;
    assert!(matches!(&c.event, Event::CallChanged(i) if i.state == CallState::Connected));
    // Bob received nothing: his last seq is unchanged (the server says so, and it answers
    // requests in order after events already queued).
    assert_eq!(
        bob.request(Command::Heartbeat).await,
        Ok(Reply::Beat { last_seq: bob_seq })
    );
    // Bob cannot act on alice's call.
    let e = bob
        .request(Command::Hold {
            call: CallId::new("call-1"),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownCall);
}

#[tokio::test]
async fn reconnect_with_last_seq_gets_the_missed_events() {
    let t = TestSwitch::start("").await;
    let mut d = logged_in(&t, "alice", "alice-demo").await;
    let token = d.session.clone().expect("token");
    t.sw.bus.notify(CallNotice::Offered {
        agent: "alice".into(),
        pop: Box::new(pop("call-7", None)),
    });
    let offered = d.event_where(|e| matches!(e, Event::CallOffered(_))).await;
    let seen = offered.seq;
    drop(d); // the desktop crashes
    // Routing hears the desktop is gone (as the ACD defines it: not ready, "disconnected").
    t.wait_agent_state(
        "alice",
        |s| matches!(s, RState::NotReady { reason } if reason == "disconnected"),
    )
    .await;
    // Meanwhile the call goes on.
    t.sw.bus.notify(CallNotice::Connected {
        call: "call-7".into(),
        agent: "alice".into(),
    });
    t.sw.bus.notify(CallNotice::Held {
        call: "call-7".into(),
        agent: "alice".into(),
    });
    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    let r = d
        .request(Command::ResumeSession {
            session: Secret::new(token.clone()),
            last_seq: seen,
        })
        .await;
    let Ok(Reply::Resumed {
        resync: Resync::Replay { from_seq, .. },
    }) = r
    else {
        panic!("{r:?}");
    };
    assert_eq!(from_seq, seen.next());
    // Every event after `seen`, in order, without gaps, ending with the hold.
    let mut expect = seen.next();
    loop {
        let e = d.event().await;
        assert_eq!(e.seq, expect, "no gap, no duplicate");
        expect = expect.next();
        if matches!(&e.event, Event::CallChanged(i) if i.state == CallState::Held) {
            break;
        }
    }
    // A bogus token is refused.
    let mut x = Desk::connect(&t.url()).await;
    x.hello().await;
    let e = x
        .request(Command::ResumeSession {
            session: Secret::new("0".repeat(32)),
            last_seq: Seq(0),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionUnknown);
}

#[tokio::test]
async fn a_gap_older_than_the_log_gets_a_snapshot_with_the_current_call() {
    let t = TestSwitch::start("event_log_capacity = 2\n").await;
    let d = logged_in(&t, "alice", "alice-demo").await;
    let token = d.session.clone().expect("token");
    drop(d);
    t.wait_agent_state(
        "alice",
        |s| matches!(s, RState::NotReady { reason } if reason == "disconnected"),
    )
    .await;
    t.sw.bus.notify(CallNotice::Offered {
        agent: "alice".into(),
        pop: Box::new(pop("call-9", Some("Ann"))),
    });
    for _ in 0..3 {
        t.sw.bus.notify(CallNotice::Ringing {
            call: "call-9".into(),
            agent: "alice".into(),
            remote_answer: false,
        });
        t.sw.bus.notify(CallNotice::Connected {
            call: "call-9".into(),
            agent: "alice".into(),
        });
    }
    // Let the dispatcher apply them (it is the only reader; a heartbeat on another session
    // is answered after them).
    let mut other = logged_in(&t, "bob", "bob-demo").await;
    let _ = other.request(Command::Heartbeat).await;
    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    let r = d
        .request(Command::ResumeSession {
            session: Secret::new(token),
            last_seq: Seq(1),
        })
        .await;
    assert!(
        matches!(
            r,
            Ok(Reply::Resumed {
                resync: Resync::Snapshot
            })
        ),
        "{r:?}"
    );
    let e = d.event().await;
    match e.event {
        Event::Snapshot(s) => {
            assert_eq!(s.calls.len(), 1);
            assert_eq!(s.calls[0].call.as_str(), "call-9");
            assert_eq!(s.calls[0].state, CallState::Connected);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_but_routing_keeps_the_call() {
    let t = TestSwitch::start("heartbeat_secs = 1\nmissed_heartbeats = 1\n").await;
    let mut decisions =
        t.sw.routing
            .take_decisions()
            .expect("the test plays call control");
    let mut d = logged_in(&t, "alice", "alice-demo").await;
    assert_eq!(d.request(Command::Ready).await, Ok(Reply::Done));
    let call = RCall::new("call-hb");
    let alice = RAgent::new("alice");
    t.sw.routing
        .enqueue(&call, &RQueue::new("sales"), Priority::NORMAL)
        .await
        .expect("enqueue");
    match decisions.recv().await {
        Some(Decision::Offer { agent, .. }) => assert_eq!(agent, alice),
        other => panic!("{other:?}"),
    }
    t.sw.routing.answer(&call, &alice).await.expect("answer");
    // The desktop says nothing more: the server closes the connection.
    d.closed().await;
    let cti = t.sw.cti.clone().expect("cti runs");
    tokio::time::timeout(cti_util::GUARD, async {
        while cti.connected_count() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("connection dropped");
    assert_eq!(cti.session_count(), 1, "the session waits for a resume");
    // The call is untouched: the agent is still on it.
    match t.sw.routing.agent_state(&alice).await.unwrap() {
        Some(RState::OnCall { call: c, .. }) => assert_eq!(c, call),
        other => panic!("{other:?}"),
    }
    // When the call and its wrap-up end, the lost desktop leaves the agent not ready.
    t.sw.routing.hangup(&call).await.expect("hangup");
    t.wait_agent_state("alice", |s| !matches!(s, RState::OnCall { .. }))
        .await;
    let _ = t.sw.routing.wrapup_done(&alice).await;
    t.wait_agent_state(
        "alice",
        |s| matches!(s, RState::NotReady { reason } if reason == "disconnected"),
    )
    .await;
}

#[tokio::test]
async fn wrap_up_writes_the_outcome_once_and_ends_wrap_up() {
    let t = TestSwitch::start("").await;
    let _decisions =
        t.sw.routing
            .take_decisions()
            .expect("the test plays call control");
    let mut d = logged_in(&t, "alice", "alice-demo").await;
    assert_eq!(d.request(Command::Ready).await, Ok(Reply::Done));
    let call = RCall::new("call-wu");
    let alice = RAgent::new("alice");
    t.sw.routing
        .enqueue(&call, &RQueue::new("sales"), Priority::NORMAL)
        .await
        .expect("enqueue");
    t.sw.bus.notify(CallNotice::Offered {
        agent: "alice".into(),
        pop: Box::new(pop("call-wu", Some("Wanda"))),
    });
    t.sw.routing.answer(&call, &alice).await.expect("answer");
    t.sw.bus.notify(CallNotice::Connected {
        call: "call-wu".into(),
        agent: "alice".into(),
    });
    t.sw.routing.hangup(&call).await.expect("hangup");
    t.sw.bus.notify(CallNotice::Ended {
        call: "call-wu".into(),
        agent: Some("alice".into()),
        reason: "remote_hangup".into(),
    });
    let w = d
        .event_where(|e| matches!(e, Event::WrapUpStarted { .. }))
        .await;
    assert!(matches!(w.event, Event::WrapUpStarted { call, .. } if call.as_str() == "call-wu"));
    let wrap = Command::WrapUp {
        call: CallId::new("call-wu"),
        disposition: Disposition::new("resolved"),
        notes: Pii::new("booked the 9:00 slot".into()),
        ticket: Some(hotline_cti::TicketDraft {
            ticket: None,
            subject: "Follow-up".into(),
            body: Pii::new("call back tomorrow".into()),
            status: TicketStatus::Pending,
            priority: TicketPriority::High,
        }),
    };
    assert_eq!(d.request(wrap.clone()).await, Ok(Reply::Done));
    assert_eq!(d.request(wrap).await, Ok(Reply::Done), "a resend is fine");
    let outcomes = t.sw.store.outcomes_for_call("call-wu").await.expect("read");
    assert_eq!(outcomes.len(), 1, "idempotent by call and agent");
    assert_eq!(outcomes[0].disposition, "resolved");
    let ticket = outcomes[0].ticket_id.expect("ticket linked");
    let tk =
        t.sw.store
            .ticket(ticket)
            .await
            .expect("read")
            .expect("ticket");
    assert_eq!(
        (tk.status.as_str(), tk.priority.as_str()),
        ("pending", "high")
    );
    // An unknown disposition is the desktop's mistake.
    let bad = d
        .request(Command::WrapUp {
            call: CallId::new("call-wu"),
            disposition: Disposition::new("nope"),
            notes: Pii::new(String::new()),
            ticket: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::BadRequest);
    assert_eq!(
        d.request(Command::EndWrapUp {
            then: AfterWrapUp::Ready
        })
        .await,
        Ok(Reply::Done)
    );
    d.event_where(|e| matches!(e, Event::AgentStateChanged(s) if s.state == AgentState::Ready))
        .await;
    assert_eq!(
        t.sw.routing.agent_state(&alice).await.unwrap(),
        Some(RState::Ready)
    );
    // Not in wrap-up any more.
    assert_eq!(
        d.request(Command::EndWrapUp {
            then: AfterWrapUp::Ready
        })
        .await
        .unwrap_err()
        .code,
        ErrorCode::InvalidState
    );
}

#[tokio::test]
async fn a_desktop_that_does_not_come_back_is_logged_out_after_the_linger_time() {
    let t = TestSwitch::start("session_linger_secs = 0\n").await;
    let d = logged_in(&t, "carol", "carol-demo").await;
    let token = d.session.clone().expect("token");
    drop(d);
    t.wait_agent_state("carol", |s| *s == RState::LoggedOut)
        .await;
    let cti = t.sw.cti.clone().expect("cti runs");
    assert_eq!(cti.session_count(), 0);
    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    let e = d
        .request(Command::ResumeSession {
            session: Secret::new(token),
            last_seq: Seq(1),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionUnknown);
    // Logging in again works and starts a new session at seq 1.
    assert!(d.login("carol", "carol-demo").await.is_ok());
    assert_eq!(d.event().await.seq, Seq(1));
}

#[tokio::test]
async fn payment_progress_and_shutdown_reach_the_desktop() {
    let t = TestSwitch::start("").await;
    let mut d = logged_in(&t, "erin", "erin-demo").await;
    t.sw.bus.notify(CallNotice::Payment {
        call: "call-pay".into(),
        agent: "erin".into(),
        stage: hotline_cti::PaymentStage::Collecting {
            field: hotline_cti::PaymentField::CardNumber,
            entered: 6,
            expected: Some(16),
        },
    });
    let e = d
        .event_where(|e| matches!(e, Event::PaymentProgress { .. }))
        .await;
    match e.event {
        Event::PaymentProgress { call, stage } => {
            assert_eq!(call.as_str(), "call-pay");
            assert!(matches!(
                stage,
                hotline_cti::PaymentStage::Collecting { entered: 6, .. }
            ));
        }
        other => panic!("{other:?}"),
    }
    t.sw.shutdown().await.expect("clean shutdown");
    let bye = d
        .event_where(|e| matches!(e, Event::LoggedOut { .. }))
        .await;
    assert!(matches!(
        bye.event,
        Event::LoggedOut {
            reason: hotline_cti::LogoutReason::Shutdown
        }
    ));
    d.closed().await;
}

/// An internal call: the dialling desk and the colleague's desk both see an internal call
/// naming the other side (name and extension from the agent directory).
#[tokio::test]
async fn an_internal_call_names_the_colleague_on_both_desks() {
    let t = TestSwitch::start("").await;
    let mut alice = logged_in(&t, "alice", "alice-demo").await;
    let mut bob = logged_in(&t, "bob", "bob-demo").await;
    let colleague = |agent: &str, name: &str, ext: &str| hotline_cti::Colleague {
        agent: hotline_cti::AgentId::new(agent),
        name: name.into(),
        extension: Some(hotline_cti::Extension::new(ext)),
    };
    t.sw.bus.notify(CallNotice::Dialing {
        call: "int-1".into(),
        agent: "alice".into(),
        peer: "1002".into(),
        colleague: Some(colleague("bob", "Bob Brown", "1002")),
    });
    t.sw.bus.notify(CallNotice::Incoming {
        call: "int-1".into(),
        agent: "bob".into(),
        peer: "1001".into(),
        colleague: Some(colleague("alice", "Alice Archer", "1001")),
    });
    let a = alice
        .event_where(|e| matches!(e, Event::CallChanged(_)))
        .await;
    match a.event {
        Event::CallChanged(i) => {
            assert_eq!(i.direction, hotline_cti::CallDirection::Internal);
            assert_eq!(i.state, CallState::Dialing);
            assert_eq!(i.colleague.map(|c| c.name), Some("Bob Brown".to_string()));
        }
        other => panic!("{other:?}"),
    }
    let b = bob
        .event_where(|e| matches!(e, Event::CallChanged(_)))
        .await;
    match b.event {
        Event::CallChanged(i) => {
            assert_eq!(i.direction, hotline_cti::CallDirection::Internal);
            assert_eq!(i.state, CallState::Ringing);
            assert_eq!(i.peer.expose(), "1001");
            assert_eq!(
                i.colleague.map(|c| c.name),
                Some("Alice Archer".to_string())
            );
        }
        other => panic!("{other:?}"),
    }
    // Connected and ended follow on bob's desk.
    t.sw.bus.notify(CallNotice::Connected {
        call: "int-1".into(),
        agent: "bob".into(),
    });
    t.sw.bus.notify(CallNotice::Ended {
        call: "int-1".into(),
        agent: Some("bob".into()),
        reason: "caller hung up".into(),
    });
    let e = bob
        .event_where(|e| matches!(e, Event::CallChanged(i) if i.state == CallState::Ended))
        .await;
    assert!(
        matches!(&e.event, Event::CallChanged(i) if i.colleague.is_some()),
        "{e:?}"
    );
}
