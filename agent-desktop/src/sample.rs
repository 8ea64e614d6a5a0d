//! Sample CTI traffic for previews (`hotline-desktop --preview`), screenshots and tests: an
//! agent logged in and ready, then a call from a known customer with an open ticket.

use hotline_cti::{
    AgentId, AgentProfile, AgentState, AgentStatus, CallId, Disposition, Event, Extension,
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

/// Like [`login`], with a chosen role.
pub fn login_as(role: Role, wall: UnixMillis) -> Vec<ClientUpdate> {
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
