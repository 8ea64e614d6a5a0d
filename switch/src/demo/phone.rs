//! A small SIP user agent for the demo and for end-to-end tests: a simulated agent phone or a
//! simulated caller, speaking real SIP over its own UDP socket and real RTP through a
//! `hotline-media` session.
//!
//! It is the thin-shell pattern of the switch in miniature (STYLE.md item 5): one tokio task
//! owns the socket and a [`hotline_sip::Endpoint`]; after every input (a datagram, the timer,
//! a command) it drains the endpoint's events and transmits and re-arms a single
//! `sleep_until` at the earliest of the endpoint's `poll_timeout` and the phone's own timers
//! (re-registration, auto-answer, the next DTMF step, hang-up).
//!
//! * **Agent phone** ([`PhoneConfig::register`] set): REGISTERs with digest credentials
//!   (answers 401/407 with [`hotline_sip::auth::authorize_request`]) and refreshes the binding
//!   before it expires; answers OPTIONS; rings (180) on INVITE and answers after
//!   [`PhoneConfig::auto_answer`] with an SDP answer (PCMU/PCMA + telephone-event) and a steady
//!   tone as its RTP; answers BYE and re-INVITE; hangs up by itself after
//!   [`PhoneConfig::talk_time`].
//! * **Caller** ([`Phone::call`]): INVITEs a number with an SDP offer, ACKs the 200, sends RFC
//!   4733 digits (`MediaEngine::send_dtmf`) following a [`CallScript`], stays on the line and
//!   sends BYE.
//!
//! Everything that happens is reported as a [`PhoneEvent`] on a channel, which is what tests
//! assert on. One call at a time: a second INVITE gets 486 Busy Here.
//!
//! ```no_run
//! # async fn demo(switch: std::net::SocketAddr) -> std::io::Result<()> {
//! use std::time::Duration;
//! use hotline_switch::demo::phone::{media_engine, CallScript, Phone, PhoneConfig, PhoneEvent};
//!
//! let media = media_engine(40_000, 40_100).expect("RTP ports");
//! let cfg = PhoneConfig::new("caller", "+12125550100", switch);
//! let (caller, mut events) = Phone::start(cfg, media).await?;
//! caller.call(CallScript {
//!     number: "+18005550100".into(),
//!     digits: vec![(Duration::from_millis(12_500), "2".into())],
//!     hang_up_after: Some(Duration::from_secs(60)),
//! });
//! while let Some(e) = events.recv().await {
//!     if let PhoneEvent::Ended { code, .. } = e {
//!         println!("call ended with {code}");
//!         break;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use hotline_media::{MediaEngine, RemoteParams, SessionId, SessionOptions, ToneSpec};
use hotline_sip::sdp::{self, AudioCaps, Direction, SessionDescription};
use hotline_sip::{
    Config as SipConfig, Dialog, Endpoint, Event, Message, Method, StatusCode, Transport, TsxId,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a phone is and does. `Debug` hides the number and the password.
#[derive(Clone)]
pub struct PhoneConfig {
    /// A name for logs ("ext 1002", "caller 7").
    pub name: String,
    /// The user part of our address: the extension, or the caller's number (the ANI).
    pub user: String,
    /// Where every request goes: the switch (or, in tests, another phone).
    pub proxy: SocketAddr,
    /// Host part of the URIs we build; empty means the proxy's `ip:port`.
    pub domain: String,
    /// Local address to bind (port 0 picks one). RTP binds on the same IP.
    pub bind: SocketAddr,
    /// Digest username and password, used when challenged.
    pub credentials: Option<(String, String)>,
    /// REGISTER with this expiry (seconds) at start, and refresh before it runs out.
    pub register: Option<u32>,
    /// Answer incoming calls after this long ringing; `None` rings until [`Phone::answer`].
    pub auto_answer: Option<Duration>,
    /// Hang up an answered incoming call after this long; `None` waits for the far end.
    pub talk_time: Option<Duration>,
    /// A random extra of up to this much is added to `talk_time` per call.
    pub talk_jitter: Duration,
    /// Frequency of the tone sent as our voice (Hz).
    pub tone_hz: f32,
    /// RFC 3261 T1.
    pub t1: Duration,
    /// Seed for tags, branches and Call-IDs (distinct per phone).
    pub seed: u64,
}

impl std::fmt::Debug for PhoneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneConfig")
            .field("name", &self.name)
            .field("user", &"<redacted>")
            .field("proxy", &self.proxy)
            .field("bind", &self.bind)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("register", &self.register)
            .field("auto_answer", &self.auto_answer)
            .field("talk_time", &self.talk_time)
            .finish_non_exhaustive()
    }
}

impl PhoneConfig {
    /// A phone for `user` talking to `proxy`, bound on 127.0.0.1, nothing automatic.
    pub fn new(name: impl Into<String>, user: impl Into<String>, proxy: SocketAddr) -> Self {
        PhoneConfig {
            name: name.into(),
            user: user.into(),
            proxy,
            domain: String::new(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials: None,
            register: None,
            auto_answer: None,
            talk_time: None,
            talk_jitter: Duration::ZERO,
            tone_hz: 440.0,
            t1: Duration::from_millis(500),
            seed: rand::random(),
        }
    }
}

/// A call to place: the number and what to do once connected.
#[derive(Debug, Clone, Default)]
pub struct CallScript {
    /// The number dialed (Request-URI and To user part).
    pub number: String,
    /// DTMF to send after the answer: each entry waits its delay (counted from the previous
    /// entry, the first from the answer), then sends its digits as RFC 4733 events.
    pub digits: Vec<(Duration, String)>,
    /// Hang up this long after the answer (`None`: stay until the far end hangs up).
    pub hang_up_after: Option<Duration>,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// This phone (BYE, CANCEL or a decline sent by us).
    Local,
    /// The far end (BYE, CANCEL or a failure response).
    Remote,
}

/// What a phone reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    /// The registrar accepted the binding for this many seconds.
    Registered { expires_secs: u32 },
    /// REGISTER failed with this status (retried later).
    RegistrationFailed { code: u16 },
    /// An INVITE arrived and the phone is ringing (180 sent). `from` is the From user part.
    Incoming { call_id: String, from: String },
    /// Our INVITE is ringing at the far end (180 or 183).
    Ringing { call_id: String },
    /// The call is connected: we sent 200 (incoming) or got 200 (outgoing). RTP flows.
    Answered { call_id: String },
    /// DTMF digits were handed to the media engine as RFC 4733 events.
    DigitsSent { call_id: String, digits: String },
    /// The call is over. `code` is the final status that ended it: 200 for a BYE, 487 for a
    /// cancelled call, the failure code of a rejected INVITE.
    Ended {
        call_id: String,
        code: u16,
        by: Party,
    },
}

enum Cmd {
    Call(CallScript),
    Answer,
    HangUp,
    Stop,
    Record(Option<std::path::PathBuf>),
}

/// A running phone. Dropping it aborts its task; [`Phone::stop`] ends calls and the
/// registration first.
pub struct Phone {
    cmds: mpsc::UnboundedSender<Cmd>,
    /// The SIP address the phone listens on.
    pub local: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Phone {
    /// Binds the socket and starts the phone's task (registering first if configured).
    pub async fn start(
        cfg: PhoneConfig,
        media: MediaEngine,
    ) -> std::io::Result<(Phone, mpsc::UnboundedReceiver<PhoneEvent>)> {
        let sock = UdpSocket::bind(cfg.bind).await?;
        let local = sock.local_addr()?;
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (events, ev_rx) = mpsc::unbounded_channel();
        let ua = Ua::new(cfg, local, media, events);
        let task = tokio::spawn(ua.run(sock, cmd_rx));
        Ok((
            Phone {
                cmds,
                local,
                task: Some(task),
            },
            ev_rx,
        ))
    }

    /// Places a call (ignored, with a log line, while another call is up).
    pub fn call(&self, script: CallScript) {
        let _ = self.cmds.send(Cmd::Call(script));
    }

    /// Answers the ringing incoming call now.
    pub fn answer(&self) {
        let _ = self.cmds.send(Cmd::Answer);
    }

    /// Hangs up: BYE when connected, CANCEL while our INVITE rings, 603 for a ringing
    /// incoming call.
    pub fn hang_up(&self) {
        let _ = self.cmds.send(Cmd::HangUp);
    }

    /// Records what this phone hears on its current call into `path` (a `.wav` file: mono,
    /// 8 kHz, 16-bit), replacing any recording in progress; `None` stops and finalizes it.
    /// Tests use it to check who hears whom.
    pub fn record(&self, path: Option<std::path::PathBuf>) {
        let _ = self.cmds.send(Cmd::Record(path));
    }

    /// Hangs up, unregisters (Expires: 0) and waits (at most about two seconds) for the
    /// answers before the task ends.
    pub async fn stop(mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts a media engine for phones on `port_min..port_max` and a thread that drains its
/// events (phones need none of them; an undrained channel would only grow).
pub fn media_engine(
    port_min: u16,
    port_max: u16,
) -> Result<MediaEngine, hotline_media::MediaError> {
    let engine = MediaEngine::start(hotline_media::EngineConfig {
        workers: 1,
        port_min,
        port_max,
        rtp_timeout: Duration::from_secs(3600),
        ..Default::default()
    })?;
    let rx = engine.events();
    let spawned = std::thread::Builder::new()
        .name("demo-media-events".into())
        .spawn(move || while rx.recv().is_ok() {});
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the media event drain thread");
    }
    Ok(engine)
}

// ----- the user agent -------------------------------------------------------------------------

enum Side {
    /// We were called: the INVITE's server transaction (until answered) and where it came from.
    Uas {
        invite: Option<TsxId>,
        request: Box<Message<'static>>,
        answer_at: Option<Instant>,
    },
    /// We called: the INVITE as sent, our offer, the script.
    Uac {
        invite: Option<TsxId>,
        sent: Box<Message<'static>>,
        offer: Box<SessionDescription>,
        script: CallScript,
        auth_tries: u8,
        rang: bool,
    },
}

struct CallState {
    call_id: String,
    side: Side,
    /// Where in-dialog requests go (the INVITE's source, or the proxy).
    peer: SocketAddr,
    local_tag: String,
    dialog: Option<Dialog>,
    media: Option<SessionId>,
    /// Our RTP port (in our offer or answer).
    rtp_port: Option<u16>,
    connected: bool,
    next_digit: usize,
    digit_at: Option<Instant>,
    hangup_at: Option<Instant>,
    bye: Option<TsxId>,
    /// Ending: waiting for the BYE/CANCEL outcome.
    ending: bool,
}

struct RegState {
    call_id: String,
    tag: String,
    cseq: u32,
    tsx: Option<TsxId>,
    auth_tries: u8,
    refresh_at: Option<Instant>,
    expires: u32,
}

struct Ua {
    cfg: PhoneConfig,
    ep: Endpoint,
    local: SocketAddr,
    domain: String,
    contact: String,
    media: MediaEngine,
    caps: AudioCaps,
    events: mpsc::UnboundedSender<PhoneEvent>,
    reg: Option<RegState>,
    call: Option<CallState>,
    out: Vec<(SocketAddr, Vec<u8>)>,
    stopping: Option<Instant>,
    cnonce: u64,
    recording: Option<hotline_media::RecordingId>,
}

impl Drop for Ua {
    /// A stopped or aborted phone leaves no RTP session behind.
    fn drop(&mut self) {
        if let Some(c) = self.call.take()
            && let Some(m) = c.media
        {
            let _ = self.media.destroy(m);
        }
    }
}

fn user_of(value: Option<&str>) -> String {
    value
        .and_then(|v| hotline_sip::NameAddr::parse(v).ok())
        .and_then(|n| {
            hotline_sip::Uri::parse(n.uri)
                .ok()
                .and_then(|u| u.user.map(str::to_string))
        })
        .unwrap_or_default()
}

fn sdp_body(msg: &Message<'_>) -> Option<SessionDescription> {
    if msg.body.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(&msg.body).ok()?;
    SessionDescription::parse(text).ok()
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Ua {
    fn new(
        cfg: PhoneConfig,
        local: SocketAddr,
        media: MediaEngine,
        events: mpsc::UnboundedSender<PhoneEvent>,
    ) -> Ua {
        let ep = Endpoint::new(SipConfig {
            timers: hotline_sip::TimerConfig {
                t1: cfg.t1,
                ..Default::default()
            },
            sent_by: local.to_string(),
            auto_trying: true,
            user_agent: Some("hotline-demo-phone".into()),
            seed: cfg.seed ^ u64::from(local.port()),
            ..Default::default()
        });
        let domain = if cfg.domain.is_empty() {
            cfg.proxy.to_string()
        } else {
            cfg.domain.clone()
        };
        let contact = format!("<sip:{}@{local}>", cfg.user);
        Ua {
            cnonce: cfg.seed,
            cfg,
            ep,
            local,
            domain,
            contact,
            media,
            caps: AudioCaps::default(),
            events,
            reg: None,
            call: None,
            out: Vec::new(),
            stopping: None,
            recording: None,
        }
    }

    fn emit(&self, e: PhoneEvent) {
        // The event's kind only: `Incoming` carries the caller's number (personal data).
        let kind = match &e {
            PhoneEvent::Registered { .. } => "registered",
            PhoneEvent::RegistrationFailed { .. } => "registration failed",
            PhoneEvent::Incoming { .. } => "incoming",
            PhoneEvent::Ringing { .. } => "ringing",
            PhoneEvent::Answered { .. } => "answered",
            PhoneEvent::DigitsSent { .. } => "digits sent",
            PhoneEvent::Ended { .. } => "ended",
        };
        tracing::debug!(phone = %self.cfg.name, event = kind, "phone event");
        let _ = self.events.send(e);
    }

    async fn run(mut self, sock: UdpSocket, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        let mut buf = vec![0u8; 65_535];
        let now = Instant::now();
        if let Some(expires) = self.cfg.register {
            self.register(now, expires);
        }
        let mut cmds_open = true;
        loop {
            self.drain(Instant::now());
            for (dst, bytes) in self.out.drain(..) {
                if let Err(e) = sock.send_to(&bytes, dst).await {
                    tracing::debug!(phone = %self.cfg.name, error = %e, "send failed");
                }
            }
            if self.finished(Instant::now()) {
                break;
            }
            let deadline = self.next_deadline();
            let sleep = tokio::time::sleep_until(
                deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok((n, src)) => {
                        self.ep.handle_datagram(Instant::now().into_std(), src, Transport::Udp, &buf[..n]);
                    }
                    Err(e) => tracing::debug!(phone = %self.cfg.name, error = %e, "receive failed"),
                },
                () = sleep => {
                    let now = Instant::now();
                    self.ep.handle_timeout(now.into_std());
                    self.on_timers(now);
                }
                c = cmds.recv(), if cmds_open => match c {
                    Some(c) => self.on_command(Instant::now(), c),
                    None => {
                        cmds_open = false;
                        self.on_command(Instant::now(), Cmd::Stop);
                    }
                },
            }
        }
    }

    fn finished(&self, now: Instant) -> bool {
        let Some(since) = self.stopping else {
            return false;
        };
        let reg_done = self.reg.as_ref().is_none_or(|r| r.tsx.is_none());
        (reg_done && self.call.is_none()) || now >= since + Duration::from_secs(2)
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let mut d = self.ep.poll_timeout().map(Instant::from_std);
        if let Some(r) = &self.reg {
            d = earliest(d, r.refresh_at);
        }
        if let Some(c) = &self.call {
            if let Side::Uas { answer_at, .. } = &c.side {
                d = earliest(d, *answer_at);
            }
            d = earliest(d, c.digit_at);
            d = earliest(d, c.hangup_at);
        }
        if let Some(s) = self.stopping {
            d = earliest(d, Some(s + Duration::from_secs(2)));
        }
        d
    }

    /// Handles the endpoint's events and collects its transmits.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut any = false;
            while let Some(ev) = self.ep.poll_event() {
                any = true;
                self.on_sip_event(now, ev);
            }
            while let Some(t) = self.ep.poll_transmit() {
                any = true;
                self.out.push((t.dst, t.payload));
            }
            if !any {
                break;
            }
        }
    }

    fn on_command(&mut self, now: Instant, cmd: Cmd) {
        match cmd {
            Cmd::Call(script) => {
                if self.call.is_some() || self.stopping.is_some() {
                    tracing::info!(phone = %self.cfg.name, "already in a call: not dialing");
                    return;
                }
                self.dial(now, script);
            }
            Cmd::Answer => self.answer(now),
            Cmd::HangUp => self.hang_up(now),
            Cmd::Record(path) => {
                if let Some(r) = self.recording.take() {
                    let _ = self.media.stop_recording(r);
                }
                let sid = self.call.as_ref().and_then(|c| c.media);
                if let (Some(path), Some(sid)) = (path, sid) {
                    let dir = path.parent().unwrap_or(std::path::Path::new("."));
                    let name = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("recording");
                    match self.media.start_recording_in(dir, name, &[sid]) {
                        Ok(r) => self.recording = Some(r),
                        Err(e) => {
                            tracing::warn!(phone = %self.cfg.name, error = %e, "no recording")
                        }
                    }
                }
            }
            Cmd::Stop => {
                if self.stopping.is_some() {
                    return;
                }
                self.stopping = Some(now);
                self.hang_up(now);
                if self.reg.as_ref().is_some_and(|r| r.expires > 0) {
                    self.register(now, 0);
                }
            }
        }
    }

    fn on_timers(&mut self, now: Instant) {
        if let Some(r) = &self.reg
            && r.refresh_at.is_some_and(|t| t <= now)
            && r.tsx.is_none()
        {
            let expires = self.cfg.register.unwrap_or(600);
            self.register(now, expires);
        }
        let Some(c) = &mut self.call else {
            return;
        };
        if let Side::Uas { answer_at, .. } = &mut c.side
            && answer_at.is_some_and(|t| t <= now)
        {
            *answer_at = None;
            self.answer(now);
            return;
        }
        if c.hangup_at.is_some_and(|t| t <= now) {
            c.hangup_at = None;
            self.hang_up(now);
            return;
        }
        if c.digit_at.is_some_and(|t| t <= now) {
            c.digit_at = None;
            self.send_digits(now);
        }
    }

    // ----- registration --------------------------------------------------------------------

    fn register(&mut self, now: Instant, expires: u32) {
        let (call_id, tag) = match &self.reg {
            Some(r) => (r.call_id.clone(), r.tag.clone()),
            None => (self.ep.new_call_id(), self.ep.new_tag()),
        };
        let cseq = self.reg.as_ref().map_or(1, |r| r.cseq + 1);
        let aor = format!("<sip:{}@{}>", self.cfg.user, self.domain);
        let mut req = Message::request(Method::Register, format!("sip:{}", self.domain));
        req.push_header("From", format!("{aor};tag={tag}"));
        req.push_header("To", aor);
        req.push_header("Call-ID", call_id.clone());
        req.push_header("CSeq", format!("{cseq} REGISTER"));
        req.push_header("Contact", self.contact.clone());
        req.push_header("Expires", expires.to_string());
        let tsx = self.send(now, req, self.cfg.proxy);
        self.reg = Some(RegState {
            call_id,
            tag,
            cseq,
            tsx,
            auth_tries: 0,
            refresh_at: None,
            expires,
        });
    }

    fn on_register_response(&mut self, now: Instant, resp: &Message<'static>) {
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        if code.is_provisional() {
            return;
        }
        let Some(r) = self.reg.as_mut() else {
            return;
        };
        r.tsx = None;
        if code.is_success() {
            let contact = self.contact.clone();
            let granted = resp
                .contacts()
                .ok()
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| match c {
                            hotline_sip::Contact::Addr(a) => contact.contains(a.uri),
                            hotline_sip::Contact::Star => false,
                        })
                        .and_then(|c| c.expires())
                })
                .or_else(|| resp.expires().ok().flatten())
                .unwrap_or(r.expires);
            if r.expires == 0 {
                r.refresh_at = None;
                return;
            }
            // Refresh at about 80 % of the granted time (at least 1 s ahead).
            let refresh =
                Duration::from_millis(u64::from(granted) * 800).max(Duration::from_secs(1));
            r.refresh_at = Some(now + refresh);
            self.emit(PhoneEvent::Registered {
                expires_secs: granted,
            });
            return;
        }
        // 423 Interval Too Brief: ask again for the registrar's Min-Expires (RFC 3261 10.2.8).
        if code == StatusCode::INTERVAL_TOO_BRIEF {
            let min = resp
                .header("Min-Expires")
                .and_then(|v| v.trim().parse::<u32>().ok());
            if let Some(min) = min
                && min > r.expires
            {
                self.cfg.register = Some(min);
                self.register(now, min);
                return;
            }
        }
        let challenged =
            code == StatusCode::UNAUTHORIZED || code == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
        if challenged
            && r.auth_tries < 2
            && let Some((user, pass)) = self.cfg.credentials.clone()
        {
            let Some(mut req) = self.sent_register() else {
                return;
            };
            self.cnonce = self
                .cnonce
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1);
            let cnonce = format!("{:016x}", self.cnonce);
            if let Err(e) =
                hotline_sip::auth::authorize_request(&mut req, resp, &user, &pass, &cnonce)
            {
                tracing::warn!(phone = %self.cfg.name, error = %e, "cannot answer the challenge");
            } else {
                let cseq = req.cseq().map(|c| c.seq).unwrap_or(1);
                let tsx = self.send(now, req, self.cfg.proxy);
                if let Some(r) = self.reg.as_mut() {
                    r.cseq = cseq;
                    r.tsx = tsx;
                    r.auth_tries += 1;
                }
                return;
            }
        }
        if let Some(r) = self.reg.as_mut() {
            let expires = r.expires;
            r.refresh_at = (expires > 0).then(|| now + Duration::from_secs(30));
            if expires == 0 {
                return;
            }
        }
        self.emit(PhoneEvent::RegistrationFailed { code: code.0 });
    }

    /// The REGISTER we sent last, rebuilt (without Via) to answer a challenge.
    fn sent_register(&self) -> Option<Message<'static>> {
        let r = self.reg.as_ref()?;
        let aor = format!("<sip:{}@{}>", self.cfg.user, self.domain);
        let mut req = Message::request(Method::Register, format!("sip:{}", self.domain));
        req.push_header("From", format!("{aor};tag={}", r.tag));
        req.push_header("To", aor);
        req.push_header("Call-ID", r.call_id.clone());
        req.push_header("CSeq", format!("{} REGISTER", r.cseq));
        req.push_header("Contact", self.contact.clone());
        req.push_header("Expires", r.expires.to_string());
        Some(req)
    }

    fn send(&mut self, now: Instant, req: Message<'static>, dst: SocketAddr) -> Option<TsxId> {
        match self
            .ep
            .send_request(now.into_std(), req, dst, Transport::Udp)
        {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(phone = %self.cfg.name, error = %e, "cannot send request");
                None
            }
        }
    }

    fn respond(&mut self, now: Instant, tsx: TsxId, r: Message<'static>) {
        if let Err(e) = self.ep.respond(now.into_std(), tsx, r) {
            tracing::debug!(phone = %self.cfg.name, error = %e, "cannot respond");
        }
    }

    // ----- SIP events ----------------------------------------------------------------------

    fn on_sip_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Request {
                tsx, request, src, ..
            } => self.on_request(now, tsx, request, src),
            Event::Response { tsx, response, .. } => self.on_response(now, tsx, response),
            Event::Ack { .. } => {}
            Event::Cancelled { invite } => {
                let ours = matches!(&self.call, Some(CallState { side: Side::Uas { invite: Some(t), .. }, .. }) if *t == invite);
                if ours {
                    self.end(PhoneEvent::Ended {
                        call_id: self.call_id(),
                        code: 487,
                        by: Party::Remote,
                    });
                }
            }
            Event::AckTimeout { invite } => {
                let ours = matches!(&self.call, Some(CallState { side: Side::Uas { invite: Some(t), .. }, .. }) if *t == invite);
                if ours {
                    tracing::info!(phone = %self.cfg.name, "no ACK for our 200: hanging up");
                    self.hang_up(now);
                }
            }
            Event::Terminated { tsx } => {
                if let Some(c) = &mut self.call
                    && let Side::Uas { invite, .. } = &mut c.side
                    && *invite == Some(tsx)
                {
                    *invite = None;
                }
            }
        }
    }

    fn call_id(&self) -> String {
        self.call
            .as_ref()
            .map(|c| c.call_id.clone())
            .unwrap_or_default()
    }

    /// Ends the current call: frees media and reports `ended`.
    fn end(&mut self, ended: PhoneEvent) {
        if let Some(c) = self.call.take()
            && let Some(m) = c.media
        {
            let _ = self.media.destroy(m);
        }
        self.emit(ended);
    }

    fn on_request(&mut self, now: Instant, tsx: TsxId, req: Message<'static>, src: SocketAddr) {
        let method = req.method().cloned().unwrap_or(Method::Options);
        let has_tag = req.to_header().ok().and_then(|t| t.tag()).is_some();
        if has_tag {
            self.on_dialog_request(now, tsx, req, method);
            return;
        }
        match method {
            Method::Invite => self.on_invite(now, tsx, req, src),
            Method::Options => {
                let tag = self.ep.new_tag();
                let r = req
                    .make_response(StatusCode::OK, Some(&tag))
                    .with_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE")
                    .with_header("Accept", "application/sdp");
                self.respond(now, tsx, r);
            }
            _ => {
                let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
                self.respond(now, tsx, r);
            }
        }
    }

    fn on_invite(&mut self, now: Instant, tsx: TsxId, req: Message<'static>, src: SocketAddr) {
        let tag = self.ep.new_tag();
        if self.call.is_some() || self.stopping.is_some() {
            let r = req.make_response(StatusCode::BUSY_HERE, Some(&tag));
            self.respond(now, tsx, r);
            return;
        }
        let call_id = req.call_id().map(str::to_string).unwrap_or_default();
        let dialog = match Dialog::uas(&req, &tag, &self.contact) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(phone = %self.cfg.name, error = %e, "bad INVITE");
                let r = req.make_response(StatusCode::BAD_REQUEST, Some(&tag));
                self.respond(now, tsx, r);
                return;
            }
        };
        let from = user_of(req.header("From"));
        let ringing = req
            .make_response(StatusCode::RINGING, Some(&tag))
            .with_header("Contact", self.contact.clone());
        self.respond(now, tsx, ringing);
        self.call = Some(CallState {
            call_id: call_id.clone(),
            side: Side::Uas {
                invite: Some(tsx),
                request: Box::new(req),
                answer_at: self.cfg.auto_answer.map(|d| now + d),
            },
            peer: src,
            local_tag: tag,
            dialog: Some(dialog),
            media: None,
            rtp_port: None,
            connected: false,
            next_digit: 0,
            digit_at: None,
            hangup_at: None,
            bye: None,
            ending: false,
        });
        self.emit(PhoneEvent::Incoming { call_id, from });
    }

    /// Creates our media session for an offer and returns the answer body.
    fn answer_offer(
        &mut self,
        offer: &SessionDescription,
    ) -> Result<(SessionId, u16, Vec<u8>), String> {
        let info = self
            .media
            .create_session(SessionOptions::on(self.local.ip()))
            .map_err(|e| e.to_string())?;
        let (sd, neg) = match sdp::answer(
            offer,
            &self.caps,
            self.local.ip(),
            info.local.port(),
            Direction::SendRecv,
            u64::from(info.local.port()),
            1,
        ) {
            Ok(x) => x,
            Err(e) => {
                let _ = self.media.destroy(info.id);
                return Err(e.to_string());
            }
        };
        self.start_media(info.id, neg);
        Ok((info.id, info.local.port(), sd.to_bytes()))
    }

    fn start_media(&self, id: SessionId, neg: sdp::Negotiated) {
        if let Some(addr) = neg.remote {
            let _ = self.media.set_remote(
                id,
                RemoteParams {
                    rtcp: Some(SocketAddr::new(addr.ip(), addr.port().wrapping_add(1))),
                    telephone_event_pt: neg.telephone_event,
                    ..RemoteParams::g711(addr, neg.codec.payload_type())
                },
            );
            let _ = self
                .media
                .play_tone(id, ToneSpec::steady(self.cfg.tone_hz, 1500.0));
        }
    }

    fn answer(&mut self, now: Instant) {
        let Some(c) = self.call.as_ref() else {
            return;
        };
        let Side::Uas {
            invite: Some(tsx),
            request,
            ..
        } = &c.side
        else {
            return;
        };
        if c.connected {
            return;
        }
        let (tsx, request) = (*tsx, request.clone());
        let tag = c.local_tag.clone();
        let Some(offer) = sdp_body(&request) else {
            let r = request.make_response(StatusCode::NOT_ACCEPTABLE_HERE, Some(&tag));
            self.respond(now, tsx, r);
            self.end(PhoneEvent::Ended {
                call_id: self.call_id(),
                code: 488,
                by: Party::Local,
            });
            return;
        };
        let (media, port, body) = match self.answer_offer(&offer) {
            Ok(x) => x,
            Err(why) => {
                tracing::info!(phone = %self.cfg.name, %why, "cannot answer the offer");
                let r = request.make_response(StatusCode::NOT_ACCEPTABLE_HERE, Some(&tag));
                self.respond(now, tsx, r);
                self.end(PhoneEvent::Ended {
                    call_id: self.call_id(),
                    code: 488,
                    by: Party::Local,
                });
                return;
            }
        };
        let mut ok = request
            .make_response(StatusCode::OK, Some(&tag))
            .with_header("Contact", self.contact.clone());
        ok.set_body("application/sdp", body);
        self.respond(now, tsx, ok);
        let talk = self.cfg.talk_time.map(|t| {
            use rand::RngExt as _;
            let extra = self.cfg.talk_jitter.as_millis() as u64;
            let extra = if extra > 0 {
                rand::rng().random_range(0..extra)
            } else {
                0
            };
            t + Duration::from_millis(extra)
        });
        let Some(c) = self.call.as_mut() else {
            return;
        };
        if let Some(d) = &mut c.dialog {
            d.on_response_sent(&Method::Invite, StatusCode::OK);
        }
        c.media = Some(media);
        c.rtp_port = Some(port);
        c.connected = true;
        c.hangup_at = talk.map(|t| now + t);
        let call_id = c.call_id.clone();
        self.emit(PhoneEvent::Answered { call_id });
    }

    fn dial(&mut self, now: Instant, script: CallScript) {
        let info = match self
            .media
            .create_session(SessionOptions::on(self.local.ip()))
        {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(phone = %self.cfg.name, error = %e, "no media session for the call");
                self.emit(PhoneEvent::Ended {
                    call_id: String::new(),
                    code: 500,
                    by: Party::Local,
                });
                return;
            }
        };
        let offer = sdp::offer(
            &self.caps,
            self.local.ip(),
            info.local.port(),
            Direction::SendRecv,
            u64::from(info.local.port()),
            1,
        );
        let tag = self.ep.new_tag();
        let call_id = self.ep.new_call_id();
        let target = format!("sip:{}@{}", script.number, self.domain);
        let mut inv = Message::request(Method::Invite, target.clone());
        inv.push_header(
            "From",
            format!("<sip:{}@{}>;tag={tag}", self.cfg.user, self.domain),
        );
        inv.push_header("To", format!("<{target}>"));
        inv.push_header("Call-ID", call_id.clone());
        inv.push_header("CSeq", "1 INVITE");
        inv.push_header("Contact", self.contact.clone());
        inv.push_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE");
        inv.set_body("application/sdp", offer.to_bytes());
        let proxy = self.cfg.proxy;
        let Some(tsx) = self.send(now, inv, proxy) else {
            let _ = self.media.destroy(info.id);
            self.emit(PhoneEvent::Ended {
                call_id,
                code: 500,
                by: Party::Local,
            });
            return;
        };
        let sent = self
            .ep
            .request(tsx)
            .cloned()
            .unwrap_or_else(|| Message::request(Method::Invite, target));
        self.call = Some(CallState {
            call_id,
            side: Side::Uac {
                invite: Some(tsx),
                sent: Box::new(sent),
                offer: Box::new(offer),
                script,
                auth_tries: 0,
                rang: false,
            },
            peer: proxy,
            local_tag: tag,
            dialog: None,
            media: Some(info.id),
            rtp_port: Some(info.local.port()),
            connected: false,
            next_digit: 0,
            digit_at: None,
            hangup_at: None,
            bye: None,
            ending: false,
        });
    }

    fn send_digits(&mut self, now: Instant) {
        let Some(c) = self.call.as_mut() else {
            return;
        };
        let Side::Uac { script, .. } = &c.side else {
            return;
        };
        let Some((_, digits)) = script.digits.get(c.next_digit).cloned() else {
            return;
        };
        c.next_digit += 1;
        c.digit_at = script.digits.get(c.next_digit).map(|(d, _)| now + *d);
        let call_id = c.call_id.clone();
        if let Some(m) = c.media {
            match self.media.send_dtmf(m, &digits) {
                Ok(()) => self.emit(PhoneEvent::DigitsSent { call_id, digits }),
                Err(e) => tracing::info!(phone = %self.cfg.name, error = %e, "cannot send DTMF"),
            }
        }
    }

    fn hang_up(&mut self, now: Instant) {
        let Some(c) = self.call.as_mut() else {
            return;
        };
        if c.ending {
            return;
        }
        c.hangup_at = None;
        c.digit_at = None;
        if c.connected {
            let Some(bye) = c.dialog.as_mut().and_then(|d| d.request(Method::Bye).ok()) else {
                return;
            };
            c.ending = true;
            let peer = c.peer;
            if let Some(m) = c.media.take() {
                let _ = self.media.destroy(m);
            }
            let tsx = self.send(now, bye, peer);
            match (tsx, self.call.as_mut()) {
                (Some(t), Some(c)) => c.bye = Some(t),
                _ => self.end(PhoneEvent::Ended {
                    call_id: self.call_id(),
                    code: 500,
                    by: Party::Local,
                }),
            }
            return;
        }
        match &c.side {
            Side::Uac {
                invite: Some(tsx), ..
            } => {
                let tsx = *tsx;
                c.ending = true;
                // The 487 (or a racing 200, which gets ACK + BYE) ends the call.
                if let Err(e) = self.ep.cancel(now.into_std(), tsx) {
                    tracing::debug!(phone = %self.cfg.name, error = %e, "cannot cancel");
                    self.end(PhoneEvent::Ended {
                        call_id: self.call_id(),
                        code: 487,
                        by: Party::Local,
                    });
                }
            }
            Side::Uas {
                invite: Some(tsx),
                request,
                ..
            } => {
                let r = request.make_response(StatusCode::DECLINE, Some(&c.local_tag));
                let tsx = *tsx;
                self.respond(now, tsx, r);
                self.end(PhoneEvent::Ended {
                    call_id: self.call_id(),
                    code: 603,
                    by: Party::Local,
                });
            }
            _ => {
                self.end(PhoneEvent::Ended {
                    call_id: self.call_id(),
                    code: 500,
                    by: Party::Local,
                });
            }
        }
    }

    fn on_dialog_request(
        &mut self,
        now: Instant,
        tsx: TsxId,
        req: Message<'static>,
        method: Method,
    ) {
        let id = hotline_sip::DialogId::for_incoming(&req);
        let ours = match (&self.call, &id) {
            (Some(c), Some(id)) => c.dialog.as_ref().is_some_and(|d| d.id == *id),
            _ => false,
        };
        if !ours {
            if method != Method::Ack {
                let r = req.make_response(StatusCode::CALL_DOES_NOT_EXIST, None);
                self.respond(now, tsx, r);
            }
            return;
        }
        let Some(c) = self.call.as_mut() else {
            return;
        };
        if let Some(d) = c.dialog.as_mut()
            && let Err(code) = d.on_request(&req)
        {
            let r = req.make_response(code, None);
            self.respond(now, tsx, r);
            return;
        }
        match method {
            Method::Bye => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
                self.end(PhoneEvent::Ended {
                    call_id: self.call_id(),
                    code: 200,
                    by: Party::Remote,
                });
            }
            Method::Invite => {
                // Re-INVITE (hold, resume, new media address): answer from our session.
                let media = c.media;
                let mut ok = req
                    .make_response(StatusCode::OK, None)
                    .with_header("Contact", self.contact.clone());
                if let (Some(offer), Some(m)) = (sdp_body(&req), media)
                    && let Some(info_port) = self.call.as_ref().and_then(|c| c.rtp_port)
                    && let Ok((sd, neg)) = sdp::answer(
                        &offer,
                        &self.caps,
                        self.local.ip(),
                        info_port,
                        Direction::SendRecv,
                        u64::from(info_port),
                        2,
                    )
                {
                    self.start_media(m, neg);
                    ok.set_body("application/sdp", sd.to_bytes());
                }
                self.respond(now, tsx, ok);
                if let Some(d) = self.call.as_mut().and_then(|c| c.dialog.as_mut()) {
                    d.on_response_sent(&Method::Invite, StatusCode::OK);
                }
            }
            _ => {
                let r = req.make_response(StatusCode::OK, None);
                self.respond(now, tsx, r);
            }
        }
    }

    fn on_response(&mut self, now: Instant, tsx: TsxId, resp: Message<'static>) {
        if self.reg.as_ref().is_some_and(|r| r.tsx == Some(tsx)) {
            self.on_register_response(now, &resp);
            return;
        }
        let code = resp.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        let Some(c) = self.call.as_mut() else {
            // A 2xx for a call we already gave up: the endpoint re-ACKs; nothing to do.
            return;
        };
        if c.bye == Some(tsx) {
            if code.is_final() {
                self.end(PhoneEvent::Ended {
                    call_id: self.call_id(),
                    code: if code.is_success() { 200 } else { code.0 },
                    by: Party::Local,
                });
            }
            return;
        }
        let Side::Uac {
            invite,
            sent,
            offer,
            script,
            auth_tries,
            rang,
        } = &mut c.side
        else {
            return;
        };
        if *invite != Some(tsx) {
            return;
        }
        if code.is_provisional() {
            if code.0 > 100 && !*rang {
                *rang = true;
                let call_id = c.call_id.clone();
                self.emit(PhoneEvent::Ringing { call_id });
            }
            return;
        }
        if code.is_success() {
            let dialog = match Dialog::uac(sent, &resp) {
                Ok(d) => d,
                Err(e) => {
                    tracing::info!(phone = %self.cfg.name, error = %e, "bad 200 to our INVITE");
                    return;
                }
            };
            let seq = sent.cseq().map(|c| c.seq).unwrap_or(1);
            let ack = dialog.ack(seq);
            let peer = c.peer;
            if let Err(e) = self.ep.ack_2xx(tsx, ack, peer) {
                tracing::debug!(phone = %self.cfg.name, error = %e, "cannot ACK");
            }
            let Some(c) = self.call.as_mut() else {
                return;
            };
            let Side::Uac { offer, script, .. } = &c.side else {
                return;
            };
            c.dialog = Some(dialog);
            c.connected = true;
            if c.ending {
                // We cancelled but the 200 won the race: ACK, then BYE.
                c.ending = false;
                self.hang_up(now);
                return;
            }
            let neg = sdp_body(&resp).and_then(|a| sdp::negotiated_from_answer(offer, &a).ok());
            c.digit_at = script.digits.first().map(|(d, _)| now + *d);
            c.hangup_at = script.hang_up_after.map(|d| now + d);
            let call_id = c.call_id.clone();
            match (neg, c.media) {
                (Some(neg), Some(m)) => self.start_media(m, neg),
                _ => tracing::info!(phone = %self.cfg.name, "no usable SDP answer: no RTP"),
            }
            self.emit(PhoneEvent::Answered { call_id });
            return;
        }
        let challenged =
            code == StatusCode::UNAUTHORIZED || code == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
        let (mut req, tries, ending, peer) = ((**sent).clone(), *auth_tries, c.ending, c.peer);
        let _ = (offer, script);
        if challenged
            && tries < 2
            && !ending
            && let Some((user, pass)) = self.cfg.credentials.clone()
        {
            self.cnonce = self
                .cnonce
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1);
            let cnonce = format!("{:016x}", self.cnonce);
            if hotline_sip::auth::authorize_request(&mut req, &resp, &user, &pass, &cnonce).is_ok()
                && let Some(t) = self.send(now, req, peer)
            {
                let sent = self.ep.request(t).cloned();
                if let Some(c) = self.call.as_mut()
                    && let Side::Uac {
                        invite,
                        sent: s,
                        auth_tries,
                        ..
                    } = &mut c.side
                {
                    *invite = Some(t);
                    if let Some(m) = sent {
                        **s = m;
                    }
                    *auth_tries = tries + 1;
                }
                return;
            }
        }
        let by = if ending { Party::Local } else { Party::Remote };
        self.end(PhoneEvent::Ended {
            call_id: self.call_id(),
            code: code.0,
            by,
        });
    }
}
