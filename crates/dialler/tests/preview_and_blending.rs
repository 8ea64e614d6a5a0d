//! Preview and progressive with blended agents: a preview reserves the agent and shows the
//! contact before any dial; it auto-dials after its delay; DNC is checked again when the agent
//! dials; an agent who takes an inbound call loses the preview (the contact goes back) or the
//! reservation (the call is then served by any free agent, or abandoned after 2 s); an agent
//! cannot leave in the middle of a call.

mod common;

use chrono::Duration as D;
use common::*;
use hotline_dialler::{
    AgentState, Availability, ContactId, ContactState, DiallerError, DncScope, Outcome, Output,
    PacingMode, Progress,
};
use std::time::Duration;

#[test]
fn preview_reserves_the_agent_then_auto_dials() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mode = PacingMode::Preview {
        auto_dial_after: Some(Duration::from_secs(20)),
    };
    let mut d = dialler(
        t0,
        mode,
        &[("k1", "+12125550101"), ("k2", "+12125550102")],
        &["alice"],
    );
    let outs = drain(&mut d);
    assert_eq!(
        outs,
        vec![Output::OfferPreview {
            agent: agent("alice"),
            campaign: camp(),
            contact: ContactId::new("k1"),
            auto_dial_at: Some(t0 + D::seconds(20)),
        }]
    );
    assert_eq!(d.poll_timeout(), Some(t0 + D::seconds(20)));
    d.tick(t0 + D::seconds(19));
    assert!(drain(&mut d).is_empty());
    d.tick(t0 + D::seconds(20));
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 1);
    assert_eq!(
        (ds[0].1.as_str(), ds[0].2.as_deref()),
        ("k1", Some("alice"))
    );
    assert_eq!(
        d.agent_state(&agent("alice")),
        Some(&AgentState::Reserved { dial: ds[0].0 })
    );
}

#[test]
fn a_preview_dial_checks_dnc_again() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mode = PacingMode::Preview {
        auto_dial_after: None,
    };
    let mut d = dialler(
        t0,
        mode,
        &[("k1", "+12125550101"), ("k2", "+12125550102")],
        &["alice"],
    );
    drain(&mut d);
    d.add_dnc(
        t0 + D::seconds(5),
        DncScope::Campaign(camp()),
        num("+12125550101"),
    )
    .unwrap();
    d.preview_dial(t0 + D::seconds(6), &agent("alice")).unwrap();
    let outs = drain(&mut d);
    assert!(dials(&outs).is_empty(), "{outs:?}");
    assert!(outs.contains(&Output::CancelPreview {
        agent: agent("alice"),
        contact: ContactId::new("k1")
    }));
    assert_eq!(
        d.contact_state(&camp(), &ContactId::new("k1")).unwrap(),
        &ContactState::Done {
            outcome: Outcome::DoNotCall
        }
    );
    // The next contact is offered instead.
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::OfferPreview { contact, .. } if contact.as_str() == "k2"))
    );
}

#[test]
fn inbound_takes_priority_over_a_preview_and_a_reservation() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mode = PacingMode::Preview {
        auto_dial_after: None,
    };
    let mut d = dialler(t0, mode, &[("k1", "+12125550101")], &["alice"]);
    drain(&mut d);
    d.set_availability(
        t0 + D::seconds(1),
        &agent("alice"),
        Availability::BusyInbound,
    )
    .unwrap();
    assert_eq!(
        drain(&mut d),
        vec![Output::CancelPreview {
            agent: agent("alice"),
            contact: ContactId::new("k1")
        }]
    );
    assert_eq!(
        d.contact_state(&camp(), &ContactId::new("k1")).unwrap(),
        &ContactState::Pending
    );

    // Progressive: the reserved agent goes inbound while the line rings; bob frees up in time.
    let mut d = dialler(
        t0,
        PacingMode::Progressive,
        &[("k1", "+12125550101")],
        &["alice", "bob"],
    );
    d.set_availability(t0, &agent("bob"), Availability::Away)
        .unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds[0].2.as_deref(), Some("alice"));
    d.set_availability(
        t0 + D::seconds(2),
        &agent("alice"),
        Availability::BusyInbound,
    )
    .unwrap();
    d.progress(t0 + D::seconds(9), ds[0].0, Progress::Person)
        .unwrap();
    assert!(drain(&mut d).is_empty(), "waits up to 2 s for an agent");
    d.set_availability(t0 + D::seconds(10), &agent("bob"), Availability::Available)
        .unwrap();
    assert_eq!(
        drain(&mut d),
        vec![Output::ConnectToAgent {
            dial: ds[0].0,
            agent: agent("bob")
        }]
    );
    assert_eq!(d.stats(&camp()).unwrap().abandoned_today, 0);
    assert!(matches!(
        d.leave(t0 + D::seconds(11), &agent("bob")),
        Err(DiallerError::InvalidState { .. })
    ));
    d.progress(t0 + D::seconds(100), ds[0].0, Progress::Hangup)
        .unwrap();
    assert!(matches!(
        d.agent_state(&agent("bob")),
        Some(AgentState::WrapUp { .. })
    ));
}

#[test]
fn time_going_backwards_is_taken_as_the_latest_time() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mut d = dialler(
        t0,
        PacingMode::Progressive,
        &[("k1", "+12125550101")],
        &["alice"],
    );
    let ds = dials(&drain(&mut d));
    d.progress(t0 + D::seconds(5), ds[0].0, Progress::Busy)
        .unwrap();
    drain(&mut d);
    // A late tick from the past neither fires the 10-minute retry nor panics.
    d.tick(t0);
    assert!(drain(&mut d).is_empty());
    d.tick(t0 + D::seconds(5) + D::minutes(10));
    assert_eq!(dials(&drain(&mut d)).len(), 1);
}

#[test]
fn reloading_a_contact_changes_its_priority_in_place() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mut d = dialler(
        t0,
        PacingMode::Progressive,
        &[("k1", "+12125550101"), ("k2", "+12125550102")],
        &[],
    );
    let mut k2 = hotline_dialler::ContactSpec::new("k2", num("+12125550102"));
    k2.priority = 5;
    d.load_contacts(t0, &camp(), vec![k2]).unwrap();
    d.join(t0, &agent("alice"), &camp()).unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].1, "k2", "the higher priority goes first");
    d.progress(t0 + D::seconds(5), ds[0].0, Progress::Busy)
        .unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].1, "k1");
    d.progress(t0 + D::seconds(9), ds[0].0, Progress::Busy)
        .unwrap();
    assert!(
        dials(&drain(&mut d)).is_empty(),
        "no stale entry dialled twice"
    );
}
