//! `create_card`: a new card in a granted project.

use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, NewCard, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "create_card",
    title: "Create card",
    description:
        "Create a card. Names of state, labels and assignees must match get_project_context.",
    scope: Scope::CardsWrite,
    write: true,
};

/// Arguments: the contract's new card.
pub type Args = NewCard;

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(json!({
            "project_id": schema::string("From list_projects"),
            "name": schema::string("Title"),
            "description": schema::string("Markdown"),
            "priority": {"type": "string", "enum": ["urgent", "high", "medium", "low", "none"]},
            "state": schema::string("State name; default state if absent"),
            "labels": schema::strings("Label names"),
            "assignees": schema::strings("Member names or user ids"),
            "parent": schema::string("Parent card key"),
            "start_date": schema::string("YYYY-MM-DD"),
            "target_date": schema::string("YYYY-MM-DD"),
            "blocks": {"type": "array", "items": schema::input(json!({"name": {"type": "string"}, "content": {"type": "string"}}), &["name", "content"])}
        })),
        &["idempotency_key", "project_id", "name"],
    )
}

/// Output schema.
pub fn output_schema() -> Value {
    schema::card_detail()
}

/// The project.
pub fn target(args: &Args) -> Target<'_> {
    Target {
        project: Some(&args.project_id),
        card: None,
    }
}

/// Runs the tool.
pub async fn run(tasker: &dyn Tasker, actor: &Actor, key: &str, args: Args) -> TaskerResult<Value> {
    Ok(json!(tasker.create_card(actor, key, &args).await?))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "Created ")
}
