//! `update_work_session`: reporting mode — a step of the work: a thought, an action, or
//! a question for a person (`elicitation`, which marks the session awaiting).

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{schema, Ctx, Spec, Target, Tool, ToolError};
use crate::gateway::SessionView;
use crate::scopes::Scope;
use crate::store::PlanStep;

/// The tool.
#[derive(Debug)]
pub struct UpdateWorkSession;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    session: Uuid,
    kind: String,
    note: String,
    plan: Option<Vec<PlanStep>>,
    card: Option<String>,
}

impl Tool for UpdateWorkSession {
    const SPEC: Spec = Spec {
        name: "update_work_session",
        title: "Update work session",
        description: "Report a step of your work session: a thought, an action, or an elicitation (a question for a person). Optionally tick the plan or switch card.",
        scope: Scope::SessionsWrite,
        write: true,
    };
    type Args = Args;
    type Output = SessionView;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(json!({
                "session": schema::session(),
                "kind": {"type": "string", "enum": ["thought", "action", "elicitation"]},
                "note": schema::string("One line"),
                "plan": {"type": "array", "items": schema::plan_step(), "description": "The whole plan, steps ticked"},
                "card": schema::string("Switch to this card")
            })),
            &["idempotency_key", "session", "kind", "note"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        match &args.card {
            Some(card) => Target::card(card),
            None => Target::default(),
        }
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<SessionView, ToolError> {
        Ok(ctx
            .gw()
            .update_work_session(
                ctx.actor,
                args.session,
                &args.kind,
                &args.note,
                args.plan,
                args.card.as_deref(),
            )
            .await?)
    }

    fn summary(out: &SessionView) -> String {
        format!(
            "Work session {} on {}: {}.",
            out.id,
            out.card,
            out.state.replace('_', " ")
        )
    }
}
