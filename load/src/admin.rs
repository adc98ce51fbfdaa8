//! Setup through the admin API: one fresh owner, a project, `N` agents.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Config, Error};

/// What the measured phase needs: the project to work in and one token per agent.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) project: String,
    pub(crate) tokens: Vec<String>,
}

/// How many agents are created at once.
const CREATE_AT_ONCE: usize = 4;

async fn admin(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), Error> {
    let mut req = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

/// Creates the owner (entitled to `codex_agents`), picks the project and creates the
/// agents with every card scope on it and `config.agent_rate` as rate and burst.
pub(crate) async fn setup(
    http: &reqwest::Client,
    base: &str,
    config: &Config,
) -> Result<Setup, Error> {
    let token = config.admin_token.as_str();
    let run = Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let owner = Uuid::new_v4();
    let (status, body) = admin(
        http,
        base,
        token,
        reqwest::Method::PUT,
        &format!("/api/v1/admin/users/{owner}"),
        Some(
            json!({"display_name": format!("load {run}"), "client_id": "agent-gateway-load",
                    "codex_agents": true, "blocked": false}),
        ),
    )
    .await?;
    if status != 201 && status != 200 {
        return Err(Error::Setup(format!("creating the owner: {status} {body}")));
    }

    let (status, body) = admin(
        http,
        base,
        token,
        reqwest::Method::GET,
        "/api/v1/admin/projects",
        None,
    )
    .await?;
    if status != 200 {
        return Err(Error::Setup(format!("listing projects: {status} {body}")));
    }
    let projects = body["projects"].as_array().cloned().unwrap_or_default();
    let chosen = projects.iter().find(|p| match &config.project {
        Some(want) => p["id"].as_str() == Some(want) || p["identifier"].as_str() == Some(want),
        None => true,
    });
    let project = match chosen.and_then(|p| p["id"].as_str()) {
        Some(id) => id.to_owned(),
        None => {
            return Err(Error::Setup(match &config.project {
                Some(want) => format!("the Tasker has no project {want}"),
                None => "the Tasker has no project; create one first".into(),
            }))
        }
    };

    let mut tokens = Vec::with_capacity(config.agents);
    let names: Vec<usize> = (0..config.agents).collect();
    for chunk in names.chunks(CREATE_AT_ONCE) {
        let mut set = tokio::task::JoinSet::new();
        for i in chunk {
            let body = json!({
                "owner_id": owner,
                "name": format!("load-{run}-{i}"),
                "grants": [{"project_id": project, "scopes": ["cards:read", "cards:write"]}],
                "rate_per_minute": config.agent_rate,
                "rate_burst": config.agent_rate,
            });
            let (http, base, token) = (http.clone(), base.to_owned(), token.to_owned());
            set.spawn(async move {
                admin(
                    &http,
                    &base,
                    &token,
                    reqwest::Method::POST,
                    "/api/v1/admin/agents",
                    Some(body),
                )
                .await
            });
        }
        while let Some(joined) = set.join_next().await {
            let (status, body) =
                joined.map_err(|e| Error::Setup(format!("creating an agent: {e}")))??;
            match body["token"].as_str() {
                Some(t) if status == 201 => tokens.push(t.to_owned()),
                _ => return Err(Error::Setup(format!("creating an agent: {status} {body}"))),
            }
        }
    }
    Ok(Setup { project, tokens })
}
