//! Transport rules: Origin, token, versions, sessions, media type, malformed messages.

use serde_json::{json, Value};

use super::{agent_with, world, ALL};
use crate::helpers::Engine;

/// The transport's rules, checked once (they do not depend on the engine).
#[tokio::test]
async fn transport_rules() {
    let w = world(
        Engine::Sqlite,
        &[("GATEWAY_ALLOWED_ORIGINS", "https://tasker.example.com")],
    )
    .await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "t",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let (_, other_token) = agent_with(
        &w.app,
        w.owner,
        "t2",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let http = &w.app.http;
    let url = w.app.url("/mcp");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});

    // No token: 401 pointing at the RFC 9728 metadata, which is served.
    let resp = http.post(&url).json(&init).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer resource_metadata=\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("/.well-known/oauth-protected-resource"),
        "{challenge}"
    );
    let prm: Value = http
        .get(w.app.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(prm["resource"].as_str().unwrap().ends_with("/mcp"));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let resp = http
        .post(&url)
        .bearer_auth("ndcag_garbage")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // Origin: absent is fine, listed is fine, anything else is 403.
    for (origin, status) in [
        (None, 200),
        (Some("https://tasker.example.com"), 200),
        (Some("http://evil.example.com"), 403),
        (Some("null"), 403),
    ] {
        let mut req = http.post(&url).bearer_auth(&token).json(&init);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        assert_eq!(req.send().await.unwrap().status(), status, "{origin:?}");
    }

    // Version negotiation and the session it mints.
    let resp = http
        .post(&url)
        .bearer_auth(&token)
        .json(&init)
        .send()
        .await
        .unwrap();
    let session = resp.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let send = |token: &str, session: Option<&str>, version: Option<&str>, body: &Value| {
        let mut req = http.post(&url).bearer_auth(token).json(body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        if let Some(v) = version {
            req = req.header("mcp-protocol-version", v);
        }
        req.send()
    };
    assert_eq!(
        send(&token, Some(&session), None, &ping)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(&token, Some(&session), Some("2025-11-25"), &ping)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        send(&token, Some(&session), Some("2026-07-28"), &ping)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        send(&token, Some(&session), Some("banana"), &ping)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        send(&token, None, None, &ping).await.unwrap().status(),
        400,
        "a session is required"
    );
    assert_eq!(
        send(&token, Some("forged.session"), None, &ping)
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        send(&other_token, Some(&session), None, &ping)
            .await
            .unwrap()
            .status(),
        404,
        "a session is bound to its agent"
    );

    // Malformed messages.
    let raw = |body: &'static str, ct: &'static str| {
        http.post(&url)
            .bearer_auth(&token)
            .header("content-type", ct)
            .header("mcp-session-id", session.clone())
            .body(body)
            .send()
    };
    assert_eq!(
        raw("[{}]", "application/json").await.unwrap().status(),
        400,
        "no batches"
    );
    assert_eq!(
        raw("{nope", "application/json").await.unwrap().status(),
        400
    );
    for media in ["application/jsonx", "application/json-seq", "text/json"] {
        assert_eq!(
            raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, media)
                .await
                .unwrap()
                .status(),
            415,
            "{media} is not JSON"
        );
    }
    assert_ne!(
        raw(
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            "Application/JSON; charset=utf-8"
        )
        .await
        .unwrap()
        .status(),
        415
    );
    assert_eq!(
        raw(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, "text/plain")
            .await
            .unwrap()
            .status(),
        415
    );
    assert_eq!(
        raw(
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            "application/json"
        )
        .await
        .unwrap()
        .status(),
        202
    );

    // The body limit holds on /mcp too.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let resp = http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    // DELETE ends the session.
    let resp = http
        .delete(&url)
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        send(&token, Some(&session), None, &ping)
            .await
            .unwrap()
            .status(),
        404
    );
    w.app.stop().await;
}
