//! A deterministic simulator: the real [`Dialler`] driven by simulated call control, simulated
//! people and simulated agents, with a simulated clock.
//!
//! Each dial ends one way, drawn from the configured rates: a person answers after 3 to 20 s of
//! ringing, a machine answers after 3 to 15 s (the dialler hangs up), the line is busy after 1 to
//! 4 s, or nobody answers before the ring time. Agents talk for a random handle time
//! (exponential or lognormal with the given mean) then wrap up for 50 % to 150 % of the mean
//! wrap-up. Each simulated day runs one shift (the campaign starts at the shift's start and is
//! paused at its end) with a fresh batch of contacts; Sundays are skipped (closed by default).
//!
//! Deterministic: the same [`SimConfig`] (seed included) gives the same [`SimReport`].

use crate::{
    AgentId, CampaignId, CampaignSettings, ContactSpec, DialId, Dialler, Disposition, Number,
    Output, PacingMode, Progress,
};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use hotline_acd::rng::SplitMix64;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

/// How handle times are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HandleShape {
    /// Exponential with the configured mean.
    Exponential,
    /// Lognormal with the configured mean and this shape parameter (sigma of the log).
    LogNormal {
        /// Sigma of the underlying normal.
        sigma: f64,
    },
}

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Agents, all in the campaign and available for the whole shift.
    pub agents: u32,
    /// Pacing mode.
    pub mode: PacingMode,
    /// Share of dials a person answers.
    pub answer_rate: f64,
    /// Share of dials an answering machine answers.
    pub machine_rate: f64,
    /// Share of dials that are busy (the rest ring out unanswered).
    pub busy_rate: f64,
    /// Mean talk time.
    pub mean_handle: Duration,
    /// Distribution of talk times.
    pub handle_shape: HandleShape,
    /// Mean wrap-up.
    pub mean_wrap: Duration,
    /// The campaign's ring time.
    pub ring_time: Duration,
    /// The campaign's line limit.
    pub max_lines: u32,
    /// Shift length per day.
    pub shift: Duration,
    /// Simulated working days (Sundays skipped).
    pub days: u32,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            agents: 50,
            mode: PacingMode::Predictive(Default::default()),
            answer_rate: 0.3,
            machine_rate: 0.15,
            busy_rate: 0.1,
            mean_handle: Duration::from_secs(180),
            handle_shape: HandleShape::LogNormal { sigma: 0.8 },
            mean_wrap: Duration::from_secs(20),
            ring_time: Duration::from_secs(25),
            max_lines: 2000,
            shift: Duration::from_secs(8 * 3600),
            days: 1,
            seed: 1,
        }
    }
}

/// One simulated day's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct DayReport {
    /// Dials placed.
    pub dials: u64,
    /// Persons who answered.
    pub live: u64,
    /// Of whom abandoned.
    pub abandoned: u64,
    /// Agents' talk plus wrap-up time over their shift time.
    pub occupancy: f64,
    /// Abandoned / live as the dialler counts it for that day.
    pub abandon_rate: f64,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// Per day.
    pub days: Vec<DayReport>,
    /// The dialler's 30-day abandon rate at the end.
    pub abandon_rate_30d: f64,
    /// Dials placed in all.
    pub dials: u64,
    /// Calls connected to an agent in all.
    pub connected: u64,
    /// Occupancy over all days.
    pub occupancy: f64,
    /// Ticks driven (timer wake-ups).
    pub ticks: u64,
}

impl SimReport {
    /// The worst day's abandon rate.
    pub fn worst_day_abandon_rate(&self) -> f64 {
        self.days.iter().map(|d| d.abandon_rate).fold(0.0, f64::max)
    }

    /// Abandoned / live over all days.
    pub fn abandon_rate(&self) -> f64 {
        let live: u64 = self.days.iter().map(|d| d.live).sum();
        let ab: u64 = self.days.iter().map(|d| d.abandoned).sum();
        if live == 0 {
            0.0
        } else {
            ab as f64 / live as f64
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Progress(DialId, Progress),
    AgentHangsUp(DialId),
    WrapDone(u32),
    PreviewDial(u32),
}

/// The campaign the simulator runs.
pub fn campaign() -> CampaignId {
    CampaignId::new("sim")
}

/// The campaign zone: New York (the contacts' numbers are all +1 212).
pub const ZONE: Tz = Tz::America__New_York;

/// Runs the simulation.
///
/// # Panics
/// Only on a bug: the dialler refusing an input that follows its own outputs.
pub fn run(cfg: &SimConfig) -> SimReport {
    run_with(cfg, |d, now| d.tick(now))
}

/// Runs the simulation, calling `tick(dialler, now)` at each wake-up the dialler asks for (the
/// benchmark times it).
///
/// # Panics
/// As [`run`].
pub fn run_with(cfg: &SimConfig, mut tick: impl FnMut(&mut Dialler, DateTime<Utc>)) -> SimReport {
    let mut rng = SplitMix64::new(cfg.seed);
    // Monday 2 March 2026, 09:00 in New York.
    let first = ZONE
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("09:00 on 2 March 2026 is one instant in New York")
        .with_timezone(&Utc);
    let mut d = Dialler::new(first);
    let id = campaign();
    let caller_id = Number::parse("+12125550000").expect("valid");
    let mut settings = CampaignSettings::new("Hotline Sim", caller_id, ZONE);
    settings.mode = cfg.mode.clone();
    settings.ring_time = cfg.ring_time;
    settings.max_lines = cfg.max_lines;
    d.add_campaign(first, id.clone(), settings)
        .expect("valid settings");
    let agents: Vec<AgentId> = (0..cfg.agents)
        .map(|i| AgentId::new(format!("a{i}")))
        .collect();
    for a in &agents {
        d.join(first, a, &id).expect("join");
    }
    let mut report = SimReport {
        days: Vec::new(),
        abandon_rate_30d: 0.0,
        dials: 0,
        connected: 0,
        occupancy: 0.0,
        ticks: 0,
    };
    let mut seq = 0u64;
    let mut next_contact = 0u64;
    let mut heap: BinaryHeap<Reverse<(DateTime<Utc>, u64, Ev)>> = BinaryHeap::new();
    let mut agent_of: HashMap<DialId, u32> = HashMap::new();
    let mut busy_total = 0.0;
    let mut day = first;
    for _ in 0..cfg.days {
        while day.with_timezone(&ZONE).weekday() == Weekday::Sun {
            day += ChronoDuration::days(1);
        }
        let start = day;
        let end = start + ChronoDuration::from_std(cfg.shift).expect("short shift");
        // Enough fresh contacts for the day.
        let cycle = cfg.mean_handle.as_secs_f64() + cfg.mean_wrap.as_secs_f64();
        let need =
            (f64::from(cfg.agents) * cfg.shift.as_secs_f64() / cycle / cfg.answer_rate.max(0.01)
                * 1.6) as u64
                + 100;
        let batch: Vec<ContactSpec> = (0..need)
            .map(|_| {
                next_contact += 1;
                let number = Number::parse(&format!("+1212{:07}", next_contact % 10_000_000))
                    .expect("valid");
                ContactSpec::new(format!("c{next_contact}"), number)
            })
            .collect();
        d.load_contacts(start, &id, batch).expect("load");
        d.start(start, &id).expect("start");
        let mut day_busy = 0.0;
        let mut day_dials = 0u64;
        let mut now = start;
        loop {
            // Drain outputs.
            while let Some(out) = d.poll_output() {
                match out {
                    Output::Dial {
                        dial, ring_timeout, ..
                    } => {
                        day_dials += 1;
                        let u = rng.next_f64();
                        let secs = |lo: f64, hi: f64, r: &mut SplitMix64| {
                            ChronoDuration::milliseconds(
                                ((lo + (hi - lo) * r.next_f64()) * 1000.0) as i64,
                            )
                        };
                        let ring = ring_timeout.as_secs_f64();
                        let (after, p) = if u < cfg.answer_rate {
                            (secs(3.0, 20.0_f64.min(ring), &mut rng), Progress::Person)
                        } else if u < cfg.answer_rate + cfg.machine_rate {
                            (secs(3.0, 15.0_f64.min(ring), &mut rng), Progress::Machine)
                        } else if u < cfg.answer_rate + cfg.machine_rate + cfg.busy_rate {
                            (secs(1.0, 4.0, &mut rng), Progress::Busy)
                        } else {
                            (secs(ring, ring, &mut rng), Progress::NoAnswer)
                        };
                        seq += 1;
                        heap.push(Reverse((now + after, seq, Ev::Progress(dial, p))));
                    }
                    Output::ConnectToAgent { dial, agent } => {
                        let ix: u32 = agent.as_str()[1..].parse().expect("sim agent");
                        agent_of.insert(dial, ix);
                        let h = handle(cfg, &mut rng);
                        let w = cfg.mean_wrap.as_secs_f64() * (0.5 + rng.next_f64());
                        let hang = now + ChronoDuration::milliseconds((h * 1000.0) as i64);
                        let done = hang + ChronoDuration::milliseconds((w * 1000.0) as i64);
                        let busy_end = done.min(end);
                        if busy_end > now {
                            day_busy += (busy_end - now).num_milliseconds() as f64 / 1000.0;
                        }
                        seq += 1;
                        heap.push(Reverse((hang, seq, Ev::AgentHangsUp(dial))));
                        seq += 1;
                        heap.push(Reverse((done, seq, Ev::WrapDone(ix))));
                    }
                    Output::PlayAbandonMessage { dial, .. } => {
                        seq += 1;
                        heap.push(Reverse((
                            now + ChronoDuration::seconds(12),
                            seq,
                            Ev::Progress(dial, Progress::Hangup),
                        )));
                    }
                    Output::HangUp { dial } => {
                        seq += 1;
                        heap.push(Reverse((
                            now + ChronoDuration::seconds(1),
                            seq,
                            Ev::Progress(dial, Progress::Hangup),
                        )));
                    }
                    Output::OfferPreview { agent, .. } => {
                        // Simulated agents read the preview for 5 s, then dial.
                        let ix: u32 = agent.as_str()[1..].parse().expect("sim agent");
                        seq += 1;
                        heap.push(Reverse((
                            now + ChronoDuration::seconds(5),
                            seq,
                            Ev::PreviewDial(ix),
                        )));
                    }
                    Output::CancelPreview { .. } | Output::ContactDone { .. } => {}
                }
            }
            let paused = now >= end;
            let timer = if paused { None } else { d.poll_timeout() };
            let ev_at = heap.peek().map(|Reverse((t, _, _))| *t);
            let next = match (ev_at, timer) {
                (None, None) => break,
                (Some(e), Some(t)) => e.min(t),
                (Some(e), None) => e,
                (None, Some(t)) => t,
            };
            if !paused && next >= end {
                now = end;
                d.pause(end, &id).expect("pause");
                continue;
            }
            now = next;
            if ev_at == Some(next) {
                let Reverse((_, _, ev)) = heap.pop().expect("peeked");
                match ev {
                    Ev::Progress(dial, p) => d.progress(now, dial, p).expect("progress"),
                    Ev::AgentHangsUp(dial) => {
                        agent_of.remove(&dial);
                        d.progress(now, dial, Progress::Hangup).expect("hangup")
                    }
                    Ev::WrapDone(ix) => d
                        .wrap_up_done(
                            now,
                            &agents[ix as usize],
                            Disposition::Completed("done".into()),
                        )
                        .expect("wrap-up"),
                    Ev::PreviewDial(ix) => {
                        // The preview may have auto-dialled already: then there is nothing to do.
                        let a = &agents[ix as usize];
                        if matches!(d.agent_state(a), Some(crate::AgentState::Previewing { .. })) {
                            d.preview_dial(now, a).expect("preview dial");
                        }
                    }
                }
            } else {
                report.ticks += 1;
                tick(&mut d, now);
            }
        }
        let stats = d.stats(&id).expect("campaign");
        let occupancy = day_busy / (f64::from(cfg.agents) * cfg.shift.as_secs_f64());
        busy_total += day_busy;
        report.days.push(DayReport {
            dials: day_dials,
            live: stats.live_today,
            abandoned: stats.abandoned_today,
            occupancy,
            abandon_rate: stats.abandon_rate_today(),
        });
        report.dials += day_dials;
        report.abandon_rate_30d = stats.abandon_rate_30d();
        report.connected = stats.connected;
        day += ChronoDuration::days(1);
    }
    report.occupancy =
        busy_total / (f64::from(cfg.agents) * cfg.shift.as_secs_f64() * f64::from(cfg.days.max(1)));
    report
}

fn handle(cfg: &SimConfig, rng: &mut SplitMix64) -> f64 {
    let mean = cfg.mean_handle.as_secs_f64();
    match cfg.handle_shape {
        HandleShape::Exponential => rng.exponential(mean),
        HandleShape::LogNormal { sigma } => {
            // Box-Muller; mu chosen so that the mean is `mean`.
            let u1 = 1.0 - rng.next_f64();
            let u2 = rng.next_f64();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let mu = mean.ln() - sigma * sigma / 2.0;
            (mu + sigma * z).exp()
        }
    }
}
