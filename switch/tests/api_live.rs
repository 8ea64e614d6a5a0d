//! The REST API on the running switch, over a real socket: an agent created and given a skill
//! through `/api/v1` while the switch runs logs in on CTI at once with that skill (routing logs
//! her in), and once disabled through the API her next login is refused. No restart between.
//! And the first admin token comes from the real binary's `token create`, stored by hash.

mod cti_util;

use cti_util::{Desk, GUARD, TestSwitch};
use hotline_cti::Reply;
use hotline_store::ApiRole;
use hotline_switch::api::tokens;
use hotline_switch::routing::AgentState as RoutingState;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request on a fresh connection: the status and the JSON body.
async fn http(
    t: &TestSwitch,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut s = tokio::time::timeout(GUARD, tokio::net::TcpStream::connect(t.sw.http))
        .await
        .expect("connect within the guard time")
        .expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: switch\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut text = String::new();
    tokio::time::timeout(GUARD, s.read_to_string(&mut text))
        .await
        .expect("answer within the guard time")
        .expect("read");
    let status: u16 = text[9..12].parse().expect("status");
    let (_, body) = text.split_once("\r\n\r\n").expect("head and body");
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, json)
}

#[tokio::test]
async fn agent_created_through_the_api_logs_in_on_cti_without_a_restart() {
    let t = TestSwitch::start("").await;
    let admin = tokens::issue(&t.sw.store, "ops", ApiRole::Admin, "cli")
        .await
        .expect("token");
    let (status, body) = http(
        &t,
        "POST",
        "/api/v1/agents",
        &admin.secret,
        Some(json!({ "id": "nina", "name": "Nina New", "extension": "2099", "password": "first-day-pw" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        &t,
        "PUT",
        "/api/v1/agents/nina/skills",
        &admin.secret,
        Some(json!({ "skills": [{ "skill": "billing", "proficiency": 4 }] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let mut d = Desk::connect(&t.url()).await;
    d.hello().await;
    match d.login("nina", "first-day-pw").await {
        Ok(Reply::LoggedIn { profile, .. }) => {
            assert_eq!(profile.name, "Nina New");
            assert_eq!(profile.extension.as_str(), "2099");
            let skills: Vec<(String, u8)> = profile
                .skills
                .iter()
                .map(|s| (s.skill.as_str().to_string(), s.level))
                .collect();
            assert_eq!(skills, [("billing".to_string(), 4)]);
        }
        other => panic!("{other:?}"),
    }
    let state = t
        .wait_agent_state("nina", |s| !matches!(s, RoutingState::LoggedOut))
        .await;
    assert!(matches!(state, RoutingState::NotReady { .. }), "{state:?}");

    // Disabled through the API: the next login is refused.
    let (status, body) = http(
        &t,
        "POST",
        "/api/v1/agents/nina/disable",
        &admin.secret,
        None,
    )
    .await;
    assert_eq!((status, &body["active"]), (200, &json!(false)), "{body}");
    let mut again = Desk::connect(&t.url()).await;
    again.hello().await;
    assert!(again.login("nina", "first-day-pw").await.is_err());
    t.sw.shutdown().await.expect("clean shutdown");
}

/// `hotline-switch token …` on the configured database, without SQL.
fn token_cli(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hotline-switch"))
        .env("MALLOC_ARENA_MAX", "2")
        .arg("--config")
        .arg(cfg)
        .arg("token")
        .args(args)
        .output()
        .expect("run hotline-switch token")
}

#[tokio::test]
async fn first_admin_token_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
    std::fs::copy(demo, dir.path().join("demo.toml")).expect("copy demo");
    let db = format!("sqlite://{}/data/hotline.db", dir.path().display());
    let cfg = dir.path().join("switch.toml");
    std::fs::write(&cfg, format!("[database]\nurl = \"{db}\"\n")).expect("write config");

    let out = token_cli(&cfg, &["create", "--role", "admin", "--name", "ops"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with("token 1 (ops, role admin): hl_"), "{line}");
    let secret = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be shown again"));

    let bad = token_cli(&cfg, &["create", "--role", "root", "--name", "x"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown API role"));

    // Only the hash is stored; the creation is audited with the actor `cli`.
    let store = hotline_store::Store::open(&db, hotline_store::StoreOptions::default())
        .await
        .expect("open");
    let t = store
        .api_token_by_hash(&hotline_switch::api::auth::hash_secret(&secret))
        .await
        .unwrap()
        .expect("stored by hash");
    assert_eq!((t.role, t.created_by.as_str()), (ApiRole::Admin, "cli"));
    let audit = store.audit_entries(0, 10).await.unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("cli", "api.token.create")
    );

    let list = token_cli(&cfg, &["list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("1\tadmin\tops\tcli\tno"), "{text}");
    assert!(!text.contains(&secret));
    let revoke = token_cli(&cfg, &["revoke", "1"]);
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    let t = store
        .api_token_by_hash(&hotline_switch::api::auth::hash_secret(&secret))
        .await
        .unwrap()
        .unwrap();
    assert!(t.revoked_at.is_some());
    store.close().await;
}
