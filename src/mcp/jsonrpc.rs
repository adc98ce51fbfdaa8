//! JSON-RPC 2.0 as MCP uses it over Streamable HTTP: one message per POST.

use serde::Serialize;
use serde_json::{json, Value};

/// Parse error (invalid JSON).
pub const PARSE_ERROR: i64 = -32700;
/// Not a valid request object (or a batch, which these revisions removed).
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid params (including an unknown tool name).
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// Server-defined: the session is missing, unknown or terminated.
pub const SESSION_ERROR: i64 = -32001;
/// Server-defined: authentication or authorization failed.
pub const AUTH_ERROR: i64 = -32003;
/// Server-defined: the agent's rate limit refused the request (HTTP 429).
pub const RATE_LIMITED: i64 = -32004;
/// Stateless revision: a header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// Stateless revision: the requested protocol version is not served.
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// What one POSTed message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: it gets a response.
    Request {
        /// Its id (string or number), echoed back.
        id: Value,
        /// The method.
        method: String,
        /// The params, or `null`.
        params: Value,
    },
    /// A notification: no response (HTTP 202).
    Notification {
        /// The method.
        method: String,
    },
    /// A response to something the server sent (the gateway sends nothing): 202.
    Response,
}

/// Why a body is not a single JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// JSON-RPC code.
    pub code: i64,
    /// What was wrong.
    pub message: String,
}

impl Message {
    /// Classifies a POST body.
    pub fn parse(body: &[u8]) -> Result<Self, Invalid> {
        let value: Value = serde_json::from_slice(body).map_err(|e| Invalid {
            code: PARSE_ERROR,
            message: format!("the body is not valid JSON: {e}"),
        })?;
        let invalid = |message: &str| Invalid {
            code: INVALID_REQUEST,
            message: message.to_owned(),
        };
        let Value::Object(mut object) = value else {
            return Err(if value.is_array() {
                invalid("JSON-RPC batches are not supported: send one message per request")
            } else {
                invalid("the body must be one JSON-RPC message object")
            });
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid("\"jsonrpc\" must be \"2.0\""));
        }
        let (has_result, has_error) = (object.contains_key("result"), object.contains_key("error"));
        if object.contains_key("method") && (has_result || has_error) {
            return Err(invalid(
                "a message is a request or notification (\"method\") or a response (\"result\" or \"error\"), not both",
            ));
        }
        if has_result && has_error {
            return Err(invalid(
                "a response carries \"result\" or \"error\", not both",
            ));
        }
        match (object.remove("method"), object.remove("id")) {
            (Some(Value::String(method)), Some(id)) if id.is_string() || id.is_number() => Ok(Message::Request {
                id,
                method,
                params: object.remove("params").unwrap_or(Value::Null),
            }),
            (Some(Value::String(_)), Some(_)) => Err(invalid("\"id\" must be a string or a number")),
            (Some(Value::String(method)), None) => Ok(Message::Notification { method }),
            (Some(_), _) => Err(invalid("\"method\" must be a string")),
            (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => Ok(Message::Response),
            (None, _) => Err(invalid("a message needs a \"method\" (request, notification) or a \"result\"/\"error\" (response)")),
        }
    }
}

/// A success response.
pub fn result(id: &Value, result: impl Serialize) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response. Without the request's id (it could not be read, or the error is
/// the transport's) the `id` member is omitted, as MCP's schema wants, not `null`.
pub fn error(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    match id {
        Some(id) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
        None => json!({"jsonrpc": "2.0", "error": error}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Message::Request { method, .. }) if method == "ping"
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Ok(Message::Response)
        );
        assert_eq!(Message::parse(b"[{}]").unwrap_err().code, INVALID_REQUEST);
        assert_eq!(Message::parse(b"{nope").unwrap_err().code, PARSE_ERROR);
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#)
                .unwrap_err()
                .code,
            INVALID_REQUEST
        );
        for both in [
            br#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#.as_slice(),
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#,
        ] {
            assert_eq!(Message::parse(both).unwrap_err().code, INVALID_REQUEST);
        }
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)
                .unwrap_err()
                .code,
            INVALID_REQUEST
        );
    }
}
