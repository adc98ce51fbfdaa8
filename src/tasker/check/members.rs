//! The checks of the gateway's own membership reads: a project's members, and the
//! projects of one member, both unconfined by grants and consistent with the context.

use super::{expect_code, Kit};
use crate::tasker::*;

impl Kit {
    pub(super) async fn members_listed(&self) -> Result<String, String> {
        let project = &self.target.project;
        let members = self
            .client
            .project_members(project)
            .await
            .map_err(|e| e.to_string())?;
        let ctx = self
            .client
            .project_context(&self.actor, project)
            .await
            .map_err(|e| e.to_string())?;
        let (mut listed, mut known) = (members.clone(), ctx.members.clone());
        listed.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        known.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        if listed != known {
            return Err(format!(
                "the members {members:?} differ from the context's {:?}",
                ctx.members
            ));
        }
        if !members.is_sorted_by(|a, b| a.display_name <= b.display_name) {
            return Err("members are not ordered by display name".into());
        }
        // Not confined: the other project's members are readable too.
        self.client
            .project_members(&self.target.other_project)
            .await
            .map_err(|e| format!("the other project's members: {e}"))?;
        expect_code(
            self.client
                .project_members(&format!("missing-{}", self.run))
                .await,
            ErrorCode::NotFound,
        )?;
        for m in &members {
            let projects = self
                .client
                .projects_of_member(&m.user_id)
                .await
                .map_err(|e| e.to_string())?;
            if !projects
                .iter()
                .any(|p| &p.id == project && p.role == m.role)
            {
                return Err(format!(
                    "member {} is missing {project} (role {}) from {projects:?}",
                    m.user_id, m.role
                ));
            }
            if !projects.is_sorted_by(|a, b| a.identifier <= b.identifier) {
                return Err("a member's projects are not ordered by identifier".into());
            }
        }
        let stranger = self
            .client
            .projects_of_member(&uuid::Uuid::new_v4().to_string())
            .await
            .map_err(|e| e.to_string())?;
        if !stranger.is_empty() {
            return Err(format!("an unknown user has projects: {stranger:?}"));
        }
        Ok(format!(
            "{} members, each listing the project; unknown project not_found, unknown user none",
            members.len()
        ))
    }
}
