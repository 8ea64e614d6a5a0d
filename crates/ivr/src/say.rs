//! Saying numbers, dates, times, prices and waits as lists of prompts, in the caller's
//! language.
//!
//! Each language has its own rules in its own module ([`en`], [`zh`]): pure functions from a
//! value to prompt names, appended to a list. The names are the language's own (`digits/7`,
//! `numbers/ten-thousand`); the session plays them from the language's folder
//! ([`Language::prompt`]). The functions here pick the rules by language; the session says
//! values only through them. A flow that says values in a language is checked at load time
//! for every name in [`required_prompts`] of that language.

pub mod en;
pub mod zh;

use crate::flow::Prompt;
use crate::language::Language;
use crate::time::CivilDateTime;

/// Every prompt name the rules of `language` can produce.
pub fn required_prompts(language: Language) -> &'static [&'static str] {
    match language {
        Language::English => en::REQUIRED_PROMPTS,
        Language::Mandarin => zh::REQUIRED_PROMPTS,
    }
}

/// A number said on its own or as a key to press ("press two": 二 in Mandarin).
pub fn number(language: Language, n: u64, out: &mut Vec<Prompt>) {
    match language {
        Language::English => en::number(n, out),
        Language::Mandarin => zh::number(n, out),
    }
}

/// A reference (a ticket number) digit by digit.
pub fn digits(language: Language, s: &str, out: &mut Vec<Prompt>) {
    match language {
        Language::English => en::digits(s, out),
        Language::Mandarin => zh::digits(s, out),
    }
}

/// The caller's place in a queue: "you are caller number 3", 您现在排在第三位.
pub fn queue_position(language: Language, position: u64, out: &mut Vec<Prompt>) {
    match language {
        Language::English => en::queue_position(position, out),
        Language::Mandarin => zh::queue_position(position, out),
    }
}

/// The estimated wait: "... 2 minutes", 您预计等待时间为两分钟.
pub fn wait(language: Language, secs: u64, out: &mut Vec<Prompt>) {
    match language {
        Language::English => en::wait(secs, out),
        Language::Mandarin => zh::wait(secs, out),
    }
}

/// "The amount due is" and the price.
pub fn amount_due(language: Language, minor: u64, currency: &str, out: &mut Vec<Prompt>) {
    match language {
        Language::English => en::amount_due(minor, currency, out),
        Language::Mandarin => zh::amount_due(minor, currency, out),
    }
}

/// One bookable item: its date and time, its price and the key that picks it.
pub fn booking_option(
    language: Language,
    starts_at: CivilDateTime,
    minor: u64,
    currency: &str,
    key: u64,
    out: &mut Vec<Prompt>,
) {
    match language {
        Language::English => en::booking_option(starts_at, minor, currency, key, out),
        Language::Mandarin => zh::booking_option(starts_at, minor, currency, key, out),
    }
}
