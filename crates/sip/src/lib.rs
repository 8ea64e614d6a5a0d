//! # hotline-sip: the SIP signalling core of Hotline
//!
//! Everything the softswitch needs to speak SIP, with **no I/O at all**: this crate has no
//! sockets, no tokio, no threads and no clock. Every input that depends on time takes
//! `now: Instant` as an argument, so timers, retransmissions and races are tested in
//! milliseconds with simulated time (see `tests/`). The thin async shell in `switch` owns the
//! sockets and the sleeping.
//!
//! ## Layers
//!
//! * [`Message`]: a zero-copy parser and printer. Header names and values borrow from the
//!   received bytes; typed headers ([`Via`], [`NameAddr`] for From/To/Route, [`Contact`],
//!   [`CSeq`], [`AuthParams`], ...) are decoded on demand. Compact forms, folded lines,
//!   `sip:`/`sips:`/`tel:` URIs, IPv6 references, extension methods ([`Method::Other`]),
//!   status lines without a reason phrase and bare-LF line ends are all accepted. [`frame`]
//!   cuts a TCP stream into messages by Content-Length (`Ok(None)` = need more bytes). [`validate`] holds the UAS
//!   checks RFC 4475 expects (400, 415, 416, 420, 505, ...).
//! * [`Endpoint`]: the four transaction state machines of RFC 3261 section 17 (with the
//!   RFC 6026 Accepted state), timers A to M ([`Timer`]), transaction keys ([`TsxKey`]),
//!   retransmissions over UDP only (none on timer G for a first final response to an
//!   [`SourceTrust::Unverified`] source), automatic `100 Trying` (left out when the
//!   application answers at once), CANCEL handling (200 + 487),
//!   ACK matching, `received`/`rport` stamping (RFC 3581), and stateless 400 for garbage.
//! * [`Dialog`] / [`Dialogs`]: plain dialog state for UAC and UAS legs: route set, CSeq,
//!   remote target, ACK for 2xx, BYE, re-INVITE/UPDATE with glare (491), REFER/NOTIFY, and
//!   481 for requests that match no dialog.
//! * [`auth`]: digest authentication with SHA-256 and MD5 (RFC 8760), server side with
//!   self-expiring HMAC nonces bound to the client's IP, `stale=true`, `uri` checked against
//!   the Request-URI and nonce counts tracked against replay; client side for trunks.
//! * [`registrar`]: registrar bindings (RFC 3261 10.3) with expiry, `*`, 423 Min-Expires,
//!   `q` and `+sip.instance`.
//! * [`sdp`]: SDP parse/print and audio offer/answer (PCMU, PCMA, telephone-event, ptime,
//!   sendrecv/sendonly/recvonly/inactive for hold).
//!
//! ## The drive contract
//!
//! The [`Endpoint`] is a state machine driven from outside:
//!
//! * **inputs**: [`Endpoint::handle_datagram`] (bytes received), [`Endpoint::handle_timeout`]
//!   (a timer is due), and application commands: [`Endpoint::send_request`],
//!   [`Endpoint::respond`], [`Endpoint::cancel`], [`Endpoint::ack_2xx`];
//! * **outputs**: [`Endpoint::poll_transmit`] (bytes to send), [`Endpoint::poll_event`]
//!   (requests, responses, ACKs, cancellations, timeouts for the application) and
//!   [`Endpoint::poll_timeout`] (when to call `handle_timeout` next).
//!
//! **After any input, drain the outputs**: call `poll_transmit` until `None`, `poll_event`
//! until `None`, then re-arm one timer from `poll_timeout`. Time that goes backwards or a
//! spurious wake-up is harmless. Every request reported by [`Event::Request`] must get a final
//! response through [`Endpoint::respond`] (except ACK, which has none); a server transaction
//! that is never answered is never freed.
//!
//! ```no_run
//! use hotline_sip::{Config, Endpoint, Event, StatusCode, Transport};
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//!
//! let socket = UdpSocket::bind("127.0.0.1:5060").unwrap();
//! let mut ep = Endpoint::new(Config { sent_by: "127.0.0.1:5060".into(), ..Config::default() });
//! let mut buf = [0u8; 65535];
//! loop {
//!     // 1. Sleep until a datagram arrives or the next timer is due.
//!     let wait = ep.poll_timeout().map(|t| t.saturating_duration_since(Instant::now()));
//!     let wait = wait.unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(1));
//!     socket.set_read_timeout(Some(wait)).unwrap();
//!     match socket.recv_from(&mut buf) {
//!         Ok((n, src)) => ep.handle_datagram(Instant::now(), src, Transport::Udp, &buf[..n]),
//!         Err(_) => ep.handle_timeout(Instant::now()),
//!     }
//!     // 2. Drain every output: events may cause more transmits, so transmits go last.
//!     while let Some(event) = ep.poll_event() {
//!         if let Event::Request { tsx, request, .. } = event {
//!             // The application decides; here everything is answered 486.
//!             let busy = request.make_response(StatusCode::BUSY_HERE, Some("tag1"));
//!             ep.respond(Instant::now(), tsx, busy).unwrap();
//!         }
//!     }
//!     while let Some(t) = ep.poll_transmit() {
//!         socket.send_to(&t.payload, t.dst).unwrap();
//!     }
//! }
//! ```
//!
//! ## Errors
//!
//! One error type, [`Error`]. A peer's malformed input is an error value (and on the wire a
//! 4xx or a silent drop), never a panic; "not enough data yet" on a stream is `Ok(None)`;
//! misuse of the API ([`Error::UnknownTransaction`], [`Error::InvalidState`]) is the caller's bug.
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
mod endpoint;
mod error;
pub mod headers;
mod message;
mod method;
pub(crate) mod parse;
pub mod pii;
pub mod registrar;
pub mod sdp;
mod status;
pub mod transaction;
mod uri;
pub mod validate;

pub use dialog::{Dialog, DialogId, DialogState, Dialogs, Routed};
pub use endpoint::{Config, Endpoint, Event, SourceTrust, Stats, Transmit};
pub use error::{Error, Result};
pub use headers::{AuthParams, CSeq, Contact, NameAddr, Via};
pub use message::{Header, Message, StartLine, canonical_name, frame};
pub use method::Method;
pub use parse::Params;
pub use status::{StatusClass, StatusCode};
pub use transaction::{Kind, Role, State, Timer, TimerConfig, Transport, TsxId, TsxKey};
pub use uri::{Scheme, Uri};
