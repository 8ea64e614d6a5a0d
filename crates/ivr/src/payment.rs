//! Card payments: the card data type that hides and wipes itself, the [`PaymentGateway`]
//! trait, the built-in [`SandboxGateway`], the JSON shapes of the HTTP adapter, and the
//! progress events an agent's desktop may see (counts, never digits).
//!
//! # Sandbox test cards
//!
//! | card number          | result |
//! |----------------------|--------|
//! | `4111111111111111`   | approved (visa) |
//! | `5555555555554444`   | approved (mastercard) |
//! | `378282246310005`    | approved (amex, 4-digit security code) |
//! | `4000000000000002`   | declined, reason `card_declined` |
//! | `4000000000009995`   | insufficient funds |
//! | `4000000000000069`   | declined, reason `expired_card` |
//! | `4000000000000119`   | first attempt for a key fails with a gateway error (as if the network dropped); a retry with the same key is approved |
//! | any other Luhn-valid | approved |
//!
//! Any expiry in the future and any security code of the brand's length are accepted.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::digits::{CardBrand, luhn_valid};
use crate::error::Error;

/// A card number, expiry and security code. Debug and Display print only the brand; the
/// memory is wiped on drop. Build one with [`CardData::new`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CardData {
    number: String,
    exp_year: u16,
    exp_month: u8,
    cvv: String,
}

impl CardData {
    /// Checks the Luhn digit, the month and the security code length. (Whether the expiry is
    /// in the future depends on today's date, which the session checks.)
    pub fn new(number: &str, exp_year: u16, exp_month: u8, cvv: &str) -> Option<CardData> {
        let ok = luhn_valid(number)
            && (12..=19).contains(&number.len())
            && (1..=12).contains(&exp_month)
            && cvv.len() == CardBrand::detect(number).cvv_len()
            && cvv.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| CardData {
            number: number.to_string(),
            exp_year,
            exp_month,
            cvv: cvv.to_string(),
        })
    }
    /// The full number: only for handing to the processor.
    pub fn number(&self) -> &str {
        &self.number
    }
    /// The security code: only for handing to the processor.
    pub fn cvv(&self) -> &str {
        &self.cvv
    }
    /// Expiry year (four digits).
    pub fn exp_year(&self) -> u16 {
        self.exp_year
    }
    /// Expiry month 1-12.
    pub fn exp_month(&self) -> u8 {
        self.exp_month
    }
    /// The last four digits (safe to store and show).
    pub fn last_four(&self) -> String {
        self.number[self.number.len().saturating_sub(4)..].to_string()
    }
    /// The brand from the number's prefix.
    pub fn brand(&self) -> CardBrand {
        CardBrand::detect(&self.number)
    }
}

impl fmt::Debug for CardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardData({}, <redacted>)", self.brand())
    }
}

impl fmt::Display for CardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} card <redacted>", self.brand())
    }
}

/// Identifies one charge attempt; a repeated key must never charge twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(pub String);

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the IVR asks the gateway to do. Debug is safe (the card is redacted).
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// Same key, same result, one charge.
    pub idempotency_key: IdempotencyKey,
    /// Amount in minor units (cents).
    pub amount_minor: u64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// Shown on the statement / in the processor's dashboard.
    pub description: String,
    /// The card.
    pub card: CardData,
}

/// The processor's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum ChargeStatus {
    /// Money taken.
    Approved,
    /// Refused, with the processor's reason code.
    Declined(String),
    /// Refused for lack of funds.
    InsufficientFunds,
}

/// A gateway's answer. Only this is stored: token, brand, last four, status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeResult {
    /// The processor's reference for the charge (or the attempt).
    pub token: String,
    /// Card brand.
    pub brand: CardBrand,
    /// Last four digits of the card.
    pub last_four: String,
    /// Approved or why not.
    pub status: ChargeStatus,
}

/// Takes card payments. `Err` means the gateway could not decide (network, outage): the
/// caller may retry with the same idempotency key; a decline is `Ok` with a declined status.
pub trait PaymentGateway {
    /// Charge a card. Must return the first result again for a repeated idempotency key.
    fn charge(&mut self, request: &ChargeRequest) -> Result<ChargeResult, Error>;
}

/// The built-in gateway for the default config and tests: no network, documented test cards
/// (see the module docs), idempotent by key, counting real charges.
#[derive(Debug, Default)]
pub struct SandboxGateway {
    by_key: HashMap<IdempotencyKey, (u64, String, String, ChargeResult)>,
    flaky_seen: HashMap<IdempotencyKey, ()>,
    charges: u64,
    approved_total_minor: u64,
}

impl SandboxGateway {
    /// A fresh sandbox.
    pub fn new() -> SandboxGateway {
        SandboxGateway::default()
    }
    /// How many charges reached the (pretend) processor; repeats of a key do not count.
    pub fn charges(&self) -> u64 {
        self.charges
    }
    /// Sum of approved amounts (minor units).
    pub fn approved_total_minor(&self) -> u64 {
        self.approved_total_minor
    }
}

impl PaymentGateway for SandboxGateway {
    fn charge(&mut self, req: &ChargeRequest) -> Result<ChargeResult, Error> {
        let last_four = req.card.last_four();
        if let Some((amount, currency, l4, result)) = self.by_key.get(&req.idempotency_key) {
            if *amount != req.amount_minor || *currency != req.currency || *l4 != last_four {
                return Err(Error::Gateway(format!(
                    "idempotency key {} reused for a different charge",
                    req.idempotency_key
                )));
            }
            return Ok(result.clone());
        }
        let number = req.card.number();
        if number == "4000000000000119"
            && self
                .flaky_seen
                .insert(req.idempotency_key.clone(), ())
                .is_none()
        {
            return Err(Error::Gateway("sandbox: simulated timeout".to_string()));
        }
        let status = match number {
            "4000000000000002" => ChargeStatus::Declined("card_declined".to_string()),
            "4000000000009995" => ChargeStatus::InsufficientFunds,
            "4000000000000069" => ChargeStatus::Declined("expired_card".to_string()),
            _ => ChargeStatus::Approved,
        };
        self.charges += 1;
        if status == ChargeStatus::Approved {
            self.approved_total_minor += req.amount_minor;
        }
        let result = ChargeResult {
            token: format!("tok_sandbox_{:06}", self.charges),
            brand: req.card.brand(),
            last_four: last_four.clone(),
            status,
        };
        self.by_key.insert(
            req.idempotency_key.clone(),
            (
                req.amount_minor,
                req.currency.clone(),
                last_four,
                result.clone(),
            ),
        );
        Ok(result)
    }
}

/// What the agent's desktop may learn about a payment in progress: counts and outcomes,
/// never digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum PaymentProgress {
    /// The caller is asked for card details.
    Started {
        /// Amount in minor units.
        amount_minor: u64,
        /// Currency code.
        currency: String,
    },
    /// A digit was entered or removed in a field.
    Digits {
        /// Which field.
        field: CardField,
        /// How many digits it holds now.
        count: usize,
        /// How many the field takes, when fixed (expiry 4, security code 3 or 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected: Option<usize>,
    },
    /// A field was rejected (bad Luhn, past expiry, wrong length); the caller re-enters it.
    Invalid {
        /// Which field.
        field: CardField,
    },
    /// The charge was sent.
    Submitted,
    /// Approved.
    Approved {
        /// Card brand.
        brand: CardBrand,
        /// Last four digits.
        last_four: String,
    },
    /// Declined (including insufficient funds).
    Declined {
        /// The processor's reason code.
        reason: String,
    },
    /// Gave up (retries exhausted, caller hung up, gateway down).
    Abandoned,
}

/// The fields of a card entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardField {
    /// The card number.
    Number,
    /// MMYY.
    Expiry,
    /// The security code.
    SecurityCode,
}

/// Where the HTTP adapter posts charges. Debug hides the key.
///
/// The adapter (wired by the switch) sends `POST {url}` with headers
/// `Authorization: Bearer {api_key}`, `Idempotency-Key: {key}`,
/// `Content-Type: application/json`, body [`HttpChargeRequest`]; it expects
/// [`HttpChargeResponse`] with status 200 for approved and declined alike; any other HTTP
/// status or an unreadable body is a gateway error (retry with the same key).
#[derive(Clone, Serialize, Deserialize)]
pub struct HttpGatewayConfig {
    /// e.g. `https://payments.example.com/v1/charges`.
    pub url: String,
    /// Secret API key.
    pub api_key: String,
}

impl fmt::Debug for HttpGatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGatewayConfig")
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl HttpGatewayConfig {
    /// Everything the switch needs to send for one charge (it only moves the bytes).
    pub fn build_request(&self, req: &ChargeRequest) -> HttpCall {
        HttpCall {
            url: self.url.clone(),
            headers: vec![
                (
                    "Authorization".to_string(),
                    format!("Bearer {}", self.api_key),
                ),
                ("Idempotency-Key".to_string(), req.idempotency_key.0.clone()),
                ("Content-Type".to_string(), "application/json".to_string()),
            ],
            body: HttpChargeRequest::from_request(req).to_json(),
        }
    }

    /// Reads the processor's answer: HTTP 200 with a known status is a result (approved or
    /// declined); anything else is a gateway error, to be retried with the same key.
    pub fn parse_response(&self, http_status: u16, body: &[u8]) -> Result<ChargeResult, Error> {
        if http_status != 200 {
            return Err(Error::Gateway(format!("HTTP status {http_status}")));
        }
        HttpChargeResponse::parse(body)
    }
}

/// One HTTP `POST` to the processor, built by [`HttpGatewayConfig::build_request`]. Debug
/// hides the body and the key; the body is wiped when dropped.
pub struct HttpCall {
    /// Where to POST.
    pub url: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// JSON body ([`HttpChargeRequest`]).
    pub body: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k == "Authorization" {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("HttpCall")
            .field("url", &self.url)
            .field("headers", &headers)
            .field(
                "body",
                &format_args!("<{} bytes redacted>", self.body.len()),
            )
            .finish()
    }
}

/// The JSON body of a charge request to an HTTP processor.
///
/// ```json
/// {"idempotency_key":"call-42:pay:1","amount_minor":2500,"currency":"USD",
///  "description":"Booking deposit",
///  "card":{"number":"4111111111111111","exp_month":12,"exp_year":2030,"cvc":"123"}}
/// ```
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct HttpChargeRequest {
    /// Same as the `Idempotency-Key` header.
    pub idempotency_key: String,
    /// Minor units.
    pub amount_minor: u64,
    /// ISO 4217.
    pub currency: String,
    /// Statement text.
    pub description: String,
    /// The card.
    pub card: HttpCard,
}

/// Card fields of [`HttpChargeRequest`]. Debug is redacted; wiped on drop.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct HttpCard {
    /// Full number.
    pub number: String,
    /// 1-12.
    pub exp_month: u8,
    /// Four digits.
    pub exp_year: u16,
    /// Security code.
    pub cvc: String,
}

impl fmt::Debug for HttpChargeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChargeRequest")
            .field("idempotency_key", &self.idempotency_key)
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .field("card", &"<redacted>")
            .finish()
    }
}

impl HttpChargeRequest {
    /// The body for a charge.
    pub fn from_request(req: &ChargeRequest) -> HttpChargeRequest {
        HttpChargeRequest {
            idempotency_key: req.idempotency_key.0.clone(),
            amount_minor: req.amount_minor,
            currency: req.currency.clone(),
            description: req.description.clone(),
            card: HttpCard {
                number: req.card.number().to_string(),
                exp_month: req.card.exp_month(),
                exp_year: req.card.exp_year(),
                cvc: req.card.cvv().to_string(),
            },
        }
    }

    /// Serialized body in a buffer that is wiped when dropped.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        // Serializing plain strings and integers into a Vec cannot fail.
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// The JSON answer of an HTTP processor.
///
/// ```json
/// {"status":"approved","token":"ch_3Nx...","brand":"visa","last4":"1111"}
/// {"status":"declined","token":"ch_3Ny...","brand":"visa","last4":"0002","decline_reason":"card_declined"}
/// {"status":"insufficient_funds","token":"ch_3Nz...","brand":"visa","last4":"9995"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpChargeResponse {
    /// `approved`, `declined` or `insufficient_funds`.
    pub status: String,
    /// Processor reference.
    pub token: String,
    /// Brand as the processor names it (`visa`, `mastercard`, `amex`, `discover`, other).
    #[serde(default)]
    pub brand: Option<String>,
    /// Last four digits.
    pub last4: String,
    /// Reason code when declined.
    #[serde(default)]
    pub decline_reason: Option<String>,
}

impl HttpChargeResponse {
    /// Parses a response body into a result; unknown statuses are gateway errors.
    pub fn parse(body: &[u8]) -> Result<ChargeResult, Error> {
        let r: HttpChargeResponse = serde_json::from_slice(body)
            .map_err(|e| Error::Gateway(format!("bad response body: {e}")))?;
        r.into_result()
    }

    /// Converts to the gateway-neutral result.
    pub fn into_result(self) -> Result<ChargeResult, Error> {
        let status = match self.status.as_str() {
            "approved" => ChargeStatus::Approved,
            "declined" => ChargeStatus::Declined(
                self.decline_reason
                    .unwrap_or_else(|| "declined".to_string()),
            ),
            "insufficient_funds" => ChargeStatus::InsufficientFunds,
            other => return Err(Error::Gateway(format!("unknown charge status '{other}'"))),
        };
        if self.last4.len() != 4 || !self.last4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Gateway("last4 is not four digits".to_string()));
        }
        let brand = match self.brand.as_deref() {
            Some("visa") => CardBrand::Visa,
            Some("mastercard") => CardBrand::Mastercard,
            Some("amex") => CardBrand::Amex,
            Some("discover") => CardBrand::Discover,
            _ => CardBrand::Other,
        };
        Ok(ChargeResult {
            token: self.token,
            brand,
            last_four: self.last4,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str, number: &str, amount: u64) -> ChargeRequest {
        let cvv = if number.starts_with('3') {
            "1234"
        } else {
            "123"
        };
        ChargeRequest {
            idempotency_key: IdempotencyKey(key.to_string()),
            amount_minor: amount,
            currency: "USD".to_string(),
            description: "test".to_string(),
            card: CardData::new(number, 2030, 12, cvv).expect("valid test card"),
        }
    }

    #[test]
    fn test_cards_give_documented_results() {
        let mut g = SandboxGateway::new();
        let r = g.charge(&req("a", "4111111111111111", 100)).unwrap();
        assert_eq!(
            (r.status, r.brand, r.last_four.as_str()),
            (ChargeStatus::Approved, CardBrand::Visa, "1111")
        );
        let r = g.charge(&req("b", "4000000000000002", 100)).unwrap();
        assert_eq!(r.status, ChargeStatus::Declined("card_declined".into()));
        let r = g.charge(&req("c", "4000000000009995", 100)).unwrap();
        assert_eq!(r.status, ChargeStatus::InsufficientFunds);
        let r = g.charge(&req("d", "378282246310005", 100)).unwrap();
        assert_eq!(
            (r.status, r.brand),
            (ChargeStatus::Approved, CardBrand::Amex)
        );
        assert_eq!(g.charges(), 4);
        assert_eq!(g.approved_total_minor(), 200);
    }

    #[test]
    fn same_key_charges_once_and_returns_same_result() {
        let mut g = SandboxGateway::new();
        let first = g.charge(&req("k1", "4111111111111111", 2500)).unwrap();
        let again = g.charge(&req("k1", "4111111111111111", 2500)).unwrap();
        assert_eq!(first, again);
        assert_eq!(g.charges(), 1);
        assert_eq!(g.approved_total_minor(), 2500);
        // Reusing the key for something else is refused, not charged.
        assert!(g.charge(&req("k1", "4111111111111111", 9999)).is_err());
        assert_eq!(g.charges(), 1);
        // A declined key stays declined on retry, one attempt counted.
        let d1 = g.charge(&req("k2", "4000000000000002", 2500)).unwrap();
        let d2 = g.charge(&req("k2", "4000000000000002", 2500)).unwrap();
        assert_eq!(d1, d2);
        assert_eq!(g.charges(), 2);
    }

    #[test]
    fn flaky_card_fails_once_then_succeeds_with_same_key() {
        let mut g = SandboxGateway::new();
        assert!(g.charge(&req("f", "4000000000000119", 100)).is_err());
        assert_eq!(g.charges(), 0);
        let r = g.charge(&req("f", "4000000000000119", 100)).unwrap();
        assert_eq!(r.status, ChargeStatus::Approved);
        assert_eq!(g.charges(), 1);
    }

    #[test]
    fn card_data_is_redacted_and_validated() {
        let c = CardData::new("4111111111111111", 2030, 12, "123").unwrap();
        for s in [format!("{c:?}"), format!("{c}")] {
            assert!(!s.contains("4111111111111111") && !s.contains("123"), "{s}");
        }
        let r = req("x", "4111111111111111", 1);
        assert!(!format!("{r:?}").contains("4111111111111111"));
        assert!(CardData::new("4111111111111112", 2030, 12, "123").is_none());
        assert!(CardData::new("4111111111111111", 2030, 13, "123").is_none());
        assert!(CardData::new("4111111111111111", 2030, 12, "12").is_none());
        assert!(CardData::new("378282246310005", 2030, 12, "123").is_none());
    }

    #[test]
    fn http_json_round_trip() {
        let body = HttpChargeRequest::from_request(&req("k", "4111111111111111", 2500));
        assert!(!format!("{body:?}").contains("4111111111111111"));
        let json: serde_json::Value = serde_json::from_slice(&body.to_json()).unwrap();
        assert_eq!(json["card"]["number"], "4111111111111111");
        assert_eq!(json["amount_minor"], 2500);
        assert_eq!(json["idempotency_key"], "k");
        let ok = HttpChargeResponse::parse(
            br#"{"status":"approved","token":"ch_1","brand":"visa","last4":"1111"}"#,
        )
        .unwrap();
        assert_eq!(ok.status, ChargeStatus::Approved);
        let d = HttpChargeResponse::parse(
            br#"{"status":"declined","token":"ch_2","brand":"visa","last4":"0002","decline_reason":"do_not_honor"}"#,
        )
        .unwrap();
        assert_eq!(d.status, ChargeStatus::Declined("do_not_honor".into()));
        assert!(
            HttpChargeResponse::parse(br#"{"status":"maybe","token":"x","last4":"1111"}"#).is_err()
        );
        assert!(HttpChargeResponse::parse(b"not json").is_err());
        let cfg = HttpGatewayConfig {
            url: "https://x".into(),
            api_key: "sk_live_secret".into(),
        };
        assert!(!format!("{cfg:?}").contains("sk_live_secret"));
    }

    #[test]
    fn http_call_is_built_and_answers_parsed() {
        let cfg = HttpGatewayConfig {
            url: "https://pay.example/v1/charges".into(),
            api_key: "sk_live_secret".into(),
        };
        let call = cfg.build_request(&req("key-1", "4111111111111111", 700));
        let dbg = format!("{call:?}");
        assert!(
            !dbg.contains("sk_live_secret") && !dbg.contains("4111111111111111"),
            "{dbg}"
        );
        assert!(
            call.headers
                .contains(&("Idempotency-Key".to_string(), "key-1".to_string()))
        );
        assert!(call.headers.contains(&(
            "Authorization".to_string(),
            "Bearer sk_live_secret".to_string()
        )));
        let body: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(body["amount_minor"], 700);
        assert_eq!(body["card"]["exp_year"], 2030);
        assert!(cfg.parse_response(502, b"").is_err());
        let r = cfg
            .parse_response(
                200,
                br#"{"status":"insufficient_funds","token":"ch_9","last4":"9995"}"#,
            )
            .unwrap();
        assert_eq!(r.status, ChargeStatus::InsufficientFunds);
    }
}
