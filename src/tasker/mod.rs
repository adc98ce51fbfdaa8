//! Where the Tasker is called: the port the gateway uses to act on the tracker, and its
//! adapters.
//!
//! * [`Tasker`] — the port: exactly the operations of the adapter contract
//!   (`docs/TASKER_ADAPTER_CONTRACT.md`). No delete, no archive, no pass-through.
//! * [`embedded`] — the built-in tracker, stored in the gateway's own database;
//! * [`nodedc`] — an HTTP client of the contract, for the Tasker (Plane fork);
//! * [`plane`] — stock Plane's public REST API v1, for any Plane instance;
//! * [`http`] — the contract served over HTTP by the embedded tracker
//!   (`agent-gateway tasker-serve`): a reference implementation;
//! * `limits` — the format of ids, block names and keys, and the limits of a search,
//!   checked before any I/O;
//! * `cache` — the project list of the embedded tracker, answered from memory;
//! * [`check`] — the conformance kit (`agent-gateway tasker-check`);
//! * [`pool`] — the Tasker writer actors every call goes through: bounded concurrency,
//!   a timeout per call, retries with the same idempotency key, a circuit breaker and a
//!   request budget.

mod cache;
pub mod check;
pub mod embedded;
mod error;
pub mod http;
mod limits;
pub mod nodedc;
pub mod plane;
pub mod pool;
mod types;

use async_trait::async_trait;
pub use cache::ProjectsCache;
pub use error::*;
pub use limits::*;
pub use types::*;

/// The Tasker port. Every method names the acting agent and its owner ([`Actor`]), and
/// is confined to the projects the gateway granted it (`Actor::granted`). Every write
/// takes an idempotency key: a retry with the same key and input returns the first
/// result and changes nothing.
#[async_trait]
pub trait Tasker: Send + Sync + std::fmt::Debug + 'static {
    /// The granted projects (all of `actor.granted` that exist).
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>>;
    /// Every project the Tasker holds, ordered by identifier, whoever is granted what:
    /// for an admin choosing what to grant, and to name the known projects when a grant
    /// names an unknown one. Never called on an agent's behalf.
    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>>;
    /// The members of one project, ordered by display name, whoever is granted what:
    /// for an admin choosing what an owner may grant. `not_found` when the project does
    /// not exist. Never called on an agent's behalf.
    async fn project_members(&self, project_id: &str) -> TaskerResult<Vec<Member>>;
    /// The projects `user_id` is a member of, with the user's role, ordered by
    /// identifier; empty when the Tasker does not know the user. For an owner choosing
    /// what to grant. Never called on an agent's behalf.
    async fn projects_of_member(&self, user_id: &str) -> TaskerResult<Vec<Membership>>;
    /// States, labels and members of one project.
    async fn project_context(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<ProjectContext>;
    /// Cards matching `query`, newest first, one page.
    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage>;
    /// One card with its blocks, comments and history. `card` is a key (`WEB-12`) or an id.
    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail>;
    /// Creates a card.
    async fn create_card(
        &self,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail>;
    /// Changes a card's fields.
    async fn update_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail>;
    /// Moves a card to a state, by state name.
    async fn move_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail>;
    /// Adds a comment.
    async fn add_comment(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment>;
    /// Replaces a card's labels, by label name.
    async fn set_labels(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        labels: &[String],
    ) -> TaskerResult<CardDetail>;
    /// Replaces a card's assignees, by member user id or display name.
    async fn assign(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail>;
    /// Sets one named structured block of a card.
    async fn update_block(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        block: &str,
        content: &str,
    ) -> TaskerResult<CardDetail>;
    /// Adds an existing workspace member to a project.
    async fn add_member(
        &self,
        actor: &Actor,
        key: &str,
        project_id: &str,
        member: &NewMember,
    ) -> TaskerResult<Member>;
}
