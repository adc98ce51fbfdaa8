//! What never changes once a project exists in the embedded tracker: its identity and
//! its workflow states. Nothing renames a project, deletes one or edits its states (they
//! are written once, with the project, by `create_project`), so they are kept in memory
//! once read and a write does not read them again: two round trips fewer per
//! `create_card` (docs/PERFORMANCE.md). Only committed rows are cached: the read runs
//! on a connection or transaction that never created the project it reads.

use std::sync::Arc;

use moka::future::Cache;
use sqlx::AnyConnection;

use super::reads;
use super::EmbeddedTasker;
use crate::tasker::*;

/// Projects remembered at most (a bound, not an expectation).
const MAX_PROJECTS: u64 = 10_000;

/// One project's fixed facts.
#[derive(Debug)]
pub(super) struct ProjectFacts {
    /// Id, identifier (the card keys' prefix), name.
    pub project: ProjectSummary,
    /// Its states, in workflow order.
    pub states: Vec<State>,
}

impl ProjectFacts {
    /// The state new cards start in.
    pub fn default_state(&self) -> TaskerResult<&State> {
        self.states
            .iter()
            .find(|s| s.is_default)
            .ok_or_else(|| TaskerError::unavailable("the project has no default state"))
    }

    /// The state called `name` (any case): its id and its name as stored.
    pub fn state_named(&self, name: &str) -> TaskerResult<&State> {
        self.states
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                TaskerError::invalid(
                    "state",
                    format!("no state {name:?} in this project; use one of the listed state names"),
                    self.states.iter().map(|s| s.name.clone()).collect(),
                )
            })
    }
}

/// The cache of [`ProjectFacts`], one per tracker.
pub(super) fn cache() -> Cache<String, Arc<ProjectFacts>> {
    Cache::new(MAX_PROJECTS)
}

impl EmbeddedTasker {
    /// The facts of `project_id`, which `actor` must be granted (checked on every call;
    /// the grant is the caller's, never cached): from memory, or read on `conn`.
    pub(super) async fn facts(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<Arc<ProjectFacts>> {
        if !actor.may(project_id) {
            return Err(TaskerError::not_granted(project_id, &actor.granted));
        }
        if let Some(known) = self.facts.get(project_id).await {
            return Ok(known);
        }
        let project = reads::project(conn, actor, project_id).await?;
        let states = reads::states(conn, &project.id).await?;
        let facts = Arc::new(ProjectFacts { project, states });
        self.facts
            .insert(project_id.to_owned(), Arc::clone(&facts))
            .await;
        Ok(facts)
    }
}
