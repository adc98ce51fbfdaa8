//! The MCP tools: one file per tool, as mini-redis keeps one file per command. Each file
//! holds one type implementing [`Tool`]: its [`Spec`] (name, title, description, scope,
//! read or write), its input schema, typed `Args` and `Output` (whose schema is declared
//! once per type, `schema::OutputSchema`), the project or card it targets (for
//! admission), how it calls the Tasker, and a one-line summary.
//!
//! A new tool is one new file here and one line in the [`tools!`] list at the bottom.
//! This module only knows tools; the order of the steps of a call (parse, admit, claim,
//! Tasker, settle, audit, answer) is `mcp::pipeline::run`. There is no delete, archive or
//! pass-through tool.

pub mod add_comment;
pub mod assign_card;
pub mod create_card;
pub mod finish_work_session;
pub mod get_card;
pub mod get_project_context;
pub mod list_projects;
pub mod move_card;
pub mod schema;
pub mod search_cards;
pub mod set_labels;
pub mod start_work_session;
pub mod update_card;
pub mod update_structured_block;
pub mod update_work_session;

use std::future::Future;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::error::McpError;
use super::pipeline::{self, Call};
use crate::gateway::{Gateway, SessionError};
use crate::scopes::Scope;
use crate::tasker::{Actor, CardDetail, Tasker, TaskerError};
use schema::OutputSchema;

/// What a tool's `run` is given: the call (the gateway, who calls), who acts (admitted,
/// confined to the projects where the scope is held, naming the open work session), and
/// the write's idempotency key (empty for reads).
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The call.
    pub call: Call<'a>,
    /// Who acts.
    pub actor: &'a Actor,
    /// The write's idempotency key; empty for reads.
    pub key: &'a str,
}

impl<'a> Ctx<'a> {
    /// The Tasker, through its pool.
    pub fn tasker(&self) -> &'a dyn Tasker {
        self.call.gw.tasker.as_ref()
    }

    /// The gateway core.
    pub fn gw(&self) -> &'a Gateway {
        self.call.gw
    }
}

/// Why a tool's `run` has no result: the Tasker's error (worded for the model by
/// `explain`), or a refusal already worded.
#[derive(Debug)]
pub enum ToolError {
    /// The Tasker refused or failed.
    Tasker(TaskerError),
    /// Refused, with the message for the model.
    Refused(McpError),
}

impl From<TaskerError> for ToolError {
    fn from(e: TaskerError) -> Self {
        ToolError::Tasker(e)
    }
}

impl From<SessionError> for ToolError {
    /// The one mapping of work-session errors to what the model reads.
    fn from(e: SessionError) -> Self {
        let message = e.to_string();
        match e {
            SessionError::Tasker(e) => ToolError::Tasker(e),
            SessionError::Unknown(_)
            | SessionError::UnknownAgent(_)
            | SessionError::Ended { .. } => ToolError::Refused(McpError::Rejected(format!(
                "{message}. Start a new one with start_work_session."
            ))),
            SessionError::NotYours(_) => ToolError::Refused(McpError::Denied(format!(
                "{message}. Report only on the session your start_work_session returned."
            ))),
            SessionError::StopPending(_) => ToolError::Refused(McpError::Denied(message)),
            SessionError::Invalid(_) => ToolError::Refused(McpError::Rejected(message)),
            SessionError::Store(e) => {
                tracing::error!(error = %e, "a work session could not be stored");
                ToolError::Refused(McpError::Unavailable(
                    "the work session could not be stored; retry with the same idempotency_key"
                        .into(),
                ))
            }
        }
    }
}

/// What every tool declares about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The tool name (`[a-z_]`, what Codex shows as `mcp__<server>__<name>`).
    pub name: &'static str,
    /// A human title.
    pub title: &'static str,
    /// What it does, briefly: this text is in every agent's context.
    pub description: &'static str,
    /// The scope it needs.
    pub scope: Scope,
    /// Whether it writes (then it needs an `idempotency_key`).
    pub write: bool,
}

impl Spec {
    /// Whether it writes to the tracker (a work-session report writes only the gateway's
    /// own record): what a pending stop refuses, when the agent's setting says so.
    pub fn writes_tracker(&self) -> bool {
        self.write && !matches!(self.scope, Scope::SessionsWrite)
    }
}

/// What a call touches, for admission: one project, or one card (whose project the
/// Tasker resolves within the projects admission allows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    /// The project named in the arguments.
    pub project: Option<&'a str>,
    /// The card named in the arguments.
    pub card: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// A call on one project.
    pub fn project(id: &'a str) -> Self {
        Target {
            project: Some(id),
            card: None,
        }
    }

    /// A call on one card.
    pub fn card(key: &'a str) -> Self {
        Target {
            project: None,
            card: Some(key),
        }
    }
}

/// One MCP tool. Implementations are small: the pipeline does everything else.
pub trait Tool {
    /// The declaration.
    const SPEC: Spec;
    /// The arguments, without the `idempotency_key` (the pipeline takes it out).
    type Args: DeserializeOwned + Send;
    /// The structured result (its schema declared once per type); also what a replayed
    /// write returns.
    type Output: Serialize + DeserializeOwned + OutputSchema + Send;
    /// The JSON Schema of `Args` (plus `idempotency_key` for writes).
    fn input_schema() -> Value;
    /// What the call touches, for admission.
    fn target(args: &Self::Args) -> Target<'_>;
    /// Does the work: calls the Tasker (`ctx.tasker()`) as `ctx.actor`, or the gateway's
    /// work sessions.
    fn run<'a>(
        ctx: &'a Ctx<'a>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send + 'a;
    /// A one-line summary for the text content.
    fn summary(out: &Self::Output) -> String;
    /// The work session a result belongs to, when the tool starts or ends one (its audit
    /// row names it); `None` keeps the session open when the call was admitted.
    fn session(_out: &Self::Output) -> Option<uuid::Uuid> {
        None
    }
}

/// `KEY: name [state].` with a prefix, for the tools that return a card.
pub(crate) fn card_summary(prefix: &str, card: &CardDetail) -> String {
    format!(
        "{prefix}{}: {} [{}].",
        card.card.key, card.card.name, card.card.state
    )
}

/// The `tools/list` entry of one tool.
fn describe<T: Tool>() -> Value {
    let spec = T::SPEC;
    json!({
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "inputSchema": T::input_schema(),
        "outputSchema": <T::Output as OutputSchema>::schema(),
        "annotations": {
            "title": spec.title,
            "readOnlyHint": !spec.write,
            "destructiveHint": false,
            "idempotentHint": true,
            "openWorldHint": false
        }
    })
}

/// Maps tool names to tool types; nothing else.
macro_rules! tools {
    ($($module:ident :: $tool:ident),+ $(,)?) => {
        /// Every tool's declaration, in `tools/list` order.
        pub const ALL: &[Spec] = &[$(<$module::$tool as Tool>::SPEC),+];

        /// Every tool's `tools/list` entry, in order (computed once).
        pub fn definitions() -> &'static [Value] {
            static DEFINITIONS: OnceLock<Vec<Value>> = OnceLock::new();
            DEFINITIONS.get_or_init(|| vec![$(describe::<$module::$tool>()),+])
        }

        /// Runs the tool called `name` through the pipeline; `None` when there is none.
        pub async fn call(
            name: &str,
            call: &Call<'_>,
            arguments: Value,
        ) -> Option<Result<Value, McpError>> {
            $(
                if name == <$module::$tool as Tool>::SPEC.name {
                    return Some(pipeline::run::<$module::$tool>(call, arguments).await);
                }
            )+
            None
        }
    };
}

tools! {
    list_projects::ListProjects,
    get_project_context::GetProjectContext,
    search_cards::SearchCards,
    get_card::GetCard,
    create_card::CreateCard,
    update_card::UpdateCard,
    move_card::MoveCard,
    add_comment::AddComment,
    set_labels::SetLabels,
    assign_card::AssignCard,
    update_structured_block::UpdateStructuredBlock,
    start_work_session::StartWorkSession,
    update_work_session::UpdateWorkSession,
    finish_work_session::FinishWorkSession,
}
