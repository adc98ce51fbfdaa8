//! Property-based fuzzing of request and argument parsing, on stable Rust with
//! `proptest`: arbitrary JSON-RPC-ish bodies, arbitrary tool arguments (random JSON,
//! strings with control characters and any Unicode, random nesting), valid calls with one
//! argument mutated, and raw bytes, POSTed to a running gateway over real HTTP with a
//! valid token and session. Properties: never a 5xx; every answer is JSON (a JSON-RPC
//! response), except a `202` with an empty body; the gateway keeps serving.
//!
//! `AGW_FUZZ_CASES` (or `PROPTEST_CASES`) sets the number of cases per engine (default
//! 3,000, about 20–40 s for the module); `AGW_FUZZ_SEED` changes the otherwise fixed seed.
//! E.g. `AGW_FUZZ_CASES=20000 AGW_FUZZ_SEED=7 cargo test --test integration fuzz`.
//!
//! Over 400 lines because the generators (bodies, arguments per tool schema, mutations,
//! raw bytes) and the one property they feed belong together; split, each half would be
//! unreadable without the other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use reqwest::header::HeaderValue;
use serde_json::{json, Map, Value};

use crate::both_engines;
use crate::helpers::Engine;
use crate::mcp::{agent_with, world, Client, ALL};
use crate::raw::{clip, still_serves, tools, valid_args, Fixture, Post};

/// `AGW_FUZZ_CASES`, else `PROPTEST_CASES`, else 3,000.
/// `AGW_FUZZ_SEED` (a number), else a fixed seed: the default run is reproducible.
fn seed() -> u64 {
    std::env::var("AGW_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x4147_5746_555a_5a01)
}

fn cases() -> u32 {
    ["AGW_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|var| std::env::var(var).ok().and_then(|v| v.parse().ok()))
        .unwrap_or(3_000)
}

/// Strings that matter: any Unicode, control characters, quotes, escapes, and the
/// names the gateway knows.
fn fuzz_string(known: Vec<String>) -> BoxedStrategy<String> {
    let special = prop_oneof![
        3 => select(vec![
            '\0',
            '\u{1}',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{feff}',
            '\u{202e}',
            '\u{fffd}',
            '\u{10ffff}',
            '"',
            '\\',
            '\n',
            '\r',
            '\t',
            '/',
            '.',
            '-',
            '%',
            '\'',
            '<',
            '{',
        ]),
        1 => any::<char>(),
        1 => proptest::char::range('a', 'z'),
    ];
    prop_oneof![
        2 => any::<String>(),
        2 => vec(special, 0..24).prop_map(|v| v.into_iter().collect()),
        2 => select(known),
        1 => (select(vec!["WEB-", "OPS-", "WEB-1", ""]), any::<i64>()).prop_map(|(p, n)| format!("{p}{n}")),
        1 => (0usize..5_000).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

/// Any JSON value, up to 6 levels deep.
fn json_value(known: Vec<String>) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        fuzz_string(known.clone()).prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..8).prop_map(Value::Array),
            btree_map(fuzz_string(known.clone()), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// What one case sends.
#[derive(Debug, Clone)]
enum Case {
    /// A JSON body.
    Json(Value, Headers),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, Copy)]
enum Headers {
    Session,
    Stateless,
    BadVersion,
}

struct Universe {
    known: Vec<String>,
    tools: Vec<(String, Map<String, Value>)>,
    methods: Vec<String>,
}

fn case(u: &Universe) -> impl Strategy<Value = Case> {
    let known = u.known.clone();
    let any_value = json_value(known.clone());
    let headers = prop_oneof![
        6 => Just(Headers::Session),
        1 => Just(Headers::Stateless),
        1 => Just(Headers::BadVersion),
    ]
    .boxed();
    let method = prop_oneof![
        4 => select(u.methods.clone()),
        1 => fuzz_string(known.clone()),
    ];
    let id = prop_oneof![
        4 => any::<i64>().prop_map(|n| json!(n)),
        1 => fuzz_string(known.clone()).prop_map(Value::String),
        1 => any_value.clone(),
    ]
    .boxed();
    let meta = prop_oneof![
        3 => Just(None),
        1 => any_value.clone().prop_map(Some),
        1 => (select(vec!["2026-07-28", "2025-06-18", "1999-01-01"]), any_value.clone()).prop_map(|(v, caps)| Some(json!({"io.modelcontextprotocol/protocolVersion": v, "io.modelcontextprotocol/clientCapabilities": caps}))),
    ];
    // Any envelope: each member present or not, of any value.
    let envelope = (
        prop_oneof![3 => Just(Some(json!("2.0"))), 1 => proptest::option::of(any_value.clone())],
        proptest::option::of(id.clone()),
        proptest::option::of(method.prop_map(Value::String)),
        proptest::option::of(any_value.clone()),
        meta.clone(),
        headers.clone(),
    )
        .prop_map(|(jsonrpc, id, method, params, meta, h)| {
            let mut m = Map::new();
            for (k, v) in [
                ("jsonrpc", jsonrpc),
                ("id", id),
                ("method", method),
                ("params", params),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            if let (Some(meta), Some(Value::Object(p))) = (meta, m.get_mut("params")) {
                p.insert("_meta".into(), meta);
            }
            Case::Json(Value::Object(m), h)
        });
    // A tool call with arbitrary arguments.
    let names: Vec<String> = u
        .tools
        .iter()
        .map(|(n, _)| n.clone())
        .chain(["delete_card".into(), "archive_card".into()])
        .collect();
    let any_call = (
        id.clone(),
        prop_oneof![4 => select(names), 1 => fuzz_string(known.clone())],
        any_value.clone(),
        headers.clone(),
    )
        .prop_map(|(id, name, args, h)| {
            Case::Json(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}}),
                h,
            )
        });
    // A valid tool call with one argument replaced, added or removed.
    let tools = u.tools.clone();
    let mutated = (
        0..tools.len(),
        any::<u64>(),
        fuzz_string(known.clone()),
        any_value.clone(),
        0u8..4,
    )
        .prop_map(move |(i, key, field, value, how)| {
            let (name, args) = &tools[i];
            let mut args = args.clone();
            if args.contains_key("idempotency_key") {
                args.insert("idempotency_key".into(), json!(format!("fz-{key}")));
            }
            let existing: Vec<String> = args.keys().cloned().collect();
            match (how, existing.is_empty()) {
                (0, false) => {
                    let k = existing[(key as usize) % existing.len()].clone();
                    args.insert(k, value);
                }
                (1, false) => {
                    let k = existing[(key as usize) % existing.len()].clone();
                    args.remove(&k);
                }
                (2, false) => {
                    // Arbitrary text appended to a valid string: control characters
                    // and odd Unicode where the tool really reads them.
                    let strings: Vec<String> = existing
                        .iter()
                        .filter(|k| args[k.as_str()].is_string())
                        .cloned()
                        .collect();
                    if let Some(k) = strings.get((key as usize) % strings.len().max(1)) {
                        let v = format!("{}{field}", args[k.as_str()].as_str().unwrap());
                        args.insert(k.clone(), json!(v));
                    }
                }
                _ => {
                    args.insert(field, value);
                }
            }
            Case::Json(
                json!({"jsonrpc": "2.0", "id": key % 1000, "method": "tools/call", "params": {"name": name, "arguments": args}}),
                Headers::Session,
            )
        });
    // Raw bytes, and valid bodies with bytes flipped.
    let valid_body = serde_json::to_vec(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_cards", "arguments": {"text": "abc"}}}),
    )
    .unwrap();
    let bytes = prop_oneof![
        vec(any::<u8>(), 0..256).prop_map(Case::Bytes),
        vec((0..valid_body.len(), any::<u8>()), 1..4).prop_map(move |flips| {
            let mut b = valid_body.clone();
            for (i, byte) in flips {
                b[i] = byte;
            }
            Case::Bytes(b)
        }),
    ];
    prop_oneof![
        2 => any_value.prop_map(|v| Case::Json(v, Headers::Session)),
        3 => envelope,
        3 => any_call,
        4 => mutated,
        1 => bytes,
    ]
}

async fn send(c: &Client<'_>, case: &Case) -> crate::raw::Reply {
    match case {
        Case::Bytes(b) => Post::from(c).send(b.clone()).await,
        Case::Json(v, h) => {
            let post = Post::from(c);
            let post = match h {
                Headers::Session => post,
                Headers::BadVersion => {
                    post.header("mcp-protocol-version", HeaderValue::from_static("zz"))
                }
                Headers::Stateless => {
                    let method = v["method"]
                        .as_str()
                        .and_then(|m| HeaderValue::from_str(m).ok())
                        .unwrap_or(HeaderValue::from_static("tools/call"));
                    post.session(None)
                        .header(
                            "mcp-protocol-version",
                            HeaderValue::from_static("2026-07-28"),
                        )
                        .header("mcp-method", method)
                }
            };
            post.send(serde_json::to_vec(v).unwrap()).await
        }
    }
}

/// What is wrong with an answer, if anything.
fn problem(reply: &crate::raw::Reply) -> Option<String> {
    if reply.status >= 500 {
        return Some(format!("HTTP {}: {:?}", reply.status, clip(&reply.text)));
    }
    if reply.status == 202 {
        return (!reply.text.is_empty()).then(|| format!("202 with a body: {}", clip(&reply.text)));
    }
    match &reply.json {
        None => Some(format!(
            "HTTP {}, not JSON: {:?}",
            reply.status,
            clip(&reply.text)
        )),
        Some(Value::Object(m)) if m.contains_key("result") || m.contains_key("error") => None,
        Some(other) => Some(format!(
            "HTTP {}, not a JSON-RPC response: {}",
            reply.status,
            clip(&other.to_string())
        )),
    }
}

async fn requests_and_arguments_never_break_the_gateway(engine: Engine) {
    let w = world(engine, &[]).await;
    let (_, token) = agent_with(
        &w.app,
        w.owner,
        "fuzzed",
        json!([{"project_id": w.web, "scopes": ALL}]),
        Some((1_000_000, 100_000)),
    )
    .await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let created = c
        .tool(
            "create_card",
            json!({"idempotency_key": "seed", "project_id": w.web, "name": "Seed"}),
        )
        .await;
    let card = created["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = tools(&c).await;
    let fx = Fixture {
        project_id: &w.web,
        card: &card,
    };
    let mut known: Vec<String> = vec![
        w.web.clone(),
        w.ops.clone(),
        card.clone(),
        "Todo".into(),
        "Done".into(),
        "bug".into(),
        "Ada".into(),
        "plan".into(),
        "2.0".into(),
        "tools/call".into(),
        "idempotency_key".into(),
    ];
    let mut universe_tools = Vec::new();
    for t in &listed {
        let name = t["name"].as_str().unwrap().to_owned();
        known.push(name.clone());
        known.extend(
            t["inputSchema"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned(),
        );
        universe_tools.push((name, valid_args(t, &fx, "fz")));
    }
    known.sort();
    known.dedup();
    let universe = Universe {
        known,
        tools: universe_tools,
        methods: [
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "server/discover",
            "notifications/initialized",
            "resources/list",
            "prompts/get",
        ]
        .map(String::from)
        .to_vec(),
    };

    let executions = AtomicU64::new(0);
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u64>::new());
    let cases = cases();
    let seed = seed();
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 200,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed.to_le_bytes().repeat(4)),
    );
    let handle = tokio::runtime::Handle::current();
    let started = Instant::now();
    let result = tokio::task::block_in_place(|| {
        runner.run(&case(&universe), |case| {
            let n = executions.fetch_add(1, Ordering::Relaxed) + 1;
            let reply = handle.block_on(send(&c, &case));
            *statuses.lock().unwrap().entry(reply.status).or_default() += 1;
            if let Some(p) = problem(&reply) {
                return Err(TestCaseError::fail(p));
            }
            if n % 50 == 0 {
                // Still serving a normal call.
                let (status, ping, _) = handle.block_on(c.rpc("ping", json!({})));
                prop_assert_eq!(status.as_u16(), 200, "ping after {} cases: {}", n, ping);
            }
            Ok(())
        })
    });
    let n = executions.load(Ordering::Relaxed);
    eprintln!(
        "fuzz ({engine:?}, seed {seed}): {n} executions (of {cases} cases, plus shrinking on failure) in {:.1} s; statuses {:?}",
        started.elapsed().as_secs_f64(),
        statuses.lock().unwrap()
    );
    if let Err(e) = result {
        panic!("fuzz ({engine:?}, seed {seed}) after {n} executions: {e}");
    }
    assert!(n >= u64::from(cases));
    still_serves(&c, "the fuzz run").await;
    w.app.stop().await;
}
both_engines!(
    requests_and_arguments_never_break_the_gateway_,
    requests_and_arguments_never_break_the_gateway
);
