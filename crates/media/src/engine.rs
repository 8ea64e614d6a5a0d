//! The public face of the engine: configuration, commands (methods on [`MediaEngine`]) and
//! events ([`MediaEvent`]).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::MediaError;
use crate::g711::Law;
use crate::mixer::HearMatrix;
use crate::net::IpNet;
use crate::recorder::{self, RecMsg};
use crate::snapshot::StatsCell;
use crate::tone::ToneSpec;
use crate::wav::{Pcm, read_prompt};
use crate::worker::{Command, Worker};

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// RTP ports are taken from `port_min..port_max`, even numbers, RTCP on the next odd one.
    pub port_min: u16,
    /// End of the port range (exclusive).
    pub port_max: u16,
    /// No RTP for this long gives [`MediaEvent::RtpTimeout`].
    pub rtp_timeout: Duration,
    /// Interval between RTCP reports (RFC 3550 suggests 5 s).
    pub rtcp_interval: Duration,
    /// If set, every session emits [`MediaEvent::Stats`] at this interval.
    pub stats_interval: Option<Duration>,
    /// Relative prompt names are looked up here; `.wav` is added when there is no extension.
    pub prompts_dir: PathBuf,
    /// Recordings are written here as `<call id>.wav`.
    pub recordings_dir: PathBuf,
    /// RTCP CNAME.
    pub cname: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 0,
            port_min: 20000,
            port_max: 30000,
            rtp_timeout: Duration::from_secs(30),
            rtcp_interval: Duration::from_secs(5),
            stats_interval: None,
            prompts_dir: PathBuf::from("config/prompts"),
            recordings_dir: PathBuf::from("data/recordings"),
            cname: "hotline@localhost".to_string(),
        }
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            pub(crate) fn new(counter: u64, worker: usize) -> Self {
                $name((counter << 8) | (worker as u64 & 0xFF))
            }

            /// The worker thread that owns it.
            pub fn worker(self) -> usize {
                (self.0 & 0xFF) as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}-{}", self.0 >> 8, self.0 & 0xFF)
            }
        }
    };
}

id_type!(
    /// One RTP session (one call leg).
    SessionId
);
id_type!(
    /// One mixer (conference or supervision).
    MixerId
);
id_type!(
    /// One recording.
    RecordingId
);

/// Where to create a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Local IP to bind.
    pub ip: IpAddr,
    /// Put the session on the same worker as this one (required for bridging and mixing, which
    /// only join sessions of one worker).
    pub near: Option<SessionId>,
}

impl SessionOptions {
    /// Bind on `ip`, any worker.
    pub fn on(ip: IpAddr) -> Self {
        SessionOptions { ip, near: None }
    }

    /// Bind on `ip`, on the worker of `other`.
    pub fn near(ip: IpAddr, other: SessionId) -> Self {
        SessionOptions {
            ip,
            near: Some(other),
        }
    }
}

/// A created session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its id.
    pub id: SessionId,
    /// The local RTP address (RTCP is on port + 1).
    pub local: SocketAddr,
}

/// The far end of a session, from the SDP, and where its media may come from.
///
/// # Strict sources (finding: RTP hijack and amplification)
///
/// Like Asterisk's `strictrtp` and rtpengine's strict source, a session takes media only from
/// **admitted** sources: the SDP address itself, any port of [`RemoteParams::signalling_ip`]
/// (the address the far end's SIP came from; a phone behind NAT signals and sends media from
/// the same public address), or an address in [`RemoteParams::media_networks`]. Packets from
/// any other source are dropped (counted in [`SessionStats::packets_rejected`]), never
/// latched to, never relayed, and their digits are never reported.
///
/// The SDP address is **trusted** when its IP is the signalling IP or inside a media
/// network: then media is sent there from the start. An SDP address unrelated to the
/// signalling source (a third host named in `c=`) gets nothing: media is withheld (counted in
/// [`SessionStats::packets_withheld`]) until the first admitted packet arrives, and then goes
/// to where that packet came from. So a NATed phone that signals from public address P with
/// `c=` a private address still hears audio from its first packet on, and an INVITE cannot
/// aim our RTP at someone else.
///
/// With [`RemoteParams::symmetric`] the session latches to the source of the first admitted
/// packet and ignores every other source until the next [`crate::MediaEngine::set_remote`]
/// (a new SDP, e.g. a re-INVITE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteParams {
    /// Remote RTP address.
    pub addr: SocketAddr,
    /// Remote RTCP address (usually `addr` port + 1).
    pub rtcp: Option<SocketAddr>,
    /// Audio payload type: 0 (PCMU) or 8 (PCMA).
    pub payload_type: u8,
    /// Negotiated telephone-event payload type, if any.
    pub telephone_event_pt: Option<u8>,
    /// Symmetric RTP: latch to the source address of the first admitted packet (phones behind
    /// NAT) and send there.
    pub symmetric: bool,
    /// Run the in-band DTMF detector on this leg's audio.
    pub inband_dtmf: bool,
    /// The IP the far end's signalling came from. [`RemoteParams::g711`] takes the SDP
    /// address's IP (an SDP with no signalling context trusts itself); call control sets the
    /// SIP source with [`RemoteParams::signalled_from`].
    pub signalling_ip: IpAddr,
    /// Further networks the far end may send media from and that may be named in its SDP
    /// (a carrier's media servers). Empty by default.
    pub media_networks: Arc<[IpNet]>,
}

impl RemoteParams {
    /// G.711 to `addr` with `payload_type`, telephone-event 101, symmetric, in-band detection
    /// off, signalled from `addr`'s IP, no further media networks.
    pub fn g711(addr: SocketAddr, payload_type: u8) -> Self {
        RemoteParams {
            addr,
            rtcp: None,
            payload_type,
            telephone_event_pt: Some(101),
            symmetric: true,
            inband_dtmf: false,
            signalling_ip: addr.ip(),
            media_networks: Arc::from([]),
        }
    }

    /// The same, with the far end's signalling source IP.
    #[must_use]
    pub fn signalled_from(mut self, ip: IpAddr) -> Self {
        self.signalling_ip = ip;
        self
    }

    /// The same, with further networks the far end may send media from.
    #[must_use]
    pub fn with_media_networks(mut self, networks: Arc<[IpNet]>) -> Self {
        self.media_networks = networks;
        self
    }

    /// True when packets from `src` are admitted (see the type's documentation).
    pub fn admits(&self, src: SocketAddr) -> bool {
        src == self.addr || self.trusts(src.ip())
    }

    /// True when `ip` belongs to the far end's signalling source or its media networks: media
    /// may be sent there before the far end has sent anything.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip == self.signalling_ip.to_canonical()
            || self.media_networks.iter().any(|n| n.contains(ip))
    }
}

/// How a digit arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    /// RFC 4733 telephone-event.
    Rfc4733,
    /// In-band tone (Goertzel).
    Inband,
}

/// Per-leg quality, for the call record: what we measure on the stream we receive (RFC 3550
/// appendix A.1, A.3 and A.8 over the RTP sequence numbers and timestamps), what the far end
/// reports about our stream in its RTCP receiver reports, and an E-model estimate of how the
/// received stream sounds (see [`crate::rtcp::e_model`] and `docs/media.md`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SessionStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received (duplicates included, as in RFC 3550).
    pub packets_received: u64,
    /// RTP packets expected from the sequence numbers: extended highest minus first plus one.
    pub packets_expected: u64,
    /// Packets lost on the way to us (RFC 3550 cumulative lost: expected minus received;
    /// negative when duplicates outnumber losses).
    pub packets_lost: i64,
    /// Loss toward us in percent (0 when `packets_lost` is negative).
    pub loss_percent: f32,
    /// Interarrival jitter toward us (RFC 3550 A.8), ms.
    pub jitter_ms: f32,
    /// What the far end reported in its RTCP: packets it lost from us.
    pub remote_packets_lost: Option<i32>,
    /// What the far end reported in its last report: the fraction of our packets it lost in
    /// that report's interval, in percent.
    pub remote_fraction_lost: Option<f32>,
    /// What the far end reported: jitter of our stream, ms.
    pub remote_jitter_ms: Option<f32>,
    /// Round trip from RTCP, ms.
    pub rtt_ms: Option<f32>,
    /// RTP packets dropped because they came from a source that is not admitted (strict
    /// sources, see [`RemoteParams`]). Once a session bound to a specific address has latched,
    /// the kernel drops other sources before they are counted.
    pub packets_rejected: u64,
    /// RTP packets not sent because the SDP address is unrelated to the signalling source and
    /// the far end has not sent an admitted packet yet.
    pub packets_withheld: u64,
    /// The mouth-to-ear delay the MOS assumes ([`crate::rtcp::one_way_delay_ms`]), ms.
    pub one_way_delay_ms: f32,
    /// E-model R-factor (G.107, simplified for G.711).
    pub r_factor: f32,
    /// Estimated MOS.
    pub mos: f32,
}

/// Why a command failed on a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// The session does not exist (destroyed or never created).
    UnknownSession(SessionId),
    /// The mixer does not exist.
    UnknownMixer(MixerId),
    /// The recording does not exist.
    UnknownRecording(RecordingId),
    /// The command needs a remote address first.
    NoRemote(SessionId),
    /// A matrix whose size differs from the party count.
    MatrixSize,
    /// Writing a recording failed.
    Recording(String),
}

/// Something the engine tells call control.
///
/// `Debug` output hides the digit of [`MediaEvent::Digit`]: during a payment the digits are a
/// card number, and events end up in logs.
#[derive(Clone, PartialEq)]
pub enum MediaEvent {
    /// A DTMF digit arrived (one per key press).
    Digit {
        /// The leg.
        session: SessionId,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// How it arrived.
        source: DigitSource,
    },
    /// A prompt list (or limited tone) finished or was interrupted by a digit.
    PromptFinished {
        /// The leg.
        session: SessionId,
        /// True when stopped by a digit (barge-in) or a stop command.
        interrupted: bool,
    },
    /// Queued DTMF digits have all been sent.
    DtmfSent {
        /// The leg.
        session: SessionId,
    },
    /// No RTP arrived for the configured time (sent once, re-armed when packets return).
    RtpTimeout {
        /// The leg.
        session: SessionId,
    },
    /// Quality figures (on request, periodically if configured, and once when destroyed).
    Stats {
        /// The leg.
        session: SessionId,
        /// The figures.
        stats: SessionStats,
        /// True for the last report of a destroyed session.
        final_report: bool,
    },
    /// A recording file was closed.
    RecordingStopped {
        /// The recording.
        recording: RecordingId,
        /// Its file.
        path: PathBuf,
    },
    /// A command could not be carried out.
    Failed(FailReason),
}

impl std::fmt::Debug for MediaEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaEvent::Digit {
                session, source, ..
            } => f
                .debug_struct("Digit")
                .field("session", session)
                .field("digit", &format_args!("<redacted>"))
                .field("source", source)
                .finish(),
            MediaEvent::PromptFinished {
                session,
                interrupted,
            } => f
                .debug_struct("PromptFinished")
                .field("session", session)
                .field("interrupted", interrupted)
                .finish(),
            MediaEvent::DtmfSent { session } => f
                .debug_struct("DtmfSent")
                .field("session", session)
                .finish(),
            MediaEvent::RtpTimeout { session } => f
                .debug_struct("RtpTimeout")
                .field("session", session)
                .finish(),
            MediaEvent::Stats {
                session,
                stats,
                final_report,
            } => f
                .debug_struct("Stats")
                .field("session", session)
                .field("stats", stats)
                .field("final_report", final_report)
                .finish(),
            MediaEvent::RecordingStopped { recording, path } => f
                .debug_struct("RecordingStopped")
                .field("recording", recording)
                .field("path", path)
                .finish(),
            MediaEvent::Failed(reason) => f.debug_tuple("Failed").field(reason).finish(),
        }
    }
}

/// Options for prompt playback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayOptions {
    /// A received digit stops the playback (the digit is still reported).
    pub barge_in: bool,
    /// Start again at the end (music on hold).
    pub looped: bool,
}

struct WorkerHandle {
    counters: Arc<WorkerCounters>,
    tx: Sender<Command>,
    waker: Arc<mio::Waker>,
    join: Mutex<Option<JoinHandle<()>>>,
}

/// Counters of one worker, updated with relaxed atomic adds (no lock) and read by
/// [`MediaEngine::metrics`].
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) sessions: AtomicU64,
    pub(crate) packets_in: AtomicU64,
    pub(crate) packets_out: AtomicU64,
    pub(crate) digits: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) withheld: AtomicU64,
}

/// Engine-wide counters for monitoring (`/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineMetrics {
    /// Worker threads.
    pub workers: usize,
    /// Live sessions.
    pub sessions: u64,
    /// RTP packets received since start.
    pub rtp_packets_in: u64,
    /// RTP packets sent since start (relayed, generated, mixed).
    pub rtp_packets_out: u64,
    /// DTMF digits reported since start.
    pub digits: u64,
    /// RTP packets dropped since start because their source was not admitted (strict sources,
    /// see [`RemoteParams`]).
    pub rtp_packets_rejected: u64,
    /// RTP packets not sent since start because the far end's SDP address was unrelated to
    /// its signalling source and it had not sent an admitted packet yet.
    pub rtp_packets_withheld: u64,
    /// Free RTP port pairs left in the range.
    pub free_port_pairs: usize,
}

/// Free RTP ports (even numbers).
#[derive(Debug)]
pub(crate) struct PortPool {
    free: VecDeque<u16>,
}

impl PortPool {
    fn new(min: u16, max: u16) -> Self {
        let start = min + (min & 1);
        PortPool {
            free: (start..max.saturating_sub(1)).step_by(2).collect(),
        }
    }

    pub(crate) fn release(&mut self, port: u16) {
        self.free.push_back(port);
    }
}

pub(crate) type SharedPorts = Arc<Mutex<PortPool>>;

/// Returns a port to the pool (called by a worker when a session is destroyed).
pub(crate) fn release_port(ports: &SharedPorts, port: u16) {
    lock(ports).release(port);
}

struct Inner {
    workers: Vec<WorkerHandle>,
    events: Receiver<MediaEvent>,
    ports: SharedPorts,
    next: AtomicU64,
    /// Round-robin placement of sessions created without `near`.
    next_worker: AtomicU64,
    prompts: Mutex<HashMap<PathBuf, Pcm>>,
    rec_tx: Sender<RecMsg>,
    rec_join: Mutex<Option<JoinHandle<()>>>,
    config: EngineConfig,
    /// Each live session's latest figures, published by its worker every tick (see
    /// [`MediaEngine::session_stats`]). Locked by callers creating, destroying or reading a
    /// session, never by a media thread.
    snapshots: Mutex<HashMap<SessionId, Arc<StatsCell>>>,
}

/// The media engine: a handle to the worker threads. Cheap to clone; all methods take `&self`
/// and never block on the media threads (they send a command and return).
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("workers", &self.inner.workers.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding it; the data (a port
    // list, a prompt cache) stays usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MediaEngine {
    /// Starts the worker threads and the recording writer.
    pub fn start(config: EngineConfig) -> Result<MediaEngine, MediaError> {
        if config.port_min >= config.port_max {
            return Err(MediaError::Config("port_min must be below port_max"));
        }
        let n = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.workers
        }
        .min(255);
        let (ev_tx, ev_rx) = crossbeam_channel::unbounded();
        let (rec_tx, pool_rx, rec_join) = recorder::spawn(ev_tx.clone())?;
        let ports = Arc::new(Mutex::new(PortPool::new(config.port_min, config.port_max)));
        let mut workers = Vec::with_capacity(n);
        for index in 0..n {
            let (tx, rx) = crossbeam_channel::unbounded();
            let poll = mio::Poll::new().map_err(|e| MediaError::io("creating poll", e))?;
            let waker = Arc::new(
                mio::Waker::new(poll.registry(), crate::worker::WAKER)
                    .map_err(|e| MediaError::io("creating waker", e))?,
            );
            let counters = Arc::new(WorkerCounters::default());
            let worker = Worker::new(
                index,
                counters.clone(),
                poll,
                rx,
                ev_tx.clone(),
                rec_tx.clone(),
                pool_rx.clone(),
                ports.clone(),
                &config,
            );
            let join = std::thread::Builder::new()
                .name(format!("media-{index}"))
                .spawn(move || worker.run())
                .map_err(|e| MediaError::io("spawning media thread", e))?;
            workers.push(WorkerHandle {
                counters,
                tx,
                waker,
                join: Mutex::new(Some(join)),
            });
        }
        Ok(MediaEngine {
            inner: Arc::new(Inner {
                workers,
                events: ev_rx,
                ports,
                next: AtomicU64::new(1),
                next_worker: AtomicU64::new(0),
                prompts: Mutex::new(HashMap::new()),
                rec_tx,
                rec_join: Mutex::new(Some(rec_join)),
                config,
                snapshots: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The event stream (a clone of the receiver; several consumers share the events).
    pub fn events(&self) -> Receiver<MediaEvent> {
        self.inner.events.clone()
    }

    /// Number of worker threads.
    pub fn worker_count(&self) -> usize {
        self.inner.workers.len()
    }

    fn send(&self, worker: usize, cmd: Command) -> Result<(), MediaError> {
        let w = self
            .inner
            .workers
            .get(worker)
            .ok_or(MediaError::UnknownWorker(worker))?;
        w.tx.send(cmd).map_err(|_| MediaError::Stopped)?;
        w.waker
            .wake()
            .map_err(|e| MediaError::io("waking media thread", e))
    }

    fn next_counter(&self) -> u64 {
        self.inner.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Binds an RTP/RTCP socket pair from the port range and hands it to a worker.
    pub fn create_session(&self, opts: SessionOptions) -> Result<SessionInfo, MediaError> {
        let counter = self.next_counter();
        let worker = match opts.near {
            Some(s) => s.worker(),
            None => {
                let turn = self.inner.next_worker.fetch_add(1, Ordering::Relaxed);
                (turn % self.inner.workers.len() as u64) as usize
            }
        };
        if worker >= self.inner.workers.len() {
            return Err(MediaError::UnknownWorker(worker));
        }
        let id = SessionId::new(counter, worker);
        let (rtp, rtcp, port) = self.bind_pair(opts.ip)?;
        let local = rtp
            .local_addr()
            .map_err(|e| MediaError::io("reading local address", e))?;
        let w = &self.inner.workers[worker];
        let snapshot = Arc::new(StatsCell::new());
        lock(&self.inner.snapshots).insert(id, snapshot.clone());
        let cmd = Command::Add {
            id,
            rtp,
            rtcp,
            port,
            snapshot,
        };
        if w.tx.send(cmd).is_err() {
            // The sockets went down with the command; the port pair is free again.
            release_port(&self.inner.ports, port);
            lock(&self.inner.snapshots).remove(&id);
            return Err(MediaError::Stopped);
        }
        w.waker
            .wake()
            .map_err(|e| MediaError::io("waking media thread", e))?;
        Ok(SessionInfo { id, local })
    }

    fn bind_pair(&self, ip: IpAddr) -> Result<(UdpSocket, UdpSocket, u16), MediaError> {
        let mut pool = lock(&self.inner.ports);
        let tries = pool.free.len();
        for _ in 0..tries {
            let Some(port) = pool.free.pop_front() else {
                break;
            };
            let rtp = match UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(s) => s,
                Err(_) => {
                    pool.free.push_back(port);
                    continue;
                }
            };
            let rtcp = match UdpSocket::bind(SocketAddr::new(ip, port + 1)) {
                Ok(s) => s,
                Err(_) => {
                    pool.free.push_back(port);
                    continue;
                }
            };
            for s in [&rtp, &rtcp] {
                s.set_nonblocking(true)
                    .map_err(|e| MediaError::io("setting socket non-blocking", e))?;
            }
            return Ok((rtp, rtcp, port));
        }
        Err(MediaError::NoFreePort)
    }

    /// Sets (or changes) the far end (a new SDP). Also resets symmetric-RTP latching: the next
    /// admitted packet latches again (see [`RemoteParams`]).
    pub fn set_remote(&self, id: SessionId, remote: RemoteParams) -> Result<(), MediaError> {
        if Law::from_payload_type(remote.payload_type).is_none() {
            return Err(MediaError::UnsupportedPayloadType(remote.payload_type));
        }
        self.send(id.worker(), Command::SetRemote(id, remote))
    }

    fn resolve(&self, name: &Path) -> PathBuf {
        let mut p = if name.is_absolute() {
            name.to_path_buf()
        } else {
            self.inner.config.prompts_dir.join(name)
        };
        if p.extension().is_none() {
            p.set_extension("wav");
        }
        p
    }

    /// Loads (and caches) a prompt file, decoded to linear PCM.
    pub fn load_prompt(&self, name: impl AsRef<Path>) -> Result<Pcm, MediaError> {
        let path = self.resolve(name.as_ref());
        if let Some(p) = lock(&self.inner.prompts).get(&path) {
            return Ok(p.clone());
        }
        let pcm = read_prompt(&path)?;
        lock(&self.inner.prompts).insert(path, pcm.clone());
        Ok(pcm)
    }

    /// Plays prompt files in sequence (names relative to the prompt folder, `.wav` optional).
    /// The files are loaded before the command is sent: a missing or bad file is an error here.
    /// Replaces whatever the leg was hearing until [`MediaEvent::PromptFinished`].
    pub fn play<P: AsRef<Path>>(
        &self,
        id: SessionId,
        prompts: &[P],
        opts: PlayOptions,
    ) -> Result<(), MediaError> {
        let items = prompts
            .iter()
            .map(|p| self.load_prompt(p))
            .collect::<Result<Vec<_>, _>>()?;
        self.send(id.worker(), Command::Play(id, items, opts))
    }

    /// Plays decoded audio (for prompts built in memory).
    pub fn play_pcm(
        &self,
        id: SessionId,
        items: Vec<Pcm>,
        opts: PlayOptions,
    ) -> Result<(), MediaError> {
        self.send(id.worker(), Command::Play(id, items, opts))
    }

    /// Music on hold: loops a file until stopped.
    pub fn music_on_hold(&self, id: SessionId, file: impl AsRef<Path>) -> Result<(), MediaError> {
        self.play(
            id,
            &[file],
            PlayOptions {
                barge_in: false,
                looped: true,
            },
        )
    }

    /// Plays a tone (ringback, busy, ...).
    pub fn play_tone(&self, id: SessionId, tone: ToneSpec) -> Result<(), MediaError> {
        self.send(id.worker(), Command::Tone(id, tone))
    }

    /// Stops a prompt, tone or music on hold.
    pub fn stop_playback(&self, id: SessionId) -> Result<(), MediaError> {
        self.send(id.worker(), Command::StopPlayback(id))
    }

    /// Sends DTMF digits: RFC 4733 when the far end negotiated telephone-event, in-band tones
    /// otherwise.
    pub fn send_dtmf(&self, id: SessionId, digits: &str) -> Result<(), MediaError> {
        if let Some(bad) = digits
            .chars()
            .find(|c| crate::rfc4733::digit_to_event(*c).is_none())
        {
            return Err(MediaError::InvalidDigit(bad));
        }
        self.send(id.worker(), Command::SendDtmf(id, digits.to_string()))
    }

    /// Relays media between two legs of one worker (see [`SessionOptions::near`]): packets are
    /// forwarded as they arrive with SSRC, sequence and timestamp rewritten, transcoded between
    /// mu-law and A-law when the legs differ. Leaves any mixer.
    pub fn bridge(&self, a: SessionId, b: SessionId) -> Result<(), MediaError> {
        if a.worker() != b.worker() {
            return Err(MediaError::DifferentWorkers);
        }
        if a == b {
            return Err(MediaError::Config("cannot bridge a session with itself"));
        }
        self.send(a.worker(), Command::Bridge(a, b))
    }

    /// Ends a bridge (both directions).
    pub fn unbridge(&self, id: SessionId) -> Result<(), MediaError> {
        self.send(id.worker(), Command::Unbridge(id))
    }

    /// Keeps DTMF away from this leg (payments: the agent must not hear card digits): relayed
    /// and mixed telephone-events are dropped and audio from a leg that is sending a digit is
    /// replaced by silence.
    pub fn suppress_dtmf(&self, toward: SessionId, on: bool) -> Result<(), MediaError> {
        self.send(toward.worker(), Command::SuppressDtmf(toward, on))
    }

    /// Overrides the RTP timeout of one leg: `None` disables it (a leg on hold with
    /// `a=inactive` sends nothing), `Some(t)` sets it. Restarts the timer.
    pub fn set_rtp_timeout(
        &self,
        id: SessionId,
        timeout: Option<Duration>,
    ) -> Result<(), MediaError> {
        self.send(id.worker(), Command::SetTimeout(id, timeout))
    }

    /// Creates a mixer over `parties` (one worker) with a hearing matrix; the parties leave any
    /// bridge. For supervision use the order caller, agent, supervisor and the presets
    /// [`HearMatrix::monitor`], [`HearMatrix::whisper`], [`HearMatrix::barge`].
    pub fn create_mixer(
        &self,
        parties: &[SessionId],
        matrix: HearMatrix,
    ) -> Result<MixerId, MediaError> {
        let worker = parties
            .first()
            .ok_or(MediaError::Config("mixer without parties"))?
            .worker();
        if parties.iter().any(|p| p.worker() != worker) {
            return Err(MediaError::DifferentWorkers);
        }
        if parties.len() != matrix.len() || parties.len() > HearMatrix::MAX_PARTIES {
            return Err(MediaError::Config("matrix size differs from party count"));
        }
        let id = MixerId::new(self.next_counter(), worker);
        self.send(worker, Command::MixerCreate(id, parties.to_vec(), matrix))?;
        Ok(id)
    }

    /// Changes who hears whom, from the next 20 ms tick (no gap).
    pub fn set_matrix(&self, mixer: MixerId, matrix: HearMatrix) -> Result<(), MediaError> {
        self.send(mixer.worker(), Command::MixerSet(mixer, matrix))
    }

    /// Removes a mixer; its parties go back to idle.
    pub fn destroy_mixer(&self, mixer: MixerId) -> Result<(), MediaError> {
        self.send(mixer.worker(), Command::MixerDestroy(mixer))
    }

    /// Starts recording `legs` (caller, agent, optionally supervisor: one channel each, what
    /// that leg says) to `<recordings_dir>/<call_id>.wav`.
    pub fn start_recording(
        &self,
        call_id: &str,
        legs: &[SessionId],
    ) -> Result<RecordingId, MediaError> {
        let dir = self.inner.config.recordings_dir.clone();
        self.start_recording_in(&dir, call_id, legs)
    }

    /// Like [`MediaEngine::start_recording`] with an explicit folder.
    pub fn start_recording_in(
        &self,
        dir: &Path,
        call_id: &str,
        legs: &[SessionId],
    ) -> Result<RecordingId, MediaError> {
        let valid = !call_id.is_empty()
            && !call_id.starts_with('.')
            && call_id.len() <= 128
            && call_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
        if !valid {
            return Err(MediaError::Config("call id is not a safe file name"));
        }
        let worker = legs
            .first()
            .ok_or(MediaError::Config("recording without legs"))?
            .worker();
        if legs.len() > 3 {
            return Err(MediaError::Config("at most three recorded legs"));
        }
        if legs.iter().any(|l| l.worker() != worker) {
            return Err(MediaError::DifferentWorkers);
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| MediaError::io("creating recordings folder", e))?;
        let path = dir.join(format!("{call_id}.wav"));
        let id = RecordingId::new(self.next_counter(), worker);
        self.inner
            .rec_tx
            .send(RecMsg::Open {
                id,
                path,
                channels: legs.len() as u16,
            })
            .map_err(|_| MediaError::Stopped)?;
        self.send(worker, Command::RecordStart(id, legs.to_vec()))?;
        Ok(id)
    }

    /// Pauses a recording: silence is written until resumed.
    pub fn pause_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        self.send(id.worker(), Command::RecordPause(id, true))
    }

    /// Resumes a paused recording.
    pub fn resume_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        self.send(id.worker(), Command::RecordPause(id, false))
    }

    /// Stops a recording; [`MediaEvent::RecordingStopped`] follows when the file is closed.
    pub fn stop_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        self.send(id.worker(), Command::RecordStop(id))
    }

    /// Asks for a [`MediaEvent::Stats`].
    pub fn request_stats(&self, id: SessionId) -> Result<(), MediaError> {
        self.send(id.worker(), Command::Stats(id))
    }

    /// The session's quality figures as its worker last published them (at most one 20 ms
    /// tick old), at once and without asking the media thread: for call control, which puts
    /// them in the call record just before it destroys the leg. `None` for a session that was
    /// never created or is destroyed.
    pub fn session_stats(&self, id: SessionId) -> Option<SessionStats> {
        lock(&self.inner.snapshots).get(&id).map(|cell| cell.load())
    }

    /// Destroys a session: closes its sockets, frees the ports, emits the final stats.
    pub fn destroy(&self, id: SessionId) -> Result<(), MediaError> {
        lock(&self.inner.snapshots).remove(&id);
        self.send(id.worker(), Command::Destroy(id))
    }

    /// Stops all threads (recordings are closed). Waits for them.
    pub fn shutdown(&self) {
        for w in &self.inner.workers {
            let _ = w.tx.send(Command::Shutdown);
            let _ = w.waker.wake();
        }
        for w in &self.inner.workers {
            if let Some(j) = lock(&w.join).take() {
                let _ = j.join();
            }
        }
        let _ = self.inner.rec_tx.send(RecMsg::Shutdown);
        if let Some(j) = lock(&self.inner.rec_join).take() {
            let _ = j.join();
        }
    }

    /// Free RTP port pairs left in the range.
    pub fn free_ports(&self) -> usize {
        lock(&self.inner.ports).free.len()
    }

    /// Counters summed over the workers.
    pub fn metrics(&self) -> EngineMetrics {
        let mut m = EngineMetrics {
            workers: self.inner.workers.len(),
            free_port_pairs: self.free_ports(),
            ..Default::default()
        };
        for w in &self.inner.workers {
            let c = &w.counters;
            m.sessions += c.sessions.load(Ordering::Relaxed);
            m.rtp_packets_in += c.packets_in.load(Ordering::Relaxed);
            m.rtp_packets_out += c.packets_out.load(Ordering::Relaxed);
            m.digits += c.digits.load(Ordering::Relaxed);
            m.rtp_packets_rejected += c.rejected.load(Ordering::Relaxed);
            m.rtp_packets_withheld += c.withheld.load(Ordering::Relaxed);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_events_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<MediaEngine>();
        send_sync::<MediaEvent>();
        send_sync::<MediaError>();
    }

    #[test]
    fn ids_carry_their_worker() {
        let s = SessionId::new(77, 3);
        assert_eq!(s.worker(), 3);
        assert_eq!(s.to_string(), "77-3");
    }

    #[test]
    fn digit_debug_is_redacted() {
        let ev = MediaEvent::Digit {
            session: SessionId::new(1, 0),
            digit: '9',
            source: DigitSource::Rfc4733,
        };
        let s = format!("{ev:?}");
        assert!(!s.contains('9'), "{s}");
        assert!(s.contains("redacted"));
    }

    #[test]
    fn port_pool_is_even() {
        let p = PortPool::new(10001, 10010);
        assert_eq!(
            p.free.iter().copied().collect::<Vec<_>>(),
            vec![10002, 10004, 10006, 10008]
        );
    }
}
