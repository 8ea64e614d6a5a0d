//! Voicemail becomes a ticket, in simulated time with the shipped flows: a caller in the
//! support queue with nobody ready waits out the queue's 10 minutes, is offered voicemail,
//! records, and either presses `#` (the message is filed, she hears its reference number digit
//! by digit, then goodbye) or hangs up mid-message (filed all the same, nothing said). One
//! ticket per call, in the queue the flow names, with the recording's file name.

mod harness;

use std::time::Duration;

use harness::media::MediaOp;
use harness::phone::UaState;
use harness::{KNOWN_CALLER, SERVICE_NUMBER, World, WorldConfig};

/// A caller in the support queue until the queue gives up and the recording starts.
fn into_voicemail(w: &mut World) -> (u32, String, hotline_media::SessionId) {
    let caller = w.pstn_call(KNOWN_CALLER, SERVICE_NUMBER);
    w.advance(Duration::from_secs(5));
    let id = w.snapshot().calls[0].id.clone();
    let a = w.session_of("trunk", caller).expect("caller's session");
    w.press(a, "2"); // support
    w.advance(Duration::from_secs(601)); // max_wait_secs = 600
    w.advance(Duration::from_secs(15)); // "all agents busy", "leave a message"
    let recording = w.media.lock().log.iter().find_map(|o| match o {
        MediaOp::StartRecording(_, name, legs) if legs == &[a] => Some(name.clone()),
        _ => None,
    });
    assert_eq!(recording.as_deref(), Some(format!("vm-{id}").as_str()));
    (caller, id, a)
}

#[test]
fn pound_files_the_message_and_the_caller_hears_its_reference() {
    let mut w = World::new(WorldConfig {
        ready: false,
        ..WorldConfig::default()
    });
    let (caller, id, a) = into_voicemail(&mut w);
    w.advance(Duration::from_secs(8)); // the message
    w.press(a, "#");
    w.advance(Duration::from_secs(1));
    assert_eq!(w.store.voicemails.len(), 1, "{:?}", w.store.done);
    let v = &w.store.voicemails[0];
    assert_eq!(
        (v.call_id.as_str(), v.queue.as_str(), v.recording.as_str()),
        (id.as_str(), "support", format!("vm-{id}.wav").as_str())
    );
    assert_eq!(v.caller, KNOWN_CALLER);
    assert!(
        (8_000..30_000).contains(&v.duration_ms),
        "{}",
        v.duration_ms
    );
    assert!(
        w.media
            .lock()
            .log
            .iter()
            .any(|o| matches!(o, MediaOp::StopRecording(_))),
        "recording stopped"
    );
    // The reference (ticket 1), then the goodbye.
    let said: Vec<Vec<String>> = w
        .media
        .lock()
        .log
        .iter()
        .filter_map(|o| match o {
            MediaOp::Play(s, p) if *s == a => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert!(
        said.iter()
            .any(|p| p == &["reference-number".to_string(), "1".to_string()]),
        "{said:?}"
    );
    w.advance(Duration::from_secs(15));
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Ended));
    assert!(
        w.record_kinds(&id)
            .contains(&"note:voicemail_filed".to_string()),
        "{:?}",
        w.record_kinds(&id)
    );
    assert_eq!(w.store.voicemails.len(), 1, "filed once");
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn hanging_up_mid_message_files_it_all_the_same() {
    let mut w = World::new(WorldConfig {
        ready: false,
        ..WorldConfig::default()
    });
    let (caller, id, _) = into_voicemail(&mut w);
    w.advance(Duration::from_secs(5));
    w.with_phone("trunk", |p, now| p.hangup(now, caller));
    w.advance(Duration::from_secs(2));
    assert_eq!(w.store.voicemails.len(), 1, "{:?}", w.store.done);
    assert_eq!(w.store.voicemails[0].call_id, id);
    assert!(w.snapshot().calls.is_empty());
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn a_store_that_cannot_file_says_no_reference_and_ends_the_call() {
    let mut w = World::new(WorldConfig {
        ready: false,
        ..WorldConfig::default()
    });
    let (caller, _, a) = into_voicemail(&mut w);
    w.store.fail_next = 1;
    // (The driver retries a failed filing itself; the core is told once, here: not filed.)
    w.press(a, "#");
    w.advance(Duration::from_secs(20));
    assert!(w.store.voicemails.is_empty());
    assert_eq!(w.ua_state("trunk", caller), Some(UaState::Ended));
    let said: Vec<String> = w
        .media
        .lock()
        .log
        .iter()
        .filter_map(|o| match o {
            MediaOp::Play(s, p) if *s == a => Some(p.join(" ")),
            _ => None,
        })
        .collect();
    assert!(
        !said.iter().any(|p| p.contains("reference-number")),
        "{said:?}"
    );
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn an_agent_hears_a_voicemail_on_her_phone_and_the_call_ends_after_it() {
    use hotline_calls::messages::{CallAction, CallNotice};
    let mut w = World::new(WorldConfig::default());
    let id = w
        .command(
            "alice",
            CallAction::PlayRecording {
                file: "vm-c-1.wav".into(),
                label: "voicemail 17".into(),
            },
        )
        .expect("play")
        .expect("call id");
    assert!(w.notices.iter().any(|(_, n)| matches!(
        n,
        CallNotice::Dialing { call, peer, .. } if call == &id && peer == "voicemail 17"
    )));
    // Her phone answers (2 s): the recording plays on her leg, then the switch hangs up.
    w.advance(Duration::from_secs(30));
    let played = w
        .media
        .lock()
        .log
        .iter()
        .any(|o| matches!(o, MediaOp::Play(_, p) if p == &["vm-c-1".to_string()]));
    assert!(played, "{:?}", w.media.lock().log);
    assert!(
        w.record_kinds(&id)
            .contains(&"note:play_recording".to_string()),
        "{:?}",
        w.record_kinds(&id)
    );
    let ended = w.notices.iter().find_map(|(_, n)| match n {
        CallNotice::Ended { call, reason, .. } if call == &id => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(ended.as_deref(), Some("recording played"));
    assert!(w.snapshot().calls.is_empty());
    w.wind_down(Duration::from_secs(60)).expect("clean end");
}

#[test]
fn a_recording_name_with_a_path_is_refused() {
    use hotline_calls::messages::CallAction;
    let mut w = World::new(WorldConfig::default());
    for file in ["../etc/passwd", "a/b.wav", ".hidden", ""] {
        let r = w.command(
            "alice",
            CallAction::PlayRecording {
                file: file.into(),
                label: "x".into(),
            },
        );
        assert!(r.is_err(), "{file:?}: {r:?}");
    }
    assert!(w.snapshot().calls.is_empty());
}
