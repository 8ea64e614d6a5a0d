//! The registrar for agents' phones (RFC 3261 section 10) and the digest gate every request
//! from a phone passes.
//!
//! Plain state driven with `now`: no sockets, no clock. The call-control task owns one
//! [`Registrar`]; it hands it REGISTER requests and the requests that need an authenticated
//! extension, and sends whatever response comes back.
//!
//! - Extensions come from `[[extensions]]` (number = digest username, password).
//! - Digest with SHA-256 (MD5 only when `sip.auth_algorithms` names it), `qop=auth` required,
//!   nonces bound to the client's IP, nonce counts tracked (a replayed header is refused), the
//!   credentials' `uri` checked against the Request-URI (see `hotline_sip::auth`).
//! - Several contacts per extension (up to [`MAX_CONTACTS`]), each with its own expiry, the
//!   address the REGISTER came from (we send to that address, which works through NAT), and an
//!   OPTIONS keep-alive schedule.
//! - An unknown username gets the same challenge as a wrong password and counts as a failure.
//!
//! ## Bans (fail2ban-style, counted in this one state)
//!
//! Every failed answer is counted, in the same `&mut self` call that checks it (no gap between
//! checking and recording), against the source IP and, for a configured extension, against
//! that extension. `sip.auth_max_failures` failures of one source within `sip.auth_window_secs`
//! ban the source; `sip.auth_extension_max_failures` failures at one extension (from any number
//! of addresses) ban guessing at that extension; both for `sip.auth_lockout_secs`. A ban never
//! applies to:
//! - a configured trunk's address (its failures are not counted against the address, so five
//!   spoofed REGISTERs cannot cut off the carrier's calls);
//! - a source that authenticated successfully as that extension within `sip.auth_proven_secs`
//!   ("proven"): the real phone keeps registering and calling while an attacker is banned.
//!
//! A banned source gets 403 to its answers; an extension ban is silent (the same challenge as
//! a wrong password, even for the right one), so it tells an attacker nothing. Each ban is
//! logged once; counts are on `/metrics` ([`AuthMetrics`]).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_sip::auth::{self, Algorithm, DigestServer, QopPolicy, UriCheck, Verdict};
use hotline_sip::{Contact, Message, StatusCode, Transport};

use super::config::{ExtensionConfig, SipConfig, TrunkConfig};

/// Contacts kept per extension.
pub const MAX_CONTACTS: usize = 10;

/// Source addresses whose failures are counted at once (bounded memory under a spoofed
/// flood; when full, new addresses are not counted, and the per-extension count still
/// limits guessing).
pub const MAX_TRACKED_SOURCES: usize = 65_536;

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as registered (used as Request-URI).
    pub uri: String,
    /// Where requests to this contact are sent: the REGISTER's source address, or the
    /// Contact's port when the Contact names the source IP.
    pub source: SocketAddr,
    pub transport: Transport,
    pub expires: Instant,
    pub call_id: String,
    pub cseq: u32,
    /// RFC 5626 instance id, when the phone sent one.
    pub instance: Option<String>,
    /// Next OPTIONS keep-alive.
    pub next_keepalive: Instant,
}

/// Failed authentications of one source or at one extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strikes {
    /// `count` failures since `since` (the window start).
    Counting { since: Instant, count: u32 },
    /// Too many: banned until then.
    Banned { until: Instant },
}

impl Strikes {
    fn banned(&self, now: Instant) -> bool {
        matches!(self, Strikes::Banned { until } if now < *until)
    }

    /// Count one failure at `now`; true when this one starts a ban.
    fn strike(&mut self, now: Instant, max: u32, window: Duration, lockout: Duration) -> bool {
        let count = match *self {
            Strikes::Banned { until } if now < until => return false,
            Strikes::Counting { since, count }
                if now.saturating_duration_since(since) <= window =>
            {
                count + 1
            }
            _ => {
                *self = Strikes::Counting {
                    since: now,
                    count: 0,
                };
                1
            }
        };
        if count >= max {
            *self = Strikes::Banned {
                until: now + lockout,
            };
            true
        } else if let Strikes::Counting { count: c, .. } = self {
            *c = count;
            false
        } else {
            false
        }
    }

    /// Still worth keeping at `now`?
    fn live(&self, now: Instant, window: Duration) -> bool {
        match *self {
            Strikes::Banned { until } => now < until,
            Strikes::Counting { since, .. } => now.saturating_duration_since(since) <= window,
        }
    }
}

/// Counters of the digest gate, shared with `/metrics` (no addresses or numbers: counts only).
#[derive(Debug, Default)]
pub struct AuthMetrics {
    /// Failed authentications (wrong password, unknown user, foreign nonce, wrong `uri`...).
    pub failures: AtomicU64,
    /// Replayed nonce counts refused.
    pub replays: AtomicU64,
    /// Bans started on a source address.
    pub source_bans: AtomicU64,
    /// Bans started on guessing at an extension.
    pub extension_bans: AtomicU64,
    /// Source addresses banned right now.
    pub banned_sources: AtomicU64,
    /// Extensions closed to unproven sources right now.
    pub banned_extensions: AtomicU64,
}

/// Why a request did not pass the digest gate: send `response`.
#[derive(Debug)]
pub struct Refused {
    pub response: Box<Message<'static>>,
    /// True when this was a failed attempt (wrong password, unknown user), not a first
    /// challenge.
    pub failure: bool,
}

/// Thresholds of the bans (from `[sip]`).
#[derive(Debug, Clone, Copy)]
struct BanRules {
    source_max: u32,
    extension_max: u32,
    window: Duration,
    lockout: Duration,
    proven_for: Duration,
}

/// Registrar and authenticator of one realm.
pub struct Registrar {
    digest: DigestServer,
    passwords: HashMap<String, String>,
    /// Checked for unknown usernames, so they cost what a known one costs.
    decoy_password: String,
    names: HashMap<String, String>,
    auto_answer: HashSet<String>,
    remote_answer: HashMap<String, crate::config::RemoteAnswer>,
    bindings: HashMap<String, Vec<Binding>>,
    trunk_ips: HashSet<IpAddr>,
    sources: HashMap<IpAddr, Strikes>,
    extension_strikes: HashMap<String, Strikes>,
    /// (source IP, extension) -> last successful authentication.
    proven: HashMap<(IpAddr, String), Instant>,
    rules: BanRules,
    metrics: Arc<AuthMetrics>,
    min_expires: u32,
    max_expires: u32,
    default_expires: u32,
    keepalive: Option<Duration>,
    tag_counter: u64,
}

impl Registrar {
    /// A registrar for `extensions`; failures from the `trunks`' addresses never ban them.
    /// `secret` keys the nonces (random per process).
    pub fn new(
        cfg: &SipConfig,
        extensions: &[ExtensionConfig],
        trunks: &[TrunkConfig],
        secret: &[u8],
        now: Instant,
    ) -> Registrar {
        let mut digest = DigestServer::new(
            cfg.realm.clone(),
            secret,
            now,
            Duration::from_secs(cfg.nonce_lifetime_secs),
        );
        digest.algorithms = cfg
            .auth_algorithms
            .iter()
            .filter_map(|a| Algorithm::parse(Some(a)))
            .collect();
        digest.qop = if cfg.auth_allow_no_qop {
            QopPolicy::Optional
        } else {
            QopPolicy::Required
        };
        digest.uri_check = if cfg.auth_uri_check == "host" {
            UriCheck::Host
        } else {
            UriCheck::RequestUri
        };
        let decoy_password = auth::Algorithm::Sha256.hex(&format!("decoy:{secret:?}"));
        Registrar {
            digest,
            passwords: extensions
                .iter()
                .map(|e| (e.number.clone(), e.password.clone()))
                .collect(),
            decoy_password,
            names: extensions
                .iter()
                .map(|e| (e.number.clone(), e.name.clone()))
                .collect(),
            auto_answer: extensions
                .iter()
                .filter(|e| e.auto_answer)
                .map(|e| e.number.clone())
                .collect(),
            remote_answer: extensions
                .iter()
                .map(|e| (e.number.clone(), e.remote_answer))
                .collect(),
            bindings: HashMap::new(),
            trunk_ips: trunks.iter().map(|t| t.address.ip()).collect(),
            sources: HashMap::new(),
            extension_strikes: HashMap::new(),
            proven: HashMap::new(),
            rules: BanRules {
                source_max: cfg.auth_max_failures,
                extension_max: cfg.auth_extension_max_failures,
                window: Duration::from_secs(cfg.auth_window_secs),
                lockout: Duration::from_secs(cfg.auth_lockout_secs),
                proven_for: Duration::from_secs(cfg.auth_proven_secs),
            },
            metrics: Arc::new(AuthMetrics::default()),
            min_expires: cfg.min_expires_secs,
            max_expires: cfg.max_expires_secs,
            default_expires: cfg.default_expires_secs,
            keepalive: (cfg.keepalive_secs > 0).then(|| Duration::from_secs(cfg.keepalive_secs)),
            tag_counter: 0,
        }
    }

    /// The counters `/metrics` shows.
    pub fn metrics(&self) -> Arc<AuthMetrics> {
        self.metrics.clone()
    }

    /// Is `number` a configured extension?
    pub fn is_extension(&self, number: &str) -> bool {
        self.passwords.contains_key(number)
    }

    /// Display name of an extension (may be empty).
    pub fn name(&self, number: &str) -> &str {
        self.names.get(number).map_or("", String::as_str)
    }

    /// Should queue calls to this extension ask the phone to answer by itself?
    pub fn auto_answer(&self, number: &str) -> bool {
        self.auto_answer.contains(number)
    }

    /// How the desktop's Answer reaches the phone of extension `number`.
    pub fn remote_answer(&self, number: &str) -> crate::config::RemoteAnswer {
        self.remote_answer.get(number).copied().unwrap_or_default()
    }

    fn next_tag(&mut self) -> String {
        self.tag_counter += 1;
        format!("r{:x}", self.tag_counter)
    }

    /// Did `ip` authenticate as `ext` recently?
    fn is_proven(&self, now: Instant, ip: IpAddr, ext: &str) -> bool {
        self.proven
            .get(&(ip, ext.to_string()))
            .is_some_and(|t| now.saturating_duration_since(*t) <= self.rules.proven_for)
    }

    /// Is this source refused right now? Never a trunk's address, never an address that
    /// proved itself as some extension recently (its phone must keep working even when an
    /// attacker spoofs failures from it); an answer as a particular extension is judged by
    /// [`Registrar::authenticate`], which knows the username.
    pub fn source_banned(&self, now: Instant, ip: IpAddr) -> bool {
        self.sources.get(&ip).is_some_and(|s| s.banned(now))
            && !self.trunk_ips.contains(&ip)
            && !self.proven.iter().any(|((p, _), t)| {
                *p == ip && now.saturating_duration_since(*t) <= self.rules.proven_for
            })
    }

    fn extension_banned(&self, now: Instant, ext: &str) -> bool {
        self.extension_strikes
            .get(ext)
            .is_some_and(|s| s.banned(now))
    }

    /// Count a failure against `ip` and, for a configured extension, against `ext`.
    fn note_failure(&mut self, now: Instant, ip: IpAddr, ext: Option<&str>, why: &str) {
        let r = self.rules;
        self.metrics.failures.fetch_add(1, Ordering::Relaxed);
        tracing::info!(source = %ip, reason = why, "SIP authentication failed");
        if !self.trunk_ips.contains(&ip) {
            if self.sources.len() >= MAX_TRACKED_SOURCES && !self.sources.contains_key(&ip) {
                self.expire_strikes(now);
            }
            if self.sources.len() < MAX_TRACKED_SOURCES || self.sources.contains_key(&ip) {
                let s = self.sources.entry(ip).or_insert(Strikes::Counting {
                    since: now,
                    count: 0,
                });
                if s.strike(now, r.source_max, r.window, r.lockout) {
                    self.metrics.source_bans.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        source = %ip,
                        lockout_secs = r.lockout.as_secs(),
                        "SIP source banned after repeated authentication failures"
                    );
                }
            }
        }
        if let Some(ext) = ext.filter(|e| self.passwords.contains_key(*e)) {
            let s = self
                .extension_strikes
                .entry(ext.to_string())
                .or_insert(Strikes::Counting {
                    since: now,
                    count: 0,
                });
            if s.strike(now, r.extension_max, r.window, r.lockout) {
                self.metrics.extension_bans.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    extension = %ext,
                    lockout_secs = r.lockout.as_secs(),
                    "SIP extension closed to unproven sources after repeated authentication failures"
                );
            }
        }
        self.update_gauges(now);
    }

    fn update_gauges(&self, now: Instant) {
        let sources = self.sources.values().filter(|s| s.banned(now)).count();
        let exts = self
            .extension_strikes
            .values()
            .filter(|s| s.banned(now))
            .count();
        self.metrics
            .banned_sources
            .store(sources as u64, Ordering::Relaxed);
        self.metrics
            .banned_extensions
            .store(exts as u64, Ordering::Relaxed);
    }

    fn expire_strikes(&mut self, now: Instant) {
        let r = self.rules;
        self.sources.retain(|_, s| s.live(now, r.window));
        self.extension_strikes.retain(|_, s| s.live(now, r.window));
        self.proven
            .retain(|_, t| now.saturating_duration_since(*t) <= r.proven_for);
    }

    fn forbidden(&mut self, req: &Message<'_>) -> Message<'static> {
        let mut r = req.make_response(StatusCode::FORBIDDEN, Some(&self.next_tag()));
        r.start = hotline_sip::StartLine::Response {
            code: StatusCode::FORBIDDEN,
            reason: "Forbidden (too many failed attempts)".into(),
        };
        r
    }

    /// The digest gate: `Ok(extension)` when `req` from `src` carries valid credentials of an
    /// extension, else the response to send (a 401/407 challenge, or 403 to a banned source).
    /// `proxy` selects 407 and Proxy-Authorization (INVITE and other requests) over 401
    /// (REGISTER). Checking and counting happen in this one call.
    pub fn authenticate(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        src: SocketAddr,
        proxy: bool,
    ) -> Result<String, Refused> {
        let ip = src.ip();
        let tag = self.next_tag();
        let creds = match req.authorization(proxy) {
            None => {
                if self.source_banned(now, ip) {
                    return Err(Refused {
                        response: Box::new(self.forbidden(req)),
                        failure: false,
                    });
                }
                return Err(Refused {
                    response: Box::new(self.digest.challenge(now, req, &tag, false, proxy, ip)),
                    failure: false,
                });
            }
            Some(Err(_)) => {
                self.note_failure(now, ip, None, "unreadable credentials");
                return Err(Refused {
                    response: Box::new(req.make_response(StatusCode::BAD_REQUEST, Some(&tag))),
                    failure: true,
                });
            }
            Some(Ok(c)) => c,
        };
        let user = auth::username(&creds).unwrap_or("").to_string();
        let proven = self.is_proven(now, ip, &user);
        if !proven {
            if self.sources.get(&ip).is_some_and(|s| s.banned(now)) && !self.trunk_ips.contains(&ip)
            {
                return Err(Refused {
                    response: Box::new(self.forbidden(req)),
                    failure: true,
                });
            }
            if self.extension_banned(now, &user) {
                // Silent: the answer is not even checked, and looks like a wrong password.
                self.note_failure(now, ip, None, "extension closed to unproven sources");
                return Err(Refused {
                    response: Box::new(self.digest.challenge(now, req, &tag, false, proxy, ip)),
                    failure: true,
                });
            }
        }
        let (password, known) = match self.passwords.get(&user) {
            Some(p) => (p.clone(), true),
            None => (self.decoy_password.clone(), false),
        };
        let verdict = match self.digest.verify(now, req, &creds, &password, ip) {
            Verdict::Ok if !known => Verdict::Failed("unknown user"),
            Verdict::Failed(_) if !known => Verdict::Failed("unknown user"),
            v => v,
        };
        match verdict {
            Verdict::Ok => {
                self.proven.insert((ip, user.clone()), now);
                Ok(user)
            }
            Verdict::Stale | Verdict::Replayed => {
                if verdict == Verdict::Replayed {
                    self.metrics.replays.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(source = %ip, "SIP digest nonce count replayed: challenged again");
                }
                Err(Refused {
                    response: Box::new(self.digest.challenge(now, req, &tag, true, proxy, ip)),
                    failure: false,
                })
            }
            Verdict::Failed(why) => {
                self.note_failure(now, ip, known.then_some(user.as_str()), why);
                // A fresh challenge lets a phone with a typo retry; the bans stop guessing.
                let response = if !proven && self.source_banned(now, ip) {
                    self.forbidden(req)
                } else {
                    self.digest.challenge(now, req, &tag, false, proxy, ip)
                };
                Err(Refused {
                    response: Box::new(response),
                    failure: true,
                })
            }
        }
    }

    /// Handle a REGISTER completely and return the response to send.
    pub fn register(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        src: SocketAddr,
        transport: Transport,
    ) -> Message<'static> {
        let user = match self.authenticate(now, req, src, false) {
            Ok(u) => u,
            Err(r) => return *r.response,
        };
        let tag = self.next_tag();
        let aor = req
            .to_header()
            .ok()
            .and_then(|t| t.uri().ok().and_then(|u| u.user.map(str::to_string)));
        let Some(aor) = aor else {
            return req.make_response(StatusCode::BAD_REQUEST, Some(&tag));
        };
        if !self.passwords.contains_key(&aor) {
            return req.make_response(StatusCode::NOT_FOUND, Some(&tag));
        }
        if aor != user {
            // Credentials of one extension may not register another.
            return req.make_response(StatusCode::FORBIDDEN, Some(&tag));
        }
        let contacts = match req.contacts() {
            Ok(c) => c,
            Err(_) => return req.make_response(StatusCode::BAD_REQUEST, Some(&tag)),
        };
        let header_expires = req.expires().ok().flatten();
        let call_id = req.call_id().unwrap_or("").to_string();
        let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
        if contacts.iter().any(|c| matches!(c, Contact::Star)) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return req.make_response(StatusCode::BAD_REQUEST, Some(&tag));
            }
            self.bindings.remove(&aor);
            tracing::info!(extension = %aor, "all contacts removed");
            return req.make_response(StatusCode::OK, Some(&tag));
        }
        // Check every contact first: a 423 changes nothing.
        let mut updates = Vec::with_capacity(contacts.len());
        for c in &contacts {
            let Contact::Addr(a) = c else { continue };
            let expires = c
                .expires()
                .or(header_expires)
                .unwrap_or(self.default_expires);
            if expires != 0 && expires < self.min_expires {
                return req
                    .make_response(StatusCode(423), Some(&tag))
                    .with_header("Min-Expires", self.min_expires.to_string());
            }
            let Ok(uri) = a.uri().map(|u| u.to_string()) else {
                return req.make_response(StatusCode::BAD_REQUEST, Some(&tag));
            };
            // Requests go where the REGISTER came from (works through NAT), except when the
            // Contact names the same IP with another port: a phone that sends from one port
            // and listens on another, on a host we can reach directly.
            let target = a
                .uri()
                .ok()
                .and_then(|u| {
                    let ip: IpAddr = u.host.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
                    (ip == src.ip()).then(|| SocketAddr::new(ip, u.port.unwrap_or(5060)))
                })
                .unwrap_or(src);
            updates.push((
                uri,
                expires.min(self.max_expires),
                c.instance().map(str::to_string),
                target,
            ));
        }
        let list = self.bindings.entry(aor.clone()).or_default();
        for (uri, expires, instance, target) in updates {
            let pos = list
                .iter()
                .position(|b| b.uri == uri || (instance.is_some() && b.instance == instance));
            if let Some(i) = pos
                && list[i].call_id == call_id
                && list[i].cseq >= cseq
            {
                continue; // out of order (RFC 3261 10.3 step 7)
            }
            if expires == 0 {
                if let Some(i) = pos {
                    list.remove(i);
                }
                continue;
            }
            let b = Binding {
                uri,
                source: target,
                transport,
                expires: now + Duration::from_secs(u64::from(expires)),
                call_id: call_id.clone(),
                cseq,
                instance,
                next_keepalive: now + self.keepalive.unwrap_or(Duration::from_secs(3600)),
            };
            match pos {
                Some(i) => list[i] = b,
                None => {
                    if list.len() >= MAX_CONTACTS {
                        // Replace the one that expires first.
                        if let Some((i, _)) = list.iter().enumerate().min_by_key(|(_, b)| b.expires)
                        {
                            list.remove(i);
                        }
                    }
                    list.push(b);
                }
            }
        }
        let mut r = req.make_response(StatusCode::OK, Some(&tag));
        for b in list.iter() {
            let left = b.expires.saturating_duration_since(now).as_secs();
            r.push_header("Contact", format!("<{}>;expires={left}", b.uri));
        }
        if list.is_empty() {
            self.bindings.remove(&aor);
        }
        tracing::info!(extension = %aor, contacts = self.contacts(&aor, now).len(), "registered");
        r
    }

    /// The live contacts of an extension.
    pub fn contacts(&self, ext: &str, now: Instant) -> Vec<Binding> {
        self.bindings
            .get(ext)
            .map(|l| l.iter().filter(|b| b.expires > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Does a registered phone live at `src`'s IP? (Such sources are challenged; unknown ones
    /// are refused.)
    pub fn extension_at(&self, src: SocketAddr, now: Instant) -> Option<&str> {
        self.bindings.iter().find_map(|(ext, l)| {
            l.iter()
                .any(|b| b.source.ip() == src.ip() && b.expires > now)
                .then_some(ext.as_str())
        })
    }

    /// Drop expired bindings, old failure counters and the counts of expired nonces.
    pub fn expire(&mut self, now: Instant) {
        self.expire_strikes(now);
        self.update_gauges(now);
        self.digest.expire(now);
        self.bindings.retain(|ext, l| {
            let before = l.len();
            l.retain(|b| b.expires > now);
            if l.len() < before {
                tracing::info!(extension = %ext, "registration expired");
            }
            !l.is_empty()
        });
    }

    /// Contacts due for an OPTIONS keep-alive now (their next one is scheduled).
    pub fn due_keepalives(&mut self, now: Instant) -> Vec<(String, Binding)> {
        let Some(every) = self.keepalive else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for (ext, l) in &mut self.bindings {
            for b in l.iter_mut() {
                if b.next_keepalive <= now && b.expires > now {
                    b.next_keepalive = now + every;
                    due.push((ext.clone(), b.clone()));
                }
            }
        }
        // In a stable order: each keep-alive draws tags from the endpoint's seeded RNG, so the
        // same seed must give the same messages (the map's order is random per process).
        due.sort_by(|a, b| (&a.0, &a.1.uri).cmp(&(&b.0, &b.1.uri)));
        due
    }

    /// A contact did not answer its keep-alive: forget it.
    pub fn unreachable(&mut self, ext: &str, uri: &str) {
        if let Some(l) = self.bindings.get_mut(ext) {
            l.retain(|b| b.uri != uri);
            tracing::warn!(extension = %ext, "contact did not answer OPTIONS: removed");
            if l.is_empty() {
                self.bindings.remove(ext);
            }
        }
    }

    /// Number of extensions with at least one binding.
    pub fn registered(&self) -> usize {
        self.bindings.len()
    }
}
