//! The stateless revision 2026-07-28, served on the same `/mcp` (a "dual-era" server).
//!
//! A request is modern when its `MCP-Protocol-Version` header names no legacy revision,
//! or its `params._meta` carries `io.modelcontextprotocol/protocolVersion`; an
//! `initialize` without that key keeps the legacy handshake. Modern requests have no
//! session and no handshake: each names its revision and the client's capabilities in
//! `_meta`, and repeats its method (and tool name) in headers. The checks run in the
//! order the specification's conformance suite expects: `_meta` (-32602), headers
//! (-32020), revision (-32022), then dispatch (unknown methods: 404, -32601). Token,
//! `Origin`, admission, idempotency and audit are exactly those of the legacy path.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::call::{call_tool, tool_error, Failure};
use super::jsonrpc::{self, Message};
use super::session::ACCEPTED_IN_HEADER;
use super::transport::{rpc, tools_list, Mcp, INSTRUCTIONS};
use crate::identity::AgentIdentity;

/// The stateless revision.
pub const MODERN: &str = "2026-07-28";
/// Every revision this server speaks, newest first (`server/discover` and -32022 say the
/// same).
pub const SUPPORTED: [&str; 3] = [MODERN, "2025-11-25", "2025-06-18"];

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Header mismatch.
const HEADER_MISMATCH: i64 = -32020;
/// Unsupported protocol version.
const UNSUPPORTED_VERSION: i64 = -32022;

/// Whether this message belongs to the stateless revision.
pub fn is_modern(headers: &HeaderMap, message: &Message) -> bool {
    let meta_version = match message {
        Message::Request { params, .. } => params
            .get("_meta")
            .and_then(|m| m.get(META_VERSION))
            .is_some(),
        _ => false,
    };
    if let Message::Request { method, .. } = message {
        if method == "initialize" && !meta_version {
            return false;
        }
    }
    let header = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    meta_version || header.is_some_and(|v| !ACCEPTED_IN_HEADER.contains(&v))
}

fn error(
    status: StatusCode,
    id: &Value,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    rpc(status, jsonrpc::error(Some(id), code, message, data))
}

fn server_info() -> Value {
    json!({"name": "nodedc-agent-gateway", "title": "NODE.DC Agent Gateway", "version": env!("CARGO_PKG_VERSION")})
}

/// A complete result, stamped with the server's identity.
fn complete(id: &Value, mut result: Map<String, Value>) -> Response {
    result.insert("resultType".into(), json!("complete"));
    result.insert("_meta".into(), json!({ META_SERVER_INFO: server_info() }));
    rpc(StatusCode::OK, jsonrpc::result(id, Value::Object(result)))
}

/// One header's single, trimmed value; `Err` when repeated or not visible ASCII.
fn one_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("the {name} header appears more than once"));
    }
    first
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| format!("the {name} header has characters a header may not carry"))
}

/// An `Mcp-Name` value: plain, or `=?base64?…?=` (standard Base64 of UTF-8).
fn decode_name(raw: &str) -> Option<String> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(raw.to_owned()),
    }
}

/// Serves one modern message.
pub async fn handle(
    mcp: &Mcp,
    headers: &HeaderMap,
    message: Message,
    who: &AgentIdentity,
    request_id: &str,
) -> Response {
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // This revision defines no client notifications; accept and drop them.
        Message::Notification { .. } => return StatusCode::ACCEPTED.into_response(),
        Message::Response => {
            return rpc(
                StatusCode::BAD_REQUEST,
                jsonrpc::error(
                    None,
                    jsonrpc::INVALID_REQUEST,
                    "clients send no responses in this revision",
                    None,
                ),
            )
        }
    };
    // 1. The per-request envelope.
    let meta = params.get("_meta").and_then(Value::as_object);
    let version = meta
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str);
    let capabilities = meta
        .and_then(|m| m.get(META_CAPABILITIES))
        .filter(|c| c.is_object());
    let (Some(version), Some(_)) = (version, capabilities) else {
        return error(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::INVALID_PARAMS,
            &format!("params._meta must carry {META_VERSION} and {META_CAPABILITIES}"),
            None,
        );
    };
    // 2. The headers repeat the envelope.
    let checks = || -> Result<(), String> {
        let header_version = one_header(headers, "mcp-protocol-version")?;
        if header_version != Some(version) {
            return Err(format!(
                "MCP-Protocol-Version {header_version:?} does not match _meta's {version:?}"
            ));
        }
        let header_method = one_header(headers, "mcp-method")?;
        if header_method != Some(method.as_str()) {
            return Err(format!(
                "Mcp-Method {header_method:?} does not match the method {method:?}"
            ));
        }
        if method == "tools/call" {
            if let Some(name) = params.get("name").and_then(Value::as_str) {
                let header_name = one_header(headers, "mcp-name")?.and_then(decode_name);
                if header_name.as_deref() != Some(name) {
                    return Err(format!(
                        "Mcp-Name {header_name:?} does not match the tool name {name:?}"
                    ));
                }
            }
        }
        Ok(())
    };
    if let Err(mismatch) = checks() {
        return error(
            StatusCode::BAD_REQUEST,
            &id,
            HEADER_MISMATCH,
            &format!("Header mismatch: {mismatch}"),
            None,
        );
    }
    // 3. The revision.
    if version != MODERN {
        return error(
            StatusCode::BAD_REQUEST,
            &id,
            UNSUPPORTED_VERSION,
            "Unsupported protocol version",
            Some(json!({"supported": SUPPORTED, "requested": version})),
        );
    }
    // 4. Dispatch.
    match method.as_str() {
        "server/discover" => {
            let mut result = Map::new();
            result.insert("supportedVersions".into(), json!(SUPPORTED));
            result.insert("capabilities".into(), json!({"tools": {}}));
            result.insert("instructions".into(), json!(INSTRUCTIONS));
            result.insert("ttlMs".into(), json!(3_600_000));
            result.insert("cacheScope".into(), json!("public"));
            complete(&id, result)
        }
        "tools/list" => {
            if params.get("cursor").is_some_and(|c| !c.is_null()) {
                return error(
                    StatusCode::BAD_REQUEST,
                    &id,
                    jsonrpc::INVALID_PARAMS,
                    "tools/list has one page; send no cursor",
                    None,
                );
            }
            let Value::Object(mut result) = tools_list(&mcp.gw, who).await else {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &id,
                    jsonrpc::INTERNAL_ERROR,
                    "tool list unavailable",
                    None,
                );
            };
            // The list depends on the agent's scopes: never shared across tokens.
            result.insert("ttlMs".into(), json!(60_000));
            result.insert("cacheScope".into(), json!("private"));
            complete(&id, result)
        }
        "tools/call" => {
            let Some(name) = params
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    &id,
                    jsonrpc::INVALID_PARAMS,
                    "tools/call needs params.name",
                    None,
                );
            };
            tracing::Span::current().record("tool", name.as_str());
            let arguments = params.get("arguments").cloned().unwrap_or(Value::Null);
            match call_tool(&mcp.gw, who, request_id, &name, arguments).await {
                Ok(Value::Object(result)) => complete(&id, result),
                Ok(_) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &id,
                    jsonrpc::INTERNAL_ERROR,
                    "malformed tool result",
                    None,
                ),
                Err(Failure::Tool { message, .. }) => match tool_error(&message) {
                    Value::Object(result) => complete(&id, result),
                    _ => error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &id,
                        jsonrpc::INTERNAL_ERROR,
                        &message,
                        None,
                    ),
                },
                Err(Failure::Scope { scope, message }) => {
                    mcp.insufficient_scope(&id, scope, &message)
                }
                Err(Failure::Revoked) => mcp
                    .unauthorized(true, "the token has been revoked or its agent disabled")
                    .respond(Some(&id)),
                Err(Failure::Rpc { code, message }) => {
                    error(StatusCode::BAD_REQUEST, &id, code, &message, None)
                }
                Err(Failure::Unavailable(message)) => error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &id,
                    jsonrpc::INTERNAL_ERROR,
                    &message,
                    None,
                ),
            }
        }
        other => error(
            StatusCode::NOT_FOUND,
            &id,
            jsonrpc::METHOD_NOT_FOUND,
            "Method not found",
            Some(json!(other)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_name_sentinel() {
        assert_eq!(decode_name("echo").as_deref(), Some("echo"));
        assert_eq!(decode_name("=?base64?ZWNobw==?=").as_deref(), Some("echo"));
        assert_eq!(decode_name("=?base64?not base64?="), None);
    }
}
