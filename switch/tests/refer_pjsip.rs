//! Transfers by REFER from a real SIP phone stack, end to end through the real `hotline-switch`
//! binary: three PJSIP phones (pjsua2, `tests/phones/pjsua_transfer.py`, one Python process)
//! register as 1001, 1002 and 1003 with SHA-256 digest (the switch's default), and
//!
//! - **blind**: 1001 calls 1002, 1002 answers and transfers with `REFER` to 1003: 1002 sees the
//!   final `NOTIFY` 200 and is hung up by the switch, 1003 rings and answers, 1001 stays in its
//!   call and 1003 hears 1001's tone through the switch;
//! - **attended**: 1001 calls 1002, 1002 holds, calls 1003, then sends `REFER` with `Replaces`
//!   naming its call to 1003: both of 1002's calls are hung up by the switch, 1001 and 1003 stay
//!   up and 1003 now hears 1001's tone.
//!
//! Then 1001 hangs up and 1003's call ends (they were joined). The call records say: the first
//! call has a `transferred` event and ended once, when the caller hung up; the attended one's
//! second call ended "transferred".
//!
//! With two media workers, the attended transfer moves 1003's leg to the caller's worker: the
//! switch re-INVITEs 1003 to its new port and 1003 still hears 1001.
//!
//! A REFER from the caller's side (403) or to a number with no route (404) changes nothing:
//! the call goes on, 1003 never rings, the record has no transfer.
//!
//! Each transfer mode runs twice: with a transferring phone that waits for the switch's BYE, and with one
//! that hangs up by itself on the final NOTIFY 200 (as pjsua's sample app and many softphones
//! do), so its BYE crosses the switch's; the same outcome and records are expected.
//!
//! pjsua2 must be importable by `python3` (`python3 -m pip install pjsua2-python`; `.ci/run`
//! installs it): without it these tests fail, they do not skip. The script bounds every wait
//! and runs under `timeout`; the child is killed on drop.

mod sip_util;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sip_util::{Setup, Switch, root};

const CAROL: &str = r#"
[[extensions]]
number = "1003"
password = "carol-phone"
name = "Carol"
"#;

/// The script, killed (through `timeout`, which passes SIGTERM on) when dropped.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let pid = rustix::process::Pid::from_raw(self.0.id() as i32);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Fails with a clear message when pjsua2 cannot be imported.
fn require_pjsua2() {
    let out = Command::new("timeout")
        .args(["30", "python3", "-c", "import pjsua2"])
        .output()
        .expect("run python3 (is it installed?)");
    assert!(
        out.status.success(),
        "pjsua2 is not importable by python3: install it with \
         `python3 -m pip install pjsua2-python` (.ci/run does). {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Outcome {
    result: Value,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
    pjlog: PathBuf,
}

impl Outcome {
    fn passed(&self) -> bool {
        self.result["result"] == "pass"
    }

    /// Everything needed to see why it failed.
    fn explain(&self, sw: &Switch) -> String {
        let pj = std::fs::read_to_string(&self.pjlog).unwrap_or_default();
        let tail: Vec<&str> = pj.lines().rev().take(400).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let logs = sw.logs.lock().expect("logs").clone();
        format!(
            "script result: {}\n--- script stdout\n{}\n--- script stderr\n{}\n--- PJSIP log \
             (tail)\n{}\n--- switch log\n{}",
            self.result,
            self.stdout,
            self.stderr,
            tail.join("\n"),
            logs.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// How the transferring phone behaves once the transfer succeeded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transferor {
    /// Waits for the switch's BYE.
    Waits,
    /// Hangs up itself on the final NOTIFY 200 (pjsua's sample app and many softphones do),
    /// so its BYE crosses the switch's.
    HangsUp,
}

/// Runs the script in `mode` against the switch (`extra`: more arguments for the script).
fn run_phones(sw: &Switch, mode: &str, transferor: Transferor, extra: &[&str]) -> Outcome {
    require_pjsua2();
    let script = root().join("tests/phones/pjsua_transfer.py");
    let pjlog = sw.dir.path().join(format!("pjsip-{mode}.log"));
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", "120", "python3"])
        .arg(&script)
        .args(["--switch", &sw.sip.to_string(), "--mode", mode])
        .args(["--password", "1001=alice-phone"])
        .args(["--password", "1002=bob-phone"])
        .args(["--password", "1003=carol-phone"])
        .arg("--pjlog")
        .arg(&pjlog);
    if transferor == Transferor::HangsUp {
        cmd.arg("--transferor-hangs-up");
    }
    cmd.args(extra);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let script = Script(child);
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        lines.push(line);
    }
    drop(script); // exited (stdout closed) or is stopped now
    let stderr = err_reader.join().unwrap_or_default();
    let events: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let result = events
        .iter()
        .rev()
        .find(|v| v.get("result").is_some())
        .cloned()
        .unwrap_or(Value::Null);
    Outcome {
        result,
        events,
        stdout: lines.join("\n"),
        stderr,
        pjlog,
    }
}

/// A call's record and its stored event kinds (waits until its end is written).
fn record(sw: &Switch, id: &str) -> (hotline_store::CallRecord, Vec<String>) {
    let rec = sw.call_records(&[id.to_string()]).remove(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let kinds = rt.block_on(async {
        let store = hotline_store::Store::open(&sw.db_url, Default::default())
            .await
            .expect("open store");
        let k = store.call_event_kinds(id).await.expect("kinds");
        store.close().await;
        k
    });
    (rec, kinds)
}

fn switch(media_workers: usize) -> Switch {
    Switch::start(Setup {
        media_workers,
        extra: CAROL.to_string(),
        // What the switch asks of phones by default: SHA-256 digest, checked against the
        // request URI.
        algorithms: Some(r#"["SHA-256"]"#.into()),
        uri_check: "request-uri",
        ..Setup::default()
    })
}

/// The call `ani` -> `dnis` among the ended ones.
fn call_between(sw: &Switch, ended: &[String], ani: &str, dnis: &str) -> String {
    let recs = sw.call_records(ended);
    recs.into_iter()
        .find(|r| r.ani == ani && r.dnis == dnis)
        .map(|r| r.id)
        .unwrap_or_else(|| panic!("no call {ani} -> {dnis} among {ended:?}"))
}

fn ended_once(ended: &[String], id: &str) {
    let n = ended.iter().filter(|e| *e == id).count();
    assert_eq!(n, 1, "call {id} ended {n} times: {ended:?}");
}

/// Blind: one call, transferred once, ended once by the caller.
fn blind(transferor: Transferor) {
    let sw = switch(1);
    let out = run_phones(&sw, "blind", transferor, &[]);
    assert!(out.passed(), "{}", out.explain(&sw));
    // The phone saw the switch's 202 and NOTIFY 200 (the script checked the final status).
    assert!(
        out.events
            .iter()
            .any(|e| e["event"] == "xfer_status" && e["code"] == 200 && e["final"] == true),
        "{}",
        out.explain(&sw)
    );
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "one call, transferred: {ended:?}");
    let first = call_between(&sw, &ended, "1001", "1002");
    ended_once(&ended, &first);
    let (rec, kinds) = record(&sw, &first);
    assert!(
        kinds.iter().any(|k| k == "transferred"),
        "no transferred event: {kinds:?}"
    );
    assert_eq!(rec.transfers, 1, "{rec:?}");
    assert!(rec.answered_at.is_some(), "{rec:?}");
    assert_eq!(rec.end_reason.as_deref(), Some("caller hung up"), "{rec:?}");
    assert!(!rec.abandoned, "{rec:?}");
}

/// Attended: the call and the consultation; the consultation ends "transferred", the call
/// once, by the caller. With two media workers the consultation's legs are on the other worker
/// (sessions without a neighbour take workers in turn), so the target is re-INVITEd onto the
/// caller's.
fn attended(transferor: Transferor, media_workers: usize) {
    let sw = switch(media_workers);
    let extra: &[&str] = if media_workers > 1 {
        &["--expect-reinvite"]
    } else {
        &[]
    };
    let out = run_phones(&sw, "attended", transferor, extra);
    assert!(out.passed(), "{}", out.explain(&sw));
    let ended = sw.wait_ended(2);
    assert_eq!(ended.len(), 2, "the call and the consultation: {ended:?}");
    let first = call_between(&sw, &ended, "1001", "1002");
    let second = call_between(&sw, &ended, "1002", "1003");
    ended_once(&ended, &first);
    ended_once(&ended, &second);
    let (rec, kinds) = record(&sw, &first);
    assert!(
        kinds.iter().any(|k| k == "transferred"),
        "no transferred event: {kinds:?}"
    );
    assert_eq!(rec.transfers, 1, "{rec:?}");
    assert_eq!(rec.end_reason.as_deref(), Some("caller hung up"), "{rec:?}");
    assert!(rec.answered_at.is_some() && !rec.abandoned, "{rec:?}");
    let (rec2, _) = record(&sw, &second);
    assert_eq!(rec2.end_reason.as_deref(), Some("transferred"), "{rec2:?}");
    assert!(rec2.answered_at.is_some(), "{rec2:?}");
}

#[test]
fn blind_transfer_by_refer_from_a_pjsip_phone() {
    blind(Transferor::Waits);
}

#[test]
fn blind_transfer_when_the_phone_hangs_up_on_success_itself() {
    blind(Transferor::HangsUp);
}

#[test]
fn attended_transfer_by_refer_with_replaces_from_a_pjsip_phone() {
    attended(Transferor::Waits, 1);
}

#[test]
fn attended_transfer_reinvites_the_target_onto_the_callers_media_worker() {
    attended(Transferor::Waits, 2);
}

#[test]
fn attended_transfer_when_the_phone_hangs_up_on_success_itself() {
    attended(Transferor::HangsUp, 1);
}

#[test]
fn refer_from_the_caller_or_to_an_unknown_number_is_refused_and_the_call_goes_on() {
    let sw = switch(1);
    let out = run_phones(&sw, "refused", Transferor::Waits, &[]);
    assert!(out.passed(), "{}", out.explain(&sw));
    let ended = sw.wait_ended(1);
    assert_eq!(ended.len(), 1, "{ended:?}");
    let (rec, kinds) = record(&sw, &ended[0]);
    assert!(
        !kinds.iter().any(|k| k == "transferred"),
        "a refused REFER left a transferred event: {kinds:?}"
    );
    assert_eq!(rec.transfers, 0, "{rec:?}");
    assert_eq!(rec.end_reason.as_deref(), Some("caller hung up"), "{rec:?}");
}
