//! Transaction vocabulary (RFC 3261 section 17): transports, timers, keys, states.
//! The state machines themselves live in [`crate::Endpoint`], which owns all transactions.

use crate::headers::BRANCH_MAGIC;
use crate::{Error, Message, Method, Result};
use std::fmt;
use std::time::Duration;

/// The transport a message came in on or goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, so requests and final responses are retransmitted.
    Udp,
    /// TCP: reliable, no retransmissions.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
    /// WebSocket (RFC 7118): reliable.
    Ws,
    /// Secure WebSocket: reliable.
    Wss,
}

impl Transport {
    /// Reliable transports get no retransmissions and zero-length wait timers (D, I, J, K).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token used in a Via header.
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

/// The RFC 3261 transaction timers (plus L and M from RFC 6026, which fix the 2xx handling).
///
/// | timer | transaction | meaning | value |
/// |---|---|---|---|
/// | A | INVITE client | request retransmit (UDP) | T1, doubling |
/// | B | INVITE client | give up waiting for any response | 64*T1 |
/// | D | INVITE client | absorb final-response retransmits | 32 s UDP, 0 reliable |
/// | E | non-INVITE client | request retransmit (UDP) | T1 doubling to T2 |
/// | F | non-INVITE client | give up | 64*T1 |
/// | G | INVITE server | final-response retransmit (UDP) | T1 doubling to T2 |
/// | H | INVITE server | give up waiting for ACK | 64*T1 |
/// | I | INVITE server | absorb ACK retransmits | T4 UDP, 0 reliable |
/// | J | non-INVITE server | absorb request retransmits | 64*T1 UDP, 0 reliable |
/// | K | non-INVITE client | absorb response retransmits | T4 UDP, 0 reliable |
/// | L | INVITE server | Accepted state: absorb INVITE retransmits, wait for ACK to 2xx | 64*T1 |
/// | M | INVITE client | Accepted state: absorb 2xx retransmits | 64*T1 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Timer {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
}

impl Timer {
    pub(crate) const COUNT: usize = 12;

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_index(i: usize) -> Option<Timer> {
        use Timer::*;
        [A, B, D, E, F, G, H, I, J, K, L, M].get(i).copied()
    }
}

/// Base timer values (RFC 3261 17.1.1.1): T1 (RTT estimate, 500 ms), T2 (maximum retransmit
/// interval for non-INVITE requests and INVITE responses, 4 s), T4 (maximum time a message
/// stays in the network, 5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1.
    pub t1: Duration,
    /// T2.
    pub t2: Duration,
    /// T4.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Which side of a transaction we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// The key that matches messages to a transaction (RFC 3261 17.1.3 and 17.2.3).
///
/// Client side: branch of the top Via plus CSeq method. Server side: branch plus sent-by plus
/// method, where ACK maps to INVITE (an ACK for a non-2xx final belongs to its INVITE) and a
/// CANCEL has its own key (its INVITE is found by the same key with method INVITE). Requests
/// from RFC 2543 peers without the magic cookie get a key built from Call-ID, CSeq number,
/// From tag, Request-URI and top Via instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TsxKey {
    /// Client or server.
    pub role: Role,
    /// Branch (or the RFC 2543 fallback string).
    pub branch: Box<str>,
    /// Method (ACK is stored as INVITE).
    pub method: Method,
    /// sent-by of the top Via (server side only; empty for client keys).
    pub sent_by: Box<str>,
}

impl TsxKey {
    /// Key of the server transaction a received request belongs to.
    pub fn for_request(req: &Message<'_>) -> Result<TsxKey> {
        let method = req.method().ok_or(Error::Parse("not a request"))?;
        let via = req.top_via()?;
        let method = if *method == Method::Ack {
            Method::Invite
        } else {
            method.clone()
        };
        let branch: Box<str> = match via.branch() {
            Some(b) if b.starts_with(BRANCH_MAGIC) => b.into(),
            _ => {
                let from_tag = req.from_header()?.tag().unwrap_or("").to_string();
                format!(
                    "2543|{}|{}|{}|{}|{}",
                    req.call_id()?,
                    req.cseq()?.seq,
                    from_tag,
                    req.request_uri().unwrap_or(""),
                    via.sent_by()
                )
                .into()
            }
        };
        Ok(TsxKey {
            role: Role::Server,
            branch,
            method,
            sent_by: via.sent_by().into(),
        })
    }

    /// Key of the client transaction a received response belongs to.
    pub fn for_response(resp: &Message<'_>) -> Result<TsxKey> {
        let via = resp.top_via()?;
        let branch = via.branch().ok_or(Error::BadHeader {
            header: "Via",
            reason: "no branch",
        })?;
        Ok(TsxKey {
            role: Role::Client,
            branch: branch.into(),
            method: resp.cseq()?.method,
            sent_by: "".into(),
        })
    }

    /// The same key with another method (used to find the INVITE a CANCEL cancels).
    pub fn with_method(&self, method: Method) -> TsxKey {
        TsxKey {
            method,
            ..self.clone()
        }
    }
}

impl fmt::Display for TsxKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}:{}:{}", self.role, self.method, self.branch)
    }
}

/// Handle of a transaction inside an [`crate::Endpoint`]. Cheap to copy; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TsxId(pub(crate) u64);

impl fmt::Display for TsxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tsx#{}", self.0)
    }
}

/// Transaction state (RFC 3261 17, with RFC 6026's Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// INVITE client: request sent, nothing received.
    Calling,
    /// Non-INVITE: request sent (client) or received (server), no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A non-2xx final response was received (client) or sent (server).
    Completed,
    /// INVITE server: ACK received for the non-2xx final.
    Confirmed,
    /// INVITE: 2xx sent or received (RFC 6026).
    Accepted,
    /// Done; the transaction is about to be removed.
    Terminated,
}

/// Kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// INVITE client transaction (17.1.1).
    InviteClient,
    /// Non-INVITE client transaction (17.1.2).
    NonInviteClient,
    /// INVITE server transaction (17.2.1).
    InviteServer,
    /// Non-INVITE server transaction (17.2.2).
    NonInviteServer,
}
