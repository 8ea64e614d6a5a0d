//! The real [`OutcomeSink`] and [`Directory`](crate::directory::Directory): the shared database
//! through `hotline-store`.
//!
//! The store is async (sqlx); this sink owns a small current-thread tokio runtime and blocks on
//! it, which is fine because it runs on the outbox worker thread, never on the UI thread. The
//! database is opened lazily, so a desktop started while the database is down keeps outcomes in
//! the outbox and connects on a later retry.
//!
//! Each write is idempotent, so the outbox may repeat it: a new customer is looked up by the
//! calling number before one is created; a new ticket carries the client key
//! `"wrapup:<call>:<agent>"` (the same key the switch uses when it records the `wrap_up` command,
//! so the two writers create one ticket);
//! the outcome row is keyed by (call id, agent id).

use std::collections::HashMap;

use hotline_cti::{TicketPriority, TicketStatus};
use hotline_store::{
    Error as StoreError, Identity, NewCustomer, NewTicket, Outcome, Store, StoreOptions,
    TicketUpdate,
};

use crate::DeskError;
use crate::outbox::{OutcomeRecord, OutcomeSink, SinkError, TicketChangeRecord, TicketEdit};

/// Writes outcomes, tickets and new customers to the shared database.
pub struct StoreSink {
    runtime: tokio::runtime::Runtime,
    url: String,
    store: Option<Store>,
}

impl StoreSink {
    /// Prepares a sink for `url` (`sqlite://...` or `postgres://...`). Does not connect yet.
    pub fn open(url: &str) -> Result<Self, DeskError> {
        hotline_store::Backend::from_url(url).map_err(|e| DeskError::Database(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DeskError::io("tokio runtime", e))?;
        Ok(StoreSink {
            runtime,
            url: url.to_owned(),
            store: None,
        })
    }

    /// A sink over an already open store (tests, and apps that share one pool).
    pub fn with_store(store: Store) -> Result<Self, DeskError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DeskError::io("tokio runtime", e))?;
        Ok(StoreSink {
            runtime,
            url: String::new(),
            store: Some(store),
        })
    }
}

/// Store ids are integers; on the CTI wire they are strings, possibly with a prefix (`"T-881"`).
fn store_id(text: &str) -> Option<i64> {
    text.parse()
        .ok()
        .or_else(|| text.rsplit('-').next().and_then(|t| t.parse().ok()))
}

fn classify(e: StoreError) -> SinkError {
    match e {
        StoreError::Invalid(m) | StoreError::NotFound(m) | StoreError::Conflict(m) => {
            SinkError::Rejected(m)
        }
        StoreError::Corrupt(m) => SinkError::Rejected(m),
        other => SinkError::Unavailable(other.to_string()),
    }
}

fn status_text(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "open",
        TicketStatus::Pending => "pending",
        TicketStatus::Solved => "solved",
        TicketStatus::Closed => "closed",
    }
}

fn priority_text(p: TicketPriority) -> &'static str {
    match p {
        TicketPriority::Low => "low",
        TicketPriority::Normal => "normal",
        TicketPriority::High => "high",
        TicketPriority::Urgent => "urgent",
    }
}

async fn write_all(store: &Store, o: &OutcomeRecord) -> Result<(), SinkError> {
    let at = i64::try_from(o.at.0).unwrap_or(i64::MAX);
    // The steps below are separate writes; refuse a record that the last step would refuse
    // before the first step creates a customer or a ticket.
    let known = store.dispositions().await.map_err(classify)?;
    if !known.iter().any(|d| d.code == o.disposition.as_str()) {
        return Err(SinkError::Rejected(format!(
            "unknown disposition {:?}",
            o.disposition.as_str()
        )));
    }
    let mut customer = o.customer.as_ref().and_then(|c| store_id(c.as_str()));

    if let Some(new) = &o.new_customer {
        let identity = Identity::phone(new.number.expose())
            .map_err(|e| SinkError::Rejected(format!("calling number: {e}")))?;
        customer = match store.find_customer(&identity).await.map_err(classify)? {
            Some(id) => Some(id),
            None => {
                let id = store
                    .create_customer(
                        &NewCustomer {
                            display_name: new.name.expose().clone(),
                            ..NewCustomer::default()
                        },
                        at,
                    )
                    .await
                    .map_err(classify)?;
                store
                    .link_identity(id, &identity, "agent", false, at)
                    .await
                    .map_err(classify)?;
                Some(id)
            }
        };
    }

    if let Some(link) = &o.link_customer {
        let id = store_id(link.customer.as_str()).ok_or_else(|| {
            SinkError::Rejected(format!("bad customer id {:?}", link.customer.as_str()))
        })?;
        let identity = Identity::phone(link.number.expose())
            .map_err(|e| SinkError::Rejected(format!("calling number: {e}")))?;
        // Linking again is a no-op in the store, so a repeated write is harmless.
        store
            .link_identity(id, &identity, "agent", false, at)
            .await
            .map_err(classify)?;
        customer = Some(id);
    }

    let mut ticket_id = None;
    if let Some(t) = &o.ticket {
        match t.ticket.as_ref().and_then(|id| store_id(id.as_str())) {
            Some(id) => {
                let update = TicketUpdate {
                    status: Some(status_text(t.status).into()),
                    priority: Some(priority_text(t.priority).into()),
                    subject: Some(t.subject.clone()),
                    comment: (!t.body.expose().trim().is_empty()).then(|| t.body.expose().clone()),
                    actor: Some(o.agent.to_string()),
                    at,
                    ..TicketUpdate::default()
                };
                store.update_ticket(id, &update).await.map_err(classify)?;
                ticket_id = Some(id);
            }
            None => {
                let new = NewTicket {
                    client_key: Some(format!("wrapup:{}:{}", o.call, o.agent)),
                    customer_id: customer,
                    call_id: Some(o.call.to_string()),
                    subject: t.subject.clone(),
                    body: t.body.expose().clone(),
                    priority: priority_text(t.priority).into(),
                    assignee: None,
                    created_by: Some(o.agent.to_string()),
                    at,
                };
                let id = store.create_ticket(&new).await.map_err(classify)?;
                if t.status != TicketStatus::Open {
                    let update = TicketUpdate {
                        status: Some(status_text(t.status).into()),
                        actor: Some(o.agent.to_string()),
                        at,
                        ..TicketUpdate::default()
                    };
                    store.update_ticket(id, &update).await.map_err(classify)?;
                }
                ticket_id = Some(id);
            }
        }
    }

    let outcome = Outcome {
        call_id: o.call.to_string(),
        agent_id: o.agent.to_string(),
        disposition: o.disposition.to_string(),
        notes: o.notes.expose().clone(),
        wrapup_ms: i64::try_from(o.wrap_up_ms).unwrap_or(i64::MAX),
        ticket_id,
        at,
    };
    store.write_outcome(&outcome).await.map_err(classify)
}

/// A worklist change as a store update, audited as the agent. Setting the same assignee or
/// status again writes no history, so a repeated write is harmless.
async fn write_ticket_change(store: &Store, c: &TicketChangeRecord) -> Result<(), SinkError> {
    let id = store_id(c.ticket.as_str())
        .ok_or_else(|| SinkError::Rejected(format!("bad ticket id {:?}", c.ticket.as_str())))?;
    let base = TicketUpdate {
        actor: Some(c.agent.to_string()),
        at: i64::try_from(c.at.0).unwrap_or(i64::MAX),
        ..TicketUpdate::default()
    };
    let update = match c.edit {
        TicketEdit::Take => TicketUpdate {
            assignee: Some(Some(c.agent.to_string())),
            ..base
        },
        TicketEdit::Status { status } => TicketUpdate {
            status: Some(status_text(status).into()),
            ..base
        },
    };
    store.update_ticket(id, &update).await.map_err(classify)?;
    Ok(())
}

impl StoreSink {
    /// Opens the database on first use (or after it failed to open).
    fn ensure_open(&mut self) -> Result<(), SinkError> {
        if self.store.is_none() {
            let opened = self
                .runtime
                .block_on(Store::open(&self.url, StoreOptions::default()));
            match opened {
                Ok(store) => self.store = Some(store),
                Err(e) => return Err(SinkError::Unavailable(e.to_string())),
            }
        }
        Ok(())
    }
}

impl OutcomeSink for StoreSink {
    fn write(&mut self, outcome: &OutcomeRecord) -> Result<(), SinkError> {
        self.ensure_open()?;
        let Some(store) = &self.store else {
            return Err(SinkError::Unavailable("database not open".into()));
        };
        self.runtime.block_on(write_all(store, outcome))
    }

    fn write_ticket(&mut self, change: &TicketChangeRecord) -> Result<(), SinkError> {
        self.ensure_open()?;
        let Some(store) = &self.store else {
            return Err(SinkError::Unavailable("database not open".into()));
        };
        self.runtime.block_on(write_ticket_change(store, change))
    }
}

/// The [`Directory`](crate::directory::Directory) over the shared database: customer search,
/// records and ticket history. Opens the database lazily, like [`StoreSink`].
pub struct StoreDirectory {
    runtime: tokio::runtime::Runtime,
    url: String,
    store: Option<Store>,
    country_code: Option<String>,
}

impl StoreDirectory {
    /// Prepares a directory for `url`. Does not connect yet.
    pub fn open(url: &str) -> Result<Self, DeskError> {
        hotline_store::Backend::from_url(url).map_err(|e| DeskError::Database(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DeskError::io("tokio runtime", e))?;
        Ok(StoreDirectory {
            runtime,
            url: url.to_owned(),
            store: None,
            country_code: None,
        })
    }

    /// Searches numbers typed in national format (or in part) in country `cc` (digits).
    #[must_use]
    pub fn with_country_code(mut self, cc: &str) -> Self {
        let cc = cc.trim().trim_start_matches('+');
        self.country_code = (!cc.is_empty()).then(|| cc.to_owned());
        self
    }

    fn ensure(&mut self) -> Result<(), String> {
        if self.store.is_none() {
            let options = StoreOptions {
                migrate: false,
                ..StoreOptions::default()
            };
            let store = self
                .runtime
                .block_on(Store::open(&self.url, options))
                .map_err(|e| e.to_string())?;
            self.store = Some(store);
        }
        Ok(())
    }
}

/// Converts the store's customer view into the CTI one the UI draws (shared with the switch).
pub fn cti_view(v: &hotline_store::CustomerView) -> hotline_cti::CustomerView {
    hotline_cti::from_store::customer_view(v)
}

impl crate::directory::Directory for StoreDirectory {
    fn suggestions(
        &mut self,
        queue: &hotline_cti::QueueId,
        zh: bool,
    ) -> Result<Vec<crate::directory::ArticleLine>, String> {
        self.ensure()?;
        let Some(store) = &self.store else {
            return Err("database not open".into());
        };
        let language = if zh {
            hotline_store::Language::Zh
        } else {
            hotline_store::Language::En
        };
        let found = self
            .runtime
            .block_on(store.suggest_articles(Some(queue.as_str()), None, Some(language), 5))
            .map_err(|e| e.to_string())?;
        Ok(found
            .into_iter()
            .map(|a| crate::directory::ArticleLine {
                id: a.id.0,
                title: a.title,
                excerpt: a.excerpt,
                helpful: a.votes.helpful,
            })
            .collect())
    }

    fn search(&mut self, text: &str) -> Result<Vec<crate::directory::CustomerHit>, String> {
        self.ensure()?;
        let Some(store) = &self.store else {
            return Err("database not open".into());
        };
        let hits = self
            .runtime
            .block_on(store.search_customers_in(text, 20, self.country_code.as_deref()))
            .map_err(|e| e.to_string())?;
        Ok(hits
            .into_iter()
            .map(|h| crate::directory::CustomerHit {
                id: hotline_cti::CustomerId::new(h.id.to_string()),
                name: hotline_cti::Pii::new(h.display_name),
                tier: h.tier,
            })
            .collect())
    }

    fn customer(
        &mut self,
        id: &hotline_cti::CustomerId,
    ) -> Result<Option<hotline_cti::CustomerView>, String> {
        let Some(id) = store_id(id.as_str()) else {
            return Ok(None);
        };
        self.ensure()?;
        let Some(store) = &self.store else {
            return Err("database not open".into());
        };
        let view = self
            .runtime
            .block_on(store.customer_view_by_id(id))
            .map_err(|e| e.to_string())?;
        Ok(view.as_ref().map(cti_view))
    }

    fn ticket_history(
        &mut self,
        id: &hotline_cti::TicketId,
    ) -> Result<Vec<crate::directory::TicketChangeLine>, String> {
        let Some(id) = store_id(id.as_str()) else {
            return Ok(Vec::new());
        };
        self.ensure()?;
        let Some(store) = &self.store else {
            return Err("database not open".into());
        };
        let changes = self
            .runtime
            .block_on(store.ticket_history(id))
            .map_err(|e| e.to_string())?;
        Ok(changes
            .into_iter()
            .map(|c| crate::directory::TicketChangeLine {
                at: hotline_cti::UnixMillis(u64::try_from(c.at).unwrap_or(0)),
                actor: c.actor,
                field: c.field,
                old: c.old_value,
                new: c.new_value,
            })
            .collect())
    }

    fn worklist(
        &mut self,
        agent: &hotline_cti::AgentId,
        queues: &[hotline_cti::QueueId],
    ) -> Result<Vec<crate::directory::WorkLine>, String> {
        self.ensure()?;
        let Some(store) = &self.store else {
            return Err("database not open".into());
        };
        let queues: Vec<String> = queues.iter().map(|q| q.as_str().to_owned()).collect();
        self.runtime.block_on(async {
            let items = store
                .worklist(agent.as_str(), &queues, WORKLIST_LIMIT)
                .await
                .map_err(|e| e.to_string())?;
            // One read per distinct customer, however many of her tickets are listed.
            let mut names: HashMap<i64, Option<String>> = HashMap::new();
            for id in items.iter().filter_map(|w| w.ticket.customer_id) {
                if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(id) {
                    let view = store
                        .customer_view_by_id(id)
                        .await
                        .map_err(|e| e.to_string())?;
                    slot.insert(view.map(|v| v.customer.display_name));
                }
            }
            Ok(items.into_iter().map(|w| work_line(w, &names)).collect())
        })
    }
}

/// Most lines a worklist shows.
const WORKLIST_LIMIT: i64 = 200;

fn millis(ms: i64) -> hotline_cti::UnixMillis {
    hotline_cti::UnixMillis(u64::try_from(ms).unwrap_or(0))
}

fn work_line(
    w: hotline_store::WorkItem,
    names: &HashMap<i64, Option<String>>,
) -> crate::directory::WorkLine {
    use crate::directory::{WorkCustomer, WorkKind, WorkLine};
    let t = w.ticket;
    WorkLine {
        ticket: hotline_cti::TicketId::new(t.id.to_string()),
        kind: match w.kind {
            hotline_store::WorkKind::Ticket => WorkKind::Ticket,
            hotline_store::WorkKind::Voicemail => WorkKind::Voicemail,
            hotline_store::WorkKind::FollowUp => WorkKind::FollowUp,
        },
        subject: t.subject,
        customer: t.customer_id.map(|id| WorkCustomer {
            id: hotline_cti::CustomerId::new(id.to_string()),
            name: names.get(&id).cloned().flatten().map(hotline_cti::Pii::new),
        }),
        queue: w.queue.map(hotline_cti::QueueId::new),
        status: match t.status.as_str() {
            "pending" => TicketStatus::Pending,
            "solved" => TicketStatus::Solved,
            "closed" => TicketStatus::Closed,
            _ => TicketStatus::Open,
        },
        priority: match t.priority.as_str() {
            "low" => TicketPriority::Low,
            "high" => TicketPriority::High,
            "urgent" => TicketPriority::Urgent,
            _ => TicketPriority::Normal,
        },
        assignee: t.assignee.map(hotline_cti::AgentId::new),
        created: millis(t.created_at),
        updated: millis(t.updated_at),
        due: w.due_at.map(millis),
        has_recording: w.recording.is_some_and(|r| !r.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::store_id;

    #[test]
    fn ids_parse_with_or_without_prefix() {
        assert_eq!(store_id("881"), Some(881));
        assert_eq!(store_id("T-881"), Some(881));
        assert_eq!(store_id("cust-42"), Some(42));
        assert_eq!(store_id("abc"), None);
    }
}
