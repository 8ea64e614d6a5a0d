//! A registrar challenges a REGISTER with digest auth (SHA-256 preferred, MD5 offered too);
//! the phone answers and is registered. When it re-registers after the nonce lifetime with
//! the old nonce, the registrar answers 401 with `stale=true`, the phone recomputes with the
//! new nonce without a new password, and is registered again. A wrong password and an unknown
//! auth scheme (RFC 4475 `regaut01`) get a plain new challenge, never `stale`. (MD5 is enabled
//! here explicitly: the server offers SHA-256 only by default.)

mod common;
use common::*;
use hotline_sip::auth::{Algorithm, Challenge, DigestServer, Verdict, authorize, username};
use hotline_sip::{Message, Method, StatusCode, Transport};
use std::time::Duration;

const PASSWORD: &str = "s3cret";

fn register(seq: u32, auth: Option<String>) -> Message<'static> {
    let mut m = Message::request(Method::Register, "sip:10.0.0.2");
    m.push_header("From", "<sip:1001@10.0.0.2>;tag=ph1");
    m.push_header("To", "<sip:1001@10.0.0.2>");
    m.push_header("Call-ID", "reg-1@10.0.0.1");
    m.push_header("CSeq", format!("{seq} REGISTER"));
    m.push_header("Contact", "<sip:1001@10.0.0.1:5060>;expires=600");
    if let Some(a) = auth {
        m.push_header("Authorization", a);
    }
    m
}

/// The registrar's application logic for one queued REGISTER.
fn registrar(sim: &mut Sim, server: &mut DigestServer) -> Option<Verdict> {
    let (tsx, req) = take_request(sim.b())?;
    let now = sim.now;
    let verdict = match req.authorization(false) {
        None => None,
        Some(Err(_)) => Some(Verdict::Failed("unparseable")),
        Some(Ok(creds)) => {
            let pw = if username(&creds) == Some("1001") {
                PASSWORD
            } else {
                ""
            };
            Some(server.verify(now, &req, &creds, pw, addr(A).ip()))
        }
    };
    let resp = match &verdict {
        Some(Verdict::Ok) => req
            .make_response(StatusCode::OK, Some("reg"))
            .with_header("Contact", "<sip:1001@10.0.0.1:5060>;expires=600"),
        Some(Verdict::Stale) => server.challenge(now, &req, "reg", true, false, addr(A).ip()),
        _ => server.challenge(now, &req, "reg", false, false, addr(A).ip()),
    };
    sim.b().ep.respond(now, tsx, resp).unwrap();
    sim.flush();
    verdict
}

fn send(sim: &mut Sim, m: Message<'static>) {
    let now = sim.now;
    sim.a()
        .ep
        .send_request(now, m, addr(B), Transport::Udp)
        .unwrap();
    sim.flush();
}

#[test]
fn challenge_then_stale_rechallenge() {
    let mut sim = Sim::new();
    let mut server = DigestServer::new(
        "10.0.0.2",
        b"registrar-secret",
        sim.start,
        Duration::from_secs(60),
    );
    server.algorithms = vec![Algorithm::Sha256, Algorithm::Md5];

    send(&mut sim, register(1, None));
    assert_eq!(registrar(&mut sim, &mut server), None);
    let (_, r401, _) = take_response(sim.a()).unwrap();
    assert_eq!(r401.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(r401.challenges(false).unwrap().len(), 2, "SHA-256 and MD5");
    let ch = Challenge::pick(&r401).unwrap();
    assert_eq!(ch.algorithm, Algorithm::Sha256);
    assert!(!ch.stale);

    send(
        &mut sim,
        register(
            2,
            Some(authorize(
                &ch,
                &Method::Register,
                "sip:10.0.0.2",
                "1001",
                PASSWORD,
                "cn1",
                1,
            )),
        ),
    );
    assert_eq!(registrar(&mut sim, &mut server), Some(Verdict::Ok));
    assert_eq!(
        take_response(sim.a()).unwrap().1.status(),
        Some(StatusCode::OK)
    );

    // Two minutes later the phone refreshes with the nonce it still has.
    sim.run_until(Duration::from_secs(120));
    send(
        &mut sim,
        register(
            3,
            Some(authorize(
                &ch,
                &Method::Register,
                "sip:10.0.0.2",
                "1001",
                PASSWORD,
                "cn2",
                2,
            )),
        ),
    );
    assert_eq!(registrar(&mut sim, &mut server), Some(Verdict::Stale));
    let (_, stale, _) = take_response(sim.a()).unwrap();
    assert_eq!(stale.status(), Some(StatusCode::UNAUTHORIZED));
    let ch2 = Challenge::pick(&stale).unwrap();
    assert!(ch2.stale, "stale=true: same password, new nonce");
    assert_ne!(ch2.nonce, ch.nonce);

    send(
        &mut sim,
        register(
            4,
            Some(authorize(
                &ch2,
                &Method::Register,
                "sip:10.0.0.2",
                "1001",
                PASSWORD,
                "cn3",
                1,
            )),
        ),
    );
    assert_eq!(registrar(&mut sim, &mut server), Some(Verdict::Ok));
    assert_eq!(
        take_response(sim.a()).unwrap().1.status(),
        Some(StatusCode::OK)
    );
}

#[test]
fn md5_only_phone_and_wrong_password() {
    let mut sim = Sim::new();
    let mut server = DigestServer::new("10.0.0.2", b"k", sim.start, Duration::from_secs(60));
    server.algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
    send(&mut sim, register(1, None));
    registrar(&mut sim, &mut server);
    let (_, r401, _) = take_response(sim.a()).unwrap();
    let md5 = r401
        .challenges(false)
        .unwrap()
        .iter()
        .filter_map(|p| Challenge::from_params(p).ok())
        .find(|c| c.algorithm == Algorithm::Md5)
        .unwrap();

    send(
        &mut sim,
        register(
            2,
            Some(authorize(
                &md5,
                &Method::Register,
                "sip:10.0.0.2",
                "1001",
                "wrong",
                "x",
                1,
            )),
        ),
    );
    assert_eq!(
        registrar(&mut sim, &mut server),
        Some(Verdict::Failed("wrong response"))
    );
    let (_, again, _) = take_response(sim.a()).unwrap();
    assert!(
        !Challenge::pick(&again).unwrap().stale,
        "a wrong password is never stale"
    );

    send(
        &mut sim,
        register(
            3,
            Some(authorize(
                &md5,
                &Method::Register,
                "sip:10.0.0.2",
                "1001",
                PASSWORD,
                "x",
                2,
            )),
        ),
    );
    assert_eq!(registrar(&mut sim, &mut server), Some(Verdict::Ok));
}

#[test]
fn authorize_request_answers_401_and_407() {
    let mut sim = Sim::new();
    let mut server = DigestServer::new("10.0.0.2", b"k", sim.start, Duration::from_secs(60));
    let mut req = register(7, None);
    send(&mut sim, req.clone());
    registrar(&mut sim, &mut server);
    let (_, r401, _) = take_response(sim.a()).unwrap();
    hotline_sip::auth::authorize_request(&mut req, &r401, "1001", PASSWORD, "c0ffee").unwrap();
    assert_eq!(
        req.cseq().unwrap().seq,
        8,
        "CSeq goes up for the new request"
    );
    assert!(req.header("Via").is_none());
    send(&mut sim, req);
    assert_eq!(registrar(&mut sim, &mut server), Some(Verdict::Ok));

    // A trunk's proxy challenge (407) is answered with Proxy-Authorization.
    let mut inv = invite("trunk-1", "t1");
    let r407 = server.challenge(
        sim.now,
        &inv.clone()
            .with_header("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx"),
        "p",
        false,
        true,
        addr(A).ip(),
    );
    hotline_sip::auth::authorize_request(&mut inv, &r407, "trunkuser", "trunkpw", "abc").unwrap();
    let creds = inv.authorization(true).unwrap().unwrap();
    assert_eq!(creds.get("username"), Some("trunkuser"));
    assert_eq!(inv.cseq().unwrap().seq, 2);
    assert_eq!(
        server.verify(sim.now, &inv, &creds, "trunkpw", addr(A).ip()),
        Verdict::Ok
    );
}

#[test]
fn unknown_scheme_regaut01_is_challenged() {
    let mut sim = Sim::new();
    let mut server = DigestServer::new("example.com", b"k", sim.start, Duration::from_secs(60));
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/torture/regaut01.sip"
    ))
    .unwrap();
    let now = sim.now;
    sim.b()
        .ep
        .handle_datagram(now, addr(A), Transport::Tcp, &bytes);
    while let Some(e) = sim.b().ep.poll_event() {
        sim.b().events.push(e);
    }
    assert_eq!(
        registrar(&mut sim, &mut server),
        Some(Verdict::Failed("unsupported scheme"))
    );
    let sent = sim.sent(B, |_| true);
    assert_eq!(
        sent.last().unwrap().msg().status(),
        Some(StatusCode::UNAUTHORIZED)
    );
}
