//! Parallel forking: an extension with several registered phones (a desk phone and a
//! softphone, say) rings them all at once. Leg B is the newest registration; the others are
//! the call's forks, INVITEd with their own dialogs and media sessions. The first phone to
//! answer becomes leg B and the others get CANCEL; a phone that refuses (busy, not found) is
//! forgotten while the others keep ringing, and if leg B itself refuses, a fork still ringing
//! takes its place. A `6xx` (decline everywhere) from any of them ends the ringing of all, as
//! RFC 3261 16.7 has a forking proxy do. Leg B's ring timer covers its forks.

use crate::CallKey;
use std::time::Instant;

use hotline_sip::{Message, StatusCode, TsxId};

use crate::{Core, Leg, Mode};

impl Core {
    /// A response to the INVITE of one of the call's forks.
    pub(crate) fn on_fork_response(
        &mut self,
        now: Instant,
        key: CallKey,
        tsx: TsxId,
        generation: u32,
        resp: Message<'static>,
        code: StatusCode,
    ) {
        let Some(c) = self.calls.get(&key) else {
            self.stale_fork_response(now, tsx, &resp, code);
            return;
        };
        // Promoted to leg B meanwhile: its responses are leg B's.
        if c.legs
            .callee
            .as_ref()
            .is_some_and(|b| b.invite_tsx() == Some(tsx))
        {
            self.on_b_invite_response(now, key, tsx, generation, resp, code);
            return;
        }
        let Some(i) = c.forks.iter().position(|f| f.invite_tsx() == Some(tsx)) else {
            self.stale_fork_response(now, tsx, &resp, code);
            return;
        };
        let live = c
            .legs
            .callee
            .as_ref()
            .is_some_and(|b| b.generation == generation && !b.answered());
        if !live {
            let fork = self.calls.get_mut(&key).map(|c| c.forks.remove(i));
            self.free_fork(fork);
            self.stale_fork_response(now, tsx, &resp, code);
            return;
        }
        if code.is_provisional() {
            // Ringing somewhere: the same as leg B ringing (the desktop's ringing state, the
            // caller's ringback), said again is harmless.
            if code.0 > 100 {
                let mode = c.mode;
                if mode == Mode::Bridge {
                    let body = resp.body.to_vec();
                    self.relay_provisional(now, key, code, Some(&body));
                } else {
                    self.agent_ringing(now, key);
                }
            }
            return;
        }
        if code.is_success() {
            // This phone answered first: it is leg B from now on.
            let generation = self.make_leg_b(now, key, i);
            tracing::info!(call = %self.calls.get(&key).map(|c| c.id.as_str()).unwrap_or(""),
                "answered on another phone of the extension");
            self.on_b_invite_response(now, key, tsx, generation, resp, code);
            return;
        }
        // This phone refused; the others ring on (a 6xx stops them all).
        self.by_tsx.remove(&tsx);
        let fork = self.calls.get_mut(&key).map(|c| c.forks.remove(i));
        self.free_fork(fork);
        if code.0 >= 600 {
            // Declined everywhere: leg B stops ringing too, and the call goes on as if leg B
            // had said it.
            if let Some(t) = self
                .calls
                .get_mut(&key)
                .and_then(|c| c.legs.callee.as_mut())
                .and_then(|b| b.take_invite_tsx())
            {
                let _ = self.ep.cancel(now, t);
            }
            self.b_refused(now, key, code);
        }
    }

    /// A response for a fork that no longer rings: a late `2xx` is ACKed and hung up.
    fn stale_fork_response(
        &mut self,
        now: Instant,
        tsx: TsxId,
        resp: &Message<'static>,
        code: StatusCode,
    ) {
        if code.is_success() {
            self.ack_and_bye(now, tsx, resp);
        }
        if code.is_final() {
            self.by_tsx.remove(&tsx);
        }
    }

    /// Leg B refused: a fork still ringing takes its place. False when there is none.
    pub(crate) fn promote_fork(&mut self, now: Instant, key: CallKey) -> bool {
        let Some(i) = self
            .calls
            .get(&key)
            .and_then(|c| c.forks.iter().position(|f| f.invite_tsx().is_some()))
        else {
            return false;
        };
        let generation = self.make_leg_b(now, key, i);
        // Its own ring timer from now (leg B's was for the leg it replaces).
        self.schedule(
            now + self.ring_timeout,
            crate::TimerAction::RingTimeout {
                call: key,
                role: crate::Role::Callee,
                generation,
            },
        );
        true
    }

    /// Fork `i` becomes leg B under a new generation, so that the leg it replaces (CANCELled
    /// here if still ringing) and its late answers are told apart as stale.
    fn make_leg_b(&mut self, now: Instant, key: CallKey, i: usize) -> u32 {
        let Some(c) = self.calls.get_mut(&key) else {
            return 0;
        };
        let mut fork = c.forks.remove(i);
        c.b_generation += 1;
        let generation = c.b_generation;
        fork.generation = generation;
        if let Some(t) = fork.invite_tsx() {
            self.by_tsx
                .insert(t, (key, crate::TsxRole::Invite { generation }));
        }
        let mut old = c.legs.callee.replace(fork);
        let cancel = old.as_mut().and_then(|b| b.take_invite_tsx());
        self.free_fork(old);
        if let Some(t) = cancel {
            // Its by_tsx entry stays: a 2xx crossing the CANCEL is ACKed and hung up as stale.
            let _ = self.ep.cancel(now, t);
        }
        generation
    }

    /// CANCELs every fork of the call and frees their media sessions.
    pub(crate) fn cancel_forks(&mut self, now: Instant, key: CallKey) {
        let forks = match self.calls.get_mut(&key) {
            Some(c) => std::mem::take(&mut c.forks),
            None => return,
        };
        for mut f in forks {
            crate::legs::hang_up(&mut self.ep, now, &mut f, None);
            self.free_fork(Some(f));
        }
    }

    /// Releases a fork that will not become leg B (it never answered: only its media).
    fn free_fork(&mut self, leg: Option<Leg>) {
        if let Some(leg) = leg {
            self.forget_leg(&leg);
        }
    }
}
