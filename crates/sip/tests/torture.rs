//! RFC 4475 torture messages: every valid message parses and passes the UAS checks, every
//! invalid one is rejected (parse error, answered with a stateless 400 by the endpoint, or a
//! specific status) exactly as the RFC section says, and nothing panics.

use hotline_sip::validate::{validate_request, validate_response};
use hotline_sip::{Message, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Well-formed; a UAS hands it to the application.
    Valid,
    /// Unparseable: the endpoint answers a stateless 400 (request) or drops it (response).
    Unparseable,
    /// Parses, but the UAS must answer with this status.
    Status(u16),
}
use Expect::*;

const CASES: &[(&str, &str, Expect)] = &[
    ("3.1.1.1", "wsinv", Valid),
    ("3.1.1.2", "intmeth", Valid), // unknown method: the application answers 501
    ("3.1.1.3", "esc01", Valid),
    ("3.1.1.4", "escnull", Valid),
    ("3.1.1.5", "esc02", Valid),
    ("3.1.1.6", "lwsdisp", Valid),
    ("3.1.1.7", "longreq", Valid),
    ("3.1.1.8", "dblreq", Valid), // trailing octets after Content-Length are ignored
    ("3.1.1.9", "semiuri", Valid),
    ("3.1.1.10", "transports", Valid),
    ("3.1.1.11", "mpart01", Valid),
    ("3.1.1.12", "unreason", Valid),
    ("3.1.1.13", "noreason", Valid),
    ("3.1.2.1", "badinv01", Status(400)),
    ("3.1.2.2", "clerr", Unparseable),
    ("3.1.2.3", "ncl", Unparseable),
    ("3.1.2.4", "scalar02", Status(400)),
    ("3.1.2.5", "scalarlg", Status(400)), // a response: dropped
    ("3.1.2.6", "quotbal", Status(400)),
    ("3.1.2.7", "ltgtruri", Unparseable),
    ("3.1.2.8", "lwsruri", Unparseable),
    ("3.1.2.9", "lwsstart", Unparseable),
    ("3.1.2.10", "trws", Unparseable),
    ("3.1.2.11", "escruri", Status(400)),
    ("3.1.2.12", "baddate", Status(400)),
    ("3.1.2.13", "regbadct", Status(400)),
    ("3.1.2.14", "badaspec", Status(400)),
    ("3.1.2.15", "baddn", Status(400)),
    ("3.1.2.16", "badvers", Status(505)),
    ("3.1.2.17", "mismatch01", Status(400)),
    ("3.1.2.18", "mismatch02", Status(400)),
    ("3.1.2.19", "bigcode", Unparseable),
    ("3.1.1 (badbranch)", "badbranch", Valid),
    ("3.3.1", "insuf", Status(400)),
    ("3.3.2", "unkscm", Status(416)),
    ("3.3.3", "novelsc", Status(416)),
    ("3.3.4", "unksm2", Valid),
    ("3.3.5", "bext01", Status(420)),
    ("3.3.6", "invut", Status(415)),
    ("3.3.7", "regaut01", Valid), // unknown auth scheme: the registrar challenges (401)
    ("3.3.8", "multi01", Status(400)),
    ("3.3.9", "mcl01", Unparseable),
    ("3.3.10", "bcast", Valid),
    ("3.3.11", "zeromf", Valid), // Max-Forwards 0 at a UAS: answered normally
    ("3.3.12", "cparam01", Valid),
    ("3.3.13", "cparam02", Valid),
    ("3.3.14", "regescrt", Valid),
    ("3.3.15", "sdp01", Status(406)),
    ("3.4.1", "inv2543", Valid),
];

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/torture/{name}.sip", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn classify(bytes: &[u8]) -> Expect {
    match Message::parse(bytes) {
        Err(_) => Unparseable,
        Ok(m) => {
            let r = if m.is_request() {
                validate_request(&m, &["replaces", "timer"])
            } else {
                validate_response(&m)
            };
            match r {
                Ok(()) => Valid,
                Err(rej) => Status(rej.status.0),
            }
        }
    }
}

#[test]
fn every_torture_message_gets_the_rfc_verdict() {
    let mut failures = Vec::new();
    for (section, name, expect) in CASES {
        let got = classify(&load(name));
        if got != *expect {
            failures.push(format!(
                "RFC 4475 {section} {name}: expected {expect:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_fixture_file_is_listed() {
    let dir = format!("{}/tests/torture", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".sip") {
            assert!(
                CASES.iter().any(|c| c.1 == stem),
                "{stem} has no expectation"
            );
        }
    }
}

#[test]
fn valid_messages_round_trip_through_the_printer() {
    for (_, name, expect) in CASES {
        if *expect != Valid {
            continue;
        }
        let bytes = load(name);
        let m = Message::parse(&bytes).unwrap();
        let printed = m.to_bytes();
        let again = Message::parse(&printed)
            .unwrap_or_else(|e| panic!("{name}: reprinted message fails: {e}"));
        assert_eq!(again.start, m.start, "{name}");
        assert_eq!(again.body, m.body, "{name}");
        assert_eq!(again.call_id().ok(), m.call_id().ok(), "{name}");
        assert_eq!(again.cseq().ok(), m.cseq().ok(), "{name}");
    }
}

#[test]
fn details_the_rfc_calls_out() {
    let wsinv = load("wsinv");
    let m = Message::parse(&wsinv).unwrap();
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.cseq().unwrap().seq, 9);
    assert_eq!(m.vias().unwrap().len(), 3);
    assert_eq!(m.vias().unwrap()[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(m.vias().unwrap()[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(m.to_header().unwrap().tag(), Some("1918181833n"));
    assert_eq!(
        m.from_header().unwrap().display_name().as_deref(),
        Some("J Rosenberg \\\"")
    );
    assert_eq!(m.contacts().unwrap()[0].expires(), None);
    assert_eq!(m.header("Subject"), Some(""));
    assert_eq!(
        m.header("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );

    let dbl = load("dblreq");
    let m = Message::parse(&dbl).unwrap();
    assert!(m.body.is_empty());

    let noreason = load("noreason");
    assert_eq!(
        Message::parse(&noreason).unwrap().status(),
        Some(StatusCode::TRYING)
    );

    let esc02 = load("esc02");
    let m = Message::parse(&esc02).unwrap();
    assert_eq!(m.method().unwrap().as_str(), "RE%47IST%45R");
    assert_eq!(m.count("Contact"), 2, "C%6Fntact is a different header");
}

/// The same verdicts through the endpoint, as the switch will see them: a valid request
/// becomes an `Event::Request` (or an automatic 501/405 for a method the application does not handle), everything else
/// is answered with the expected status on the wire, responses are never answered.
#[test]
fn endpoint_answers_each_torture_request_as_the_rfc_says() {
    use hotline_sip::{Config, Endpoint, Event, Transport};
    let start = std::time::Instant::now();
    let src: std::net::SocketAddr = "192.0.2.99:5060".parse().unwrap();
    for (section, name, expect) in CASES {
        let bytes = load(name);
        let mut ep = Endpoint::new(Config::default());
        ep.handle_datagram(start, src, Transport::Udp, &bytes);
        let sent: Vec<Message<'static>> = std::iter::from_fn(|| ep.poll_transmit())
            .map(|t| Message::parse(&t.payload).unwrap().into_owned())
            .collect();
        let events: Vec<Event> = std::iter::from_fn(|| ep.poll_event()).collect();
        let is_response = bytes.starts_with(b"SIP/");
        let codes: Vec<u16> = sent
            .iter()
            .filter_map(|m| m.status())
            .map(|c| c.0)
            .filter(|c| *c != 100)
            .collect();
        match (expect, is_response) {
            (_, true) => assert!(
                sent.is_empty(),
                "{section} {name}: a response is never answered"
            ),
            (Valid, false) => {
                let reported = events.iter().any(|e| matches!(e, Event::Request { .. }));
                assert!(
                    reported || codes == [501] || codes == [405],
                    "{section} {name}: got {codes:?} {events:?}"
                );
            }
            (Unparseable, false) => assert_eq!(codes, [400], "{section} {name}"),
            (Status(s), false) => assert_eq!(codes, [*s], "{section} {name}"),
        }
    }
}
