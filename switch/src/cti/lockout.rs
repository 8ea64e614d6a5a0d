//! Login lock-out: too many failed logins for one agent id, or from one source address, within a
//! window lock further logins out for a while. Time is an argument (tests may pause tokio time).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Most keys remembered per table; past it, entries without a lock are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
struct Entry {
    fails: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
struct Table<K> {
    limit: u32,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(limit: u32) -> Self {
        Table {
            limit: limit.max(1),
            entries: HashMap::new(),
        }
    }

    fn locked(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let e = self.entries.get_mut(key)?;
        match e.locked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                e.locked_until = None;
                e.fails.clear();
                None
            }
            None => None,
        }
    }

    /// Records a failure; true when this failure started a lock-out.
    fn fail(&mut self, key: &K, now: Instant, window: Duration, lock_for: Duration) -> bool {
        if self.entries.len() >= MAX_KEYS && !self.entries.contains_key(key) {
            self.entries
                .retain(|_, e| e.locked_until.is_some_and(|u| u > now));
        }
        let e = self.entries.entry(key.clone()).or_default();
        while e
            .fails
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            e.fails.pop_front();
        }
        e.fails.push_back(now);
        if e.fails.len() >= self.limit as usize && e.locked_until.is_none() {
            e.locked_until = Some(now + lock_for);
            true
        } else {
            false
        }
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

/// Failed-login bookkeeping for the CTI server.
#[derive(Debug)]
pub struct Lockout {
    window: Duration,
    lock_for: Duration,
    agents: Table<String>,
    addrs: Table<IpAddr>,
}

/// Why a login is refused before its password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// This agent id is locked out.
    Agent(Duration),
    /// This source address is locked out.
    Address(Duration),
}

impl Lockout {
    pub fn new(per_agent: u32, per_address: u32, window: Duration, lock_for: Duration) -> Self {
        Lockout {
            window,
            lock_for,
            agents: Table::new(per_agent),
            addrs: Table::new(per_address),
        }
    }

    /// Is a login for `agent` from `addr` locked out now?
    pub fn check(&mut self, agent: &str, addr: IpAddr, now: Instant) -> Option<Locked> {
        if let Some(d) = self.addrs.locked(&addr, now) {
            return Some(Locked::Address(d));
        }
        self.agents
            .locked(&agent.to_string(), now)
            .map(Locked::Agent)
    }

    /// Records a failed login; returns which lock-outs it started (agent, address).
    pub fn fail(&mut self, agent: &str, addr: IpAddr, now: Instant) -> (bool, bool) {
        let a = self
            .agents
            .fail(&agent.to_string(), now, self.window, self.lock_for);
        let b = self.addrs.fail(&addr, now, self.window, self.lock_for);
        (a, b)
    }

    /// A successful login clears the agent's failures (not the address's).
    pub fn success(&mut self, agent: &str) {
        self.agents.clear(&agent.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_n_failures_in_the_window_and_unlocks_later() {
        let t0 = Instant::now();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut l = Lockout::new(3, 10, Duration::from_secs(60), Duration::from_secs(300));
        assert_eq!(l.fail("a", ip, t0), (false, false));
        // An old failure falls out of the window.
        assert_eq!(
            l.fail("a", ip, t0 + Duration::from_secs(61)),
            (false, false)
        );
        assert_eq!(
            l.fail("a", ip, t0 + Duration::from_secs(62)),
            (false, false)
        );
        assert!(l.check("a", ip, t0 + Duration::from_secs(62)).is_none());
        assert_eq!(l.fail("a", ip, t0 + Duration::from_secs(63)), (true, false));
        assert_eq!(
            l.check("a", ip, t0 + Duration::from_secs(63)),
            Some(Locked::Agent(Duration::from_secs(300)))
        );
        assert!(l.check("b", ip, t0 + Duration::from_secs(63)).is_none());
        assert!(l.check("a", ip, t0 + Duration::from_secs(364)).is_none());
    }

    #[test]
    fn an_address_trying_many_ids_is_locked_out() {
        let t0 = Instant::now();
        let ip: IpAddr = [10, 0, 0, 2].into();
        let mut l = Lockout::new(3, 4, Duration::from_secs(60), Duration::from_secs(300));
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            assert!(!l.fail(id, ip, t0 + Duration::from_secs(i as u64)).1);
        }
        assert!(l.fail("d", ip, t0 + Duration::from_secs(3)).1);
        assert!(matches!(
            l.check("e", ip, t0 + Duration::from_secs(4)),
            Some(Locked::Address(_))
        ));
        l.success("a");
        assert!(l.check("a", [10, 0, 0, 3].into(), t0).is_none());
    }
}
