//! End to end through the real `hotline-switch` binary with sipp peers (scenarios in
//! `tests/sipp/`):
//!
//! - an extension registered by a sipp UAS with digest auth is called by another extension
//!   (a sipp UAC answering a 407 challenge): both legs connect, media is anchored, BYE ends it,
//!   and the call record says internal, answered, who hung up;
//! - an outbound call through a trunk reaches a sipp UAS with the trunk's caller ID;
//! - a CANCEL before answer cancels the ringing extension and writes an abandoned record;
//! - an unauthenticated INVITE from an unknown source to a trunk number gets 403 and no
//!   outbound leg is created (the trunk's sipp never hears anything, no call record exists);
//! - a trunk with `register = true` registers upstream, answering the carrier's digest
//!   challenge (the carrier's sipp verifies the credentials).
//!
//! Free ports, children killed on drop, generous timeouts, no wall-clock assertions.

mod sip_util;

use sip_util::{Setup, Sipp, Switch, free_port, register};

#[test]
fn registered_extension_is_called_by_another_extension() {
    let sw = Switch::start(Setup::default());
    let uas_port = free_port();
    let uas = Sipp::spawn(sw.sip, "uas.xml", uas_port, &[]);
    assert!(
        register(&sw, "1001", "alice-phone", uas_port),
        "REGISTER with digest auth"
    );
    let uac = Sipp::spawn(
        sw.sip,
        "uac_auth.xml",
        free_port(),
        &[
            "-key",
            "ext",
            "1002",
            "-au",
            "1002",
            "-ap",
            "bob-phone",
            "-key",
            "dial",
            "1001",
            "-d",
            "500",
        ],
    );
    assert!(uac.success(), "caller's call failed");
    assert!(uas.success(), "callee's call failed");
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "one call");
    let rec = &sw.call_records(&ended)[0];
    assert_eq!(rec.direction, "internal");
    assert_eq!(rec.ani, "1002");
    assert_eq!(rec.dnis, "1001");
    assert!(rec.answered_at.is_some(), "{rec:?}");
    assert_eq!(rec.end_reason.as_deref(), Some("caller hung up"));
    assert!(!rec.abandoned);
}

#[test]
fn outbound_call_through_a_trunk_presents_the_trunk_caller_id() {
    let trunk_port = free_port();
    let sw = Switch::start(Setup {
        anchor: false,
        extra: format!(
            r#"
[[dialplan.routes]]
prefix = "9"
strip = 1
trunk = "pstn"

[[trunks]]
name = "pstn"
address = "127.0.0.1:{trunk_port}"
caller_id = "+18005550100"
"#
        ),
        ..Setup::default()
    });
    // The trunk checks that the caller ID is the trunk's, not the extension's.
    let trunk = Sipp::spawn(sw.sip, "uas_trunk_callerid.xml", trunk_port, &[]);
    // The calling extension must be registered for its IP to be challenged (not refused).
    let phone_port = free_port();
    assert!(register(&sw, "1002", "bob-phone", phone_port));
    let uac = Sipp::spawn(
        sw.sip,
        "uac_auth.xml",
        phone_port,
        &[
            "-key",
            "ext",
            "1002",
            "-au",
            "1002",
            "-ap",
            "bob-phone",
            "-key",
            "dial",
            "92025550188",
            "-d",
            "300",
        ],
    );
    assert!(uac.success(), "caller's call failed");
    assert!(trunk.success(), "trunk's call failed");
    let ended = sw.wait_ended(1);
    let rec = &sw.call_records(&ended)[0];
    assert_eq!(rec.direction, "outbound");
    assert_eq!(rec.agent_id.as_deref(), Some("trunk:pstn"));
    assert!(rec.answered_at.is_some());
}

#[test]
fn cancel_before_answer_cancels_the_callee_and_records_an_abandoned_call() {
    let sw = Switch::start(Setup::default());
    let uas_port = free_port();
    let uas = Sipp::spawn(sw.sip, "uas_cancel.xml", uas_port, &[]);
    assert!(register(&sw, "1001", "alice-phone", uas_port));
    let uac = Sipp::spawn(
        sw.sip,
        "uac_cancel.xml",
        free_port(),
        &[
            "-key",
            "ext",
            "1002",
            "-au",
            "1002",
            "-ap",
            "bob-phone",
            "-key",
            "dial",
            "1001",
        ],
    );
    assert!(uac.success(), "caller's CANCEL flow failed");
    assert!(uas.success(), "callee did not see the CANCEL");
    let ended = sw.wait_ended(1);
    let rec = &sw.call_records(&ended)[0];
    assert_eq!(rec.end_reason.as_deref(), Some("cancelled"));
    assert!(rec.abandoned);
    assert!(rec.answered_at.is_none());
}

#[test]
fn unauthenticated_invite_to_a_trunk_number_gets_403_and_no_outbound_leg() {
    let trunk_port = free_port();
    let sw = Switch::start(Setup {
        anchor: false,
        extra: format!(
            r#"
[[dialplan.routes]]
prefix = "9"
strip = 1
trunk = "pstn"

[[trunks]]
name = "pstn"
address = "127.0.0.1:{trunk_port}"
"#
        ),
        ..Setup::default()
    });
    // Something listening where the trunk is, to see whether anything arrives.
    let trunk = std::net::UdpSocket::bind(("127.0.0.1", trunk_port)).expect("trunk socket");
    trunk
        .set_read_timeout(Some(std::time::Duration::from_millis(1500)))
        .expect("timeout");
    let uac = Sipp::spawn(
        sw.sip,
        "uac_noauth.xml",
        free_port(),
        &["-key", "dial", "92025550188"],
    );
    assert!(uac.success(), "expected a 403");
    let mut buf = [0u8; 2048];
    assert!(
        trunk.recv_from(&mut buf).is_err(),
        "the trunk received something: {}",
        String::from_utf8_lossy(&buf)
    );
    assert!(sw.ended_calls().is_empty(), "no call was created");
}

#[test]
fn trunk_registers_upstream_with_digest_credentials() {
    let trunk_port = free_port();
    let carrier = Sipp::spawn(
        "127.0.0.1:9".parse().expect("addr"),
        "trunk_registrar.xml",
        trunk_port,
        &[],
    );
    let sw = Switch::start(Setup {
        anchor: false,
        extra: format!(
            r#"
[[trunks]]
name = "carrier"
address = "127.0.0.1:{trunk_port}"
username = "hotline"
password = "trunk-secret"
register = true
"#
        ),
        ..Setup::default()
    });
    assert!(carrier.success(), "the carrier accepted our credentials");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !sw.logged("registered with trunk") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(sw.logged("registered with trunk"));
}
