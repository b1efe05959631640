//! Schema migrations: plain SQL files under `migrations/postgres/`, applied in order, all
//! missing ones in one transaction. An advisory lock taken first makes replicas that start
//! together wait for each other instead of racing to create the same tables.

use deadpool_postgres::Client;
use tokio_postgres::GenericClient;

use crate::queue::QueueError;

/// Each migration's version and SQL, in order. Versions are 1, 2, ... without gaps.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_queue.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_claims.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_schedule_runs.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_requesters.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_outbox.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_shared_state.sql"),
    ),
];

/// The advisory lock key migrations hold ("bbmigr" in ASCII).
const MIGRATION_LOCK: i64 = 0x6262_6d69_6772;

/// Brings the schema up to date; fails if the database was migrated by a newer build.
pub(super) async fn migrate(client: &mut Client) -> Result<(), QueueError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS bennettbot_migration (
             version BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    let found = version(&*tx).await?;
    let supported = MIGRATIONS.len() as i64;
    if found > supported {
        return Err(QueueError::SchemaTooNew { found, supported });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO bennettbot_migration (version) VALUES ($1)",
            &[version],
        )
        .await?;
        tracing::info!(version, "PostgreSQL queue schema migrated");
    }
    tx.commit().await?;
    Ok(())
}

/// The latest migration applied (0 for an empty database).
pub(super) async fn version(client: &impl GenericClient) -> Result<i64, QueueError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('bennettbot_migration') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM bennettbot_migration",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_run_from_one_without_gaps_and_files_are_numbered_alike() {
        for (index, (version, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, index as i64 + 1);
            assert!(!sql.trim().is_empty());
        }
        // Every file in migrations/postgres is listed.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        let files = std::fs::read_dir(dir).expect("migrations dir").count();
        assert_eq!(
            files,
            MIGRATIONS.len(),
            "a migration file is not in MIGRATIONS"
        );
    }
}
