//! `hotline-records`: the records Hotline's database keeps, as plain values.
//!
//! Customers and their identities, the unified [`CustomerView`] of a screen pop, call events
//! ([`CallEvent`], [`CallEventKind`]) and call rows, agents, tickets, bookings and payments,
//! together with the pure functions that shape them: phone numbers to E.164
//! ([`phone::normalize`]), identity normalisation ([`Identity::new`]) and the card-number guard
//! ([`contains_card_number`]). Outbound campaigns, their contacts, dial attempts and
//! do-not-call entries are here too ([`Campaign`], [`CampaignContact`], [`Attempt`], [`DncEntry`]),
//! and so are knowledge-base articles, votes, search hits and suggestions ([`kb`]).
//!
//! This crate has no SQL, no I/O, no tokio and no clock: timestamps are unix epoch milliseconds
//! ([`Millis`]) supplied by the caller. It exists so that the sans-IO cores (`hotline-calls`)
//! and the CTI protocol can speak of records without linking sqlx; `hotline-store` reads and
//! writes these values and re-exports every item at its old path (`hotline_store::CustomerView`,
//! `hotline_store::phone::normalize`).
//!
//! ```
//! use hotline_records::{Identity, IdentityKind, contains_card_number};
//! let who = Identity::phone_in("(030) 123456", "49")?;
//! assert_eq!(who.value, "+4930123456");
//! assert_eq!(Identity::new(IdentityKind::Email, " Ada@Example.org")?.value, "ada@example.org");
//! assert!(contains_card_number("4111 1111 1111 1111"));
//! # Ok::<(), hotline_records::Error>(())
//! ```

mod campaign;
mod card;
mod error;
pub mod kb;
mod model;
pub mod phone;

pub use campaign::*;
pub use card::contains_card_number;
pub use error::Error;
pub use kb::{
    Article, ArticleHit, ArticleId, ArticleStatus, ArticleSuggestion, ArticleVotes, KbSeed,
    KbSeeded, Language, NewArticle, Rating, SuggestionMatch,
};
pub use model::*;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Unix epoch milliseconds. Every timestamp the store keeps has this unit.
pub type Millis = i64;
