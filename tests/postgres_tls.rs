//! TLS to PostgreSQL with libpq's `sslmode`s, against a real server that speaks TLS with a
//! certificate for `localhost` signed by a CA made for the test (see
//! `bennettbot_test_support::postgres`).

use bennettbot_test_support::postgres;
use bennettbot_test_support::wait::eventually_async;
use std::time::Duration;

use bennettbot::queue::{Database, PgStore, Queue};

/// Waits until the store holds at least `n` connections; returns whether all are encrypted.
async fn encrypted_connections(store: &PgStore, n: i64) -> bool {
    let what = format!("the store to hold {n} connections");
    eventually_async(&what, Duration::from_secs(10), || async {
        let (encrypted, count) = store.all_connections_encrypted().await.expect("asked");
        (count >= n).then_some(encrypted)
    })
    .await
}

#[tokio::test]
async fn require_encrypts_every_connection_the_queue_makes_listen_included() {
    let url = postgres::tls_database_url("127.0.0.1", "?sslmode=require").await;
    let store = PgStore::connect(&url).await.expect("connected over TLS");
    // The dispatcher's first wait opens the LISTEN connection.
    let _listening = store.notified();
    assert!(
        encrypted_connections(&store, 2).await,
        "a connection went unencrypted"
    );
}

#[tokio::test]
async fn prefer_takes_tls_when_offered_and_disable_never_does() {
    let url = postgres::tls_database_url("127.0.0.1", "").await;
    let store = PgStore::connect(&url).await.expect("connected");
    assert!(
        encrypted_connections(&store, 1).await,
        "prefer did not use TLS"
    );

    let url = postgres::tls_database_url("127.0.0.1", "?sslmode=disable").await;
    let store = PgStore::connect(&url).await.expect("connected");
    let (encrypted, _) = store.all_connections_encrypted().await.unwrap();
    assert!(!encrypted, "sslmode=disable used TLS");
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_host_name() {
    let ca = postgres::tls_server().ca.display().to_string();
    // The certificate is for `localhost`.
    let url = postgres::tls_database_url(
        "localhost",
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    )
    .await;
    let queue =
        Queue::open_database(&Database::from_settings(Some(&url), "unused".into()).unwrap())
            .await
            .expect("verified");
    assert_eq!(queue.kind(), "postgres");

    // Not for `127.0.0.1`: refused, saying why.
    let url = postgres::tls_database_url(
        "127.0.0.1",
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    )
    .await;
    let refused = PgStore::connect(&url).await.expect_err("wrong name");
    let said = format!("{refused:#}");
    assert!(said.to_lowercase().contains("name"), "{said}");

    // Publicly trusted roots (`system`) do not include the test's CA.
    let url = postgres::tls_database_url("localhost", "?sslrootcert=system").await;
    let refused = PgStore::connect(&url).await.expect_err("unknown issuer");
    let said = format!("{refused:#}");
    assert!(said.to_lowercase().contains("issuer"), "{said}");
}

#[tokio::test]
async fn with_a_root_every_mode_checks_the_chain_and_only_verify_full_the_name() {
    let ca = postgres::tls_server().ca.display().to_string();
    for mode in ["verify-ca", "require", "prefer"] {
        let url =
            postgres::tls_database_url("127.0.0.1", &format!("?sslmode={mode}&sslrootcert={ca}"))
                .await;
        let store = PgStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(encrypted_connections(&store, 1).await, "{mode}");
    }
    // A chain to another CA is refused, whatever the name, in every mode given a root.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other_ca, params.self_signed(&key).unwrap().pem()).unwrap();
    for mode in ["verify-ca", "require", "prefer"] {
        let url = postgres::tls_database_url(
            "127.0.0.1",
            &format!("?sslmode={mode}&sslrootcert={}", other_ca.display()),
        )
        .await;
        let refused = PgStore::connect(&url).await.expect_err("other CA");
        let said = format!("{refused:#}");
        assert!(said.to_lowercase().contains("issuer"), "{mode}: {said}");
    }
}

#[tokio::test]
async fn require_refuses_a_server_without_tls() {
    // The plain test server does not speak TLS.
    let url = postgres::database_url().await;
    let join = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{join}sslmode=require");
    let refused = PgStore::connect(&url).await.expect_err("no TLS there");
    let said = format!("{refused:#}");
    assert!(said.contains("TLS") || said.contains("SSL"), "{said}");
}

#[tokio::test]
async fn a_server_given_only_by_address_is_reached_over_tls() {
    let port = postgres::tls_server().port;
    let url = postgres::tls_database_url("127.0.0.1", "").await;
    let db = url.rsplit('/').next().unwrap();
    let url = format!("postgres://postgres@/{db}?hostaddr=127.0.0.1&port={port}&sslmode=require");
    let store = PgStore::connect(&url).await.expect("connected by address");
    assert!(encrypted_connections(&store, 1).await);
}
