//! A fake Plane on loopback that reproduces the behaviour of Plane's public API v1 the
//! adapter depends on, each from Plane's own source (makeplane/plane, `apps/api/plane/`):
//!
//! * auth — `api/middleware/api_authentication.py`: `X-Api-Key`; a wrong key is 401
//!   `{"detail": "Given API token is not valid"}`, none is DRF's 401;
//! * throttle — `api/rate_limit.py` (`ApiKeyRateThrottle`, 60/minute sliding window
//!   per key) and `api/views/base.py` (`finalize_response`): `X-RateLimit-Remaining`,
//!   `X-RateLimit-Reset` (Unix time now + 60) on allowed requests; DRF's 429 with
//!   `Retry-After` and `{"detail": "Request was throttled. Expected available in N
//!   seconds."}` on refused ones;
//! * pagination — `utils/paginator.py`: `cursor=per_page:page:is_prev`, `per_page`
//!   default and maximum 1000, the envelope `next_cursor`, `prev_cursor`,
//!   `next_page_results`, `prev_page_results`, `count`, `total_pages`,
//!   `total_results`, `results`; a bad cursor is 400 `{"detail": "Invalid cursor
//!   parameter."}`;
//! * routes — `api/urls/work_item.py` (`/work-items/` and the deprecated `/issues/`;
//!   a server older than v1.1.0 has only the latter, and Django answers an unknown path
//!   with its HTML 404 page), `api/urls/member.py`, `api/urls/user.py`;
//! * work items — `api/views/issue.py` (`IssueListCreateAPIEndpoint`: list newest
//!   first, `?external_id=&external_source=` answers the one item or 404, a duplicate
//!   pair on create is 409 `{"error": …, "id": …}`; `WorkspaceIssueAPIEndpoint`: by
//!   `IDENT-N`) and `api/serializers/issue.py` (`IssueSerializer.validate`: assignees
//!   who are not active project members with role ≥ 15, and labels of other projects,
//!   are silently dropped; a state of another project is 400; `expand=parent` gives
//!   `IssueLiteSerializer`); lxml wraps several top-level elements in one `<div>`;
//! * comments — `IssueCommentListCreateAPIEndpoint` (409 with the id on a duplicate
//!   external pair, per project); activities — `IssueActivityListAPIEndpoint` (oldest
//!   first, comment activities left out);
//! * members — `api/views/member.py`: project members as `UserLiteSerializer` (no
//!   role), workspace members with `role`.
//!
//! Like Plane, it deletes what it is asked to delete: a test that finds no `DELETE` in
//! [`World::requests`] proves the adapter sent none.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

mod routes;

use routes::route;

pub const SLUG: &str = "acme";
pub const KEY: &str = "plane_api_0123456789abcdef";

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub workspace_role: i64,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub identifier: String,
    pub name: String,
    /// (user id, project role).
    pub members: Vec<(String, i64)>,
}

#[derive(Debug, Default)]
pub struct World {
    pub me: String,
    pub users: Vec<User>,
    pub projects: Vec<Project>,
    /// (project, id, name, group, default, sequence).
    pub states: Vec<(String, String, String, String, bool, f64)>,
    /// (project, id, name).
    pub labels: Vec<(String, String, String)>,
    pub issues: Vec<Value>,
    pub comments: Vec<Value>,
    pub activities: Vec<Value>,
    /// Every request received: method and path.
    pub requests: Vec<(String, String)>,
    /// Requests per minute per key (Plane's default 60).
    pub limit: usize,
    pub window: VecDeque<Instant>,
    /// Answer the next N requests with 429 and this `Retry-After`.
    pub force_429: Option<(usize, u64)>,
    /// A Plane older than v1.1.0: no `/work-items/` routes.
    pub legacy: bool,
    pub clock: i64,
}

impl World {
    fn now(&mut self) -> String {
        self.clock += 1;
        let t = chrono::Utc::now() + chrono::Duration::milliseconds(self.clock);
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn user_json(&self, u: &User) -> Value {
        json!({"id": u.id, "first_name": u.name, "last_name": "", "email": format!("{}@example.com", u.id),
               "avatar": "", "avatar_url": null, "display_name": u.name})
    }

    /// A project with Plane's default states, a `bug` label, the bot and `members`.
    pub fn add_project(&mut self, identifier: &str, members: &[(&str, i64)]) -> String {
        let id = Uuid::new_v4().to_string();
        let mut m: Vec<(String, i64)> = vec![(self.me.clone(), 20)];
        m.extend(members.iter().map(|(u, r)| ((*u).to_owned(), *r)));
        self.projects.push(Project {
            id: id.clone(),
            identifier: identifier.into(),
            name: format!("Project {identifier}"),
            members: m,
        });
        // Plane's default states (`plane/app/views/project/base.py`, `DEFAULT_STATES`).
        for (i, (name, group, default)) in [
            ("Backlog", "backlog", false),
            ("Todo", "unstarted", true),
            ("In Progress", "started", false),
            ("Done", "completed", false),
            ("Cancelled", "cancelled", false),
        ]
        .into_iter()
        .enumerate()
        {
            self.states.push((
                id.clone(),
                Uuid::new_v4().to_string(),
                name.into(),
                group.into(),
                default,
                15000.0 * (i as f64 + 1.0),
            ));
        }
        self.labels
            .push((id.clone(), Uuid::new_v4().to_string(), "bug".into()));
        id
    }

    pub fn add_user(&mut self, name: &str, workspace_role: i64) -> String {
        let id = Uuid::new_v4().to_string();
        self.users.push(User {
            id: id.clone(),
            name: name.into(),
            workspace_role,
        });
        id
    }
}

pub struct Fake {
    pub url: url::Url,
    pub world: Arc<Mutex<World>>,
}

impl Fake {
    pub async fn start() -> Fake {
        let mut world = World {
            limit: 1_000_000,
            ..World::default()
        };
        world.me = world.add_user("Gateway Bot", 15);
        let world = Arc::new(Mutex::new(world));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&world));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake {
            url: url::Url::parse(&format!("http://{addr}/")).unwrap(),
            world,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap())
    }
}

pub(super) fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub(super) fn django_404() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/html")],
        "<h1>Not Found</h1><p>The requested resource was not found on this server.</p>",
    )
        .into_response()
}

pub(super) fn query(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(super) fn q<'a>(qs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    qs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

pub(super) fn paginate(items: Vec<Value>, qs: &[(String, String)]) -> Response {
    let per_page: usize = match q(qs, "per_page").map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(n)) => n.clamp(1, 1000),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"detail": "Invalid per_page parameter."}),
            )
        }
    };
    let cursor = q(qs, "cursor")
        .map(str::to_owned)
        .unwrap_or(format!("{per_page}:0:0"));
    let bits: Vec<&str> = cursor.split(':').collect();
    let page = match (
        bits.len(),
        bits.get(1).and_then(|b| b.parse::<usize>().ok()),
    ) {
        (3, Some(p)) => p,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"detail": "Invalid cursor parameter."}),
            )
        }
    };
    let total = items.len();
    let offset = page * per_page;
    let results: Vec<Value> = items.into_iter().skip(offset).take(per_page).collect();
    Json(json!({
        "grouped_by": null, "sub_grouped_by": null, "total_count": total,
        "next_cursor": format!("{per_page}:{}:0", page + 1),
        "prev_cursor": format!("{per_page}:{}:1", page.saturating_sub(1)),
        "next_page_results": total > offset + per_page,
        "prev_page_results": page > 0,
        "count": results.len(), "total_pages": total.div_ceil(per_page), "total_results": total,
        "extra_stats": null, "results": results,
    }))
    .into_response()
}

async fn handle(
    State(world): State<Arc<Mutex<World>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut w = world.lock().unwrap();
    w.requests.push((method.to_string(), uri.path().to_owned()));
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Authentication credentials were not provided."}),
            )
        }
        Some(k) if k != KEY => {
            return error(
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Given API token is not valid"}),
            )
        }
        Some(_) => {}
    }
    if let Some((n, secs)) = w.force_429 {
        w.force_429 = (n > 1).then_some((n - 1, secs));
        return throttled(secs);
    }
    let now = Instant::now();
    while w
        .window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        w.window.pop_front();
    }
    if w.window.len() >= w.limit {
        let oldest = *w.window.front().unwrap();
        return throttled(60 - now.duration_since(oldest).as_secs());
    }
    w.window.push_back(now);
    let remaining = w.limit - w.window.len();
    let mut response = route(&mut w, &method, &uri, &body);
    let h = response.headers_mut();
    h.insert(
        "x-ratelimit-remaining",
        remaining.to_string().parse().unwrap(),
    );
    h.insert(
        "x-ratelimit-reset",
        (chrono::Utc::now().timestamp() + 60)
            .to_string()
            .parse()
            .unwrap(),
    );
    response
}

fn throttled(secs: u64) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"detail": format!("Request was throttled. Expected available in {secs} seconds.")}),
    );
    r.headers_mut()
        .insert("retry-after", secs.to_string().parse().unwrap());
    r
}
