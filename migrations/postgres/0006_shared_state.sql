-- Support calls claimed (by rule, and the calling message's channel and ts), so that of
-- several replicas, and of the live, edit and search paths, one reposts each call. Kept a
-- week: the search checker looks two days back.
CREATE TABLE support_call (
    rule TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rule, channel, ts)
);
CREATE INDEX support_call_claimed ON support_call (claimed_at);

-- Files jobs write under WRITEABLE_DIR that every replica must see (a support rule's
-- out-of-office file), as the dispatcher that ran the job last found them; `contents` NULL:
-- the file was removed.
CREATE TABLE shared_file (
    name TEXT PRIMARY KEY,
    contents TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
