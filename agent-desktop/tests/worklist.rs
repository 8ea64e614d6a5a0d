//! The Work tab, used by labels: an agent of the support queue sees the support voicemail and
//! not the billing one; the customer opens like a search result; Play asks the switch to ring
//! her phone and says the switch's answer in words; Take and Close reach the shared database
//! (a SQLite file) as her changes, audited in the ticket's history, and a closed voicemail
//! leaves the list at the next load; a refused change is said and undone; the list reloads on
//! its own every 30 s while shown.

mod common;

use common::{Desk, T0};
use egui_kittest::kittest::{NodeT as _, Queryable};
use hotline_cti::{
    AgentId, Command, ErrorBody, ErrorCode, QueueId, Reply, TicketPriority, TicketStatus,
    UnixMillis,
};
use hotline_desktop::client::ClientUpdate;
use hotline_desktop::directory::{Directory, MemoryDirectory, WorkCustomer, WorkKind, WorkLine};
use hotline_desktop::outbox::{MemorySink, SinkError, TicketEdit};
use hotline_desktop::sample;
use hotline_desktop::store_sink::{StoreDirectory, StoreSink};
use hotline_store::{NewCustomer, NewVoicemail, Store, StoreOptions};

/// The sample login, working only the `support` queue.
fn login_support(wall: UnixMillis) -> Vec<ClientUpdate> {
    let mut updates = sample::login(wall);
    if let Some(ClientUpdate::LoggedIn { profile, .. }) = updates.first_mut() {
        profile.queues = vec![QueueId::new("support")];
    }
    updates
}

fn voicemail(ticket: &str, queue: &str, subject: &str, created: u64) -> WorkLine {
    WorkLine {
        ticket: ticket.into(),
        kind: WorkKind::Voicemail,
        subject: subject.into(),
        customer: None,
        queue: Some(QueueId::new(queue)),
        status: TicketStatus::Open,
        priority: TicketPriority::Normal,
        assignee: None,
        created: UnixMillis(created),
        updated: UnixMillis(created),
        due: None,
        has_recording: true,
    }
}

fn disabled(desk: &Desk, label: &str) -> bool {
    desk.harness
        .get_by_label(label)
        .accesskit_node()
        .is_disabled()
}

/// Two voicemails, one per queue; the support one from the sample customer.
fn memory_desk() -> (Desk, MemorySink) {
    let mut dir: MemoryDirectory = Desk::sample_directory();
    let customer = dir.customers[0].clone();
    let mut support = voicemail("7", "support", "Router keeps rebooting", T0.0 - 600_000);
    support.customer = Some(WorkCustomer {
        id: customer.id.clone(),
        name: Some(customer.name.clone()),
    });
    dir.work.push(support);
    dir.work.push(voicemail(
        "8",
        "billing",
        "Question about an invoice",
        T0.0 - 900_000,
    ));
    let sink = MemorySink::new();
    let desk = Desk::with_directory(sink.clone(), Box::new(sink.clone()), Box::new(dir));
    (desk, sink)
}

#[test]
fn support_agent_sees_her_queue_and_plays_a_voicemail() {
    let (mut desk, sink) = memory_desk();
    let wall = desk.wall();
    desk.feed(login_support(wall));
    desk.harness.get_by_label("Work").click();
    desk.harness.run();

    desk.harness.get_by_label("Router keeps rebooting");
    desk.harness.get_by_label("Voicemail");
    desk.harness.get_by_label("waiting 10:00");
    desk.harness.get_by_label("nobody holds it");
    assert!(
        desk.harness
            .query_by_label("Question about an invoice")
            .is_none(),
        "the billing voicemail is not hers"
    );

    // The customer opens like a search result does.
    desk.harness.get_by_label("Ada Lovelace").click();
    desk.harness.run();
    assert_eq!(
        desk.harness
            .state()
            .state
            .opened
            .as_ref()
            .map(|c| c.id.as_str()),
        Some("cust-42")
    );

    // Play: the switch is asked to ring her phone with ticket 7's message.
    desk.sent();
    desk.harness.get_by_label("Play").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::PlayRecording { ticket: "7".into() }]
    );
    desk.feed([ClientUpdate::Reply {
        kind: "play_recording",
        call: None,
        result: Err(ErrorBody::new(
            ErrorCode::InvalidState,
            "the recording of ticket 7 is not on the switch",
        )),
    }]);
    desk.harness
        .get_by_label("Play the message failed: the recording of ticket 7 is not on the switch");
    desk.feed([ClientUpdate::Reply {
        kind: "play_recording",
        call: None,
        result: Ok(Reply::Dialing {
            call: "c-play-1".into(),
        }),
    }]);
    desk.harness
        .get_by_label("Your phone will ring with the message");
    assert!(
        desk.harness
            .query_by_label_contains("Play the message failed")
            .is_none()
    );

    // Take: written through the outbox as hers, and the row says so at once.
    desk.harness.get_by_label("Take").click();
    desk.harness.run();
    let changes = sink.ticket_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].ticket.as_str(), "7");
    assert_eq!(changes[0].agent, AgentId::new(sample::AGENT));
    assert_eq!(changes[0].edit, TicketEdit::Take);
    desk.harness.get_by_label("yours (1001)");
    assert!(disabled(&desk, "Take"), "already hers");
}

#[test]
fn play_is_disabled_without_a_recording_and_says_why() {
    let mut dir = MemoryDirectory::default();
    let mut vm = voicemail("9", "support", "Silent message", T0.0 - 60_000);
    vm.has_recording = false;
    dir.work.push(vm);
    let sink = MemorySink::new();
    let mut desk = Desk::with_directory(sink.clone(), Box::new(sink), Box::new(dir));
    let wall = desk.wall();
    desk.feed(login_support(wall));
    desk.harness.get_by_label("Work").click();
    desk.harness.run();
    assert!(disabled(&desk, "Play"));
    desk.harness.get_by_label("Play").hover();
    desk.harness.run();
    desk.harness.get_by_label("This voicemail has no recording");
}

/// A take the database refuses is said on the tab, and the line shows the ticket as the
/// database has it again.
#[test]
fn a_refused_take_is_said_and_undone() {
    let (mut desk, sink) = memory_desk();
    let wall = desk.wall();
    desk.feed(login_support(wall));
    desk.harness.get_by_label("Work").click();
    desk.harness.run();
    sink.set_failing(Some(SinkError::Rejected("ticket 7 is closed".into())));
    desk.harness.get_by_label("Take").click();
    desk.harness.run();
    desk.harness
        .get_by_label("The database refused the change to ticket 7: ticket 7 is closed");
    desk.harness.get_by_label("nobody holds it");
    assert!(!disabled(&desk, "Take"));
    assert!(sink.ticket_changes().is_empty());
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A SQLite database with a customer and a voicemail in each of support and billing; returns
/// the URL and the support voicemail's ticket id.
fn seeded(dir: &std::path::Path) -> (String, i64) {
    let url = format!("sqlite://{}", dir.join("hotline.db").display());
    let ticket = rt().block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        let customer = store
            .create_customer(
                &NewCustomer {
                    display_name: "Grace Hopper".into(),
                    tier: "gold".into(),
                    ..NewCustomer::default()
                },
                1,
            )
            .await
            .expect("customer");
        let at = i64::try_from(T0.0).expect("ms") - 1_200_000;
        let support = store
            .file_voicemail(&NewVoicemail {
                call_id: "c-vm-1".into(),
                queue: "support".into(),
                subject: "Voicemail: router".into(),
                caller: "+441632960002".into(),
                customer_id: Some(customer),
                recording: "vm-c-vm-1.wav".into(),
                duration_ms: 14_000,
                due_at: None,
                at,
            })
            .await
            .expect("voicemail");
        store
            .file_voicemail(&NewVoicemail {
                call_id: "c-vm-2".into(),
                queue: "billing".into(),
                subject: "Voicemail: invoice".into(),
                caller: "+441632960003".into(),
                customer_id: None,
                recording: "vm-c-vm-2.wav".into(),
                duration_ms: 9_000,
                due_at: None,
                at,
            })
            .await
            .expect("voicemail");
        store.close().await;
        support
    });
    (url, ticket)
}

/// The directory over the real store: a voicemail filed by the switch comes back as a line of
/// the agent of its queue, with its customer's name and its recording; not for another queue.
#[test]
fn store_directory_reads_a_filed_voicemail_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, ticket) = seeded(dir.path());
    let mut directory = StoreDirectory::open(&url).expect("directory");
    let agent = AgentId::new("1001");
    let lines = directory
        .worklist(&agent, &[QueueId::new("support")])
        .expect("worklist");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line.ticket.as_str(), ticket.to_string());
    assert_eq!(line.kind, WorkKind::Voicemail);
    assert_eq!(line.subject, "Voicemail: router");
    assert_eq!(line.queue, Some(QueueId::new("support")));
    assert_eq!(line.status, TicketStatus::Open);
    assert_eq!(line.assignee, None);
    assert!(line.has_recording);
    assert_eq!(
        line.customer
            .as_ref()
            .and_then(|c| c.name.as_ref())
            .map(|n| n.expose().as_str()),
        Some("Grace Hopper")
    );
    let both = directory
        .worklist(&agent, &[QueueId::new("support"), QueueId::new("billing")])
        .expect("worklist");
    assert_eq!(both.len(), 2);
    assert_eq!(both[1].customer, None, "the billing caller is unknown");
    assert!(
        directory
            .worklist(&agent, &[])
            .expect("worklist")
            .is_empty(),
        "no queues, nothing assigned: nothing"
    );
}

/// Take and Close from the Work tab against the real database: the ticket is hers, audited as
/// her change; once closed the next load no longer lists it.
#[test]
fn take_and_close_reach_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, ticket) = seeded(dir.path());
    let sink = StoreSink::open(&url).expect("sink");
    let directory = StoreDirectory::open(&url).expect("directory");
    let mut desk = Desk::with_directory(MemorySink::new(), Box::new(sink), Box::new(directory));
    let wall = desk.wall();
    desk.feed(login_support(wall));
    desk.harness.get_by_label("Work").click();
    desk.harness.run();
    desk.harness.get_by_label("Voicemail: router");
    desk.harness.get_by_label("Grace Hopper");
    assert!(desk.harness.query_by_label("Voicemail: invoice").is_none());

    desk.harness.get_by_label("Take").click();
    desk.harness.run();
    desk.harness.get_by_label("yours (1001)");
    let (item, history) = rt().block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        let item = store.work_item(ticket).await.expect("read");
        let history = store.ticket_history(ticket).await.expect("history");
        store.close().await;
        (item, history)
    });
    let item = item.expect("ticket exists");
    assert_eq!(item.ticket.assignee.as_deref(), Some("1001"));
    assert!(
        history
            .iter()
            .any(|c| c.field == "assignee" && c.actor.as_deref() == Some("1001")),
        "audited as hers: {history:?}"
    );

    desk.harness.get_by_label("Close").click();
    desk.harness.run();
    assert!(
        desk.harness.query_by_label("Voicemail: router").is_none(),
        "a closed voicemail leaves the list at the next load"
    );
    desk.harness.get_by_label_contains("Nothing waiting");
    let item = rt().block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        let item = store.work_item(ticket).await.expect("read");
        store.close().await;
        item
    });
    assert_eq!(item.map(|i| i.ticket.status).as_deref(), Some("solved"));
}

/// While the Work tab is shown the list reloads every 30 s (on the injected clock), so a
/// voicemail filed meanwhile appears without a click; hidden, it does not reload.
#[test]
fn the_list_reloads_every_30_seconds_while_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _) = seeded(dir.path());
    let directory = StoreDirectory::open(&url).expect("directory");
    let sink = MemorySink::new();
    let mut desk = Desk::with_directory(sink.clone(), Box::new(sink), Box::new(directory));
    let wall = desk.wall();
    desk.feed(login_support(wall));
    desk.harness.get_by_label("Work").click();
    desk.harness.run();
    desk.harness.get_by_label("Voicemail: router");

    rt().block_on(async {
        let store = Store::open(&url, StoreOptions::default())
            .await
            .expect("open");
        store
            .file_voicemail(&NewVoicemail {
                call_id: "c-vm-3".into(),
                queue: "support".into(),
                subject: "Voicemail: outage".into(),
                caller: String::new(),
                customer_id: None,
                recording: "vm-c-vm-3.wav".into(),
                duration_ms: 5_000,
                due_at: None,
                at: i64::try_from(T0.0).expect("ms"),
            })
            .await
            .expect("voicemail");
        store.close().await;
    });
    desk.advance(10);
    assert!(desk.harness.query_by_label("Voicemail: outage").is_none());
    desk.advance(21);
    desk.harness.get_by_label("Voicemail: outage");
    desk.harness.get_by_label("unknown caller");
}

/// The screen pop suggests the knowledge base's articles for the call's queue (issue 17): the
/// title first, its first paragraph when opened; another queue's articles are not shown.
#[test]
fn the_pop_suggests_articles_for_the_call_queue() {
    use hotline_cti::Event;
    use hotline_desktop::directory::ArticleLine;
    let mut dir: MemoryDirectory = Desk::sample_directory();
    dir.articles.insert(
        QueueId::new("billing"),
        vec![ArticleLine {
            id: 3,
            title: "Pay an invoice by phone".into(),
            excerpt: "Offer the billing menu: account number, PIN, then the card.".into(),
            helpful: 4,
        }],
    );
    dir.articles.insert(
        QueueId::new("support"),
        vec![ArticleLine {
            id: 9,
            title: "Router keeps rebooting".into(),
            excerpt: "Check the power supply first.".into(),
            helpful: 0,
        }],
    );
    let sink = MemorySink::new();
    let mut desk = Desk::with_directory(sink.clone(), Box::new(sink), Box::new(dir));
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    desk.harness.run();
    desk.harness.run();
    desk.harness.get_by_label("Suggested answers");
    desk.harness.get_by_label("Pay an invoice by phone").click();
    desk.harness.run();
    desk.harness
        .get_by_label("Offer the billing menu: account number, PIN, then the card.");
    desk.harness.get_by_label("4 agents found this helpful");
    assert!(
        desk.harness
            .query_by_label("Router keeps rebooting")
            .is_none(),
        "another queue's article"
    );
}

/// The pop says when the caller's birthday is today (issue 17), in the centre's calendar.
#[test]
fn the_pop_says_a_birthday_today() {
    use hotline_cti::{Event, Pii};
    let sink = MemorySink::new();
    let mut desk = Desk::with_directory(
        sink.clone(),
        Box::new(sink),
        Box::new(Desk::sample_directory()),
    );
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    let mut pop = sample::screen_pop(wall);
    let today = hotline_desktop::reports::format_day(i64::try_from(wall.0).unwrap_or(0));
    let born = format!("1980{}", &today[4..]);
    if let Some(c) = pop.customer.as_mut() {
        c.birthday = Some(Pii::new(born));
    }
    desk.event(Event::CallOffered(Box::new(pop)));
    desk.harness.run();
    desk.harness.get_by_label("Birthday today");
}
