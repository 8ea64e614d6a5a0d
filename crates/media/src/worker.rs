//! One media thread: an event loop over its sessions' sockets (mio's epoll, the media sockets
//! registered level-triggered) with a 20 ms tick.
//!
//! * A packet is handled the moment it arrives: statistics, DTMF, then (if bridged) rewritten and
//!   sent on the peer's socket from the same stack buffers. Nothing on this path allocates or
//!   locks.
//! * Every 20 ms the tick plays prompts, tones and DTMF, runs the mixers and recordings on the
//!   jitter-buffered frames, sends RTCP and checks RTP timeouts.
//! * Commands arrive over a crossbeam channel; the sender wakes the loop with a `mio::Waker`.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::UdpSocket;
use mio::{Events, Poll, Token};
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use rustix::event::epoll;
use rustix::net;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::engine::{
    DigitSource, EngineConfig, FailReason, MediaEvent, MixerId, PlayOptions, RecordingId,
    RemoteParams, SessionId, SessionStats, SharedPorts, WorkerCounters,
};
use crate::g711::{Law, transcode_in_place};
use crate::inband::DtmfDetector;
use crate::jitter::JitterBuffer;
use crate::mixer::HearMatrix;
use crate::recorder::RecMsg;
use crate::rfc4733::{Rfc4733Receiver, Rfc4733Sender};
use crate::rtcp::{self, ReceiverStats, ReportBlock, SenderInfo};
use crate::snapshot::StatsCell;
use crate::tone::{ToneGenerator, ToneSpec, dtmf_tone};
use crate::wav::Pcm;

pub(crate) const WAKER: Token = Token(usize::MAX);
const TICK: Duration = Duration::from_millis(20);
const FRAME: usize = 160;
/// An RFC 4733 event counts as "in progress" (for suppression) this long after its last packet.
const TE_HOLD: Duration = Duration::from_millis(80);

/// Commands from [`crate::MediaEngine`].
pub(crate) enum Command {
    Add {
        id: SessionId,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        port: u16,
        /// Where the session publishes its figures (read by [`crate::MediaEngine::session_stats`]).
        snapshot: Arc<StatsCell>,
    },
    SetRemote(SessionId, RemoteParams),
    Play(SessionId, Vec<Pcm>, PlayOptions),
    Tone(SessionId, ToneSpec),
    StopPlayback(SessionId),
    SendDtmf(SessionId, String),
    Bridge(SessionId, SessionId),
    Unbridge(SessionId),
    SuppressDtmf(SessionId, bool),
    SetTimeout(SessionId, Option<Duration>),
    MixerCreate(MixerId, Vec<SessionId>, HearMatrix),
    MixerSet(MixerId, HearMatrix),
    MixerDestroy(MixerId),
    RecordStart(RecordingId, Vec<SessionId>),
    RecordPause(RecordingId, bool),
    RecordStop(RecordingId),
    Stats(SessionId),
    Destroy(SessionId),
    Shutdown,
}

/// Where a session's media goes and what it accepts (strict sources, see
/// [`RemoteParams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Latch {
    /// Symmetric RTP before the first admitted packet. `send`: the SDP address is trusted
    /// (the signalling source's, or in a media network), so media goes there meanwhile;
    /// otherwise it is withheld.
    Waiting { send: bool },
    /// Symmetric RTP latched to `Remote::rtp`; only that source is accepted. `connected`: the
    /// RTP socket is connected to it, so the kernel keeps the route and drops datagrams from
    /// any other source, as the latch does.
    Latched { connected: bool },
    /// Not symmetric: media goes to the SDP address when `send` (trusted), and is accepted from
    /// admitted sources.
    Fixed { send: bool },
}

/// What happened to a datagram handed to [`Remote::send_rtp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendOutcome {
    Sent,
    /// The socket refused it (counted as sent for RTP, as the kernel may drop it anyway).
    Failed,
    /// Not sent: the far end has not proved its address yet.
    Withheld,
}

#[derive(Debug, Clone, Copy)]
struct Remote {
    rtp: SocketAddr,
    rtcp: SocketAddr,
    pt: u8,
    law: Law,
    te_pt: Option<u8>,
    latch: Latch,
}

impl Remote {
    /// Sends one RTP datagram to the far end: on a connected socket without an address, so
    /// the kernel uses the route it keeps (a `sendto` with an address looks the route up for
    /// every datagram, about a tenth of the cost of sending on loopback).
    fn send_rtp(&self, sock: &UdpSocket, buf: &[u8]) -> SendOutcome {
        let result = match self.latch {
            Latch::Latched { connected: true } => sock.send(buf),
            Latch::Latched { connected: false }
            | Latch::Waiting { send: true }
            | Latch::Fixed { send: true } => sock.send_to(buf, self.rtp),
            Latch::Waiting { send: false } | Latch::Fixed { send: false } => {
                return SendOutcome::Withheld;
            }
        };
        if result.is_ok() {
            SendOutcome::Sent
        } else {
            SendOutcome::Failed
        }
    }

    /// True when media may go to `rtp`/`rtcp` now.
    fn may_send(&self) -> bool {
        !matches!(
            self.latch,
            Latch::Waiting { send: false } | Latch::Fixed { send: false }
        )
    }

    fn connected(&self) -> bool {
        self.latch == Latch::Latched { connected: true }
    }
}

/// Accounts for one datagram handed to [`Remote::send_rtp`].
fn count_sent(result: SendOutcome, withheld: &mut u64, counters: &WorkerCounters) {
    match result {
        SendOutcome::Sent => {
            counters.packets_out.fetch_add(1, Relaxed);
        }
        SendOutcome::Failed => {}
        SendOutcome::Withheld => {
            *withheld += 1;
            counters.withheld.fetch_add(1, Relaxed);
        }
    }
}

struct Playback {
    items: Vec<Pcm>,
    item: usize,
    pos: usize,
    opts: PlayOptions,
}

impl Playback {
    /// Fills a frame; returns false when the list is over.
    fn fill(&mut self, out: &mut [i16; FRAME]) -> bool {
        let mut filled = 0;
        while filled < FRAME {
            let Some(cur) = self.items.get(self.item) else {
                if self.opts.looped
                    && !self.items.is_empty()
                    && self.items.iter().any(|p| !p.is_empty())
                {
                    self.item = 0;
                    self.pos = 0;
                    continue;
                }
                out[filled..].fill(0);
                return filled > 0;
            };
            let n = (cur.len() - self.pos).min(FRAME - filled);
            out[filled..filled + n].copy_from_slice(&cur[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
            if self.pos >= cur.len() {
                self.item += 1;
                self.pos = 0;
            }
        }
        true
    }
}

enum Source {
    Idle,
    Play(Playback),
    Tone(ToneGenerator),
}

struct Session {
    id: SessionId,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    port: u16,
    /// Bound to a specific address, so connecting on latch cannot change the local address
    /// (connecting a wildcard-bound socket would pin it to the route's source address).
    connect_on_latch: bool,
    remote: Option<Remote>,
    /// The far end as signalled (who is admitted); set with `remote`.
    params: Option<RemoteParams>,
    packets_rejected: u64,
    packets_withheld: u64,
    // transmit state
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker_next: bool,
    packets_sent: u64,
    octets_sent: u64,
    /// Relay mapping of the stream forwarded into this leg: (source SSRC, timestamp offset).
    relay_map: Option<(u32, u32)>,
    // receive state
    stats: ReceiverStats,
    last_rx: Instant,
    timed_out: bool,
    /// Per-session RTP timeout: `None` uses the engine's, `Some(None)` disables it.
    timeout_override: Option<Option<Duration>>,
    te_rx: Rfc4733Receiver,
    te_active_until: Option<Instant>,
    /// Set once the peer has sent a telephone-event: from then on its in-band tones are not
    /// reported (phones that send both would give every digit twice).
    te_seen: bool,
    inband: Option<Box<DtmfDetector>>,
    remote_report: Option<ReportBlock>,
    rtt_ms: Option<f32>,
    last_sr: Option<(u32, Instant)>,
    next_rtcp: Instant,
    next_stats: Option<Instant>,
    /// The figures published every tick for [`crate::MediaEngine::session_stats`].
    snapshot: Arc<StatsCell>,
    // media routing
    peer: Option<usize>,
    mixer: Option<MixerId>,
    suppress_dtmf: bool,
    pcm_users: u8,
    jb: Box<JitterBuffer>,
    cur: [i16; FRAME],
    source: Source,
    te_tx: Rfc4733Sender,
    tone_digits: VecDeque<char>,
    tone_dtmf: Option<ToneGenerator>,
    dtmf_pending_event: bool,
}

impl Session {
    fn local_output_active(&self) -> bool {
        self.te_tx.is_busy()
            || self.tone_dtmf.is_some()
            || !self.tone_digits.is_empty()
            || !matches!(self.source, Source::Idle)
    }

    /// True while this leg is sending a DTMF digit (RFC 4733 event or in-band tone seen).
    fn sending_dtmf(&self, now: Instant) -> bool {
        self.te_active_until.is_some_and(|t| now < t)
            || self.inband.as_ref().is_some_and(|d| d.tone_present)
    }

    fn stats(&self) -> SessionStats {
        let expected = self.stats.expected();
        let lost = self.stats.lost();
        let loss_percent = if expected > 0 {
            (lost.max(0) as f32 * 100.0 / expected as f32).min(100.0)
        } else {
            0.0
        };
        let jitter_ms = self.stats.jitter_ms();
        let delay = rtcp::one_way_delay_ms(self.rtt_ms, jitter_ms);
        let (r_factor, mos) = rtcp::e_model(loss_percent, delay);
        SessionStats {
            packets_sent: self.packets_sent,
            packets_received: self.stats.received,
            packets_expected: expected,
            packets_lost: lost,
            loss_percent,
            jitter_ms,
            remote_packets_lost: self.remote_report.map(|r| r.cumulative_lost),
            remote_fraction_lost: self
                .remote_report
                .map(|r| f32::from(r.fraction_lost) * 100.0 / 256.0),
            remote_jitter_ms: self.remote_report.map(|r| r.jitter as f32 / 8.0),
            rtt_ms: self.rtt_ms,
            one_way_delay_ms: delay,
            r_factor,
            mos,
            packets_rejected: self.packets_rejected,
            packets_withheld: self.packets_withheld,
        }
    }
}

struct Mixer {
    id: MixerId,
    parties: Vec<Option<usize>>,
    matrix: HearMatrix,
}

struct Recording {
    id: RecordingId,
    legs: Vec<Option<usize>>,
    paused: bool,
}

/// Scratch buffers for the packet path.
struct Bufs {
    recv: [u8; 2048],
    send: [u8; 2048],
    payload: [u8; 1500],
}

pub(crate) struct Worker {
    index: usize,
    counters: Arc<WorkerCounters>,
    poll: Poll,
    commands: Receiver<Command>,
    events: Sender<MediaEvent>,
    rec_tx: Sender<RecMsg>,
    rec_pool: Receiver<Vec<i16>>,
    ports: SharedPorts,
    sessions: Vec<Option<Session>>,
    free_slots: Vec<usize>,
    by_id: HashMap<SessionId, usize>,
    mixers: Vec<Mixer>,
    recordings: Vec<Recording>,
    bufs: Box<Bufs>,
    epoch: Instant,
    rtp_timeout: Duration,
    rtcp_interval: Duration,
    stats_interval: Option<Duration>,
    cname: String,
    rng: u64,
}

fn token_of(slot: usize, rtcp: bool) -> Token {
    Token(slot * 2 + rtcp as usize)
}

/// Two distinct sessions of the slab, mutably.
fn pair(
    sessions: &mut [Option<Session>],
    a: usize,
    b: usize,
) -> Option<(&mut Session, &mut Session)> {
    if a == b || a >= sessions.len() || b >= sessions.len() {
        return None;
    }
    let (x, y) = if a < b {
        let (lo, hi) = sessions.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = sessions.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    };
    Some((x.as_mut()?, y.as_mut()?))
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        index: usize,
        counters: Arc<WorkerCounters>,
        poll: Poll,
        commands: Receiver<Command>,
        events: Sender<MediaEvent>,
        rec_tx: Sender<RecMsg>,
        rec_pool: Receiver<Vec<i16>>,
        ports: SharedPorts,
        config: &EngineConfig,
    ) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ ((index as u64 + 1) << 40);
        Worker {
            index,
            counters,
            poll,
            commands,
            events,
            rec_tx,
            rec_pool,
            ports,
            sessions: Vec::new(),
            free_slots: Vec::new(),
            by_id: HashMap::new(),
            mixers: Vec::new(),
            recordings: Vec::new(),
            bufs: Box::new(Bufs {
                recv: [0; 2048],
                send: [0; 2048],
                payload: [0; 1500],
            }),
            epoch: Instant::now(),
            rtp_timeout: config.rtp_timeout,
            rtcp_interval: config.rtcp_interval,
            stats_interval: config.stats_interval,
            cname: config.cname.clone(),
            rng: seed | 1,
        }
    }

    fn random(&mut self) -> u64 {
        splitmix(&mut self.rng)
    }

    fn emit(&self, ev: MediaEvent) {
        let _ = self.events.send(ev);
    }

    fn fail(&self, reason: FailReason) {
        tracing::debug!(worker = self.index, ?reason, "media command failed");
        self.emit(MediaEvent::Failed(reason));
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!(worker = self.index, error = %e, "media poll failed");
                    std::thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
            for ev in events.iter() {
                let t = ev.token();
                if t != WAKER {
                    self.on_readable(t.0 / 2, t.0 % 2 == 1);
                }
            }
            if !self.drain_commands() {
                break;
            }
            let now = Instant::now();
            if now >= next_tick {
                self.tick(now);
                next_tick += TICK;
                if now > next_tick + 5 * TICK {
                    // We fell far behind (suspended VM): restart the clock rather than burst.
                    next_tick = now + TICK;
                }
            }
        }
        let ids: Vec<SessionId> = self.by_id.keys().copied().collect();
        for id in ids {
            self.destroy(id);
        }
    }

    // ----- packet path -------------------------------------------------------------------

    /// Reads one datagram from a socket that epoll reported readable.
    ///
    /// The sockets are registered level-triggered (see [`register`]): one `recvfrom` per
    /// report, and a socket with more queued is reported again by the next `epoll_wait`. The
    /// edge-triggered alternative must read until `EAGAIN`, a second `recvfrom` for nearly every
    /// packet (each socket gets one packet per 20 ms), where level-triggered costs one more
    /// readiness check inside the next `epoll_wait`. Under overload this also reads the ready
    /// sockets round robin, one datagram each per round.
    fn on_readable(&mut self, slot: usize, is_rtcp: bool) {
        let Some(Some(s)) = self.sessions.get(slot) else {
            return;
        };
        let got = match s.remote {
            // Connected (latched): only the far end can be the source.
            Some(r) if r.connected() && !is_rtcp => {
                s.rtp.recv(&mut self.bufs.recv).map(|n| (n, r.rtp))
            }
            _ => {
                let sock = if is_rtcp { &s.rtcp } else { &s.rtp };
                sock.recv_from(&mut self.bufs.recv)
            }
        };
        // WouldBlock (a report for a datagram already read) or an error such as ICMP port
        // unreachable from an earlier send: nothing to do, epoll reports what is still queued.
        if let Ok((n, src)) = got {
            if is_rtcp {
                self.on_rtcp(slot, n, src);
            } else {
                self.on_rtp(slot, n, src);
            }
        }
    }

    fn on_rtcp(&mut self, slot: usize, n: usize, src: SocketAddr) {
        let Some(Some(s)) = self.sessions.get_mut(slot) else {
            return;
        };
        let Ok(info) = rtcp::parse(&self.bufs.recv[..n], s.ssrc) else {
            return;
        };
        // Strict sources: RTCP from anyone else than the far end is ignored.
        let Some(r) = s.remote.as_mut() else { return };
        match r.latch {
            Latch::Latched { .. } if src.ip() == r.rtp.ip() => r.rtcp = src,
            Latch::Latched { .. } => return,
            Latch::Waiting { .. } | Latch::Fixed { .. } => {
                let admitted = s.params.as_ref().is_some_and(|p| {
                    p.trusts(src.ip()) || src.ip() == p.addr.ip() || Some(src) == p.rtcp
                });
                if !admitted {
                    return;
                }
            }
        }
        let now_ntp = rtcp::ntp_now();
        if let Some(sr) = info.sender {
            s.last_sr = Some((rtcp::ntp_middle(sr.ntp), Instant::now()));
        }
        if let Some(block) = info.about_us {
            if let Some(rtt) = rtcp::round_trip_ms(&block, now_ntp) {
                s.rtt_ms = Some(rtt);
            }
            s.remote_report = Some(block);
        }
    }

    fn on_rtp(&mut self, slot: usize, n: usize, src: SocketAddr) {
        let now = Instant::now();
        let arrival = ((now - self.epoch).as_micros() as u64 * 8 / 1000) as u32;
        let Worker {
            sessions,
            bufs,
            events,
            counters,
            ..
        } = self;
        let Bufs {
            recv,
            send,
            payload: pay_buf,
        } = &mut **bufs;
        let Ok(pkt) = RtpReader::new(&recv[..n]) else {
            return;
        };
        counters.packets_in.fetch_add(1, Relaxed);
        let Some(Some(s)) = sessions.get_mut(slot) else {
            return;
        };
        let Some(remote) = s.remote.as_mut() else {
            return;
        };
        // Strict sources (see `RemoteParams`): one comparison once latched; the admission
        // check (signalling IP, SDP address, media networks) only before.
        let admitted = match remote.latch {
            Latch::Latched { .. } => src == remote.rtp,
            Latch::Waiting { .. } => {
                let ok = s.params.as_ref().is_some_and(|p| p.admits(src));
                if ok {
                    remote.rtp = src;
                    remote.rtcp = SocketAddr::new(src.ip(), src.port().wrapping_add(1));
                    // From now on only `src` is accepted: let the kernel filter (and keep the
                    // route).
                    let connected = s.connect_on_latch && net::connect(&s.rtp, &src).is_ok();
                    remote.latch = Latch::Latched { connected };
                }
                ok
            }
            Latch::Fixed { .. } => s.params.as_ref().is_some_and(|p| p.admits(src)),
        };
        if !admitted {
            s.packets_rejected += 1;
            counters.rejected.fetch_add(1, Relaxed);
            return;
        }
        let remote = *remote;
        let pt = pkt.payload_type();
        if (64..=95).contains(&pt) {
            // RTCP multiplexed on the RTP port (RFC 5761): not RTP, keep it out of the stats.
            return;
        }
        let seq: u16 = pkt.sequence_number().into();
        let payload = pkt.payload();
        s.stats.on_packet(pkt.ssrc(), seq, pkt.timestamp(), arrival);
        s.last_rx = now;
        s.timed_out = false;
        let id = s.id;
        let mut digit: Option<(char, DigitSource)> = None;
        let is_te = remote.te_pt == Some(pt);
        // The law of this packet: the negotiated one, or the other G.711 law when a peer sends
        // PCMA after offering PCMU (or the reverse), which happens.
        let in_law = if pt == remote.pt {
            Some(remote.law)
        } else {
            Law::from_payload_type(pt)
        };
        if is_te {
            s.te_active_until = Some(now + TE_HOLD);
            s.te_seen = true;
            if let Ok(Some(d)) = s.te_rx.on_packet(pkt.timestamp(), payload) {
                digit = Some((d, DigitSource::Rfc4733));
            }
        } else if let Some(law) = in_law {
            if s.inband.is_some() || s.pcm_users > 0 {
                let mut pcm = [0i16; FRAME];
                let len = law.decode_into(payload, &mut pcm);
                let report = !s.te_seen;
                if let Some(det) = s.inband.as_mut() {
                    det.process(&pcm[..len], |d| {
                        if report {
                            digit.get_or_insert((d, DigitSource::Inband));
                        }
                    });
                }
                if s.pcm_users > 0 {
                    s.jb.push(seq, &pcm[..len]);
                }
            }
        } else {
            // Comfort noise or an unexpected payload type: counted, not forwarded.
            return;
        }
        if let Some((d, source)) = digit {
            counters.digits.fetch_add(1, Relaxed);
            let _ = events.send(MediaEvent::Digit {
                session: id,
                digit: d,
                source,
            });
            if let Source::Play(p) = &s.source
                && p.opts.barge_in
            {
                s.source = Source::Idle;
                let _ = events.send(MediaEvent::PromptFinished {
                    session: id,
                    interrupted: true,
                });
            }
        }
        let Some(peer) = s.peer else {
            return;
        };
        let Some((a, b)) = pair(sessions, slot, peer) else {
            return;
        };
        let Some(out) = b.remote else {
            return;
        };
        if b.local_output_active() {
            return;
        }
        let (out_pt, body): (u8, &[u8]) = if is_te {
            match out.te_pt {
                Some(te) if !b.suppress_dtmf => (te, payload),
                _ => return,
            }
        } else if b.suppress_dtmf && a.sending_dtmf(now) {
            let len = payload.len().min(pay_buf.len());
            pay_buf[..len].fill(out.law.silence());
            (out.pt, &pay_buf[..len])
        } else if let Some(law) = in_law
            && law != out.law
        {
            let len = payload.len().min(pay_buf.len());
            pay_buf[..len].copy_from_slice(&payload[..len]);
            transcode_in_place(law, out.law, &mut pay_buf[..len]);
            (out.pt, &pay_buf[..len])
        } else {
            (out.pt, payload)
        };
        let in_ssrc = pkt.ssrc();
        let in_ts = pkt.timestamp();
        let mut marker = pkt.mark();
        let offset = match b.relay_map {
            Some((ssrc, off)) if ssrc == in_ssrc => off,
            _ => {
                let off = b.ts.wrapping_sub(in_ts);
                b.relay_map = Some((in_ssrc, off));
                marker = true;
                off
            }
        };
        let out_ts = in_ts.wrapping_add(offset);
        let built = RtpPacketBuilder::new()
            .payload_type(out_pt)
            .marked(marker)
            .sequence(Seq::from(b.seq))
            .ssrc(b.ssrc)
            .timestamp(out_ts)
            .payload(body)
            .build_into(send);
        let Ok(len) = built else {
            return;
        };
        b.seq = b.seq.wrapping_add(1);
        if !is_te {
            let next = out_ts.wrapping_add(body.len() as u32);
            if next.wrapping_sub(b.ts) < 0x8000_0000 {
                b.ts = next;
            }
        }
        let result = out.send_rtp(&b.rtp, &send[..len]);
        if result != SendOutcome::Withheld {
            b.packets_sent += 1;
            b.octets_sent += body.len() as u64;
        }
        count_sent(result, &mut b.packets_withheld, counters);
    }

    // ----- tick ---------------------------------------------------------------------------

    fn tick(&mut self, now: Instant) {
        for s in self.sessions.iter_mut().flatten() {
            if s.pcm_users > 0 {
                s.jb.pop(&mut s.cur);
            }
        }
        self.run_mixers(now);
        self.run_recordings();
        for slot in 0..self.sessions.len() {
            self.tick_session(slot, now);
        }
    }

    fn run_mixers(&mut self, now: Instant) {
        let Worker {
            sessions,
            mixers,
            bufs,
            counters,
            ..
        } = self;
        let counters: &WorkerCounters = counters;
        for m in mixers.iter() {
            for (li, listener) in m.parties.iter().enumerate() {
                let Some(l) = *listener else { continue };
                let row = m.matrix.row(li);
                let suppress = match sessions.get(l) {
                    Some(Some(s)) if s.remote.is_some() && !s.local_output_active() => {
                        s.suppress_dtmf
                    }
                    _ => continue,
                };
                let mut acc = [0i32; FRAME];
                for (si, speaker) in m.parties.iter().enumerate() {
                    if row & (1u64 << si) == 0 {
                        continue;
                    }
                    let Some(Some(sp)) = speaker.and_then(|x| sessions.get(x)) else {
                        continue;
                    };
                    if suppress && sp.sending_dtmf(now) {
                        continue;
                    }
                    for (a, v) in acc.iter_mut().zip(sp.cur.iter()) {
                        *a += *v as i32;
                    }
                }
                let mut frame = [0i16; FRAME];
                for (f, a) in frame.iter_mut().zip(acc.iter()) {
                    *f = (*a).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                }
                if let Some(Some(s)) = sessions.get_mut(l) {
                    send_frame(s, &frame, &mut bufs.send, counters);
                }
            }
        }
    }

    fn run_recordings(&mut self) {
        for r in &self.recordings {
            let channels = r.legs.len();
            let mut buf = self
                .rec_pool
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(FRAME * 3));
            buf.clear();
            buf.resize(FRAME * channels, 0);
            if !r.paused {
                for (c, leg) in r.legs.iter().enumerate() {
                    if let Some(Some(s)) = leg.and_then(|l| self.sessions.get(l)) {
                        for (i, v) in s.cur.iter().enumerate() {
                            buf[i * channels + c] = *v;
                        }
                    }
                }
            }
            let _ = self.rec_tx.send(RecMsg::Data {
                id: r.id,
                samples: buf,
            });
        }
    }

    fn tick_session(&mut self, slot: usize, now: Instant) {
        let rtp_timeout = self.rtp_timeout;
        let Worker {
            sessions,
            bufs,
            events,
            cname,
            rtcp_interval,
            stats_interval,
            counters,
            rng,
            ..
        } = self;
        let counters: &WorkerCounters = counters;
        let Some(Some(s)) = sessions.get_mut(slot) else {
            return;
        };
        let Some(remote) = s.remote else {
            return;
        };
        s.snapshot.publish(&s.stats());
        // RTP timeout.
        let timeout = s.timeout_override.unwrap_or(Some(rtp_timeout));
        if !s.timed_out
            && let Some(t) = timeout
            && now.duration_since(s.last_rx) >= t
        {
            s.timed_out = true;
            let _ = events.send(MediaEvent::RtpTimeout { session: s.id });
        }
        // RTCP.
        if now >= s.next_rtcp {
            s.next_rtcp = now + rtcp_delay(rng, *rtcp_interval);
            send_rtcp(s, &remote, now, cname, &mut bufs.send);
        }
        if let Some(t) = s.next_stats
            && now >= t
        {
            s.next_stats = stats_interval.map(|i| now + i);
            let _ = events.send(MediaEvent::Stats {
                session: s.id,
                stats: s.stats(),
                final_report: false,
            });
        }
        // RFC 4733 digits take the tick when they have a packet.
        if s.te_tx.is_busy() {
            let ts = s.ts;
            s.ts = s.ts.wrapping_add(FRAME as u32);
            if let Some(p) = s.te_tx.next_packet(ts)
                && let Some(te_pt) = remote.te_pt
            {
                let built = RtpPacketBuilder::new()
                    .payload_type(te_pt)
                    .marked(p.marker)
                    .sequence(Seq::from(s.seq))
                    .ssrc(s.ssrc)
                    .timestamp(p.timestamp)
                    .payload(&p.payload)
                    .build_into(&mut bufs.send);
                if let Ok(len) = built {
                    s.seq = s.seq.wrapping_add(1);
                    let result = remote.send_rtp(&s.rtp, &bufs.send[..len]);
                    if result != SendOutcome::Withheld {
                        s.packets_sent += 1;
                        s.octets_sent += 4;
                    }
                    count_sent(result, &mut s.packets_withheld, counters);
                }
                return;
            }
            s.ts = ts;
            if !s.te_tx.is_busy() && s.dtmf_pending_event {
                s.dtmf_pending_event = false;
                let _ = events.send(MediaEvent::DtmfSent { session: s.id });
            }
        }
        let mut frame = [0i16; FRAME];
        // In-band DTMF when the far end has no telephone-event.
        if s.tone_dtmf.is_none()
            && let Some(d) = s.tone_digits.pop_front()
        {
            s.tone_dtmf = dtmf_tone(d, 6000.0).map(ToneGenerator::new);
        }
        if let Some(g) = s.tone_dtmf.as_mut() {
            g.fill(&mut frame);
            if g.is_done() {
                s.tone_dtmf = None;
                if s.tone_digits.is_empty() && s.dtmf_pending_event {
                    s.dtmf_pending_event = false;
                    let _ = events.send(MediaEvent::DtmfSent { session: s.id });
                }
            }
            send_frame(s, &frame, &mut bufs.send, counters);
            return;
        }
        let finished = match &mut s.source {
            Source::Idle => return,
            Source::Play(p) => !p.fill(&mut frame),
            Source::Tone(g) => {
                g.fill(&mut frame);
                g.is_done()
            }
        };
        if finished {
            s.source = Source::Idle;
            s.marker_next = true;
            let _ = events.send(MediaEvent::PromptFinished {
                session: s.id,
                interrupted: false,
            });
            if frame.iter().all(|&v| v == 0) {
                return;
            }
        }
        send_frame(s, &frame, &mut bufs.send, counters);
    }

    // ----- commands -----------------------------------------------------------------------

    /// Returns false on shutdown (command, or every engine handle dropped).
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Shutdown) => return false,
                Ok(other) => self.command(other),
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                // Every MediaEngine handle is gone: nobody can command us any more.
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn slot(&self, id: SessionId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let slot = self.slot(id)?;
        self.sessions.get_mut(slot)?.as_mut()
    }

    fn with_session(&mut self, id: SessionId, f: impl FnOnce(&mut Session)) {
        match self.session_mut(id) {
            Some(s) => f(s),
            None => self.fail(FailReason::UnknownSession(id)),
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Add {
                id,
                rtp,
                rtcp,
                port,
                snapshot,
            } => self.add(id, rtp, rtcp, port, snapshot, now),
            Command::SetRemote(id, p) => {
                let Some(law) = Law::from_payload_type(p.payload_type) else {
                    return;
                };
                self.with_session(id, |s| {
                    if s.remote.is_some_and(|r| r.connected()) {
                        // A new far end (re-INVITE): admit its sources again until it latches.
                        let _ = net::connect_unspec(&s.rtp);
                    }
                    let send = p.trusts(p.addr.ip());
                    s.remote = Some(Remote {
                        rtp: p.addr,
                        rtcp: p.rtcp.unwrap_or_else(|| {
                            SocketAddr::new(p.addr.ip(), p.addr.port().wrapping_add(1))
                        }),
                        pt: p.payload_type,
                        law,
                        te_pt: p.telephone_event_pt,
                        latch: if p.symmetric {
                            Latch::Waiting { send }
                        } else {
                            Latch::Fixed { send }
                        },
                    });
                    s.inband = p.inband_dtmf.then(|| Box::new(DtmfDetector::new()));
                    s.params = Some(p);
                    s.last_rx = now;
                    s.timed_out = false;
                });
            }
            Command::Play(id, items, opts) => self.with_session(id, |s| {
                s.source = Source::Play(Playback {
                    items,
                    item: 0,
                    pos: 0,
                    opts,
                });
                s.marker_next = true;
            }),
            Command::Tone(id, spec) => self.with_session(id, |s| {
                s.source = Source::Tone(ToneGenerator::new(spec));
                s.marker_next = true;
            }),
            Command::StopPlayback(id) => {
                let mut stopped = false;
                self.with_session(id, |s| {
                    stopped = !matches!(s.source, Source::Idle);
                    s.source = Source::Idle;
                });
                if stopped {
                    self.emit(MediaEvent::PromptFinished {
                        session: id,
                        interrupted: true,
                    });
                }
            }
            Command::SendDtmf(id, digits) => {
                let mut missing_remote = false;
                self.with_session(id, |s| match s.remote {
                    None => missing_remote = true,
                    Some(r) => {
                        s.dtmf_pending_event = true;
                        if r.te_pt.is_some() {
                            // Digits were validated by the engine.
                            let _ = s.te_tx.queue(&digits);
                        } else {
                            s.tone_digits.extend(digits.chars());
                        }
                    }
                });
                if missing_remote {
                    self.fail(FailReason::NoRemote(id));
                }
            }
            Command::Bridge(a, b) => {
                let (Some(sa), Some(sb)) = (self.slot(a), self.slot(b)) else {
                    let missing = if self.slot(a).is_none() { a } else { b };
                    self.fail(FailReason::UnknownSession(missing));
                    return;
                };
                for (x, id) in [(sa, a), (sb, b)] {
                    self.unbridge_slot(x);
                    self.leave_mixer(id);
                }
                if let Some((x, y)) = pair(&mut self.sessions, sa, sb) {
                    x.peer = Some(sb);
                    y.peer = Some(sa);
                    x.relay_map = None;
                    y.relay_map = None;
                }
            }
            Command::Unbridge(id) => match self.slot(id) {
                Some(slot) => self.unbridge_slot(slot),
                None => self.fail(FailReason::UnknownSession(id)),
            },
            Command::SuppressDtmf(id, on) => self.with_session(id, |s| s.suppress_dtmf = on),
            Command::SetTimeout(id, t) => self.with_session(id, |s| {
                s.timeout_override = Some(t);
                s.last_rx = now;
                s.timed_out = false;
            }),
            Command::MixerCreate(mid, parties, matrix) => {
                let mut slots = Vec::with_capacity(parties.len());
                for p in &parties {
                    match self.slot(*p) {
                        Some(x) => slots.push(x),
                        None => {
                            self.fail(FailReason::UnknownSession(*p));
                            return;
                        }
                    }
                }
                for (p, x) in parties.iter().zip(&slots) {
                    self.unbridge_slot(*x);
                    self.leave_mixer(*p);
                    if let Some(Some(s)) = self.sessions.get_mut(*x) {
                        s.mixer = Some(mid);
                        s.pcm_users += 1;
                        s.jb.reset();
                    }
                }
                self.mixers.push(Mixer {
                    id: mid,
                    parties: slots.into_iter().map(Some).collect(),
                    matrix,
                });
            }
            Command::MixerSet(mid, matrix) => match self.mixers.iter_mut().find(|m| m.id == mid) {
                Some(m) if m.parties.len() == matrix.len() => m.matrix = matrix,
                Some(_) => self.fail(FailReason::MatrixSize),
                None => self.fail(FailReason::UnknownMixer(mid)),
            },
            Command::MixerDestroy(mid) => self.destroy_mixer(mid),
            Command::RecordStart(rid, legs) => {
                let mut slots = Vec::with_capacity(legs.len());
                for l in &legs {
                    let slot = self.slot(*l);
                    if let Some(Some(s)) = slot.and_then(|x| self.sessions.get_mut(x)) {
                        s.pcm_users += 1;
                    }
                    slots.push(slot);
                }
                self.recordings.push(Recording {
                    id: rid,
                    legs: slots,
                    paused: false,
                });
            }
            Command::RecordPause(rid, paused) => {
                match self.recordings.iter_mut().find(|r| r.id == rid) {
                    Some(r) => r.paused = paused,
                    None => self.fail(FailReason::UnknownRecording(rid)),
                }
            }
            Command::RecordStop(rid) => self.stop_recording(rid),
            Command::Stats(id) => {
                let stats = self.session_mut(id).map(|s| s.stats());
                match stats {
                    Some(stats) => self.emit(MediaEvent::Stats {
                        session: id,
                        stats,
                        final_report: false,
                    }),
                    None => self.fail(FailReason::UnknownSession(id)),
                }
            }
            Command::Destroy(id) => {
                if self.slot(id).is_some() {
                    self.destroy(id);
                } else {
                    self.fail(FailReason::UnknownSession(id));
                }
            }
            Command::Shutdown => {}
        }
    }

    fn add(
        &mut self,
        id: SessionId,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        port: u16,
        snapshot: Arc<StatsCell>,
        now: Instant,
    ) {
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.sessions.push(None);
            self.sessions.len() - 1
        });
        let rtp = UdpSocket::from_std(rtp);
        let rtcp = UdpSocket::from_std(rtcp);
        if register(&self.poll, &rtp, token_of(slot, false)).is_err()
            || register(&self.poll, &rtcp, token_of(slot, true)).is_err()
        {
            let _ = epoll::delete(self.poll.registry(), &rtp);
            tracing::error!(worker = self.index, "registering RTP socket failed");
            self.free_slots.push(slot);
            crate::engine::release_port(&self.ports, port);
            return;
        }
        let r = self.random();
        let first_rtcp = now + rtcp_delay(&mut self.rng, self.rtcp_interval);
        let connect_on_latch = rtp.local_addr().is_ok_and(|a| !a.ip().is_unspecified());
        let session = Session {
            id,
            rtp,
            rtcp,
            port,
            connect_on_latch,
            remote: None,
            params: None,
            packets_rejected: 0,
            packets_withheld: 0,
            ssrc: r as u32,
            seq: (r >> 32) as u16,
            ts: (r >> 48) as u32 * 160,
            marker_next: true,
            packets_sent: 0,
            octets_sent: 0,
            relay_map: None,
            stats: ReceiverStats::default(),
            last_rx: now,
            timed_out: false,
            timeout_override: None,
            te_rx: Rfc4733Receiver::new(),
            te_active_until: None,
            te_seen: false,
            inband: None,
            remote_report: None,
            rtt_ms: None,
            last_sr: None,
            next_rtcp: first_rtcp,
            next_stats: self.stats_interval.map(|i| now + i),
            snapshot,
            peer: None,
            mixer: None,
            suppress_dtmf: false,
            pcm_users: 0,
            jb: Box::new(JitterBuffer::new()),
            cur: [0; FRAME],
            source: Source::Idle,
            te_tx: Rfc4733Sender::new(),
            tone_digits: VecDeque::new(),
            tone_dtmf: None,
            dtmf_pending_event: false,
        };
        self.sessions[slot] = Some(session);
        self.by_id.insert(id, slot);
        self.counters.sessions.fetch_add(1, Relaxed);
    }

    fn unbridge_slot(&mut self, slot: usize) {
        let peer = match self.sessions.get_mut(slot) {
            Some(Some(s)) => s.peer.take(),
            _ => None,
        };
        if let Some(p) = peer
            && let Some(Some(ps)) = self.sessions.get_mut(p)
            && ps.peer == Some(slot)
        {
            ps.peer = None;
        }
    }

    fn leave_mixer(&mut self, id: SessionId) {
        let Some(slot) = self.slot(id) else { return };
        let Some(mid) = self
            .sessions
            .get(slot)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.mixer)
        else {
            return;
        };
        if let Some(m) = self.mixers.iter_mut().find(|m| m.id == mid) {
            for p in m.parties.iter_mut() {
                if *p == Some(slot) {
                    *p = None;
                }
            }
        }
        if let Some(Some(s)) = self.sessions.get_mut(slot) {
            s.mixer = None;
            s.pcm_users = s.pcm_users.saturating_sub(1);
        }
    }

    fn destroy_mixer(&mut self, mid: MixerId) {
        let Some(pos) = self.mixers.iter().position(|m| m.id == mid) else {
            self.fail(FailReason::UnknownMixer(mid));
            return;
        };
        let m = self.mixers.swap_remove(pos);
        for slot in m.parties.into_iter().flatten() {
            if let Some(Some(s)) = self.sessions.get_mut(slot) {
                s.mixer = None;
                s.pcm_users = s.pcm_users.saturating_sub(1);
            }
        }
    }

    fn stop_recording(&mut self, rid: RecordingId) {
        let Some(pos) = self.recordings.iter().position(|r| r.id == rid) else {
            self.fail(FailReason::UnknownRecording(rid));
            return;
        };
        let r = self.recordings.swap_remove(pos);
        for slot in r.legs.into_iter().flatten() {
            if let Some(Some(s)) = self.sessions.get_mut(slot) {
                s.pcm_users = s.pcm_users.saturating_sub(1);
            }
        }
        let _ = self.rec_tx.send(RecMsg::Close { id: rid });
    }

    fn destroy(&mut self, id: SessionId) {
        let Some(slot) = self.slot(id) else { return };
        self.unbridge_slot(slot);
        self.leave_mixer(id);
        for r in self.recordings.iter_mut() {
            for l in r.legs.iter_mut() {
                if *l == Some(slot) {
                    *l = None;
                }
            }
        }
        self.by_id.remove(&id);
        if let Some(s) = self.sessions.get_mut(slot).and_then(Option::take) {
            let _ = epoll::delete(self.poll.registry(), &s.rtp);
            let _ = epoll::delete(self.poll.registry(), &s.rtcp);
            let stats = s.stats();
            let port = s.port;
            drop(s);
            self.counters.sessions.fetch_sub(1, Relaxed);
            crate::engine::release_port(&self.ports, port);
            self.emit(MediaEvent::Stats {
                session: id,
                stats,
                final_report: true,
            });
        }
        self.free_slots.push(slot);
    }
}

/// Registers a socket with the worker's epoll, level-triggered and for reading only. mio
/// registers edge-triggered only, so this goes around it on the same epoll instance; mio's
/// `poll` returns these events with `token` as their token like its own.
fn register(poll: &Poll, sock: &UdpSocket, token: Token) -> std::io::Result<()> {
    epoll::add(
        poll.registry(),
        sock,
        epoll::EventData::new_u64(token.0 as u64),
        epoll::EventFlags::IN,
    )?;
    Ok(())
}

/// splitmix64: SSRCs, initial sequence numbers and RTCP timing only need to be unpredictable
/// enough not to collide.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An RTCP interval randomised to 0.5-1.5 times `base` (RFC 3550 section 6.3.1), so that
/// sessions created together do not all report in the same tick.
fn rtcp_delay(rng: &mut u64, base: Duration) -> Duration {
    let unit = (splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64;
    base.mul_f64(0.5 + unit)
}

/// Encodes and sends one generated 20 ms frame on a session's own stream.
fn send_frame(
    s: &mut Session,
    frame: &[i16; FRAME],
    send: &mut [u8; 2048],
    counters: &WorkerCounters,
) {
    let Some(remote) = s.remote else { return };
    let mut payload = [0u8; FRAME];
    remote.law.encode_into(frame, &mut payload);
    let built = RtpPacketBuilder::new()
        .payload_type(remote.pt)
        .marked(s.marker_next)
        .sequence(Seq::from(s.seq))
        .ssrc(s.ssrc)
        .timestamp(s.ts)
        .payload(&payload)
        .build_into(send);
    if let Ok(len) = built {
        s.marker_next = false;
        s.relay_map = None;
        s.seq = s.seq.wrapping_add(1);
        s.ts = s.ts.wrapping_add(FRAME as u32);
        let result = remote.send_rtp(&s.rtp, &send[..len]);
        if result != SendOutcome::Withheld {
            s.packets_sent += 1;
            s.octets_sent += FRAME as u64;
        }
        count_sent(result, &mut s.packets_withheld, counters);
    }
}

fn send_rtcp(s: &mut Session, remote: &Remote, now: Instant, cname: &str, buf: &mut [u8; 2048]) {
    if !remote.may_send() {
        return;
    }
    let ntp = rtcp::ntp_now();
    let sender = (s.packets_sent > 0).then_some(SenderInfo {
        ntp,
        rtp_ts: s.ts,
        packets: s.packets_sent as u32,
        octets: s.octets_sent as u32,
    });
    let block = s.stats.is_active().then(|| {
        let (lsr, dlsr) = match s.last_sr {
            Some((lsr, at)) => (lsr, (now.duration_since(at).as_secs_f64() * 65536.0) as u32),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: s.stats.ssrc,
            fraction_lost: s.stats.take_fraction_lost(),
            cumulative_lost: s.stats.lost().clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            extended_max_seq: s.stats.extended_max(),
            jitter: s.stats.jitter_units(),
            lsr,
            dlsr,
        }
    });
    if let Ok(len) = rtcp::build_report(buf, s.ssrc, sender, block, cname) {
        let _ = s.rtcp.send_to(&buf[..len], remote.rtcp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtcp_interval_is_spread() {
        let mut rng = 7u64;
        let base = Duration::from_secs(5);
        let d: Vec<Duration> = (0..1000).map(|_| rtcp_delay(&mut rng, base)).collect();
        assert!(d.iter().all(|x| *x >= base / 2 && *x <= base * 3 / 2));
        let early = d.iter().filter(|x| **x < base).count();
        assert!((400..600).contains(&early), "{early}");
    }

    #[test]
    fn playback_concatenates_and_loops() {
        let a: Pcm = vec![1i16; 100].into();
        let b: Pcm = vec![2i16; 100].into();
        let mut p = Playback {
            items: vec![a.clone(), b.clone()],
            item: 0,
            pos: 0,
            opts: PlayOptions::default(),
        };
        let mut f = [0i16; FRAME];
        assert!(p.fill(&mut f));
        assert_eq!((f[99], f[100], f[159]), (1, 2, 2));
        assert!(p.fill(&mut f)); // 40 samples left, then silence
        assert_eq!((f[39], f[40]), (2, 0));
        assert!(!p.fill(&mut f));
        let mut l = Playback {
            items: vec![a],
            item: 0,
            pos: 0,
            opts: PlayOptions {
                barge_in: false,
                looped: true,
            },
        };
        for _ in 0..10 {
            assert!(l.fill(&mut f));
            assert!(f.iter().all(|&v| v == 1));
        }
    }
}
