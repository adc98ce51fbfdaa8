//! The stateless revision 2026-07-28 on the same endpoint.

use serde_json::{json, Value};

use super::{agent_with, world, ALL};
use crate::helpers::Engine;

/// The stateless revision 2026-07-28 on the same endpoint: no handshake, no session,
/// each request names its revision and repeats its method in headers.
#[tokio::test]
async fn the_stateless_revision() {
    let w = world(Engine::Sqlite, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "m",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let post = |method: &str, params: Value, headers: &[(&str, &str)]| {
        let mut req = w
            .app
            .http
            .post(w.app.url("/mcp"))
            .bearer_auth(&token)
            .json(&json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params}));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let modern = [("mcp-protocol-version", "2026-07-28")];

    let resp = post(
        "server/discover",
        json!({"_meta": meta}),
        &[modern[0], ("mcp-method", "server/discover")],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("mcp-session-id").is_none(),
        "no sessions"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["supportedVersions"][0], "2026-07-28");
    assert_eq!(
        body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "nodedc-agent-gateway"
    );

    let resp = post(
        "tools/list",
        json!({"_meta": meta}),
        &[modern[0], ("mcp-method", "tools/list")],
    )
    .await
    .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 11);
    assert_eq!(body["result"]["cacheScope"], "private");

    let call = json!({"name": "list_projects", "arguments": {}, "_meta": meta});
    let resp = post(
        "tools/call",
        call.clone(),
        &[
            modern[0],
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?bGlzdF9wcm9qZWN0cw==?="),
        ],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["result"]["structuredContent"]["projects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The checks, in order: envelope, headers, revision, method.
    type Case<'a> = (&'a str, Value, Vec<(&'a str, &'a str)>, u16, i64);
    let cases: Vec<Case> = vec![
        (
            "tools/list",
            json!({}),
            vec![modern[0], ("mcp-method", "tools/list")],
            400,
            -32602,
        ),
        (
            "tools/list",
            json!({"_meta": meta}),
            vec![modern[0], ("mcp-method", "tools/call")],
            400,
            -32020,
        ),
        (
            "tools/call",
            call.clone(),
            vec![
                modern[0],
                ("mcp-method", "tools/call"),
                ("mcp-name", "get_card"),
            ],
            400,
            -32020,
        ),
        (
            "tools/call",
            call.clone(),
            vec![modern[0], ("mcp-method", "tools/call")],
            400,
            -32020,
        ),
        (
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}),
            vec![
                ("mcp-protocol-version", "2099-01-01"),
                ("mcp-method", "tools/list"),
            ],
            400,
            -32022,
        ),
        (
            "ping",
            json!({"_meta": meta}),
            vec![modern[0], ("mcp-method", "ping")],
            404,
            -32601,
        ),
        (
            "initialize",
            json!({"_meta": meta}),
            vec![modern[0], ("mcp-method", "initialize")],
            404,
            -32601,
        ),
    ];
    for (method, params, headers, status, code) in cases {
        let resp = post(method, params, &headers).await.unwrap();
        assert_eq!(resp.status(), status, "{method} {headers:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            (body["id"].as_i64(), body["error"]["code"].as_i64()),
            (Some(9), Some(code)),
            "{method}: {body}"
        );
    }
    let get = w
        .app
        .http
        .get(w.app.url("/mcp"))
        .bearer_auth(&token)
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    w.app.stop().await;
}
