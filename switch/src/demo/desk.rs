//! A headless agent desktop for the demo and for tests: the CTI protocol (`hotline-cti`
//! frames) over a real WebSocket (tokio-tungstenite), plus [`simulate_agent`], the loop that
//! plays a demo agent: log in, go ready, take the screen pop, wrap up each call with a
//! disposition and go ready again.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hotline_cti::{
    AfterWrapUp, AgentId, CallId, ClientFrame, Command, Disposition, ErrorBody, Event, EventFrame,
    Reply, RequestId, Secret, ServerFrame, decode_server, encode_client,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::DemoError;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One CTI connection: requests with ids, events kept while a response is awaited.
pub struct Desk {
    ws: Ws,
    next: u64,
    pending: VecDeque<EventFrame>,
    /// Heartbeat interval the server asked for (`welcome`).
    pub heartbeat: Duration,
    /// The dispositions offered at login.
    pub dispositions: Vec<Disposition>,
}

impl Desk {
    /// Connects to `url` (`ws://host:port/cti`) and says hello.
    pub async fn connect(url: &str) -> Result<Desk, DemoError> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| DemoError::Cti(format!("connect {url}: {e}")))?;
        let mut d = Desk {
            ws,
            next: 1,
            pending: VecDeque::new(),
            heartbeat: Duration::from_secs(15),
            dispositions: Vec::new(),
        };
        match d
            .request(Command::Hello {
                versions: vec![1],
                client: concat!("hotline-demo/", env!("CARGO_PKG_VERSION")).into(),
            })
            .await?
        {
            Ok(Reply::Welcome { heartbeat_secs, .. }) => {
                d.heartbeat = Duration::from_secs(u64::from(heartbeat_secs.max(1)));
                Ok(d)
            }
            other => Err(DemoError::Cti(format!("hello refused: {other:?}"))),
        }
    }

    /// Connects and logs in as `agent`.
    pub async fn login(url: &str, agent: &str, password: &str) -> Result<Desk, DemoError> {
        let mut d = Desk::connect(url).await?;
        match d
            .request(Command::Login {
                agent: AgentId::new(agent),
                password: Secret::new(password),
                extension: None,
            })
            .await?
        {
            Ok(Reply::LoggedIn { dispositions, .. }) => {
                d.dispositions = dispositions;
                Ok(d)
            }
            other => Err(DemoError::Cti(format!(
                "login of {agent} refused: {other:?}"
            ))),
        }
    }

    /// Sends a command and waits for its response (events arriving first are kept).
    pub async fn request(&mut self, cmd: Command) -> Result<Result<Reply, ErrorBody>, DemoError> {
        let id = RequestId(self.next);
        self.next += 1;
        let text = encode_client(&ClientFrame { id, cmd })
            .map_err(|e| DemoError::Cti(format!("encode: {e}")))?;
        self.ws
            .send(WsMessage::Text(text.into()))
            .await
            .map_err(|e| DemoError::Cti(format!("send: {e}")))?;
        loop {
            match self.frame().await? {
                Some(ServerFrame::Response(r)) if r.re == id => return Ok(r.result),
                Some(ServerFrame::Response(_)) => {}
                Some(ServerFrame::Event(e)) => self.pending.push_back(e),
                None => return Err(DemoError::Cti("connection closed".into())),
            }
        }
    }

    /// Sends a command that must succeed.
    pub async fn command(&mut self, cmd: Command) -> Result<Reply, DemoError> {
        let what = format!("{cmd:?}");
        self.request(cmd)
            .await?
            .map_err(|e| DemoError::Cti(format!("{what}: {e:?}")))
    }

    /// The next event; `None` when the server closed the connection.
    pub async fn event(&mut self) -> Result<Option<EventFrame>, DemoError> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(Some(e));
        }
        loop {
            match self.frame().await? {
                Some(ServerFrame::Event(e)) => return Ok(Some(e)),
                Some(ServerFrame::Response(_)) => {}
                None => return Ok(None),
            }
        }
    }

    async fn frame(&mut self) -> Result<Option<ServerFrame>, DemoError> {
        loop {
            match self.ws.next().await {
                Some(Ok(WsMessage::Text(t))) => {
                    return decode_server(t.as_str())
                        .map(Some)
                        .map_err(|e| DemoError::Cti(format!("bad frame: {e}")));
                }
                Some(Ok(WsMessage::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(DemoError::Cti(format!("receive: {e}"))),
            }
        }
    }

    /// Closes the connection politely (logout first).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.request(Command::Logout)).await;
        let _ = self.ws.close(None).await;
    }
}

/// How a simulated agent behaves after a call.
#[derive(Debug, Clone)]
pub struct AgentBehaviour {
    /// Time spent in wrap-up before the disposition is sent (shortest, longest).
    pub wrap_up: (Duration, Duration),
}

impl Default for AgentBehaviour {
    fn default() -> Self {
        AgentBehaviour {
            wrap_up: (Duration::from_secs(3), Duration::from_secs(8)),
        }
    }
}

/// What a simulated agent reports to the demo's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentNotice {
    /// Logged in and ready.
    Ready { agent: String },
    /// A screen pop arrived (customer name, when known).
    Pop {
        agent: String,
        customer: Option<String>,
    },
    /// Wrapped up a call with a disposition.
    WrappedUp { agent: String, disposition: String },
    /// The session ended.
    Gone { agent: String, why: String },
}

/// Plays one demo agent until `stop` fires or the server ends the session: logs in, goes ready,
/// answers heartbeats, and after every call sends `wrap_up` with a random disposition and
/// `end_wrap_up` back to ready.
pub async fn simulate_agent(
    url: String,
    agent: String,
    password: String,
    behaviour: AgentBehaviour,
    notices: tokio::sync::mpsc::UnboundedSender<AgentNotice>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let why = match agent_loop(&url, &agent, &password, &behaviour, &notices, &mut stop).await {
        Ok(()) => "stopped".to_string(),
        Err(e) => e.to_string(),
    };
    let _ = notices.send(AgentNotice::Gone { agent, why });
}

async fn agent_loop(
    url: &str,
    agent: &str,
    password: &str,
    behaviour: &AgentBehaviour,
    notices: &tokio::sync::mpsc::UnboundedSender<AgentNotice>,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), DemoError> {
    use rand::RngExt as _;
    let mut desk = Desk::login(url, agent, password).await?;
    desk.command(Command::Ready).await?;
    let _ = notices.send(AgentNotice::Ready {
        agent: agent.to_string(),
    });
    let mut beat = tokio::time::interval(desk.heartbeat / 2);
    beat.tick().await;
    // Calls that ended and wait for their wrap-up, with the moment it is sent.
    let mut to_wrap: Vec<(tokio::time::Instant, CallId)> = Vec::new();
    loop {
        let next_wrap = to_wrap.iter().map(|(t, _)| *t).min();
        let wrap_sleep = tokio::time::sleep_until(
            next_wrap.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600)),
        );
        tokio::select! {
            _ = stop.changed() => {
                desk.close().await;
                return Ok(());
            }
            _ = beat.tick() => {
                desk.command(Command::Heartbeat).await?;
            }
            () = wrap_sleep, if next_wrap.is_some() => {
                let now = tokio::time::Instant::now();
                let due: Vec<CallId> = to_wrap.iter().filter(|(t, _)| *t <= now).map(|(_, c)| c.clone()).collect();
                to_wrap.retain(|(t, _)| *t > now);
                for call in due {
                    let disposition = {
                        let mut rng = rand::rng();
                        match desk.dispositions.len() {
                            0 => Disposition::new("resolved"),
                            n => desk.dispositions[rng.random_range(0..n)].clone(),
                        }
                    };
                    if let Err(e) = desk
                        .command(Command::WrapUp {
                            call,
                            disposition: disposition.clone(),
                            notes: "Handled by the demo agent.".to_string().into(),
                            ticket: None,
                        })
                        .await
                    {
                        tracing::warn!(agent, error = %e, "wrap-up refused");
                    }
                    // Ends enforced wrap-up early; outside wrap-up this is refused, which is fine.
                    let _ = desk
                        .request(Command::EndWrapUp {
                            then: AfterWrapUp::Ready,
                        })
                        .await?;
                    let _ = notices.send(AgentNotice::WrappedUp {
                        agent: agent.to_string(),
                        disposition: disposition.as_str().to_string(),
                    });
                }
            }
            e = desk.event() => {
                let Some(e) = e? else {
                    return Err(DemoError::Cti("the server closed the connection".into()));
                };
                match e.event {
                    Event::CallOffered(pop) => {
                        let _ = notices.send(AgentNotice::Pop {
                            agent: agent.to_string(),
                            customer: pop.customer.as_ref().map(|c| c.name.expose().clone()),
                        });
                    }
                    // Routing puts the agent into wrap-up after a queue call; the agent takes a
                    // few seconds, then records a disposition.
                    Event::WrapUpStarted { call, .. } => {
                        let (lo, hi) = behaviour.wrap_up;
                        let wait = if hi > lo {
                            rand::rng().random_range(lo..hi)
                        } else {
                            lo
                        };
                        if !to_wrap.iter().any(|(_, c)| *c == call) {
                            to_wrap.push((tokio::time::Instant::now() + wait, call));
                        }
                    }
                    Event::LoggedOut { reason } => {
                        return Err(DemoError::Cti(format!("logged out: {reason:?}")));
                    }
                    _ => {}
                }
            }
        }
    }
}
