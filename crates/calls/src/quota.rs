//! Caps on concurrent calls per source (finding 10: an INVITE flood to a public number took
//! every media port): each caller's leg counts against one [`Quota`]: its configured trunk,
//! the extension it authenticated as, or else its source IP. A new call over its quota's
//! limit is refused with 503 and `Retry-After` before any media port is taken, and counted
//! in [`crate::CallCounters`].
//!
//! Pure bookkeeping, no I/O: call control acquires a quota when it creates a call and
//! releases it when the call ends.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// `Retry-After` on a refusal, seconds.
pub(crate) const RETRY_AFTER_SECS: u32 = 30;

/// What a caller's leg counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Quota {
    /// Nothing (calls the switch places itself).
    None,
    /// An unauthenticated source (a call to a public number): `sip.max_calls_per_source`.
    Source(IpAddr),
    /// A configured trunk, by name: its `max_calls`.
    Trunk(String),
    /// An authenticated extension: `sip.max_calls_per_extension`.
    Extension(String),
}

/// The limits; 0 means no limit (only `sip.max_calls`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    pub(crate) per_source: usize,
    pub(crate) per_extension: usize,
    /// Trunk name to its `max_calls`.
    pub(crate) per_trunk: HashMap<String, usize>,
}

/// Live calls per quota.
#[derive(Debug, Default)]
pub(crate) struct Quotas {
    limits: Limits,
    live: HashMap<Quota, usize>,
    /// Quotas refused since they were last below their limit (one warning per episode, not
    /// one per INVITE of a flood).
    refusing: HashSet<Quota>,
}

/// Whether a new call fits its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admitted,
    /// Over the limit; `first` is true for the first refusal of an episode (log it).
    Refused {
        limit: usize,
        first: bool,
    },
}

impl Quotas {
    pub(crate) fn new(limits: Limits) -> Quotas {
        Quotas {
            limits,
            ..Default::default()
        }
    }

    fn limit(&self, q: &Quota) -> usize {
        match q {
            Quota::None => 0,
            Quota::Source(_) => self.limits.per_source,
            Quota::Trunk(name) => self.limits.per_trunk.get(name).copied().unwrap_or(0),
            Quota::Extension(_) => self.limits.per_extension,
        }
    }

    /// Live calls counted against `q`.
    pub(crate) fn live(&self, q: &Quota) -> usize {
        self.live.get(q).copied().unwrap_or(0)
    }

    /// Checks whether one more call fits `q` (does not count it: see [`Quotas::acquire`]).
    pub(crate) fn admit(&mut self, q: &Quota) -> Admission {
        let limit = self.limit(q);
        if limit == 0 || self.live(q) < limit {
            return Admission::Admitted;
        }
        let first = self.refusing.insert(q.clone());
        Admission::Refused { limit, first }
    }

    /// Counts a new call against `q`.
    pub(crate) fn acquire(&mut self, q: &Quota) {
        if *q != Quota::None {
            *self.live.entry(q.clone()).or_insert(0) += 1;
        }
    }

    /// A call counted against `q` ended.
    pub(crate) fn release(&mut self, q: &Quota) {
        if let Some(n) = self.live.get_mut(q) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.live.remove(q);
            }
        }
        if self.live(q) < self.limit(q) {
            self.refusing.remove(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quotas() -> Quotas {
        Quotas::new(Limits {
            per_source: 2,
            per_extension: 1,
            per_trunk: HashMap::from([("pstn".to_string(), 3), ("pbx".to_string(), 0)]),
        })
    }

    #[test]
    fn a_source_over_its_limit_is_refused_until_a_call_ends() {
        let mut q = quotas();
        let a = Quota::Source("192.0.2.1".parse().unwrap());
        let b = Quota::Source("192.0.2.2".parse().unwrap());
        for _ in 0..2 {
            assert_eq!(q.admit(&a), Admission::Admitted);
            q.acquire(&a);
        }
        assert_eq!(
            q.admit(&a),
            Admission::Refused {
                limit: 2,
                first: true
            }
        );
        assert_eq!(
            q.admit(&a),
            Admission::Refused {
                limit: 2,
                first: false
            }
        );
        // Another source is not affected.
        assert_eq!(q.admit(&b), Admission::Admitted);
        q.release(&a);
        assert_eq!(q.admit(&a), Admission::Admitted);
        q.acquire(&a);
        assert_eq!(
            q.admit(&a),
            Admission::Refused {
                limit: 2,
                first: true
            },
            "a new episode is logged again"
        );
    }

    #[test]
    fn trunks_and_extensions_have_their_own_limits() {
        let mut q = quotas();
        let pstn = Quota::Trunk("pstn".into());
        for _ in 0..3 {
            assert_eq!(q.admit(&pstn), Admission::Admitted);
            q.acquire(&pstn);
        }
        assert!(matches!(
            q.admit(&pstn),
            Admission::Refused { limit: 3, .. }
        ));
        let pbx = Quota::Trunk("pbx".into());
        for _ in 0..100 {
            assert_eq!(q.admit(&pbx), Admission::Admitted, "0 = no limit");
            q.acquire(&pbx);
        }
        let ext = Quota::Extension("1001".into());
        q.acquire(&ext);
        assert!(matches!(q.admit(&ext), Admission::Refused { limit: 1, .. }));
        assert_eq!(
            q.admit(&Quota::Extension("1002".into())),
            Admission::Admitted
        );
        q.acquire(&Quota::None);
        assert_eq!(q.live(&Quota::None), 0);
        q.release(&Quota::None);
        q.release(&ext);
        q.release(&ext);
        assert_eq!(q.live(&ext), 0, "releasing more than acquired stays at 0");
    }
}
