//! The embedded tracker: a small Plane-shaped tracker stored in the gateway's own
//! database, so the gateway runs and is tested end to end with no external Tasker.
//!
//! One implementation serves both engines through sqlx's `Any` driver; the schema
//! (`migrations/*/0002_tracker.sql`) sticks to types both engines share. Unlike upstream
//! Plane, it refuses what Plane silently drops — an unknown state, label or assignee, or
//! an assignee who is not a project member — with an error listing the valid values.
//!
//! * [`facts`] — a project's identity and states, which never change, kept in memory;
//! * [`reads`] — projects, context, search, one card;
//! * [`writes`] — every write, in one transaction with its history and idempotency record.

mod facts;
mod reads;
mod writes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use gateway_actors::{BatchConfig, Batcher};
use sqlx::AnyPool;
use uuid::Uuid;

use super::*;
use crate::config::DatabaseUrl;
use crate::store::{Store, WriteGate, WriteTurn};

/// The embedded tracker.
#[derive(Debug, Clone)]
pub struct EmbeddedTasker {
    pool: AnyPool,
    /// The gateway's store: the embedded workspace's users.
    store: Arc<dyn Store>,
    /// SQLite needs `BEGIN IMMEDIATE` for read-then-write transactions.
    sqlite: bool,
    /// SQLite: one writer at a time, in line with the store's (`store::WriteGate`).
    gate: WriteGate,
    /// Bumped when a project is created: the project cache's signal.
    changes: Arc<AtomicU64>,
    /// Each project's identity and states, once read.
    facts: moka::future::Cache<String, Arc<facts::ProjectFacts>>,
    /// Plain creates run in groups (Postgres only; `writes::grouped`).
    grouped: Option<Arc<Batcher<writes::grouped::Prepared, TaskerResult<CardDetail>>>>,
}

/// A project to create (embedded only: the contract has no project creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// Short key, unique, e.g. `WEB`.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// States in workflow order: name, Plane group, default?
    pub states: Vec<(String, String, bool)>,
    /// Labels: name, colour.
    pub labels: Vec<(String, String)>,
    /// Members: user id, display name, role.
    pub members: Vec<(Uuid, String, i64)>,
}

/// Plane's default workflow.
pub fn default_states() -> Vec<(String, String, bool)> {
    [
        ("Backlog", "backlog", false),
        ("Todo", "unstarted", true),
        ("In Progress", "started", false),
        ("Done", "completed", false),
        ("Cancelled", "cancelled", false),
    ]
    .into_iter()
    .map(|(n, g, d)| (n.to_owned(), g.to_owned(), d))
    .collect()
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A database error as the contract's error. The database refusing a statement for its
/// content (a value too long, a character it cannot store, a pattern too complex) is
/// the input's fault: `validation_failed`, not retried, never counted by the breaker.
/// Anything else (connection, pool, I/O, lock) is `unavailable`. The driver's text goes
/// only to the log.
pub(crate) fn db_error(e: sqlx::Error) -> TaskerError {
    if refuses_input(&e) {
        tracing::warn!(error = %e, "the embedded tracker's database refused a value");
        return TaskerError::new(
            ErrorCode::ValidationFailed,
            "the tracker cannot store or search for a value of this call (too long, or holding a character such as NUL); shorten it or remove control characters",
        );
    }
    tracing::error!(error = %e, "embedded tracker database error");
    TaskerError::unavailable("the tracker's database failed; retry shortly")
}

/// Whether the database refused the statement because of a value in it.
fn refuses_input(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Encode(_) => true,
        sqlx::Error::Database(d) => {
            let code = d.code();
            let code = code.as_deref().unwrap_or_default();
            // Postgres: class 22 (data exception: too long, bad encoding, NUL, bad
            // escape) and class 54 (program limit exceeded: statement too complex).
            let postgres = code.len() == 5 && (code.starts_with("22") || code.starts_with("54"));
            // SQLite (numeric codes): 18 TOOBIG, 20 MISMATCH, 25 RANGE; the LIKE pattern
            // limit comes as a plain error with its own message.
            let sqlite = matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(18 | 20 | 25))
                || d.message().contains("pattern too complex");
            postgres || sqlite
        }
        _ => false,
    }
}

/// A SQL statement with `$N` placeholders built as filters are added (the `Any`
/// driver's query builder writes `?`, which Postgres does not accept).
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<String>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends `fragment`, where `{}` (or each `{0}`) stands for one new text parameter.
    pub fn push(&mut self, fragment: &str, arg: impl Into<String>) -> &mut Self {
        self.args.push(arg.into());
        let placeholder = format!("${}", self.args.len());
        self.text.push_str(
            &fragment
                .replace("{0}", &placeholder)
                .replace("{}", &placeholder),
        );
        self
    }

    pub fn push_raw(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    pub fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        self.args
            .iter()
            .fold(sqlx::query(&self.text), |q, a| q.bind(a))
    }
}

impl EmbeddedTasker {
    /// Connects to the gateway's database (already migrated by the store).
    pub async fn connect(url: &DatabaseUrl, store: Arc<dyn Store>) -> TaskerResult<Self> {
        sqlx::any::install_default_drivers();
        let (raw, sqlite) = match url {
            DatabaseUrl::Sqlite(path) => (format!("sqlite://{}?mode=rwc", path.display()), true),
            DatabaseUrl::Postgres(_) => {
                (url.expose_postgres().unwrap_or_default().to_owned(), false)
            }
        };
        // As many connections as the Tasker call pool admits at once by default
        // (`GATEWAY_TASKER_CONCURRENCY`), so concurrent writes on Postgres do not queue
        // for a connection; SQLite has one writer at a time whatever the pool.
        let pool = crate::store::pool_options::<sqlx::Any>(if sqlite { 8 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&raw)
            .await
            .map_err(db_error)?;
        let gate = match url {
            DatabaseUrl::Sqlite(path) => WriteGate::for_file(path),
            DatabaseUrl::Postgres(_) => WriteGate::none(),
        };
        let grouped = (!sqlite).then(|| {
            let run = writes::grouped::Grouped { pool: pool.clone() };
            Arc::new(Batcher::start(
                "tracker-creates",
                Arc::new(run),
                BatchConfig::default(),
            ))
        });
        Ok(Self {
            pool,
            store,
            sqlite,
            gate,
            changes: Arc::default(),
            facts: facts::cache(),
            grouped,
        })
    }

    /// The counter bumped whenever a project is created, for [`ProjectsCache`].
    pub fn changes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.changes)
    }

    /// A write transaction in its turn (SQLite, `store::WriteGate`). Bind both: the
    /// turn passes to the next writer when it drops, after the transaction.
    async fn begin(&self) -> TaskerResult<(WriteTurn, sqlx::Transaction<'static, sqlx::Any>)> {
        let turn = self.gate.turn().await;
        let tx = if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        };
        Ok((turn, tx.map_err(db_error)?))
    }

    /// Creates a project with its states, labels and members (the contract has no such
    /// operation: projects belong to the Tasker; this serves the demo and tests).
    pub async fn create_project(&self, p: &NewProject) -> TaskerResult<ProjectSummary> {
        if p.states.iter().filter(|s| s.2).count() != 1 {
            return Err(TaskerError::invalid(
                "states",
                "exactly one state must be the default",
                vec![],
            ));
        }
        let id = Uuid::now_v7().to_string();
        let (_turn, mut tx) = self.begin().await?;
        sqlx::query("INSERT INTO tracker_projects (id, identifier, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(&p.identifier)
            .bind(&p.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_unique_violation() => TaskerError::new(
                    ErrorCode::Conflict,
                    format!("a project with identifier {} exists", p.identifier),
                ),
                other => db_error(other),
            })?;
        for (position, (name, group, is_default)) in p.states.iter().enumerate() {
            sqlx::query(
                "INSERT INTO tracker_states (id, project_id, name, state_group, is_default, position) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::now_v7().to_string())
            .bind(&id)
            .bind(name)
            .bind(group)
            .bind(i64::from(*is_default))
            .bind(position as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        for (name, color) in &p.labels {
            sqlx::query(
                "INSERT INTO tracker_labels (id, project_id, name, color) VALUES ($1, $2, $3, $4)",
            )
            .bind(Uuid::now_v7().to_string())
            .bind(&id)
            .bind(name)
            .bind(color)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        for (user_id, display_name, role) in &p.members {
            sqlx::query("INSERT INTO tracker_members (project_id, user_id, display_name, role) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(user_id.to_string())
                .bind(display_name)
                .bind(role)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.changes.fetch_add(1, Ordering::Release);
        Ok(ProjectSummary {
            id,
            identifier: p.identifier.clone(),
            name: p.name.clone(),
        })
    }
}

#[async_trait]
impl Tasker for EmbeddedTasker {
    async fn projects(&self, actor: &Actor) -> TaskerResult<Vec<ProjectSummary>> {
        reads::projects(&self.pool, actor).await
    }

    async fn all_projects(&self) -> TaskerResult<Vec<ProjectSummary>> {
        sqlx::query_as("SELECT id, identifier, name FROM tracker_projects ORDER BY identifier")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn project_members(&self, project_id: &str) -> TaskerResult<Vec<Member>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        reads::project_members(&mut conn, project_id).await
    }

    async fn projects_of_member(&self, user_id: &str) -> TaskerResult<Vec<Membership>> {
        reads::projects_of_member(&self.pool, user_id).await
    }

    async fn project_context(
        &self,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<ProjectContext> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        reads::context(&mut conn, actor, project_id).await
    }

    async fn search_cards(&self, actor: &Actor, query: &CardQuery) -> TaskerResult<CardPage> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        reads::search(&mut conn, actor, query).await
    }

    async fn get_card(&self, actor: &Actor, card: &str) -> TaskerResult<CardDetail> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let id = reads::resolve_card(&mut conn, actor, card).await?;
        reads::detail(&mut conn, &id).await
    }

    async fn create_card(
        &self,
        actor: &Actor,
        key: &str,
        input: &NewCard,
    ) -> TaskerResult<CardDetail> {
        writes::create_card(self, actor, key, input).await
    }

    async fn update_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<CardDetail> {
        writes::update_card(self, actor, key, card, patch).await
    }

    async fn move_card(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        state: &str,
    ) -> TaskerResult<CardDetail> {
        writes::move_card(self, actor, key, card, state).await
    }

    async fn add_comment(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        body: &str,
    ) -> TaskerResult<Comment> {
        writes::add_comment(self, actor, key, card, body).await
    }

    async fn set_labels(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        labels: &[String],
    ) -> TaskerResult<CardDetail> {
        writes::set_labels(self, actor, key, card, labels).await
    }

    async fn assign(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        assignees: &[String],
    ) -> TaskerResult<CardDetail> {
        writes::assign(self, actor, key, card, assignees).await
    }

    async fn update_block(
        &self,
        actor: &Actor,
        key: &str,
        card: &str,
        block: &str,
        content: &str,
    ) -> TaskerResult<CardDetail> {
        writes::update_block(self, actor, key, card, block, content).await
    }

    async fn add_member(
        &self,
        actor: &Actor,
        key: &str,
        project_id: &str,
        member: &NewMember,
    ) -> TaskerResult<Member> {
        writes::add_member(self, actor, key, project_id, member).await
    }
}
