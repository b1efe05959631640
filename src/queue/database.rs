//! Which store holds the queue: `DATABASE_URL` (`sqlite://<path>` or `postgres://...`), or the
//! SQLite file at `DB_PATH` when it is unset.

use std::path::PathBuf;
use std::str::FromStr;

use super::postgres::tls::split_url;

/// The queue's store, as the settings name it.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded default: a SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server, shared by processes on several hosts.
    Postgres(PostgresUrl),
}

/// A `postgres://` URL. Its `Debug` and `Display` leave the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    /// The URL itself, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let read = split_url(&self.0)
            .ok()
            .and_then(|(url, _)| tokio_postgres::Config::from_str(&url).ok());
        match read {
            Some(config) => f.write_str(&super::postgres::describe(&config)),
            None => f.write_str("(unreadable URL)"),
        }
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "SQLite at {}", path.display()),
            Database::Postgres(url) => write!(f, "PostgreSQL at {url}"),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({self})")
    }
}

/// Why `DATABASE_URL` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    /// Neither `sqlite://` nor `postgres://` / `postgresql://`.
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got `{0}://...`)")]
    UnknownScheme(String),
    /// No `scheme://` at all.
    #[error("DATABASE_URL must look like sqlite:///path/to/file.db or postgres://user:password@host:port/db")]
    NotAUrl,
    /// `sqlite://` with no path.
    #[error(
        "DATABASE_URL sqlite:// needs a path, e.g. sqlite:///var/lib/bennettbot/bennettbot.db"
    )]
    EmptyPath,
    /// A `postgres://` URL that tokio-postgres cannot read (the password is not repeated).
    #[error("DATABASE_URL is not a PostgreSQL URL tokio-postgres can read: {0}")]
    BadPostgres(String),
}

impl Database {
    /// The store `DATABASE_URL` names, or the SQLite file `db_path` when it is unset or empty.
    pub fn from_settings(
        url: Option<&str>,
        db_path: PathBuf,
    ) -> Result<Database, DatabaseUrlError> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Database::Sqlite(db_path));
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(DatabaseUrlError::NotAUrl);
        };
        match scheme {
            "sqlite" if rest.is_empty() => Err(DatabaseUrlError::EmptyPath),
            "sqlite" => Ok(Database::Sqlite(PathBuf::from(rest))),
            "postgres" | "postgresql" => {
                let (driver_url, tls) =
                    split_url(url).map_err(|e| DatabaseUrlError::BadPostgres(e.to_string()))?;
                match tokio_postgres::Config::from_str(&driver_url) {
                    Ok(mut config) => {
                        tls.apply(&mut config)
                            .map_err(|e| DatabaseUrlError::BadPostgres(e.to_string()))?;
                        Ok(Database::Postgres(PostgresUrl(url.to_owned())))
                    }
                    // tokio-postgres's message names the part, never the password's text.
                    Err(e) => Err(DatabaseUrlError::BadPostgres(e.to_string())),
                }
            }
            other => Err(DatabaseUrlError::UnknownScheme(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: Option<&str>) -> Result<Database, DatabaseUrlError> {
        Database::from_settings(url, PathBuf::from("/data/bennettbot.db"))
    }

    #[test]
    fn unset_or_empty_keeps_the_sqlite_file() {
        let expected = Database::Sqlite(PathBuf::from("/data/bennettbot.db"));
        assert_eq!(parse(None), Ok(expected.clone()));
        assert_eq!(parse(Some("  ")), Ok(expected));
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            parse(Some("sqlite:///var/lib/bb.db")),
            Ok(Database::Sqlite(PathBuf::from("/var/lib/bb.db")))
        );
        assert_eq!(
            parse(Some("sqlite://relative.db")),
            Ok(Database::Sqlite(PathBuf::from("relative.db")))
        );
        assert_eq!(parse(Some("sqlite://")), Err(DatabaseUrlError::EmptyPath));
    }

    #[test]
    fn postgres_urls_never_show_their_password() {
        let db = parse(Some("postgres://bot:s3cret@db.example:6543/queue")).expect("url");
        let Database::Postgres(url) = &db else {
            panic!("not postgres: {db}");
        };
        assert_eq!(url.expose(), "postgres://bot:s3cret@db.example:6543/queue");
        for shown in [format!("{db}"), format!("{db:?}"), format!("{url:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("bot@db.example:6543/queue"), "{shown}");
        }
        assert!(matches!(
            parse(Some("postgresql://bot@localhost/q")),
            Ok(Database::Postgres(_))
        ));
        // libpq's TLS modes, which tokio-postgres alone would refuse.
        let verified = parse(Some(
            "postgres://bot:s3cret@db.example/q?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        ))
        .expect("verify-full");
        assert_eq!(verified.to_string(), "PostgreSQL at bot@db.example:5432/q");
        let refused =
            parse(Some("postgres://bot:s3cret@db.example/q?sslmode=allow")).expect_err("allow");
        assert!(refused.to_string().contains("sslmode=allow"), "{refused}");
    }

    #[test]
    fn other_schemes_are_refused_with_a_hint() {
        assert_eq!(
            parse(Some("mysql://x@y/z")),
            Err(DatabaseUrlError::UnknownScheme("mysql".into()))
        );
        assert_eq!(parse(Some("/data/x.db")), Err(DatabaseUrlError::NotAUrl));
        let bad = parse(Some("postgres://bot:pw@host:notaport/db")).expect_err("bad port");
        assert!(!bad.to_string().contains("pw@"), "{bad}");
    }
}
