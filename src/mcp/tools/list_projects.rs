//! `list_projects`: the projects granted to this agent.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "list_projects",
    title: "List projects",
    description: "Projects this agent may work in.",
    scope: Scope::CardsRead,
    write: false,
};

/// No arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(json!({}), &[])
}

/// Output schema.
pub fn output_schema() -> Value {
    schema::output(
        json!({"projects": {"type": "array", "items": schema::output(json!({"id": {"type": "string"}, "identifier": {"type": "string"}, "name": {"type": "string"}}), &["id", "identifier", "name"])}}),
        &["projects"],
    )
}

/// Touches no single project.
pub fn target(_: &Args) -> Target<'_> {
    Target::default()
}

/// Runs the tool.
pub async fn run(tasker: &dyn Tasker, actor: &Actor, _key: &str, _: Args) -> TaskerResult<Value> {
    Ok(json!({"projects": tasker.projects(actor).await?}))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    let n = out["projects"].as_array().map_or(0, Vec::len);
    format!("{n} project(s) granted.")
}
