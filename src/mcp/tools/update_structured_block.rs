//! `update_structured_block`: set one named block of a card ("plan", "acceptance
//! criteria", …).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::CardDetail;

/// The tool.
#[derive(Debug)]
pub struct UpdateStructuredBlock;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    block: String,
    content: String,
}

impl Tool for UpdateStructuredBlock {
    const SPEC: Spec = Spec {
        name: "update_structured_block",
        title: "Update structured block",
        description:
            "Set a named block of a card, e.g. \"plan\" or \"acceptance criteria\", to this Markdown.",
        scope: Scope::BlocksWrite,
        write: true,
    };
    type Args = Args;
    type Output = CardDetail;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(
                json!({"card": schema::card(), "block": schema::string("Block name"), "content": schema::string("Markdown")}),
            ),
            &["idempotency_key", "card", "block", "content"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<CardDetail, ToolError> {
        Ok(ctx
            .tasker()
            .update_block(ctx.actor, ctx.key, &args.card, &args.block, &args.content)
            .await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Updated block of ", out)
    }
}
