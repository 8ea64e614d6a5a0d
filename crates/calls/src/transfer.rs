//! Transfers from the phone's own keys: REFER (RFC 3515), blind and attended (with `Replaces`,
//! RFC 3891).
//!
//! Only the phone the switch called (leg B: an extension or an agent's phone) may transfer its
//! caller; a REFER from a caller's or a trunk's role is refused (`403`), so nobody outside can
//! make the switch call anyone. The target is the user part of `Refer-To` only (the switch never
//! follows a URI a phone wrote), resolved like a transfer from the desktop: an agent id, a queue,
//! or whatever the dial plan routes, outside numbers through the trunk under the same rules as
//! dialling.
//!
//! * **Blind** (`Refer-To: <sip:1003@switch>`): `202`, a NOTIFY whose `message/sipfrag` says
//!   `200 OK` (the transfer is under way; the implicit subscription ends), then the switch
//!   hangs up the transferring phone and rings the target, through the one transfer path
//!   ([`Core::transfer_caller`]) the desktop uses too.
//! * **Attended** (`Refer-To: <sip:1003@switch?Replaces=...>`): the phone first called the
//!   target through the switch (a second call, from the phone); `Replaces` names that call's
//!   dialog. The target's leg moves into the first call in place of the transferring phone, its
//!   media is bridged to the caller (re-offered on the caller's media worker when needed), and
//!   both of the transferring phone's legs end. Needs anchored media.

use crate::CallKey;
use std::time::Instant;

use hotline_media::SessionOptions;
use hotline_records::CallEventKind;
use hotline_sip::sdp::Direction as SdpDirection;
use hotline_sip::{DialogId, Message, StatusCode, TsxId};

use crate::messages::{CallError, CallNotice};
use crate::service::RoutingOp;
use crate::{Core, LegTarget, Mode, Role};

/// What `Refer-To` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReferTo {
    /// The user part of the URI (a number, an agent id or a queue id).
    pub(crate) user: String,
    /// The dialog to replace (attended transfer).
    pub(crate) replaces: Option<Replaces>,
}

/// A `Replaces` header value (RFC 3891): the dialog as the transferring phone sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replaces {
    pub(crate) call_id: String,
    /// The other end's tag (ours, when the switch is that end).
    pub(crate) to_tag: String,
    /// The transferring phone's own tag.
    pub(crate) from_tag: String,
}

/// Why a REFER is refused before anything happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) code: StatusCode,
    pub(crate) why: String,
}

impl Refused {
    fn new(code: StatusCode, why: impl Into<String>) -> Refused {
        Refused {
            code,
            why: why.into(),
        }
    }
}

impl ReferTo {
    /// Parses a `Refer-To` value: `<sip:user@host;params?Replaces=...>` (name-addr) or a bare
    /// `sip:`/`sips:`/`tel:` URI.
    pub(crate) fn parse(value: &str) -> Option<ReferTo> {
        let v = value.trim();
        let uri = match (v.find('<'), v.rfind('>')) {
            (Some(a), Some(b)) if a < b => &v[a + 1..b],
            _ => v.split(';').next().unwrap_or(v),
        };
        let (uri, headers) = match uri.split_once('?') {
            Some((u, h)) => (u, Some(h)),
            None => (uri, None),
        };
        let rest = uri
            .strip_prefix("sip:")
            .or_else(|| uri.strip_prefix("sips:"))
            .or_else(|| uri.strip_prefix("tel:"))?;
        let user = rest
            .split(['@', ';'])
            .next()
            .map(percent_decode)
            .filter(|u| !u.is_empty())?;
        let replaces = match headers {
            None => None,
            Some(h) => {
                let raw = h.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    k.eq_ignore_ascii_case("Replaces").then_some(v)
                });
                match raw {
                    Some(r) => Some(Replaces::parse(&percent_decode(r))?),
                    None => None,
                }
            }
        };
        Some(ReferTo { user, replaces })
    }
}

impl Replaces {
    /// `call-id;to-tag=x;from-tag=y` (parameters in any order; `early-only` ignored).
    pub(crate) fn parse(v: &str) -> Option<Replaces> {
        let mut parts = v.split(';');
        let call_id = parts.next()?.trim().to_string();
        let (mut to_tag, mut from_tag) = (None, None);
        for p in parts {
            match p.trim().split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("to-tag") => to_tag = Some(v.to_string()),
                Some((k, v)) if k.eq_ignore_ascii_case("from-tag") => {
                    from_tag = Some(v.to_string())
                }
                _ => {}
            }
        }
        (!call_id.is_empty()).then_some(())?;
        Some(Replaces {
            call_id,
            to_tag: to_tag?,
            from_tag: from_tag?,
        })
    }
}

/// `%XX` escapes of a URI header or user part; anything malformed is kept as it is.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Core {
    /// A REFER on leg `role` of call `key` (its dialog already checked).
    pub(crate) fn on_refer(
        &mut self,
        now: Instant,
        key: CallKey,
        role: Role,
        tsx: TsxId,
        req: &Message<'static>,
    ) {
        let outcome = self
            .referrer(key, role)
            .and_then(|ext| {
                let to = req
                    .header("Refer-To")
                    .and_then(ReferTo::parse)
                    .ok_or_else(|| {
                        Refused::new(StatusCode::BAD_REQUEST, "Refer-To missing or not a SIP URI")
                    })?;
                self.transfer_allowed(key)
                    .map_err(|e| Refused::new(StatusCode::FORBIDDEN, e.to_string()))?;
                Ok((ext, to))
            })
            .and_then(|(ext, to)| match to.replaces {
                None => {
                    let target = self.transfer_target(&to.user).map_err(|e| {
                        let code = match &e {
                            CallError::TargetUnavailable(_) => StatusCode::BUSY_HERE,
                            _ => StatusCode::NOT_FOUND,
                        };
                        Refused::new(code, e.to_string())
                    })?;
                    Ok(Plan::Blind {
                        to: to.user,
                        target,
                    })
                }
                Some(r) => self
                    .replaced_call(key, &ext, &r)
                    .map(|other| Plan::Attended { other, to: to.user }),
            });
        let plan = match outcome {
            Ok(p) => p,
            Err(r) => {
                let id = self
                    .calls
                    .get(&key)
                    .map(|c| c.id.clone())
                    .unwrap_or_default();
                tracing::info!(call = %id, code = r.code.0, reason = %r.why, "REFER refused");
                let resp = crate::with_reason(req.make_response(r.code, None), &r.why);
                self.respond(now, tsx, resp);
                return;
            }
        };
        let ok = req.make_response(StatusCode::ACCEPTED, None);
        self.respond(now, tsx, ok);
        // The transfer is under way: say so on the REFER's implicit subscription, which
        // ends here (the transferring phone is hung up next).
        self.notify_refer(now, key, role, StatusCode::OK);
        match plan {
            Plan::Blind { to, target } => {
                tracing::info!(call = %self.call_id(key), "blind transfer by REFER");
                self.transfer_caller(now, key, &to, target);
            }
            Plan::Attended { other, to } => self.complete_attended(now, key, other, &to),
        }
    }

    /// The extension that transfers: the phone the switch called (leg B).
    fn referrer(&self, key: CallKey, role: Role) -> Result<String, Refused> {
        let c = self
            .calls
            .get(&key)
            .ok_or_else(|| Refused::new(StatusCode::CALL_DOES_NOT_EXIST, "the call is gone"))?;
        if role != Role::Callee {
            return Err(Refused::new(
                StatusCode::FORBIDDEN,
                "only the called phone can transfer this call",
            ));
        }
        let b = c
            .legs
            .callee
            .as_ref()
            .filter(|b| b.answered())
            .ok_or_else(|| Refused::new(StatusCode::FORBIDDEN, "the call is not connected"))?;
        match &b.target {
            LegTarget::Extension(e) | LegTarget::Agent { extension: e, .. } => Ok(e.clone()),
            LegTarget::Trunk(_) | LegTarget::Caller => Err(Refused::new(
                StatusCode::FORBIDDEN,
                "transfers are taken from the switch's own phones only",
            )),
        }
    }

    /// The call whose dialog `r` names: a call the same phone (`ext`) placed through the
    /// switch, answered, with nothing else going on.
    fn replaced_call(&self, key: CallKey, ext: &str, r: &Replaces) -> Result<CallKey, Refused> {
        let no = |why: &str| Refused::new(StatusCode::CALL_DOES_NOT_EXIST, why);
        if !self.anchor {
            return Err(Refused::new(
                StatusCode::NOT_IMPLEMENTED,
                "attended transfer needs anchored media",
            ));
        }
        let id = DialogId {
            call_id: r.call_id.clone(),
            local_tag: r.to_tag.clone(),
            remote_tag: r.from_tag.clone(),
        };
        let &(other, role) = self
            .by_dialog
            .get(&id)
            .ok_or_else(|| no("Replaces names no dialog of ours"))?;
        let c = self
            .calls
            .get(&other)
            .ok_or_else(|| no("that call is gone"))?;
        if other == key || role != Role::Caller || c.caller_ext.as_deref() != Some(ext) {
            return Err(Refused::new(
                StatusCode::FORBIDDEN,
                "Replaces must name a call this phone placed",
            ));
        }
        let b = c
            .legs
            .callee
            .as_ref()
            .filter(|b| b.answered() && b.media.is_some());
        if b.is_none() || c.legs.supervisor.is_some() || c.legs.consulted.is_some() {
            return Err(Refused::new(
                StatusCode::FORBIDDEN,
                "the other call is not a plain answered call",
            ));
        }
        Ok(other)
    }

    /// Sends the final REFER progress (`message/sipfrag`) on leg `role`.
    fn notify_refer(&mut self, now: Instant, key: CallKey, role: Role, progress: StatusCode) {
        let Some(leg) = self.leg_mut(key, role) else {
            return;
        };
        let (dst, transport) = (leg.dst, leg.transport);
        if let Some(d) = leg.dialog_mut()
            && let Ok(n) = d.notify_refer(progress, true)
        {
            let _ = self.ep.send_request(now, n, dst, transport);
        }
    }

    fn call_id(&self, key: CallKey) -> String {
        self.calls
            .get(&key)
            .map(|c| c.id.clone())
            .unwrap_or_default()
    }

    /// Attended transfer: the target's leg of call `other` replaces the transferring phone in
    /// call `key`; both of the phone's legs end.
    fn complete_attended(&mut self, now: Instant, key: CallKey, other: CallKey, to: &str) {
        // Take the target's leg out of the other call, with its routing entries.
        let Some(mut moved) = self
            .calls
            .get_mut(&other)
            .and_then(|c| c.legs.callee.take())
        else {
            return;
        };
        let moved_direct: Vec<(String, String)> = self
            .calls
            .get_mut(&other)
            .map(|c| std::mem::take(&mut c.extra.direct))
            .unwrap_or_default();
        // The transferring phone's leg of this call ends (its agent, if any, is released).
        let (id, agent) = match self.calls.get(&key) {
            Some(c) => (c.id.clone(), c.agent.clone()),
            None => return,
        };
        self.drop_leg(now, key, Role::Supervisor);
        self.leg_hung_up(now, key, Role::Supervisor, "transferred");
        self.hang_up_b(now, key);
        if let Some(a) = &agent {
            self.agent_released(now, key, a);
            self.out.notify(CallNotice::Ended {
                call: id.clone(),
                agent: Some(a.clone()),
                reason: "transferred".into(),
            });
        }
        // The moved leg's media joins the caller's worker (bridges are per worker).
        let a_sid = self.calls.get(&key).and_then(|c| c.legs.caller.media);
        let mut reoffer = false;
        if let (Some(m), Some(a), Some(old)) = (self.deps.media.clone(), a_sid, moved.media)
            && a.worker() != old.worker()
        {
            match m.create_session(SessionOptions::near(self.media_ip, a)) {
                Ok(info) => {
                    if let Some(r) = moved.remote.clone() {
                        let _ = m.set_remote(info.id, r);
                    }
                    self.record_leg_quality(other, Role::Callee, &moved);
                    let _ = m.destroy(old);
                    self.by_media.remove(&old);
                    moved.media = Some(info.id);
                    if let Some(sd) = moved.our_sdp.as_mut() {
                        for md in &mut sd.media {
                            if md.port != 0 {
                                md.port = info.local.port();
                            }
                        }
                    }
                    reoffer = true;
                }
                Err(e) => {
                    tracing::warn!(call = %id, error = %e, "no media session for the transfer")
                }
            }
        }
        if let Some(d) = moved.dialog() {
            self.by_dialog.insert(d.id.clone(), (key, Role::Callee));
        }
        if let Some(sid) = moved.media {
            self.by_media.insert(sid, key);
        }
        let new_agent = match &moved.target {
            LegTarget::Agent { agent, .. } => Some(agent.clone()),
            _ => None,
        };
        let other_id = self.call_id(other);
        if let Some(c) = self.calls.get_mut(&key) {
            c.b_generation += 1;
            moved.generation = c.b_generation;
            c.legs.callee = Some(moved);
            c.agent = new_agent.clone();
            c.mode = Mode::Bridge;
            if c.talk.held_since().is_some() {
                c.talk = crate::Talk::Connected;
            }
            let ev = c.log.event(
                self.wall_ms,
                CallEventKind::Transferred { to: to.to_string() },
            );
            self.out.record(ev);
        }
        tracing::info!(call = %id, from_call = %other_id, "attended transfer by REFER");
        if reoffer {
            let _ = self.send_reinvite(now, key, Role::Callee, SdpDirection::SendRecv);
        }
        self.apply_media(key);
        // The target's routing: it was busy on the other call as a direct call; now on this one.
        for (a, direct) in moved_direct {
            self.out.routing(RoutingOp::DirectEnded {
                agent: hotline_acd::AgentId::new(a.clone()),
                call: hotline_acd::CallId::new(direct),
            });
            self.out.routing(RoutingOp::DirectStarted {
                agent: hotline_acd::AgentId::new(a.clone()),
                call: hotline_acd::CallId::new(id.clone()),
            });
            if let Some(c) = self.calls.get_mut(&key) {
                c.extra.direct.push((a, id.clone()));
            }
        }
        if let Some(a) = new_agent {
            self.out
                .notify(CallNotice::Connected { call: id, agent: a });
        }
        // The transferring phone's second call has nothing left but its own leg.
        self.end_call(now, other, None, "transferred", None);
    }
}

/// What an accepted REFER does.
enum Plan {
    Blind {
        to: String,
        target: crate::dialplan::Target,
    },
    Attended {
        other: CallKey,
        to: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refer_to_forms() {
        let r = ReferTo::parse("<sip:1003@10.0.0.1:5060;transport=udp>").unwrap();
        assert_eq!((r.user.as_str(), r.replaces), ("1003", None));
        let r = ReferTo::parse("sip:sales@switch").unwrap();
        assert_eq!(r.user, "sales");
        let r = ReferTo::parse(
            "\"Bob\" <sip:1003@h?Replaces=abc%40host%3Bto-tag%3Dt1%3Bfrom-tag%3Df1&Require=replaces>",
        )
        .unwrap();
        assert_eq!(
            r.replaces,
            Some(Replaces {
                call_id: "abc@host".into(),
                to_tag: "t1".into(),
                from_tag: "f1".into()
            })
        );
        assert!(ReferTo::parse("<http://example.com>").is_none());
        assert!(ReferTo::parse("<sip:@host>").is_none());
        // A Replaces without both tags is not a Replaces: refused as malformed.
        assert!(ReferTo::parse("<sip:1003@h?Replaces=abc%3Bto-tag%3Dt1>").is_none());
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%zz1"), "%zz1");
    }
}
