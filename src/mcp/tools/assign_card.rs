//! `assign_card`: replace a card's assignees with project members.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{card_summary, schema, Spec, Target, Tool};
use crate::scopes::Scope;
use crate::tasker::{Actor, CardDetail, Tasker, TaskerResult};

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

    async fn run(
        tasker: &dyn Tasker,
        actor: &Actor,
        key: &str,
        args: Args,
    ) -> TaskerResult<CardDetail> {
        tasker.assign(actor, key, &args.card, &args.assignees).await
    }

    fn summary(out: &CardDetail) -> String {
        card_summary("Assigned ", out)
    }
}
