//! GitHub webhook signatures: an HMAC of the raw body keyed with the shared secret, sent as
//! `X-Hub-Signature-256: sha256=<hex>` or (older hooks) `X-Hub-Signature: sha1=<hex>`.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// The header carrying the SHA-256 signature.
pub const SHA256_HEADER: &str = "x-hub-signature-256";
/// The header carrying the legacy SHA-1 signature.
pub const SHA1_HEADER: &str = "x-hub-signature";

/// The hash a signature was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `X-Hub-Signature-256: sha256=...`
    Sha256,
    /// `X-Hub-Signature: sha1=...`
    Sha1,
}

impl Algorithm {
    /// The header this algorithm's signature arrives in.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Sha256 => SHA256_HEADER,
            Algorithm::Sha1 => SHA1_HEADER,
        }
    }

    /// The prefix before the hex digest.
    pub fn prefix(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256=",
            Algorithm::Sha1 => "sha1=",
        }
    }
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Neither signature header was sent.
    #[error("no X-Hub-Signature-256 or X-Hub-Signature header")]
    Missing,
    /// The header does not start with `sha256=` / `sha1=`.
    #[error("{} does not start with `{}`", .0.header(), .0.prefix())]
    WrongPrefix(Algorithm),
    /// The digest is not an even number of hex digits.
    #[error("{} is not hex", .0.header())]
    BadHex(Algorithm),
    /// The digest is well formed but not the body's HMAC with our secret.
    #[error("{} does not match the body", .0.header())]
    Mismatch(Algorithm),
}

/// A signature as a request's headers claim it: read, and refused when malformed, before any
/// of the body arrives; only checking it against the body needs the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSignature {
    /// The hash it was made with.
    pub algorithm: Algorithm,
    digest: Vec<u8>,
}

impl ClaimedSignature {
    /// The signature in `headers`, preferring SHA-256 when its header is present; the legacy
    /// SHA-1 header is only consulted when there is no SHA-256 one, so a bad SHA-256 signature
    /// never falls back to the weaker hash.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, SignatureError> {
        let (algorithm, value) = [Algorithm::Sha256, Algorithm::Sha1]
            .into_iter()
            .find_map(|a| headers.get(a.header()).map(|v| (a, v.as_bytes())))
            .ok_or(SignatureError::Missing)?;
        Self::parse(algorithm, value)
    }

    /// One header value (`sha256=<hex>`).
    fn parse(algorithm: Algorithm, header_value: &[u8]) -> Result<Self, SignatureError> {
        let digest = header_value
            .strip_prefix(algorithm.prefix().as_bytes())
            .ok_or(SignatureError::WrongPrefix(algorithm))?;
        let digest = hex::decode(digest).map_err(|_| SignatureError::BadHex(algorithm))?;
        Ok(ClaimedSignature { algorithm, digest })
    }

    /// Checks it against `body`, comparing in constant time.
    pub fn verify(&self, secret: &[u8], body: &[u8]) -> Result<Algorithm, SignatureError> {
        let verified = match self.algorithm {
            Algorithm::Sha256 => mac::<Hmac<Sha256>>(secret, body).verify_slice(&self.digest),
            Algorithm::Sha1 => mac::<Hmac<Sha1>>(secret, body).verify_slice(&self.digest),
        };
        verified.map_err(|_| SignatureError::Mismatch(self.algorithm))?;
        Ok(self.algorithm)
    }
}

/// Checks a request's signature (see [`ClaimedSignature::from_headers`] for which header).
pub fn verify_headers(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Algorithm, SignatureError> {
    ClaimedSignature::from_headers(headers)?.verify(secret, body)
}

/// Checks one header value (`sha256=<hex>`) against `body`, comparing in constant time.
pub fn verify(
    algorithm: Algorithm,
    secret: &[u8],
    header_value: &[u8],
    body: &[u8],
) -> Result<(), SignatureError> {
    ClaimedSignature::parse(algorithm, header_value)?
        .verify(secret, body)
        .map(|_| ())
}

/// The header value GitHub would send for `body` (used by tests, the load test and tools).
pub fn sign(algorithm: Algorithm, secret: &[u8], body: &[u8]) -> String {
    let digest = match algorithm {
        Algorithm::Sha256 => mac::<Hmac<Sha256>>(secret, body)
            .finalize()
            .into_bytes()
            .to_vec(),
        Algorithm::Sha1 => mac::<Hmac<Sha1>>(secret, body)
            .finalize()
            .into_bytes()
            .to_vec(),
    };
    format!("{}{}", algorithm.prefix(), hex::encode(digest))
}

fn mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], body: &[u8]) -> M {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    // GitHub's documented test vector ("Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn githubs_test_vector_verifies() {
        assert_eq!(sign(Algorithm::Sha256, SECRET, BODY), SIGNATURE);
        assert_eq!(
            verify_headers(SECRET, &headers(&[(SHA256_HEADER, SIGNATURE)]), BODY),
            Ok(Algorithm::Sha256)
        );
    }

    #[test]
    fn sha1_signatures_verify() {
        let sig = sign(Algorithm::Sha1, SECRET, BODY);
        assert!(sig.starts_with("sha1=") && sig.len() == 5 + 40, "{sig}");
        assert_eq!(
            verify_headers(SECRET, &headers(&[(SHA1_HEADER, &sig)]), BODY),
            Ok(Algorithm::Sha1)
        );
    }

    #[test]
    fn every_malformed_or_wrong_signature_is_refused() {
        let check = |pairs: &[(&'static str, &str)], body: &[u8]| {
            verify_headers(SECRET, &headers(pairs), body)
        };
        use Algorithm::*;
        assert_eq!(check(&[], BODY), Err(SignatureError::Missing));
        let no_prefix = SIGNATURE.trim_start_matches("sha256=");
        assert_eq!(
            check(&[(SHA256_HEADER, no_prefix)], BODY),
            Err(SignatureError::WrongPrefix(Sha256))
        );
        let sha1_prefix = SIGNATURE.replace("sha256=", "sha1=");
        assert_eq!(
            check(&[(SHA256_HEADER, &sha1_prefix)], BODY),
            Err(SignatureError::WrongPrefix(Sha256))
        );
        assert_eq!(
            check(&[(SHA256_HEADER, "sha256=xyz")], BODY),
            Err(SignatureError::BadHex(Sha256))
        );
        assert_eq!(
            check(&[(SHA256_HEADER, "sha256=abc")], BODY),
            Err(SignatureError::BadHex(Sha256))
        );
        assert_eq!(
            check(&[(SHA256_HEADER, SIGNATURE)], b"Hello, World?"),
            Err(SignatureError::Mismatch(Sha256))
        );
        let short = &SIGNATURE[..SIGNATURE.len() - 2];
        assert_eq!(
            check(&[(SHA256_HEADER, short)], BODY),
            Err(SignatureError::Mismatch(Sha256))
        );
        assert_eq!(
            verify_headers(
                b"another secret",
                &headers(&[(SHA256_HEADER, SIGNATURE)]),
                BODY
            ),
            Err(SignatureError::Mismatch(Sha256))
        );
    }

    #[test]
    fn a_bad_sha256_header_never_falls_back_to_sha1() {
        let good_sha1 = sign(Algorithm::Sha1, SECRET, BODY);
        let pairs = [
            (SHA256_HEADER, "sha256=00"),
            (SHA1_HEADER, good_sha1.as_str()),
        ];
        assert_eq!(
            verify_headers(SECRET, &headers(&pairs), BODY),
            Err(SignatureError::Mismatch(Algorithm::Sha256))
        );
    }

    #[test]
    fn a_malformed_signature_is_refused_from_the_headers_alone() {
        let claimed =
            |pairs: &[(&'static str, &str)]| ClaimedSignature::from_headers(&headers(pairs));
        assert_eq!(claimed(&[]), Err(SignatureError::Missing));
        assert_eq!(
            claimed(&[(SHA256_HEADER, "sha256=zz")]),
            Err(SignatureError::BadHex(Algorithm::Sha256))
        );
        assert_eq!(
            claimed(&[(SHA1_HEADER, SIGNATURE)]),
            Err(SignatureError::WrongPrefix(Algorithm::Sha1))
        );
        // Well formed: only the body can tell.
        let good = claimed(&[(SHA256_HEADER, SIGNATURE)]).unwrap();
        assert_eq!(good.verify(SECRET, BODY), Ok(Algorithm::Sha256));
        assert_eq!(
            good.verify(SECRET, b"Hello, World?"),
            Err(SignatureError::Mismatch(Algorithm::Sha256))
        );
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let upper = format!("sha256={}", SIGNATURE["sha256=".len()..].to_uppercase());
        assert_eq!(
            verify(Algorithm::Sha256, SECRET, upper.as_bytes(), BODY),
            Ok(())
        );
    }
}
