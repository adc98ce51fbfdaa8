//! Sign-in, sessions, CSRF and the audit export of the pages, over plain HTTP, on both
//! engines.

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_engines;
use crate::helpers::{Engine, TestApp, ADMIN_TOKEN};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `agw_session=…` from a Set-Cookie, with its attributes checked.
fn session_cookie(resp: &reqwest::Response) -> String {
    let raw = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(raw.contains(attr), "{raw} lacks {attr}");
    }
    assert!(!raw.contains("Secure"), "plain http: no Secure ({raw})");
    raw.split(';').next().unwrap().to_owned()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_owned()
}

async fn sign_in_flow(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let http = client();
    let origin = app.base.clone();
    let owner = app.owner("Ada").await;

    // The link: one-time, short-lived, its secret in the fragment.
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{owner}/sign-in-link"),
            Some(json!({"ttl_seconds": 120})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let url = body["url"].as_str().unwrap();
    let secret = url.split_once("#link=").unwrap().1.to_owned();
    assert!(url.starts_with(&app.url("/ui/sign-in#")), "{url}");
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{owner}/sign-in-link"),
            Some(json!({"ttl_seconds": 5})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{}/sign-in-link", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/users/{owner}/sign-in-link"),
            None,
        )
        .await;
    assert_eq!(status, 201, "an empty body is fine");

    // Using it needs this gateway's Origin.
    let post_link = |origin: Option<&str>| {
        let mut req = http
            .post(app.url("/ui/sign-in"))
            .form(&[("link", secret.as_str())]);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        req.send()
    };
    assert_eq!(
        post_link(None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_link(Some("https://evil.example"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let used = post_link(Some(&origin)).await.unwrap();
    assert_eq!(used.status(), StatusCode::SEE_OTHER);
    assert_eq!(used.headers()[LOCATION], "/ui/agents");
    let cookie = session_cookie(&used);
    // Once only.
    assert_eq!(
        post_link(Some(&origin)).await.unwrap().status(),
        StatusCode::GONE
    );

    // The cookie opens the owner page; the page never holds a secret but the CSRF token.
    let page = http
        .get(app.url("/ui/agents"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Codex agents"));
    let csrf = csrf_of(&html);

    // A state-changing request without the token, or from elsewhere, is refused.
    let create = |token: &str, origin: &str| {
        http.post(app.url("/ui/agents"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, origin)
            .form(&[
                ("csrf", token),
                ("name", "x"),
                ("project", "p"),
                ("preset", "read"),
            ])
            .send()
    };
    assert_eq!(
        create("", &origin).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(&"0".repeat(64), &origin).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(&csrf, "http://localhost:1").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // With both, the request reaches the gateway (which refuses the unknown project).
    let refused = create(&csrf, &origin).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The owner's cookie is not the admin's.
    let admin_page = http
        .get(app.url("/ui/admin"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(admin_page.status(), StatusCode::FORBIDDEN);

    // Sign out ends the session for good.
    let out = http
        .post(app.url("/ui/sign-out"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = http
        .get(app.url("/ui/agents"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

    // The audit log holds the link's issue and its use.
    let (_, page) = app
        .admin(Method::GET, "/api/v1/admin/audit?limit=50", None)
        .await;
    let actions: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.contains(&"admin.sign_in_link.issue"), "{actions:?}");
    assert!(actions.contains(&"ui.owner.sign_in"), "{actions:?}");
    app.stop().await;
}
both_engines!(sign_in_link_cookie_and_csrf, sign_in_flow);

async fn admin_flow(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let http = client();
    let origin = app.base.clone();
    let sign_in = |token: &str| {
        http.post(app.url("/ui/admin/sign-in"))
            .header(ORIGIN, &origin)
            .form(&[("token", token)])
            .send()
    };
    assert_eq!(
        sign_in("nope").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = sign_in(ADMIN_TOKEN).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&ok);
    let get = |path: &str| http.get(app.url(path)).header(COOKIE, &cookie).send();
    assert_eq!(get("/ui/admin").await.unwrap().status(), 200);
    // Unsigned visitors are sent to the form.
    let anon = http.get(app.url("/ui/admin")).send().await.unwrap();
    assert_eq!(anon.headers()[LOCATION], "/ui/admin/sign-in");

    let owner = app.owner("Ada").await;
    let project = app.project("WEB", &[(owner, "Ada", 20)]).await;
    let (agent, _) = app.agent(owner, "a1", &[&project]).await;

    let csv = get("/ui/admin/audit/export?format=csv").await.unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".csv"));
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("id,at,request_id"), "{text}");
    assert!(text.contains("admin.agent.create"), "{text}");
    let jsonl = get("/ui/admin/audit/export?format=jsonl&action=create")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["action"].as_str().unwrap().contains("create")));
    let log = get("/ui/admin/audit?outcome=allowed&action=agent.create")
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    let log = log.text().await.unwrap();
    assert!(log.contains("admin.agent.create"), "{log}");
    assert!(
        !log.contains("admin.user.upsert</code>"),
        "filtered by action"
    );
    let bad = get("/ui/admin/audit?agent_id=nope").await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = get(&format!("/ui/admin/agents/{agent}")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("a1"));
    app.stop().await;
}
both_engines!(admin_sign_in_and_audit_export, admin_flow);

/// With two replicas on one Postgres, a page served by either sees the other's events
/// (the live relay on `NOTIFY agent_gateway_live`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_reach_every_replica() {
    let first = TestApp::spawn(Engine::Postgres).await;
    let second = TestApp::spawn_on(first.db.same(), &[]).await;
    let mut rx = second.gateway.auditor.live().subscribe();
    // The second replica's LISTEN starts in the background, and a NOTIFY sent before it
    // is lost by design (a feed line, never an audit row): act on the first replica until
    // one of its events arrives on the second (bounded).
    let got = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let owner = first.owner("Ada").await;
            let wait = tokio::time::sleep(std::time::Duration::from_millis(500));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    event = rx.recv() => {
                        let event = event.unwrap();
                        if event.action == "admin.user.upsert" && event.owner_id == Some(owner) {
                            return event;
                        }
                    }
                    () = &mut wait => break,
                }
            }
        }
    })
    .await
    .expect("the other replica's event arrives");
    assert_eq!(got.kind, agent_gateway::events::EventKind::Entitlement);
    second.stop().await;
    first.stop().await;
}
