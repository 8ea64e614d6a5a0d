-- Short messages between agents and to supervisors, sent through CTI: one row per recipient,
-- kept until her desktop confirms it (delivered_at), so a message to someone away is
-- delivered when she next logs in, once.
CREATE TABLE agent_messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sender        TEXT   NOT NULL REFERENCES agents(id),
    recipient     TEXT   NOT NULL REFERENCES agents(id),
    audience      TEXT   NOT NULL,          -- agent | supervisors | everyone
    body          TEXT   NOT NULL,
    sent_at       BIGINT NOT NULL,
    delivered_at  BIGINT
);
CREATE INDEX agent_messages_recipient ON agent_messages(recipient, delivered_at);
