//! Reading for reports and supervisors: the audit log and the KPI reports
//! ([`Store::kpis`], [`KpiSettings`], [`KpiRow`], [`kpi_csv`]; formulas in docs/kpis.md).

use sqlx::Row;

use crate::{AuditEntry, Millis, Result, Store, flag};

impl Store {
    /// Audit entries at or after `since`, oldest first, at most `limit`.
    pub async fn audit_entries(&self, since: Millis, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, call_id, allowed, detail FROM audit_log
             WHERE at >= $1 ORDER BY at, id LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    call_id: r.try_get("call_id")?,
                    allowed: flag(r.try_get("allowed")?),
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// A page of the audit log in the order written: entries after row `after` (keyset
    /// pagination), at most `limit` (1..=500), each with its row id (the next page's `after`).
    pub async fn audit_page(
        &self,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(i64, AuditEntry)>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, call_id, allowed, detail FROM audit_log
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.unwrap_or(0))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok((
                    r.try_get("id")?,
                    AuditEntry {
                        at: r.try_get("at")?,
                        actor: r.try_get("actor")?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                        call_id: r.try_get("call_id")?,
                        allowed: flag(r.try_get("allowed")?),
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    },
                ))
            })
            .collect()
    }
}

// ----- KPI reports ----------------------------------------------------------------------------
//
// Every figure is computed from the raw records the switch and the desktops write (calls,
// call_events, outcomes, tickets, agent_state_events); the formulas are in docs/kpis.md. The SQL
// only selects rows (portable between SQLite and PostgreSQL); the arithmetic is here, in one
// place, so both back ends give the same numbers by construction.

/// Report settings. Where vendors disagree, it is a setting.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiSettings {
    /// Interval length in minutes (15, 30 or 60 are usual; any divisor of a day works).
    pub interval_mins: u32,
    /// Service-level threshold: answered within this wait counts as in service level.
    pub service_level_ms: Millis,
    /// A caller who hangs up within this wait is a short abandon.
    pub short_abandon_ms: Millis,
    /// Leave short abandons out of offered and abandoned (they are still counted apart).
    pub exclude_short_abandons: bool,
    /// Count (non-short) abandons in the service-level denominator.
    pub sl_counts_abandons: bool,
    /// A resolved contact only counts as first-contact resolution if the same customer (or
    /// number) does not call again within this window.
    pub fcr_window_ms: Millis,
    /// The moment the data ends (the report's "now"): an agent state still open counts only up
    /// to it, so a report for today has no occupancy in intervals still to come. `None`: the
    /// end of the period.
    pub until: Option<Millis>,
}

impl Default for KpiSettings {
    fn default() -> Self {
        KpiSettings {
            interval_mins: 30,
            service_level_ms: 20_000,
            short_abandon_ms: 5_000,
            exclude_short_abandons: true,
            sl_counts_abandons: true,
            fcr_window_ms: 7 * 24 * 3_600_000,
            until: None,
        }
    }
}

/// Group rows by queue or by agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiGroup {
    Queue,
    Agent,
}

/// One row: one interval and one queue (or agent). See docs/kpis.md for each formula.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiRow {
    pub interval_start: Millis,
    /// Queue id or agent id.
    pub key: String,
    pub offered: u32,
    pub answered: u32,
    pub abandoned: u32,
    pub short_abandoned: u32,
    pub answered_in_sl: u32,
    /// Fraction 0..=1; `None` when the denominator is 0.
    pub service_level: Option<f64>,
    pub asa_ms: Option<i64>,
    /// Answered calls that also ended (the AHT sample).
    pub handled: u32,
    /// Talk + hold + wrap-up, per handled call.
    pub aht_ms: Option<i64>,
    pub transfers: u32,
    /// Callback requests (direction `callback`).
    pub callbacks: u32,
    /// Answered calls with an outcome (the FCR denominator) and those resolved first time.
    pub fcr_eligible: u32,
    pub fcr_resolved: u32,
    pub fcr: Option<f64>,
    /// Agents only: busy / (busy + ready) time in the interval.
    pub occupancy: Option<f64>,
}

#[derive(Debug, Clone)]
struct CallRow {
    id: String,
    direction: String,
    who: String,
    arrived_at: Millis,
    queue_id: Option<String>,
    enqueued_at: Option<Millis>,
    answered_at: Option<Millis>,
    ended_at: Option<Millis>,
    agent_id: Option<String>,
    abandoned: bool,
    transfers: i64,
}

#[derive(Debug, Clone)]
struct OutcomeRow {
    resolved: bool,
    ticket_open: bool,
    wrapup_ms: i64,
}

#[derive(Debug, Clone)]
struct StateRow {
    agent: String,
    at: Millis,
    state: String,
    call_id: Option<String>,
}

/// Agent states that count as busy for occupancy (ringing counts: the agent is committed).
const BUSY_STATES: [&str; 5] = ["reserved", "on_call", "on_hold", "consulting", "wrap_up"];

impl Store {
    /// KPIs per interval and queue or agent for calls in `[from, to)`. Queue rows are bucketed by
    /// the time the call was queued, agent rows by the time the agent answered (offers by the
    /// offer's time). Rows come sorted by interval, then key.
    pub async fn kpis(
        &self,
        from: Millis,
        to: Millis,
        group: KpiGroup,
        s: &KpiSettings,
    ) -> Result<Vec<KpiRow>> {
        let step = i64::from(s.interval_mins.max(1)) * 60_000;
        let bucket = |t: Millis| t - (t - from).rem_euclid(step);
        // Calls that could matter: queued or answered in range, plus later ones for FCR.
        let rows = sqlx::query(
            "SELECT id, direction, customer_id, ani, arrived_at, queue_id, enqueued_at, answered_at,
                    ended_at, agent_id, abandoned, transfers
             FROM calls WHERE arrived_at >= $1 AND arrived_at < $2
             ORDER BY arrived_at, id",
        )
        .bind(from.saturating_sub(24 * 3_600_000))
        .bind(to.saturating_add(s.fcr_window_ms))
        .fetch_all(self.pool())
        .await?;
        let mut calls = Vec::with_capacity(rows.len());
        for r in &rows {
            let customer: Option<i64> = r.try_get("customer_id")?;
            let ani: String = r.try_get("ani")?;
            calls.push(CallRow {
                id: r.try_get("id")?,
                direction: r.try_get("direction")?,
                who: customer.map_or_else(|| format!("ani:{ani}"), |c| format!("c:{c}")),
                arrived_at: r.try_get("arrived_at")?,
                queue_id: r.try_get("queue_id")?,
                enqueued_at: r.try_get("enqueued_at")?,
                answered_at: r.try_get("answered_at")?,
                ended_at: r.try_get("ended_at")?,
                agent_id: r.try_get("agent_id")?,
                abandoned: flag(r.try_get("abandoned")?),
                transfers: r.try_get("transfers")?,
            });
        }
        let orows = sqlx::query(
            "SELECT o.call_id, o.agent_id, o.wrapup_ms, d.resolved, t.status
             FROM outcomes o JOIN dispositions d ON d.code = o.disposition
             LEFT JOIN tickets t ON t.id = o.ticket_id
             JOIN calls c ON c.id = o.call_id
             WHERE c.arrived_at >= $1 AND c.arrived_at < $2",
        )
        .bind(from.saturating_sub(24 * 3_600_000))
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let mut outcomes: std::collections::HashMap<(String, String), OutcomeRow> =
            Default::default();
        for r in &orows {
            let status: Option<String> = r.try_get("status")?;
            outcomes.insert(
                (r.try_get("call_id")?, r.try_get("agent_id")?),
                OutcomeRow {
                    resolved: flag(r.try_get("resolved")?),
                    ticket_open: status
                        .as_deref()
                        .is_some_and(|st| crate::OPEN_TICKET_STATUSES.contains(&st)),
                    wrapup_ms: r.try_get("wrapup_ms")?,
                },
            );
        }
        let srows = sqlx::query(
            "SELECT agent_id, at, state, call_id FROM agent_state_events
             WHERE at >= $1 AND at < $2 ORDER BY agent_id, at, id",
        )
        .bind(from.saturating_sub(24 * 3_600_000))
        .bind(to.saturating_add(24 * 3_600_000))
        .fetch_all(self.pool())
        .await?;
        let mut states = Vec::with_capacity(srows.len());
        for r in &srows {
            states.push(StateRow {
                agent: r.try_get("agent_id")?,
                at: r.try_get("at")?,
                state: r.try_get("state")?,
                call_id: r.try_get("call_id")?,
            });
        }
        // Wrap-up per (call, agent) from the state log: from entering wrap_up to the next state.
        let mut wrap: std::collections::HashMap<(String, String), i64> = Default::default();
        for w in states.windows(2) {
            if w[0].agent == w[1].agent
                && w[0].state == "wrap_up"
                && let Some(c) = &w[0].call_id
            {
                *wrap.entry((c.clone(), w[0].agent.clone())).or_default() += w[1].at - w[0].at;
            }
        }
        let offers = if group == KpiGroup::Agent {
            let r = sqlx::query(
                "SELECT agent_id, at FROM call_events WHERE kind = 'offered' AND at >= $1 AND at < $2",
            )
            .bind(from)
            .bind(to)
            .fetch_all(self.pool())
            .await?;
            r.iter()
                .map(|r| {
                    Ok((
                        r.try_get::<Option<String>, _>("agent_id")?,
                        r.try_get("at")?,
                    ))
                })
                .collect::<Result<Vec<(Option<String>, Millis)>>>()?
        } else {
            Vec::new()
        };

        let mut acc: std::collections::BTreeMap<(Millis, String), Acc> = Default::default();
        let repeat_within = |c: &CallRow| {
            calls.iter().any(|o| {
                o.id != c.id
                    && o.who == c.who
                    && o.arrived_at > c.arrived_at
                    && o.arrived_at - c.arrived_at <= s.fcr_window_ms
            })
        };
        for c in &calls {
            let Some(enq) = c.enqueued_at else { continue };
            let (at, key) = match group {
                KpiGroup::Queue => match &c.queue_id {
                    Some(q) => (enq, q.clone()),
                    None => continue,
                },
                KpiGroup::Agent => match (&c.agent_id, c.answered_at) {
                    (Some(a), Some(ans)) => (ans, a.clone()),
                    _ => continue,
                },
            };
            if at < from || at >= to {
                continue;
            }
            let a = acc.entry((bucket(at), key)).or_default();
            let wait_end = c.answered_at.or(c.ended_at);
            let waited = wait_end.map(|t| t - enq);
            let short = c.abandoned
                && c.answered_at.is_none()
                && waited.is_some_and(|w| w < s.short_abandon_ms);
            if c.direction == "callback" {
                a.callbacks += 1;
            }
            if short {
                a.short_abandoned += 1;
                if s.exclude_short_abandons {
                    continue;
                }
            }
            if group == KpiGroup::Queue {
                a.offered += 1;
            }
            a.transfers += c.transfers.max(0) as u32;
            match c.answered_at {
                Some(ans) => {
                    a.answered += 1;
                    a.wait_sum += ans - enq;
                    if ans - enq <= s.service_level_ms {
                        a.in_sl += 1;
                    }
                    if let (Some(end), Some(agent)) = (c.ended_at, &c.agent_id) {
                        let k = (c.id.clone(), agent.clone());
                        let w = wrap
                            .get(&k)
                            .copied()
                            .or_else(|| outcomes.get(&k).map(|o| o.wrapup_ms))
                            .unwrap_or(0);
                        a.handled += 1;
                        a.handle_sum += (end - ans) + w;
                    }
                    if let Some(agent) = &c.agent_id
                        && let Some(o) = outcomes.get(&(c.id.clone(), agent.clone()))
                    {
                        a.fcr_eligible += 1;
                        if o.resolved && !o.ticket_open && !repeat_within(c) {
                            a.fcr_resolved += 1;
                        }
                    }
                }
                None if c.abandoned => a.abandoned += 1,
                None => {}
            }
        }
        for (agent, at) in offers {
            if let Some(agent) = agent {
                acc.entry((bucket(at), agent)).or_default().offered += 1;
            }
        }
        if group == KpiGroup::Agent {
            let to = s.until.map_or(to, |u| u.clamp(from, to));
            occupancy(&states, from, to, step, &mut acc);
        }
        Ok(acc
            .into_iter()
            // Agent rows are agents: a trunk or a bare extension that answered (`trunk:pstn`,
            // `ext:2001`) is not one (see `is_agent_key`).
            .filter(|((_, key), _)| group != KpiGroup::Agent || is_agent_key(key))
            .map(|((interval_start, key), a)| a.row(interval_start, key, s))
            .collect())
    }
}

#[derive(Debug, Default)]
struct Acc {
    offered: u32,
    answered: u32,
    abandoned: u32,
    short_abandoned: u32,
    in_sl: u32,
    wait_sum: i64,
    handled: u32,
    handle_sum: i64,
    transfers: u32,
    callbacks: u32,
    fcr_eligible: u32,
    fcr_resolved: u32,
    busy_ms: i64,
    ready_ms: i64,
}

impl Acc {
    fn row(self, interval_start: Millis, key: String, s: &KpiSettings) -> KpiRow {
        let sl_den = self.answered
            + if s.sl_counts_abandons {
                self.abandoned
            } else {
                0
            };
        KpiRow {
            interval_start,
            key,
            offered: self.offered,
            answered: self.answered,
            abandoned: self.abandoned,
            short_abandoned: self.short_abandoned,
            answered_in_sl: self.in_sl,
            service_level: (sl_den > 0).then(|| f64::from(self.in_sl) / f64::from(sl_den)),
            asa_ms: (self.answered > 0).then(|| self.wait_sum / i64::from(self.answered)),
            handled: self.handled,
            aht_ms: (self.handled > 0).then(|| self.handle_sum / i64::from(self.handled)),
            transfers: self.transfers,
            callbacks: self.callbacks,
            fcr_eligible: self.fcr_eligible,
            fcr_resolved: self.fcr_resolved,
            fcr: (self.fcr_eligible > 0)
                .then(|| f64::from(self.fcr_resolved) / f64::from(self.fcr_eligible)),
            occupancy: (self.busy_ms + self.ready_ms > 0)
                .then(|| self.busy_ms as f64 / (self.busy_ms + self.ready_ms) as f64),
        }
    }
}

/// Is `key` an agent id, not a trunk or extension that call records name in the agent column
/// (`trunk:pstn`, `ext:2001`)? Agent ids have no `:`.
pub fn is_agent_key(key: &str) -> bool {
    !key.contains(':')
}

/// Adds each agent's busy and ready time, clipped to `[from, to)` and split by interval.
fn occupancy(
    states: &[StateRow],
    from: Millis,
    to: Millis,
    step: i64,
    acc: &mut std::collections::BTreeMap<(Millis, String), Acc>,
) {
    for (i, st) in states.iter().enumerate() {
        let busy = BUSY_STATES.contains(&st.state.as_str());
        if !busy && st.state != "ready" {
            continue;
        }
        let end = states
            .get(i + 1)
            .filter(|n| n.agent == st.agent)
            .map_or(to, |n| n.at);
        let (mut t, end) = (st.at.max(from), end.min(to));
        while t < end {
            let b = t - (t - from).rem_euclid(step);
            let seg_end = (b + step).min(end);
            let a = acc.entry((b, st.agent.clone())).or_default();
            if busy {
                a.busy_ms += seg_end - t;
            } else {
                a.ready_ms += seg_end - t;
            }
            t = seg_end;
        }
    }
}

/// KPI rows as CSV (header line first); ratios as fractions with 4 decimals, times in ms.
pub fn kpi_csv(rows: &[KpiRow]) -> String {
    let mut out = String::from(
        "interval_start,key,offered,answered,abandoned,short_abandoned,answered_in_sl,service_level,asa_ms,handled,aht_ms,transfers,callbacks,fcr_eligible,fcr_resolved,fcr,occupancy\n",
    );
    let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let i = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
    for r in rows {
        let key = if r.key.contains([',', '"', '\n']) {
            format!("\"{}\"", r.key.replace('"', "\"\""))
        } else {
            r.key.clone()
        };
        out.push_str(&format!(
            "{},{key},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.interval_start,
            r.offered,
            r.answered,
            r.abandoned,
            r.short_abandoned,
            r.answered_in_sl,
            f(r.service_level),
            i(r.asa_ms),
            r.handled,
            i(r.aht_ms),
            r.transfers,
            r.callbacks,
            r.fcr_eligible,
            r.fcr_resolved,
            f(r.fcr),
            f(r.occupancy),
        ));
    }
    out
}
