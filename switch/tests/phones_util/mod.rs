//! Shared by the tests that drive agents' and supervisors' calls with the demo phones: the
//! switch started in-process (`app::start`: fresh SQLite seeded with the demo data, routing,
//! call control, CTI), phones that register with digest auth and answer by themselves, each
//! sending its own steady tone, and a way to record what a phone hears and find, with Goertzel,
//! which tones are in it.

#![allow(dead_code)]

// One allocator shared by the helpers a test may combine (e.g. sip_util with pg_util).
#[allow(clippy::duplicate_mod)]
#[path = "../ports/mod.rs"]
mod ports;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotline_cti::{Command, Event, EventFrame};
use hotline_media::MediaEngine;
use hotline_switch::app::{Running, StartOptions, start};
use hotline_switch::config::Config;
use hotline_switch::demo::desk::Desk;
use hotline_switch::demo::phone::{Phone, PhoneConfig, PhoneEvent, media_engine};
use tokio::sync::mpsc::UnboundedReceiver;

/// A guard against a hung test, never an assertion about speed.
pub const GUARD: Duration = Duration::from_secs(150);

/// The queue number of the test dial plan (straight into "sales", no IVR).
pub const SALES: &str = "+18005550111";

/// Tones: each party speaks its own frequency.
pub const CALLER_HZ: f32 = 600.0;
pub const AGENT_HZ: f32 = 1000.0;
pub const SUPERVISOR_HZ: f32 = 1400.0;
pub const THIRD_HZ: f32 = 1800.0;

/// A demo phone's tone (amplitude 1500) gives a level of about 1500^2/4 = 562,500 through the
/// switch; "hears" is well above a tenth of that, "does not hear" well below a hundredth.
pub const HEARD: f32 = 50_000.0;
pub const NOT_HEARD: f32 = 5_000.0;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// Runs `f` on a two-thread runtime under the guard.
pub fn run<F: std::future::Future<Output = ()>>(f: F) {
    init_logs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(GUARD, f)
            .await
            .expect("the scenario finishes within the guard time")
    });
}

pub struct Lab {
    pub sw: Running,
    pub sip: SocketAddr,
    pub media: MediaEngine,
    pub dir: tempfile::TempDir,
}

/// A phone and its events.
pub struct TestPhone {
    pub phone: Phone,
    pub events: UnboundedReceiver<PhoneEvent>,
}

impl TestPhone {
    /// Waits for the next event matching `pred`, skipping others.
    pub async fn wait(&mut self, what: &str, pred: impl Fn(&PhoneEvent) -> bool) -> PhoneEvent {
        loop {
            match self.events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => continue,
                None => panic!("phone stopped while waiting for {what}"),
            }
        }
    }

    pub async fn answered(&mut self) {
        self.wait("answered", |e| matches!(e, PhoneEvent::Answered { .. }))
            .await;
    }

    pub async fn ended(&mut self) -> PhoneEvent {
        self.wait("ended", |e| matches!(e, PhoneEvent::Ended { .. }))
            .await
    }
}

impl Lab {
    /// Starts the switch with extensions 1001-1003 (alice, bob, carol), 1901 (sue), 1950 (a
    /// plain desk phone), the sales queue number [`SALES`] and `extra` configuration text.
    pub async fn start(extra: &str) -> Lab {
        Lab::start_with("", extra).await
    }

    /// Like [`Lab::start`], with `media` lines added to the `[media]` table.
    pub async fn start_with(media: &str, extra: &str) -> Lab {
        let dir = tempfile::tempdir().expect("tmp");
        std::os::unix::fs::symlink(root().join("config/ivr"), dir.path().join("ivr")).expect("ivr");
        std::os::unix::fs::symlink(root().join("config/prompts"), dir.path().join("prompts"))
            .expect("prompts");
        std::fs::copy(
            root().join("config/demo.toml"),
            dir.path().join("demo.toml"),
        )
        .expect("demo data");
        let db_url = format!("sqlite://{}/hotline.db", dir.path().display());
        // RTP: the switch and the phones get distinct blocks, spread by process id.
        let base = 20_000 + (std::process::id() % 40) as u16 * 500;
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
ring_timeout_secs = 20

[media]
port_min = {sw_min}
port_max = {sw_max}
workers = 1
recordings_dir = "{rec}"
{media}

[[dialplan.routes]]
number = "{SALES}"
public = true
queue = "sales"

[[extensions]]
number = "1001"
password = "alice-phone"
name = "Alice"

[[extensions]]
number = "1002"
password = "bob-phone"
name = "Bob"

[[extensions]]
number = "1003"
password = "carol-phone"
name = "Carol"

[[extensions]]
number = "1901"
password = "sue-phone"
name = "Sue"

[[extensions]]
number = "1950"
password = "desk-phone"
name = "Front desk"
{extra}
"#,
            sw_min = base,
            sw_max = base + 200,
            rec = dir.path().join("recordings").display(),
        );
        let file = dir.path().join("switch.toml");
        std::fs::write(&file, &text).expect("config");
        let cfg = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let sw = start(cfg, StartOptions::default())
            .await
            .expect("switch starts");
        let sip = sw.sip.expect("call control runs");
        let media = media_engine(base + 300, base + 500).expect("phones' media engine");
        Lab {
            sw,
            sip,
            media,
            dir,
        }
    }

    /// A phone for `ext` that registers and answers after a short ring, speaking `tone_hz`.
    pub async fn phone(&self, ext: &str, password: &str, tone_hz: f32) -> TestPhone {
        let mut pc = PhoneConfig::new(format!("ext {ext}"), ext, self.sip);
        pc.credentials = Some((ext.into(), password.into()));
        pc.register = Some(600);
        pc.auto_answer = Some(Duration::from_millis(300));
        pc.tone_hz = tone_hz;
        let (phone, mut events) = Phone::start(pc, self.media.clone()).await.expect("phone");
        match events.recv().await {
            Some(PhoneEvent::Registered { .. }) => {}
            other => panic!("{ext} did not register: {other:?}"),
        }
        TestPhone { phone, events }
    }

    /// A caller (not registered) from `number`, speaking `tone_hz`.
    pub async fn caller(&self, number: &str, tone_hz: f32) -> TestPhone {
        let mut cc = PhoneConfig::new("caller", number, self.sip);
        cc.tone_hz = tone_hz;
        let (phone, events) = Phone::start(cc, self.media.clone()).await.expect("caller");
        TestPhone { phone, events }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/cti", self.sw.http)
    }

    pub async fn desk(&self, agent: &str) -> Desk {
        Desk::login(&self.url(), agent, &format!("{agent}-demo"))
            .await
            .unwrap_or_else(|e| panic!("{agent} logs in: {e}"))
    }

    /// Records what each phone hears for `secs` (after a short settling pause) and returns
    /// the samples, in the order of `phones`.
    pub async fn listen(&self, phones: &[&TestPhone], tag: &str, secs: f32) -> Vec<Vec<i16>> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let paths: Vec<PathBuf> = (0..phones.len())
            .map(|i| self.dir.path().join(format!("heard-{tag}-{i}.wav")))
            .collect();
        for (p, path) in phones.iter().zip(&paths) {
            p.phone.record(Some(path.clone()));
        }
        tokio::time::sleep(Duration::from_secs_f32(secs)).await;
        for p in phones {
            p.phone.record(None);
        }
        let want = (secs * 8000.0 * 0.6) as usize;
        let mut out = Vec::new();
        for path in &paths {
            let mut tries = 0;
            let pcm = loop {
                if let Ok(bytes) = std::fs::read(path)
                    && let Ok(p) = hotline_media::wav::parse_wav(&bytes)
                    && p.len() >= want
                {
                    break p.to_vec();
                }
                tries += 1;
                assert!(tries < 200, "no finished recording at {}", path.display());
                tokio::time::sleep(Duration::from_millis(25)).await;
            };
            out.push(pcm);
        }
        out
    }
}

/// The level of `hz` in `samples`, leaving out the first 100 ms.
pub fn level(samples: &[i16], hz: f32) -> f32 {
    let skip = samples.len().min(800);
    hotline_media::inband::tone_level(&samples[skip..], hz)
}

/// Asserts that `who` hears each tone of `heard` and none of `not_heard`.
pub fn assert_hears(who: &str, phase: &str, samples: &[i16], heard: &[f32], not_heard: &[f32]) {
    for &hz in heard {
        let l = level(samples, hz);
        assert!(
            l > HEARD,
            "{phase}: {who} should hear {hz} Hz, level {l:.0} (needs > {HEARD})"
        );
    }
    for &hz in not_heard {
        let l = level(samples, hz);
        assert!(
            l < NOT_HEARD,
            "{phase}: {who} must not hear {hz} Hz, level {l:.0} (needs < {NOT_HEARD})"
        );
    }
}

/// Waits for the next CTI event matching `pred`, skipping others.
pub async fn event_where(desk: &mut Desk, what: &str, pred: impl Fn(&Event) -> bool) -> EventFrame {
    loop {
        match desk.event().await {
            Ok(Some(e)) if pred(&e.event) => return e,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("CTI closed while waiting for {what}"),
            Err(e) => panic!("CTI error while waiting for {what}: {e}"),
        }
    }
}

/// The call id of the call connected at `desk`.
pub async fn connected_call(desk: &mut Desk) -> hotline_cti::CallId {
    let e = event_where(
        desk,
        "connected",
        |e| matches!(e, Event::CallChanged(i) if i.state == hotline_cti::CallState::Connected),
    )
    .await;
    match e.event {
        Event::CallChanged(i) => i.call,
        _ => unreachable!(),
    }
}

/// Sends a command and returns the switch's verdict.
pub async fn request(desk: &mut Desk, cmd: Command) -> Result<(), String> {
    match desk.request(cmd).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.message),
        Err(e) => panic!("CTI transport: {e}"),
    }
}

/// A port that is free now on UDP and TCP, on 127.0.0.1, outside the ephemeral range.
pub fn free_port() -> u16 {
    ports::take(1)
}

impl Lab {
    /// A phone that does not register, listening on `port` (a trunk's carrier, say), answering
    /// after a short ring, speaking `tone_hz`.
    pub async fn peer_at(&self, port: u16, tone_hz: f32) -> TestPhone {
        let mut pc = PhoneConfig::new(format!("peer {port}"), "carrier", self.sip);
        pc.bind = SocketAddr::from(([127, 0, 0, 1], port));
        pc.auto_answer = Some(Duration::from_millis(300));
        pc.tone_hz = tone_hz;
        let (phone, events) = Phone::start(pc, self.media.clone()).await.expect("peer");
        TestPhone { phone, events }
    }

    /// The call record of `call` once its end is written (the writer is asynchronous).
    pub async fn ended_record(&self, call: &hotline_cti::CallId) -> hotline_store::CallRecord {
        loop {
            if let Some(r) = self.sw.store.call(call.as_str()).await.expect("read call")
                && r.ended_at.is_some()
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Places a call from `caller` to the sales queue.
    pub fn call_sales(&self, caller: &TestPhone) {
        caller.phone.call(hotline_switch::demo::phone::CallScript {
            number: SALES.into(),
            digits: vec![],
            hang_up_after: None,
        });
    }
}

/// Waits until `desk` sees its call `call` change to `state`.
pub async fn call_state(
    desk: &mut Desk,
    call: &hotline_cti::CallId,
    state: hotline_cti::CallState,
) -> hotline_cti::CallInfo {
    let e = event_where(
        desk,
        &format!("{state:?}"),
        |e| matches!(e, Event::CallChanged(i) if &i.call == call && i.state == state),
    )
    .await;
    match e.event {
        Event::CallChanged(i) => i,
        _ => unreachable!(),
    }
}

/// Waits until `desk` sees a consultation leg of `call` in `state` and returns its info.
pub async fn consult_state(
    desk: &mut Desk,
    call: &hotline_cti::CallId,
    state: hotline_cti::CallState,
) -> hotline_cti::CallInfo {
    let e = event_where(desk, &format!("consult {state:?}"), |e| {
        matches!(e, Event::CallChanged(i)
            if i.consult_of.as_ref() == Some(call) && i.state == state)
    })
    .await;
    match e.event {
        Event::CallChanged(i) => i,
        _ => unreachable!(),
    }
}

/// A finished WAV file's channels (16-bit PCM, any channel count), once the writer has
/// finalised it (polls up to ten seconds).
pub async fn wav_channels(path: &Path) -> Vec<Vec<i16>> {
    for _ in 0..400 {
        if let Ok(b) = std::fs::read(path)
            && let Some(ch) = parse_channels(&b)
            && ch.first().is_some_and(|c| !c.is_empty())
        {
            return ch;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no finished recording at {}", path.display());
}

fn parse_channels(b: &[u8]) -> Option<Vec<Vec<i16>>> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut i = 12;
    let mut channels = 0usize;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().ok()?) as usize;
        let body = b.get(i + 8..(i + 8 + len).min(b.len()))?;
        if id == b"fmt " && body.len() >= 16 {
            channels = u16::from_le_bytes([body[2], body[3]]) as usize;
        }
        if id == b"data" && channels > 0 {
            let mut out = vec![Vec::new(); channels];
            for (k, s) in body.chunks_exact(2).enumerate() {
                out[k % channels].push(i16::from_le_bytes([s[0], s[1]]));
            }
            return Some(out);
        }
        i += 8 + len + (len & 1);
    }
    None
}
