//! What goes in and out besides commands: call progress, agent availability, dispositions,
//! contact specs, the outputs call control performs, and the observable states.

use crate::ids::{AgentId, CampaignId, ContactId, DialId, Number};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::time::Duration;

/// A contact as the list gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactSpec {
    /// Id, unique in the campaign.
    pub id: ContactId,
    /// The number to dial.
    pub number: Number,
    /// The contact's zone, if the list knows it (else derived from the number, else the
    /// campaign default).
    pub zone: Option<Tz>,
    /// Higher is dialled first among due contacts.
    pub priority: u32,
    /// "Call me Tuesday at 10": this agent only, at this time.
    pub callback: Option<(AgentId, DateTime<Utc>)>,
}

impl ContactSpec {
    /// A contact with priority 0, no zone and no callback.
    pub fn new(id: impl Into<String>, number: Number) -> Self {
        Self {
            id: ContactId::new(id),
            number,
            zone: None,
            priority: 0,
            callback: None,
        }
    }
}

/// Where a DNC entry applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DncScope {
    /// Every campaign.
    Global,
    /// One campaign.
    Campaign(CampaignId),
}

/// A campaign's run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignState {
    /// Added or stopped: no dialling, no previews.
    Stopped,
    /// Dialling.
    Running,
    /// No new dials or previews; calls in progress finish.
    Paused,
}

/// What call control tells the dialler about a dial it placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Progress {
    /// The INVITE left (informational).
    Started,
    /// 180/183 received (informational).
    Ringing,
    /// A person answered.
    Person,
    /// An answering machine answered (call control's or the network's detection).
    Machine,
    /// Busy (486/600).
    Busy,
    /// Nobody answered within the ring time.
    NoAnswer,
    /// The network refused or failed the call (4xx/5xx other than busy, no route, timeout).
    Failed,
    /// The agent's leg is bridged (confirms a `ConnectToAgent`).
    AgentConnected,
    /// The call ended (either side hung up), after being answered.
    Hangup,
}

/// An agent's availability as the ACD and the desktop see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Ready for outbound work.
    Available,
    /// On an inbound call (blended agents: inbound has priority).
    BusyInbound,
    /// Not ready (break, meeting, logged out of the phone).
    Away,
}

/// The agent's result for a connected call, given at the end of wrap-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The conversation happened; the campaign's own result code ("sale", "renewed").
    Completed(String),
    /// Not the person on the list.
    WrongNumber,
    /// The person asked not to be called again: the number joins the global DNC list.
    DoNotCall,
    /// Call again at this time; `agent_only` keeps the callback for the same agent.
    Callback {
        /// When.
        at: DateTime<Utc>,
        /// Only the agent who handled this call.
        agent_only: bool,
    },
}

/// How one attempt (or the contact) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Busy.
    Busy,
    /// No answer within the ring time.
    NoAnswer,
    /// Answering machine.
    Machine,
    /// Network failure.
    Failed,
    /// A person answered and no agent was free within 2 s.
    Abandoned,
    /// The agent's disposition.
    Agent(Disposition),
    /// The number was on a DNC list at dial time.
    DoNotCall,
    /// The calling hours and holidays leave no day to call in the coming year.
    NoCallingWindow,
}

/// Something call control (or the desktop) must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Place a call.
    Dial {
        /// The attempt's id, used in every [`Progress`] report.
        dial: DialId,
        /// Campaign.
        campaign: CampaignId,
        /// Contact.
        contact: ContactId,
        /// Number to dial.
        number: Number,
        /// Caller id to present.
        caller_id: Number,
        /// Give up after this long ringing (at least 15 s).
        ring_timeout: Duration,
        /// The agent reserved for it (progressive, preview, callbacks); `None` in predictive
        /// and ratio modes, where the first free agent takes it.
        agent: Option<AgentId>,
    },
    /// Show the contact on the agent's desktop before dialling.
    OfferPreview {
        /// Agent (reserved).
        agent: AgentId,
        /// Campaign.
        campaign: CampaignId,
        /// Contact.
        contact: ContactId,
        /// When it dials by itself, if the campaign auto-dials.
        auto_dial_at: Option<DateTime<Utc>>,
    },
    /// Withdraw a preview (the agent left, went away or took an inbound call, or the campaign
    /// stopped).
    CancelPreview {
        /// Agent.
        agent: AgentId,
        /// Contact.
        contact: ContactId,
    },
    /// Bridge the answered call to the agent.
    ConnectToAgent {
        /// Call.
        dial: DialId,
        /// Agent.
        agent: AgentId,
    },
    /// No agent within 2 s of a person answering: play the campaign's message naming the
    /// caller and a callback number, then hang up. Counted as abandoned.
    PlayAbandonMessage {
        /// Call.
        dial: DialId,
        /// Who is calling.
        caller_name: String,
        /// Number to call back.
        callback_number: Number,
    },
    /// Hang the call up (answering machine).
    HangUp {
        /// Call.
        dial: DialId,
    },
    /// One attempt of a contact ended; `next_attempt_at` is `None` when the contact is closed.
    ContactDone {
        /// Campaign.
        campaign: CampaignId,
        /// Contact.
        contact: ContactId,
        /// How it ended.
        outcome: Outcome,
        /// When it will be tried again (the calling window may still move it later).
        next_attempt_at: Option<DateTime<Utc>>,
    },
}

/// A contact's state in its campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContactState {
    /// Due: dialled when pacing allows (after the DNC and window checks).
    Pending,
    /// Not before `at`.
    Scheduled {
        /// When it becomes due.
        at: DateTime<Utc>,
    },
    /// An agent-owned callback: dialled for `agent` only, from `at`.
    Callback {
        /// The agent.
        agent: AgentId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Shown to an agent who has not dialled yet.
    Previewing {
        /// The agent.
        agent: AgentId,
    },
    /// A call attempt is in progress.
    Dialling {
        /// The attempt.
        dial: DialId,
    },
    /// Talked to an agent, who is in wrap-up and owes a disposition.
    WrapUp {
        /// The agent.
        agent: AgentId,
    },
    /// Closed.
    Done {
        /// Why.
        outcome: Outcome,
    },
}

/// An agent's state as the dialler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Ready and not reserved.
    Free,
    /// Reserved for a dial in progress (progressive, preview, callback).
    Reserved {
        /// The dial.
        dial: DialId,
    },
    /// Looking at a preview.
    Previewing {
        /// The contact shown.
        contact: ContactId,
        /// When it dials by itself.
        auto_dial_at: Option<DateTime<Utc>>,
    },
    /// Talking on an outbound call.
    OnCall {
        /// The call.
        dial: DialId,
    },
    /// After an outbound call, until the disposition.
    WrapUp {
        /// The contact whose disposition is owed.
        contact: ContactId,
    },
    /// On an inbound call.
    BusyInbound,
    /// Not ready.
    Away,
}

/// A campaign's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignStats {
    /// Calls answered by a person today (campaign default zone's date), abandoned ones included.
    pub live_today: u64,
    /// Abandoned today.
    pub abandoned_today: u64,
    /// Live answers over the last 30 days, today included.
    pub live_30d: u64,
    /// Abandoned over the last 30 days, today included.
    pub abandoned_30d: u64,
    /// Dials placed since the campaign was added.
    pub dials: u64,
    /// Calls connected to an agent since the campaign was added.
    pub connected: u64,
    /// Current answer-rate estimate.
    pub answer_rate: f64,
    /// Current mean handle-time estimate.
    pub mean_handle: Duration,
    /// Lines in progress (dialled, not yet answered or ended).
    pub lines_in_flight: u32,
}

impl CampaignStats {
    /// Abandoned / live today (0 with no live answer).
    pub fn abandon_rate_today(&self) -> f64 {
        ratio(self.abandoned_today, self.live_today)
    }

    /// Abandoned / live over 30 days.
    pub fn abandon_rate_30d(&self) -> f64 {
        ratio(self.abandoned_30d, self.live_30d)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
