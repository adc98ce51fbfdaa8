//! What a request came back with: an [`Answer`], or the kind of error it is counted as.

use serde_json::{json, Value};

/// What a request came back with, when it came back as expected.
pub(crate) struct Answer {
    pub(crate) session: Option<String>,
    pub(crate) result: Value,
}

/// Turns a response into an [`Answer`] or an error kind:
/// `<op>: http <status> (jsonrpc <code>)`, `<op>: jsonrpc <code>`,
/// `<op>: tool error (<head of the message>)`, `<op>: transport` / `timeout`.
pub(crate) fn classify(
    op: &str,
    notification: bool,
    result: Result<(u16, Option<String>, String), reqwest::Error>,
) -> Result<Answer, String> {
    let (status, session, text) = match result {
        Ok(r) => r,
        Err(e) => {
            let kind = if e.is_timeout() {
                "timeout"
            } else {
                "transport"
            };
            return Err(format!("{op}: {kind}"));
        }
    };
    let expected = if notification { 202 } else { 200 };
    if notification && status == expected {
        return Ok(Answer {
            session,
            result: Value::Null,
        });
    }
    let mut parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let code = parsed["error"]["code"].as_i64();
    if status != expected {
        return Err(match code {
            Some(c) => format!("{op}: http {status} (jsonrpc {c})"),
            None => format!("{op}: http {status}"),
        });
    }
    if let Some(c) = code {
        return Err(format!("{op}: jsonrpc {c}"));
    }
    if parsed["result"]["isError"] == json!(true) {
        let message = parsed["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let head: String = message
            .split(['.', ':'])
            .next()
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
        return Err(format!("{op}: tool error ({head})"));
    }
    match parsed.get_mut("result") {
        Some(r) => Ok(Answer {
            session,
            result: r.take(),
        }),
        None => Err(format!("{op}: no result")),
    }
}
