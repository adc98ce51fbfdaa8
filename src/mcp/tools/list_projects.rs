//! `list_projects`: the projects granted to this agent.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::ProjectSummary;

/// The tool.
#[derive(Debug)]
pub struct ListProjects;

/// No arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {}

/// The granted projects.
#[derive(Debug, Serialize, Deserialize)]
pub struct Output {
    /// Each granted project that exists.
    pub projects: Vec<ProjectSummary>,
}

impl schema::OutputSchema for Output {
    fn schema() -> Value {
        schema::output(
            json!({"projects": {"type": "array", "items": schema::output(json!({"id": {"type": "string"}, "identifier": {"type": "string"}, "name": {"type": "string"}}), &["id", "identifier", "name"])}}),
            &["projects"],
        )
    }
}

impl Tool for ListProjects {
    const SPEC: Spec = Spec {
        name: "list_projects",
        title: "List projects",
        description: "Projects this agent may work in.",
        scope: Scope::CardsRead,
        write: false,
    };
    type Args = Args;
    type Output = Output;

    fn input_schema() -> Value {
        schema::input(json!({}), &[])
    }

    /// Touches no single project.
    fn target(_: &Args) -> Target<'_> {
        Target::default()
    }

    async fn run(ctx: &Ctx<'_>, _: Args) -> Result<Output, ToolError> {
        Ok(Output {
            projects: ctx.tasker().projects(ctx.actor).await?,
        })
    }

    fn summary(out: &Output) -> String {
        format!("{} project(s) granted.", out.projects.len())
    }
}
