//! Bounded connections and send queues of the real binary (issue 12, findings 3 and 4), spoken
//! to with raw sockets:
//!
//! - a SIP TCP peer that sends requests and never reads is disconnected when its send queue is
//!   full, and the switch's memory stays bounded;
//! - thousands of idle connections to HTTP and SIP-TCP hit the per-address limit and are closed
//!   at accept, while `/health` (from another address), SIP over UDP and a new call to the IVR
//!   keep working;
//! - a slowloris HTTP request is closed after the header time-out;
//! - SIP over TCP: a trickled message is closed after the message time-out, an idle connection
//!   after the idle time-out (CRLF keep-alives are answered and count as activity), and a
//!   connection that carries a registration is kept;
//! - out of file descriptors (`EMFILE`), the accept loops pause and serve again once
//!   connections close.

mod sip_util;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hotline_sip::auth::{Challenge, authorize};
use hotline_sip::{Message, Method, StatusCode};
use sip_util::{Setup, Sipp, Switch, free_port};

fn options(transport: &str, branch: &str) -> String {
    format!(
        "OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK{branch};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p1\r\n\
         To: <sip:hotline@127.0.0.1>\r\n\
         Call-ID: {branch}@probe\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The switch's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A TCP connection from `from` (another 127.x address stands in for another client).
fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((from, 0)).into()).expect("bind");
    s.connect_timeout(&to.into(), Duration::from_secs(5))
        .expect("connect");
    s.into()
}

/// One HTTP/1.1 GET on a fresh connection from `from`; the status code and body.
fn http_get(from: [u8; 4], http: &str, path: &str) -> (u16, String) {
    let mut s = connect_from(from, http.parse().expect("http address"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: hotline\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The value of one series on `/metrics` (0 when absent).
fn metric(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Did the switch close `s`? Reads (and discards) until EOF or reset, at most `wait`.
fn closed_by_peer(s: &mut TcpStream, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

fn udp_options_ok(sip: SocketAddr, branch: &str) -> bool {
    let c = UdpSocket::bind("127.0.0.1:0").expect("bind");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.send_to(options("UDP", branch).as_bytes(), sip)
        .expect("send");
    let mut buf = vec![0u8; 65535];
    let Ok((n, _)) = c.recv_from(&mut buf) else {
        return false;
    };
    Message::parse(&buf[..n]).map(|m| m.status()) == Ok(Some(StatusCode::OK))
}

#[test]
fn a_sip_tcp_peer_that_never_reads_is_disconnected_and_memory_stays_bounded() {
    let sw = Switch::start(Setup {
        anchor: false,
        extra: "[connections.sip_tcp]\nsend_queue_bytes = 65536\n".into(),
        ..Setup::default()
    });
    assert!(udp_options_ok(sw.sip, "warm"), "the switch answers");
    let rss_before = rss_kib(sw.pid());

    // A small receive buffer so the kernel holds little of what the switch sends us.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    sock.connect_timeout(&sw.sip.into(), Duration::from_secs(5))
        .expect("connect");
    let mut s: TcpStream = sock.into();
    s.set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // Pipelined OPTIONS in batches; each gets a 200 the switch has to queue for us.
    const MAX_WRITTEN: usize = 96 << 20;
    let mut written = 0usize;
    let mut batch_no = 0u64;
    let ended = loop {
        let batch: String = (0..200)
            .map(|i| options("TCP", &format!("flood{batch_no}x{i}")))
            .collect();
        batch_no += 1;
        match s.write_all(batch.as_bytes()) {
            Ok(()) => written += batch.len(),
            Err(e) => break e,
        }
        if written >= MAX_WRITTEN {
            panic!(
                "still connected after {} MiB of requests whose answers were never read (RSS {} -> {} KiB)",
                written >> 20,
                rss_before,
                rss_kib(sw.pid())
            );
        }
    };
    assert!(
        matches!(
            ended.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
        ),
        "the switch closed the connection, not a write time-out: {ended}"
    );
    let rss_after = rss_kib(sw.pid());
    eprintln!(
        "non-reading peer: {} KiB written, RSS {rss_before} -> {rss_after} KiB",
        written >> 10
    );
    assert!(
        rss_after < rss_before + 48 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    // The switch serves on, and says what it did.
    assert!(udp_options_ok(sw.sip, "after"), "UDP still answered");
    let mut fresh = TcpStream::connect(sw.sip).expect("a new TCP connection");
    fresh
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    fresh
        .write_all(options("TCP", "fresh").as_bytes())
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = fresh.read(&mut buf).expect("an answer over TCP");
    assert!(buf[..n].starts_with(b"SIP/2.0 200"), "{:?}", &buf[..n]);
    let (_, metrics) = http_get([127, 0, 0, 1], &sw.http, "/metrics");
    assert_eq!(
        metric(
            &metrics,
            "hotline_connections_closed_total{listener=\"sip_tcp\",reason=\"slow_peer\"}"
        ),
        1,
        "{metrics}"
    );
}

/// The tests that open hundreds or thousands of connections run one at a time: in parallel
/// they slow each other's connects on a small machine.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn idle_connections_are_limited_and_health_and_new_calls_keep_working() {
    let _alone = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let sw = Switch::start(Setup {
        // Time-outs far longer than the test, so that only the limits close connections
        // however long opening 5,000 of them takes on a busy machine.
        extra: "[connections.http]\nmax_connections = 400\nmax_connections_per_ip = 200\n\
                header_timeout_secs = 600\nidle_timeout_secs = 600\n\n\
                [connections.sip_tcp]\nmax_connections = 400\nmax_connections_per_ip = 200\n\
                message_timeout_secs = 600\nidle_timeout_secs = 600\n"
            .into(),
        ..Setup::default()
    });
    let http: SocketAddr = sw.http.parse().expect("http address");
    // 5,000 idle connections from one address: 2,500 to HTTP, 2,500 to SIP over TCP.
    const EACH: usize = 2_500;
    let mut idle = Vec::with_capacity(2 * EACH);
    for _ in 0..EACH {
        idle.push(TcpStream::connect(http).expect("connect HTTP"));
        idle.push(TcpStream::connect(sw.sip).expect("connect SIP"));
    }
    // Wait (bounded) until the switch has taken all of them from its accept queues.
    let refused = |m: &str, l: &str| {
        metric(
            m,
            &format!("hotline_connections_refused_total{{listener=\"{l}\",reason=\"per_ip\"}}"),
        )
    };
    let want = (EACH - 200) as u64;
    let until = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (code, m) = http_get([127, 0, 0, 2], &sw.http, "/metrics");
        assert_eq!(code, 200);
        if (refused(&m, "http") >= want && refused(&m, "sip_tcp") >= want) || Instant::now() > until
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(refused(&metrics, "http"), want, "{metrics}");
    assert_eq!(refused(&metrics, "sip_tcp"), want, "{metrics}");
    for l in ["http", "sip_tcp"] {
        let open = metric(
            &metrics,
            &format!("hotline_connections_open{{listener=\"{l}\"}}"),
        );
        assert!(open <= 201, "{l}: {open} open\n{metrics}");
    }
    // Connections over the limit were closed by the switch.
    let last = idle.len() - 20;
    for s in &mut idle[last..] {
        assert!(
            closed_by_peer(s, Duration::from_secs(10)),
            "over the limit, still open"
        );
    }
    // Another client's health check, SIP over UDP and a new call with media still work.
    let (code, body) = http_get([127, 0, 0, 2], &sw.http, "/health");
    assert_eq!(code, 200, "{body}");
    assert!(udp_options_ok(sw.sip, "under-load"), "UDP OPTIONS answered");
    let call = Sipp::spawn(
        sw.sip,
        "uac_wait.xml",
        free_port(),
        &[
            "-key",
            "caller",
            "+15550001234",
            "-key",
            "dial",
            "+18005550100",
            "-d",
            "500",
        ],
    );
    assert!(
        call.success(),
        "a call to the IVR is answered and ends cleanly"
    );
    drop(idle);
}

#[test]
fn a_slowloris_http_request_is_closed_after_the_header_timeout() {
    let sw = Switch::start(Setup {
        anchor: false,
        extra: "[connections.http]\nheader_timeout_secs = 1\n".into(),
        ..Setup::default()
    });
    let mut s = TcpStream::connect(sw.http.as_str()).expect("connect");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: hotline\r\n")
        .expect("start");
    // One more header byte every 200 ms, for at most 20 s (the request would take minutes).
    let header = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for b in header.iter() {
        if s.write_all(&[*b]).is_err() || closed_by_peer(&mut s, Duration::from_millis(200)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a header trickled for 20 s was not cut off");
    // Whole requests are still served.
    let (code, _) = http_get([127, 0, 0, 1], &sw.http, "/health");
    assert_eq!(code, 200);
    let (_, metrics) = http_get([127, 0, 0, 1], &sw.http, "/metrics");
    assert!(
        metric(
            &metrics,
            "hotline_connections_closed_total{listener=\"http\",reason=\"timeout\"}"
        ) >= 1,
        "{metrics}"
    );
}

/// Reads one SIP message from a TCP stream (10 s at most).
fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> Message<'static> {
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(len)) = hotline_sip::frame(buf) {
            let m: Vec<u8> = buf.drain(..len).collect();
            if m.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                continue;
            }
            return Message::parse(&m).expect("parsable").into_owned();
        }
        let n = s.read(&mut chunk).expect("a message");
        assert!(n > 0, "closed before a message");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn register_tcp(cseq: u32, auth: Option<String>) -> String {
    let mut m = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKtcpreg{cseq};rport\r\n\
         From: <sip:1001@127.0.0.1>;tag=r1\r\n\
         To: <sip:1001@127.0.0.1>\r\n\
         Call-ID: tcp-reg-1001\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:1001@127.0.0.1:5999;transport=tcp>\r\n\
         Expires: 120\r\n\
         Max-Forwards: 70\r\n"
    );
    if let Some(a) = auth {
        m.push_str(&format!("Authorization: {a}\r\n"));
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

#[test]
fn sip_tcp_message_and_idle_timeouts_spare_keepalives_and_registrations() {
    let sw = Switch::start(Setup {
        anchor: false,
        extra: "[connections.sip_tcp]\nmessage_timeout_secs = 1\nidle_timeout_secs = 2\n".into(),
        ..Setup::default()
    });
    // A connection that never sends anything, and one that trickles a message (one byte every
    // 200 ms would take a minute): both closed.
    let mut silent = TcpStream::connect(sw.sip).expect("connect");
    let mut slow = TcpStream::connect(sw.sip).expect("connect");
    let msg = options("TCP", "trickle");
    let mut cut = false;
    for b in msg.as_bytes() {
        if slow.write_all(&[*b]).is_err() || closed_by_peer(&mut slow, Duration::from_millis(200)) {
            cut = true;
            break;
        }
    }
    assert!(cut, "a trickled message was not cut off");
    assert!(
        closed_by_peer(&mut silent, Duration::from_secs(10)),
        "a silent connection stays open"
    );

    // A working connection: RFC 5626 pings get pongs and keep it open past the idle limit...
    let mut live = TcpStream::connect(sw.sip).expect("connect");
    let mut buf = Vec::new();
    live.write_all(options("TCP", "live").as_bytes())
        .expect("write");
    assert_eq!(
        read_message(&mut live, &mut buf).status(),
        Some(StatusCode::OK)
    );
    live.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        live.write_all(b"\r\n\r\n").expect("ping");
        let mut pong = [0u8; 2];
        live.read_exact(&mut pong).expect("pong");
        assert_eq!(&pong, b"\r\n");
    }
    // ... and once quiet, it is closed.
    assert!(
        closed_by_peer(&mut live, Duration::from_secs(10)),
        "an idle connection stays open"
    );

    // A connection that carries a registration stays open while it lasts.
    let mut reg = TcpStream::connect(sw.sip).expect("connect");
    let mut buf = Vec::new();
    reg.write_all(register_tcp(1, None).as_bytes())
        .expect("write");
    let r = read_message(&mut reg, &mut buf);
    let ch = Challenge::pick(&r).expect("challenge");
    let auth = authorize(
        &ch,
        &Method::Register,
        "sip:127.0.0.1",
        "1001",
        "alice-phone",
        "tcp",
        1,
    );
    reg.write_all(register_tcp(2, Some(auth)).as_bytes())
        .expect("write");
    assert_eq!(
        read_message(&mut reg, &mut buf).status(),
        Some(StatusCode::OK)
    );
    assert!(
        !closed_by_peer(&mut reg, Duration::from_secs(4)),
        "a registered connection was closed for idleness"
    );
}

#[test]
fn out_of_file_descriptors_the_listeners_pause_and_recover() {
    let _alone = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // Limits above what 256 descriptors allow: accept itself fails with EMFILE.
    let sw = Switch::start(Setup {
        anchor: false,
        open_files: Some(256),
        ..Setup::default()
    });
    let http: SocketAddr = sw.http.parse().expect("http address");
    // First more HTTP connections than the switch has descriptors, then some to each
    // listener: those wait in the kernel's accept queues while the switch has none left, so
    // both accept loops meet EMFILE whichever order the switch accepts in.
    let mut held = Vec::new();
    let batches = [(http, 300), (sw.sip, 20), (http, 20)];
    for (to, n) in batches {
        let mut failed_in_a_row = 0;
        for _ in 0..n {
            match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
                Ok(s) => {
                    held.push(s);
                    failed_in_a_row = 0;
                }
                // This accept queue is full too (or the machine is slow): go on to the next.
                Err(_) => {
                    failed_in_a_row += 1;
                    if failed_in_a_row == 3 {
                        break;
                    }
                }
            }
        }
    }
    // Some connections wait in the kernel's accept queues while the switch has no descriptor.
    std::thread::sleep(Duration::from_secs(1));
    drop(held);

    // Once they are gone, both listeners serve again (bounded wait: the pause is at most 1 s).
    let until = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let answered = TcpStream::connect(http).is_ok_and(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            text.starts_with("HTTP/1.1 200")
        });
        if answered || Instant::now() > until {
            break http_get([127, 0, 0, 1], &sw.http, "/metrics").1;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The switch ran out of descriptors (which listener met EMFILE first depends on timing:
    // descriptors come and go inside the switch), and afterwards both listeners serve.
    let errors: u64 = ["http", "sip_tcp"]
        .iter()
        .map(|l| {
            metric(
                &metrics,
                &format!("hotline_accept_errors_total{{listener=\"{l}\"}}"),
            )
        })
        .sum();
    assert!(errors >= 1, "no failed accept counted\n{metrics}");
    let mut s = TcpStream::connect(sw.sip).expect("SIP-TCP accepts again");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(options("TCP", "recovered").as_bytes())
        .expect("write");
    let mut buf = Vec::new();
    assert_eq!(
        read_message(&mut s, &mut buf).status(),
        Some(StatusCode::OK)
    );
    assert!(sw.logged("open-files limit"), "the limit is logged");
}
