//! KPI reports for supervisors: one day, cut into 15, 30 or 60 minute intervals, per queue and
//! per agent, read from the shared database (`hotline_store::Store::kpis`; the formulas are in
//! docs/kpis.md) and exported as the store's CSV (`hotline_store::reports::kpi_csv`); with the
//! day's latest calls ([`DayCall`], `hotline_store::Store::calls_between`) and each call's per
//! leg media quality for the call detail.
//!
//! Like the customer [`directory`](crate::directory), the view only asks: a
//! [`ReportRequest`] goes to a [`ReportsLink`], which answers on its own thread (the store may be
//! slow or down; the UI must not wait for it) or inline (tests); the [`ReportAnswer`] is applied
//! to the state at the next frame.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};

use hotline_cti::Pii;
use hotline_store::reports::{KpiGroup, KpiRow, KpiSettings, kpi_csv};
use hotline_store::{CallRecord, LegQuality, Millis, Store, StoreOptions};

use crate::DeskError;

const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days from the local day of `local_ms` (a wall-clock time already shifted to the centre's
/// time zone) to the next birthday of someone born on `birthday` (`YYYY-MM-DD`): 0 on the day.
/// A 29 February birthday falls on 28 February in common years. `None` for a date that does
/// not parse.
pub fn days_to_birthday(birthday: &str, local_ms: i64) -> Option<i64> {
    let mut parts = birthday.trim().splitn(3, '-');
    let (_, m, d) = (
        parts.next()?.parse::<i64>().ok()?,
        parts.next()?.parse::<i64>().ok()?,
        parts.next()?.parse::<i64>().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let today = local_ms.div_euclid(DAY_MS);
    let (year, _, _) = civil_from_days(today);
    let on = |y: i64| {
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let d = if m == 2 && d == 29 && !leap { 28 } else { d };
        days_from_civil(y, m, d)
    };
    let this_year = on(year);
    Some(if this_year >= today {
        this_year - today
    } else {
        on(year + 1) - today
    })
}

/// The start (00:00 UTC, in Unix milliseconds) of a day written `YYYY-MM-DD`; `None` if the text
/// is not a real date.
pub fn parse_day(text: &str) -> Option<Millis> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Rejects 2026-02-30 and the like: the day must map back to itself.
    (civil_from_days(days) == (y, m, d)).then_some(days * DAY_MS)
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub fn format_day(ms: Millis) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM` (UTC) of `ms`.
pub fn format_hhmm(ms: Millis) -> String {
    let mins = ms.rem_euclid(DAY_MS) / 60_000;
    format!("{:02}:{:02}", mins / 60, mins % 60)
}

/// What to report: one day of the centre (its time zone as a fixed UTC offset), with the
/// store's settings (interval length among them).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQuery {
    /// Start of the day (00:00 in the centre's time zone), Unix milliseconds.
    pub day: Millis,
    /// The centre's offset from UTC in milliseconds (`+08:00` is 28 800 000): times are shown in
    /// it and days begin at its midnight.
    pub offset_ms: Millis,
    /// Interval length, thresholds and the vendor-dependent choices.
    pub settings: KpiSettings,
}

impl ReportQuery {
    /// The UTC day starting at `day` in intervals of `interval_mins`, other settings at their
    /// defaults.
    pub fn new(day: Millis, interval_mins: u32) -> Self {
        ReportQuery {
            day,
            offset_ms: 0,
            settings: KpiSettings {
                interval_mins,
                ..KpiSettings::default()
            },
        }
    }

    /// `HH:MM` of `ms` in the centre's time zone.
    pub fn hhmm(&self, ms: Millis) -> String {
        format_hhmm(ms + self.offset_ms)
    }

    /// `YYYY-MM-DD` of the report's day.
    pub fn day_text(&self) -> String {
        format_day(self.day + self.offset_ms)
    }

    /// The time zone, as `UTC` or `UTC+08:00`.
    pub fn zone(&self) -> String {
        format_offset(self.offset_ms)
    }
}

/// `UTC`, `UTC+08:00`, `UTC-05:00`.
pub fn format_offset(offset_ms: Millis) -> String {
    if offset_ms == 0 {
        return "UTC".into();
    }
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let mins = offset_ms.abs() / 60_000;
    format!("UTC{sign}{:02}:{:02}", mins / 60, mins % 60)
}

/// Parses a UTC offset: `+08:00`, `-05:00`, `+0530`, `8`, `UTC+8`; `None` when malformed or
/// beyond 14 hours.
pub fn parse_offset(text: &str) -> Option<Millis> {
    let t = text.trim();
    let t = t.strip_prefix("UTC").unwrap_or(t);
    if t.is_empty() {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes()[0] {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => (1, t),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
        None if rest.len() == 4 => (rest[..2].parse().ok()?, rest[2..].parse().ok()?),
        None => (rest.parse().ok()?, 0),
    };
    ((0..=14).contains(&h) && (0..60).contains(&m)).then_some(sign * (h * 60 + m) * 60_000)
}

/// All queues together in one interval: what the charts draw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalTotals {
    /// Interval start (Unix ms); for the day total, the day's start.
    pub start: Millis,
    /// Offered to queues.
    pub offered: u32,
    /// Answered.
    pub answered: u32,
    /// Abandoned (short abandons apart, as the settings say).
    pub abandoned: u32,
    /// Answered within the service-level threshold.
    pub answered_in_sl: u32,
    /// Service level over all queues (same formula as per queue); `None` with no calls.
    pub service_level: Option<f64>,
}

impl IntervalTotals {
    fn add(&mut self, r: &KpiRow) {
        self.offered += r.offered;
        self.answered += r.answered;
        self.abandoned += r.abandoned;
        self.answered_in_sl += r.answered_in_sl;
    }

    fn finish(&mut self, s: &KpiSettings) {
        let den = self.answered
            + if s.sl_counts_abandons {
                self.abandoned
            } else {
                0
            };
        self.service_level = (den > 0).then(|| f64::from(self.answered_in_sl) / f64::from(den));
    }
}

/// Most calls of a day listed in a report (the newest; the list says when there were more).
pub const MAX_DAY_CALLS: usize = 200;

/// One call of the report's day, as the call list and the call detail show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayCall {
    /// The call id.
    pub id: String,
    /// `inbound`, `outbound`, `internal`, `callback` (as the switch wrote it).
    pub direction: String,
    /// The caller's number.
    pub caller: Pii<String>,
    /// The queue, if it was queued.
    pub queue: Option<String>,
    /// The (last) agent who answered.
    pub agent: Option<String>,
    /// When it arrived (Unix ms).
    pub arrived_at: Millis,
    /// When an agent answered.
    pub answered_at: Option<Millis>,
    /// When it ended (`None`: still live, or left open).
    pub ended_at: Option<Millis>,
    /// Why it ended, as the switch wrote it.
    pub end_reason: Option<String>,
    /// The caller hung up before any agent answered.
    pub abandoned: bool,
    /// Media quality per leg, in the order the legs ended (empty without media figures).
    pub legs: Vec<LegQuality>,
}

impl From<CallRecord> for DayCall {
    fn from(r: CallRecord) -> Self {
        DayCall {
            id: r.id,
            direction: r.direction,
            caller: Pii::new(r.ani),
            queue: r.queue_id,
            agent: r.agent_id,
            arrived_at: r.arrived_at,
            answered_at: r.answered_at,
            ended_at: r.ended_at,
            end_reason: r.end_reason,
            abandoned: r.abandoned,
            legs: r.quality,
        }
    }
}

/// A loaded report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was asked.
    pub query: ReportQuery,
    /// Rows per interval and queue.
    pub queues: Vec<KpiRow>,
    /// Rows per interval and agent.
    pub agents: Vec<KpiRow>,
    /// Every interval of the day, all queues together (empty intervals included, for the charts).
    pub intervals: Vec<IntervalTotals>,
    /// The whole day, all queues together.
    pub total: IntervalTotals,
    /// The day's calls, newest first, at most [`MAX_DAY_CALLS`].
    pub calls: Vec<DayCall>,
    /// There were more calls than [`MAX_DAY_CALLS`] (the oldest are not listed).
    pub more_calls: bool,
}

impl Report {
    /// Builds the totals from the store's rows; `calls` are the day's calls, newest first (one
    /// more than [`MAX_DAY_CALLS`] says that the list is cut).
    pub fn new(
        query: ReportQuery,
        queues: Vec<KpiRow>,
        agents: Vec<KpiRow>,
        mut calls: Vec<DayCall>,
    ) -> Self {
        let more_calls = calls.len() > MAX_DAY_CALLS;
        calls.truncate(MAX_DAY_CALLS);
        let step = i64::from(query.settings.interval_mins.max(1)) * 60_000;
        let mut by_start: BTreeMap<Millis, IntervalTotals> = BTreeMap::new();
        let mut t = query.day;
        while t < query.day + DAY_MS {
            by_start.insert(
                t,
                IntervalTotals {
                    start: t,
                    ..IntervalTotals::default()
                },
            );
            t += step;
        }
        let mut total = IntervalTotals {
            start: query.day,
            ..IntervalTotals::default()
        };
        for r in &queues {
            by_start
                .entry(r.interval_start)
                .or_insert_with(|| IntervalTotals {
                    start: r.interval_start,
                    ..IntervalTotals::default()
                })
                .add(r);
            total.add(r);
        }
        let mut intervals: Vec<IntervalTotals> = by_start.into_values().collect();
        for i in &mut intervals {
            i.finish(&query.settings);
        }
        total.finish(&query.settings);
        Report {
            query,
            queues,
            agents,
            intervals,
            total,
            calls,
            more_calls,
        }
    }

    /// The rows of one group.
    pub fn rows(&self, group: KpiGroup) -> &[KpiRow] {
        match group {
            KpiGroup::Queue => &self.queues,
            KpiGroup::Agent => &self.agents,
        }
    }

    /// The first and last interval with any call (for the charts' range); `None` if the day was
    /// empty.
    pub fn busy_span(&self) -> Option<(Millis, Millis)> {
        let busy = |i: &&IntervalTotals| i.offered > 0 || i.answered > 0 || i.abandoned > 0;
        let first = self.intervals.iter().find(busy)?.start;
        let last = self.intervals.iter().rev().find(busy)?.start;
        Some((first, last))
    }
}

/// Where KPI rows come from.
pub trait ReportSource: Send {
    /// Rows for `[from, to)` grouped by `group`.
    fn kpis(
        &mut self,
        from: Millis,
        to: Millis,
        group: KpiGroup,
        settings: &KpiSettings,
    ) -> Result<Vec<KpiRow>, String>;

    /// The calls that arrived in `[from, to)`, newest first, at most `limit`.
    fn calls(&mut self, from: Millis, to: Millis, limit: usize) -> Result<Vec<CallRecord>, String>;
}

/// A question for the reports worker.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportRequest {
    /// Load a day.
    Load(ReportQuery),
    /// Write `rows` as the store's CSV to `path`.
    Export {
        /// The file.
        path: PathBuf,
        /// The rows (from the loaded report).
        rows: Vec<KpiRow>,
    },
}

/// The worker's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportAnswer {
    /// A loaded day, or why not.
    Loaded {
        /// What was asked.
        query: ReportQuery,
        /// The report (boxed: it is large next to the other answer) or an error text.
        report: Result<Box<Report>, String>,
    },
    /// A CSV written, or why not.
    Exported {
        /// The file.
        path: PathBuf,
        /// Data rows written, or an error text.
        rows: Result<usize, String>,
    },
}

fn answer(source: &mut dyn ReportSource, req: ReportRequest) -> ReportAnswer {
    match req {
        ReportRequest::Load(query) => {
            let (from, to) = (query.day, query.day + DAY_MS);
            let report = source
                .kpis(from, to, KpiGroup::Queue, &query.settings)
                .and_then(|q| {
                    let a = source.kpis(from, to, KpiGroup::Agent, &query.settings)?;
                    // One more than shown, to know whether the list is cut.
                    let c = source.calls(from, to, MAX_DAY_CALLS + 1)?;
                    Ok((q, a, c))
                })
                .map(|(q, a, c)| {
                    let calls = c.into_iter().map(DayCall::from).collect();
                    Box::new(Report::new(query.clone(), q, a, calls))
                });
            ReportAnswer::Loaded { query, report }
        }
        ReportRequest::Export { path, rows } => {
            let n = rows.len();
            let result = std::fs::write(&path, kpi_csv(&rows))
                .map(|()| n)
                .map_err(|e| format!("{}: {e}", path.display()));
            ReportAnswer::Exported { path, rows: result }
        }
    }
}

/// How the app reaches the reports.
pub enum ReportsLink {
    /// No database configured.
    Unavailable,
    /// Answered on the caller's thread, delivered at the next poll.
    Inline {
        /// The source.
        source: Box<dyn ReportSource>,
        /// Answers not yet polled.
        ready: VecDeque<ReportAnswer>,
    },
    /// Answered on a worker thread.
    Worker {
        /// Questions to the worker.
        tx: Sender<ReportRequest>,
        /// Answers from the worker.
        rx: Receiver<ReportAnswer>,
    },
}

impl ReportsLink {
    /// Inline over `source`.
    pub fn inline(source: Box<dyn ReportSource>) -> Self {
        ReportsLink::Inline {
            source,
            ready: VecDeque::new(),
        }
    }

    /// A worker thread over `source`; `wake_ui` is called after each answer.
    pub fn spawn(
        mut source: Box<dyn ReportSource>,
        wake_ui: Box<dyn Fn() + Send>,
    ) -> Result<Self, DeskError> {
        let (tx, qrx) = mpsc::channel::<ReportRequest>();
        let (atx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("reports".into())
            .spawn(move || {
                while let Ok(q) = qrx.recv() {
                    if atx.send(answer(source.as_mut(), q)).is_err() {
                        return;
                    }
                    wake_ui();
                }
            })
            .map_err(|e| DeskError::io("reports thread", e))?;
        Ok(ReportsLink::Worker { tx, rx })
    }

    /// Is there a source at all?
    pub fn available(&self) -> bool {
        !matches!(self, ReportsLink::Unavailable)
    }

    /// Sends a request; the answer arrives through [`Self::poll`]. Returns `false` if there is
    /// no source or its worker is gone.
    pub fn ask(&mut self, req: ReportRequest) -> bool {
        match self {
            ReportsLink::Unavailable => false,
            ReportsLink::Inline { source, ready } => {
                ready.push_back(answer(source.as_mut(), req));
                true
            }
            ReportsLink::Worker { tx, .. } => tx.send(req).is_ok(),
        }
    }

    /// Answers that arrived.
    pub fn poll(&mut self) -> Vec<ReportAnswer> {
        match self {
            ReportsLink::Unavailable => Vec::new(),
            ReportsLink::Inline { ready, .. } => ready.drain(..).collect(),
            ReportsLink::Worker { rx, .. } => rx.try_iter().collect(),
        }
    }
}

/// The shared database as a [`ReportSource`]. Opens lazily (a desktop started while the
/// database is down can load reports later) and blocks on its own small runtime, so it belongs
/// on the reports thread.
pub struct StoreReports {
    runtime: tokio::runtime::Runtime,
    url: String,
    store: Option<Store>,
}

impl StoreReports {
    /// Prepares a source for `url` (`sqlite://...` or `postgres://...`). Does not connect yet.
    pub fn open(url: &str) -> Result<Self, DeskError> {
        hotline_store::Backend::from_url(url).map_err(|e| DeskError::Database(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DeskError::io("tokio runtime", e))?;
        Ok(StoreReports {
            runtime,
            url: url.to_owned(),
            store: None,
        })
    }

    /// The runtime and the store, opened at first use.
    fn open_store(&mut self) -> Result<(&tokio::runtime::Runtime, &Store), String> {
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
        let store = self.store.as_ref().ok_or("database not open")?;
        Ok((&self.runtime, store))
    }
}

impl ReportSource for StoreReports {
    fn kpis(
        &mut self,
        from: Millis,
        to: Millis,
        group: KpiGroup,
        settings: &KpiSettings,
    ) -> Result<Vec<KpiRow>, String> {
        let (runtime, store) = self.open_store()?;
        runtime
            .block_on(store.kpis(from, to, group, settings))
            .map_err(|e| e.to_string())
    }

    fn calls(&mut self, from: Millis, to: Millis, limit: usize) -> Result<Vec<CallRecord>, String> {
        let (runtime, store) = self.open_store()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        runtime
            .block_on(store.calls_between(from, to, limit))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn birthdays_count_days_to_the_next_one() {
        let day = |y, m, d| days_from_civil(y, m, d) * DAY_MS + 3_600_000;
        assert_eq!(days_to_birthday("1981-02-04", day(2026, 2, 4)), Some(0));
        assert_eq!(days_to_birthday("1981-02-04", day(2026, 2, 1)), Some(3));
        assert_eq!(days_to_birthday("1981-02-04", day(2026, 2, 5)), Some(364));
        assert_eq!(days_to_birthday("1981-12-31", day(2026, 12, 30)), Some(1));
        assert_eq!(days_to_birthday("1980-01-01", day(2026, 12, 30)), Some(2));
        // 29 February: on the 28th in a common year, on the 29th in a leap year.
        assert_eq!(days_to_birthday("2000-02-29", day(2026, 2, 28)), Some(0));
        assert_eq!(days_to_birthday("2000-02-29", day(2028, 2, 28)), Some(1));
        assert_eq!(days_to_birthday("not a date", day(2026, 1, 1)), None);
        assert_eq!(days_to_birthday("1990-13-01", day(2026, 1, 1)), None);
    }

    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-11-23"), Some(1_795_392_000_000));
        assert_eq!(format_day(1_795_396_800_000), "2026-11-23");
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(parse_day("2026-02-29"), None);
        assert_eq!(parse_day("2026-13-01"), None);
        assert_eq!(parse_day("yesterday"), None);
        assert_eq!(parse_offset("+08:00"), Some(8 * 3_600_000));
        assert_eq!(parse_offset("UTC-5"), Some(-5 * 3_600_000));
        assert_eq!(parse_offset("+0530"), Some(330 * 60_000));
        assert_eq!(parse_offset("+15:00"), None);
        assert_eq!(format_offset(8 * 3_600_000), "UTC+08:00");
        assert_eq!(format_offset(-330 * 60_000), "UTC-05:30");
        assert_eq!(format_hhmm(1_795_396_800_000 + 35 * 60_000), "01:55");
    }

    #[test]
    fn totals_add_queues_per_interval() {
        let q = ReportQuery::new(0, 60);
        let row = |start: i64, key: &str, off, ans, ab, sl| KpiRow {
            interval_start: start,
            key: key.into(),
            offered: off,
            answered: ans,
            abandoned: ab,
            answered_in_sl: sl,
            ..KpiRow::default()
        };
        let r = Report::new(
            q,
            vec![
                row(0, "a", 2, 1, 1, 1),
                row(0, "b", 3, 3, 0, 1),
                row(7_200_000, "a", 1, 1, 0, 1),
            ],
            vec![],
            vec![],
        );
        assert_eq!(r.intervals.len(), 24);
        assert_eq!((r.intervals[0].offered, r.intervals[0].answered), (5, 4));
        assert_eq!(r.intervals[0].service_level, Some(2.0 / 5.0));
        assert_eq!(r.intervals[1].service_level, None);
        assert_eq!((r.total.offered, r.total.abandoned), (6, 1));
        assert_eq!(r.busy_span(), Some((0, 7_200_000)));
    }
}
