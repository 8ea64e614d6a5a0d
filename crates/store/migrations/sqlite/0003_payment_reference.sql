-- The merchant reference of a payment (the order or invoice an agent's StartPayment names).
-- Keep in step with ../postgres/0003_payment_reference.sql. Never card data: the store refuses
-- anything that looks like a card number here.
ALTER TABLE payments ADD COLUMN reference TEXT;
