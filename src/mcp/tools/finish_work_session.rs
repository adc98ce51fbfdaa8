//! `finish_work_session`: reporting mode — end the session with an outcome and a
//! summary, optionally posted on the card as a comment through the ordinary audited
//! write path (`add_comment`, with its own scope, audit rows and idempotency key). A
//! refused comment (no `comments:write`, or writes refused while a stop is pending)
//! does not keep the session open: the summary is kept with the session either way.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::add_comment::AddComment;
use super::schema::{self, OutputSchema};
use super::{Ctx, Spec, Target, Tool, ToolError};
use crate::gateway::{Finish, SessionView};
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

/// The finished session (its `comment_id` names the comment its summary was posted
/// as), and why the summary was not posted when it was asked for and refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    /// The session.
    #[serde(flatten)]
    pub session: SessionView,
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

/// Posts the summary through `add_comment`'s own pipeline (its scope, its audit rows, an
/// idempotency key of the session's, so a retried finish never posts it twice). Returns
/// the comment's id, or why it was not posted.
async fn post_summary(
    ctx: &Ctx<'_>,
    finish: &Finish,
    outcome: &str,
) -> (Option<String>, Option<String>) {
    let arguments = json!({
        "idempotency_key": format!("work-session-{}-summary", finish.id),
        "card": finish.card,
        "body": format!("**Work session {}** ({outcome}): {}", finish.id, finish.end.note),
    });
    match pipeline::run::<AddComment>(&ctx.call, arguments).await {
        Ok(result) => match result
            .pointer("/structuredContent/id")
            .and_then(Value::as_str)
        {
            Some(id) => (Some(id.to_owned()), None),
            None => (None, Some("the tracker returned no comment id".into())),
        },
        Err(refused) => (None, Some(refused.to_string())),
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
        let finish = gw
            .prepare_finish(ctx.actor, args.session, &args.outcome, &args.summary)
            .await?;
        // The comment first, while the session is open: it belongs to the session like
        // every call, and the card's history names it.
        let (comment_id, comment_error) = if args.comment {
            post_summary(ctx, &finish, &args.outcome).await
        } else {
            (None, None)
        };
        let session = gw
            .finish_work_session(ctx.actor, &finish, comment_id.as_deref())
            .await?;
        Ok(Finished {
            session,
            comment_error,
        })
    }

    fn summary(out: &Finished) -> String {
        let comment = match (&out.session.comment_id, &out.comment_error) {
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
