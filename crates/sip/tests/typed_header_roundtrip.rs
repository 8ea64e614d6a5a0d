//! Property tests: every typed header prints to text that parses back to the same value
//! (Via with IPv4/IPv6/hostnames, ports, branch, received, rport; From/To/Route with display
//! names and tags; Contact with expires, q and `+sip.instance`; CSeq with extension methods;
//! Max-Forwards; Expires; Digest Authorization), and whole messages built from them survive
//! print, parse, print unchanged.

use hotline_sip::headers::{parse_expires, parse_max_forwards};
use hotline_sip::{AuthParams, CSeq, Contact, Message, Method, NameAddr, Via};
use proptest::prelude::*;

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Register),
        Just(Method::Refer),
        "[A-Z][A-Z]{2,9}".prop_map(|m| Method::parse(&m).unwrap()),
    ]
}

proptest! {
    #[test]
    fn via(host in host(), port in proptest::option::of(1u16..), transport in prop_oneof![Just("UDP"), Just("TCP"), Just("TLS"), Just("WS")],
           branch in token(), rport in proptest::option::of(proptest::option::of(1u16..)), received in proptest::option::of(host())) {
        let mut v = format!("SIP/2.0/{transport} {host}");
        if let Some(p) = port { v.push_str(&format!(":{p}")); }
        v.push_str(&format!(";branch=z9hG4bK{branch}"));
        match rport { Some(Some(p)) => v.push_str(&format!(";rport={p}")), Some(None) => v.push_str(";rport"), None => {} }
        if let Some(r) = &received { v.push_str(&format!(";received={r}")); }
        let a = Via::parse(&v).unwrap();
        let printed = a.to_string();
        let b = Via::parse(&printed).unwrap();
        prop_assert_eq!(a, b);
        prop_assert_eq!(b.host, host.as_str());
        prop_assert_eq!(b.port, port);
        prop_assert_eq!(b.rport(), rport);
        prop_assert_eq!(b.received(), received.as_deref());
    }

    #[test]
    fn name_addr(display in proptest::option::of("[A-Za-z][A-Za-z ]{0,12}[A-Za-z]"), user in "[a-z0-9+]{1,12}", host in host(),
                 tag in proptest::option::of(token()), tel in any::<bool>()) {
        let uri = if tel { format!("tel:+{}", user.len() * 1234567) } else { format!("sip:{user}@{host}") };
        let mut v = match &display { Some(d) => format!("\"{d}\" <{uri}>"), None => format!("<{uri}>") };
        if let Some(t) = &tag { v.push_str(&format!(";tag={t}")); }
        let a = NameAddr::parse(&v).unwrap();
        let b_text = a.to_string();
        let b = NameAddr::parse(&b_text).unwrap();
        prop_assert_eq!(a, b);
        prop_assert_eq!(b.tag(), tag.as_deref());
        prop_assert_eq!(b.display_name().map(|d| d.into_owned()), display);
        prop_assert_eq!(b.uri, uri.as_str());
    }

    #[test]
    fn contact(host in host(), expires in proptest::option::of(0u32..100_000), q in proptest::option::of(0u8..=10), uuid in "[0-9a-f]{8}") {
        let mut v = format!("<sip:agent@{host};transport=tcp>");
        if let Some(e) = expires { v.push_str(&format!(";expires={e}")); }
        if let Some(q) = q { v.push_str(&format!(";q=0.{q}")); }
        v.push_str(&format!(";+sip.instance=\"<urn:uuid:{uuid}>\""));
        let a = Contact::parse(&v).unwrap();
        let printed = a.to_string();
        let b = Contact::parse(&printed).unwrap();
        prop_assert_eq!(a, b);
        prop_assert_eq!(b.expires(), expires);
        let inst = format!("urn:uuid:{uuid}");
        prop_assert_eq!(b.instance(), Some(inst.as_str()));
    }

    #[test]
    fn cseq_max_forwards_expires(seq in 0u32..(1 << 31), m in method(), mf in 0u8..=255, exp in any::<u32>()) {
        let c = CSeq { seq, method: m };
        prop_assert_eq!(CSeq::parse(&c.to_string()).unwrap(), c);
        prop_assert_eq!(parse_max_forwards(&mf.to_string()).unwrap(), mf);
        prop_assert_eq!(parse_expires(&exp.to_string()).unwrap(), exp);
    }

    #[test]
    fn authorization(user in "[a-z0-9]{1,10}", realm in "[a-z.]{1,12}", nonce in "[A-Za-z0-9+/=.]{1,40}", nc in 1u32..1000) {
        let v = format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"sip:{realm}\", response=\"00ff\", algorithm=SHA-256, qop=auth, nc={nc:08x}, cnonce=\"c\"");
        let a = AuthParams::parse(&v).unwrap();
        let printed = a.to_string();
        prop_assert_eq!(&printed, &v);
        prop_assert_eq!(AuthParams::parse(&printed).unwrap(), a);
    }

    #[test]
    fn whole_message_print_is_a_fixed_point(host in host(), tag in token(), seq in 0u32..(1 << 31), body in proptest::collection::vec(any::<u8>(), 0..64), m in method()) {
        let mut msg = Message::request(m.clone(), format!("sip:x@{host}"));
        msg.push_header("Via", format!("SIP/2.0/UDP {host}:5060;branch=z9hG4bK{tag}"));
        msg.push_header("f", format!("<sip:a@{host}>;tag={tag}"));
        msg.push_header("t", format!("<sip:b@{host}>"));
        msg.push_header("i", format!("{tag}@{host}"));
        msg.push_header("CSeq", format!("{seq} {m}"));
        msg.set_body("application/octet-stream", body.clone());
        let once = msg.to_bytes();
        let parsed = Message::parse(&once).unwrap();
        prop_assert_eq!(&*parsed.body, &body[..]);
        prop_assert_eq!(parsed.cseq().unwrap().seq, seq);
        prop_assert_eq!(parsed.to_bytes(), once);
    }
}
