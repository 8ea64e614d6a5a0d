-- Tickets as work: the queue (or team) whose agents work a ticket nobody is assigned to, what
-- kind of work it is (ticket, voicemail, follow_up), when it is due, and for a voicemail the
-- recording's file name (under the switch's recordings folder).
ALTER TABLE tickets ADD COLUMN queue_id TEXT;
ALTER TABLE tickets ADD COLUMN kind TEXT NOT NULL DEFAULT 'ticket';
ALTER TABLE tickets ADD COLUMN recording TEXT;
ALTER TABLE tickets ADD COLUMN due_at BIGINT;
CREATE INDEX tickets_work ON tickets(queue_id, status, due_at);
CREATE INDEX tickets_assignee_status ON tickets(assignee, status);
