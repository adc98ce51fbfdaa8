//! `get_card`: one card with its blocks, comments and history.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "get_card",
    title: "Get card",
    description: "One card in full: fields, structured blocks, comments, history.",
    scope: Scope::CardsRead,
    write: false,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(json!({"card": schema::card()}), &["card"])
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
pub async fn run(
    tasker: &dyn Tasker,
    actor: &Actor,
    _key: &str,
    args: Args,
) -> TaskerResult<Value> {
    Ok(json!(tasker.get_card(actor, &args.card).await?))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "")
}
