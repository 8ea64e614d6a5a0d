//! The CTI client against a scripted WebSocket server on 127.0.0.1: hello and login, events in
//! order, then the connection drops; the client reconnects with back-off, resumes the session
//! with its last seq, ignores a replayed duplicate, passes a command's error reply to the UI,
//! and on an event gap resyncs through another resume.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AgentProfile, AgentState, ClientFrame, Command, ErrorCode, Event, Reply, Resync, Role, Secret,
    Seq, ServerFrame, Snapshot, decode_client, encode_server,
};
use hotline_desktop::client::{self, ClientConfig, ClientRequest, ClientUpdate, ConnState};
use hotline_desktop::sample;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn recv(ws: &mut Ws) -> ClientFrame {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return decode_client(t.as_str()).expect("client frame"),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, frame: ServerFrame) {
    let text = encode_server(&frame).expect("encode");
    ws.send(Message::text(text)).await.expect("send");
}

/// Receives the next non-heartbeat command.
async fn recv_cmd(ws: &mut Ws) -> ClientFrame {
    loop {
        let f = recv(ws).await;
        if f.cmd != Command::Heartbeat {
            return f;
        }
        send(ws, ServerFrame::ok(f.id, Reply::Beat { last_seq: Seq(0) })).await;
    }
}

async fn handshake_hello(ws: &mut Ws) {
    let hello = recv_cmd(ws).await;
    assert!(matches!(hello.cmd, Command::Hello { ref versions, .. } if versions == &[1]));
    send(
        ws,
        ServerFrame::ok(
            hello.id,
            Reply::Welcome {
                version: 1,
                server: "fake".into(),
                heartbeat_secs: 30,
                max_frame_bytes: 65536,
            },
        ),
    )
    .await;
}

fn state_event(state: AgentState) -> Event {
    Event::AgentStateChanged(sample::status(state, None, 1000))
}

async fn server(listener: TcpListener) {
    // Connection 1: login, two events, then the network drops.
    let (tcp, _) = listener.accept().await.expect("accept 1");
    let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws 1");
    handshake_hello(&mut ws).await;
    let login = recv_cmd(&mut ws).await;
    match &login.cmd {
        Command::Login {
            agent, password, ..
        } => {
            assert_eq!(agent.as_str(), "1001");
            assert_eq!(password.expose(), "pw");
        }
        other => panic!("expected login, got {other:?}"),
    }
    send(
        &mut ws,
        ServerFrame::ok(
            login.id,
            Reply::LoggedIn {
                session: Secret::new("s-1"),
                role: Role::Agent,
                profile: AgentProfile {
                    agent: "1001".into(),
                    name: "Alice".into(),
                    extension: "2001".into(),
                    skills: vec![],
                    remote_answer: false,
                    queues: Vec::new(),
                },
                not_ready_reasons: vec!["break".into()],
                dispositions: vec!["resolved".into()],
            },
        ),
    )
    .await;
    let snapshot = Event::Snapshot(Box::new(Snapshot {
        agent: sample::status(AgentState::NotReady, Some("break"), 1000),
        calls: vec![],
        screen_pop: None,
        wrap_up: None,
    }));
    send(&mut ws, ServerFrame::event(Seq(1), snapshot)).await;
    send(
        &mut ws,
        ServerFrame::event(Seq(2), state_event(AgentState::Ready)),
    )
    .await;
    drop(ws);

    // Connection 2: resume from seq 2; replay seq 3, a stale duplicate of seq 2, then answer a
    // command with an error, then skip seq 4 (a gap).
    let (tcp, _) = listener.accept().await.expect("accept 2");
    let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws 2");
    handshake_hello(&mut ws).await;
    let resume = recv_cmd(&mut ws).await;
    assert!(
        matches!(&resume.cmd, Command::ResumeSession { session, last_seq }
            if session.expose() == "s-1" && *last_seq == Seq(2)),
        "{:?}",
        resume.cmd
    );
    send(
        &mut ws,
        ServerFrame::ok(
            resume.id,
            Reply::Resumed {
                resync: Resync::Replay {
                    from_seq: Seq(3),
                    to_seq: Seq(3),
                },
            },
        ),
    )
    .await;
    send(
        &mut ws,
        ServerFrame::event(Seq(3), state_event(AgentState::Ringing)),
    )
    .await;
    send(
        &mut ws,
        ServerFrame::event(Seq(2), state_event(AgentState::Ready)),
    )
    .await;
    let answer = recv_cmd(&mut ws).await;
    assert!(matches!(answer.cmd, Command::Answer { .. }));
    send(
        &mut ws,
        ServerFrame::error(answer.id, ErrorCode::InvalidState, "no call is ringing"),
    )
    .await;
    send(
        &mut ws,
        ServerFrame::event(Seq(5), state_event(AgentState::OnCall)),
    )
    .await;

    // Connection 3: the client noticed the gap and resumes from seq 3.
    let (tcp, _) = listener.accept().await.expect("accept 3");
    let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws 3");
    handshake_hello(&mut ws).await;
    let resume = recv_cmd(&mut ws).await;
    assert!(
        matches!(&resume.cmd, Command::ResumeSession { last_seq, .. } if *last_seq == Seq(3)),
        "{:?}",
        resume.cmd
    );
    send(
        &mut ws,
        ServerFrame::ok(
            resume.id,
            Reply::Resumed {
                resync: Resync::Snapshot,
            },
        ),
    )
    .await;
    let snapshot = Event::Snapshot(Box::new(Snapshot {
        agent: sample::status(AgentState::OnCall, None, 1000),
        calls: vec![],
        screen_pop: None,
        wrap_up: None,
    }));
    send(&mut ws, ServerFrame::event(Seq(6), snapshot)).await;
    // Keep the connection until the client shuts down.
    while let Some(Ok(_)) = ws.next().await {}
}

#[test]
fn reconnects_resumes_and_resyncs_on_a_gap() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("ws://{}/cti", listener.local_addr().expect("addr"));
    let server = rt.spawn(server(listener));

    let config = ClientConfig {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..ClientConfig::default()
    };
    let (channels, thread) = client::spawn(config, Arc::new(|| {})).expect("spawn");
    channels
        .requests
        .send(ClientRequest::Login {
            url,
            agent: "1001".into(),
            password: Secret::new("pw"),
            extension: None,
        })
        .expect("login");

    let next = || {
        channels
            .updates
            .recv_timeout(Duration::from_secs(10))
            .expect("an update within 10 s")
    };
    let mut log = Vec::new();
    let mut answered = false;
    loop {
        let u = next();
        let done = matches!(&u, ClientUpdate::Event(Event::Snapshot(s)) if s.agent.state == AgentState::OnCall);
        if matches!(&u, ClientUpdate::Event(e) if *e == state_event(AgentState::Ringing))
            && !answered
        {
            answered = true;
            channels
                .requests
                .send(ClientRequest::Send(Command::Answer {
                    call: sample::call(),
                }))
                .expect("send");
        }
        log.push(u);
        if done {
            break;
        }
    }
    let summary: Vec<String> = log
        .iter()
        .map(|u| match u {
            ClientUpdate::Connection(ConnState::Reconnecting { .. }) => "reconnecting".into(),
            ClientUpdate::Connection(c) => format!("{c:?}"),
            ClientUpdate::LoggedIn { .. } => "logged_in".into(),
            ClientUpdate::LoginFailed(e) => format!("login_failed {e:?}"),
            ClientUpdate::Reply { kind, result, .. } => {
                format!(
                    "reply {kind} {}",
                    if result.is_ok() { "ok" } else { "error" }
                )
            }
            ClientUpdate::Event(Event::AgentStateChanged(s)) => format!("state {:?}", s.state),
            ClientUpdate::Event(e) => e.kind().to_owned(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "Connecting",
            "logged_in",
            "Connected",
            "snapshot",
            "state Ready",
            "reconnecting",
            "Connected",
            "state Ringing",
            "reply answer error",
            "reconnecting",
            "Connected",
            "snapshot",
        ],
        "the duplicate seq 2 and the out-of-order seq 5 must not reach the UI"
    );
    channels
        .requests
        .send(ClientRequest::Shutdown)
        .expect("shutdown");
    thread.join().expect("client thread ends");
    rt.block_on(server).expect("server script passed");
}

/// A switch that shuts down gracefully (`logged_out: shutdown`) and comes back: the client keeps
/// the agent's credentials, tries to resume, is told the session is gone, and logs in again.
#[test]
fn a_switch_restart_logs_the_agent_in_again() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let url = format!("ws://{}/cti", listener.local_addr().expect("addr"));
    let logged_in = |id| {
        ServerFrame::ok(
            id,
            Reply::LoggedIn {
                session: Secret::new("s-1"),
                role: Role::Agent,
                profile: AgentProfile {
                    agent: "1001".into(),
                    name: "Alice".into(),
                    extension: "2001".into(),
                    skills: vec![],
                    remote_answer: false,
                    queues: Vec::new(),
                },
                not_ready_reasons: vec![],
                dispositions: vec![],
            },
        )
    };
    let server = rt.spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept 1");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws 1");
        handshake_hello(&mut ws).await;
        let login = recv_cmd(&mut ws).await;
        send(&mut ws, logged_in(login.id)).await;
        send(
            &mut ws,
            ServerFrame::event(
                Seq(1),
                Event::LoggedOut {
                    reason: hotline_cti::LogoutReason::Shutdown,
                },
            ),
        )
        .await;
        drop(ws);

        let (tcp, _) = listener.accept().await.expect("accept 2");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("ws 2");
        handshake_hello(&mut ws).await;
        let resume = recv_cmd(&mut ws).await;
        assert!(
            matches!(resume.cmd, Command::ResumeSession { .. }),
            "{:?}",
            resume.cmd
        );
        send(
            &mut ws,
            ServerFrame::error(resume.id, ErrorCode::SessionUnknown, "no such session"),
        )
        .await;
        let login = recv_cmd(&mut ws).await;
        assert!(
            matches!(login.cmd, Command::Login { .. }),
            "{:?}",
            login.cmd
        );
        send(&mut ws, logged_in(login.id)).await;
        while let Some(Ok(_)) = ws.next().await {}
    });

    let config = ClientConfig {
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        ..ClientConfig::default()
    };
    let (channels, thread) = client::spawn(config, Arc::new(|| {})).expect("spawn");
    channels
        .requests
        .send(ClientRequest::Login {
            url,
            agent: "1001".into(),
            password: Secret::new("pw"),
            extension: None,
        })
        .expect("login");
    let mut logins = 0;
    let mut saw_shutdown = false;
    while logins < 2 {
        match channels
            .updates
            .recv_timeout(Duration::from_secs(10))
            .expect("an update within 10 s")
        {
            ClientUpdate::LoggedIn { .. } => logins += 1,
            ClientUpdate::Event(Event::LoggedOut { .. }) => saw_shutdown = true,
            ClientUpdate::Connection(ConnState::Offline) => panic!("went offline on a restart"),
            ClientUpdate::LoginFailed(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    assert!(saw_shutdown);
    channels
        .requests
        .send(ClientRequest::Shutdown)
        .expect("shutdown");
    thread.join().expect("client thread ends");
    rt.block_on(server).expect("server script passed");
}
