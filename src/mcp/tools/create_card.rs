//! `create_card`: a new card in a granted project.

use serde_json::{json, Value};

use super::{card_summary, schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::{CardDetail, NewCard};

/// The tool.
#[derive(Debug)]
pub struct CreateCard;

impl Tool for CreateCard {
    const SPEC: Spec = Spec {
        name: "create_card",
        title: "Create card",
        description:
            "Create a card. Names of state, labels and assignees must match get_project_context.",
        scope: Scope::CardsWrite,
        write: true,
    };
    /// The contract's new card.
    type Args = NewCard;
    type Output = CardDetail;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(json!({
                "project_id": schema::string("From list_projects"),
                "name": schema::string("Title"),
                "description": schema::string("Markdown"),
                "priority": {"type": "string", "enum": ["urgent", "high", "medium", "low", "none"]},
                "state": schema::string("State name; default state if absent"),
                "labels": schema::strings("Label names"),
                "assignees": schema::strings("Member names or user ids"),
                "parent": schema::string("Parent card key"),
                "start_date": schema::string("YYYY-MM-DD"),
                "target_date": schema::string("YYYY-MM-DD"),
                "blocks": {"type": "array", "items": schema::input(json!({"name": {"type": "string"}, "content": {"type": "string"}}), &["name", "content"])}
            })),
            &["idempotency_key", "project_id", "name"],
        )
    }

    fn target(args: &NewCard) -> Target<'_> {
        Target::project(&args.project_id)
    }

    async fn run(ctx: &Ctx<'_>, args: NewCard) -> Result<CardDetail, ToolError> {
        Ok(ctx.tasker().create_card(ctx.actor, ctx.key, &args).await?)
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Created ", out)
    }
}
