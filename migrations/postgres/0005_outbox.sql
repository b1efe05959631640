-- What the bot must post to Slack because of the queue, kept until Slack has it: delivered in
-- id order per channel, deleted once delivered; `failure` marks one Slack refused for good,
-- kept for inspection. `content` is a file's bytes (at most 5 MiB, the upload limit).
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    channel TEXT NOT NULL,
    report TEXT NOT NULL,
    content BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    failure TEXT
);
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE failure IS NULL;
