//! Issue 17's voicemail, end to end through the real `hotline-switch` binary: a sipp caller
//! from Hedy Perlman's number reaches an after-hours flow (the shipped `closed` node's
//! settings), hears the prompts, leaves a message and presses `#`. The switch files it as a
//! ticket in the support queue with the recording and Hedy as the customer (found by her
//! number), tells her the reference, says goodbye and hangs up.
//!
//! It proves: one open voicemail ticket in the support queue's worklist (an agent of another
//! queue does not see it), naming the call, Hedy and `vm-<call>.wav`; that WAV file exists in
//! the recordings folder; the call record notes the filing; the flow went through the
//! voicemail node to its goodbye. Then Bob (who works the support queue) asks his desktop to
//! play it: his phone (a sipp UAS) rings, answers, hears it and gets the switch's BYE when it
//! has played; Alice (not a support agent) is refused, and both asks are in the audit log.
//! Key presses sit at fixed times after the answer (see `dtmf_util`); timeouts only bound a
//! hung test.

mod cti_util;
mod dtmf_util;
mod sip_util;

use cti_util::Desk;
use hotline_cti::{Command as Cti, ErrorCode, Reply};
use sip_util::{Setup, Sipp, Switch, free_port, register};

const HEDY: &str = "+12125550113";
const NUMBER: &str = "+18005550199";

const FLOW: &str = r#"
[flow]
name = "after_hours"
start = "identify_caller"

[nodes.identify_caller]
type = "identify"
by = "caller_number"
found = "closed"
not_found = "closed"

[nodes.closed]
type = "voicemail"
prompts = ["phrases/closed", "flow/leave-message"]
max_duration_secs = 60
ticket_queue = "support"
subject = "After-hours voicemail"
reference_prompts = ["flow/reference-number"]
next = "message_recorded"

[nodes.message_recorded]
type = "hangup"
prompts = ["flow/message-recorded", "phrases/goodbye"]
"#;

#[test]
fn after_hours_message_becomes_a_ticket_in_the_support_worklist() {
    let sw = Switch::start_in_dir(
        Setup {
            flows: vec![("after_hours.toml", FLOW.to_string())],
            extra: format!(
                "\n[[dialplan.routes]]\nnumber = \"{NUMBER}\"\npublic = true\nivr = \"after_hours\"\n"
            ),
            ..Setup::default()
        },
        &[],
    );
    // The closed and leave-a-message prompts take about 6 s; the message runs to 12 s.
    let keys = dtmf_util::presses(12_000, "#", 0);
    dtmf_util::write_pcap(&sw.dir.path().join("caller_dtmf.pcap"), &keys);
    let caller = Sipp::spawn_in(
        sw.dir.path(),
        sw.sip,
        "uac_pay_dtmf.xml",
        free_port(),
        &["-key", "caller", HEDY, "-key", "dial", NUMBER],
    );
    assert!(
        caller.success(),
        "the caller's sipp failed (no BYE from the switch?)"
    );
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "one call ended");
    let call = ended[0].clone();
    let rec = sw.call_records(std::slice::from_ref(&call)).remove(0);
    for node in ["closed", "message_recorded"] {
        assert!(
            rec.ivr_path.iter().any(|n| n == node),
            "{node} in {:?}",
            rec.ivr_path
        );
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (hedy, support, billing, kinds) = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let hedy = store
            .customer_view(&hotline_store::Identity::phone_in(HEDY, "1").expect("phone"))
            .await
            .expect("lookup")
            .expect("Hedy is in the demo data")
            .customer
            .id;
        let support = store
            .worklist("bob", &["support".to_string()], 50)
            .await
            .expect("worklist");
        let billing = store
            .worklist("erin", &["billing".to_string()], 50)
            .await
            .expect("worklist");
        let kinds = store.call_event_kinds(&call).await.expect("events");
        store.close().await;
        (hedy, support, billing, kinds)
    });
    let vm: Vec<_> = support
        .iter()
        .filter(|w| w.kind == hotline_store::WorkKind::Voicemail)
        .collect();
    assert_eq!(vm.len(), 1, "{support:?}");
    let item = vm[0];
    assert_eq!(item.queue.as_deref(), Some("support"));
    assert_eq!(item.ticket.call_id.as_deref(), Some(call.as_str()));
    assert_eq!(item.ticket.customer_id, Some(hedy));
    assert_eq!(item.ticket.status, "open");
    // Due by the support queue's work SLA for normal priority (config/queues.toml: 480 min).
    assert_eq!(item.due_at, Some(item.ticket.created_at + 480 * 60_000));
    assert_eq!(item.ticket.subject, "After-hours voicemail");
    assert!(
        item.ticket.body.starts_with("Voicemail from +12125550113"),
        "{}",
        item.ticket.body
    );
    let file = format!("vm-{call}.wav");
    assert_eq!(item.recording.as_deref(), Some(file.as_str()));
    assert!(
        !billing.iter().any(|w| w.ticket.id == item.ticket.id),
        "not on another queue's list"
    );
    let wav = sw.dir.path().join("data/recordings").join(&file);
    let len = std::fs::metadata(&wav)
        .unwrap_or_else(|e| panic!("{}: {e}", wav.display()))
        .len();
    assert!(len > 44, "a WAV with audio frames: {len} bytes");
    assert!(
        kinds.iter().any(|k| k == "note"),
        "the filing is in the call record: {kinds:?}"
    );
    let logs = sw.logs.lock().expect("logs").clone();
    let filed: Vec<_> = logs
        .iter()
        .filter(|v| v["fields"]["message"] == "voicemail filed")
        .collect();
    assert_eq!(filed.len(), 1, "filed once");
    assert_eq!(filed[0]["fields"]["ticket"], item.ticket.id);

    // Bob plays it on his phone; Alice may not.
    let phone_port = free_port();
    let bob_phone = Sipp::spawn(sw.sip, "uas.xml", phone_port, &[]);
    assert!(
        register(&sw, "1002", "bob-phone", phone_port),
        "bob's phone registered"
    );
    let ticket = hotline_cti::TicketId::new(item.ticket.id.to_string());
    let url = format!("ws://{}/cti", sw.http);
    let (refused, played) = rt.block_on(async {
        let mut alice = Desk::connect(&url).await;
        alice.hello().await;
        alice
            .login("alice", "alice-demo")
            .await
            .expect("alice logs in");
        let refused = alice
            .request(Cti::PlayRecording {
                ticket: ticket.clone(),
            })
            .await;
        let mut bob = Desk::connect(&url).await;
        bob.hello().await;
        bob.login("bob", "bob-demo").await.expect("bob logs in");
        let played = bob.request(Cti::PlayRecording { ticket }).await;
        (refused, played)
    });
    match refused {
        Err(e) => assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}"),
        Ok(r) => panic!("alice may not play a support voicemail: {r:?}"),
    }
    let Ok(Reply::Dialing { call: play_call }) = played else {
        panic!("bob plays it: {played:?}")
    };
    assert!(
        bob_phone.success(),
        "bob's phone answered and got the switch's BYE after the message"
    );
    let ended = sw.wait_ended(2);
    assert!(ended.iter().any(|c| c == play_call.as_str()), "{ended:?}");
    let play_rec = sw
        .call_records(std::slice::from_ref(&play_call.as_str().to_string()))
        .remove(0);
    assert_eq!(
        play_rec.end_reason.as_deref(),
        Some("recording played"),
        "{play_rec:?}"
    );
    let audit = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("store");
        let a = store.audit_entries(0, 100).await.expect("audit");
        store.close().await;
        a
    });
    let plays: Vec<(String, bool)> = audit
        .iter()
        .filter(|e| e.action == "play_recording")
        .map(|e| (e.actor.clone(), e.allowed))
        .collect();
    assert!(plays.contains(&("alice".to_string(), false)), "{plays:?}");
    assert!(plays.contains(&("bob".to_string(), true)), "{plays:?}");
}
