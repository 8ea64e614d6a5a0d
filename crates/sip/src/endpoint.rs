//! The endpoint: owns every transaction, routes datagrams, runs the timers.

use crate::headers::Via;
use crate::transaction::{Kind, Role, State, Timer, TimerConfig, Transport, TsxId, TsxKey};
use crate::validate::{Rejection, validate_request, validate_response};
use crate::{Error, Message, Method, Result, StatusCode};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// `host:port` we put in the Via of requests we send (our advertised address).
    pub sent_by: String,
    /// Send `100 Trying` as soon as an INVITE arrives (RFC 3261 17.2.1 lets the TU wait 200 ms;
    /// a B2BUA that will forward the call answers at once to stop the caller's timer A).
    pub auto_trying: bool,
    /// Option tags we support; a `Require` with anything else gets 420.
    pub supported: Vec<String>,
    /// Methods the application handles; others get 405 (known methods) or 501 (unknown ones),
    /// with an `Allow` header.
    pub allow: Vec<Method>,
    /// Value of `User-Agent`/`Server` we add to what we generate (none when `None`).
    pub user_agent: Option<String>,
    /// Seed for branch, tag and Call-ID generation (deterministic tests; seed from the OS in
    /// production).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timers: TimerConfig::default(),
            sent_by: "127.0.0.1:5060".into(),
            auto_trying: true,
            supported: vec!["replaces".into(), "norefersub".into()],
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Register,
                Method::Info,
                Method::Update,
                Method::Refer,
                Method::Notify,
            ],
            user_agent: Some("Hotline".into()),
            seed: 0x5eed,
        }
    }
}

/// A datagram (or stream chunk) to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub dst: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// Bytes of exactly one SIP message.
    pub payload: Vec<u8>,
}

/// What the endpoint tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new request. A server transaction exists; answer it with [`Endpoint::respond`]
    /// (every request except ACK must get a final response).
    Request {
        /// Server transaction.
        tsx: TsxId,
        /// The request; its top Via carries `received`/`rport` (RFC 3581) when needed.
        request: Message<'static>,
        /// Source address.
        src: SocketAddr,
        /// Transport it came over.
        transport: Transport,
    },
    /// A response on one of our client transactions. Retransmissions are not repeated here.
    Response {
        /// Client transaction.
        tsx: TsxId,
        /// The response.
        response: Message<'static>,
        /// `true` when we generated it: a 408 after timer B or F fired (RFC 3261 8.1.3.1).
        local: bool,
    },
    /// An ACK that is not part of a non-2xx INVITE transaction: the ACK for a 2xx.
    Ack {
        /// The INVITE server transaction whose 2xx it acknowledges, if still known.
        invite: Option<TsxId>,
        /// The ACK (may carry the SDP answer).
        request: Message<'static>,
        /// Source address.
        src: SocketAddr,
    },
    /// A CANCEL matched an INVITE we had not answered finally. The endpoint already answered the
    /// CANCEL with 200 and the INVITE with 487; the application tears down what it started.
    Cancelled {
        /// The cancelled INVITE server transaction.
        invite: TsxId,
    },
    /// We sent a final response to an INVITE and no ACK came (timer H, or L for a 2xx).
    /// For a 2xx the dialog must be ended with BYE (RFC 3261 13.3.1.4).
    AckTimeout {
        /// The INVITE server transaction.
        invite: TsxId,
    },
    /// The transaction is gone; its handle is no longer valid.
    Terminated {
        /// Which.
        tsx: TsxId,
    },
}

/// Whether the source of a server transaction has proved who it is. Set with
/// [`Endpoint::set_source_trust`]; new transactions are [`SourceTrust::Verified`] (plain
/// RFC 3261 behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceTrust {
    /// A trunk, an authenticated phone, or an application that does not distinguish: a final
    /// response to an INVITE is retransmitted on timer G until the ACK (RFC 3261 17.2.1).
    #[default]
    Verified,
    /// Anyone (the source address of a UDP datagram proves nothing). A final non-2xx response
    /// to an INVITE that goes out before any provisional one is sent once and repeated only
    /// when the INVITE is retransmitted, one response per request, like Kamailio's
    /// `sl_send_reply`: a spoofed INVITE cannot make us send a stream of retransmissions to
    /// its victim. The caller still gets the response reliably, because without a provisional
    /// response its own timer A keeps retransmitting the INVITE. After a provisional response
    /// the client has stopped retransmitting, so timer G runs as usual.
    Unverified,
}

/// Counters for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that did not parse.
    pub parse_errors: u64,
    /// Stateless replies sent (400, 505, 416, ...).
    pub stateless_replies: u64,
    /// Retransmissions we sent (requests, responses, ACKs).
    pub retransmissions: u64,
    /// Retransmitted messages we absorbed.
    pub absorbed: u64,
    /// Responses that matched no transaction.
    pub stray_responses: u64,
    /// Requests received (parsed), by method: see [`Stats::METHODS`] for the order.
    pub requests_received: [u64; 15],
    /// Requests we sent (new client transactions, ACKs and CANCELs), by method.
    pub requests_sent: [u64; 15],
    /// Responses received (parsed), by class: index 0 is 1xx ... 5 is 6xx.
    pub responses_received: [u64; 6],
    /// Responses we sent from a transaction (not counting retransmissions), by class.
    pub responses_sent: [u64; 6],
}

impl Stats {
    /// The method labels of `requests_received` and `requests_sent`, in order; `other`
    /// counts every extension method (so a flood of made-up methods cannot grow anything).
    pub const METHODS: [&'static str; 15] = [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REGISTER",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "REFER",
        "NOTIFY",
        "SUBSCRIBE",
        "MESSAGE",
        "PRACK",
        "PUBLISH",
        "other",
    ];

    /// The slot of `method` in the per-method arrays.
    pub fn method_index(method: &Method) -> usize {
        match method {
            Method::Invite => 0,
            Method::Ack => 1,
            Method::Bye => 2,
            Method::Cancel => 3,
            Method::Register => 4,
            Method::Options => 5,
            Method::Info => 6,
            Method::Update => 7,
            Method::Refer => 8,
            Method::Notify => 9,
            Method::Subscribe => 10,
            Method::Message => 11,
            Method::Prack => 12,
            Method::Publish => 13,
            Method::Other(_) => 14,
        }
    }

    /// The slot of a status code in the per-class arrays.
    pub fn class_index(code: StatusCode) -> usize {
        usize::from((code.0 / 100).clamp(1, 6) - 1)
    }
}

struct Tsx {
    key: TsxKey,
    kind: Kind,
    state: State,
    remote: SocketAddr,
    transport: Transport,
    /// Client: the request as sent. Server: the request as received (Via stamped).
    request: Message<'static>,
    /// Client: request bytes to retransmit.
    request_bytes: Vec<u8>,
    /// Server: last response sent.
    last_response: Option<Vec<u8>>,
    /// Client INVITE: the ACK we sent (non-2xx, or the application's 2xx ACK) and its target.
    ack: Option<(Vec<u8>, SocketAddr)>,
    ack_to_tag: Option<String>,
    interval: Duration,
    timers: [Option<Instant>; Timer::COUNT],
    cancel_pending: bool,
    /// Server: whether its source proved who it is (decides timer G for a first final).
    trust: SourceTrust,
    /// Server INVITE in Accepted: ACK seen. Client: internal CANCEL whose responses we swallow.
    flag: bool,
    accepted_key: Option<(String, u32)>,
}

/// The sans-IO SIP endpoint: transaction layer plus the UAS core checks.
///
/// See the crate documentation for the drive contract.
pub struct Endpoint {
    config: Config,
    tsxs: HashMap<TsxId, Tsx>,
    by_key: HashMap<TsxKey, TsxId>,
    accepted: HashMap<(String, u32), TsxId>,
    timers: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    transmits: VecDeque<Transmit>,
    /// INVITE server transactions owed an automatic `100 Trying`: sent when the transmits are
    /// polled, unless the application answered first.
    trying_due: Vec<TsxId>,
    events: VecDeque<Event>,
    next_id: u64,
    rng: u64,
    stats: Stats,
}

impl Endpoint {
    /// A new endpoint with no transactions.
    pub fn new(config: Config) -> Endpoint {
        let rng = config.seed ^ 0x9E37_79B9_7F4A_7C15;
        Endpoint {
            config,
            tsxs: HashMap::new(),
            by_key: HashMap::new(),
            accepted: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            trying_due: Vec::new(),
            events: VecDeque::new(),
            next_id: 1,
            rng,
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of live transactions.
    pub fn transaction_count(&self) -> usize {
        self.tsxs.len()
    }

    /// State of a transaction, `None` once terminated.
    pub fn state(&self, tsx: TsxId) -> Option<State> {
        self.tsxs.get(&tsx).map(|t| t.state)
    }

    /// The request that created a transaction. For a client transaction: the whole request as
    /// sent, with our Via (what [`crate::Dialog::uac`] needs). For a server transaction: only
    /// its Via, From, To, Call-ID and CSeq (enough for [`Message::make_response`]); the full
    /// request was handed over in [`Event::Request`].
    pub fn request(&self, tsx: TsxId) -> Option<&Message<'static>> {
        self.tsxs.get(&tsx).map(|t| &t.request)
    }

    /// The key of a transaction.
    pub fn key(&self, tsx: TsxId) -> Option<&TsxKey> {
        self.tsxs.get(&tsx).map(|t| &t.key)
    }

    fn random(&mut self) -> u64 {
        // splitmix64: deterministic from the seed, good enough for unique identifiers.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh branch with the magic cookie.
    pub fn new_branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.random())
    }

    /// A fresh From/To tag.
    pub fn new_tag(&mut self) -> String {
        format!("{:08x}", self.random() as u32)
    }

    /// A fresh Call-ID.
    pub fn new_call_id(&mut self) -> String {
        let r = self.random();
        let host = self
            .config
            .sent_by
            .rsplit_once(':')
            .map_or(self.config.sent_by.as_str(), |(h, _)| h);
        format!("{r:016x}@{host}")
    }

    // ----- outputs -------------------------------------------------------------------------

    /// Next message to send.
    ///
    /// The automatic `100 Trying` for a new INVITE is produced here, not when the INVITE
    /// arrives: when the application answered the INVITE while draining the events (a
    /// rejection, a challenge), the 100 is left out, as RFC 3261 17.2.1 allows for a TU that
    /// answers within 200 ms. The caller then keeps retransmitting until it hears the answer.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.trying_due.is_empty() {
            self.send_due_trying();
        }
        self.transmits.pop_front()
    }

    fn send_due_trying(&mut self) {
        for id in std::mem::take(&mut self.trying_due) {
            let Some(x) = self.tsxs.get_mut(&id) else {
                continue;
            };
            if x.state != State::Proceeding || x.last_response.is_some() {
                continue;
            }
            let mut r = x.request.make_response(StatusCode::TRYING, None);
            if let Some(ua) = &self.config.user_agent {
                r.push_header("Server", ua.clone());
            }
            let bytes = r.to_bytes();
            x.last_response = Some(bytes.clone());
            self.transmits.push_back(Transmit {
                dst: x.remote,
                transport: x.transport,
                payload: bytes,
            });
        }
    }

    /// Say whether the source of server transaction `tsx` proved who it is (see
    /// [`SourceTrust`]). Call it before sending the final response.
    pub fn set_source_trust(&mut self, tsx: TsxId, trust: SourceTrust) -> Result<()> {
        let t = self.tsxs.get_mut(&tsx).ok_or(Error::UnknownTransaction)?;
        t.trust = trust;
        Ok(())
    }

    /// Next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest armed timer; call [`Endpoint::handle_timeout`] then.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id, t))) = self.timers.peek().copied() {
            if self.timer_is_live(at, id, t) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    fn timer_is_live(&self, at: Instant, id: u64, t: usize) -> bool {
        self.tsxs
            .get(&TsxId(id))
            .is_some_and(|x| x.timers[t] == Some(at))
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Fire every timer due at or before `now`. Calling early or with an older `now` does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id, t))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if !self.timer_is_live(at, id, t) {
                continue;
            }
            if let Some(x) = self.tsxs.get_mut(&TsxId(id)) {
                x.timers[t] = None;
            }
            if let Some(timer) = Timer::from_index(t) {
                self.on_timer(now, TsxId(id), timer);
            }
        }
    }

    /// Feed one received datagram (or one framed stream message, see [`crate::frame`]).
    /// Never panics on any input: garbage is counted, answered with a stateless 400 when it
    /// looks like a request, or dropped.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        if bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return; // keep-alive
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.parse_errors += 1;
                self.reject_garbage(src, transport, bytes, e.status());
                return;
            }
        };
        if let Some(m) = msg.method() {
            self.stats.requests_received[Stats::method_index(m)] += 1;
        } else if let Some(code) = msg.status() {
            self.stats.responses_received[Stats::class_index(code)] += 1;
        }
        if msg.is_request() {
            self.on_request(now, src, transport, msg);
        } else {
            self.on_response(now, msg);
        }
    }

    // ----- application commands --------------------------------------------------------------

    /// Start a client transaction. The endpoint adds the top Via (with a fresh branch and
    /// `rport`) and Max-Forwards when missing. `request` must carry From, To, Call-ID and CSeq
    /// whose method matches. For ACK use [`Endpoint::ack_2xx`], for CANCEL [`Endpoint::cancel`].
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Message<'static>,
        dst: SocketAddr,
        transport: Transport,
    ) -> Result<TsxId> {
        let method = request
            .method()
            .cloned()
            .ok_or(Error::InvalidState("not a request"))?;
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(Error::InvalidState(
                "ACK and CANCEL are sent with ack_2xx and cancel",
            ));
        }
        request.from_header()?;
        request.to_header()?;
        request.call_id()?;
        if request.cseq()?.method != method {
            return Err(Error::InvalidState(
                "CSeq method differs from request method",
            ));
        }
        let branch = self.new_branch();
        let via = format!(
            "SIP/2.0/{} {};branch={branch};rport",
            transport.via_token(),
            self.config.sent_by
        );
        request.prepend_header("Via", via);
        if request.header("Max-Forwards").is_none() {
            request.push_header("Max-Forwards", "70");
        }
        if let (Some(ua), None) = (&self.config.user_agent, request.header("User-Agent")) {
            request.push_header("User-Agent", ua.clone());
        }
        let kind = if method == Method::Invite {
            Kind::InviteClient
        } else {
            Kind::NonInviteClient
        };
        let key = TsxKey {
            role: Role::Client,
            branch: branch.into(),
            method,
            sent_by: "".into(),
        };
        Ok(self.start_client(now, key, kind, request, dst, transport, false))
    }

    #[allow(clippy::too_many_arguments)]
    fn start_client(
        &mut self,
        now: Instant,
        key: TsxKey,
        kind: Kind,
        request: Message<'static>,
        dst: SocketAddr,
        transport: Transport,
        internal: bool,
    ) -> TsxId {
        self.stats.requests_sent[Stats::method_index(&key.method)] += 1;
        let bytes = request.to_bytes();
        self.transmits.push_back(Transmit {
            dst,
            transport,
            payload: bytes.clone(),
        });
        let id = self.alloc_id();
        let t1 = self.config.timers.t1;
        let mut tsx = Tsx {
            key: key.clone(),
            kind,
            state: if kind == Kind::InviteClient {
                State::Calling
            } else {
                State::Trying
            },
            remote: dst,
            transport,
            request,
            request_bytes: bytes,
            last_response: None,
            ack: None,
            ack_to_tag: None,
            interval: t1,
            timers: [None; Timer::COUNT],
            cancel_pending: false,
            trust: SourceTrust::Verified,
            flag: internal,
            accepted_key: None,
        };
        let (retransmit, give_up) = if kind == Kind::InviteClient {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !transport.is_reliable() {
            self.arm(&mut tsx, id, retransmit, now + t1);
        }
        self.arm(&mut tsx, id, give_up, now + 64 * t1);
        self.tsxs.insert(id, tsx);
        self.by_key.insert(key, id);
        id
    }

    /// Answer a server transaction. Build `response` with [`Message::make_response`] from the
    /// request of the [`Event::Request`]. 1xx may be sent many times, one final response once.
    pub fn respond(
        &mut self,
        now: Instant,
        tsx: TsxId,
        mut response: Message<'static>,
    ) -> Result<()> {
        let code = response
            .status()
            .ok_or(Error::InvalidState("not a response"))?;
        if let (Some(ua), None) = (&self.config.user_agent, response.header("Server")) {
            response.push_header("Server", ua.clone());
        }
        let t = self.tsxs.get(&tsx).ok_or(Error::UnknownTransaction)?;
        let (kind, state) = (t.kind, t.state);
        let open = match kind {
            Kind::InviteServer => state == State::Proceeding,
            Kind::NonInviteServer => matches!(state, State::Trying | State::Proceeding),
            _ => return Err(Error::InvalidState("not a server transaction")),
        };
        if !open {
            return Err(Error::InvalidState("a final response was already sent"));
        }
        let bytes = response.to_bytes();
        self.stats.responses_sent[Stats::class_index(code)] += 1;
        let t1 = self.config.timers.t1;
        let mut x = self.tsxs.remove(&tsx).ok_or(Error::UnknownTransaction)?;
        self.transmits.push_back(Transmit {
            dst: x.remote,
            transport: x.transport,
            payload: bytes.clone(),
        });
        let provisional_sent = x.last_response.is_some();
        x.last_response = Some(bytes);
        let reliable = x.transport.is_reliable();
        let mut terminate = false;
        match (kind, code.0) {
            (_, 100..=199) => {
                if kind == Kind::NonInviteServer {
                    x.state = State::Proceeding;
                }
            }
            (Kind::InviteServer, 200..=299) => {
                x.state = State::Accepted;
                x.interval = t1;
                if !reliable {
                    self.arm(&mut x, tsx, Timer::G, now + t1);
                }
                self.arm(&mut x, tsx, Timer::L, now + 64 * t1);
                if let (Ok(cid), Ok(cseq)) = (x.request.call_id(), x.request.cseq()) {
                    let k = (cid.to_string(), cseq.seq);
                    self.accepted.insert(k.clone(), tsx);
                    x.accepted_key = Some(k);
                }
            }
            (Kind::InviteServer, _) => {
                x.state = State::Completed;
                x.interval = t1;
                let client_retransmits = x.trust == SourceTrust::Unverified && !provisional_sent;
                if !reliable && !client_retransmits {
                    self.arm(&mut x, tsx, Timer::G, now + t1);
                }
                self.arm(&mut x, tsx, Timer::H, now + 64 * t1);
            }
            (_, _) => {
                x.state = State::Completed;
                if reliable {
                    terminate = true;
                } else {
                    self.arm(&mut x, tsx, Timer::J, now + 64 * t1);
                }
            }
        }
        self.tsxs.insert(tsx, x);
        if terminate {
            self.terminate(tsx);
        }
        Ok(())
    }

    /// Cancel a pending INVITE client transaction (RFC 3261 9.1). If no provisional response has
    /// arrived yet the CANCEL is held until one does. The INVITE then ends with 487 (or a 2xx
    /// that crossed the CANCEL, which the application must ACK and BYE).
    pub fn cancel(&mut self, now: Instant, invite: TsxId) -> Result<()> {
        let t = self
            .tsxs
            .get_mut(&invite)
            .ok_or(Error::UnknownTransaction)?;
        if t.kind != Kind::InviteClient {
            return Err(Error::InvalidState(
                "only an INVITE client transaction can be cancelled",
            ));
        }
        match t.state {
            State::Calling => {
                t.cancel_pending = true;
                Ok(())
            }
            State::Proceeding => {
                self.send_cancel(now, invite);
                Ok(())
            }
            _ => Err(Error::InvalidState("a final response was already received")),
        }
    }

    fn send_cancel(&mut self, now: Instant, invite: TsxId) {
        let Some(t) = self.tsxs.get(&invite) else {
            return;
        };
        let inv = &t.request;
        let mut c = Message::request(
            Method::Cancel,
            inv.request_uri().unwrap_or_default().to_string(),
        );
        for h in &inv.headers {
            if h.is("Route") || h.is("From") || h.is("To") || h.is("Call-ID") {
                c.push_header(h.name().to_string(), h.value.to_string());
            }
        }
        if let Some(v) = inv.header("Via") {
            let top = crate::parse::split_outside(v, b',')
                .ok()
                .and_then(|p| p.first().map(|s| s.trim().to_string()));
            c.prepend_header("Via", top.unwrap_or_default());
        }
        let seq = inv.cseq().map(|c| c.seq).unwrap_or(0);
        c.push_header("CSeq", format!("{seq} CANCEL"));
        c.push_header("Max-Forwards", "70");
        let key = t.key.with_method(Method::Cancel);
        let (dst, transport) = (t.remote, t.transport);
        self.start_client(now, key, Kind::NonInviteClient, c, dst, transport, true);
    }

    /// Send the ACK for a 2xx received on INVITE client transaction `invite` (build it with
    /// [`crate::Dialog::ack`]). The endpoint adds a Via with a fresh branch and re-sends this ACK
    /// by itself whenever the 2xx is retransmitted.
    pub fn ack_2xx(
        &mut self,
        invite: TsxId,
        mut ack: Message<'static>,
        dst: SocketAddr,
    ) -> Result<()> {
        let branch = self.new_branch();
        let t = self.tsxs.get(&invite).ok_or(Error::UnknownTransaction)?;
        if t.kind != Kind::InviteClient || t.state != State::Accepted {
            return Err(Error::InvalidState("no 2xx to acknowledge"));
        }
        let transport = t.transport;
        ack.prepend_header(
            "Via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                transport.via_token(),
                self.config.sent_by
            ),
        );
        if ack.header("Max-Forwards").is_none() {
            ack.push_header("Max-Forwards", "70");
        }
        let to_tag = ack
            .to_header()
            .ok()
            .and_then(|t| t.tag().map(str::to_string));
        let bytes = ack.to_bytes();
        self.stats.requests_sent[Stats::method_index(&Method::Ack)] += 1;
        self.transmits.push_back(Transmit {
            dst,
            transport,
            payload: bytes.clone(),
        });
        if let Some(t) = self.tsxs.get_mut(&invite) {
            t.ack = Some((bytes, dst));
            t.ack_to_tag = to_tag;
        }
        Ok(())
    }

    /// Send a message outside any transaction (e.g. a stateless reply built by the application).
    pub fn send_stateless(&mut self, dst: SocketAddr, transport: Transport, msg: &Message<'_>) {
        self.transmits.push_back(Transmit {
            dst,
            transport,
            payload: msg.to_bytes(),
        });
    }

    // ----- internals -----------------------------------------------------------------------

    fn alloc_id(&mut self) -> TsxId {
        let id = TsxId(self.next_id);
        self.next_id += 1;
        id
    }

    fn arm(&mut self, tsx: &mut Tsx, id: TsxId, timer: Timer, at: Instant) {
        tsx.timers[timer.index()] = Some(at);
        self.timers.push(Reverse((at, id.0, timer.index())));
    }

    fn terminate(&mut self, id: TsxId) {
        if let Some(t) = self.tsxs.remove(&id) {
            if self.by_key.get(&t.key) == Some(&id) {
                self.by_key.remove(&t.key);
            }
            if let Some(k) = t.accepted_key
                && self.accepted.get(&k) == Some(&id)
            {
                self.accepted.remove(&k);
            }
            if !t.flag || t.kind == Kind::InviteServer {
                self.events.push_back(Event::Terminated { tsx: id });
            }
        }
    }

    fn retransmit(&mut self, dst: SocketAddr, transport: Transport, payload: Vec<u8>) {
        self.stats.retransmissions += 1;
        self.transmits.push_back(Transmit {
            dst,
            transport,
            payload,
        });
    }

    fn on_timer(&mut self, now: Instant, id: TsxId, timer: Timer) {
        let cfg = self.config.timers;
        let Some(mut x) = self.tsxs.remove(&id) else {
            return;
        };
        let mut terminate = false;
        match timer {
            Timer::A if x.state == State::Calling => {
                self.retransmit(x.remote, x.transport, x.request_bytes.clone());
                x.interval *= 2;
                let at = now + x.interval;
                self.arm(&mut x, id, Timer::A, at);
            }
            Timer::E if matches!(x.state, State::Trying | State::Proceeding) => {
                self.retransmit(x.remote, x.transport, x.request_bytes.clone());
                x.interval = if x.state == State::Trying {
                    (x.interval * 2).min(cfg.t2)
                } else {
                    cfg.t2
                };
                let at = now + x.interval;
                self.arm(&mut x, id, Timer::E, at);
            }
            Timer::B | Timer::F
                if matches!(x.state, State::Calling | State::Trying | State::Proceeding) =>
            {
                if !x.flag {
                    let mut r = x.request.make_response(StatusCode::REQUEST_TIMEOUT, None);
                    r.start = crate::StartLine::Response {
                        code: StatusCode::REQUEST_TIMEOUT,
                        reason: "Request Timeout (local)".into(),
                    };
                    self.events.push_back(Event::Response {
                        tsx: id,
                        response: r,
                        local: true,
                    });
                }
                terminate = true;
            }
            Timer::G
                if matches!(x.state, State::Completed)
                    || (x.state == State::Accepted && !x.flag) =>
            {
                if let Some(resp) = x.last_response.clone() {
                    self.retransmit(x.remote, x.transport, resp);
                }
                x.interval = (x.interval * 2).min(cfg.t2);
                let at = now + x.interval;
                self.arm(&mut x, id, Timer::G, at);
            }
            Timer::H if x.state == State::Completed => {
                self.events.push_back(Event::AckTimeout { invite: id });
                terminate = true;
            }
            Timer::L => {
                if !x.flag {
                    self.events.push_back(Event::AckTimeout { invite: id });
                }
                terminate = true;
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::M => terminate = true,
            _ => {}
        }
        self.tsxs.insert(id, x);
        if terminate {
            self.terminate(id);
        }
    }

    fn reject_garbage(
        &mut self,
        src: SocketAddr,
        transport: Transport,
        bytes: &[u8],
        status: StatusCode,
    ) {
        if let Some(resp) = salvage_response(bytes, status) {
            self.stats.stateless_replies += 1;
            self.send_stateless(src, transport, &resp);
        }
    }

    fn reject(&mut self, src: SocketAddr, transport: Transport, req: &Message<'_>, rej: Rejection) {
        if req.method() == Some(&Method::Ack) {
            return;
        }
        let mut r = req.make_response(rej.status, None);
        if let Some((n, v)) = rej.header {
            r.push_header(n, v);
        }
        if rej.status == StatusCode::BAD_REQUEST {
            r.start = crate::StartLine::Response {
                code: rej.status,
                reason: format!("Bad Request ({})", rej.reason).into(),
            };
        }
        self.stats.stateless_replies += 1;
        self.send_stateless(src, transport, &r);
    }

    fn on_request(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        msg: Message<'_>,
    ) {
        let supported: Vec<&str> = self.config.supported.iter().map(String::as_str).collect();
        if let Err(rej) = validate_request(&msg, &supported) {
            self.reject(src, transport, &msg, rej);
            return;
        }
        let Ok(key) = TsxKey::for_request(&msg) else {
            self.reject(
                src,
                transport,
                &msg,
                Rejection {
                    status: StatusCode::BAD_REQUEST,
                    reason: "no transaction key",
                    header: None,
                },
            );
            return;
        };
        let method = msg.method().cloned().unwrap_or(Method::Ack);
        match method {
            Method::Ack => self.on_ack(now, src, key, msg),
            Method::Cancel => self.on_cancel(now, src, transport, key, msg),
            _ => {
                if let Some(&id) = self.by_key.get(&key) {
                    self.on_retransmitted_request(id);
                    return;
                }
                let req = stamp_via(msg, src).into_owned();
                let allowed = self.config.allow.contains(&method);
                let kind = if method == Method::Invite {
                    Kind::InviteServer
                } else {
                    Kind::NonInviteServer
                };
                let id = self.start_server(key, kind, &req, src, transport);
                if !allowed {
                    let code = if matches!(method, Method::Other(_)) {
                        StatusCode::NOT_IMPLEMENTED
                    } else {
                        StatusCode::METHOD_NOT_ALLOWED
                    };
                    let allow = self
                        .config
                        .allow
                        .iter()
                        .map(Method::as_str)
                        .collect::<Vec<_>>()
                        .join(", ");
                    let r = req.make_response(code, None).with_header("Allow", allow);
                    let _ = self.respond(now, id, r);
                    return;
                }
                if kind == Kind::InviteServer && self.config.auto_trying {
                    self.trying_due.push(id);
                }
                self.events.push_back(Event::Request {
                    tsx: id,
                    request: req,
                    src,
                    transport,
                });
            }
        }
    }

    fn start_server(
        &mut self,
        key: TsxKey,
        kind: Kind,
        req: &Message<'static>,
        src: SocketAddr,
        transport: Transport,
    ) -> TsxId {
        let id = self.alloc_id();
        let tsx = Tsx {
            key: key.clone(),
            kind,
            state: if kind == Kind::InviteServer {
                State::Proceeding
            } else {
                State::Trying
            },
            remote: src,
            transport,
            request: skeleton(req),
            request_bytes: Vec::new(),
            last_response: None,
            ack: None,
            ack_to_tag: None,
            interval: self.config.timers.t1,
            timers: [None; Timer::COUNT],
            cancel_pending: false,
            trust: SourceTrust::Verified,
            flag: false,
            accepted_key: None,
        };
        self.tsxs.insert(id, tsx);
        self.by_key.insert(key, id);
        id
    }

    fn on_retransmitted_request(&mut self, id: TsxId) {
        self.stats.absorbed += 1;
        let Some(t) = self.tsxs.get(&id) else { return };
        let resend = match t.state {
            State::Proceeding | State::Completed => t.last_response.clone(),
            _ => None,
        };
        if let Some(r) = resend {
            let (dst, tr) = (t.remote, t.transport);
            self.retransmit(dst, tr, r);
        }
    }

    fn on_ack(&mut self, now: Instant, src: SocketAddr, key: TsxKey, msg: Message<'_>) {
        if let Some(&id) = self.by_key.get(&key) {
            let t4 = self.config.timers.t4;
            if let Some(mut x) = self.tsxs.remove(&id) {
                if x.kind == Kind::InviteServer && x.state == State::Completed {
                    x.state = State::Confirmed;
                    x.timers[Timer::G.index()] = None;
                    x.timers[Timer::H.index()] = None;
                    let reliable = x.transport.is_reliable();
                    if !reliable {
                        self.arm(&mut x, id, Timer::I, now + t4);
                    }
                    self.tsxs.insert(id, x);
                    if reliable {
                        self.terminate(id);
                    }
                    return;
                }
                let accepted = x.kind == Kind::InviteServer && x.state == State::Accepted;
                self.tsxs.insert(id, x);
                if !accepted {
                    self.stats.absorbed += 1;
                    return;
                }
            }
        }
        // An ACK for a 2xx: its own branch, matched by Call-ID and CSeq number.
        let invite = match (msg.call_id(), msg.cseq()) {
            (Ok(cid), Ok(cseq)) => self.accepted.get(&(cid.to_string(), cseq.seq)).copied(),
            _ => None,
        };
        if let Some(id) = invite
            && let Some(x) = self.tsxs.get_mut(&id)
        {
            if x.flag {
                self.stats.absorbed += 1;
                return;
            }
            x.flag = true;
            x.timers[Timer::G.index()] = None;
        }
        self.events.push_back(Event::Ack {
            invite,
            request: msg.into_owned(),
            src,
        });
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        src: SocketAddr,
        transport: Transport,
        key: TsxKey,
        msg: Message<'_>,
    ) {
        if let Some(&id) = self.by_key.get(&key) {
            self.on_retransmitted_request(id);
            return;
        }
        let req = stamp_via(msg, src).into_owned();
        let invite = self.by_key.get(&key.with_method(Method::Invite)).copied();
        let id = self.start_server(key, Kind::NonInviteServer, &req, src, transport);
        let Some(inv) = invite else {
            let _ = self.respond(
                now,
                id,
                req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None),
            );
            return;
        };
        let to_tag = self.new_tag();
        let _ = self.respond(now, id, req.make_response(StatusCode::OK, Some(&to_tag)));
        let proceeding = self
            .tsxs
            .get(&inv)
            .is_some_and(|t| t.state == State::Proceeding);
        if proceeding {
            if let Some(inv_req) = self.tsxs.get(&inv).map(|t| t.request.clone()) {
                let _ = self.respond(
                    now,
                    inv,
                    inv_req.make_response(StatusCode::REQUEST_TERMINATED, Some(&to_tag)),
                );
            }
            self.events.push_back(Event::Cancelled { invite: inv });
        }
    }

    fn on_response(&mut self, now: Instant, msg: Message<'_>) {
        if validate_response(&msg).is_err() {
            self.stats.parse_errors += 1;
            return;
        }
        let Ok(key) = TsxKey::for_response(&msg) else {
            self.stats.stray_responses += 1;
            return;
        };
        let Some(&id) = self.by_key.get(&key) else {
            self.stats.stray_responses += 1;
            return;
        };
        let Some(code) = msg.status() else { return };
        let cfg = self.config.timers;
        let Some(mut x) = self.tsxs.remove(&id) else {
            return;
        };
        let reliable = x.transport.is_reliable();
        let mut deliver = false;
        let mut terminate = false;
        let mut send_cancel = false;
        match x.kind {
            Kind::InviteClient => match (x.state, code.0) {
                (State::Calling | State::Proceeding, 100..=199) => {
                    x.state = State::Proceeding;
                    x.timers[Timer::A.index()] = None;
                    x.timers[Timer::B.index()] = None;
                    send_cancel = std::mem::take(&mut x.cancel_pending);
                    deliver = code != StatusCode::TRYING;
                }
                (State::Calling | State::Proceeding, 200..=299) => {
                    x.state = State::Accepted;
                    x.timers[Timer::A.index()] = None;
                    x.timers[Timer::B.index()] = None;
                    self.arm(&mut x, id, Timer::M, now + 64 * cfg.t1);
                    deliver = true;
                }
                (State::Calling | State::Proceeding, _) => {
                    x.state = State::Completed;
                    x.timers[Timer::A.index()] = None;
                    x.timers[Timer::B.index()] = None;
                    let ack = non_2xx_ack(&x.request, &msg).to_bytes();
                    self.transmits.push_back(Transmit {
                        dst: x.remote,
                        transport: x.transport,
                        payload: ack.clone(),
                    });
                    x.ack = Some((ack, x.remote));
                    if reliable {
                        terminate = true;
                    } else {
                        self.arm(&mut x, id, Timer::D, now + Duration::from_secs(32));
                    }
                    deliver = true;
                }
                (State::Completed, 300..) => {
                    if let Some((a, dst)) = x.ack.clone() {
                        self.retransmit(dst, x.transport, a);
                    }
                }
                (State::Accepted, 200..=299) => {
                    let tag = msg
                        .to_header()
                        .ok()
                        .and_then(|t| t.tag().map(str::to_string));
                    match (&x.ack, &x.ack_to_tag) {
                        (Some((a, dst)), t) if *t == tag => {
                            let (a, dst) = (a.clone(), *dst);
                            self.retransmit(dst, x.transport, a);
                        }
                        (None, _) => self.stats.absorbed += 1,
                        _ => deliver = true, // a 2xx from another fork
                    }
                }
                _ => self.stats.absorbed += 1,
            },
            Kind::NonInviteClient => match (x.state, code.0) {
                (State::Trying | State::Proceeding, 100..=199) => {
                    x.state = State::Proceeding;
                    deliver = !x.flag;
                }
                (State::Trying | State::Proceeding, _) => {
                    x.state = State::Completed;
                    x.timers[Timer::E.index()] = None;
                    x.timers[Timer::F.index()] = None;
                    if reliable {
                        terminate = true;
                    } else {
                        self.arm(&mut x, id, Timer::K, now + cfg.t4);
                    }
                    deliver = !x.flag;
                }
                _ => self.stats.absorbed += 1,
            },
            _ => {}
        }
        self.tsxs.insert(id, x);
        if deliver {
            self.events.push_back(Event::Response {
                tsx: id,
                response: msg.into_owned(),
                local: false,
            });
        }
        if send_cancel {
            self.send_cancel(now, id);
        }
        if terminate {
            self.terminate(id);
        }
    }
}

/// The headers a server transaction needs to build responses: Via, From, To, Call-ID, CSeq.
fn skeleton(req: &Message<'static>) -> Message<'static> {
    Message {
        start: req.start.clone(),
        version: req.version.clone(),
        headers: req
            .headers
            .iter()
            .filter(|h| (1..=5).contains(&h.id()))
            .cloned()
            .collect(),
        body: std::borrow::Cow::Borrowed(&[]),
    }
}

/// Add `received` and fill `rport` in the top Via (RFC 3261 18.2.1, RFC 3581).
fn stamp_via(mut msg: Message<'_>, src: SocketAddr) -> Message<'_> {
    let Some(idx) = msg.headers.iter().position(|h| h.is("Via")) else {
        return msg;
    };
    let value = msg.headers[idx].value.to_string();
    let Ok(parts) = crate::parse::split_outside(&value, b',') else {
        return msg;
    };
    let Some(top) = parts.first() else { return msg };
    let Ok(via) = Via::parse(top) else { return msg };
    let ip = match src.ip() {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let host_matches = via.host.eq_ignore_ascii_case(&ip);
    let wants_rport = via.rport() == Some(None);
    if host_matches && !wants_rport {
        return msg;
    }
    let mut new_top = format!("SIP/2.0/{} {}", via.transport, via.host);
    if let Some(p) = via.port {
        new_top.push_str(&format!(":{p}"));
    }
    for (n, v) in via.params.iter() {
        if n.eq_ignore_ascii_case("rport") {
            new_top.push_str(&format!(";rport={}", src.port()));
        } else if n.eq_ignore_ascii_case("received") {
            continue;
        } else {
            match v {
                Some(v) => new_top.push_str(&format!(";{n}={v}")),
                None => new_top.push_str(&format!(";{n}")),
            }
        }
    }
    if !host_matches || wants_rport {
        new_top.push_str(&format!(";received={}", src.ip()));
    }
    let rest: Vec<&str> = parts[1..].iter().map(|p| p.trim()).collect();
    let new_value = if rest.is_empty() {
        new_top
    } else {
        format!("{new_top}, {}", rest.join(", "))
    };
    msg.headers[idx].value = new_value.into();
    msg
}

/// The ACK for a non-2xx final response (RFC 3261 17.1.1.3).
fn non_2xx_ack(invite: &Message<'_>, resp: &Message<'_>) -> Message<'static> {
    let mut ack = Message::request(
        Method::Ack,
        invite.request_uri().unwrap_or_default().to_string(),
    );
    if let Some(v) = invite.header("Via")
        && let Ok(parts) = crate::parse::split_outside(v, b',')
    {
        ack.push_header(
            "Via",
            parts.first().map(|s| s.trim()).unwrap_or("").to_string(),
        );
    }
    for h in &invite.headers {
        if h.is("From") || h.is("Call-ID") || h.is("Route") {
            ack.push_header(h.name().to_string(), h.value.to_string());
        }
    }
    if let Some(to) = resp.header("To") {
        ack.push_header("To", to.to_string());
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or(0);
    ack.push_header("CSeq", format!("{seq} ACK"));
    ack.push_header("Max-Forwards", "70");
    ack
}

/// Build a stateless error response for bytes that did not parse, from whatever Via, From, To,
/// Call-ID and CSeq lines can be found. `None` when it is not a request or has no Via.
fn salvage_response(bytes: &[u8], status: StatusCode) -> Option<Message<'static>> {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..end.min(crate::message::MAX_HEADER_BYTES)]);
    let mut lines = head.split("\r\n");
    let first = lines.next()?.trim_start();
    let method = first.split(' ').next()?;
    if first.starts_with("SIP/")
        || method == "ACK"
        || method.is_empty()
        || !method.bytes().all(crate::parse::is_token_char)
    {
        return None;
    }
    let mut resp = Message::response(status);
    let mut has_via = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = crate::canonical_name(name.trim());
        let value = value.trim();
        for wanted in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if name.eq_ignore_ascii_case(wanted)
                && !value.is_empty()
                && !value.contains(['\r', '\n'])
            {
                has_via |= wanted == "Via";
                resp.push_header(wanted, value.to_string());
            }
        }
    }
    has_via.then_some(resp)
}
