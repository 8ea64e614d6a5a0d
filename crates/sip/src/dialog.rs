//! Dialogs (RFC 3261 section 12) for UAC and UAS, with the in-dialog rules a B2BUA leg needs:
//! route set, CSeq ordering, remote target refresh, re-INVITE glare (491, section 14),
//! BYE, and REFER/NOTIFY (RFC 3515).
//!
//! A [`Dialog`] is plain state: it builds requests and checks incoming ones, and never sends
//! anything. The application hands what it builds to [`crate::Endpoint`].

use crate::{Error, Message, Method, Result, StatusCode};
use std::collections::HashMap;
use std::time::Duration;

/// Dialog identifier: Call-ID plus local and remote tag (RFC 3261 12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// Id of the dialog an incoming request belongs to (local = To tag, remote = From tag).
    /// `None` when the request has no To tag (it is outside any dialog).
    pub fn for_incoming(req: &Message<'_>) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id().ok()?.to_string(),
            local_tag: req.to_header().ok()?.tag()?.to_string(),
            remote_tag: req.from_header().ok()?.tag().unwrap_or("").to_string(),
        })
    }

    /// Id of the dialog a response to our request creates or belongs to (local = From tag,
    /// remote = To tag).
    pub fn for_response(resp: &Message<'_>) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.call_id().ok()?.to_string(),
            local_tag: resp.from_header().ok()?.tag()?.to_string(),
            remote_tag: resp.to_header().ok()?.tag()?.to_string(),
        })
    }
}

/// Dialog state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended by BYE, a 481/408 to an in-dialog request, or a non-2xx final to the initial INVITE.
    Ended,
}

/// One dialog leg. `Debug` hides the From/To values and targets (personal data).
#[derive(Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Identifier.
    pub id: DialogId,
    /// State.
    pub state: DialogState,
    /// Did we send the initial INVITE?
    pub is_uac: bool,
    /// Our From/To value including our tag (what we put in From of our requests).
    pub local: String,
    /// The peer's From/To value including its tag (our To).
    pub remote: String,
    /// Last CSeq we used.
    pub local_seq: u32,
    /// Last CSeq the peer used.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route set (values of Route headers, in the order we send them).
    pub route_set: Vec<String>,
    /// Our Contact value.
    pub local_contact: String,
    /// CSeq of our re-INVITE (or UPDATE) awaiting a final response.
    pub pending_offer: Option<u32>,
    /// CSeq of the peer's re-INVITE (or UPDATE) we have not answered finally.
    pub incoming_offer: Option<u32>,
}

impl std::fmt::Debug for Dialog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialog")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("is_uac", &self.is_uac)
            .field("local", &crate::pii::Hidden(self.local.len()))
            .field("remote", &crate::pii::Hidden(self.remote.len()))
            .field("local_seq", &self.local_seq)
            .field("remote_seq", &self.remote_seq)
            .field(
                "remote_target",
                &crate::pii::RedactedUri(&self.remote_target),
            )
            .field("route_set", &self.route_set)
            .field("pending_offer", &self.pending_offer)
            .field("incoming_offer", &self.incoming_offer)
            .finish()
    }
}

fn contact_uri(msg: &Message<'_>) -> Option<String> {
    match msg.contacts().ok()?.into_iter().next()? {
        crate::Contact::Addr(a) => Some(a.uri.to_string()),
        crate::Contact::Star => None,
    }
}

fn strip_tag(value: &str) -> String {
    crate::NameAddr::parse(value)
        .map(|n| n.to_string())
        .unwrap_or_else(|_| value.to_string())
}

impl Dialog {
    /// The UAC side, from the INVITE we sent (as the endpoint sent it) and a 101..=299 response
    /// with a To tag.
    pub fn uac(invite: &Message<'_>, response: &Message<'_>) -> Result<Dialog> {
        let code = response
            .status()
            .ok_or(Error::InvalidState("not a response"))?;
        if !(101..300).contains(&code.0) {
            return Err(Error::InvalidState("only 101..=299 create dialogs"));
        }
        let id = DialogId::for_response(response).ok_or(Error::MissingHeader("To tag"))?;
        let mut routes: Vec<String> = response
            .record_routes()?
            .iter()
            .map(|r| r.to_string())
            .collect();
        routes.reverse();
        Ok(Dialog {
            id,
            state: if code.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            is_uac: true,
            local: invite
                .header("From")
                .ok_or(Error::MissingHeader("From"))?
                .to_string(),
            remote: response
                .header("To")
                .ok_or(Error::MissingHeader("To"))?
                .to_string(),
            local_seq: invite.cseq()?.seq,
            remote_seq: None,
            remote_target: contact_uri(response)
                .unwrap_or_else(|| invite.request_uri().unwrap_or_default().to_string()),
            route_set: routes,
            local_contact: invite.header("Contact").unwrap_or_default().to_string(),
            pending_offer: None,
            incoming_offer: None,
        })
    }

    /// The UAS side, from a received INVITE, the tag we put in our To and our Contact value.
    pub fn uas(invite: &Message<'_>, local_tag: &str, local_contact: &str) -> Result<Dialog> {
        let from = invite.from_header()?;
        let to = strip_tag(invite.header("To").ok_or(Error::MissingHeader("To"))?);
        let id = DialogId {
            call_id: invite.call_id()?.to_string(),
            local_tag: local_tag.to_string(),
            remote_tag: from.tag().unwrap_or("").to_string(),
        };
        Ok(Dialog {
            id,
            state: DialogState::Early,
            is_uac: false,
            local: format!("{to};tag={local_tag}"),
            remote: invite.header("From").unwrap_or_default().to_string(),
            local_seq: 0,
            remote_seq: Some(invite.cseq()?.seq),
            remote_target: contact_uri(invite).ok_or(Error::MissingHeader("Contact"))?,
            route_set: invite
                .record_routes()?
                .iter()
                .map(|r| r.to_string())
                .collect(),
            local_contact: local_contact.to_string(),
            pending_offer: None,
            incoming_offer: None,
        })
    }

    /// The URI the next request goes to first: the first route, else the remote target.
    /// The application resolves it to an address (RFC 3263).
    pub fn next_hop(&self) -> String {
        match self.route_set.first() {
            Some(r) => crate::NameAddr::parse(r)
                .map(|n| n.uri.to_string())
                .unwrap_or_else(|_| r.clone()),
            None => self.remote_target.clone(),
        }
    }

    fn base(&self, method: Method, seq: u32) -> Message<'static> {
        let mut m = Message::request(method.clone(), self.remote_target.clone());
        m.push_header("From", self.local.clone());
        m.push_header("To", self.remote.clone());
        m.push_header("Call-ID", self.id.call_id.clone());
        m.push_header("CSeq", format!("{seq} {method}"));
        for r in &self.route_set {
            m.push_header("Route", r.clone());
        }
        m.push_header("Max-Forwards", "70");
        m
    }

    /// A new in-dialog request (BYE, re-INVITE, UPDATE, INFO, REFER, NOTIFY, OPTIONS) with the
    /// next CSeq. For INVITE and UPDATE it records a pending offer (glare detection) and fails
    /// with [`Error::InvalidState`] when one of ours is already pending.
    pub fn request(&mut self, method: Method) -> Result<Message<'static>> {
        if self.state == DialogState::Ended {
            return Err(Error::InvalidState("dialog ended"));
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(Error::InvalidState(
                "ACK and CANCEL are not built with request()",
            ));
        }
        let offer = matches!(method, Method::Invite | Method::Update);
        if offer && self.pending_offer.is_some() {
            return Err(Error::InvalidState("an offer of ours is already pending"));
        }
        self.local_seq += 1;
        let seq = self.local_seq;
        let mut m = self.base(method.clone(), seq);
        if matches!(
            method,
            Method::Invite | Method::Update | Method::Refer | Method::Notify | Method::Subscribe
        ) && !self.local_contact.is_empty()
        {
            m.push_header("Contact", self.local_contact.clone());
        }
        if offer {
            self.pending_offer = Some(seq);
        }
        if method == Method::Bye {
            self.state = DialogState::Ended;
        }
        Ok(m)
    }

    /// The ACK for a 2xx to our INVITE with CSeq number `invite_seq` (RFC 3261 13.2.2.4).
    pub fn ack(&self, invite_seq: u32) -> Message<'static> {
        self.base(Method::Ack, invite_seq)
    }

    /// REFER the peer to `target` (a URI) for a transfer (RFC 3515).
    pub fn refer(&mut self, target: &str, referred_by: Option<&str>) -> Result<Message<'static>> {
        let mut m = self.request(Method::Refer)?;
        m.push_header("Refer-To", format!("<{target}>"));
        if let Some(r) = referred_by {
            m.push_header("Referred-By", format!("<{r}>"));
        }
        Ok(m)
    }

    /// A NOTIFY reporting the progress of a REFER we accepted, as a `message/sipfrag` body
    /// (RFC 3515 2.4.5). `done` ends the implicit subscription.
    pub fn notify_refer(&mut self, progress: StatusCode, done: bool) -> Result<Message<'static>> {
        let mut m = self.request(Method::Notify)?;
        m.push_header("Event", "refer");
        m.push_header(
            "Subscription-State",
            if done {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            },
        );
        m.set_body(
            "message/sipfrag;version=2.0",
            format!("SIP/2.0 {} {}\r\n", progress.0, progress.reason()).into_bytes(),
        );
        Ok(m)
    }

    /// Check an in-dialog request before the application acts on it (RFC 3261 12.2.2, 14.2).
    /// `Err(status)` is the response to send: 500 for an out-of-order CSeq, 491 when the peer's
    /// re-INVITE/UPDATE crosses ours (glare), 500 when it overlaps its own pending one (add a
    /// `Retry-After` of 0 to 10 s to that 500, RFC 3261 14.2).
    pub fn on_request(&mut self, req: &Message<'_>) -> std::result::Result<(), StatusCode> {
        let method = req.method().ok_or(StatusCode::BAD_REQUEST)?;
        let seq = req.cseq().map_err(|_| StatusCode::BAD_REQUEST)?.seq;
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if self.remote_seq.is_some_and(|r| seq <= r) {
            return Err(StatusCode::SERVER_INTERNAL_ERROR);
        }
        if matches!(method, Method::Invite | Method::Update) {
            if self.pending_offer.is_some() {
                self.remote_seq = Some(seq);
                return Err(StatusCode::REQUEST_PENDING);
            }
            if self.incoming_offer.is_some() {
                self.remote_seq = Some(seq);
                return Err(StatusCode::SERVER_INTERNAL_ERROR);
            }
            self.incoming_offer = Some(seq);
            if let Some(c) = contact_uri(req) {
                self.remote_target = c;
            }
        }
        self.remote_seq = Some(seq);
        if *method == Method::Bye {
            self.state = DialogState::Ended;
        }
        Ok(())
    }

    /// Note a final response we sent to the peer's in-dialog request.
    pub fn on_response_sent(&mut self, method: &Method, code: StatusCode) {
        if code.is_final() && matches!(method, Method::Invite | Method::Update) {
            self.incoming_offer = None;
        }
        if !self.is_uac
            && *method == Method::Invite
            && code.is_success()
            && self.state == DialogState::Early
        {
            self.state = DialogState::Confirmed;
        }
    }

    /// Feed a response to a request we sent in this dialog (or to the initial INVITE).
    pub fn on_response(&mut self, resp: &Message<'_>) {
        let (Some(code), Ok(cseq)) = (resp.status(), resp.cseq()) else {
            return;
        };
        if code.is_final() && self.pending_offer == Some(cseq.seq) {
            self.pending_offer = None;
        }
        if matches!(
            code,
            StatusCode::CALL_DOES_NOT_EXIST | StatusCode::REQUEST_TIMEOUT
        ) {
            self.state = DialogState::Ended;
            return;
        }
        if cseq.method == Method::Invite {
            if code.is_success() {
                if self.state == DialogState::Early
                    && self.is_uac
                    && let Ok(rr) = resp.record_routes()
                {
                    let mut routes: Vec<String> = rr.iter().map(|r| r.to_string()).collect();
                    routes.reverse();
                    self.route_set = routes;
                }
                self.state = DialogState::Confirmed;
                if let Some(c) = contact_uri(resp) {
                    self.remote_target = c;
                }
            } else if code.is_final() && self.state == DialogState::Early {
                self.state = DialogState::Ended;
            }
        }
    }

    /// How long to wait before retrying a re-INVITE that got 491 (RFC 3261 14.1): 2.1 to 4 s
    /// when we own the Call-ID (we were the UAC of the dialog), else 0 to 2 s. `random` picks
    /// the point in the range (pass a value from a seeded RNG).
    pub fn glare_retry_after(&self, random: u32) -> Duration {
        if self.is_uac {
            Duration::from_millis(2100 + u64::from(random % 191) * 10)
        } else {
            Duration::from_millis(u64::from(random % 201) * 10)
        }
    }
}

/// Where an incoming request belongs.
#[derive(Debug)]
pub enum Routed<'d> {
    /// No To tag: a new dialog-creating or out-of-dialog request.
    NoDialog,
    /// An existing dialog.
    Dialog(&'d mut Dialog),
}

/// All dialogs of one user agent, keyed by [`DialogId`].
#[derive(Debug, Default)]
pub struct Dialogs {
    map: HashMap<DialogId, Dialog>,
}

impl Dialogs {
    /// Empty set.
    pub fn new() -> Dialogs {
        Dialogs::default()
    }

    /// Add or replace a dialog.
    pub fn insert(&mut self, d: Dialog) {
        self.map.insert(d.id.clone(), d);
    }

    /// Look up a dialog.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.map.get_mut(id)
    }

    /// Remove a dialog.
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.map.remove(id)
    }

    /// Number of dialogs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No dialogs.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Route an incoming request: `Err(481)` when it has a To tag but no dialog matches
    /// (RFC 3261 12.2.2). Never answer an ACK; drop it instead.
    pub fn route(&mut self, req: &Message<'_>) -> std::result::Result<Routed<'_>, StatusCode> {
        match DialogId::for_incoming(req) {
            None => Ok(Routed::NoDialog),
            Some(id) => self
                .map
                .get_mut(&id)
                .map(Routed::Dialog)
                .ok_or(StatusCode::CALL_DOES_NOT_EXIST),
        }
    }
}
