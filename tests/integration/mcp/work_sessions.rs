//! Reporting mode end to end, on both engines: the three session tools over real MCP,
//! observed vs reported from the audit log, the card's history naming the session,
//! stale and stop, the REST views (admin and owner) and the live status.
//!
//! Long on purpose: three scenarios, each one session from start to end: the full cycle
//! (tools, audit comparison, REST views, setup pack, live status, CLI), a superseded start
//! and silence turning stale, then a stop request. Each step checks what earlier ones made,
//! so each stays whole; shared helpers sit above them, the owner and CLI helpers below.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{agent_with, text, world, Client, World, ALL};
use crate::both_engines;
use crate::helpers::{Engine, TestApp};

/// Every scope, reporting included.
fn reporting_scopes() -> Vec<&'static str> {
    let mut scopes = ALL.to_vec();
    scopes.push("sessions:write");
    scopes
}

async fn reporter(w: &World, name: &str) -> (Uuid, String) {
    agent_with(
        &w.app,
        w.owner,
        name,
        json!([{"project_id": w.web, "scopes": reporting_scopes()}]),
        None,
    )
    .await
}

async fn card(c: &Client<'_>, key: &str) -> String {
    let created = c
        .tool(
            "create_card",
            json!({"idempotency_key": key, "project_id": c_project(c).await, "name": "Fix the login"}),
        )
        .await;
    assert_eq!(created["isError"], false, "{created}");
    created["structuredContent"]["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn c_project(c: &Client<'_>) -> String {
    let listed = c.tool("list_projects", json!({})).await;
    listed["structuredContent"]["projects"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.admin(Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Polls `path` until `done` holds (bounded; never a wall-clock assertion).
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = get(app, path).await;
        if done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} never reached the expected state: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_reported_session_is_checked_against_what_the_gateway_saw(engine: Engine) {
    let w = world(engine, &[]).await;
    let (agent_id, token) = reporter(&w, "reporter").await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;

    // Listed only with the scope; the whole list stays small.
    let (_, list, _) = c.rpc("tools/list", json!({})).await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for tool in [
        "start_work_session",
        "update_work_session",
        "finish_work_session",
    ] {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    let size = serde_json::to_string(&list["result"]).unwrap().len();
    assert!(size < 16 * 1024, "tools/list is {size} bytes");
    let (_, plain) = agent_with(
        &w.app,
        w.owner,
        "plain",
        json!([{"project_id": w.web, "scopes": ALL}]),
        None,
    )
    .await;
    let mut p = Client::new(&w.app, &plain);
    p.init().await;
    let (_, plain_list, _) = p.rpc("tools/list", json!({})).await;
    assert!(!plain_list.to_string().contains("work_session"));
    let (_, refused, _) = p
        .rpc(
            "tools/call",
            json!({"name": "start_work_session", "arguments": {"idempotency_key": "s0", "card": "WEB-1", "intent": "x"}}),
        )
        .await;
    assert_eq!(
        refused["error"]["data"]["scope"], "sessions:write",
        "{refused}"
    );

    let key = card(&c, "c1").await;
    // Start → update → a real write → elicitation → finish with a comment.
    let started = c
        .tool(
            "start_work_session",
            json!({"idempotency_key": "s1", "card": key.to_lowercase(), "intent": "fix  the login ", "plan": ["reproduce", "fix"]}),
        )
        .await;
    assert_eq!(started["isError"], false, "{started}");
    let s = &started["structuredContent"];
    let session = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["card"], key.as_str(), "the card is resolved to its key");
    assert_eq!(s["intent"], "fix the login");
    assert_eq!(s["state"], "in_progress");
    assert_eq!(s["plan"][1], json!({"step": "fix", "done": false}));
    // A replay of the start returns the same session, nothing new.
    let again = c
        .tool(
            "start_work_session",
            json!({"idempotency_key": "s1", "card": key.to_lowercase(), "intent": "fix  the login ", "plan": ["reproduce", "fix"]}),
        )
        .await;
    assert_eq!(again["structuredContent"]["id"], session.as_str());

    let updated = c
        .tool(
            "update_work_session",
            json!({"idempotency_key": "u1", "session": session, "kind": "action", "note": "reproduced",
                   "plan": [{"step": "reproduce", "done": true}, {"step": "fix"}]}),
        )
        .await;
    assert_eq!(
        updated["structuredContent"]["plan"][0]["done"], true,
        "{updated}"
    );
    let moved = c
        .tool(
            "move_card",
            json!({"idempotency_key": "m1", "card": key, "state": "In Progress"}),
        )
        .await;
    assert_eq!(moved["isError"], false, "{moved}");
    let history = moved["structuredContent"]["history"].as_array().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["field"], "state");
    assert_eq!(
        last["work_session"],
        session.as_str(),
        "the card's history names the session: {last}"
    );
    assert!(last["actor"]
        .as_str()
        .unwrap()
        .contains("reporter (on behalf of Ada)"));
    let asked = c
        .tool(
            "update_work_session",
            json!({"idempotency_key": "u2", "session": session, "kind": "elicitation", "note": "which browser?"}),
        )
        .await;
    assert_eq!(asked["structuredContent"]["state"], "awaiting", "{asked}");
    let denied = c
        .tool(
            "create_card",
            json!({"idempotency_key": "x1", "project_id": w.ops, "name": "elsewhere"}),
        )
        .await;
    assert_eq!(denied["isError"], true);
    let resumed = c
        .tool(
            "update_work_session",
            json!({"idempotency_key": "u3", "session": session, "kind": "action", "note": "fixed"}),
        )
        .await;
    assert_eq!(resumed["structuredContent"]["state"], "in_progress");
    let finished = c
        .tool(
            "finish_work_session",
            json!({"idempotency_key": "f1", "session": session, "outcome": "completed", "summary": "Login fixed.", "comment": true}),
        )
        .await;
    assert_eq!(finished["isError"], false, "{finished}");
    let f = &finished["structuredContent"];
    assert_eq!(f["state"], "completed");
    let comment = f["comment_id"].as_str().expect("the summary was posted");
    // A retry of the finish replays its first result (it must be readable back).
    let replayed = c
        .tool(
            "finish_work_session",
            json!({"idempotency_key": "f1", "session": session, "outcome": "completed", "summary": "Login fixed.", "comment": true}),
        )
        .await;
    assert_eq!(replayed["isError"], false, "{replayed}");
    assert_eq!(replayed["structuredContent"], finished["structuredContent"]);
    let read = c.tool("get_card", json!({"card": key})).await;
    let comments = read["structuredContent"]["comments"].as_array().unwrap();
    assert!(comments
        .iter()
        .any(|k| k["id"] == comment && k["body"].as_str().unwrap().contains("Login fixed.")));
    // A report on the ended session is refused, naming what to do.
    let late = c
        .tool(
            "update_work_session",
            json!({"idempotency_key": "u4", "session": session, "kind": "thought", "note": "late"}),
        )
        .await;
    assert_eq!(late["isError"], true);
    assert!(text(&late).contains("already ended"), "{late}");

    // Observed vs reported, from the audit log.
    let detail = get(&w.app, &format!("/api/v1/admin/work-sessions/{session}")).await;
    assert_eq!(detail["reported"]["actions"], 2);
    assert_eq!(detail["reported"]["elicitations"], 1);
    let observed = &detail["observed"];
    assert_eq!(
        observed["writes"],
        json!([{"target": key, "writes": 2}]),
        "the move and the summary comment: {detail}"
    );
    assert_eq!(observed["denials"], 1);
    assert_eq!(
        detail["comparison"],
        format!("reported: 2 actions, 1 elicitation; observed: 2 writes on {key}, 1 denial")
    );
    // The observed writes are exactly the audit rows of the agent that name the session.
    let rows = w.app.audit_rows(agent_id).await;
    let in_session: Vec<&Value> = rows
        .iter()
        .filter(|r| r["work_session_id"] == session.as_str() && r["outcome"] == "allowed")
        .filter(|r| {
            r["idempotency_key"].is_string()
                && !r["action"].as_str().unwrap().contains("work_session")
        })
        .collect();
    assert_eq!(in_session.len(), 2, "{rows:?}");
    let kinds: Vec<&str> = detail["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["started", "action", "elicitation", "action", "finished"]
    );

    // The list, its filters, and the owner's confined view.
    let listed = get(
        &w.app,
        &format!("/api/v1/admin/work-sessions?agent_id={agent_id}&state=completed&card={key}"),
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, _) = w
        .app
        .admin(
            Method::GET,
            "/api/v1/admin/work-sessions?state=sleeping",
            None,
        )
        .await;
    assert_eq!(status, 400);
    let own = owner_token(&w.app, w.owner).await;
    let mine = owner_get(
        &w.app,
        &own,
        &format!("/api/v1/owner/work-sessions/{session}"),
    )
    .await;
    assert_eq!(mine.0, 200, "{}", mine.1);
    let stranger = w.app.owner("Bob").await;
    let theirs = owner_token(&w.app, stranger).await;
    let other = owner_get(
        &w.app,
        &theirs,
        &format!("/api/v1/owner/work-sessions/{session}"),
    )
    .await;
    assert_eq!(other.0, 404, "another owner's session is not theirs to see");
    let other_list = owner_get(&w.app, &theirs, "/api/v1/owner/work-sessions").await;
    assert_eq!(other_list.1["items"], json!([]));

    // The instruction pack tells a reporting agent when to report, within 2 KB, and
    // tells an agent without the scope nothing of it.
    let pack = get(&w.app, &format!("/api/v1/agents/{agent_id}/setup")).await;
    let md = pack["agents_md"].as_str().unwrap();
    assert!(md.len() <= 2048, "AGENTS.md section is {} bytes", md.len());
    for needle in [
        "start_work_session",
        "update_work_session",
        "finish_work_session",
        "STOP REQUESTED",
    ] {
        assert!(md.contains(needle), "AGENTS.md lacks {needle}:\n{md}");
    }
    assert!(!md.contains(token.as_str()) && !md.contains("ndcag_"));
    let plain_id = rows_agent(&w.app, "plain").await;
    let plain_pack = get(&w.app, &format!("/api/v1/agents/{plain_id}/setup")).await;
    assert!(!plain_pack["agents_md"]
        .as_str()
        .unwrap()
        .contains("work_session"));

    // The live status names the client and counts the calls.
    let status = get(&w.app, "/api/v1/admin/status").await;
    let me = status["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent_id.to_string())
        .unwrap()
        .clone();
    assert_eq!(me["client"]["name"], "test");
    assert_eq!(me["liveness"], "active");
    assert!(me["session"].is_null(), "finished: no open session");
    assert!(me["counters"]["calls"].as_u64().unwrap() >= 10, "{me}");
    assert!(me["counters"]["denials"].as_u64().unwrap() >= 1, "{me}");
    assert!(status["totals"]["active"].as_u64().unwrap() >= 1);

    // The operator CLI reads the same: the status table, the list, one session.
    let (code, out) = cli(&w.app, &["status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reporter") && out.contains("test 1"), "{out}");
    let (code, out) = cli(
        &w.app,
        &["--json", "sessions", "list", "--state", "completed"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["items"][0]["id"], session.as_str());
    let (code, out) = cli(&w.app, &["sessions", "show", &session]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("reported: 2 actions") && out.contains("elicitation"),
        "{out}"
    );
    w.app.stop().await;
}
both_engines!(
    reported_sessions_are_checked_against_what_the_gateway_saw,
    a_reported_session_is_checked_against_what_the_gateway_saw
);

async fn a_second_start_supersedes_and_silence_turns_stale(engine: Engine) {
    let w = world(engine, &[("GATEWAY_SESSION_STALE_SECS", "1")]).await;
    let (agent_id, token) = reporter(&w, "sleepy").await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let key = card(&c, "c1").await;
    let first = c
        .tool(
            "start_work_session",
            json!({"idempotency_key": "s1", "card": key, "intent": "one"}),
        )
        .await;
    let first_id = first["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = c
        .tool(
            "start_work_session",
            json!({"idempotency_key": "s2", "card": key, "intent": "two"}),
        )
        .await;
    assert_eq!(second["structuredContent"]["superseded"], first_id.as_str());
    assert!(text(&second).contains("was ended as abandoned"), "{second}");
    let old = get(&w.app, &format!("/api/v1/admin/work-sessions/{first_id}")).await;
    assert_eq!(old["state"], "stopped");
    assert_eq!(old["outcome"], "abandoned");
    let second_id = second["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Silent past the interval: stale, in the list, the session and the live status.
    let path = format!("/api/v1/admin/work-sessions/{second_id}");
    eventually(&w.app, &path, |s| s["state"] == "stale").await;
    let stale = get(&w.app, "/api/v1/admin/work-sessions?state=stale").await;
    assert_eq!(stale["items"][0]["id"], second_id.as_str());
    let status = get(&w.app, "/api/v1/admin/status").await;
    let me = status["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent_id.to_string())
        .unwrap()
        .clone();
    assert_eq!(me["liveness"], "stale", "{me}");
    assert_eq!(me["session"]["state"], "stale");
    // Any call brings it back (a read's audit row rides the next batch: within moments).
    c.tool("get_card", json!({"card": key})).await;
    eventually(&w.app, &path, |s| s["state"] == "in_progress").await;
    w.app.stop().await;
}
both_engines!(
    second_start_supersedes_and_silence_turns_stale,
    a_second_start_supersedes_and_silence_turns_stale
);

async fn a_stop_request_reaches_the_agent_and_ends_a_silent_session(engine: Engine) {
    let w = world(engine, &[("GATEWAY_SESSION_STALE_SECS", "2")]).await;
    let (agent_id, token) = reporter(&w, "stoppable").await;
    let mut c = Client::new(&w.app, &token);
    c.init().await;
    let key = card(&c, "c1").await;
    let started = c
        .tool(
            "start_work_session",
            json!({"idempotency_key": "s1", "card": key, "intent": "refactor"}),
        )
        .await;
    let session = started["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(started.get("_meta").is_none_or(Value::is_null));

    // The owner asks it to stop.
    let own = owner_token(&w.app, w.owner).await;
    let stopped = owner_post(
        &w.app,
        &own,
        &format!("/api/v1/owner/work-sessions/{session}/stop"),
        json!({"reason": "wrong branch"}),
    )
    .await;
    assert_eq!(stopped.0, 200, "{}", stopped.1);
    assert_eq!(stopped.1["state"], "stopping");
    assert_eq!(stopped.1["stop"]["reason"], "wrong branch");
    // The next result carries the notice, in the text and in _meta.
    let read = c.tool("get_card", json!({"card": key})).await;
    assert_eq!(read["isError"], false);
    assert!(text(&read).starts_with("STOP REQUESTED"), "{read}");
    assert!(text(&read).contains("cannot stop a program on the developer's machine"));
    assert_eq!(
        read["_meta"]["nodedc.agent-gateway/stop_request"]["session"],
        session.as_str()
    );
    // Writes still work: the setting is off by default.
    let write = c
        .tool(
            "add_comment",
            json!({"idempotency_key": "k1", "card": key, "body": "note"}),
        )
        .await;
    assert_eq!(write["isError"], false, "{write}");
    // With the setting on, writes are refused while the stop is pending; reads are not.
    let (status, body) = w
        .app
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/agents/{agent_id}/reporting"),
            Some(json!({"stop_refuses_writes": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let started_wait = Instant::now();
    loop {
        let write = c
            .tool(
                "add_comment",
                json!({"idempotency_key": format!("k-{}", started_wait.elapsed().as_millis()), "card": key, "body": "more"}),
            )
            .await;
        if write["isError"] == true {
            assert!(text(&write).contains("refuses tracker writes"), "{write}");
            break;
        }
        assert!(
            started_wait.elapsed() < Duration::from_secs(10),
            "the setting never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read = c.tool("get_card", json!({"card": key})).await;
    assert_eq!(read["isError"], false);
    // A new session cannot escape the stop.
    let escape = c
        .tool(
            "start_work_session",
            json!({"idempotency_key": "s2", "card": key, "intent": "again"}),
        )
        .await;
    assert_eq!(escape["isError"], true);
    assert!(text(&escape).contains("finish it"), "{escape}");
    // Silent: the sweep ends it as stopped, and the notice is gone.
    let ended = eventually(
        &w.app,
        &format!("/api/v1/admin/work-sessions/{session}"),
        |s| s["state"] == "stopped",
    )
    .await;
    assert!(ended["ended_at"].is_string());
    let after = c.tool("get_card", json!({"card": key})).await;
    assert!(!text(&after).contains("STOP REQUESTED"), "{after}");
    let write = c
        .tool(
            "add_comment",
            json!({"idempotency_key": "k-after", "card": key, "body": "after"}),
        )
        .await;
    assert_eq!(write["isError"], false, "no stop pending any more: {write}");
    // The stop request itself is audited, and not counted as the agent's work.
    let (_, audit) = w
        .app
        .admin(Method::GET, "/api/v1/admin/audit?limit=500", None)
        .await;
    assert!(audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["action"] == "owner.work_session.stop" && r["target"] == session.as_str()));
    w.app.stop().await;
}
both_engines!(
    a_stop_request_reaches_the_agent,
    a_stop_request_reaches_the_agent_and_ends_a_silent_session
);

/// Runs `agent-gateway admin ARGS` against the app; returns the exit code and stdout (or
/// stderr on failure).
async fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_agent-gateway"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEWAY_ADMIN_TOKEN", crate::helpers::ADMIN_TOKEN)
        .arg("admin")
        .args(["--url", &app.url("/")])
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = if out.status.success() {
        out.stdout
    } else {
        out.stderr
    };
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&text).into_owned(),
    )
}

/// The id of the agent called `name`.
async fn rows_agent(app: &TestApp, name: &str) -> String {
    let agents = get(app, "/api/v1/admin/agents").await;
    agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn owner_token(app: &TestApp, owner: Uuid) -> String {
    let (status, issued) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{owner}/sessions"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    issued["token"].as_str().unwrap().to_owned()
}

async fn owner_get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let resp = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn owner_post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}
