//! `GET /api/v1/admin/projects` and `GET /api/v1/admin/projects/{project_id}/members`:
//! the Tasker's projects and who is in them, so an admin can grant them.

use axum::extract::State;
use serde::Serialize;

use super::Admin;
use crate::gateway::Gateway;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Path};
use crate::tasker::{role_name, ErrorCode, Member, ProjectSummary};

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

/// A project member as the API shows it: Plane's role number and its name.
#[derive(Debug, Serialize)]
pub struct MemberView {
    user_id: String,
    display_name: String,
    /// 20, 15 or 5.
    role: i64,
    /// `admin`, `member` or `guest`; `null` for a number Plane does not define.
    role_name: Option<&'static str>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            role_name: role_name(m.role),
            user_id: m.user_id,
            display_name: m.display_name,
            role: m.role,
        }
    }
}

/// The members of one project.
#[derive(Debug, Serialize)]
pub struct Members {
    members: Vec<MemberView>,
}

/// Lists a project's members, ordered by display name (the contract's
/// `GET projects/{project_id}/members`, called as the gateway itself).
pub async fn members(
    _: Admin,
    State(gw): State<Gateway>,
    Path(project_id): Path<String>,
) -> Result<Json<Members>, ApiError> {
    match gw.tasker.project_members(&project_id).await {
        Ok(members) => Ok(Json(Members {
            members: members.into_iter().map(MemberView::from).collect(),
        })),
        Err(e) => Err(match e.code {
            ErrorCode::NotFound => {
                ApiError::NotFound(format!("the Tasker has no project {project_id}"))
            }
            ErrorCode::ValidationFailed => ApiError::BadRequest {
                code: "invalid_path",
                message: "a project id is 1 to 64 letters, digits, '-' or '_', as \
                          GET /api/v1/admin/projects lists it"
                    .into(),
            },
            ErrorCode::ProjectNotGranted
            | ErrorCode::ForbiddenOperation
            | ErrorCode::Conflict
            | ErrorCode::RateLimited
            | ErrorCode::Unavailable
            | ErrorCode::Unauthorized => e.into(),
        }),
    }
}
