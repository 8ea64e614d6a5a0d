-- Outbound campaigns: campaigns, their contacts, one row per dial attempt, do-not-call lists.
-- Keep in step with ../postgres/0006_outbound.sql. Times are epoch ms; JSON is text.

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT   NOT NULL UNIQUE,
    mode        TEXT   NOT NULL CHECK (mode IN ('preview', 'progressive', 'predictive', 'ratio')),
    status      TEXT   NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'running', 'paused', 'stopped')),
    settings    TEXT   NOT NULL,   -- JSON CampaignSettings: calling hours, time zone, ring, abandon cap, caller id, lines, recycling
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- A contact is one number to call in one campaign. `state` is pending | scheduled | dialling |
-- done; a scheduled contact has `next_attempt_at`, and an agent-owned callback also an
-- `owner_agent`.
CREATE TABLE campaign_contacts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id       BIGINT NOT NULL REFERENCES campaigns(id),
    customer_id       BIGINT REFERENCES customers(id),
    number            TEXT   NOT NULL,               -- E.164
    name              TEXT,
    time_zone         TEXT,                          -- IANA; NULL = the campaign's
    priority          BIGINT NOT NULL DEFAULT 0,     -- higher first
    state             TEXT   NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'scheduled', 'dialling', 'done')),
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    owner_agent       TEXT,
    last_outcome      TEXT,
    last_disposition  TEXT,
    extra             TEXT   NOT NULL DEFAULT '{}',  -- JSON object: script fields
    source            TEXT   NOT NULL,               -- manual | csv | list:<kind>
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (campaign_id, number),
    CHECK ((state = 'scheduled') = (next_attempt_at IS NOT NULL)),
    CHECK (owner_agent IS NULL OR state = 'scheduled')
);
CREATE INDEX campaign_contacts_due ON campaign_contacts(campaign_id, state, next_attempt_at);
CREATE INDEX campaign_contacts_owner ON campaign_contacts(owner_agent, next_attempt_at)
    WHERE owner_agent IS NOT NULL;
CREATE INDEX campaign_contacts_customer ON campaign_contacts(customer_id);

-- One row per dial attempt, idempotent by (contact_id, attempt_no).
CREATE TABLE campaign_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id  BIGINT NOT NULL REFERENCES campaigns(id),
    contact_id   BIGINT NOT NULL REFERENCES campaign_contacts(id),
    attempt_no   BIGINT NOT NULL CHECK (attempt_no >= 1),
    number       TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    outcome      TEXT,   -- answered_person | machine | busy | no_answer | failed | abandoned | wrong_number | do_not_call | completed
    disposition  TEXT,   -- the wrap-up code of a completed attempt
    agent_id     TEXT,
    call_id      TEXT,
    UNIQUE (contact_id, attempt_no),
    CHECK ((ended_at IS NULL) = (outcome IS NULL)),
    CHECK ((outcome = 'completed') = (disposition IS NOT NULL))
);
CREATE INDEX campaign_attempts_started ON campaign_attempts(campaign_id, started_at);

-- Do-not-call entries: campaign_id NULL is the global list. Removal keeps the row (who, when,
-- why); at most one entry in force per list and number.
CREATE TABLE dnc_entries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id     BIGINT REFERENCES campaigns(id),
    number          TEXT   NOT NULL,   -- E.164
    source          TEXT   NOT NULL CHECK (source IN ('admin', 'import', 'customer_request')),
    added_by        TEXT   NOT NULL,
    added_at        BIGINT NOT NULL,
    note            TEXT   NOT NULL DEFAULT '',
    removed_at      BIGINT,
    removed_by      TEXT,
    removed_reason  TEXT
);
CREATE UNIQUE INDEX dnc_global_in_force ON dnc_entries(number)
    WHERE campaign_id IS NULL AND removed_at IS NULL;
CREATE UNIQUE INDEX dnc_campaign_in_force ON dnc_entries(campaign_id, number)
    WHERE campaign_id IS NOT NULL AND removed_at IS NULL;
CREATE INDEX dnc_number_in_force ON dnc_entries(number, campaign_id) WHERE removed_at IS NULL;

-- Birthday lists look customers up by month and day (birthday is YYYY-MM-DD text).
CREATE INDEX customers_birthday_month_day ON customers(substr(birthday, 6, 5));
