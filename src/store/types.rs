//! The store's records. Plain data: no engine types leak out of `store/`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A user projected from Launcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    /// Launcher's user id.
    pub id: Uuid,
    /// Launcher's client (tenant) id.
    pub client_id: String,
    /// Shown in the Tasker's history next to the agent's name.
    pub display_name: String,
    /// A blocked user's agents are refused.
    pub blocked: bool,
    /// The `codex_agents` module entitlement.
    pub codex_agents: bool,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An upsert of a user (the embedded stand-in for Launcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUpsert {
    /// Launcher's user id.
    pub id: Uuid,
    /// Launcher's client id.
    pub client_id: String,
    /// Display name.
    pub display_name: String,
    /// The `codex_agents` entitlement.
    pub codex_agents: bool,
    /// Blocked.
    pub blocked: bool,
}

/// A recorded change of a user's entitlement or standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementChange {
    /// When.
    pub at: DateTime<Utc>,
    /// Whose.
    pub user_id: Uuid,
    /// Their client.
    pub client_id: String,
    /// `granted`, `withdrawn`, `blocked`, `unblocked` or `annulled`.
    pub change: String,
    /// `admin` or `launcher`.
    pub source: String,
    /// Free text (e.g. the admin request id).
    pub detail: Option<String>,
}

/// An agent's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// May work.
    Active,
    /// Revoked by hand (admin or owner); never re-enabled automatically.
    Revoked,
    /// Disabled because its owner lost the entitlement or was blocked.
    Disabled,
}

impl AgentStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Revoked => "revoked",
            AgentStatus::Disabled => "disabled",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(AgentStatus::Active),
            "revoked" => Some(AgentStatus::Revoked),
            "disabled" => Some(AgentStatus::Disabled),
            _ => None,
        }
    }
}

/// One project granted to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantRecord {
    /// The Tasker's project id.
    pub project_id: String,
    /// Sorted scopes.
    pub scopes: Vec<String>,
}

impl GrantRecord {
    /// The stored, space-separated form of the scopes.
    pub fn scopes_text(&self) -> String {
        self.scopes.join(" ")
    }

    /// Builds a grant from its stored form.
    pub fn from_text(project_id: String, scopes: &str) -> Self {
        Self {
            project_id,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        }
    }
}

/// What is known of an agent's token (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: Uuid,
    /// Prefix and first characters, for humans.
    pub display: String,
    /// Issued.
    pub created_at: DateTime<Utc>,
    /// Last presented.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An agent with its grants and its token's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// The agent's id.
    pub id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Its name (unique per owner).
    pub name: String,
    /// Active, revoked or disabled.
    pub status: AgentStatus,
    /// Why it has its status.
    pub status_reason: Option<String>,
    /// Per-agent rate limit, when set.
    pub rate_per_minute: Option<u32>,
    /// Per-agent burst, when set.
    pub rate_burst: Option<u32>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Granted projects.
    pub grants: Vec<GrantRecord>,
    /// Its tokens, newest first.
    pub tokens: Vec<TokenInfo>,
    /// The MCP client it last initialized with, if it ever did.
    pub client: Option<ClientSeen>,
    /// Whether its tracker writes are refused while a stop of its work session is
    /// pending.
    pub stop_refuses_writes: bool,
}

/// The MCP client an agent last initialized with (`clientInfo` of `initialize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientSeen {
    /// `clientInfo.name`.
    pub name: String,
    /// `clientInfo.version`.
    pub version: String,
    /// When.
    pub seen_at: DateTime<Utc>,
}

/// A new agent and its first token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    /// The agent's id (UUIDv7).
    pub id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its grants.
    pub grants: Vec<GrantRecord>,
    /// Per-agent rate limit.
    pub rate_per_minute: Option<u32>,
    /// Per-agent burst.
    pub rate_burst: Option<u32>,
    /// The first token's id.
    pub token_id: Uuid,
    /// The first token's SHA-256.
    pub token_hash: [u8; 32],
    /// The first token's display form.
    pub token_display: String,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// What authentication needs to know about a presented token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthRecord {
    /// The token's id.
    pub token_id: Uuid,
    /// The stored hash (compared again in constant time).
    pub token_hash: Vec<u8>,
    /// Whether the token itself is revoked.
    pub token_revoked: bool,
    /// The agent.
    pub agent_id: Uuid,
    /// Its name.
    pub agent_name: String,
    /// Its status, as stored.
    pub agent_status: String,
    /// Its owner.
    pub owner_id: Uuid,
    /// The owner's display name.
    pub owner_name: String,
    /// The owner is blocked.
    pub owner_blocked: bool,
    /// The owner holds `codex_agents`.
    pub owner_entitled: bool,
}

impl AuthRecord {
    /// Whether calls with this token may proceed at all.
    pub fn usable(&self) -> bool {
        !self.token_revoked
            && self.agent_status == "active"
            && !self.owner_blocked
            && self.owner_entitled
    }
}

/// What the agent actor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRecord {
    /// The agent, with grants.
    pub agent: Agent,
    /// Its owner.
    pub owner: User,
}

/// The outcome of an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Allowed,
    /// Refused by policy (auth, scope, grant, rate, forbidden operation).
    Denied,
    /// Admitted but failed (bad input, Tasker error).
    Failed,
    /// A write admitted and about to reach the Tasker: written durably before the call,
    /// so a change the gateway did not live to record is still named. Its outcome row
    /// (same `request_id`) follows.
    Intent,
}

impl Outcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::Intent => "intent",
        }
    }
}

/// One audit row, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When the action started.
    pub at: DateTime<Utc>,
    /// The request id.
    pub request_id: String,
    /// The acting agent, when there is one.
    pub agent_id: Option<Uuid>,
    /// The agent's owner, or the acting owner.
    pub owner_id: Option<Uuid>,
    /// Tool name or admin action, e.g. `create_card`, `admin.agent.revoke`.
    pub action: String,
    /// The project touched.
    pub project_id: Option<String>,
    /// The object touched (card key, agent id, user id).
    pub target: Option<String>,
    /// Allowed, denied or failed.
    pub outcome: Outcome,
    /// Why denied or failed.
    pub reason: Option<String>,
    /// The write's idempotency key.
    pub idempotency_key: Option<String>,
    /// How long the action took, in microseconds.
    pub latency_us: i64,
    /// The agent's work session open when the call was made.
    pub work_session: Option<Uuid>,
}

/// One audit row, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Monotonic id; the pagination cursor.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Request id.
    pub request_id: String,
    /// Agent.
    pub agent_id: Option<Uuid>,
    /// Owner.
    pub owner_id: Option<Uuid>,
    /// Action.
    pub action: String,
    /// Project.
    pub project_id: Option<String>,
    /// Target.
    pub target: Option<String>,
    /// `allowed`, `denied` or `failed`.
    pub outcome: String,
    /// Reason.
    pub reason: Option<String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Microseconds.
    pub latency_us: i64,
    /// The agent's work session open when the call was made.
    pub work_session_id: Option<Uuid>,
}

/// A page request over the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this agent's rows.
    pub agent_id: Option<Uuid>,
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows older than this id (the previous page's last id).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// A claim of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The agent (keys are per agent).
    pub agent_id: Uuid,
    /// The key.
    pub key: String,
    /// SHA-256 of the tool name and canonical arguments.
    pub fingerprint: [u8; 32],
    /// Now.
    pub now: DateTime<Utc>,
    /// When the key may be forgotten.
    pub expires_at: DateTime<Utc>,
    /// An in-flight claim older than this is taken over (its holder crashed).
    pub stale_before: DateTime<Utc>,
}

/// When a write's commit returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Once the commit is on disk (the default for every audit row).
    Flushed,
    /// Once it is committed, without waiting for the disk: the next flushed commit on
    /// the same database makes it durable too (one write-ahead log). Only for a row the
    /// caller knows such a commit follows; SQLite treats it as `Flushed`.
    Committed,
}

/// A finished keyed call's response, to store under its key: the call's claim, and
/// what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The claim the call held (the key is stored as claimed should its row be gone).
    pub claim: IdempotencyClaim,
    /// The response, replayed to a retry.
    pub response: String,
}

/// Who holds an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The caller now holds it: run the call.
    Claimed,
    /// A finished call with the same arguments: replay this response.
    Replay(String),
    /// The same call is still running elsewhere: a retryable conflict.
    InFlight,
    /// The key was used with different arguments.
    Mismatch,
}

/// A new owner session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOwnerSession {
    /// Its id.
    pub id: Uuid,
    /// The owner.
    pub user_id: Uuid,
    /// SHA-256 of the session token.
    pub hash: [u8; 32],
    /// Display form of the token.
    pub display: String,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Whether an agent may work, as of the store.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Standing {
    /// The agent.
    pub agent_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Active, and its owner entitled and unblocked.
    pub usable: bool,
}
