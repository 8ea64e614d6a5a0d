//! CTI server benchmark on loopback (docs/performance/cti-server.md).
//!
//! The example runs itself twice: a **server** child (`--serve`) holding the switch (store on a
//! temp SQLite file, routing, the CTI server; no call control) and the **client** parent with
//! the desktops, so the server's memory can be read from `/proc/<pid>/statm` alone.
//!
//! 1. Screen-pop latency: `SESSIONS` agents log in; then, one at a time, the client asks the
//!    server (a line on its stdin) to publish `CallNotice::Offered` for one agent and times until
//!    that agent's desktop has the `call_offered` event. The figure includes the pipe hop.
//! 2. Memory per session: server RSS after the logins minus before, divided by the sessions.
//! 3. Wallboard fan-out: `SUPERVISORS` supervisors subscribe while `CHURN_AGENTS` agents change
//!    state (each about once a second, driven inside the server through routing); each delta's
//!    age on arrival (`now - delta.at`, wall clock, ms) and the server's CPU time are reported.
//!
//! ```text
//! cargo run --release -p hotline-switch --example cti_bench -- [sessions=500] [pops=2000]
//!     [supervisors=50] [churn_agents=300] [churn_secs=10]
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command as Proc, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use hotline_cti::{
    AgentId, ClientFrame, Command, Event, Pii, QueueId, Reply, RequestId, ScreenPop, Secret,
    ServerFrame, UnixMillis, decode_server, encode_client,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "bench-password";
/// The call number of the pops that check whether logins are done.
const PROBE: u64 = u64::MAX - 1;

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .filter_map(|a| {
            a.strip_prefix(&format!("{name}="))
                .and_then(|v| v.parse().ok())
        })
        .next()
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().any(|a| a == "--serve") {
        rt.block_on(serve());
    } else {
        rt.block_on(client());
    }
}

fn agent_id(i: u64) -> String {
    format!("b{i:04}")
}

fn supervisor_id(i: u64) -> String {
    format!("s{i:03}")
}

// ----- server child --------------------------------------------------------------------------

async fn serve() {
    use hotline_switch::app::{StartOptions, start};
    use hotline_switch::bus::CallNotice;
    let sessions = arg("sessions", 500);
    let supervisors = arg("supervisors", 50);
    let dir = tempfile::tempdir().expect("tmp");
    let text = format!(
        "[http]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}/bench.db\"\n\
         [log]\nlevel = \"error\"\n[demo]\nseed = false\n\
         [cti]\nheartbeat_secs = 600\nlockout_failures_per_address = 100000\n",
        dir.path().display()
    );
    let file = dir.path().join("switch.toml");
    std::fs::write(&file, text).expect("config");
    let cfg = hotline_switch::config::Config::load(&file).expect("config valid");
    let sw = start(
        cfg,
        StartOptions {
            call_control: false,
        },
    )
    .await
    .expect("switch starts");
    let hash = hotline_store::password::hash(PASSWORD).expect("hash");
    for i in 0..sessions {
        sw.store
            .upsert_agent(
                &hotline_store::NewAgent {
                    id: agent_id(i),
                    name: format!("Bench Agent {i}"),
                    extension: format!("{}", 20000 + i),
                    role: hotline_store::Role::Agent,
                    password_hash: hash.clone(),
                },
                0,
            )
            .await
            .expect("agent");
    }
    for i in 0..supervisors {
        sw.store
            .upsert_agent(
                &hotline_store::NewAgent {
                    id: supervisor_id(i),
                    name: format!("Bench Supervisor {i}"),
                    extension: format!("{}", 30000 + i),
                    role: hotline_store::Role::Supervisor,
                    password_hash: hash.clone(),
                },
                0,
            )
            .await
            .expect("supervisor");
    }
    println!("addr {} pid {}", sw.http, std::process::id());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["pop", agent, n] => sw.bus.notify(CallNotice::Offered {
                agent: (*agent).to_string(),
                pop: Box::new(pop(&format!("bench-{n}"))),
            }),
            ["churn", agents, secs] => {
                let agents: u64 = agents.parse().unwrap_or(0);
                let secs: u64 = secs.parse().unwrap_or(0);
                churn(&sw.routing, agents, secs).await;
                println!("churned");
            }
            ["quit"] | [] => break,
            _ => eprintln!("unknown command {line}"),
        }
    }
    let _ = sw.shutdown().await;
}

fn pop(call: &str) -> ScreenPop {
    ScreenPop {
        call: hotline_cti::CallId::new(call),
        ani: Pii::new("+15550100".into()),
        dnis: "800".into(),
        queue: QueueId::new("sales"),
        queue_name: "Sales and bookings".into(),
        waited_secs: 5,
        offered_at: UnixMillis(0),
        ring_timeout_secs: 20,
        ivr_path: vec!["welcome".into(), "menu".into(), "sales_queue".into()],
        ivr_inputs: vec![],
        customer: Some(hotline_cti::CustomerView {
            id: hotline_cti::CustomerId::new("1"),
            name: Pii::new("Bench Customer".into()),
            tier: "gold".into(),
            identities: vec![],
            last_contacts: vec![],
            open_tickets: vec![],
            bookings: vec![],
            balance_due: None,
            birthday: None,
        }),
        new_customer_form: false,
        caller_proof: hotline_cti::CallerProof::Claimed,
        context: None,
    }
}

/// Each of `agents` toggles ready / not ready about once a second for `secs` seconds.
async fn churn(routing: &hotline_switch::routing::RoutingHandle, agents: u64, secs: u64) {
    use hotline_switch::routing::AgentId as R;
    let mut ready = vec![false; agents as usize];
    let slices = 10u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / slices));
    for round in 0..secs * slices {
        tick.tick().await;
        let slice = round % slices;
        for i in (0..agents).filter(|i| i % slices == slice) {
            let id = R::new(agent_id(i));
            let r = if ready[i as usize] {
                routing.not_ready(&id, "break").await
            } else {
                routing.ready(&id).await
            };
            if r.is_ok() {
                ready[i as usize] = !ready[i as usize];
            }
        }
    }
}

// ----- client parent -------------------------------------------------------------------------

struct Server {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    pid: u32,
}

impl Server {
    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("server stdin");
        self.stdin.flush().expect("flush");
    }

    fn rss_bytes(&self) -> u64 {
        let statm =
            std::fs::read_to_string(format!("/proc/{}/statm", self.pid)).unwrap_or_default();
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        pages * 4096
    }

    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn request(ws: &mut Ws, id: u64, cmd: Command) -> Reply {
    let text = encode_client(&ClientFrame {
        id: RequestId(id),
        cmd,
    })
    .expect("encode");
    ws.send(Message::Text(text.into())).await.expect("send");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("answer in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = msg
            && let Ok(ServerFrame::Response(r)) = decode_server(t.as_str())
            && r.re == RequestId(id)
        {
            return r.result.expect("command accepted");
        }
    }
}

async fn desk(url: &str, agent: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    request(
        &mut ws,
        1,
        Command::Hello {
            versions: vec![1],
            client: "cti-bench".into(),
        },
    )
    .await;
    request(
        &mut ws,
        2,
        Command::Login {
            agent: AgentId::new(agent),
            password: Secret::new(PASSWORD),
            extension: None,
        },
    )
    .await;
    ws
}

/// Pops `agent` until the pop arrives (it does only once the agent is logged in).
async fn wait_logged_in(
    server: &mut Server,
    pop_rx: &mut mpsc::UnboundedReceiver<(u64, Instant)>,
    agent: &str,
) {
    let probe = PROBE;
    let t0 = Instant::now();
    loop {
        server.send(&format!("pop {agent} {probe}"));
        if let Ok(Some((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), pop_rx.recv()).await
            && n == probe
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "logins did not finish"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    while pop_rx.try_recv().is_ok() {}
}

fn percentiles(h: &Histogram<u64>, unit: &str, div: f64) -> String {
    format!(
        "n={} p50={:.2}{unit} p90={:.2}{unit} p99={:.2}{unit} max={:.2}{unit}",
        h.len(),
        h.value_at_quantile(0.50) as f64 / div,
        h.value_at_quantile(0.90) as f64 / div,
        h.value_at_quantile(0.99) as f64 / div,
        h.max() as f64 / div
    )
}

async fn client() {
    let sessions = arg("sessions", 500);
    let pops = arg("pops", 2000);
    let supervisors = arg("supervisors", 50);
    let churn_agents = arg("churn_agents", 300).min(sessions);
    let churn_secs = arg("churn_secs", 10);
    let exe = std::env::current_exe().expect("exe");
    let mut child = Proc::new(exe)
        .arg("--serve")
        .arg(format!("sessions={sessions}"))
        .arg(format!("supervisors={supervisors}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server child");
    let stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("server line");
    let mut words = line.split_whitespace();
    let addr = words.nth(1).expect("addr").to_string();
    let pid: u32 = words.nth(1).and_then(|p| p.parse().ok()).expect("pid");
    let mut server = Server {
        child,
        stdin,
        stdout,
        pid,
    };
    let url = format!("ws://{addr}/cti");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = server.rss_bytes();

    // Log the agents in (8 at a time) and keep a reader task per desktop. The first `warm`
    // logins warm up the allocator (argon2's 19 MiB per check stays in malloc's arenas); the
    // memory per session is measured over the rest.
    let (pop_tx, mut pop_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let t_login = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut handles = Vec::new();
    let warm = (sessions / 10).clamp(1, 50);
    let mut rss0 = 0;
    for i in 0..sessions {
        if i == warm {
            wait_logged_in(&mut server, &mut pop_rx, &agent_id(warm - 1)).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            rss0 = server.rss_bytes();
        }
        let url = url.clone();
        let sem = sem.clone();
        let pop_tx = pop_tx.clone();
        handles.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await.expect("sem");
            let mut ws = desk(&url, &agent_id(i)).await;
            drop(permit);
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg
                    && let Ok(ServerFrame::Event(e)) = decode_server(t.as_str())
                    && let Event::CallOffered(p) = e.event
                    && let Some(n) = p.call.as_str().strip_prefix("bench-")
                    && let Ok(n) = n.parse()
                {
                    let _ = pop_tx.send((n, Instant::now()));
                }
            }
        }));
    }
    // Logins go 8 at a time in order: once the last agent gets a pop, all are logged in.
    wait_logged_in(&mut server, &mut pop_rx, &agent_id(sessions - 1)).await;
    let login_secs = t_login.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    while pop_rx.try_recv().is_ok() {}
    let rss1 = server.rss_bytes();
    println!(
        "{sessions} sessions logged in in {login_secs:.1} s (argon2 verify each); server RSS before logins {:.1} MiB, after {warm} sessions {:.1} MiB, after {sessions} {:.1} MiB: {:.1} KiB per session",
        rss_start as f64 / 1048576.0,
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / (sessions - warm) as f64
    );

    // Screen pops, one at a time.
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("hist");
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    for n in 0..pops {
        let agent = agent_id(n * 7919 % sessions);
        let t0 = Instant::now();
        sent.insert(n, t0);
        server.send(&format!("pop {agent} {n}"));
        let (got, at) = loop {
            let (got, at) = tokio::time::timeout(Duration::from_secs(10), pop_rx.recv())
                .await
                .expect("pop in time")
                .expect("pop");
            // A late answer to a login probe is not this pop.
            if got != PROBE {
                break (got, at);
            }
        };
        assert_eq!(got, n, "the pop reached its agent");
        h.record(at.duration_since(t0).as_micros().max(1) as u64)
            .expect("record");
    }
    println!(
        "screen pop (publish -> desktop), {sessions} sessions: {}",
        percentiles(&h, " ms", 1000.0)
    );

    // Wallboard fan-out while agents churn.
    if supervisors > 0 {
        let (wb_tx, mut wb_rx) = mpsc::unbounded_channel::<i64>();
        let mut sups = Vec::new();
        for i in 0..supervisors {
            let url = url.clone();
            let wb_tx = wb_tx.clone();
            let mut ws = desk(&url, &supervisor_id(i)).await;
            request(&mut ws, 3, Command::SubscribeWallboard { queues: vec![] }).await;
            sups.push(tokio::spawn(async move {
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg
                        && let Ok(ServerFrame::Event(e)) = decode_server(t.as_str())
                        && let Event::WallboardDelta(d) = e.event
                    {
                        let now = hotline_switch::app::now_millis();
                        let _ = wb_tx.send(now - d.at.0 as i64);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        while wb_rx.try_recv().is_ok() {}
        let cpu0 = server.cpu_ticks();
        let t0 = Instant::now();
        server.send(&format!("churn {churn_agents} {churn_secs}"));
        let mut done = String::new();
        server.stdout.read_line(&mut done).expect("churn done");
        let wall = t0.elapsed().as_secs_f64();
        let cpu = (server.cpu_ticks() - cpu0) as f64 / 100.0;
        let mut wh = Histogram::<u64>::new_with_bounds(1, 600_000, 3).expect("hist");
        while let Ok(ms) = wb_rx.try_recv() {
            wh.record(ms.max(0) as u64 + 1).expect("record");
        }
        println!(
            "wallboard deltas to {supervisors} supervisors while {churn_agents} agents change state ~1/s for {churn_secs} s: age on arrival (ms, +1 ms bias, wall-clock resolution 1 ms): {}",
            percentiles(&wh, " ms", 1.0)
        );
        println!(
            "server CPU during the churn: {cpu:.2} s over {wall:.1} s = {:.1} % of one core",
            cpu / wall * 100.0
        );
        for s in sups {
            s.abort();
        }
    }
    for h in handles {
        h.abort();
    }
    drop(server);
}
