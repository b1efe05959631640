//! Slack's request signatures (Events API over HTTP): `X-Slack-Signature: v0=<hex>`, the
//! HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<body>` keyed with the app's signing secret.
//! A timestamp more than five minutes from now is refused, so a captured request cannot be
//! replayed later.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the request's Unix time.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// How far a request's timestamp may be from now, either way.
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// A signature or timestamp header is missing.
    #[error("no {0} header")]
    Missing(&'static str),
    /// The timestamp is not a whole number of seconds.
    #[error("X-Slack-Request-Timestamp is not a Unix time")]
    BadTimestamp,
    /// The timestamp is too far from now (a replay, or a badly wrong clock).
    #[error("X-Slack-Request-Timestamp is {0} s away from now (at most {MAX_SKEW_SECONDS} s)")]
    Stale(i64),
    /// The signature is not `v0=` and hex.
    #[error("X-Slack-Signature is not `v0=<hex>`")]
    Malformed,
    /// A well-formed signature that is not the body's with our secret.
    #[error("X-Slack-Signature does not match the request")]
    Mismatch,
}

/// Checks a request's signature at Unix time `now`, comparing in constant time.
pub fn verify(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), SigningError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .map(|v| v.as_bytes())
            .ok_or(SigningError::Missing(name))
    };
    let timestamp = header(TIMESTAMP_HEADER)?;
    let signature = header(SIGNATURE_HEADER)?;
    let time: i64 = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or(SigningError::BadTimestamp)?;
    let skew = now.saturating_sub(time);
    if skew.saturating_abs() > MAX_SKEW_SECONDS {
        return Err(SigningError::Stale(skew));
    }
    let digest = signature
        .strip_prefix(b"v0=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(SigningError::Malformed)?;
    mac(secret, timestamp, body)
        .verify_slice(&digest)
        .map_err(|_| SigningError::Mismatch)
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp` (for fakes and tests).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, timestamp.as_bytes(), body)
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(digest))
}

fn mac(secret: &[u8], timestamp: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(b"v0:");
    mac.update(timestamp);
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const NOW: i64 = 1_531_420_618;

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_str(timestamp).unwrap());
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // The example in Slack's "Verifying requests from Slack" guide.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, "1531420618", body), expected);
        assert_eq!(
            verify(SECRET, &headers("1531420618", expected), body, NOW),
            Ok(())
        );
    }

    #[test]
    fn a_forged_a_stale_and_a_malformed_request_are_refused() {
        let body = br#"{"type":"event_callback"}"#;
        let good = sign(SECRET, "1531420618", body);
        assert_eq!(
            verify(b"another secret", &headers("1531420618", &good), body, NOW),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &headers("1531420618", &good), b"{}", NOW),
            Err(SigningError::Mismatch),
            "a body changed after signing"
        );
        // Six minutes later, the same request is a replay.
        assert_eq!(
            verify(SECRET, &headers("1531420618", &good), body, NOW + 360),
            Err(SigningError::Stale(360))
        );
        assert_eq!(
            verify(SECRET, &headers("1531420618", &good), body, NOW - 360),
            Err(SigningError::Stale(-360))
        );
        assert_eq!(
            verify(SECRET, &headers("1531420618", "sha256=00"), body, NOW),
            Err(SigningError::Malformed)
        );
        assert_eq!(
            verify(SECRET, &headers("yesterday", &good), body, NOW),
            Err(SigningError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, &HeaderMap::new(), body, NOW),
            Err(SigningError::Missing(TIMESTAMP_HEADER))
        );
    }
}
