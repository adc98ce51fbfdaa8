//! The built-in pages in a real browser (headless Debian chromium through
//! chromium-driver), against a real gateway on loopback. Every wait is a bounded poll of
//! the DOM, never a wall-clock assertion. Screenshots go to
//! `$CARGO_TARGET_DIR/ui-screenshots/` (the path is printed).
//!
//! Long on purpose: one test, a single story on one gateway and one chromium-driver, since
//! each step uses what earlier ones made (the token, the agent, its work session). Its
//! `// ---` sections run in order: no entitlement, create and pair, reload, revoke, work
//! session, entitlement off, used link, stream drop; the helpers come first.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use super::webdriver::{Browser, Driver};
use crate::helpers::{Engine, TestApp, ADMIN_TOKEN};

/// Generous bounds for a shared CI machine; the pages push within milliseconds.
const PUSHED: Duration = Duration::from_secs(5);
const LOADED: Duration = Duration::from_secs(10);

async fn sign_in_link(app: &TestApp, user: Uuid) -> String {
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{user}/sign-in-link"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["url"].as_str().unwrap().to_owned()
}

async fn user(app: &TestApp, name: &str, entitled: bool) -> Uuid {
    let id = Uuid::new_v4();
    let (status, body) = app
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/users/{id}"),
            Some(json!({"display_name": name, "client_id": "acme", "codex_agents": entitled, "blocked": false})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    id
}

/// A Codex-like MCP client: initialize with Codex's client info, then tool calls.
struct Codex<'a> {
    app: &'a TestApp,
    token: String,
    session: String,
}

impl<'a> Codex<'a> {
    fn post(&self, body: Value, session: bool) -> reqwest::RequestBuilder {
        let mut req = self
            .app
            .http
            .post(self.app.url("/mcp"))
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if session {
            req = req
                .header("mcp-session-id", &self.session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        req
    }

    async fn connect(app: &'a TestApp, token: &str) -> Self {
        let mut me = Self {
            app,
            token: token.to_owned(),
            session: String::new(),
        };
        let init = me
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "codex-mcp-client", "version": "0.46.0"}}}),
                false,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(init.status(), 200);
        me.session = init.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let note = me
            .post(
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                true,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(note.status(), 202);
        me
    }

    async fn call(&self, name: &str, args: Value) -> Value {
        let resp = self
            .post(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}}),
                true,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_ne!(body["result"]["isError"], json!(true), "{name}: {body}");
        body
    }
}

async fn admin_sign_in(app: &TestApp, b: &Browser) {
    b.goto(&app.url("/ui/admin")).await;
    b.wait_for("#admin-token", LOADED, "the admin sign-in form")
        .await;
    b.type_into("#admin-token", ADMIN_TOKEN).await;
    b.click("form[action='/ui/admin/sign-in'] button[type=submit]")
        .await;
    b.wait_for(
        "[data-live-indicator][data-state=live]",
        LOADED,
        "the admin page, live",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_in_a_real_browser() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    // A short stale interval, so a silent work session turns stale within the test.
    let app = TestApp::spawn_with(Engine::Sqlite, &[("GATEWAY_SESSION_STALE_SECS", "3")]).await;
    let owner = user(&app, "Ada Owner", true).await;
    let project = app.project("WEB", &[(owner, "Ada Owner", 20)]).await;
    let outsider = user(&app, "Bob Unentitled", false).await;

    // --- an owner without the entitlement: no card, one line why --------------------
    let ob = driver.session().await;
    ob.goto(&sign_in_link(&app, outsider).await).await;
    ob.wait_for("p.notice", LOADED, "the not-entitled line")
        .await;
    assert!(
        !ob.has("#codex-agents").await,
        "no card without the entitlement"
    );
    assert!(ob.text().await.contains("codex_agents"));
    // The link was used: opening it again does not sign anyone in.
    ob.close().await;

    // --- the entitled owner creates an agent: the token is shown once ----------------
    let b = driver.session().await;
    let link = sign_in_link(&app, owner).await;
    b.goto(&link).await;
    b.wait_for(
        "#codex-agents [data-live-indicator][data-state=live]",
        LOADED,
        "the owner card, live",
    )
    .await;
    b.click("details.create summary").await;
    b.type_into("#agent-name", "laptop-codex").await;
    b.click(&format!("input[name=project][value='{project}']"))
        .await;
    b.click("input[name=preset][value=contributor]").await;
    b.click("form[hx-post='/ui/agents'] button[type=submit]")
        .await;
    b.wait_for("#new-token", LOADED, "the token shown once")
        .await;
    let token = b
        .js(
            "return document.getElementById('new-token').value",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("ndcag_"), "{token}");
    assert!(b.has("[data-pairing=waiting]").await);
    let tabs = b.text().await;
    assert!(tabs.contains("export NODEDC_AGENT_TOKEN="), "{tabs}");

    // --- a real MCP client's call flips the pairing panel, pushed ---------------------
    Codex::connect(&app, &token)
        .await
        .call("list_projects", json!({}))
        .await;
    b.wait_for(
        "#pairing-status [data-pairing=connected]",
        PUSHED,
        "the pairing panel flipped",
    )
    .await;
    // The drawer: the agent's recent calls from the audit log.
    b.click("#agents-list tr[data-agent] button[aria-label^='Details']")
        .await;
    b.wait_for("#drawer table", LOADED, "the agent's drawer")
        .await;
    b.wait_for_text("list_projects", LOADED, "the call in the drawer")
        .await;
    let flipped = b.text().await;
    assert!(flipped.contains("Connected: Codex 0.46.0"), "{flipped}");
    b.screenshot("owner-agents").await;

    // --- reload: the token is gone, the agent is listed with its prefix --------------
    b.refresh().await;
    b.wait_for("#agents-list tr[data-agent]", LOADED, "the agent list")
        .await;
    assert!(
        !b.has("#new-token").await,
        "the token is gone after a reload"
    );
    assert!(
        !b.text().await.contains(&token),
        "the token is nowhere on the page"
    );
    let agent_id = b
        .js(
            "return document.querySelector('#agents-list tr[data-agent]').dataset.agent",
            json!([]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // --- revoke (confirmation + reason): the admin board shows it, pushed -------------
    let admin = driver.session().await;
    admin_sign_in(&app, &admin).await;
    admin
        .wait_for(
            &format!("#agent-table tr[data-agent='{agent_id}'][data-status=active]"),
            LOADED,
            "the agent on the board",
        )
        .await;
    b.click(&format!("button[data-revoke][data-agent='{agent_id}']"))
        .await;
    b.wait_for("#revoke-dialog[open]", LOADED, "the revoke confirmation")
        .await;
    b.type_into("#revoke-reason", "laptop lost").await;
    b.click("#revoke-dialog button[type=submit]").await;
    admin
        .wait_for(
            &format!("#agent-table tr[data-agent='{agent_id}'][data-status=revoked]"),
            PUSHED,
            "the revocation on the admin board",
        )
        .await;
    admin
        .wait_for(
            "#feed li[data-kind=revocation]",
            PUSHED,
            "the revocation in the feed",
        )
        .await;
    // Paused, the feed counts new events instead of moving under the reader.
    admin.click("[data-feed-pause]").await;
    let before = admin
        .js(
            "return document.querySelectorAll('#feed li').length",
            json!([]),
        )
        .await;
    user(&app, "Cy Newcomer", true).await;
    admin
        .wait_for(
            "[data-feed-newer]:not([hidden])",
            PUSHED,
            "'N new events' while paused",
        )
        .await;
    assert_eq!(
        admin
            .js(
                "return document.querySelectorAll('#feed li').length",
                json!([])
            )
            .await,
        before,
        "nothing inserted while paused"
    );
    assert!(!admin.text().await.contains("Cy Newcomer"));
    admin.click("[data-feed-newer]").await;
    admin
        .wait_for_text("Cy Newcomer", PUSHED, "the buffered events shown")
        .await;
    admin.click("[data-feed-pause]").await;
    assert_eq!(
        app.me(&token).await,
        401,
        "the revoked token no longer works"
    );

    // --- a work session: shown on the board, then stale once the agent goes silent ---
    let (status, created) = app
        .admin(
            Method::POST,
            "/api/v1/admin/agents",
            Some(json!({"owner_id": owner, "name": "desktop-codex", "grants": [{"project_id": project, "scopes": ["cards:read", "cards:write", "sessions:write"]}]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let second = created["agent_id"].as_str().unwrap().to_owned();
    let codex = Codex::connect(&app, created["token"].as_str().unwrap()).await;
    codex
        .call(
            "create_card",
            json!({"project_id": project, "name": "Login fails", "idempotency_key": "k-card-1"}),
        )
        .await;
    codex
        .call("start_work_session", json!({"card": "WEB-1", "intent": "fix the login bug", "idempotency_key": "k-session-1"}))
        .await;
    admin
        .wait_for(
            &format!("#agent-table tr[data-agent='{second}'] [data-session-state=in_progress]"),
            PUSHED,
            "the open work session on the board",
        )
        .await;
    admin
        .wait_for(
            &format!("#agent-table tr[data-agent='{second}'] [data-session-state=stale]"),
            Duration::from_secs(15),
            "the silent session turned stale without a reload",
        )
        .await;
    assert!(
        admin
            .has(&format!(
                "#agent-table tr[data-agent='{second}'] [data-liveness=stale]"
            ))
            .await
    );
    assert!(
        admin.text().await.contains("Codex 0.46.0"),
        "the client it connected with"
    );
    // Ask the session to stop, from the agent's timeline.
    admin
        .goto(&app.url(&format!("/ui/admin/agents/{second}")))
        .await;
    admin
        .wait_for(
            "form[action$='/stop'] input[name=reason]",
            LOADED,
            "the stop button",
        )
        .await;
    admin
        .type_into("form[action$='/stop'] input[name=reason]", "wrong card")
        .await;
    admin
        .click("form[action$='/stop'] button[type=submit]")
        .await;
    admin
        .wait_for(
            // The stale sweep may end it (stopped) before the page loads.
            "[data-session-state=stopping], [data-session-state=stopped]",
            LOADED,
            "the session asked to stop",
        )
        .await;
    assert!(admin.text().await.contains("Stop asked by admin"));
    admin.goto(&app.url("/ui/admin")).await;
    admin
        .wait_for(
            "[data-live-indicator][data-state=live]",
            LOADED,
            "the admin page again",
        )
        .await;

    // --- the entitlement switched off: the owner's agents shown disabled -------------
    b.wait_for(
        &format!("#agents-list tr[data-agent='{second}'][data-status=active]"),
        PUSHED,
        "the new agent pushed to the owner",
    )
    .await;
    admin
        .wait_for(
            &format!("tr[data-user='{owner}']"),
            PUSHED,
            "the owner in the entitlements",
        )
        .await;
    admin.refresh().await;
    admin
        .wait_for(
            &format!("tr[data-user='{owner}'] input[aria-label^='Codex agents']"),
            LOADED,
            "the toggle",
        )
        .await;
    admin
        .click(&format!("tr[data-user='{owner}'] label.toggle"))
        .await;
    admin
        .wait_for("dialog[open] p.effect", LOADED, "the effect of the toggle")
        .await;
    let effect = admin.text().await;
    assert!(effect.contains("disables 1 agent"), "{effect}");
    admin.type_into("#confirm-reason", "contract ended").await;
    admin.click("dialog[open] button[type=submit]").await;
    b.wait_for(
        &format!("#agents-list tr[data-agent='{second}'][data-status=disabled]"),
        PUSHED,
        "the owner's agent shown disabled, pushed",
    )
    .await;
    admin
        .wait_for(
            "[data-live-indicator][data-state=live]",
            LOADED,
            "the admin page again",
        )
        .await;
    admin.js("window.scrollTo(0, 0)", json!([])).await;
    admin.screenshot("admin-live").await;
    b.refresh().await;
    b.wait_for(
        "p.notice",
        LOADED,
        "the card gone after losing the entitlement",
    )
    .await;
    assert!(!b.has("#codex-agents").await);
    assert!(
        b.has(&format!("tr[data-agent='{second}'][data-status=disabled]"))
            .await
    );

    // --- a used link does not sign in again -------------------------------------------
    let again = driver.session().await;
    again.goto(&link).await;
    again
        .wait_for("div.alert.error", LOADED, "a used link refused")
        .await;
    assert!(again.text().await.contains("already used"));

    // --- the stream drops (the gateway stops): the page says so ------------------------
    again.close().await;
    b.close().await;
    let stopping = tokio::spawn(app.stop());
    admin
        .wait_for(
            "[data-live-indicator][data-state=reconnecting]",
            LOADED,
            "the page saying its stream dropped",
        )
        .await;
    assert!(admin.text().await.contains("Reconnecting"));
    stopping.await.unwrap();
    admin.close().await;
}
