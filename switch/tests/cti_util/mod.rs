//! Shared by the `cti_*` tests: a switch started in-process on 127.0.0.1 (port 0) with a fresh
//! SQLite file seeded with the demo agents, call control left out (the test plays it through
//! the bus and routing), and a small WebSocket desktop client.

#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AgentId, ClientFrame, Command, ErrorBody, Event, EventFrame, Reply, RequestId, Secret, Seq,
    ServerFrame, decode_server, encode_client,
};
use hotline_switch::app::{Running, StartOptions, start};
use hotline_switch::config::Config;
use tokio_tungstenite::tungstenite::Message;

/// A guard against a hung test, never an assertion about speed.
pub const GUARD: Duration = Duration::from_secs(20);

pub struct TestSwitch {
    pub sw: Running,
    _dir: tempfile::TempDir,
}

impl TestSwitch {
    /// Starts a switch; `cti` is extra text for the `[cti]` table.
    pub async fn start(cti: &str) -> TestSwitch {
        let dir = tempfile::tempdir().expect("tmp");
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo.toml");
        std::fs::copy(demo, dir.path().join("demo.toml")).expect("copy demo");
        let db = format!("sqlite://{}/hotline.db", dir.path().display());
        let text = format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n\n[database]\nurl = \"{db}\"\n\n[log]\nlevel = \"warn\"\n\n[cti]\n{cti}\n"
        );
        let file = dir.path().join("switch.toml");
        std::fs::write(&file, &text).expect("write config");
        let cfg = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let sw = start(
            cfg,
            StartOptions {
                call_control: false,
            },
        )
        .await
        .expect("switch starts");
        TestSwitch { sw, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/cti", self.sw.http)
    }

    /// The SQLite database's URL (to count rows from outside the switch).
    pub fn db_url(&self) -> String {
        format!("sqlite://{}/hotline.db", self._dir.path().display())
    }

    /// `GET /metrics` over a plain HTTP/1.1 connection; the body.
    pub async fn metrics(&self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::time::timeout(GUARD, tokio::net::TcpStream::connect(self.sw.http))
            .await
            .expect("connect within the guard time")
            .expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: switch\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut text = String::new();
        tokio::time::timeout(GUARD, s.read_to_string(&mut text))
            .await
            .expect("metrics within the guard time")
            .expect("read");
        text
    }

    /// Connects, says hello and logs in; panics if the login fails.
    pub async fn desk(&self, agent: &str, password: &str) -> Desk {
        let mut d = Desk::connect(&self.url()).await;
        d.hello().await;
        d.login(agent, password).await.expect("login");
        d
    }

    /// Waits until routing reports `pred` for the agent (bounded by [`GUARD`]).
    pub async fn wait_agent_state(
        &self,
        agent: &str,
        pred: impl Fn(&hotline_switch::routing::AgentState) -> bool,
    ) -> hotline_switch::routing::AgentState {
        let id = hotline_switch::routing::AgentId::new(agent);
        tokio::time::timeout(GUARD, async {
            loop {
                if let Ok(Some(s)) = self.sw.routing.agent_state(&id).await
                    && pred(&s)
                {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("agent state reached")
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A minimal desktop: requests with ids, events buffered while waiting for a response.
pub struct Desk {
    ws: Ws,
    next: u64,
    pending: std::collections::VecDeque<EventFrame>,
    /// The session token after login.
    pub session: Option<String>,
    /// The last event seq handed to the test.
    pub last_seq: Seq,
}

impl Desk {
    pub async fn connect(url: &str) -> Desk {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Desk::new(ws)
    }

    /// Connects from a chosen local address (127.0.0.2, ... stand in for other machines).
    pub async fn connect_from(url: &str, local: std::net::IpAddr) -> Desk {
        Desk::connect_with(url, local, None).await
    }

    /// Connects with a small receive buffer, for a peer that will not read.
    pub async fn connect_not_reading(url: &str, local: std::net::IpAddr) -> Desk {
        Desk::connect_with(url, local, Some(4096)).await
    }

    async fn connect_with(url: &str, local: std::net::IpAddr, recv_buffer: Option<u32>) -> Desk {
        let server: std::net::SocketAddr = url
            .trim_start_matches("ws://")
            .trim_end_matches("/cti")
            .parse()
            .expect("ws://ip:port/cti");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        socket
            .bind(std::net::SocketAddr::new(local, 0))
            .expect("bind the local address");
        let tcp = tokio::time::timeout(GUARD, socket.connect(server))
            .await
            .expect("connect within the guard time")
            .expect("connect");
        let (ws, _) = tokio::time::timeout(
            GUARD,
            tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)),
        )
        .await
        .expect("handshake within the guard time")
        .expect("websocket handshake");
        Desk::new(ws)
    }

    fn new(ws: Ws) -> Desk {
        Desk {
            ws,
            next: 1,
            pending: Default::default(),
            session: None,
            last_seq: Seq(0),
        }
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next server frame, or `None` when the server closed the connection.
    pub async fn frame(&mut self) -> Option<ServerFrame> {
        loop {
            let msg = tokio::time::timeout(GUARD, self.ws.next())
                .await
                .expect("server frame within the guard time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(decode_server(t.as_str()).expect("valid server frame"));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends a command without waiting for its response (see [`Desk::response`]).
    pub async fn send(&mut self, cmd: Command) -> RequestId {
        let id = RequestId(self.next);
        self.next += 1;
        let text = encode_client(&ClientFrame { id, cmd }).expect("encode");
        self.send_raw(&text).await;
        id
    }

    /// Sends a command and returns its response; events arriving first are kept.
    pub async fn request(&mut self, cmd: Command) -> Result<Reply, ErrorBody> {
        let id = self.send(cmd).await;
        self.response(id).await
    }

    /// The response to `id` (responses come in request order); events arriving first are kept.
    pub async fn response(&mut self, id: RequestId) -> Result<Reply, ErrorBody> {
        loop {
            match self.frame().await.expect("connection open") {
                ServerFrame::Response(r) if r.re == id => return r.result,
                ServerFrame::Response(r) => panic!("response to unknown request {:?}", r.re),
                ServerFrame::Event(e) => self.pending.push_back(e),
            }
        }
    }

    pub async fn hello(&mut self) {
        let r = self
            .request(Command::Hello {
                versions: vec![1],
                client: "cti-test".into(),
            })
            .await;
        assert!(matches!(r, Ok(Reply::Welcome { version: 1, .. })), "{r:?}");
    }

    pub async fn login(&mut self, agent: &str, password: &str) -> Result<Reply, ErrorBody> {
        let r = self
            .request(Command::Login {
                agent: AgentId::new(agent),
                password: Secret::new(password),
                extension: None,
            })
            .await;
        if let Ok(Reply::LoggedIn { session, .. }) = &r {
            self.session = Some(session.expose().to_string());
        }
        r
    }

    /// The next event (buffered first).
    pub async fn event(&mut self) -> EventFrame {
        let e = match self.pending.pop_front() {
            Some(e) => e,
            None => match self.frame().await.expect("connection open") {
                ServerFrame::Event(e) => e,
                ServerFrame::Response(r) => panic!("unexpected response {r:?}"),
            },
        };
        self.last_seq = e.seq;
        e
    }

    /// Skips events until one matches.
    pub async fn event_where(&mut self, pred: impl Fn(&Event) -> bool) -> EventFrame {
        loop {
            let e = self.event().await;
            if pred(&e.event) {
                return e;
            }
        }
    }

    /// Sends a WebSocket ping every `every` (answering nothing else) until the server closes
    /// the connection; false if it is still open after [`GUARD`].
    pub async fn ping_until_closed(&mut self, every: Duration) -> bool {
        let give_up = tokio::time::Instant::now() + GUARD;
        while tokio::time::Instant::now() < give_up {
            if self.ws.send(Message::Ping(vec![1].into())).await.is_err() {
                return true;
            }
            if let Ok(Some(Ok(Message::Close(_))) | None | Some(Err(_))) =
                tokio::time::timeout(every, self.ws.next()).await
            {
                return true;
            }
        }
        false
    }

    /// Sends `text` again and again without reading anything until the server closes the
    /// connection (a write fails); false if writes still succeed, or one hangs, after [`GUARD`].
    pub async fn send_until_closed(&mut self, text: &str) -> bool {
        let give_up = tokio::time::Instant::now() + GUARD;
        loop {
            match tokio::time::timeout_at(give_up, self.ws.send(Message::Text(text.into()))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Waits for the server to close the connection, ignoring frames meanwhile.
    pub async fn closed(&mut self) {
        while self.frame().await.is_some() {}
    }
}
