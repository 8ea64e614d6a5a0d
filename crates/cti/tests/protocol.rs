//! Behaviour of the protocol helpers the switch and the desktop rely on: role checks, decode
//! errors that name the request without echoing personal data, version negotiation, and
//! redacted `Debug` output of whole frames.

use hotline_cti::{
    AgentId, CallId, Command, CtiError, MAX_FRAME_BYTES, Phase, Role, ServerFrame, allowed,
    decode_client, decode_server, negotiate,
};

fn cmd(json: &str) -> Command {
    decode_client(&format!(r#"{{"id":1,"cmd":{json}}}"#))
        .expect("valid command")
        .cmd
}

#[test]
fn agents_cannot_use_supervisor_commands() {
    let supervisor_only = [
        r#"{"type":"subscribe_wallboard","queues":[]}"#,
        r#"{"type":"unsubscribe_wallboard"}"#,
        r#"{"type":"monitor","call":"c1","mode":"listen"}"#,
        r#"{"type":"stop_monitor","call":"c1"}"#,
        r#"{"type":"take_over","call":"c1"}"#,
        r#"{"type":"force_not_ready","agent":"1","reason":"x"}"#,
        r#"{"type":"force_logout","agent":"1"}"#,
        r#"{"type":"set_skills","agent":"1","skills":[]}"#,
    ];
    for json in supervisor_only {
        let c = cmd(json);
        assert!(!allowed(Role::Agent, &c), "{json}");
        assert!(allowed(Role::Supervisor, &c), "{json}");
        assert!(allowed(Role::Admin, &c), "{json}");
        assert_eq!(c.phase(), Phase::Session);
    }
    let agent_level = [
        r#"{"type":"ready"}"#,
        r#"{"type":"answer","call":"c1"}"#,
        r#"{"type":"reject","call":"c1"}"#,
        r#"{"type":"wrap_up","call":"c1","disposition":"resolved","notes":""}"#,
        r#"{"type":"request_help","message":"help"}"#,
    ];
    for json in agent_level {
        let c = cmd(json);
        assert!(allowed(Role::Agent, &c), "{json}");
        assert!(allowed(Role::Supervisor, &c), "{json}");
    }
    // The type list the doc coverage test walks has every command.
    assert_eq!(Command::TYPES.len(), 37);
}

#[test]
fn handshake_commands_need_no_session() {
    for json in [
        r#"{"type":"hello","versions":[1],"client":"t"}"#,
        r#"{"type":"login","agent":"1001","password":"pw"}"#,
        r#"{"type":"resume_session","session":"s","last_seq":3}"#,
        r#"{"type":"heartbeat"}"#,
    ] {
        assert_eq!(cmd(json).phase(), Phase::Handshake, "{json}");
    }
    assert_eq!(cmd(r#"{"type":"logout"}"#).phase(), Phase::Session);
}

#[test]
fn bad_frames_keep_the_request_id_and_hide_values() {
    let err = decode_client(r#"{"id":42,"cmd":{"type":"answer","call":17}}"#).unwrap_err();
    match err {
        CtiError::BadFrame { id, .. } => assert_eq!(id.map(|i| i.0), Some(42)),
        other => panic!("{other:?}"),
    }
    // A bad DTMF string: the reason must not repeat what the agent typed.
    let err = decode_client(
        r#"{"id":5,"cmd":{"type":"send_dtmf","call":"c1","digits":"4111-1111-1111"}}"#,
    )
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("4111"), "{text}");
    assert!(matches!(err, CtiError::BadFrame { id: Some(_), .. }));

    // Wrong type for a personal field: serde would quote the value; we do not.
    let err =
        decode_client(r#"{"id":6,"cmd":{"type":"outbound_call","number":{"x":"+441632960002"}}}"#)
            .unwrap_err();
    assert!(!format!("{err}").contains("+4416"), "{err}");

    // Unknown command type is an error, not a panic.
    assert!(decode_client(r#"{"id":7,"cmd":{"type":"fly"}}"#).is_err());
    // Not even an id: no id to answer.
    assert!(matches!(
        decode_client("not json"),
        Err(CtiError::BadFrame { id: None, .. })
    ));
    // An array is no frame and has no id, though serde reads a struct from one (found by the
    // cti_frame fuzz target: `[4]` was answered as request 4).
    assert!(matches!(
        decode_client("[4]"),
        Err(CtiError::BadFrame { id: None, .. })
    ));
}

#[test]
fn oversized_frames_are_refused() {
    let big = format!(
        r#"{{"id":1,"cmd":{{"type":"request_help","message":"{}"}}}}"#,
        "x".repeat(MAX_FRAME_BYTES)
    );
    assert!(matches!(
        decode_client(&big),
        Err(CtiError::FrameTooLarge { .. })
    ));
}

#[test]
fn server_frames_must_be_response_or_event() {
    assert!(decode_server(r#"{"re":1,"ok":{"type":"done"}}"#).is_ok());
    assert!(
        decode_server(r#"{"re":1,"ok":{"type":"done"},"error":{"code":"internal","message":""}}"#)
            .is_err()
    );
    assert!(decode_server(r#"{"re":1,"ok":{"type":"done"},"seq":3,"event":{"type":"logged_out","reason":{"kind":"requested"}}}"#).is_err());
    assert!(decode_server(r#"{"seq":3}"#).is_err());
    // Unknown error codes from a newer server still decode.
    let f = decode_server(r#"{"re":1,"error":{"code":"quota_exceeded","message":"later"}}"#)
        .expect("decodes");
    let ServerFrame::Response(r) = f else {
        panic!("response expected")
    };
    assert_eq!(r.result.unwrap_err().code, hotline_cti::ErrorCode::Other);
    // Unknown fields are ignored (forward compatible).
    assert!(decode_server(r#"{"re":1,"ok":{"type":"done","extra":1},"trace":"x"}"#).is_ok());
}

#[test]
fn version_negotiation_picks_the_highest_common() {
    assert_eq!(negotiate(&[1]).unwrap(), 1);
    assert_eq!(negotiate(&[0, 1, 2, 3]).unwrap(), 1);
    assert!(matches!(
        negotiate(&[]),
        Err(CtiError::UnsupportedVersion { .. })
    ));
    assert!(negotiate(&[2]).is_err());
}

#[test]
fn debug_of_a_screen_pop_frame_shows_no_personal_data() {
    let md = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/cti-protocol.md"
    ))
    .expect("doc");
    let pop_line = md
        .lines()
        .find(|l| l.contains("\"call_offered\"") && l.contains("Ada Lovelace"))
        .expect("screen pop example");
    let frame = decode_server(pop_line).expect("decodes");
    let debug = format!("{frame:?}");
    for secret in [
        "Ada Lovelace",
        "+441632960001",
        "7700123",
        "Asked about late fee",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
    // Non-personal parts stay visible for debugging.
    assert!(debug.contains("c-20261123-0001"));
    assert!(debug.contains("billing"));

    let login =
        decode_client(r#"{"id":2,"cmd":{"type":"login","agent":"1001","password":"hunter2"}}"#)
            .expect("decodes");
    assert!(!format!("{login:?}").contains("hunter2"));
}

#[test]
fn command_call_accessor() {
    let c = Command::Answer {
        call: CallId::new("c9"),
    };
    assert_eq!(c.call().map(CallId::as_str), Some("c9"));
    assert_eq!(
        Command::ForceLogout {
            agent: AgentId::new("1")
        }
        .call(),
        None
    );
}
