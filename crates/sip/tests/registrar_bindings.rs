//! Registrar bindings with simulated time: two phones register one extension, the
//! higher-q contact is tried first, bindings lapse at their expiry, a refresh extends one,
//! `expires=0` and `Contact: *` remove them, too-short intervals get 423 with Min-Expires,
//! long ones are capped, an out-of-order CSeq gets 500, and a phone that re-registers with the
//! same `+sip.instance` from a new address replaces its old binding instead of adding one.

use hotline_sip::registrar::{Limits, Registrar, aor};
use hotline_sip::{Message, Method, StatusCode, Transport};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn register(call_id: &str, seq: u32, contacts: &[&str], expires: Option<u32>) -> Message<'static> {
    let mut m = Message::request(Method::Register, "sip:hotline.example.com");
    m.push_header("Via", "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr1");
    m.push_header("From", "<sip:1001@hotline.example.com>;tag=f");
    m.push_header("To", "<sip:1001@Hotline.Example.com>");
    m.push_header("Call-ID", call_id.to_string());
    m.push_header("CSeq", format!("{seq} REGISTER"));
    for c in contacts {
        m.push_header("Contact", c.to_string());
    }
    if let Some(e) = expires {
        m.push_header("Expires", e.to_string());
    }
    Message::parse(&m.to_bytes()).unwrap().into_owned()
}

fn src() -> SocketAddr {
    "10.0.0.5:5060".parse().unwrap()
}

#[test]
fn bindings_live_expire_refresh_and_go() {
    let t0 = Instant::now();
    let mut r = Registrar::new(Limits::default());
    let key = aor("sip:1001@hotline.example.com").unwrap();

    let resp = r.register(
        t0,
        &register("ph1", 1, &["<sip:1001@10.0.0.5:5060>;q=0.5"], Some(600)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(resp.status(), Some(StatusCode::OK));
    let resp = r.register(
        t0,
        &register("ph2", 1, &["<sip:1001@10.0.0.6:5062>;expires=120"], None),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(
        resp.contacts().unwrap().len(),
        2,
        "the 200 lists every binding"
    );

    let live = r.lookup(t0, &key);
    assert_eq!(
        live.iter().map(|b| b.uri.as_str()).collect::<Vec<_>>(),
        vec!["sip:1001@10.0.0.6:5062", "sip:1001@10.0.0.5:5060"],
        "q=1.0 before q=0.5"
    );
    assert_eq!(r.next_expiry(), Some(t0 + Duration::from_secs(120)));

    // The second phone lapses at 120 s.
    assert!(r.expire(t0 + Duration::from_secs(121)).is_empty());
    assert_eq!(r.lookup(t0 + Duration::from_secs(121), &key).len(), 1);

    // The first refreshes at 500 s for another 600 s.
    r.register(
        t0 + Duration::from_secs(500),
        &register("ph1", 2, &["<sip:1001@10.0.0.5:5060>"], Some(600)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(r.lookup(t0 + Duration::from_secs(1000), &key).len(), 1);
    assert_eq!(r.expire(t0 + Duration::from_secs(1101)), vec![key.clone()]);
    assert!(r.is_empty());
}

#[test]
fn remove_with_zero_and_star() {
    let t0 = Instant::now();
    let mut r = Registrar::new(Limits::default());
    let key = aor("sip:1001@hotline.example.com").unwrap();
    r.register(
        t0,
        &register(
            "ph1",
            1,
            &["<sip:1001@10.0.0.5>", "<sip:1001@10.0.0.7>"],
            Some(600),
        ),
        src(),
        Transport::Udp,
        "t",
    );
    let resp = r.register(
        t0,
        &register("ph1", 2, &["<sip:1001@10.0.0.5>;expires=0"], None),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(resp.contacts().unwrap().len(), 1);
    let bad = r.register(
        t0,
        &register("ph1", 3, &["*"], Some(600)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(
        bad.status(),
        Some(StatusCode::BAD_REQUEST),
        "* needs Expires: 0"
    );
    let ok = r.register(
        t0,
        &register("ph1", 4, &["*"], Some(0)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(ok.status(), Some(StatusCode::OK));
    assert!(r.lookup(t0, &key).is_empty());
}

#[test]
fn limits_and_ordering() {
    let t0 = Instant::now();
    let mut r = Registrar::new(Limits {
        min_expires: 60,
        default_expires: 3600,
        max_expires: 7200,
    });
    let short = r.register(
        t0,
        &register("ph1", 1, &["<sip:1001@10.0.0.5>"], Some(30)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(short.status(), Some(StatusCode::INTERVAL_TOO_BRIEF));
    assert_eq!(short.header("Min-Expires"), Some("60"));
    let long = r.register(
        t0,
        &register("ph1", 2, &["<sip:1001@10.0.0.5>"], Some(99999)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(long.contacts().unwrap()[0].expires(), Some(7200));
    let stale = r.register(
        t0,
        &register("ph1", 2, &["<sip:1001@10.0.0.5>"], Some(600)),
        src(),
        Transport::Udp,
        "t",
    );
    assert_eq!(
        stale.status(),
        Some(StatusCode::SERVER_INTERNAL_ERROR),
        "CSeq must grow within a Call-ID"
    );
}

#[test]
fn same_instance_from_new_address_replaces() {
    let t0 = Instant::now();
    let mut r = Registrar::new(Limits::default());
    let key = aor("sip:1001@hotline.example.com").unwrap();
    let inst = "+sip.instance=\"<urn:uuid:0000-1111>\"";
    r.register(
        t0,
        &register(
            "ph1",
            1,
            &[&format!("<sip:1001@10.0.0.5:5060>;{inst}")],
            Some(600),
        ),
        src(),
        Transport::Udp,
        "t",
    );
    r.register(
        t0,
        &register(
            "ph1-reboot",
            1,
            &[&format!("<sip:1001@10.0.0.9:5060>;{inst}")],
            Some(600),
        ),
        src(),
        Transport::Tcp,
        "t",
    );
    let live = r.lookup(t0, &key);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].uri, "sip:1001@10.0.0.9:5060");
    assert_eq!(live[0].instance.as_deref(), Some("urn:uuid:0000-1111"));
    assert_eq!(live[0].transport, Transport::Tcp);
}
