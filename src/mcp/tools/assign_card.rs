//! `assign_card`: replace a card's assignees with project members.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::CardDetail;

/// The tool.
#[derive(Debug)]
pub struct AssignCard;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    assignees: Vec<String>,
}

impl Tool for AssignCard {
    const SPEC: Spec = Spec {
        name: "assign_card",
        title: "Assign card",
        description: "Replace a card's assignees with these project members ([] unassigns).",
        scope: Scope::AssignWrite,
        write: true,
    };
    type Args = Args;
    type Output = CardDetail;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(
                json!({"card": schema::card(), "assignees": schema::strings("Member names or user ids")}),
            ),
            &["idempotency_key", "card", "assignees"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<CardDetail, ToolError> {
        Ok(ctx
            .tasker()
            .assign(ctx.actor, ctx.key, &args.card, &args.assignees)
            .await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Assigned ", out)
    }
}
