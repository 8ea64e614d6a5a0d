//! UDP and TCP transports: bytes in, bytes out, nothing else.
//!
//! UDP is read by the call-control task itself (one `recv_from` in its `select!`), so a
//! datagram goes from the socket to the endpoint without a channel hop. TCP connections each
//! get a reader task that frames the stream by Content-Length ([`hotline_sip::frame`]) and
//! forwards whole messages over a channel, and a writer task fed by a queue. Outgoing TCP
//! to an address without a connection opens one (trunks, phones registered over TCP whose
//! connection dropped).
//!
//! Everything a peer can make us hold is bounded, the way Kamailio bounds it
//! (`tcp_max_connections`, `tcp_conn_wq_max`, `tcp_connection_lifetime`):
//! - accepted connections, in total and per source IP ([`crate::netlimits`]);
//! - the send queue of each connection, in bytes: a peer that does not read what we send is
//!   disconnected when its queue is full (slow-peer policy) and everything queued is freed;
//! - what readers hand to call control, in bytes (a shared budget; a reader waits for it, so
//!   a flood is pushed back onto the sender's TCP window), and each reader's buffer of a
//!   message not yet complete ([`MAX_TCP_BUFFER`]);
//! - time: a new connection must deliver a complete message, and a message that has started
//!   must be complete, within `message_timeout`; a connection without a message or a CRLF
//!   keep-alive (RFC 5626, answered with a CRLF pong) for `idle_timeout` is closed, unless a
//!   registration uses it ([`ReadState`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_sip::{Transmit, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::config::SipTcpLimitsConfig;
use crate::netlimits::{AcceptBackoff, Closed, Limits, Listener, Permit, RateLimitedLog};

/// A framed message from a TCP connection.
#[derive(Debug)]
pub struct Inbound {
    pub src: SocketAddr,
    pub transport: Transport,
    pub bytes: Vec<u8>,
    /// This message's share of the readers' byte budget, given back when it is dropped.
    _budget: OwnedSemaphorePermit,
}

/// Largest buffered, not yet complete, TCP message.
const MAX_TCP_BUFFER: usize = 256 * 1024;

/// Bytes of framed messages waiting for call control, over all connections. A reader that
/// would exceed it waits (and stops reading its socket) until call control catches up.
const INBOUND_BUDGET: usize = 16 * 1024 * 1024;

/// How long opening a connection to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long we do not reconnect to an address whose connection we closed (timed out or slow):
/// its responses are dropped instead of opening a connection back to the peer's port.
const NO_RECONNECT: Duration = Duration::from_secs(60);

/// Limits of SIP over TCP (`[connections.sip_tcp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    pub connections: Limits,
    pub message_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_queue_bytes: usize,
}

impl TcpLimits {
    pub fn from_config(c: &SipTcpLimitsConfig) -> TcpLimits {
        TcpLimits {
            connections: Limits {
                max_total: c.max_connections,
                max_per_ip: c.max_connections_per_ip,
            },
            message_timeout: Duration::from_secs(c.message_timeout_secs),
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
            send_queue_bytes: c.send_queue_bytes,
        }
    }
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits::from_config(&SipTcpLimitsConfig::default())
    }
}

/// What a connection's reader waits for, which decides when it gives up on the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// An accepted connection that has not delivered a message yet.
    AwaitingFirst { since: Instant },
    /// Part of a message arrived at `since`; the rest has not.
    Partial { since: Instant },
    /// Between messages since `since` (the last complete message or keep-alive, or since we
    /// opened the connection).
    Between { since: Instant },
}

/// Why a reader closed its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    NoMessage,
    IncompleteMessage,
    Idle,
}

impl ReadState {
    /// After a read that framed `complete` messages (or keep-alives) and left `partial` bytes
    /// of an unfinished one in the buffer.
    fn after_read(self, now: Instant, complete: bool, partial: bool) -> ReadState {
        match (complete, partial, self) {
            (true, false, _) => ReadState::Between { since: now },
            (true, true, _) => ReadState::Partial { since: now },
            (false, true, ReadState::Partial { since }) => ReadState::Partial { since },
            (false, true, _) => ReadState::Partial { since: now },
            (false, false, s) => s,
        }
    }

    /// When the connection is closed unless something arrives first, and why. A registration
    /// over the connection (until `registered_until`) keeps an idle connection open.
    fn deadline(self, limits: &TcpLimits, registered_until: Option<Instant>) -> (Instant, Expiry) {
        match self {
            ReadState::AwaitingFirst { since } => {
                (since + limits.message_timeout, Expiry::NoMessage)
            }
            ReadState::Partial { since } => {
                (since + limits.message_timeout, Expiry::IncompleteMessage)
            }
            ReadState::Between { since } => {
                let idle = since + limits.idle_timeout;
                let until = registered_until.map_or(idle, |r| r.max(idle));
                (until, Expiry::Idle)
            }
        }
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The peer (accepted on our listener): counted against the limits, and its address (an
    /// ephemeral port) is not connected back to once we closed it.
    Accepted,
    /// We did, to send (a trunk, a phone's contact): reopened whenever there is something to send.
    Opened,
}

impl Origin {
    fn first_state(self, now: Instant) -> ReadState {
        match self {
            Origin::Accepted => ReadState::AwaitingFirst { since: now },
            Origin::Opened => ReadState::Between { since: now },
        }
    }
}

/// One connection as the senders see it.
#[derive(Debug)]
struct Conn {
    origin: Origin,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes queued and not yet written.
    queued: AtomicUsize,
    /// Told when a sender gives up on the peer; the reader then closes the connection.
    close: Notify,
    /// The end of the longest registration made over this connection.
    registered_until: Mutex<Option<Instant>>,
}

/// Why a message could not be queued.
enum QueueError {
    /// The peer's queue is full: it does not read.
    Full,
    /// The connection's writer is gone; the message is handed back.
    Gone(Vec<u8>),
}

impl Conn {
    fn new(origin: Origin) -> (Arc<Conn>, mpsc::UnboundedReceiver<Vec<u8>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let c = Conn {
            origin,
            tx,
            queued: AtomicUsize::new(0),
            close: Notify::new(),
            registered_until: Mutex::new(None),
        };
        (Arc::new(c), rx)
    }

    fn enqueue(&self, bytes: Vec<u8>, limit: usize) -> Result<(), QueueError> {
        let len = bytes.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before + len > limit {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return Err(QueueError::Full);
        }
        self.tx.send(bytes).map_err(|e| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            QueueError::Gone(e.0)
        })
    }

    fn registered_until(&self) -> Option<Instant> {
        *self
            .registered_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// What the TCP tasks and the senders share.
struct Tcp {
    conns: Mutex<HashMap<SocketAddr, Arc<Conn>>>,
    /// Addresses whose connection we closed, and until when we do not reconnect to them.
    closed: Mutex<HashMap<SocketAddr, Instant>>,
    limits: TcpLimits,
    stats: Arc<Listener>,
    inbound: mpsc::Sender<Inbound>,
    budget: Arc<Semaphore>,
    slow_log: RateLimitedLog,
}

impl Tcp {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes `peer`'s entry if it is still `conn` (a new connection may have replaced it).
    fn forget(&self, peer: SocketAddr, conn: &Arc<Conn>) {
        let mut conns = self.conns();
        if conns.get(&peer).is_some_and(|c| Arc::ptr_eq(c, conn)) {
            conns.remove(&peer);
        }
    }

    /// We closed `conn` to `peer`: count it, and when the peer had connected to us, do not open
    /// a connection back to its address for a while.
    fn closed_by_us(&self, peer: SocketAddr, conn: &Conn, why: Closed) {
        self.stats.closed(why);
        if conn.origin == Origin::Opened {
            return;
        }
        let now = Instant::now();
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if closed.len() >= 4096 {
            closed.retain(|_, until| *until > now);
        }
        if closed.len() < 65_536 {
            closed.insert(peer, now + NO_RECONNECT);
        }
    }

    fn may_connect(&self, dst: SocketAddr) -> bool {
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        match closed.get(&dst) {
            Some(until) if *until > Instant::now() => false,
            Some(_) => {
                closed.remove(&dst);
                true
            }
            None => true,
        }
    }
}

/// The switch's SIP sockets.
pub struct Transports {
    pub udp: Arc<UdpSocket>,
    pub local: SocketAddr,
    tcp: Arc<Tcp>,
    tcp_task: Option<tokio::task::JoinHandle<()>>,
    /// Datagrams we could not send (socket buffer full or an error), and TCP messages dropped.
    pub send_errors: u64,
}

impl Transports {
    /// Binds UDP on `listen` and, with `tcp`, TCP on the same port. With port 0 a free port
    /// is chosen that is free for both.
    pub async fn bind(
        listen: SocketAddr,
        tcp: bool,
        limits: TcpLimits,
    ) -> io::Result<(Transports, mpsc::Receiver<Inbound>)> {
        let mut last_err = None;
        for _ in 0..20 {
            let udp = bind_udp(listen)?;
            let local = udp.local_addr()?;
            let listener = if tcp {
                match TcpListener::bind(local).await {
                    Ok(l) => Some(l),
                    Err(e) if listen.port() == 0 => {
                        last_err = Some(e);
                        continue; // the TCP port is taken: try another free UDP port
                    }
                    Err(e) => return Err(e),
                }
            } else {
                None
            };
            let (tx, rx) = mpsc::channel(4096);
            let shared = Arc::new(Tcp {
                conns: Mutex::default(),
                closed: Mutex::default(),
                limits,
                stats: Listener::new("sip_tcp", limits.connections),
                inbound: tx,
                budget: Arc::new(Semaphore::new(INBOUND_BUDGET)),
                slow_log: RateLimitedLog::new(Duration::from_secs(10)),
            });
            let tcp_task = listener.map(|l| tokio::spawn(accept_loop(l, shared.clone())));
            return Ok((
                Transports {
                    udp: Arc::new(udp),
                    local,
                    tcp: shared,
                    tcp_task,
                    send_errors: 0,
                },
                rx,
            ));
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no free port for UDP and TCP")))
    }

    /// Sends one message. Never waits: UDP uses `try_send_to` (a full socket buffer drops the
    /// datagram; the transaction layer retransmits), TCP queues on the connection's writer (a
    /// full queue disconnects the peer).
    pub fn send(&mut self, t: Transmit) {
        match t.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.try_send_to(&t.payload, t.dst) {
                    self.send_errors += 1;
                    tracing::debug!(dst = %t.dst, error = %e, "UDP send failed");
                }
            }
            _ => self.send_stream(t.dst, t.payload),
        }
    }

    fn send_stream(&mut self, dst: SocketAddr, payload: Vec<u8>) {
        let tcp = &self.tcp;
        let mut conns = tcp.conns();
        let payload = match conns.get(&dst).cloned() {
            Some(conn) => match conn.enqueue(payload, tcp.limits.send_queue_bytes) {
                Ok(()) => return,
                Err(QueueError::Full) => {
                    conns.remove(&dst);
                    drop(conns);
                    conn.close.notify_one();
                    tcp.closed_by_us(dst, &conn, Closed::SlowPeer);
                    self.send_errors += 1;
                    if let Some(suppressed) = tcp.slow_log.allow(Instant::now()) {
                        tracing::warn!(
                            peer = %dst,
                            queue_bytes = tcp.limits.send_queue_bytes,
                            suppressed,
                            "SIP TCP peer does not read: send queue full, disconnected"
                        );
                    }
                    return;
                }
                Err(QueueError::Gone(p)) => {
                    conns.remove(&dst);
                    p
                }
            },
            None => payload,
        };
        if !tcp.may_connect(dst) {
            self.send_errors += 1;
            tracing::debug!(peer = %dst, "not reconnecting to a peer we disconnected: dropped");
            return;
        }
        // No connection: open one; the message waits in its queue meanwhile.
        let (conn, rx) = Conn::new(Origin::Opened);
        if conn.enqueue(payload, usize::MAX).is_err() {
            return; // cannot happen: the receiver is alive and the queue empty
        }
        conns.insert(dst, conn.clone());
        tokio::spawn(connect(dst, rx, conn, tcp.clone()));
    }

    /// A REGISTER over the connection from `src` was answered `200`: it carries a
    /// registration until `until` (`None`: none), so it is not closed as idle before then.
    pub fn note_registration(&self, src: SocketAddr, transport: Transport, until: Option<Instant>) {
        if transport == Transport::Udp {
            return;
        }
        if let Some(conn) = self.tcp.conns().get(&src) {
            *conn
                .registered_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = until;
        }
    }

    /// Number of open TCP connections (accepted and opened).
    pub fn tcp_connections(&self) -> usize {
        self.tcp.conns().len()
    }

    /// The TCP listener's connection counters (for `/metrics`).
    pub fn tcp_stats(&self) -> Arc<Listener> {
        self.tcp.stats.clone()
    }
}

impl Drop for Transports {
    fn drop(&mut self) {
        if let Some(t) = self.tcp_task.take() {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, tcp: Arc<Tcp>) {
    let mut backoff = AcceptBackoff::default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff.succeeded();
                let Ok(permit) = tcp.stats.admit(peer.ip()) else {
                    continue; // dropping the stream closes it
                };
                let _ = stream.set_nodelay(true);
                let (conn, rx) = Conn::new(Origin::Accepted);
                tcp.conns().insert(peer, conn.clone());
                tokio::spawn(run_conn(stream, peer, rx, conn, tcp.clone(), Some(permit)));
            }
            Err(e) => {
                let pause = tcp.stats.accept_failed(&mut backoff, &e);
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

async fn connect(
    dst: SocketAddr,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    conn: Arc<Conn>,
    tcp: Arc<Tcp>,
) {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dst)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            run_conn(stream, dst, rx, conn, tcp, None).await;
        }
        Ok(Err(e)) => {
            tracing::info!(dst = %dst, error = %e, "TCP connect failed");
            tcp.forget(dst, &conn);
        }
        Err(_) => {
            tracing::info!(dst = %dst, "TCP connect timed out");
            tcp.forget(dst, &conn);
        }
    }
}

/// Reads framed messages and writes queued ones until either side closes, the peer misses a
/// deadline, or a sender finds its queue full. `_permit` holds the connection's place on the
/// listener (accepted connections) until it ends.
async fn run_conn(
    stream: TcpStream,
    peer: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    conn: Arc<Conn>,
    tcp: Arc<Tcp>,
    _permit: Option<Permit>,
) {
    let mut state = conn.origin.first_state(Instant::now());
    let (mut rd, mut wr) = stream.into_split();
    let writer_conn = conn.clone();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            let written = wr.write_all(&bytes).await;
            writer_conn.queued.fetch_sub(bytes.len(), Ordering::Relaxed);
            if written.is_err() {
                writer_conn.close.notify_one();
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let (deadline, expiry) = state.deadline(&tcp.limits, conn.registered_until());
        let n = tokio::select! {
            r = rd.read(&mut chunk) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            () = tokio::time::sleep_until(deadline.into()) => {
                // A registration may have moved the deadline meanwhile.
                let (deadline, _) = state.deadline(&tcp.limits, conn.registered_until());
                if Instant::now() < deadline {
                    continue;
                }
                tracing::debug!(%peer, ?expiry, "SIP TCP connection timed out: closed");
                tcp.closed_by_us(peer, &conn, Closed::TimedOut);
                break;
            }
            () = conn.close.notified() => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut complete = false;
        loop {
            match hotline_sip::frame(&buf) {
                Ok(Some(len)) => {
                    complete = true;
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    if msg.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                        // RFC 5626 4.4.1: a double-CRLF ping gets a CRLF pong.
                        if msg.len() >= 4 {
                            let _ = conn.enqueue(b"\r\n".to_vec(), tcp.limits.send_queue_bytes);
                        }
                        continue;
                    }
                    if !forward(&tcp, &conn, peer, msg).await {
                        break 'read;
                    }
                }
                Ok(None) => {
                    if buf.len() > MAX_TCP_BUFFER {
                        break 'read;
                    }
                    break;
                }
                Err(_) => {
                    // Unframeable (bad Content-Length, oversized): let the endpoint answer 400
                    // to what it can read, then drop the connection: the stream is lost.
                    let rest = std::mem::take(&mut buf);
                    let _ = forward(&tcp, &conn, peer, rest).await;
                    // Give the 400 a moment to be queued and written before closing.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    break 'read;
                }
            }
        }
        state = state.after_read(Instant::now(), complete, !buf.is_empty());
    }
    tcp.forget(peer, &conn);
    writer.abort();
}

/// Hands a framed message to call control once the readers' byte budget has room for it.
/// False when the connection is to close (call control stopped, or a sender gave up on it).
async fn forward(tcp: &Tcp, conn: &Conn, peer: SocketAddr, bytes: Vec<u8>) -> bool {
    let need = u32::try_from(bytes.len().min(INBOUND_BUDGET)).unwrap_or(u32::MAX);
    let budget = tokio::select! {
        b = tcp.budget.clone().acquire_many_owned(need) => match b {
            Ok(b) => b,
            Err(_) => return false,
        },
        () = conn.close.notified() => return false,
    };
    let msg = Inbound {
        src: peer,
        transport: Transport::Tcp,
        bytes,
        _budget: budget,
    };
    tokio::select! {
        sent = tcp.inbound.send(msg) => sent.is_ok(),
        () = conn.close.notified() => false,
    }
}

/// Socket buffers asked for (the kernel caps them at `net.core.rmem_max`/`wmem_max`). A burst
/// of a few thousand datagrams must not overflow the default ~200 KB receive buffer while the
/// call-control task is busy: a dropped ACK or BYE costs retransmissions, a dropped INVITE a
/// second of the caller's time.
const UDP_RECV_BUFFER: usize = 8 << 20;
const UDP_SEND_BUFFER: usize = 4 << 20;

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the UDP receive buffer");
    }
    if let Err(e) = s.set_send_buffer_size(UDP_SEND_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the UDP send buffer");
    }
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TcpLimits {
        TcpLimits {
            message_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            ..TcpLimits::default()
        }
    }

    #[test]
    fn a_new_connection_must_deliver_a_message_in_time() {
        let t0 = Instant::now();
        let s = ReadState::AwaitingFirst { since: t0 };
        assert_eq!(
            s.deadline(&limits(), None),
            (t0 + Duration::from_secs(30), Expiry::NoMessage)
        );
    }

    #[test]
    fn a_trickled_message_keeps_its_first_deadline() {
        // Slowloris over SIP: a byte every few seconds does not move the deadline.
        let t0 = Instant::now();
        let mut s = ReadState::AwaitingFirst { since: t0 };
        for i in 1..=5 {
            s = s.after_read(t0 + Duration::from_secs(5 * i), false, true);
        }
        assert_eq!(
            s.deadline(&limits(), None),
            (t0 + Duration::from_secs(5 + 30), Expiry::IncompleteMessage)
        );
        // Completing it makes the connection idle from then on.
        let t1 = t0 + Duration::from_secs(31);
        let s = s.after_read(t1, true, false);
        assert_eq!(
            s.deadline(&limits(), None),
            (t1 + Duration::from_secs(120), Expiry::Idle)
        );
        // A message completed with the start of the next in the same read: the next one
        // gets its own full time.
        let t2 = t1 + Duration::from_secs(1);
        let s = s.after_read(t2, true, true);
        assert_eq!(s, ReadState::Partial { since: t2 });
    }

    #[test]
    fn keep_alives_count_as_activity_and_registrations_keep_idle_connections() {
        let t0 = Instant::now();
        let s = ReadState::Between { since: t0 };
        // A CRLF keep-alive is framed as a complete message.
        let t1 = t0 + Duration::from_secs(100);
        let s = s.after_read(t1, true, false);
        assert_eq!(s.deadline(&limits(), None).0, t1 + Duration::from_secs(120));
        // A registration that lasts longer than the idle limit holds the connection open.
        let reg = t1 + Duration::from_secs(3600);
        assert_eq!(s.deadline(&limits(), Some(reg)), (reg, Expiry::Idle));
        // One that ended does not shorten the idle limit.
        assert_eq!(
            s.deadline(&limits(), Some(t0)).0,
            t1 + Duration::from_secs(120)
        );
        // A registration does not excuse an incomplete message.
        let s = ReadState::Partial { since: t1 };
        assert_eq!(
            s.deadline(&limits(), Some(reg)),
            (t1 + Duration::from_secs(30), Expiry::IncompleteMessage)
        );
    }

    #[test]
    fn the_send_queue_is_bounded_in_bytes() {
        let (conn, mut rx) = Conn::new(Origin::Opened);
        assert!(conn.enqueue(vec![0; 600], 1000).is_ok());
        assert!(matches!(
            conn.enqueue(vec![0; 600], 1000),
            Err(QueueError::Full)
        ));
        assert_eq!(
            conn.queued.load(Ordering::Relaxed),
            600,
            "a refused message is not counted"
        );
        assert!(conn.enqueue(vec![0; 400], 1000).is_ok());
        // The writer takes one off and gives its bytes back.
        let written = rx.try_recv().expect("queued");
        conn.queued.fetch_sub(written.len(), Ordering::Relaxed);
        assert!(conn.enqueue(vec![0; 600], 1000).is_ok());
        drop(rx);
        assert!(matches!(conn.enqueue(vec![1], 2000), Err(QueueError::Gone(b)) if b == [1]));
    }

    #[test]
    fn only_peers_that_connected_to_us_are_not_reconnected_to() {
        let (inbound, _rx) = mpsc::channel(1);
        let tcp = Tcp {
            conns: Mutex::default(),
            closed: Mutex::default(),
            limits: TcpLimits::default(),
            stats: Listener::new("t", TcpLimits::default().connections),
            inbound,
            budget: Arc::new(Semaphore::new(INBOUND_BUDGET)),
            slow_log: RateLimitedLog::new(Duration::from_secs(10)),
        };
        let attacker: SocketAddr = "127.0.0.9:40000".parse().expect("addr");
        let trunk: SocketAddr = "127.0.0.10:5060".parse().expect("addr");
        tcp.closed_by_us(attacker, &Conn::new(Origin::Accepted).0, Closed::SlowPeer);
        tcp.closed_by_us(trunk, &Conn::new(Origin::Opened).0, Closed::TimedOut);
        assert!(
            !tcp.may_connect(attacker),
            "its answers are dropped for a while"
        );
        assert!(
            tcp.may_connect(trunk),
            "an idle trunk connection is reopened on demand"
        );
    }
}
