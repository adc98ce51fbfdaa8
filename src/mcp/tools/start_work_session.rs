//! `start_work_session`: reporting mode — say which card you start on and what you
//! intend, before the work.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{schema, Ctx, Spec, Target, Tool, ToolError};
use crate::gateway::Started;
use crate::scopes::Scope;

/// The tool.
#[derive(Debug)]
pub struct StartWorkSession;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    card: String,
    intent: String,
    #[serde(default)]
    plan: Vec<String>,
}

impl Tool for StartWorkSession {
    const SPEC: Spec = Spec {
        name: "start_work_session",
        title: "Start work session",
        description: "Before working on a card, report what you intend (one line) and an optional plan. Ends any session you left open.",
        scope: Scope::SessionsWrite,
        write: true,
    };
    type Args = Args;
    type Output = Started;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(json!({
                "card": schema::card(),
                "intent": schema::string("One line: what you are about to do"),
                "plan": schema::strings("Steps, in order")
            })),
            &["idempotency_key", "card", "intent"],
        )
    }

    fn target(args: &Args) -> Target<'_> {
        Target::card(&args.card)
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<Started, ToolError> {
        Ok(ctx
            .gw()
            .start_work_session(ctx.actor, &args.card, &args.intent, &args.plan)
            .await?)
    }

    fn summary(out: &Started) -> String {
        let superseded = out
            .superseded
            .map(|old| format!(" Your open session {old} was ended as abandoned."))
            .unwrap_or_default();
        format!(
            "Work session {} started on {}. Report each step with update_work_session and end with finish_work_session.{superseded}",
            out.session.id, out.session.card
        )
    }

    fn session(out: &Started) -> Option<uuid::Uuid> {
        Some(out.session.id)
    }
}
