//! Where the webhook server listens: `WEBSERVER_BIND` if set, else every interface on the port
//! of `WEBHOOK_ORIGIN` (the public URL GitHub is given), so that a deployment setting only
//! `WEBHOOK_ORIGIN` listens where GitHub calls.

use std::net::{Ipv4Addr, SocketAddr};

/// Why no listening address could be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Neither variable is set.
    #[error("set WEBSERVER_BIND or WEBHOOK_ORIGIN to say where the webhook server listens")]
    Unset,
    /// `WEBSERVER_BIND` is not `ip:port`.
    #[error("WEBSERVER_BIND={0:?} is not an address like 0.0.0.0:9999 or [::]:9999")]
    BadBind(String),
    /// `WEBHOOK_ORIGIN` has no usable port.
    #[error("WEBHOOK_ORIGIN={0:?} has no port (write it like https://bot.example.org:9999)")]
    BadOrigin(String),
}

/// The address to listen on, from `WEBSERVER_BIND` and `WEBHOOK_ORIGIN` (blank counts as unset).
pub fn listen_address(
    webserver_bind: Option<&str>,
    webhook_origin: Option<&str>,
) -> Result<SocketAddr, AddressError> {
    if let Some(bind) = set(webserver_bind) {
        return bind
            .parse()
            .map_err(|_| AddressError::BadBind(bind.to_string()));
    }
    let origin = set(webhook_origin).ok_or(AddressError::Unset)?;
    let port = origin_port(origin).ok_or_else(|| AddressError::BadOrigin(origin.to_string()))?;
    Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
}

fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The port of `scheme://host[:port][/path]`; without an explicit port, the scheme's default.
fn origin_port(origin: &str) -> Option<u16> {
    let (scheme, rest) = match origin.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, origin),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Drop any `user:pass@`; an IPv6 host is bracketed, so its colons are not the port's.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let after_host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.1,
        None => host_port.find(':').map_or("", |i| &host_port[i..]),
    };
    match after_host.strip_prefix(':') {
        Some(port) if !port.is_empty() => port.parse().ok().filter(|&p| p != 0),
        _ if !after_host.is_empty() => None,
        _ => match scheme.as_deref() {
            Some("http") => Some(80),
            Some("https") => Some(443),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn webserver_bind_wins_when_set() {
        assert_eq!(
            listen_address(Some("127.0.0.1:8080"), Some("https://bot.example.org:9999")),
            Ok(addr("127.0.0.1:8080"))
        );
        assert_eq!(listen_address(Some("[::1]:0"), None), Ok(addr("[::1]:0")));
        assert_eq!(
            listen_address(Some("localhost:80"), None),
            Err(AddressError::BadBind("localhost:80".into()))
        );
    }

    #[test]
    fn otherwise_all_interfaces_on_the_origins_port() {
        let from_origin = |o: &str| listen_address(None, Some(o));
        assert_eq!(
            from_origin("https://bot.example.org:9999"),
            Ok(addr("0.0.0.0:9999"))
        );
        assert_eq!(
            from_origin("http://bot.example.org:8000/github/"),
            Ok(addr("0.0.0.0:8000"))
        );
        assert_eq!(
            from_origin("https://bot.example.org"),
            Ok(addr("0.0.0.0:443"))
        );
        assert_eq!(
            from_origin("HTTP://bot.example.org/"),
            Ok(addr("0.0.0.0:80"))
        );
        assert_eq!(from_origin("http://[::1]:7000"), Ok(addr("0.0.0.0:7000")));
        assert_eq!(
            from_origin("https://user:pw@bot.example.org:4430"),
            Ok(addr("0.0.0.0:4430"))
        );
        assert_eq!(
            from_origin("bot.example.org:5000"),
            Ok(addr("0.0.0.0:5000"))
        );
        // Blank WEBSERVER_BIND counts as unset.
        assert_eq!(
            listen_address(Some("  "), Some("http://x:81")),
            Ok(addr("0.0.0.0:81"))
        );
    }

    #[test]
    fn origins_without_a_usable_port_are_errors() {
        for bad in [
            "bot.example.org",
            "ftp://x",
            "http://x:",
            "http://x:99999",
            "http://x:0",
            "http://[::1",
        ] {
            assert_eq!(
                listen_address(None, Some(bad)),
                Err(AddressError::BadOrigin(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(listen_address(None, None), Err(AddressError::Unset));
        assert_eq!(listen_address(Some(""), Some("")), Err(AddressError::Unset));
    }
}
