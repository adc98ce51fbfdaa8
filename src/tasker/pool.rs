//! Every Tasker call goes through a pool of call actors ([`gateway_actors::CallPool`]):
//! bounded concurrency, a timeout per attempt, retries of transient failures with the
//! same idempotency key, a circuit breaker kept per agent (one agent's failing calls
//! pause only that agent; an outage seen by several owners pauses everyone), and the
//! upstream's request budget. [`PooledTasker`] wraps any adapter so the rest of the
//! gateway never calls an adapter directly.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use gateway_actors::{CallConfig, CallError, CallPool, Caller, RequestBudget, Transient};

use super::*;

impl Transient for TaskerError {
    fn is_transient(&self) -> bool {
        TaskerError::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after_ms.map(Duration::from_millis)
    }

    fn is_throttled(&self) -> bool {
        self.code == ErrorCode::RateLimited
    }
}

/// An adapter behind a call pool.
#[derive(Debug)]
pub struct PooledTasker {
    inner: Arc<dyn Tasker>,
    pool: CallPool,
}

impl PooledTasker {
    /// Wraps `inner` in a pool with `config`.
    pub fn new(inner: Arc<dyn Tasker>, config: CallConfig) -> Self {
        Self {
            inner,
            pool: CallPool::start("tasker", config),
        }
    }

    /// Wraps `inner`, an adapter that meters each upstream request it sends against
    /// `budget` (one port call may send several); the pool owns that one budget.
    pub fn metered(inner: Arc<dyn Tasker>, config: CallConfig, budget: Arc<RequestBudget>) -> Self {
        Self {
            inner,
            pool: CallPool::start_metered("tasker", config, budget),
        }
    }

    /// Runs `op` for `caller` (whose breaker its failures count against).
    async fn run<T, F>(&self, caller: Caller, op: F) -> TaskerResult<T>
    where
        T: Send + 'static,
        F: Fn(Arc<dyn Tasker>) -> BoxFuture<'static, TaskerResult<T>> + Send + Sync + 'static,
    {
        let inner = Arc::clone(&self.inner);
        self.pool
            .call_as(caller, move || op(Arc::clone(&inner)))
            .await
            .map_err(|e| match e {
                CallError::Failed(e) => e,
                CallError::Timeout => TaskerError::unavailable(
                    "the Tasker did not answer in time; retry with the same idempotency key",
                ),
                CallError::CircuitOpen(wait) => TaskerError {
                    retry_after_ms: Some(wait.as_millis() as u64),
                    ..TaskerError::unavailable(
                        "the Tasker is failing and calls are paused; retry later",
                    )
                },
                CallError::Budget(wait) => budget_exhausted(wait),
                CallError::Overloaded => TaskerError::unavailable(
                    "too many calls are waiting for the Tasker; retry shortly",
                ),
                CallError::Dropped => TaskerError::unavailable(
                    "the call failed inside the gateway; retry with the same idempotency key",
                ),
            })
    }
}

/// The tool error of a call the Tasker's request budget could not fit in its timeout:
/// retryable, naming the wait.
pub fn budget_exhausted(wait: Duration) -> TaskerError {
    let ms = (wait.as_millis() as u64).max(1000);
    TaskerError {
        retry_after_ms: Some(ms),
        ..TaskerError::new(
            ErrorCode::RateLimited,
            format!(
                "the Tasker's request budget is exhausted (it throttles this gateway's requests); retry the same call with the same idempotency key in {} s",
                ms.div_ceil(1000)
            ),
        )
    }
}

/// The breaker key of an actor: its agent, and its owner for the shared quorum.
fn caller(actor: &Actor) -> Caller {
    Caller {
        agent: actor.agent_id,
        owner: actor.owner_id,
    }
}

#[async_trait]
impl Tasker for PooledTasker {
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
        let a = actor.clone();
        self.run(caller(actor), move |t| {
            let a = a.clone();
            Box::pin(async move { t.projects(&a).await })
        })
        .await
    }

    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
        self.run(Caller::ANONYMOUS, |t| {
            Box::pin(async move { t.all_projects().await })
        })
        .await
    }

    async fn project_members(&self, project_id: &str) -> TaskerResult<Vec<Member>> {
        let project = project_id.to_owned();
        self.run(Caller::ANONYMOUS, move |t| {
            let project = project.clone();
            Box::pin(async move { t.project_members(&project).await })
        })
        .await
    }

    async fn projects_of_member(&self, user_id: &str) -> TaskerResult<Vec<Membership>> {
        let user = user_id.to_owned();
        self.run(Caller::ANONYMOUS, move |t| {
            let user = user.clone();
            Box::pin(async move { t.projects_of_member(&user).await })
        })
        .await
    }

    async fn project_context(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<ProjectContext> {
        let (a, p) = (actor.clone(), project_id.to_owned());
        self.run(caller(actor), move |t| {
            let (a, p) = (a.clone(), p.clone());
            Box::pin(async move { t.project_context(&a, &p).await })
        })
        .await
    }

    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage> {
        let (a, q) = (actor.clone(), query.clone());
        self.run(caller(actor), move |t| {
            let (a, q) = (a.clone(), q.clone());
            Box::pin(async move { t.search_cards(&a, &q).await })
        })
        .await
    }

    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail> {
        let (a, c) = (actor.clone(), card.to_owned());
        self.run(caller(actor), move |t| {
            let (a, c) = (a.clone(), c.clone());
            Box::pin(async move { t.get_card(&a, &c).await })
        })
        .await
    }

    async fn create_card(
        &self,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail> {
        let (a, k, i) = (actor.clone(), key.to_owned(), input.clone());
        self.run(caller(actor), move |t| {
            let (a, k, i) = (a.clone(), k.clone(), i.clone());
            Box::pin(async move { t.create_card(&a, &k, &i).await })
        })
        .await
    }

    async fn update_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail> {
        let (a, k, c, p) = (
            actor.clone(),
            key.to_owned(),
            card.to_owned(),
            patch.clone(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, c, p) = (a.clone(), k.clone(), c.clone(), p.clone());
            Box::pin(async move { t.update_card(&a, &k, &c, &p).await })
        })
        .await
    }

    async fn move_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail> {
        let (a, k, c, s) = (
            actor.clone(),
            key.to_owned(),
            card.to_owned(),
            state.to_owned(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, c, s) = (a.clone(), k.clone(), c.clone(), s.clone());
            Box::pin(async move { t.move_card(&a, &k, &c, &s).await })
        })
        .await
    }

    async fn add_comment(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        let (a, k, c, b) = (
            actor.clone(),
            key.to_owned(),
            card.to_owned(),
            body.to_owned(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, c, b) = (a.clone(), k.clone(), c.clone(), b.clone());
            Box::pin(async move { t.add_comment(&a, &k, &c, &b).await })
        })
        .await
    }

    async fn set_labels(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        labels: &[String],
    ) -> TaskerResult<CardDetail> {
        let (a, k, c, l) = (
            actor.clone(),
            key.to_owned(),
            card.to_owned(),
            labels.to_vec(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, c, l) = (a.clone(), k.clone(), c.clone(), l.clone());
            Box::pin(async move { t.set_labels(&a, &k, &c, &l).await })
        })
        .await
    }

    async fn assign(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail> {
        let (a, k, c, w) = (
            actor.clone(),
            key.to_owned(),
            card.to_owned(),
            assignees.to_vec(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, c, w) = (a.clone(), k.clone(), c.clone(), w.clone());
            Box::pin(async move { t.assign(&a, &k, &c, &w).await })
        })
        .await
    }

    async fn update_block(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        block: &str,
        content: &str,
    ) -> TaskerResult<CardDetail> {
        let (a, k, c, b, x) = (
            actor.clone(),
            key.to_owned(),
            card.to_owned(),
            block.to_owned(),
            content.to_owned(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, c, b, x) = (a.clone(), k.clone(), c.clone(), b.clone(), x.clone());
            Box::pin(async move { t.update_block(&a, &k, &c, &b, &x).await })
        })
        .await
    }

    async fn add_member(
        &self,
        actor: &Actor,
        key: &str,
        project_id: &str,
        member: &NewMember,
    ) -> TaskerResult<Member> {
        let (a, k, p, m) = (
            actor.clone(),
            key.to_owned(),
            project_id.to_owned(),
            member.clone(),
        );
        self.run(caller(actor), move |t| {
            let (a, k, p, m) = (a.clone(), k.clone(), p.clone(), m.clone());
            Box::pin(async move { t.add_member(&a, &k, &p, &m).await })
        })
        .await
    }
}
