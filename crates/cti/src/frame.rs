//! Envelopes (what goes in one WebSocket text message), responses, and the codec.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::command::Command;
use crate::event::Event;
use crate::ids::{CallId, Disposition, Extension, ReasonCode, RequestId, Seq};
use crate::pii::Secret;
use crate::role::Role;
use crate::{AgentId, CtiError, PROTOCOL_VERSION, SUPPORTED_VERSIONS};

/// Largest text frame either side accepts (64 KiB). A larger frame is a protocol error; a screen
/// pop with a long history stays far below this (the server trims history lists).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Client -> server: `{"id": 7, "cmd": {"type": "ready"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Chosen by the client, echoed in the response's `"re"`. Unique per connection.
    pub id: RequestId,
    /// The command.
    pub cmd: Command,
}

/// Server -> client: a response to a request or an event.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerFrame {
    /// `{"re": 7, "ok": {...}}` or `{"re": 7, "error": {...}}`.
    Response(Response),
    /// `{"seq": 42, "event": {...}}`.
    Event(EventFrame),
}

/// The answer to one [`ClientFrame`]. Every request gets exactly one response.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The request's `"id"`.
    pub re: RequestId,
    /// Success body or error.
    pub result: Result<Reply, ErrorBody>,
}

/// An event with its per-session sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventFrame {
    /// Monotonically increasing per session, starting at 1.
    pub seq: Seq,
    /// The event.
    pub event: Event,
}

/// The success body of a response (`"ok"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// Answer to `hello`: the version both sides will speak.
    Welcome {
        /// The negotiated protocol version.
        version: u32,
        /// Server name and version, for logs.
        server: String,
        /// Send `heartbeat` at least this often; the server drops a connection silent for three
        /// intervals (the session and its calls survive for a resume).
        heartbeat_secs: u32,
        /// Largest frame the server accepts.
        max_frame_bytes: u32,
    },
    /// Answer to `login`. A `snapshot` event follows.
    LoggedIn {
        /// Token for `resume_session` after a reconnect.
        session: Secret,
        /// The session's role.
        role: Role,
        /// Who logged in.
        profile: AgentProfile,
        /// Not-ready reasons the agent may pick.
        not_ready_reasons: Vec<ReasonCode>,
        /// Wrap-up dispositions the agent may pick.
        dispositions: Vec<Disposition>,
    },
    /// Answer to `resume_session`: how the client is brought up to date.
    Resumed {
        /// Replay or snapshot.
        resync: Resync,
    },
    /// The command was accepted (its effects arrive as events).
    Done,
    /// A call was started (`internal_call`, `outbound_call`, `consult`).
    Dialing {
        /// The new call's id.
        call: CallId,
    },
    /// Answer to `heartbeat`.
    Beat {
        /// The seq of the last event the server sent on this session (0: none yet). A client
        /// whose own last seq is lower has lost events and should resume.
        last_seq: Seq,
    },
}

impl Reply {
    /// Every reply `"type"` on the wire.
    pub const TYPES: &'static [&'static str] =
        &["welcome", "logged_in", "resumed", "done", "dialing", "beat"];

    /// The wire `"type"` of this reply.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Welcome { .. } => "welcome",
            Reply::LoggedIn { .. } => "logged_in",
            Reply::Resumed { .. } => "resumed",
            Reply::Done => "done",
            Reply::Dialing { .. } => "dialing",
            Reply::Beat { .. } => "beat",
        }
    }
}

/// How a resumed session catches up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Resync {
    /// The missed events follow, with their original seqs `from_seq..=to_seq` (empty when
    /// `from_seq > to_seq`: nothing was missed).
    Replay {
        /// First replayed seq.
        from_seq: Seq,
        /// Last replayed seq.
        to_seq: Seq,
    },
    /// Too much was missed: a `snapshot` event follows; it replaces everything the client knew.
    Snapshot,
}

/// The agent's own record, sent at login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    /// The agent's id.
    pub agent: AgentId,
    /// Display name.
    pub name: String,
    /// The phone that rings for this session.
    pub extension: Extension,
    /// Skills with proficiency.
    pub skills: Vec<crate::command::SkillLevel>,
    /// Can the session's phone be answered from the desktop (`answer`)? `false` (the default,
    /// also when a server does not send it) means the agent answers on the phone itself, or
    /// the phone auto-answers; the desktop then shows Answer disabled with that reason.
    #[serde(default)]
    pub remote_answer: bool,
    /// The queues whose calls and unassigned work (tickets, voicemails) are hers: those whose
    /// skills she has. Empty from a server that does not send it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<crate::QueueId>,
}

/// The body of an error response (`"error"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human text; never contains personal data or secrets.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error body.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
        }
    }
}

/// Error codes. Unknown codes from a newer server decode as [`ErrorCode::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame did not parse or a field is invalid.
    BadRequest,
    /// No common protocol version.
    UnsupportedVersion,
    /// A command was sent before `hello`.
    HelloRequired,
    /// A session command was sent before `login`.
    NotLoggedIn,
    /// Wrong agent id or password.
    AuthFailed,
    /// Too many failed logins; try later.
    LockedOut,
    /// The session's role may not do this.
    Forbidden,
    /// Not valid now (e.g. `answer` with nothing ringing, `ready` during a call).
    InvalidState,
    /// No such call (or not this agent's).
    UnknownCall,
    /// No such agent.
    UnknownAgent,
    /// A transfer or dial target does not exist.
    UnknownTarget,
    /// The target exists but did not answer or is busy.
    TargetUnavailable,
    /// `resume_session` with a token the server does not know (expired or server restarted).
    SessionUnknown,
    /// The payment flow failed.
    PaymentFailed,
    /// Too many requests in a short time: the command was **not executed** (a session's
    /// command rate, or too many login attempts at once). Send it again a moment later.
    RateLimited,
    /// A bug or outage on the server.
    Internal,
    /// A code this version does not know.
    #[serde(other)]
    Other,
}

/// Which part of a connection's life a command belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Valid without a session: `hello`, `login`, `resume_session`, `heartbeat`.
    Handshake,
    /// Needs a logged-in session.
    Session,
}

#[derive(Serialize, Deserialize)]
struct RawServerFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    re: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ok: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<Seq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<Event>,
}

impl Serialize for ServerFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        match self {
            ServerFrame::Response(r) => {
                map.serialize_entry("re", &r.re)?;
                match &r.result {
                    Ok(body) => map.serialize_entry("ok", body)?,
                    Err(err) => map.serialize_entry("error", err)?,
                }
            }
            ServerFrame::Event(e) => {
                map.serialize_entry("seq", &e.seq)?;
                map.serialize_entry("event", &e.event)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawServerFrame::deserialize(deserializer)?;
        match raw {
            RawServerFrame {
                re: Some(re),
                ok: Some(body),
                error: None,
                seq: None,
                event: None,
            } => Ok(ServerFrame::Response(Response {
                re,
                result: Ok(body),
            })),
            RawServerFrame {
                re: Some(re),
                ok: None,
                error: Some(err),
                seq: None,
                event: None,
            } => Ok(ServerFrame::Response(Response {
                re,
                result: Err(err),
            })),
            RawServerFrame {
                re: None,
                ok: None,
                error: None,
                seq: Some(seq),
                event: Some(event),
            } => Ok(ServerFrame::Event(EventFrame { seq, event })),
            _ => Err(D::Error::custom(
                "a server frame is either {re, ok|error} or {seq, event}",
            )),
        }
    }
}

impl ServerFrame {
    /// A success response.
    pub fn ok(re: RequestId, body: Reply) -> Self {
        ServerFrame::Response(Response {
            re,
            result: Ok(body),
        })
    }

    /// An error response.
    pub fn error(re: RequestId, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Response(Response {
            re,
            result: Err(ErrorBody::new(code, message)),
        })
    }

    /// An event.
    pub fn event(seq: Seq, event: Event) -> Self {
        ServerFrame::Event(EventFrame { seq, event })
    }
}

/// Picks the protocol version for a `hello`: the highest version both sides support.
///
/// ```
/// assert_eq!(hotline_cti::negotiate(&[1, 7]).unwrap(), 1);
/// assert!(hotline_cti::negotiate(&[99]).is_err());
/// ```
pub fn negotiate(client_versions: &[u32]) -> Result<u32, CtiError> {
    client_versions
        .iter()
        .copied()
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .max()
        .ok_or_else(|| CtiError::UnsupportedVersion {
            offered: client_versions.to_vec(),
            supported: PROTOCOL_VERSION,
        })
}

fn check_len(text: &str) -> Result<(), CtiError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(CtiError::FrameTooLarge {
            len: text.len(),
            max: MAX_FRAME_BYTES,
        });
    }
    Ok(())
}

/// Describes a JSON error without echoing input values (they may be personal data): serde_json
/// quotes offending string values, so messages with a quote are replaced by a generic one.
fn describe(err: &serde_json::Error) -> String {
    let msg = err.to_string();
    if msg.contains('"') {
        format!(
            "invalid value at line {} column {}",
            err.line(),
            err.column()
        )
    } else {
        msg
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: RequestId,
}

/// Decodes one client text frame. On failure the error carries the request id when it could be
/// read, so the server can answer `{"re": id, "error": {"code": "bad_request", ...}}`.
pub fn decode_client(text: &str) -> Result<ClientFrame, CtiError> {
    check_len(text)?;
    serde_json::from_str(text).map_err(|err| CtiError::BadFrame {
        id: request_id_of(text),
        reason: describe(&err),
    })
}

/// The `"id"` of a client frame that did not decode, when it is a JSON object that has one.
/// serde also reads a struct from an array, so `[4]` alone would otherwise yield id 4.
fn request_id_of(text: &str) -> Option<RequestId> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str::<IdOnly>(text).ok().map(|i| i.id)
}

/// Encodes one client frame as a text message.
pub fn encode_client(frame: &ClientFrame) -> Result<String, CtiError> {
    serde_json::to_string(frame).map_err(|err| CtiError::Encode {
        reason: err.to_string(),
    })
}

/// Decodes one server text frame.
pub fn decode_server(text: &str) -> Result<ServerFrame, CtiError> {
    check_len(text)?;
    serde_json::from_str(text).map_err(|err| CtiError::BadFrame {
        id: None,
        reason: describe(&err),
    })
}

/// Encodes one server frame as a text message.
pub fn encode_server(frame: &ServerFrame) -> Result<String, CtiError> {
    serde_json::to_string(frame).map_err(|err| CtiError::Encode {
        reason: err.to_string(),
    })
}
