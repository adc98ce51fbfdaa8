//! `add_comment`: comment on a card.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "add_comment",
    title: "Add comment",
    description: "Add a Markdown comment to a card.",
    scope: Scope::CommentsWrite,
    write: true,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    body: String,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(json!({"card": schema::card(), "body": schema::string("Markdown")})),
        &["idempotency_key", "card", "body"],
    )
}

/// Output schema.
pub fn output_schema() -> Value {
    schema::output(
        json!({"id": {"type": "string"}, "body": {"type": "string"}, "actor": {"type": "string"}, "created_at": {"type": "integer"}}),
        &["id", "body", "actor", "created_at"],
    )
}

/// The card.
pub fn target(args: &Args) -> Target<'_> {
    Target {
        project: None,
        card: Some(&args.card),
    }
}

/// Runs the tool.
pub async fn run(tasker: &dyn Tasker, actor: &Actor, key: &str, args: Args) -> TaskerResult<Value> {
    Ok(json!(
        tasker
            .add_comment(actor, key, &args.card, &args.body)
            .await?
    ))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    format!("Comment {} added.", out["id"].as_str().unwrap_or_default())
}
