-- Hotline schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql.
-- Conventions: timestamps are unix epoch milliseconds (BIGINT), flags are 0/1 BIGINT,
-- free-form structured data (IVR path, inputs, event detail) is JSON text.

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name  TEXT    NOT NULL,
    tier          TEXT    NOT NULL DEFAULT 'standard',   -- vip | gold | silver | standard
    value_score   BIGINT  NOT NULL DEFAULT 0,            -- lifetime value, minor units
    priority      BIGINT  NOT NULL DEFAULT 0,            -- routing priority derived from tier
    birthday      TEXT,                                  -- YYYY-MM-DD
    language      TEXT,
    notes         TEXT    NOT NULL DEFAULT '',
    merged_into   BIGINT  REFERENCES customers(id),      -- set when merged into another customer
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE customer_identities (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id  BIGINT  NOT NULL REFERENCES customers(id),
    kind         TEXT    NOT NULL,   -- phone | account | loyalty | email | booking_ref
    value        TEXT    NOT NULL,   -- normalised: E.164 phone, lower-case e-mail
    verified     BIGINT  NOT NULL DEFAULT 0,
    source       TEXT    NOT NULL DEFAULT 'manual',   -- channel that supplied it: ivr, web, agent, import
    created_at   BIGINT  NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities(customer_id);

CREATE TABLE skills (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE queues (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE agents (
    id             TEXT PRIMARY KEY,          -- login
    name           TEXT   NOT NULL,
    extension      TEXT   NOT NULL UNIQUE,
    role           TEXT   NOT NULL,           -- agent | supervisor | admin
    password_hash  TEXT   NOT NULL,           -- argon2id PHC string
    active         BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE agent_skills (
    agent_id     TEXT   NOT NULL REFERENCES agents(id),
    skill        TEXT   NOT NULL REFERENCES skills(name),
    proficiency  BIGINT NOT NULL CHECK (proficiency BETWEEN 1 AND 5),
    PRIMARY KEY (agent_id, skill)
);

CREATE TABLE agent_state_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id  TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    state     TEXT   NOT NULL,   -- logged_out | not_ready | ready | reserved | on_call | wrap_up | ...
    reason    TEXT,
    call_id   TEXT
);
CREATE INDEX agent_state_events_agent_at ON agent_state_events(agent_id, at);
CREATE INDEX agent_state_events_at ON agent_state_events(at);

CREATE TABLE calls (
    id            TEXT PRIMARY KEY,           -- call id issued by the switch
    direction     TEXT   NOT NULL,            -- inbound | outbound | internal | callback
    ani           TEXT   NOT NULL,
    dnis          TEXT   NOT NULL,
    customer_id   BIGINT REFERENCES customers(id),
    ivr_path      TEXT   NOT NULL DEFAULT '[]',   -- JSON array of node ids
    ivr_inputs    TEXT   NOT NULL DEFAULT '{}',   -- JSON object; sensitive inputs never stored
    queue_id      TEXT,
    priority      BIGINT NOT NULL DEFAULT 0,
    arrived_at    BIGINT NOT NULL,
    enqueued_at   BIGINT,
    offered_at    BIGINT,
    answered_at   BIGINT,
    ended_at      BIGINT,
    agent_id      TEXT,
    end_reason    TEXT,                        -- normal | caller_hangup | busy | no_answer | cancelled | rejected | failed | ...
    abandoned     BIGINT NOT NULL DEFAULT 0,
    hold_ms       BIGINT NOT NULL DEFAULT 0,
    transfers     BIGINT NOT NULL DEFAULT 0,
    quality       TEXT                         -- JSON: loss, jitter, MOS per leg
);
CREATE INDEX calls_customer_arrived ON calls(customer_id, arrived_at);
CREATE INDEX calls_arrived ON calls(arrived_at);
CREATE INDEX calls_queue_arrived ON calls(queue_id, arrived_at);

CREATE TABLE call_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id   TEXT   NOT NULL,
    seq       BIGINT NOT NULL,   -- per-call sequence from the writer; makes retries idempotent
    at        BIGINT NOT NULL,
    kind      TEXT   NOT NULL,   -- arrived | ivr | enqueued | offered | answered | held | resumed | transferred | ended | ...
    agent_id  TEXT,
    queue_id  TEXT,
    detail    TEXT   NOT NULL DEFAULT '{}',
    UNIQUE (call_id, seq)
);
CREATE INDEX call_events_at ON call_events(at);

CREATE TABLE dispositions (
    code         TEXT PRIMARY KEY,
    label        TEXT   NOT NULL,
    resolved     BIGINT NOT NULL DEFAULT 0,   -- counts towards first-contact resolution
    active       BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE outcomes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id      TEXT   NOT NULL,
    agent_id     TEXT   NOT NULL,
    disposition  TEXT   NOT NULL REFERENCES dispositions(code),
    notes        TEXT   NOT NULL DEFAULT '',
    wrapup_ms    BIGINT NOT NULL DEFAULT 0,
    ticket_id    BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (call_id, agent_id)
);
CREATE INDEX outcomes_call ON outcomes(call_id);

CREATE TABLE tickets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client_key    TEXT UNIQUE,                  -- idempotency key chosen by the writer (desktop outbox)
    customer_id   BIGINT REFERENCES customers(id),
    call_id       TEXT,
    subject       TEXT   NOT NULL,
    body          TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL DEFAULT 'open',   -- open | pending | solved | closed
    priority      TEXT   NOT NULL DEFAULT 'normal', -- low | normal | high | urgent
    assignee      TEXT,
    created_by    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX tickets_customer_status ON tickets(customer_id, status);

CREATE TABLE ticket_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id   BIGINT NOT NULL REFERENCES tickets(id),
    at          BIGINT NOT NULL,
    actor       TEXT,
    field       TEXT   NOT NULL,   -- created | status | priority | assignee | subject | body | comment
    old_value   TEXT,
    new_value   TEXT
);
CREATE INDEX ticket_history_ticket ON ticket_history(ticket_id, at);

CREATE TABLE bookable_items (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sku           TEXT   NOT NULL UNIQUE,
    name          TEXT   NOT NULL,
    description   TEXT   NOT NULL DEFAULT '',
    starts_at     BIGINT,                    -- departure / appointment time, epoch ms
    price_minor   BIGINT NOT NULL,
    currency      TEXT   NOT NULL,
    capacity      BIGINT NOT NULL,
    held          BIGINT NOT NULL DEFAULT 0,
    sold          BIGINT NOT NULL DEFAULT 0,
    CHECK (held >= 0 AND sold >= 0 AND held + sold <= capacity)
);

CREATE TABLE bookings (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    reference        TEXT   NOT NULL UNIQUE,
    customer_id      BIGINT NOT NULL REFERENCES customers(id),
    item_id          BIGINT NOT NULL REFERENCES bookable_items(id),
    call_id          TEXT,
    quantity         BIGINT NOT NULL DEFAULT 1,
    status           TEXT   NOT NULL,        -- held | confirmed | cancelled | expired
    hold_expires_at  BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX bookings_customer ON bookings(customer_id, created_at);

-- Payments never hold a card number or a security code: only the gateway's token, brand, last four.
CREATE TABLE payments (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key   TEXT   NOT NULL UNIQUE,
    booking_id        BIGINT REFERENCES bookings(id),
    customer_id       BIGINT REFERENCES customers(id),
    call_id           TEXT,
    amount_minor      BIGINT NOT NULL,
    currency          TEXT   NOT NULL,
    status            TEXT   NOT NULL,        -- pending | approved | declined | failed | refunded
    decline_reason    TEXT,
    gateway           TEXT   NOT NULL,
    gateway_ref       TEXT,
    card_token        TEXT,
    card_brand        TEXT,
    card_last4        TEXT CHECK (card_last4 IS NULL OR length(card_last4) = 4),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Who did what as supervisor or admin (monitor, whisper, barge, force state, skill changes, refusals).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    target     TEXT,
    call_id    TEXT,
    allowed    BIGINT NOT NULL DEFAULT 1,
    detail     TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);
