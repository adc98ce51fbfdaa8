//! `update_card`: change a card's fields.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, CardPatch, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "update_card",
    title: "Update card",
    description: "Change a card's name, description, priority, parent or dates. Empty string clears parent or a date.",
    scope: Scope::CardsWrite,
    write: true,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    target_date: Option<String>,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(json!({
            "card": schema::card(),
            "name": {"type": "string"},
            "description": schema::string("Markdown"),
            "priority": {"type": "string", "enum": ["urgent", "high", "medium", "low", "none"]},
            "parent": schema::string("Parent card key"),
            "start_date": schema::string("YYYY-MM-DD"),
            "target_date": schema::string("YYYY-MM-DD")
        })),
        &["idempotency_key", "card"],
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
    let patch = CardPatch {
        name: args.name,
        description: args.description,
        priority: args.priority,
        parent: args.parent,
        start_date: args.start_date,
        target_date: args.target_date,
    };
    Ok(json!(
        tasker.update_card(actor, key, &args.card, &patch).await?
    ))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "Updated ")
}
