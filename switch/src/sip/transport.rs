//! UDP and TCP transports: bytes in, bytes out, nothing else.
//!
//! UDP is read by the call-control task itself (one `recv_from` in its `select!`), so a
//! datagram goes from the socket to the endpoint without a channel hop. TCP connections each
//! get a reader task that frames the stream by Content-Length ([`hotline_sip::frame`]) and
//! forwards whole messages over a channel, and a writer task fed by a channel. Outgoing TCP
//! to an address without a connection opens one (trunks, phones registered over TCP whose
//! connection dropped).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hotline_sip::{Transmit, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// A framed message from a TCP connection.
#[derive(Debug)]
pub struct Inbound {
    pub src: SocketAddr,
    pub transport: Transport,
    pub bytes: Vec<u8>,
}

type Conns = Arc<Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>>;

/// Largest buffered, not yet complete, TCP message.
const MAX_TCP_BUFFER: usize = 256 * 1024;

/// The switch's SIP sockets.
pub struct Transports {
    pub udp: Arc<UdpSocket>,
    pub local: SocketAddr,
    conns: Conns,
    inbound: mpsc::Sender<Inbound>,
    tcp_task: Option<tokio::task::JoinHandle<()>>,
    /// Datagrams we could not send (socket buffer full or an error).
    pub send_errors: u64,
}

impl Transports {
    /// Binds UDP on `listen` and, with `tcp`, TCP on the same port. With port 0 a free port
    /// is chosen that is free for both.
    pub async fn bind(
        listen: SocketAddr,
        tcp: bool,
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
            let conns: Conns = Arc::default();
            let tcp_task =
                listener.map(|l| tokio::spawn(accept_loop(l, conns.clone(), tx.clone())));
            return Ok((
                Transports {
                    udp: Arc::new(udp),
                    local,
                    conns,
                    inbound: tx,
                    tcp_task,
                    send_errors: 0,
                },
                rx,
            ));
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no free port for UDP and TCP")))
    }

    /// Sends one message. Never waits: UDP uses `try_send_to` (a full socket buffer drops the
    /// datagram; the transaction layer retransmits), TCP queues on the connection's writer.
    pub fn send(&mut self, t: Transmit) {
        match t.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.try_send_to(&t.payload, t.dst) {
                    self.send_errors += 1;
                    tracing::debug!(dst = %t.dst, error = %e, "UDP send failed");
                }
            }
            _ => {
                let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(tx) = conns.get(&t.dst) {
                    if tx.send(t.payload.clone()).is_ok() {
                        return;
                    }
                    conns.remove(&t.dst);
                }
                // No connection: open one; the message waits in the channel meanwhile.
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(t.payload);
                conns.insert(t.dst, tx);
                tokio::spawn(connect(t.dst, rx, self.conns.clone(), self.inbound.clone()));
            }
        }
    }

    /// Number of open TCP connections (accepted and opened).
    pub fn tcp_connections(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }
}

impl Drop for Transports {
    fn drop(&mut self) {
        if let Some(t) = self.tcp_task.take() {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, conns: Conns, inbound: mpsc::Sender<Inbound>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (tx, rx) = mpsc::unbounded_channel();
                conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(peer, tx);
                tokio::spawn(run_conn(stream, peer, rx, conns.clone(), inbound.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connect(
    dst: SocketAddr,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    conns: Conns,
    inbound: mpsc::Sender<Inbound>,
) {
    match TcpStream::connect(dst).await {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            run_conn(stream, dst, rx, conns, inbound).await;
        }
        Err(e) => {
            tracing::info!(dst = %dst, error = %e, "TCP connect failed");
            conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&dst);
        }
    }
}

/// Reads framed messages and writes queued ones until either side closes.
async fn run_conn(
    stream: TcpStream,
    peer: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    conns: Conns,
    inbound: mpsc::Sender<Inbound>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match hotline_sip::frame(&buf) {
                Ok(Some(len)) => {
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    let send = Inbound {
                        src: peer,
                        transport: Transport::Tcp,
                        bytes: msg,
                    };
                    if inbound.send(send).await.is_err() {
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
                    let send = Inbound {
                        src: peer,
                        transport: Transport::Tcp,
                        bytes: std::mem::take(&mut buf),
                    };
                    let _ = inbound.send(send).await;
                    // Give the 400 a moment to be queued and written before closing.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    break 'read;
                }
            }
        }
    }
    conns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&peer);
    writer.abort();
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
