//! NAT traversal on the server side (RFC 3581, RFC 3261 18.2.1): a request whose top Via asks
//! for `rport`, or whose sent-by differs from the packet's source, gets `received` and
//! `rport=<source port>` added; responses carry that Via and go back to the packet's source
//! address (IPv4 and IPv6), not to the address written in the Via.

use hotline_sip::{Config, Endpoint, Event, Message, StatusCode, Transport};
use std::net::SocketAddr;
use std::time::Instant;

fn options(via: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:switch@203.0.113.1 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:1001@203.0.113.1>;tag=p1\r\nTo: <sip:switch@203.0.113.1>\r\nCall-ID: nat-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn roundtrip(src: &str, via: &str) -> (Message<'static>, SocketAddr, Message<'static>) {
    let mut ep = Endpoint::new(Config::default());
    let now = Instant::now();
    let src: SocketAddr = src.parse().unwrap();
    ep.handle_datagram(now, src, Transport::Udp, &options(via));
    let Some(Event::Request { tsx, request, .. }) = ep.poll_event() else {
        panic!("no request")
    };
    ep.respond(now, tsx, request.make_response(StatusCode::OK, Some("s1")))
        .unwrap();
    let t = ep.poll_transmit().unwrap();
    let resp = Message::parse(&t.payload).unwrap().into_owned();
    (request, t.dst, resp)
}

#[test]
fn rport_and_received_behind_nat() {
    let (req, dst, resp) = roundtrip(
        "198.51.100.7:40312",
        "SIP/2.0/UDP 192.168.1.20:5060;rport;branch=z9hG4bKnat1",
    );
    let via = req.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.7"));
    assert_eq!(via.rport(), Some(Some(40312)));
    assert_eq!(via.branch(), Some("z9hG4bKnat1"));
    assert_eq!(
        dst,
        "198.51.100.7:40312".parse().unwrap(),
        "the response goes where the packet came from"
    );
    assert_eq!(resp.top_via().unwrap().rport(), Some(Some(40312)));
}

#[test]
fn received_only_when_sent_by_differs() {
    let (req, _, _) = roundtrip(
        "198.51.100.7:5060",
        "SIP/2.0/UDP pbx.example.com;branch=z9hG4bKnat2",
    );
    let via = req.top_via().unwrap();
    assert_eq!(via.received(), Some("198.51.100.7"));
    assert_eq!(via.rport(), None);

    let (req, _, _) = roundtrip(
        "198.51.100.7:5060",
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKnat3",
    );
    assert_eq!(
        req.top_via().unwrap().received(),
        None,
        "nothing to add when sent-by is the source"
    );
}

#[test]
fn ipv6_source() {
    let (req, dst, _) = roundtrip(
        "[2001:db8::7]:5070",
        "SIP/2.0/UDP [2001:db8::1]:5060;rport;branch=z9hG4bKnat4",
    );
    let via = req.top_via().unwrap();
    assert_eq!(via.host, "[2001:db8::1]");
    assert_eq!(via.received(), Some("2001:db8::7"));
    assert_eq!(via.rport(), Some(Some(5070)));
    assert_eq!(dst, "[2001:db8::7]:5070".parse().unwrap());
}
