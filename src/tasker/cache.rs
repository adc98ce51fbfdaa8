//! A read the gateway answers without a round trip: the project list.
//!
//! `list_projects` is the commonest read and its answer changes only when a project is
//! created, which on the embedded tracker happens in this process (`create_project`
//! bumps [`ProjectsCache::changes`]) or, with several replicas, in another one (the
//! snapshot is re-read once it is [`TTL`] old, by one call; the calls that arrive
//! during that re-read get the previous list). Each call's answer is still
//! filtered by **that call's** grants (`Actor::granted`, from admission), so a revocation
//! or a grant change is in force at once: the cache holds what exists, never what an
//! agent may see. Every other method, and every write, goes straight to the adapter.
//!
//! Only the embedded tracker is wrapped: a remote Tasker is told who reads (an agent's
//! `projects` call carries its identity), which a shared snapshot would hide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;

/// How long a snapshot is trusted without a change seen in this process.
pub const TTL: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Snapshot {
    taken: Instant,
    generation: u64,
    projects: Arc<Vec<ProjectSummary>>,
}

/// The project list, cached in front of a Tasker.
#[derive(Debug)]
pub struct ProjectsCache {
    inner: Arc<dyn Tasker>,
    changes: Arc<AtomicU64>,
    snapshot: RwLock<Option<Snapshot>>,
    /// One re-read at a time: the callers that find the snapshot stale together wait
    /// for one query instead of each sending their own (or, past the TTL only, keep the
    /// old list meanwhile).
    reading: tokio::sync::Mutex<()>,
}

impl ProjectsCache {
    /// Caches `inner`'s projects; `changes` is bumped by whoever creates a project.
    pub fn new(inner: Arc<dyn Tasker>, changes: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            changes,
            snapshot: RwLock::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// Every project, from the snapshot while it is fresh. A project created in this
    /// process (a new generation) is always waited for. A snapshot only past its TTL is
    /// still served to the callers that arrive while another one re-reads it, so the
    /// re-read every [`TTL`] costs one query and holds up one call, not every call in
    /// flight at that moment.
    async fn every_project(&self) -> TaskerResult<Arc<Vec<ProjectSummary>>> {
        let generation = self.changes.load(Ordering::Acquire);
        let stale = match self.current(generation) {
            Current::Fresh(projects) => return Ok(projects),
            Current::Expired(projects) => Some(projects),
            Current::Outdated => None,
        };
        let reading = match (stale, self.reading.try_lock()) {
            (_, Ok(reading)) => reading,
            (Some(stale), Err(_)) => return Ok(stale),
            (None, Err(_)) => {
                let reading = self.reading.lock().await;
                // The re-read this call waited for may have been of this generation.
                if let Current::Fresh(projects) = self.current(generation) {
                    return Ok(projects);
                }
                reading
            }
        };
        let projects = Arc::new(self.inner.all_projects().await?);
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Snapshot {
            taken: Instant::now(),
            generation,
            projects: Arc::clone(&projects),
        });
        drop(reading);
        Ok(projects)
    }

    fn current(&self, generation: u64) -> Current {
        match self
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(s) if s.generation == generation && s.taken.elapsed() < TTL => {
                Current::Fresh(Arc::clone(&s.projects))
            }
            Some(s) if s.generation == generation => Current::Expired(Arc::clone(&s.projects)),
            _ => Current::Outdated,
        }
    }
}

/// What the snapshot is worth for a call.
enum Current {
    Fresh(Arc<Vec<ProjectSummary>>),
    /// Of this generation but past its TTL: good while another call re-reads.
    Expired(Arc<Vec<ProjectSummary>>),
    /// None yet, or taken before a project was created here.
    Outdated,
}

#[async_trait]
impl Tasker for ProjectsCache {
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
        if actor.granted.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .every_project()
            .await?
            .iter()
            .filter(|p| actor.may(&p.id))
            .cloned()
            .collect())
    }
    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
        Ok(self.every_project().await?.as_ref().clone())
    }
    async fn project_members(&self, project_id: &str) -> TaskerResult<Vec<Member>> {
        self.inner.project_members(project_id).await
    }
    async fn projects_of_member(&self, user_id: &str) -> TaskerResult<Vec<Membership>> {
        self.inner.projects_of_member(user_id).await
    }
    async fn project_context(&self, actor: &Actor, id: &str) -> TaskerResult<ProjectContext> {
        self.inner.project_context(actor, id).await
    }
    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage> {
        self.inner.search_cards(actor, query).await
    }
    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail> {
        self.inner.get_card(actor, card).await
    }
    async fn create_card(&self, a: &Actor, key: &str, c: &NewCard) -> TaskerResult<CardDetail> {
        self.inner.create_card(a, key, c).await
    }
    async fn update_card(
        &self,
        a: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail> {
        self.inner.update_card(a, key, card, patch).await
    }
    async fn move_card(
        &self,
        a: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail> {
        self.inner.move_card(a, key, card, state).await
    }
    async fn add_comment(
        &self,
        a: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        self.inner.add_comment(a, key, card, body).await
    }
    async fn set_labels(
        &self,
        a: &Actor,
        key: &str,
        card: &str,
        labels: &[String],
    ) -> TaskerResult<CardDetail> {
        self.inner.set_labels(a, key, card, labels).await
    }
    async fn assign(
        &self,
        a: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail> {
        self.inner.assign(a, key, card, assignees).await
    }
    async fn update_block(
        &self,
        a: &Actor,
        key: &str,
        card: &str,
        block: &str,
        content: &str,
    ) -> TaskerResult<CardDetail> {
        self.inner.update_block(a, key, card, block, content).await
    }
    async fn add_member(
        &self,
        a: &Actor,
        key: &str,
        project_id: &str,
        member: &NewMember,
    ) -> TaskerResult<Member> {
        self.inner.add_member(a, key, project_id, member).await
    }
}
