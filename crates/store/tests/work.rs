//! Voicemails filed as tickets and the agents' worklist, on both back ends: one ticket per call
//! however often the filing is retried, with its queue, recording and caller; the worklist
//! holds what is assigned to the agent and what waits unassigned in her queues, nothing solved.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

fn voicemail(call: &str, queue: &str) -> NewVoicemail {
    NewVoicemail {
        call_id: call.into(),
        queue: queue.into(),
        subject: "After-hours voicemail".into(),
        caller: "+12125550113".into(),
        customer_id: None,
        recording: format!("vm-{call}.wav"),
        duration_ms: 7_400,
        due_at: None,
        at: T0,
    }
}

both_backends!(
    a_voicemail_is_filed_once_and_worked_from_the_list,
    async |db: &TestDb| {
        let s = &db.store;
        let hedy = s
            .create_customer(
                &NewCustomer {
                    display_name: "Hedy Perlman".into(),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap();
        let mut v = voicemail("call-1", "support");
        v.customer_id = Some(hedy);
        let t = s.file_voicemail(&v).await.unwrap();
        assert_eq!(
            s.file_voicemail(&v).await.unwrap(),
            t,
            "a retry files nothing new"
        );
        let item = s.work_item(t).await.unwrap().unwrap();
        assert_eq!(item.kind, WorkKind::Voicemail);
        assert_eq!(item.queue.as_deref(), Some("support"));
        assert_eq!(item.recording.as_deref(), Some("vm-call-1.wav"));
        assert_eq!(item.ticket.customer_id, Some(hedy));
        assert_eq!(item.ticket.call_id.as_deref(), Some("call-1"));
        assert_eq!(item.ticket.body, "Voicemail from +12125550113, 7 s.");
        // The customer's pop shows it among her open tickets.
        let view = s.customer_view_by_id(hedy).await.unwrap().unwrap();
        assert!(view.open_tickets.iter().any(|x| x.id == t));

        let billing = s
            .file_voicemail(&voicemail("call-2", "billing"))
            .await
            .unwrap();
        let mine = s
            .create_ticket(&NewTicket {
                subject: "Call back about refund".into(),
                assignee: Some("bob".into()),
                at: T0 + 5,
                ..Default::default()
            })
            .await
            .unwrap();
        let support = ["support".to_string()];
        let ids = |items: Vec<WorkItem>| items.iter().map(|i| i.ticket.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.worklist("bob", &support, 50).await.unwrap()),
            [t, mine]
        );
        assert_eq!(
            ids(s
                .worklist("alice", &["billing".into(), "support".into()], 50)
                .await
                .unwrap()),
            [t, billing]
        );
        assert!(s.worklist("carol", &[], 50).await.unwrap().is_empty());
        // Taken by alice: off bob's list, on hers; solved: off every list.
        s.update_ticket(
            t,
            &TicketUpdate {
                assignee: Some(Some("alice".into())),
                actor: Some("alice".into()),
                at: T0 + 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(ids(s.worklist("bob", &support, 50).await.unwrap()), [mine]);
        assert_eq!(ids(s.worklist("alice", &[], 50).await.unwrap()), [t]);
        s.update_ticket(
            t,
            &TicketUpdate {
                status: Some("solved".into()),
                actor: Some("alice".into()),
                at: T0 + 20,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(s.worklist("alice", &[], 50).await.unwrap().is_empty());

        // Bad input names what is wrong.
        let mut bad = voicemail("call-3", "support");
        bad.recording = "../etc/passwd".into();
        let e = s.file_voicemail(&bad).await.unwrap_err();
        assert!(e.to_string().contains("recordings folder"), "{e}");
    }
);
