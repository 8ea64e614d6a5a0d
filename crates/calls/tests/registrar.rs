//! The registrar and its digest gate (crates/calls/src/registrar.rs): challenges, bindings,
//! expiry, lock-outs that never hit a trunk or a proven phone, replay refusal.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hotline_calls::config::{ExtensionConfig, SipConfig, TrunkConfig};
use hotline_calls::registrar::*;
use hotline_sip::Method;
use hotline_sip::auth::{Challenge, authorize};
use hotline_sip::{Message, StatusCode, Transport};

fn reg() -> (Registrar, Instant) {
    let now = Instant::now();
    let cfg = SipConfig {
        auth_max_failures: 3,
        auth_algorithms: vec!["SHA-256".into(), "MD5".into()],
        ..SipConfig::default()
    };
    let exts = vec![ExtensionConfig {
        number: "1001".into(),
        password: "secret1001".into(),
        name: "Alice".into(),
        auto_answer: false,
        remote_answer: Default::default(),
    }];
    (Registrar::new(&cfg, &exts, &[], b"k", now), now)
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
    // Both algorithms offered (MD5 enabled in this test's config), SHA-256 first.
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
    assert!(r.source_banned(now, src.ip()));
    // Even the right password is refused while locked out...
    let ch = r.register(now, &m, other, Transport::Udp);
    let right = answer(&m, &ch, "1001", "secret1001", 10);
    let resp = r.register(now, &right, src, Transport::Udp);
    assert_eq!(resp.status(), Some(StatusCode::FORBIDDEN));
    // ...but another source is not affected, and the lock-out ends.
    assert!(!r.source_banned(now, other.ip()));
    let later = now + Duration::from_secs(301);
    assert!(!r.source_banned(later, src.ip()));
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
            remote_answer: Default::default(),
        },
        ExtensionConfig {
            number: "1002".into(),
            password: "pw-1002".into(),
            name: String::new(),
            auto_answer: false,
            remote_answer: Default::default(),
        },
    ];
    let mut r = Registrar::new(&SipConfig::default(), &exts, &[], b"k", now);
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

/// A registrar with the default rules (SHA-256 only, 5 per source, 10 per extension), the
/// extension 1001 and a trunk at 192.0.2.10.
fn defaults() -> (Registrar, Instant) {
    let now = Instant::now();
    let exts = vec![ExtensionConfig {
        number: "1001".into(),
        password: "secret1001".into(),
        name: String::new(),
        auto_answer: false,
        remote_answer: Default::default(),
    }];
    let trunks: Vec<TrunkConfig> =
        vec![toml::from_str("name = \"carrier\"\naddress = \"192.0.2.10:5060\"").unwrap()];
    (
        Registrar::new(&SipConfig::default(), &exts, &trunks, b"k", now),
        now,
    )
}

/// One REGISTER round from `src` as `user` with `pw`: challenge, answer. The answer's
/// response.
fn attempt(
    r: &mut Registrar,
    now: Instant,
    src: SocketAddr,
    user: &str,
    pw: &str,
    seq: u32,
) -> Message<'static> {
    let m = register_msg("1001", "sip:a@10.0.0.2", None);
    let ch = r.register(now, &m, src, Transport::Udp);
    if ch.status() != Some(StatusCode::UNAUTHORIZED) {
        return ch;
    }
    r.register(now, &answer(&m, &ch, user, pw, seq), src, Transport::Udp)
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::from([10, 1, 0, i]), 5060)
}

#[test]
fn unknown_user_gets_the_same_challenge_and_counts() {
    let (mut r, now) = defaults();
    let wrong = attempt(&mut r, now, addr(1), "1001", "guess", 2);
    let unknown = attempt(&mut r, now, addr(2), "7777", "guess", 2);
    assert_eq!(wrong.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(unknown.status(), wrong.status());
    let shape = |m: &Message<'_>| {
        let p = hotline_sip::AuthParams::parse(m.header("WWW-Authenticate").unwrap()).unwrap();
        let mut names: Vec<&str> = p.params.iter().map(|(n, _)| *n).collect();
        names.sort();
        (
            p.get("realm").map(str::to_string),
            p.get("algorithm").map(str::to_string),
            names.join(","),
        )
    };
    assert_eq!(shape(&unknown), shape(&wrong));
    for i in 0..4 {
        attempt(&mut r, now, addr(2), "7777", "guess", 3 + i);
    }
    assert!(
        r.source_banned(now, addr(2).ip()),
        "5 unknown-user failures ban the source"
    );
    assert_eq!(r.metrics().failures.load(Ordering::Relaxed), 6);
    assert_eq!(r.metrics().source_bans.load(Ordering::Relaxed), 1);
    assert_eq!(r.metrics().banned_sources.load(Ordering::Relaxed), 1);
}

#[test]
fn distributed_guessing_closes_the_extension_but_not_to_the_real_phone() {
    let (mut r, now) = defaults();
    let phone = addr(200);
    assert_eq!(
        attempt(&mut r, now, phone, "1001", "secret1001", 2).status(),
        Some(StatusCode::OK)
    );
    // 20 addresses, 4 guesses each: no source reaches its own limit of 5.
    for a in 1..=20u8 {
        for g in 0..4 {
            let resp = attempt(&mut r, now, addr(a), "1001", "guess", 2 + g);
            assert_eq!(resp.status(), Some(StatusCode::UNAUTHORIZED));
        }
        assert!(!r.source_banned(now, addr(a).ip()));
    }
    assert_eq!(
        r.metrics().extension_bans.load(Ordering::Relaxed),
        1,
        "banned once"
    );
    // A 21st address with the right password is refused, and it looks like a wrong one.
    let late = attempt(&mut r, now, addr(21), "1001", "secret1001", 2);
    assert_eq!(late.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(r.contacts("1001", now).len() == 1);
    // The real phone keeps registering.
    let later = now + Duration::from_secs(30);
    assert_eq!(
        attempt(&mut r, later, phone, "1001", "secret1001", 9).status(),
        Some(StatusCode::OK)
    );
    // After the lock-out anyone with the password gets in again.
    let after = now + Duration::from_secs(301);
    assert_eq!(
        attempt(&mut r, after, addr(21), "1001", "secret1001", 3).status(),
        Some(StatusCode::OK)
    );
}

#[test]
fn spoofed_failures_never_ban_a_trunk_or_a_proven_phone() {
    let (mut r, now) = defaults();
    let trunk: SocketAddr = "192.0.2.10:5060".parse().unwrap();
    for g in 0..5 {
        attempt(&mut r, now, trunk, "1001", "guess", 2 + g);
    }
    assert!(
        !r.source_banned(now, trunk.ip()),
        "a trunk's address is never banned"
    );
    let phone = addr(200);
    assert_eq!(
        attempt(&mut r, now, phone, "1001", "secret1001", 2).status(),
        Some(StatusCode::OK)
    );
    for g in 0..5 {
        attempt(&mut r, now, phone, "1001", "guess", 3 + g);
    }
    assert!(
        !r.source_banned(now, phone.ip()),
        "proven as 1001: still served"
    );
    assert_eq!(
        attempt(&mut r, now, phone, "1001", "secret1001", 10).status(),
        Some(StatusCode::OK)
    );
    // An unproven source is banned by the same five failures.
    for g in 0..5 {
        attempt(&mut r, now, addr(9), "1001", "guess", 2 + g);
    }
    assert!(r.source_banned(now, addr(9).ip()));
}

#[test]
fn replayed_register_does_not_bind_and_is_not_a_failure() {
    let (mut r, now) = defaults();
    let m = register_msg("1001", "sip:1001@10.0.0.2:5062", Some(300));
    let src: SocketAddr = SRC.parse().unwrap();
    let ch = r.register(now, &m, src, Transport::Udp);
    let signed = answer(&m, &ch, "1001", "secret1001", 2);
    assert_eq!(
        r.register(now, &signed, src, Transport::Udp).status(),
        Some(StatusCode::OK)
    );
    // The attacker replays the captured REGISTER with its own Contact... the signature
    // does not cover Contact, so only the nonce count and the source stop it.
    let mut evil = signed.clone();
    evil.set_header("Contact", "<sip:1001@203.0.113.9:5060>");
    evil.set_header("CSeq", "3 REGISTER");
    let same_src = r.register(now, &evil, src, Transport::Udp);
    assert_eq!(same_src.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(
        Challenge::pick(&same_src).unwrap().stale,
        "replay: re-challenged"
    );
    let other: SocketAddr = "203.0.113.9:5060".parse().unwrap();
    let from_elsewhere = r.register(now, &evil, other, Transport::Udp);
    assert_eq!(from_elsewhere.status(), Some(StatusCode::UNAUTHORIZED));
    assert!(
        r.contacts("1001", now)
            .iter()
            .all(|b| !b.uri.contains("203.0.113.9")),
        "the attacker's contact is not bound"
    );
    assert_eq!(r.metrics().replays.load(Ordering::Relaxed), 1);
}
