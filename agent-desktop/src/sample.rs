//! Sample CTI traffic for previews (`hotline-desktop --preview`), screenshots and tests: an
//! agent logged in and ready, then a call from a known customer with an open ticket; a worklist
//! with voicemails and tickets of her queues.

use hotline_cti::{
    AgentId, AgentProfile, AgentState, AgentStatus, CallId, Disposition, Event, Extension, QueueId,
    ReasonCode, Role, ScreenPop, SkillLevel, Snapshot, UnixMillis,
};

use crate::client::{ClientUpdate, ConnState};

/// The sample agent.
pub const AGENT: &str = "1001";
/// The sample call.
pub const CALL: &str = "c-20261123-0001";

/// Login, connection and a snapshot with the agent not ready since `wall` - 95 s.
pub fn login(wall: UnixMillis) -> Vec<ClientUpdate> {
    login_as(Role::Agent, wall)
}

/// Like [`login`], with a chosen role (a phone that can be answered from the desktop).
pub fn login_as(role: Role, wall: UnixMillis) -> Vec<ClientUpdate> {
    login_with(role, true, wall)
}

/// Like [`login`], with a chosen role and whether the phone can be answered remotely (`false`:
/// a desk phone answered by lifting the handset).
pub fn login_with(role: Role, remote_answer: bool, wall: UnixMillis) -> Vec<ClientUpdate> {
    vec![
        ClientUpdate::LoggedIn {
            role,
            profile: AgentProfile {
                agent: AgentId::new(AGENT),
                name: "Alice Agent".into(),
                extension: Extension::new("2001"),
                skills: vec![SkillLevel {
                    skill: "billing".into(),
                    level: 7,
                }],
                remote_answer,
                queues: vec![QueueId::new("billing"), QueueId::new("support")],
            },
            not_ready_reasons: ["break", "lunch", "training"]
                .map(ReasonCode::from)
                .to_vec(),
            dispositions: ["resolved", "callback", "escalated", "sale"]
                .map(Disposition::from)
                .to_vec(),
        },
        ClientUpdate::Connection(ConnState::Connected),
        ClientUpdate::Event(Event::Snapshot(Box::new(Snapshot {
            agent: status(
                AgentState::NotReady,
                Some("break"),
                wall.0.saturating_sub(95_000),
            ),
            calls: vec![],
            screen_pop: None,
            wrap_up: None,
        }))),
    ]
}

/// An agent state event for the sample agent.
pub fn status(state: AgentState, reason: Option<&str>, since_ms: u64) -> AgentStatus {
    AgentStatus {
        agent: AgentId::new(AGENT),
        state,
        reason: reason.map(ReasonCode::from),
        since: UnixMillis(since_ms),
    }
}

/// The screen pop of a known customer (Ada Lovelace, gold, open ticket T-881) offered at `wall`.
/// The sample pop with a Chinese customer (for the Chinese preview and screenshots): a
/// Beijing caller, 欧阳娜娜, in the 账单 (billing) queue.
pub fn screen_pop_zh(wall: UnixMillis) -> ScreenPop {
    let mut pop = screen_pop(wall);
    pop.ani = hotline_cti::Pii::new("+861065529988".into());
    pop.queue_name = "账单".into();
    if let Some(c) = pop.customer.as_mut() {
        c.name = hotline_cti::Pii::new("欧阳娜娜".into());
        for id in &mut c.identities {
            if id.kind == "phone" {
                id.value = hotline_cti::Pii::new("+861065529988".into());
            }
        }
        for t in &mut c.open_tickets {
            t.subject = "滞纳金争议".into();
        }
        for contact in &mut c.last_contacts {
            contact.summary = Some(hotline_cti::Pii::new("询问滞纳金".into()));
        }
        for b in &mut c.bookings {
            b.what = "工程师上门".into();
        }
    }
    pop
}

pub fn screen_pop(wall: UnixMillis) -> ScreenPop {
    let json = serde_json::json!({
        "call": CALL, "ani": "+441632960001", "dnis": "08001234567",
        "queue": "billing", "queue_name": "Billing", "waited_secs": 42,
        "offered_at": wall.0, "ring_timeout_secs": 20,
        "ivr_path": ["welcome", "main-menu", "billing-menu", "enqueue"],
        "ivr_inputs": [{"name": "menu", "value": "2"}, {"name": "account", "value": "7700123"}],
        "customer": {
            "id": "cust-42", "name": "Ada Lovelace", "tier": "gold",
            "identities": [
                {"kind": "phone", "value": "+441632960001", "verified": true},
                {"kind": "account", "value": "7700123", "verified": true}
            ],
            "last_contacts": [{"call": "c-20261101-0107", "at": wall.0.saturating_sub(22 * 86_400_000),
                "agent": "1003", "queue": "billing", "disposition": "callback",
                "summary": "Asked about late fee"}],
            "open_tickets": [{"id": "T-881", "subject": "Late fee dispute", "status": "open",
                "priority": "high", "updated_at": wall.0.saturating_sub(22 * 86_400_000)}],
            "bookings": [{"id": "B-5", "what": "Engineer visit", "at": wall.0 + 2 * 86_400_000,
                "status": "confirmed"}]
        },
        "new_customer_form": false
    });
    // The literal above is a valid screen pop (the same shape as docs/cti-protocol.md).
    serde_json::from_value(json).unwrap_or_else(|e| panic!("sample screen pop: {e}"))
}

/// A wallboard: the billing queue and two agents, Bob (1002) on a call with Ada Lovelace.
pub fn wallboard(wall: UnixMillis) -> hotline_cti::Wallboard {
    let json = serde_json::json!({
        "at": wall.0,
        "queues": [{"queue": "billing", "name": "Billing", "waiting": 3, "longest_wait_secs": 74,
            "offered": 120, "answered": 110, "abandoned": 6, "service_level_permille": 812,
            "service_level_secs": 20, "asa_secs": 14, "callbacks_pending": 2,
            "estimated_wait_secs": 45, "agents": {"ready": 2, "busy": 5, "wrap_up": 1, "not_ready": 1}}],
        "agents": [
            {"status": {"agent": "1002", "state": "on_call", "since": wall.0.saturating_sub(125_000)},
             "name": "Bob Agent", "call": "c-20261123-0009", "customer": "Ada Lovelace",
             "handled_today": 17},
            {"status": {"agent": "1003", "state": "not_ready", "reason": "lunch",
                "since": wall.0.saturating_sub(600_000)},
             "name": "Carol Agent", "handled_today": 9}
        ]
    });
    serde_json::from_value(json).unwrap_or_else(|e| panic!("sample wallboard: {e}"))
}

/// The sample call's id.
pub fn call() -> CallId {
    CallId::new(CALL)
}

/// Writes a plausible day of traffic into `store` for report previews and screenshots: callers
/// arriving from 08:00 to 18:00 UTC (busier late morning and mid-afternoon) into `sales` and
/// `billing`, four agents answering in turn, some callers giving up (a few within seconds),
/// transfers, holds, outcomes and each answered call's media quality per leg (mostly clean, now
/// and then a lossy or jittery leg). Deterministic: the same day gives the same log. Everything
/// goes through the store's ordinary writers, as the switch and the desktop write it.
pub async fn seed_day(
    store: &hotline_store::Store,
    day: hotline_store::Millis,
) -> Result<(), hotline_store::Error> {
    use hotline_store::{AgentStateEvent, CallEvent, CallEventKind, Direction, Outcome};
    const S: i64 = 1000;
    for (code, resolved) in [
        ("resolved", true),
        ("callback", false),
        ("escalated", false),
    ] {
        store
            .upsert_disposition(&hotline_store::Disposition {
                code: code.into(),
                label: code.into(),
                resolved,
            })
            .await?;
    }
    // A small linear congruential generator: no dependency, same sequence every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: i64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) % n.max(1) as u64) as i64
    };
    // Media figures draw from their own generator, so the traffic is the same with or without.
    let mut qseed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut qrnd = move |n: u64| {
        qseed = qseed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (qseed >> 33) % n.max(1)
    };
    let agents = ["1002", "1003", "1004", "1005"];
    let mut free_at = [day + 8 * 3600 * S; 4];
    let state = |agent: &str, at: i64, st: &str, call: Option<&str>| AgentStateEvent {
        agent_id: agent.into(),
        at,
        state: st.into(),
        reason: None,
        call_id: call.map(String::from),
    };
    for a in agents {
        store
            .record_agent_state(&state(a, day + 8 * 3600 * S, "ready", None))
            .await?;
    }
    let mut t = day + 8 * 3600 * S;
    let mut i = 0;
    while t < day + 18 * 3600 * S {
        let hour = (t - day) / (3600 * S);
        let busy = matches!(hour, 10 | 11 | 14 | 15);
        t += (if busy { 20 } else { 60 } + rnd(if busy { 90 } else { 240 })) * S;
        if t >= day + 18 * 3600 * S {
            break;
        }
        i += 1;
        let id = format!("d{}-{i:04}", day / (86_400 * S));
        let queue = if rnd(3) == 0 { "billing" } else { "sales" };
        let mut seq = 0;
        let mut events = vec![
            (
                t - 20 * S,
                CallEventKind::Arrived {
                    direction: if rnd(25) == 0 {
                        Direction::Callback
                    } else {
                        Direction::Inbound
                    },
                    ani: format!("+44163296{:04}", rnd(9000)),
                    dnis: "08001234567".into(),
                },
            ),
            (
                t,
                CallEventKind::Enqueued {
                    queue_id: queue.into(),
                    priority: 0,
                },
            ),
        ];
        let mut outcome = None;
        let patience = if rnd(12) == 0 { 3 } else { 20 + rnd(150) } * S;
        let (k, &free) = free_at
            .iter()
            .enumerate()
            .min_by_key(|(_, f)| **f)
            .unwrap_or((0, &t));
        let offer = free.max(t + S);
        let answer = offer + 4 * S;
        if answer - t > patience {
            events.push((
                t + patience,
                CallEventKind::Ended {
                    reason: "abandoned".into(),
                    abandoned: true,
                },
            ));
        } else {
            let agent = agents[k];
            let talk = (90 + rnd(330)) * S;
            let end = answer + talk;
            let wrap = (10 + rnd(45)) * S;
            events.push((
                offer,
                CallEventKind::Offered {
                    agent_id: agent.into(),
                },
            ));
            events.push((
                answer,
                CallEventKind::Answered {
                    agent_id: agent.into(),
                },
            ));
            if rnd(14) == 0 {
                events.push((
                    answer + talk / 2,
                    CallEventKind::Transferred {
                        to: "billing".into(),
                    },
                ));
            }
            // Call control writes each leg's figures as its media ends: the agent's, then the
            // caller's (a home line; one call in eight with a bad network on one leg).
            let bad = qrnd(8) == 0;
            for (leg, agent_id, packets) in [
                ("agent", Some(agent), talk / 20),
                ("caller", None, talk / 20),
            ] {
                let worse = bad && (leg == "caller") == (qrnd(3) != 0);
                let loss = if worse {
                    1.0 + qrnd(40) as f64 / 10.0
                } else {
                    qrnd(5) as f64 / 10.0
                };
                let jitter = if worse {
                    15.0 + qrnd(500) as f64 / 10.0
                } else {
                    1.0 + qrnd(80) as f64 / 10.0
                };
                let packets = u64::try_from(packets).unwrap_or(0);
                let lost = (packets as f64 * loss / 100.0).round() as u64;
                events.push((
                    end,
                    CallEventKind::Quality(hotline_store::LegQuality {
                        leg: leg.into(),
                        agent_id: agent_id.map(String::from),
                        packets: packets - lost,
                        lost,
                        loss_percent: loss,
                        jitter_ms: jitter,
                        mos: e_model_mos(loss, jitter),
                        remote_loss_percent: Some(qrnd(3) as f64 / 10.0),
                        remote_jitter_ms: Some(1.0 + qrnd(40) as f64 / 10.0),
                        rtt_ms: Some(8.0 + qrnd(30) as f64),
                    }),
                ));
            }
            events.push((
                end,
                CallEventKind::Ended {
                    reason: "remote_hangup".into(),
                    abandoned: false,
                },
            ));
            for (at, st, call) in [
                (offer, "reserved", Some(id.as_str())),
                (answer, "on_call", Some(id.as_str())),
                (end, "wrap_up", Some(id.as_str())),
                (end + wrap, "ready", None),
            ] {
                store
                    .record_agent_state(&state(agent, at, st, call))
                    .await?;
            }
            let disposition = match rnd(10) {
                0 => "callback",
                1 => "escalated",
                _ => "resolved",
            };
            outcome = Some(Outcome {
                call_id: id.clone(),
                agent_id: agent.into(),
                disposition: disposition.into(),
                notes: String::new(),
                wrapup_ms: wrap,
                ticket_id: None,
                at: end + wrap,
            });
            free_at[k] = end + wrap;
        }
        for (at, kind) in events {
            store
                .record_call_event(&CallEvent {
                    call_id: id.clone(),
                    seq,
                    at,
                    kind,
                })
                .await?;
            seq += 1;
        }
        // The outcome refers to the call: written after the call's events.
        if let Some(o) = outcome {
            store.write_outcome(&o).await?;
        }
    }
    for (k, a) in agents.iter().enumerate() {
        let off = free_at[k].max(day + 18 * 3600 * S + 600 * S);
        store
            .record_agent_state(&state(a, off, "not_ready", None))
            .await?;
    }
    Ok(())
}

/// The MOS the switch would estimate for G.711 with `loss` percent lost and `jitter` ms of
/// jitter, without RTCP (docs/media.md: ITU-T G.107's E-model, simplified), to two decimals.
fn e_model_mos(loss: f64, jitter: f64) -> f64 {
    let d = 10.0 + 20.0 + 2.0 * jitter;
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ie_eff = 95.0 * loss / (loss + 4.3);
    let r = (93.2 - id - ie_eff).clamp(0.0, 100.0);
    let mos = 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r);
    (mos * 100.0).round() / 100.0
}

/// A worklist for the sample agent at `wall`: a voicemail overdue, one from an unknown caller, a
/// ticket of hers, a follow-up due later.
pub fn worklist(wall: UnixMillis) -> Vec<crate::directory::WorkLine> {
    use crate::directory::{WorkCustomer, WorkKind, WorkLine};
    use hotline_cti::{Pii, TicketPriority, TicketStatus};
    let ago = |mins: u64| UnixMillis(wall.0.saturating_sub(mins * 60_000));
    let line = |ticket: &str, kind, subject: &str, queue: &str, created| WorkLine {
        ticket: ticket.into(),
        kind,
        subject: subject.into(),
        customer: None,
        queue: Some(QueueId::new(queue)),
        status: TicketStatus::Open,
        priority: TicketPriority::Normal,
        assignee: None,
        created,
        updated: created,
        due: None,
        has_recording: kind == WorkKind::Voicemail,
    };
    let mut overdue = line(
        "T-905",
        WorkKind::Voicemail,
        "Voicemail: card declined twice",
        "billing",
        ago(95),
    );
    overdue.due = Some(ago(5));
    overdue.priority = TicketPriority::High;
    overdue.customer = Some(WorkCustomer {
        id: "cust-42".into(),
        name: Some(Pii::new("Ada Lovelace".into())),
    });
    let mut follow = line(
        "T-899",
        WorkKind::FollowUp,
        "Call back about the refund",
        "billing",
        ago(24 * 60),
    );
    follow.due = Some(UnixMillis(wall.0 + 3 * 3_600_000));
    follow.assignee = Some(AgentId::new(AGENT));
    follow.status = TicketStatus::Pending;
    follow.customer = Some(WorkCustomer {
        id: "cust-57".into(),
        name: Some(Pii::new("Grace Hopper".into())),
    });
    let unknown = line(
        "T-911",
        WorkKind::Voicemail,
        "Voicemail from +441632960777",
        "support",
        ago(12),
    );
    let mut mine = line(
        "T-881",
        WorkKind::Ticket,
        "Late fee dispute",
        "billing",
        ago(3 * 24 * 60),
    );
    mine.assignee = Some(AgentId::new(AGENT));
    mine.customer = overdue.customer.clone();
    vec![overdue, follow, unknown, mine]
}

#[cfg(test)]
mod tests {
    /// The sample MOS follows the figures docs/media.md gives for the switch's estimate.
    #[test]
    fn sample_mos_matches_the_documented_e_model_figures() {
        assert_eq!(super::e_model_mos(0.0, 0.0), 4.39);
        assert_eq!(super::e_model_mos(1.0, 0.0), 3.80);
        assert_eq!(super::e_model_mos(2.0, 0.0), 3.22);
        assert_eq!(super::e_model_mos(5.0, 0.0), 2.13);
    }
}
