//! The store's contract, run on SQLite and (when `HOTLINE_TEST_PG_URL` is set) on PostgreSQL:
//! unified view across identities, call lifecycle, idempotent outcomes, tickets with history,
//! bookings that cannot oversell, payments without card data, and two pools writing at once.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;

async fn customer(s: &Store, name: &str, tier: &str) -> CustomerId {
    s.create_customer(
        &NewCustomer {
            display_name: name.into(),
            tier: tier.into(),
            ..Default::default()
        },
        T0,
    )
    .await
    .expect("create customer")
}

async fn call(s: &Store, id: &str, ani: &str, customer: Option<CustomerId>, at: Millis) {
    let mut seq = 0;
    let mut ev = |kind| {
        seq += 1;
        CallEvent {
            call_id: id.into(),
            seq,
            at,
            kind,
        }
    };
    s.record_call_event(&ev(CallEventKind::Arrived {
        direction: Direction::Inbound,
        ani: ani.into(),
        dnis: "+18005550100".into(),
    }))
    .await
    .expect("arrived");
    if let Some(c) = customer {
        s.record_call_event(&ev(CallEventKind::Identified { customer_id: c }))
            .await
            .expect("identified");
    }
    s.record_call_event(&ev(CallEventKind::Answered {
        agent_id: "alice".into(),
    }))
    .await
    .expect("answered");
    s.record_call_event(&ev(CallEventKind::Ended {
        reason: "normal".into(),
        abandoned: false,
    }))
    .await
    .expect("ended");
}

async fn agent(s: &Store, id: &str, ext: &str) {
    // A fixed, valid argon2 PHC string keeps these tests fast; password hashing has its own test.
    s.upsert_agent(
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
    .expect("agent");
}

async fn disposition(s: &Store, code: &str) {
    s.upsert_disposition(&Disposition {
        code: code.into(),
        label: code.into(),
        resolved: true,
    })
    .await
    .expect("disposition");
}

both_backends!(unified_view_merges_two_channels, async |db: &TestDb| {
    let s = &db.store;
    // The phone channel knows a caller by number; the web channel knows a loyalty member.
    let by_phone = customer(s, "Ada Lovelace", "standard").await;
    s.link_identity(
        by_phone,
        &Identity::phone("+44 20 7946 0018").unwrap(),
        "ivr",
        true,
        T0,
    )
    .await
    .unwrap();
    let by_web = customer(s, "A. Lovelace", "gold").await;
    s.link_identity(
        by_web,
        &Identity::new(IdentityKind::Loyalty, "ff 123 456").unwrap(),
        "web",
        true,
        T0,
    )
    .await
    .unwrap();
    s.link_identity(
        by_web,
        &Identity::new(IdentityKind::Email, "Ada@Example.org").unwrap(),
        "web",
        false,
        T0,
    )
    .await
    .unwrap();
    call(s, "c-phone", "+442079460018", Some(by_phone), T0 + 1000).await;
    call(s, "c-web", "+442079460018", Some(by_web), T0 + 500).await;
    disposition(s, "sold").await;
    s.write_outcome(&Outcome {
        call_id: "c-phone".into(),
        agent_id: "alice".into(),
        disposition: "sold".into(),
        notes: "wants aisle seats".into(),
        wrapup_ms: 12_000,
        ticket_id: None,
        at: T0 + 2000,
    })
    .await
    .unwrap();
    s.create_ticket(&NewTicket {
        customer_id: Some(by_web),
        subject: "Lost luggage".into(),
        at: T0 + 3000,
        ..Default::default()
    })
    .await
    .unwrap();

    // An identity that belongs to someone else cannot be silently re-linked.
    let err = s
        .link_identity(
            by_phone,
            &Identity::new(IdentityKind::Loyalty, "FF123456").unwrap(),
            "agent",
            false,
            T0,
        )
        .await;
    assert!(matches!(err, Err(Error::Conflict(_))), "{err:?}");

    s.merge_customers(by_phone, by_web, T0 + 4000)
        .await
        .unwrap();

    // Any of the three identities, typed differently, now gives one and the same view.
    let v1 = s
        .customer_view(&Identity::phone("0044 20 7946 0018").unwrap())
        .await
        .unwrap()
        .expect("by phone");
    let v2 = s
        .customer_view(&Identity::new(IdentityKind::Loyalty, "FF123456").unwrap())
        .await
        .unwrap()
        .expect("by loyalty");
    let v3 = s
        .customer_view(&Identity::new(IdentityKind::Email, "ada@example.ORG").unwrap())
        .await
        .unwrap()
        .expect("by email");
    assert_eq!(v1, v2);
    assert_eq!(v1, v3);
    assert_eq!(v1.customer.id, by_phone);
    assert_eq!(v1.customer.tier, "gold", "the better tier wins a merge");
    assert_eq!(v1.customer.priority, tier_priority("gold"));
    assert_eq!(v1.identities.len(), 3);
    assert_eq!(
        v1.recent_contacts.len(),
        2,
        "contacts of both channels, newest first"
    );
    assert_eq!(v1.recent_contacts[0].call_id, "c-phone");
    assert_eq!(v1.recent_contacts[1].call_id, "c-web");
    assert_eq!(v1.recent_contacts[0].disposition.as_deref(), Some("sold"));
    assert_eq!(
        v1.recent_contacts[0].notes.as_deref(),
        Some("wants aisle seats")
    );
    assert_eq!(v1.open_tickets.len(), 1);
    assert_eq!(v1.open_tickets[0].subject, "Lost luggage");
    assert!(
        s.customer_view_by_id(by_web).await.unwrap().is_none(),
        "the absorbed customer is gone"
    );
    assert!(
        s.customer_view(&Identity::phone("+15550000000").unwrap())
            .await
            .unwrap()
            .is_none()
    );

    let found = s.search_customers("lovelace", 10).await.unwrap();
    assert_eq!(found.len(), 1);
    let found = s.search_customers("+44 20 7946 0018", 10).await.unwrap();
    assert_eq!(
        found.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![by_phone]
    );
});

// Numbers as agents type them (issue 14): national format, spaces and dashes, or a part of
// the number, in a +1 and in a +86 centre.
both_backends!(
    search_finds_numbers_typed_as_people_type_them,
    async |db: &TestDb| {
        let s = &db.store;
        let ny = customer(s, "Grace Liskov", "standard").await;
        s.link_identity(
            ny,
            &Identity::phone("+12125550113").unwrap(),
            "ivr",
            true,
            T0,
        )
        .await
        .unwrap();
        let bj = customer(s, "张伟", "gold").await;
        s.link_identity(
            bj,
            &Identity::phone("+861065529988").unwrap(),
            "ivr",
            true,
            T0,
        )
        .await
        .unwrap();
        let mobile = customer(s, "李娜", "standard").await;
        s.link_identity(
            mobile,
            &Identity::phone("+8613800138000").unwrap(),
            "ivr",
            true,
            T0,
        )
        .await
        .unwrap();
        let ids = |v: Vec<CustomerSummary>| v.iter().map(|c| c.id).collect::<Vec<_>>();
        // +1 centre: national, dashed, partial (end of the number).
        for typed in [
            "2125550113",
            "212-555-0113",
            "(212) 555 0113",
            "5550113",
            "555-0113",
            "0113",
        ] {
            let found = s.search_customers_in(typed, 10, Some("1")).await.unwrap();
            assert_eq!(ids(found), vec![ny], "{typed}");
        }
        // Without a country, a national number still matches at its end.
        assert_eq!(
            ids(s.search_customers_in("2125550113", 10, None).await.unwrap()),
            vec![ny]
        );
        // +86 centre: landline with trunk 0, its beginning, a mobile in groups, its last digits.
        for (typed, want) in [
            ("010 6552 9988", bj),
            ("010-6552", bj),
            ("6552 9988", bj),
            ("138 0013 8000", mobile),
            ("138-0013", mobile),
            ("8000", mobile),
        ] {
            let found = s.search_customers_in(typed, 10, Some("86")).await.unwrap();
            assert_eq!(ids(found), vec![want], "{typed}");
        }
        // Too few digits, or letters, are not a number search.
        assert!(
            s.search_customers_in("113", 10, Some("1"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.search_customers_in("555-01x3", 10, Some("1"))
                .await
                .unwrap()
                .is_empty()
        );
    }
);

both_backends!(outcome_written_twice_keeps_one_row, async |db: &TestDb| {
    let s = &db.store;
    disposition(s, "resolved").await;
    disposition(s, "callback").await;
    call(s, "c1", "+4930123456", None, T0).await;
    let mut o = Outcome {
        call_id: "c1".into(),
        agent_id: "bob".into(),
        disposition: "callback".into(),
        notes: "first".into(),
        wrapup_ms: 5000,
        ticket_id: None,
        at: T0,
    };
    s.write_outcome(&o).await.unwrap();
    s.write_outcome(&o).await.unwrap();
    o.disposition = "resolved".into();
    o.notes = "corrected".into();
    s.write_outcome(&o).await.unwrap();
    let rows = s.outcomes_for_call("c1").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].disposition, "resolved");
    assert_eq!(rows[0].notes, "corrected");
    assert_eq!(s.count_outcomes().await.unwrap(), 1);
    // A second agent on the same call (a transfer) has its own row.
    o.agent_id = "carol".into();
    s.write_outcome(&o).await.unwrap();
    assert_eq!(s.outcomes_for_call("c1").await.unwrap().len(), 2);
    // An unknown wrap-up code is refused, not stored.
    o.disposition = "no-such-code".into();
    assert!(s.write_outcome(&o).await.is_err());
});

both_backends!(
    call_lifecycle_is_recorded_once_per_event,
    async |db: &TestDb| {
        let s = &db.store;
        let c = customer(s, "Grace Hopper", "vip").await;
        let ev = |seq, at, kind| CallEvent {
            call_id: "call-7".into(),
            seq,
            at,
            kind,
        };
        let events = vec![
            ev(
                0,
                T0,
                CallEventKind::Arrived {
                    direction: Direction::Inbound,
                    ani: "+12125550100".into(),
                    dnis: "+18005550100".into(),
                },
            ),
            ev(1, T0 + 100, CallEventKind::Identified { customer_id: c }),
            ev(
                2,
                T0 + 5000,
                CallEventKind::Ivr {
                    path: vec!["welcome".into(), "main_menu".into(), "sales".into()],
                    inputs: serde_json::from_str(r#"{"main_menu":"1"}"#).unwrap(),
                },
            ),
            ev(
                3,
                T0 + 6000,
                CallEventKind::Enqueued {
                    queue_id: "sales".into(),
                    priority: 30,
                },
            ),
            ev(
                4,
                T0 + 9000,
                CallEventKind::Offered {
                    agent_id: "alice".into(),
                },
            ),
            ev(
                5,
                T0 + 12000,
                CallEventKind::Answered {
                    agent_id: "alice".into(),
                },
            ),
            ev(6, T0 + 20000, CallEventKind::Held),
            ev(7, T0 + 25000, CallEventKind::Resumed { hold_ms: 5000 }),
            ev(
                8,
                T0 + 60000,
                CallEventKind::Ended {
                    reason: "agent_hangup".into(),
                    abandoned: false,
                },
            ),
        ];
        for e in &events {
            s.record_call_event(e).await.unwrap();
        }
        // A writer that retries after a lost acknowledgement repeats events: nothing doubles.
        for e in &events[5..] {
            s.record_call_event(e).await.unwrap();
        }
        let r = s.call("call-7").await.unwrap().expect("call row");
        assert_eq!(r.customer_id, Some(c));
        assert_eq!(r.ivr_path, vec!["welcome", "main_menu", "sales"]);
        assert_eq!(
            r.ivr_inputs.get("main_menu").and_then(|v| v.as_str()),
            Some("1")
        );
        assert_eq!(r.queue_id.as_deref(), Some("sales"));
        assert_eq!(r.priority, 30);
        assert_eq!(
            (
                r.arrived_at,
                r.enqueued_at,
                r.offered_at,
                r.answered_at,
                r.ended_at
            ),
            (
                T0,
                Some(T0 + 6000),
                Some(T0 + 9000),
                Some(T0 + 12000),
                Some(T0 + 60000)
            )
        );
        assert_eq!(r.agent_id.as_deref(), Some("alice"));
        assert_eq!(r.hold_ms, 5000);
        assert!(!r.abandoned);
        assert_eq!(r.end_reason.as_deref(), Some("agent_hangup"));
        assert_eq!(
            s.call_event_kinds("call-7").await.unwrap().len(),
            events.len()
        );

        // An event for a call that never arrived is refused with a clear error.
        let orphan = CallEvent {
            call_id: "ghost".into(),
            seq: 1,
            at: T0,
            kind: CallEventKind::Held,
        };
        assert!(matches!(
            s.record_call_event(&orphan).await,
            Err(Error::NotFound(_))
        ));

        // An abandoned call keeps its flag.
        s.record_call_event(&CallEvent {
            call_id: "c-ab".into(),
            seq: 0,
            at: T0,
            kind: CallEventKind::Arrived {
                direction: Direction::Inbound,
                ani: "+12125550101".into(),
                dnis: "+18005550100".into(),
            },
        })
        .await
        .unwrap();
        s.record_call_event(&CallEvent {
            call_id: "c-ab".into(),
            seq: 1,
            at: T0 + 30_000,
            kind: CallEventKind::Ended {
                reason: "caller_hangup".into(),
                abandoned: true,
            },
        })
        .await
        .unwrap();
        assert!(s.call("c-ab").await.unwrap().unwrap().abandoned);
    }
);

both_backends!(tickets_keep_history_and_client_keys, async |db: &TestDb| {
    let s = &db.store;
    let c = customer(s, "Linus", "standard").await;
    let new = NewTicket {
        client_key: Some("desk-7:call-1".into()),
        customer_id: Some(c),
        call_id: Some("call-1".into()),
        subject: "Router reboots".into(),
        body: "Since Tuesday".into(),
        priority: "high".into(),
        created_by: Some("alice".into()),
        at: T0,
        ..Default::default()
    };
    let id = s.create_ticket(&new).await.unwrap();
    assert_eq!(
        s.create_ticket(&new).await.unwrap(),
        id,
        "same client key, same ticket"
    );
    let t = s
        .update_ticket(
            id,
            &TicketUpdate {
                status: Some("pending".into()),
                assignee: Some(Some("bob".into())),
                comment: Some("asked for logs".into()),
                actor: Some("alice".into()),
                at: T0 + 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t.status, "pending");
    assert_eq!(t.assignee.as_deref(), Some("bob"));
    let h = s.ticket_history(id).await.unwrap();
    let fields: Vec<&str> = h.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, vec!["created", "status", "assignee", "comment"]);
    assert_eq!(h[1].old_value.as_deref(), Some("open"));
    assert_eq!(h[1].new_value.as_deref(), Some("pending"));
    assert!(
        s.update_ticket(
            id,
            &TicketUpdate {
                status: Some("bogus".into()),
                ..Default::default()
            }
        )
        .await
        .is_err()
    );
    assert!(matches!(
        s.update_ticket(9999, &TicketUpdate::default()).await,
        Err(Error::NotFound(_))
    ));
    s.update_ticket(
        id,
        &TicketUpdate {
            status: Some("closed".into()),
            at: T0 + 20,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let v = s.customer_view_by_id(c).await.unwrap().unwrap();
    assert!(
        v.open_tickets.is_empty(),
        "closed tickets leave the screen pop"
    );
});

both_backends!(
    bookings_cannot_oversell_and_payments_hold_no_card_data,
    async |db: &TestDb| {
        let s = &db.store;
        let c = customer(s, "Katherine Johnson", "silver").await;
        let item = s
            .upsert_item(&NewItem {
                sku: "LH400-J".into(),
                name: "Frankfurt - New York, business".into(),
                description: String::new(),
                starts_at: Some(T0 + 86_400_000),
                price_minor: 249_900,
                currency: "EUR".into(),
                capacity: 1,
            })
            .await
            .unwrap();
        let b1 = s
            .hold_booking(c, item, Some("call-9"), "PNR001", T0 + 600_000, T0)
            .await
            .unwrap();
        assert!(matches!(
            s.hold_booking(c, item, None, "PNR002", T0 + 600_000, T0)
                .await,
            Err(Error::Conflict(_))
        ));
        assert!(s.available_items(T0, 10).await.unwrap().is_empty());
        s.release_booking(b1, T0 + 1).await.unwrap();
        assert_eq!(s.available_items(T0, 10).await.unwrap().len(), 1);
        let b2 = s
            .hold_booking(c, item, Some("call-9"), "PNR003", T0 + 600_000, T0 + 2)
            .await
            .unwrap();

        let mut p = Payment {
            idempotency_key: "call-9:PNR003:1".into(),
            booking_id: Some(b2),
            customer_id: Some(c),
            call_id: Some("call-9".into()),
            amount_minor: 249_900,
            currency: "EUR".into(),
            status: "pending".into(),
            decline_reason: None,
            gateway: "sandbox".into(),
            gateway_ref: None,
            card_token: None,
            card_brand: None,
            card_last4: None,
            reference: None,
            at: T0 + 3,
        };
        s.record_payment(&p).await.unwrap();
        p.status = "approved".into();
        p.gateway_ref = Some("sbx_ch_42".into());
        p.card_token = Some("tok_sbx_9f2c".into());
        p.card_brand = Some("visa".into());
        p.card_last4 = Some("1111".into());
        let stored = s.record_payment(&p).await.unwrap();
        assert_eq!(stored.status, "approved");
        // A retry of the same charge cannot flip a settled payment.
        let mut again = p.clone();
        again.status = "declined".into();
        assert_eq!(s.record_payment(&again).await.unwrap().status, "approved");
        s.confirm_booking(b2, T0 + 4).await.unwrap();
        let it = s.item(item).await.unwrap().unwrap();
        assert_eq!((it.held, it.sold), (0, 1));
        let v = s.customer_view_by_id(c).await.unwrap().unwrap();
        assert_eq!(v.bookings.len(), 2);
        assert_eq!(v.bookings[0].reference, "PNR003");
        assert_eq!(v.bookings[0].status, "confirmed");

        // Card numbers are refused wherever they could slip in.
        let mut bad = p.clone();
        bad.idempotency_key = "other".into();
        bad.card_token = Some("4111 1111 1111 1111".into());
        assert!(matches!(
            s.record_payment(&bad).await,
            Err(Error::Invalid(_))
        ));
        bad.card_token = None;
        bad.reference = Some("order 4111-1111-1111-1111".into());
        assert!(matches!(
            s.record_payment(&bad).await,
            Err(Error::Invalid(_))
        ));
        bad.reference = None;
        bad.card_last4 = Some("11111".into());
        assert!(matches!(
            s.record_payment(&bad).await,
            Err(Error::Invalid(_))
        ));
    }
);

both_backends!(
    two_pools_writing_at_once_lose_nothing,
    async |db: &TestDb| {
        // The switch (call records) and a desktop (outcomes) write through separate pools at once.
        let switch = db.second_pool().await;
        let desktop = db.second_pool().await;
        disposition(&db.store, "done").await;
        const N: i64 = 150;
        let sw = {
            let s = switch.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    let id = format!("pool-call-{i}");
                    s.record_call_event(&CallEvent {
                        call_id: id.clone(),
                        seq: 0,
                        at: T0 + i,
                        kind: CallEventKind::Arrived {
                            direction: Direction::Inbound,
                            ani: "+4930123456".into(),
                            dnis: "+4930999".into(),
                        },
                    })
                    .await
                    .expect("arrived");
                    s.record_call_event(&CallEvent {
                        call_id: id,
                        seq: 1,
                        at: T0 + i + 1,
                        kind: CallEventKind::Ended {
                            reason: "normal".into(),
                            abandoned: false,
                        },
                    })
                    .await
                    .expect("ended");
                }
            })
        };
        let dk = {
            let s = desktop.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    s.write_outcome(&Outcome {
                        call_id: format!("pool-call-{i}"),
                        agent_id: "alice".into(),
                        disposition: "done".into(),
                        notes: String::new(),
                        wrapup_ms: 1,
                        ticket_id: None,
                        at: T0 + i,
                    })
                    .await
                    .expect("outcome");
                    s.create_ticket(&NewTicket {
                        client_key: Some(format!("k{i}")),
                        subject: format!("t{i}"),
                        at: T0,
                        ..Default::default()
                    })
                    .await
                    .expect("ticket");
                }
            })
        };
        sw.await.unwrap();
        dk.await.unwrap();
        assert_eq!(db.store.count_calls().await.unwrap(), N);
        assert_eq!(db.store.count_outcomes().await.unwrap(), N);
        switch.close().await;
        desktop.close().await;
    }
);

both_backends!(agents_and_skills, async |db: &TestDb| {
    let s = &db.store;
    agent(s, "alice", "1001").await;
    s.upsert_skill("english", "").await.unwrap();
    s.upsert_skill("booking", "").await.unwrap();
    s.set_agent_skills(
        "alice",
        &[
            SkillLevel {
                skill: "english".into(),
                proficiency: 5,
            },
            SkillLevel {
                skill: "booking".into(),
                proficiency: 3,
            },
        ],
    )
    .await
    .unwrap();
    assert!(
        s.set_agent_skills(
            "alice",
            &[SkillLevel {
                skill: "english".into(),
                proficiency: 6
            }]
        )
        .await
        .is_err()
    );
    assert_eq!(s.agent_skills("alice").await.unwrap().len(), 2);
    let cred = s.agent_credentials("alice").await.unwrap().expect("alice");
    assert_eq!(
        (cred.extension.as_str(), cred.role, cred.active),
        ("1001", Role::Agent, true)
    );
    assert!(s.agent_credentials("mallory").await.unwrap().is_none());
    s.record_agent_state(&AgentStateEvent {
        agent_id: "alice".into(),
        at: T0,
        state: "ready".into(),
        reason: None,
        call_id: None,
    })
    .await
    .unwrap();
    s.audit(&AuditEntry {
        at: T0,
        actor: "sue".into(),
        action: "monitor".into(),
        target: Some("alice".into()),
        call_id: Some("c1".into()),
        allowed: false,
        detail: serde_json::json!({"why":"role"}),
    })
    .await
    .unwrap();
    assert!(!s.is_empty().await.unwrap());
});

both_backends!(
    bulk_import_links_identities_in_order,
    async |db: &TestDb| {
        let s = &db.store;
        let batch: Vec<_> = (0..1203)
            .map(|i| {
                (
                    NewCustomer {
                        display_name: format!("Imported {i}"),
                        tier: if i % 100 == 0 {
                            "vip".into()
                        } else {
                            String::new()
                        },
                        ..Default::default()
                    },
                    vec![
                        Identity::phone(&format!("+3120{i:07}")).unwrap(),
                        Identity::new(IdentityKind::Account, &format!("imp-{i}")).unwrap(),
                    ],
                )
            })
            .collect();
        let ids = s.import_customers(&batch, "crm", T0).await.unwrap();
        assert_eq!(ids.len(), batch.len());
        for i in [0usize, 499, 500, 1202] {
            let v = s
                .customer_view(&Identity::phone(&format!("+3120{i:07}")).unwrap())
                .await
                .unwrap()
                .expect("imported");
            assert_eq!(v.customer.id, ids[i]);
            assert_eq!(v.customer.display_name, format!("Imported {i}"));
            assert_eq!(v.identities.len(), 2);
            assert_eq!(
                v.customer.tier,
                if i % 100 == 0 { "vip" } else { "standard" }
            );
        }
        // A duplicate identity rolls the whole import back.
        let before = s.search_customers("Again", 10).await.unwrap().len();
        let dup = vec![
            (
                NewCustomer {
                    display_name: "Again 1".into(),
                    ..Default::default()
                },
                vec![Identity::phone("+3199000001").unwrap()],
            ),
            (
                NewCustomer {
                    display_name: "Again 2".into(),
                    ..Default::default()
                },
                vec![Identity::phone("+31200000000").unwrap()],
            ), // customer 0's number
        ];
        assert!(matches!(
            s.import_customers(&dup, "crm", T0).await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(s.search_customers("Again", 10).await.unwrap().len(), before);
    }
);

both_backends!(
    a_calls_bookings_and_payments_read_back_by_call_id,
    async |db: &TestDb| {
        let s = &db.store;
        let c = customer(s, "Mary Jackson", "standard").await;
        let item = s
            .upsert_item(&NewItem {
                sku: "HL900-Y".into(),
                name: "Hampton - Boston, economy".into(),
                description: String::new(),
                starts_at: Some(T0 + 86_400_000),
                price_minor: 19_900,
                currency: "USD".into(),
                capacity: 5,
            })
            .await
            .unwrap();
        assert!(s.bookings_for_call("call-77").await.unwrap().is_empty());
        assert!(s.payments_for_call("call-77").await.unwrap().is_empty());
        let held = s
            .hold_booking(c, item, Some("call-77"), "IVR77A", T0 + 900_000, T0)
            .await
            .unwrap();
        s.release_booking(held, T0 + 1).await.unwrap();
        let b = s
            .hold_booking(c, item, Some("call-77"), "IVR77B", T0 + 900_000, T0 + 2)
            .await
            .unwrap();
        // Another call's booking does not show.
        s.hold_booking(c, item, Some("call-78"), "IVR78A", T0 + 900_000, T0 + 2)
            .await
            .unwrap();
        let one = s.booking(b).await.unwrap().expect("booking");
        assert_eq!(
            (one.status.as_str(), one.customer_id, one.item_id),
            ("held", c, item)
        );
        assert_eq!(one.hold_expires_at, Some(T0 + 900_000));
        assert!(s.booking(9_999_999).await.unwrap().is_none());

        let declined = Payment {
            idempotency_key: "call-77:pay:1".into(),
            booking_id: Some(b),
            customer_id: Some(c),
            call_id: Some("call-77".into()),
            amount_minor: 19_900,
            currency: "USD".into(),
            status: "declined".into(),
            decline_reason: Some("card_declined".into()),
            gateway: "sandbox".into(),
            gateway_ref: Some("tok_sandbox_000001".into()),
            card_token: Some("tok_sandbox_000001".into()),
            card_brand: Some("visa".into()),
            card_last4: Some("0002".into()),
            reference: Some("INV-77".into()),
            at: T0 + 3,
        };
        s.record_payment(&declined).await.unwrap();
        let mut approved = declined.clone();
        approved.idempotency_key = "call-77:pay:2".into();
        approved.status = "approved".into();
        approved.decline_reason = None;
        approved.card_last4 = Some("1111".into());
        approved.at = T0 + 4;
        s.record_payment(&approved).await.unwrap();
        // The same key again (a retried charge) adds no row.
        s.record_payment(&approved).await.unwrap();
        s.confirm_booking(b, T0 + 5).await.unwrap();

        let bookings = s.bookings_for_call("call-77").await.unwrap();
        let refs: Vec<(&str, &str)> = bookings
            .iter()
            .map(|b| (b.reference.as_str(), b.status.as_str()))
            .collect();
        assert_eq!(refs, [("IVR77A", "cancelled"), ("IVR77B", "confirmed")]);
        assert_eq!(bookings[1].hold_expires_at, None);
        let payments = s.payments_for_call("call-77").await.unwrap();
        let keys: Vec<(&str, &str, Option<&str>)> = payments
            .iter()
            .map(|p| {
                (
                    p.idempotency_key.as_str(),
                    p.status.as_str(),
                    p.card_last4.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("call-77:pay:1", "declined", Some("0002")),
                ("call-77:pay:2", "approved", Some("1111"))
            ]
        );
        // The merchant reference is kept with each payment.
        assert!(
            payments
                .iter()
                .all(|p| p.reference.as_deref() == Some("INV-77"))
        );
    }
);

both_backends!(
    customer_pins_hashed_checked_and_locked_out,
    async |db: &TestDb| {
        use hotline_store::pins::{PIN_LOCKOUT_MS, PIN_MAX_FAILURES, PIN_WINDOW_MS};
        let s = &db.store;
        let ada = customer(s, "Ada Pin", "vip").await;
        let bob = customer(s, "Bob Pin", "standard").await;

        // Bad PINs and unknown customers are refused when set.
        for bad in ["123", "12a4", "1234567890123", ""] {
            assert!(matches!(
                s.set_customer_pin(ada, bad, T0).await,
                Err(Error::Invalid(_))
            ));
        }
        assert!(matches!(
            s.set_customer_pin(9_999_999, "1234", T0).await,
            Err(Error::NotFound(_))
        ));
        assert!(!s.has_customer_pin(ada).await.unwrap());
        s.set_customer_pin(ada, "7391", T0).await.unwrap();
        assert!(s.has_customer_pin(ada).await.unwrap());

        // Only a hash is stored.
        sqlx::any::install_default_drivers();
        let raw = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let hash: String =
            sqlx::query_scalar("SELECT pin_hash FROM customer_pins WHERE customer_id = $1")
                .bind(ada)
                .fetch_one(&raw)
                .await
                .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("7391"));

        // Right, wrong, no PIN, unknown customer.
        assert!(s.verify_customer_pin(ada, "7391", T0 + 1).await.unwrap());
        assert!(!s.verify_customer_pin(ada, "7392", T0 + 2).await.unwrap());
        assert!(!s.verify_customer_pin(bob, "7391", T0 + 3).await.unwrap());
        assert!(
            !s.verify_customer_pin(9_999_999, "7391", T0 + 4)
                .await
                .unwrap()
        );
        assert!(!s.verify_customer_pin(ada, "", T0 + 5).await.unwrap());
        assert!(
            !s.verify_customer_pin(ada, "not digits at all", T0 + 6)
                .await
                .unwrap()
        );
        // A success resets the count: these three failures do not add up with later ones.
        assert!(s.verify_customer_pin(ada, "7391", T0 + 7).await.unwrap());

        // Failures spread wider than the window never lock.
        let mut t = T0 + 10;
        for _ in 0..(PIN_MAX_FAILURES * 2) {
            assert!(!s.verify_customer_pin(ada, "0000", t).await.unwrap());
            t += PIN_WINDOW_MS / (PIN_MAX_FAILURES - 1) + 1;
        }
        assert_eq!(s.customer_pin_locked_until(ada, t).await.unwrap(), None);
        assert!(s.verify_customer_pin(ada, "7391", t).await.unwrap());

        // PIN_MAX_FAILURES within the window lock the PIN: even the right one fails.
        let start = t + 1;
        for i in 0..PIN_MAX_FAILURES {
            assert!(!s.verify_customer_pin(ada, "1111", start + i).await.unwrap());
        }
        let last = start + PIN_MAX_FAILURES - 1;
        assert_eq!(
            s.customer_pin_locked_until(ada, last).await.unwrap(),
            Some(last + PIN_LOCKOUT_MS)
        );
        assert!(!s.verify_customer_pin(ada, "7391", last + 1).await.unwrap());
        assert!(
            !s.verify_customer_pin(ada, "7391", last + PIN_LOCKOUT_MS - 1)
                .await
                .unwrap()
        );
        // Checks during the lock-out do not extend it.
        assert_eq!(
            s.customer_pin_locked_until(ada, last + 2).await.unwrap(),
            Some(last + PIN_LOCKOUT_MS)
        );
        // After it, the right PIN works again.
        assert!(
            s.verify_customer_pin(ada, "7391", last + PIN_LOCKOUT_MS)
                .await
                .unwrap()
        );

        // Checks racing each other get no extra guesses: of ten parallel wrong checks at
        // one instant, the lock-out stops the rest, and the right PIN then fails too.
        let t2 = last + PIN_LOCKOUT_MS + 10;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.verify_customer_pin(ada, "2222", t2).await.unwrap()
            }));
        }
        for t in tasks {
            assert!(!t.await.unwrap());
        }
        assert!(!s.verify_customer_pin(ada, "7391", t2 + 1).await.unwrap());
        assert!(
            s.customer_pin_locked_until(ada, t2 + 1)
                .await
                .unwrap()
                .is_some()
        );

        // A new PIN lifts the lock-out.
        s.set_customer_pin(ada, "4455", t2 + 2).await.unwrap();
        assert!(s.verify_customer_pin(ada, "4455", t2 + 3).await.unwrap());
        assert!(!s.verify_customer_pin(ada, "7391", t2 + 4).await.unwrap());
        raw.close().await;
    }
);
