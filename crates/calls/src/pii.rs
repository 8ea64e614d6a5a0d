//! Personal data in logs. Caller numbers and names go through [`redact`], which hides them
//! unless `[log] personal_data = true` (for debugging only).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOW: AtomicBool = AtomicBool::new(false);

/// Switches showing personal data in logs on or off (from `[log] personal_data`).
pub fn show_personal_data(on: bool) {
    SHOW.store(on, Ordering::Relaxed);
}

/// A log-safe view of a personal value: `***56` (last two characters) unless personal data
/// logging is on.
pub fn redact(value: &str) -> Redacted<'_> {
    Redacted(value)
}

pub struct Redacted<'a>(&'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if SHOW.load(Ordering::Relaxed) {
            return f.write_str(self.0);
        }
        let n = self.0.chars().count();
        if n > 6 {
            let tail: String = self.0.chars().skip(n - 2).collect();
            write!(f, "***{tail}")
        } else {
            f.write_str("***")
        }
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_by_default_shown_on_request() {
        assert_eq!(redact("+12125550100").to_string(), "***00");
        assert_eq!(redact("Ada").to_string(), "***");
        show_personal_data(true);
        assert_eq!(redact("+12125550100").to_string(), "+12125550100");
        show_personal_data(false);
    }
}
