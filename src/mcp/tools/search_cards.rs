//! `search_cards`: cards in granted projects, newest first, filtered, paginated.

use serde_json::{json, Value};

use super::{schema, Spec, Target};
use crate::scopes::Scope;
use crate::tasker::{Actor, CardQuery, Tasker, TaskerResult};

/// The tool.
pub const SPEC: Spec = Spec {
    name: "search_cards",
    title: "Search cards",
    description: "Find cards in granted projects, newest first. All filters optional; pass next_cursor back as cursor for more.",
    scope: Scope::CardsRead,
    write: false,
};

/// Arguments (the contract's query).
pub type Args = CardQuery;

/// Input schema.
pub fn input_schema() -> Value {
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

/// Output schema.
pub fn output_schema() -> Value {
    schema::output(
        json!({"cards": {"type": "array", "items": schema::card_summary()}, "next_cursor": {"type": "string"}}),
        &["cards"],
    )
}

/// The project, when the search names one.
pub fn target(args: &Args) -> Target<'_> {
    Target {
        project: args.project_id.as_deref(),
        card: None,
    }
}

/// Runs the tool.
pub async fn run(
    tasker: &dyn Tasker,
    actor: &Actor,
    _key: &str,
    args: Args,
) -> TaskerResult<Value> {
    Ok(json!(tasker.search_cards(actor, &args).await?))
}

/// A one-line summary.
pub fn summary(out: &Value) -> String {
    let keys: Vec<&str> = out["cards"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["key"].as_str()).collect())
        .unwrap_or_default();
    let more = if out["next_cursor"].is_string() {
        " More with next_cursor."
    } else {
        ""
    };
    format!("{} card(s): {}.{more}", keys.len(), keys.join(", "))
}
