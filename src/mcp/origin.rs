//! `Origin` validation (DNS-rebinding defence). A request without `Origin` comes from a
//! non-browser client (Codex, the SDKs) and is allowed; a present `Origin` must parse as
//! an http(s) origin and be on the allow-list, else 403. `null`, duplicates and
//! unparseable values are refused.

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

/// Normalises an origin or URL to `scheme://host[:port]`.
pub fn normalise(raw: &str) -> Option<String> {
    let url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

impl OriginPolicy {
    /// Allows exactly these origins (each parsed and normalised; bad ones are skipped
    /// by the caller's validation).
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
        let origin =
            normalise(raw).ok_or_else(|| Refused(format!("{raw:?} is not an http(s) origin")))?;
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
        ];
        for (origins, ok) in cases {
            assert_eq!(policy.check(&with(origins)).is_ok(), *ok, "{origins:?}");
        }
    }
}
