//! The supervisors' wallboard: routing's [`Board`] turned into CTI rows, full on subscribe and
//! as deltas (changed rows only) every `wallboard_interval_ms`, pushed, never polled.

use std::collections::HashMap;

use hotline_cti::{
    AgentCounts, AgentId, AgentRow, CallId, QueueId, QueueStats, UnixMillis, Wallboard,
    WallboardDelta,
};

use super::hub::{Hub, status_of};
use crate::routing::Board;

/// Builds the full wallboard from routing's figures and the hub's names and customers.
pub fn build(board: &Board, hub: &Hub, now_ms: i64) -> Wallboard {
    let at = UnixMillis(u64::try_from(now_ms).unwrap_or(0));
    let queues = board
        .queues
        .iter()
        .map(|q| QueueStats {
            queue: QueueId::new(q.queue.as_str()),
            name: q.name.clone(),
            waiting: q.stats.waiting as u32,
            longest_wait_secs: q.longest_wait.as_secs() as u32,
            offered: q.offered,
            answered: q.answered,
            abandoned: q.abandoned,
            service_level_permille: q.service_level_permille(),
            service_level_secs: q.service_level_secs,
            asa_secs: q.asa().as_secs() as u32,
            callbacks_pending: q.stats.callbacks as u32,
            estimated_wait_secs: q.stats.estimated_wait_new.map_or(0, |d| d.as_secs() as u32),
            agents: AgentCounts {
                ready: q.ready,
                busy: q.busy,
                wrap_up: q.wrap_up,
                not_ready: q.not_ready,
            },
        })
        .collect();
    let agents = board
        .agents
        .iter()
        .map(|a| {
            let id = AgentId::new(a.agent.as_str());
            let call = a.state.call().map(|c| CallId::new(c.as_str()));
            let customer = call
                .as_ref()
                .and_then(|c| hub.customers.get(c))
                .and_then(|c| c.name.clone());
            AgentRow {
                status: status_of(
                    &id,
                    &a.state,
                    UnixMillis(u64::try_from(a.since_ms).unwrap_or(0)),
                ),
                name: hub
                    .names
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string()),
                call,
                customer,
                handled_today: a.handled_today,
            }
        })
        .collect();
    Wallboard { at, queues, agents }
}

/// Rows of `next` that differ from `prev`, and agents no longer on the board.
pub fn delta(prev: &Wallboard, next: &Wallboard) -> WallboardDelta {
    let old_q: HashMap<&QueueId, &QueueStats> = prev.queues.iter().map(|q| (&q.queue, q)).collect();
    let old_a: HashMap<&AgentId, &AgentRow> =
        prev.agents.iter().map(|a| (&a.status.agent, a)).collect();
    let queues = next
        .queues
        .iter()
        .filter(|q| old_q.get(&q.queue) != Some(q))
        .cloned()
        .collect();
    let agents = next
        .agents
        .iter()
        .filter(|a| old_a.get(&a.status.agent) != Some(a))
        .cloned()
        .collect();
    let now: std::collections::HashSet<&AgentId> =
        next.agents.iter().map(|a| &a.status.agent).collect();
    let removed_agents = prev
        .agents
        .iter()
        .map(|a| &a.status.agent)
        .filter(|a| !now.contains(a))
        .cloned()
        .collect();
    WallboardDelta {
        at: next.at,
        queues,
        agents,
        removed_agents,
    }
}

/// Keeps only the queues a subscriber asked for (all when `filter` is empty).
pub fn filter_queues(mut queues: Vec<QueueStats>, filter: &[QueueId]) -> Vec<QueueStats> {
    if !filter.is_empty() {
        queues.retain(|q| filter.contains(&q.queue));
    }
    queues
}
