//! The stateless revision 2026-07-28, served on the same `/mcp` (a "dual-era" server).
//!
//! A request is stateless when its `MCP-Protocol-Version` header names no session
//! revision, or its `params._meta` carries `io.modelcontextprotocol/protocolVersion`; an
//! `initialize` without that key keeps the session handshake. Stateless requests have no
//! session and no handshake: each names its revision and the client's capabilities in
//! `_meta`, and repeats its method (and tool name) in headers. The checks run in the
//! order the specification's conformance suite expects: `_meta` (-32602), headers
//! (-32020), revision (-32022), then dispatch (unknown methods: 404, -32601). Token,
//! `Origin`, admission, idempotency and audit are exactly those of the session
//! revisions; the methods are `dispatch`'s.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::dispatch::{self, STATELESS, SUPPORTED};
use super::error::{rpc, Era, McpError};
use super::jsonrpc::{self, Message};
use super::stateful::{ACCEPTED_IN_HEADER, VERSION_HEADER};
use super::transport::Mcp;
use crate::http::extract::one_header;

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// Whether this message belongs to the stateless revision.
pub fn is_stateless(headers: &HeaderMap, message: &Message) -> bool {
    let meta_version = match message {
        Message::Request { params, .. } => params
            .get("_meta")
            .and_then(|m| m.get(META_VERSION))
            .is_some(),
        Message::Notification { .. } | Message::Response => false,
    };
    if let Message::Request { method, .. } = message {
        if method == "initialize" && !meta_version {
            return false;
        }
    }
    let header = headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    meta_version || header.is_some_and(|v| !ACCEPTED_IN_HEADER.contains(&v))
}

/// A complete result, stamped with the server's identity.
pub fn complete(id: &Value, result: Value) -> Response {
    let mut result = match result {
        Value::Object(map) => map,
        other => Map::from_iter([("value".to_owned(), other)]),
    };
    result.insert("resultType".into(), json!("complete"));
    // The server's identity joins whatever `_meta` the result carries (a stop notice).
    match result.get_mut("_meta") {
        Some(Value::Object(meta)) => {
            meta.insert(META_SERVER_INFO.into(), dispatch::server_info());
        }
        _ => {
            result.insert(
                "_meta".into(),
                json!({ META_SERVER_INFO: dispatch::server_info() }),
            );
        }
    }
    rpc(StatusCode::OK, jsonrpc::result(id, Value::Object(result)))
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

/// Serves one stateless message.
pub async fn handle(mcp: &Mcp, headers: &HeaderMap, message: Message, caller: &Caller) -> Response {
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // This revision defines no client notifications; accept and drop them.
        Message::Notification { .. } => return StatusCode::ACCEPTED.into_response(),
        Message::Response => {
            return mcp.respond(
                Era::Stateless,
                None,
                McpError::Malformed {
                    code: jsonrpc::INVALID_REQUEST,
                    message: "clients send no responses in this revision".into(),
                },
            )
        }
    };
    tracing::Span::current().record("rpc", method.as_str());
    match serve(mcp, headers, &method, &params, caller).await {
        Ok(value) => complete(&id, value),
        Err(error) => mcp.respond(Era::Stateless, Some(&id), error),
    }
}

async fn serve(
    mcp: &Mcp,
    headers: &HeaderMap,
    method: &str,
    params: &Value,
    caller: &Caller,
) -> Result<Value, McpError> {
    // 1. The per-request envelope.
    let meta = params.get("_meta").and_then(Value::as_object);
    let version = meta
        .and_then(|m| m.get(META_VERSION))
        .and_then(Value::as_str);
    let capabilities = meta
        .and_then(|m| m.get(META_CAPABILITIES))
        .filter(|c| c.is_object());
    let (Some(version), Some(_)) = (version, capabilities) else {
        return Err(McpError::InvalidParams(format!(
            "params._meta must carry {META_VERSION} and {META_CAPABILITIES}"
        )));
    };
    // 2. The headers repeat the envelope.
    check_headers(headers, version, method, params).map_err(McpError::HeaderMismatch)?;
    // 3. The revision.
    if version != STATELESS {
        return Err(McpError::UnsupportedVersion(version.to_owned()));
    }
    dispatch::client_seen(
        &mcp.gw,
        &caller.who,
        meta.and_then(|m| m.get(META_CLIENT_INFO)),
    )
    .await;
    // 4. Dispatch.
    match method {
        "server/discover" => Ok(json!({
            "supportedVersions": SUPPORTED,
            "capabilities": {"tools": {}},
            "instructions": dispatch::INSTRUCTIONS,
            "ttlMs": 3_600_000,
            "cacheScope": "public",
        })),
        "tools/list" => {
            if params.get("cursor").is_some_and(|c| !c.is_null()) {
                return Err(McpError::InvalidParams(
                    "tools/list has one page; send no cursor".into(),
                ));
            }
            let mut listed = dispatch::tools_list(&mcp.gw, &caller.who).await?;
            // The list depends on the agent's scopes: never shared across tokens.
            listed["ttlMs"] = json!(60_000);
            listed["cacheScope"] = json!("private");
            Ok(listed)
        }
        "tools/call" => {
            dispatch::tools_call(&mcp.gw, &caller.who, &caller.request_id, params).await
        }
        other => Err(McpError::MethodNotFound(other.to_owned())),
    }
}

/// The headers must repeat the envelope: the version, the method, and a call's tool.
fn check_headers(
    headers: &HeaderMap,
    version: &str,
    method: &str,
    params: &Value,
) -> Result<(), String> {
    let header_version = one_header(headers, VERSION_HEADER)?;
    if header_version != Some(version) {
        return Err(format!(
            "MCP-Protocol-Version {header_version:?} does not match _meta's {version:?}"
        ));
    }
    let header_method = one_header(headers, "mcp-method")?;
    if header_method != Some(method) {
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
