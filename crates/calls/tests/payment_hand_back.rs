//! Agent-assisted payment: the agent hands the caller to the `agent_pay` IVR flow and stays on
//! the line hearing no tones; the caller keys the card; the sandbox gateway approves; the
//! caller is handed back to the agent (relayed again, DTMF to the agent restored).

mod harness;

use std::time::Duration;

use harness::media::MediaOp;
use harness::{KNOWN_CALLER, World, WorldConfig};
use hotline_calls::messages::{CallAction, CallNotice};
use hotline_cti::PaymentStage;

#[test]
fn payment_flow_hands_the_caller_back_to_the_agent() {
    let mut w = World::new(WorldConfig::default());
    let (caller, id) = w.connected_call("alice", KNOWN_CALLER);
    let (a, b) = w.sessions(caller, "alice");
    assert_eq!(w.bridged_with(a), Some(b));
    w.command(
        "alice",
        CallAction::StartPayment {
            call: id.clone(),
            amount_minor: 1250,
            currency: "usd".into(),
            reference: "INV-7".into(),
        },
    )
    .expect("payment started");
    // "One moment", then the amount and the card prompts.
    w.advance(Duration::from_secs(10));
    assert_eq!(
        w.media.lock().suppressed.get(&b),
        Some(&true),
        "the agent hears no tones"
    );
    w.press(a, "4111111111111111#");
    w.advance(Duration::from_secs(5));
    w.press(a, "1230");
    w.advance(Duration::from_secs(5));
    w.press(a, "123");
    // The charge goes to the gateway (store work), then "thank you" and back to the agent.
    w.advance(Duration::from_secs(10));
    assert!(
        w.store.done.iter().any(|d| d == "charge"),
        "{:?}",
        w.store.done
    );
    assert_eq!(w.store.gateway.approved_total_minor(), 1250);
    assert_eq!(w.media.lock().suppressed.get(&b), Some(&false));
    assert_eq!(w.bridged_with(a), Some(b), "caller and agent relayed again");
    let stages: Vec<PaymentStage> = w
        .notices
        .iter()
        .filter_map(|(_, n)| match n {
            CallNotice::Payment { stage, agent, .. } if agent == "alice" => Some(stage.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(stages.first(), Some(PaymentStage::Started)),
        "{stages:?}"
    );
    assert!(
        stages
            .iter()
            .any(|s| matches!(s, PaymentStage::Approved { .. })),
        "{stages:?}"
    );
    let kinds = w.record_kinds(&id);
    for k in ["note:payment_started", "note:payment", "note:payment_ended"] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
    // The agent never got a digit relayed: no DTMF was sent toward the agent's leg.
    assert!(
        !w.media
            .lock()
            .log
            .iter()
            .any(|o| matches!(o, MediaOp::SendDtmf(s, _) if *s == b))
    );
    w.check_invariants().expect("invariants");
    // The call goes on with the agent, then ends once.
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(1));
    w.wind_down(Duration::from_secs(60)).expect("clean end");
    assert_eq!(w.store.ended(&id), 1);
}
