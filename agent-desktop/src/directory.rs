//! Customer search, customer records, ticket history and the agent's worklist: reads from the
//! shared database.
//!
//! The view asks through [`DirectoryLink::ask`]; answers come back through
//! [`DirectoryLink::poll`] and are applied to the state at the next frame, like CTI events. A
//! [`Directory`] runs either inline (tests, the in-memory directory) or on its own thread (the
//! store, which may be slow or down: the UI must not wait for it).

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, Receiver, Sender};

use hotline_cti::{
    AgentId, CallId, CustomerId, CustomerView, Pii, QueueId, TicketId, TicketPriority,
    TicketStatus, UnixMillis,
};

use crate::DeskError;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerHit {
    /// The customer.
    pub id: CustomerId,
    /// Display name (personal data).
    pub name: Pii<String>,
    /// Tier.
    pub tier: String,
}

/// One change in a ticket's history.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketChangeLine {
    /// When.
    pub at: UnixMillis,
    /// Who (agent id), if known.
    pub actor: Option<String>,
    /// What changed (`status`, `priority`, `comment`, ...).
    pub field: String,
    /// The old value, when shown.
    pub old: Option<String>,
    /// The new value, when shown.
    pub new: Option<String>,
}

/// What kind of work a worklist line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// A ticket (from a call's wrap-up, or entered by hand).
    Ticket,
    /// A voicemail the switch filed as a ticket in its queue.
    Voicemail,
    /// A follow-up the centre scheduled.
    FollowUp,
}

/// The customer a worklist line is about.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkCustomer {
    /// The customer (opens the record on click).
    pub id: CustomerId,
    /// Display name (personal data); `None` when the record could not be read.
    pub name: Option<Pii<String>>,
}

/// One line of an agent's worklist: what the Work tab shows of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkLine {
    /// The ticket.
    pub ticket: TicketId,
    /// Ticket, voicemail or follow-up.
    pub kind: WorkKind,
    /// Subject.
    pub subject: String,
    /// The customer, when known.
    pub customer: Option<WorkCustomer>,
    /// The queue it waits in.
    pub queue: Option<QueueId>,
    /// Status (open or pending on a worklist).
    pub status: TicketStatus,
    /// Priority.
    pub priority: TicketPriority,
    /// Who works it; `None` while it waits in its queue.
    pub assignee: Option<AgentId>,
    /// When it was filed.
    pub created: UnixMillis,
    /// When it last changed.
    pub updated: UnixMillis,
    /// When it is due, if set.
    pub due: Option<UnixMillis>,
    /// A voicemail with a recording the switch can play.
    pub has_recording: bool,
}

/// A knowledge-base article suggested for a call.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleLine {
    /// The article's id in the store.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// The first paragraph, shortened.
    pub excerpt: String,
    /// Agents who found it helpful.
    pub helpful: i64,
}

/// Read access to customers and tickets.
pub trait Directory: Send {
    /// Customers whose name contains `text` or who own an identity equal to it.
    fn search(&mut self, text: &str) -> Result<Vec<CustomerHit>, String>;
    /// A customer's full record.
    fn customer(&mut self, id: &CustomerId) -> Result<Option<CustomerView>, String>;
    /// A ticket's history, oldest first.
    fn ticket_history(&mut self, id: &TicketId) -> Result<Vec<TicketChangeLine>, String>;
    /// `agent`'s worklist: open and pending tickets assigned to her and those nobody holds in
    /// one of `queues`; due first (undated last), then oldest first.
    fn worklist(&mut self, agent: &AgentId, queues: &[QueueId]) -> Result<Vec<WorkLine>, String>;
    /// Published articles for a call of `queue`, in the desk's language (`zh`: Chinese), best
    /// first (see `Store::suggest_articles`).
    fn suggestions(&mut self, queue: &QueueId, zh: bool) -> Result<Vec<ArticleLine>, String>;
}

/// A question for the directory.
#[derive(Debug, Clone, PartialEq)]
pub enum DirQuery {
    /// Search customers.
    Search(String),
    /// Open a customer's record.
    Customer(CustomerId),
    /// Load a ticket's history.
    TicketHistory(TicketId),
    /// Load an agent's worklist.
    Worklist {
        /// The agent.
        agent: AgentId,
        /// Her queues.
        queues: Vec<QueueId>,
    },
    /// Knowledge-base suggestions for a popped call.
    Suggestions {
        /// The call.
        call: CallId,
        /// Its queue.
        queue: QueueId,
        /// The desk speaks Chinese.
        zh: bool,
    },
}

/// The directory's answer.
#[derive(Debug, Clone)]
pub enum DirAnswer {
    /// Search results.
    Search {
        /// The query.
        query: String,
        /// Hits or an error text.
        hits: Result<Vec<CustomerHit>, String>,
    },
    /// A customer record.
    Customer {
        /// The customer asked for.
        id: CustomerId,
        /// The record, `None` if it does not exist.
        view: Result<Option<CustomerView>, String>,
    },
    /// A ticket's history.
    TicketHistory {
        /// The ticket.
        id: TicketId,
        /// The changes.
        changes: Result<Vec<TicketChangeLine>, String>,
    },
    /// An agent's worklist.
    Worklist {
        /// The agent asked for.
        agent: AgentId,
        /// The lines, in the store's order.
        lines: Result<Vec<WorkLine>, String>,
    },
    /// Suggested articles for a call.
    Suggestions {
        /// The call asked for.
        call: CallId,
        /// Best first.
        articles: Result<Vec<ArticleLine>, String>,
    },
}

fn answer(dir: &mut dyn Directory, q: DirQuery) -> DirAnswer {
    match q {
        DirQuery::Search(query) => DirAnswer::Search {
            hits: dir.search(&query),
            query,
        },
        DirQuery::Customer(id) => DirAnswer::Customer {
            view: dir.customer(&id),
            id,
        },
        DirQuery::TicketHistory(id) => DirAnswer::TicketHistory {
            changes: dir.ticket_history(&id),
            id,
        },
        DirQuery::Worklist { agent, queues } => DirAnswer::Worklist {
            lines: dir.worklist(&agent, &queues),
            agent,
        },
        DirQuery::Suggestions { call, queue, zh } => DirAnswer::Suggestions {
            articles: dir.suggestions(&queue, zh),
            call,
        },
    }
}

/// How the app reaches the directory.
pub enum DirectoryLink {
    /// No directory configured (no database): searches answer with an error.
    Unavailable,
    /// Answered on the caller's thread, delivered at the next poll.
    Inline {
        /// The directory.
        dir: Box<dyn Directory>,
        /// Answers not yet polled.
        ready: VecDeque<DirAnswer>,
    },
    /// Answered on a worker thread.
    Worker {
        /// Questions to the worker.
        tx: Sender<DirQuery>,
        /// Answers from the worker.
        rx: Receiver<DirAnswer>,
    },
}

impl DirectoryLink {
    /// Inline over `dir`.
    pub fn inline(dir: Box<dyn Directory>) -> Self {
        DirectoryLink::Inline {
            dir,
            ready: VecDeque::new(),
        }
    }

    /// A worker thread over `dir`; `wake_ui` is called after each answer.
    pub fn spawn(
        mut dir: Box<dyn Directory>,
        wake_ui: Box<dyn Fn() + Send>,
    ) -> Result<Self, DeskError> {
        let (tx, qrx) = mpsc::channel::<DirQuery>();
        let (atx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("directory".into())
            .spawn(move || {
                while let Ok(q) = qrx.recv() {
                    if atx.send(answer(dir.as_mut(), q)).is_err() {
                        return;
                    }
                    wake_ui();
                }
            })
            .map_err(|e| DeskError::io("directory thread", e))?;
        Ok(DirectoryLink::Worker { tx, rx })
    }

    /// Asks a question; the answer arrives through [`Self::poll`].
    pub fn ask(&mut self, q: DirQuery) {
        match self {
            DirectoryLink::Unavailable => {}
            DirectoryLink::Inline { dir, ready } => ready.push_back(answer(dir.as_mut(), q)),
            DirectoryLink::Worker { tx, .. } => {
                let _ = tx.send(q);
            }
        }
    }

    /// Is there a directory at all?
    pub fn available(&self) -> bool {
        !matches!(self, DirectoryLink::Unavailable)
    }

    /// Are answers waiting to be polled? (Inline answers are ready at once: the app draws
    /// another frame to show them.)
    pub fn has_ready(&self) -> bool {
        matches!(self, DirectoryLink::Inline { ready, .. } if !ready.is_empty())
    }

    /// Answers that arrived.
    pub fn poll(&mut self) -> Vec<DirAnswer> {
        match self {
            DirectoryLink::Unavailable => Vec::new(),
            DirectoryLink::Inline { ready, .. } => ready.drain(..).collect(),
            DirectoryLink::Worker { rx, .. } => rx.try_iter().collect(),
        }
    }
}

/// A directory in memory (tests and `--preview`).
#[derive(Default, Clone)]
pub struct MemoryDirectory {
    /// The customers.
    pub customers: Vec<CustomerView>,
    /// Ticket histories.
    pub history: HashMap<TicketId, Vec<TicketChangeLine>>,
    /// Tickets as work, all of them (the worklist picks an agent's).
    pub work: Vec<WorkLine>,
    /// Knowledge-base articles by queue.
    pub articles: HashMap<QueueId, Vec<ArticleLine>>,
}

impl Directory for MemoryDirectory {
    fn search(&mut self, text: &str) -> Result<Vec<CustomerHit>, String> {
        let needle = text.trim().to_lowercase();
        if needle.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .customers
            .iter()
            .filter(|c| {
                c.name.expose().to_lowercase().contains(&needle)
                    || c.identities.iter().any(|i| i.value.expose() == text.trim())
            })
            .map(|c| CustomerHit {
                id: c.id.clone(),
                name: c.name.clone(),
                tier: c.tier.clone(),
            })
            .collect())
    }

    fn customer(&mut self, id: &CustomerId) -> Result<Option<CustomerView>, String> {
        Ok(self.customers.iter().find(|c| &c.id == id).cloned())
    }

    fn ticket_history(&mut self, id: &TicketId) -> Result<Vec<TicketChangeLine>, String> {
        Ok(self.history.get(id).cloned().unwrap_or_default())
    }

    fn worklist(&mut self, agent: &AgentId, queues: &[QueueId]) -> Result<Vec<WorkLine>, String> {
        let mut lines: Vec<WorkLine> = self
            .work
            .iter()
            .filter(|w| matches!(w.status, TicketStatus::Open | TicketStatus::Pending))
            .filter(|w| match &w.assignee {
                Some(a) => a == agent,
                None => w.queue.as_ref().is_some_and(|q| queues.contains(q)),
            })
            .cloned()
            .collect();
        // The store's order: due first (undated last), then oldest.
        lines.sort_by_key(|w| (w.due.is_none(), w.due, w.created));
        Ok(lines)
    }

    fn suggestions(&mut self, queue: &QueueId, _zh: bool) -> Result<Vec<ArticleLine>, String> {
        Ok(self.articles.get(queue).cloned().unwrap_or_default())
    }
}
