//! Pacing: the live estimates, the abandon ledger and the predictive line count.
//!
//! ## The predictive rule
//!
//! At each decision (every input that touches the campaign, and at least once a second) the
//! campaign knows: `A` agents free now (minus persons already waiting for one), `T` agents
//! talking and `W` in wrap-up, the lines in flight and how long each has been ringing, and its
//! estimates: answer rate `p`, mean time from dial to a person answering `tau`, mean talk `H`
//! and wrap-up `U`.
//!
//! 1. *Persons expected from the lines already ringing.* A line ringing for `t` seconds is
//!    answered by a person with probability `h(t) = p Sp(t) / (p Sp(t) + (1 - p) So(t))`, where
//!    `Sp` and `So` are the shares of person answers and of other outcomes that last longer than
//!    `t` (histograms of past attempts). A line near the end of its ring time counts for almost
//!    nothing; a fresh one for `p`. Their sum is `E0`, with variance `V0 = sum h(1 - h)`.
//! 2. *Agents who free up in time.* Over the next `tau` seconds a talking agent frees with
//!    probability about `tau / (H + U)`, an agent in wrap-up with `1 - e^(-tau/U)`; their number
//!    `N` is taken as Poisson with mean `lambda`.
//! 3. *Expected abandons for `n` new lines.* Persons answering are `X = X0 + Binomial(n, p)`.
//!    Calls abandoned are `(X - A - N)^+`. With the normal approximation of `X - N` (mean
//!    `E0 + np - A - lambda`, variance `V0 + np(1-p) + lambda`) its mean has a closed form.
//!    The dialler dials the largest `n` (up to the channels left) whose expected abandons are at
//!    most `r * E[X]`: `r` is the share of answers it accepts to abandon.
//! 4. *Floor.* Whatever `r` allows, it keeps at least one line in flight per free agent (such a
//!    line cannot be abandoned unless an agent leaves), so predictive never idles agents more
//!    than progressive would.
//!
//! ## The throttle
//!
//! `r` starts at 60 % of the cap (1.8 % for a 3 % cap) and is steered by what actually happens:
//! after every live answer a gain is multiplied by `exp(eta (0.6 cap - abandoned))` with
//! `abandoned` 1 or 0, a stochastic-approximation controller that settles where the *measured*
//! abandon rate is 60 % of the cap whatever the model's errors (the model above ignores when,
//! inside the horizon, answers and free agents meet, and so underestimates abandons by a factor
//! the controller learns). The gain stays within 0.01 to 4.
//!
//! On top, a budget: `r` never exceeds the rate the next hour's live answers could run at and
//! still leave today's count, and the 30-day count, at 80 % of the cap. After a bad start the
//! budget is spent and the campaign runs at the floor (progressive-like) until the day's rate
//! has come back down.
//!
//! ## The estimates
//!
//! Each is a time-decaying average (time constant 15 minutes) seeded with a prior. The answer
//! rate learns from a dial only once every dial placed at the same moment has its result (its
//! ring time has passed): learning in the order results arrive would see the quick busy signals
//! first and underestimate it. Until the campaign has seen 200 attempts it paces on the estimate
//! plus two standard errors (a new campaign assumes the worst). The mean talk time counts the
//! time already spent by calls still going (the censored-data estimate), so the first minutes,
//! when only short calls have ended, do not make agents look about to free up.

use crate::settings::PredictiveSettings;
use chrono::NaiveDate;
use std::collections::VecDeque;
use std::time::Duration;

/// A time-decaying average seeded with a prior: `prior_weight` pseudo-samples of `prior`; every
/// sample (prior included) loses weight as `e^(-age / TIME_CONSTANT)`.
#[derive(Clone, Debug)]
pub(crate) struct Average {
    sum: f64,
    weight: f64,
    /// Time of the last update, in seconds since the Unix epoch.
    at: Option<f64>,
}

/// Samples fade with a time constant of 15 minutes: long enough to hold hundreds of attempts,
/// short enough to follow the answer rate through the day.
const TIME_CONSTANT: f64 = 900.0;

impl Average {
    pub(crate) fn new(prior: f64, prior_weight: f64) -> Self {
        Self {
            sum: prior * prior_weight,
            weight: prior_weight,
            at: None,
        }
    }

    /// Adds sample `x` taken at `t` (seconds since the epoch).
    pub(crate) fn add(&mut self, t: f64, x: f64) {
        let decay = match self.at {
            Some(at) if t > at => (-(t - at) / TIME_CONSTANT).exp(),
            _ => 1.0,
        };
        self.sum = self.sum * decay + x;
        self.weight = self.weight * decay + 1.0;
        self.at = Some(self.at.map_or(t, |at| at.max(t)));
    }

    pub(crate) fn mean(&self) -> f64 {
        self.mean_plus(0.0)
    }

    /// The mean with `extra` added to the sum but not to the weight: for a mean duration with
    /// `extra` seconds already spent by samples still running (the censored-data estimate).
    pub(crate) fn mean_plus(&self, extra: f64) -> f64 {
        if self.weight > 0.0 {
            (self.sum + extra) / self.weight
        } else {
            0.0
        }
    }
}

/// The live estimates of one campaign.
#[derive(Clone, Debug)]
pub(crate) struct Estimates {
    /// 1 for a person answering, 0 for any other end of an attempt.
    pub(crate) answer: Average,
    /// Seconds from dial to a person answering.
    pub(crate) to_answer: Average,
    /// Talk seconds.
    pub(crate) handle: Average,
    /// Wrap-up seconds.
    pub(crate) wrap: Average,
    /// When attempts end, for the chance that a line already ringing is still answered.
    pub(crate) curve: Curve,
    /// The abandon controller's gain.
    gain: f64,
    /// Finished attempts seen (for the warm-up).
    attempts: u64,
}

/// One-second buckets of attempt durations, split by person answers and other outcomes.
const BUCKETS: usize = 128;

/// Histograms of how long attempts last, by outcome class (cumulative, seeded with a prior).
#[derive(Clone, Debug)]
pub(crate) struct Curve {
    person: [f64; BUCKETS],
    other: [f64; BUCKETS],
}

impl Curve {
    fn new(prior_weight: f64) -> Self {
        let mut c = Self {
            person: [0.0; BUCKETS],
            other: [0.0; BUCKETS],
        };
        // Prior: people answer evenly between 2 and 20 s; other outcomes end half early
        // (busy, machine) and half at a 25 s ring time.
        for b in 2..20 {
            c.person[b] += prior_weight / 18.0;
        }
        c.other[3] += prior_weight / 2.0;
        c.other[25] += prior_weight / 2.0;
        c
    }

    /// Records an attempt that lasted `secs` until a person answered or it ended otherwise.
    pub(crate) fn record(&mut self, secs: f64, person: bool) {
        let b = (secs.max(0.0) as usize).min(BUCKETS - 1);
        if person {
            self.person[b] += 1.0;
        } else {
            self.other[b] += 1.0;
        }
    }

    /// For each age bucket, the chance that a line still in flight at that age is answered by a
    /// person, given the current answer rate `p`.
    pub(crate) fn hazard_table(&self, p: f64) -> [f64; BUCKETS] {
        let (tp, to): (f64, f64) = (self.person.iter().sum(), self.other.iter().sum());
        let mut out = [0.0; BUCKETS];
        let (mut sp, mut so) = (tp, to);
        for (b, slot) in out.iter_mut().enumerate() {
            // Fractions of each class still going at the start of bucket b.
            let fp = if tp > 0.0 { sp / tp } else { 0.0 };
            let fo = if to > 0.0 { so / to } else { 0.0 };
            let alive = p * fp + (1.0 - p) * fo;
            *slot = if alive > 1e-12 { p * fp / alive } else { 0.0 };
            sp -= self.person[b];
            so -= self.other[b];
        }
        out
    }

    /// The bucket of an age in seconds.
    pub(crate) fn bucket(secs: f64) -> usize {
        (secs.max(0.0) as usize).min(BUCKETS - 1)
    }
}

/// Share of the cap the controller aims at.
const AIM: f64 = 0.6;
/// Controller step size.
const ETA: f64 = 0.05;
/// The gain's range: the model may be off by a factor of 4 either way, not more.
const GAIN_MIN: f64 = 0.01;
const GAIN_MAX: f64 = 4.0;
/// Attempts before the answer-rate estimate is trusted as it is.
const WARMUP: u64 = 200;

impl Estimates {
    pub(crate) fn new(p: &PredictiveSettings) -> Self {
        let w = f64::from(p.prior_weight.max(1));
        Self {
            answer: Average::new(p.answer_rate_prior, w),
            to_answer: Average::new(10.0, w),
            handle: Average::new(p.handle_time_prior.as_secs_f64(), w),
            wrap: Average::new(p.wrap_up_prior.as_secs_f64(), w),
            curve: Curve::new(w),
            gain: 1.0,
            attempts: 0,
        }
    }

    /// Steers the gain after a live answer (`abandoned` if it was abandoned).
    pub(crate) fn on_live(&mut self, cap: f64, abandoned: bool) {
        let x = if abandoned { 1.0 } else { 0.0 };
        self.gain = (self.gain * (ETA * (AIM * cap - x)).exp()).clamp(GAIN_MIN, GAIN_MAX);
    }

    /// The answer rate used for pacing: the estimate, plus two standard errors while the
    /// campaign has seen fewer than `WARMUP` attempts (a new campaign starts cautious instead of
    /// trusting its prior).
    pub(crate) fn pacing_answer_rate(&self) -> f64 {
        let p = self.answer.mean().clamp(0.01, 1.0);
        if self.attempts >= WARMUP {
            return p;
        }
        let n = self.attempts as f64 + 1.0;
        (p + 2.0 * (p * (1.0 - p) / n).sqrt() * (1.0 - n / WARMUP as f64)).min(1.0)
    }

    /// Counts a finished attempt for the warm-up.
    pub(crate) fn attempt_seen(&mut self) {
        self.attempts += 1;
    }

    pub(crate) fn gain(&self) -> f64 {
        self.gain
    }
}

/// Live answers and abandons per day (the campaign default zone's dates), 30 days kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ledger {
    /// (date, live, abandoned), oldest first; the last entry is the latest day seen.
    days: VecDeque<(NaiveDate, u64, u64)>,
}

impl Ledger {
    fn day(&mut self, date: NaiveDate) -> &mut (NaiveDate, u64, u64) {
        if self.days.back().is_none_or(|d| d.0 < date) {
            self.days.push_back((date, 0, 0));
        }
        while self
            .days
            .front()
            .is_some_and(|d| (date - d.0).num_days() >= 30)
        {
            self.days.pop_front();
        }
        // A date earlier than the latest (time never goes back here) lands on the latest day.
        self.days.back_mut().expect("just pushed")
    }

    pub(crate) fn live(&mut self, date: NaiveDate) {
        self.day(date).1 += 1;
    }

    pub(crate) fn abandoned(&mut self, date: NaiveDate) {
        self.day(date).2 += 1;
    }

    /// (live, abandoned) on `date`.
    pub(crate) fn today(&self, date: NaiveDate) -> (u64, u64) {
        match self.days.back() {
            Some(d) if d.0 == date => (d.1, d.2),
            _ => (0, 0),
        }
    }

    /// (live, abandoned) over the 30 days ending on `date`.
    pub(crate) fn rolling(&self, date: NaiveDate) -> (u64, u64) {
        self.days
            .iter()
            .filter(|d| d.0 <= date && (date - d.0).num_days() < 30)
            .fold((0, 0), |(l, a), d| (l + d.1, a + d.2))
    }
}

/// What the predictive rule needs at one decision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub(crate) free: f64,
    pub(crate) talking: f64,
    pub(crate) wrapping: f64,
    /// Seconds already spent by the calls being talked (for the handle-time estimate).
    pub(crate) talk_elapsed: f64,
}

/// The share of expected answers the next decision may expect to abandon.
///
/// `today` and `rolling` are (live, abandoned); `live_per_hour` is how many live answers the
/// campaign's agents can take in an hour at the current handle time.
pub(crate) fn accepted_share(
    est: &Estimates,
    cap: f64,
    today: (u64, u64),
    rolling: (u64, u64),
    live_per_hour: f64,
) -> f64 {
    let aim = AIM * cap * est.gain();
    // The abandon budget left if the next hour's live answers are added to the count: the rate
    // the next hour may run at and still leave the day (and the 30 days) at 80 % of the cap.
    let horizon = live_per_hour.max(1.0);
    let budget =
        |(live, ab): (u64, u64)| (0.8 * cap * (live as f64 + horizon) - ab as f64) / horizon;
    aim.min(budget(today)).min(budget(rolling)).max(0.0005)
}

/// New lines to dial under the predictive rule. `ages` are the seconds each line in flight has
/// been ringing; `max_new` the channels left.
pub(crate) fn predictive_new_lines(
    est: &Estimates,
    s: Snapshot,
    ages: impl Iterator<Item = f64>,
    r: f64,
    max_new: u32,
) -> u32 {
    let p = est.pacing_answer_rate();
    let tau = est.to_answer.mean().max(1.0);
    let cycle = (est.handle.mean_plus(s.talk_elapsed) + est.wrap.mean()).max(1.0);
    let wrap = est.wrap.mean().max(0.1);
    let lambda = s.talking * (tau / cycle).min(1.0) + s.wrapping * (1.0 - (-tau / wrap).exp());
    // Persons expected from the lines already ringing, each by its age.
    let table = est.curve.hazard_table(p);
    let (mut e_old, mut v_old, mut count) = (0.0, 0.0, 0u32);
    for age in ages {
        count += 1;
        let h = table[Curve::bucket(age)];
        e_old += h;
        v_old += h * (1.0 - h);
    }
    let ok = |n: u32| {
        let np = f64::from(n) * p;
        let expected = e_old + np;
        if expected <= 0.0 {
            return true;
        }
        let mu = expected - s.free - lambda;
        let sigma = (v_old + np * (1.0 - p) + lambda).sqrt().max(1e-9);
        let z = mu / sigma;
        let overflow = sigma * phi(z) + mu * big_phi(z);
        overflow <= r * expected
    };
    // Never fewer lines than free agents: a line per free agent cannot abandon unless an agent
    // leaves, so predictive is never below progressive, even with the abandon budget spent.
    let floor = ((s.free.max(0.0) as u32).saturating_sub(count)).min(max_new);
    // The condition is monotone in n: binary search the largest n that passes.
    if !ok(floor) {
        return floor;
    }
    let (mut lo, mut hi) = (floor, max_new);
    if ok(hi) {
        return hi;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) { lo = mid } else { hi = mid }
    }
    lo
}

/// Lines to have in flight under a fixed ratio.
pub(crate) fn ratio_lines(lines_per_agent: f64, free: f64, max_lines: u32) -> u32 {
    ((lines_per_agent * free).ceil().max(0.0) as u32).min(max_lines)
}

/// Seconds as a `Duration`, saturating at zero.
pub(crate) fn secs(x: f64) -> Duration {
    Duration::from_secs_f64(x.max(0.0))
}

fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal CDF via the complementary error function (Abramowitz and Stegun 7.1.26,
/// absolute error under 1.5e-7).
fn big_phi(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_is_accurate() {
        assert!((big_phi(0.0) - 0.5).abs() < 1e-7);
        assert!((big_phi(1.96) - 0.975_002).abs() < 1e-5);
        assert!((big_phi(-1.0) - 0.158_655).abs() < 1e-5);
    }

    #[test]
    fn more_free_agents_more_lines_and_none_without_agents() {
        let mut est = Estimates::new(&PredictiveSettings::default());
        assert!(
            est.pacing_answer_rate() > 0.9,
            "a new campaign assumes the worst"
        );
        for _ in 0..WARMUP {
            est.attempt_seen();
        }
        assert!((est.pacing_answer_rate() - 0.25).abs() < 1e-9);
        let snap = |free| Snapshot {
            free,
            talking: 0.0,
            wrapping: 0.0,
            talk_elapsed: 0.0,
        };
        let lines = |free| predictive_new_lines(&est, snap(free), std::iter::empty(), 0.018, 500);
        assert_eq!(lines(0.0), 0);
        let few = lines(5.0);
        let many = lines(50.0);
        assert!(few >= 5 && many > few * 5, "{few} {many}");
        // With a 25 % answer rate, 50 free agents never justify more than 4 lines each.
        assert!(many <= 200, "{many}");
    }

    #[test]
    fn old_lines_count_less_than_new_ones() {
        let mut est = Estimates::new(&PredictiveSettings::default());
        for _ in 0..WARMUP {
            est.attempt_seen();
        }
        let t = est.curve.hazard_table(0.25);
        assert!((t[0] - 0.25).abs() < 1e-9, "{}", t[0]);
        // Busy lines end early, so a line still ringing at 10 s is a bit likelier to be
        // answered than a fresh one; at 19 s (people answer by 20 s) it rarely is, after 20 s never.
        assert!(
            t[10] > t[0] && t[19] < 0.1 && t[21] < 1e-9,
            "{} {} {}",
            t[10],
            t[19],
            t[21]
        );
        let snap = Snapshot {
            free: 10.0,
            talking: 0.0,
            wrapping: 0.0,
            talk_elapsed: 0.0,
        };
        let fresh = predictive_new_lines(&est, snap, [1.0; 20].into_iter(), 0.018, 500);
        let stale = predictive_new_lines(&est, snap, [19.0; 20].into_iter(), 0.018, 500);
        assert!(stale > fresh, "{stale} {fresh}");
    }

    #[test]
    fn ledger_rolls_thirty_days() {
        let mut l = Ledger::default();
        let d0 = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        for i in 0..40 {
            let d = d0 + chrono::Duration::days(i);
            l.live(d);
            l.live(d);
            l.abandoned(d);
        }
        let last = d0 + chrono::Duration::days(39);
        assert_eq!(l.today(last), (2, 1));
        assert_eq!(l.rolling(last), (60, 30));
    }
}
