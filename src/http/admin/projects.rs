//! `GET /api/v1/admin/projects`: the Tasker's projects, so an admin can grant them.

use axum::extract::State;
use serde::Serialize;

use super::Admin;
use crate::gateway::Gateway;
use crate::http::error::ApiError;
use crate::http::extract::Json;
use crate::tasker::ProjectSummary;

/// The project list.
#[derive(Debug, Serialize)]
pub struct Projects {
    projects: Vec<ProjectSummary>,
}

/// Lists projects. Only the embedded tracker can list all of them; the Tasker's
/// contract looks projects up by id, so with `nodedc` use the Tasker's project settings.
pub async fn list(_: Admin, State(gw): State<Gateway>) -> Result<Json<Projects>, ApiError> {
    let embedded = gw
        .embedded
        .as_ref()
        .ok_or_else(|| ApiError::Unprocessable {
            code: "not_listable",
            message:
                "the Tasker adapter looks projects up by id only; copy project ids from the Tasker"
                    .into(),
        })?;
    let projects = embedded
        .all_projects()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(Projects { projects }))
}
