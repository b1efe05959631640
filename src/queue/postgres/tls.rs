//! TLS to PostgreSQL, with libpq's names and meanings: the URL's `sslmode` is `disable`,
//! `prefer` (the default: TLS when the server offers it), `require`, `verify-ca` or
//! `verify-full`, and `sslrootcert` names the CA certificates (PEM) to check the server's
//! certificate against, or is `system` for publicly trusted ones (Mozilla's, bundled). As in
//! libpq, a root certificate makes any mode check the chain, `verify-full` also checks the
//! host name, the `verify-` modes refuse to run without roots, and without roots `prefer` and
//! `require` encrypt without checking whom they talk to. tokio-postgres knows only whether
//! to use TLS, so both keys are read here and taken out of the URL it is given.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How a connection is secured: libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, unverified.
    Prefer,
    /// TLS or no connection, unverified.
    Require,
    /// TLS with a certificate chained to a trusted root, for any host name.
    VerifyCa,
    /// TLS with a certificate chained to a trusted root and issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The name libpq (and the URL) gives it.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// tokio-postgres's mode: whether to use TLS (how to verify is the connector's business).
    fn driver(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl FromStr for SslMode {
    type Err = TlsUrlError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(TlsUrlError::UnknownMode(other.to_owned())),
        })
    }
}

/// Why a URL's TLS keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsUrlError {
    /// Not one of libpq's modes bennettbot supports (`allow` is left out: it prefers no TLS).
    #[error(
        "sslmode={0} is not supported: use disable, prefer (the default), require, verify-ca or verify-full"
    )]
    UnknownMode(String),
    /// `verify-ca` or `verify-full` with nothing to verify against.
    #[error(
        "sslmode={0} needs sslrootcert: the CA certificate file (PEM) that signed the server's certificate, or sslrootcert=system for publicly trusted certificates"
    )]
    NoRootCert(&'static str),
    /// `sslrootcert=system` (publicly trusted roots) with a mode that would not check the name.
    #[error("sslrootcert=system needs sslmode=verify-full (as in libpq), not {0}")]
    WeakModeForSystemRoots(&'static str),
    /// A key or value that is not percent-encoded UTF-8 (counted from 1; its text may be a
    /// secret, so it is not repeated).
    #[error("the URL's parameter {0} is not valid percent-encoded UTF-8")]
    Encoding(usize),
    /// An `@` after the host and path, which tokio-postgres would take for the end of a user
    /// name, reading the host from the parameters.
    #[error("the URL has an `@` in its parameters: percent-encode it as %40 (in a password too)")]
    AtInParameters,
    /// `verify-full` with no host name to check the certificate against (only `hostaddr`).
    #[error("sslmode=verify-full needs a host name in the URL to check the certificate against, not only hostaddr (as in libpq)")]
    VerifyFullWithoutHost,
}

/// Why TLS could not be set up for a connection.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The `sslrootcert` file could not be read, or holds no certificate.
    #[error("sslrootcert {path}: {reason}")]
    RootCert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("setting up TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The roots could not make a verifier.
    #[error("setting up TLS verification: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// What the server's certificate is checked against (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The CA certificates in this PEM file.
    File(PathBuf),
    /// `system`: publicly trusted roots (Mozilla's, bundled: not the host's own store).
    Public,
}

/// The TLS a URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// How the connection is secured.
    pub mode: SslMode,
    /// What the certificate is checked against, if anything.
    pub roots: Option<Roots>,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Nothing: the connection is encrypted, not authenticated.
    Nothing,
    /// That it chains to one of the roots.
    Chain,
    /// That, and that it was issued for the host connected to.
    ChainAndName,
}

/// Splits a `postgres://` URL into the URL tokio-postgres reads (without `sslmode` and
/// `sslrootcert`) and the TLS it asks for. Reads no file.
pub fn split_url(url: &str) -> Result<(String, TlsOptions), TlsUrlError> {
    // Where tokio-postgres finds the parameters: credentials run to the first `@`, so a `?` in
    // a password does not start them.
    let after_scheme = ["postgresql://", "postgres://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .unwrap_or(url);
    let credentials = match after_scheme.find('@') {
        Some(at) => {
            let before = &after_scheme[..at];
            if before
                .find('/')
                .is_some_and(|slash| before[slash..].contains('?'))
            {
                return Err(TlsUrlError::AtInParameters);
            }
            at + 1
        }
        None => 0,
    };
    let query_at = after_scheme[credentials..]
        .find('?')
        .map(|at| url.len() - after_scheme.len() + credentials + at);
    let (base, query) = match query_at {
        Some(at) => (&url[..at], &url[at + 1..]),
        None => (url, ""),
    };
    let (mut mode, mut root_cert, mut kept) = (None, None, Vec::new());
    for (number, pair) in query.split('&').filter(|pair| !pair.is_empty()).enumerate() {
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| TlsUrlError::Encoding(number + 1))
        };
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Keys are decoded as tokio-postgres decodes them: `%73slmode` is `sslmode` too.
        match decode(key)?.as_str() {
            "sslmode" => mode = Some(decode(value)?.parse::<SslMode>()?),
            "sslrootcert" => root_cert = Some(decode(value)?).filter(|path| !path.is_empty()),
            // The rest, as written: tokio-postgres decodes it.
            _ => kept.push(pair),
        }
    }
    let roots = root_cert.map(|path| match path.as_str() {
        "system" => Roots::Public,
        _ => Roots::File(PathBuf::from(path)),
    });
    // libpq 16: `system` makes verify-full the default and refuses weaker modes.
    let mode = match (&roots, mode) {
        (Some(Roots::Public), None) => SslMode::VerifyFull,
        (Some(Roots::Public), Some(mode)) if mode != SslMode::VerifyFull => {
            return Err(TlsUrlError::WeakModeForSystemRoots(mode.name()))
        }
        (_, mode) => mode.unwrap_or(SslMode::Prefer),
    };
    // libpq refuses to verify without roots rather than guess which to trust.
    if roots.is_none() && mode >= SslMode::VerifyCa {
        return Err(TlsUrlError::NoRootCert(mode.name()));
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, TlsOptions { mode, roots }))
}

impl TlsOptions {
    /// Sets `config`'s TLS mode to match.
    pub fn apply(&self, config: &mut tokio_postgres::Config) -> Result<(), TlsUrlError> {
        config.ssl_mode(self.mode.driver());
        // Given only `hostaddr`, tokio-postgres hands TLS an empty server name, which fails
        // every handshake: name each server by its address instead, for the modes that do
        // not check the name.
        if config.get_hosts().is_empty() && !config.get_hostaddrs().is_empty() {
            if self.mode == SslMode::VerifyFull {
                return Err(TlsUrlError::VerifyFullWithoutHost);
            }
            for addr in config.get_hostaddrs().to_vec() {
                config.host(addr.to_string());
            }
        }
        Ok(())
    }

    /// What libpq would check: `verify-full` everything; otherwise, given roots, the chain
    /// (libpq checks it whenever it has a root certificate, whatever the mode); else nothing.
    fn check(&self) -> Check {
        match (self.mode, &self.roots) {
            (SslMode::Disable, _) => Check::Nothing,
            (SslMode::VerifyFull, _) => Check::ChainAndName,
            (_, Some(_)) => Check::Chain,
            (_, None) => Check::Nothing,
        }
    }

    /// The connector for every connection: the pool's and the `LISTEN` one.
    pub fn connector(&self) -> Result<MakeRustlsConnect, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let verifier: Arc<dyn ServerCertVerifier> = match self.check() {
            Check::Nothing => Arc::new(Relaxed {
                chain: None,
                algorithms,
            }),
            Check::Chain => Arc::new(Relaxed {
                chain: Some(self.verifier(&provider)?),
                algorithms,
            }),
            Check::ChainAndName => self.verifier(&provider)?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// rustls's verifier of chain and name, against the chosen roots.
    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<WebPkiServerVerifier>, TlsSetupError> {
        let roots = match &self.roots {
            Some(Roots::File(path)) => roots_from(path)?,
            Some(Roots::Public) | None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        Ok(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                .build()?,
        )
    }
}

/// The certificates of a PEM file, at least one.
fn roots_from(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let failed = |reason: String| TlsSetupError::RootCert {
        path: path.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| failed(e.to_string()))? {
        let cert = cert.map_err(|e| failed(e.to_string()))?;
        roots.add(cert).map_err(|e| failed(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(failed("no PEM certificate in the file".into()));
    }
    Ok(roots)
}

/// `prefer` and `require` (no `chain`): any certificate, as long as the server proves it holds
/// its key. `verify-ca` (a `chain` verifier): the chain must lead to a trusted root, but the
/// name it was issued for may differ from the host's.
#[derive(Debug)]
struct Relaxed {
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // rustls checks the name only once the chain (and its dates) passed.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Result<(String, TlsOptions), TlsUrlError> {
        split_url(url)
    }

    fn options(mode: SslMode, file: Option<&str>) -> TlsOptions {
        TlsOptions {
            mode,
            roots: file.map(|path| Roots::File(PathBuf::from(path))),
        }
    }

    #[test]
    fn prefer_is_the_default_and_the_url_is_left_alone() {
        assert_eq!(
            split("postgres://u:p@h/db").unwrap(),
            ("postgres://u:p@h/db".into(), options(SslMode::Prefer, None))
        );
        assert_eq!(
            split("postgres://u@h/db?application_name=x&options=-c%20a%3Db").unwrap(),
            (
                "postgres://u@h/db?application_name=x&options=-c%20a%3Db".into(),
                options(SslMode::Prefer, None)
            )
        );
    }

    #[test]
    fn tls_keys_are_taken_out_and_read_as_libpq_reads_them() {
        assert_eq!(
            split("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3")
                .unwrap(),
            (
                "postgres://u@h/db?connect_timeout=3".into(),
                options(SslMode::VerifyFull, Some("/ca.pem"))
            )
        );
        assert_eq!(
            split("postgres://u@h/db?sslrootcert=%2Fetc%2Fca%20bundle.pem&sslmode=verify-ca")
                .unwrap(),
            (
                "postgres://u@h/db".into(),
                options(SslMode::VerifyCa, Some("/etc/ca bundle.pem"))
            )
        );
        assert_eq!(
            split("postgres://u@h/db?sslmode=disable").unwrap().1,
            options(SslMode::Disable, None)
        );
        // An empty sslrootcert is no root certificate; the last of a repeated key counts.
        assert_eq!(
            split("postgres://u@h/db?sslmode=verify-full&sslrootcert=&sslmode=require")
                .unwrap()
                .1,
            options(SslMode::Require, None)
        );
    }

    #[test]
    fn the_query_starts_where_tokio_postgres_finds_it_and_keys_are_decoded() {
        // A `?` in the password is not the query's start.
        let (url, tls) =
            split("postgres://bot:p?ss@db/q?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(url, "postgres://bot:p?ss@db/q");
        assert_eq!(tls, options(SslMode::Require, Some("/ca.pem")));
        // A percent-encoded key is the key.
        let (url, tls) =
            split("postgres://bot@db/q?%73slmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(url, "postgres://bot@db/q");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(
            split("postgres://bot@db/q?a=1&%FF=1"),
            Err(TlsUrlError::Encoding(2))
        );
        // An `@` in the parameters would make tokio-postgres read a host from them.
        assert_eq!(
            split("postgres://db/q?sslmode=verify-full&sslrootcert=/ca.pem&application_name=a@b"),
            Err(TlsUrlError::AtInParameters)
        );
        assert!(split("postgres://bot:p?w@db/q").is_ok());
    }

    #[test]
    fn a_root_certificate_makes_any_mode_check_the_chain() {
        for mode in ["prefer", "require", "verify-ca"] {
            let (_, tls) = split(&format!(
                "postgres://u@h/db?sslmode={mode}&sslrootcert=/ca.pem"
            ))
            .unwrap();
            assert_eq!(tls.check(), Check::Chain, "{mode}");
        }
        let (_, tls) = split("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(tls.check(), Check::Nothing);
        // Without TLS there is no certificate, and the root file is never read.
        let (_, tls) = split("postgres://u@h/db?sslmode=disable&sslrootcert=/missing").unwrap();
        assert_eq!(tls.check(), Check::Nothing);
        assert!(tls.connector().is_ok());
        let (_, tls) = split("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(tls.check(), Check::ChainAndName);
    }

    #[test]
    fn verifying_needs_roots_and_public_roots_need_verify_full() {
        for mode in ["verify-ca", "verify-full"] {
            let refused = split(&format!("postgres://u@h/db?sslmode={mode}")).unwrap_err();
            assert!(matches!(refused, TlsUrlError::NoRootCert(_)), "{refused}");
            assert!(
                refused.to_string().contains("sslrootcert=system"),
                "{refused}"
            );
        }
        let (_, tls) = split("postgres://u@h/db?sslrootcert=system").unwrap();
        assert_eq!(
            tls,
            TlsOptions {
                mode: SslMode::VerifyFull,
                roots: Some(Roots::Public)
            }
        );
        assert_eq!(
            split("postgres://u@h/db?sslrootcert=system&sslmode=verify-ca"),
            Err(TlsUrlError::WeakModeForSystemRoots("verify-ca"))
        );
    }

    #[test]
    fn a_server_given_only_by_address_is_named_by_it() {
        let (url, tls) = split("postgres://u@/db?hostaddr=10.0.0.5&sslmode=require").unwrap();
        let mut config = tokio_postgres::Config::from_str(&url).unwrap();
        tls.apply(&mut config).unwrap();
        assert_eq!(
            config.get_hosts(),
            [tokio_postgres::config::Host::Tcp("10.0.0.5".into())]
        );
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        // verify-full has no name to check.
        let (url, tls) =
            split("postgres://u@/db?hostaddr=10.0.0.5&sslmode=verify-full&sslrootcert=/ca.pem")
                .unwrap();
        let mut config = tokio_postgres::Config::from_str(&url).unwrap();
        assert_eq!(
            tls.apply(&mut config),
            Err(TlsUrlError::VerifyFullWithoutHost)
        );
    }

    #[test]
    fn unknown_modes_are_refused_with_the_known_ones() {
        let refused = split("postgres://u@h/db?sslmode=allow").unwrap_err();
        assert_eq!(refused, TlsUrlError::UnknownMode("allow".into()));
        assert!(refused.to_string().contains("verify-full"), "{refused}");
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        for path in [&empty, &missing] {
            let error = options(SslMode::VerifyFull, path.to_str())
                .connector()
                .err()
                .expect("refused");
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{error}"
            );
        }
        // Publicly trusted roots need no file.
        let public = TlsOptions {
            mode: SslMode::VerifyFull,
            roots: Some(Roots::Public),
        };
        assert!(public.connector().is_ok());
    }
}
