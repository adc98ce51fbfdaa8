//! `search_cards`: cards in granted projects, newest first, filtered, paginated.

use serde_json::{json, Value};

use super::{schema, Ctx, Spec, Target, Tool, ToolError};
use crate::scopes::Scope;
use crate::tasker::{CardPage, CardQuery};

/// The tool.
#[derive(Debug)]
pub struct SearchCards;

impl Tool for SearchCards {
    const SPEC: Spec = Spec {
        name: "search_cards",
        title: "Search cards",
        description: "Find cards in granted projects, newest first. All filters optional; pass next_cursor back as cursor for more.",
        scope: Scope::CardsRead,
        write: false,
    };
    /// The contract's query.
    type Args = CardQuery;
    type Output = CardPage;

    fn input_schema() -> Value {
        schema::input(
            json!({
                "project_id": schema::string("Limit to one project"),
                "state": schema::string("State name"),
                "label": schema::string("Label name"),
                "assignee": schema::string("Member name or user id"),
                "text": schema::string("Words in name or description"),
                "cursor": schema::string("next_cursor of the previous page"),
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Default 25"}
            }),
            &[],
        )
    }

    /// The project, when the search is limited to one.
    fn target(args: &CardQuery) -> Target<'_> {
        Target {
            project: args.project_id.as_deref(),
            card: None,
        }
    }

    async fn run(ctx: &Ctx<'_>, args: CardQuery) -> Result<CardPage, ToolError> {
        Ok(ctx.tasker().search_cards(ctx.actor, &args).await?)
    }

    fn summary(out: &CardPage) -> String {
        let keys: Vec<&str> = out.cards.iter().map(|c| c.key.as_str()).collect();
        let more = if out.next_cursor.is_some() {
            " More with next_cursor."
        } else {
            ""
        };
        format!("{} card(s): {}.{more}", keys.len(), keys.join(", "))
    }
}
