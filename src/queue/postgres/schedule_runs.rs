//! Claims of scheduled jobs' due times in PostgreSQL: the claim, the job it queues and the
//! pruning of old claims in one transaction (the rules are in `queue/schedule_runs.rs`).

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use super::jobs::schedule_in;
use super::suppression::active_in;
use super::{PgStore, NOTIFY_SQL};
use crate::queue::schedule_runs::{ScheduleClaim, ScheduleRun};
use crate::queue::QueueError;

impl PgStore {
    /// Claims `claim.due_at` for its schedule and, if the claim is new, queues the job unless
    /// its type is suppressed, in one transaction.
    pub async fn claim_schedule_run(
        &self,
        claim: &ScheduleClaim,
    ) -> Result<ScheduleRun, QueueError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let run = claim_in(&tx, claim).await?;
        if !run.claimed_here() {
            return Ok(run);
        }
        if run.queued() {
            tx.execute(NOTIFY_SQL, &[]).await?;
        }
        tx.commit().await?;
        if run.queued() {
            self.wake();
        }
        Ok(run)
    }
}

async fn claim_in(tx: &Transaction<'_>, claim: &ScheduleClaim) -> Result<ScheduleRun, QueueError> {
    let key = claim.schedule_key.as_str();
    if claim.only_after_earlier_run {
        let ran_before: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM schedule_run WHERE schedule_key = $1 AND due_at < $2)",
                &[&key, &claim.due_at],
            )
            .await?
            .get(0);
        if !ran_before {
            return Ok(ScheduleRun::NeverRan);
        }
    }
    let claimed = tx
        .execute(
            "INSERT INTO schedule_run (schedule_key, due_at, claimed_at, outcome)
             VALUES ($1, $2, $3, 'claimed') ON CONFLICT (schedule_key, due_at) DO NOTHING",
            &[&key, &claim.due_at, &claim.now],
        )
        .await?;
    if claimed == 0 {
        return Ok(ScheduleRun::AlreadyClaimed);
    }
    let run = match active_in(tx, &claim.job_type, claim.now).await? {
        Some(s) => ScheduleRun::Suppressed { until: s.end_at },
        None => ScheduleRun::Queued(schedule_in(tx, &claim.job()).await?),
    };
    if let Some((outcome, job_id)) = run.outcome() {
        set_outcome(tx, key, claim.due_at, outcome, job_id).await?;
    }
    let cutoff = claim.prune_cutoff();
    // `due_at < $3` keeps the claim just made, the latest, even when it is older than the cutoff.
    tx.execute(
        "DELETE FROM schedule_run WHERE schedule_key = $1 AND due_at < $2 AND due_at < $3",
        &[&key, &cutoff, &claim.due_at],
    )
    .await?;
    Ok(run)
}

async fn set_outcome(
    tx: &Transaction<'_>,
    key: &str,
    due: DateTime<Utc>,
    outcome: &str,
    job_id: Option<i64>,
) -> Result<(), QueueError> {
    tx.execute(
        "UPDATE schedule_run SET outcome = $3, job_id = $4 WHERE schedule_key = $1 AND due_at = $2",
        &[&key, &due, &outcome, &job_id],
    )
    .await?;
    Ok(())
}
