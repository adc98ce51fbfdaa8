//! `move_card`: move a card to another state.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::CardDetail;

/// The tool.
#[derive(Debug)]
pub struct MoveCard;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    state: String,
}

impl Tool for MoveCard {
    const SPEC: Spec = Spec {
        name: "move_card",
        title: "Move card",
        description: "Move a card to a state, by state name.",
        scope: Scope::CardsWrite,
        write: true,
    };
    type Args = Args;
    type Output = CardDetail;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(
                json!({"card": schema::card(), "state": schema::string("State name")}),
            ),
            &["idempotency_key", "card", "state"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<CardDetail, ToolError> {
        Ok(ctx
            .tasker()
            .move_card(ctx.actor, ctx.key, &args.card, &args.state)
            .await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Moved ", out)
    }
}
