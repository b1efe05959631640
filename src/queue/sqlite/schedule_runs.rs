//! Claims of scheduled jobs' due times in SQLite: the claim, the job it queues and the
//! pruning of old claims in one immediate transaction.

use rusqlite::{params, Transaction, TransactionBehavior};

use super::jobs::schedule_in;
use super::suppression::active_suppression_in;
use super::SqliteStore;
use crate::queue::schedule_runs::{ScheduleClaim, ScheduleRun};
use crate::queue::time::format_time;
use crate::queue::QueueError;

impl SqliteStore {
    /// Claims `claim.due_at` for its schedule and, if the claim is new, queues the job by the
    /// normal rules (dedupe included), unless its type is suppressed at `claim.now`; all in one
    /// immediate transaction. Prunes the schedule's claims older than
    /// [`SCHEDULE_RUN_RETENTION`](crate::queue::schedule_runs::SCHEDULE_RUN_RETENTION), except its latest.
    pub fn claim_schedule_run(&self, claim: &ScheduleClaim) -> Result<ScheduleRun, QueueError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let run = claim_in(&tx, claim)?;
        if !run.claimed_here() {
            return Ok(run);
        }
        tx.commit()?;
        drop(conn);
        if run.queued() {
            self.wake();
        }
        Ok(run)
    }
}

fn claim_in(tx: &Transaction<'_>, claim: &ScheduleClaim) -> Result<ScheduleRun, QueueError> {
    let key = claim.schedule_key.as_str();
    let due = format_time(claim.due_at);
    if claim.only_after_earlier_run {
        let ran_before: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM schedule_run WHERE schedule_key = ?1 AND due_at < ?2)",
            )?
            .query_row(params![key, due], |r| r.get(0))?;
        if !ran_before {
            return Ok(ScheduleRun::NeverRan);
        }
    }
    let now = format_time(claim.now);
    let claimed = tx
        .prepare_cached(
            "INSERT INTO schedule_run (schedule_key, due_at, claimed_at, outcome)
             VALUES (?1, ?2, ?3, 'claimed') ON CONFLICT (schedule_key, due_at) DO NOTHING",
        )?
        .execute(params![key, due, now])?;
    if claimed == 0 {
        return Ok(ScheduleRun::AlreadyClaimed);
    }
    let run = match active_suppression_in(tx, &claim.job_type, claim.now)? {
        Some(s) => ScheduleRun::Suppressed { until: s.end_at },
        None => ScheduleRun::Queued(schedule_in(tx, &claim.job())?),
    };
    if let Some((outcome, job_id)) = run.outcome() {
        set_outcome(tx, key, &due, outcome, job_id)?;
    }
    let cutoff = claim.prune_cutoff();
    // `due_at < ?3` keeps the claim just made, the latest, even when it is older than the cutoff.
    tx.prepare_cached(
        "DELETE FROM schedule_run WHERE schedule_key = ?1 AND due_at < ?2 AND due_at < ?3",
    )?
    .execute(params![key, format_time(cutoff), due])?;
    Ok(run)
}

fn set_outcome(
    tx: &Transaction<'_>,
    key: &str,
    due: &str,
    outcome: &str,
    job_id: Option<i64>,
) -> Result<(), QueueError> {
    tx.prepare_cached(
        "UPDATE schedule_run SET outcome = ?3, job_id = ?4 WHERE schedule_key = ?1 AND due_at = ?2",
    )?
    .execute(params![key, due, outcome, job_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    fn claim(secs: i64, only_after_earlier_run: bool) -> ScheduleClaim {
        ScheduleClaim {
            schedule_key: "r_ping * * * * * UTC".into(),
            due_at: at(secs),
            job_type: "r_ping".into(),
            args: args(&[]),
            channel: "#reports".into(),
            only_after_earlier_run,
            now: at(secs + 5),
        }
    }

    #[test]
    fn a_due_time_is_claimed_and_queued_once() {
        let queue = SqliteStore::open_in_memory().expect("open");
        let first = queue.claim_schedule_run(&claim(0, false)).expect("claim");
        assert!(matches!(first, ScheduleRun::Queued(s) if !s.already_running));
        assert_eq!(
            queue.claim_schedule_run(&claim(0, false)).expect("claim"),
            ScheduleRun::AlreadyClaimed
        );
        assert_eq!(count(&queue, "job"), 1);
        let job = queue.reserve("d", at(10)).expect("reserve").expect("a job");
        assert_eq!(
            (job.job_type.as_str(), job.channel.as_str(), job.start_after),
            ("r_ping", "#reports", at(0))
        );
    }

    #[test]
    fn a_suppressed_type_is_claimed_but_not_queued() {
        let queue = SqliteStore::open_in_memory().expect("open");
        queue
            .schedule_suppression("r_ping", at(-60), at(600))
            .expect("suppress");
        assert_eq!(
            queue.claim_schedule_run(&claim(0, false)).expect("claim"),
            ScheduleRun::Suppressed { until: at(600) }
        );
        assert_eq!(count(&queue, "job"), 0);
        assert_eq!(
            queue.claim_schedule_run(&claim(0, false)).expect("claim"),
            ScheduleRun::AlreadyClaimed,
            "nobody else queues it"
        );
    }

    #[test]
    fn catch_up_needs_an_earlier_run_and_keeps_the_latest_claim() {
        let queue = SqliteStore::open_in_memory().expect("open");
        assert_eq!(
            queue.claim_schedule_run(&claim(0, true)).expect("claim"),
            ScheduleRun::NeverRan
        );
        assert_eq!(count(&queue, "schedule_run"), 0);
        queue.claim_schedule_run(&claim(0, false)).expect("claim");
        // Ten days later, the missed latest due time is caught up; the old claim is pruned.
        let later = 10 * 24 * 3600;
        assert!(matches!(
            queue
                .claim_schedule_run(&claim(later, true))
                .expect("claim"),
            ScheduleRun::Queued(_)
        ));
        assert_eq!(count(&queue, "schedule_run"), 1);
    }
}
