//! Proves the queue node (music, position and wait announcements on a timer, periodic
//! messages, callback offer by digit, max wait, agent answer, caller hang-up), transfer
//! (success, failure to on_fail) and voicemail (recording into a ticket, timeout) nodes.

mod common;
use std::time::Duration;

use common::*;
use hotline_ivr::*;

const QUEUE: &str = r#"
[flow]
start = "q"

[nodes.q]
type = "queue"
queue = "support"
announce_every_secs = 30
periodic_prompts = ["thank_you_for_waiting"]
music = "hold_music"
callback_digit = "1"
callback_prompts = ["press_1_for_callback"]
on_callback = "cb"
max_wait_secs = 100
on_max_wait = "vm"

[nodes.cb]
type = "hangup"
prompts = ["we_will_call_you_back"]

[nodes.vm]
type = "voicemail"
prompts = ["leave_a_message"]
max_duration_secs = 60
ticket_queue = "support"
subject = "Voicemail from the support queue"
next = "bye"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

fn status(position: u32, wait_secs: u64) -> QueueStatus {
    QueueStatus {
        position,
        waiting: position,
        agents_available: 0,
        estimated_wait: Duration::from_secs(wait_secs),
    }
}

#[test]
fn announcements_music_and_agent_answer() {
    let mut sim = Sim::new(QUEUE);
    let joined = sim.now;
    let a = sim.start();
    assert_eq!(names(&a), ["Enqueue", "PlayMusic", "QueryQueue"]);
    let Action::Enqueue {
        callback_digit,
        announcements,
        ..
    } = &a[0]
    else {
        unreachable!()
    };
    assert_eq!(*callback_digit, Digit::from_char('1'));
    assert_eq!(announcements.every, Duration::from_secs(30));
    let r = sim.last_request();
    let a = sim.event(Event::QueueStatus {
        request: Some(r),
        status: status(3, 150),
    });
    assert_eq!(
        played(&a),
        [
            "phrases/you-are-caller-number",
            "digits/3",
            "phrases/estimated-wait",
            "digits/3",
            "phrases/minutes",
            "thank_you_for_waiting",
            "press_1_for_callback"
        ]
    );
    let a = sim.finish_prompt();
    assert_eq!(names(&a), ["PlayMusic"]);
    // An unsolicited update changes nothing audible.
    assert!(
        sim.event(Event::QueueStatus {
            request: None,
            status: status(2, 50)
        })
        .is_empty()
    );
    // 30 s after joining, the next announcement.
    let a = sim.advance(joined + Duration::from_millis(29_999) - sim.now);
    assert!(a.is_empty());
    let a = sim.advance(Duration::from_millis(1));
    assert_eq!(names(&a), ["QueryQueue"]);
    let r = sim.last_request();
    let a = sim.event(Event::QueueStatus {
        request: Some(r),
        status: status(1, 20),
    });
    assert_eq!(
        &played(&a)[..4],
        [
            "phrases/you-are-caller-number",
            "digits/1",
            "phrases/estimated-wait",
            "flow/less-than-a-minute"
        ]
    );
    // Keys other than the callback digit are ignored.
    assert!(sim.digits("5").is_empty());
    let a = sim.event(Event::AgentConnected {
        agent: "agent-7".into(),
    });
    assert_eq!(names(&a), ["StopPlayback"]);
    assert_eq!(
        sim.s.outcome(),
        Some(&Outcome::Connected {
            queue: "support".into(),
            agent: "agent-7".into()
        })
    );
}

#[test]
fn callback_offer_by_digit_during_announcement() {
    let mut sim = Sim::new(QUEUE);
    sim.start();
    let r = sim.last_request();
    sim.event(Event::QueueStatus {
        request: Some(r),
        status: status(4, 300),
    });
    let a = sim.digits("1");
    assert_eq!(
        names(&a)[..3],
        ["StopPlayback", "LeaveQueue", "RequestCallback"]
    );
    assert!(
        matches!(&a[2], Action::RequestCallback { number, .. } if number.as_str() == "+15551234567")
    );
    assert_eq!(played(&a), ["we_will_call_you_back"]);
    assert_eq!(sim.s.variables()["callback"], "requested");
    assert!(sim.s.poll_timeout().is_none(), "queue timers are gone");
}

/// A caller whose number call control may not call back (a forged premium number) hears no
/// callback offer, and the callback digit does nothing: no callback request can be made.
#[test]
fn withheld_callback_is_neither_offered_nor_taken() {
    let mut sim = Sim::new(QUEUE);
    sim.s.set_callback_offer(CallbackOffer::Withheld);
    sim.start();
    let r = sim.last_request();
    let a = sim.event(Event::QueueStatus {
        request: Some(r),
        status: status(4, 300),
    });
    let heard = played(&a);
    assert!(
        heard.contains(&"thank_you_for_waiting".to_string()),
        "{heard:?}"
    );
    assert!(
        !heard.contains(&"press_1_for_callback".to_string()),
        "{heard:?}"
    );
    let a = sim.digits("1");
    assert!(
        !names(&a)
            .iter()
            .any(|n| n == "RequestCallback" || n == "LeaveQueue"),
        "{a:?}"
    );
    assert!(!sim.s.variables().contains_key("callback"));
    assert!(!sim.s.is_finished(), "still waiting in the queue");
}

#[test]
fn max_wait_goes_to_voicemail_ticket() {
    let mut sim = Sim::new(QUEUE);
    sim.start();
    // Nobody answers the status queries; music keeps playing; at 100 s the caller leaves.
    let a = sim.advance(Duration::from_secs(100));
    let n = names(&a);
    assert_eq!(n.iter().filter(|n| *n == "QueryQueue").count(), 3, "{n:?}"); // 30, 60, 90 s
    assert!(n.contains(&"LeaveQueue".to_string()));
    assert_eq!(played(&a), ["leave_a_message"]);
    let a = sim.finish_prompt();
    let Action::RecordVoicemail {
        max_duration,
        ticket_queue,
        subject,
        ..
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert_eq!(
        (max_duration.as_secs(), ticket_queue.as_str()),
        (60, "support")
    );
    assert!(subject.contains("support queue"));
    let r = sim.last_request();
    let a = sim.event(Event::RecordingFinished {
        request: r,
        ticket: Some("42".into()),
    });
    // No reference_prompts in this flow: the reference is kept, not said.
    assert_eq!(played(&a), ["goodbye"]);
    assert_eq!(sim.s.variables()["voicemail"], "recorded");
    assert_eq!(sim.s.variables()["ticket"], "42");
}

const VOICEMAIL_WITH_REFERENCE: &str = r#"
[flow]
name = "vm"
start = "vm"

[nodes.vm]
type = "voicemail"
prompts = ["leave_a_message"]
max_duration_secs = 60
ticket_queue = "support"
reference_prompts = ["your_reference_is"]
next = "bye"

[nodes.bye]
type = "hangup"
prompts = ["goodbye"]
"#;

#[test]
fn pound_ends_the_message_and_the_reference_is_said_digit_by_digit() {
    let mut sim = Sim::new(VOICEMAIL_WITH_REFERENCE);
    let a = sim.start();
    assert_eq!(played(&a), ["leave_a_message"]);
    let a = sim.finish_prompt();
    assert!(matches!(a[0], Action::RecordVoicemail { .. }), "{a:?}");
    let r = sim.last_request();
    // Digits in the message are part of it; # ends it, once.
    assert!(sim.digits("12").is_empty());
    let a = sim.digits("#");
    assert_eq!(names(&a), ["EndRecording"]);
    assert!(sim.digits("#").is_empty());
    let a = sim.event(Event::RecordingFinished {
        request: r,
        ticket: Some("107".into()),
    });
    assert_eq!(
        played(&a),
        ["your_reference_is", "digits/1", "digits/0", "digits/7"]
    );
    let a = sim.finish_prompt();
    assert_eq!(played(&a), ["goodbye"]);
}

#[test]
fn a_message_not_filed_says_no_reference() {
    let mut sim = Sim::new(VOICEMAIL_WITH_REFERENCE);
    sim.start();
    sim.finish_prompt();
    let r = sim.last_request();
    let a = sim.event(Event::RecordingFinished {
        request: r,
        ticket: None,
    });
    assert_eq!(played(&a), ["goodbye"]);
}

#[test]
fn end_digit_must_be_one_key() {
    let bad = VOICEMAIL_WITH_REFERENCE.replace(
        "ticket_queue = \"support\"",
        "ticket_queue = \"support\"\nend_digit = \"##\"",
    );
    let e = hotline_ivr::Flow::parse(std::path::Path::new("vm.toml"), &bad, &AnyPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("end_digit"), "{e}");
}

#[test]
fn voicemail_that_never_reports_ends_after_max_duration() {
    let mut sim = Sim::new(QUEUE);
    sim.start();
    sim.advance(Duration::from_secs(100));
    sim.finish_prompt();
    let a = sim.advance(Duration::from_secs(60) + RESULT_TIMEOUT);
    assert_eq!(played(&a), ["goodbye"]);
}

#[test]
fn caller_hangup_in_queue_leaves_it() {
    let mut sim = Sim::new(QUEUE);
    sim.start();
    let a = sim.event(Event::CallerHungUp);
    assert_eq!(names(&a), ["LeaveQueue"]);
    assert_eq!(sim.s.outcome(), Some(&Outcome::CallerHungUp));
}

const TRANSFER: &str = r#"
[flow]
start = "t"
[nodes.t]
type = "transfer"
prompts = ["transferring"]
number = "+442071234567"
on_fail = "ext"
[nodes.ext]
type = "transfer"
extension = "2001"
"#;

#[test]
fn transfer_outside_fails_then_extension_succeeds() {
    let mut sim = Sim::new(TRANSFER);
    let a = sim.start();
    assert_eq!(played(&a), ["transferring"]);
    let a = sim.finish_prompt();
    assert!(
        matches!(&a[0], Action::Transfer { target: TransferTarget::External(n), .. } if n == "+442071234567")
    );
    let r = sim.last_request();
    let a = sim.event(Event::TransferResult {
        request: r,
        ok: false,
    });
    assert!(
        matches!(&a[0], Action::Transfer { target: TransferTarget::Extension(n), .. } if n == "2001")
    );
    let r = sim.last_request();
    sim.event(Event::TransferResult {
        request: r,
        ok: true,
    });
    assert_eq!(
        sim.s.outcome(),
        Some(&Outcome::Transferred {
            target: TransferTarget::Extension("2001".into())
        })
    );
}

#[test]
fn transfer_without_on_fail_hangs_up_after_timeout() {
    let mut sim = Sim::new(TRANSFER);
    sim.start();
    sim.finish_prompt();
    let r = sim.last_request();
    sim.event(Event::TransferResult {
        request: r,
        ok: false,
    });
    let a = sim.advance(TRANSFER_TIMEOUT);
    assert_eq!(names(&a), ["Hangup"]);
    assert_eq!(sim.s.outcome(), Some(&Outcome::HungUp));
}
