//! A call's record: its events numbered in order. Call control emits each event as
//! [`crate::Output::Record`]; the switch's writer stores them (idempotent by call id and
//! sequence number).

use hotline_records::{CallEvent, CallEventKind};

/// Numbers the events of one call for the call-record writer.
#[derive(Debug)]
pub struct CallLog {
    pub call_id: String,
    next_seq: i64,
}

impl CallLog {
    pub fn new(call_id: String) -> CallLog {
        CallLog {
            call_id,
            next_seq: 0,
        }
    }

    /// The event with the next sequence number.
    pub fn event(&mut self, at: i64, kind: CallEventKind) -> CallEvent {
        let seq = self.next_seq;
        self.next_seq += 1;
        CallEvent {
            call_id: self.call_id.clone(),
            seq,
            at,
            kind,
        }
    }
}
