-- Caller verification codes (PINs) for the IVR's identify node. Keep in step with
-- ../postgres/0002_customer_pins.sql.
-- Only an argon2id hash of the PIN is kept, never the PIN. Checks are counted per customer
-- (`failures` since `window_start`, counted before the hash is compared, so parallel calls
-- cannot get extra guesses); too many within the window set `locked_until`, and until then
-- no check succeeds (Store::verify_customer_pin documents the numbers).

CREATE TABLE customer_pins (
    customer_id   BIGINT PRIMARY KEY REFERENCES customers(id),
    pin_hash      TEXT   NOT NULL,   -- argon2id PHC string
    failures      BIGINT NOT NULL DEFAULT 0,
    window_start  BIGINT,            -- first counted check of the current window, epoch ms
    locked_until  BIGINT,            -- epoch ms; NULL when not locked
    updated_at    BIGINT NOT NULL
);
