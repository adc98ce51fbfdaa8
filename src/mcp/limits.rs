//! Step 1's guard: what a tool's arguments may hold, checked before anything else — the
//! actor, the store, the Tasker — sees them. Input errors are the agent's to fix, so they
//! are answered here as tool errors naming the field and the limit, and never reach a
//! dependency where they could look like its failure (and open a circuit breaker).
//!
//! The rules are the same for every tool: free text (`description`, `body`, `content`,
//! and a work session's `intent`, `note` and `summary`) up to 64 KiB with tabs and line
//! breaks (the session rules then hold those to 2,000 characters); every other string (ids, keys, names,
//! filters) up to 512 bytes with no control characters at all; lists up to 100 items;
//! nesting up to four levels.

use serde_json::Value;

use super::error::McpError;

/// The longest free text, in bytes.
pub const MAX_TEXT: usize = 64 * 1024;
/// The longest other string, in bytes.
pub const MAX_VALUE: usize = 512;
/// The most items in one list.
pub const MAX_ITEMS: usize = 100;
/// The deepest nesting of objects and lists.
pub const MAX_DEPTH: usize = 4;
/// The fields that hold prose (Markdown, or a session's report).
const TEXT_FIELDS: [&str; 6] = [
    "description",
    "body",
    "content",
    "intent",
    "note",
    "summary",
];

/// Checks `arguments` (the whole object) against the limits.
pub fn check(arguments: &Value) -> Result<(), McpError> {
    walk("arguments", false, arguments, 0)
}

fn walk(path: &str, text: bool, value: &Value, depth: usize) -> Result<(), McpError> {
    if depth > MAX_DEPTH {
        return Err(McpError::Rejected(format!(
            "{path} is nested too deeply; no argument nests more than {MAX_DEPTH} levels."
        )));
    }
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        Value::String(s) => string(path, text, s),
        Value::Array(items) => {
            if items.len() > MAX_ITEMS {
                return Err(McpError::Rejected(format!(
                    "{path} has {} items; send at most {MAX_ITEMS}.",
                    items.len()
                )));
            }
            items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| walk(&format!("{path}[{i}]"), text, item, depth + 1))
        }
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            string(&format!("{path} key"), false, key)?;
            let field = format!("{path}.{key}");
            walk(&field, TEXT_FIELDS.contains(&key.as_str()), item, depth + 1)
        }),
    }
}

fn string(path: &str, text: bool, s: &str) -> Result<(), McpError> {
    let max = if text { MAX_TEXT } else { MAX_VALUE };
    if s.len() > max {
        return Err(McpError::Rejected(format!(
            "{path} is {} bytes; at most {max} are accepted. Shorten it.",
            s.len()
        )));
    }
    let allowed = |c: char| text && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = s.chars().find(|c| c.is_control() && !allowed(*c)) {
        return Err(McpError::Rejected(format!(
            "{path} contains the control character U+{:04X}; remove it{}.",
            u32::from(c),
            if text {
                " (tabs and line breaks are fine)"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn free_text_and_values_have_their_own_limits() {
        assert!(check(&json!({"card": "WEB-1", "body": "line\nline\ttab"})).is_ok());
        assert!(check(&json!({"card": "WEB\n1"})).is_err());
        assert!(check(&json!({"body": "nul\u{0}"})).is_err());
        assert!(check(&json!({"text": "x".repeat(MAX_VALUE + 1)})).is_err());
        assert!(check(&json!({"description": "x".repeat(MAX_VALUE + 1)})).is_ok());
        assert!(check(&json!({"description": "x".repeat(MAX_TEXT + 1)})).is_err());
        assert!(check(&json!({"labels": vec!["a"; MAX_ITEMS + 1]})).is_err());
        assert!(check(&json!({"blocks": [{"name": "plan", "content": "- a\n- b"}]})).is_ok());
        assert!(check(&json!({"a": [[[[["deep"]]]]]})).is_err());
        assert!(check(&json!({"bad\u{1b}key": 1})).is_err());
    }
}
