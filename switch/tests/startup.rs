//! The real `hotline-switch` binary: starts on a fresh SQLite file, migrates and seeds it, answers
//! `/health` and `/metrics`, and exits cleanly on SIGTERM; a bad config stops it with an error
//! naming file, line and key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Switch(Child);

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(dir: &Path, db: &str) -> std::path::PathBuf {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    std::fs::copy(demo, dir.join("demo.toml")).expect("copy demo");
    let cfg = dir.join("switch.toml");
    std::fs::write(
        &cfg,
        format!("[http]\nlisten = \"127.0.0.1:0\"\n\n[database]\nurl = \"{db}\"\n\n[log]\nlevel = \"info\"\n\n[sip]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .expect("write config");
    cfg
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, out)
}

#[test]
fn starts_seeds_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}/data/hotline.db", dir.path().display());
    let cfg = write_config(dir.path(), &db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline-switch"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let sw = Switch(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let addr = line
        .trim()
        .strip_prefix("hotline-switch ready http=")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_string();

    let (code, body) = http_get(&addr, "/health");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""database":"ok""#), "{body}");
    let (code, body) = http_get(&addr, "/metrics");
    assert_eq!(code, 200);
    assert!(
        body.contains("# TYPE hotline_database_up gauge\nhotline_database_up 1"),
        "{body}"
    );
    assert!(body.contains("hotline_http_requests_total 2"), "{body}");

    // SIGTERM: a clean exit with status 0 and the shutdown logged.
    let pid = sw.0.id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut sw = sw;
    let exit = sw.0.wait().expect("wait");
    let mut log = String::new();
    BufReader::new(stderr)
        .read_to_string(&mut log)
        .expect("log");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
    assert!(log.contains("demo data loaded"), "{log}");
    // The database it created holds the demo data.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let store = hotline_store::Store::open(&db, Default::default())
            .await
            .expect("reopen");
        assert!(!store.is_empty().await.expect("count"));
        let who = hotline_store::Identity::phone("+12125550100").expect("phone");
        let view = store
            .customer_view(&who)
            .await
            .expect("view")
            .expect("demo customer 0");
        assert_eq!(view.customer.tier, "vip");
        assert_eq!(view.open_tickets.len(), 1);
        let alice = store
            .agent_credentials("alice")
            .await
            .expect("q")
            .expect("alice");
        assert!(hotline_store::password::verify(
            "alice-demo",
            &alice.password_hash
        ));
        store.close().await;
    });
}

#[test]
fn bad_config_names_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("switch.toml");
    std::fs::write(
        &cfg,
        "[demo]\nseed = false\n\n[http]\nlisten = \"not-an-address\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hotline-switch"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:5: key `http.listen`:", cfg.display());
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn check_config_accepts_the_shipped_files() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/switch.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_hotline-switch"))
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A dial-plan route to a queue or IVR flow that does not exist stops the start (and
/// `check-config`) at the route's line, instead of failing the first call that takes it.
#[test]
fn route_to_unknown_queue_or_flow_is_refused_at_load() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for (target, key, named) in [
        (
            "queue = \"salse\"",
            "dialplan.routes[1].queue",
            "no queue \"salse\"",
        ),
        (
            "ivr = \"mian\"",
            "dialplan.routes[1].ivr",
            "no IVR flow \"mian\"",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        // The shipped flows and prompts, so that only the route is wrong.
        copy_dir(&shipped.join("ivr"), &dir.path().join("ivr"));
        copy_dir(&shipped.join("prompts"), &dir.path().join("prompts"));
        let cfg = dir.path().join("switch.toml");
        std::fs::write(
            &cfg,
            format!(
                "[demo]\nseed = false\n\n[sip]\nlisten = \"127.0.0.1:0\"\n\n\
                 [[dialplan.routes]]\nnumber = \"7001\"\nqueue = \"sales\"\n\n\
                 [[dialplan.routes]]\nnumber = \"7002\"\n{target}\n"
            ),
        )
        .expect("write");
        for args in [&["check-config"][..], &[][..]] {
            let out = Command::new(env!("CARGO_BIN_EXE_hotline-switch"))
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            let expected = format!("{}:13: key `{key}`:", cfg.display());
            assert!(err.contains(&expected), "{args:?}: {err}");
            assert!(err.contains(named), "{args:?}: {err}");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}
