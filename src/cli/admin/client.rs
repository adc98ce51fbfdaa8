//! The admin API over HTTP: the base URL, the admin token from the environment, and the
//! mapping of every failure to one [`CliError`].

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::error::{one_line, CliError};

/// The only place the admin token is read from: never a flag, so it stays out of shell
/// history and `ps`.
pub const TOKEN_ENV: &str = "GATEWAY_ADMIN_TOKEN";

/// A client of one gateway's admin API.
#[derive(Debug)]
pub struct Client {
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for `url`, with the token from [`TOKEN_ENV`] (a usage error when unset).
    pub fn from_env(url: &str) -> Result<Self, CliError> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{TOKEN_ENV} is not set: export the admin token the gateway was started with"
                ))
            })?;
        let mut raw = url.trim().to_owned();
        if !raw.ends_with('/') {
            raw.push('/');
        }
        let base = Url::parse(&raw)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "--url {}: not an http(s) URL with a host",
                    one_line(url)
                ))
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { base, token, http })
    }

    /// The gateway's base URL, ending in `/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET path` (relative to the base, no leading `/`) with query pairs.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.send(Method::GET, path, query, None).await
    }

    /// `POST path` with an optional JSON body.
    pub async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, CliError> {
        self.send(Method::POST, path, &[], body).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Result<Value, CliError> {
        self.send(Method::PUT, path, &[], Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| CliError::Usage(format!("bad path {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if status.is_success() {
            return json.ok_or_else(|| {
                CliError::BadResponse(format!("{status} with a body that is not JSON"))
            });
        }
        let error = json.as_ref().and_then(|j| j.get("error"));
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(one_line)
        };
        Err(CliError::Refused {
            status: status.as_u16(),
            code: field("code").unwrap_or_else(|| "error".into()),
            message: field("message")
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned()),
        })
    }

    /// The innermost cause of a transport error; never the token (reqwest does not
    /// put headers in its errors).
    fn unreachable(&self, error: &reqwest::Error) -> CliError {
        let mut cause: &dyn std::error::Error = error;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason = if error.is_timeout() {
            "no answer in time".to_owned()
        } else {
            one_line(&cause.to_string())
        };
        CliError::Unreachable {
            url: self.base.to_string(),
            reason,
        }
    }
}
