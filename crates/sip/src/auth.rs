//! HTTP Digest authentication for SIP (RFC 3261 22, RFC 7616 digests, RFC 8760 SHA-256).
//!
//! Server side ([`DigestServer`]): a registrar issues nonces that carry their own timestamp and
//! an HMAC-SHA-256 over it and over the client's IP address, so they expire by themselves and
//! are worth nothing from another address; a correct answer to an expired nonce is met with a
//! fresh challenge marked `stale=true`, so the phone retries without asking its user for the
//! password again. Client side ([`authorize`]): compute the Authorization value for a challenge
//! from a trunk or registrar.
//!
//! Replay protection (what Kamailio's `auth` module does with `nonce_count` and
//! `auth_checks_register`):
//! - the credentials' `uri` must name the Request-URI (scheme, user, host and port compared
//!   parsed, parameters ignored), so a header captured on a call to one number cannot place a
//!   call to another;
//! - `qop=auth` is required by default: the nonce count `nc` of every answer is tracked per live
//!   nonce, and an `nc` not greater than the highest one seen is a replay
//!   ([`Verdict::Replayed`]). The table holds only nonces that were answered correctly, is
//!   capped ([`DigestServer::max_tracked_nonces`]), and forgets a nonce when it expires; when it
//!   is full, answers that would need a new entry get a fresh challenge (fail closed);
//! - the nonce is bound to the source IP it was issued to.
//!
//! SHA-256 is the default algorithm; MD5 is only offered when the application adds it (RFC 8760
//! 3: SHA-256 first when both are offered).

use crate::headers::AuthParams;
use crate::{Error, Message, Method, Result, Scheme, StatusCode, Uri};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617; what most phones do).
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// Token as in the `algorithm` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parse the `algorithm` parameter; absent means MD5.
    pub fn parse(s: Option<&str>) -> Option<Algorithm> {
        match s {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Lower-case hex digest of `data`.
    pub fn hex(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(Md5::digest(data.as_bytes()).as_slice()),
            Algorithm::Sha256 => hex(Sha256::digest(data.as_bytes()).as_slice()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(Sha256::digest(key).as_slice());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize().as_slice());
    outer.finalize().as_slice().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The digest `response` value (RFC 7616 3.4.1 with `qop=auth`, or RFC 2069 without qop).
#[allow(clippy::too_many_arguments)]
pub fn digest_response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, &str)>,
) -> String {
    let ha1 = alg.hex(&format!("{username}:{realm}:{password}"));
    let ha2 = alg.hex(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => alg.hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.hex(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// A challenge from WWW-Authenticate or Proxy-Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Realm.
    pub realm: String,
    /// Nonce.
    pub nonce: String,
    /// Algorithm.
    pub algorithm: Algorithm,
    /// Opaque, echoed back.
    pub opaque: Option<String>,
    /// Server offered `qop=auth`.
    pub qop_auth: bool,
    /// The previous nonce was stale (the password was right).
    pub stale: bool,
}

impl Challenge {
    /// Decode a Digest challenge. `Err` for other schemes or unknown algorithms.
    pub fn from_params(p: &AuthParams<'_>) -> Result<Challenge> {
        if !p.scheme.eq_ignore_ascii_case("Digest") {
            return Err(Error::Auth("not a Digest challenge"));
        }
        Ok(Challenge {
            realm: p.get("realm").ok_or(Error::Auth("no realm"))?.to_string(),
            nonce: p.get("nonce").ok_or(Error::Auth("no nonce"))?.to_string(),
            algorithm: Algorithm::parse(p.get("algorithm"))
                .ok_or(Error::Auth("unsupported algorithm"))?,
            opaque: p.get("opaque").map(str::to_string),
            qop_auth: p
                .get("qop")
                .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"))),
            stale: p
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The strongest usable challenge of a 401/407 (SHA-256 over MD5, RFC 8760 2.4).
    pub fn pick(resp: &Message<'_>) -> Result<Challenge> {
        let proxy = resp.status() == Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let all = resp.challenges(proxy)?;
        let mut usable: Vec<Challenge> = all
            .iter()
            .filter_map(|p| Challenge::from_params(p).ok())
            .collect();
        usable.sort_by_key(|c| {
            if c.algorithm == Algorithm::Sha256 {
                0
            } else {
                1
            }
        });
        usable
            .into_iter()
            .next()
            .ok_or(Error::Auth("no usable Digest challenge"))
    }

    /// Print as a WWW-Authenticate value.
    pub fn to_header_value(&self) -> String {
        let mut p = AuthParams {
            scheme: "Digest",
            params: vec![
                ("realm", self.realm.as_str().into()),
                ("nonce", self.nonce.as_str().into()),
            ],
        };
        if let Some(o) = &self.opaque {
            p.params.push(("opaque", o.as_str().into()));
        }
        if self.stale {
            p.params.push(("stale", "true".into()));
        }
        p.params.push(("algorithm", self.algorithm.as_str().into()));
        if self.qop_auth {
            p.params.push(("qop", "auth".into()));
        }
        p.to_string()
    }
}

/// Client side: the Authorization (or Proxy-Authorization) value answering `ch` for a request
/// `method uri`. `cnonce` should be random per request; `nc` counts uses of this nonce.
pub fn authorize(
    ch: &Challenge,
    method: &Method,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> String {
    let nc_s = format!("{nc:08x}");
    let qop = ch.qop_auth.then_some((nc_s.as_str(), cnonce));
    let response = digest_response(
        ch.algorithm,
        username,
        &ch.realm,
        password,
        method.as_str(),
        uri,
        &ch.nonce,
        qop,
    );
    let mut p = AuthParams {
        scheme: "Digest",
        params: vec![
            ("username", username.into()),
            ("realm", ch.realm.as_str().into()),
            ("nonce", ch.nonce.as_str().into()),
            ("uri", uri.into()),
            ("response", response.into()),
            ("algorithm", ch.algorithm.as_str().into()),
        ],
    };
    if let Some(o) = &ch.opaque {
        p.params.push(("opaque", o.as_str().into()));
    }
    if ch.qop_auth {
        p.params.push(("qop", "auth".into()));
        p.params.push(("nc", nc_s.clone().into()));
        p.params.push(("cnonce", cnonce.into()));
    }
    p.to_string()
}

/// Client side, whole request: answer the 401/407 `challenge_response` to `request` (the request
/// as the application built it; any Via lines are removed because the endpoint adds a fresh
/// one). Picks the strongest challenge, adds Authorization (401) or Proxy-Authorization (407)
/// for the Request-URI, and increments the CSeq number (RFC 3261 22.2). Send the result with
/// [`crate::Endpoint::send_request`].
pub fn authorize_request(
    request: &mut Message<'static>,
    challenge_response: &Message<'_>,
    username: &str,
    password: &str,
    cnonce: &str,
) -> Result<()> {
    let ch = Challenge::pick(challenge_response)?;
    let method = request
        .method()
        .cloned()
        .ok_or(Error::InvalidState("not a request"))?;
    let uri = request.request_uri().unwrap_or_default().to_string();
    let cseq = request.cseq()?;
    let value = authorize(&ch, &method, &uri, username, password, cnonce, 1);
    let header = if challenge_response.status() == Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED) {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    request.remove_header("Via");
    request.set_header(header, value);
    request.set_header("CSeq", format!("{} {}", cseq.seq + 1, cseq.method));
    Ok(())
}

/// Result of checking credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Right password, fresh nonce, new nonce count.
    Ok,
    /// Right password, expired nonce: challenge again with `stale=true`.
    Stale,
    /// Right password, but this nonce count was already used with this nonce: a replayed
    /// header (or a client that reuses `nc`). Challenge again with `stale=true`; it proves
    /// nothing about the password of whoever sent it, so it is not a failed guess either.
    Replayed,
    /// Wrong password, forged or foreign nonce, wrong realm, `uri` not the Request-URI, or
    /// unusable credentials.
    Failed(&'static str),
}

/// State of a nonce we issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours, issued to this address, and not expired.
    Fresh,
    /// Ours but older than the lifetime.
    Expired,
    /// Not ours (bad MAC or malformed), or issued to another address.
    Invalid,
}

/// What a `qop`-less answer (RFC 2069) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QopPolicy {
    /// Only `qop=auth` answers are accepted: every answer carries a nonce count, so replays
    /// are detected. The default.
    Required,
    /// RFC 2069 answers without `qop` are accepted too (old phones). They carry no nonce
    /// count, so a captured one can be replayed from the same address to the same URI until
    /// the nonce expires.
    Optional,
}

/// How the credentials' `uri` is compared with the Request-URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriCheck {
    /// Scheme, user, host and port must match ([`same_uri`]). The default.
    RequestUri,
    /// Scheme, host and port must match; the user too when the `uri` names one. For clients
    /// that sign `sip:host:port` whatever they call (sipp does). A header captured before the
    /// real request used it could then be spent on another number at the same host.
    Host,
}

/// Nonce counts seen on one live nonce.
#[derive(Debug, Clone, Copy)]
struct NonceUse {
    highest_nc: u32,
    expires: Instant,
}

/// Server side of digest authentication: nonce issuing and verification for one realm.
pub struct DigestServer {
    realm: String,
    secret: Vec<u8>,
    epoch: Instant,
    lifetime: Duration,
    counter: u64,
    used: HashMap<String, NonceUse>,
    /// Algorithms we challenge with, most preferred first. Default: SHA-256 only.
    pub algorithms: Vec<Algorithm>,
    /// Whether answers without `qop` are accepted. Default: [`QopPolicy::Required`].
    pub qop: QopPolicy,
    /// Most nonces whose counts are tracked at once (bounded memory). Default 65,536.
    pub max_tracked_nonces: usize,
    /// How the credentials' `uri` must match the Request-URI. Default [`UriCheck::RequestUri`].
    pub uri_check: UriCheck,
}

/// Does the `uri` of credentials name the same resource as the Request-URI? Scheme, user,
/// host (case-insensitive) and port (5060/5061 when absent) are compared; parameters and
/// headers are not (phones differ in what they copy), so their order does not matter.
pub fn same_uri(creds_uri: &str, request_uri: &str) -> bool {
    uri_matches(creds_uri, request_uri, UriCheck::RequestUri)
}

fn uri_matches(creds_uri: &str, request_uri: &str, check: UriCheck) -> bool {
    let (Ok(a), Ok(b)) = (Uri::parse(creds_uri.trim()), Uri::parse(request_uri.trim())) else {
        return false;
    };
    let users_match = match check {
        UriCheck::RequestUri => a.user == b.user,
        UriCheck::Host => a.user.is_none() || a.user == b.user,
    };
    let port = |u: &Uri<'_>| {
        u.port.or(match u.scheme {
            Scheme::Sip => Some(5060),
            Scheme::Sips => Some(5061),
            _ => None,
        })
    };
    a.scheme == b.scheme
        && users_match
        && a.host.eq_ignore_ascii_case(b.host)
        && port(&a) == port(&b)
}

impl DigestServer {
    /// `secret` keys the nonce MAC (random per process, or shared by a cluster); `epoch` is the
    /// instant nonce timestamps count from; nonces older than `lifetime` are stale.
    pub fn new(
        realm: impl Into<String>,
        secret: &[u8],
        epoch: Instant,
        lifetime: Duration,
    ) -> DigestServer {
        DigestServer {
            realm: realm.into(),
            secret: secret.to_vec(),
            epoch,
            lifetime,
            counter: 0,
            used: HashMap::new(),
            algorithms: vec![Algorithm::Sha256],
            qop: QopPolicy::Required,
            max_tracked_nonces: 65_536,
            uri_check: UriCheck::RequestUri,
        }
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Number of nonces whose counts are tracked now.
    pub fn tracked_nonces(&self) -> usize {
        self.used.len()
    }

    fn mac(&self, payload: &str, client: IpAddr) -> String {
        let mut msg = Vec::with_capacity(payload.len() + 17);
        msg.extend_from_slice(payload.as_bytes());
        msg.push(b'|');
        match client {
            IpAddr::V4(a) => msg.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => msg.extend_from_slice(&a.octets()),
        }
        hex(&hmac_sha256(&self.secret, &msg)[..16])
    }

    /// A new nonce for `client`: `<secs since epoch>.<counter>.<mac>` in hex, the MAC also
    /// covering the client's IP.
    pub fn nonce(&mut self, now: Instant, client: IpAddr) -> String {
        self.counter += 1;
        let payload = format!(
            "{:x}.{:x}",
            now.saturating_duration_since(self.epoch).as_secs(),
            self.counter
        );
        let mac = self.mac(&payload, client);
        format!("{payload}.{mac}")
    }

    fn issued_at(&self, nonce: &str) -> Option<Instant> {
        let secs = nonce
            .split('.')
            .next()
            .and_then(|t| u64::from_str_radix(t, 16).ok())?;
        self.epoch.checked_add(Duration::from_secs(secs))
    }

    /// Check a nonce's MAC (for this client address) and age.
    pub fn check_nonce(&self, now: Instant, nonce: &str, client: IpAddr) -> NonceStatus {
        let Some((payload, mac)) = nonce.rsplit_once('.') else {
            return NonceStatus::Invalid;
        };
        let expected = self.mac(payload, client);
        if !constant_time_eq(expected.as_bytes(), mac.as_bytes()) {
            return NonceStatus::Invalid;
        }
        let Some(issued) = self.issued_at(payload) else {
            return NonceStatus::Invalid;
        };
        if now.saturating_duration_since(issued) > self.lifetime {
            NonceStatus::Expired
        } else {
            NonceStatus::Fresh
        }
    }

    /// WWW-Authenticate values for a new challenge to `client`, one per algorithm, most
    /// preferred first.
    pub fn challenge_values(&mut self, now: Instant, stale: bool, client: IpAddr) -> Vec<String> {
        let nonce = self.nonce(now, client);
        self.algorithms
            .clone()
            .into_iter()
            .map(|algorithm| {
                Challenge {
                    realm: self.realm.clone(),
                    nonce: nonce.clone(),
                    algorithm,
                    opaque: None,
                    qop_auth: true,
                    stale,
                }
                .to_header_value()
            })
            .collect()
    }

    /// A 401 (or 407 when `proxy`) response to `req` from `client` carrying fresh challenges.
    pub fn challenge(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        to_tag: &str,
        stale: bool,
        proxy: bool,
        client: IpAddr,
    ) -> Message<'static> {
        let code = if proxy {
            StatusCode::PROXY_AUTHENTICATION_REQUIRED
        } else {
            StatusCode::UNAUTHORIZED
        };
        let mut r = req.make_response(code, Some(to_tag));
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        for v in self.challenge_values(now, stale, client) {
            r.push_header(name, v);
        }
        r
    }

    /// Forget the counts of expired nonces (call now and then; [`DigestServer::verify`] also
    /// does it when the table is full).
    pub fn expire(&mut self, now: Instant) {
        self.used.retain(|_, u| u.expires > now);
    }

    /// Verify credentials of `req`, received from `client`, for a user whose password the
    /// caller looked up by [`username`]. The method used is the request's. A correct answer
    /// records its nonce count, so the same header is not accepted twice.
    pub fn verify(
        &mut self,
        now: Instant,
        req: &Message<'_>,
        creds: &AuthParams<'_>,
        password: &str,
        client: IpAddr,
    ) -> Verdict {
        if !creds.scheme.eq_ignore_ascii_case("Digest") {
            return Verdict::Failed("unsupported scheme");
        }
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            creds.get("username"),
            creds.get("realm"),
            creds.get("nonce"),
            creds.get("uri"),
            creds.get("response"),
        ) else {
            return Verdict::Failed("incomplete credentials");
        };
        if realm != self.realm {
            return Verdict::Failed("wrong realm");
        }
        let Some(alg) =
            Algorithm::parse(creds.get("algorithm")).filter(|a| self.algorithms.contains(a))
        else {
            return Verdict::Failed("unsupported algorithm");
        };
        let status = self.check_nonce(now, nonce, client);
        if status == NonceStatus::Invalid {
            return Verdict::Failed("nonce not ours or issued to another address");
        }
        let qop = match (creds.get("qop"), creds.get("nc"), creds.get("cnonce")) {
            (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case("auth") => Some((nc, cn)),
            (None, _, _) if self.qop == QopPolicy::Optional => None,
            (None, _, _) => return Verdict::Failed("qop=auth required"),
            _ => return Verdict::Failed("unsupported qop"),
        };
        let nc = match qop {
            Some((nc, _)) => match u32::from_str_radix(nc, 16) {
                Ok(n) if nc.len() == 8 && n > 0 => Some(n),
                _ => return Verdict::Failed("bad nonce count"),
            },
            None => None,
        };
        let request_uri = req.request_uri().unwrap_or("");
        if !uri_matches(uri, request_uri, self.uri_check) {
            return Verdict::Failed("uri is not the Request-URI");
        }
        let method = req.method().map(Method::as_str).unwrap_or("");
        let expected = digest_response(alg, user, realm, password, method, uri, nonce, qop);
        if !constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return Verdict::Failed("wrong response");
        }
        if status == NonceStatus::Expired {
            return Verdict::Stale;
        }
        let Some(nc) = nc else {
            return Verdict::Ok; // QopPolicy::Optional: nothing to track
        };
        if let Some(u) = self.used.get_mut(nonce) {
            if nc <= u.highest_nc {
                return Verdict::Replayed;
            }
            u.highest_nc = nc;
            return Verdict::Ok;
        }
        if self.used.len() >= self.max_tracked_nonces {
            self.expire(now);
            if self.used.len() >= self.max_tracked_nonces {
                // Cannot track one more: a fresh nonce later beats an untracked one now.
                return Verdict::Stale;
            }
        }
        let expires = self
            .issued_at(nonce)
            .map_or(now, |t| t + self.lifetime)
            .max(now);
        self.used.insert(
            nonce.to_string(),
            NonceUse {
                highest_nc: nc,
                expires,
            },
        );
        Verdict::Ok
    }
}

/// The username of credentials, to look the password up.
pub fn username<'a>(creds: &'a AuthParams<'_>) -> Option<&'a str> {
    creds.get("username")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_md5_example_with_qop() {
        // RFC 2617 3.5 (HTTP, but the same arithmetic): qop=auth example.
        let r = digest_response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc_7616_sha256_example() {
        let r = digest_response(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    const PHONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 66));

    #[test]
    fn nonce_expires_and_rejects_forgery() {
        let t0 = Instant::now();
        let mut s = DigestServer::new("hotline", b"k", t0, Duration::from_secs(300));
        let n = s.nonce(t0 + Duration::from_secs(10), PHONE);
        assert_eq!(
            s.check_nonce(t0 + Duration::from_secs(20), &n, PHONE),
            NonceStatus::Fresh
        );
        assert_eq!(
            s.check_nonce(t0 + Duration::from_secs(311), &n, PHONE),
            NonceStatus::Expired
        );
        let forged = format!("1{n}"); // timestamp changed, MAC kept
        assert_eq!(s.check_nonce(t0, &forged, PHONE), NonceStatus::Invalid);
        assert_eq!(s.check_nonce(t0, "garbage", PHONE), NonceStatus::Invalid);
        // Bound to the address it was issued to.
        assert_eq!(
            s.check_nonce(t0 + Duration::from_secs(20), &n, OTHER),
            NonceStatus::Invalid
        );
    }

    fn invite_to(uri: &str) -> Message<'static> {
        let mut m = Message::request(Method::Invite, uri);
        m.push_header("Via", "SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKa");
        m.push_header("From", "<sip:1001@hotline>;tag=a");
        m.push_header("To", format!("<{uri}>"));
        m.push_header("Call-ID", "c1");
        m.push_header("CSeq", "1 INVITE");
        m
    }

    /// Answer a fresh challenge of `s` to `PHONE` for `req`, with nonce count `nc`.
    fn answered(
        s: &mut DigestServer,
        now: Instant,
        req: &Message<'static>,
        uri: &str,
        nc: u32,
    ) -> Message<'static> {
        let c = s.challenge(now, req, "t", false, true, PHONE);
        let ch = Challenge::pick(&c).unwrap();
        with_creds(req, &ch, uri, nc)
    }

    fn with_creds(req: &Message<'static>, ch: &Challenge, uri: &str, nc: u32) -> Message<'static> {
        let mut r = req.clone();
        r.set_header(
            "Proxy-Authorization",
            authorize(ch, &Method::Invite, uri, "1001", "pw", "cn", nc),
        );
        r
    }

    fn check(s: &mut DigestServer, now: Instant, req: &Message<'_>, src: IpAddr) -> Verdict {
        let creds = req.authorization(true).unwrap().unwrap();
        s.verify(now, req, &creds, "pw", src)
    }

    #[test]
    fn replayed_nonce_count_is_refused_and_a_higher_one_accepted() {
        let t0 = Instant::now();
        let mut s = DigestServer::new("hotline", b"k", t0, Duration::from_secs(300));
        let req = invite_to("sip:900@hotline");
        let signed = answered(&mut s, t0, &req, "sip:900@hotline", 1);
        assert_eq!(check(&mut s, t0, &signed, PHONE), Verdict::Ok);
        assert_eq!(check(&mut s, t0, &signed, PHONE), Verdict::Replayed);
        // The phone's next request with the same nonce counts up: accepted.
        let nonce = signed
            .authorization(true)
            .unwrap()
            .unwrap()
            .get("nonce")
            .unwrap()
            .to_string();
        let same = Challenge {
            realm: "hotline".into(),
            nonce,
            algorithm: Algorithm::Sha256,
            opaque: None,
            qop_auth: true,
            stale: false,
        };
        let second = with_creds(&req, &same, "sip:900@hotline", 2);
        assert_eq!(check(&mut s, t0, &second, PHONE), Verdict::Ok);
        assert_eq!(check(&mut s, t0, &second, PHONE), Verdict::Replayed);
        assert_eq!(s.tracked_nonces(), 1);
        // The count is forgotten with the nonce.
        s.expire(t0 + Duration::from_secs(301));
        assert_eq!(s.tracked_nonces(), 0);
        assert_eq!(
            check(&mut s, t0 + Duration::from_secs(301), &second, PHONE),
            Verdict::Stale
        );
    }

    #[test]
    fn header_from_another_address_or_for_another_uri_fails() {
        let t0 = Instant::now();
        let mut s = DigestServer::new("hotline", b"k", t0, Duration::from_secs(300));
        let req = invite_to("sip:900@hotline");
        let signed = answered(&mut s, t0, &req, "sip:900@hotline", 1);
        assert!(matches!(
            check(&mut s, t0, &signed, OTHER),
            Verdict::Failed(_)
        ));
        // Same header on an INVITE to a premium number.
        let mut premium = invite_to("sip:+19005550100@hotline");
        premium.set_header(
            "Proxy-Authorization",
            signed.header("Proxy-Authorization").unwrap().to_string(),
        );
        assert_eq!(
            check(&mut s, t0, &premium, PHONE),
            Verdict::Failed("uri is not the Request-URI")
        );
        // Signed for the premium URI but sent with another Request-URI: the same.
        let lying = answered(&mut s, t0, &req, "sip:+19005550100@hotline", 1);
        assert_eq!(
            check(&mut s, t0, &lying, PHONE),
            Verdict::Failed("uri is not the Request-URI")
        );
        // The untouched header still works from the phone.
        assert_eq!(check(&mut s, t0, &signed, PHONE), Verdict::Ok);
    }

    #[test]
    fn uri_comparison_is_parsed() {
        assert!(same_uri(
            "sip:900@Hotline;transport=udp;x=1",
            "sip:900@hotline;x=1;transport=udp"
        ));
        assert!(same_uri("sip:900@hotline:5060", "sip:900@hotline"));
        assert!(!same_uri("sip:900@hotline:5080", "sip:900@hotline"));
        assert!(!same_uri("sip:901@hotline", "sip:900@hotline"));
        assert!(!same_uri("sips:900@hotline", "sip:900@hotline"));
        assert!(!same_uri("not a uri", "sip:900@hotline"));
        // sipp signs `sip:host:port`: only accepted in the Host mode.
        assert!(!same_uri("sip:hotline:5060", "sip:900@hotline"));
        assert!(uri_matches(
            "sip:hotline:5060",
            "sip:900@hotline",
            UriCheck::Host
        ));
        assert!(!uri_matches(
            "sip:901@hotline",
            "sip:900@hotline",
            UriCheck::Host
        ));
        assert!(!uri_matches(
            "sip:other:5060",
            "sip:900@hotline",
            UriCheck::Host
        ));
    }

    #[test]
    fn answers_without_qop_are_refused_unless_allowed() {
        let t0 = Instant::now();
        let mut s = DigestServer::new("hotline", b"k", t0, Duration::from_secs(300));
        let req = invite_to("sip:900@hotline");
        let mut ch = Challenge::pick(&s.challenge(t0, &req, "t", false, true, PHONE)).unwrap();
        ch.qop_auth = false; // an RFC 2069 client ignores qop
        let old = with_creds(&req, &ch, "sip:900@hotline", 1);
        assert_eq!(
            check(&mut s, t0, &old, PHONE),
            Verdict::Failed("qop=auth required")
        );
        s.qop = QopPolicy::Optional;
        assert_eq!(check(&mut s, t0, &old, PHONE), Verdict::Ok);
    }

    #[test]
    fn md5_only_when_enabled_and_table_full_fails_closed() {
        let t0 = Instant::now();
        let mut s = DigestServer::new("hotline", b"k", t0, Duration::from_secs(300));
        let req = invite_to("sip:900@hotline");
        let c = s.challenge(t0, &req, "t", false, true, PHONE);
        assert_eq!(
            c.challenges(true).unwrap().len(),
            1,
            "SHA-256 only by default"
        );
        let mut md5 = Challenge::pick(&c).unwrap();
        md5.algorithm = Algorithm::Md5;
        let signed = with_creds(&req, &md5, "sip:900@hotline", 1);
        assert_eq!(
            check(&mut s, t0, &signed, PHONE),
            Verdict::Failed("unsupported algorithm")
        );
        s.algorithms.push(Algorithm::Md5);
        s.max_tracked_nonces = 1;
        assert_eq!(check(&mut s, t0, &signed, PHONE), Verdict::Ok);
        let other = answered(&mut s, t0, &req, "sip:900@hotline", 1);
        assert_eq!(
            check(&mut s, t0, &other, PHONE),
            Verdict::Stale,
            "no room: rechallenge"
        );
    }
}
