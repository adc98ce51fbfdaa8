//! `update_card`: change a card's fields.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::{CardDetail, CardPatch};

/// The tool.
#[derive(Debug)]
pub struct UpdateCard;

/// Arguments: the card, and the fields to change (absent fields stay as they are).
#[derive(Debug, Deserialize)]
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

impl Tool for UpdateCard {
    const SPEC: Spec = Spec {
        name: "update_card",
        title: "Update card",
        description: "Change a card's name, description, priority, parent or dates. Empty string clears parent or a date.",
        scope: Scope::CardsWrite,
        write: true,
    };
    type Args = Args;
    type Output = CardDetail;

    fn input_schema() -> Value {
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

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<CardDetail, ToolError> {
        let patch = CardPatch {
            name: args.name,
            description: args.description,
            priority: args.priority,
            parent: args.parent,
            start_date: args.start_date,
            target_date: args.target_date,
        };
        Ok(ctx
            .tasker()
            .update_card(ctx.actor, ctx.key, &args.card, &patch)
            .await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Updated ", out)
    }
}
