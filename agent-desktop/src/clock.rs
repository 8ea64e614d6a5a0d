//! Time for the desktop, injected so tests are deterministic.
//!
//! The UI shows "time in state" and the wrap-up timer from wall-clock stamps the switch sends
//! ([`UnixMillis`]); the outbox schedules retries with a monotonic [`Instant`]. Both come from a
//! [`Clock`]: [`SystemClock`] in the app, [`ManualClock`] in tests (advanced by hand).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hotline_cti::UnixMillis;

/// A source of monotonic and wall-clock time.
pub trait Clock: Send + Sync {
    /// Monotonic time, for timers and retries.
    fn now(&self) -> Instant;
    /// Wall-clock time, for display and stored stamps.
    fn wall(&self) -> UnixMillis;
}

/// The real clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> UnixMillis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        UnixMillis(ms)
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    base: Instant,
    base_wall: UnixMillis,
    offset: Arc<Mutex<Duration>>,
}

impl ManualClock {
    /// A clock whose wall time starts at `wall`.
    pub fn new(wall: UnixMillis) -> Self {
        ManualClock {
            base: Instant::now(),
            base_wall: wall,
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        *offset += by;
    }

    fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + self.offset()
    }

    fn wall(&self) -> UnixMillis {
        let ms = u64::try_from(self.offset().as_millis()).unwrap_or(u64::MAX);
        UnixMillis(self.base_wall.0.saturating_add(ms))
    }
}

/// Formats seconds as `m:ss` or `h:mm:ss` for timers.
pub fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Formats a span for "ago"/"in" texts: like [`format_duration`] under a day, then days and
/// hours (`22 d 3 h`).
pub fn format_span(secs: u64) -> String {
    if secs < 86_400 {
        format_duration(secs)
    } else {
        format!("{} d {} h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_both_times_together() {
        let clock = ManualClock::new(UnixMillis(1_000_000));
        let t0 = clock.now();
        clock.clone().advance(Duration::from_millis(2500));
        assert_eq!(clock.now() - t0, Duration::from_millis(2500));
        assert_eq!(clock.wall(), UnixMillis(1_002_500));
    }

    #[test]
    fn durations_format_like_a_timer() {
        assert_eq!(format_duration(0), "0:00");
        assert_eq!(format_duration(75), "1:15");
        assert_eq!(format_duration(3661), "1:01:01");
        assert_eq!(format_span(3661), "1:01:01");
        assert_eq!(format_span(22 * 86_400 + 7200 + 15), "22 d 2 h");
    }
}
