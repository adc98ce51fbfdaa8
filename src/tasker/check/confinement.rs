//! The checks that the contract confines the caller: the service token, the project
//! listings, the context, refusal of ungranted projects, and no delete or archive.

use super::{expect_code, Kit};
use crate::tasker::*;

impl Kit {
    pub(super) async fn service_token_required(&self) -> Result<String, String> {
        let (status, body) = self
            .raw(
                reqwest::Method::GET,
                &format!("projects/{}/context", self.target.project),
                false,
            )
            .await?;
        match (status, body["error"]["code"].as_str()) {
            (401, Some("unauthorized")) => Ok("401 unauthorized without the service token".into()),
            other => Err(format!("expected 401 unauthorized, got {other:?}")),
        }
    }

    pub(super) async fn granted_project_visible(&self) -> Result<String, String> {
        let projects = self
            .client
            .projects(&self.actor)
            .await
            .map_err(|e| e.to_string())?;
        if projects.len() == 1 && projects[0].id == self.target.project {
            Ok(format!("{} ({})", projects[0].identifier, projects[0].id))
        } else {
            Err(format!(
                "expected exactly the granted project, got {projects:?}"
            ))
        }
    }

    pub(super) async fn all_projects_listed(&self) -> Result<String, String> {
        let projects = self
            .client
            .all_projects()
            .await
            .map_err(|e| e.to_string())?;
        for wanted in [&self.target.project, &self.target.other_project] {
            if !projects.iter().any(|p| &p.id == wanted) {
                return Err(format!("project {wanted} is missing from {projects:?}"));
            }
        }
        if !projects.is_sorted_by(|a, b| a.identifier <= b.identifier) {
            return Err("projects are not ordered by identifier".into());
        }
        Ok(format!(
            "{} projects, ordered by identifier",
            projects.len()
        ))
    }

    pub(super) async fn context_is_complete(&self) -> Result<String, String> {
        let ctx = self
            .client
            .project_context(&self.actor, &self.target.project)
            .await
            .map_err(|e| e.to_string())?;
        let groups = [
            "backlog",
            "unstarted",
            "started",
            "completed",
            "cancelled",
            "triage",
        ];
        if ctx.states.iter().filter(|s| s.is_default).count() != 1 {
            return Err("exactly one state must be the default".into());
        }
        if let Some(bad) = ctx
            .states
            .iter()
            .find(|s| !groups.contains(&s.group.as_str()))
        {
            return Err(format!(
                "state {} has unknown group {}",
                bad.name, bad.group
            ));
        }
        if let Some(bad) = ctx.members.iter().find(|m| ![5, 15, 20].contains(&m.role)) {
            return Err(format!(
                "member {} has role {} (expected 20, 15 or 5)",
                bad.display_name, bad.role
            ));
        }
        Ok(format!(
            "{} states, {} labels, {} members",
            ctx.states.len(),
            ctx.labels.len(),
            ctx.members.len()
        ))
    }

    pub(super) async fn ungranted_project_refused(&self) -> Result<String, String> {
        let other = &self.target.other_project;
        let e = expect_code(
            self.client.project_context(&self.actor, other).await,
            ErrorCode::ProjectNotGranted,
        )?;
        if !e.valid.contains(&self.target.project) {
            return Err("project_not_granted must list the granted projects in `valid`".into());
        }
        let input = NewCard {
            project_id: other.clone(),
            name: "must not exist".into(),
            ..NewCard::default()
        };
        expect_code(
            self.client
                .create_card(&self.actor, &self.key("ungranted"), &input)
                .await,
            ErrorCode::ProjectNotGranted,
        )?;
        let q = CardQuery {
            project_id: Some(other.clone()),
            ..CardQuery::default()
        };
        expect_code(
            self.client.search_cards(&self.actor, &q).await,
            ErrorCode::ProjectNotGranted,
        )?;
        // A card of the other project, made by an agent granted there, is refused by key.
        let there = Actor {
            granted: vec![other.clone()],
            work_session: None,
            ..self.actor.clone()
        };
        let input = NewCard {
            project_id: other.clone(),
            name: format!("conformance other {}", self.run),
            ..NewCard::default()
        };
        let card = self
            .client
            .create_card(&there, &self.key("other"), &input)
            .await
            .map_err(|e| e.to_string())?;
        expect_code(
            self.client.get_card(&self.actor, &card.card.key).await,
            ErrorCode::ProjectNotGranted,
        )?;
        Ok("refused by id, in search, on create and by card key".into())
    }

    pub(super) async fn delete_and_archive_refused(&self) -> Result<String, String> {
        let card = self.card("delete").await?;
        let key = &card.card.key;
        for (method, path) in [
            (reqwest::Method::DELETE, format!("cards/{key}")),
            (reqwest::Method::POST, format!("cards/{key}/archive")),
            (reqwest::Method::DELETE, format!("cards/{key}/comments")),
            (
                reqwest::Method::DELETE,
                format!("projects/{}", self.target.project),
            ),
            (
                reqwest::Method::POST,
                format!("projects/{}/archive", self.target.project),
            ),
        ] {
            let (status, body) = self.raw(method.clone(), &path, true).await?;
            if body["error"]["code"] != "forbidden_operation" {
                return Err(format!(
                    "{method} {path}: expected forbidden_operation, got {status} {body}"
                ));
            }
        }
        self.client
            .get_card(&self.actor, key)
            .await
            .map_err(|e| format!("the card is gone: {e}"))?;
        Ok("DELETE and archive refused on cards, comments and projects; the card remains".into())
    }
}
