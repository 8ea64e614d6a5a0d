//! The dialler: campaigns, their contact indexes, agents, live dials, timers and the output queue.
//!
//! Data layout:
//! - Each campaign keeps its contacts in a `Vec` with three indexes: `due` (scheduled contacts
//!   by due time), `ready` (due contacts by priority, then the order they became due) and
//!   `callbacks` (agent-owned callbacks per agent, by time). A decision promotes the due ones it
//!   needs and pops from `ready`: O(log n) per contact touched, never a scan of the list.
//! - Free agents are a set ordered by how long they have been free (longest first); talking and
//!   wrap-up agents are counters kept by the one function that changes an agent's state.
//! - Checks that protect the called person (DNC, calling window, holidays, "not again the same
//!   day after an abandon") run in [`Dialler`]'s `dial_check`, immediately before every `Dial`
//!   output, whatever path led there.

use crate::error::DiallerError;
use crate::ids::{AgentId, CampaignId, ContactId, DialId, Number};
use crate::output::{
    AgentState, Availability, CampaignState, CampaignStats, ContactSpec, ContactState, Disposition,
    DncScope, Outcome, Output, Progress,
};
use crate::pacing::{self, Estimates, Ledger, Snapshot};
use crate::settings::{ABANDON_GRACE, CampaignSettings, PacingMode, PredictiveSettings, Retry};
use crate::zone;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

/// How often a running predictive campaign re-decides without any other input (while lines
/// ring or free agents wait for due contacts).
pub const PACING_INTERVAL: Duration = Duration::from_secs(1);

type Ix = u32;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Abandon(DialId),
    AutoDial(AgentId),
}

struct Contact {
    id: ContactId,
    number: Number,
    zone: Tz,
    priority: u32,
    state: ContactState,
    /// Sequence of its current place in `due`, `ready` or `callbacks`.
    key: u64,
    attempts: u32,
    /// Attempts that ended busy, no answer, machine, failed, abandoned.
    tries: [u32; 5],
    abandoned_on: Option<NaiveDate>,
}

struct Campaign {
    id: CampaignId,
    settings: CampaignSettings,
    state: CampaignState,
    contacts: Vec<Contact>,
    by_id: HashMap<ContactId, Ix>,
    due: BTreeSet<(DateTime<Utc>, u64, Ix)>,
    ready: BTreeSet<(Reverse<u32>, u64, Ix)>,
    callbacks: BTreeMap<AgentId, BTreeSet<(DateTime<Utc>, u64, Ix)>>,
    dnc: HashSet<Number>,
    members: BTreeSet<AgentId>,
    free: BTreeSet<(DateTime<Utc>, AgentId)>,
    talking: u32,
    wrapping: u32,
    /// Dials placed and not yet answered or ended, by when they were placed.
    flying: BTreeSet<(DateTime<Utc>, DialId)>,
    /// Live dials of any state (each holds a trunk channel).
    channels: u32,
    /// Attempts by dial time, with their result once known (person or not): the answer rate
    /// learns from a dial only when every dial placed at the same time has had its result, so
    /// quick outcomes (busy) do not bias it.
    cohorts: BTreeMap<(DateTime<Utc>, DialId), Option<bool>>,
    /// Sum of the start times (epoch seconds) of the calls being talked.
    talk_start_sum: f64,
    /// Persons who answered and wait for an agent, oldest first.
    waiting: VecDeque<DialId>,
    est: Estimates,
    ledger: Ledger,
    dials_placed: u64,
    connected: u64,
    last_pace: DateTime<Utc>,
}

struct Agent {
    campaign: usize,
    state: AgentState,
    since: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DialState {
    /// Placed, not yet answered or ended.
    InFlight,
    /// A person answered; no agent yet (an abandon timer runs).
    WaitingForAgent,
    /// Bridged to an agent since the given time.
    Connected {
        agent: AgentId,
        since: DateTime<Utc>,
    },
    /// We asked call control to hang up or play the abandon message; waiting for its `Hangup`.
    Ending,
}

struct Dial {
    campaign: usize,
    contact: Ix,
    /// The agent reserved for it, while the reservation holds.
    agent: Option<AgentId>,
    state: DialState,
    placed_at: DateTime<Utc>,
}

enum Check {
    Dial,
    Later(DateTime<Utc>),
    Close(Outcome),
}

/// The outbound dialler core. See the crate documentation for the drive contract.
pub struct Dialler {
    now: DateTime<Utc>,
    campaigns: Vec<Campaign>,
    by_id: HashMap<CampaignId, usize>,
    agents: HashMap<AgentId, Agent>,
    dials: HashMap<DialId, Dial>,
    next_dial: u64,
    seq: u64,
    global_dnc: HashSet<Number>,
    timers: BTreeSet<(DateTime<Utc>, Timer)>,
    out: VecDeque<Output>,
}

impl Dialler {
    /// An empty dialler whose clock starts at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            campaigns: Vec::new(),
            by_id: HashMap::new(),
            agents: HashMap::new(),
            dials: HashMap::new(),
            next_dial: 1,
            seq: 0,
            global_dnc: HashSet::new(),
            timers: BTreeSet::new(),
            out: VecDeque::new(),
        }
    }

    // ----- outputs -------------------------------------------------------------------------

    /// The next thing call control must do, if any. Drain after every input.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When to call [`Dialler::tick`] next (`None`: only on the next input).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let now = self.now;
        let mut best = self.timers.first().map(|t| t.0);
        let mut consider = |t: DateTime<Utc>| {
            if best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        for c in &self.campaigns {
            if c.state != CampaignState::Running {
                continue;
            }
            if let Some(d) = c.due.first() {
                consider(d.0);
            }
            for set in c.callbacks.values() {
                if let Some(first) = set.iter().find(|e| e.0 > now) {
                    consider(first.0);
                }
            }
            // Predictive decisions depend on how long lines have rung: re-decide every second
            // while lines ring or free agents wait for due contacts.
            let predictive = matches!(c.settings.mode, PacingMode::Predictive(_));
            let busy = !c.flying.is_empty() || (!c.free.is_empty() && !c.ready.is_empty());
            if predictive && busy {
                consider(c.last_pace + PACING_INTERVAL);
            }
        }
        best.map(|b| b.max(now))
    }

    // ----- campaigns -----------------------------------------------------------------------

    /// Adds a campaign, stopped. Refuses invalid settings.
    pub fn add_campaign(
        &mut self,
        now: DateTime<Utc>,
        id: CampaignId,
        settings: CampaignSettings,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        settings.validate()?;
        if self.by_id.contains_key(&id) {
            return Err(DiallerError::DuplicateCampaign(id));
        }
        let est = Estimates::new(&predictive_of(&settings));
        self.by_id.insert(id.clone(), self.campaigns.len());
        self.campaigns.push(Campaign {
            id,
            settings,
            state: CampaignState::Stopped,
            contacts: Vec::new(),
            by_id: HashMap::new(),
            due: BTreeSet::new(),
            ready: BTreeSet::new(),
            callbacks: BTreeMap::new(),
            dnc: HashSet::new(),
            members: BTreeSet::new(),
            free: BTreeSet::new(),
            talking: 0,
            wrapping: 0,
            flying: BTreeSet::new(),
            cohorts: BTreeMap::new(),
            talk_start_sum: 0.0,
            channels: 0,
            waiting: VecDeque::new(),
            est,
            ledger: Ledger::default(),
            dials_placed: 0,
            connected: 0,
            last_pace: self.now,
        });
        Ok(())
    }

    /// Replaces a campaign's settings; the next decision uses them. Refuses invalid settings.
    pub fn update_campaign(
        &mut self,
        now: DateTime<Utc>,
        id: &CampaignId,
        settings: CampaignSettings,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.campaign_ix(id)?;
        settings.validate()?;
        let was_predictive = matches!(self.campaigns[ci].settings.mode, PacingMode::Predictive(_));
        if !was_predictive && matches!(settings.mode, PacingMode::Predictive(_)) {
            self.campaigns[ci].est = Estimates::new(&predictive_of(&settings));
        }
        self.campaigns[ci].settings = settings;
        self.after_change(ci);
        Ok(())
    }

    /// Starts (or resumes) dialling.
    pub fn start(&mut self, now: DateTime<Utc>, id: &CampaignId) -> Result<(), DiallerError> {
        self.set_run_state(now, id, CampaignState::Running)
    }

    /// Stops new dials and previews; calls in progress finish.
    pub fn pause(&mut self, now: DateTime<Utc>, id: &CampaignId) -> Result<(), DiallerError> {
        self.set_run_state(now, id, CampaignState::Paused)
    }

    /// As `pause`, and withdraws open previews. Contacts keep their state.
    pub fn stop(&mut self, now: DateTime<Utc>, id: &CampaignId) -> Result<(), DiallerError> {
        self.set_run_state(now, id, CampaignState::Stopped)
    }

    fn set_run_state(
        &mut self,
        now: DateTime<Utc>,
        id: &CampaignId,
        state: CampaignState,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.campaign_ix(id)?;
        self.campaigns[ci].state = state;
        if state == CampaignState::Stopped {
            let previewing: Vec<AgentId> = self.campaigns[ci]
                .members
                .iter()
                .filter(|a| matches!(self.agents[*a].state, AgentState::Previewing { .. }))
                .cloned()
                .collect();
            for a in previewing {
                self.release(&a);
                self.set_agent(&a, AgentState::Free);
            }
        }
        self.after_change(ci);
        Ok(())
    }

    /// Loads contacts (all or none: an invalid one refuses the batch). A contact already in the
    /// list gets the new number, zone and priority and keeps its state.
    pub fn load_contacts(
        &mut self,
        now: DateTime<Utc>,
        id: &CampaignId,
        contacts: Vec<ContactSpec>,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.campaign_ix(id)?;
        for spec in contacts {
            let c = &mut self.campaigns[ci];
            let zone = spec
                .zone
                .or_else(|| zone::zone_of_number(&spec.number))
                .unwrap_or(c.settings.default_zone);
            if let Some(&ix) = c.by_id.get(&spec.id) {
                let k = &mut c.contacts[ix as usize];
                k.number = spec.number;
                k.zone = zone;
                if k.state == ContactState::Pending && k.priority != spec.priority {
                    c.ready.remove(&(Reverse(k.priority), k.key, ix));
                    c.ready.insert((Reverse(spec.priority), k.key, ix));
                }
                k.priority = spec.priority;
                continue;
            }
            let ix = c.contacts.len() as Ix;
            self.seq += 1;
            let key = self.seq;
            let c = &mut self.campaigns[ci];
            c.by_id.insert(spec.id.clone(), ix);
            c.ready.insert((Reverse(spec.priority), key, ix));
            c.contacts.push(Contact {
                id: spec.id,
                number: spec.number,
                zone,
                priority: spec.priority,
                state: ContactState::Pending,
                key,
                attempts: 0,
                tries: [0; 5],
                abandoned_on: None,
            });
            if let Some((agent, at)) = spec.callback {
                self.place_contact(ci, ix, ContactState::Callback { agent, at });
            }
        }
        self.after_change(ci);
        Ok(())
    }

    /// Adds a number to a DNC list. From this call on it is never dialled (checked at dial time).
    pub fn add_dnc(
        &mut self,
        now: DateTime<Utc>,
        scope: DncScope,
        number: Number,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        match scope {
            DncScope::Global => {
                self.global_dnc.insert(number);
            }
            DncScope::Campaign(id) => {
                let ci = self.campaign_ix(&id)?;
                self.campaigns[ci].dnc.insert(number);
            }
        }
        Ok(())
    }

    // ----- agents --------------------------------------------------------------------------

    /// The agent joins a campaign, free. An agent works one campaign at a time: joining another
    /// leaves the first (refused while on a call or in wrap-up).
    pub fn join(
        &mut self,
        now: DateTime<Utc>,
        agent: &AgentId,
        campaign: &CampaignId,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.campaign_ix(campaign)?;
        if let Some(a) = self.agents.get(agent) {
            if a.campaign == ci {
                return Ok(());
            }
            self.leave_inner(agent)?;
        }
        self.agents.insert(
            agent.clone(),
            Agent {
                campaign: ci,
                state: AgentState::Away,
                since: self.now,
            },
        );
        self.campaigns[ci].members.insert(agent.clone());
        self.set_agent(agent, AgentState::Free);
        self.after_change(ci);
        Ok(())
    }

    /// The agent leaves its campaign (refused while on a call or in wrap-up). A reservation is
    /// released, a preview withdrawn; agent-owned callbacks wait for the agent's return.
    pub fn leave(&mut self, now: DateTime<Utc>, agent: &AgentId) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.leave_inner(agent)?;
        self.after_change(ci);
        Ok(())
    }

    fn leave_inner(&mut self, agent: &AgentId) -> Result<usize, DiallerError> {
        let a = self
            .agents
            .get(agent)
            .ok_or_else(|| DiallerError::UnknownAgent(agent.clone()))?;
        let ci = a.campaign;
        match a.state {
            AgentState::OnCall { .. } => return Err(invalid("leave", "on a call")),
            AgentState::WrapUp { .. } => return Err(invalid("leave", "in wrap-up")),
            _ => {}
        }
        self.release(agent);
        self.set_agent(agent, AgentState::Away);
        self.agents.remove(agent);
        self.campaigns[ci].members.remove(agent);
        Ok(ci)
    }

    /// The agent's availability from the ACD or desktop. Going away or taking an inbound call
    /// releases a reservation or withdraws a preview (inbound has priority); refused while on an
    /// outbound call or in its wrap-up.
    pub fn set_availability(
        &mut self,
        now: DateTime<Utc>,
        agent: &AgentId,
        availability: Availability,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let a = self
            .agents
            .get(agent)
            .ok_or_else(|| DiallerError::UnknownAgent(agent.clone()))?;
        let ci = a.campaign;
        let verb = match availability {
            Availability::Available => "become available",
            Availability::BusyInbound => "take an inbound call",
            Availability::Away => "go away",
        };
        match (&a.state, availability) {
            (AgentState::OnCall { .. }, _) => return Err(invalid(verb, "on an outbound call")),
            (AgentState::WrapUp { .. }, _) => return Err(invalid(verb, "in wrap-up")),
            (AgentState::Away | AgentState::BusyInbound, Availability::Available) => {
                self.set_agent(agent, AgentState::Free);
            }
            (_, Availability::Available) => {}
            (_, Availability::BusyInbound) => {
                self.release(agent);
                self.set_agent(agent, AgentState::BusyInbound);
            }
            (_, Availability::Away) => {
                self.release(agent);
                self.set_agent(agent, AgentState::Away);
            }
        }
        self.after_change(ci);
        Ok(())
    }

    /// The agent accepts the preview: the call is placed now (after the dial-time checks).
    pub fn preview_dial(
        &mut self,
        now: DateTime<Utc>,
        agent: &AgentId,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.previewing(agent, "dial a preview")?;
        self.dial_preview(agent);
        self.after_change(ci);
        Ok(())
    }

    /// The agent skips the preview: the contact goes back among the due ones, behind those of
    /// its priority.
    pub fn preview_skip(
        &mut self,
        now: DateTime<Utc>,
        agent: &AgentId,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let ci = self.previewing(agent, "skip a preview")?;
        self.release(agent);
        self.set_agent(agent, AgentState::Free);
        self.after_change(ci);
        Ok(())
    }

    fn previewing(&self, agent: &AgentId, command: &'static str) -> Result<usize, DiallerError> {
        let a = self
            .agents
            .get(agent)
            .ok_or_else(|| DiallerError::UnknownAgent(agent.clone()))?;
        match a.state {
            AgentState::Previewing { .. } => Ok(a.campaign),
            _ => Err(invalid(command, state_name(&a.state))),
        }
    }

    /// The agent finished wrap-up with a disposition for the contact.
    pub fn wrap_up_done(
        &mut self,
        now: DateTime<Utc>,
        agent: &AgentId,
        disposition: Disposition,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let a = self
            .agents
            .get(agent)
            .ok_or_else(|| DiallerError::UnknownAgent(agent.clone()))?;
        let AgentState::WrapUp { contact } = &a.state else {
            return Err(invalid("finish wrap-up", state_name(&a.state)));
        };
        let ci = a.campaign;
        let since = a.since;
        let ix = self.campaigns[ci].by_id[contact];
        let wrap = (self.now - since).to_std().unwrap_or_default();
        let t = secs_of(self.now);
        self.campaigns[ci].est.wrap.add(t, wrap.as_secs_f64());
        let (state, next) = match &disposition {
            Disposition::Callback {
                at,
                agent_only: true,
            } => (
                ContactState::Callback {
                    agent: agent.clone(),
                    at: *at,
                },
                Some(*at),
            ),
            Disposition::Callback {
                at,
                agent_only: false,
            } => (ContactState::Scheduled { at: *at }, Some(*at)),
            Disposition::DoNotCall => {
                let number = self.campaigns[ci].contacts[ix as usize].number.clone();
                self.global_dnc.insert(number);
                (
                    ContactState::Done {
                        outcome: Outcome::Agent(disposition.clone()),
                    },
                    None,
                )
            }
            Disposition::Completed(_) | Disposition::WrongNumber => (
                ContactState::Done {
                    outcome: Outcome::Agent(disposition.clone()),
                },
                None,
            ),
        };
        self.place_contact(ci, ix, state);
        self.emit_done(ci, ix, Outcome::Agent(disposition), next);
        self.set_agent(agent, AgentState::Free);
        self.after_change(ci);
        Ok(())
    }

    // ----- call progress -------------------------------------------------------------------

    /// What call control saw on a dial.
    pub fn progress(
        &mut self,
        now: DateTime<Utc>,
        dial: DialId,
        progress: Progress,
    ) -> Result<(), DiallerError> {
        self.advance(now);
        let d = self
            .dials
            .get(&dial)
            .ok_or(DiallerError::UnknownDial(dial))?;
        let (ci, ix, placed_at, reserved) = (d.campaign, d.contact, d.placed_at, d.agent.clone());
        match (d.state.clone(), progress) {
            (_, Progress::Started | Progress::Ringing) => return Ok(()),
            (DialState::InFlight, Progress::Person) => {
                let waited = (self.now - placed_at).to_std().unwrap_or_default();
                let agents = &self.agents;
                let c = &mut self.campaigns[ci];
                c.flying.remove(&(placed_at, dial));
                c.cohorts.insert((placed_at, dial), Some(true));
                c.est.to_answer.add(secs_of(self.now), waited.as_secs_f64());
                c.est.curve.record(waited.as_secs_f64(), true);
                let today = zone::local_date(self.now, c.settings.default_zone);
                c.ledger.live(today);
                let agent = reserved
                    .filter(|a| {
                        agents
                            .get(a)
                            .is_some_and(|x| x.state == AgentState::Reserved { dial })
                    })
                    .or_else(|| c.free.first().map(|f| f.1.clone()));
                match agent {
                    Some(agent) => self.connect(dial, &agent),
                    None => {
                        let d = self.dials.get_mut(&dial).expect("checked");
                        d.state = DialState::WaitingForAgent;
                        self.campaigns[ci].waiting.push_back(dial);
                        self.timers
                            .insert((self.now + ABANDON_GRACE, Timer::Abandon(dial)));
                    }
                }
            }
            (
                DialState::InFlight,
                Progress::Machine
                | Progress::Busy
                | Progress::NoAnswer
                | Progress::Failed
                | Progress::Hangup,
            ) => {
                let c = &mut self.campaigns[ci];
                c.flying.remove(&(placed_at, dial));
                c.cohorts.insert((placed_at, dial), Some(false));
                let lasted = (self.now - placed_at).to_std().unwrap_or_default();
                c.est.curve.record(lasted.as_secs_f64(), false);
                if let Some(a) = reserved.filter(|a| {
                    self.agents
                        .get(a)
                        .is_some_and(|x| x.state == AgentState::Reserved { dial })
                }) {
                    self.set_agent(&a, AgentState::Free);
                }
                let outcome = match progress {
                    Progress::Machine => Outcome::Machine,
                    Progress::Busy => Outcome::Busy,
                    Progress::NoAnswer => Outcome::NoAnswer,
                    _ => Outcome::Failed,
                };
                if progress == Progress::Machine {
                    self.dials.get_mut(&dial).expect("checked").state = DialState::Ending;
                    self.out.push_back(Output::HangUp { dial });
                } else {
                    self.end_dial(dial);
                }
                self.finish_attempt(ci, ix, outcome);
            }
            (DialState::WaitingForAgent, Progress::Hangup) => {
                // The person hung up on the silence before the message: still an abandon.
                self.campaigns[ci].waiting.retain(|w| *w != dial);
                self.count_abandon(ci, ix);
                self.end_dial(dial);
            }
            (DialState::Connected { agent, .. }, Progress::AgentConnected) => {
                self.dials.get_mut(&dial).expect("checked").state = DialState::Connected {
                    agent,
                    since: self.now,
                };
            }
            (DialState::Connected { agent, since }, Progress::Hangup) => {
                let talk = (self.now - since).to_std().unwrap_or_default();
                self.campaigns[ci]
                    .est
                    .handle
                    .add(secs_of(self.now), talk.as_secs_f64());
                let contact = self.campaigns[ci].contacts[ix as usize].id.clone();
                self.end_dial(dial);
                self.set_agent(&agent, AgentState::WrapUp { contact });
                self.place_contact(ci, ix, ContactState::WrapUp { agent });
            }
            (DialState::Ending, Progress::Hangup) => self.end_dial(dial),
            (DialState::Ending, _) => return Ok(()),
            (state, p) => {
                return Err(invalid(progress_name(p), dial_state_name(&state)));
            }
        }
        self.after_change(ci);
        Ok(())
    }

    /// Fires due timers and re-decides every running campaign.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.advance(now);
        for ci in 0..self.campaigns.len() {
            self.after_change(ci);
        }
    }

    // ----- queries -------------------------------------------------------------------------

    /// A campaign's run state.
    pub fn campaign_state(&self, id: &CampaignId) -> Result<CampaignState, DiallerError> {
        Ok(self.campaigns[self.campaign_ix(id)?].state)
    }

    /// A contact's state.
    pub fn contact_state(
        &self,
        campaign: &CampaignId,
        contact: &ContactId,
    ) -> Result<&ContactState, DiallerError> {
        let c = &self.campaigns[self.campaign_ix(campaign)?];
        let ix = c
            .by_id
            .get(contact)
            .ok_or_else(|| DiallerError::UnknownContact {
                campaign: campaign.clone(),
                contact: contact.clone(),
            })?;
        Ok(&c.contacts[*ix as usize].state)
    }

    /// An agent's state, if the agent is in a campaign.
    pub fn agent_state(&self, agent: &AgentId) -> Option<&AgentState> {
        self.agents.get(agent).map(|a| &a.state)
    }

    /// Whether a number is on the global or the campaign's DNC list.
    pub fn is_dnc(&self, campaign: &CampaignId, number: &Number) -> Result<bool, DiallerError> {
        let c = &self.campaigns[self.campaign_ix(campaign)?];
        Ok(self.global_dnc.contains(number) || c.dnc.contains(number))
    }

    /// A campaign's figures (dates in its default zone, at the dialler's current time).
    pub fn stats(&self, id: &CampaignId) -> Result<CampaignStats, DiallerError> {
        let c = &self.campaigns[self.campaign_ix(id)?];
        let today = zone::local_date(self.now, c.settings.default_zone);
        let (live_today, abandoned_today) = c.ledger.today(today);
        let (live_30d, abandoned_30d) = c.ledger.rolling(today);
        Ok(CampaignStats {
            live_today,
            abandoned_today,
            live_30d,
            abandoned_30d,
            dials: c.dials_placed,
            connected: c.connected,
            answer_rate: c.est.answer.mean(),
            mean_handle: pacing::secs(c.est.handle.mean()),
            lines_in_flight: c.flying.len() as u32,
        })
    }

    // ----- internals -----------------------------------------------------------------------

    fn campaign_ix(&self, id: &CampaignId) -> Result<usize, DiallerError> {
        self.by_id
            .get(id)
            .copied()
            .ok_or_else(|| DiallerError::UnknownCampaign(id.clone()))
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Moves the clock forward (never back), firing each due timer at its own deadline.
    fn advance(&mut self, now: DateTime<Utc>) {
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                break;
            }
            let (at, timer) = self.timers.pop_first().expect("peeked");
            self.now = self.now.max(at);
            match timer {
                Timer::Abandon(dial) => self.abandon(dial),
                Timer::AutoDial(agent) => {
                    let due = matches!(
                        self.agents.get(&agent).map(|a| &a.state),
                        Some(AgentState::Previewing { auto_dial_at: Some(t), .. }) if *t <= self.now
                    );
                    if due {
                        let ci = self.agents[&agent].campaign;
                        self.dial_preview(&agent);
                        self.after_change(ci);
                    }
                }
            }
        }
        self.now = self.now.max(now);
    }

    /// Serves waiting persons, then (if running) paces the campaign.
    fn after_change(&mut self, ci: usize) {
        while let Some(&dial) = self.campaigns[ci].waiting.front() {
            let Some(agent) = self.campaigns[ci].free.first().map(|f| f.1.clone()) else {
                break;
            };
            self.campaigns[ci].waiting.pop_front();
            self.timers.retain(|t| t.1 != Timer::Abandon(dial));
            self.connect(dial, &agent);
        }
        if self.campaigns[ci].state == CampaignState::Running {
            self.pace(ci);
        }
    }

    /// Feeds the answer-rate estimate with the dials whose cohort is complete: placed more than
    /// the ring time (plus 5 s of slack) ago. A dial still without a result a minute after its
    /// ring time counts as unanswered.
    fn learn_answer_rate(&mut self, ci: usize) {
        let now = self.now;
        let c = &mut self.campaigns[ci];
        let ring = chrono::Duration::from_std(c.settings.ring_time).unwrap_or_default();
        let slack = chrono::Duration::seconds(5);
        let stale = chrono::Duration::seconds(60);
        while let Some((&(placed, dial), &result)) = c.cohorts.first_key_value() {
            let x = match result {
                Some(person) if placed + ring + slack <= now => person,
                None if placed + ring + stale <= now => false,
                _ => break,
            };
            c.cohorts.remove(&(placed, dial));
            c.est
                .answer
                .add(secs_of(placed + ring), if x { 1.0 } else { 0.0 });
            c.est.attempt_seen();
        }
    }

    fn pace(&mut self, ci: usize) {
        let now = self.now;
        self.campaigns[ci].last_pace = now;
        self.learn_answer_rate(ci);
        // Promote scheduled contacts that are due.
        while let Some(&(at, _, ix)) = self.campaigns[ci].due.first() {
            if at > now {
                break;
            }
            self.place_contact(ci, ix, ContactState::Pending);
        }
        self.serve_callbacks(ci);
        let lines_left = |c: &Campaign| c.settings.max_lines.saturating_sub(c.channels);
        match self.campaigns[ci].settings.mode.clone() {
            PacingMode::Preview { auto_dial_after } => {
                while let Some(agent) = self.campaigns[ci].free.first().map(|f| f.1.clone()) {
                    let Some(ix) = self.next_contact(ci) else {
                        break;
                    };
                    let auto_dial_at = auto_dial_after.map(|d| now + d);
                    let c = &self.campaigns[ci];
                    let contact = c.contacts[ix as usize].id.clone();
                    self.out.push_back(Output::OfferPreview {
                        agent: agent.clone(),
                        campaign: c.id.clone(),
                        contact: contact.clone(),
                        auto_dial_at,
                    });
                    self.place_contact(
                        ci,
                        ix,
                        ContactState::Previewing {
                            agent: agent.clone(),
                        },
                    );
                    if let Some(t) = auto_dial_at {
                        self.timers.insert((t, Timer::AutoDial(agent.clone())));
                    }
                    self.set_agent(
                        &agent,
                        AgentState::Previewing {
                            contact,
                            auto_dial_at,
                        },
                    );
                }
            }
            PacingMode::Progressive => {
                while lines_left(&self.campaigns[ci]) > 0 {
                    let Some(agent) = self.campaigns[ci].free.first().map(|f| f.1.clone()) else {
                        break;
                    };
                    let Some(ix) = self.next_contact(ci) else {
                        break;
                    };
                    self.start_dial(ci, ix, Some(agent));
                }
            }
            PacingMode::Predictive(p) => {
                let c = &self.campaigns[ci];
                let today = zone::local_date(now, c.settings.default_zone);
                let agents = (c.free.len() as u32 + c.talking + c.wrapping) as f64;
                let snap = self.snapshot(ci);
                let cycle =
                    (c.est.handle.mean_plus(snap.talk_elapsed) + c.est.wrap.mean()).max(1.0);
                let r = pacing::accepted_share(
                    &c.est,
                    p.abandon_cap,
                    c.ledger.today(today),
                    c.ledger.rolling(today),
                    agents * 3600.0 / cycle,
                );
                let ages = c
                    .flying
                    .iter()
                    .map(|(t, _)| (now - *t).num_milliseconds() as f64 / 1000.0);
                let max_new = c.settings.max_lines.saturating_sub(c.channels);
                let new = pacing::predictive_new_lines(&c.est, snap, ages, r, max_new);
                let target = c.flying.len() as u32 + new;
                self.dial_unreserved(ci, target);
            }
            PacingMode::Ratio { lines_per_agent } => {
                let snap = self.snapshot(ci);
                let max = self.campaigns[ci].settings.max_lines;
                let target = pacing::ratio_lines(lines_per_agent, snap.free, max);
                self.dial_unreserved(ci, target);
            }
        }
    }

    fn snapshot(&self, ci: usize) -> Snapshot {
        let c = &self.campaigns[ci];
        Snapshot {
            free: c.free.len() as f64 - c.waiting.len() as f64,
            talking: f64::from(c.talking),
            wrapping: f64::from(c.wrapping),
            talk_elapsed: (f64::from(c.talking) * secs_of(self.now) - c.talk_start_sum).max(0.0),
        }
    }

    /// Dials until `target` lines are in flight (or contacts or channels run out).
    fn dial_unreserved(&mut self, ci: usize, target: u32) {
        loop {
            let c = &self.campaigns[ci];
            if c.flying.len() as u32 >= target || c.channels >= c.settings.max_lines {
                break;
            }
            let Some(ix) = self.next_contact(ci) else {
                break;
            };
            self.start_dial(ci, ix, None);
        }
    }

    /// Agent-owned callbacks that are due go to their agent when the agent is free.
    fn serve_callbacks(&mut self, ci: usize) {
        let now = self.now;
        let c = &self.campaigns[ci];
        let ready: Vec<(AgentId, Ix)> = c
            .callbacks
            .iter()
            .filter_map(|(agent, set)| {
                let first = set.first()?;
                let free = self
                    .agents
                    .get(agent)
                    .is_some_and(|a| a.campaign == ci && a.state == AgentState::Free);
                (first.0 <= now && free).then(|| (agent.clone(), first.2))
            })
            .collect();
        for (agent, ix) in ready {
            if self.campaigns[ci].channels >= self.campaigns[ci].settings.max_lines {
                break;
            }
            match self.dial_check(ci, ix) {
                Check::Dial => self.start_dial(ci, ix, Some(agent)),
                Check::Later(at) => {
                    self.place_contact(ci, ix, ContactState::Callback { agent, at })
                }
                Check::Close(outcome) => self.close(ci, ix, outcome),
            }
        }
    }

    /// The next due contact that passes the dial-time checks; contacts that fail them are
    /// rescheduled or closed on the way.
    fn next_contact(&mut self, ci: usize) -> Option<Ix> {
        loop {
            let &(_, _, ix) = self.campaigns[ci].ready.first()?;
            match self.dial_check(ci, ix) {
                Check::Dial => return Some(ix),
                Check::Later(at) => self.place_contact(ci, ix, ContactState::Scheduled { at }),
                Check::Close(outcome) => self.close(ci, ix, outcome),
            }
        }
    }

    /// The checks made immediately before every dial.
    fn dial_check(&self, ci: usize, ix: Ix) -> Check {
        let c = &self.campaigns[ci];
        let k = &c.contacts[ix as usize];
        let s = &c.settings;
        if self.global_dnc.contains(&k.number) || c.dnc.contains(&k.number) {
            return Check::Close(Outcome::DoNotCall);
        }
        if k.abandoned_on == Some(zone::local_date(self.now, k.zone)) {
            return match zone::next_day_open(self.now, k.zone, &s.hours, &s.holidays) {
                Some(at) => Check::Later(at),
                None => Check::Close(Outcome::NoCallingWindow),
            };
        }
        if zone::is_open(self.now, k.zone, &s.hours, &s.holidays) {
            return Check::Dial;
        }
        match zone::next_open(self.now, k.zone, &s.hours, &s.holidays) {
            Some(at) => Check::Later(at),
            None => Check::Close(Outcome::NoCallingWindow),
        }
    }

    fn start_dial(&mut self, ci: usize, ix: Ix, agent: Option<AgentId>) {
        let dial = DialId(self.next_dial);
        self.next_dial += 1;
        self.place_contact(ci, ix, ContactState::Dialling { dial });
        let c = &mut self.campaigns[ci];
        let k = &mut c.contacts[ix as usize];
        k.attempts += 1;
        c.flying.insert((self.now, dial));
        c.cohorts.insert((self.now, dial), None);
        c.channels += 1;
        c.dials_placed += 1;
        self.out.push_back(Output::Dial {
            dial,
            campaign: c.id.clone(),
            contact: k.id.clone(),
            number: k.number.clone(),
            caller_id: c.settings.caller_id.clone(),
            ring_timeout: c.settings.ring_time,
            agent: agent.clone(),
        });
        self.dials.insert(
            dial,
            Dial {
                campaign: ci,
                contact: ix,
                agent: agent.clone(),
                state: DialState::InFlight,
                placed_at: self.now,
            },
        );
        if let Some(a) = agent {
            self.set_agent(&a, AgentState::Reserved { dial });
        }
    }

    /// Places the previewed contact's call (or reschedules or closes it if the checks fail).
    fn dial_preview(&mut self, agent: &AgentId) {
        let a = &self.agents[agent];
        let ci = a.campaign;
        let AgentState::Previewing {
            contact,
            auto_dial_at,
        } = &a.state
        else {
            return;
        };
        if let Some(t) = auto_dial_at {
            self.timers.remove(&(*t, Timer::AutoDial(agent.clone())));
        }
        let ix = self.campaigns[ci].by_id[contact];
        match self.dial_check(ci, ix) {
            Check::Dial => {
                self.set_agent(agent, AgentState::Free);
                self.start_dial(ci, ix, Some(agent.clone()));
            }
            Check::Later(at) => {
                self.withdraw_preview(agent);
                self.place_contact(ci, ix, ContactState::Scheduled { at });
                self.set_agent(agent, AgentState::Free);
            }
            Check::Close(outcome) => {
                self.withdraw_preview(agent);
                self.close(ci, ix, outcome);
                self.set_agent(agent, AgentState::Free);
            }
        }
    }

    /// Emits `CancelPreview` for an agent's open preview (the caller moves the contact).
    fn withdraw_preview(&mut self, agent: &AgentId) {
        if let AgentState::Previewing {
            contact,
            auto_dial_at,
        } = &self.agents[agent].state
        {
            if let Some(t) = auto_dial_at {
                self.timers.remove(&(*t, Timer::AutoDial(agent.clone())));
            }
            self.out.push_back(Output::CancelPreview {
                agent: agent.clone(),
                contact: contact.clone(),
            });
        }
    }

    /// Drops an agent's reservation or preview (the agent's own state is set by the caller).
    fn release(&mut self, agent: &AgentId) {
        let a = &self.agents[agent];
        let ci = a.campaign;
        match a.state.clone() {
            AgentState::Reserved { dial } => {
                if let Some(d) = self.dials.get_mut(&dial) {
                    d.agent = None;
                }
            }
            AgentState::Previewing { contact, .. } => {
                self.withdraw_preview(agent);
                let ix = self.campaigns[ci].by_id[&contact];
                self.place_contact(ci, ix, ContactState::Pending);
            }
            _ => {}
        }
    }

    fn connect(&mut self, dial: DialId, agent: &AgentId) {
        let d = self.dials.get_mut(&dial).expect("live dial");
        d.state = DialState::Connected {
            agent: agent.clone(),
            since: self.now,
        };
        d.agent = Some(agent.clone());
        let ci = d.campaign;
        let c = &mut self.campaigns[ci];
        c.connected += 1;
        if let PacingMode::Predictive(p) = &c.settings.mode {
            let cap = p.abandon_cap;
            c.est.on_live(cap, false);
        }
        self.set_agent(agent, AgentState::OnCall { dial });
        self.out.push_back(Output::ConnectToAgent {
            dial,
            agent: agent.clone(),
        });
    }

    /// The 2 s grace ran out: the message plays and the call counts as abandoned.
    fn abandon(&mut self, dial: DialId) {
        let Some(d) = self.dials.get_mut(&dial) else {
            return;
        };
        if d.state != DialState::WaitingForAgent {
            return;
        }
        d.state = DialState::Ending;
        let (ci, ix) = (d.campaign, d.contact);
        self.campaigns[ci].waiting.retain(|w| *w != dial);
        let s = &self.campaigns[ci].settings;
        self.out.push_back(Output::PlayAbandonMessage {
            dial,
            caller_name: s.caller_name.clone(),
            callback_number: s.caller_id.clone(),
        });
        self.count_abandon(ci, ix);
        self.after_change(ci);
    }

    fn count_abandon(&mut self, ci: usize, ix: Ix) {
        let c = &mut self.campaigns[ci];
        let today = zone::local_date(self.now, c.settings.default_zone);
        c.ledger.abandoned(today);
        if let PacingMode::Predictive(p) = &c.settings.mode {
            let cap = p.abandon_cap;
            c.est.on_live(cap, true);
        }
        let k = &mut c.contacts[ix as usize];
        k.abandoned_on = Some(zone::local_date(self.now, k.zone));
        self.finish_attempt(ci, ix, Outcome::Abandoned);
    }

    fn end_dial(&mut self, dial: DialId) {
        if let Some(d) = self.dials.remove(&dial) {
            self.campaigns[d.campaign].channels -= 1;
        }
    }

    /// Applies the recycling rule for an attempt's outcome and reports it.
    fn finish_attempt(&mut self, ci: usize, ix: Ix, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Busy => 0,
            Outcome::NoAnswer => 1,
            Outcome::Machine => 2,
            Outcome::Failed => 3,
            _ => 4,
        };
        let c = &mut self.campaigns[ci];
        let rules = &c.settings.recycle;
        let rule = [
            rules.busy,
            rules.no_answer,
            rules.machine,
            rules.failed,
            rules.abandoned,
        ][slot];
        let k = &mut c.contacts[ix as usize];
        k.tries[slot] += 1;
        let tries = k.tries[slot];
        let next = if k.attempts >= rules.max_attempts {
            None
        } else {
            match rule {
                Retry::Never => None,
                Retry::After { delay, max_tries } => (tries < max_tries).then(|| self.now + delay),
                Retry::NextLocalDay { max_tries } if tries < max_tries => {
                    zone::next_day_open(self.now, k.zone, &c.settings.hours, &c.settings.holidays)
                }
                Retry::NextLocalDay { .. } => None,
            }
        };
        let state = match next {
            Some(at) => ContactState::Scheduled { at },
            None => ContactState::Done {
                outcome: outcome.clone(),
            },
        };
        self.place_contact(ci, ix, state);
        self.emit_done(ci, ix, outcome, next);
    }

    /// Closes a contact without an attempt (DNC, no window) and reports it.
    fn close(&mut self, ci: usize, ix: Ix, outcome: Outcome) {
        self.place_contact(
            ci,
            ix,
            ContactState::Done {
                outcome: outcome.clone(),
            },
        );
        self.emit_done(ci, ix, outcome, None);
    }

    fn emit_done(&mut self, ci: usize, ix: Ix, outcome: Outcome, next: Option<DateTime<Utc>>) {
        let c = &self.campaigns[ci];
        self.out.push_back(Output::ContactDone {
            campaign: c.id.clone(),
            contact: c.contacts[ix as usize].id.clone(),
            outcome,
            next_attempt_at: next,
        });
    }

    /// The one place a contact changes state: keeps `due`, `ready` and `callbacks` in step.
    fn place_contact(&mut self, ci: usize, ix: Ix, state: ContactState) {
        let seq = self.next_seq();
        let c = &mut self.campaigns[ci];
        let k = &mut c.contacts[ix as usize];
        match &k.state {
            ContactState::Pending => {
                c.ready.remove(&(Reverse(k.priority), k.key, ix));
            }
            ContactState::Scheduled { at } => {
                c.due.remove(&(*at, k.key, ix));
            }
            ContactState::Callback { agent, at } => {
                if let Some(set) = c.callbacks.get_mut(agent) {
                    set.remove(&(*at, k.key, ix));
                    if set.is_empty() {
                        c.callbacks.remove(agent);
                    }
                }
            }
            _ => {}
        }
        k.key = seq;
        match &state {
            ContactState::Pending => {
                c.ready.insert((Reverse(k.priority), seq, ix));
            }
            ContactState::Scheduled { at } => {
                c.due.insert((*at, seq, ix));
            }
            ContactState::Callback { agent, at } => {
                c.callbacks
                    .entry(agent.clone())
                    .or_default()
                    .insert((*at, seq, ix));
            }
            _ => {}
        }
        k.state = state;
    }

    /// The one place an agent changes state: keeps the free set and the counters in step.
    fn set_agent(&mut self, agent: &AgentId, state: AgentState) {
        let now = self.now;
        let a = self.agents.get_mut(agent).expect("known agent");
        let c = &mut self.campaigns[a.campaign];
        match a.state {
            AgentState::Free => {
                c.free.remove(&(a.since, agent.clone()));
            }
            AgentState::OnCall { .. } => {
                c.talking -= 1;
                c.talk_start_sum -= secs_of(a.since);
            }
            AgentState::WrapUp { .. } => c.wrapping -= 1,
            _ => {}
        }
        match state {
            AgentState::Free => {
                c.free.insert((now, agent.clone()));
            }
            AgentState::OnCall { .. } => {
                c.talking += 1;
                c.talk_start_sum += secs_of(now);
            }
            AgentState::WrapUp { .. } => c.wrapping += 1,
            _ => {}
        }
        a.state = state;
        a.since = now;
    }
}

fn secs_of(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn predictive_of(s: &CampaignSettings) -> PredictiveSettings {
    match &s.mode {
        PacingMode::Predictive(p) => p.clone(),
        _ => PredictiveSettings::default(),
    }
}

fn invalid(command: &'static str, state: &'static str) -> DiallerError {
    DiallerError::InvalidState { command, state }
}

fn state_name(s: &AgentState) -> &'static str {
    match s {
        AgentState::Free => "free",
        AgentState::Reserved { .. } => "reserved",
        AgentState::Previewing { .. } => "previewing",
        AgentState::OnCall { .. } => "on a call",
        AgentState::WrapUp { .. } => "in wrap-up",
        AgentState::BusyInbound => "on an inbound call",
        AgentState::Away => "away",
    }
}

fn dial_state_name(s: &DialState) -> &'static str {
    match s {
        DialState::InFlight => "dialling",
        DialState::WaitingForAgent => "waiting for an agent",
        DialState::Connected { .. } => "connected",
        DialState::Ending => "ending",
    }
}

fn progress_name(p: Progress) -> &'static str {
    match p {
        Progress::Started => "start",
        Progress::Ringing => "ring",
        Progress::Person => "be answered by a person",
        Progress::Machine => "be answered by a machine",
        Progress::Busy => "be busy",
        Progress::NoAnswer => "go unanswered",
        Progress::Failed => "fail",
        Progress::AgentConnected => "connect to the agent",
        Progress::Hangup => "hang up",
    }
}
