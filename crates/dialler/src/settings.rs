//! Campaign settings: pacing mode, calling hours, holidays, ring time, lines, recycling rules.
//!
//! [`CampaignSettings::validate`] is the one place that says which values are refused; every
//! input that takes settings calls it, so a campaign never holds a ring time under 15 s or an
//! abandon cap above 3 %.

use crate::error::DiallerError;
use crate::ids::Number;
use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::time::Duration;

/// Shortest ring time the dialler accepts (regulators and carriers expect at least 15 s).
pub const MIN_RING_TIME: Duration = Duration::from_secs(15);
/// How long a person who answered may wait for an agent before the abandon message plays.
pub const ABANDON_GRACE: Duration = Duration::from_secs(2);
/// The highest abandon cap accepted (3 % of live answers, per day and per 30 days).
pub const MAX_ABANDON_CAP: f64 = 0.03;

/// How a campaign decides how many lines to dial.
#[derive(Clone, Debug, PartialEq)]
pub enum PacingMode {
    /// The agent is reserved first and sees the contact; the call is placed when the agent
    /// accepts, or by itself after `auto_dial_after` if set.
    Preview {
        /// Dial without the agent's click after this long (`None`: wait for the agent).
        auto_dial_after: Option<Duration>,
    },
    /// One line per free agent, the agent reserved before dialling: never abandons.
    Progressive,
    /// Dials ahead of free agents from live estimates, throttled by the abandon rate.
    Predictive(PredictiveSettings),
    /// A fixed number of lines per free agent (the default of most open-source diallers),
    /// kept for comparison. It does not watch the abandon rate.
    Ratio {
        /// Lines in flight per free agent, at least 1.
        lines_per_agent: f64,
    },
}

/// Tuning of [`PacingMode::Predictive`]; the defaults suit most campaigns.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictiveSettings {
    /// Abandoned calls as a share of calls a person answered, per day and per 30 days (at most
    /// and by default 3 %).
    pub abandon_cap: f64,
    /// Answer rate assumed before the campaign has its own figures.
    pub answer_rate_prior: f64,
    /// Mean handle time (talk) assumed before the campaign has its own figures.
    pub handle_time_prior: Duration,
    /// Mean wrap-up assumed before the campaign has its own figures.
    pub wrap_up_prior: Duration,
    /// Weight of the priors, in attempts (answer rate) or calls (handle and wrap-up times).
    pub prior_weight: u32,
}

impl Default for PredictiveSettings {
    fn default() -> Self {
        Self {
            abandon_cap: MAX_ABANDON_CAP,
            answer_rate_prior: 0.25,
            handle_time_prior: Duration::from_secs(180),
            wrap_up_prior: Duration::from_secs(20),
            prior_weight: 20,
        }
    }
}

/// Calling hours per weekday, in the contact's local time: `[start, end)`; `None` is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallingHours {
    /// Indexed by `Weekday::num_days_from_monday()`.
    pub days: [Option<(NaiveTime, NaiveTime)>; 7],
}

impl CallingHours {
    /// The same window every day of the week.
    pub fn every_day(start: NaiveTime, end: NaiveTime) -> Self {
        Self {
            days: [Some((start, end)); 7],
        }
    }

    /// Sets one weekday's window (`None` closes it).
    pub fn with(mut self, day: Weekday, window: Option<(NaiveTime, NaiveTime)>) -> Self {
        self.days[day.num_days_from_monday() as usize] = window;
        self
    }

    /// The window of a weekday.
    pub fn window(&self, day: Weekday) -> Option<(NaiveTime, NaiveTime)> {
        self.days[day.num_days_from_monday() as usize]
    }
}

impl Default for CallingHours {
    /// Monday to Saturday 09:00 to 20:00, Sunday closed.
    fn default() -> Self {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid hour");
        Self::every_day(t(9), t(20)).with(Weekday::Sun, None)
    }
}

/// When to try a contact again after one outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Never again.
    Never,
    /// Again after `delay`, as long as this outcome has happened fewer than `max_tries` times.
    After {
        /// Wait before the next try.
        delay: Duration,
        /// Tries that may end this way (the first included) before the contact is closed.
        max_tries: u32,
    },
    /// Not again the same local day: from the opening of the contact's next calling day, as long
    /// as this outcome has happened fewer than `max_tries` times.
    NextLocalDay {
        /// As for `After`.
        max_tries: u32,
    },
}

/// Recycling rules, one per attempt outcome that does not close the contact by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecycleRules {
    /// The line was busy (default: after 10 min, up to 5 times).
    pub busy: Retry,
    /// Nobody answered within the ring time (default: 3 tries 2 h apart).
    pub no_answer: Retry,
    /// An answering machine (default: after 4 h, up to 2 times).
    pub machine: Retry,
    /// The network refused or failed the call (default: after 30 min, up to 3 times).
    pub failed: Retry,
    /// A person answered and no agent was free in 2 s (default: next local day, up to 2 times).
    /// Whatever this says, an abandoned contact is never dialled again the same local day.
    pub abandoned: Retry,
    /// Attempts per contact across all outcomes before it is closed (default 10).
    pub max_attempts: u32,
}

impl Default for RecycleRules {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(60 * m);
        Self {
            busy: Retry::After {
                delay: min(10),
                max_tries: 5,
            },
            no_answer: Retry::After {
                delay: min(120),
                max_tries: 3,
            },
            machine: Retry::After {
                delay: min(240),
                max_tries: 2,
            },
            failed: Retry::After {
                delay: min(30),
                max_tries: 3,
            },
            abandoned: Retry::NextLocalDay { max_tries: 2 },
            max_attempts: 10,
        }
    }
}

/// Everything that defines a campaign. Build with `CampaignSettings::new` and adjust fields.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignSettings {
    /// Pacing mode.
    pub mode: PacingMode,
    /// Calling hours in the contact's local time.
    pub hours: CallingHours,
    /// Dates (in the contact's local calendar) with no calls at all.
    pub holidays: BTreeSet<NaiveDate>,
    /// Zone of contacts whose zone is neither given nor derivable from the number; also the zone
    /// of the campaign's "today" for the abandon-rate figures.
    pub default_zone: Tz,
    /// How long a call rings before call control gives up (at least 15 s).
    pub ring_time: Duration,
    /// Lines the campaign may hold at once (the trunk's channel limit), at least 1.
    pub max_lines: u32,
    /// Caller id presented, also the callback number the abandon message gives.
    pub caller_id: Number,
    /// Who is calling, for the abandon message ("This is Acme Energy ...").
    pub caller_name: String,
    /// Recycling rules.
    pub recycle: RecycleRules,
}

impl CampaignSettings {
    /// Settings with the defaults: predictive, default hours, no holidays, 25 s ring, 100 lines.
    pub fn new(caller_name: impl Into<String>, caller_id: Number, default_zone: Tz) -> Self {
        Self {
            mode: PacingMode::Predictive(PredictiveSettings::default()),
            hours: CallingHours::default(),
            holidays: BTreeSet::new(),
            default_zone,
            ring_time: Duration::from_secs(25),
            max_lines: 100,
            caller_id,
            caller_name: caller_name.into(),
            recycle: RecycleRules::default(),
        }
    }

    /// Refuses settings the dialler must not run with.
    pub fn validate(&self) -> Result<(), DiallerError> {
        let bad = |setting, reason: &str| {
            Err(DiallerError::InvalidSetting {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.ring_time < MIN_RING_TIME {
            return Err(DiallerError::RingTimeTooShort(self.ring_time));
        }
        if self.max_lines == 0 {
            return bad("max_lines", "must be at least 1");
        }
        for (day, w) in self.hours.days.iter().enumerate() {
            if let Some((s, e)) = w
                && s >= e
            {
                return Err(DiallerError::InvalidSetting {
                    setting: "hours",
                    reason: format!("day {day}: start {s} is not before end {e}"),
                });
            }
        }
        if self.recycle.max_attempts == 0 {
            return bad("recycle.max_attempts", "must be at least 1");
        }
        match &self.mode {
            PacingMode::Predictive(p) => {
                if !(p.abandon_cap > 0.0 && p.abandon_cap <= MAX_ABANDON_CAP) {
                    return bad("abandon_cap", "must be above 0 and at most 0.03");
                }
                if !(p.answer_rate_prior > 0.0 && p.answer_rate_prior <= 1.0) {
                    return bad("answer_rate_prior", "must be in (0, 1]");
                }
                if p.handle_time_prior.is_zero() {
                    return bad("handle_time_prior", "must be above zero");
                }
            }
            PacingMode::Ratio { lines_per_agent } => {
                if !(*lines_per_agent >= 1.0 && *lines_per_agent <= 20.0) {
                    return bad("lines_per_agent", "must be in 1..=20");
                }
            }
            PacingMode::Preview { .. } | PacingMode::Progressive => {}
        }
        Ok(())
    }
}
