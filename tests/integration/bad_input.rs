//! The bad-input catalogue against `/mcp`, with a valid token and session: malformed
//! messages, wrong shapes, batches, oversized and deeply nested bodies, wrong argument
//! types and control characters in every argument of every tool (generated from each
//! tool's `inputSchema`), header abuse. For each: never a 5xx, always a JSON body with a
//! JSON-RPC error or a tool error, and the gateway still answers a normal call
//! afterwards. Finally, "never a lost row": a legitimate write made among poisoned calls
//! has its audit row.
//!
//! Long on purpose: it is a catalogue — one table of inputs per class, each read top to
//! bottom with the refusal it must get. Splitting by class would only move the tables.

use futures::future::join_all;
use reqwest::header::HeaderValue;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::Engine;
use crate::mcp::{agent_with, world, Client, World, ALL};
use crate::raw::{call, clip, still_serves, string_slots, tools, valid_args, Fixture, Post};

/// A world with one agent holding every scope on WEB (a rate limit that the catalogue
/// does not reach), a card WEB-1, and an initialised session.
async fn setup(engine: Engine, extra: &[(&str, &str)]) -> (World, Uuid, String, String) {
    let w = world(engine, extra).await;
    let (agent, token) = agent_with(
        &w.app,
        w.owner,
        "catalogue",
        json!([{"project_id": w.web, "scopes": ALL}]),
        Some((60_000, 5_000)),
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let card = c
        .tool(
            "create_card",
            json!({"idempotency_key": "fixture", "project_id": w.web, "name": "Fixture"}),
        )
        .await;
    assert_eq!(card["isError"], false, "{card}");
    let key = card["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (w, agent, token, key)
}

async fn client<'a>(w: &'a World, token: &str) -> Client<'a> {
    let mut c = Client::new(&w.app, token);
    c.init().await;
    c
}

/// Posts every `(what, body)` and collects what is wrong with each answer; checks that
/// the gateway still serves after each.
async fn catalogue(c: &Client<'_>, items: Vec<(String, Vec<u8>)>) -> Vec<String> {
    let mut problems = Vec::new();
    for (what, body) in items {
        // Each on its own connection: a refusal may close it.
        let reply = Post::from(c).fresh_connection().send(body).await;
        if let Some(p) = reply.refusal_problem() {
            problems.push(format!("{what}: {p}"));
        }
        still_serves(c, &what).await;
    }
    problems
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

// Malformed JSON, wrong JSON-RPC shapes, batches, deep nesting, invalid UTF-8, lone
// surrogates.
async fn malformed_messages_are_refused(engine: Engine) {
    let (w, _, token, _) = setup(engine, &[]).await;
    let c = client(&w, &token).await;
    let deep_arrays = nested(10_000, "[", "]", "");
    let deep_objects = nested(10_000, "{\"a\":", "}", "1");
    let s = |x: &str| x.as_bytes().to_vec();
    let mut items: Vec<(String, Vec<u8>)> = vec![
        ("empty body".into(), s("")),
        ("whitespace".into(), s("   \n")),
        ("not JSON".into(), s("hello")),
        ("truncated object".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping""#)),
        ("trailing garbage".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"} x"#)),
        ("two messages".into(), s(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"ping"}"#)),
        ("single quotes".into(), s("{'jsonrpc': '2.0', 'id': 1, 'method': 'ping'}")),
        ("trailing comma".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping",}"#)),
        ("NaN".into(), s(r#"{"jsonrpc": "2.0", "id": NaN, "method": "ping"}"#)),
        ("a string".into(), s(r#""tools/call""#)),
        ("a number".into(), s("42")),
        ("null".into(), s("null")),
        ("true".into(), s("true")),
        ("missing jsonrpc".into(), s(r#"{"id": 1, "method": "ping"}"#)),
        ("jsonrpc 1.0".into(), s(r#"{"jsonrpc": "1.0", "id": 1, "method": "ping"}"#)),
        ("jsonrpc number".into(), s(r#"{"jsonrpc": 2.0, "id": 1, "method": "ping"}"#)),
        ("jsonrpc null".into(), s(r#"{"jsonrpc": null, "id": 1, "method": "ping"}"#)),
        ("id null".into(), s(r#"{"jsonrpc": "2.0", "id": null, "method": "ping"}"#)),
        ("id object".into(), s(r#"{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}"#)),
        ("id array".into(), s(r#"{"jsonrpc": "2.0", "id": [1], "method": "ping"}"#)),
        ("id bool".into(), s(r#"{"jsonrpc": "2.0", "id": true, "method": "ping"}"#)),
        ("id huge number".into(), s(r#"{"jsonrpc": "2.0", "id": 1e400, "method": "ping"}"#)),
        ("id 2^64".into(), s(r#"{"jsonrpc": "2.0", "id": 18446744073709551616, "method": "bogus"}"#)),
        ("method number".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": 5}"#)),
        ("method null".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": null}"#)),
        ("method object".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": {"x": 1}}"#)),
        ("method empty".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": ""}"#)),
        ("unknown method".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/delete"}"#)),
        ("no method".into(), s(r#"{"jsonrpc": "2.0", "id": 1}"#)),
        ("result and error".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "x"}}"#)),
        ("method and result".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping", "result": {}}"#)),
        ("params string".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "x"}"#)),
        ("params array".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["list_projects"]}"#)),
        ("params number".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": 3}"#)),
        ("tools/call without params".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}"#)),
        ("tool name number".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 1}}"#)),
        ("tool name null".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": null}}"#)),
        ("tool name object".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": {"a": "list_projects"}}}"#)),
        ("tool name empty".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": ""}}"#)),
        ("tool name huge".into(), format!(r#"{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"name": "{}"}}}}"#, "x".repeat(100_000)).into_bytes()),
        ("arguments string".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_projects", "arguments": "{}"}}"#)),
        ("arguments array".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_projects", "arguments": []}}"#)),
        ("arguments number".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_projects", "arguments": 0}}"#)),
        ("arguments bool".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_projects", "arguments": true}}"#)),
        ("empty batch".into(), s("[]")),
        ("batch of one".into(), s(r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]"#)),
        ("batch of two".into(), s(r#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]"#)),
        ("batch of a tool call".into(), s(r#"[{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_projects", "arguments": {}}}]"#)),
        ("batch of garbage".into(), s("[1, \"x\", null]")),
        ("nested batch".into(), s(r#"[[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]]"#)),
        ("10,000 nested arrays".into(), deep_arrays.clone().into_bytes()),
        ("10,000 nested objects".into(), deep_objects.into_bytes()),
        ("10,000 nested arrays as params".into(), format!(r#"{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {deep_arrays}}}"#).into_bytes()),
        ("10,000 nested arrays as arguments".into(), format!(r#"{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"name": "list_projects", "arguments": {{"x": {deep_arrays}}}}}}}"#).into_bytes()),
        ("100 nested arrays as an argument".into(), format!(r#"{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"name": "search_cards", "arguments": {{"text": {}}}}}}}"#, nested(100, "[", "]", "")).into_bytes()),
        ("lone high surrogate in method".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping\ud800"}"#)),
        ("lone low surrogate in method".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "\udc00"}"#)),
        ("lone surrogate in id".into(), s(r#"{"jsonrpc": "2.0", "id": "\ud800", "method": "ping"}"#)),
        ("lone surrogate in tool name".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_card\ud800"}}"#)),
        ("lone surrogate in an argument".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_cards", "arguments": {"text": "\ud800"}}}"#)),
        ("lone surrogate in an argument key".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_cards", "arguments": {"\udfff": "x"}}}"#)),
        ("reversed surrogate pair".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_cards", "arguments": {"text": "\udc00\ud800"}}}"#)),
        ("bad escape".into(), s(r#"{"jsonrpc": "2.0", "id": 1, "method": "ping\x"}"#)),
        ("raw NUL byte in a string".into(), b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\0\"}".to_vec()),
        ("raw control byte in a string".into(), b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"pi\x01ng\"}".to_vec()),
    ];
    // Invalid UTF-8 bytes, in the framing and inside strings.
    for (what, bytes) in [
        ("0xFF before the message", b"\xff{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"}".to_vec()),
        ("UTF-8 BOM", b"\xef\xbb\xbf{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"bogus\"}".to_vec()),
        ("invalid UTF-8 in the method", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"pi\xc3\x28ng\"}".to_vec()),
        ("invalid UTF-8 in the id", b"{\"jsonrpc\": \"2.0\", \"id\": \"\xff\xfe\", \"method\": \"ping\"}".to_vec()),
        ("overlong encoding", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"\xc0\xaf\"}".to_vec()),
        ("encoded surrogate", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"search_cards\", \"arguments\": {\"text\": \"\xed\xa0\x80\"}}}".to_vec()),
        ("truncated sequence in an argument", b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"search_cards\", \"arguments\": {\"text\": \"\xe2\x82\"}}}".to_vec()),
        ("UTF-16", "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"ping\"}".encode_utf16().flat_map(|u| u.to_le_bytes()).collect()),
    ] {
        items.push((what.into(), bytes));
    }
    let problems = catalogue(&c, items).await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(
    malformed_messages_are_refused_,
    malformed_messages_are_refused
);

// Bodies over GATEWAY_MAX_BODY_BYTES.
async fn oversized_bodies_are_refused(engine: Engine) {
    let limit = 65_536usize;
    let (w, _, token, _) = setup(engine, &[("GATEWAY_MAX_BODY_BYTES", "65536")]).await;
    let c = client(&w, &token).await;
    let big_arg = |n: usize| {
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "create_card", "arguments": {"idempotency_key": format!("big-{n}"), "project_id": w.web, "name": "big", "description": "d".repeat(n)}}}))
            .unwrap()
    };
    let items = vec![
        (
            "a valid call just over the limit".to_owned(),
            big_arg(limit),
        ),
        ("a valid call of 2 MiB".to_owned(), big_arg(2 << 20)),
        ("2 MiB of garbage".to_owned(), vec![b'x'; 2 << 20]),
        ("2 MiB of whitespace before a ping".to_owned(), {
            let mut b = vec![b' '; 2 << 20];
            b.extend_from_slice(br#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#);
            b
        }),
        ("a batch of 10,000 pings".to_owned(), {
            let one = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
            format!("[{}]", vec![one; 10_000].join(",")).into_bytes()
        }),
    ];
    let mut problems = Vec::new();
    for (what, body) in items {
        assert!(body.len() > limit, "{what} is not oversized");
        let reply = Post::from(&c).fresh_connection().send(body).await;
        // The gateway may answer 413 before the client has finished sending, and close
        // the connection: a client still writing then sees it closed. That refuses the
        // body too; anything else must be a proper refusal.
        let closed_early = reply.status == 0
            && (reply.text.contains("BrokenPipe") || reply.text.contains("ConnectionReset"));
        if !closed_early {
            if reply.status != 413 {
                problems.push(format!("{what}: HTTP {} instead of 413", reply.status));
            }
            if let Some(p) = reply.refusal_problem() {
                problems.push(format!("{what}: {p}"));
            }
        }
        still_serves(&c, &what).await;
    }
    // Just under the limit is served normally.
    let under = big_arg(limit - 1_000);
    assert!(under.len() <= limit);
    let reply = Post::from(&c).send(under).await;
    if reply.status != 200 || reply.json.is_none() {
        problems.push(format!(
            "a call under the limit: HTTP {} {}",
            reply.status,
            clip(&reply.text)
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(oversized_bodies_are_refused_, oversized_bodies_are_refused);

/// Values of the wrong type for a property of `schema` type `ty`.
fn wrong_values(prop: &Value) -> Vec<Value> {
    let all = [
        json!(42),
        json!(-1.5),
        json!(true),
        json!("text"),
        json!({"a": 1}),
        json!([1, 2]),
        json!([{"a": 1}]),
        json!([null]),
    ];
    all.into_iter()
        .filter(|v| match prop["type"].as_str() {
            Some("string") => !v.is_string(),
            Some("integer") => !v.is_i64() && !v.is_u64(),
            Some("array") => match prop["items"]["type"].as_str() {
                Some("string") => !(v.is_array() && v.as_array().unwrap().is_empty()),
                // An array of objects: only non-arrays and arrays of non-objects.
                _ => !v.is_array() || v == &json!([1, 2]) || v == &json!([null]),
            },
            _ => true,
        })
        .filter(|v| !(prop["items"]["type"] == "object" && v == &json!([{"a": 1}])))
        .collect()
}

// Wrong argument types, for every property of every tool.
async fn wrong_argument_types_are_refused(engine: Engine) {
    let (w, agent, token, card) = setup(engine, &[]).await;
    let c = client(&w, &token).await;
    let tools = tools(&c).await;
    assert_eq!(tools.len(), 11);
    let fx = Fixture {
        project_id: &w.web,
        card: &card,
    };
    let mut problems = Vec::new();
    let mut n = 0u64;
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        let required: Vec<&str> = tool["inputSchema"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for (prop_name, prop) in tool["inputSchema"]["properties"].as_object().unwrap() {
            let mut values = wrong_values(prop);
            if required.contains(&prop_name.as_str()) {
                values.push(Value::Null);
            }
            for v in values {
                n += 1;
                let mut args = valid_args(tool, &fx, &format!("wt-{n}"));
                args.insert(prop_name.clone(), v.clone());
                let reply = Post::from(&c)
                    .send(call(n, name, Value::Object(args)))
                    .await;
                if let Some(p) = reply.refusal_problem() {
                    problems.push(format!("{name}.{prop_name} = {v}: {p}"));
                }
            }
        }
        // Arguments that are not an object at all.
        for v in [json!("x"), json!(1), json!([]), json!(true)] {
            n += 1;
            let reply = Post::from(&c).send(call(n, name, v.clone())).await;
            if let Some(p) = reply.refusal_problem() {
                problems.push(format!("{name} arguments = {v}: {p}"));
            }
        }
        still_serves(&c, &format!("wrong types for {name}")).await;
    }
    eprintln!("wrong argument types: {n} calls");
    // Nothing was written by a wrong call.
    for row in &w.app.audit_rows(agent).await {
        if row["idempotency_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("wt-"))
            && row["outcome"] == "allowed"
        {
            problems.push(format!("a wrong-typed write was allowed: {row}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(
    wrong_argument_types_are_refused_,
    wrong_argument_types_are_refused
);

const CONTROLS: [(&str, char); 4] = [
    ("NUL", '\u{0}'),
    ("U+0001", '\u{1}'),
    ("ESC", '\u{1b}'),
    ("DEL", '\u{7f}'),
];

// Control characters in every string argument of every tool, in the tool name, in an
// argument's name.
async fn control_characters_are_refused(engine: Engine) {
    let (w, agent, token, card) = setup(engine, &[]).await;
    let c = client(&w, &token).await;
    let tools = tools(&c).await;
    let fx = Fixture {
        project_id: &w.web,
        card: &card,
    };
    let mut problems = Vec::new();
    let mut n = 0u64;
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        // The valid call itself is served.
        n += 1;
        let valid = Post::from(&c)
            .send(call(
                n,
                name,
                Value::Object(valid_args(tool, &fx, &format!("cc-{n}"))),
            ))
            .await;
        if (valid.status, valid.is_tool_error()) != (200, false) {
            problems.push(format!(
                "the valid call of {name} (before any control character of this tool) failed: HTTP {} {}",
                valid.status,
                clip(&valid.text)
            ));
        }
        let slots = string_slots(tool);
        assert!(!slots.is_empty() || name == "list_projects", "{name}");
        for (slot_name, slot) in &slots {
            for (cname, ch) in CONTROLS {
                for s in [format!("a{ch}b"), format!("{ch}"), format!("WEB-1{ch}")] {
                    n += 1;
                    // Keys are unique per call, so that no refusal is a key reuse.
                    let s = if slot_name == "idempotency_key" {
                        format!("{s}-{n}")
                    } else {
                        s
                    };
                    let mut args = valid_args(tool, &fx, &format!("cc-{n}"));
                    slot.put(&mut args, &s);
                    let reply = Post::from(&c)
                        .send(call(n, name, Value::Object(args)))
                        .await;
                    if let Some(p) = reply.refusal_problem() {
                        problems.push(format!("{name}.{slot_name} with {cname} ({s:?}): {p}"));
                    }
                }
            }
        }
        // In the tool's name, and in an argument's name.
        for (cname, ch) in CONTROLS {
            for tool_name in [format!("{name}{ch}"), format!("{ch}{name}")] {
                n += 1;
                let reply = Post::from(&c)
                    .send(call(
                        n,
                        &tool_name,
                        Value::Object(valid_args(tool, &fx, &format!("cc-{n}"))),
                    ))
                    .await;
                if let Some(p) = reply.refusal_problem() {
                    problems.push(format!("tool name {tool_name:?} ({cname}): {p}"));
                }
            }
            n += 1;
            let mut args = valid_args(tool, &fx, &format!("cc-{n}"));
            args.insert(format!("x{ch}"), json!("y"));
            let reply = Post::from(&c)
                .send(call(n, name, Value::Object(args)))
                .await;
            if let Some(p) = reply.refusal_problem() {
                problems.push(format!("{name} argument name with {cname}: {p}"));
            }
        }
        still_serves(&c, &format!("control characters for {name}")).await;
    }
    // NUL elsewhere in the envelope.
    for (what, body) in [
        ("NUL tool name alone", call(1, "\u{0}", json!({}))),
        (
            "NUL delete-like tool name",
            call(1, "delete_card\u{0}", json!({})),
        ),
        (
            "NUL in the method",
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call\u{0}", "params": {"name": "list_projects"}})).unwrap(),
        ),
        (
            "NUL in a string id",
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": "a\u{0}b", "method": "tools/call", "params": {"name": "list_projects\u{0}"}})).unwrap(),
        ),
        (
            "NUL in jsonrpc",
            serde_json::to_vec(&json!({"jsonrpc": "2.0\u{0}", "id": 1, "method": "ping"})).unwrap(),
        ),
    ] {
        n += 1;
        let reply = Post::from(&c).send(body).await;
        if let Some(p) = reply.refusal_problem() {
            problems.push(format!("{what}: {p}"));
        }
    }
    still_serves(&c, "control characters in the envelope").await;
    eprintln!("control characters: {n} calls");
    // The audit log is still readable, and holds no raw control character from the calls.
    for row in &w.app.audit_rows(agent).await {
        if row["idempotency_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("cc-"))
            && row["outcome"] == "allowed"
            && row.to_string().contains("\\u0000")
        {
            problems.push(format!("a NUL was written: {row}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(
    control_characters_are_refused_,
    control_characters_are_refused
);

// Header abuse: duplicate Authorization, huge headers, bad Content-Type, bad session ids,
// bad protocol versions, bad Origins.
async fn header_abuse_is_refused(engine: Engine) {
    let (w, _, token, _) = setup(engine, &[]).await;
    let c = client(&w, &token).await;
    let (_, other_token) = agent_with(
        &w.app,
        w.owner,
        "other",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let other = client(&w, &other_token).await;
    let session = c.session.clone().unwrap();
    let ping = || {
        br#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_projects", "arguments": {}}}"#.to_vec()
    };
    let hv = |s: &str| HeaderValue::from_str(s).unwrap();
    let bearer = |s: &str| HeaderValue::from_str(&format!("Bearer {s}")).unwrap();
    let mut forged = session.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let mut problems = Vec::new();
    let mut cases: Vec<(String, Post<'_>)> = vec![
        (
            "a second, wrong Authorization".into(),
            Post::from(&c).header("authorization", hv("Bearer ndcag_garbage")),
        ),
        (
            "a wrong Authorization, then the right one".into(),
            Post::from(&c)
                .token(None)
                .header("authorization", hv("Bearer ndcag_garbage"))
                .header("authorization", bearer(&token)),
        ),
        (
            "another agent's Authorization too".into(),
            Post::from(&c).header("authorization", bearer(&other_token)),
        ),
        (
            "Authorization without Bearer".into(),
            Post::from(&c)
                .token(None)
                .header("authorization", hv(&token)),
        ),
        (
            "Basic Authorization".into(),
            Post::from(&c)
                .token(None)
                .header("authorization", hv("Basic dXNlcjpwYXNz")),
        ),
        (
            "a 16 KiB Authorization".into(),
            Post::from(&c)
                .token(None)
                .header("authorization", bearer(&"A".repeat(16 << 10))),
        ),
        (
            "Authorization with non-ASCII bytes".into(),
            Post::from(&c).token(None).header(
                "authorization",
                HeaderValue::from_bytes(b"Bearer ndcag_\xff\xfe").unwrap(),
            ),
        ),
        (
            "a 16 KiB Mcp-Session-Id".into(),
            Post::from(&c)
                .session(None)
                .header("mcp-session-id", hv(&"a".repeat(16 << 10))),
        ),
        (
            "a garbage Mcp-Session-Id".into(),
            Post::from(&c).session(Some("garbage".into())),
        ),
        (
            "an empty Mcp-Session-Id".into(),
            Post::from(&c)
                .session(None)
                .header("mcp-session-id", hv("")),
        ),
        (
            "a forged Mcp-Session-Id".into(),
            Post::from(&c).session(Some(forged.clone())),
        ),
        (
            "another agent's Mcp-Session-Id".into(),
            Post::from(&c).session(other.session.clone()),
        ),
        (
            "a Mcp-Session-Id of another form".into(),
            Post::from(&c).session(Some(format!("{session}.extra"))),
        ),
        (
            "a Mcp-Session-Id with non-ASCII bytes".into(),
            Post::from(&c).session(None).header(
                "mcp-session-id",
                HeaderValue::from_bytes(b"\xff\xfe.2025-06-18.\x80").unwrap(),
            ),
        ),
        (
            "two Mcp-Session-Ids, valid then garbage".into(),
            Post::from(&c).header("mcp-session-id", hv("garbage")),
        ),
        (
            "Content-Type application/jsonx".into(),
            Post::from(&c).content_type(Some("application/jsonx")),
        ),
        (
            "Content-Type text/plain".into(),
            Post::from(&c).content_type(Some("text/plain")),
        ),
        ("no Content-Type".into(), Post::from(&c).content_type(None)),
        (
            "Content-Type form".into(),
            Post::from(&c).content_type(Some("application/x-www-form-urlencoded")),
        ),
        (
            "Content-Type empty".into(),
            Post::from(&c).content_type(Some("")),
        ),
        (
            "Content-Type garbage".into(),
            Post::from(&c).content_type(Some(";;;=/")),
        ),
        (
            "two Content-Types".into(),
            Post::from(&c).header("content-type", hv("text/html")),
        ),
        (
            "an unknown MCP-Protocol-Version".into(),
            Post::from(&c).set("mcp-protocol-version", hv("1999-01-01")),
        ),
        (
            "an MCP-Protocol-Version with non-ASCII bytes".into(),
            Post::from(&c).set(
                "mcp-protocol-version",
                HeaderValue::from_bytes(b"2025-\xff").unwrap(),
            ),
        ),
        (
            "two MCP-Protocol-Versions, valid then unknown".into(),
            Post::from(&c).header("mcp-protocol-version", hv("1999-01-01")),
        ),
        (
            "Origin null".into(),
            Post::from(&c).header("origin", hv("null")),
        ),
        (
            "a foreign Origin".into(),
            Post::from(&c).header("origin", hv("https://evil.example")),
        ),
        (
            "an unparseable Origin".into(),
            Post::from(&c).header("origin", hv("::::")),
        ),
        (
            "a 16 KiB Origin".into(),
            Post::from(&c).header(
                "origin",
                hv(&format!("http://{}.example", "a".repeat(16 << 10))),
            ),
        ),
        (
            "two Origins".into(),
            Post::from(&c)
                .header("origin", hv(&w.app.base))
                .header("origin", hv("https://evil.example")),
        ),
    ];
    for (what, post) in cases.drain(..) {
        let reply = post.send(ping()).await;
        if let Some(p) = reply.refusal_problem() {
            problems.push(format!("{what}: {p}"));
        }
        still_serves(&c, &what).await;
    }
    // Large but harmless headers on a valid call: served or refused, never a 5xx, JSON.
    let mut many = Post::from(&c);
    for i in 0..80 {
        many = many.header(&format!("x-filler-{i}"), hv(&"f".repeat(512)));
    }
    for (what, post) in [
        (
            "a 32 KiB unrelated header",
            Post::from(&c).header("x-filler", hv(&"f".repeat(32 << 10))),
        ),
        ("80 unrelated headers of 512 bytes", many),
    ] {
        let reply = post.send(ping()).await;
        if reply.status >= 500 || reply.json.is_none() {
            problems.push(format!(
                "{what}: HTTP {} {}",
                reply.status,
                clip(&reply.text)
            ));
        }
        still_serves(&c, what).await;
    }
    // Over the HTTP server's own header limits (hyper: 100 headers) the answer comes from
    // the server library (431, no body): never a 5xx, and the gateway keeps serving.
    let mut too_many = Post::from(&c).fresh_connection();
    for i in 0..200 {
        too_many = too_many.header(&format!("x-filler-{i}"), hv("f"));
    }
    let reply = too_many.send(ping()).await;
    if reply.status >= 500 || reply.status == 0 {
        problems.push(format!(
            "200 headers: HTTP {} {}",
            reply.status,
            clip(&reply.text)
        ));
    }
    still_serves(&c, "200 headers").await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(header_abuse_is_refused_, header_abuse_is_refused);

// Never a lost row: legitimate writes made concurrently with poisoned calls are answered
// and audited.
async fn never_a_lost_row(engine: Engine) {
    let (w, agent, token, card) = setup(engine, &[]).await;
    let c = client(&w, &token).await;
    let poison = |i: usize| -> Vec<u8> {
        match i % 8 {
            0 => call(i as u64, "delete_card\u{0}", json!({"card": card})),
            1 => call(i as u64, "\u{0}\u{1b}", json!({})),
            2 => call(
                i as u64,
                "create_card",
                json!({"idempotency_key": format!("p-{i}\u{0}"), "project_id": w.web, "name": "p\u{0}"}),
            ),
            3 => call(
                i as u64,
                "add_comment",
                json!({"idempotency_key": format!("p-{i}"), "card": format!("{card}\u{0}"), "body": "x\u{0}"}),
            ),
            4 => call(
                i as u64,
                "get_card",
                json!({"card": "\u{0}\u{1}\u{7f}"}),
            ),
            5 => nested(5_000, "[", "]", "").into_bytes(),
            6 => b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"get_card\", \"arguments\": {\"card\": \"\xff\"}}}".to_vec(),
            _ => call(
                i as u64,
                "search_cards",
                json!({"project_id": format!("{}\u{0}", w.web), "text": "\u{0}"}),
            ),
        }
    };
    let mut problems = Vec::new();
    let rounds = 6;
    for round in 0..rounds {
        let legit_key = format!("legit-{round}");
        let legit = async {
            Post::from(&c)
                .send(call(
                    1,
                    "create_card",
                    json!({"idempotency_key": legit_key, "project_id": w.web, "name": format!("Legit {round}")}),
                ))
                .await
        };
        let poisoned = join_all((0..24).map(|i| Post::from(&c).send(poison(round * 100 + i))));
        let (legit, poisoned) = tokio::join!(legit, poisoned);
        if legit.status != 200 || legit.json.as_ref().unwrap()["result"]["isError"] != false {
            problems.push(format!(
                "round {round}: the legitimate write failed: HTTP {} {}",
                legit.status,
                clip(&legit.text)
            ));
        }
        for (i, reply) in poisoned.iter().enumerate() {
            if let Some(p) = reply.refusal_problem() {
                problems.push(format!("round {round}, poison {}: {p}", i % 8));
            }
        }
    }
    still_serves(&c, "the poisoned rounds").await;
    // Durable before the answer: no waiting.
    let rows = &w.app.audit_rows(agent).await;
    for round in 0..rounds {
        let key = format!("legit-{round}");
        let found = rows
            .iter()
            .filter(|r| r["idempotency_key"] == key && r["action"] == "create_card")
            .collect::<Vec<_>>();
        // Its intent (before the tracker was called), then its outcome.
        let intent = found.iter().filter(|r| r["outcome"] == "intent").count();
        let found: Vec<_> = found
            .into_iter()
            .filter(|r| r["outcome"] != "intent")
            .collect();
        if intent != 1 || found.len() != 1 || found[0]["outcome"] != "allowed" {
            problems.push(format!("{key}: audit rows {found:?}"));
        }
    }
    // Every poisoned call that names a tool has its row too (reads and early refusals
    // ride the next batch: wait for them, up to 5 s). Per round, 18 of the 24 poisoned
    // bodies are tools/call naming a tool (the other 6 do not parse).
    let expected = 1 + rounds + rounds * 18;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut count;
    loop {
        count = w
            .app
            .audit_rows(agent)
            .await
            .iter()
            .filter(|r| r["outcome"] != "intent")
            .count();
        if count >= expected || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    if count != expected {
        problems.push(format!(
            "{expected} tool calls named a tool (fixture, legitimate and poisoned), {count} audit rows"
        ));
    }
    let page = c
        .tool(
            "search_cards",
            json!({"project_id": w.web, "text": "Legit", "limit": 100}),
        )
        .await;
    let n = page["structuredContent"]["cards"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if n != rounds {
        problems.push(format!(
            "{rounds} legitimate cards expected, {n} found: {page}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    w.app.stop().await;
}
both_engines!(never_a_lost_row_, never_a_lost_row);
