//! Registrar bindings (RFC 3261 section 10.3), sans-IO: which contacts an address-of-record
//! (an agent's extension) is reachable at, until when. Authentication is separate
//! ([`crate::auth::DigestServer`]); call [`Registrar::register`] after the credentials passed.
//!
//! Time is an argument: bindings expire at `now + expires`, [`Registrar::lookup`] never returns
//! an expired one, and [`Registrar::next_expiry`] tells the caller when to call
//! [`Registrar::expire`] (for example to mark an agent's phone unreachable).

use crate::transaction::Transport;
use crate::{Contact, Message, StatusCode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Contact URI to send requests to.
    pub uri: String,
    /// When the binding lapses.
    pub expires_at: Instant,
    /// `q` preference (0..=1000, thousandths), default 1000.
    pub q: u16,
    /// `+sip.instance` (RFC 5626), when the phone sent one.
    pub instance: Option<String>,
    /// Call-ID of the REGISTER that made or refreshed it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// Where the REGISTER came from (the address to reach a phone behind NAT).
    pub source: SocketAddr,
    /// Over what.
    pub transport: Transport,
}

/// Expiry limits in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Shorter non-zero requests get 423 Interval Too Brief.
    pub min_expires: u32,
    /// Used when neither the contact nor the request says.
    pub default_expires: u32,
    /// Longer requests are shortened to this.
    pub max_expires: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
        }
    }
}

/// All bindings, by address-of-record.
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: HashMap<String, Vec<Binding>>,
    /// Expiry limits.
    pub limits: Limits,
}

/// The address-of-record of a URI: `scheme:user@host`, host lower-cased, no port or parameters
/// (RFC 3261 10.3 step 5 canonicalisation, simplified).
pub fn aor(uri: &str) -> Option<String> {
    let u = crate::Uri::parse(uri).ok()?;
    let user = u.user.unwrap_or("");
    Some(format!(
        "{}:{}@{}",
        u.scheme.as_str().to_ascii_lowercase(),
        user,
        u.host.to_ascii_lowercase()
    ))
}

fn q_of(c: &Contact<'_>) -> u16 {
    let Contact::Addr(a) = c else { return 1000 };
    a.params
        .value("q")
        .and_then(|q| q.parse::<f32>().ok())
        .map(|q| (q.clamp(0.0, 1.0) * 1000.0).round() as u16)
        .unwrap_or(1000)
}

impl Registrar {
    /// An empty registrar.
    pub fn new(limits: Limits) -> Registrar {
        Registrar {
            bindings: HashMap::new(),
            limits,
        }
    }

    /// Process an authenticated REGISTER and build the response (200 listing the current
    /// bindings, 423 with Min-Expires, 400 for a malformed request, 500 for an out-of-order
    /// refresh). The address-of-record is the To URI (see [`aor`]).
    pub fn register(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        src: SocketAddr,
        transport: Transport,
        to_tag: &str,
    ) -> Message<'static> {
        let bad = |why: &str| {
            let mut r = req.make_response(StatusCode::BAD_REQUEST, Some(to_tag));
            r.start = crate::StartLine::Response {
                code: StatusCode::BAD_REQUEST,
                reason: format!("Bad Request ({why})").into(),
            };
            r
        };
        let (Ok(to), Ok(call_id), Ok(cseq)) = (req.to_header(), req.call_id(), req.cseq()) else {
            return bad("To, Call-ID or CSeq");
        };
        let Some(key) = aor(to.uri) else {
            return bad("To URI");
        };
        let Ok(contacts) = req.contacts() else {
            return bad("Contact");
        };
        let Ok(header_expires) = req.expires() else {
            return bad("Expires");
        };

        // Step 6: `Contact: *` removes everything, only with Expires: 0 and alone.
        if contacts.contains(&Contact::Star) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return bad("Contact: * needs Expires: 0 and no other contact");
            }
            let list = self.bindings.entry(key.clone()).or_default();
            if list
                .iter()
                .any(|b| b.call_id == call_id && b.cseq >= cseq.seq)
            {
                return req.make_response(StatusCode::SERVER_INTERNAL_ERROR, Some(to_tag));
            }
            list.clear();
            return self.ok(now, req, &key, to_tag);
        }

        // Check every contact before changing anything (the request is atomic).
        let mut updates = Vec::with_capacity(contacts.len());
        for c in &contacts {
            let Contact::Addr(a) = c else { continue };
            let expires = c
                .expires()
                .or(header_expires)
                .unwrap_or(self.limits.default_expires);
            if expires != 0 && expires < self.limits.min_expires {
                return req
                    .make_response(StatusCode::INTERVAL_TOO_BRIEF, Some(to_tag))
                    .with_header("Min-Expires", self.limits.min_expires.to_string());
            }
            updates.push((
                a.uri.to_string(),
                expires.min(self.limits.max_expires),
                q_of(c),
                c.instance().map(str::to_string),
            ));
        }
        let list = self.bindings.entry(key.clone()).or_default();
        for (uri, _, _, instance) in &updates {
            let same = list
                .iter()
                .find(|b| b.uri == *uri || (instance.is_some() && b.instance == *instance));
            if same.is_some_and(|b| b.call_id == call_id && b.cseq >= cseq.seq) {
                return req.make_response(StatusCode::SERVER_INTERNAL_ERROR, Some(to_tag));
            }
        }
        for (uri, expires, q, instance) in updates {
            list.retain(|b| b.uri != uri && (instance.is_none() || b.instance != instance));
            if expires > 0 {
                list.push(Binding {
                    uri,
                    expires_at: now + Duration::from_secs(u64::from(expires)),
                    q,
                    instance,
                    call_id: call_id.to_string(),
                    cseq: cseq.seq,
                    source: src,
                    transport,
                });
            }
        }
        self.ok(now, req, &key, to_tag)
    }

    fn ok(&mut self, now: Instant, req: &Message<'_>, key: &str, to_tag: &str) -> Message<'static> {
        let mut r = req.make_response(StatusCode::OK, Some(to_tag));
        for b in self.lookup(now, key) {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            r.push_header("Contact", format!("<{}>;expires={left}", b.uri));
        }
        if self.bindings.get(key).is_some_and(Vec::is_empty) {
            self.bindings.remove(key);
        }
        r
    }

    /// Live bindings of an address-of-record (pass it through [`aor`]), highest `q` first.
    pub fn lookup(&self, now: Instant, aor: &str) -> Vec<&Binding> {
        let mut v: Vec<&Binding> = self
            .bindings
            .get(aor)
            .map(|l| l.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default();
        v.sort_by_key(|b| std::cmp::Reverse(b.q));
        v
    }

    /// Remove lapsed bindings; returns the addresses-of-record that lost their last binding.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let mut gone = Vec::new();
        self.bindings.retain(|aor, list| {
            list.retain(|b| b.expires_at > now);
            if list.is_empty() {
                gone.push(aor.clone());
                false
            } else {
                true
            }
        });
        gone.sort();
        gone
    }

    /// When the next binding lapses.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Number of addresses-of-record with bindings.
    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    /// No bindings at all.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}
