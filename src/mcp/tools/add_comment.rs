//! `add_comment`: comment on a card.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::Comment;

/// The tool.
#[derive(Debug)]
pub struct AddComment;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    body: String,
}

impl Tool for AddComment {
    const SPEC: Spec = Spec {
        name: "add_comment",
        title: "Add comment",
        description: "Add a Markdown comment to a card.",
        scope: Scope::CommentsWrite,
        write: true,
    };
    type Args = Args;
    type Output = Comment;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(json!({"card": schema::card(), "body": schema::string("Markdown")})),
            &["idempotency_key", "card", "body"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<Comment, ToolError> {
        Ok(ctx
            .tasker()
            .add_comment(ctx.actor, ctx.key, &args.card, &args.body)
            .await?)
    }

    fn summary(out: &Comment) -> String {
        format!("Comment {} added.", out.id)
    }
}
