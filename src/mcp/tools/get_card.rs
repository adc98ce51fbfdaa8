//! `get_card`: one card with its blocks, comments and history.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::CardDetail;

/// The tool.
#[derive(Debug)]
pub struct GetCard;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
}

impl Tool for GetCard {
    const SPEC: Spec = Spec {
        name: "get_card",
        title: "Get card",
        description: "One card in full: fields, structured blocks, comments, history.",
        scope: Scope::CardsRead,
        write: false,
    };
    type Args = Args;
    type Output = CardDetail;

    fn input_schema() -> Value {
        schema::input(json!({"card": schema::card()}), &["card"])
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<CardDetail, ToolError> {
        Ok(ctx.tasker().get_card(ctx.actor, &args.card).await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("", out)
    }
}
