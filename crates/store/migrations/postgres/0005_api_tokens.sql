-- API tokens for the REST API (`/api/v1`). Only the SHA-256 of a token is stored (hex); the
-- token itself is shown once, when it is created. `role` is supervisor | admin | integration.
-- A revoked token keeps its row (who made it, when it was revoked) for the audit trail.
CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    token_hash    TEXT   NOT NULL UNIQUE,
    created_by    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
