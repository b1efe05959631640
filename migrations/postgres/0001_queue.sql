-- The queue as SQLite schema version 6 has it, in PostgreSQL's types: the Python service's
-- `job` and `suppression`, plus runs, history and webhook deliveries. Same tables and columns,
-- so an operator's queries work on either store.
CREATE TABLE job (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    args TEXT,
    channel TEXT,
    thread_ts TEXT,
    message_ts TEXT,
    start_after TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    is_im BOOLEAN
);
CREATE INDEX job_pending ON job (start_after, id) WHERE started_at IS NULL;
CREATE INDEX job_type_args ON job (type, args);
-- One running job per type, across every dispatcher on every host: a second `reserve` of a
-- type fails with a unique violation instead of starting it.
CREATE UNIQUE INDEX job_one_running_per_type ON job (type) WHERE started_at IS NOT NULL;

CREATE TABLE suppression (
    id BIGSERIAL PRIMARY KEY,
    job_type TEXT NOT NULL,
    start_at TIMESTAMPTZ,
    end_at TIMESTAMPTZ
);
CREATE INDEX suppression_type ON suppression (job_type);

CREATE TABLE job_run (
    run_id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    process_group INTEGER,
    stop_requested_by TEXT,
    stop_requested_at TIMESTAMPTZ
);
CREATE INDEX job_run_owner ON job_run (owner);

CREATE TABLE job_history (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL,
    type TEXT NOT NULL,
    args TEXT,
    channel TEXT,
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ NOT NULL,
    exit_kind TEXT NOT NULL,
    exit_code INTEGER,
    exit_detail TEXT,
    log_dir TEXT,
    run_id BIGINT
);
CREATE INDEX job_history_ended ON job_history (ended_at);

CREATE TABLE webhook_delivery (
    delivery_id TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_delivery_seen ON webhook_delivery (seen_at);
