//! The MCP tools: one file per tool, as mini-redis keeps one file per command. Each file
//! holds the tool's `SPEC` (name, title, description, scope, read or write), its input
//! and output schemas, its `Args`, the project or card it targets (for admission), how
//! it calls the Tasker, and a one-line summary for the text content.
//!
//! There is no delete, archive or pass-through tool. This module only knows tools; the
//! call pipeline (admission, idempotency, audit) is in `mcp::call`.

pub mod add_comment;
pub mod assign_card;
pub mod create_card;
pub mod get_card;
pub mod get_project_context;
pub mod list_projects;
pub mod move_card;
pub mod schema;
pub mod search_cards;
pub mod set_labels;
pub mod update_card;
pub mod update_structured_block;

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::scopes::Scope;

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

/// What a call touches, for admission: one project, or one card (whose project the
/// Tasker resolves within the projects admission allows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    /// The project named in the arguments.
    pub project: Option<&'a str>,
    /// The card named in the arguments.
    pub card: Option<&'a str>,
}

/// Writes `card_key: name [state]` with a prefix.
pub(crate) fn card_summary(out: &Value, prefix: &str) -> String {
    format!(
        "{prefix}{}: {} [{}].",
        out["key"].as_str().unwrap_or("card"),
        out["name"].as_str().unwrap_or_default(),
        out["state"].as_str().unwrap_or_default()
    )
}

macro_rules! tools {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        /// Every tool.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Tool {
            $(
                #[doc = concat!("`", stringify!($module), "`")]
                $variant,
            )+
        }

        impl Tool {
            /// Every tool, in `tools/list` order.
            pub const ALL: &'static [Tool] = &[$(Tool::$variant),+];

            /// The tool's declaration.
            pub fn spec(self) -> &'static Spec {
                match self {
                    $(Tool::$variant => &$module::SPEC,)+
                }
            }

            fn schemas(self) -> (Value, Value) {
                match self {
                    $(Tool::$variant => ($module::input_schema(), $module::output_schema()),)+
                }
            }

            /// Parses the arguments, asks `admit` for the actor (with the target), runs
            /// the tool, and returns its structured result and summary.
            pub async fn run<A: Admit>(self, args: Value, admit: &mut A) -> Result<(Value, String), A::Error> {
                match self {
                    $(Tool::$variant => {
                        let args: $module::Args = admit.parse(args)?;
                        let target = $module::target(&args);
                        let out = tools!(@run $module, admit, target, args);
                        let summary = $module::summary(&out);
                        Ok((out, summary))
                    })+
                }
            }
        }
    };
    (@run $module:ident, $admit:ident, $target:ident, $args:ident) => {{
        let actor = $admit.admit(&$module::SPEC, $target).await?;
        let replayed = if $module::SPEC.write { $admit.claim().await? } else { None };
        match replayed {
            Some(first) => first,
            None => {
                let result = $module::run($admit.tasker(), &actor, $admit.key(), $args).await;
                $admit.settle(result).await?
            }
        }
    }};
}

tools! {
    ListProjects => list_projects,
    GetProjectContext => get_project_context,
    SearchCards => search_cards,
    GetCard => get_card,
    CreateCard => create_card,
    UpdateCard => update_card,
    MoveCard => move_card,
    AddComment => add_comment,
    SetLabels => set_labels,
    AssignCard => assign_card,
    UpdateStructuredBlock => update_structured_block,
}

/// The call pipeline's side of running a tool: argument parsing, admission,
/// idempotency, and turning the Tasker's answer into the tool's result. Implemented by
/// `mcp::call`.
#[allow(async_fn_in_trait)]
pub trait Admit {
    /// Why a call stops.
    type Error;
    /// Parses the arguments into the tool's `Args`.
    fn parse<T: serde::de::DeserializeOwned>(&mut self, args: Value) -> Result<T, Self::Error>;
    /// Admits the call for `spec` on `target`; returns who acts, confined to the
    /// projects where the scope is held.
    async fn admit(
        &mut self,
        spec: &Spec,
        target: Target<'_>,
    ) -> Result<crate::tasker::Actor, Self::Error>;
    /// For writes: claims the idempotency key; `Some` is the first call's result to replay.
    async fn claim(&mut self) -> Result<Option<Value>, Self::Error>;
    /// The Tasker.
    fn tasker(&self) -> &dyn crate::tasker::Tasker;
    /// The write's idempotency key.
    fn key(&self) -> &str;
    /// Records the Tasker's answer (idempotency record for writes) and maps errors.
    async fn settle(
        &mut self,
        result: crate::tasker::TaskerResult<Value>,
    ) -> Result<Value, Self::Error>;
}

impl Tool {
    /// Finds a tool by name.
    pub fn parse(name: &str) -> Option<Tool> {
        Tool::ALL.iter().copied().find(|t| t.spec().name == name)
    }

    /// The tool's `tools/list` entry (computed once).
    pub fn definition(self) -> &'static Value {
        static DEFINITIONS: OnceLock<Vec<Value>> = OnceLock::new();
        let all = DEFINITIONS.get_or_init(|| Tool::ALL.iter().map(|t| t.describe()).collect());
        let index = Tool::ALL.iter().position(|t| *t == self).unwrap_or(0);
        &all[index]
    }

    fn describe(self) -> Value {
        let spec = self.spec();
        let (input, output) = self.schemas();
        json!({
            "name": spec.name,
            "title": spec.title,
            "description": spec.description,
            "inputSchema": input,
            "outputSchema": output,
            "annotations": {
                "title": spec.title,
                "readOnlyHint": !spec.write,
                "destructiveHint": false,
                "idempotentHint": true,
                "openWorldHint": false
            }
        })
    }
}
