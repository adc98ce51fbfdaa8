//! `Origin` validation (DNS-rebinding defence). A request without `Origin` comes from a
//! non-browser client (Codex, the SDKs) and is allowed; a present `Origin` must be an
//! http(s) origin written exactly as RFC 6454 serialises one — `scheme://host[:port]`,
//! nothing else — and be on the allow-list, else 403. `null`, duplicates and anything
//! that is not exactly an origin are refused. [`parse`] is that rule; the
//! `GATEWAY_ALLOWED_ORIGINS` values are held to it too.

use axum::http::HeaderMap;
use url::Url;

/// The allowed origins, normalised (`scheme://host[:port]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Vec<String>,
}

/// Why an `Origin` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("origin refused: {0}")]
pub struct Refused(pub String);

/// Why a value is not exactly an origin (`scheme://host[:port]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadOrigin {
    /// It does not parse as a URL with a host.
    #[error("it is not a URL of the form scheme://host[:port]")]
    NotUrl,
    /// The scheme is not `http` or `https`.
    #[error("the scheme must be http or https")]
    Scheme,
    /// It carries `user[:password]@`.
    #[error("an origin carries no user or password")]
    Userinfo,
    /// It carries a path (even `/`), a query or a fragment.
    #[error("an origin has no path (not even a trailing /), query or fragment")]
    Path,
    /// The host is not written as the URL parser writes it: IPv4 shorthand (`127.1`),
    /// integer, octal or hex addresses, percent-escapes, non-ASCII names (write the
    /// punycode), a non-canonical IPv6 address, an empty label or a trailing dot.
    #[error(
        "the host must be written in its canonical form: a DNS name without a trailing dot, \
         a dotted-quad IPv4 address, a bracketed canonical IPv6 address"
    )]
    Host,
    /// The port is empty, has leading zeros, or is out of range.
    #[error("the port must be a number from 1 to 65535 without leading zeros")]
    Port,
}

/// Parses an `Origin` value that must be exactly `scheme://host[:port]` (RFC 6454's
/// serialisation; surrounding whitespace aside) and returns it normalised: scheme and
/// host lower-cased, a default port dropped. Only letter case and a written default
/// port are forgiven; every other alternative spelling of a host is refused, so
/// `http://127.1` never matches an allowed `http://127.0.0.1`.
pub fn parse(raw: &str) -> Result<String, BadOrigin> {
    let raw = raw.trim();
    let (scheme, authority) = raw.split_once("://").ok_or(BadOrigin::NotUrl)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(BadOrigin::Scheme);
    }
    if authority.contains('@') {
        return Err(BadOrigin::Userinfo);
    }
    if authority.contains(['/', '?', '#', '\\']) {
        return Err(BadOrigin::Path);
    }
    let url = Url::parse(raw).map_err(|_| BadOrigin::NotUrl)?;
    let host = url.host_str().ok_or(BadOrigin::NotUrl)?;
    // The host and port as written: `[v6]` keeps its brackets, a port follows the last
    // colon after them.
    let (written_host, written_port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    if !written_host.eq_ignore_ascii_case(host) || host.ends_with('.') || host.is_empty() {
        return Err(BadOrigin::Host);
    }
    if let Some(port) = written_port {
        let canonical = url.port_or_known_default().map(|p| p.to_string());
        if canonical.as_deref() != Some(port) || port == "0" {
            return Err(BadOrigin::Port);
        }
    }
    Ok(url.origin().ascii_serialization())
}

/// The origin (`scheme://host[:port]`) of an http(s) URL, which may carry a path: how
/// the public URL's origin is found. Not for `Origin` values, which [`parse`] checks.
pub fn normalise(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

impl OriginPolicy {
    /// Allows exactly these origins: already validated (`GATEWAY_ALLOWED_ORIGINS` with
    /// [`parse`]) or the public URL's; each is normalised, and one that is not an
    /// http(s) URL is skipped.
    pub fn new(allowed: impl IntoIterator<Item = String>) -> Self {
        Self {
            allowed: allowed.into_iter().filter_map(|o| normalise(&o)).collect(),
        }
    }

    /// Checks the request's `Origin` header(s).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let mut values = headers.get_all(axum::http::header::ORIGIN).iter();
        let Some(first) = values.next() else {
            return Ok(());
        };
        if values.next().is_some() {
            return Err(Refused("more than one Origin header".into()));
        }
        let raw = first
            .to_str()
            .map_err(|_| Refused("Origin is not ASCII".into()))?;
        if raw.trim() == "null" {
            return Err(Refused("an opaque (null) Origin".into()));
        }
        let origin = parse(raw)
            .map_err(|why| Refused(format!("{raw:?} is not an http(s) origin: {why}")))?;
        if self.allowed.contains(&origin) {
            Ok(())
        } else {
            Err(Refused(format!(
                "{origin} is not on the allow-list (GATEWAY_ALLOWED_ORIGINS)"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::*;

    fn with(origins: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for o in origins {
            h.append("origin", HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_table() {
        let policy = OriginPolicy::new([
            "https://gateway.example.com".to_owned(),
            "http://127.0.0.1:8080/".to_owned(),
        ]);
        let cases: &[(&[&str], bool)] = &[
            (&[], true),
            (&["https://gateway.example.com"], true),
            (&["https://GATEWAY.example.com:443"], true),
            (&["http://127.0.0.1:8080"], true),
            (&["http://127.0.0.1:8081"], false),
            (&["https://evil.example.com"], false),
            (&["http://gateway.example.com"], false),
            (&["null"], false),
            (&["not a url"], false),
            (&["file:///etc/passwd"], false),
            (
                &["https://gateway.example.com", "https://gateway.example.com"],
                false,
            ),
            // Exactly scheme://host[:port]: no path (not even /), query, fragment, userinfo.
            (&["https://gateway.example.com/"], false),
            (&["https://gateway.example.com/mcp"], false),
            (&["https://gateway.example.com?x=1"], false),
            (&["https://gateway.example.com#top"], false),
            (&["https://gateway.example.com\\"], false),
            (&["https://user@gateway.example.com"], false),
            (&["https://user:pw@gateway.example.com"], false),
            (&["https://evil.example@gateway.example.com"], false),
            // A host spelled other than the parser writes it never matches.
            (&["https://gateway.example.com."], false),
            (&["http://127.1:8080"], false),
            (&["http://2130706433:8080"], false),
            (&["http://0x7f.0.0.1:8080"], false),
            (&["http://0177.0.0.1:8080"], false),
            (&["http://%31%32%37.0.0.1:8080"], false),
            (&["http://127.0.0.1:08080"], false),
            (&["http://127.0.0.1:"], false),
            (&["http://127.0.0.1:8080:8080"], false),
            (&["ws://127.0.0.1:8080"], false),
            (&["https://"], false),
        ];
        for (origins, ok) in cases {
            assert_eq!(policy.check(&with(origins)).is_ok(), *ok, "{origins:?}");
        }
    }

    #[test]
    fn parse_table() {
        use BadOrigin::*;
        let cases: &[(&str, Result<&str, BadOrigin>)] = &[
            (
                "https://gateway.example.com",
                Ok("https://gateway.example.com"),
            ),
            (
                " https://gateway.example.com ",
                Ok("https://gateway.example.com"),
            ),
            (
                "HTTPS://Gateway.Example.COM:443",
                Ok("https://gateway.example.com"),
            ),
            ("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080")),
            ("http://[::1]:8080", Ok("http://[::1]:8080")),
            ("http://[::1]", Ok("http://[::1]")),
            (
                "http://xn--bcher-kva.example",
                Ok("http://xn--bcher-kva.example"),
            ),
            ("http://localhost:3000", Ok("http://localhost:3000")),
            ("gateway.example.com", Err(NotUrl)),
            ("http://", Err(NotUrl)),
            ("http://127.0.0.1:99999", Err(NotUrl)),
            ("ftp://gateway.example.com", Err(Scheme)),
            ("file:///etc/passwd", Err(Scheme)),
            ("https://a@gateway.example.com", Err(Userinfo)),
            ("https://gateway.example.com/", Err(Path)),
            ("https://gateway.example.com/x", Err(Path)),
            ("https://gateway.example.com?", Err(Path)),
            ("https://gateway.example.com#", Err(Path)),
            ("https://gateway.example.com.", Err(Host)),
            ("http://127.1", Err(Host)),
            ("http://2130706433", Err(Host)),
            ("http://0x7f000001", Err(Host)),
            ("http://[0:0::1]", Err(Host)),
            ("http://bücher.example", Err(Host)),
            ("http://127.0.0.1:0", Err(Port)),
            ("http://127.0.0.1:080", Err(Port)),
            ("http://127.0.0.1:", Err(Port)),
            ("http://127.0.0.1:+80", Err(NotUrl)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw).as_deref().map_err(|e| *e), *want, "{raw:?}");
        }
    }
}
