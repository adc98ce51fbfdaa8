//! Discovery: the admin's user list (paged, agents counted), a project's members, and
//! the projects an owner may grant — each over real HTTP on both engines.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{Engine, TestApp};
use crate::owner::session;

async fn get_as(app: &TestApp, token: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn put_user(app: &TestApp, id: Uuid, name: &str, client: &str, blocked: bool) {
    let (status, body) = app
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/users/{id}"),
            Some(json!({"display_name": name, "client_id": client, "codex_agents": true, "blocked": blocked})),
        )
        .await;
    assert!([200, 201].contains(&status), "{body}");
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// Every user, page by page, `limit` at a time; asserts the cursor's contract.
async fn all_pages(app: &TestApp, query: &str, limit: u32) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..20 {
        let cursor = before
            .as_ref()
            .map(|b| format!("&before={b}"))
            .unwrap_or_default();
        let path = format!("/api/v1/admin/users?limit={limit}{query}{cursor}");
        let (status, page) = app.admin(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap().clone();
        assert!(items.len() <= limit as usize);
        seen.extend(items.iter().cloned());
        match page["next_before"].as_str() {
            Some(next) => {
                assert_eq!(
                    items.len(),
                    limit as usize,
                    "a cursor only after a full page"
                );
                assert_eq!(items.last().unwrap()["id"], next);
                before = Some(next.to_owned());
            }
            None => return seen,
        }
    }
    panic!("paging did not end");
}

async fn admin_lists_users_with_their_agents_counted(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let ada = app.owner("Ada").await;
    let bob = app.owner("Bob").await;
    let cy = Uuid::new_v4();
    put_user(&app, cy, "Cy", "client-2", false).await;
    let web = app.project("WEB", &[]).await;
    let (a1, _) = app.agent(ada, "ada-1", &[&web]).await;
    app.agent(ada, "ada-2", &[&web]).await;
    app.agent(ada, "ada-3", &[&web]).await;
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/v1/admin/agents/{a1}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.agent(cy, "cy-1", &[&web]).await;
    put_user(&app, cy, "Cy", "client-2", true).await; // blocked: cy-1 becomes disabled

    let (status, page) = app.admin(Method::GET, "/api/v1/admin/users", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["next_before"], Value::Null);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let ids: Vec<&str> = items.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| std::cmp::Reverse(id.parse::<Uuid>().unwrap()));
    assert_eq!(ids, sorted, "ordered by id, descending");
    let of = |id: Uuid| {
        items
            .iter()
            .find(|u| u["id"] == id.to_string())
            .unwrap()
            .clone()
    };
    let a = of(ada);
    assert_eq!(a["display_name"], "Ada");
    assert_eq!(a["client_id"], "client-1");
    assert_eq!(a["codex_agents"], true);
    assert_eq!(a["blocked"], false);
    assert!(a["created_at"].is_string());
    assert_eq!(
        (
            &a["agents_active"],
            &a["agents_disabled"],
            &a["agents_revoked"]
        ),
        (&json!(2), &json!(0), &json!(1))
    );
    let b = of(bob);
    assert_eq!(
        (
            &b["agents_active"],
            &b["agents_disabled"],
            &b["agents_revoked"]
        ),
        (&json!(0), &json!(0), &json!(0))
    );
    let c = of(cy);
    assert_eq!(c["blocked"], true);
    assert_eq!(
        (
            &c["agents_active"],
            &c["agents_disabled"],
            &c["agents_revoked"]
        ),
        (&json!(0), &json!(1), &json!(0))
    );

    // The client filter.
    let (status, page) = app
        .admin(Method::GET, "/api/v1/admin/users?client_id=client-2", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], cy.to_string());
    let (_, page) = app
        .admin(Method::GET, "/api/v1/admin/users?client_id=nobody", None)
        .await;
    assert_eq!(page, json!({"items": [], "next_before": null}));
    app.stop().await;
}
both_engines!(
    admin_lists_users_with_their_agents_counted_,
    admin_lists_users_with_their_agents_counted
);

async fn the_user_list_pages_completely(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(app.owner(&format!("user-{i}")).await.to_string());
    }
    let other = Uuid::new_v4();
    put_user(&app, other, "Other", "client-9", false).await;
    for limit in [1, 2, 3, 7, 8] {
        let seen = all_pages(&app, "&client_id=client-1", limit).await;
        let mut ids: Vec<String> = seen
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 7, "limit {limit}: none twice, none missing");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 7);
        assert!(made.iter().all(|m| ids.contains(m)));
    }
    assert_eq!(all_pages(&app, "", 3).await.len(), 8);

    // Bad parameters: the audit log's answers.
    for (query, expected) in [
        ("limit=0", "bad_request"),
        ("limit=501", "bad_request"),
        ("limit=ten", "invalid_query"),
        ("before=not-a-uuid", "invalid_query"),
        ("owner_id=x", "invalid_query"),
    ] {
        let (status, body) = app
            .admin(Method::GET, &format!("/api/v1/admin/users?{query}"), None)
            .await;
        assert_eq!((status, code(&body)), (400, expected), "{query}: {body}");
    }
    app.stop().await;
}
both_engines!(
    the_user_list_pages_completely_,
    the_user_list_pages_completely
);

async fn admin_lists_a_projects_members(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let ada = app.owner("Ada").await;
    let bob = app.owner("Bob").await;
    let cy = app.owner("Cy").await;
    let web = app
        .project("WEB", &[(cy, "Cy", 5), (ada, "Ada", 20), (bob, "Bob", 15)])
        .await;
    let empty = app.project("OPS", &[]).await;

    let path = format!("/api/v1/admin/projects/{web}/members");
    let (status, body) = app.admin(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"members": [
            {"user_id": ada.to_string(), "display_name": "Ada", "role": 20, "role_name": "admin"},
            {"user_id": bob.to_string(), "display_name": "Bob", "role": 15, "role_name": "member"},
            {"user_id": cy.to_string(), "display_name": "Cy", "role": 5, "role_name": "guest"},
        ]})
    );
    let (status, body) = app
        .admin(
            Method::GET,
            &format!("/api/v1/admin/projects/{empty}/members"),
            None,
        )
        .await;
    assert_eq!((status, body), (200, json!({"members": []})));

    // Unknown and malformed ids.
    let (status, body) = app
        .admin(
            Method::GET,
            "/api/v1/admin/projects/no-such-project/members",
            None,
        )
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    assert_eq!(
        body["error"]["message"],
        "the Tasker has no project no-such-project"
    );
    let (status, body) = app
        .admin(Method::GET, "/api/v1/admin/projects/bad.id/members", None)
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_path"), "{body}");

    // Only the admin.
    let owner = session(&app, ada).await;
    for token in [None, Some("wrong-admin-token"), Some(owner.as_str())] {
        let (status, body) = get_as(&app, token, &path).await;
        assert_eq!((status, code(&body)), (401, "unauthorized"), "{token:?}");
    }
    app.stop().await;
}
both_engines!(
    admin_lists_a_projects_members_,
    admin_lists_a_projects_members
);

async fn owners_list_the_projects_they_may_grant(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let ada = app.owner("Ada").await;
    let bob = app.owner("Bob").await;
    let web = app
        .project("WEB", &[(ada, "Ada", 15), (bob, "Bob", 20)])
        .await;
    let ops = app.project("OPS", &[(ada, "Ada", 5)]).await;
    let docs = app.project("DOCS", &[(bob, "Bob", 20)]).await;
    let ada_s = session(&app, ada).await;

    let (status, body) = get_as(&app, Some(&ada_s), "/api/v1/owner/projects").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"projects": [
            {"id": ops, "identifier": "OPS", "name": "Project OPS", "role": 5, "role_name": "guest"},
            {"id": web, "identifier": "WEB", "name": "Project WEB", "role": 15, "role_name": "member"},
        ]})
    );
    // Exactly what the owner may grant: each listed project is accepted, DOCS is not.
    for (project, expected) in [(&ops, 201), (&web, 201), (&docs, 403)] {
        let resp = app
            .http
            .post(app.url("/api/v1/owner/agents"))
            .bearer_auth(&ada_s)
            .json(&json!({"name": format!("a-{project}"), "grants": [{"project_id": project, "scopes": ["cards:read"]}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{project}");
    }

    // A user in no project has none.
    let lone = app.owner("Lone").await;
    let lone_s = session(&app, lone).await;
    let (status, body) = get_as(&app, Some(&lone_s), "/api/v1/owner/projects").await;
    assert_eq!((status, body), (200, json!({"projects": []})));

    // Only an owner, and not a blocked one.
    let (status, body) = get_as(&app, None, "/api/v1/owner/projects").await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    let (status, body) = get_as(&app, Some("ndcown_not-a-session"), "/api/v1/owner/projects").await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    let admin = crate::helpers::ADMIN_TOKEN;
    let (status, body) = get_as(&app, Some(admin), "/api/v1/owner/projects").await;
    assert_eq!((status, code(&body)), (403, "owner_only"));
    put_user(&app, ada, "Ada", "client-1", true).await;
    let (status, body) = get_as(&app, Some(&ada_s), "/api/v1/owner/projects").await;
    assert_eq!((status, code(&body)), (403, "owner_blocked"));
    app.stop().await;
}
both_engines!(
    owners_list_the_projects_they_may_grant_,
    owners_list_the_projects_they_may_grant
);
