//! Connection limits shared by the stream listeners (HTTP, TLS, SIP over TCP): how many
//! connections one listener holds in total and per source IP, counters for `/metrics`, a
//! rate-limited log for refusals, the back-off after a failed `accept` (so that `EMFILE` neither
//! spins nor stops a listener), and raising the open-files limit at start-up.
//!
//! The way nginx (`limit_conn`, `worker_connections`), hyper and Kamailio (`tcp_max_connections`)
//! bound these: a connection over a limit is closed right after `accept` and counted; a
//! [`Permit`] held by the connection gives its place back when it drops, whichever way the
//! connection ends.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds its maximum number of connections.
    Total,
    /// The source IP holds its maximum number of connections on this listener.
    PerIp,
}

/// Why an open connection was closed by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A time-out: no (complete) request or message in time, or idle too long.
    TimedOut,
    /// The peer did not read what we sent and its send queue filled up.
    SlowPeer,
}

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_total: usize,
    pub max_per_ip: usize,
}

/// One listener's connection table and counters. Shared by its accept loop, its connections
/// (through [`Permit`]s) and the `/metrics` handler.
#[derive(Debug)]
pub struct Listener {
    /// The `listener` label on `/metrics` (`http`, `tls`, `sip_tcp`).
    pub name: &'static str,
    limits: Limits,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    accepted: AtomicU64,
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
    timed_out: AtomicU64,
    slow_peers: AtomicU64,
    accept_errors: AtomicU64,
    refusal_log: RateLimitedLog,
    accept_log: RateLimitedLog,
}

/// A connection's place on its listener; given back on drop.
#[derive(Debug)]
pub struct Permit {
    listener: Arc<Listener>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut per_ip = self
            .listener
            .per_ip
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.listener.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Listener {
    pub fn new(name: &'static str, limits: Limits) -> Arc<Listener> {
        Arc::new(Listener {
            name,
            limits,
            per_ip: Mutex::default(),
            open: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            slow_peers: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            refusal_log: RateLimitedLog::new(Duration::from_secs(10)),
            accept_log: RateLimitedLog::new(Duration::from_secs(10)),
        })
    }

    /// Admits a connection from `ip`, or says which limit it hits (counted and logged at most
    /// once per 10 s). The caller closes a refused connection at once.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let refusal = {
            let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
            let open = self.open.load(Ordering::Relaxed);
            let from_ip = per_ip.get(&ip).copied().unwrap_or(0);
            if open >= self.limits.max_total {
                Some(Refusal::Total)
            } else if from_ip >= self.limits.max_per_ip {
                Some(Refusal::PerIp)
            } else {
                per_ip.insert(ip, from_ip + 1);
                self.open.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        match refusal {
            None => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(Permit {
                    listener: self.clone(),
                    ip,
                })
            }
            Some(r) => {
                match r {
                    Refusal::Total => &self.refused_total,
                    Refusal::PerIp => &self.refused_per_ip,
                }
                .fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.refusal_log.allow(Instant::now()) {
                    // The address is the attacker's or a NAT's, not a caller's number.
                    tracing::warn!(
                        listener = self.name,
                        %ip,
                        limit = ?r,
                        max_total = self.limits.max_total,
                        max_per_ip = self.limits.max_per_ip,
                        suppressed,
                        "connection refused: limit reached"
                    );
                }
                Err(r)
            }
        }
    }

    /// Counts a connection we closed.
    pub fn closed(&self, why: Closed) {
        match why {
            Closed::TimedOut => &self.timed_out,
            Closed::SlowPeer => &self.slow_peers,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused at accept so far (both limits).
    pub fn refused(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed) + self.refused_per_ip.load(Ordering::Relaxed)
    }

    /// Counts a failed `accept` (logged at most once per 10 s) and says how long to pause
    /// before the next one.
    pub fn accept_failed(&self, backoff: &mut AcceptBackoff, e: &io::Error) -> Duration {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
        let pause = backoff.failed(e);
        if !pause.is_zero()
            && let Some(suppressed) = self.accept_log.allow(Instant::now())
        {
            tracing::warn!(
                listener = self.name,
                error = %e,
                pause_ms = pause.as_millis() as u64,
                suppressed,
                "accept failed (out of file descriptors?): pausing"
            );
        }
        pause
    }
}

/// A `/metrics` series: name, type, help, and its values per listener (with a `reason` label
/// when there are several).
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Listener) -> Vec<(Option<&'static str>, u64)>,
);

/// Prometheus series for the listeners' connections.
pub fn write_metrics(out: &mut String, listeners: &[Arc<Listener>]) {
    let series: [Series; 5] = [
        (
            "hotline_connections_open",
            "gauge",
            "Connections open now, per listener.",
            |l| vec![(None, l.open() as u64)],
        ),
        (
            "hotline_connections_accepted_total",
            "counter",
            "Connections admitted at accept, per listener.",
            |l| vec![(None, l.accepted.load(Ordering::Relaxed))],
        ),
        (
            "hotline_connections_refused_total",
            "counter",
            "Connections closed at accept because a limit was reached (reason: total, per_ip).",
            |l| {
                vec![
                    (Some("total"), l.refused_total.load(Ordering::Relaxed)),
                    (Some("per_ip"), l.refused_per_ip.load(Ordering::Relaxed)),
                ]
            },
        ),
        (
            "hotline_connections_closed_total",
            "counter",
            "Connections closed by the switch (reason: timeout, slow_peer).",
            |l| {
                vec![
                    (Some("timeout"), l.timed_out.load(Ordering::Relaxed)),
                    (Some("slow_peer"), l.slow_peers.load(Ordering::Relaxed)),
                ]
            },
        ),
        (
            "hotline_accept_errors_total",
            "counter",
            "Failed accept calls (e.g. out of file descriptors), per listener.",
            |l| vec![(None, l.accept_errors.load(Ordering::Relaxed))],
        ),
    ];
    for (name, kind, help, values) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for l in listeners {
            for (reason, v) in values(l) {
                match reason {
                    Some(r) => {
                        let _ =
                            writeln!(out, "{name}{{listener=\"{}\",reason=\"{r}\"}} {v}", l.name);
                    }
                    None => {
                        let _ = writeln!(out, "{name}{{listener=\"{}\"}} {v}", l.name);
                    }
                }
            }
        }
    }
}

/// Lets a log line through at most once per interval and counts what it held back.
#[derive(Debug)]
pub struct RateLimitedLog {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    pub fn new(every: Duration) -> RateLimitedLog {
        RateLimitedLog {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last line)` when a line may be logged now.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.0 {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                s.1 += 1;
                None
            }
            _ => {
                let held = s.1;
                *s = (Some(now), 0);
                Some(held)
            }
        }
    }
}

/// The pause after a failed `accept`, as Go's `net/http` does it: errors that concern only the
/// connection being accepted (it was reset before we took it) are retried at once; running out
/// of file descriptors or memory pauses 5 ms, doubling to 1 s while it lasts, so the loop
/// neither spins nor gives up, and connections that close meanwhile free descriptors.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    pause: Option<Duration>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    /// A connection was accepted: the next failure starts from the shortest pause again.
    pub fn succeeded(&mut self) {
        self.pause = None;
    }

    /// How long to wait after this failure.
    pub fn failed(&mut self, e: &io::Error) -> Duration {
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
        ) {
            return Duration::ZERO;
        }
        let next = match self.pause {
            None => Self::FIRST,
            Some(p) => (p * 2).min(Self::MAX),
        };
        self.pause = Some(next);
        next
    }
}

/// Raises the soft limit on open files to the hard limit (each connection, RTP and RTCP
/// socket is a descriptor) and logs both. Returns the soft limit in force afterwards.
#[cfg(unix)]
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let before = lim.current;
    let mut soft = lim.current;
    if lim.current != lim.maximum {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = lim.maximum,
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
        }
    }
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    tracing::info!(
        soft_before = %show(before),
        soft = %show(soft),
        hard = %show(lim.maximum),
        "open-files limit (RLIMIT_NOFILE)"
    );
    Some(soft.unwrap_or(u64::MAX))
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() -> Option<u64> {
    None
}

/// File descriptors the configuration may need at most: every RTP and RTCP port, every
/// connection each listener admits, and a reserve for the database, logs and outgoing
/// connections.
pub fn descriptors_needed(cfg: &crate::config::Config) -> u64 {
    const RESERVE: u64 = 256;
    let media = if cfg.media.anchor {
        u64::from(cfg.media.port_max.saturating_sub(cfg.media.port_min)) + 1
    } else {
        0
    };
    let http = cfg.connections.http.max_connections as u64;
    let tls = if cfg.cti.tls_cert.is_some() { http } else { 0 };
    let sip = if cfg.sip.tcp {
        cfg.connections.sip_tcp.max_connections as u64
    } else {
        0
    };
    media + http + tls + sip + RESERVE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_and_total_limits_hold_and_permits_give_places_back() {
        let l = Listener::new(
            "t",
            Limits {
                max_total: 3,
                max_per_ip: 2,
            },
        );
        let a1 = l.admit(ip(1)).expect("first");
        let a2 = l.admit(ip(1)).expect("second");
        assert_eq!(l.admit(ip(1)).unwrap_err(), Refusal::PerIp);
        let b1 = l.admit(ip(2)).expect("other address");
        assert_eq!(l.admit(ip(3)).unwrap_err(), Refusal::Total);
        assert_eq!((l.open(), l.refused()), (3, 2));
        drop(a1);
        assert_eq!(l.open(), 2);
        let a3 = l.admit(ip(1)).expect("a place came back");
        drop((a2, a3, b1));
        assert_eq!(l.open(), 0);
        assert!(l.per_ip.lock().expect("lock").is_empty(), "no entry left");
    }

    #[test]
    fn metrics_show_every_listener_and_reason() {
        let l = Listener::new(
            "sip_tcp",
            Limits {
                max_total: 2,
                max_per_ip: 1,
            },
        );
        let _p1 = l.admit(ip(1)).expect("admitted");
        assert_eq!(l.admit(ip(1)).unwrap_err(), Refusal::PerIp);
        let _p2 = l.admit(ip(2)).expect("admitted");
        assert_eq!(l.admit(ip(3)).unwrap_err(), Refusal::Total);
        l.closed(Closed::SlowPeer);
        let mut out = String::new();
        write_metrics(&mut out, &[l]);
        for line in [
            "hotline_connections_open{listener=\"sip_tcp\"} 2",
            "hotline_connections_accepted_total{listener=\"sip_tcp\"} 2",
            "hotline_connections_refused_total{listener=\"sip_tcp\",reason=\"per_ip\"} 1",
            "hotline_connections_refused_total{listener=\"sip_tcp\",reason=\"total\"} 1",
            "hotline_connections_closed_total{listener=\"sip_tcp\",reason=\"slow_peer\"} 1",
            "hotline_connections_closed_total{listener=\"sip_tcp\",reason=\"timeout\"} 0",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
        }
    }

    #[test]
    fn rate_limited_log_counts_what_it_holds_back() {
        let log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.allow(t0), Some(0));
        assert_eq!(log.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(log.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(log.allow(t0 + Duration::from_secs(10)), Some(2));
    }

    #[test]
    fn accept_backoff_doubles_on_exhaustion_and_skips_aborted_connections() {
        let mut b = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(24);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(b.failed(&aborted), Duration::ZERO);
        let pauses: Vec<u64> = (0..10)
            .map(|_| b.failed(&emfile).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(&emfile), Duration::from_millis(5));
    }
}
