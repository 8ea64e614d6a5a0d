//! The CTI codec (`crates/cti/src/frame.rs`): the switch's decoder of client frames and the
//! desktop's decoder of server frames, on the same text.
//!
//! Properties: neither decoder panics on any text (UTF-8 only, as a WebSocket text message
//! is); a frame that decodes encodes and decodes to an equal frame, and encodes to the same
//! text again (decode -> encode -> decode equal); an error's request id is only reported when
//! the text has one; what the server does next with a decoded command (phase, role checks,
//! version negotiation) never panics.
#![no_main]

use hotline_cti::{
    Command, CtiError, Role, allowed, decode_client, decode_server, encode_client, encode_server,
    negotiate,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(text) {
        Ok(frame) => {
            let encoded = encode_client(&frame).expect("a decoded client frame encodes");
            let again = decode_client(&encoded).expect("an encoded client frame decodes");
            assert_eq!(again, frame, "client frame decode -> encode -> decode");
            assert_eq!(encode_client(&again).unwrap(), encoded);
            let _ = frame.cmd.phase();
            for role in [Role::Agent, Role::Supervisor, Role::Admin] {
                let _ = allowed(role, &frame.cmd);
            }
            if let Command::Hello { versions, .. } = &frame.cmd
                && let Ok(v) = negotiate(versions)
            {
                assert!(
                    versions.contains(&v),
                    "negotiated a version the client lacks"
                );
            }
            let _ = format!("{frame:?}");
        }
        Err(CtiError::BadFrame {
            id: Some(_),
            reason,
        }) => {
            assert!(
                text.contains("\"id\""),
                "an id reported from a frame without one"
            );
            assert!(!reason.is_empty());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match decode_server(text) {
        Ok(frame) => {
            let encoded = encode_server(&frame).expect("a decoded server frame encodes");
            let again = decode_server(&encoded).expect("an encoded server frame decodes");
            assert_eq!(again, frame, "server frame decode -> encode -> decode");
            assert_eq!(encode_server(&again).unwrap(), encoded);
            let _ = format!("{frame:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
