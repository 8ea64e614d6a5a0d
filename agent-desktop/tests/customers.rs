//! Customer search and records in the desktop, by labels: find a customer, open the record,
//! see a ticket's history, click-to-dial a number from the record, and link an unknown caller's
//! number to an existing customer so the outcome (and the link) are written for that customer.

mod common;

use common::Desk;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use hotline_cti::{AgentState, CallState, Command, EndReason, Event, Pii};
use hotline_desktop::sample;

fn search(desk: &mut Desk, text: &str) {
    desk.harness
        .get_by_role_and_label(Role::TextInput, "Find customer")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::TextInput, "Find customer")
        .type_text(text);
    desk.harness.run();
    desk.harness.get_by_label("Search").click();
    desk.harness.run();
}

#[test]
fn search_open_record_ticket_history_and_click_to_dial() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    search(&mut desk, "lovelace");
    desk.harness.get_by_label("Ada Lovelace (gold)").click();
    desk.harness.run();
    desk.harness.get_by_label("Ada Lovelace"); // the record's heading
    desk.harness.get_by_label_contains("T-881 Late fee dispute");

    desk.harness.get_by_label("History T-881").click();
    desk.harness.run();
    desk.harness.get_by_label("Ticket T-881 history");
    desk.harness
        .get_by_label("1:00:00 ago · 1003 · status: open -> pending");

    let call = desk.harness.get_by_label("Call +441632960001");
    assert!(!call.accesskit_node().is_disabled());
    call.click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::OutboundCall {
            number: Pii::new("+441632960001".into()),
            customer: Some("cust-42".into()),
        }]
    );

    // Nothing found is said so.
    desk.harness.get_by_label("Close record").click();
    desk.harness.run();
    assert!(desk.harness.query_by_label("Ada Lovelace").is_none());
    search(&mut desk, "zzz"); // "lovelacezzz"
    desk.harness.get_by_label("No customer found");
}

#[test]
fn an_unknown_caller_is_linked_to_an_existing_customer() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    let mut pop = sample::screen_pop(wall);
    pop.customer = None;
    pop.new_customer_form = true;
    pop.ani = Pii::new("+441632960777".into());
    desk.event(Event::AgentStateChanged(sample::status(
        AgentState::Ringing,
        None,
        wall.0,
    )));
    desk.event(Event::CallOffered(Box::new(pop)));
    desk.harness.get_by_label("Unknown caller");

    search(&mut desk, "ada");
    desk.harness
        .get_by_label("Link Ada Lovelace to caller")
        .click();
    desk.harness.run();
    desk.harness
        .get_by_label("The number will be linked to Ada Lovelace");

    let info = |state, end| {
        Event::CallChanged(hotline_cti::CallInfo {
            call: sample::call(),
            direction: hotline_cti::CallDirection::Inbound,
            state,
            peer: Pii::new("+441632960777".into()),
            muted: false,
            conference: false,
            queue: Some("billing".into()),
            consult_of: None,
            colleague: None,
            end_reason: end,
            since: wall,
        })
    };
    desk.event(info(CallState::Connected, None));
    desk.event(info(CallState::Ended, Some(EndReason::RemoteHangup)));
    desk.event(Event::WrapUpStarted {
        call: sample::call(),
        since: wall,
        limit_secs: None,
    });
    desk.harness.get_by_label("sale").click();
    desk.harness.run();
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();

    let row = desk
        .sink
        .get(&sample::call(), &sample::AGENT.into())
        .expect("written");
    let link = row.link_customer.expect("link");
    assert_eq!(link.customer.as_str(), "cust-42");
    assert_eq!(link.number.expose(), "+441632960777");
    assert_eq!(row.customer.as_ref().map(|c| c.as_str()), Some("cust-42"));
    assert!(row.new_customer.is_none());
}
