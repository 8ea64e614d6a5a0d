-- What a customer owes (minor units, positive = due), kept by the billing system through the
-- REST API or an import, and paid by phone in the IVR (`amount = "balance"` pay nodes). One
-- row per customer; no row means no balance on record.
CREATE TABLE customer_balances (
    customer_id   BIGINT PRIMARY KEY REFERENCES customers(id),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT   NOT NULL,
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT   NOT NULL
);

-- Each approved balance payment lowers the balance once: the payment's idempotency key is
-- the key here, so a retried settlement changes nothing.
CREATE TABLE balance_settlements (
    payment_key   TEXT   PRIMARY KEY REFERENCES payments(idempotency_key),
    customer_id   BIGINT NOT NULL REFERENCES customers(id),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT   NOT NULL,
    settled_at    BIGINT NOT NULL
);
