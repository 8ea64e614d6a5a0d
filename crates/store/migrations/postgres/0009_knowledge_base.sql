-- Knowledge base: articles agents read during calls, which queues and IVR reasons each is for,
-- one helpful/not-helpful vote per agent per article, and a full-text index.
-- Keep in step with ../sqlite/0009_knowledge_base.sql. Times are epoch ms.
--
-- Search: `search` is a generated tsvector (english configuration: stemming and stop words),
-- title weighted A, tags B, body C, under a GIN index; the store ranks with ts_rank_cd. The
-- english parser does not segment Chinese: queries with CJK characters are answered by the
-- store with LIKE over character bigrams instead (see crates/store/src/knowledge.rs).

CREATE TABLE kb_articles (
    id           BIGSERIAL PRIMARY KEY,
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
    updated_at   BIGINT NOT NULL,
    search       tsvector GENERATED ALWAYS AS (
                     setweight(to_tsvector('english'::regconfig, title), 'A')
                     || setweight(to_tsvector('english'::regconfig, tags), 'B')
                     || setweight(to_tsvector('english'::regconfig, body), 'C')
                 ) STORED
);
CREATE INDEX kb_articles_status_language ON kb_articles(status, language);
CREATE INDEX kb_articles_search ON kb_articles USING GIN (search);

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
