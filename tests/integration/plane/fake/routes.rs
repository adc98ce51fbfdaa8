//! The fake Plane's routes: `api/urls/*.py`, and the work item and comment endpoints of
//! `api/views/issue.py` with `IssueSerializer.validate`'s silent drops.
//!
//! Long on purpose: it is one URL table, kept whole so it reads against Plane's
//! `api/urls/*.py`. `route` takes the workspace-level paths and hands project paths to
//! `in_project` (states, labels, members, work items, comments, activities); after them
//! come `clean` (the validation and silent drops), `create` and `patch`.

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{django_404, error, paginate, q, query, Project, World, SLUG};

pub(super) fn route(w: &mut World, method: &Method, uri: &Uri, body: &Bytes) -> Response {
    let qs = query(uri);
    let Some(path) = uri.path().strip_prefix("/api/v1/") else {
        return django_404();
    };
    let seg: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if !uri.path().ends_with('/') {
        return django_404();
    }
    let legacy = w.legacy;
    let items_ok = move |s: &str| s == "issues" || (s == "work-items" && !legacy);
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let missing = || {
        error(
            StatusCode::NOT_FOUND,
            json!({"error": "The requested resource does not exist."}),
        )
    };
    match (method.as_str(), seg.as_slice()) {
        ("GET", ["users", "me"]) => {
            Json(w.user_json(&w.user(&w.me).unwrap().clone())).into_response()
        }
        (_, ["workspaces", slug, ..]) if *slug != SLUG => error(
            StatusCode::NOT_FOUND,
            json!({"error": "Workspace does not exist"}),
        ),
        ("GET", ["workspaces", _, "projects"]) => {
            let me = w.me.clone();
            let list = w.projects.iter().filter(|p| p.members.iter().any(|(u, _)| *u == me))
                .map(|p| json!({"id": p.id, "identifier": p.identifier, "name": p.name, "network": 0})).collect();
            paginate(list, &qs)
        }
        ("GET", ["workspaces", _, "members"]) => {
            let list: Vec<Value> = w
                .users
                .iter()
                .map(|u| {
                    let mut j = w.user_json(u);
                    j["role"] = json!(u.workspace_role);
                    j
                })
                .collect();
            Json(list).into_response()
        }
        ("GET", ["workspaces", _, items, key]) if items_ok(items) => {
            let Some((ident, seq)) = key.rsplit_once('-') else {
                return missing();
            };
            let Some(p) = w.projects.iter().find(|p| p.identifier == ident) else {
                return missing();
            };
            let found = w
                .issues
                .iter()
                .find(|i| {
                    i["project"] == p.id
                        && i["sequence_id"]
                            .as_i64()
                            .is_some_and(|n| seq.parse() == Ok(n))
                })
                .cloned();
            match found {
                Some(i) => Json(show(w, &i, &qs)).into_response(),
                None => missing(),
            }
        }
        (_, ["workspaces", _, "projects", pid, rest @ ..]) => {
            let Some(project) = w.projects.iter().find(|p| p.id == *pid).cloned() else {
                return missing();
            };
            if !project.members.iter().any(|(u, _)| *u == w.me) {
                return error(
                    StatusCode::FORBIDDEN,
                    json!({"detail": "You do not have permission to perform this action."}),
                );
            }
            in_project(w, method.as_str(), &project, rest, &qs, body, items_ok)
        }
        _ => django_404(),
    }
}

fn show(w: &World, issue: &Value, qs: &[(String, String)]) -> Value {
    let mut i = issue.clone();
    if q(qs, "expand").is_some_and(|e| e.split(',').any(|x| x == "parent")) {
        if let Some(parent) = i["parent"]
            .as_str()
            .and_then(|p| w.issues.iter().find(|x| x["id"] == p))
        {
            i["parent"] = json!({"id": parent["id"], "sequence_id": parent["sequence_id"], "project_id": parent["project"]});
        }
    }
    i
}

/// lxml's `fromstring` of several top-level elements: one wrapping `<div>`.
fn lxml(html: &str) -> String {
    if html.matches("</p>").count() + html.matches("</h3>").count() > 1 {
        format!("<div>{html}</div>")
    } else {
        html.to_owned()
    }
}

fn activity(
    w: &mut World,
    issue: &str,
    field: Option<&str>,
    old: Option<String>,
    new: Option<String>,
) {
    let at = w.now();
    let verb = if field.is_none() {
        "created"
    } else {
        "updated"
    };
    w.activities.push(
        json!({"id": Uuid::new_v4().to_string(), "issue": issue, "verb": verb, "field": field,
        "old_value": old, "new_value": new, "actor": w.me, "created_at": at, "updated_at": at}),
    );
}

fn in_project(
    w: &mut World,
    method: &str,
    p: &Project,
    rest: &[&str],
    qs: &[(String, String)],
    body: Value,
    items_ok: impl Fn(&str) -> bool,
) -> Response {
    let missing = || {
        error(
            StatusCode::NOT_FOUND,
            json!({"error": "The requested resource does not exist."}),
        )
    };
    match (method, rest) {
        ("GET", ["states"]) => {
            let list = w.states.iter().filter(|s| s.0 == p.id).map(|s| json!({"id": s.1, "name": s.2, "group": s.3, "default": s.4, "sequence": s.5, "color": "#60646C", "project": p.id})).collect();
            paginate(list, qs)
        }
        ("GET", ["labels"]) => {
            let list = w
                .labels
                .iter()
                .filter(|l| l.0 == p.id)
                .map(|l| json!({"id": l.1, "name": l.2, "color": "#e5484d", "project": p.id}))
                .collect();
            paginate(list, qs)
        }
        ("GET", ["members"] | ["project-members"]) => {
            let list: Vec<Value> = p
                .members
                .iter()
                .filter_map(|(u, _)| w.user(u))
                .map(|u| w.user_json(u))
                .collect();
            Json(list).into_response()
        }
        ("GET", [items]) if items_ok(items) => {
            if let (Some(ext), Some(src)) = (q(qs, "external_id"), q(qs, "external_source")) {
                return match w.issues.iter().find(|i| {
                    i["project"] == p.id && i["external_id"] == ext && i["external_source"] == src
                }) {
                    Some(i) => Json(show(w, i, qs)).into_response(),
                    None => missing(),
                };
            }
            let mut list: Vec<Value> = w
                .issues
                .iter()
                .filter(|i| i["project"] == p.id)
                .map(|i| show(w, i, qs))
                .collect();
            list.reverse(); // -created_at
            paginate(list, qs)
        }
        ("POST", [items]) if items_ok(items) => create(w, p, body),
        ("GET", [items, id]) if items_ok(items) => match w
            .issues
            .iter()
            .find(|i| i["project"] == p.id && i["id"] == *id)
        {
            Some(i) => Json(show(w, i, qs)).into_response(),
            None => missing(),
        },
        ("PATCH", [items, id]) if items_ok(items) => patch(w, p, id, body),
        ("DELETE", [items, id]) if items_ok(items) => {
            w.issues.retain(|i| i["id"] != *id);
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", [items, id, "comments"]) if items_ok(items) => {
            let mut list: Vec<Value> = w
                .comments
                .iter()
                .filter(|c| c["issue"] == *id)
                .cloned()
                .collect();
            list.reverse();
            paginate(list, qs)
        }
        ("GET", [items, id, "comments", cid]) if items_ok(items) => match w
            .comments
            .iter()
            .find(|c| c["issue"] == *id && c["id"] == *cid)
        {
            Some(c) => Json(c.clone()).into_response(),
            None => missing(),
        },
        ("POST", [items, id, "comments"]) if items_ok(items) => {
            if !w.issues.iter().any(|i| i["id"] == *id) {
                return missing();
            }
            if let (Some(ext), Some(src)) = (
                body["external_id"].as_str(),
                body["external_source"].as_str(),
            ) {
                if let Some(c) = w.comments.iter().find(|c| {
                    c["project"] == p.id && c["external_id"] == ext && c["external_source"] == src
                }) {
                    return error(
                        StatusCode::CONFLICT,
                        json!({"error": "Work item comment with the same external id and external source already exists", "id": c["id"]}),
                    );
                }
            }
            let at = w.now();
            let c = json!({"id": Uuid::new_v4().to_string(), "issue": id, "project": p.id, "comment_html": body["comment_html"],
                "actor": w.me, "created_at": at, "updated_at": at, "external_id": body["external_id"], "external_source": body["external_source"], "is_member": true});
            w.comments.push(c.clone());
            (StatusCode::CREATED, Json(c)).into_response()
        }
        ("GET", [items, id, "activities"]) if items_ok(items) => {
            let list = w
                .activities
                .iter()
                .filter(|a| a["issue"] == *id)
                .cloned()
                .collect();
            paginate(list, qs)
        }
        _ => django_404(),
    }
}

/// `IssueSerializer.validate`: unknown users or labels are 400; those outside the
/// project (or guests) are silently dropped; a state of another project is 400.
fn clean(w: &World, p: &Project, body: &mut Value) -> Result<(), Box<Response>> {
    if let Some(list) = body.get("assignees").and_then(Value::as_array).cloned() {
        if let Some(bad) = list
            .iter()
            .find(|a| a.as_str().and_then(|a| w.user(a)).is_none())
        {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                json!({"assignees": {"0": [format!("Invalid pk \"{bad}\" - object does not exist.")]}}),
            )));
        }
        let kept: Vec<Value> = list
            .into_iter()
            .filter(|a| {
                p.members
                    .iter()
                    .any(|(u, r)| Some(u.as_str()) == a.as_str() && *r >= 15)
            })
            .collect();
        body["assignees"] = json!(kept);
    }
    if let Some(list) = body.get("labels").and_then(Value::as_array).cloned() {
        if list
            .iter()
            .any(|l| !w.labels.iter().any(|x| Some(x.1.as_str()) == l.as_str()))
        {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                json!({"labels": {"0": ["Invalid pk - object does not exist."]}}),
            )));
        }
        let kept: Vec<Value> = list
            .into_iter()
            .filter(|l| {
                w.labels
                    .iter()
                    .any(|x| Some(x.1.as_str()) == l.as_str() && x.0 == p.id)
            })
            .collect();
        body["labels"] = json!(kept);
    }
    if let Some(s) = body.get("state").and_then(Value::as_str) {
        if !w.states.iter().any(|x| x.1 == s && x.0 == p.id) {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                json!({"non_field_errors": ["State is not valid please pass a valid state_id"]}),
            )));
        }
    }
    if let Some(pr) = body.get("priority").and_then(Value::as_str) {
        if !["urgent", "high", "medium", "low", "none"].contains(&pr) {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                json!({"priority": [format!("\"{pr}\" is not a valid choice.")]}),
            )));
        }
    }
    if let Some(html) = body.get("description_html").and_then(Value::as_str) {
        body["description_html"] = json!(lxml(html));
    }
    Ok(())
}

fn create(w: &mut World, p: &Project, mut body: Value) -> Response {
    if body["name"].as_str().is_none_or(str::is_empty) {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"name": ["This field is required."]}),
        );
    }
    if let Err(r) = clean(w, p, &mut body) {
        return *r;
    }
    if let (Some(ext), Some(src)) = (
        body["external_id"].as_str(),
        body["external_source"].as_str(),
    ) {
        if let Some(i) = w.issues.iter().find(|i| {
            i["project"] == p.id && i["external_id"] == ext && i["external_source"] == src
        }) {
            return error(
                StatusCode::CONFLICT,
                json!({"error": "Issue with the same external id and external source already exists", "id": i["id"]}),
            );
        }
    }
    let seq = w.issues.iter().filter(|i| i["project"] == p.id).count() + 1;
    let at = w.now();
    let id = Uuid::new_v4().to_string();
    let default_state = w
        .states
        .iter()
        .find(|s| s.0 == p.id && s.4)
        .map(|s| s.1.clone());
    let issue = json!({"id": id, "name": body["name"], "description_html": body.get("description_html").cloned().unwrap_or(json!("<p></p>")),
        "priority": body.get("priority").cloned().unwrap_or(json!("none")), "state": body.get("state").cloned().unwrap_or(json!(default_state)),
        "parent": body.get("parent").cloned().unwrap_or(Value::Null), "sequence_id": seq, "project": p.id, "workspace": SLUG,
        "start_date": body.get("start_date").cloned().unwrap_or(Value::Null), "target_date": body.get("target_date").cloned().unwrap_or(Value::Null),
        "assignees": body.get("assignees").cloned().unwrap_or(json!([])), "labels": body.get("labels").cloned().unwrap_or(json!([])),
        "external_id": body.get("external_id").cloned().unwrap_or(Value::Null), "external_source": body.get("external_source").cloned().unwrap_or(Value::Null),
        "created_at": at, "updated_at": at, "created_by": w.me, "updated_by": w.me});
    w.issues.push(issue.clone());
    activity(w, &id, None, None, None);
    (StatusCode::CREATED, Json(issue)).into_response()
}

fn patch(w: &mut World, p: &Project, id: &str, mut body: Value) -> Response {
    let Some(at) = w
        .issues
        .iter()
        .position(|i| i["project"] == p.id && i["id"] == id)
    else {
        return error(
            StatusCode::NOT_FOUND,
            json!({"error": "The requested resource does not exist."}),
        );
    };
    if let Err(r) = clean(w, p, &mut body) {
        return *r;
    }
    let before = w.issues[at].clone();
    let state_name = |w: &World, v: &Value| {
        w.states
            .iter()
            .find(|s| Some(s.1.as_str()) == v.as_str())
            .map(|s| s.2.clone())
    };
    let Some(fields) = body.as_object().cloned() else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "The payload is not valid"}),
        );
    };
    for (k, v) in fields {
        if before[&k] == v {
            continue;
        }
        let (old, new) = match k.as_str() {
            "state" => (state_name(w, &before[&k]), state_name(w, &v)),
            _ => (
                before[&k].as_str().map(str::to_owned),
                v.as_str().map(str::to_owned),
            ),
        };
        w.issues[at][&k] = v;
        activity(w, id, Some(&k), old, new);
    }
    let now = w.now();
    w.issues[at]["updated_at"] = json!(now);
    Json(w.issues[at].clone()).into_response()
}
