//! SIP user agents on the sans-IO [`Endpoint`]: desk phones and softphones that REGISTER with
//! digest authentication, ring, answer, reject or ignore INVITEs, hang up, hold by re-INVITE,
//! and a trunk (the carrier) that places callers' INVITEs and answers the switch's calls out.
//! They exchange datagrams with the core through the world's in-memory network.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hotline_sip::sdp::{self, AudioCaps, Direction, SessionDescription};
use hotline_sip::{
    Config, Dialog, DialogId, Endpoint, Event, Message, Method, StatusCode, Transmit, Transport,
    TsxId,
};

/// How a UA treats an INVITE it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Ring, then answer after this long.
    Answer(Duration),
    /// Answer with this final status at once (486 busy, 603 decline).
    Reject(u16),
    /// Ring until cancelled.
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UaState {
    /// Our INVITE is out (no answer yet).
    Calling,
    /// Ringing: ours (UAS) or theirs (UAC, after 18x).
    Ringing,
    Confirmed,
    Ended,
}

/// One call on a UA.
#[derive(Debug)]
pub struct UaCall {
    pub id: u32,
    /// We placed it.
    pub outgoing: bool,
    pub state: UaState,
    /// The number dialled (outgoing) or the Request-URI user (incoming).
    pub number: String,
    /// The caller shown (From user) of an incoming call.
    pub from: String,
    pub started: Instant,
    pub answered: Option<Instant>,
    pub ended: Option<Instant>,
    /// Final status of a failed outgoing INVITE, or why the call ended.
    pub end: String,
    invite_tsx: Option<TsxId>,
    /// Outgoing: the INVITE as sent. Incoming: as received.
    invite: Message<'static>,
    tag: String,
    dialog: Option<Dialog>,
    answer_at: Option<Instant>,
    /// The other side's SDP (where our RTP goes).
    pub remote_sdp: Option<SessionDescription>,
    /// Our RTP port.
    pub port: u16,
    /// We put the call on hold (sendonly) ourselves.
    pub held: bool,
    /// The last direction the far end offered us in a re-INVITE.
    pub offered_direction: Option<Direction>,
    auth_tried: bool,
    /// Where requests in the dialog go.
    peer: SocketAddr,
    reinvite_tsx: Option<TsxId>,
}

impl UaCall {
    pub fn is_live(&self) -> bool {
        self.state != UaState::Ended
    }
}

/// A user agent.
pub struct Phone {
    pub name: String,
    pub addr: SocketAddr,
    /// Extension and digest password; `None` for a trunk.
    pub ext: Option<(String, String)>,
    pub policy: Policy,
    pub calls: Vec<UaCall>,
    /// Registration granted until.
    pub registered_until: Option<Instant>,
    /// Re-REGISTER at this time (a phone refreshes before expiry).
    reregister_at: Option<Instant>,
    /// Stay registered (refresh) or not.
    pub wants_registration: bool,
    registrar: SocketAddr,
    ep: Endpoint,
    next_call: u32,
    reg_call_id: String,
    reg_cseq: u32,
    reg_tsx: Option<TsxId>,
    reg_expires: u32,
    reg_auth_tried: bool,
    next_port: u16,
    /// Requests and responses that went wrong on this UA (unexpected answers), for asserts.
    pub oddities: Vec<String>,
    /// Final statuses of REGISTERs, in order.
    pub register_results: Vec<u16>,
    /// The phone takes "answer" from the switch (`Allow-Events: talk` in its 180; answers on
    /// `NOTIFY Event: talk`).
    pub talk: bool,
    /// REFER outcomes: (call, final status of the REFER, sipfrag status lines of its NOTIFYs).
    pub refers: Vec<(u32, Option<u16>, Vec<String>)>,
    refer_tsx: Vec<(TsxId, u32)>,
}

fn parse_sdp(msg: &Message<'_>) -> Option<SessionDescription> {
    if msg.body.is_empty() {
        return None;
    }
    std::str::from_utf8(&msg.body)
        .ok()
        .and_then(|t| SessionDescription::parse(t).ok())
}

impl Phone {
    pub fn new(
        name: &str,
        addr: SocketAddr,
        ext: Option<(&str, &str)>,
        registrar: SocketAddr,
        seed: u64,
    ) -> Phone {
        let mut ep = Endpoint::new(Config {
            sent_by: addr.to_string(),
            user_agent: Some(format!("SimPhone {name}")),
            seed,
            ..Config::default()
        });
        let reg_call_id = ep.new_call_id();
        Phone {
            name: name.into(),
            addr,
            ext: ext.map(|(e, p)| (e.to_string(), p.to_string())),
            policy: Policy::Answer(Duration::from_secs(2)),
            talk: false,
            refers: Vec::new(),
            refer_tsx: Vec::new(),
            calls: Vec::new(),
            registered_until: None,
            reregister_at: None,
            wants_registration: false,
            registrar,
            ep,
            next_call: 1,
            reg_call_id,
            reg_cseq: 0,
            reg_tsx: None,
            reg_expires: 3600,
            reg_auth_tried: false,
            next_port: 40_000,
            oddities: Vec::new(),
            register_results: Vec::new(),
        }
    }

    fn user(&self) -> String {
        self.ext
            .as_ref()
            .map_or_else(|| self.name.clone(), |e| e.0.clone())
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.user(), self.addr)
    }

    fn sdp(&mut self, direction: Direction, version: u64) -> (SessionDescription, u16) {
        let port = self.next_port;
        self.next_port += 2;
        (
            sdp::offer(
                &AudioCaps::default(),
                self.addr.ip(),
                port,
                direction,
                u64::from(port),
                version,
            ),
            port,
        )
    }

    pub fn call(&self, id: u32) -> Option<&UaCall> {
        self.calls.iter().find(|c| c.id == id)
    }

    fn call_mut(&mut self, id: u32) -> Option<&mut UaCall> {
        self.calls.iter_mut().find(|c| c.id == id)
    }

    /// The live calls.
    pub fn live(&self) -> impl Iterator<Item = &UaCall> {
        self.calls.iter().filter(|c| c.is_live())
    }

    /// The live calls' ids.
    pub fn live_ids(&self) -> Vec<u32> {
        self.live().map(|c| c.id).collect()
    }

    /// Forgets ended calls (long random runs).
    pub fn prune(&mut self) {
        self.calls.retain(|c| c.is_live());
    }

    pub fn transaction_count(&self) -> usize {
        self.ep.transaction_count()
    }

    // ----- registration -----------------------------------------------------------------

    /// REGISTER (challenge answered on the 401); `expires` 0 unregisters.
    pub fn register(&mut self, now: Instant, expires: u32) {
        self.wants_registration = expires > 0;
        self.reg_expires = expires;
        self.reg_auth_tried = false;
        self.reregister_at = None;
        let m = self.register_msg();
        self.send_register(now, m);
    }

    fn register_msg(&mut self) -> Message<'static> {
        self.reg_cseq += 1;
        let user = self.user();
        let tag = self.ep.new_tag();
        let mut m = Message::request(Method::Register, format!("sip:{}", self.registrar));
        m.push_header("From", format!("<sip:{user}@{}>;tag={tag}", self.registrar));
        m.push_header("To", format!("<sip:{user}@{}>", self.registrar));
        m.push_header("Call-ID", self.reg_call_id.clone());
        m.push_header("CSeq", format!("{} REGISTER", self.reg_cseq));
        m.push_header("Contact", self.contact());
        m.push_header("Expires", self.reg_expires.to_string());
        m
    }

    fn send_register(&mut self, now: Instant, m: Message<'static>) {
        if let Some(t) = self.reg_tsx.take() {
            // A registration still in flight is superseded; its answer is ignored.
            let _ = t;
        }
        match self.ep.send_request(now, m, self.registrar, Transport::Udp) {
            Ok(t) => self.reg_tsx = Some(t),
            Err(e) => self.oddities.push(format!("REGISTER not sent: {e}")),
        }
    }

    fn on_register_response(&mut self, now: Instant, tsx: TsxId, resp: &Message<'_>) {
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        if !code.is_final() {
            return;
        }
        self.reg_tsx = None;
        if matches!(code.0, 401 | 407) && !self.reg_auth_tried {
            self.reg_auth_tried = true;
            let Some(sent) = self.ep.request(tsx).cloned() else {
                return;
            };
            let (user, password) = self.ext.clone().unwrap_or_default();
            let mut m = sent;
            let cnonce = self.ep.new_tag();
            if let Err(e) =
                hotline_sip::auth::authorize_request(&mut m, resp, &user, &password, &cnonce)
            {
                self.oddities.push(format!("cannot answer challenge: {e}"));
                return;
            }
            self.reg_cseq += 1;
            m.set_header("CSeq", format!("{} REGISTER", self.reg_cseq));
            self.send_register(now, m);
            return;
        }
        self.register_results.push(code.0);
        if code.is_success() && self.reg_expires > 0 {
            let granted = resp
                .contacts()
                .ok()
                .and_then(|cs| cs.iter().filter_map(|c| c.expires()).max())
                .unwrap_or(self.reg_expires);
            self.registered_until = Some(now + Duration::from_secs(u64::from(granted)));
            self.reregister_at = Some(now + Duration::from_secs(u64::from(granted) * 4 / 5));
        } else {
            self.registered_until = None;
            self.reregister_at = None;
            if !code.is_success() {
                self.oddities.push(format!("REGISTER answered {}", code.0));
            }
        }
    }

    // ----- placing calls ----------------------------------------------------------------

    /// Dials `number` at the switch (as `from`, or our own user); returns the call's id.
    pub fn invite(&mut self, now: Instant, number: &str, from: Option<&str>) -> u32 {
        let id = self.next_call;
        self.next_call += 1;
        let tag = self.ep.new_tag();
        let user = from.map_or_else(|| self.user(), str::to_string);
        let (offer, port) = self.sdp(Direction::SendRecv, 1);
        let mut m = Message::request(Method::Invite, format!("sip:{number}@{}", self.registrar));
        m.push_header("From", format!("<sip:{user}@{}>;tag={tag}", self.addr.ip()));
        m.push_header("To", format!("<sip:{number}@{}>", self.registrar));
        m.push_header("Call-ID", self.ep.new_call_id());
        m.push_header("CSeq", "1 INVITE");
        m.push_header("Contact", self.contact());
        m.set_body("application/sdp", offer.to_bytes());
        let dst = self.registrar;
        let tsx = match self.ep.send_request(now, m, dst, Transport::Udp) {
            Ok(t) => Some(t),
            Err(e) => {
                self.oddities.push(format!("INVITE not sent: {e}"));
                None
            }
        };
        let invite = tsx
            .and_then(|t| self.ep.request(t).cloned())
            .unwrap_or_else(|| Message::request(Method::Invite, ""));
        self.calls.push(UaCall {
            id,
            outgoing: true,
            state: if tsx.is_some() {
                UaState::Calling
            } else {
                UaState::Ended
            },
            number: number.into(),
            from: user,
            started: now,
            answered: None,
            ended: None,
            end: String::new(),
            invite_tsx: tsx,
            invite,
            tag,
            dialog: None,
            answer_at: None,
            remote_sdp: None,
            port,
            held: false,
            offered_direction: None,
            auth_tried: false,
            peer: dst,
            reinvite_tsx: None,
        });
        id
    }

    fn on_invite_response(&mut self, now: Instant, tsx: TsxId, resp: Message<'static>) {
        let Some(i) = self
            .calls
            .iter()
            .position(|c| c.invite_tsx == Some(tsx) && c.outgoing)
        else {
            // A 2xx retransmission is ACKed by the endpoint; anything else is stale.
            return;
        };
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        if code.is_provisional() {
            if code.0 > 100 && self.calls[i].state == UaState::Calling {
                self.calls[i].state = UaState::Ringing;
            }
            return;
        }
        self.calls[i].invite_tsx = None;
        if code.is_success() {
            let c = &mut self.calls[i];
            let Ok(d) = Dialog::uac(&c.invite, &resp) else {
                self.oddities.push("2xx without a dialog".into());
                return;
            };
            let seq = c.invite.cseq().map(|s| s.seq).unwrap_or(1);
            let ack = d.ack(seq);
            let peer = c.peer;
            c.remote_sdp = parse_sdp(&resp);
            c.dialog = Some(d);
            let was_ended = c.state == UaState::Ended;
            if !was_ended {
                c.state = UaState::Confirmed;
                c.answered = Some(now);
            }
            let _ = self.ep.ack_2xx(tsx, ack, peer);
            if was_ended {
                // We hung up (CANCEL) but the answer crossed it: end the dialog.
                self.send_bye(now, i);
            }
            return;
        }
        if matches!(code.0, 401 | 407) && !self.calls[i].auth_tried && self.ext.is_some() {
            self.calls[i].auth_tried = true;
            let (user, password) = self.ext.clone().unwrap_or_default();
            let mut m = self.calls[i].invite.clone();
            let cnonce = self.ep.new_tag();
            if hotline_sip::auth::authorize_request(&mut m, &resp, &user, &password, &cnonce)
                .is_ok()
            {
                let peer = self.calls[i].peer;
                if let Ok(t) = self.ep.send_request(now, m, peer, Transport::Udp) {
                    let sent = self.ep.request(t).cloned();
                    let c = &mut self.calls[i];
                    c.invite_tsx = Some(t);
                    if let Some(s) = sent {
                        c.invite = s;
                    }
                    return;
                }
            }
        }
        let c = &mut self.calls[i];
        if c.state != UaState::Ended {
            c.state = UaState::Ended;
            c.ended = Some(now);
            c.end = format!("{}", code.0);
        }
    }

    // ----- receiving calls --------------------------------------------------------------

    fn on_new_invite(&mut self, now: Instant, tsx: TsxId, req: Message<'static>, src: SocketAddr) {
        let id = self.next_call;
        self.next_call += 1;
        let tag = self.ep.new_tag();
        let number = req
            .request_uri()
            .and_then(|u| hotline_sip::Uri::parse(u).ok())
            .and_then(|u| u.user.map(str::to_string))
            .unwrap_or_default();
        let from = req
            .from_header()
            .ok()
            .and_then(|f| f.uri().ok().and_then(|u| u.user.map(str::to_string)))
            .unwrap_or_default();
        let remote_sdp = parse_sdp(&req);
        let contact = self.contact();
        let mut call = UaCall {
            id,
            outgoing: false,
            state: UaState::Ringing,
            number,
            from,
            started: now,
            answered: None,
            ended: None,
            end: String::new(),
            invite_tsx: Some(tsx),
            invite: req,
            tag,
            dialog: None,
            answer_at: None,
            remote_sdp,
            port: 0,
            held: false,
            offered_direction: None,
            auth_tried: false,
            peer: src,
            reinvite_tsx: None,
        };
        match self.policy {
            Policy::Reject(code) => {
                let r = call.invite.make_response(StatusCode(code), Some(&call.tag));
                let _ = self.ep.respond(now, tsx, r);
                call.state = UaState::Ended;
                call.ended = Some(now);
                call.end = format!("rejected {code}");
                call.invite_tsx = None;
            }
            policy => {
                let mut r = call
                    .invite
                    .make_response(StatusCode::RINGING, Some(&call.tag))
                    .with_header("Contact", contact.clone());
                if self.talk {
                    r.push_header("Allow-Events", "talk, hold");
                }
                call.dialog = Dialog::uas(&call.invite, &call.tag, &contact).ok();
                let _ = self.ep.respond(now, tsx, r);
                if let Policy::Answer(after) = policy {
                    call.answer_at = Some(now + after);
                }
            }
        }
        self.calls.push(call);
    }

    /// Answers ringing call `id` now (200 with our SDP).
    pub fn answer(&mut self, now: Instant, id: u32) -> bool {
        let Some(i) = self.calls.iter().position(|c| c.id == id) else {
            return false;
        };
        if self.calls[i].state != UaState::Ringing || self.calls[i].outgoing {
            return false;
        }
        let Some(tsx) = self.calls[i].invite_tsx.take() else {
            return false;
        };
        let port = self.next_port;
        self.next_port += 2;
        let contact = self.contact();
        let ip = self.addr.ip();
        let c = &mut self.calls[i];
        c.answer_at = None;
        let mut r = c
            .invite
            .make_response(StatusCode::OK, Some(&c.tag))
            .with_header("Contact", contact);
        if let Some(offer) = parse_sdp(&c.invite)
            && let Ok((sd, _)) = sdp::answer(
                &offer,
                &AudioCaps::default(),
                ip,
                port,
                Direction::SendRecv,
                u64::from(port),
                1,
            )
        {
            r.set_body("application/sdp", sd.to_bytes());
        }
        c.port = port;
        if let Some(d) = c.dialog.as_mut() {
            d.on_response_sent(&Method::Invite, StatusCode::OK);
        }
        c.state = UaState::Confirmed;
        c.answered = Some(now);
        if self.ep.respond(now, tsx, r).is_err() {
            self.oddities.push("200 not sent".into());
        }
        true
    }

    /// Rejects ringing call `id` with `code`.
    pub fn reject(&mut self, now: Instant, id: u32, code: u16) -> bool {
        let Some(i) = self.calls.iter().position(|c| c.id == id) else {
            return false;
        };
        let c = &mut self.calls[i];
        if c.state != UaState::Ringing || c.outgoing {
            return false;
        }
        let Some(tsx) = c.invite_tsx.take() else {
            return false;
        };
        let r = c.invite.make_response(StatusCode(code), Some(&c.tag));
        c.state = UaState::Ended;
        c.ended = Some(now);
        c.end = format!("rejected {code}");
        let _ = self.ep.respond(now, tsx, r);
        true
    }

    // ----- in a call --------------------------------------------------------------------

    fn send_bye(&mut self, now: Instant, i: usize) {
        let peer = self.calls[i].peer;
        let Some(d) = self.calls[i].dialog.as_mut() else {
            return;
        };
        match d.request(Method::Bye) {
            Ok(bye) => {
                if let Err(e) = self.ep.send_request(now, bye, peer, Transport::Udp) {
                    self.oddities.push(format!("BYE not sent: {e}"));
                }
            }
            Err(e) => self.oddities.push(format!("no BYE: {e}")),
        }
    }

    /// Hangs up call `id`: BYE when connected, CANCEL while our INVITE rings, 486 while it
    /// rings here.
    pub fn hangup(&mut self, now: Instant, id: u32) -> bool {
        let Some(i) = self.calls.iter().position(|c| c.id == id) else {
            return false;
        };
        let state = self.calls[i].state;
        let outgoing = self.calls[i].outgoing;
        match state {
            UaState::Ended => return false,
            UaState::Confirmed => self.send_bye(now, i),
            UaState::Calling | UaState::Ringing if outgoing => {
                if let Some(t) = self.calls[i].invite_tsx
                    && self.ep.cancel(now, t).is_err()
                {
                    self.oddities.push("CANCEL not sent".into());
                }
            }
            UaState::Calling | UaState::Ringing => {
                return self.reject(now, id, 486);
            }
        }
        let c = &mut self.calls[i];
        c.state = UaState::Ended;
        c.ended = Some(now);
        c.end = "hung up".into();
        true
    }

    /// Puts call `id` on hold (re-INVITE sendonly) or resumes it (sendrecv).
    pub fn hold(&mut self, now: Instant, id: u32, on: bool) -> bool {
        let Some(i) = self.calls.iter().position(|c| c.id == id) else {
            return false;
        };
        if self.calls[i].state != UaState::Confirmed || self.calls[i].reinvite_tsx.is_some() {
            return false;
        }
        let dir = if on {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let version = u64::from(self.next_port);
        let (sd, port) = self.sdp(dir, version);
        let peer = self.calls[i].peer;
        let c = &mut self.calls[i];
        let Some(d) = c.dialog.as_mut() else {
            return false;
        };
        let Ok(mut req) = d.request(Method::Invite) else {
            return false;
        };
        req.set_body("application/sdp", sd.to_bytes());
        c.port = port;
        match self.ep.send_request(now, req, peer, Transport::Udp) {
            Ok(t) => {
                c.reinvite_tsx = Some(t);
                c.held = on;
                true
            }
            Err(_) => false,
        }
    }

    fn on_reinvite_response(&mut self, _now: Instant, tsx: TsxId, resp: Message<'static>) {
        let Some(i) = self.calls.iter().position(|c| c.reinvite_tsx == Some(tsx)) else {
            return;
        };
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        if !code.is_final() {
            return;
        }
        let c = &mut self.calls[i];
        c.reinvite_tsx = None;
        let peer = c.peer;
        if let Some(d) = c.dialog.as_mut() {
            d.on_response(&resp);
            if code.is_success() {
                let seq = resp.cseq().map(|s| s.seq).unwrap_or(0);
                let ack = d.ack(seq);
                let _ = self.ep.ack_2xx(tsx, ack, peer);
            }
        }
        if code.is_success() {
            if let Some(sd) = parse_sdp(&resp) {
                c.remote_sdp = Some(sd);
            }
        } else {
            self.oddities.push(format!("re-INVITE answered {}", code.0));
        }
    }

    fn on_dialog_request(
        &mut self,
        now: Instant,
        tsx: TsxId,
        req: Message<'static>,
        method: Method,
    ) {
        let id = DialogId::for_incoming(&req);
        let pos = id.as_ref().and_then(|id| {
            self.calls
                .iter()
                .position(|c| c.dialog.as_ref().is_some_and(|d| d.id == *id))
        });
        let Some(i) = pos else {
            let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
            let _ = self.ep.respond(now, tsx, r);
            return;
        };
        let check = self.calls[i]
            .dialog
            .as_mut()
            .map_or(Err(StatusCode::CALL_DOES_NOT_EXIST), |d| d.on_request(&req));
        if let Err(code) = check {
            let r = req.make_response(code, None);
            let _ = self.ep.respond(now, tsx, r);
            return;
        }
        match method {
            Method::Bye => {
                let r = req.make_response(StatusCode::OK, None);
                let _ = self.ep.respond(now, tsx, r);
                let c = &mut self.calls[i];
                if c.state != UaState::Ended {
                    c.state = UaState::Ended;
                    c.ended = Some(now);
                    c.end = "far end hung up".into();
                }
            }
            Method::Invite | Method::Update => {
                let ip = self.addr.ip();
                let contact = self.contact();
                let c = &mut self.calls[i];
                let mut r = req.make_response(StatusCode::OK, None);
                r.push_header("Contact", contact);
                if let Some(offer) = parse_sdp(&req) {
                    c.offered_direction =
                        offer.audio().and_then(|m| m.direction).or(offer.direction);
                    let wanted = if c.held {
                        Direction::SendOnly
                    } else {
                        Direction::SendRecv
                    };
                    if let Ok((sd, _)) = sdp::answer(
                        &offer,
                        &AudioCaps::default(),
                        ip,
                        c.port.max(1),
                        wanted,
                        u64::from(c.port),
                        3,
                    ) {
                        r.set_body("application/sdp", sd.to_bytes());
                    }
                    c.remote_sdp = Some(offer);
                }
                if let Some(d) = c.dialog.as_mut() {
                    d.on_response_sent(&method, StatusCode::OK);
                }
                let _ = self.ep.respond(now, tsx, r);
            }
            Method::Ack => {}
            Method::Notify => {
                let r = req.make_response(StatusCode::OK, None);
                let _ = self.ep.respond(now, tsx, r);
                let event = req
                    .header("Event")
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                let id = self.calls[i].id;
                if event == "talk" {
                    if self.talk && self.calls[i].state == UaState::Ringing {
                        self.answer(now, id);
                    } else {
                        self.oddities
                            .push("talk NOTIFY for a phone without talk".into());
                    }
                } else if event.starts_with("refer") {
                    let line = String::from_utf8_lossy(&req.body)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if let Some(r) = self.refers.iter_mut().rev().find(|r| r.0 == id) {
                        r.2.push(line);
                    }
                }
            }
            _ => {
                let r = req.make_response(StatusCode::OK, None);
                let _ = self.ep.respond(now, tsx, r);
            }
        }
    }

    /// Transfers call `id` by REFER: blind to `target`, or attended to our other call
    /// `replaces` (its dialog goes in `Replaces`).
    pub fn refer(&mut self, now: Instant, id: u32, target: &str, replaces: Option<u32>) -> bool {
        let Some(i) = self.calls.iter().position(|c| c.id == id) else {
            return false;
        };
        if self.calls[i].state != UaState::Confirmed {
            return false;
        }
        let mut uri = format!("sip:{target}@{}", self.registrar.ip());
        if let Some(other) = replaces {
            let Some(d) = self
                .calls
                .iter()
                .find(|c| c.id == other)
                .and_then(|c| c.dialog.as_ref())
            else {
                return false;
            };
            let r = format!(
                "{};to-tag={};from-tag={}",
                d.id.call_id, d.id.remote_tag, d.id.local_tag
            );
            let esc: String = r
                .chars()
                .map(|c| match c {
                    ';' => "%3B".to_string(),
                    '=' => "%3D".to_string(),
                    '@' => "%40".to_string(),
                    c => c.to_string(),
                })
                .collect();
            uri = format!("{uri}?Replaces={esc}");
        }
        let peer = self.calls[i].peer;
        let Some(m) = self.calls[i]
            .dialog
            .as_mut()
            .and_then(|d| d.refer(&uri, None).ok())
        else {
            return false;
        };
        match self.ep.send_request(now, m, peer, Transport::Udp) {
            Ok(t) => {
                self.refer_tsx.push((t, id));
                self.refers.push((id, None, Vec::new()));
                true
            }
            Err(_) => false,
        }
    }

    // ----- drive contract ---------------------------------------------------------------

    /// One datagram from the network.
    pub fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        self.ep.handle_datagram(now, src, Transport::Udp, bytes);
        self.process(now);
    }

    /// Timers due: the endpoint's, answers due, registration refresh.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        let due: Vec<u32> = self
            .calls
            .iter()
            .filter(|c| c.answer_at.is_some_and(|t| t <= now))
            .map(|c| c.id)
            .collect();
        for id in due {
            self.answer(now, id);
        }
        if self.wants_registration && self.reregister_at.is_some_and(|t| t <= now) {
            let exp = self.reg_expires;
            self.register(now, exp);
        }
        self.process(now);
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let mut t = self.ep.poll_timeout();
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for c in &self.calls {
            consider(c.answer_at.filter(|_| c.state == UaState::Ringing));
        }
        if self.wants_registration {
            consider(self.reregister_at);
        }
        t
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ep.poll_transmit()
    }

    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            match ev {
                Event::Request {
                    tsx, request, src, ..
                } => {
                    let method = request.method().cloned().unwrap_or(Method::Options);
                    let in_dialog = request.to_header().ok().and_then(|t| t.tag()).is_some();
                    if in_dialog {
                        self.on_dialog_request(now, tsx, request, method);
                    } else if method == Method::Invite {
                        self.on_new_invite(now, tsx, request, src);
                    } else {
                        let code = if method == Method::Options {
                            StatusCode::OK
                        } else {
                            StatusCode::CALL_DOES_NOT_EXIST
                        };
                        let r = request.make_response(code, None);
                        let _ = self.ep.respond(now, tsx, r);
                    }
                }
                Event::Response { tsx, response, .. } => {
                    if Some(tsx) == self.reg_tsx {
                        self.on_register_response(now, tsx, &response);
                        continue;
                    }
                    if let Some(k) = self.refer_tsx.iter().position(|(t, _)| *t == tsx) {
                        let code = response.status().map(|c| c.0).unwrap_or(0);
                        if code >= 200 {
                            let (_, id) = self.refer_tsx.remove(k);
                            if let Some(r) = self.refers.iter_mut().rev().find(|r| r.0 == id) {
                                r.1 = Some(code);
                            }
                        }
                        continue;
                    }
                    let is_invite = response.cseq().is_ok_and(|c| c.method == Method::Invite);
                    if is_invite && self.calls.iter().any(|c| c.reinvite_tsx == Some(tsx)) {
                        self.on_reinvite_response(now, tsx, response);
                    } else if is_invite {
                        self.on_invite_response(now, tsx, response);
                    }
                }
                Event::Cancelled { invite } => {
                    if let Some(c) = self
                        .calls
                        .iter_mut()
                        .find(|c| c.invite_tsx == Some(invite) && !c.outgoing)
                    {
                        c.invite_tsx = None;
                        c.answer_at = None;
                        c.state = UaState::Ended;
                        c.ended = Some(now);
                        c.end = "cancelled".into();
                    }
                }
                Event::AckTimeout { invite } => {
                    self.oddities.push(format!("no ACK for {invite}"));
                }
                Event::Ack { .. } | Event::Terminated { .. } => {}
            }
        }
    }
}
