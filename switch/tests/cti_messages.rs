//! Messages between agents over CTI (issue 17): a message to an agent who is logged out reaches
//! her at her next login, once (after her desktop confirms it, a new login does not bring it
//! again); a message to the supervisors reaches a supervisor at once; only supervisors send to
//! everyone, and both the refusal and the announcement are audited.

mod cti_util;

use cti_util::{Desk, TestSwitch};
use hotline_cti::{AgentId, Command, ErrorCode, Event, MessageTarget, Pii, Reply};

fn text(t: &str) -> Pii<String> {
    Pii::new(t.to_string())
}

/// The next message on this desk: (id, from, text).
async fn next_message(d: &mut Desk) -> (String, String, String) {
    let f = d
        .event_where(|e| matches!(e, Event::MessageReceived { .. }))
        .await;
    match f.event {
        Event::MessageReceived { id, from, text, .. } => {
            (id, from.as_str().to_string(), text.expose().clone())
        }
        _ => unreachable!("matched above"),
    }
}

#[tokio::test]
async fn a_message_to_someone_away_arrives_at_her_next_login_once() {
    let t = TestSwitch::start("").await;
    let mut alice = t.desk("alice", "alice-demo").await;
    let mut sue = t.desk("sue", "sue-demo").await;

    // Bob is not logged in: the message waits.
    let r = alice
        .request(Command::SendMessage {
            to: MessageTarget::Agent {
                agent: AgentId::new("bob"),
            },
            text: text("Can you take the Lovelace callback at 3?"),
        })
        .await;
    assert_eq!(r, Ok(Reply::Done));
    // To the supervisors: Sue has it at once.
    alice
        .request(Command::SendMessage {
            to: MessageTarget::Supervisors,
            text: text("Caller asks for a manager"),
        })
        .await
        .expect("to supervisors");
    let (sid, from, body) = next_message(&mut sue).await;
    assert_eq!(
        (from.as_str(), body.as_str()),
        ("alice", "Caller asks for a manager")
    );
    sue.request(Command::AckMessages { ids: vec![sid] })
        .await
        .expect("ack");

    // Bob logs in: the waiting message, then he confirms it.
    let mut bob = t.desk("bob", "bob-demo").await;
    let (id, from, body) = next_message(&mut bob).await;
    assert_eq!(
        (from.as_str(), body.as_str()),
        ("alice", "Can you take the Lovelace callback at 3?")
    );
    bob.request(Command::AckMessages { ids: vec![id] })
        .await
        .expect("ack");
    bob.request(Command::Logout).await.expect("logout");
    drop(bob);

    // A new login does not bring it again: the first message he sees is a new one.
    let mut bob = t.desk("bob", "bob-demo").await;
    alice
        .request(Command::SendMessage {
            to: MessageTarget::Agent {
                agent: AgentId::new("bob"),
            },
            text: text("Thanks!"),
        })
        .await
        .expect("second message");
    let (_, _, body) = next_message(&mut bob).await;
    assert_eq!(body, "Thanks!", "the confirmed message came again");

    // Only supervisors send to everyone; both are audited.
    let r = alice
        .request(Command::SendMessage {
            to: MessageTarget::Everyone,
            text: text("hello all"),
        })
        .await;
    assert_eq!(r.map_err(|e| e.code), Err(ErrorCode::Forbidden));
    sue.request(Command::SendMessage {
        to: MessageTarget::Everyone,
        text: text("System maintenance at 22:00"),
    })
    .await
    .expect("announcement");
    let (_, from, body) = next_message(&mut bob).await;
    assert_eq!(
        (from.as_str(), body.as_str()),
        ("sue", "System maintenance at 22:00")
    );
    // Bad input names what is wrong.
    let r = alice
        .request(Command::SendMessage {
            to: MessageTarget::Agent {
                agent: AgentId::new("nobody"),
            },
            text: text("hi"),
        })
        .await;
    assert_eq!(r.map_err(|e| e.code), Err(ErrorCode::UnknownAgent));
    let r = alice
        .request(Command::SendMessage {
            to: MessageTarget::Agent {
                agent: AgentId::new("bob"),
            },
            text: text("   "),
        })
        .await;
    assert_eq!(r.map_err(|e| e.code), Err(ErrorCode::BadRequest));

    let store = hotline_store::Store::open(&t.db_url(), Default::default())
        .await
        .expect("store");
    let audit: Vec<(String, bool)> = store
        .audit_entries(0, 200)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "send_message")
        .map(|e| (e.actor, e.allowed))
        .collect();
    store.close().await;
    assert!(audit.contains(&("alice".into(), false)), "{audit:?}");
    assert!(audit.contains(&("sue".into(), true)), "{audit:?}");
}
