//! `get_project_context`: states, labels and members of a project — what a valid card
//! needs.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "get_project_context",
    title: "Get project context",
    description: "States, labels and members of a project. Use these exact names in writes.",
    scope: Scope::CardsRead,
    write: false,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    project_id: String,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        json!({"project_id": schema::string("From list_projects")}),
        &["project_id"],
    )
}

/// Output schema.
pub fn output_schema() -> Value {
    schema::output(
        json!({"project": {"type": "object"}, "states": {"type": "array"}, "labels": {"type": "array"}, "members": {"type": "array"}}),
        &["project", "states", "labels", "members"],
    )
}

/// The project.
pub fn target(args: &Args) -> Target<'_> {
    Target {
        project: Some(&args.project_id),
        card: None,
    }
}

/// Runs the tool.
pub async fn run(
    tasker: &dyn Tasker,
    actor: &Actor,
    _key: &str,
    args: Args,
) -> TaskerResult<Value> {
    let ctx = tasker.project_context(actor, &args.project_id).await?;
    Ok(json!(ctx))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    let names = |k: &str, f: &str| {
        out[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v[f].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    format!(
        "{}: states [{}]; labels [{}]; members [{}].",
        out["project"]["identifier"].as_str().unwrap_or("project"),
        names("states", "name"),
        names("labels", "name"),
        names("members", "display_name")
    )
}
