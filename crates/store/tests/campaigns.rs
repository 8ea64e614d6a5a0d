//! Outbound campaigns' data, on SQLite and (when `HOTLINE_TEST_PG_URL` is set) on PostgreSQL:
//! campaigns and their status moves, a CSV import with good and bad rows (the exact report),
//! do-not-call lists (global and per campaign, added after an import, removed with an audit),
//! lists built from customers (birthday, tier not contacted, trip with no follow-up),
//! idempotent attempts with callbacks, and the live board's counters.

mod common;

use common::TestDb;
use hotline_store::*;

const T0: Millis = 1_780_000_000_000;
const DAY: Millis = 86_400_000;

fn settings() -> CampaignSettings {
    CampaignSettings {
        country_code: Some("49".into()),
        caller_id: Some("+4930900900".into()),
        ..CampaignSettings::default()
    }
}

async fn campaign(s: &Store, name: &str) -> Campaign {
    s.create_campaign(
        &NewCampaign {
            name: name.into(),
            mode: DialMode::Progressive,
            settings: settings(),
        },
        T0,
    )
    .await
    .expect("create campaign")
}

async fn customer(s: &Store, name: &str, tier: &str, birthday: Option<&str>) -> CustomerId {
    s.create_customer(
        &NewCustomer {
            display_name: name.into(),
            tier: tier.into(),
            birthday: birthday.map(str::to_string),
            ..Default::default()
        },
        T0,
    )
    .await
    .expect("customer")
}

async fn phone(s: &Store, c: CustomerId, number: &str) {
    s.link_identity(c, &Identity::phone(number).unwrap(), "test", true, T0)
        .await
        .expect("phone");
}

fn num(n: &str) -> E164 {
    E164::parse(n, None).expect("number")
}

async fn dnc(s: &Store, scope: DncScope, number: &str, source: DncSource) -> DncEntry {
    s.add_dnc(
        &NewDncEntry {
            scope,
            number: number.into(),
            source,
            added_by: "admin".into(),
            note: String::new(),
        },
        T0,
    )
    .await
    .expect("add dnc")
}

/// A call the customer had at `at` (only its arrival and identification).
async fn call_at(s: &Store, id: &str, c: CustomerId, at: Millis) {
    for (seq, kind) in [
        CallEventKind::Arrived {
            direction: Direction::Outbound,
            ani: "+4930900900".into(),
            dnis: "+4930111".into(),
        },
        CallEventKind::Identified { customer_id: c },
    ]
    .into_iter()
    .enumerate()
    {
        s.record_call_event(&CallEvent {
            call_id: id.into(),
            seq: seq as i64,
            at,
            kind,
        })
        .await
        .expect("call event");
    }
}

both_backends!(campaign_lifecycle, async |db: &TestDb| {
    let s = &db.store;
    let c = campaign(s, "Renewals").await;
    assert_eq!(
        (c.status, c.mode),
        (CampaignStatus::Draft, DialMode::Progressive)
    );
    assert_eq!(s.campaign(c.id).await.unwrap(), Some(c.clone()));
    // A name in use, and settings a dialler cannot honour, are refused.
    let again = s
        .create_campaign(
            &NewCampaign {
                name: " Renewals ".into(),
                mode: DialMode::Preview,
                settings: settings(),
            },
            T0,
        )
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let short_ring = s
        .create_campaign(
            &NewCampaign {
                name: "Short".into(),
                mode: DialMode::Preview,
                settings: CampaignSettings {
                    ring_seconds: 10,
                    ..settings()
                },
            },
            T0,
        )
        .await;
    assert!(
        matches!(short_ring, Err(Error::Invalid(_))),
        "{short_ring:?}"
    );

    // Updating keeps what is not given.
    let updated = s
        .update_campaign(
            c.id,
            &CampaignUpdate {
                mode: Some(DialMode::Ratio),
                settings: Some(CampaignSettings {
                    lines_per_agent: 2.5,
                    ..settings()
                }),
                ..Default::default()
            },
            T0 + 1,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.mode,
            updated.settings.lines_per_agent
        ),
        ("Renewals", DialMode::Ratio, 2.5)
    );
    assert_eq!(updated.updated_at, T0 + 1);

    // Without a caller id a campaign cannot run; draft cannot pause; stopped is final.
    let silent = s
        .create_campaign(
            &NewCampaign {
                name: "No CLI".into(),
                mode: DialMode::Preview,
                settings: CampaignSettings {
                    caller_id: None,
                    ..settings()
                },
            },
            T0,
        )
        .await
        .unwrap();
    let run = s
        .set_campaign_status(silent.id, CampaignStatus::Running, T0)
        .await;
    assert!(matches!(run, Err(Error::Conflict(_))), "{run:?}");
    let pause = s
        .set_campaign_status(c.id, CampaignStatus::Paused, T0)
        .await;
    assert!(matches!(pause, Err(Error::Conflict(_))), "{pause:?}");
    for st in [
        CampaignStatus::Running,
        CampaignStatus::Paused,
        CampaignStatus::Running,
        CampaignStatus::Stopped,
    ] {
        assert_eq!(
            s.set_campaign_status(c.id, st, T0 + 2)
                .await
                .unwrap()
                .status,
            st
        );
    }
    let restart = s
        .set_campaign_status(c.id, CampaignStatus::Running, T0 + 3)
        .await;
    assert!(matches!(restart, Err(Error::Conflict(_))), "{restart:?}");
    let edit = s
        .update_campaign(
            c.id,
            &CampaignUpdate {
                name: Some("Later".into()),
                ..Default::default()
            },
            T0 + 3,
        )
        .await;
    assert!(matches!(edit, Err(Error::Conflict(_))), "{edit:?}");

    // Pages by status and id.
    let stopped = s
        .campaigns_page(Some(CampaignStatus::Stopped), None, 10)
        .await
        .unwrap();
    assert_eq!(stopped.iter().map(|c| c.id).collect::<Vec<_>>(), vec![c.id]);
    let all = s.campaigns_page(None, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    let after = s.campaigns_page(None, Some(c.id), 10).await.unwrap();
    assert_eq!(
        after.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![silent.id]
    );
    let missing = s
        .set_campaign_status(CampaignId(999_999), CampaignStatus::Running, T0)
        .await;
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
});

both_backends!(csv_import_reports_every_row, async |db: &TestDb| {
    let s = &db.store;
    let c = campaign(s, "Spring").await;
    let other = campaign(s, "Autumn").await;
    let ada = customer(s, "Ada", "gold", None).await;
    dnc(s, DncScope::Global, "+49 30 3333333", DncSource::Admin).await;
    dnc(
        s,
        DncScope::Campaign(c.id),
        "+49 30 4444444",
        DncSource::Import,
    )
    .await;
    s.add_campaign_contact(
        c.id,
        &NewCampaignContact {
            number: "030 5555555".into(),
            ..Default::default()
        },
        T0,
    )
    .await
    .expect("manual contact");

    // By hand: the same number again, a number on a list, an unknown customer are refused.
    let by_hand = async |number: &str, customer| {
        s.add_campaign_contact(
            c.id,
            &NewCampaignContact {
                number: number.into(),
                customer,
                ..Default::default()
            },
            T0,
        )
        .await
    };
    let twice = by_hand("+49 30 5555555", None).await;
    assert!(matches!(twice, Err(Error::Conflict(_))), "{twice:?}");
    let listed = by_hand("+49 30 4444444", None).await;
    assert!(matches!(listed, Err(Error::Conflict(_))), "{listed:?}");
    let nobody = by_hand("+49 30 5555556", Some(999_999)).await;
    assert!(matches!(nobody, Err(Error::NotFound(_))), "{nobody:?}");

    let csv = format!(
        "Number,Name,customer_id,time_zone,priority,Plan\r\n\
         +49 30 1111111,Ada,{ada},Europe/Berlin,5,gold\r\n\
         030 2222222,Bob,,,,\r\n\
         030 2222222,Bob again,,,,\r\n\
         not-a-number,Carl,,,,\r\n\
         ,Dora,,,,\r\n\
         +49 30 3333333,Eve,,,,\r\n\
         +49 30 4444444,Fay,,,,\r\n\
         +49 30 5555555,Gus,,,,\r\n\
         +49 30 6666666,Hal,999999,,,\r\n\
         +49 30 7777777,Ida,,Mars/ Base,,\r\n\
         +49 30 8888888,Jo,,,high,\r\n\
         \r\n\
         +49 30 9999999,\"Kay, K.\",,,,\"say \"\"hi\"\"\"\r\n\
         +49 30 1231234,Lu\r\n"
    );
    let report = s
        .import_contacts_csv(c.id, &csv, T0 + 10)
        .await
        .expect("import");
    let loaded_rows: Vec<usize> = report.loaded.iter().map(|l| l.row).collect();
    assert_eq!(loaded_rows, vec![2, 3, 14]);
    let refused = |row, reason| RefusedRow { row, reason };
    assert_eq!(
        report.refused,
        vec![
            refused(4, ImportRefusal::DuplicateInList { first_row: 3 }),
            refused(
                5,
                ImportRefusal::BadNumber {
                    value: "not-a-number".into()
                }
            ),
            refused(
                6,
                ImportRefusal::MissingValue {
                    column: "number".into()
                }
            ),
            refused(
                7,
                ImportRefusal::DoNotCall {
                    scope: DncScope::Global
                }
            ),
            refused(
                8,
                ImportRefusal::DoNotCall {
                    scope: DncScope::Campaign(c.id)
                }
            ),
            refused(9, ImportRefusal::DuplicateInCampaign),
            refused(10, ImportRefusal::UnknownCustomer { customer: 999_999 }),
            refused(
                11,
                ImportRefusal::BadValue {
                    column: "time_zone".into(),
                    value: "Mars/ Base".into()
                }
            ),
            refused(
                12,
                ImportRefusal::BadValue {
                    column: "priority".into(),
                    value: "high".into()
                }
            ),
            refused(
                15,
                ImportRefusal::FieldCount {
                    expected: 6,
                    found: 2
                }
            ),
        ]
    );

    // What was stored is what the report says, with every column in its place.
    let first = s
        .campaign_contact(report.loaded[0].contact)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(first.number.as_str(), "+49301111111");
    assert_eq!(
        (
            first.customer,
            first.name.as_deref(),
            first.time_zone.as_deref(),
            first.priority
        ),
        (Some(ada), Some("Ada"), Some("Europe/Berlin"), 5)
    );
    assert_eq!(first.extra.get("plan"), Some(&serde_json::json!("gold")));
    assert_eq!(
        (first.state.clone(), first.attempts),
        (ContactState::Pending, 0)
    );
    let kay = s
        .campaign_contact(report.loaded[2].contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kay.name.as_deref(), Some("Kay, K."));
    assert_eq!(
        kay.extra.get("plan"),
        Some(&serde_json::json!("say \"hi\""))
    );
    let bob = s
        .campaign_contact(report.loaded[1].contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.number.as_str(), "+49302222222");
    assert!(bob.extra.is_empty(), "empty values are left out");
    let stored = s.campaign_contacts_page(c.id, None, 100).await.unwrap();
    assert_eq!(stored.len(), 4, "three imported and one added by hand");

    // The campaign's own list does not bind another campaign; the global one does.
    let elsewhere = s
        .import_contacts_csv(
            other.id,
            "number;name\n+49 30 4444444;Fay\n+49 30 3333333;Eve\n",
            T0,
        )
        .await
        .unwrap();
    assert_eq!(elsewhere.loaded.len(), 1);
    assert_eq!(elsewhere.loaded[0].row, 2);
    assert_eq!(
        elsewhere.refused,
        vec![refused(
            3,
            ImportRefusal::DoNotCall {
                scope: DncScope::Global
            }
        )]
    );

    // Whole-file problems are errors, and write nothing.
    for bad in [
        "",
        "name,phone\nAda,+4930111\n",
        "number,name,Name\n+4930111,a,b\n",
        "number,name\n+49301212121,\"Ada\n",
    ] {
        let r = s.import_contacts_csv(c.id, bad, T0).await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{bad:?}: {r:?}");
    }
    assert_eq!(
        s.campaign_contacts_page(c.id, None, 100)
            .await
            .unwrap()
            .len(),
        4
    );
    // A stopped campaign takes no more contacts.
    s.set_campaign_status(other.id, CampaignStatus::Stopped, T0)
        .await
        .unwrap();
    let late = s
        .import_contacts_csv(other.id, "number\n+4930123123\n", T0)
        .await;
    assert!(matches!(late, Err(Error::Conflict(_))), "{late:?}");
});

both_backends!(do_not_call_lists, async |db: &TestDb| {
    let s = &db.store;
    let a = campaign(s, "A").await;
    let b = campaign(s, "B").await;
    let report = s
        .import_contacts_csv(a.id, "number\n+4930100100\n+4930200200\n", T0)
        .await
        .unwrap();
    assert_eq!(report.loaded.len(), 2);
    s.set_campaign_status(a.id, CampaignStatus::Running, T0)
        .await
        .unwrap();
    let first = num("+4930100100");
    assert!(!s.is_dnc(a.id, &first).await.unwrap());

    // The customer asks at wrap-up not to be called by this campaign: after the import.
    let entry = s
        .add_dnc(
            &NewDncEntry {
                scope: DncScope::Campaign(a.id),
                number: "0049 30 100100".into(),
                source: DncSource::CustomerRequest,
                added_by: "alice".into(),
                note: "asked at wrap-up".into(),
            },
            T0 + 5,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            entry.number.as_str(),
            entry.source,
            entry.added_by.as_str(),
            entry.added_at
        ),
        ("+4930100100", DncSource::CustomerRequest, "alice", T0 + 5)
    );
    assert!(s.is_dnc(a.id, &first).await.unwrap());
    assert!(!s.is_dnc(b.id, &first).await.unwrap(), "only campaign A's");
    // Adding it again keeps the first entry.
    let again = dnc(s, DncScope::Campaign(a.id), "+4930100100", DncSource::Admin).await;
    assert_eq!(again, entry);
    // The dialler cannot start an attempt on it any more.
    let start = s
        .start_attempt(&NewAttempt {
            contact: report.loaded[0].contact,
            attempt_no: 1,
            started_at: T0 + 6,
            call_id: None,
            agent: None,
        })
        .await;
    assert!(matches!(start, Err(Error::Conflict(_))), "{start:?}");

    // The global list binds every campaign.
    let second = num("+4930200200");
    dnc(s, DncScope::Global, "+4930200200", DncSource::Admin).await;
    assert!(s.is_dnc(a.id, &second).await.unwrap());
    assert!(s.is_dnc(b.id, &second).await.unwrap());
    assert_eq!(
        s.dnc_match(None, &second).await.unwrap(),
        Some(DncScope::Global)
    );
    assert_eq!(s.dnc_match(None, &first).await.unwrap(), None);

    // Removal keeps the entry, with who, when and why; the number may be called again.
    let removed = s
        .remove_dnc(
            DncScope::Campaign(a.id),
            &first,
            "bob",
            "customer consented",
            T0 + 9,
        )
        .await
        .unwrap();
    assert_eq!(
        removed.removed,
        Some(DncRemoval {
            at: T0 + 9,
            by: "bob".into(),
            reason: "customer consented".into()
        })
    );
    assert!(!s.is_dnc(a.id, &first).await.unwrap());
    let gone = s
        .remove_dnc(DncScope::Campaign(a.id), &first, "bob", "again", T0 + 10)
        .await;
    assert!(matches!(gone, Err(Error::NotFound(_))), "{gone:?}");
    let in_force = s
        .dnc_page(DncScope::Campaign(a.id), None, 10, false)
        .await
        .unwrap();
    assert!(in_force.is_empty());
    let history = s
        .dnc_page(DncScope::Campaign(a.id), None, 10, true)
        .await
        .unwrap();
    assert_eq!(history, vec![removed.clone()]);
    // Put back later: a new entry, the old one stays in the history.
    let back = dnc(s, DncScope::Campaign(a.id), "+4930100100", DncSource::Admin).await;
    assert_ne!(back.id, removed.id);
    assert!(s.is_dnc(a.id, &first).await.unwrap());
    let global = s.dnc_page(DncScope::Global, None, 10, true).await.unwrap();
    assert_eq!(global.len(), 1);
    // Paging by id.
    let page = s
        .dnc_page(DncScope::Campaign(a.id), Some(removed.id), 10, true)
        .await
        .unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![back.id]);

    let bad = s
        .add_dnc(
            &NewDncEntry {
                scope: DncScope::Campaign(CampaignId(999_999)),
                number: "+4930100100".into(),
                source: DncSource::Admin,
                added_by: "admin".into(),
                note: String::new(),
            },
            T0,
        )
        .await;
    assert!(matches!(bad, Err(Error::NotFound(_))), "{bad:?}");
});

both_backends!(lists_from_customers, async |db: &TestDb| {
    let s = &db.store;
    let c = campaign(s, "Greetings").await;
    // Birthday list on 2027-03-14.
    let ann = customer(s, "Ann", "standard", Some("1990-03-14")).await;
    phone(s, ann, "+4930500001").await;
    let ben = customer(s, "Ben", "standard", Some("1985-03-14")).await;
    let cat = customer(s, "Cat", "gold", Some("1970-03-14")).await;
    phone(s, cat, "+4930500003").await;
    dnc(s, DncScope::Global, "+4930500003", DncSource::Admin).await;
    let dan = customer(s, "Dan", "standard", Some("1970-03-15")).await;
    phone(s, dan, "+4930500004").await;
    let leap = customer(s, "Eli", "standard", Some("2000-02-29")).await;
    phone(s, leap, "+4930500005").await;

    let on = CustomerList::BirthdayOn {
        on: CalendarDate::new(2027, 3, 14).unwrap(),
    };
    let report = s.add_customer_list(c.id, &on, T0).await.unwrap();
    assert_eq!(
        report.added.iter().map(|a| a.customer).collect::<Vec<_>>(),
        vec![ann]
    );
    assert_eq!(
        report.refused,
        vec![
            ListRefused {
                customer: ben,
                reason: ListRefusal::NoNumber
            },
            ListRefused {
                customer: cat,
                reason: ListRefusal::DoNotCall {
                    scope: DncScope::Global
                }
            },
        ]
    );
    let added = s
        .campaign_contact(report.added[0].contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (added.number.as_str(), added.name.as_deref(), added.customer),
        ("+4930500001", Some("Ann"), Some(ann))
    );
    assert_eq!(
        added.extra.get("list"),
        Some(&serde_json::json!("birthday"))
    );
    // Built again, nobody is added twice.
    let again = s.add_customer_list(c.id, &on, T0).await.unwrap();
    assert!(again.added.is_empty());
    assert!(again.refused.contains(&ListRefused {
        customer: ann,
        reason: ListRefusal::AlreadyInCampaign
    }));
    // Born on 29 February: greeted on 28 February of a common year, not of a leap year.
    let feb28 = |year| CustomerList::BirthdayOn {
        on: CalendarDate::new(year, 2, 28).unwrap(),
    };
    let leap_year = s.add_customer_list(c.id, &feb28(2028), T0).await.unwrap();
    assert!(leap_year.added.is_empty() && leap_year.refused.is_empty());
    let common_year = s.add_customer_list(c.id, &feb28(2027), T0).await.unwrap();
    assert_eq!(
        common_year
            .added
            .iter()
            .map(|a| a.customer)
            .collect::<Vec<_>>(),
        vec![leap]
    );

    // Gold customers not contacted for 30 days.
    let now = T0 + 100 * DAY;
    let quiet = customer(s, "Quiet", "gold", None).await;
    phone(s, quiet, "+4930600001").await;
    call_at(s, "old-call", quiet, now - 40 * DAY).await;
    let recent = customer(s, "Recent", "gold", None).await;
    phone(s, recent, "+4930600002").await;
    call_at(s, "new-call", recent, now - 5 * DAY).await;
    let silver = customer(s, "Silver", "silver", None).await;
    phone(s, silver, "+4930600003").await;
    let idle = CustomerList::TierNotContactedSince {
        tier: "gold".into(),
        since: now - 30 * DAY,
    };
    let report = s.add_customer_list(c.id, &idle, now).await.unwrap();
    assert_eq!(
        report.added.iter().map(|a| a.customer).collect::<Vec<_>>(),
        vec![quiet]
    );
    // Cat (gold, never called) is matched too, and refused for the do-not-call list.
    assert_eq!(
        report.refused,
        vec![ListRefused {
            customer: cat,
            reason: ListRefusal::DoNotCall {
                scope: DncScope::Global
            }
        }]
    );
    let unknown = s
        .add_customer_list(
            c.id,
            &CustomerList::TierNotContactedSince {
                tier: "platinum".into(),
                since: now,
            },
            now,
        )
        .await;
    assert!(matches!(unknown, Err(Error::Invalid(_))), "{unknown:?}");

    // Travelled three days ago (the day [now - 3 days, now - 2 days)) with no call since.
    let trip_start = now - 3 * DAY + 3_600_000;
    let flight = s
        .upsert_item(&NewItem {
            sku: "LH-400".into(),
            name: "Frankfurt - New York".into(),
            description: String::new(),
            starts_at: Some(trip_start),
            price_minor: 50_000,
            currency: "EUR".into(),
            capacity: 10,
        })
        .await
        .unwrap();
    let later = s
        .upsert_item(&NewItem {
            sku: "LH-401".into(),
            name: "New York - Frankfurt".into(),
            description: String::new(),
            starts_at: Some(now + DAY),
            price_minor: 50_000,
            currency: "EUR".into(),
            capacity: 10,
        })
        .await
        .unwrap();
    let book = async |who: CustomerId, item, reference: &str, confirm: bool| {
        let id = s
            .hold_booking(who, item, None, reference, now, now - 10 * DAY)
            .await
            .unwrap();
        if confirm {
            s.confirm_booking(id, now - 10 * DAY).await.unwrap();
        }
    };
    let flew = customer(s, "Flew", "standard", None).await;
    phone(s, flew, "+4930700001").await;
    book(flew, flight, "PNR1", true).await;
    let followed = customer(s, "Followed", "standard", None).await;
    phone(s, followed, "+4930700002").await;
    book(followed, flight, "PNR2", true).await;
    call_at(s, "follow-up", followed, trip_start + DAY).await;
    let held_only = customer(s, "Held", "standard", None).await;
    phone(s, held_only, "+4930700003").await;
    book(held_only, flight, "PNR3", false).await;
    let not_yet = customer(s, "NotYet", "standard", None).await;
    phone(s, not_yet, "+4930700004").await;
    book(not_yet, later, "PNR4", true).await;
    let travelled = CustomerList::ServedBetweenNoFollowUp {
        from: now - 3 * DAY,
        until: now - 2 * DAY,
    };
    let report = s.add_customer_list(c.id, &travelled, now).await.unwrap();
    assert_eq!(
        report.added.iter().map(|a| a.customer).collect::<Vec<_>>(),
        vec![flew]
    );
    assert!(report.refused.is_empty());
});

both_backends!(attempts_are_idempotent_and_counted, async |db: &TestDb| {
    let s = &db.store;
    let c = campaign(s, "Board").await;
    let report = s
        .import_contacts_csv(
            c.id,
            "number,name\n+4930800001,One\n+4930800002,Two\n+4930800003,Three\n+4930800004,Four\n",
            T0,
        )
        .await
        .unwrap();
    let ids: Vec<CampaignContactId> = report.loaded.iter().map(|l| l.contact).collect();
    let now = T0 + 50 * DAY;
    let today = now - 10 * 3_600_000;
    let start = |contact, attempt_no, started_at| NewAttempt {
        contact,
        attempt_no,
        started_at,
        call_id: Some(format!("call-{contact}-{attempt_no}")),
        agent: None,
    };
    // Not running yet: no attempt.
    let early = s.start_attempt(&start(ids[0], 1, now - DAY)).await;
    assert!(matches!(early, Err(Error::Conflict(_))), "{early:?}");
    s.set_campaign_status(c.id, CampaignStatus::Running, T0)
        .await
        .unwrap();

    // Contact 1: busy yesterday, retried today and sold.
    let first = s.start_attempt(&start(ids[0], 1, now - DAY)).await.unwrap();
    assert_eq!(
        s.start_attempt(&start(ids[0], 1, now - DAY)).await.unwrap(),
        first,
        "the same start twice is one attempt"
    );
    let moved = s.start_attempt(&start(ids[0], 1, now - DAY + 1)).await;
    assert!(matches!(moved, Err(Error::Conflict(_))), "{moved:?}");
    let dialling = s.campaign_contact(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (dialling.state, dialling.attempts),
        (ContactState::Dialling, 1)
    );
    let parallel = s.start_attempt(&start(ids[0], 2, now - DAY)).await;
    assert!(matches!(parallel, Err(Error::Conflict(_))), "{parallel:?}");
    let end = AttemptEnd {
        contact: ids[0],
        attempt_no: 1,
        ended_at: now - DAY + 20_000,
        outcome: AttemptOutcome::Busy,
        agent: None,
        then: ContactState::Scheduled {
            at: now - DAY + 15 * 60_000,
            owner: None,
        },
    };
    let ended = s.finish_attempt(&end).await.unwrap();
    assert_eq!(
        ended.result,
        Some(AttemptResult {
            ended_at: now - DAY + 20_000,
            outcome: AttemptOutcome::Busy
        })
    );
    assert_eq!(s.finish_attempt(&end).await.unwrap(), ended, "idempotent");
    let rewrite = s
        .finish_attempt(&AttemptEnd {
            outcome: AttemptOutcome::NoAnswer,
            ..end.clone()
        })
        .await;
    assert!(matches!(rewrite, Err(Error::Conflict(_))), "{rewrite:?}");
    let retry = s.campaign_contact(ids[0]).await.unwrap().unwrap();
    assert_eq!(retry.state, end.then);
    assert_eq!(retry.last_outcome, Some(AttemptOutcome::Busy));
    // Due by now, best first; not before its time.
    let due = s.due_contacts(c.id, now, 10).await.unwrap();
    assert!(due.iter().any(|d| d.id == ids[0]));
    let due_early = s.due_contacts(c.id, now - DAY, 10).await.unwrap();
    assert!(!due_early.iter().any(|d| d.id == ids[0]));
    let skipped = s.start_attempt(&start(ids[0], 3, now - 100)).await;
    assert!(matches!(skipped, Err(Error::Conflict(_))), "{skipped:?}");
    s.start_attempt(&start(ids[0], 2, now - 100)).await.unwrap();
    let sale = AttemptOutcome::Completed {
        disposition: "sale".into(),
    };
    s.finish_attempt(&AttemptEnd {
        contact: ids[0],
        attempt_no: 2,
        ended_at: now,
        outcome: sale.clone(),
        agent: Some("alice".into()),
        then: ContactState::Done,
    })
    .await
    .unwrap();
    let attempts = s.contact_attempts(ids[0]).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].agent.as_deref(), Some("alice"));
    assert_eq!(attempts[1].call_id, Some(format!("call-{}-2", ids[0])));
    assert_eq!(attempts[1].result.as_ref().map(|r| &r.outcome), Some(&sale));
    let done = s.start_attempt(&start(ids[0], 3, now)).await;
    assert!(matches!(done, Err(Error::Conflict(_))), "{done:?}");

    // Contact 2: abandoned today; the customer then books a callback with Bob.
    s.start_attempt(&start(ids[1], 1, now - 50)).await.unwrap();
    let callback = ContactState::Scheduled {
        at: now + 2 * DAY,
        owner: Some("bob".into()),
    };
    let busy = s
        .schedule_callback(ids[1], now + 2 * DAY, Some("bob"), now)
        .await;
    assert!(matches!(busy, Err(Error::Conflict(_))), "{busy:?}");
    s.finish_attempt(&AttemptEnd {
        contact: ids[1],
        attempt_no: 1,
        ended_at: now - 40,
        outcome: AttemptOutcome::Abandoned,
        agent: None,
        then: ContactState::Pending,
    })
    .await
    .unwrap();
    let booked = s
        .schedule_callback(ids[1], now + 2 * DAY, Some("bob"), now)
        .await
        .unwrap();
    assert_eq!(booked.state, callback);
    assert_eq!(
        s.agent_callbacks("bob", now + 3 * DAY)
            .await
            .unwrap()
            .iter()
            .map(|k| k.id)
            .collect::<Vec<_>>(),
        vec![ids[1]]
    );
    assert!(s.agent_callbacks("bob", now).await.unwrap().is_empty());
    let due = s.due_contacts(c.id, now + 3 * DAY, 10).await.unwrap();
    assert!(
        !due.iter().any(|d| d.id == ids[1]),
        "an agent's callback is not for the dialler"
    );

    // Contact 4: one attempt 40 days ago (outside the 30-day window).
    s.start_attempt(&start(ids[3], 1, now - 40 * DAY))
        .await
        .unwrap();
    s.finish_attempt(&AttemptEnd {
        contact: ids[3],
        attempt_no: 1,
        ended_at: now - 40 * DAY + 30_000,
        outcome: AttemptOutcome::NoAnswer,
        agent: None,
        then: ContactState::Pending,
    })
    .await
    .unwrap();
    // An attempt of another campaign is not counted.
    let other = campaign(s, "Other").await;
    let theirs = s
        .import_contacts_csv(other.id, "number\n+4930800001\n", T0)
        .await
        .unwrap();
    s.set_campaign_status(other.id, CampaignStatus::Running, T0)
        .await
        .unwrap();
    s.start_attempt(&start(theirs.loaded[0].contact, 1, now - 10))
        .await
        .unwrap();

    let counters = s.campaign_counters(c.id, today, now).await.unwrap();
    assert_eq!(
        counters,
        CampaignCounters {
            today: DialCounts {
                dialled: 2,
                connected: 1,
                abandoned: 1
            },
            last_30_days: DialCounts {
                dialled: 3,
                connected: 1,
                abandoned: 1
            },
            contacts_total: 4,
            contacts_left: 3,
            contacts_attempted: 3,
        }
    );
    assert_eq!(counters.penetration_percent(), 75.0);
    assert_eq!(counters.today.abandon_percent(), 50.0);
    let empty = s
        .campaign_counters(CampaignId(999_999), today, now)
        .await
        .unwrap();
    assert_eq!(empty, CampaignCounters::default());
    let unknown = s
        .finish_attempt(&AttemptEnd {
            contact: ids[2],
            attempt_no: 1,
            ended_at: now,
            outcome: AttemptOutcome::Busy,
            agent: None,
            then: ContactState::Done,
        })
        .await;
    assert!(matches!(unknown, Err(Error::NotFound(_))), "{unknown:?}");
});

both_backends!(large_import_spans_batches, async |db: &TestDb| {
    let s = &db.store;
    let c = campaign(s, "Big").await;
    // 1,201 rows: three insert batches; row r (line r + 1) has number +4930 1000000 + r.
    let number = |r: usize| format!("+4930{}", 1_000_000 + r);
    dnc(s, DncScope::Campaign(c.id), &number(700), DncSource::Import).await;
    let mut csv = String::from("number,ref\n");
    for r in 1..=1_201 {
        csv.push_str(&format!("{},ref-{r}\n", number(r)));
    }
    let report = s.import_contacts_csv(c.id, &csv, T0).await.unwrap();
    assert_eq!(report.loaded.len(), 1_200);
    assert_eq!(
        report.refused,
        vec![RefusedRow {
            row: 701,
            reason: ImportRefusal::DoNotCall {
                scope: DncScope::Campaign(c.id)
            }
        }]
    );
    // Each loaded row became the contact with its own number, across batch boundaries.
    for i in [0, 499, 500, 501, 999, 1_000, 1_199] {
        let loaded = report.loaded[i];
        let contact = s.campaign_contact(loaded.contact).await.unwrap().unwrap();
        let r = loaded.row - 1;
        assert_eq!(contact.number.as_str(), number(r), "row {}", loaded.row);
        assert_eq!(
            contact.extra.get("ref"),
            Some(&serde_json::json!(format!("ref-{r}")))
        );
    }
    // The same file again: every row is now a duplicate in the campaign, or on the list.
    let again = s.import_contacts_csv(c.id, &csv, T0).await.unwrap();
    assert!(again.loaded.is_empty());
    assert_eq!(again.refused.len(), 1_201);
    assert_eq!(
        again
            .refused
            .iter()
            .filter(|r| r.reason == ImportRefusal::DuplicateInCampaign)
            .count(),
        1_200
    );
});
