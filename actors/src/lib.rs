//! The Agent Gateway's actor runtime.
//!
//! Plain tokio tasks with bounded mailboxes and cloneable handles (the "actors with
//! tokio" pattern). This crate knows nothing of HTTP, SQL or MCP: it exports handles,
//! request and result types, and two small traits the service implements
//! ([`ProfileLoader`] to learn an agent's grants, [`BatchSink`] to make a batch durable).
//!
//! * [`supervisor`] — the registry of agent actors: starts one per agent when it is first
//!   seen, stops idle ones, restarts a panicking one, and puts revocations in force.
//! * [`agent`] — one actor per agent: admission (revoked? scope? project? rate?), the
//!   rate-limit bucket, revocation status, last activity, the open work session's mark and the client it connected with.
//! * [`revocation`] — the revocation events the supervisor puts in force.
//! * [`writer`] — pools of batching writer actors (group commit): each caller is answered
//!   only after the batch holding its item is durable.
//! * [`batch`] — batchers: many callers' requests run as one unit of work, each caller
//!   answered with its own result (claims of idempotency keys, created cards).
//! * [`calls`] — pools of call actors for a slow upstream (the Tasker): bounded
//!   concurrency, timeouts, retries, a circuit breaker and a request budget.
//! * [`panic`](mod@panic) — the restart loop shared by every actor: a panic is logged and the actor
//!   starts again on the same mailbox.
//! * `tasks` (internal) — every task the runtime spawns is tracked in a `JoinSet`: panics
//!   are logged, shutdown waits for or aborts them, and dropping the owner aborts them.
//!
//! Channel graph (no cycle of bounded channels): handlers → agent mailbox (bounded) →
//! oneshot reply; handlers → writer mailbox (bounded) → oneshot ack; revocations → the
//! affected actors' shared flags (watched by their streams). Nothing sends back to the
//! supervisor over a bounded channel: the registry is a shared map.

pub mod agent;
pub mod batch;
pub mod calls;
mod mailboxes;
pub mod panic;
pub mod revocation;
pub mod supervisor;
mod tasks;
pub mod writer;

pub use agent::{
    Admission, AdmitRequest, AgentProfile, AgentSnapshot, ClientInfo, DenyReason, Grant, RateSpec,
    SessionMark,
};
pub use batch::{BatchConfig, BatchError, BatchRun, Batcher};
pub use calls::{CallConfig, CallError, CallPool, Caller, RequestBudget, Transient};
pub use revocation::Revocation;
pub use supervisor::{ProfileLoader, Supervisor, SupervisorConfig};
pub use writer::{BatchSink, WriteError, WriterConfig, WriterPool};

/// Why a message could not reach an actor, or its answer could not come back.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ActorError {
    /// The actor's mailbox is closed: it stopped or is being restarted. Retryable (503).
    #[error("the actor is not running")]
    Gone,
    /// The actor dropped the request without answering (it panicked mid-request).
    #[error("the actor failed while handling the request")]
    Dropped,
    /// The mailbox stayed full for longer than the caller's bound. Retryable (503).
    #[error("the actor is overloaded")]
    Overloaded,
    /// The agent's profile could not be loaded.
    #[error("loading the agent failed: {0}")]
    Load(String),
    /// The runtime is shutting down and accepts no new work.
    #[error("the runtime is shutting down")]
    ShuttingDown,
}

#[cfg(test)]
mod tests;
