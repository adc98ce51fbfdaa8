//! `update_structured_block`: set one named block of a card ("plan", "acceptance
//! criteria", …).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "update_structured_block",
    title: "Update structured block",
    description:
        "Set a named block of a card, e.g. \"plan\" or \"acceptance criteria\", to this Markdown.",
    scope: Scope::BlocksWrite,
    write: true,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    block: String,
    content: String,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(
            json!({"card": schema::card(), "block": schema::string("Block name"), "content": schema::string("Markdown")}),
        ),
        &["idempotency_key", "card", "block", "content"],
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
            .update_block(actor, key, &args.card, &args.block, &args.content)
            .await?
    ))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "Updated block of ")
}
