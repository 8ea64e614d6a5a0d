//! Bridged-call benchmark: N calls, each two legs relayed by the engine, 50 packets per second
//! each way (G.711, 160-byte payload, 20 ms), load generated on the same machine.
//!
//! ```text
//! cargo run --release -p hotline-media --example bridge_bench -- --calls 100,200,400 --seconds 10
//! cargo run --release -p hotline-media --example bridge_bench -- --calls 200 --rtpengine
//! ```
//!
//! For each N it reports: the share of the target packet rate the generator really sent
//! (`offered`; below 100 % the machine is saturated by the generator itself), CPU of the relay
//! (ours: the `media-*` threads from /proc/self/task/*/schedstat; rtpengine: its process from
//! /proc/PID/stat), in total and per call / per 100 streams normalised by the offered rate;
//! packets sent, received and lost; and the one-way delay generator -> relay ->
//! generator (p50, p99, max), which bounds the delay the relay adds. With `--direct` the same load
//! first runs between the generator sockets without a relay (the floor of that delay). With
//! `--rtpengine` the same load also goes through rtpengine (user space, `--table=-1`), driven
//! over its NG protocol, with as many threads as the engine has workers.
//!
//! Options: `--workers W` (0: one per core), `--gen-sockets K` (generator sockets shared by all
//! legs, default 8; 0: one per leg with an epoll receiver, the generator until 2026-11-23),
//! `--asymmetric` (legs without symmetric RTP, so the relay's sockets are never connected),
//! `--pin` (generator threads on CPU 0, the relay's threads on the other CPUs; meant for
//! `--workers 1`: one core relays, the other generates).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::AsRawFd;

use hotline_media::{EngineConfig, MediaEngine, RemoteParams, SessionOptions};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, setsockopt, sockopt};
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use rustix::net::addr::SocketAddrArg;
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};
use rustix::process::Pid;
use rustix::thread::{CpuSet, sched_setaffinity};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Args {
    calls: Vec<usize>,
    seconds: u64,
    workers: usize,
    rtpengine: bool,
    direct: bool,
    /// Generator sockets shared by all legs; 0: one per leg (the generator until 2026-11-23).
    gen_sockets: usize,
    /// Legs without symmetric RTP (no latching, so sockets stay unconnected).
    asymmetric: bool,
    /// Generator threads on CPU 0, the relay's threads on the other CPUs.
    pin: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        calls: vec![100],
        seconds: 10,
        workers: 0,
        rtpengine: false,
        direct: false,
        gen_sockets: 8,
        asymmetric: false,
        pin: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--calls" => {
                a.calls = val
                    .split(',')
                    .filter_map(|x| x.trim().parse().ok())
                    .collect();
                i += 1;
            }
            "--seconds" => {
                a.seconds = val.parse().unwrap_or(10);
                i += 1;
            }
            "--workers" => {
                a.workers = val.parse().unwrap_or(0);
                i += 1;
            }
            "--gen-sockets" => {
                a.gen_sockets = val.parse().unwrap_or(8);
                i += 1;
            }
            "--rtpengine" => a.rtpengine = true,
            "--asymmetric" => a.asymmetric = true,
            "--pin" => a.pin = true,
            "--direct" => a.direct = true,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 1;
    }
    a
}

/// The load generator's sockets. `shared == 0`: one socket per leg, and the receiver waits in
/// epoll (the generator until 2026-11-23). Otherwise the legs share `shared` sockets round
/// robin, and the receiver polls them with `recvmmsg` every [`RX_POLL`] instead of sleeping in
/// epoll. The relay's work per packet is the same either way (each call still has its own relay
/// sockets and the generator sends each leg's packets to its own relay port); what changes is
/// the generator's own cost, and one cost that loopback charges to the relay: a datagram sent to
/// a socket that a thread waits on in epoll wakes that thread from within the sender's
/// `sendto`.
struct Gen {
    socks: Vec<UdpSocket>,
    /// Per leg: index into `socks`, and where it sends.
    legs: Vec<(usize, SocketAddr)>,
    per_leg: bool,
}

/// How often the shared-socket receiver reads its sockets.
const RX_POLL: Duration = Duration::from_micros(250);
/// Datagrams per `sendmmsg` / `recvmmsg` call in the generator.
const GEN_BATCH: usize = 64;

impl Gen {
    fn new(legs: usize, shared: usize) -> Gen {
        let per_leg = shared == 0;
        let k = if per_leg {
            legs
        } else {
            shared.min(legs.max(1))
        };
        let socks: Vec<UdpSocket> = (0..k)
            .map(|_| {
                let s = UdpSocket::bind((LOCAL, 0)).expect("bind generator socket");
                if !per_leg {
                    // Many legs' packets queue on one socket between two reads: give it room
                    // (SO_RCVBUFFORCE needs root; without it the system maximum applies).
                    let big = 8 << 20;
                    if setsockopt(&s, sockopt::RcvBufForce, &big).is_err() {
                        let _ = setsockopt(&s, sockopt::RcvBuf, &big);
                    }
                }
                s
            })
            .collect();
        let unset = SocketAddr::new(LOCAL, 9);
        Gen {
            legs: (0..legs).map(|i| (i % k, unset)).collect(),
            socks,
            per_leg,
        }
    }

    /// The address leg `i` sends from and receives on.
    fn addr(&self, i: usize) -> SocketAddr {
        self.socks[self.legs[i].0].local_addr().expect("addr")
    }
}

#[derive(Debug, Default)]
struct Outcome {
    sent: u64,
    received: u64,
    send_errors: u64,
    cpu_core_percent: f64,
    /// Packets per second the generator really sent during the measurement (behind the target
    /// when the machine is saturated).
    measured_pps: f64,
    target_pps: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

/// Counts one received datagram and records its delay (the send time is in the payload).
fn on_received(
    buf: &[u8],
    now_ns: u64,
    measuring: bool,
    count: &AtomicU64,
    hist: &mut hdrhistogram::Histogram<u64>,
) {
    // RTCP for a neighbouring generator port can land here: count RTP only.
    if let Ok(r) = RtpReader::new(buf)
        && r.payload_type() == 0
        && r.payload().len() == 160
    {
        count.fetch_add(1, Ordering::Relaxed);
        let p = r.payload();
        if measuring {
            let sent = u64::from_le_bytes(p[..8].try_into().unwrap_or([0; 8]));
            let d = now_ns.saturating_sub(sent) / 1000;
            let _ = hist.record(d.max(1));
        }
    }
}

/// Reads one socket until it is empty, `GEN_BATCH` datagrams per call.
fn drain(
    sock: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [[u8; 512]; GEN_BATCH],
    mut each: impl FnMut(&[u8]),
) {
    loop {
        let mut lens = [0usize; GEN_BATCH];
        let mut n = 0;
        {
            let mut iovs = bufs.each_mut().map(|b| [IoSliceMut::new(b)]);
            match recvmmsg(
                sock.as_raw_fd(),
                headers,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            ) {
                Ok(got) => {
                    for (i, m) in got.enumerate() {
                        lens[i] = m.bytes;
                        n = i + 1;
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => continue,
            }
        }
        for i in 0..n {
            each(&bufs[i][..lens[i]]);
        }
        if n < GEN_BATCH {
            return;
        }
    }
}

/// Sends the queued packets of one socket with `sendmmsg`; returns (sent, failed).
fn flush(
    sock: &UdpSocket,
    pkts: &[[u8; 12 + 160]],
    lens: &[usize],
    to: &[SocketAddrAny],
) -> (u64, u64) {
    let iovs: Vec<[IoSlice<'_>; 1]> = pkts
        .iter()
        .zip(lens)
        .map(|(p, l)| [IoSlice::new(&p[..*l])])
        .collect();
    let mut ctrl: Vec<SendAncillaryBuffer<'_, '_, '_>> = (0..pkts.len())
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr<'_>> = iovs
        .iter()
        .zip(ctrl.iter_mut())
        .zip(to)
        .map(|((iov, c), a)| MMsgHdr::new_with_addr(a, iov, c))
        .collect();
    let mut done = 0;
    let mut failed = 0;
    while done < msgs.len() {
        match sendmmsg(sock, &mut msgs[done..], SendFlags::empty()) {
            Ok(k) => done += k.max(1),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(_) => {
                // Skip the packet the kernel refused (counted), send the rest.
                failed += 1;
                done += 1;
            }
        }
    }
    (pkts.len() as u64 - failed, failed)
}

/// Runs the load through already-set-up legs and measures. `cpu_ns` reads the relay's CPU.
fn run_load(load: Gen, seconds: u64, pin: bool, cpu_ns: &dyn Fn() -> u64) -> Outcome {
    if pin {
        pin_self_to_generator_cpu();
    }
    let epoch = Instant::now();
    let n = load.legs.len();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let rx_socks: Vec<UdpSocket> = load
        .socks
        .iter()
        .map(|s| {
            let c = s.try_clone().expect("clone socket");
            c.set_nonblocking(true).expect("nonblocking");
            c
        })
        .collect();
    let per_leg = load.per_leg;
    let rx_stop = stop.clone();
    let rx_count = received.clone();
    let rx_measuring = measuring.clone();
    let receiver = std::thread::spawn(move || {
        if pin {
            pin_self_to_generator_cpu();
        }
        let mut hist =
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("histogram");
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(GEN_BATCH, None);
        let mut bufs = Box::new([[0u8; 512]; GEN_BATCH]);
        let mut quiet_since: Option<Instant> = None;
        if per_leg {
            let mut poll = mio::Poll::new().expect("poll");
            let mut mio_socks: Vec<mio::net::UdpSocket> = rx_socks
                .into_iter()
                .map(mio::net::UdpSocket::from_std)
                .collect();
            for (i, s) in mio_socks.iter_mut().enumerate() {
                poll.registry()
                    .register(s, mio::Token(i), mio::Interest::READABLE)
                    .expect("register");
            }
            let std_socks: Vec<&mio::net::UdpSocket> = mio_socks.iter().collect();
            let mut events = mio::Events::with_capacity(4096);
            let mut buf = [0u8; 1500];
            loop {
                let _ = poll.poll(&mut events, Some(Duration::from_millis(50)));
                if events.is_empty() && rx_stop.load(Ordering::Relaxed) {
                    let q = *quiet_since.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_millis(500) {
                        break;
                    }
                }
                for ev in events.iter() {
                    let s = std_socks[ev.token().0];
                    while let Ok((len, _)) = s.recv_from(&mut buf) {
                        let now = epoch.elapsed().as_nanos() as u64;
                        let m = rx_measuring.load(Ordering::Relaxed);
                        on_received(&buf[..len], now, m, &rx_count, &mut hist);
                    }
                }
            }
        } else {
            loop {
                let before = rx_count.load(Ordering::Relaxed);
                for s in &rx_socks {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let m = rx_measuring.load(Ordering::Relaxed);
                    drain(s, &mut headers, &mut bufs, |b| {
                        on_received(b, now, m, &rx_count, &mut hist)
                    });
                }
                if rx_stop.load(Ordering::Relaxed) {
                    if rx_count.load(Ordering::Relaxed) != before {
                        quiet_since = None;
                    }
                    let q = *quiet_since.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_millis(500) {
                        break;
                    }
                }
                std::thread::sleep(RX_POLL);
            }
        }
        hist
    });
    // Sender: each leg at 50 pps, legs spread evenly over the 20 ms period; packets due within
    // the next 200 us go out together, one sendmmsg per generator socket.
    let period = Duration::from_millis(20);
    let warmup = Duration::from_secs(2);
    let total = warmup + Duration::from_secs(seconds);
    let k = load.socks.len();
    let dest: Vec<SocketAddrAny> = load.legs.iter().map(|(_, to)| to.as_any()).collect();
    // Per generator socket: the packets queued for the next flush.
    let mut q_pkts: Vec<Vec<[u8; 12 + 160]>> = vec![Vec::with_capacity(GEN_BATCH); k];
    let mut q_lens: Vec<Vec<usize>> = vec![Vec::with_capacity(GEN_BATCH); k];
    let mut q_to: Vec<Vec<SocketAddrAny>> = vec![Vec::with_capacity(GEN_BATCH); k];
    let mut pending: Vec<usize> = Vec::new();
    let mut seq = vec![0u16; n];
    let mut sent = 0u64;
    let mut send_errors = 0u64;
    let mut sent_measured = 0u64;
    let mut payload = [0xFFu8; 160];
    let start = Instant::now();
    let mut cpu_start: Option<(Instant, u64)> = None;
    let mut tick = 0u64;
    let flush_all = |pending: &mut Vec<usize>,
                     q_pkts: &mut Vec<Vec<[u8; 12 + 160]>>,
                     q_lens: &mut Vec<Vec<usize>>,
                     q_to: &mut Vec<Vec<SocketAddrAny>>,
                     measured: bool| {
        let mut ok = 0;
        let mut bad = 0;
        for &si in pending.iter() {
            let (o, b) = flush(&load.socks[si], &q_pkts[si], &q_lens[si], &q_to[si]);
            ok += o;
            bad += b;
            q_pkts[si].clear();
            q_lens[si].clear();
            q_to[si].clear();
        }
        pending.clear();
        (ok, if measured { ok } else { 0 }, bad)
    };
    'outer: loop {
        let tick_start = start + period * tick as u32;
        for i in 0..n {
            let due = tick_start + period * i as u32 / n as u32;
            let now = Instant::now();
            // Sleep only for gaps worth a syscall: packets go out in bursts of at most 200 us.
            if due > now + Duration::from_micros(200) {
                let (o, m, b) = flush_all(
                    &mut pending,
                    &mut q_pkts,
                    &mut q_lens,
                    &mut q_to,
                    cpu_start.is_some(),
                );
                sent += o;
                sent_measured += m;
                send_errors += b;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            let si = load.legs[i].0;
            if q_pkts[si].len() == GEN_BATCH {
                let (o, m, b) = flush_all(
                    &mut pending,
                    &mut q_pkts,
                    &mut q_lens,
                    &mut q_to,
                    cpu_start.is_some(),
                );
                sent += o;
                sent_measured += m;
                send_errors += b;
            }
            let t = epoch.elapsed().as_nanos() as u64;
            payload[..8].copy_from_slice(&t.to_le_bytes());
            let mut pkt = [0u8; 12 + 160];
            let len = RtpPacketBuilder::new()
                .payload_type(0)
                .sequence(Seq::from(seq[i]))
                .timestamp((tick as u32).wrapping_mul(160))
                .ssrc(0x1000 + i as u32)
                .payload(&payload)
                .build_into(&mut pkt)
                .unwrap_or(0);
            seq[i] = seq[i].wrapping_add(1);
            if q_pkts[si].is_empty() {
                pending.push(si);
            }
            q_pkts[si].push(pkt);
            q_lens[si].push(len);
            q_to[si].push(dest[i].clone());
        }
        let (o, m, b) = flush_all(
            &mut pending,
            &mut q_pkts,
            &mut q_lens,
            &mut q_to,
            cpu_start.is_some(),
        );
        sent += o;
        sent_measured += m;
        send_errors += b;
        tick += 1;
        let elapsed = start.elapsed();
        if cpu_start.is_none() && elapsed >= warmup {
            measuring.store(true, Ordering::Relaxed);
            cpu_start = Some((Instant::now(), cpu_ns()));
        }
        if elapsed >= total {
            break 'outer;
        }
    }
    let (t0, c0) = cpu_start.unwrap_or((Instant::now(), cpu_ns()));
    let wall = t0.elapsed().as_nanos() as f64;
    let cpu = cpu_ns().saturating_sub(c0) as f64;
    stop.store(true, Ordering::Relaxed);
    let hist = receiver.join().expect("receiver thread");
    Outcome {
        sent,
        received: received.load(Ordering::Relaxed),
        send_errors,
        cpu_core_percent: cpu / wall * 100.0,
        measured_pps: sent_measured as f64 / (wall / 1e9),
        target_pps: n as f64 * 50.0,
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
    }
}

/// Restricts threads to CPUs: `tasks` is a /proc/.../task folder, `prefix` selects threads by
/// name (empty: all), `cpus` is `first..` (the relay) or `..1` (the generator).
fn pin_tasks(tasks: &str, prefix: &str, cpus: std::ops::Range<usize>) {
    let mut set = CpuSet::new();
    for c in cpus {
        set.set(c);
    }
    let Ok(dir) = std::fs::read_dir(tasks) else {
        return;
    };
    for e in dir.flatten() {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let tid = e.file_name().to_string_lossy().parse::<i32>().ok();
        if let Some(pid) = tid.and_then(Pid::from_raw) {
            let _ = sched_setaffinity(Some(pid), &set);
        }
    }
}

/// The calling thread on CPU 0 (the generator's).
fn pin_self_to_generator_cpu() {
    let mut set = CpuSet::new();
    set.set(0);
    let _ = sched_setaffinity(None, &set);
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU (ns) of this process's threads named `media-*` (the engine workers).
fn engine_cpu_ns() -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    for e in dir.flatten() {
        let p = e.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.starts_with("media-") && !comm.starts_with("media-recorder") {
            let s = std::fs::read_to_string(p.join("schedstat")).unwrap_or_default();
            total += s
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// CPU (ns) of a process from /proc/PID/stat (utime + stime, clock ticks of 10 ms).
fn process_cpu_ns(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    ticks * 10_000_000
}

fn run_hotline(
    calls: usize,
    seconds: u64,
    workers: usize,
    shared: usize,
    asymmetric: bool,
    pin: bool,
) -> Outcome {
    let engine = MediaEngine::start(EngineConfig {
        workers,
        // Below the kernel's ephemeral range (32768+), where the generator sockets live.
        port_min: 10000,
        port_max: (10000 + calls * 4 + 1000).min(32000) as u16,
        rtp_timeout: Duration::from_secs(3600),
        ..Default::default()
    })
    .expect("engine");
    let mut load = Gen::new(calls * 2, shared);
    for c in 0..calls {
        let (ga, gb) = (load.addr(2 * c), load.addr(2 * c + 1));
        let a = engine
            .create_session(SessionOptions::on(LOCAL))
            .expect("session");
        let b = engine
            .create_session(SessionOptions::near(LOCAL, a.id))
            .expect("session");
        for (s, g) in [(a.id, ga), (b.id, gb)] {
            let mut p = RemoteParams::g711(g, 0);
            // Symmetric RTP (the default, as the switch uses it) latches to the generator
            // socket, which sends from the address it receives on.
            p.symmetric = !asymmetric;
            engine.set_remote(s, p).expect("remote");
        }
        engine.bridge(a.id, b.id).expect("bridge");
        load.legs[2 * c].1 = a.local;
        load.legs[2 * c + 1].1 = b.local;
    }
    std::thread::sleep(Duration::from_millis(300));
    if pin {
        pin_tasks("/proc/self/task", "media-", 1..cores().max(2));
    }
    let out = run_load(load, seconds, pin, &engine_cpu_ns);
    engine.shutdown();
    out
}

// ----- rtpengine over the NG protocol (bencode over UDP) --------------------------------------

struct RtpEngine {
    child: Child,
    ctl: UdpSocket,
    addr: SocketAddr,
    cookie: u64,
}

fn bstr(s: &str) -> String {
    format!("{}:{}", s.len(), s)
}

impl RtpEngine {
    fn start(port_min: u16, port_max: u16, threads: usize) -> std::io::Result<RtpEngine> {
        let ng_port = 22222;
        let child = Command::new("rtpengine")
            .args([
                "--config-file=none",
                "--table=-1",
                "--interface=127.0.0.1",
                &format!("--listen-ng=127.0.0.1:{ng_port}"),
                &format!("--port-min={port_min}"),
                &format!("--port-max={port_max}"),
                "--foreground",
                "--log-stderr",
                "--log-level=3",
                &format!("--num-threads={threads}"),
                "--delete-delay=0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let ctl = UdpSocket::bind((LOCAL, 0))?;
        ctl.set_read_timeout(Some(Duration::from_millis(500)))?;
        let mut e = RtpEngine {
            child,
            ctl,
            addr: SocketAddr::new(LOCAL, ng_port),
            cookie: 1,
        };
        // Wait until it answers a ping.
        for _ in 0..40 {
            if e.request("d7:command4:pinge").is_ok() {
                return Ok(e);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(std::io::Error::other("rtpengine does not answer"))
    }

    fn request(&mut self, body: &str) -> std::io::Result<String> {
        self.cookie += 1;
        let cookie = format!("c{}", self.cookie);
        let msg = format!("{cookie} {body}");
        for _ in 0..5 {
            self.ctl.send_to(msg.as_bytes(), self.addr)?;
            let mut buf = [0u8; 65536];
            while let Ok((n, _)) = self.ctl.recv_from(&mut buf) {
                let r = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some(rest) = r.strip_prefix(&format!("{cookie} ")) {
                    return Ok(rest.to_string());
                }
            }
        }
        Err(std::io::Error::other("no NG reply"))
    }

    /// Offer/answer for one call; returns the rtpengine ports that caller and callee send to.
    fn call(
        &mut self,
        id: usize,
        caller: SocketAddr,
        callee: SocketAddr,
    ) -> std::io::Result<(SocketAddr, SocketAddr)> {
        let sdp = |port: u16| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
            )
        };
        let call_id = format!("bench-{id}");
        let offer = format!(
            "d7:command5:offer3:sdp{}7:call-id{}8:from-tag{}e",
            bstr(&sdp(caller.port())),
            bstr(&call_id),
            bstr("ft")
        );
        let r = self.request(&offer)?;
        let to_callee = sdp_port(&r).ok_or_else(|| std::io::Error::other(format!("offer: {r}")))?;
        let answer = format!(
            "d7:command6:answer3:sdp{}7:call-id{}8:from-tag{}6:to-tag{}e",
            bstr(&sdp(callee.port())),
            bstr(&call_id),
            bstr("ft"),
            bstr("tt")
        );
        let r = self.request(&answer)?;
        let to_caller =
            sdp_port(&r).ok_or_else(|| std::io::Error::other(format!("answer: {r}")))?;
        // The caller sends to the port in the answer's SDP, the callee to the offer's.
        Ok((
            SocketAddr::new(LOCAL, to_caller),
            SocketAddr::new(LOCAL, to_callee),
        ))
    }
}

impl Drop for RtpEngine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sdp_port(reply: &str) -> Option<u16> {
    let i = reply.find("m=audio ")?;
    reply[i + 8..].split(' ').next()?.parse().ok()
}

fn run_rtpengine(
    calls: usize,
    seconds: u64,
    threads: usize,
    shared: usize,
    pin: bool,
) -> std::io::Result<Outcome> {
    let mut re = RtpEngine::start(10000, (10000 + calls * 4 + 1000).min(32000) as u16, threads)?;
    let pid = re.child.id();
    let mut load = Gen::new(calls * 2, shared);
    for c in 0..calls {
        let (to_a, to_b) = re.call(c, load.addr(2 * c), load.addr(2 * c + 1))?;
        load.legs[2 * c].1 = to_a;
        load.legs[2 * c + 1].1 = to_b;
    }
    std::thread::sleep(Duration::from_millis(300));
    if pin {
        pin_tasks(&format!("/proc/{pid}/task"), "", 1..cores().max(2));
    }
    let out = run_load(load, seconds, pin, &|| process_cpu_ns(pid));
    drop(re);
    Ok(out)
}

/// The same load between generator sockets with no relay: the floor of the measured delay.
fn run_direct(calls: usize, seconds: u64, shared: usize, pin: bool) -> Outcome {
    let mut load = Gen::new(calls * 2, shared);
    for c in 0..calls {
        let (aa, ba) = (load.addr(2 * c), load.addr(2 * c + 1));
        load.legs[2 * c].1 = ba;
        load.legs[2 * c + 1].1 = aa;
    }
    run_load(load, seconds, pin, &|| 0)
}

/// CPU (% of a core) per stream really offered.
fn per_stream(o: &Outcome) -> f64 {
    let streams = o.measured_pps / 50.0;
    if streams > 0.0 {
        o.cpu_core_percent / streams
    } else {
        0.0
    }
}

fn report(name: &str, calls: usize, o: &Outcome) {
    let lost = o.sent.saturating_sub(o.received);
    // CPU normalised by the load really offered: per 100 streams of 50 pps.
    let per_100 = per_stream(o) * 100.0;
    println!(
        "{name:<9} calls={calls:<5} offered={:.0}% cpu={:.1}% of a core  per-call={:.4}%  per-100-streams={:.2}%  sent={} received={} lost={} ({:.3}%) send_errors={}  delay p50={}us p99={}us max={}us",
        o.measured_pps / o.target_pps.max(1.0) * 100.0,
        o.cpu_core_percent,
        per_100 * 2.0 / 100.0,
        per_100,
        o.sent,
        o.received,
        lost,
        lost as f64 * 100.0 / o.sent.max(1) as f64,
        o.send_errors,
        o.p50_us,
        o.p99_us,
        o.max_us,
    );
    let _ = std::io::stdout().flush();
}

fn main() {
    let args = parse_args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = if args.workers == 0 {
        cores
    } else {
        args.workers
    };
    println!(
        "bridge_bench: {cores} cores, {} s per run after 2 s warm-up, engine workers={workers} (rtpengine threads the same), {} RTP, {}, generator: {}; load average {}",
        args.seconds,
        if args.asymmetric {
            "asymmetric"
        } else {
            "symmetric"
        },
        if args.pin {
            "generator pinned to CPU 0, relay to the others"
        } else {
            "not pinned"
        },
        if args.gen_sockets == 0 {
            "one socket per leg, epoll receiver".to_string()
        } else {
            format!(
                "{} shared sockets, sendmmsg, recvmmsg every {} us",
                args.gen_sockets,
                RX_POLL.as_micros()
            )
        },
        load_average()
    );
    for &calls in &args.calls {
        if args.direct {
            report(
                "direct",
                calls,
                &run_direct(calls, args.seconds, args.gen_sockets, args.pin),
            );
        }
        let o = run_hotline(
            calls,
            args.seconds,
            args.workers,
            args.gen_sockets,
            args.asymmetric,
            args.pin,
        );
        report("hotline", calls, &o);
        if args.rtpengine {
            match run_rtpengine(calls, args.seconds, workers, args.gen_sockets, args.pin) {
                Ok(r) => {
                    report("rtpengine", calls, &r);
                    let (ours, theirs) = (per_stream(&o), per_stream(&r));
                    if theirs > 0.0 {
                        println!(
                            "ratio     calls={calls:<5} hotline/rtpengine CPU per offered stream = {:.2}",
                            ours / theirs
                        );
                    }
                }
                Err(e) => println!("rtpengine calls={calls}: not measured ({e})"),
            }
        }
        println!("load average {}", load_average());
    }
}

/// The first three fields of /proc/loadavg.
fn load_average() -> String {
    let s = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
