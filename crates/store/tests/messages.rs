//! Messages between agents on both back ends: one copy per recipient, undelivered until her
//! desktop confirms, confirmed once and only by her; bad input names what is wrong.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

async fn agent(s: &Store, id: &str, ext: &str) {
    s.create_agent(
        &NewAgent {
            id: id.into(),
            name: id.into(),
            extension: ext.into(),
            role: Role::Agent,
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
                .into(),
        },
        T0,
    )
    .await
    .unwrap();
}

both_backends!(a_message_waits_until_confirmed_once, async |db: &TestDb| {
    let s = &db.store;
    for (a, ext) in [("alice", "1001"), ("bob", "1002"), ("sue", "1901")] {
        agent(s, a, ext).await;
    }
    let sent = s
        .send_agent_message(
            "alice",
            &["bob".to_string(), "sue".to_string()],
            MessageAudience::Supervisors,
            "  Caller on 1 asks for a manager  ",
            T0 + 1,
        )
        .await
        .unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].body, "Caller on 1 asks for a manager");
    let bobs = s.undelivered_messages("bob").await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(
        (bobs[0].sender.as_str(), bobs[0].audience),
        ("alice", MessageAudience::Supervisors)
    );
    // Sue cannot confirm Bob's copy; Bob confirms his once.
    assert_eq!(
        s.mark_messages_delivered("sue", &[bobs[0].id], T0 + 2)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.mark_messages_delivered("bob", &[bobs[0].id], T0 + 2)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.mark_messages_delivered("bob", &[bobs[0].id], T0 + 3)
            .await
            .unwrap(),
        0
    );
    assert!(s.undelivered_messages("bob").await.unwrap().is_empty());
    assert_eq!(s.undelivered_messages("sue").await.unwrap().len(), 1);

    for (body, want) in [("   ", "empty"), (&*"x".repeat(1001), "longer than 1000")] {
        let e = s
            .send_agent_message(
                "alice",
                &["bob".to_string()],
                MessageAudience::Agent,
                body,
                T0,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    assert!(
        s.send_agent_message("alice", &[], MessageAudience::Agent, "hi", T0)
            .await
            .is_err()
    );
});
