//! Recycling rules: busy comes back after 10 minutes; no answer is tried 3 times 2 hours apart
//! and then closed; an abandoned contact is not dialled again the same local day, whatever the
//! rule says; an agent-owned callback goes only to its agent, at its time.

mod common;

use chrono::Duration as D;
use common::*;
use hotline_dialler::{
    Availability, ContactId, ContactSpec, ContactState, Disposition, Outcome, Output, PacingMode,
    PredictiveSettings, Progress, Retry,
};
use std::time::Duration;

fn contact_done(outs: &[Output]) -> Vec<(Outcome, Option<chrono::DateTime<chrono::Utc>>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::ContactDone {
                outcome,
                next_attempt_at,
                ..
            } => Some((outcome.clone(), *next_attempt_at)),
            _ => None,
        })
        .collect()
}

#[test]
fn busy_is_dialled_again_after_ten_minutes() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mut d = dialler(
        t0,
        PacingMode::Progressive,
        &[("k1", "+12125550101")],
        &["alice"],
    );
    let first = dials(&drain(&mut d));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].2.as_deref(), Some("alice"));
    let t1 = t0 + D::seconds(3);
    d.progress(t1, first[0].0, Progress::Busy).unwrap();
    let again = t1 + D::minutes(10);
    assert_eq!(
        contact_done(&drain(&mut d)),
        vec![(Outcome::Busy, Some(again))]
    );
    assert_eq!(
        d.contact_state(&camp(), &ContactId::new("k1")).unwrap(),
        &ContactState::Scheduled { at: again }
    );
    d.tick(again - D::seconds(1));
    assert!(dials(&drain(&mut d)).is_empty(), "not before 10 minutes");
    assert!(d.poll_timeout().is_some_and(|t| t <= again));
    d.tick(again);
    assert_eq!(dials(&drain(&mut d)).len(), 1);
}

#[test]
fn no_answer_is_tried_three_times_two_hours_apart() {
    let t0 = ny(2026, 3, 2, 10, 0);
    let mut d = dialler(
        t0,
        PacingMode::Progressive,
        &[("k1", "+12125550101")],
        &["alice"],
    );
    let mut now = t0;
    let mut times = Vec::new();
    for attempt in 1..=3 {
        let ds = dials(&drain(&mut d));
        assert_eq!(ds.len(), 1, "attempt {attempt}");
        times.push(now);
        now += D::seconds(25);
        d.progress(now, ds[0].0, Progress::NoAnswer).unwrap();
        let done = contact_done(&drain(&mut d));
        if attempt < 3 {
            assert_eq!(done, vec![(Outcome::NoAnswer, Some(now + D::hours(2)))]);
            // Nothing in between.
            d.tick(now + D::hours(2) - D::seconds(1));
            assert!(dials(&drain(&mut d)).is_empty());
            now += D::hours(2);
            d.tick(now);
        } else {
            assert_eq!(done, vec![(Outcome::NoAnswer, None)]);
        }
    }
    assert_eq!(times[1] - times[0], D::seconds(25) + D::hours(2));
    assert_eq!(
        d.contact_state(&camp(), &ContactId::new("k1")).unwrap(),
        &ContactState::Done {
            outcome: Outcome::NoAnswer
        }
    );
    d.tick(now + D::days(2));
    assert!(dials(&drain(&mut d)).is_empty(), "closed for good");
}

#[test]
fn abandoned_contact_waits_for_its_next_local_day_even_if_the_rule_says_sooner() {
    // The contact is in Los Angeles (+1 213); the campaign's zone is New York.
    let t0 = ny(2026, 3, 2, 13, 0); // 10:00 in Los Angeles
    let mut s = settings(PacingMode::Predictive(PredictiveSettings::default()));
    s.recycle.abandoned = Retry::After {
        delay: Duration::from_secs(60),
        max_tries: 3,
    };
    let mut d = hotline_dialler::Dialler::new(t0);
    d.add_campaign(t0, camp(), s).unwrap();
    d.load_contacts(
        t0,
        &camp(),
        vec![ContactSpec::new("k1", num("+12135550101"))],
    )
    .unwrap();
    d.join(t0, &agent("alice"), &camp()).unwrap();
    d.start(t0, &camp()).unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].2, None, "predictive dials reserve no agent");
    // Alice takes an inbound call; the person answers; nobody is free for 2 s.
    d.set_availability(
        t0 + D::seconds(1),
        &agent("alice"),
        Availability::BusyInbound,
    )
    .unwrap();
    d.progress(t0 + D::seconds(8), ds[0].0, Progress::Person)
        .unwrap();
    assert!(drain(&mut d).is_empty());
    d.tick(t0 + D::milliseconds(9_999));
    assert!(drain(&mut d).is_empty(), "within the 2 s grace");
    d.tick(t0 + D::seconds(10));
    let outs = drain(&mut d);
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::PlayAbandonMessage { caller_name, callback_number, .. }
            if caller_name == "Acme Energy" && callback_number.as_str() == "+12125550000"
    )));
    assert_eq!(
        contact_done(&outs),
        vec![(Outcome::Abandoned, Some(t0 + D::seconds(70)))]
    );
    let stats = d.stats(&camp()).unwrap();
    assert_eq!((stats.live_today, stats.abandoned_today), (1, 1));
    d.set_availability(t0 + D::minutes(1), &agent("alice"), Availability::Available)
        .unwrap();
    // All afternoon and evening in Los Angeles: no dial.
    for h in 0..12 {
        d.tick(t0 + D::minutes(2) + D::hours(h));
        assert!(dials(&drain(&mut d)).is_empty(), "hour {h}");
    }
    // Next day 09:00 in Los Angeles = 12:00 in New York.
    d.tick(ny(2026, 3, 3, 11, 59));
    assert!(dials(&drain(&mut d)).is_empty());
    d.tick(ny(2026, 3, 3, 12, 0));
    assert_eq!(dials(&drain(&mut d)).len(), 1);
}

#[test]
fn an_agent_callback_goes_to_its_agent_only_at_its_time() {
    let t0 = ny(2026, 3, 2, 10, 0); // Monday
    let tuesday_10 = ny(2026, 3, 3, 10, 0);
    let mut d = dialler(t0, PacingMode::Progressive, &[], &["alice", "bob"]);
    let mut k = ContactSpec::new("k1", num("+12125550101"));
    k.callback = Some((agent("bob"), tuesday_10));
    d.load_contacts(t0, &camp(), vec![k]).unwrap();
    d.set_availability(t0, &agent("bob"), Availability::Away)
        .unwrap();
    d.tick(tuesday_10 - D::minutes(1));
    assert!(dials(&drain(&mut d)).is_empty(), "not before its time");
    d.tick(tuesday_10 + D::minutes(5));
    assert!(
        dials(&drain(&mut d)).is_empty(),
        "alice is free but it is bob's callback"
    );
    d.set_availability(
        tuesday_10 + D::minutes(6),
        &agent("bob"),
        Availability::Available,
    )
    .unwrap();
    let ds = dials(&drain(&mut d));
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].2.as_deref(), Some("bob"));
    // Bob talks, then books another callback for himself from the wrap-up.
    let now = tuesday_10 + D::minutes(7);
    d.progress(now, ds[0].0, Progress::Person).unwrap();
    assert!(drain(&mut d).contains(&Output::ConnectToAgent {
        dial: ds[0].0,
        agent: agent("bob")
    }));
    d.progress(now + D::minutes(3), ds[0].0, Progress::Hangup)
        .unwrap();
    let friday = ny(2026, 3, 6, 15, 0);
    d.wrap_up_done(
        now + D::minutes(4),
        &agent("bob"),
        Disposition::Callback {
            at: friday,
            agent_only: true,
        },
    )
    .unwrap();
    assert_eq!(
        d.contact_state(&camp(), &ContactId::new("k1")).unwrap(),
        &ContactState::Callback {
            agent: agent("bob"),
            at: friday
        }
    );
    d.set_availability(now + D::minutes(5), &agent("bob"), Availability::Away)
        .unwrap();
    d.tick(friday + D::hours(1));
    assert!(dials(&drain(&mut d)).is_empty());
}
