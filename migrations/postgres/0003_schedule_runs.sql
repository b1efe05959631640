-- Due times of `[[ns.schedule]]` entries already claimed, so that of several dispatchers on
-- one database exactly one queues each due time. `job_id` is the job it queued (NULL when
-- suppressed); `outcome` says which.
CREATE TABLE schedule_run (
    schedule_key TEXT NOT NULL,
    due_at TIMESTAMPTZ NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL,
    job_id BIGINT,
    PRIMARY KEY (schedule_key, due_at)
);
