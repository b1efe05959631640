//! Fixtures for the SQLite store's unit tests: a fixed clock, args, and raw access to plant
//! rows as the Python service would.

use chrono::{DateTime, TimeZone, Utc};

use super::SqliteStore;
use crate::config::Args;
use crate::queue::job::{NewJob, Scheduled};

/// A fixed instant, so tests never race the clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 1, 12, 0, 0)
        .single()
        .expect("valid test time")
}

/// `t0()` plus some seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::TimeDelta::seconds(secs)
}

/// Args from pairs.
pub fn args(pairs: &[(&str, &str)]) -> Args {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Schedules a job starting at `at(secs)` in channel `C1`.
pub fn add(queue: &SqliteStore, job_type: &str, a: &Args, secs: i64) -> Scheduled {
    queue
        .schedule(&NewJob {
            job_type,
            args: a,
            channel: "C1",
            thread_ts: None,
            message_ts: None,
            is_im: false,
            start_after: at(secs),
            requester: None,
        })
        .expect("schedule")
}

/// Runs raw SQL on the queue's connection, to plant rows as Python would.
pub fn raw(queue: &SqliteStore, sql: &str) {
    queue.conn().execute_batch(sql).expect("raw sql");
}

/// Counts rows in a table.
pub fn count(queue: &SqliteStore, table: &str) -> i64 {
    queue
        .conn()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}
