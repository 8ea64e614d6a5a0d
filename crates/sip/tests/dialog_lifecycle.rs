//! A dialog through two record-routing proxies, from both ends: the early dialog from a 180
//! with a To tag becomes confirmed on the 200; the UAC's route set is the Record-Route list
//! reversed, the UAS's is it in order; in-dialog requests go to the remote target (Contact)
//! with those Route headers and increasing CSeq; a target refresh (re-INVITE Contact) moves the
//! target; REFER carries Refer-To and the NOTIFYs carry `message/sipfrag` progress (RFC 3515);
//! OPTIONS and INFO work inside the dialog; BYE ends it.

use hotline_sip::{Dialog, DialogState, Message, Method, NameAddr, StatusCode};

fn invite() -> Message<'static> {
    let mut m = Message::request(Method::Invite, "sip:bob@example.com");
    m.push_header("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa");
    m.push_header("Record-Route", "<sip:p1.example.com;lr>");
    m.push_header("Record-Route", "<sip:p2.example.com;lr>");
    m.push_header("From", "\"Alice\" <sip:alice@example.com>;tag=a1");
    m.push_header("To", "<sip:bob@example.com>");
    m.push_header("Call-ID", "dlg-1");
    m.push_header("CSeq", "10 INVITE");
    m.push_header("Contact", "<sip:alice@10.0.0.1:5060>");
    m
}

fn parse(m: &Message<'_>) -> Message<'static> {
    Message::parse(&m.to_bytes()).unwrap().into_owned()
}

#[test]
fn early_then_confirmed_with_route_sets_and_targets() {
    let inv = parse(&invite());
    // UAS side (Bob).
    let mut bob = Dialog::uas(&inv, "b1", "<sip:bob@10.0.0.2:5060>").unwrap();
    assert_eq!(bob.state, DialogState::Early);
    assert_eq!(
        bob.route_set,
        vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(bob.remote_target, "sip:alice@10.0.0.1:5060");

    // UAC side (Alice) from a 180 and then the 200 (responses carry the Record-Route).
    let ringing = parse(
        &inv.make_response(StatusCode::RINGING, Some("b1"))
            .with_header("Contact", "<sip:bob@10.0.0.2:5060>"),
    );
    let mut alice = Dialog::uac(&inv, &ringing).unwrap();
    assert_eq!(alice.state, DialogState::Early);
    assert_eq!(
        alice.route_set,
        vec!["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    );
    let ok = parse(
        &inv.make_response(StatusCode::OK, Some("b1"))
            .with_header("Contact", "<sip:bob@10.0.0.9:5070>"),
    );
    alice.on_response(&ok);
    bob.on_response_sent(&Method::Invite, StatusCode::OK);
    assert_eq!(
        (alice.state, bob.state),
        (DialogState::Confirmed, DialogState::Confirmed)
    );
    assert_eq!(
        alice.remote_target, "sip:bob@10.0.0.9:5070",
        "2xx Contact is the target"
    );
    assert_eq!(alice.id.local_tag, bob.id.remote_tag);
    assert_eq!(alice.id.remote_tag, bob.id.local_tag);

    let ack = alice.ack(10);
    assert_eq!(ack.request_uri(), Some("sip:bob@10.0.0.9:5070"));
    assert_eq!(ack.cseq().unwrap().seq, 10);
    assert_eq!(alice.next_hop(), "sip:p2.example.com;lr");

    // In-dialog requests: CSeq goes up, routes and tags are right, Bob accepts them in order.
    for method in [Method::Options, Method::Info] {
        let req = parse(&alice.request(method.clone()).unwrap());
        assert_eq!(req.routes().unwrap().len(), 2);
        assert_eq!(req.to_header().unwrap().tag(), Some("b1"));
        assert_eq!(req.from_header().unwrap().tag(), Some("a1"));
        bob.on_request(&req).unwrap();
    }
    assert_eq!(alice.local_seq, 12);
    assert_eq!(bob.remote_seq, Some(12));

    // Bob refreshes the target with a re-INVITE.
    let mut reinv = bob.request(Method::Invite).unwrap();
    reinv.set_header("Contact", "<sip:bob@10.0.0.3:5080>");
    let reinv = parse(&reinv);
    assert_eq!(reinv.request_uri(), Some("sip:alice@10.0.0.1:5060"));
    assert_eq!(
        reinv.cseq().unwrap().seq,
        1,
        "the UAS starts its own CSeq space"
    );
    alice.on_request(&reinv).unwrap();
    assert_eq!(alice.remote_target, "sip:bob@10.0.0.3:5080");
    alice.on_response_sent(&Method::Invite, StatusCode::OK);
    assert_eq!(alice.incoming_offer, None);

    // Bye.
    let bye = parse(&alice.request(Method::Bye).unwrap());
    assert_eq!(alice.state, DialogState::Ended);
    bob.on_request(&bye).unwrap();
    assert_eq!(bob.state, DialogState::Ended);
    assert!(
        alice.request(Method::Info).is_err(),
        "no requests on an ended dialog"
    );
}

#[test]
fn refer_and_notify_progress() {
    let inv = parse(&invite());
    let mut bob = Dialog::uas(&inv, "b1", "<sip:bob@10.0.0.2:5060>").unwrap();
    let ok = parse(
        &inv.make_response(StatusCode::OK, Some("b1"))
            .with_header("Contact", "<sip:bob@10.0.0.2:5060>"),
    );
    let mut alice = Dialog::uac(&inv, &ok).unwrap();

    // Bob (an agent's phone) transfers Alice to the queue.
    let refer = parse(
        &bob.refer(
            "sip:queue-sales@hotline.example.com",
            Some("sip:bob@example.com"),
        )
        .unwrap(),
    );
    assert_eq!(refer.method(), Some(&Method::Refer));
    let target = NameAddr::parse(refer.header("Refer-To").unwrap()).unwrap();
    assert_eq!(target.uri, "sip:queue-sales@hotline.example.com");
    assert!(refer.header("Contact").is_some());
    alice.on_request(&refer).unwrap();

    // Alice accepts (202) and reports progress: 100 Trying, then 200 OK, which ends it.
    let n1 = parse(&alice.notify_refer(StatusCode::TRYING, false).unwrap());
    let n2 = parse(&alice.notify_refer(StatusCode::OK, true).unwrap());
    for (n, state, frag) in [
        (&n1, "active;expires=60", "SIP/2.0 100 Trying"),
        (&n2, "terminated;reason=noresource", "SIP/2.0 200 OK"),
    ] {
        assert_eq!(n.header("Event"), Some("refer"));
        assert_eq!(n.header("Subscription-State"), Some(state));
        assert_eq!(
            n.header("Content-Type"),
            Some("message/sipfrag;version=2.0")
        );
        assert!(std::str::from_utf8(&n.body).unwrap().starts_with(frag));
        bob.on_request(n).unwrap();
    }
    assert!(n2.cseq().unwrap().seq > n1.cseq().unwrap().seq);
}

#[test]
fn non_2xx_final_ends_an_early_dialog_and_our_offer_is_single() {
    let inv = parse(&invite());
    let ringing = parse(
        &inv.make_response(StatusCode::RINGING, Some("b1"))
            .with_header("Contact", "<sip:bob@10.0.0.2>"),
    );
    let mut alice = Dialog::uac(&inv, &ringing).unwrap();
    alice.on_response(&parse(
        &inv.make_response(StatusCode::BUSY_HERE, Some("b1")),
    ));
    assert_eq!(alice.state, DialogState::Ended);

    let ok = parse(
        &inv.make_response(StatusCode::OK, Some("b1"))
            .with_header("Contact", "<sip:bob@10.0.0.2>"),
    );
    let mut d = Dialog::uac(&inv, &ok).unwrap();
    d.request(Method::Update).unwrap();
    assert!(
        d.request(Method::Invite).is_err(),
        "one offer of ours at a time"
    );
}
