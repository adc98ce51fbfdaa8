//! `finish_work_session`: reporting mode — end the session with an outcome and a
//! summary, optionally posted on the card as a comment through the ordinary audited
//! write path (`add_comment`, with its own scope, audit rows and idempotency key).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::add_comment::AddComment;
use super::schema::{self, OutputSchema};
use super::{Ctx, Spec, Target, Tool, ToolError};
use crate::gateway::SessionView;
use crate::mcp::pipeline;
use crate::scopes::Scope;

/// The tool.
#[derive(Debug)]
pub struct FinishWorkSession;

/// Arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    session: Uuid,
    outcome: String,
    summary: String,
    #[serde(default)]
    comment: bool,
}

/// The finished session, and the comment its summary was posted as.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    /// The session.
    #[serde(flatten)]
    pub session: SessionView,
    /// The comment's id, when the summary was posted.
    pub comment_id: Option<String>,
    /// Why the summary was not posted, when it was asked for and refused.
    pub comment_error: Option<String>,
}

impl OutputSchema for Finished {
    fn schema() -> Value {
        let mut extra = Map::new();
        extra.insert("comment_error".into(), json!({"type": ["string", "null"]}));
        schema::work_session(extra)
    }
}

impl Tool for FinishWorkSession {
    const SPEC: Spec = Spec {
        name: "finish_work_session",
        title: "Finish work session",
        description: "End your work session: outcome and a summary; comment=true also posts the summary on the card.",
        scope: Scope::SessionsWrite,
        write: true,
    };
    type Args = Args;
    type Output = Finished;

    fn input_schema() -> Value {
        schema::input(
            schema::with_key(json!({
                "session": schema::session(),
                "outcome": {"type": "string", "enum": ["completed", "failed", "abandoned"]},
                "summary": schema::string("What was done, in a few lines"),
                "comment": {"type": "boolean", "description": "Also post the summary on the card"}
            })),
            &["idempotency_key", "session", "outcome", "summary"],
        )
    }

    fn target(_args: &Args) -> Target<'_> {
        Target::default()
    }

    async fn run(ctx: &Ctx<'_>, args: Args) -> Result<Finished, ToolError> {
        let gw = ctx.gw();
        let session = gw
            .finish_work_session(ctx.actor, args.session, &args.outcome, &args.summary)
            .await?;
        let mut finished = Finished {
            session,
            comment_id: None,
            comment_error: None,
        };
        if args.comment {
            // One comment per session: the key is the session's, so a retry of the
            // finish (new key or not) never posts it twice.
            let body = format!(
                "**Work session {}** ({}): {}",
                finished.session.id,
                args.outcome,
                finished.session.summary.as_deref().unwrap_or_default()
            );
            let arguments = json!({
                "idempotency_key": format!("work-session-{}-summary", finished.session.id),
                "card": finished.session.card,
                "body": body,
            });
            match pipeline::run::<AddComment>(&ctx.call, arguments).await {
                Ok(result) => {
                    let id = result
                        .pointer("/structuredContent/id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    if let Some(id) = &id {
                        gw.record_session_comment(finished.session.id, id).await?;
                    }
                    finished.session.comment_id.clone_from(&id);
                    finished.comment_id = id;
                }
                Err(refused) => finished.comment_error = Some(refused.to_string()),
            }
        }
        Ok(finished)
    }

    fn summary(out: &Finished) -> String {
        let comment = match (&out.comment_id, &out.comment_error) {
            (Some(id), _) => format!(" Summary posted as comment {id}."),
            (None, Some(why)) => format!(" The summary was not posted: {why}"),
            (None, None) => String::new(),
        };
        format!(
            "Work session {} finished: {}.{comment}",
            out.session.id,
            out.session.state.replace('_', " ")
        )
    }

    fn session(out: &Finished) -> Option<Uuid> {
        Some(out.session.id)
    }
}
