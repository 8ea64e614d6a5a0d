//! The registrar for agents' phones (RFC 3261 section 10) and the digest gate every request
//! from a phone passes.
//!
//! Plain state driven with `now`: no sockets, no clock. The call-control task owns one
//! [`Registrar`]; it hands it REGISTER requests and the requests that need an authenticated
//! extension, and sends whatever response comes back.
//!
//! - Extensions come from `[[extensions]]` (number = digest username, password).
//! - Digest with SHA-256 and MD5 (RFC 8760 / RFC 2617), nonces that expire (`stale=true`).
//! - Several contacts per extension (up to [`MAX_CONTACTS`]), each with its own expiry, the
//!   address the REGISTER came from (we send to that address, which works through NAT), and an
//!   OPTIONS keep-alive schedule.
//! - Failed authentications are counted per source IP; too many in a window lock the source
//!   out for a while (logged once per lock-out). A missing or stale credential is not a failure.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hotline_sip::auth::{self, Algorithm, DigestServer, Verdict};
use hotline_sip::{Contact, Message, StatusCode, Transport};

use super::config::{ExtensionConfig, SipConfig};

/// Contacts kept per extension.
pub const MAX_CONTACTS: usize = 10;

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

#[derive(Debug, Clone)]
struct Failures {
    window_start: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

/// Why a request did not pass the digest gate: send `response`.
#[derive(Debug)]
pub struct Refused {
    pub response: Box<Message<'static>>,
    /// True when this was a failed attempt (wrong password, unknown user), not a first
    /// challenge.
    pub failure: bool,
}

/// Registrar and authenticator of one realm.
pub struct Registrar {
    digest: DigestServer,
    passwords: HashMap<String, String>,
    names: HashMap<String, String>,
    auto_answer: std::collections::HashSet<String>,
    bindings: HashMap<String, Vec<Binding>>,
    failures: HashMap<IpAddr, Failures>,
    min_expires: u32,
    max_expires: u32,
    default_expires: u32,
    keepalive: Option<Duration>,
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    tag_counter: u64,
}

impl Registrar {
    /// A registrar for `extensions`. `secret` keys the nonces (random per process).
    pub fn new(
        cfg: &SipConfig,
        extensions: &[ExtensionConfig],
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
        Registrar {
            digest,
            passwords: extensions
                .iter()
                .map(|e| (e.number.clone(), e.password.clone()))
                .collect(),
            names: extensions
                .iter()
                .map(|e| (e.number.clone(), e.name.clone()))
                .collect(),
            auto_answer: extensions
                .iter()
                .filter(|e| e.auto_answer)
                .map(|e| e.number.clone())
                .collect(),
            bindings: HashMap::new(),
            failures: HashMap::new(),
            min_expires: cfg.min_expires_secs,
            max_expires: cfg.max_expires_secs,
            default_expires: cfg.default_expires_secs,
            keepalive: (cfg.keepalive_secs > 0).then(|| Duration::from_secs(cfg.keepalive_secs)),
            max_failures: cfg.auth_max_failures,
            window: Duration::from_secs(cfg.auth_window_secs),
            lockout: Duration::from_secs(cfg.auth_lockout_secs),
            tag_counter: 0,
        }
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

    fn next_tag(&mut self) -> String {
        self.tag_counter += 1;
        format!("r{:x}", self.tag_counter)
    }

    /// Is this source locked out right now?
    pub fn locked_out(&self, now: Instant, ip: IpAddr) -> bool {
        self.failures
            .get(&ip)
            .and_then(|f| f.locked_until)
            .is_some_and(|t| now < t)
    }

    fn note_failure(&mut self, now: Instant, ip: IpAddr, why: &str) {
        let f = self.failures.entry(ip).or_insert(Failures {
            window_start: now,
            count: 0,
            locked_until: None,
        });
        if now.saturating_duration_since(f.window_start) > self.window {
            f.window_start = now;
            f.count = 0;
        }
        f.count += 1;
        tracing::info!(source = %ip, reason = why, failures = f.count, "SIP authentication failed");
        if f.count >= self.max_failures && f.locked_until.is_none_or(|t| now >= t) {
            f.locked_until = Some(now + self.lockout);
            tracing::warn!(
                source = %ip,
                failures = f.count,
                lockout_secs = self.lockout.as_secs(),
                "SIP source locked out after repeated authentication failures"
            );
        }
    }

    /// The digest gate: `Ok(extension)` when `req` carries valid credentials of an extension,
    /// else the response to send (a 401/407 challenge, or 403). `proxy` selects 407 and
    /// Proxy-Authorization (INVITE and other requests) over 401 (REGISTER).
    pub fn authenticate(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        src: SocketAddr,
        proxy: bool,
    ) -> Result<String, Refused> {
        if self.locked_out(now, src.ip()) {
            let mut r = req.make_response(StatusCode::FORBIDDEN, Some(&self.next_tag()));
            r.start = hotline_sip::StartLine::Response {
                code: StatusCode::FORBIDDEN,
                reason: "Forbidden (too many failed attempts)".into(),
            };
            return Err(Refused {
                response: Box::new(r),
                failure: false,
            });
        }
        let tag = self.next_tag();
        let creds = match req.authorization(proxy) {
            None => {
                return Err(Refused {
                    response: Box::new(self.digest.challenge(now, req, &tag, false, proxy)),
                    failure: false,
                });
            }
            Some(Err(_)) => {
                self.note_failure(now, src.ip(), "unreadable credentials");
                return Err(Refused {
                    response: Box::new(req.make_response(StatusCode::BAD_REQUEST, Some(&tag))),
                    failure: true,
                });
            }
            Some(Ok(c)) => c,
        };
        let user = auth::username(&creds).unwrap_or("").to_string();
        let Some(password) = self.passwords.get(&user).cloned() else {
            self.note_failure(now, src.ip(), "unknown user");
            return Err(Refused {
                response: Box::new(req.make_response(StatusCode::FORBIDDEN, Some(&tag))),
                failure: true,
            });
        };
        match self.digest.verify(now, req, &creds, &password) {
            Verdict::Ok => Ok(user),
            Verdict::Stale => Err(Refused {
                response: Box::new(self.digest.challenge(now, req, &tag, true, proxy)),
                failure: false,
            }),
            Verdict::Failed(why) => {
                self.note_failure(now, src.ip(), why);
                // A fresh challenge lets a phone with a typo retry; the limiter stops guessing.
                let response = if self.locked_out(now, src.ip()) {
                    req.make_response(StatusCode::FORBIDDEN, Some(&tag))
                } else {
                    self.digest.challenge(now, req, &tag, false, proxy)
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

    /// Drop expired bindings and old failure counters.
    pub fn expire(&mut self, now: Instant) {
        self.bindings.retain(|ext, l| {
            let before = l.len();
            l.retain(|b| b.expires > now);
            if l.len() < before {
                tracing::info!(extension = %ext, "registration expired");
            }
            !l.is_empty()
        });
        let window = self.window;
        self.failures.retain(|_, f| {
            f.locked_until.is_some_and(|t| now < t)
                || now.saturating_duration_since(f.window_start) <= window
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

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_sip::Method;
    use hotline_sip::auth::{Challenge, authorize};

    fn reg() -> (Registrar, Instant) {
        let now = Instant::now();
        let cfg = SipConfig {
            auth_max_failures: 3,
            ..SipConfig::default()
        };
        let exts = vec![ExtensionConfig {
            number: "1001".into(),
            password: "secret1001".into(),
            name: "Alice".into(),
            auto_answer: false,
        }];
        (Registrar::new(&cfg, &exts, b"k", now), now)
    }

    fn register_msg(user: &str, contact: &str, expires: Option<u32>) -> Message<'static> {
        let mut m = Message::request(Method::Register, "sip:127.0.0.1");
        m.push_header("Via", "SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKabc");
        m.push_header("From", format!("<sip:{user}@127.0.0.1>;tag=1"));
        m.push_header("To", format!("<sip:{user}@127.0.0.1>"));
        m.push_header("Call-ID", "reg-1");
        m.push_header("CSeq", "1 REGISTER");
        m.push_header("Contact", format!("<{contact}>"));
        if let Some(e) = expires {
            m.push_header("Expires", e.to_string());
        }
        m
    }

    fn answer(
        req: &Message<'static>,
        resp: &Message<'_>,
        user: &str,
        pw: &str,
        seq: u32,
    ) -> Message<'static> {
        let ch = Challenge::pick(resp).expect("challenge");
        let mut r = req.clone();
        r.set_header("CSeq", format!("{seq} REGISTER"));
        r.push_header(
            "Authorization",
            authorize(&ch, &Method::Register, "sip:127.0.0.1", user, pw, "cn", 1),
        );
        r
    }

    const SRC: &str = "10.0.0.2:5062";

    #[test]
    fn challenge_then_register_then_expire() {
        let (mut r, now) = reg();
        let src: SocketAddr = SRC.parse().unwrap();
        let m = register_msg("1001", "sip:1001@10.0.0.2:5062", Some(120));
        let c = r.register(now, &m, src, Transport::Udp);
        assert_eq!(c.status(), Some(StatusCode::UNAUTHORIZED));
        // Both algorithms offered, SHA-256 first.
        let offered: Vec<&str> = c.headers_named("WWW-Authenticate").collect();
        assert_eq!(offered.len(), 2);
        assert!(offered[0].contains("SHA-256"), "{offered:?}");
        let ok = r.register(
            now,
            &answer(&m, &c, "1001", "secret1001", 2),
            src,
            Transport::Udp,
        );
        assert_eq!(ok.status(), Some(StatusCode::OK));
        assert_eq!(r.contacts("1001", now).len(), 1);
        assert_eq!(r.extension_at(src, now), Some("1001"));
        r.expire(now + Duration::from_secs(121));
        assert!(
            r.contacts("1001", now + Duration::from_secs(121))
                .is_empty()
        );
    }

    #[test]
    fn md5_only_client_is_accepted() {
        let (mut r, now) = reg();
        let src: SocketAddr = SRC.parse().unwrap();
        let m = register_msg("1001", "sip:1001@10.0.0.2:5062", None);
        let c = r.register(now, &m, src, Transport::Udp);
        let md5 = c
            .headers_named("WWW-Authenticate")
            .find(|v| v.contains("MD5"))
            .expect("MD5 offered")
            .to_string();
        let p = hotline_sip::AuthParams::parse(&md5).unwrap();
        let ch = Challenge::from_params(&p).unwrap();
        let mut again = m.clone();
        again.set_header("CSeq", "2 REGISTER");
        again.push_header(
            "Authorization",
            authorize(
                &ch,
                &Method::Register,
                "sip:127.0.0.1",
                "1001",
                "secret1001",
                "x",
                1,
            ),
        );
        let ok = r.register(now, &again, src, Transport::Udp);
        assert_eq!(ok.status(), Some(StatusCode::OK));
    }

    #[test]
    fn several_contacts_and_removal() {
        let (mut r, now) = reg();
        let src: SocketAddr = SRC.parse().unwrap();
        for (i, c) in ["sip:a@10.0.0.2", "sip:b@10.0.0.3"].iter().enumerate() {
            let m = register_msg("1001", c, Some(300));
            let ch = r.register(now, &m, src, Transport::Udp);
            let ok = r.register(
                now,
                &answer(&m, &ch, "1001", "secret1001", 2 + i as u32),
                src,
                Transport::Udp,
            );
            assert_eq!(ok.status(), Some(StatusCode::OK));
        }
        assert_eq!(r.contacts("1001", now).len(), 2);
        let mut m = register_msg("1001", "sip:a@10.0.0.2", Some(0));
        m.set_header("Call-ID", "other");
        let ch = r.register(now, &m, src, Transport::Udp);
        let ok = r.register(
            now,
            &answer(&m, &ch, "1001", "secret1001", 9),
            src,
            Transport::Udp,
        );
        assert_eq!(ok.status(), Some(StatusCode::OK));
        let left = r.contacts("1001", now);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].uri, "sip:b@10.0.0.3");
    }

    #[test]
    fn too_brief_interval_gets_423() {
        let (mut r, now) = reg();
        let src: SocketAddr = SRC.parse().unwrap();
        let m = register_msg("1001", "sip:a@10.0.0.2", Some(5));
        let ch = r.register(now, &m, src, Transport::Udp);
        let resp = r.register(
            now,
            &answer(&m, &ch, "1001", "secret1001", 2),
            src,
            Transport::Udp,
        );
        assert_eq!(resp.status(), Some(StatusCode(423)));
        assert_eq!(resp.header("Min-Expires"), Some("60"));
        assert!(r.contacts("1001", now).is_empty());
    }

    #[test]
    fn wrong_passwords_lock_the_source_out() {
        let (mut r, now) = reg();
        let src: SocketAddr = SRC.parse().unwrap();
        let other: SocketAddr = "10.0.0.9:5060".parse().unwrap();
        let m = register_msg("1001", "sip:a@10.0.0.2", None);
        for i in 0..3 {
            let ch = r.register(now, &m, src, Transport::Udp);
            let resp = r.register(
                now,
                &answer(&m, &ch, "1001", "guess", 2 + i),
                src,
                Transport::Udp,
            );
            assert_ne!(resp.status(), Some(StatusCode::OK));
        }
        assert!(r.locked_out(now, src.ip()));
        // Even the right password is refused while locked out...
        let ch = r.register(now, &m, other, Transport::Udp);
        let right = answer(&m, &ch, "1001", "secret1001", 10);
        let resp = r.register(now, &right, src, Transport::Udp);
        assert_eq!(resp.status(), Some(StatusCode::FORBIDDEN));
        // ...but another source is not affected, and the lock-out ends.
        assert!(!r.locked_out(now, other.ip()));
        let later = now + Duration::from_secs(301);
        assert!(!r.locked_out(later, src.ip()));
    }

    #[test]
    fn one_extension_cannot_register_another() {
        let now = Instant::now();
        let exts = vec![
            ExtensionConfig {
                number: "1001".into(),
                password: "pw-1001".into(),
                name: String::new(),
                auto_answer: false,
            },
            ExtensionConfig {
                number: "1002".into(),
                password: "pw-1002".into(),
                name: String::new(),
                auto_answer: false,
            },
        ];
        let mut r = Registrar::new(&SipConfig::default(), &exts, b"k", now);
        let src: SocketAddr = SRC.parse().unwrap();
        let m = register_msg("1001", "sip:a@10.0.0.2", None);
        let ch = r.register(now, &m, src, Transport::Udp);
        let resp = r.register(
            now,
            &answer(&m, &ch, "1002", "pw-1002", 2),
            src,
            Transport::Udp,
        );
        assert_eq!(resp.status(), Some(StatusCode::FORBIDDEN));
    }
}
