//! Messages between agents on the desktop (issue 17): a message received is said in the
//! notification area and listed under the message box, confirmed to the switch
//! (`ack_messages`), and not shown twice when the switch delivers it again after a reconnect;
//! writing to a colleague by id, to the supervisors (no id) or to everyone (`*`) sends
//! `send_message`; Send is disabled with a reason while the text is empty.

mod common;

use common::Desk;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use hotline_cti::{AgentId, Command, Event, MessageTarget, Pii, Reply, UnixMillis};
use hotline_desktop::client::ClientUpdate;
use hotline_desktop::sample;

fn message(id: &str, text: &str, to: MessageTarget, at: UnixMillis) -> Event {
    Event::MessageReceived {
        id: id.into(),
        from: AgentId::new("1003"),
        from_name: "Carol Agent".into(),
        to,
        text: Pii::new(text.into()),
        at,
    }
}

fn type_into(desk: &mut Desk, label: &str, text: &str) {
    desk.harness
        .get_by_role_and_label(Role::TextInput, label)
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    desk.harness.run();
}

#[test]
fn a_message_is_shown_once_and_confirmed() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk.sent();
    let to_me = MessageTarget::Agent {
        agent: AgentId::new("1001"),
    };
    desk.event(message(
        "17",
        "Lovelace callback at 3?",
        to_me.clone(),
        wall,
    ));
    desk.harness.run();
    desk.harness
        .get_by_label("Message from Carol Agent: Lovelace callback at 3?");
    assert_eq!(
        desk.sent_commands(),
        vec![Command::AckMessages {
            ids: vec!["17".into()]
        }]
    );
    // Delivered again (a new login before the confirmation reached the switch): confirmed
    // again, not shown twice.
    desk.event(message("17", "Lovelace callback at 3?", to_me, wall));
    desk.harness.run();
    assert_eq!(desk.harness.state().state.messages.len(), 1);
    assert_eq!(
        desk.sent_commands(),
        vec![Command::AckMessages {
            ids: vec!["17".into()]
        }]
    );
}

#[test]
fn writing_to_a_colleague_and_to_the_supervisors() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk.harness.run();
    assert!(
        desk.harness
            .get_by_label("Send")
            .accesskit_node()
            .is_disabled(),
        "nothing written yet"
    );
    type_into(&mut desk, "To", "1002");
    type_into(&mut desk, "Message", "Can you cover my queue?");
    desk.sent();
    desk.harness.get_by_label("Send").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::SendMessage {
            to: MessageTarget::Agent {
                agent: AgentId::new("1002")
            },
            text: Pii::new("Can you cover my queue?".into()),
        }]
    );
    desk.feed([ClientUpdate::Reply {
        kind: "send_message",
        call: None,
        result: Ok(Reply::Done),
    }]);
    desk.harness.get_by_label("Message sent");
    // No recipient: the supervisors.
    desk.harness
        .get_by_role_and_label(Role::TextInput, "To")
        .focus();
    desk.harness.run();
    desk.harness.state_mut().forms.message_to.clear();
    type_into(&mut desk, "Message", "Need a hand");
    desk.harness.get_by_label("Send").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::SendMessage {
            to: MessageTarget::Supervisors,
            text: Pii::new("Need a hand".into()),
        }]
    );
}

/// A supervisor's message to everyone stays on top until the agent acknowledges it; only then
/// is it confirmed to the switch (a new login before that brings it back, shown once).
#[test]
fn an_announcement_stays_until_acknowledged() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk.sent();
    desk.event(message(
        "40",
        "System maintenance at 22:00",
        MessageTarget::Everyone,
        wall,
    ));
    desk.event(message(
        "40",
        "System maintenance at 22:00",
        MessageTarget::Everyone,
        wall,
    ));
    desk.harness.run();
    desk.harness
        .get_by_label("Announcement from Carol Agent (0:00 ago): System maintenance at 22:00");
    assert_eq!(desk.harness.state().state.announcements.len(), 1);
    assert!(
        desk.sent_commands().is_empty(),
        "not confirmed before it is seen"
    );
    desk.harness.get_by_label("Got it").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::AckMessages {
            ids: vec!["40".into()]
        }]
    );
    assert!(
        desk.harness
            .query_by_label("Announcement from Carol Agent (0:00 ago): System maintenance at 22:00")
            .is_none()
    );
}
