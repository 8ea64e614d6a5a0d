//! The knowledge base: articles agents read during calls, edited with optimistic concurrency,
//! rated once per agent, found by a ranked full-text search and suggested on screen pops.
//!
//! **Search, one API over two engines.** Agents type plain words; the store never passes their
//! text to a query language. It splits the text into words (letters and digits only, so `"`,
//! `*`, `-`, `:`, parentheses, `OR` and `NEAR` lose any meaning), drops common English function
//! words and the words that frame a question ("customer wants"), and then:
//!
//! * on **SQLite** matches the FTS5 table `kb_articles_fts` (porter stemming over unicode61,
//!   kept in sync with `kb_articles` by triggers) with each word quoted and joined by `OR`,
//!   ranked by `bm25` with title 10, tags 5, body 1;
//! * on **PostgreSQL** matches the generated `search` tsvector (GIN index; title weight A, tags
//!   B, body C) with one `plainto_tsquery('english', $n)` per word joined by `||`, every word a
//!   bound parameter, ranked by `ts_rank_cd` (its default weights: A 1.0, B 0.4, C 0.2).
//!
//! **Chinese.** Neither FTS5's unicode61 nor PostgreSQL's english parser segments Chinese (a
//! whole run of Han characters becomes one token), and FTS5's `trigram` tokenizer cannot find
//! the two-character words Chinese is mostly made of. So a query holding any CJK character
//! takes a third path, the same on both back ends: the query becomes character bigrams of each
//! CJK run (a lone character stays itself) plus its other words; one scan of the published
//! articles (of the language, when given) marks which terms title, tags and body hold, using
//! `LIKE` on lower-cased text (`%` and `_` escaped); the store then scores each marked article
//! as the sum over its terms of an inverse document frequency times 3 (title), 2 (tags) or 1
//! (body). No index serves this scan, so its cost grows with the number of articles; the
//! `bench_kb` example measures it.
//!
//! Agents' words are bound parameters everywhere; the SQL text is built only from counts.
//!
//! Only published articles are found and suggested. Ties rank the more helpful (helpful minus
//! not-helpful votes), then the more recently updated article first.

use hotline_records::kb::excerpt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{
    Article, ArticleHit, ArticleId, ArticleStatus, ArticleSuggestion, ArticleVotes, Backend, Error,
    KbSeed, KbSeeded, Language, Millis, NewArticle, Rating, Result, Store, SuggestionMatch,
};

/// Longest excerpt in a hit or suggestion, in characters.
const EXCERPT_CHARS: usize = 200;
/// Most hits or suggestions one call returns.
pub const KB_MAX_LIMIT: u32 = 100;
/// Most words (or CJK bigrams) of one query that are searched for.
const MAX_TERMS: usize = 24;

const ARTICLE_COLUMNS: &str = "id, title, body, tags, language, status, author, version, \
                               helpful, not_helpful, created_at, updated_at";
const HIT_COLUMNS: &str =
    "a.id, a.title, a.tags, a.language, a.body, a.helpful, a.not_helpful, a.updated_at";
const TIE_BREAK: &str = "(helpful - not_helpful) DESC, updated_at DESC, id";

/// English words too common to rank by: function words, and the words agents use to frame a
/// question about a call ("customer wants ...", "caller needs help with ...") rather than its
/// topic.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "asks", "at", "be", "by", "caller", "can", "client",
    "customer", "do", "does", "for", "from", "has", "have", "help", "how", "i", "in", "is", "it",
    "its", "like", "me", "my", "need", "needs", "of", "on", "or", "our", "please", "s", "the",
    "their", "they", "this", "to", "want", "wants", "was", "what", "when", "where", "why", "will",
    "with", "would", "you", "your",
];

impl Store {
    /// Creates an article (a draft unless `article.status` says otherwise) at version 1.
    pub async fn create_article(&self, article: &NewArticle, now: Millis) -> Result<Article> {
        let a = article.normalized()?;
        let mut tx = self.pool().begin().await?;
        let id = insert_article(&mut tx, &a, now).await?;
        tx.commit().await?;
        Ok(Article {
            id,
            title: a.title,
            body: a.body,
            tags: a.tags,
            queues: a.queues,
            ivr_reasons: a.ivr_reasons,
            language: a.language,
            status: a.status,
            author: a.author,
            version: 1,
            votes: ArticleVotes::default(),
            created_at: now,
            updated_at: now,
        })
    }

    /// An article by id, in any status.
    pub async fn article(&self, id: ArticleId) -> Result<Option<Article>> {
        let mut conn = self.pool().acquire().await?;
        read_article(&mut conn, id).await
    }

    /// Every article, in one status when given, most recently updated first (the editors'
    /// list).
    pub async fn list_articles(&self, status: Option<ArticleStatus>) -> Result<Vec<Article>> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE ($1 = '' OR status = $1)
             ORDER BY updated_at DESC, id DESC"
        )))
        .bind(status.map_or("", ArticleStatus::as_str))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut a = article_from_row(row)?;
            (a.queues, a.ivr_reasons) = read_targets(&mut conn, a.id).await?;
            out.push(a);
        }
        Ok(out)
    }

    /// Replaces an article's content (title, body, tags, queues, reasons, language, status,
    /// author) if it is still at `expected_version`, and moves it to the next version.
    /// [`Error::Conflict`] when someone else's edit came first (reload and edit again),
    /// [`Error::NotFound`] when there is no such article.
    pub async fn update_article(
        &self,
        id: ArticleId,
        expected_version: i64,
        article: &NewArticle,
        now: Millis,
    ) -> Result<Article> {
        let a = article.normalized()?;
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE kb_articles SET title = $1, body = $2, tags = $3, language = $4, status = $5,
               author = $6, version = version + 1, updated_at = $7
             WHERE id = $8 AND version = $9 RETURNING id",
        )
        .bind(a.title.as_str())
        .bind(a.body.as_str())
        .bind(a.tags.join(" "))
        .bind(a.language.as_str())
        .bind(a.status.as_str())
        .bind(a.author.as_str())
        .bind(now)
        .bind(id.0)
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(stale(&mut tx, id, expected_version).await);
        }
        write_targets(&mut tx, id, &a).await?;
        let article = read_article(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("article {id}")))?;
        tx.commit().await?;
        Ok(article)
    }

    /// Moves an article to `status` (publish, archive, back to draft) if it is still at
    /// `expected_version`; a new version like any edit. Errors as [`Store::update_article`].
    pub async fn set_article_status(
        &self,
        id: ArticleId,
        expected_version: i64,
        status: ArticleStatus,
        now: Millis,
    ) -> Result<Article> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE kb_articles SET status = $1, version = version + 1, updated_at = $2
             WHERE id = $3 AND version = $4 RETURNING id",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(id.0)
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            return Err(stale(&mut tx, id, expected_version).await);
        }
        let article = read_article(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("article {id}")))?;
        tx.commit().await?;
        Ok(article)
    }

    /// Records `agent`'s vote on an article: one vote per agent, changeable; voting the same
    /// again changes nothing. Returns the article's counts after the vote. Votes do not change
    /// the article's version (they are not edits).
    pub async fn rate_article(
        &self,
        id: ArticleId,
        agent: &str,
        rating: Rating,
        now: Millis,
    ) -> Result<ArticleVotes> {
        self.retrying(|| self.rate_article_once(id, agent, rating, now))
            .await
    }

    async fn rate_article_once(
        &self,
        id: ArticleId,
        agent: &str,
        rating: Rating,
        now: Millis,
    ) -> Result<ArticleVotes> {
        let mut tx = self.pool().begin().await?;
        // Lock the article row first, so that concurrent votes on it count one another.
        let locked = sqlx::query("UPDATE kb_articles SET helpful = helpful WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if locked == 0 {
            return Err(Error::NotFound(format!("article {id}")));
        }
        let known = sqlx::query("SELECT 1 FROM agents WHERE id = $1")
            .bind(agent)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(Error::NotFound(format!("agent {agent:?}")));
        }
        sqlx::query(
            "INSERT INTO kb_ratings (article_id, agent_id, rating, rated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (article_id, agent_id) DO UPDATE
               SET rating = excluded.rating, rated_at = excluded.rated_at
               WHERE kb_ratings.rating <> excluded.rating",
        )
        .bind(id.0)
        .bind(agent)
        .bind(rating.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "UPDATE kb_articles SET
               helpful = (SELECT COUNT(*) FROM kb_ratings WHERE article_id = $1 AND rating = 'helpful'),
               not_helpful = (SELECT COUNT(*) FROM kb_ratings WHERE article_id = $1 AND rating = 'not_helpful')
             WHERE id = $1 RETURNING helpful, not_helpful",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ArticleVotes {
            helpful: row.try_get("helpful")?,
            not_helpful: row.try_get("not_helpful")?,
        })
    }

    /// `agent`'s vote on an article, if any (to show it pressed on the desktop).
    pub async fn article_rating(&self, id: ArticleId, agent: &str) -> Result<Option<Rating>> {
        let row =
            sqlx::query("SELECT rating FROM kb_ratings WHERE article_id = $1 AND agent_id = $2")
                .bind(id.0)
                .bind(agent)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| Ok(Rating::parse(&r.try_get::<String, _>("rating")?)?))
            .transpose()
    }

    /// Agents' search: published articles matching `query` (plain words in any language), in
    /// `language` when given, best first, at most `limit` (1..=[`KB_MAX_LIMIT`]). A query with
    /// no text is [`Error::Invalid`]; one with no searchable word (`*`, `(`) finds nothing.
    pub async fn search_articles(
        &self,
        query: &str,
        language: Option<Language>,
        limit: u32,
    ) -> Result<Vec<ArticleHit>> {
        if query.trim().is_empty() {
            return Err(Error::Invalid(
                "the search is empty: type a few words of the caller's question".into(),
            ));
        }
        let limit = i64::from(limit.clamp(1, KB_MAX_LIMIT));
        let lang = language.map_or("", Language::as_str);
        match SearchTerms::parse(query) {
            SearchTerms::Nothing => Ok(Vec::new()),
            SearchTerms::Words(words) => match self.backend() {
                Backend::Sqlite => self.search_fts5(&words, lang, limit).await,
                Backend::Postgres => self.search_tsvector(&words, lang, limit).await,
            },
            SearchTerms::Cjk(terms) => self.search_like(&terms, lang, limit).await,
        }
    }

    async fn search_fts5(
        &self,
        words: &[String],
        lang: &str,
        limit: i64,
    ) -> Result<Vec<ArticleHit>> {
        let matcher = words
            .iter()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" OR ");
        // CROSS JOIN keeps the FTS table the outer loop: with a plain JOIN SQLite chose to
        // scan the articles and run the MATCH once per row (195 ms instead of 4 ms over 2,000
        // articles in the bench).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM (
               SELECT {HIT_COLUMNS}, -bm25(kb_articles_fts, 10.0, 5.0, 1.0) AS score
               FROM kb_articles_fts CROSS JOIN kb_articles a ON a.id = kb_articles_fts.rowid
               WHERE kb_articles_fts MATCH $1 AND a.status = 'published'
                 AND ($2 = '' OR a.language = $2)
             ) s ORDER BY score DESC, {TIE_BREAK} LIMIT $3"
        )))
        .bind(matcher)
        .bind(lang)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| hit_from_row(r, r.try_get("score")?))
            .collect()
    }

    async fn search_tsvector(
        &self,
        words: &[String],
        lang: &str,
        limit: i64,
    ) -> Result<Vec<ArticleHit>> {
        let tsquery = (0..words.len())
            .map(|i| format!("plainto_tsquery('english', ${})", i + 3))
            .collect::<Vec<_>>()
            .join(" || ");
        let sql = format!(
            "SELECT * FROM (
               SELECT {HIT_COLUMNS}, CAST(ts_rank_cd(a.search, q.q) AS DOUBLE PRECISION) AS score
               FROM kb_articles a, (SELECT {tsquery} AS q) q
               WHERE a.search @@ q.q AND a.status = 'published'
                 AND ($1 = '' OR a.language = $1)
             ) s ORDER BY score DESC, {TIE_BREAK} LIMIT $2"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(lang).bind(limit);
        for w in words {
            q = q.bind(w.as_str());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| hit_from_row(r, r.try_get("score")?))
            .collect()
    }

    /// The CJK path: one scan of the published articles marks, for every term, whether title,
    /// tags or body hold it (`LIKE` on the lower-cased text, computed once per row); the store
    /// then scores the marked articles by inverse document frequency times the field's weight
    /// and reads the best `limit` of them.
    async fn search_like(
        &self,
        terms: &[String],
        lang: &str,
        limit: i64,
    ) -> Result<Vec<ArticleHit>> {
        // PostgreSQL would inline the inner query and lower() the body once per term; OFFSET 0
        // keeps it a separate step. SQLite lower-cases cheaply and has no bare OFFSET.
        let fence = match self.backend() {
            Backend::Postgres => " OFFSET 0",
            Backend::Sqlite => "",
        };
        let masks = (0..terms.len())
            .map(|i| {
                let p = i + 2;
                format!(
                    "CAST(CASE WHEN t LIKE ${p} ESCAPE '\\' THEN 1 ELSE 0 END
                        + CASE WHEN g LIKE ${p} ESCAPE '\\' THEN 2 ELSE 0 END
                        + CASE WHEN b LIKE ${p} ESCAPE '\\' THEN 4 ELSE 0 END AS BIGINT) AS m{i}"
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let any = (0..terms.len())
            .map(|i| format!("m{i}"))
            .collect::<Vec<_>>()
            .join(" + ");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM (
               SELECT id, net, updated_at, {masks} FROM (
                 SELECT id, helpful - not_helpful AS net, updated_at,
                        lower(title) AS t, lower(tags) AS g, lower(body) AS b
                 FROM kb_articles WHERE status = 'published' AND ($1 = '' OR language = $1){fence}
               ) x{fence}
             ) y WHERE {any} > 0"
        )))
        .bind(lang);
        for t in terms {
            q = q.bind(like_pattern(t));
        }
        let rows = q.fetch_all(self.pool()).await?;
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM kb_articles
             WHERE status = 'published' AND ($1 = '' OR language = $1)",
        )
        .bind(lang)
        .fetch_one(self.pool())
        .await?
        .try_get("n")?;

        struct Marked {
            id: i64,
            net: i64,
            updated_at: Millis,
            masks: Vec<i64>,
        }
        let mut marked = Vec::with_capacity(rows.len());
        for r in &rows {
            let masks = (0..terms.len())
                .map(|i| r.try_get::<i64, _>(format!("m{i}").as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            marked.push(Marked {
                id: r.try_get("id")?,
                net: r.try_get("net")?,
                updated_at: r.try_get("updated_at")?,
                masks,
            });
        }
        // BM25's inverse document frequency: a term in few articles weighs more.
        let idf: Vec<f64> = (0..terms.len())
            .map(|i| {
                let df = marked.iter().filter(|m| m.masks[i] != 0).count() as f64;
                (((total as f64) - df + 0.5) / (df + 0.5)).ln_1p()
            })
            .collect();
        let mut scored: Vec<(f64, Marked)> = marked
            .into_iter()
            .map(|m| {
                let score = m
                    .masks
                    .iter()
                    .zip(&idf)
                    .map(|(mask, w)| {
                        let fields = 3 * (mask & 1) + (mask & 2) + ((mask & 4) >> 2);
                        fields as f64 * w
                    })
                    .sum::<f64>();
                (score, m)
            })
            .collect();
        scored.sort_by(|(sa, a), (sb, b)| {
            sb.total_cmp(sa)
                .then(b.net.cmp(&a.net))
                .then(b.updated_at.cmp(&a.updated_at))
                .then(a.id.cmp(&b.id))
        });
        scored.truncate(usize::try_from(limit).unwrap_or(1));
        if scored.is_empty() {
            return Ok(Vec::new());
        }
        let ids = (1..=scored.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HIT_COLUMNS} FROM kb_articles a WHERE a.id IN ({ids})"
        )));
        for (_, m) in &scored {
            q = q.bind(m.id);
        }
        let rows = q.fetch_all(self.pool()).await?;
        scored
            .iter()
            .map(|(score, m)| {
                let row = rows
                    .iter()
                    .find(|r| r.try_get::<i64, _>("id").is_ok_and(|id| id == m.id))
                    .ok_or_else(|| Error::NotFound(format!("article {} while searching", m.id)))?;
                hit_from_row(row, *score)
            })
            .collect()
    }

    /// Articles for a screen pop: published ones for the call's `queue` or its IVR `reason`
    /// (either may be unknown), in `language` when given; those for both first, then the more
    /// helpful, then the more recently updated. At most `limit` (1..=[`KB_MAX_LIMIT`]).
    pub async fn suggest_articles(
        &self,
        queue: Option<&str>,
        ivr_reason: Option<&str>,
        language: Option<Language>,
        limit: u32,
    ) -> Result<Vec<ArticleSuggestion>> {
        let queue = queue.map(str::trim).unwrap_or("");
        let reason = ivr_reason.map(str::trim).unwrap_or("");
        if queue.is_empty() && reason.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM (
               SELECT {HIT_COLUMNS},
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM kb_article_queues q
                                        WHERE q.article_id = a.id AND q.queue_id = $1)
                      THEN 1 ELSE 0 END AS BIGINT) AS by_queue,
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM kb_article_reasons r
                                        WHERE r.article_id = a.id AND r.reason = $2)
                      THEN 1 ELSE 0 END AS BIGINT) AS by_reason
               FROM kb_articles a
               WHERE a.status = 'published' AND ($3 = '' OR a.language = $3)
                 AND a.id IN (SELECT article_id FROM kb_article_queues WHERE queue_id = $1
                              UNION SELECT article_id FROM kb_article_reasons WHERE reason = $2)
             ) s ORDER BY by_queue + by_reason DESC, {TIE_BREAK} LIMIT $4"
        )))
        .bind(queue)
        .bind(reason)
        .bind(language.map_or("", Language::as_str))
        .bind(i64::from(limit.clamp(1, KB_MAX_LIMIT)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let hit = hit_from_row(row, 0.0)?;
                let by_queue: i64 = row.try_get("by_queue")?;
                let by_reason: i64 = row.try_get("by_reason")?;
                let matched = match (by_queue != 0, by_reason != 0) {
                    (true, true) => SuggestionMatch::QueueAndReason,
                    (true, false) => SuggestionMatch::Queue,
                    (false, _) => SuggestionMatch::Reason,
                };
                Ok(ArticleSuggestion {
                    id: hit.id,
                    title: hit.title,
                    tags: hit.tags,
                    language: hit.language,
                    excerpt: hit.excerpt,
                    matched,
                    votes: hit.votes,
                    updated_at: hit.updated_at,
                })
            })
            .collect()
    }

    /// Loads a seed (`config/kb.toml`) into an empty knowledge base, all articles or none;
    /// a knowledge base that holds any article is left alone. Every article is checked before
    /// the first is written, and an error names the article by position and title.
    pub async fn seed_knowledge_base(&self, seed: &KbSeed, now: Millis) -> Result<KbSeeded> {
        let mut articles = Vec::with_capacity(seed.articles.len());
        for (i, a) in seed.articles.iter().enumerate() {
            articles.push(a.normalized().map_err(|e| {
                Error::Invalid(format!("seed article {} ({:?}): {e}", i + 1, a.title))
            })?);
        }
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query("SELECT COUNT(*) AS n FROM kb_articles")
            .fetch_one(&mut *tx)
            .await?;
        let existing: i64 = row.try_get("n")?;
        if existing > 0 {
            return Ok(KbSeeded::AlreadyHasArticles(existing));
        }
        for a in &articles {
            insert_article(&mut tx, a, now).await?;
        }
        tx.commit().await?;
        Ok(KbSeeded::Loaded(articles.len()))
    }
}

/// What an agent's query becomes.
#[derive(Debug, PartialEq, Eq)]
enum SearchTerms {
    /// No letter or digit at all.
    Nothing,
    /// Lower-cased words of letters and digits, for the full-text engines.
    Words(Vec<String>),
    /// The query holds CJK characters: bigrams of each CJK run (a lone character alone) and
    /// the other words, for the `LIKE` path.
    Cjk(Vec<String>),
}

impl SearchTerms {
    fn parse(query: &str) -> SearchTerms {
        let lower = query.to_lowercase();
        let mut words: Vec<String> = Vec::new();
        let mut cjk_terms: Vec<String> = Vec::new();
        let mut has_cjk = false;
        let mut word = String::new();
        let mut run: Vec<char> = Vec::new();
        let flush_run = |run: &mut Vec<char>, out: &mut Vec<String>| {
            match run.len() {
                0 => {}
                1 => push_unique(out, run[0].to_string()),
                _ => {
                    for pair in run.windows(2) {
                        push_unique(out, pair.iter().collect());
                    }
                }
            }
            run.clear();
        };
        for c in lower.chars() {
            if is_cjk(c) {
                has_cjk = true;
                if !word.is_empty() {
                    push_unique(&mut words, std::mem::take(&mut word));
                }
                run.push(c);
            } else {
                flush_run(&mut run, &mut cjk_terms);
                if c.is_alphanumeric() {
                    word.push(c);
                } else if !word.is_empty() {
                    push_unique(&mut words, std::mem::take(&mut word));
                }
            }
        }
        flush_run(&mut run, &mut cjk_terms);
        if !word.is_empty() {
            push_unique(&mut words, word);
        }
        let content: Vec<String> = words
            .iter()
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .cloned()
            .collect();
        // A question made only of common words still searches for them.
        let mut words = if content.is_empty() { words } else { content };
        if has_cjk {
            cjk_terms.append(&mut words);
            cjk_terms.truncate(MAX_TERMS);
            SearchTerms::Cjk(cjk_terms)
        } else if words.is_empty() {
            SearchTerms::Nothing
        } else {
            words.truncate(MAX_TERMS);
            SearchTerms::Words(words)
        }
    }
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

/// Han ideographs, kana and Hangul: scripts written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'     // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}'   // CJK Extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK Unified Ideographs
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'   // CJK Compatibility Ideographs
        | '\u{20000}'..='\u{3134F}' // CJK Extensions B to G
    )
}

/// `%term%` with `\`, `%` and `_` escaped (for `LIKE ... ESCAPE '\'`).
fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

async fn insert_article(
    conn: &mut AnyConnection,
    a: &NewArticle,
    now: Millis,
) -> Result<ArticleId> {
    let row = sqlx::query(
        "INSERT INTO kb_articles (title, body, tags, language, status, author, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(a.title.as_str())
    .bind(a.body.as_str())
    .bind(a.tags.join(" "))
    .bind(a.language.as_str())
    .bind(a.status.as_str())
    .bind(a.author.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id = ArticleId(row.try_get("id")?);
    write_targets(conn, id, a).await?;
    Ok(id)
}

/// Replaces an article's queues and IVR reasons.
async fn write_targets(conn: &mut AnyConnection, id: ArticleId, a: &NewArticle) -> Result<()> {
    sqlx::query("DELETE FROM kb_article_queues WHERE article_id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM kb_article_reasons WHERE article_id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await?;
    for q in &a.queues {
        sqlx::query("INSERT INTO kb_article_queues (article_id, queue_id) VALUES ($1, $2)")
            .bind(id.0)
            .bind(q.as_str())
            .execute(&mut *conn)
            .await?;
    }
    for r in &a.ivr_reasons {
        sqlx::query("INSERT INTO kb_article_reasons (article_id, reason) VALUES ($1, $2)")
            .bind(id.0)
            .bind(r.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn read_targets(
    conn: &mut AnyConnection,
    id: ArticleId,
) -> Result<(Vec<String>, Vec<String>)> {
    let queues = sqlx::query(
        "SELECT queue_id FROM kb_article_queues WHERE article_id = $1 ORDER BY queue_id",
    )
    .bind(id.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| r.try_get("queue_id"))
    .collect::<Result<Vec<String>, _>>()?;
    let reasons =
        sqlx::query("SELECT reason FROM kb_article_reasons WHERE article_id = $1 ORDER BY reason")
            .bind(id.0)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("reason"))
            .collect::<Result<Vec<String>, _>>()?;
    Ok((queues, reasons))
}

async fn read_article(conn: &mut AnyConnection, id: ArticleId) -> Result<Option<Article>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ARTICLE_COLUMNS} FROM kb_articles WHERE id = $1"
    )))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut a = article_from_row(&row)?;
    (a.queues, a.ivr_reasons) = read_targets(conn, id).await?;
    Ok(Some(a))
}

/// The error for an edit that matched no row: no such article, or another edit came first.
async fn stale(conn: &mut AnyConnection, id: ArticleId, expected: i64) -> Error {
    let row = sqlx::query("SELECT version FROM kb_articles WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await;
    match row {
        Err(e) => e.into(),
        Ok(None) => Error::NotFound(format!("article {id}")),
        Ok(Some(r)) => match r.try_get::<i64, _>("version") {
            Err(e) => e.into(),
            Ok(v) => Error::Conflict(format!(
                "article {id} was changed by someone else (it is at version {v}, this edit \
                 started from version {expected}): reload it and edit again"
            )),
        },
    }
}

fn split_tags(tags: &str) -> Vec<String> {
    tags.split_whitespace().map(str::to_string).collect()
}

fn article_from_row(row: &AnyRow) -> Result<Article> {
    Ok(Article {
        id: ArticleId(row.try_get("id")?),
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        tags: split_tags(&row.try_get::<String, _>("tags")?),
        queues: Vec::new(),
        ivr_reasons: Vec::new(),
        language: Language::parse(&row.try_get::<String, _>("language")?)?,
        status: ArticleStatus::parse(&row.try_get::<String, _>("status")?)?,
        author: row.try_get("author")?,
        version: row.try_get("version")?,
        votes: ArticleVotes {
            helpful: row.try_get("helpful")?,
            not_helpful: row.try_get("not_helpful")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn hit_from_row(row: &AnyRow, score: f64) -> Result<ArticleHit> {
    let body: String = row.try_get("body")?;
    Ok(ArticleHit {
        id: ArticleId(row.try_get("id")?),
        title: row.try_get("title")?,
        tags: split_tags(&row.try_get::<String, _>("tags")?),
        language: Language::parse(&row.try_get::<String, _>("language")?)?,
        excerpt: excerpt(&body, EXCERPT_CHARS),
        score,
        votes: ArticleVotes {
            helpful: row.try_get("helpful")?,
            not_helpful: row.try_get("not_helpful")?,
        },
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> SearchTerms {
        SearchTerms::Words(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn query_syntax_is_only_words() {
        assert_eq!(
            SearchTerms::parse("refund\" OR 1=1 --"),
            words(&["refund", "1"])
        );
        assert_eq!(
            SearchTerms::parse("NEAR(router reboot) title:* -x"),
            words(&["near", "router", "reboot", "title", "x"])
        );
        assert_eq!(SearchTerms::parse("* ( ) \" -- :"), SearchTerms::Nothing);
        assert_eq!(SearchTerms::parse("how to"), words(&["how", "to"]));
    }

    #[test]
    fn cjk_queries_become_bigrams_and_words() {
        assert_eq!(
            SearchTerms::parse("行李丢了 bag"),
            SearchTerms::Cjk(vec![
                "行李".into(),
                "李丢".into(),
                "丢了".into(),
                "bag".into()
            ])
        );
        assert_eq!(
            SearchTerms::parse("退，款"),
            SearchTerms::Cjk(vec!["退".into(), "款".into()])
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
