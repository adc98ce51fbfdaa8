//! `get_project_context`: states, labels and members of a project — what a valid card
//! needs.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::ProjectContext;

/// The tool.
#[derive(Debug)]
pub struct GetProjectContext;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    project_id: String,
}

impl Tool for GetProjectContext {
    const SPEC: Spec = Spec {
        name: "get_project_context",
        title: "Get project context",
        description: "States, labels and members of a project. Use these exact names in writes.",
        scope: Scope::CardsRead,
        write: false,
    };
    type Args = Args;
    type Output = ProjectContext;

    fn input_schema() -> Value {
        schema::input(
            json!({"project_id": schema::string("From list_projects")}),
            &["project_id"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::project(&args.project_id)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<ProjectContext, ToolError> {
        Ok(ctx
            .tasker()
            .project_context(ctx.actor, &args.project_id)
            .await?)
    }

    fn summary(out: &ProjectContext) -> String {
        let join = |names: Vec<&str>| names.join(", ");
        format!(
            "{}: states [{}]; labels [{}]; members [{}].",
            out.project.identifier,
            join(out.states.iter().map(|s| s.name.as_str()).collect()),
            join(out.labels.iter().map(|l| l.name.as_str()).collect()),
            join(
                out.members
                    .iter()
                    .map(|m| m.display_name.as_str())
                    .collect()
            ),
        )
    }
}
