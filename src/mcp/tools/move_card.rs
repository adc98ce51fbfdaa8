//! `move_card`: move a card to another state.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "move_card",
    title: "Move card",
    description: "Move a card to a state, by state name.",
    scope: Scope::CardsWrite,
    write: true,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    state: String,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(json!({"card": schema::card(), "state": schema::string("State name")})),
        &["idempotency_key", "card", "state"],
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
            .move_card(actor, key, &args.card, &args.state)
            .await?
    ))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "Moved ")
}
