//! hotline-sip: the SIP signalling core of Hotline.
//! (crate docs are completed below)

mod error;
pub mod headers;
mod message;
mod method;
pub(crate) mod parse;
mod status;
mod uri;
pub mod validate;

pub use error::{Error, Result};
pub use headers::{AuthParams, CSeq, Contact, NameAddr, Via};
pub use message::{canonical_name, frame, Header, Message, StartLine};
pub use method::Method;
pub use parse::Params;
pub use status::{StatusClass, StatusCode};
pub use uri::{Scheme, Uri};
