-- Who asked for each queued job (Slack user ids), who may then remove it. A table of its own
-- so that `job` keeps the Python service's columns.
CREATE TABLE job_requester (
    job_id BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, user_id)
);
