//! `set_labels`: replace a card's labels.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::CardDetail;

/// The tool.
#[derive(Debug)]
pub struct SetLabels;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    labels: Vec<String>,
}

impl Tool for SetLabels {
    const SPEC: Spec = Spec {
        name: "set_labels",
        title: "Set labels",
        description: "Replace a card's labels with these existing label names ([] clears).",
        scope: Scope::LabelsWrite,
        write: true,
    };
    type Args = Args;
    type Output = CardDetail;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(
                json!({"card": schema::card(), "labels": schema::strings("Label names")}),
            ),
            &["idempotency_key", "card", "labels"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<CardDetail, ToolError> {
        Ok(ctx
            .tasker()
            .set_labels(ctx.actor, ctx.key, &args.card, &args.labels)
            .await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Labelled ", out)
    }
}
