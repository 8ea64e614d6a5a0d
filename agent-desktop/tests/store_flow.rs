//! The desktop against the real shared database (hotline-store on a SQLite file): an agent
//! wraps up through the UI and the outcome row, the updated ticket and a new customer are in
//! the database, joined by call id; a refused disposition is reported, not retried; an
//! unreachable database keeps the record in the outbox.

mod common;

use common::Desk;
use egui_kittest::kittest::Queryable;
use hotline_cti::{CallDirection, CallInfo, CallState, EndReason, Event, Pii, UnixMillis};
use hotline_desktop::outbox::{MemorySink, OutcomeRecord, OutcomeSink, SinkError};
use hotline_desktop::sample;
use hotline_desktop::store_sink::StoreSink;
use hotline_store::{Disposition, Identity, NewCustomer, NewTicket, Store, StoreOptions};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A SQLite database with the dispositions, the sample customer and its open ticket.
/// Returns the URL and the ticket's id.
fn seeded(dir: &std::path::Path) -> (String, i64) {
    let url = format!("sqlite://{}", dir.join("hotline.db").display());
    let rt = rt();
    let ticket = rt.block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        for code in ["resolved", "callback", "escalated", "sale"] {
            store
                .upsert_disposition(&Disposition {
                    code: code.into(),
                    label: code.into(),
                    resolved: code == "resolved",
                })
                .await
                .expect("disposition");
        }
        let customer = store
            .create_customer(
                &NewCustomer {
                    display_name: "Ada Lovelace".into(),
                    tier: "gold".into(),
                    ..NewCustomer::default()
                },
                1,
            )
            .await
            .expect("customer");
        store
            .link_identity(
                customer,
                &Identity::phone("+441632960001").expect("phone"),
                "seed",
                true,
                1,
            )
            .await
            .expect("identity");
        let ticket = store
            .create_ticket(&NewTicket {
                customer_id: Some(customer),
                subject: "Late fee dispute".into(),
                priority: "high".into(),
                at: 1,
                ..NewTicket::default()
            })
            .await
            .expect("ticket");
        store.close().await;
        ticket
    });
    (url, ticket)
}

#[test]
fn wrap_up_in_the_ui_writes_outcome_and_ticket_to_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, ticket_id) = seeded(dir.path());
    let sink = StoreSink::open(&url).expect("sink");
    let mut desk = Desk::with_sink(MemorySink::new(), Box::new(sink));

    let wall = desk.wall();
    desk.feed(sample::login(wall));
    let mut pop = sample::screen_pop(wall);
    // The switch sends store ids as text.
    if let Some(c) = pop.customer.as_mut() {
        c.id = "1".into();
        c.open_tickets[0].id = ticket_id.to_string().as_str().into();
    }
    desk.event(Event::CallOffered(Box::new(pop)));
    let ended = UnixMillis(wall.0 + 90_000);
    desk.event(Event::CallChanged(CallInfo {
        call: sample::call(),
        direction: CallDirection::Inbound,
        state: CallState::Ended,
        peer: Pii::new("+441632960001".into()),
        muted: false,
        conference: false,
        queue: Some("billing".into()),
        consult_of: None,
        colleague: None,
        end_reason: Some(EndReason::RemoteHangup),
        since: ended,
    }));
    desk.event(Event::WrapUpStarted {
        call: sample::call(),
        since: desk.wall(),
        limit_secs: None,
    });
    desk.advance(20);
    desk.harness.get_by_label("resolved").click();
    desk.harness.run();
    desk.harness
        .get_by_label(&format!("Update {ticket_id}: Late fee dispute"))
        .click();
    desk.harness.run();
    desk.harness.get_by_label("solved").click();
    desk.harness.run();
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();
    assert!(
        desk.harness
            .query_by_label_contains("waiting for the database")
            .is_none(),
        "the write should have succeeded"
    );

    let rt = rt();
    rt.block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        let rows = store
            .outcomes_for_call(sample::CALL)
            .await
            .expect("outcomes");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].agent_id, sample::AGENT);
        assert_eq!(rows[0].disposition, "resolved");
        assert_eq!(rows[0].wrapup_ms, 20_000);
        assert_eq!(rows[0].ticket_id, Some(ticket_id));
        let ticket = store
            .ticket(ticket_id)
            .await
            .expect("read")
            .expect("ticket");
        assert_eq!(ticket.status, "solved");
    });
}

fn record(disposition: &str) -> OutcomeRecord {
    OutcomeRecord {
        call: "c-77".into(),
        agent: "1001".into(),
        disposition: disposition.into(),
        notes: Pii::new("n".into()),
        wrap_up_ms: 1,
        customer: None,
        ticket: Some(hotline_cti::TicketDraft {
            ticket: None,
            subject: "New issue".into(),
            body: Pii::new("details".into()),
            status: hotline_cti::TicketStatus::Open,
            priority: hotline_cti::TicketPriority::Normal,
        }),
        new_customer: Some(hotline_desktop::outbox::NewCustomer {
            name: Pii::new("Grace Hopper".into()),
            number: Pii::new("+441632960777".into()),
        }),
        link_customer: None,
        at: UnixMillis(5),
    }
}

#[test]
fn repeated_writes_are_idempotent_and_bad_dispositions_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = seeded(dir.path());
    let mut sink = StoreSink::open(&url).expect("sink");
    // The outbox may write the same record twice (crash between write and "done").
    sink.write(&record("sale")).expect("first write");
    sink.write(&record("sale")).expect("second write");
    assert!(matches!(
        sink.write(&OutcomeRecord {
            call: "c-78".into(),
            ..record("no-such-disposition")
        }),
        Err(SinkError::Rejected(_))
    ));
    drop(sink);
    rt().block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        let rows = store.outcomes_for_call("c-77").await.expect("rows");
        assert_eq!(rows.len(), 1, "one outcome row per call and agent");
        let customer = store
            .find_customer(&Identity::phone("+441632960777").expect("phone"))
            .await
            .expect("lookup")
            .expect("new customer linked to the number");
        let view = store
            .customer_view_by_id(customer)
            .await
            .expect("view")
            .expect("exists");
        assert_eq!(view.customer.display_name, "Grace Hopper");
        assert_eq!(view.open_tickets.len(), 1, "one ticket despite two writes");
    });
}

#[test]
fn an_unreachable_database_is_unavailable_not_refused() {
    // Nothing listens on port 1 of the loopback address.
    let mut sink = StoreSink::open("postgres://hotline@127.0.0.1:1/hotline").expect("sink");
    assert!(matches!(
        sink.write(&record("sale")),
        Err(SinkError::Unavailable(_))
    ));
}

#[test]
fn the_directory_reads_customers_and_ticket_history_and_links_numbers() {
    use hotline_desktop::directory::Directory;
    use hotline_desktop::outbox::LinkCustomer;
    use hotline_desktop::store_sink::StoreDirectory;

    let dir = tempfile::tempdir().expect("tempdir");
    let (url, ticket_id) = seeded(dir.path());
    let mut directory = StoreDirectory::open(&url).expect("directory");
    let hits = directory.search("lovelace").expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name.expose(), "Ada Lovelace");
    let view = directory
        .customer(&hits[0].id)
        .expect("read")
        .expect("exists");
    assert_eq!(view.tier, "gold");
    assert_eq!(view.open_tickets.len(), 1);
    assert!(
        view.identities
            .iter()
            .any(|i| i.value.expose() == "+441632960001")
    );

    // Link an unknown number to Ada through an outcome, and solve her ticket.
    let mut sink = StoreSink::open(&url).expect("sink");
    let mut rec = record("resolved");
    rec.new_customer = None;
    rec.link_customer = Some(LinkCustomer {
        customer: hits[0].id.clone(),
        number: Pii::new("+441632960888".into()),
    });
    rec.ticket = Some(hotline_cti::TicketDraft {
        ticket: Some(ticket_id.to_string().as_str().into()),
        subject: "Late fee dispute".into(),
        body: Pii::new("waived".into()),
        status: hotline_cti::TicketStatus::Solved,
        priority: hotline_cti::TicketPriority::High,
    });
    sink.write(&rec).expect("write");
    sink.write(&rec)
        .expect("write again: linking twice is a no-op");

    let found = directory.search("+441632960888").expect("search by number");
    assert_eq!(found.len(), 1, "the new number finds Ada");
    let history = directory
        .ticket_history(&ticket_id.to_string().as_str().into())
        .expect("history");
    assert!(
        history
            .iter()
            .any(|c| c.field == "status" && c.new.as_deref() == Some("solved")),
        "{history:?}"
    );
}

/// Numbers as agents type them (issue 14): a UK centre (+44) searching Ada's number in national
/// format with spaces, and by its last digits, through the desktop's directory over SQLite.
#[test]
fn the_directory_finds_numbers_in_national_format_and_in_part() {
    use hotline_desktop::directory::Directory;
    use hotline_desktop::store_sink::StoreDirectory;

    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = seeded(dir.path());
    let mut directory = StoreDirectory::open(&url)
        .expect("directory")
        .with_country_code("44");
    for typed in ["01632 960001", "01632-960-001", "960001", "960 001"] {
        let hits = directory.search(typed).expect("search");
        assert_eq!(
            hits.iter()
                .map(|h| h.name.expose().as_str())
                .collect::<Vec<_>>(),
            vec!["Ada Lovelace"],
            "{typed}"
        );
    }
    // Before (no country code, exact E.164 only) none of these found anyone.
    let mut plain = StoreDirectory::open(&url).expect("directory");
    assert!(
        plain.search("960 001").expect("search").len() == 1,
        "suffix works without a country"
    );
    assert!(
        plain.search("01632 960001").expect("search").is_empty(),
        "national needs the country"
    );
}
