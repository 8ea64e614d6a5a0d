-- The switch node that created each call record, so that a node restarting after a crash
-- closes only the records it owned (several nodes may share one PostgreSQL database).
-- Records written before this migration (and by tools) have no node.
ALTER TABLE calls ADD COLUMN node TEXT;
CREATE INDEX calls_open_by_node ON calls(node) WHERE ended_at IS NULL;
