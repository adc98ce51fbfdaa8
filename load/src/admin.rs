//! Setup through the admin API: one fresh owner, a project, `N` agents.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::{Config, Error};

/// What the measured phase needs: the project to work in and one token per agent.
#[derive(Debug)]
pub(crate) struct Setup {
    pub(crate) project: String,
    /// `(owner index, agent id, token)` per agent, in creation order.
    pub(crate) agents: Vec<(usize, String, String)>,
    /// The owners' user ids.
    pub(crate) owners: Vec<Uuid>,
    /// How long creating the agents took (the owners and the project lookup excluded).
    pub(crate) create_secs: f64,
}

pub(crate) async fn admin(
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
    let mut owners = Vec::with_capacity(config.owners.max(1));
    for o in 0..config.owners.max(1) {
        let owner = Uuid::new_v4();
        let (status, body) = admin(
            http,
            base,
            token,
            reqwest::Method::PUT,
            &format!("/api/v1/admin/users/{owner}"),
            Some(
                json!({"display_name": format!("load {run} owner {o}"), "client_id": "agent-gateway-load",
                        "codex_agents": true, "blocked": false}),
            ),
        )
        .await?;
        if status != 201 && status != 200 {
            return Err(Error::Setup(format!("creating an owner: {status} {body}")));
        }
        owners.push(owner);
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

    // Agents are created `create_concurrency` at a time, spread over the owners.
    let started = std::time::Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(
        config.create_concurrency.max(1),
    ));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..config.agents {
        let o = i % owners.len();
        let body = json!({
            "owner_id": owners[o],
            "name": format!("load-{run}-{i}"),
            "grants": [{"project_id": project,
                        "scopes": ["cards:read", "cards:write", "sessions:write"]}],
            "rate_per_minute": config.agent_rate,
            "rate_burst": config.agent_rate,
        });
        let (http, base, token, sem) =
            (http.clone(), base.to_owned(), token.to_owned(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = admin(
                &http,
                &base,
                &token,
                reqwest::Method::POST,
                "/api/v1/admin/agents",
                Some(body),
            )
            .await;
            (i, o, r)
        });
    }
    let mut agents = vec![None; config.agents];
    while let Some(joined) = set.join_next().await {
        let (i, o, r) = joined.map_err(|e| Error::Setup(format!("creating an agent: {e}")))?;
        let (status, body) = r?;
        match (body["token"].as_str(), body["agent_id"].as_str()) {
            (Some(t), Some(id)) if status == 201 => {
                agents[i] = Some((o, id.to_owned(), t.to_owned()));
            }
            _ => return Err(Error::Setup(format!("creating an agent: {status} {body}"))),
        }
    }
    let create_secs = started.elapsed().as_secs_f64();
    Ok(Setup {
        project,
        agents: agents.into_iter().flatten().collect(),
        owners,
        create_secs,
    })
}
