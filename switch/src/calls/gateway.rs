//! The payment gateways call control charges cards through: the built-in sandbox, or a real
//! processor over the HTTP JSON adapter of `hotline_ivr` (`[payments] gateway = "http"`).
//!
//! The HTTP adapter: `hotline_ivr::HttpGatewayConfig::build_request` gives the URL, headers
//! (`Authorization: Bearer`, `Idempotency-Key`) and the JSON body; this module only moves the
//! bytes with hyper over a tokio TCP stream, inside the charge task (never on the call-control
//! task), bounded by `[payments] timeout_secs`, and hands the status and body to
//! `HttpGatewayConfig::parse_response`. A refused connection, a time-out, a 5xx or anything
//! unreadable is a gateway error: the payment row stays `pending` and the IVR's retry carries
//! the same idempotency key (see `slice::charge_card`).
//!
//! The body holds the card number and security code: it lives in a buffer that is wiped when
//! dropped (also the copy hyper sends, which owns that buffer), it has no Debug output, and
//! neither it nor the API key is logged. The URL must be `http://` to this machine (a local
//! TLS-terminating proxy in front of the processor); card data never crosses a network in
//! clear.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hotline_ivr::{
    ChargeRequest, ChargeResult, Error as IvrError, HttpGatewayConfig, PaymentGateway,
    SandboxGateway,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use zeroize::Zeroizing;

/// Largest processor answer read (it is a small JSON object).
const MAX_ANSWER: usize = 64 * 1024;

/// Where call control sends charges.
#[derive(Clone)]
pub(crate) enum Gateway {
    /// The built-in sandbox (shared with the charge tasks).
    Sandbox(Arc<Mutex<SandboxGateway>>),
    /// A processor over HTTP.
    Http(Arc<HttpGateway>),
}

impl Gateway {
    /// The name stored with each payment (`payments.gateway`).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Gateway::Sandbox(_) => "sandbox",
            Gateway::Http(_) => "http",
        }
    }

    /// Charges a card; returns the result and, for the sandbox, how many real charges it has
    /// made so far.
    pub(crate) async fn charge(
        &self,
        req: &ChargeRequest,
    ) -> (Result<ChargeResult, IvrError>, Option<u64>) {
        match self {
            Gateway::Sandbox(g) => {
                let mut g = g.lock().unwrap_or_else(|p| p.into_inner());
                let r = g.charge(req);
                (r, Some(g.charges()))
            }
            Gateway::Http(h) => (h.charge(req).await, None),
        }
    }
}

/// Checks a `[payments] url`: `http://` to 127.0.0.1, ::1 or localhost, with a path.
pub fn check_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

/// (host:port to connect to, Host header, path and query).
fn parse_url(url: &str) -> Result<(String, String, String), String> {
    if url.is_empty() {
        return Err("gateway = \"http\" needs the processor's url".into());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(
            "must start with http:// and name this machine (put a TLS-terminating proxy for the \
             processor's https:// endpoint on 127.0.0.1): card data must not cross a network in \
             clear"
                .into(),
        );
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("port {p:?} is not a port number"))?,
        None => 80,
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return Err(format!(
            "host {host:?} is not this machine: use http://127.0.0.1 (a local TLS-terminating \
             proxy for the processor); card data must not cross a network in clear"
        ));
    }
    let connect_host = match host {
        "localhost" => "127.0.0.1",
        "::1" => "[::1]",
        h => h,
    };
    // The path must make a valid request target.
    let target: hyper::Uri = path.parse().map_err(|e| format!("bad path: {e}"))?;
    Ok((
        format!("{connect_host}:{port}"),
        authority.to_string(),
        target.to_string(),
    ))
}

/// A processor reached over HTTP (the `hotline_ivr` JSON adapter).
pub(crate) struct HttpGateway {
    config: HttpGatewayConfig,
    connect: String,
    host: String,
    path: String,
    timeout: Duration,
}

impl HttpGateway {
    /// From `[payments]` (already validated by the config loader).
    pub(crate) fn new(url: &str, api_key: &str, timeout: Duration) -> Result<HttpGateway, String> {
        let (connect, host, path) = parse_url(url)?;
        Ok(HttpGateway {
            config: HttpGatewayConfig {
                url: url.to_string(),
                api_key: api_key.to_string(),
            },
            connect,
            host,
            path,
            timeout,
        })
    }

    /// One charge: POST, bounded by the time-out; any failure is a gateway error.
    pub(crate) async fn charge(&self, req: &ChargeRequest) -> Result<ChargeResult, IvrError> {
        let call = self.config.build_request(req);
        let (status, answer) = tokio::time::timeout(self.timeout, self.post(call))
            .await
            .map_err(|_| {
                IvrError::Gateway(format!(
                    "no answer from the processor within {} s",
                    self.timeout.as_secs()
                ))
            })??;
        self.config.parse_response(status, &answer)
    }

    async fn post(&self, call: hotline_ivr::HttpCall) -> Result<(u16, Bytes), IvrError> {
        let gw = |what: &str, e: &dyn std::fmt::Display| {
            IvrError::Gateway(format!("processor {what}: {e}"))
        };
        let stream = tokio::net::TcpStream::connect(&self.connect)
            .await
            .map_err(|e| gw("unreachable", &e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| gw("handshake failed", &e))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let hotline_ivr::HttpCall { headers, body, .. } = call;
        let mut request = hyper::Request::builder()
            .method(hyper::Method::POST)
            .uri(self.path.as_str())
            .header(hyper::header::HOST, self.host.as_str())
            .header(hyper::header::CONNECTION, "close");
        for (k, v) in &headers {
            request = request.header(k.as_str(), v.as_str());
        }
        // The body buffer is owned by the bytes hyper sends and wiped when they are dropped.
        let body = Bytes::from_owner(WipedBody(body));
        let request = request
            .body(Full::new(body))
            .map_err(|e| gw("request could not be built", &e))?;
        drop(headers);
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| gw("request failed", &e))?;
            let status = response.status().as_u16();
            let answer = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| gw("answer unreadable", &e))?
                .to_bytes();
            Ok((status, answer))
        }
        .await;
        driver.abort();
        result
    }
}

/// The request body as the owner of the bytes hyper sends: wiped on drop.
struct WipedBody(Zeroizing<Vec<u8>>);

impl AsRef<[u8]> for WipedBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    //! The HTTP adapter against a real local processor (an axum app on 127.0.0.1:0 that
    //! records what it gets, keeps one result per idempotency key like a real processor, and
    //! answers 503 once for a chosen key), through `slice::charge_card` and a real SQLite
    //! store: the JSON it received, the idempotency key reused on the retry after a 503 and
    //! after a time-out, one charge per key, and that the processor is the only place the card
    //! number went (not the database file, its WAL, or the log).

    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use hotline_ivr::{CardData, ChargeRequest, ChargeStatus, IdempotencyKey};
    use hotline_store::Store;

    use super::super::work::charge_card;
    use super::{Gateway, HttpGateway};
    use hotline_calls::work::ChargeContext;

    const CARD: &str = "4111111111111111";
    const DECLINED: &str = "4000000000000002";
    const CVV: &str = "737";

    #[derive(Default)]
    struct Processor {
        /// (Authorization, Idempotency-Key, body) of every request, in order.
        requests: Vec<(String, String, serde_json::Value)>,
        /// Results by idempotency key: a repeated key gets the first result again.
        results: HashMap<String, serde_json::Value>,
        /// Keys that get a 503 the first time.
        fail_once: Vec<String>,
        /// Keys whose first request is answered only after this long.
        slow_once: Vec<(String, Duration)>,
        charges: u32,
    }

    async fn charge_endpoint(
        State(p): State<Arc<Mutex<Processor>>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> (StatusCode, String) {
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let key = header("idempotency-key");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let delay = {
            let mut p = p.lock().expect("processor");
            p.requests
                .push((header("authorization"), key.clone(), json.clone()));
            if let Some(i) = p.fail_once.iter().position(|k| *k == key) {
                p.fail_once.remove(i);
                return (StatusCode::SERVICE_UNAVAILABLE, "busy".into());
            }
            p.slow_once
                .iter()
                .position(|(k, _)| *k == key)
                .map(|i| p.slow_once.remove(i).1)
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let mut p = p.lock().expect("processor");
        if let Some(r) = p.results.get(&key) {
            return (StatusCode::OK, r.to_string());
        }
        p.charges += 1;
        let number = json["card"]["number"].as_str().unwrap_or("");
        let last4 = &number[number.len().saturating_sub(4)..];
        let token = format!("ch_{}", p.charges);
        let r = if number == DECLINED {
            serde_json::json!({"status": "declined", "token": token, "brand": "visa",
                "last4": last4, "decline_reason": "card_declined"})
        } else {
            serde_json::json!({"status": "approved", "token": token, "brand": "visa",
                "last4": last4})
        };
        p.results.insert(key, r.clone());
        (StatusCode::OK, r.to_string())
    }

    fn charge(key: &str, number: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: IdempotencyKey(key.into()),
            amount_minor: 49_900,
            currency: "USD".into(),
            description: "Hotline booking".into(),
            card: CardData::new(number, 2035, 12, CVV).expect("valid test card"),
        }
    }

    /// A `Write` into a shared buffer, for capturing the log.
    #[derive(Clone, Default)]
    struct LogBuf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for LogBuf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Everything logged in this test binary (a global subscriber: a scoped one misses events
    /// whose call sites other tests' threads registered first).
    fn captured_log() -> LogBuf {
        static LOG: std::sync::OnceLock<LogBuf> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = LogBuf::default();
            let writer = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || writer.clone())
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            log
        })
        .clone()
    }

    #[tokio::test]
    async fn http_processor_gets_the_card_once_per_key_and_nothing_else_keeps_it() {
        let log = captured_log();

        let processor = Arc::new(Mutex::new(Processor {
            fail_once: vec!["call-9:pay:1".into()],
            slow_once: vec![("call-9:pay:3".into(), Duration::from_secs(3))],
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/v1/charges", axum::routing::post(charge_endpoint))
            .with_state(processor.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}/hotline.db", dir.path().display());
        let store = Store::open(&url, Default::default()).await.expect("store");
        let gateway = Gateway::Http(Arc::new(
            HttpGateway::new(
                &format!("http://{addr}/v1/charges"),
                "sk_test_hotline",
                Duration::from_secs(1),
            )
            .expect("gateway"),
        ));
        let ctx = ChargeContext {
            call_id: "call-9".into(),
            customer: None,
            pays: hotline_calls::work::Pays::Amount,
            reference: None,
        };

        // A 503: a gateway error, the row stays pending.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("call-9:pay:1", CARD)).await;
        assert!(r.is_err(), "{r:?}");
        let p = store
            .payment("call-9:pay:1")
            .await
            .expect("read")
            .expect("row");
        assert_eq!((p.status.as_str(), p.gateway.as_str()), ("pending", "http"));
        // The IVR's retry with the same key: approved, one charge.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("call-9:pay:1", CARD)).await;
        let approved = r.expect("approved");
        assert_eq!(
            (
                approved.status.clone(),
                approved.token.as_str(),
                approved.last_four.as_str()
            ),
            (ChargeStatus::Approved, "ch_1", "1111")
        );
        let p = store
            .payment("call-9:pay:1")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            (
                p.status.as_str(),
                p.card_token.as_deref(),
                p.card_last4.as_deref()
            ),
            ("approved", Some("ch_1"), Some("1111"))
        );
        // Settled: asked again, the store answers and the processor hears nothing.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("call-9:pay:1", CARD)).await;
        assert_eq!(r.expect("approved"), approved);

        // A decline is a result, not an error.
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("call-9:pay:2", DECLINED)).await;
        assert_eq!(
            r.expect("declined").status,
            ChargeStatus::Declined("card_declined".into())
        );

        // No answer within the time-out: a gateway error, pending; the retry with the same key
        // gets the processor's first result for that key (charged once).
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("call-9:pay:3", CARD)).await;
        assert!(r.is_err(), "{r:?}");
        let p = store
            .payment("call-9:pay:3")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(p.status, "pending");
        let (r, _) = charge_card(&store, &gateway, &ctx, charge("call-9:pay:3", CARD)).await;
        let late = r.expect("approved after the time-out");
        assert_eq!(late.status, ChargeStatus::Approved);

        {
            let p = processor.lock().expect("processor");
            let keys: Vec<&str> = p.requests.iter().map(|r| r.1.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "call-9:pay:1",
                    "call-9:pay:1",
                    "call-9:pay:2",
                    "call-9:pay:3",
                    "call-9:pay:3"
                ]
            );
            assert_eq!(p.charges, 3, "one charge per key");
            for (auth, key, body) in &p.requests {
                assert_eq!(auth, "Bearer sk_test_hotline");
                assert_eq!(body["idempotency_key"], key.as_str());
            }
            assert_eq!(
                p.requests[0].2,
                serde_json::json!({
                    "idempotency_key": "call-9:pay:1",
                    "amount_minor": 49_900,
                    "currency": "USD",
                    "description": "Hotline booking",
                    "card": {"number": CARD, "exp_month": 12, "exp_year": 2035, "cvc": CVV},
                })
            );
        }
        let rows = store.payments_for_call("call-9").await.expect("rows");
        assert_eq!(rows.len(), 3, "one row per key: {rows:?}");
        store.close().await;
        server.abort();

        // The processor is the only place the card went.
        let log = String::from_utf8_lossy(&log.0.lock().expect("log")).into_owned();
        assert!(log.contains("card charged"), "the log was captured: {log}");
        for secret in [CARD, DECLINED, "sk_test_hotline"] {
            assert!(!log.contains(secret), "{secret} in the log");
        }
        for f in ["hotline.db", "hotline.db-wal"] {
            let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
            for card in [CARD, DECLINED] {
                assert!(
                    !bytes.windows(card.len()).any(|w| w == card.as_bytes()),
                    "{card} in {f}"
                );
            }
        }
    }

    #[tokio::test]
    async fn an_unreachable_processor_is_a_gateway_error() {
        // A port nobody listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let g = HttpGateway::new(
            &format!("http://127.0.0.1:{port}/charges"),
            "k",
            Duration::from_secs(2),
        )
        .expect("gateway");
        let r = g.charge(&charge("k1", CARD)).await;
        assert!(matches!(r, Err(hotline_ivr::Error::Gateway(_))), "{r:?}");
    }

    #[test]
    fn urls_must_name_this_machine() {
        assert!(super::check_url("http://127.0.0.1:9000/v1/charges").is_ok());
        assert!(super::check_url("http://localhost/c").is_ok());
        assert!(super::check_url("http://[::1]:8080/c").is_ok());
        for bad in [
            "",
            "https://pay.example.com/c",
            "http://pay.example.com/c",
            "http://10.1.1.1/c",
            "ftp://127.0.0.1/c",
            "http://127.0.0.1:notaport/c",
        ] {
            assert!(super::check_url(bad).is_err(), "{bad}");
        }
    }
}
