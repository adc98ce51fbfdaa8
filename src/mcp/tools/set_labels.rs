//! `set_labels`: replace a card's labels.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "set_labels",
    title: "Set labels",
    description: "Replace a card's labels with these existing label names ([] clears).",
    scope: Scope::LabelsWrite,
    write: true,
};

/// Arguments.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    labels: Vec<String>,
}

/// Input schema.
pub fn input_schema() -> Value {
    schema::input(
        schema::with_key(json!({"card": schema::card(), "labels": schema::strings("Label names")})),
        &["idempotency_key", "card", "labels"],
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
            .set_labels(actor, key, &args.card, &args.labels)
            .await?
    ))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    card_summary(out, "Labelled ")
}
