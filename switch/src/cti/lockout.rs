//! Login lock-out for the CTI server, fail2ban-style, that an attacker cannot turn against the
//! real agent.
//!
//! # What is counted
//!
//! * **Per source** (an IPv4 address, or the /64 of an IPv6 address: one subscriber): failed
//!   logins for any agent id. Past `per_source` failures within `window` the source is
//!   **banned** for `ban_for`.
//! * **Per agent id**: failed logins for it from sources that have not logged in as that agent
//!   recently ("strangers"). Past `per_agent` failures within `window` the agent id is
//!   **locked for strangers** for `ban_for`.
//! * **Trusted pairs**: an address that logged in successfully as an agent within `trust_for`
//!   is trusted for that agent. Its logins for that agent are not refused by the agent's lock
//!   nor by a ban of its source, and its failures do not count against either (a whole office
//!   behind one NAT address keeps working while strangers guess). `per_agent` failures in a row
//!   from a trusted address lose it the trust; it is then a stranger like any other.
//!
//! So strangers guessing `alice`'s password lock `alice` against strangers only: Alice at her
//! usual desk still logs in (OWASP's advice against lock-outs that deny service; fail2ban's
//! per-source bans).
//!
//! # Counting atomically
//!
//! [`Lockout::begin`] checks the bans and, in the same call (one lock), **reserves** the attempt:
//! an attempt whose password is still being checked counts as a failure. A limit of 5 therefore
//! lets at most 5 checks run for an agent however many logins arrive at once; the 6th is refused
//! (`Busy` while the 5 are in flight, a lock-out once they failed). Every [`Attempt`] must be
//! resolved with [`Lockout::succeeded`], [`Lockout::failed`] or [`Lockout::abandoned`].
//!
//! Time is an argument; tables are bounded (`MAX_KEYS`), evicting idle entries first.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Most keys remembered per table.
const MAX_KEYS: usize = 100_000;
/// Most trusted addresses remembered per agent (the least recently used is forgotten).
const MAX_TRUSTED_PER_AGENT: usize = 8;

/// The limits, from `[cti]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures from strangers that lock an agent id (and failures in a row that cost a trusted
    /// address its trust).
    pub per_agent: u32,
    /// Failures from one source that ban it.
    pub per_source: u32,
    /// Failures older than this do not count.
    pub window: Duration,
    /// How long a ban or lock lasts.
    pub ban_for: Duration,
    /// How long a successful login keeps its address trusted for that agent.
    pub trust_for: Duration,
}

/// A source as counted: an IPv4 address, or an IPv6 address's /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(addr: IpAddr) -> Source {
        match addr {
            IpAddr::V4(_) => Source(addr),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Source(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

/// Failures (and reserved attempts) of one source or one agent id.
#[derive(Debug, Default)]
struct Counter {
    failures: VecDeque<Instant>,
    in_flight: u32,
    banned_until: Option<Instant>,
}

impl Counter {
    /// Forgets what no longer counts at `now`.
    fn expire(&mut self, now: Instant, window: Duration) {
        if self.banned_until.is_some_and(|u| u <= now) {
            self.banned_until = None;
            self.failures.clear();
        }
        while self
            .failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.failures.pop_front();
        }
    }

    fn banned(&self, now: Instant) -> Option<Duration> {
        self.banned_until
            .filter(|u| *u > now)
            .map(|u| u.duration_since(now))
    }

    /// Failures plus attempts still being checked have reached `limit`.
    fn full(&self, limit: u32) -> bool {
        self.failures.len() + self.in_flight as usize >= limit as usize
    }

    fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Records a failure; true when it starts a ban.
    fn fail(&mut self, now: Instant, limit: u32, policy: &Policy) -> bool {
        self.release();
        self.expire(now, policy.window);
        self.failures.push_back(now);
        if self.failures.len() >= limit as usize && self.banned_until.is_none() {
            self.banned_until = Some(now + policy.ban_for);
            true
        } else {
            false
        }
    }

    /// Nothing worth keeping: no ban, nothing in flight, no failure that still counts.
    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.in_flight == 0
            && self.banned(now).is_none()
            && self
                .failures
                .back()
                .is_none_or(|t| now.saturating_duration_since(*t) > window)
    }
}

/// A table of counters with a size bound.
#[derive(Debug)]
struct Table<K> {
    entries: HashMap<K, Counter>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Table {
            entries: HashMap::new(),
        }
    }

    fn get(&mut self, key: &K, now: Instant, window: Duration) -> Option<&Counter> {
        let c = self.entries.get_mut(key)?;
        c.expire(now, window);
        Some(c)
    }

    /// The counter for `key`, making room first when the table is full.
    fn entry(&mut self, key: &K, now: Instant, window: Duration) -> &mut Counter {
        if self.entries.len() >= MAX_KEYS && !self.entries.contains_key(key) {
            self.entries.retain(|_, c| !c.idle(now, window));
            if self.entries.len() >= MAX_KEYS {
                // Only bans left (a huge distributed attack): forget the ones ending soonest,
                // down to 90 %, rather than refuse everyone or grow without bound.
                let mut ends: Vec<(Instant, K)> = self
                    .entries
                    .iter()
                    .filter(|(_, c)| c.in_flight == 0)
                    .map(|(k, c)| (c.banned_until.unwrap_or(now), k.clone()))
                    .collect();
                ends.sort_by_key(|(t, _)| *t);
                let excess = self.entries.len() - MAX_KEYS * 9 / 10;
                for (_, k) in ends.into_iter().take(excess) {
                    self.entries.remove(&k);
                }
            }
        }
        let c = self.entries.entry(key.clone()).or_default();
        c.expire(now, window);
        c
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// An address trusted for an agent.
#[derive(Debug)]
struct Trusted {
    addr: IpAddr,
    last_ok: Instant,
    /// Failures in a row since the last success.
    failures: u32,
    in_flight: u32,
}

/// How an attempt was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// From an address that logged in as this agent recently.
    Trusted,
    /// From anywhere else.
    Stranger,
}

/// A login attempt admitted and counted as a failure until resolved.
#[derive(Debug)]
#[must_use = "resolve the attempt with succeeded, failed or abandoned"]
pub struct Attempt {
    agent: String,
    addr: IpAddr,
    standing: Standing,
}

impl Attempt {
    pub fn standing(&self) -> Standing {
        self.standing
    }
}

/// Why a login is refused before its password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source address is banned for this long.
    SourceBanned(Duration),
    /// This agent id is locked for strangers for this long.
    AgentLocked(Duration),
    /// As many attempts as the limit allows are being checked now; one more could be the one
    /// over the limit.
    Busy,
}

/// What a failure started (for the log and the metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanStarted {
    /// The source is banned.
    Source(Source),
    /// The agent id is locked for strangers.
    Agent,
    /// The address lost its trust for the agent (too many failures in a row).
    TrustRevoked,
}

/// Failed-login bookkeeping for the CTI server.
#[derive(Debug)]
pub struct Lockout {
    policy: Policy,
    sources: Table<Source>,
    agents: Table<String>,
    trusted: HashMap<String, Vec<Trusted>>,
}

impl Lockout {
    pub fn new(policy: Policy) -> Self {
        Lockout {
            policy: Policy {
                per_agent: policy.per_agent.max(1),
                per_source: policy.per_source.max(1),
                ..policy
            },
            sources: Table::new(),
            agents: Table::new(),
            trusted: HashMap::new(),
        }
    }

    /// The trusted entry for `agent` at `addr`, forgetting expired ones.
    fn trusted_mut(&mut self, agent: &str, addr: IpAddr, now: Instant) -> Option<&mut Trusted> {
        let trust_for = self.policy.trust_for;
        let list = self.trusted.get_mut(agent)?;
        list.retain(|t| t.in_flight > 0 || now.saturating_duration_since(t.last_ok) <= trust_for);
        list.iter_mut().find(|t| t.addr == addr)
    }

    /// Checks the bans and reserves the attempt, in one step.
    pub fn begin(&mut self, agent: &str, addr: IpAddr, now: Instant) -> Result<Attempt, Refusal> {
        let per_agent = self.policy.per_agent;
        let window = self.policy.window;
        if let Some(t) = self.trusted_mut(agent, addr, now) {
            if t.failures + t.in_flight >= per_agent {
                return Err(Refusal::Busy);
            }
            t.in_flight += 1;
            return Ok(Attempt {
                agent: agent.to_string(),
                addr,
                standing: Standing::Trusted,
            });
        }
        let source = Source::of(addr);
        let agent_key = agent.to_string();
        let src_full = match self.sources.get(&source, now, window) {
            Some(c) => {
                if let Some(d) = c.banned(now) {
                    return Err(Refusal::SourceBanned(d));
                }
                c.full(self.policy.per_source)
            }
            None => false,
        };
        let agent_full = match self.agents.get(&agent_key, now, window) {
            Some(c) => {
                if let Some(d) = c.banned(now) {
                    return Err(Refusal::AgentLocked(d));
                }
                c.full(per_agent)
            }
            None => false,
        };
        if src_full || agent_full {
            return Err(Refusal::Busy);
        }
        self.sources.entry(&source, now, window).in_flight += 1;
        self.agents.entry(&agent_key, now, window).in_flight += 1;
        Ok(Attempt {
            agent: agent_key,
            addr,
            standing: Standing::Stranger,
        })
    }

    /// The password was right: releases the reservation and trusts the address for the agent.
    /// (An agent's failures from strangers are not cleared: they are someone else's guesses.)
    pub fn succeeded(&mut self, attempt: Attempt, now: Instant) {
        self.release(&attempt, now);
        let list = self.trusted.entry(attempt.agent).or_default();
        match list.iter_mut().find(|t| t.addr == attempt.addr) {
            Some(t) => {
                t.last_ok = now;
                t.failures = 0;
            }
            None => {
                if list.len() >= MAX_TRUSTED_PER_AGENT
                    && let Some(oldest) = list
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.in_flight == 0)
                        .min_by_key(|(_, t)| t.last_ok)
                        .map(|(i, _)| i)
                {
                    list.remove(oldest);
                }
                list.push(Trusted {
                    addr: attempt.addr,
                    last_ok: now,
                    failures: 0,
                    in_flight: 0,
                });
            }
        }
        if self.trusted.len() > MAX_KEYS {
            let trust_for = self.policy.trust_for;
            self.trusted.retain(|_, list| {
                list.retain(|t| {
                    t.in_flight > 0 || now.saturating_duration_since(t.last_ok) <= trust_for
                });
                !list.is_empty()
            });
        }
    }

    /// The password was wrong (or the agent unknown): records the failure; returns what it
    /// started.
    pub fn failed(&mut self, attempt: Attempt, now: Instant) -> Vec<BanStarted> {
        let policy = self.policy;
        let mut started = Vec::new();
        match attempt.standing {
            Standing::Trusted => {
                if let Some(list) = self.trusted.get_mut(&attempt.agent)
                    && let Some(i) = list.iter().position(|t| t.addr == attempt.addr)
                {
                    let t = &mut list[i];
                    t.in_flight = t.in_flight.saturating_sub(1);
                    t.failures += 1;
                    if t.failures >= policy.per_agent {
                        list.remove(i);
                        started.push(BanStarted::TrustRevoked);
                    }
                }
            }
            Standing::Stranger => {
                let source = Source::of(attempt.addr);
                if self.sources.entry(&source, now, policy.window).fail(
                    now,
                    policy.per_source,
                    &policy,
                ) {
                    started.push(BanStarted::Source(source));
                }
                if self.agents.entry(&attempt.agent, now, policy.window).fail(
                    now,
                    policy.per_agent,
                    &policy,
                ) {
                    started.push(BanStarted::Agent);
                }
            }
        }
        started
    }

    /// The attempt could not be decided (the database was down): releases it uncounted.
    pub fn abandoned(&mut self, attempt: Attempt, now: Instant) {
        self.release(&attempt, now);
    }

    fn release(&mut self, attempt: &Attempt, now: Instant) {
        let window = self.policy.window;
        match attempt.standing {
            Standing::Trusted => {
                if let Some(t) = self
                    .trusted
                    .get_mut(&attempt.agent)
                    .and_then(|l| l.iter_mut().find(|t| t.addr == attempt.addr))
                {
                    t.in_flight = t.in_flight.saturating_sub(1);
                }
            }
            Standing::Stranger => {
                self.sources
                    .entry(&Source::of(attempt.addr), now, window)
                    .release();
                self.agents.entry(&attempt.agent, now, window).release();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            per_agent: 5,
            per_source: 20,
            window: Duration::from_secs(300),
            ban_for: Duration::from_secs(300),
            trust_for: Duration::from_secs(30 * 86_400),
        }
    }

    fn ip(last: u8) -> IpAddr {
        [10, 0, 0, last].into()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Finding 2: 399 wrong passwords and 1 right one arrive at once. Only `per_agent`
    /// attempts are ever checked; the right one, arriving last, is refused and stays refused.
    #[test]
    fn parallel_attempts_never_exceed_the_limit() {
        let t0 = Instant::now();
        let mut l = Lockout::new(policy());
        let mut admitted = Vec::new();
        let mut refused = 0;
        for i in 0..400u32 {
            // 20 attacker addresses, so the per-source limit is not what stops them.
            match l.begin("bob", ip((i % 20) as u8 + 1), t0) {
                Ok(a) => admitted.push((i, a)),
                Err(r) => {
                    assert_eq!(r, Refusal::Busy);
                    refused += 1;
                }
            }
        }
        assert_eq!(admitted.len(), 5);
        assert_eq!(refused, 395);
        assert!(
            admitted.iter().all(|(i, _)| *i < 399),
            "the right one was last"
        );
        let mut bans = Vec::new();
        for (_, a) in admitted {
            bans.extend(l.failed(a, t0 + secs(1)));
        }
        assert_eq!(bans, vec![BanStarted::Agent]);
        assert_eq!(
            l.begin("bob", ip(1), t0 + secs(1)).unwrap_err(),
            Refusal::AgentLocked(secs(300))
        );
        // After the lock, the window has passed too: counting starts afresh.
        let a = l.begin("bob", ip(1), t0 + secs(302)).expect("unlocked");
        l.succeeded(a, t0 + secs(302));
    }

    /// Finding 9: strangers lock an agent id out against strangers only; the agent's own
    /// recent address still logs in, and still counts its own mistakes.
    #[test]
    fn the_real_agent_logs_in_while_strangers_are_locked_out() {
        let t0 = Instant::now();
        let mut l = Lockout::new(policy());
        let desk = ip(7);
        let a = l.begin("alice", desk, t0).expect("first login");
        assert_eq!(a.standing(), Standing::Stranger);
        l.succeeded(a, t0);
        // A stranger guesses five times: alice is locked for strangers.
        let attacker = ip(66);
        for i in 0..5 {
            let a = l.begin("alice", attacker, t0 + secs(i)).expect("guess");
            l.failed(a, t0 + secs(i));
        }
        assert!(matches!(
            l.begin("alice", attacker, t0 + secs(10)),
            Err(Refusal::AgentLocked(_))
        ));
        assert!(matches!(
            l.begin("alice", ip(99), t0 + secs(10)),
            Err(Refusal::AgentLocked(_))
        ));
        // Alice at her desk: trusted, admitted; a typo does not lock her out either.
        let a = l.begin("alice", desk, t0 + secs(10)).expect("trusted");
        assert_eq!(a.standing(), Standing::Trusted);
        assert!(l.failed(a, t0 + secs(10)).is_empty());
        let a = l.begin("alice", desk, t0 + secs(11)).expect("trusted");
        l.succeeded(a, t0 + secs(11));
        // Five failures in a row from the trusted address cost it the trust.
        let mut started = Vec::new();
        for i in 0..5 {
            let a = l.begin("alice", desk, t0 + secs(20 + i)).expect("trusted");
            started.extend(l.failed(a, t0 + secs(20 + i)));
        }
        assert_eq!(started, vec![BanStarted::TrustRevoked]);
        assert!(matches!(
            l.begin("alice", desk, t0 + secs(30)),
            Err(Refusal::AgentLocked(_))
        ));
    }

    #[test]
    fn trust_expires() {
        let t0 = Instant::now();
        let mut p = policy();
        p.trust_for = secs(100);
        p.per_agent = 1;
        let mut l = Lockout::new(p);
        let a = l.begin("alice", ip(7), t0).unwrap();
        l.succeeded(a, t0);
        let a = l.begin("alice", ip(8), t0).unwrap();
        assert_eq!(l.failed(a, t0), vec![BanStarted::Agent]);
        assert!(l.begin("alice", ip(7), t0 + secs(100)).is_ok_and(|a| {
            let ok = a.standing() == Standing::Trusted;
            l.abandoned(a, t0);
            ok
        }));
        assert!(matches!(
            l.begin("alice", ip(7), t0 + secs(101)),
            Err(Refusal::AgentLocked(_))
        ));
    }

    #[test]
    fn a_source_trying_many_ids_is_banned_but_keeps_its_own_trusted_logins() {
        let t0 = Instant::now();
        let mut p = policy();
        p.per_source = 4;
        let mut l = Lockout::new(p);
        let office = ip(2);
        let a = l.begin("carol", office, t0).unwrap();
        l.succeeded(a, t0);
        let mut started = Vec::new();
        for id in ["a", "b", "c", "d"] {
            let a = l.begin(id, office, t0).unwrap();
            started.extend(l.failed(a, t0));
        }
        assert_eq!(started, vec![BanStarted::Source(Source::of(office))]);
        assert!(matches!(
            l.begin("e", office, t0 + secs(1)),
            Err(Refusal::SourceBanned(_))
        ));
        // Carol logged in from there before: not refused by the ban.
        let a = l.begin("carol", office, t0 + secs(1)).expect("trusted");
        l.succeeded(a, t0 + secs(1));
        // Other sources are unaffected; the ban ends.
        assert!(l.begin("e", ip(3), t0).is_ok_and(|a| {
            l.abandoned(a, t0);
            true
        }));
        assert!(l.begin("e", office, t0 + secs(301)).is_ok());
    }

    #[test]
    fn failures_fall_out_of_the_window_and_abandoned_attempts_do_not_count() {
        let t0 = Instant::now();
        let mut p = policy();
        p.per_agent = 3;
        p.window = secs(60);
        let mut l = Lockout::new(p);
        for s in [0, 61, 62] {
            let a = l.begin("a", ip(1), t0 + secs(s)).unwrap();
            assert!(l.failed(a, t0 + secs(s)).is_empty());
        }
        for _ in 0..10 {
            let a = l.begin("a", ip(1), t0 + secs(63)).unwrap();
            l.abandoned(a, t0 + secs(63));
        }
        let a = l.begin("a", ip(1), t0 + secs(63)).unwrap();
        assert_eq!(l.failed(a, t0 + secs(63)), vec![BanStarted::Agent]);
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        assert_eq!(Source::of(a).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(Source::of(mapped), Source::of(ip(1)));
    }

    #[test]
    fn tables_stay_bounded() {
        let t0 = Instant::now();
        let mut p = policy();
        p.per_source = 1;
        let mut l = Lockout::new(p);
        for i in 0..(MAX_KEYS as u32 + 10) {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i));
            let a = l.begin(&format!("id{i}"), addr, t0).unwrap();
            l.failed(a, t0);
        }
        assert!(l.sources.len() <= MAX_KEYS);
        assert!(l.agents.len() <= MAX_KEYS);
    }
}
