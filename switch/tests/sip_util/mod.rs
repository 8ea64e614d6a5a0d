//! Shared helpers for the end-to-end SIP tests: the real `hotline-switch` binary on free ports
//! with a fresh SQLite file, sipp processes running the scenarios in `tests/sipp/`, and reading
//! the call records back. Every child process is killed when its handle drops.

#![allow(dead_code)]

// One allocator shared by the helpers a test may combine (e.g. sip_util with pg_util).
#[allow(clippy::duplicate_mod)]
#[path = "../ports/mod.rs"]
mod ports;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scenario file of `tests/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    root().join("tests/sipp").join(name)
}

/// A port that is free now on UDP and TCP, on 127.0.0.1, outside the ephemeral range.
pub fn free_port() -> u16 {
    ports::take(1)
}

static MEDIA_BASE: AtomicU16 = AtomicU16::new(0);

/// A distinct even port block for the switch's RTP range (the media engine skips ports that
/// are taken, so overlaps with other processes only cost a retry).
pub fn port_block(size: u16) -> u16 {
    let pid_spread = (std::process::id() % 20) as u16 * 600;
    let n = MEDIA_BASE.fetch_add(size, Ordering::SeqCst);
    34_000 + pid_spread + n
}

/// An even port where the four ports sipp binds for media (audio and video RTP/RTCP) are
/// free now.
pub fn sipp_media_port() -> u16 {
    ports::take(4)
}

/// The switch as a child process.
pub struct Switch {
    child: Child,
    pub sip: SocketAddr,
    pub http: String,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    /// JSON log lines from stderr.
    pub logs: Arc<Mutex<Vec<serde_json::Value>>>,
    in_dir: bool,
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options for a test switch.
pub struct Setup {
    pub anchor: bool,
    /// Extra TOML appended (trunks, routes).
    pub extra: String,
    pub ring_timeout_secs: u64,
    /// `sip.auth_algorithms` as TOML (default `["MD5"]`, what sipp speaks).
    pub algorithms: Option<String>,
    /// `sip.keepalive_secs` (default 0: off, sipp UASes do not expect OPTIONS).
    pub keepalive_secs: u64,
    /// `sip.auth_uri_check` (default `"host"`, for sipp; the switch's default is
    /// `"request-uri"`).
    pub uri_check: &'static str,
    /// Extra lines for the `[sip]` table (e.g. `max_calls_per_source = 2`).
    pub sip: String,
    /// Run the switch with this hard and soft open-files limit (through `prlimit`).
    pub open_files: Option<u64>,
    /// IVR flows added to the shipped ones: (file name, TOML text).
    pub flows: Vec<(&'static str, String)>,
    /// `database.url` (default: a SQLite file in the switch's temp folder).
    pub database_url: Option<String>,
    /// `database.busy_timeout_ms` (default: the switch's): also how long a write waits for a
    /// pooled connection, so a short one makes an outage visible to the writer sooner.
    pub database_busy_timeout_ms: Option<u64>,
    /// `media.workers` (default 1).
    pub media_workers: usize,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            anchor: true,
            extra: String::new(),
            ring_timeout_secs: 20,
            algorithms: None,
            keepalive_secs: 0,
            uri_check: "host",
            sip: String::new(),
            open_files: None,
            flows: Vec::new(),
            database_url: None,
            database_busy_timeout_ms: None,
            media_workers: 1,
        }
    }
}

impl Switch {
    /// The switch's process id (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start(setup: Setup) -> Switch {
        Switch::launch(setup, &[], false)
    }

    /// Like [`Switch::start`], with extra environment variables (e.g. `RUST_LOG`) and the
    /// switch's working directory in its temp folder (so relative paths such as the default
    /// recordings folder `data/recordings` land there).
    pub fn start_in_dir(setup: Setup, env: &[(&str, &str)]) -> Switch {
        Switch::launch(setup, env, true)
    }

    fn launch(setup: Setup, env: &[(&str, &str)], in_dir: bool) -> Switch {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::copy(
            root().join("config/demo.toml"),
            dir.path().join("demo.toml"),
        )
        .expect("demo");
        #[cfg(unix)]
        {
            if setup.flows.is_empty() {
                std::os::unix::fs::symlink(root().join("config/ivr"), dir.path().join("ivr"))
                    .expect("ivr link");
            } else {
                // The shipped flows and their prompts, linked one by one, plus the test's own.
                let ivr = dir.path().join("ivr");
                std::fs::create_dir(&ivr).expect("ivr dir");
                for entry in std::fs::read_dir(root().join("config/ivr")).expect("shipped flows") {
                    let entry = entry.expect("entry");
                    std::os::unix::fs::symlink(entry.path(), ivr.join(entry.file_name()))
                        .expect("flow link");
                }
                for (name, text) in &setup.flows {
                    std::fs::write(ivr.join(name), text).expect("test flow");
                }
            }
            std::os::unix::fs::symlink(root().join("config/prompts"), dir.path().join("prompts"))
                .expect("prompts link");
        }
        let db_url = setup
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/hotline.db", dir.path().display()));
        let media = port_block(400);
        let cfg = format!(
            r#"
[http]
listen = "127.0.0.1:0"

[database]
url = "{db_url}"
{busy}
[log]
level = "info"
format = "json"

[sip]
listen = "127.0.0.1:0"
auth_algorithms = {algs}
auth_uri_check = "{uri_check}"
keepalive_secs = {keepalive}
ring_timeout_secs = {ring}
t1_ms = 200
{sip_extra}

[media]
anchor = {anchor}
port_min = {pmin}
port_max = {pmax}
workers = {workers}

{ivr_route}
[[extensions]]
number = "1001"
password = "alice-phone"
name = "Alice"

[[extensions]]
number = "1002"
password = "bob-phone"
name = "Bob"
{extra}
"#,
            ring = setup.ring_timeout_secs,
            busy = setup
                .database_busy_timeout_ms
                .map(|ms| format!("busy_timeout_ms = {ms}\n"))
                .unwrap_or_default(),
            keepalive = setup.keepalive_secs,
            uri_check = setup.uri_check,
            algs = setup.algorithms.as_deref().unwrap_or("[\"MD5\"]"),
            anchor = setup.anchor,
            workers = setup.media_workers,
            pmin = media,
            pmax = media + 400,
            extra = setup.extra,
            sip_extra = setup.sip,
            ivr_route = if setup.anchor {
                "[[dialplan.routes]]\nnumber = \"+18005550100\"\npublic = true\nivr = \"main\"\n"
            } else {
                ""
            },
        );
        let file = dir.path().join("switch.toml");
        std::fs::write(&file, cfg).expect("config");
        let (child, sip, http, logs) =
            spawn_switch(&file, env, in_dir.then_some(dir.path()), setup.open_files);
        Switch {
            child,
            sip,
            http,
            dir,
            db_url,
            logs,
            in_dir,
        }
    }

    /// Kills the switch with SIGKILL (no shutdown, nothing flushed) and starts it again on the
    /// same configuration and database. The SIP and HTTP addresses and the logs are the new
    /// process's.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().expect("SIGKILL the switch");
        let _ = self.child.wait();
        let file = self.dir.path().join("switch.toml");
        let (child, sip, http, logs) =
            spawn_switch(&file, &[], self.in_dir.then_some(self.dir.path()), None);
        self.child = child;
        self.sip = sip;
        self.http = http;
        self.logs = logs;
    }

    /// Ids of the calls the switch reported as ended.
    pub fn ended_calls(&self) -> Vec<String> {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .filter(|v| v["fields"]["message"] == "call ended")
            .filter_map(|v| v["fields"]["call"].as_str().map(str::to_string))
            .collect()
    }

    /// Waits until `n` calls have ended (generous timeout, no timing assertion).
    pub fn wait_ended(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ended = self.ended_calls();
            if ended.len() >= n || Instant::now() > deadline {
                return ended;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True when a log line's message contains `text`.
    /// The body of `GET /metrics` (Prometheus text format).
    pub fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.http).expect("connect to http");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// The value of one series in `/metrics` text (`name{labels}` exactly as printed).
    pub fn metric(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    pub fn logged(&self, text: &str) -> bool {
        self.logs.lock().expect("logs").iter().any(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(text))
        })
    }

    /// Reads call records (waits until the writer has stored the end of each).
    pub fn call_records(&self, ids: &[String]) -> Vec<hotline_store::CallRecord> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let store = hotline_store::Store::open(&self.db_url, Default::default())
                .await
                .expect("open store");
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut out = Vec::new();
            for id in ids {
                loop {
                    let rec = store.call(id).await.expect("read call");
                    match rec {
                        Some(r) if r.ended_at.is_some() => {
                            out.push(r);
                            break;
                        }
                        _ if Instant::now() > deadline => panic!("call {id} has no ended record"),
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            }
            store.close().await;
            out
        })
    }
}

/// Starts the binary on `file` and reads its addresses from stdout; stderr's JSON lines are
/// collected in the returned log.
#[allow(clippy::type_complexity)]
fn spawn_switch(
    file: &Path,
    env: &[(&str, &str)],
    cwd: Option<&Path>,
    open_files: Option<u64>,
) -> (
    Child,
    SocketAddr,
    String,
    Arc<Mutex<Vec<serde_json::Value>>>,
) {
    let bin = env!("CARGO_BIN_EXE_hotline-switch");
    // With an open-files limit, through prlimit (hard and soft).
    let mut cmd = match open_files {
        None => Command::new(bin),
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg(bin);
            c
        }
    };
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .arg("--config")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn switch");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let logs: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let l2 = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v = serde_json::from_str::<serde_json::Value>(&line)
                .unwrap_or(serde_json::Value::String(line));
            l2.lock().expect("logs").push(v);
        }
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut http = String::new();
    let mut sip = None;
    for _ in 0..2 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(h) = line.strip_prefix("hotline-switch ready http=") {
            http = h.trim().to_string();
        }
        if let Some(s) = line.strip_prefix("hotline-switch sip=") {
            sip = s.trim().parse().ok();
        }
    }
    let sip = sip.unwrap_or_else(|| {
        std::thread::sleep(Duration::from_millis(300));
        let logs = logs.lock().expect("logs").clone();
        panic!("switch did not print its SIP address; logs: {logs:?}")
    });
    (child, sip, http, logs)
}

/// A sipp process, killed when dropped.
pub struct Sipp {
    child: Child,
    pub name: String,
    pub port: u16,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sipp {
    /// Runs `sipp <target> -sf <scenario> -p <port> -m 1 <args>` under `timeout`.
    pub fn spawn(target: SocketAddr, scenario_name: &str, port: u16, args: &[&str]) -> Sipp {
        Sipp::spawn_in(&std::env::temp_dir(), target, scenario_name, port, args)
    }

    /// Like [`Sipp::spawn`], with sipp's working directory `dir` (where a scenario's relative
    /// `play_pcap_audio` files are read from).
    pub fn spawn_in(
        dir: &Path,
        target: SocketAddr,
        scenario_name: &str,
        port: u16,
        args: &[&str],
    ) -> Sipp {
        let media = sipp_media_port();
        let mut cmd = Command::new("timeout");
        cmd.arg("60")
            .arg("sipp")
            .arg(target.to_string())
            .arg("-sf")
            .arg(scenario(scenario_name))
            .arg("-i")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .arg("-mp")
            .arg(media.to_string())
            .arg("-m")
            .arg("1")
            .arg("-nostdin")
            .arg("-trace_err")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .expect("spawn sipp (installed as /usr/bin/sipp?)");
        Sipp {
            child,
            name: scenario_name.to_string(),
            port,
        }
    }

    /// Waits for sipp to finish; true when its call succeeded (exit code 0).
    pub fn success(mut self) -> bool {
        let status = self.child.wait().expect("wait sipp");
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            eprintln!(
                "sipp {} (port {}) failed: {status} {err}",
                self.name, self.port
            );
        }
        status.success()
    }
}

/// Registers `ext` (sipp UAC on its own port) with the contact port of a UAS.
pub fn register(sw: &Switch, ext: &str, password: &str, contact_port: u16) -> bool {
    let port = free_port();
    let cp = contact_port.to_string();
    Sipp::spawn(
        sw.sip,
        "register.xml",
        port,
        &[
            "-key",
            "ext",
            ext,
            "-au",
            ext,
            "-ap",
            password,
            "-key",
            "contact_port",
            &cp,
        ],
    )
    .success()
}

/// The switch in this process (configuration, store with demo data, routing, bus, call
/// control, wired as `app` does), for tests that play the agent desktop through routing and the
/// bus.
pub struct InProcess {
    pub sip: SocketAddr,
    pub store: hotline_store::Store,
    pub routing: hotline_switch::routing::RoutingHandle,
    pub bus: hotline_switch::bus::Bus,
    pub calls: Option<hotline_switch::calls::CallControl>,
    pub dir: tempfile::TempDir,
}

/// A service configuration in a fresh folder: the shipped IVR flows and prompts (linked), the
/// demo data, a SQLite file, SIP and HTTP on free ports, media anchored on its own port block,
/// extensions 1001 (alice), 1002 (bob) and 1901 (sue) with MD5 digest, and the service number
/// +18005550100 running the main IVR. `extra` is appended.
pub fn service_config(extra: &str) -> (tempfile::TempDir, hotline_switch::config::Config, String) {
    let dir = tempfile::tempdir().expect("tmp");
    std::os::unix::fs::symlink(root().join("config/ivr"), dir.path().join("ivr")).expect("ivr");
    std::os::unix::fs::symlink(root().join("config/prompts"), dir.path().join("prompts"))
        .expect("prompts");
    std::fs::copy(
        root().join("config/demo.toml"),
        dir.path().join("demo.toml"),
    )
    .expect("demo");
    let db_url = format!("sqlite://{}/hotline.db", dir.path().display());
    let media = port_block(400);
    let text = format!(
        r#"
[http]
listen = "127.0.0.1:0"

[database]
url = "{db_url}"

[log]
level = "warn"

[sip]
listen = "127.0.0.1:0"
auth_algorithms = ["MD5"]
auth_uri_check = "host"
keepalive_secs = 0
ring_timeout_secs = 20

[media]
port_min = {media}
port_max = {pmax}
workers = 1

[[dialplan.routes]]
number = "+18005550100"
public = true
ivr = "main"

[[extensions]]
number = "1001"
password = "alice-phone"

[[extensions]]
number = "1002"
password = "bob-phone"

[[extensions]]
number = "1901"
password = "sue-phone"
{extra}
"#,
        pmax = media + 400
    );
    let file = dir.path().join("switch.toml");
    std::fs::write(&file, &text).expect("config");
    let cfg = hotline_switch::config::Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    (dir, cfg, db_url)
}

impl InProcess {
    /// `extra` is appended to a configuration with media anchored, extensions 1001 (alice),
    /// 1002 (bob) and 1901 (sue), MD5 digest, and the service number running the main IVR.
    pub async fn start(extra: &str) -> InProcess {
        let (dir, cfg, db_url) = service_config(extra);
        let store = hotline_store::Store::open(&db_url, Default::default())
            .await
            .expect("store");
        let data = hotline_switch::seed::load(&dir.path().join("demo.toml")).expect("demo data");
        hotline_switch::seed::seed(&store, &data, hotline_switch::app::now_millis())
            .await
            .expect("seed");
        let setup = hotline_switch::routing::load_queues(&cfg).expect("queues");
        let routing = hotline_switch::routing::spawn(setup, Some(store.clone()));
        let (bus, commands) = hotline_switch::bus::Bus::new();
        let calls = hotline_switch::calls::start_from_config(
            &cfg,
            store.clone(),
            bus.clone(),
            commands,
            Some(routing.clone()),
        )
        .await
        .expect("call control");
        InProcess {
            sip: calls.local,
            store,
            routing,
            bus,
            calls: Some(calls),
            dir,
        }
    }

    /// Logs an agent in and makes them ready, as their desktop would through CTI.
    pub async fn ready(&self, agent: &str) {
        let a = hotline_acd::AgentId::new(agent);
        self.routing.login(&a).await.expect("login");
        self.routing.ready(&a).await.expect("ready");
    }

    /// A phone for `ext`: a sipp UAS running `scenario`, registered with digest auth.
    pub async fn phone(&self, ext: &str, password: &str, scenario: &str, args: &[&str]) -> Sipp {
        registered_phone(self.sip, ext, password, scenario, args).await
    }

    /// Sends a command as `agent` and returns call control's reply.
    pub async fn command(
        &self,
        agent: &str,
        action: hotline_switch::bus::CallAction,
    ) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.bus
            .commands
            .send(hotline_switch::bus::CallCommand {
                agent: agent.to_string(),
                action,
                reply: tx,
            })
            .await
            .expect("call control listens");
        rx.await
            .expect("a reply")
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Stops call control (all call records written).
    pub async fn stop(&mut self) {
        if let Some(c) = self.calls.take() {
            c.shutdown().await;
        }
    }
}

/// A phone for `ext` at the switch `sip`: a sipp UAS running `scenario` on a free port,
/// registered from another port with digest auth (panics if registration fails).
pub async fn registered_phone(
    sip: SocketAddr,
    ext: &str,
    password: &str,
    scenario: &str,
    args: &[&str],
) -> Sipp {
    let port = free_port();
    let uas = Sipp::spawn(sip, scenario, port, args);
    let (ext, password) = (ext.to_string(), password.to_string());
    let ok = tokio::task::spawn_blocking(move || {
        let p = port.to_string();
        Sipp::spawn(
            sip,
            "register.xml",
            free_port(),
            &[
                "-key",
                "ext",
                &ext,
                "-au",
                &ext,
                "-ap",
                &password,
                "-key",
                "contact_port",
                &p,
            ],
        )
        .success()
    })
    .await
    .expect("join");
    assert!(ok, "phone registered");
    uas
}

/// Waits (in a blocking thread) for a sipp process; true on success.
pub async fn finished(s: Sipp) -> bool {
    tokio::task::spawn_blocking(move || s.success())
        .await
        .expect("join")
}
