//! The knowledge base as plain values: articles agents read during a call (Markdown, tagged,
//! aimed at queues and IVR reasons, in one language), their life cycle (draft, published,
//! archived), agents' helpful/not-helpful votes, search hits and screen-pop suggestions, and
//! the seed file `config/kb.toml`.
//!
//! [`NewArticle::normalized`] is the one place that decides what a valid article is; the store
//! calls it before every write.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Millis, Result};

/// Database id of a knowledge-base article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArticleId(pub i64);

impl fmt::Display for ArticleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The language an article is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// English.
    En,
    /// Chinese (simplified).
    Zh,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }

    pub fn parse(s: &str) -> Result<Language> {
        match s {
            "en" => Ok(Language::En),
            "zh" => Ok(Language::Zh),
            other => Err(Error::Invalid(format!(
                "unknown article language {other:?} (en or zh)"
            ))),
        }
    }
}

/// Where an article is in its life. Only published articles are shown to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    /// Being written; visible to editors only.
    #[default]
    Draft,
    /// Found by agents' search and suggested on screen pops.
    Published,
    /// Withdrawn; kept for history, found by no agent.
    Archived,
}

impl ArticleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ArticleStatus::Draft => "draft",
            ArticleStatus::Published => "published",
            ArticleStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Result<ArticleStatus> {
        match s {
            "draft" => Ok(ArticleStatus::Draft),
            "published" => Ok(ArticleStatus::Published),
            "archived" => Ok(ArticleStatus::Archived),
            other => Err(Error::Invalid(format!(
                "unknown article status {other:?} (draft, published or archived)"
            ))),
        }
    }
}

/// One agent's vote on an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Helpful,
    NotHelpful,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Helpful => "helpful",
            Rating::NotHelpful => "not_helpful",
        }
    }

    pub fn parse(s: &str) -> Result<Rating> {
        match s {
            "helpful" => Ok(Rating::Helpful),
            "not_helpful" => Ok(Rating::NotHelpful),
            other => Err(Error::Corrupt(format!("unknown article rating {other:?}"))),
        }
    }
}

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 100_000;

/// An article to create, or the full new content of an edited one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Keywords agents search by (`refund`, `lost-bag`): lower-cased, no spaces.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Queue ids whose calls this article is for (`billing`).
    #[serde(default)]
    pub queues: Vec<String>,
    /// Values of the IVR's `reason` variable this article answers (`billing`, `support`).
    #[serde(default)]
    pub ivr_reasons: Vec<String>,
    pub language: Language,
    /// A new article is a draft unless said otherwise.
    #[serde(default)]
    pub status: ArticleStatus,
    /// Who wrote it (an agent's login or a name).
    pub author: String,
}

impl NewArticle {
    /// The article as it will be stored: title, author, queues and reasons trimmed, tags
    /// trimmed and lower-cased, duplicates dropped (first kept). Refuses an empty title, body
    /// or author, an over-long title or body, and a tag, queue or reason that is empty or
    /// holds white space.
    pub fn normalized(&self) -> Result<NewArticle> {
        let title = self.title.trim();
        if title.is_empty() {
            return Err(Error::Invalid("an article needs a title".into()));
        }
        if title.chars().count() > MAX_TITLE_CHARS {
            return Err(Error::Invalid(format!(
                "article title is longer than {MAX_TITLE_CHARS} characters"
            )));
        }
        if self.body.trim().is_empty() {
            return Err(Error::Invalid(format!("article {title:?} has no body")));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(Error::Invalid(format!(
                "article {title:?} has a body longer than {MAX_BODY_BYTES} bytes"
            )));
        }
        let author = self.author.trim();
        if author.is_empty() {
            return Err(Error::Invalid(format!("article {title:?} names no author")));
        }
        Ok(NewArticle {
            title: title.to_string(),
            body: self.body.clone(),
            tags: words("tag", &self.tags, true)?,
            queues: words("queue", &self.queues, false)?,
            ivr_reasons: words("IVR reason", &self.ivr_reasons, false)?,
            language: self.language,
            status: self.status,
            author: author.to_string(),
        })
    }
}

fn words(what: &str, items: &[String], lower: bool) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let w = item.trim();
        if w.is_empty() || w.chars().any(char::is_whitespace) {
            return Err(Error::Invalid(format!(
                "{what} {item:?} must be one word (use - between words)"
            )));
        }
        let w = if lower {
            w.to_lowercase()
        } else {
            w.to_string()
        };
        if !out.contains(&w) {
            out.push(w);
        }
    }
    Ok(out)
}

/// An article as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub id: ArticleId,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub queues: Vec<String>,
    pub ivr_reasons: Vec<String>,
    pub language: Language,
    pub status: ArticleStatus,
    pub author: String,
    /// Starts at 1 and grows by one with every edit; an edit names the version it started
    /// from and is refused when another edit came first.
    pub version: i64,
    pub votes: ArticleVotes,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// How many agents found an article helpful or not (each agent counted once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ArticleVotes {
    pub helpful: i64,
    pub not_helpful: i64,
}

/// One article found by a search, best first in a result list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleHit {
    pub id: ArticleId,
    pub title: String,
    pub tags: Vec<String>,
    pub language: Language,
    /// The body's first paragraph, shortened, without Markdown headings.
    pub excerpt: String,
    /// Relevance, higher is better; comparable only within one result list (the back ends
    /// rank differently).
    pub score: f64,
    pub votes: ArticleVotes,
    pub updated_at: Millis,
}

/// Why an article is suggested for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionMatch {
    /// It is for both the call's queue and its IVR reason.
    QueueAndReason,
    /// It is for the call's queue.
    Queue,
    /// It answers the call's IVR reason.
    Reason,
}

/// An article suggested on a screen pop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleSuggestion {
    pub id: ArticleId,
    pub title: String,
    pub tags: Vec<String>,
    pub language: Language,
    pub excerpt: String,
    pub matched: SuggestionMatch,
    pub votes: ArticleVotes,
    pub updated_at: Millis,
}

/// The seed file `config/kb.toml`: `[[articles]]` tables, each a [`NewArticle`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbSeed {
    #[serde(default)]
    pub articles: Vec<NewArticle>,
}

/// What loading a seed did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KbSeeded {
    /// The knowledge base was empty; this many articles were loaded.
    Loaded(usize),
    /// The knowledge base already held this many articles; nothing was loaded.
    AlreadyHasArticles(i64),
}

/// The first paragraph of a Markdown body that is not a heading, at most `max_chars`
/// characters (cut at a word boundary when there is one, with an ellipsis).
pub fn excerpt(body: &str, max_chars: usize) -> String {
    let para = body
        .split("\n\n")
        .map(str::trim)
        .find(|p| !p.is_empty() && !p.starts_with('#'))
        .unwrap_or("");
    let flat: String = para.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > cut.len() / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article() -> NewArticle {
        NewArticle {
            title: "  Refund for a cancelled flight ".into(),
            body: "# Refunds\n\nA cancelled flight is refunded in full.".into(),
            tags: vec!["Refund".into(), "refund".into(), "cancelled-flight".into()],
            queues: vec!["billing".into()],
            ivr_reasons: vec!["billing".into()],
            language: Language::En,
            status: ArticleStatus::Published,
            author: "editor".into(),
        }
    }

    #[test]
    fn normalized_trims_lowercases_and_dedupes_tags() {
        let a = article().normalized().unwrap();
        assert_eq!(a.title, "Refund for a cancelled flight");
        assert_eq!(a.tags, ["refund", "cancelled-flight"]);
    }

    #[test]
    fn normalized_refuses_tags_with_spaces_and_empty_fields() {
        let mut a = article();
        a.tags = vec!["lost bag".into()];
        let e = a.normalized().unwrap_err().to_string();
        assert!(e.contains("one word"), "{e}");
        let mut a = article();
        a.body = " \n".into();
        assert!(a.normalized().is_err());
        let mut a = article();
        a.queues = vec![String::new()];
        assert!(a.normalized().is_err());
    }

    #[test]
    fn excerpt_skips_headings_and_cuts_at_a_word() {
        assert_eq!(
            excerpt("# Title\n\nFirst  line\nwraps.\n\nSecond.", 100),
            "First line wraps."
        );
        assert_eq!(excerpt("alpha beta gamma delta", 13), "alpha beta…");
        assert_eq!(excerpt("退款政策说明", 4), "退款政策…");
    }

    #[test]
    fn names_round_trip() {
        for s in [
            ArticleStatus::Draft,
            ArticleStatus::Published,
            ArticleStatus::Archived,
        ] {
            assert_eq!(ArticleStatus::parse(s.as_str()).unwrap(), s);
        }
        for l in [Language::En, Language::Zh] {
            assert_eq!(Language::parse(l.as_str()).unwrap(), l);
        }
        for r in [Rating::Helpful, Rating::NotHelpful] {
            assert_eq!(Rating::parse(r.as_str()).unwrap(), r);
        }
        assert!(Language::parse("fr").is_err());
    }
}
