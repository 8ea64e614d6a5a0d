//! KPI reports for supervisors: one day, cut into 15, 30 or 60 minute intervals, per queue and
//! per agent, read from the shared database (`hotline_store::Store::kpis`; the formulas are in
//! docs/kpis.md) and exported as the store's CSV (`hotline_store::reports::kpi_csv`).
//!
//! Like the customer [`directory`](crate::directory), the view only asks: a
//! [`ReportRequest`] goes to a [`ReportsLink`], which answers on its own thread (the store may be
//! slow or down; the UI must not wait for it) or inline (tests); the [`ReportAnswer`] is applied
//! to the state at the next frame.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};

use hotline_store::reports::{KpiGroup, KpiRow, KpiSettings, kpi_csv};
use hotline_store::{Millis, Store, StoreOptions};

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

/// What to report: one UTC day, with the store's settings (interval length among them).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQuery {
    /// Start of the day (00:00 UTC), Unix milliseconds.
    pub day: Millis,
    /// Interval length, thresholds and the vendor-dependent choices.
    pub settings: KpiSettings,
}

impl ReportQuery {
    /// The day starting at `day` in intervals of `interval_mins`, other settings at their defaults.
    pub fn new(day: Millis, interval_mins: u32) -> Self {
        ReportQuery {
            day,
            settings: KpiSettings {
                interval_mins,
                ..KpiSettings::default()
            },
        }
    }
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
}

impl Report {
    /// Builds the totals from the store's rows.
    pub fn new(query: ReportQuery, queues: Vec<KpiRow>, agents: Vec<KpiRow>) -> Self {
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
        /// The report or an error text.
        report: Result<Report, String>,
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
                    Ok((q, a))
                })
                .map(|(q, a)| Report::new(query.clone(), q, a));
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
}

impl ReportSource for StoreReports {
    fn kpis(
        &mut self,
        from: Millis,
        to: Millis,
        group: KpiGroup,
        settings: &KpiSettings,
    ) -> Result<Vec<KpiRow>, String> {
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
        let Some(store) = &self.store else {
            return Err("database not open".into());
        };
        self.runtime
            .block_on(store.kpis(from, to, group, settings))
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
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
        );
        assert_eq!(r.intervals.len(), 24);
        assert_eq!((r.intervals[0].offered, r.intervals[0].answered), (5, 4));
        assert_eq!(r.intervals[0].service_level, Some(2.0 / 5.0));
        assert_eq!(r.intervals[1].service_level, None);
        assert_eq!((r.total.offered, r.total.abandoned), (6, 1));
        assert_eq!(r.busy_span(), Some((0, 7_200_000)));
    }
}
