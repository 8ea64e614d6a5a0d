//! Sequence numbers and resynchronisation after a reconnect, as pure data structures.
//!
//! The server keeps an [`EventLog`] per session: it numbers events and remembers the last few
//! hundred. A desktop keeps a [`SeqTracker`]: it notices duplicates and gaps. On reconnect the
//! desktop sends `resume_session { last_seq }` and the server's [`EventLog::resync`] says whether
//! the missed events can be replayed or a snapshot must be sent.

use std::collections::VecDeque;

use crate::event::Event;
use crate::frame::{EventFrame, Resync};
use crate::ids::Seq;

/// The server's per-session numbered event history.
#[derive(Debug)]
pub struct EventLog {
    last: Seq,
    capacity: usize,
    recent: VecDeque<EventFrame>,
}

/// What to send a resuming client.
#[derive(Debug, PartialEq)]
pub enum ResyncPlan {
    /// Send `resumed { resync: replay }`, then these frames in order (possibly none).
    Replay(Vec<EventFrame>),
    /// Send `resumed { resync: snapshot }`, then push a fresh `snapshot` event.
    Snapshot,
}

impl ResyncPlan {
    /// The `resync` field of the `resumed` reply for this plan.
    pub fn reply(&self, log: &EventLog) -> Resync {
        match self {
            ResyncPlan::Replay(frames) => Resync::Replay {
                from_seq: frames.first().map_or(log.last.next(), |f| f.seq),
                to_seq: log.last,
            },
            ResyncPlan::Snapshot => Resync::Snapshot,
        }
    }
}

impl EventLog {
    /// A log remembering the last `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        EventLog {
            last: Seq(0),
            capacity: capacity.max(1),
            recent: VecDeque::with_capacity(capacity.clamp(1, 1024)),
        }
    }

    /// Numbers an event and remembers it; returns the frame to send.
    pub fn push(&mut self, event: Event) -> EventFrame {
        self.last = self.last.next();
        let frame = EventFrame {
            seq: self.last,
            event,
        };
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(frame.clone());
        frame
    }

    /// The seq of the last event pushed (0 before the first).
    pub fn last_seq(&self) -> Seq {
        self.last
    }

    /// Decides how a client that processed everything up to `client_last` catches up.
    pub fn resync(&self, client_last: Seq) -> ResyncPlan {
        if client_last > self.last {
            // The client claims events we never sent: its state cannot be trusted.
            return ResyncPlan::Snapshot;
        }
        if client_last == self.last {
            return ResyncPlan::Replay(Vec::new());
        }
        let wanted = client_last.next();
        match self.recent.front() {
            Some(first) if first.seq <= wanted => ResyncPlan::Replay(
                self.recent
                    .iter()
                    .filter(|f| f.seq >= wanted)
                    .cloned()
                    .collect(),
            ),
            _ => ResyncPlan::Snapshot,
        }
    }
}

/// The client's view of the event stream.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    last: Option<Seq>,
}

/// What a client should do with an event it received.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum SeqCheck {
    /// Apply it.
    Apply,
    /// Already seen (a replay overlapping what arrived before the drop): ignore it.
    Duplicate,
    /// Events are missing between the last seen and this one: resume (or re-login) to resync.
    Gap {
        /// The seq that was expected.
        expected: Seq,
        /// The seq that arrived.
        got: Seq,
    },
}

impl SeqTracker {
    /// A tracker that has seen nothing.
    pub fn new() -> Self {
        SeqTracker { last: None }
    }

    /// The last applied seq (0 when none), for `resume_session`.
    pub fn last_seq(&self) -> Seq {
        self.last.unwrap_or_default()
    }

    /// Forgets everything (after a fresh login: the new session's seqs start at 1 again).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Checks an event frame. A `snapshot` event is always applied and restarts tracking at its
    /// seq, because it replaces all earlier state.
    pub fn observe(&mut self, frame: &EventFrame) -> SeqCheck {
        if matches!(frame.event, Event::Snapshot(_)) {
            self.last = Some(frame.seq);
            return SeqCheck::Apply;
        }
        let expected = self.last.map_or(Seq(1), Seq::next);
        if frame.seq == expected {
            self.last = Some(frame.seq);
            SeqCheck::Apply
        } else if frame.seq < expected {
            SeqCheck::Duplicate
        } else {
            SeqCheck::Gap {
                expected,
                got: frame.seq,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::LogoutReason;

    fn ev() -> Event {
        Event::LoggedOut {
            reason: LogoutReason::Requested,
        }
    }

    #[test]
    fn seqs_start_at_one_and_increase() {
        let mut log = EventLog::new(4);
        assert_eq!(log.last_seq(), Seq(0));
        let seqs: Vec<u64> = (0..6).map(|_| log.push(ev()).seq.0).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn resync_replays_what_is_still_remembered() {
        let mut log = EventLog::new(4);
        for _ in 0..6 {
            let _ = log.push(ev());
        }
        // remembered: 3, 4, 5, 6
        match log.resync(Seq(3)) {
            ResyncPlan::Replay(frames) => {
                assert_eq!(
                    frames.iter().map(|f| f.seq.0).collect::<Vec<_>>(),
                    [4, 5, 6]
                );
            }
            other => panic!("{other:?}"),
        }
        let plan = log.resync(Seq(2));
        assert!(matches!(plan, ResyncPlan::Replay(ref f) if f.len() == 4));
        assert_eq!(
            plan.reply(&log),
            Resync::Replay {
                from_seq: Seq(3),
                to_seq: Seq(6)
            }
        );
        assert_eq!(log.resync(Seq(1)), ResyncPlan::Snapshot);
        assert_eq!(log.resync(Seq(0)), ResyncPlan::Snapshot);
        assert_eq!(log.resync(Seq(9)), ResyncPlan::Snapshot);
        let nothing = log.resync(Seq(6));
        assert_eq!(nothing, ResyncPlan::Replay(Vec::new()));
        assert_eq!(
            nothing.reply(&log),
            Resync::Replay {
                from_seq: Seq(7),
                to_seq: Seq(6)
            }
        );
    }

    #[test]
    fn fresh_log_replays_everything_from_zero() {
        let mut log = EventLog::new(8);
        let _ = log.push(ev());
        let _ = log.push(ev());
        assert!(matches!(log.resync(Seq(0)), ResyncPlan::Replay(ref f) if f.len() == 2));
    }

    #[test]
    fn tracker_detects_duplicates_and_gaps() {
        let mut t = SeqTracker::new();
        let f = |n| EventFrame {
            seq: Seq(n),
            event: ev(),
        };
        assert_eq!(t.observe(&f(1)), SeqCheck::Apply);
        assert_eq!(t.observe(&f(2)), SeqCheck::Apply);
        assert_eq!(t.observe(&f(2)), SeqCheck::Duplicate);
        assert_eq!(
            t.observe(&f(4)),
            SeqCheck::Gap {
                expected: Seq(3),
                got: Seq(4)
            }
        );
        assert_eq!(t.last_seq(), Seq(2));
        assert_eq!(t.observe(&f(3)), SeqCheck::Apply);
        t.reset();
        assert_eq!(t.last_seq(), Seq(0));
        assert_eq!(t.observe(&f(1)), SeqCheck::Apply);
    }
}
