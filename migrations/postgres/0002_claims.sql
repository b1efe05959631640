-- Slack event ids already acted on (by any replica), kept for a day; and named leases, so
-- that one replica at a time runs a singleton task such as the support search checker.
CREATE TABLE slack_event (
    event_id TEXT PRIMARY KEY,
    claimed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX slack_event_claimed ON slack_event (claimed_at);

CREATE TABLE service_lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
