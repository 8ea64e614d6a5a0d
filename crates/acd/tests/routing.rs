//! Who gets which call: skills with minimum proficiency, priority before wait, one global
//! choice across every queue an agent serves (never "first queue first"), and the five
//! strategies for picking among ready agents.

mod common;
use common::*;
use hotline_acd::*;

#[test]
fn vip_is_served_before_older_normal_calls() {
    let mut h = H::new(vec![QueueConfig::new("support")]);
    h.enqueue("old1", "support", 0);
    h.advance(secs(60));
    h.enqueue("old2", "support", 0);
    h.advance(secs(60));
    h.enqueue("vip", "support", Priority::from_parts(10, 0).0);
    assert_eq!(h.acd.position(&c("vip")), Some(1));
    h.login_ready("alice", &[]);
    assert_eq!(h.offers(), vec![("vip".into(), "alice".into())]);
    h.serve("vip", "alice");
    assert_eq!(h.offers(), vec![("old1".into(), "alice".into())]);
}

#[test]
fn choice_is_global_across_an_agents_queues() {
    // Alice serves both queues; calls arrive alternately. She must take them oldest first,
    // whichever queue they are in, with priority first.
    let mut h = H::new(vec![
        QueueConfig::new("billing").require("billing", 1),
        QueueConfig::new("tech").require("tech", 1),
    ]);
    h.enqueue("t1", "tech", 0);
    h.advance(secs(1));
    h.enqueue("b1", "billing", 0);
    h.advance(secs(1));
    h.enqueue("t2", "tech", 0);
    h.advance(secs(1));
    h.enqueue("b2", "billing", 0);
    h.advance(secs(1));
    h.enqueue("b3-vip", "billing", 5);
    h.login_ready("alice", &[("billing", 3), ("tech", 3)]);
    let mut order = Vec::new();
    for _ in 0..5 {
        let offers = h.offers();
        assert_eq!(offers.len(), 1);
        let call = offers[0].0.clone();
        h.serve(&call, "alice");
        order.push(call);
    }
    assert_eq!(order, ["b3-vip", "t1", "b1", "t2", "b2"]);
}

#[test]
fn minimum_proficiency_is_respected() {
    let mut h = H::new(vec![QueueConfig::new("spanish").require("es", 3)]);
    h.login_ready("novice", &[("es", 2)]);
    h.enqueue("c1", "spanish", 0);
    assert!(h.offers().is_empty());
    h.login_ready("fluent", &[("es", 3)]);
    assert_eq!(h.offers(), vec![("c1".into(), "fluent".into())]);
    // A supervisor raises the novice's level: takes effect for the next call at once.
    h.acd
        .set_skills(h.now, &a("novice"), &[(SkillId::new("es"), 4)])
        .unwrap();
    h.enqueue("c2", "spanish", 0);
    assert_eq!(h.offers(), vec![("c2".into(), "novice".into())]);
}

fn three_agents(strategy: Strategy) -> H {
    let mut h = H::new(vec![
        QueueConfig::new("q").require("s", 1).strategy(strategy),
    ]);
    h.login_ready("a1", &[("s", 2)]);
    h.advance(secs(10));
    h.login_ready("a2", &[("s", 5)]);
    h.advance(secs(10));
    h.login_ready("a3", &[("s", 3)]);
    h.advance(secs(10));
    h
}

#[test]
fn longest_idle_is_the_default() {
    let mut h = three_agents(Strategy::default());
    h.enqueue("c1", "q", 0);
    assert_eq!(h.offers(), vec![("c1".into(), "a1".into())]);
    h.serve("c1", "a1");
    // a1 is now the most recently idle: a2 is next.
    h.enqueue("c2", "q", 0);
    assert_eq!(h.offers(), vec![("c2".into(), "a2".into())]);
}

#[test]
fn most_skilled_first() {
    let mut h = three_agents(Strategy::MostSkilled);
    h.enqueue("c1", "q", 0);
    h.enqueue("c2", "q", 0);
    h.enqueue("c3", "q", 0);
    assert_eq!(
        h.offers(),
        vec![
            ("c1".into(), "a2".into()),
            ("c2".into(), "a3".into()),
            ("c3".into(), "a1".into())
        ]
    );
}

#[test]
fn fewest_calls_first() {
    let mut h = three_agents(Strategy::FewestCalls);
    h.acd.not_ready(h.now, &a("a3"), "training").unwrap();
    h.enqueue("c1", "q", 0);
    assert_eq!(h.offers(), vec![("c1".into(), "a1".into())]);
    h.serve("c1", "a1");
    h.enqueue("c2", "q", 0);
    assert_eq!(
        h.offers(),
        vec![("c2".into(), "a2".into())],
        "a1 has answered more"
    );
    h.serve("c2", "a2");
    h.advance(secs(100));
    // a3 just became ready (least idle) but has answered nothing: it wins.
    h.acd.ready(h.now, &a("a3")).unwrap();
    h.enqueue("c3", "q", 0);
    assert_eq!(h.offers(), vec![("c3".into(), "a3".into())]);
    // Among equals (one call each), the longest idle: a1.
    h.serve("c3", "a3");
    h.enqueue("c4", "q", 0);
    assert_eq!(h.offers(), vec![("c4".into(), "a1".into())]);
}

#[test]
fn round_robin_rotates_in_login_order() {
    let mut h = three_agents(Strategy::RoundRobin);
    let mut got = Vec::new();
    for i in 0..6 {
        let call = format!("c{i}");
        h.enqueue(&call, "q", 0);
        let (_, agent) = h.offers()[0].clone();
        h.serve(&call, &agent);
        got.push(agent);
    }
    assert_eq!(got, ["a1", "a2", "a3", "a1", "a2", "a3"]);
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_wins() {
    let mut h = three_agents(Strategy::RingAll);
    h.enqueue("c1", "q", 0);
    let mut agents: Vec<String> = h.offers().into_iter().map(|(_, a)| a).collect();
    agents.sort();
    assert_eq!(agents, ["a1", "a2", "a3"]);
    h.answer("c1", "a3");
    let cancels: Vec<_> = h
        .take()
        .into_iter()
        .filter_map(|d| match d {
            Decision::CancelOffer { agent, .. } => Some(agent.0),
            _ => None,
        })
        .collect();
    assert_eq!(cancels, ["a1", "a2"]);
    assert_eq!(h.state("a1"), AgentState::Ready);
    assert_eq!(h.state("a2"), AgentState::Ready);
    assert!(matches!(h.state("a3"), AgentState::OnCall { .. }));
    // A late answer from a loser is refused.
    assert!(h.acd.answer(h.now, &c("c1"), &a("a1")).is_err());
}

#[test]
fn ring_all_with_no_answer_returns_the_call_once_every_phone_gave_up() {
    let mut h = three_agents(Strategy::RingAll);
    h.enqueue("c1", "q", 0);
    h.take();
    h.acd.no_answer(h.now, &a("a1")).unwrap();
    h.drain();
    assert_eq!(h.acd.position(&c("c1")), None, "still ringing at a2 and a3");
    h.advance(secs(20));
    for agent in ["a1", "a2", "a3"] {
        assert_eq!(
            h.state(agent),
            AgentState::NotReady {
                reason: "missed".into()
            }
        );
    }
    assert_eq!(h.acd.position(&c("c1")), Some(1));
}
