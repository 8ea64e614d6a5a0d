//! The webhook delivery worker: one tokio task that drains the store's durable outbox
//! (`hotline_store::webhooks`) to the subscribers' URLs.
//!
//! The outbox is filled by the store's writers in their own transactions (a call record
//! closed, an outcome written, a ticket created or changed, a payment approved), so an event
//! is never lost between the write and its delivery, and survives a restart. The worker:
//!
//! 1. claims due deliveries ([`Store::claim_webhook_deliveries`]): at most one per subject
//!    and subscription (the lowest pending sequence), under a lease, so deliveries of one call
//!    or ticket go out in order and two switch nodes never post the same row at once;
//! 2. POSTs each body with `Content-Type: application/json`, `Hotline-Delivery: <id>` and
//!    `Hotline-Signature: t=<unix secs>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
//!    subscription's secret>` ([`signature`]), bounded by `[webhooks] timeout_secs`;
//! 3. records the attempt: a 2xx is delivered; anything else (refused, timed out, 3xx, 4xx,
//!    5xx) is retried after [`retry_delay`] (exponential from `first_retry_secs`, doubling,
//!    capped at `max_retry_secs`, with ±20 % jitter), until `max_attempts` attempts or
//!    `give_up_after_hours` since the event, when it is marked failed ([`after_failure`]).
//!    A failed delivery no longer holds up its subject's later ones.
//!
//! Delivery is at least once: a worker that dies after the receiver answered but before the
//! answer was recorded posts again when its lease runs out. Receivers deduplicate by the
//! delivery id. The schedule and the signature are pure functions of their inputs (time and
//! jitter are arguments); the task reads the clock it is given.
//!
//! `https://` URLs are posted over TLS (rustls), the receiver's certificate checked against
//! the Mozilla roots of `webpki-roots` (or the roots a test gives in
//! [`WorkerOptions::tls`]); `http://` in clear.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use hotline_store::{DeliveryAttempt, DueDelivery, Millis, Store};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `[webhooks]` in switch.toml.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Run the delivery worker. Events are enqueued for active subscriptions either way.
    pub enabled: bool,
    /// How long one POST may take (connect, send, answer) before it counts as failed.
    pub timeout_secs: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Age of an event after which it is not retried again.
    pub give_up_after_hours: u64,
    /// The wait after the first failure; doubled after each further one.
    pub first_retry_secs: u64,
    /// The longest wait between two attempts.
    pub max_retry_secs: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            enabled: true,
            timeout_secs: 10,
            max_attempts: 25,
            give_up_after_hours: 24,
            first_retry_secs: 10,
            max_retry_secs: 3600,
        }
    }
}

impl WebhooksConfig {
    /// Checks the section; an error names the key (`webhooks.timeout_secs`) and says why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(1..=60).contains(&self.timeout_secs) {
            return Err(("webhooks.timeout_secs", "must be 1 to 60".into()));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(("webhooks.max_attempts", "must be 1 to 100".into()));
        }
        if !(1..=168).contains(&self.give_up_after_hours) {
            return Err((
                "webhooks.give_up_after_hours",
                "must be 1 to 168 (a week)".into(),
            ));
        }
        if !(1..=3600).contains(&self.first_retry_secs) {
            return Err(("webhooks.first_retry_secs", "must be 1 to 3600".into()));
        }
        if self.max_retry_secs < self.first_retry_secs || self.max_retry_secs > 86_400 {
            return Err((
                "webhooks.max_retry_secs",
                "must be at least first_retry_secs and at most 86400".into(),
            ));
        }
        Ok(())
    }

    /// The worker's settings from this section.
    pub fn options(&self) -> WorkerOptions {
        WorkerOptions {
            timeout: Duration::from_secs(self.timeout_secs),
            policy: RetryPolicy {
                first: Duration::from_secs(self.first_retry_secs),
                max: Duration::from_secs(self.max_retry_secs),
                max_attempts: self.max_attempts,
                give_up_after: Duration::from_secs(self.give_up_after_hours * 3600),
            },
            ..WorkerOptions::default()
        }
    }
}

/// When to retry and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Attempts in all before giving up.
    pub max_attempts: u32,
    /// Age of the event after which no further attempt is made.
    pub give_up_after: Duration,
}

/// The wait after the `failures`-th failed attempt (1 for the first): `first * 2^(failures-1)`
/// capped at `max`, then scaled by `0.8 + 0.4 * jitter` (`jitter` in `[0, 1)`, from the
/// caller's random source) so that many deliveries failing together do not retry together.
/// The result never exceeds `max` by more than the jitter's 20 %.
pub fn retry_delay(policy: &RetryPolicy, failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = policy
        .first
        .checked_mul(1u32 << exp)
        .unwrap_or(policy.max)
        .min(policy.max);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.5
    };
    base.mul_f64(0.8 + 0.4 * jitter)
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time (epoch ms).
    RetryAt(Millis),
    /// Stop: the delivery is failed for good, for this reason.
    GiveUp(String),
}

/// The decision after a failed attempt at a delivery made `created_at` that had failed
/// `earlier_failures` times before this one, at `now`: give up once `max_attempts` attempts
/// were made or the next one would come later than `give_up_after` after the event.
pub fn after_failure(
    policy: &RetryPolicy,
    earlier_failures: i64,
    created_at: Millis,
    now: Millis,
    jitter: f64,
) -> AfterFailure {
    let failures = u32::try_from(earlier_failures.max(0) + 1).unwrap_or(u32::MAX);
    if failures >= policy.max_attempts {
        return AfterFailure::GiveUp(format!("gave up after {failures} attempts"));
    }
    let wait = retry_delay(policy, failures, jitter);
    let next = now.saturating_add(wait.as_millis() as i64);
    let deadline = created_at.saturating_add(policy.give_up_after.as_millis() as i64);
    if next > deadline {
        return AfterFailure::GiveUp(format!(
            "gave up after {failures} attempts: the event is older than {} h",
            policy.give_up_after.as_secs() / 3600
        ));
    }
    AfterFailure::RetryAt(next)
}

/// The `Hotline-Signature` header of `body` sent at `t` (unix seconds):
/// `t=<t>,v1=<lowercase hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let t_text = t.to_string();
    let mac = hmac_sha256_hex(secret.as_bytes(), &[t_text.as_bytes(), b".", body]);
    format!("t={t_text},v1={mac}")
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts`, in lowercase hex.
fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The wall clock the worker stamps attempts with (epoch ms); tests pass their own.
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// How the worker runs.
#[derive(Clone)]
pub struct WorkerOptions {
    /// One POST's time limit.
    pub timeout: Duration,
    pub policy: RetryPolicy,
    /// How often the outbox is looked at when nothing is due.
    pub poll: Duration,
    /// Deliveries claimed (and posted concurrently) at once.
    pub batch: i64,
    pub clock: Clock,
    /// The TLS client for `https://` receivers ([`public_roots`] by default).
    pub tls: Arc<rustls::ClientConfig>,
}

/// A TLS client that trusts the public web's roots (Mozilla's, from `webpki-roots`).
pub fn public_roots() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    tls_client(roots)
}

/// A TLS client (ring, TLS 1.2 and 1.3) that trusts `roots`.
pub fn tls_client(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

impl Default for WorkerOptions {
    fn default() -> Self {
        let cfg = WebhooksConfig::default();
        WorkerOptions {
            timeout: Duration::from_secs(cfg.timeout_secs),
            policy: RetryPolicy {
                first: Duration::from_secs(cfg.first_retry_secs),
                max: Duration::from_secs(cfg.max_retry_secs),
                max_attempts: cfg.max_attempts,
                give_up_after: Duration::from_secs(cfg.give_up_after_hours * 3600),
            },
            poll: Duration::from_secs(1),
            batch: 32,
            clock: Arc::new(crate::app::now_millis),
            tls: public_roots(),
        }
    }
}

impl std::fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("timeout", &self.timeout)
            .field("policy", &self.policy)
            .field("poll", &self.poll)
            .field("batch", &self.batch)
            .finish()
    }
}

/// A running worker.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker on `store`.
    pub fn spawn(store: Store, options: WorkerOptions) -> Worker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, options, stopped));
        Worker { stop, task }
    }

    /// Stops after the posts in flight are answered or time out (their results recorded);
    /// what is still pending stays in the outbox for the next worker.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "webhook worker task failed");
        }
    }
}

/// The lease a claim takes: the post's time limit plus room to record its result.
fn lease_ms(options: &WorkerOptions) -> i64 {
    (options.timeout + Duration::from_secs(30)).as_millis() as i64
}

async fn run(store: Store, options: WorkerOptions, mut stopped: watch::Receiver<bool>) {
    tracing::info!(
        timeout_secs = options.timeout.as_secs(),
        max_attempts = options.policy.max_attempts,
        "webhook worker started"
    );
    while !*stopped.borrow() {
        let now = (options.clock)();
        // An idle outbox costs one indexed read a poll, not a claim.
        let due = match store.next_webhook_due().await {
            Ok(Some(at)) if at <= now => {
                store
                    .claim_webhook_deliveries(now, lease_ms(&options), options.batch)
                    .await
            }
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let due = due.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "webhooks: cannot read the outbox");
            Vec::new()
        });
        if !due.is_empty() {
            let posts = due.iter().map(|d| deliver(&store, &options, d));
            futures_util::future::join_all(posts).await;
            continue;
        }
        tokio::select! {
            _ = stopped.changed() => {}
            () = tokio::time::sleep(options.poll) => {}
        }
    }
    tracing::info!("webhook worker stopped");
}

/// One attempt at one delivery, and its result recorded.
async fn deliver(store: &Store, options: &WorkerOptions, due: &DueDelivery) {
    let d = &due.delivery;
    let sent_at = (options.clock)();
    let sig = signature(&due.secret, sent_at.div_euclid(1000), d.body.as_bytes());
    let answer = tokio::time::timeout(
        options.timeout,
        post(
            &options.tls,
            &due.url,
            d.id,
            &sig,
            Bytes::from(d.body.clone()),
        ),
    )
    .await;
    let now = (options.clock)();
    let failed = |status: Option<u16>, error: String| match after_failure(
        &options.policy,
        d.attempts,
        d.created_at,
        now,
        rand::random::<f64>(),
    ) {
        AfterFailure::RetryAt(next_attempt_at) => DeliveryAttempt::Retry {
            status,
            error,
            next_attempt_at,
        },
        AfterFailure::GiveUp(why) => DeliveryAttempt::GiveUp {
            status,
            error: format!("{error}; {why}"),
        },
    };
    let attempt = match answer {
        Ok(Ok(status)) if (200..300).contains(&status) => DeliveryAttempt::Delivered { status },
        Ok(Ok(status)) => failed(Some(status), format!("HTTP {status}")),
        Ok(Err(e)) => failed(None, e),
        Err(_) => failed(
            None,
            format!("no answer within {} s", options.timeout.as_secs()),
        ),
    };
    match &attempt {
        DeliveryAttempt::Delivered { .. } => {
            tracing::debug!(delivery = d.id, kind = d.kind.as_str(), "webhook delivered")
        }
        DeliveryAttempt::Retry { error, .. } => {
            tracing::info!(delivery = d.id, attempts = d.attempts + 1, %error, "webhook failed; will retry")
        }
        DeliveryAttempt::GiveUp { error, .. } => {
            tracing::warn!(delivery = d.id, attempts = d.attempts + 1, %error, "webhook failed for good")
        }
    }
    if let Err(e) = store.record_webhook_attempt(d.id, &attempt, now).await {
        // The lease runs out and the delivery is tried again (at least once).
        tracing::warn!(delivery = d.id, error = %e, "webhooks: cannot record an attempt");
    }
}

/// Largest answer read from a receiver (it is discarded).
const MAX_ANSWER: usize = 64 * 1024;

/// Where a receiver's URL points: the address to connect to, TLS or not, the Host header
/// and the request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub connect: String,
    /// `Some(name the certificate must carry)` for `https://`.
    pub tls: Option<String>,
    pub host: String,
    pub path: String,
}

/// Reads an `http://` or `https://` `host[:port][/path][?query]` URL.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("the URL must start with http:// or https://".into()),
    };
    let authority = uri.authority().ok_or("the URL has no host")?;
    if authority.as_str().contains('@') {
        return Err("the URL may not carry a user name or password".into());
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok(Target {
        connect: format!("{host}:{port}"),
        tls: tls.then(|| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        }),
        host: authority.as_str().to_string(),
        path: uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string()),
    })
}

/// One POST; the status, or why there was none.
async fn post(
    tls: &Arc<rustls::ClientConfig>,
    url: &str,
    id: i64,
    sig: &str,
    body: Bytes,
) -> Result<u16, String> {
    let target = parse_url(url)?;
    let stream = tokio::net::TcpStream::connect(&target.connect)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", target.connect))?;
    let _ = stream.set_nodelay(true);
    let Some(name) = &target.tls else {
        return exchange(TokioIo::new(stream), &target, id, sig, body).await;
    };
    let server = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|e| format!("{name:?} cannot be checked against a certificate: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(server, stream)
        .await
        .map_err(|e| format!("TLS handshake with {} failed: {e}", target.connect))?;
    exchange(TokioIo::new(stream), &target, id, sig, body).await
}

/// The HTTP/1.1 request and its answer on a connected stream.
async fn exchange<S>(io: S, target: &Target, id: i64, sig: &str, body: Bytes) -> Result<u16, String>
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let request = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(target.path.as_str())
            .header(hyper::header::HOST, target.host.as_str())
            .header(hyper::header::CONNECTION, "close")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "hotline-webhooks/1")
            .header("Hotline-Delivery", id.to_string())
            .header("Hotline-Signature", sig)
            .body(Full::new(body))
            .map_err(|e| format!("request could not be built: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        // Read (and drop) the answer so the receiver sees a clean close.
        let _ = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await;
        Ok(status)
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first: Duration::from_secs(10),
            max: Duration::from_secs(3600),
            max_attempts: 25,
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }

    #[test]
    fn delays_double_from_the_first_up_to_the_cap_with_bounded_jitter() {
        let p = policy();
        let mid: Vec<u64> = (1..=11)
            .map(|n| retry_delay(&p, n, 0.5).as_secs())
            .collect();
        assert_eq!(
            mid,
            vec![10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(retry_delay(&p, 1, 0.0), Duration::from_secs(8));
        assert_eq!(retry_delay(&p, 1, 1.0), Duration::from_secs(12));
        assert_eq!(retry_delay(&p, 40, 1.0), Duration::from_secs(4320));
        assert_eq!(retry_delay(&p, 0, 0.5), Duration::from_secs(10));
        assert_eq!(retry_delay(&p, 3, f64::NAN), Duration::from_secs(40));
        assert_eq!(retry_delay(&p, u32::MAX, 0.5), Duration::from_secs(3600));
    }

    #[test]
    fn gives_up_after_max_attempts_or_a_day() {
        let p = policy();
        let t0 = 1_780_000_000_000;
        assert_eq!(
            after_failure(&p, 0, t0, t0, 0.5),
            AfterFailure::RetryAt(t0 + 10_000)
        );
        assert_eq!(
            after_failure(&p, 3, t0, t0 + 1000, 0.5),
            AfterFailure::RetryAt(t0 + 1000 + 80_000)
        );
        // The 25th attempt failing is the last.
        assert!(matches!(
            after_failure(&p, 24, t0, t0 + 1000, 0.5),
            AfterFailure::GiveUp(why) if why.contains("25 attempts")
        ));
        // A retry that would fall after the day is not scheduled.
        let hour = 3_600_000;
        assert!(matches!(
            after_failure(&p, 12, t0, t0 + 23 * hour + 1, 0.5),
            AfterFailure::GiveUp(why) if why.contains("older than 24 h")
        ));
        assert_eq!(
            after_failure(&p, 12, t0, t0 + 23 * hour, 0.5),
            AfterFailure::RetryAt(t0 + 24 * hour)
        );
        // With the defaults, a receiver that is down for good is given up within the day.
        let (mut now, mut failures) = (t0, 0);
        while let AfterFailure::RetryAt(next) = after_failure(&p, failures, t0, now, 1.0) {
            assert!(next > now);
            now = next;
            failures += 1;
        }
        assert!(now - t0 <= 24 * 3600 * 1000);
        assert!(failures >= 10, "{failures}");
    }

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", &[b"what do ya ", b"want for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // As a receiver computes it (Python: hmac.new(b"whsec_test", b"1780000000.{}",
        // hashlib.sha256).hexdigest()).
        assert_eq!(
            signature("whsec_test", 1_780_000_000, b"{}"),
            "t=1780000000,v1=b609026af9e57aacaa80bc40f33504841d55b898bf7a94ef9c45d964ea2171a4"
        );
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        assert_eq!(
            parse_url("http://127.0.0.1:9000/hooks/a?x=1").unwrap(),
            Target {
                connect: "127.0.0.1:9000".into(),
                tls: None,
                host: "127.0.0.1:9000".into(),
                path: "/hooks/a?x=1".into(),
            }
        );
        assert_eq!(
            parse_url("http://crm.example/").unwrap().connect,
            "crm.example:80"
        );
        assert_eq!(
            parse_url("https://crm.example/in").unwrap(),
            Target {
                connect: "crm.example:443".into(),
                tls: Some("crm.example".into()),
                host: "crm.example".into(),
                path: "/in".into(),
            }
        );
        let v6 = parse_url("https://[::1]:8443").unwrap();
        assert_eq!(
            (v6.connect.as_str(), v6.tls.as_deref(), v6.path.as_str()),
            ("[::1]:8443", Some("::1"), "/")
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://user:pw@x/").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn config_errors_name_the_key() {
        assert_eq!(WebhooksConfig::default().check(), Ok(()));
        let bad = WebhooksConfig {
            timeout_secs: 0,
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "webhooks.timeout_secs");
        let bad = WebhooksConfig {
            max_retry_secs: 5,
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "webhooks.max_retry_secs");
        let bad = WebhooksConfig {
            max_attempts: 0,
            ..Default::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "webhooks.max_attempts");
    }

    #[test]
    fn switch_toml_section_is_read_and_its_errors_name_file_line_and_key() {
        use crate::config::Config;
        let path = std::path::Path::new("/etc/hotline/switch.toml");
        let cfg = Config::parse(
            path,
            "[demo]\nseed = false\n[webhooks]\nenabled = false\ntimeout_secs = 5\nmax_attempts = 3\n",
        )
        .unwrap();
        assert!(!cfg.webhooks.enabled);
        let o = cfg.webhooks.options();
        assert_eq!(
            (o.timeout, o.policy.max_attempts),
            (Duration::from_secs(5), 3)
        );
        assert_eq!(o.policy.give_up_after, Duration::from_secs(24 * 3600));
        let e = Config::parse(path, "[demo]\nseed = false\n[webhooks]\ntimeout_secs = 0\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(4), Some("webhooks.timeout_secs"))
        );
        let e = Config::parse(path, "[demo]\nseed = false\n[webhooks]\nretries = 3\n").unwrap_err();
        assert!(e.to_string().contains("retries"), "{e}");
    }
}
