//! Who asked for each queued job (`job_requester`), so that they may remove it.

use rusqlite::{params, OptionalExtension, Transaction};

use super::SqliteStore;
use crate::queue::job::Requested;
use crate::queue::QueueError;

/// Records `requester` of job `id` in the scheduling transaction. A new row's id may be one
/// the Python schema reuses, so its old requesters are cleared first.
pub(super) fn record_in(
    tx: &Transaction<'_>,
    id: i64,
    added: bool,
    requester: Option<&str>,
    now: &str,
) -> Result<(), QueueError> {
    if added {
        tx.prepare_cached("DELETE FROM job_requester WHERE job_id = ?1")?
            .execute([id])?;
    }
    if let Some(user) = requester {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO job_requester (job_id, user_id, requested_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, user, now])?;
    }
    Ok(())
}

impl SqliteStore {
    /// Job `id`'s type and requesters, if it is queued or running.
    pub fn requested(&self, id: i64) -> Result<Option<Requested>, QueueError> {
        let conn = self.conn();
        let job_type: Option<String> = conn
            .prepare_cached("SELECT type FROM job WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?;
        let Some(job_type) = job_type else {
            return Ok(None);
        };
        let requesters = conn
            .prepare_cached("SELECT user_id FROM job_requester WHERE job_id = ?1 ORDER BY requested_at, user_id")?
            .query_map([id], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(Requested {
            job_type,
            requesters,
        }))
    }

    /// Forgets the requesters of jobs no longer queued; returns how many rows.
    pub(super) fn prune_requesters(&self) -> Result<usize, QueueError> {
        Ok(self
            .conn()
            .prepare_cached("DELETE FROM job_requester WHERE job_id NOT IN (SELECT id FROM job)")?
            .execute([])?)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::test_util::*;
    use super::*;
    use crate::queue::NewJob;

    fn request(queue: &SqliteStore, job_type: &str, user: &str) -> i64 {
        let a = args(&[]);
        queue
            .schedule(&NewJob {
                job_type,
                args: &a,
                channel: "C1",
                thread_ts: None,
                message_ts: None,
                is_im: false,
                start_after: Utc::now(),
                requester: Some(user),
            })
            .expect("schedule")
            .id
    }

    #[test]
    fn merged_requests_keep_every_requester_and_a_reused_id_none() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let id = request(&queue, "t_deploy", "U1");
        assert_eq!(request(&queue, "t_deploy", "U2"), id, "merged");
        let got = queue.requested(id).expect("read").expect("queued");
        assert_eq!(got.job_type, "t_deploy");
        assert_eq!(got.requesters, ["U1", "U2"]);
        // The row goes; SQLite hands its id to the next job, which must not inherit U1 and U2.
        queue.cancel_job("t_deploy").expect("cancel");
        assert_eq!(queue.requested(id).expect("read"), None);
        let reused = request(&queue, "t_other", "U3");
        assert_eq!(reused, id, "the Python schema reuses ids");
        assert_eq!(
            queue.requested(id).expect("read").unwrap().requesters,
            ["U3"]
        );
        assert_eq!(queue.prune_requesters().expect("prune"), 0);
    }
}
