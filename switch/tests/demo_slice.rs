//! Issue 7's end-to-end acceptance test, in Rust with the demo's own parts instead of sipp:
//!
//! the switch starts in-process exactly as `hotline-switch run` starts it (`app::start`: a
//! fresh SQLite file seeded with the demo data, routing, SIP call control, the CTI server on
//! `/cti`); alice's phone (the demo phone, extension 1001) registers with digest auth; alice
//! logs into CTI over the real WebSocket and goes ready; a caller (the demo phone as the VIP
//! customer Ada Lovelace, +1 212 555 0100) dials the service number, walks the IVR with RFC 4733
//! digits 1 then 2 into the sales queue; alice's CTI session receives the screen pop with the
//! customer's name **before** her phone reports it answered; the call connects, the caller
//! hangs up, alice wraps up with a disposition, and the database holds the call record and the
//! outcome, joined by call id (the customer view's recent contacts join them in SQL).
//!
//! Deterministic: port 0 for SIP and HTTP, a distinct RTP block per process, orderings asserted
//! on events (never on clock readings), every wait bounded by a generous guard.

use std::path::Path;
use std::time::Duration;

use hotline_cti::{AfterWrapUp, CallState, Command, Disposition, Event};
use hotline_switch::app::{StartOptions, start};
use hotline_switch::config::Config;
use hotline_switch::demo::desk::Desk;
use hotline_switch::demo::phone::{
    CallScript, Party, Phone, PhoneConfig, PhoneEvent, media_engine,
};
use hotline_switch::demo::{menu_digits, service_number};

/// A guard against a hung test, never an assertion about speed.
const GUARD: Duration = Duration::from_secs(120);

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// What happened, in the order the test saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Pop,
    PhoneRinging,
    PhoneAnswered,
    CtiConnected,
}

#[test]
fn caller_ivr_queue_pop_answer_hangup_wrapup_and_database() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(GUARD, slice())
            .await
            .expect("the whole slice within the guard time")
    });
}

async fn slice() {
    let dir = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(root().join("config/ivr"), dir.path().join("ivr")).expect("ivr");
    std::os::unix::fs::symlink(root().join("config/prompts"), dir.path().join("prompts"))
        .expect("prompts");
    std::fs::copy(
        root().join("config/demo.toml"),
        dir.path().join("demo.toml"),
    )
    .expect("demo data");
    let db_url = format!("sqlite://{}/hotline.db", dir.path().display());
    // RTP: the switch and the phones get distinct blocks, spread by process id.
    let base = 44_000 + (std::process::id() % 20) as u16 * 500;
    let text = format!(
        r#"
[http]
listen = "127.0.0.1:0"

[database]
url = "{db_url}"

[log]
level = "warn"

[sip]
listen = "127.0.0.1:0"
ring_timeout_secs = 30

[media]
port_min = {sw_min}
port_max = {sw_max}
workers = 1

[[dialplan.routes]]
number = "+18005550100"
public = true
ivr = "main"

[[extensions]]
number = "1001"
password = "alice-phone"
name = "Alice"
"#,
        sw_min = base,
        sw_max = base + 200,
    );
    let file = dir.path().join("switch.toml");
    std::fs::write(&file, &text).expect("config");
    let cfg = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let number = service_number(&cfg).expect("a public IVR number");
    let sw = start(cfg, StartOptions::default())
        .await
        .expect("switch starts");
    let sip = sw.sip.expect("call control runs");
    let store = sw.store.clone();
    let media = media_engine(base + 300, base + 500).expect("phones' media engine");

    // Alice's phone registers (401, then digest credentials).
    let mut pc = PhoneConfig::new("alice's phone", "1001", sip);
    pc.credentials = Some(("1001".into(), "alice-phone".into()));
    pc.register = Some(600);
    pc.auto_answer = Some(Duration::from_millis(1500));
    let (alice_phone, mut alice_ev) = Phone::start(pc, media.clone()).await.expect("phone");
    match alice_ev.recv().await {
        Some(PhoneEvent::Registered { expires_secs }) => assert!(expires_secs > 0),
        other => panic!("alice's phone did not register: {other:?}"),
    }

    // Alice's desktop: log in over the WebSocket, go ready.
    let url = format!("ws://{}/cti", sw.http);
    let mut desk = Desk::login(&url, "alice", "alice-demo")
        .await
        .expect("alice logs in");
    desk.command(Command::Ready).await.expect("ready");

    // The caller: Ada Lovelace (VIP) walks the IVR into sales.
    let mut cc = PhoneConfig::new("caller", "+12125550100", sip);
    cc.tone_hz = 600.0;
    let (caller, mut caller_ev) = Phone::start(cc, media.clone()).await.expect("caller");
    caller.call(CallScript {
        number,
        digits: menu_digits(true),
        hang_up_after: None,
    });

    // Watch alice's desktop and phone together, recording the order of what happens.
    let mut seen: Vec<Seen> = Vec::new();
    let mut pop = None;
    let mut phone_call_id = None;
    while !(seen.contains(&Seen::PhoneAnswered) && seen.contains(&Seen::CtiConnected)) {
        tokio::select! {
            e = desk.event() => {
                let e = e.expect("cti").expect("cti connection open");
                match e.event {
                    Event::CallOffered(p) => {
                        seen.push(Seen::Pop);
                        pop = Some(p);
                    }
                    Event::CallChanged(info) if info.state == CallState::Connected => {
                        seen.push(Seen::CtiConnected);
                    }
                    _ => {}
                }
            }
            e = alice_ev.recv() => match e.expect("phone running") {
                PhoneEvent::Incoming { call_id, from } => {
                    assert_eq!(from, "+12125550100", "the phone shows the caller's number");
                    phone_call_id = Some(call_id);
                    seen.push(Seen::PhoneRinging);
                }
                PhoneEvent::Answered { .. } => seen.push(Seen::PhoneAnswered),
                PhoneEvent::Ended { code, .. } => panic!("alice's phone call ended early ({code})"),
                _ => {}
            },
            e = caller_ev.recv() => {
                if let Some(PhoneEvent::Ended { code, .. }) = e {
                    panic!("the caller's call ended early ({code}); seen {seen:?}");
                }
            }
        }
    }
    let pos = |s: Seen| seen.iter().position(|x| *x == s).expect("seen");
    assert!(
        pos(Seen::Pop) < pos(Seen::PhoneAnswered),
        "the screen pop reaches the desktop before the phone answers: {seen:?}"
    );
    assert!(phone_call_id.is_some());
    let pop = pop.expect("screen pop");
    let customer = pop
        .customer
        .as_ref()
        .expect("known caller: customer record");
    assert_eq!(customer.name.expose(), "Ada Lovelace");
    assert_eq!(customer.tier, "vip");
    assert_eq!(pop.queue.as_str(), "sales");
    assert_eq!(pop.ani.expose(), "+12125550100");
    assert!(
        pop.ivr_path.iter().any(|n| n == "sales_menu"),
        "{:?}",
        pop.ivr_path
    );
    let call = pop.call.clone();

    // The caller hangs up; both phones see the end of the call, alice's desktop too.
    caller.hang_up();
    loop {
        match caller_ev.recv().await.expect("caller running") {
            PhoneEvent::Ended { code, by, .. } => {
                assert_eq!((code, by), (200, Party::Local), "BYE answered 200");
                break;
            }
            _ => continue,
        }
    }
    loop {
        match alice_ev.recv().await.expect("phone running") {
            PhoneEvent::Ended { code, by, .. } => {
                assert_eq!(
                    (code, by),
                    (200, Party::Remote),
                    "the switch sent BYE to alice"
                );
                break;
            }
            _ => continue,
        }
    }
    let mut wrap_started = false;
    let mut ended = false;
    while !(wrap_started && ended) {
        let e = desk.event().await.expect("cti").expect("open");
        match e.event {
            Event::CallChanged(info) if info.call == call && info.state == CallState::Ended => {
                ended = true;
            }
            Event::WrapUpStarted { call: c, .. } if c == call => wrap_started = true,
            _ => {}
        }
    }

    // Alice wraps up with a disposition and goes ready again.
    desk.command(Command::WrapUp {
        call: call.clone(),
        disposition: Disposition::new("sale"),
        notes: "Booked FRA-JFK for next month.".to_string().into(),
        ticket: None,
    })
    .await
    .expect("wrap-up accepted");
    desk.command(Command::EndWrapUp {
        then: AfterWrapUp::Ready,
    })
    .await
    .expect("ready after wrap-up");

    // The database: the call record (written by call control, asynchronously) and the outcome
    // (written by the CTI server), joined by call id.
    let id = call.as_str().to_string();
    let rec = loop {
        if let Some(r) = store.call(&id).await.expect("read call")
            && r.ended_at.is_some()
        {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rec.ani, "+12125550100");
    assert_eq!(rec.dnis, "+18005550100");
    assert_eq!(rec.queue_id.as_deref(), Some("sales"));
    assert_eq!(rec.agent_id.as_deref(), Some("alice"));
    assert!(rec.answered_at.is_some(), "{rec:?}");
    assert!(!rec.abandoned);
    let outcomes = store.outcomes_for_call(&id).await.expect("outcomes");
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].agent_id, "alice");
    assert_eq!(outcomes[0].disposition, "sale");
    let customer_id = rec.customer_id.expect("call linked to the customer");
    let view = store
        .customer_view_by_id(customer_id)
        .await
        .expect("view")
        .expect("customer");
    let contact = view
        .recent_contacts
        .iter()
        .find(|c| c.call_id == id)
        .expect("the call among the customer's contacts");
    assert_eq!(contact.disposition.as_deref(), Some("sale"), "{contact:?}");
    assert_eq!(contact.agent_id.as_deref(), Some("alice"));

    desk.close().await;
    caller.stop().await;
    alice_phone.stop().await;
    media.shutdown();
    sw.shutdown().await.expect("clean shutdown");
}
