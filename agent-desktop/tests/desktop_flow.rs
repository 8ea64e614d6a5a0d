//! The agent's day, driven through the UI by labels as a person would (egui_kittest): log in,
//! go ready, a screen pop shows the customer's name and open ticket, answer, wrap up with a
//! disposition, and the outcome reaches the database sink. Also: the outbox keeps an outcome
//! while the database is down and writes it later; call controls are enabled only when valid;
//! keyboard shortcuts; an unknown caller's new-customer form. CTI events are fed through the
//! state layer over the app's channels; no server is needed.

mod common;

use common::Desk;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use hotline_cti::{
    AfterWrapUp, AgentState, CallDirection, CallInfo, CallState, Command, Disposition, EndReason,
    Event, Pii, TicketId, UnixMillis,
};
use hotline_desktop::client::ClientRequest;
use hotline_desktop::outbox::SinkError;
use hotline_desktop::sample;

fn call_changed(state: CallState, end: Option<EndReason>, since: UnixMillis) -> Event {
    Event::CallChanged(CallInfo {
        call: sample::call(),
        direction: CallDirection::Inbound,
        state,
        peer: Pii::new("+441632960001".into()),
        muted: false,
        conference: false,
        queue: Some("billing".into()),
        consult_of: None,
        colleague: None,
        end_reason: end,
        since,
    })
}

fn agent(state: AgentState, since: UnixMillis) -> Event {
    Event::AgentStateChanged(sample::status(state, None, since.0))
}

fn disabled(desk: &Desk, label: &str) -> bool {
    desk.harness
        .get_by_label(label)
        .accesskit_node()
        .is_disabled()
}

/// Logs in through the login screen and feeds the switch's answer.
fn log_in(desk: &mut Desk) {
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::TextInput, "Agent id")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::TextInput, "Agent id")
        .type_text("1001");
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::PasswordInput, "Password")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::PasswordInput, "Password")
        .type_text("correct horse");
    desk.harness.run();
    desk.harness.get_by_label("Log in").click();
    desk.harness.run();
    let sent = desk.sent();
    assert!(
        matches!(&sent[..], [ClientRequest::Login { agent, password, url, .. }]
            if agent.as_str() == "1001" && password.expose() == "correct horse"
            && url == "ws://127.0.0.1:8080/cti"),
        "{sent:?}"
    );
    let wall = desk.wall();
    desk.feed(sample::login(wall));
}

/// Offers the sample call (known customer, open ticket T-881).
fn offer(desk: &mut Desk) {
    let wall = desk.wall();
    desk.event(agent(AgentState::Ringing, wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
}

/// Answer, talk, hang up; wrap-up starts.
fn talk_and_end(desk: &mut Desk, talk_secs: u64) {
    let wall = desk.wall();
    desk.event(call_changed(CallState::Connected, None, wall));
    desk.event(agent(AgentState::OnCall, wall));
    desk.advance(talk_secs);
    let wall = desk.wall();
    desk.event(call_changed(
        CallState::Ended,
        Some(EndReason::RemoteHangup),
        wall,
    ));
    desk.event(Event::WrapUpStarted {
        call: sample::call(),
        since: wall,
        limit_secs: Some(120),
    });
    desk.event(agent(AgentState::WrapUp, wall));
}

#[test]
fn login_ready_pop_answer_wrap_up_writes_the_outcome() {
    let mut desk = Desk::new();
    log_in(&mut desk);

    // The snapshot says not ready (break) since 95 s ago; the timer shows it.
    desk.harness.get_by_label("State: Not ready (break)");
    desk.harness.get_by_label("for 1:35");
    desk.harness.get_by_label("Connected");

    // Go ready.
    assert!(!disabled(&desk, "Ready"));
    desk.harness.get_by_label("Ready").click();
    desk.harness.run();
    assert_eq!(desk.sent_commands(), vec![Command::Ready]);
    let wall = desk.wall();
    desk.event(agent(AgentState::Ready, wall));
    desk.harness.get_by_label("State: Ready");
    assert!(disabled(&desk, "Ready"), "ready is not valid when ready");

    // The screen pop: name, open ticket, IVR input, a notification.
    offer(&mut desk);
    desk.harness.get_by_label("Incoming call");
    desk.harness.get_by_label("Ada Lovelace");
    desk.harness.get_by_label_contains("T-881 Late fee dispute");
    desk.harness.get_by_label("7700123");
    desk.harness
        .get_by_label("Incoming call from Ada Lovelace (Billing)");
    assert!(disabled(&desk, "Hold"), "hold is not valid while ringing");

    // Answer.
    desk.harness.get_by_label("Answer").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Answer {
            call: sample::call()
        }]
    );
    talk_and_end(&mut desk, 200);
    assert!(
        desk.harness
            .query_by_label("Incoming call from Ada Lovelace (Billing)")
            .is_none(),
        "the offer notification goes once the call is answered"
    );

    // Wrap-up: the timer runs, the form needs a disposition.
    desk.advance(30);
    desk.harness.get_by_label("Wrap-up time 0:30 of 2:00");
    assert!(disabled(&desk, "Submit wrap-up"), "disposition is required");
    desk.harness.get_by_label("resolved").click();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::MultilineTextInput, "Notes")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::MultilineTextInput, "Notes")
        .type_text("Waived the late fee once.");
    desk.harness.run();
    desk.harness
        .get_by_label("Update T-881: Late fee dispute")
        .click();
    desk.harness.run();
    desk.harness.get_by_label("solved").click();
    desk.harness.run();
    assert!(!disabled(&desk, "Submit wrap-up"));
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();

    // The outcome reached the database sink, keyed by call id.
    let row = desk
        .sink
        .get(&sample::call(), &sample::AGENT.into())
        .expect("outcome written");
    assert_eq!(row.disposition, Disposition::from("resolved"));
    assert_eq!(row.notes.expose(), "Waived the late fee once.");
    assert_eq!(row.wrap_up_ms, 30_000);
    assert_eq!(row.customer.as_ref().map(|c| c.as_str()), Some("cust-42"));
    let ticket = row.ticket.expect("ticket update");
    assert_eq!(ticket.ticket, Some(TicketId::from("T-881")));
    assert_eq!(ticket.status, hotline_cti::TicketStatus::Solved);
    assert_eq!(desk.sink.len(), 1);

    // The switch was told too, and the agent goes ready.
    let cmds = desk.sent_commands();
    assert!(
        matches!(&cmds[..], [Command::WrapUp { call, disposition, .. }, Command::EndWrapUp { then: AfterWrapUp::Ready }]
            if *call == sample::call() && disposition.as_str() == "resolved"),
        "{cmds:?}"
    );
    // The form is gone and the call is in the history with its disposition.
    assert!(desk.harness.query_by_label("Submit wrap-up").is_none());
    desk.harness.get_by_label("Call history").click();
    desk.harness.run();
    desk.harness
        .get_by_label_contains("In · Ada Lovelace · caller hung up · resolved");
    assert!(
        std::fs::read_to_string(&desk.outbox_path)
            .unwrap_or_default()
            .trim()
            .is_empty()
    );
}

#[test]
fn outbox_keeps_the_outcome_while_the_database_is_down_and_writes_it_later() {
    let mut desk = Desk::new();
    desk.sink
        .set_failing(Some(SinkError::Unavailable("connection refused".into())));
    log_in(&mut desk);
    offer(&mut desk);
    talk_and_end(&mut desk, 60);
    desk.harness.get_by_label("callback").click();
    desk.harness.run();
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();

    // Not in the database, but durable on disk and shown to the agent.
    assert!(desk.sink.is_empty());
    let file = std::fs::read_to_string(&desk.outbox_path).expect("outbox file");
    assert!(
        file.contains(sample::CALL) && file.contains("callback"),
        "{file}"
    );
    desk.harness
        .get_by_label("1 outcome(s) waiting for the database");

    // The database comes back; nothing happens before the retry is due (2 s).
    desk.sink.set_failing(None);
    desk.harness.run();
    assert!(desk.sink.is_empty(), "retried before the back-off");
    desk.advance(3);
    let row = desk
        .sink
        .get(&sample::call(), &sample::AGENT.into())
        .expect("written after the retry");
    assert_eq!(row.disposition.as_str(), "callback");
    assert!(
        desk.harness
            .query_by_label("1 outcome(s) waiting for the database")
            .is_none()
    );
    let file = std::fs::read_to_string(&desk.outbox_path).expect("outbox file");
    assert!(file.trim().is_empty(), "compacted: {file}");
}

#[test]
fn call_controls_follow_the_call_state() {
    let mut desk = Desk::new();
    log_in(&mut desk);
    offer(&mut desk);
    for label in ["Hold", "Resume", "Mute", "Complete transfer", "Conference"] {
        assert!(disabled(&desk, label), "{label} enabled while ringing");
    }
    assert!(!disabled(&desk, "Answer"));
    let wall = desk.wall();
    desk.event(call_changed(CallState::Connected, None, wall));
    assert!(disabled(&desk, "Answer"));
    assert!(!disabled(&desk, "Hold"));
    assert!(!disabled(&desk, "Mute"));
    assert!(disabled(&desk, "Resume"));
    // Transfer needs a target.
    assert!(disabled(&desk, "Transfer"));
    desk.harness
        .get_by_role_and_label(Role::TextInput, "Transfer target")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::TextInput, "Transfer target")
        .type_text("1002");
    desk.harness.run();
    assert!(!disabled(&desk, "Transfer"));
    desk.harness.get_by_label("Consult").click();
    desk.harness.run();
    let cmds = desk.sent_commands();
    assert!(
        matches!(&cmds[..], [Command::Consult { to: hotline_cti::TransferTarget::Agent { agent }, .. }] if agent.as_str() == "1002"),
        "{cmds:?}"
    );
    // The switch holds the caller and rings the consulted agent.
    desk.event(call_changed(CallState::Held, None, wall));
    desk.event(Event::CallChanged(CallInfo {
        call: "c-consult".into(),
        direction: CallDirection::Consult,
        state: CallState::Connected,
        peer: Pii::new("1002".into()),
        muted: false,
        conference: false,
        queue: None,
        consult_of: Some(sample::call()),
        colleague: None,
        end_reason: None,
        since: wall,
    }));
    // Controls still act on the caller's call.
    assert!(!disabled(&desk, "Complete transfer"));
    assert!(!disabled(&desk, "Cancel consult"));
    assert!(!disabled(&desk, "Conference"));
    assert!(
        disabled(&desk, "Resume"),
        "resume would strand the consultation"
    );
    // Losing the connection disables everything.
    desk.feed([hotline_desktop::client::ClientUpdate::Connection(
        hotline_desktop::client::ConnState::Reconnecting {
            attempt: 1,
            retry_in: std::time::Duration::from_secs(1),
            reason: "closed by the switch".into(),
        },
    )]);
    assert!(disabled(&desk, "Complete transfer"));
    assert!(disabled(&desk, "Hang up"));
    desk.harness
        .get_by_label_contains("Reconnecting (attempt 1");
}

#[test]
fn keyboard_shortcuts_answer_and_hang_up() {
    let mut desk = Desk::new();
    log_in(&mut desk);
    // F6 (hold) while ringing does nothing: not valid.
    offer(&mut desk);
    desk.harness.key_press(egui::Key::F6);
    desk.harness.run();
    assert!(desk.sent_commands().is_empty());
    desk.harness.key_press(egui::Key::F5);
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Answer {
            call: sample::call()
        }]
    );
    let wall = desk.wall();
    desk.event(call_changed(CallState::Connected, None, wall));
    desk.harness.key_press(egui::Key::F6);
    desk.harness.run();
    desk.harness.key_press(egui::Key::F8);
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![
            Command::Hold {
                call: sample::call()
            },
            Command::Hangup {
                call: sample::call()
            }
        ]
    );
}

#[test]
fn unknown_caller_pops_the_new_customer_form() {
    let mut desk = Desk::new();
    log_in(&mut desk);
    let wall = desk.wall();
    let mut pop = sample::screen_pop(wall);
    pop.customer = None;
    pop.new_customer_form = true;
    pop.ani = Pii::new("+441632960777".into());
    desk.event(Event::CallOffered(Box::new(pop)));
    desk.harness.get_by_label("Unknown caller");
    desk.harness
        .get_by_label("Incoming call from unknown caller +441632960777 (Billing)");
    talk_and_end(&mut desk, 10);
    desk.harness
        .get_by_role_and_label(Role::TextInput, "New customer name")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(Role::TextInput, "New customer name")
        .type_text("Grace Hopper");
    desk.harness.run();
    desk.harness.get_by_label("sale").click();
    desk.harness.run();
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();
    let row = desk
        .sink
        .get(&sample::call(), &sample::AGENT.into())
        .expect("written");
    let new = row.new_customer.expect("new customer");
    assert_eq!(new.name.expose(), "Grace Hopper");
    assert_eq!(new.number.expose(), "+441632960777");
    assert!(row.customer.is_none());
}

#[test]
fn forced_logout_returns_to_the_login_screen_with_the_reason() {
    let mut desk = Desk::new();
    log_in(&mut desk);
    desk.event(Event::LoggedOut {
        reason: hotline_cti::LogoutReason::Forced { by: "9001".into() },
    });
    desk.harness.get_by_label("Log in");
    desk.harness.get_by_label("Supervisor 9001 logged you out");
}

#[test]
fn a_caller_who_hangs_up_while_ringing_is_a_missed_call() {
    let mut desk = Desk::new();
    log_in(&mut desk);
    offer(&mut desk);
    let wall = desk.wall();
    desk.event(call_changed(
        CallState::Ended,
        Some(EndReason::RemoteHangup),
        wall,
    ));
    desk.harness
        .get_by_label("Missed call: Ada Lovelace hung up before it was answered");
    assert!(desk.harness.query_by_label("Incoming call").is_none());
    desk.harness.get_by_label("No call");
    // The next offer (another call) drops the stale pop.
    let mut next = sample::screen_pop(wall);
    next.call = "c-next".into();
    desk.event(Event::CallOffered(Box::new(next)));
    let pops: Vec<String> = desk
        .harness
        .state()
        .state
        .pops
        .keys()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(pops, ["c-next"]);
}

#[test]
fn an_offer_asks_the_window_for_attention_once() {
    let mut desk = Desk::new();
    log_in(&mut desk);
    let wall = desk.wall();
    let asked = |desk: &Desk| {
        desk.harness
            .output()
            .viewport_output
            .values()
            .flat_map(|v| v.commands.iter())
            .any(|c| {
                matches!(
                    c,
                    egui::ViewportCommand::RequestUserAttention(egui::UserAttentionType::Critical)
                )
            })
    };
    desk.updates
        .send(hotline_desktop::client::ClientUpdate::Event(
            Event::CallOffered(Box::new(sample::screen_pop(wall))),
        ))
        .expect("send");
    desk.harness.step();
    assert!(asked(&desk), "the offer should flash the window");
    desk.harness.step();
    assert!(!asked(&desk), "only once per offer");
}
