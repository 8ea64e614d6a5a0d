//! hotline-sip: the SIP signalling core of Hotline.
//! (crate docs are completed below)

pub mod auth;
pub mod dialog;
mod endpoint;
mod error;
pub mod headers;
mod message;
mod method;
pub(crate) mod parse;
pub mod sdp;
mod status;
pub mod transaction;
mod uri;
pub mod validate;

pub use dialog::{Dialog, DialogId, DialogState, Dialogs, Routed};
pub use endpoint::{Config, Endpoint, Event, Stats, Transmit};
pub use error::{Error, Result};
pub use headers::{AuthParams, CSeq, Contact, NameAddr, Via};
pub use message::{Header, Message, StartLine, canonical_name, frame};
pub use method::Method;
pub use parse::Params;
pub use status::{StatusClass, StatusCode};
pub use transaction::{Kind, Role, State, Timer, TimerConfig, Transport, TsxId, TsxKey};
pub use uri::{Scheme, Uri};
