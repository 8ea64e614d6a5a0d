//! The webhook outbox, on SQLite and (when `HOTLINE_TEST_PG_URL` is set) on PostgreSQL: each
//! writer (call-record batch, outcome, ticket create and update, payment approval) enqueues
//! one delivery per matching active subscription, once however often it repeats its write;
//! sequences count per subject; a claim hands out only the lowest pending sequence of a
//! subject, under a lease; attempts are recorded; the log pages newest first; a deleted
//! subscription gets nothing new and its pending deliveries fail.

mod common;

use common::TestDb;
use hotline_store::*;
use serde_json::Value;

const T0: Millis = 1_780_000_000_000;

async fn subscribe(s: &Store, kinds: &[EventKind]) -> Webhook {
    s.create_webhook(
        &NewWebhook {
            url: "http://127.0.0.1:9/hook".into(),
            kinds: kinds.to_vec(),
            secret: "whsec_0123456789abcdef".into(),
            created_by: "token:1:ops".into(),
        },
        T0,
    )
    .await
    .expect("create webhook")
}

fn ev(call: &str, seq: i64, at: Millis, kind: CallEventKind) -> CallEvent {
    CallEvent {
        call_id: call.into(),
        seq,
        at,
        kind,
    }
}

fn arrived(call: &str, at: Millis) -> CallEvent {
    ev(
        call,
        0,
        at,
        CallEventKind::Arrived {
            direction: Direction::Inbound,
            ani: "+4930123456".into(),
            dnis: "100".into(),
        },
    )
}

fn ended(call: &str, seq: i64, at: Millis) -> CallEvent {
    ev(
        call,
        seq,
        at,
        CallEventKind::Ended {
            reason: "caller hung up".into(),
            abandoned: false,
        },
    )
}

fn body(d: &Delivery) -> Value {
    serde_json::from_str(&d.body).expect("body is JSON")
}

/// Every delivery of a subscription, oldest first.
async fn log(s: &Store, sub: WebhookId) -> Vec<Delivery> {
    let mut all = s.webhook_deliveries(sub, None, 500).await.unwrap();
    all.reverse();
    all
}

both_backends!(
    subscriptions_are_checked_listed_and_deleted,
    async |db: &TestDb| {
        let s = &db.store;
        let w = subscribe(
            s,
            &[
                EventKind::CallEnded,
                EventKind::CallEnded,
                EventKind::TicketCreated,
            ],
        )
        .await;
        assert_eq!(
            w.kinds,
            vec![EventKind::CallEnded, EventKind::TicketCreated]
        );
        assert_eq!(w.state, WebhookState::Active);
        let bad = |url: &str, kinds: Vec<EventKind>, secret: &str| NewWebhook {
            url: url.into(),
            kinds,
            secret: secret.into(),
            created_by: "t".into(),
        };
        for nw in [
            bad(
                "ftp://x",
                vec![EventKind::CallEnded],
                "whsec_0123456789abcdef",
            ),
            bad("http://x", vec![], "whsec_0123456789abcdef"),
            bad("http://x", vec![EventKind::CallEnded], "short"),
        ] {
            assert!(matches!(
                s.create_webhook(&nw, T0).await,
                Err(Error::Invalid(_))
            ));
        }
        assert!(EventKind::parse("call.started").is_err());
        assert_eq!(
            EventKind::parse("payment.approved").unwrap(),
            EventKind::PaymentApproved
        );
        assert_eq!(s.webhooks().await.unwrap(), vec![w.clone()]);
        let gone = s.delete_webhook(w.id, T0 + 5).await.unwrap();
        assert_eq!(gone.state, WebhookState::Deleted { at: T0 + 5 });
        let again = s.delete_webhook(w.id, T0 + 9).await.unwrap();
        assert_eq!(again.state, WebhookState::Deleted { at: T0 + 5 });
        assert!(matches!(
            s.delete_webhook(999, T0).await,
            Err(Error::NotFound(_))
        ));
    }
);

both_backends!(
    every_writer_enqueues_once_per_subscription,
    async |db: &TestDb| {
        let s = &db.store;
        // Nothing is enqueued while nobody subscribes.
        s.record_call_events(&[arrived("c0", T0), ended("c0", 1, T0 + 1)])
            .await
            .unwrap();
        assert_eq!(s.webhook_delivery_counts().await.unwrap(), (0, 0, 0));

        let all = subscribe(s, &EventKind::ALL).await;
        let calls_only = subscribe(s, &[EventKind::CallEnded]).await;

        // call.ended from the batch writer: once per call, however often the batch is repeated
        // and even with a second `ended` event.
        let batch = [
            arrived("c1", T0),
            arrived("c2", T0 + 1),
            ended("c1", 1, T0 + 10),
            ended("c2", 1, T0 + 11),
        ];
        assert!(s.record_call_events(&batch).await.unwrap().is_empty());
        assert!(s.record_call_events(&batch).await.unwrap().is_empty());
        s.record_call_event(&ended("c1", 2, T0 + 20)).await.unwrap();
        let mine = log(s, calls_only.id).await;
        assert_eq!(mine.len(), 2);
        let b = body(&mine[0]);
        assert_eq!(b["kind"], "call.ended");
        assert_eq!(b["id"], mine[0].id);
        assert_eq!(b["subject"], "call/c1");
        assert_eq!(b["sequence"], 1);
        assert_eq!(b["occurred_at"], T0 + 10);
        assert_eq!(b["data"]["ani"], "+4930123456");
        assert_eq!(b["data"]["ended_at"], T0 + 10);
        assert_eq!(b["data"]["end_reason"], "caller hung up");
        assert!(b["data"].get("ivr_inputs").is_none());
        assert_eq!(mine[0].state, DeliveryState::Pending);
        assert_eq!(mine[0].next_attempt_at, T0 + 10);

        // outcome.written: same subject as the call, next sequence; a resend adds nothing.
        s.upsert_disposition(&Disposition {
            code: "sold".into(),
            label: "Sold".into(),
            resolved: true,
        })
        .await
        .unwrap();
        let mut o = Outcome {
            call_id: "c1".into(),
            agent_id: "alice".into(),
            disposition: "sold".into(),
            notes: "aisle seat".into(),
            wrapup_ms: 5000,
            ticket_id: None,
            at: T0 + 30,
        };
        s.write_outcome(&o).await.unwrap();
        s.write_outcome(&o).await.unwrap();
        o.notes = "window seat".into();
        o.at = T0 + 40;
        s.write_outcome(&o).await.unwrap();

        // ticket.created and ticket.updated (a no-op update adds nothing).
        let t = s
            .create_ticket(&NewTicket {
                client_key: Some("k1".into()),
                call_id: Some("c1".into()),
                subject: "Refund".into(),
                body: "please".into(),
                at: T0 + 50,
                ..Default::default()
            })
            .await
            .unwrap();
        s.create_ticket(&NewTicket {
            client_key: Some("k1".into()),
            subject: "Refund".into(),
            at: T0 + 51,
            ..Default::default()
        })
        .await
        .unwrap();
        let upd = TicketUpdate {
            status: Some("solved".into()),
            comment: Some("done".into()),
            actor: Some("alice".into()),
            at: T0 + 60,
            ..Default::default()
        };
        s.update_ticket(t, &upd).await.unwrap();
        let same = TicketUpdate {
            comment: None,
            ..upd.clone()
        };
        s.update_ticket(t, &same).await.unwrap(); // nothing changes: no event

        // payment.approved: pending writes enqueue nothing; the approval once; no card data.
        let mut p = Payment {
            idempotency_key: "c1:PNR1:1".into(),
            booking_id: None,
            customer_id: None,
            call_id: Some("c1".into()),
            amount_minor: 1000,
            currency: "EUR".into(),
            status: "pending".into(),
            decline_reason: None,
            gateway: "sandbox".into(),
            gateway_ref: None,
            card_token: None,
            card_brand: None,
            card_last4: None,
            reference: None,
            at: T0 + 70,
        };
        s.record_payment(&p).await.unwrap();
        p.status = "approved".into();
        p.card_token = Some("tok_sbx_9f2c".into());
        p.card_last4 = Some("1111".into());
        p.card_brand = Some("visa".into());
        s.record_payment(&p).await.unwrap();
        s.record_payment(&p).await.unwrap();

        let everything = log(s, all.id).await;
        let kinds: Vec<(&str, &str, i64)> = everything
            .iter()
            .map(|d| (d.kind.as_str(), d.subject.as_str(), d.sequence))
            .collect();
        let ticket = format!("ticket/{t}");
        assert_eq!(
            kinds,
            vec![
                ("call.ended", "call/c1", 1),
                ("call.ended", "call/c2", 1),
                ("outcome.written", "call/c1", 2),
                ("outcome.written", "call/c1", 3),
                ("ticket.created", ticket.as_str(), 1),
                ("ticket.updated", ticket.as_str(), 2),
                ("payment.approved", "call/c1", 4),
            ]
        );
        let outcome = body(&everything[3]);
        assert_eq!(outcome["data"]["notes"], "window seat");
        let updated = body(&everything[5]);
        assert_eq!(updated["data"]["status"], "solved");
        assert_eq!(updated["data"]["changes"].as_array().unwrap().len(), 2);
        let paid = &everything[6].body;
        assert!(
            !paid.contains("tok_sbx") && !paid.contains("1111"),
            "{paid}"
        );
        assert_eq!(body(&everything[6])["data"]["amount_minor"], 1000);
        assert_eq!(s.webhook_delivery_counts().await.unwrap(), (9, 0, 0));
    }
);

both_backends!(
    claims_follow_subject_order_under_a_lease,
    async |db: &TestDb| {
        let s = &db.store;
        let w = subscribe(s, &[EventKind::CallEnded, EventKind::PaymentApproved]).await;
        let event = |subject: &str, source: &str, at| WebhookEvent {
            kind: EventKind::CallEnded,
            subject: subject.into(),
            source_id: source.into(),
            occurred_at: at,
            data: serde_json::json!({}),
        };
        s.enqueue_webhook_event(&event("call/a", "1", T0))
            .await
            .unwrap();
        s.enqueue_webhook_event(&event("call/a", "2", T0 + 1))
            .await
            .unwrap();
        s.enqueue_webhook_event(&event("call/b", "1", T0 + 2))
            .await
            .unwrap();
        s.enqueue_webhook_event(&event("call/b", "1", T0 + 2))
            .await
            .unwrap(); // duplicate
        s.enqueue_webhook_event(&event("call/c", "1", T0 + 1000))
            .await
            .unwrap(); // not yet due

        assert_eq!(s.next_webhook_due().await.unwrap(), Some(T0));
        let now = T0 + 10;
        let first = s.claim_webhook_deliveries(now, 30_000, 10).await.unwrap();
        let got: Vec<(&str, i64)> = first
            .iter()
            .map(|d| (d.delivery.subject.as_str(), d.delivery.sequence))
            .collect();
        assert_eq!(got, vec![("call/a", 1), ("call/b", 1)]);
        assert_eq!(first[0].url, "http://127.0.0.1:9/hook");
        assert_eq!(first[0].secret, "whsec_0123456789abcdef");
        // Leased: nobody else gets them, and a/2 waits for a/1.
        assert!(
            s.claim_webhook_deliveries(now + 1, 30_000, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // a/1 fails and is retried later; b/1 is delivered.
        let (a1, b1) = (first[0].delivery.id, first[1].delivery.id);
        s.record_webhook_attempt(
            a1,
            &DeliveryAttempt::Retry {
                status: None,
                error: "connection refused".into(),
                next_attempt_at: now + 500,
            },
            now,
        )
        .await
        .unwrap();
        s.record_webhook_attempt(b1, &DeliveryAttempt::Delivered { status: 204 }, now)
            .await
            .unwrap();
        assert!(
            s.claim_webhook_deliveries(now + 499, 30_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let retry = s
            .claim_webhook_deliveries(now + 500, 30_000, 10)
            .await
            .unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!((retry[0].delivery.id, retry[0].delivery.attempts), (a1, 1));
        assert_eq!(
            retry[0].delivery.last_error.as_deref(),
            Some("connection refused")
        );
        // A lease that ran out (a worker died mid-post) is claimed again.
        let again = s
            .claim_webhook_deliveries(now + 500 + 30_000, 30_000, 10)
            .await
            .unwrap();
        let got: Vec<(&str, i64)> = again
            .iter()
            .map(|d| (d.delivery.subject.as_str(), d.delivery.sequence))
            .collect();
        assert_eq!(got, vec![("call/a", 1), ("call/c", 1)]);
        assert_eq!(again[0].delivery.id, a1);
        let later = now + 500 + 30_000;
        s.record_webhook_attempt(
            again[1].delivery.id,
            &DeliveryAttempt::Delivered { status: 200 },
            later,
        )
        .await
        .unwrap();
        s.record_webhook_attempt(
            a1,
            &DeliveryAttempt::GiveUp {
                status: Some(500),
                error: "HTTP 500".into(),
            },
            later,
        )
        .await
        .unwrap();
        // A failed delivery no longer holds its subject up.
        let next = s.claim_webhook_deliveries(later, 30_000, 10).await.unwrap();
        let got: Vec<(&str, i64)> = next
            .iter()
            .map(|d| (d.delivery.subject.as_str(), d.delivery.sequence))
            .collect();
        assert_eq!(got, vec![("call/a", 2)]);

        let a1_row = s.webhook_delivery(a1).await.unwrap().unwrap();
        assert_eq!(
            (a1_row.state, a1_row.attempts, a1_row.last_status),
            (DeliveryState::Failed, 2, Some(500))
        );
        let b1_row = s.webhook_delivery(b1).await.unwrap().unwrap();
        assert_eq!(
            (b1_row.state, b1_row.delivered_at, b1_row.last_status),
            (DeliveryState::Delivered, Some(now), Some(204))
        );

        // The log, newest first, a page at a time.
        let page1 = s.webhook_deliveries(w.id, None, 2).await.unwrap();
        assert_eq!(page1.len(), 2);
        assert!(page1[0].id > page1[1].id);
        let page2 = s
            .webhook_deliveries(w.id, Some(page1[1].id), 2)
            .await
            .unwrap();
        assert_eq!(page2.len(), 2);
        assert!(page2[0].id < page1[1].id);
        assert!(
            s.webhook_deliveries(w.id, Some(page2[1].id), 2)
                .await
                .unwrap()
                .is_empty()
        );

        // Deleting the subscription fails what is pending and stops new events.
        s.delete_webhook(w.id, later).await.unwrap();
        s.enqueue_webhook_event(&event("call/d", "1", T0))
            .await
            .unwrap();
        assert_eq!(s.webhook_delivery_counts().await.unwrap(), (0, 2, 2));
        assert!(
            s.claim_webhook_deliveries(later + 1, 30_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.next_webhook_due().await.unwrap(), None);
    }
);
