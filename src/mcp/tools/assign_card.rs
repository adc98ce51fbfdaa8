//! `assign_card`: replace a card's assignees with project members.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "assign_card",
    title: "Assign card",
    description: "Replace a card's assignees with these project members ([] unassigns).",
    scope: Scope::AssignWrite,
    write: true,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    assignees: Vec<String>,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(
            json!({"card": schema::card(), "assignees": schema::strings("Member names or user ids")}),
        ),
        &["idempotency_key", "card", "assignees"],
    )
}

/// Output schema.
pub fn output_schema() -> Value {
    schema::card_detail()
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
            .assign(actor, key, &args.card, &args.assignees)
            .await?
    ))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "Assigned ")
}
