//! The stop notice: what an agent reads once its owner or an admin asked its work
//! session to stop — in the text of every tool result (what the model reads) and in the
//! result's `_meta` (what a client program reads). It says plainly what the gateway can
//! and cannot do: refuse tracker access, never stop a program on the developer's machine.

use gateway_actors::SessionMark;
use serde_json::{json, Value};

/// The `_meta` key of the notice (a prefixed name, as MCP's `_meta` rules ask).
pub const META_KEY: &str = "nodedc.agent-gateway/stop_request";

/// The notice, in words for the model.
pub fn stop_notice(mark: &SessionMark) -> String {
    format!(
        "STOP REQUESTED: the owner of this agent (or an admin) asked work session {} on {} to stop. \
         Stop working on it now: make no further changes, and call finish_work_session with \
         outcome \"abandoned\" (or \"completed\" if the work is done) and a short summary. \
         The gateway can refuse this agent's tracker access; it cannot stop a program on the \
         developer's machine, so stopping is up to you.",
        mark.id, mark.card
    )
}

/// Adds the notice to a `CallToolResult`: first in its text, and under [`META_KEY`].
pub fn attach(result: &mut Value, mark: &SessionMark) {
    let notice = stop_notice(mark);
    if let Some(text) = result
        .pointer_mut("/content/0/text")
        .and_then(|t| t.as_str().map(str::to_owned))
    {
        result["content"][0]["text"] = Value::String(format!("{notice}\n\n{text}"));
    }
    result["_meta"] = json!({
        META_KEY: {
            "session": mark.id,
            "card": mark.card,
            "message": notice,
        }
    });
}
