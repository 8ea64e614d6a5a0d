//! Supervisor mode, by labels: the Wallboard tab appears only for supervisors, opening it
//! subscribes, queue figures and agent rows are shown and updated by deltas, a monitor is
//! started from the agent list and switched (listen -> barge), whisper, take-over and force
//! log-out work from an agent row, help requests are listed and answered with a whisper, and a
//! call ringing at the supervisor brings the pop back; a taken-over call shows the caller's record.

mod common;

use common::Desk;
use egui_kittest::kittest::{NodeT as _, Queryable};
use hotline_cti::{
    AgentRow, AgentState, AgentStatus, Command, Event, MonitorMode, Role, UnixMillis,
    WallboardDelta,
};
use hotline_desktop::sample;

fn supervisor() -> Desk {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login_as(Role::Supervisor, wall));
    desk
}

#[test]
fn agents_have_no_wallboard() {
    let mut desk = Desk::new();
    let wall = desk.wall();
    desk.feed(sample::login(wall));
    assert!(desk.harness.query_by_label("Wallboard").is_none());
}

#[test]
fn wallboard_shows_queues_and_agents_and_starts_a_monitor() {
    let mut desk = supervisor();
    desk.harness.get_by_label("Wallboard").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::SubscribeWallboard { queues: vec![] }],
        "opening the tab subscribes once"
    );
    desk.harness
        .get_by_label("Waiting for the first wallboard...");

    let wall = desk.wall();
    desk.event(Event::Wallboard(sample::wallboard(wall)));
    desk.harness.get_by_label("Billing");
    // Each figure has its own column, headed in words (not "Agents r/b/w/n").
    desk.harness.get_by_label("Waiting");
    desk.harness.get_by_label("3");
    desk.harness.get_by_label("Agents ready");
    desk.harness.get_by_label("Agents not ready");
    assert!(desk.harness.query_by_label("Agents r/b/w/n").is_none());
    desk.harness.get_by_label("81.2 % in 20 s");
    desk.harness
        .get_by_label("Bob Agent (1002) · On call · 2:05 · 17 handled · with Ada Lovelace");
    // The supervisor's own row has no buttons.
    let wall2 = desk.wall();
    desk.event(Event::WallboardDelta(WallboardDelta {
        at: wall2,
        queues: vec![],
        agents: vec![AgentRow {
            status: sample::status(AgentState::NotReady, Some("break"), wall2.0),
            name: "Alice Agent".into(),
            call: None,
            customer: None,
            handled_today: 0,
        }],
        removed_agents: vec![],
    }));
    desk.harness
        .get_by_label("Alice Agent (1001) · Not ready (break) · 0:00 · 0 handled (you)");
    assert!(desk.harness.query_by_label("Log out 1001").is_none());
    // Carol has no call: nothing to monitor.
    assert!(
        desk.harness
            .get_by_label("Listen 1003")
            .accesskit_node()
            .is_disabled()
    );

    // An agent state event updates the row before the next delta.
    desk.event(Event::AgentStateChanged(AgentStatus {
        agent: "1003".into(),
        state: AgentState::NotReady,
        reason: Some("training".into()),
        since: wall,
    }));
    desk.harness
        .get_by_label("Carol Agent (1003) · Not ready (training) · 0:00 · 9 handled");
    desk.harness.get_by_label("Listen 1002").click();
    desk.harness.run();
    let call: hotline_cti::CallId = "c-20261123-0009".into();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Listen
        }]
    );
    desk.event(Event::MonitorChanged {
        call: call.clone(),
        mode: Some(MonitorMode::Listen),
    });
    desk.harness.get_by_label("You are listening");
    assert!(
        desk.harness
            .get_by_label("Listen 1002")
            .accesskit_node()
            .is_disabled()
    );
    desk.harness.get_by_label("Barge 1002").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Barge
        }]
    );
    desk.harness.get_by_label("Stop monitoring 1002").click();
    desk.harness.run();
    assert_eq!(desk.sent_commands(), vec![Command::StopMonitor { call }]);

    // Change Bob's skills.
    desk.harness
        .get_by_role_and_label(egui::accesskit::Role::TextInput, "Skills 1002")
        .focus();
    desk.harness.run();
    desk.harness
        .get_by_role_and_label(egui::accesskit::Role::TextInput, "Skills 1002")
        .type_text("billing:5, spanish:3");
    desk.harness.run();
    desk.harness.get_by_label("Set skills 1002").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::SetSkills {
            agent: "1002".into(),
            skills: vec![
                hotline_cti::SkillLevel {
                    skill: "billing".into(),
                    level: 5
                },
                hotline_cti::SkillLevel {
                    skill: "spanish".into(),
                    level: 3
                },
            ],
        }]
    );
    assert!(
        desk.harness
            .get_by_label("Set skills 1003")
            .accesskit_node()
            .is_disabled(),
        "nothing typed, nothing to set"
    );

    // A delta: Bob finished and went ready; Carol logged out.
    desk.advance(5);
    let wall = desk.wall();
    desk.event(Event::WallboardDelta(WallboardDelta {
        at: wall,
        queues: vec![],
        agents: vec![AgentRow {
            status: AgentStatus {
                agent: "1002".into(),
                state: AgentState::Ready,
                reason: None,
                since: wall,
            },
            name: "Bob Agent".into(),
            call: None,
            customer: None,
            handled_today: 18,
        }],
        removed_agents: vec!["1003".into()],
    }));
    assert!(
        desk.harness
            .query_by_label_contains("Carol Agent")
            .is_none()
    );
    desk.harness
        .get_by_label("Bob Agent (1002) · Ready · 0:00 · 18 handled");
    // Force not ready with the reason picked in the state bar ("break").
    assert!(
        desk.harness
            .query_by_label_contains("with Ada Lovelace")
            .is_none()
    );
    desk.harness.get_by_label("Not ready 1002").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::ForceNotReady {
            agent: "1002".into(),
            reason: "break".into()
        }]
    );
}

#[test]
fn help_requests_are_listed_and_answered_with_a_whisper() {
    let mut desk = supervisor();
    desk.harness.get_by_label("Wallboard").click();
    desk.harness.run();
    let _ = desk.sent();
    let wall = desk.wall();
    desk.event(Event::Wallboard(sample::wallboard(wall)));
    desk.event(Event::HelpRequested {
        agent: "1002".into(),
        call: Some("c-20261123-0009".into()),
        message: "Customer asks for a manager".into(),
        at: UnixMillis(wall.0),
    });
    desk.harness
        .get_by_label("1002 asks: Customer asks for a manager (0:00 ago)");
    desk.harness.get_by_label("Whisper to 1002").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Monitor {
            call: "c-20261123-0009".into(),
            mode: MonitorMode::Whisper
        }]
    );
    desk.harness.get_by_label("Done 1002").click();
    desk.harness.run();
    assert!(desk.harness.query_by_label("Whisper to 1002").is_none());

    // A call offered to the supervisor brings the pop to the front.
    desk.event(Event::CallOffered(Box::new(sample::screen_pop(wall))));
    desk.harness.get_by_label("Incoming call");
}

#[test]
fn agent_row_whispers_takes_over_and_logs_out() {
    let mut desk = supervisor();
    desk.harness.get_by_label("Wallboard").click();
    desk.harness.run();
    let _ = desk.sent();
    let wall = desk.wall();
    desk.event(Event::Wallboard(sample::wallboard(wall)));
    let call: hotline_cti::CallId = "c-20261123-0009".into();
    // Whisper straight from Bob's row (no listen first).
    desk.harness.get_by_label("Whisper 1002").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::Monitor {
            call: call.clone(),
            mode: MonitorMode::Whisper
        }]
    );
    desk.event(Event::MonitorChanged {
        call: call.clone(),
        mode: Some(MonitorMode::Whisper),
    });
    desk.harness.get_by_label("You are whispering");
    desk.harness.get_by_label("Take over 1002").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::TakeOver { call: call.clone() }]
    );
    // Carol has no call: no take-over, but she can be logged out.
    assert!(
        desk.harness
            .get_by_label("Take over 1003")
            .accesskit_node()
            .is_disabled()
    );
    desk.harness.get_by_label("Log out 1003").click();
    desk.harness.run();
    assert_eq!(
        desk.sent_commands(),
        vec![Command::ForceLogout {
            agent: "1003".into()
        }]
    );
    // The switch ends the monitor: the buttons come back.
    desk.event(Event::MonitorChanged { call, mode: None });
    assert!(desk.harness.query_by_label("You are whispering").is_none());
    assert!(
        !desk
            .harness
            .get_by_label("Whisper 1002")
            .accesskit_node()
            .is_disabled()
    );
}

/// A take-over brings the caller's record to the supervisor's desk, saying whose call it was.
#[test]
fn a_taken_over_call_shows_the_callers_record() {
    let mut desk = supervisor();
    let wall = desk.wall();
    let mut pop = sample::screen_pop(wall);
    pop.ring_timeout_secs = 0;
    pop.context = Some(hotline_cti::PopContext::TakeOver {
        from: hotline_cti::Colleague {
            agent: "1002".into(),
            name: "Bob Brown".into(),
            extension: Some(hotline_cti::Extension::new("1002")),
        },
    });
    let call = pop.call.clone();
    desk.event(Event::MonitorChanged {
        call: call.clone(),
        mode: None,
    });
    desk.event(Event::CallOffered(Box::new(pop)));
    desk.event(Event::CallChanged(hotline_cti::CallInfo {
        call: call.clone(),
        direction: hotline_cti::CallDirection::Inbound,
        state: hotline_cti::CallState::Connected,
        peer: hotline_cti::Pii::new("+441632960001".into()),
        muted: false,
        conference: false,
        queue: Some("billing".into()),
        consult_of: None,
        colleague: None,
        end_reason: None,
        since: wall,
    }));
    desk.harness
        .get_by_label("You took this call over from Bob Brown (ext. 1002).");
    desk.harness.get_by_label("Caller");
    desk.harness.get_by_label("Tier: gold");
    desk.harness.get_by_label_contains("Late fee dispute");
    desk.harness.get_by_label_contains(
        "You took over the call with Ada Lovelace from Bob Brown (ext. 1002)",
    );
}
