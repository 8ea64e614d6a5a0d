//! `hotline-switch demo` as a newcomer runs it, against the real binary: it starts the switch,
//! registers the demo agents' phones, logs the simulated agents in over CTI, generates callers
//! who walk the IVR into the queues, and prints summary lines; calls reach the simulated
//! agents (screen pops counted, agents on call), and on SIGTERM it stops cleanly (exit 0) with
//! the calls in the database.
//!
//! Port 0 for SIP and HTTP, a temp SQLite file, the child killed on drop; the only waits are
//! for lines the demo prints, bounded by a generous guard.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const GUARD: Duration = Duration::from_secs(150);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The number after `label` in a summary line ("pops 3" -> 3).
fn figure(line: &str, label: &str) -> Option<u64> {
    let at = line.find(label)? + label.len();
    line[at..]
        .trim_start()
        .split([' ', ','])
        .next()?
        .parse()
        .ok()
}

#[test]
fn demo_subcommand_puts_calls_through_to_simulated_agents_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["ivr", "prompts", "demo.toml", "queues.toml"] {
        std::os::unix::fs::symlink(root().join("config").join(f), dir.path().join(f))
            .expect("link config");
    }
    let shipped = std::fs::read_to_string(root().join("config/switch.toml")).expect("switch.toml");
    let base = 46_000 + (std::process::id() % 20) as u16 * 400;
    let db = dir.path().join("hotline.db");
    let text = shipped
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:5060\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "url = \"sqlite://data/hotline.db\"",
            &format!("url = \"sqlite://{}\"", db.display()),
        )
        .replace("port_min = 20000", &format!("port_min = {base}"))
        .replace("port_max = 30000", &format!("port_max = {}", base + 400))
        .replace("workers = 0", "workers = 1")
        .replace("level = \"info\"", "level = \"warn\"");
    assert!(
        text.contains("127.0.0.1:0"),
        "the shipped config changed shape"
    );
    let file = dir.path().join("switch.toml");
    std::fs::write(&file, text).expect("config");

    let child = Command::new(env!("CARGO_BIN_EXE_hotline-switch"))
        .arg("--config")
        .arg(&file)
        .args([
            "demo",
            "--calls-per-minute",
            "30",
            "--agents",
            "2",
            "--seed",
            "7",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut lines = Vec::new();
    let mut ready = false;
    let mut connected = false;
    while !connected {
        let line = rx
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("no progress within the guard time: {lines:#?}"));
        ready |= line.starts_with("hotline-switch ready http=");
        if line.starts_with("demo |") {
            let pops = figure(&line, "pops").unwrap_or(0);
            let on_call = figure(&line, "ringing,").unwrap_or(0);
            connected = pops >= 1 && on_call >= 1;
        }
        lines.push(line);
    }
    assert!(ready, "the ready line comes first: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("2 simulated agents (bob, carol)")),
        "{lines:#?}"
    );

    // SIGTERM: callers hang up, agents log out, the switch drains and exits 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = {
        let mut waited = None;
        for _ in 0..600 {
            if let Some(s) = child.0.try_wait().expect("wait") {
                waited = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        waited.expect("the demo stops after SIGTERM")
    };
    assert!(exit.success(), "exit status {exit:?}");
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    assert!(lines.iter().any(|l| l == "demo: stopping"), "{lines:#?}");

    // The calls are in the database.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store =
            hotline_store::Store::open(&format!("sqlite://{}", db.display()), Default::default())
                .await
                .expect("store");
        let calls = store.count_calls().await.expect("count");
        assert!(calls >= 1, "{lines:#?}");
        store.close().await;
    });
}
