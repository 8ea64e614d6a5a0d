//! The demo's SIP phone against a second instance of itself over loopback, no switch: a caller
//! phone INVITEs an agent phone directly, the agent phone rings and auto-answers with an SDP
//! answer, the caller sends RFC 4733 digits and hangs up, and both report the call's life as
//! events (ringing, answered, digits sent, ended with the BYE's 200). Also: the agent phone's
//! talk time ends a call from its side, a second INVITE during a call gets 486, and a caller
//! hanging up while the far end still rings cancels (487). Against the switch's registrar
//! (in-process, SIP on port 0): REGISTER answers the digest challenge, follows 423 Min-Expires
//! and refreshes before expiry; a wrong password ends in a registration failure.
//!
//! Real UDP sockets and RTP sessions on 127.0.0.1 (port 0 / a media engine per test); no
//! wall-clock assertions, every wait bounded by a generous guard.

use std::time::Duration;

use hotline_switch::demo::phone::{
    CallScript, Party, Phone, PhoneConfig, PhoneEvent, media_engine,
};
use tokio::sync::mpsc::UnboundedReceiver;

const GUARD: Duration = Duration::from_secs(20);

fn media_ports() -> (u16, u16) {
    // Distinct ranges per test process; the engine skips ports in use.
    let base = 41_000 + (std::process::id() % 40) as u16 * 200;
    (base, base + 200)
}

async fn next(rx: &mut UnboundedReceiver<PhoneEvent>) -> PhoneEvent {
    tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("a phone event within the guard time")
        .expect("phone running")
}

async fn until(
    rx: &mut UnboundedReceiver<PhoneEvent>,
    pred: impl Fn(&PhoneEvent) -> bool,
) -> (PhoneEvent, Vec<PhoneEvent>) {
    let mut seen = Vec::new();
    loop {
        let e = next(rx).await;
        if pred(&e) {
            return (e, seen);
        }
        seen.push(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_calls_phone_with_dtmf_and_bye() {
    let (lo, hi) = media_ports();
    let media = media_engine(lo, hi).expect("media engine");
    let placeholder = "127.0.0.1:9".parse().expect("addr");

    let mut agent_cfg = PhoneConfig::new("agent", "1002", placeholder);
    agent_cfg.auto_answer = Some(Duration::from_millis(300));
    agent_cfg.seed = 1;
    let (agent, mut agent_ev) = Phone::start(agent_cfg, media.clone()).await.expect("agent");

    let mut caller_cfg = PhoneConfig::new("caller", "+12125550100", agent.local);
    caller_cfg.seed = 2;
    let (caller, mut caller_ev) = Phone::start(caller_cfg, media.clone())
        .await
        .expect("caller");
    caller.call(CallScript {
        number: "1002".into(),
        digits: vec![
            (Duration::from_millis(200), "1".into()),
            (Duration::from_millis(300), "2#".into()),
        ],
        hang_up_after: Some(Duration::from_millis(1500)),
    });

    // The agent phone rings with the caller's number, then answers by itself.
    let e = next(&mut agent_ev).await;
    let PhoneEvent::Incoming { call_id, from } = e else {
        panic!("expected incoming, got {e:?}");
    };
    assert_eq!(from, "+12125550100");
    assert_eq!(
        next(&mut agent_ev).await,
        PhoneEvent::Answered {
            call_id: call_id.clone()
        }
    );

    // The caller heard ringing, got the answer (same Call-ID), sent both digit groups, hung up.
    assert_eq!(
        next(&mut caller_ev).await,
        PhoneEvent::Ringing {
            call_id: call_id.clone()
        }
    );
    assert_eq!(
        next(&mut caller_ev).await,
        PhoneEvent::Answered {
            call_id: call_id.clone()
        }
    );
    let (ended, before) = until(&mut caller_ev, |e| matches!(e, PhoneEvent::Ended { .. })).await;
    let digits: Vec<String> = before
        .iter()
        .filter_map(|e| match e {
            PhoneEvent::DigitsSent { digits, .. } => Some(digits.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(digits, ["1", "2#"]);
    assert_eq!(
        ended,
        PhoneEvent::Ended {
            call_id: call_id.clone(),
            code: 200,
            by: Party::Local
        }
    );
    assert_eq!(
        next(&mut agent_ev).await,
        PhoneEvent::Ended {
            call_id,
            code: 200,
            by: Party::Remote
        }
    );
    // Real RTP flowed, and the agent phone's session decoded the three telephone-events.
    let m = media.metrics();
    assert!(m.rtp_packets_in > 0 && m.rtp_packets_out > 0, "{m:?}");
    assert_eq!(m.digits, 3, "digits 1, 2 and # received as RFC 4733 events");
    caller.stop().await;
    agent.stop().await;
    media.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_talk_time_busy_and_cancel() {
    let (lo, hi) = media_ports();
    let media = media_engine(lo + 100, hi + 100).expect("media engine");
    let placeholder = "127.0.0.1:9".parse().expect("addr");

    // An agent phone that answers at once and hangs up after a short talk time.
    let mut agent_cfg = PhoneConfig::new("agent", "1003", placeholder);
    agent_cfg.auto_answer = Some(Duration::from_millis(100));
    agent_cfg.talk_time = Some(Duration::from_millis(1500));
    agent_cfg.seed = 3;
    let (agent, mut agent_ev) = Phone::start(agent_cfg, media.clone()).await.expect("agent");

    let mut c1 = PhoneConfig::new("caller-1", "+12125550101", agent.local);
    c1.seed = 4;
    let (caller1, mut c1_ev) = Phone::start(c1, media.clone()).await.expect("caller 1");
    caller1.call(CallScript {
        number: "1003".into(),
        ..Default::default()
    });
    until(&mut c1_ev, |e| matches!(e, PhoneEvent::Answered { .. })).await;

    // While connected, a second caller gets 486 Busy Here.
    let mut c2 = PhoneConfig::new("caller-2", "+12125550102", agent.local);
    c2.seed = 5;
    let (caller2, mut c2_ev) = Phone::start(c2, media.clone()).await.expect("caller 2");
    caller2.call(CallScript {
        number: "1003".into(),
        ..Default::default()
    });
    let (busy, _) = until(&mut c2_ev, |e| matches!(e, PhoneEvent::Ended { .. })).await;
    assert!(
        matches!(
            busy,
            PhoneEvent::Ended {
                code: 486,
                by: Party::Remote,
                ..
            }
        ),
        "{busy:?}"
    );

    // The agent's talk time runs out: it sends BYE, the caller sees the remote hang-up.
    let (end, _) = until(&mut c1_ev, |e| matches!(e, PhoneEvent::Ended { .. })).await;
    assert!(
        matches!(
            end,
            PhoneEvent::Ended {
                code: 200,
                by: Party::Remote,
                ..
            }
        ),
        "{end:?}"
    );
    let (end, _) = until(&mut agent_ev, |e| matches!(e, PhoneEvent::Ended { .. })).await;
    assert!(
        matches!(
            end,
            PhoneEvent::Ended {
                code: 200,
                by: Party::Local,
                ..
            }
        ),
        "{end:?}"
    );

    // A phone that never answers: the caller gives up while it rings (CANCEL, 487).
    let mut slow_cfg = PhoneConfig::new("slow", "1004", placeholder);
    slow_cfg.seed = 6;
    let (slow, mut slow_ev) = Phone::start(slow_cfg, media.clone()).await.expect("slow");
    let mut c3 = PhoneConfig::new("caller-3", "+12125550103", slow.local);
    c3.seed = 7;
    let (caller3, mut c3_ev) = Phone::start(c3, media.clone()).await.expect("caller 3");
    caller3.call(CallScript {
        number: "1004".into(),
        ..Default::default()
    });
    until(&mut c3_ev, |e| matches!(e, PhoneEvent::Ringing { .. })).await;
    until(&mut slow_ev, |e| matches!(e, PhoneEvent::Incoming { .. })).await;
    caller3.hang_up();
    let (end, _) = until(&mut c3_ev, |e| matches!(e, PhoneEvent::Ended { .. })).await;
    assert!(
        matches!(
            end,
            PhoneEvent::Ended {
                code: 487,
                by: Party::Local,
                ..
            }
        ),
        "{end:?}"
    );
    let (end, _) = until(&mut slow_ev, |e| matches!(e, PhoneEvent::Ended { .. })).await;
    assert!(
        matches!(
            end,
            PhoneEvent::Ended {
                code: 487,
                by: Party::Remote,
                ..
            }
        ),
        "{end:?}"
    );

    for p in [caller1, caller2, caller3, agent, slow] {
        p.stop().await;
    }
    media.shutdown();
}

/// A switch in this process with SIP on port 0, a temp database and extension 1002.
async fn switch_with_extension(
    dir: &std::path::Path,
    min_expires: u32,
) -> hotline_switch::app::Running {
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    std::fs::copy(demo, dir.join("demo.toml")).expect("copy demo");
    let (lo, hi) = media_ports();
    let text = format!(
        r#"
[http]
listen = "127.0.0.1:0"

[database]
url = "sqlite://{db}/hotline.db"

[log]
level = "warn"

[sip]
listen = "127.0.0.1:0"
min_expires_secs = {min_expires}
keepalive_secs = 0

[media]
port_min = {sw_min}
port_max = {sw_max}
workers = 1

[[extensions]]
number = "1002"
password = "bob-phone"
name = "Bob"
"#,
        db = dir.display(),
        sw_min = lo + 100,
        sw_max = hi + 100,
    );
    let file = dir.join("switch.toml");
    std::fs::write(&file, text).expect("config");
    let cfg = hotline_switch::config::Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    hotline_switch::app::start(cfg, Default::default())
        .await
        .expect("switch starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_digest_auth_follows_min_expires_and_refreshes() {
    let dir = tempfile::tempdir().expect("tmp");
    let sw = switch_with_extension(dir.path(), 2).await;
    let sip = sw.sip.expect("sip");
    let (lo, _) = media_ports();
    let media = media_engine(lo + 300, lo + 340).expect("media engine");

    // Asks for 1 s: the registrar says 423 (Min-Expires 2), the phone asks again for 2 s,
    // answers the digest challenge, and refreshes before the binding runs out.
    let mut pc = PhoneConfig::new("bob's phone", "1002", sip);
    pc.credentials = Some(("1002".into(), "bob-phone".into()));
    pc.register = Some(1);
    pc.seed = 8;
    let (phone, mut ev) = Phone::start(pc, media.clone()).await.expect("phone");
    assert_eq!(
        next(&mut ev).await,
        PhoneEvent::Registered { expires_secs: 2 }
    );
    assert_eq!(
        next(&mut ev).await,
        PhoneEvent::Registered { expires_secs: 2 },
        "refreshed before expiry"
    );

    // A wrong password is refused after the challenge is answered.
    let mut bad = PhoneConfig::new("impostor", "1002", sip);
    bad.credentials = Some(("1002".into(), "wrong".into()));
    bad.register = Some(60);
    bad.seed = 9;
    let (impostor, mut bad_ev) = Phone::start(bad, media.clone()).await.expect("phone");
    let e = next(&mut bad_ev).await;
    assert!(
        matches!(e, PhoneEvent::RegistrationFailed { code: 401 | 403 }),
        "{e:?}"
    );

    impostor.stop().await;
    phone.stop().await;
    media.shutdown();
    sw.shutdown().await.expect("shutdown");
}
