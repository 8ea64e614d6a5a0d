-- Webhooks (docs/api.md#webhooks): subscriptions made by an admin through the REST API, and
-- the durable outbox the switch's delivery worker reads.
--
-- `kinds` is a JSON list of event kinds (`["call.ended", "ticket.created"]`). `secret` signs
-- every delivery (HMAC-SHA256); it is shown once, when the subscription is created, and kept
-- here because signing needs it. A deleted subscription keeps its row (`active` 0,
-- `deleted_at`) so that its delivery log can still be read.
CREATE TABLE webhook_subscriptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    url           TEXT    NOT NULL,
    kinds         TEXT    NOT NULL,
    secret        TEXT    NOT NULL,
    active        BIGINT  NOT NULL DEFAULT 1,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    deleted_at    BIGINT
);

-- One row per event per subscription. Written in the transaction of the write that causes
-- the event, idempotent by (subscription, kind, subject, source id). `sequence` counts the
-- deliveries of one subject (`call/<id>`, `ticket/<id>`) to one subscription from 1, taken
-- from `webhook_subjects`; a subject's deliveries go out in that order. `state` is
-- pending | delivered | failed; `claimed_until` is a worker's lease while it posts.
CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id BIGINT  NOT NULL REFERENCES webhook_subscriptions (id),
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    source_id       TEXT    NOT NULL,
    sequence        BIGINT  NOT NULL,
    body            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_until   BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    UNIQUE (subscription_id, kind, subject, source_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (state, next_attempt_at);
CREATE INDEX webhook_outbox_subject ON webhook_outbox (subscription_id, subject, sequence);

-- The last sequence number given to each subject of each subscription.
CREATE TABLE webhook_subjects (
    subscription_id BIGINT NOT NULL REFERENCES webhook_subscriptions (id),
    subject         TEXT   NOT NULL,
    last_sequence   BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, subject)
);
