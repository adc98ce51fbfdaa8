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

/// Lists every project the Tasker holds, ordered by identifier (whichever adapter it is).
pub async fn list(_: Admin, State(gw): State<Gateway>) -> Result<Json<Projects>, ApiError> {
    let projects = gw.tasker.all_projects().await?;
    Ok(Json(Projects { projects }))
}
