//! What an agent meets every hour (issue 14, items 2 to 7), through the UI by labels: numbers
//! typed in national format are dialled in E.164 and Enter dials; a consult to a busy colleague
//! and an unanswered outbound call say why, where the agent acted; refused commands collapse
//! into one line per kind with a count and go once the condition passed; Answer on a desk phone
//! is disabled with the reason; Reject is enabled only while a call offered from a queue rings,
//! says why otherwise, sends `reject` (button and F4) and the agent then sees the not-ready
//! reason; the wrap-up form names its caller and call, stays with its call
//! when the next call arrives, takes the outcome after the switch ended the wrap-up without an
//! error, says which field is missing, and its "Afterwards" row is not cut off; the reason
//! picker follows the state; the call timer does not restart; help requests are confirmed; a
//! consulted agent sees who consults them about which caller; internal calls name the colleague.

mod common;

use common::Desk;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable};
use hotline_cti::{
    AgentState, CallDirection, CallId, CallInfo, CallState, Command, EndReason, ErrorBody,
    ErrorCode, Event, Pii, Reply, UnixMillis,
};
use hotline_desktop::client::{ClientRequest, ClientUpdate};
use hotline_desktop::numbers::DialPlan;
use hotline_desktop::sample;

fn info(
    call: &str,
    direction: CallDirection,
    state: CallState,
    peer: &str,
    end: Option<EndReason>,
    since: UnixMillis,
) -> Event {
    Event::CallChanged(CallInfo {
        call: call.into(),
        direction,
        state,
        peer: Pii::new(peer.into()),
        muted: false,
        conference: false,
        queue: None,
        consult_of: None,
        colleague: None,
        end_reason: end,
        since,
    })
}

fn agent(state: AgentState, reason: Option<&str>, since: UnixMillis) -> Event {
    Event::AgentStateChanged(sample::status(state, reason, since.0))
}

fn logged_in(plan: &str) -> Desk {
    let mut desk = Desk::new();
    desk.harness.state_mut().state.dial_plan = DialPlan::new(plan);
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    desk
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

fn disabled(desk: &Desk, label: &str) -> bool {
    desk.harness
        .get_by_label(label)
        .accesskit_node()
        .is_disabled()
}

fn count(desk: &Desk, label: &str) -> usize {
    desk.harness.query_all_by_label_contains(label).count()
}

/// Item 2: the Dial box takes a national number with dashes and Enter dials it in E.164.
#[test]
fn dial_box_takes_national_numbers_and_enter_dials() {
    let mut desk = logged_in("1");
    type_into(&mut desk, "Number to dial", "212-555-0113");
    desk.harness.key_press(egui::Key::Enter);
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::OutboundCall {
            number: Pii::new("+12125550113".into()),
            customer: None,
        }]
    );
    // A +86 centre: a mobile number in groups, by the Call button.
    let mut desk = logged_in("86");
    type_into(&mut desk, "Number to dial", "138 0013 8000");
    desk.harness.get_by_label("Call").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::OutboundCall {
            number: Pii::new("+8613800138000".into()),
            customer: None,
        }]
    );
    // Up to five digits: a colleague's extension.
    let mut desk = logged_in("86");
    type_into(&mut desk, "Number to dial", "1002");
    desk.harness.key_press(egui::Key::Enter);
    desk.harness.run();
    assert!(matches!(
        &desk.sent_commands()[..],
        [Command::InternalCall { .. }]
    ));
}

/// Item 3: failures of calls the agent placed are said in words, where the agent acted.
#[test]
fn a_busy_colleague_and_an_unanswered_number_are_said_in_words() {
    let mut desk = logged_in("1");
    let wall = desk.wall();
    // The agent is on a customer call and consults extension 1002, who is busy.
    desk.event(info(
        "c-1",
        CallDirection::Inbound,
        CallState::Connected,
        "+441632960001",
        None,
        wall,
    ));
    desk.event(info(
        "c-2",
        CallDirection::Consult,
        CallState::Dialing,
        "1002",
        None,
        wall,
    ));
    desk.event(info(
        "c-2",
        CallDirection::Consult,
        CallState::Ended,
        "1002",
        Some(EndReason::Rejected),
        wall,
    ));
    let busy = desk.harness.get_by_label("1002 is busy");
    // Under the call controls (left panel), not in the notification area at the bottom.
    let b = busy.accesskit_node().bounding_box().expect("drawn");
    let controls = desk
        .harness
        .get_by_label("Call controls")
        .accesskit_node()
        .bounding_box()
        .expect("drawn");
    assert!(b.x0 < 400.0 && b.y0 > controls.y0, "{b:?} {controls:?}");

    // An outbound call nobody answers: said under the Dial box with the time it rang.
    let mut desk = logged_in("1");
    let wall = desk.wall();
    desk.event(info(
        "c-3",
        CallDirection::Outbound,
        CallState::Dialing,
        "+12125550113",
        None,
        wall,
    ));
    desk.advance(30);
    let later = desk.wall();
    desk.event(info(
        "c-3",
        CallDirection::Outbound,
        CallState::Ended,
        "+12125550113",
        Some(EndReason::NotAnswered),
        later,
    ));
    let msg = desk
        .harness
        .get_by_label("No answer from +12125550113 after 30 s");
    let dial = desk
        .harness
        .get_by_label("Dial")
        .accesskit_node()
        .bounding_box()
        .expect("drawn");
    let m = msg.accesskit_node().bounding_box().expect("drawn");
    assert!(m.x0 < 400.0 && m.y0 > dial.y0, "{m:?} below {dial:?}");
    // The history says how it ended in words, not a code name.
    desk.harness.get_by_label("Call history").click();
    desk.harness.run();
    desk.harness
        .get_by_label_contains("Out · +12125550113 · not answered");
    assert_eq!(count(&desk, "NotAnswered"), 0);
}

fn refuse(desk: &mut Desk, kind: &'static str, code: ErrorCode, call: Option<&str>) {
    desk.feed([ClientUpdate::Reply {
        kind,
        call: call.map(CallId::from),
        result: Err(ErrorBody::new(code, "refused")),
    }]);
}

/// Item 3: the same failure three times is one line with a count; it goes once the condition
/// passed (the call ended, the command later worked, or a minute went by).
#[test]
fn errors_collapse_by_kind_and_clear_when_the_condition_passed() {
    let mut desk = logged_in("1");
    let wall = desk.wall();
    desk.event(info(
        "c-1",
        CallDirection::Inbound,
        CallState::Connected,
        "+441632960001",
        None,
        wall,
    ));
    for _ in 0..3 {
        refuse(&mut desk, "hold", ErrorCode::InvalidState, Some("c-1"));
    }
    assert_eq!(count(&desk, "Hold is not possible now"), 1);
    desk.harness
        .get_by_label("Hold is not possible now (3 times)");
    // The call ends (no wrap-up): the error about it goes.
    desk.event(info(
        "c-1",
        CallDirection::Inbound,
        CallState::Ended,
        "+441632960001",
        Some(EndReason::RemoteHangup),
        wall,
    ));
    assert_eq!(count(&desk, "Hold is not possible now"), 0);

    // A refused Ready goes once Ready works.
    refuse(&mut desk, "ready", ErrorCode::RateLimited, None);
    desk.harness.get_by_label_contains("Ready was not done");
    desk.feed([ClientUpdate::Reply {
        kind: "ready",
        call: None,
        result: Ok(Reply::Done),
    }]);
    assert_eq!(count(&desk, "Ready was not done"), 0);

    // Anything else goes after a minute.
    refuse(&mut desk, "request_help", ErrorCode::Internal, None);
    desk.harness.get_by_label_contains("Ask for help failed");
    desk.advance(61);
    assert_eq!(count(&desk, "Ask for help failed"), 0);
}

/// Item 4: Answer on a phone that cannot be answered remotely is disabled, says why, and F5
/// does nothing; with remote answer it works.
#[test]
fn answer_is_disabled_with_the_reason_on_a_desk_phone() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login_with(hotline_cti::Role::Agent, false, wall));
    desk.event(agent(AgentState::Ringing, None, wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    assert!(disabled(&desk, "Answer"));
    desk.harness.get_by_label(
        "Your phone does not support answering from the desktop: pick up the handset",
    );
    desk.harness.key_press(egui::Key::F5);
    desk.harness.run();
    assert!(desk.sent_commands().is_empty(), "F5 is off too");
    // Hang up (reject) stays possible.
    assert!(!disabled(&desk, "Hang up"));

    let mut desk = Desk::new();
    desk.feed(sample::login_with(hotline_cti::Role::Agent, true, wall));
    desk.event(agent(AgentState::Ringing, None, wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    assert!(!disabled(&desk, "Answer"));
    assert!(
        desk.harness
            .query_by_label_contains("does not support answering")
            .is_none()
    );
}

/// Hovers `label` (tooltips show at once in these tests) and runs the frames.
fn hover(desk: &mut Desk, label: &str) {
    desk.harness.get_by_label(label).hover();
    desk.harness.run();
}

/// Issue 13 item 4: Reject is enabled only while a call offered from a queue rings and sends
/// `reject` (the button, and F4); the switch puts the call back in its queue and the agent sees
/// the not-ready reason in words. A connected call or a ringing internal call cannot be
/// rejected: the button is disabled, F4 does nothing, and the tooltip says why.
#[test]
fn reject_is_for_a_ringing_offer_and_the_agent_sees_the_reason() {
    let mut desk = Desk::new();
    desk.harness
        .ctx
        .global_style_mut(|s| s.interaction.tooltip_delay = 0.0);
    let wall = desk.wall();
    desk.feed(sample::login_with(hotline_cti::Role::Agent, false, wall));
    desk.event(agent(AgentState::Ringing, None, wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    desk.harness.get_by_label("Incoming call");
    assert!(!disabled(&desk, "Reject"));
    desk.harness.get_by_label("Reject").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Reject {
            call: sample::call()
        }]
    );
    // The switch takes it: the call leaves this desk (back to its queue) and the agent is not
    // ready "rejected".
    desk.feed([ClientUpdate::Reply {
        kind: "reject",
        call: Some(sample::call()),
        result: Ok(Reply::Done),
    }]);
    desk.event(info(
        sample::call().as_str(),
        CallDirection::Inbound,
        CallState::Ended,
        "+12125550100",
        Some(EndReason::Rejected),
        wall,
    ));
    desk.event(agent(AgentState::NotReady, Some("rejected"), wall));
    desk.harness
        .get_by_label("State: Not ready (rejected a call)");
    desk.harness
        .get_by_label_contains("The call went back to its queue. You are not ready");
    assert!(
        desk.harness.query_by_label("Incoming call").is_none(),
        "the pop went with the call"
    );
    assert!(
        desk.harness.query_by_label("Reject").is_none(),
        "no call, no call controls"
    );

    // The next offer: F4 rejects it too.
    desk.event(agent(AgentState::Ringing, None, wall));
    let mut pop = sample::screen_pop(wall);
    pop.call = "c-2".into();
    desk.event(Event::CallOffered(Box::new(pop)));
    desk.harness.key_press(egui::Key::F4);
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Reject { call: "c-2".into() }]
    );
    // Answered on the handset before the switch got it: a connected call cannot be rejected.
    desk.event(info(
        "c-2",
        CallDirection::Inbound,
        CallState::Connected,
        "+12125550100",
        None,
        wall,
    ));
    assert!(disabled(&desk, "Reject"));
    assert!(!disabled(&desk, "Hang up"));
    desk.harness.key_press(egui::Key::F4);
    desk.harness.run();
    assert!(desk.sent_commands().is_empty(), "F4 is off too");
    hover(&mut desk, "Reject");
    desk.harness.get_by_label_contains(
        "F4: Only while a call offered to you from a queue rings, before you answer",
    );
    desk.event(info(
        "c-2",
        CallDirection::Inbound,
        CallState::Ended,
        "+12125550100",
        Some(EndReason::RemoteHangup),
        wall,
    ));

    // A colleague's internal call rings: not an offer from a queue.
    desk.event(info(
        "c-int",
        CallDirection::Internal,
        CallState::Ringing,
        "1002",
        None,
        wall,
    ));
    assert!(disabled(&desk, "Reject"));
    hover(&mut desk, "Reject");
    desk.harness
        .get_by_label_contains("F4: Only a call offered from a queue can be rejected");
}

/// Item 4: on a phone the desktop can answer, Answer is for a queue's offer; a colleague's
/// internal call ringing there is picked up on the phone, and the tooltip says so.
#[test]
fn answer_is_for_a_queue_offer_even_on_a_phone_that_answers_remotely() {
    let mut desk = Desk::new();
    desk.harness
        .ctx
        .global_style_mut(|s| s.interaction.tooltip_delay = 0.0);
    let wall = desk.wall();
    desk.feed(sample::login_with(hotline_cti::Role::Agent, true, wall));
    desk.event(agent(AgentState::Ringing, None, wall));
    desk.event(info(
        "c-int",
        CallDirection::Internal,
        CallState::Ringing,
        "1002",
        None,
        wall,
    ));
    assert!(disabled(&desk, "Answer"));
    desk.harness.key_press(egui::Key::F5);
    desk.harness.run();
    assert!(desk.sent_commands().is_empty(), "F5 is off too");
    hover(&mut desk, "Answer");
    desk.harness
        .get_by_label_contains("F5: Pick up on your phone: only a call offered from a queue");
    desk.event(info(
        "c-int",
        CallDirection::Internal,
        CallState::Ended,
        "1002",
        Some(EndReason::RemoteHangup),
        wall,
    ));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    assert!(
        !disabled(&desk, "Answer"),
        "a queue's offer is answered from here"
    );
    desk.harness.get_by_label("Answer").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Answer {
            call: sample::call()
        }]
    );
}

/// Item 4: a supervisor's Take over is disabled until they monitor the call.
#[test]
fn take_over_needs_monitoring_first() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login_as(hotline_cti::Role::Supervisor, wall));
    desk.harness.get_by_label("Wallboard").click();
    desk.harness.run();
    desk.event(Event::Wallboard(sample::wallboard(wall)));
    assert!(disabled(&desk, "Take over 1002"), "not before listening");
    desk.event(Event::MonitorChanged {
        call: "c-20261123-0009".into(),
        mode: Some(hotline_cti::MonitorMode::Listen),
    });
    assert!(!disabled(&desk, "Take over 1002"));
}

fn end_with_wrap_up(desk: &mut Desk, call: &str, peer: &str) {
    let wall = desk.wall();
    desk.event(info(
        call,
        CallDirection::Inbound,
        CallState::Connected,
        peer,
        None,
        wall,
    ));
    desk.event(agent(AgentState::OnCall, None, wall));
    desk.advance(60);
    let wall = desk.wall();
    desk.event(info(
        call,
        CallDirection::Inbound,
        CallState::Ended,
        peer,
        Some(EndReason::RemoteHangup),
        wall,
    ));
    desk.event(Event::WrapUpStarted {
        call: call.into(),
        since: wall,
        limit_secs: Some(30),
    });
    desk.event(agent(AgentState::WrapUp, None, wall));
}

/// Item 5: the form names caller and call; when the switch ends the wrap-up and the next call
/// arrives, the old form never sits over the new caller's record; it stays with its call and
/// takes the outcome (no `end_wrap_up`, no error).
#[test]
fn wrap_up_stays_with_its_call_and_takes_the_outcome_late() {
    let mut desk = logged_in("1");
    let wall = desk.wall();
    desk.event(agent(AgentState::Ringing, None, wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    end_with_wrap_up(&mut desk, sample::CALL, "+441632960001");
    desk.harness
        .get_by_label("Wrap-up: Ada Lovelace · call c-20261123-0001");

    // The switch's limit passes: the agent is made ready and the next caller (unknown) rings.
    desk.advance(40);
    let wall = desk.wall();
    desk.event(agent(AgentState::Ready, None, wall));
    desk.event(agent(AgentState::Ringing, None, wall));
    let mut next = sample::screen_pop(wall);
    next.call = "c-next".into();
    next.customer = None;
    next.ani = Pii::new("+12125550199".into());
    desk.event(Event::CallOffered(Box::new(next)));
    desk.harness.get_by_label("Unknown caller");
    assert!(
        desk.harness.query_by_label("Submit wrap-up").is_none(),
        "no old form over the new caller"
    );
    assert!(
        desk.harness.query_by_label("Ada Lovelace").is_none(),
        "no old record over the new caller"
    );
    // The waiting wrap-up is listed by caller; opening it shows Ada's form again.
    desk.harness
        .get_by_label("Wrap-up waiting: Ada Lovelace (call c-20261123-0001)")
        .click();
    desk.harness.run();
    desk.harness
        .get_by_label("Wrap-up: Ada Lovelace · call c-20261123-0001");
    desk.harness
        .get_by_label_contains("The switch already ended this wrap-up");
    desk.harness.get_by_label("resolved").click();
    desk.harness.run();
    let _ = desk.sent();
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();
    let cmds = desk.sent_commands();
    assert!(
        matches!(&cmds[..], [Command::WrapUp { call, .. }] if call.as_str() == sample::CALL),
        "the outcome for Ada's call, no end_wrap_up: {cmds:?}"
    );
    // A late `end_wrap_up` refusal from an earlier attempt is not an error for the agent.
    refuse(&mut desk, "end_wrap_up", ErrorCode::InvalidState, None);
    assert_eq!(count(&desk, "not possible now"), 0);
    // The outcome is on Ada's call in the sink.
    assert!(
        desk.sink
            .get(&sample::call(), &sample::AGENT.into())
            .is_some()
    );
}

/// Item 5: the form says exactly which field is missing; the "Afterwards" row wraps instead of
/// being cut off.
#[test]
fn wrap_up_names_the_missing_field_and_shows_every_afterwards_choice() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    let mut login = sample::login(wall);
    if let ClientUpdate::LoggedIn {
        not_ready_reasons, ..
    } = &mut login[0]
    {
        *not_ready_reasons = [
            "break",
            "lunch",
            "training",
            "meeting",
            "coaching",
            "outbound",
            "email",
            "technical",
        ]
        .map(hotline_cti::ReasonCode::from)
        .to_vec();
    }
    desk.feed(login);
    desk.event(agent(AgentState::Ringing, None, wall));
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    end_with_wrap_up(&mut desk, sample::CALL, "+441632960001");
    desk.harness
        .get_by_label("Pick a disposition to finish wrap-up.");
    desk.harness.get_by_label("resolved").click();
    desk.harness.run();
    desk.harness.get_by_label("New ticket").click();
    desk.harness.run();
    assert!(
        desk.harness
            .query_by_label("Pick a disposition to finish wrap-up.")
            .is_none()
    );
    desk.harness
        .get_by_label("Enter the ticket subject, or choose \"No ticket\".");
    assert!(disabled(&desk, "Submit wrap-up"));
    type_into(&mut desk, "Ticket subject", "Refund");
    assert!(!disabled(&desk, "Submit wrap-up"));

    // Every "Afterwards" choice lies inside the central area (left of the customers panel).
    let right = desk
        .harness
        .get_by_label("Customers")
        .accesskit_node()
        .bounding_box()
        .expect("drawn")
        .x0;
    for reason in ["break", "technical", "email"] {
        let b = desk
            .harness
            .get_by_label(&format!("not ready: {reason}"))
            .accesskit_node()
            .bounding_box()
            .expect("drawn");
        assert!(b.x1 <= right, "{reason} cut off: {b:?} past {right}");
    }
}

/// Item 7 (smaller items): the reason picker follows the state; the call timer keeps counting
/// through hold; a help request is confirmed.
#[test]
fn picker_follows_state_timer_keeps_counting_help_is_confirmed() {
    let mut desk = logged_in("1");
    let wall = desk.wall();
    // The picker shows the reason in force (break), and Not ready with the same reason is off.
    desk.harness.get_by_label("State: Not ready (break)");
    assert!(disabled(&desk, "Not ready"));
    // A supervisor (or another desk) sets lunch: the picker shows lunch, not break.
    desk.event(agent(AgentState::NotReady, Some("lunch"), wall));
    desk.harness.get_by_label("State: Not ready (lunch)");
    assert_eq!(
        desk.harness
            .state()
            .forms
            .reason
            .as_ref()
            .map(|r| r.as_str()),
        Some("lunch")
    );

    // A call connected 1:05 ago goes on hold: its timer goes on from 1:05.
    desk.event(info(
        "c-1",
        CallDirection::Inbound,
        CallState::Connected,
        "+441632960001",
        None,
        wall,
    ));
    desk.advance(65);
    let later = desk.wall();
    desk.event(info(
        "c-1",
        CallDirection::Inbound,
        CallState::Held,
        "+441632960001",
        None,
        later,
    ));
    desk.harness
        .get_by_label_contains("+441632960001 · on hold · 1:05");

    // Help: the switch's "done" is confirmed in words next to the button.
    type_into(&mut desk, "Message to supervisor", "angry caller");
    desk.harness.get_by_label("Ask for help").click();
    desk.harness.run();
    assert!(desk.sent().iter().any(|r| matches!(
        r,
        ClientRequest::Send(Command::RequestHelp { message, .. }) if message == "angry caller"
    )));
    desk.feed([ClientUpdate::Reply {
        kind: "request_help",
        call: None,
        result: Ok(Reply::Done),
    }]);
    desk.harness
        .get_by_label("Help request sent 0:00 ago: a supervisor has been told");
}

/// Item 7: the wallboard keeps its agents in a stable order (by name) whatever the deltas do.
#[test]
fn wallboard_rows_keep_their_order() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login_as(hotline_cti::Role::Supervisor, wall));
    desk.harness.get_by_label("Wallboard").click();
    desk.harness.run();
    desk.event(Event::Wallboard(sample::wallboard(wall)));
    let y = |desk: &Desk, who: &str| {
        desk.harness
            .query_all_by_label_contains(who)
            .next()
            .expect("row drawn")
            .accesskit_node()
            .bounding_box()
            .expect("drawn")
            .y0
    };
    let order = |desk: &Desk, names: &[&str]| {
        let mut rows: Vec<(String, f64)> = names
            .iter()
            .map(|n| ((*n).to_owned(), y(desk, &format!("{n} Agent ("))))
            .collect();
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        rows.into_iter().map(|r| r.0).collect::<Vec<_>>()
    };
    assert_eq!(order(&desk, &["Bob", "Carol"]), vec!["Bob", "Carol"]);
    // Carol's row is sent again and a new agent, Aaron, logs in: rows stay sorted by name
    // instead of moving to the end.
    desk.event(Event::WallboardDelta(hotline_cti::WallboardDelta {
        at: wall,
        queues: vec![],
        agents: vec![
            hotline_cti::AgentRow {
                status: sample::status(AgentState::Ready, None, wall.0),
                name: "Carol Agent".into(),
                call: None,
                customer: None,
                handled_today: 9,
            },
            hotline_cti::AgentRow {
                status: hotline_cti::AgentStatus {
                    agent: "1004".into(),
                    state: AgentState::Ready,
                    reason: None,
                    since: wall,
                },
                name: "Aaron Agent".into(),
                call: None,
                customer: None,
                handled_today: 0,
            },
        ],
        removed_agents: vec![],
    }));
    assert_eq!(
        order(&desk, &["Aaron", "Bob", "Carol"]),
        vec!["Aaron", "Bob", "Carol"]
    );
}

/// Item 7: the login screen asks for an agent id the way agents have them (`alice`), not a
/// number that looks like an extension.
#[test]
fn login_hint_is_an_agent_id() {
    let mut desk = Desk::new();
    desk.harness.run();
    let hint = desk
        .harness
        .get_by_role_and_label(Role::TextInput, "Agent id")
        .accesskit_node()
        .placeholder()
        .map(str::to_owned);
    assert_eq!(hint.as_deref(), Some("e.g. alice"));
}

/// Item 6 (desktop part): a customer dialled from the record names the call in the list, and
/// after the talk the desktop opens a wrap-up for it (the switch has none for outbound calls):
/// the outcome is recorded on the customer, no `end_wrap_up` is sent.
#[test]
fn an_outbound_call_names_its_customer_and_can_be_wrapped_up() {
    let mut desk = logged_in("44");
    type_into(&mut desk, "Find customer", "ada");
    desk.harness.get_by_label("Search").click();
    desk.harness.run();
    desk.harness.get_by_label("Ada Lovelace (gold)").click();
    desk.harness.run();
    desk.harness.get_by_label("Call +441632960001").click();
    desk.harness.run();
    assert!(matches!(
        &desk.sent_commands()[..],
        [Command::OutboundCall { customer: Some(c), .. }] if c.as_str() == "cust-42"
    ));
    desk.feed([ClientUpdate::Reply {
        kind: "outbound_call",
        call: None,
        result: Ok(Reply::Dialing {
            call: "c-out".into(),
        }),
    }]);
    desk.harness.get_by_label("Close record").click();
    desk.harness.run();
    let wall = desk.wall();
    for state in [CallState::Dialing, CallState::Connected] {
        desk.event(info(
            "c-out",
            CallDirection::Outbound,
            state,
            "+441632960001",
            None,
            wall,
        ));
    }
    desk.harness
        .get_by_label_contains("Out · Ada Lovelace · connected");
    desk.advance(90);
    let later = desk.wall();
    desk.event(info(
        "c-out",
        CallDirection::Outbound,
        CallState::Ended,
        "+441632960001",
        Some(EndReason::RemoteHangup),
        later,
    ));
    desk.harness
        .get_by_label("Wrap-up: Ada Lovelace · call c-out");
    desk.harness
        .get_by_label("The outcome of your call: your state stays as it is.");
    desk.harness.get_by_label("sale").click();
    desk.harness.run();
    let _ = desk.sent();
    desk.harness.get_by_label("Submit wrap-up").click();
    desk.harness.run();
    let cmds = desk.sent_commands();
    assert!(
        matches!(&cmds[..], [Command::WrapUp { call, .. }] if call.as_str() == "c-out"),
        "{cmds:?}"
    );
    let row = desk
        .sink
        .get(&"c-out".into(), &sample::AGENT.into())
        .expect("outcome written");
    assert_eq!(row.customer.as_ref().map(|c| c.as_str()), Some("cust-42"));
}

fn colleague(agent: &str, name: &str, ext: &str) -> hotline_cti::Colleague {
    hotline_cti::Colleague {
        agent: agent.into(),
        name: name.into(),
        extension: Some(hotline_cti::Extension::new(ext)),
    }
}

/// Item 6: a consulted agent sees who consults them (name and extension) and about which
/// caller (the caller's record), not an unknown caller; Reject is not offered (it is a
/// colleague's consultation, not a queue's offer) and Hang up declines it.
#[test]
fn a_consulted_agent_sees_who_consults_about_which_caller() {
    let mut desk = logged_in("+1");
    let wall = desk.wall();
    desk.event(agent(AgentState::Ringing, None, wall));
    let mut pop = sample::screen_pop(wall);
    pop.context = Some(hotline_cti::PopContext::Consult {
        by: colleague("1001", "Alice Archer", "1001"),
    });
    let call = pop.call.clone();
    desk.event(Event::CallOffered(Box::new(pop)));
    desk.harness.get_by_label("Consultation");
    desk.harness
        .get_by_label_contains("Alice Archer (ext. 1001) is consulting you about this caller.");
    desk.harness
        .get_by_label("Alice Archer (ext. 1001) is consulting you about Ada Lovelace");
    assert!(
        desk.harness.query_by_label("Ada Lovelace").is_some(),
        "the caller's record"
    );
    desk.harness.get_by_label("Tier: gold");
    assert!(desk.harness.query_by_label("Unknown caller").is_none());
    assert!(disabled(&desk, "Reject"));
    hover(&mut desk, "Reject");
    desk.harness
        .get_by_label_contains("F4: Only a call offered from a queue can be rejected");
    let _ = desk.sent();
    desk.harness.get_by_label("Hang up").click();
    desk.harness.run();
    assert_eq!(desk.sent_commands(), vec![Command::Hangup { call }]);
}

/// Item 6: an internal call shows the colleague's name and extension, on the desk it rings
/// and on the desk that dialled (where a busy colleague is said by name).
#[test]
fn an_internal_call_shows_the_colleagues_name() {
    let mut desk = logged_in("+1");
    let wall = desk.wall();
    desk.event(Event::CallChanged(CallInfo {
        colleague: Some(colleague("1001", "Alice Archer", "1001")),
        ..call_info(
            "c-in",
            CallDirection::Internal,
            CallState::Ringing,
            "1001",
            wall,
        )
    }));
    desk.harness
        .get_by_label_contains("Internal · Alice Archer (ext. 1001) · ");
    assert!(disabled(&desk, "Reject"), "not an offer from a queue");
    desk.event(Event::CallChanged(CallInfo {
        colleague: Some(colleague("1001", "Alice Archer", "1001")),
        ..call_info(
            "c-in",
            CallDirection::Internal,
            CallState::Connected,
            "1001",
            wall,
        )
    }));
    desk.event(info(
        "c-in",
        CallDirection::Internal,
        CallState::Ended,
        "1001",
        Some(EndReason::RemoteHangup),
        wall,
    ));
    assert!(
        desk.harness.query_by_label("Submit wrap-up").is_none(),
        "no wrap-up form after a colleague's call"
    );

    // Dialled from this desk: the colleague is named, and so when busy.
    desk.event(Event::CallChanged(CallInfo {
        colleague: Some(colleague("1002", "Bob Brown", "1002")),
        ..call_info(
            "c-out",
            CallDirection::Internal,
            CallState::Dialing,
            "1002",
            wall,
        )
    }));
    desk.harness
        .get_by_label_contains("Internal · Bob Brown (ext. 1002) · ");
    desk.event(Event::CallChanged(CallInfo {
        colleague: Some(colleague("1002", "Bob Brown", "1002")),
        end_reason: Some(EndReason::Rejected),
        ..call_info(
            "c-out",
            CallDirection::Internal,
            CallState::Ended,
            "1002",
            wall,
        )
    }));
    desk.harness
        .get_by_label_contains("Bob Brown (ext. 1002) is busy");
    // The call history names the colleague too.
    desk.harness.get_by_label("Call history").click();
    desk.harness.run();
    desk.harness
        .get_by_label_contains("Internal · Bob Brown (ext. 1002) · busy or rejected");
}

fn call_info(
    call: &str,
    direction: CallDirection,
    state: CallState,
    peer: &str,
    since: UnixMillis,
) -> CallInfo {
    match info(call, direction, state, peer, None, since) {
        Event::CallChanged(i) => i,
        _ => unreachable!("info makes a call_changed"),
    }
}

/// Item 6: the consulting agent's consultation leg names the colleague consulted.
#[test]
fn the_consultation_leg_names_the_colleague() {
    let mut desk = logged_in("+1");
    let wall = desk.wall();
    desk.event(info(
        "c-1",
        CallDirection::Inbound,
        CallState::Held,
        "+12125550100",
        None,
        wall,
    ));
    desk.event(Event::CallChanged(CallInfo {
        consult_of: Some("c-1".into()),
        colleague: Some(colleague("1002", "Bob Brown", "1002")),
        ..call_info(
            "c-1-consult1",
            CallDirection::Consult,
            CallState::Ringing,
            "1002",
            wall,
        )
    }));
    desk.harness
        .get_by_label_contains("Consult · Bob Brown (ext. 1002) · ");
}
