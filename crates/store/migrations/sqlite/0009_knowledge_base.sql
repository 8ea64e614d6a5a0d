-- Knowledge base: articles agents read during calls, which queues and IVR reasons each is for,
-- one helpful/not-helpful vote per agent per article, and a full-text index.
-- Keep in step with ../postgres/0009_knowledge_base.sql. Times are epoch ms.
--
-- Search: an FTS5 external-content table over (title, tags, body), kept in sync by the triggers
-- below (porter stemming over unicode61, so "cancelled" finds "cancel"); the store ranks with
-- bm25 weighting title above tags above body. FTS5 does not segment Chinese: queries with CJK
-- characters are answered by the store with LIKE over character bigrams instead (see
-- crates/store/src/knowledge.rs), which needs no index here.

CREATE TABLE kb_articles (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    title        TEXT   NOT NULL,
    body         TEXT   NOT NULL,                -- Markdown
    tags         TEXT   NOT NULL DEFAULT '',     -- lower-case tags joined by one space
    language     TEXT   NOT NULL CHECK (language IN ('en', 'zh')),
    status       TEXT   NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'published', 'archived')),
    author       TEXT   NOT NULL,
    version      BIGINT NOT NULL DEFAULT 1,      -- +1 on every edit: optimistic concurrency
    helpful      BIGINT NOT NULL DEFAULT 0,      -- agents' votes, kept with kb_ratings
    not_helpful  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX kb_articles_status_language ON kb_articles(status, language);

-- The queues whose calls an article is for (queue ids of config/queues.toml; not a foreign key,
-- since queues come from configuration and may be seeded after the articles).
CREATE TABLE kb_article_queues (
    article_id  BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    queue_id    TEXT   NOT NULL,
    PRIMARY KEY (article_id, queue_id)
);
CREATE INDEX kb_article_queues_queue ON kb_article_queues(queue_id, article_id);

-- The values of the IVR's `reason` variable (billing, support, sales) an article answers.
CREATE TABLE kb_article_reasons (
    article_id  BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    reason      TEXT   NOT NULL,
    PRIMARY KEY (article_id, reason)
);
CREATE INDEX kb_article_reasons_reason ON kb_article_reasons(reason, article_id);

-- One vote per agent per article; a changed vote moves the article's counters.
CREATE TABLE kb_ratings (
    article_id  BIGINT NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    agent_id    TEXT   NOT NULL REFERENCES agents(id),
    rating      TEXT   NOT NULL CHECK (rating IN ('helpful', 'not_helpful')),
    rated_at    BIGINT NOT NULL,
    PRIMARY KEY (article_id, agent_id)
);

CREATE VIRTUAL TABLE kb_articles_fts USING fts5(
    title, tags, body,
    content = 'kb_articles', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_articles_fts (rowid, title, tags, body)
    VALUES (new.id, new.title, new.tags, new.body);
END;

CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_articles_fts (kb_articles_fts, rowid, title, tags, body)
    VALUES ('delete', old.id, old.title, old.tags, old.body);
END;

-- Only edits of the indexed text touch the index (not votes or status changes).
CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, tags, body ON kb_articles BEGIN
    INSERT INTO kb_articles_fts (kb_articles_fts, rowid, title, tags, body)
    VALUES ('delete', old.id, old.title, old.tags, old.body);
    INSERT INTO kb_articles_fts (rowid, title, tags, body)
    VALUES (new.id, new.title, new.tags, new.body);
END;
