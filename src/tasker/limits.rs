//! What the contract's inputs may be, checked before any I/O: an input the adapter
//! cannot carry (a path segment that would name another path, a header value that
//! cannot be sent, a search the database would refuse) is `validation_failed` with a
//! message naming the expected format, never a transient error. A refused input is the
//! caller's to fix; retrying it fails the same way, so it must not count as the Tasker
//! failing (`actors/src/calls.rs`).
//!
//! `docs/TASKER_ADAPTER_CONTRACT.md` §6 ("Identifiers and limits") documents these.

use super::{CardQuery, TaskerError, TaskerResult};

/// The longest project id, card id or card key (`IDENT-N`).
pub const MAX_ID: usize = 64;
/// The longest block name, in bytes, after trimming.
pub const MAX_BLOCK_NAME: usize = 64;
/// The longest idempotency key, in bytes.
pub const MAX_KEY: usize = 200;
/// The longest search `text`, in bytes (SQLite refuses LIKE patterns over 50 000).
pub const MAX_SEARCH_TEXT: usize = 500;
/// The longest other search filter (`state`, `label`, `assignee`, `cursor`), in bytes.
pub const MAX_FILTER: usize = 255;

/// A project id, card id or card key (trimmed): 1 to [`MAX_ID`] ASCII letters, digits,
/// `-` or `_`. Anything else (`.`, `..`, `/`, `%`, `?`, `#`, spaces, control
/// characters) is refused, so an id is always exactly one path segment.
pub fn check_id<'a>(field: &str, value: &'a str) -> TaskerResult<&'a str> {
    let id = value.trim();
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(safe) {
        return Err(TaskerError::invalid(
            field,
            format!(
                "{field} must be a card key such as WEB-12 or an id of 1-{MAX_ID} letters, digits, '-' or '_'; use an id or key exactly as search_cards or list_projects returned it"
            ),
            vec![],
        ));
    }
    Ok(id)
}

/// A block name (trimmed): 1 to [`MAX_BLOCK_NAME`] bytes, no control characters, no
/// `/` or `\`, and not `.` or `..`, so it stays one path segment.
pub fn check_block_name(value: &str) -> TaskerResult<&str> {
    let name = value.trim();
    let unsafe_char = |c: char| c.is_control() || c == '/' || c == '\\';
    if name.is_empty()
        || name.len() > MAX_BLOCK_NAME
        || name.chars().any(unsafe_char)
        || name == "."
        || name == ".."
    {
        return Err(TaskerError::invalid(
            "block",
            format!(
                "a block name is 1-{MAX_BLOCK_NAME} bytes without '/', '\\' or control characters, and not '.' or '..'; use a name such as \"acceptance criteria\""
            ),
            vec![],
        ));
    }
    Ok(name)
}

/// An idempotency key that can travel in a header: 1 to [`MAX_KEY`] printable ASCII
/// characters (spaces inside allowed), no leading or trailing space.
pub fn check_key(key: &str) -> TaskerResult<()> {
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_KEY || !printable || key.trim() != key {
        return Err(TaskerError::invalid(
            "idempotency_key",
            format!(
                "idempotency_key must be 1-{MAX_KEY} printable ASCII characters (letters, digits, punctuation; no control characters or accents); use a fresh value such as a UUID"
            ),
            vec![],
        ));
    }
    Ok(())
}

/// The lengths of a search's filters.
pub fn check_query(query: &CardQuery) -> TaskerResult<()> {
    if query
        .text
        .as_deref()
        .is_some_and(|t| t.len() > MAX_SEARCH_TEXT)
    {
        return Err(TaskerError::invalid(
            "text",
            format!("search text is at most {MAX_SEARCH_TEXT} bytes; search for a few distinctive words"),
            vec![],
        ));
    }
    for (field, value) in [
        ("state", &query.state),
        ("label", &query.label),
        ("assignee", &query.assignee),
        ("cursor", &query.cursor),
    ] {
        if value.as_deref().is_some_and(|v| v.len() > MAX_FILTER) {
            return Err(TaskerError::invalid(
                field,
                format!("{field} is at most {MAX_FILTER} bytes; use a name exactly as get_project_context or search_cards returned it"),
                vec![],
            ));
        }
    }
    if let Some(project) = &query.project_id {
        check_id("project_id", project)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_safe_segment() {
        for good in [
            "WEB-12",
            "web-12",
            "0190c1e2-7c3a-7d4e-9f00-123456789abc",
            "a_b",
        ] {
            assert_eq!(check_id("card", good).ok(), Some(good));
        }
        let long = "A".repeat(MAX_ID + 1);
        for bad in [
            "", " ", ".", "..", "a/b", "%2F", "a?b", "a#b", "a b", "x\ny", &long,
        ] {
            assert!(check_id("card", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn block_names_and_keys() {
        assert!(check_block_name(" acceptance criteria ").is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "a\u{7}"] {
            assert!(check_block_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("create card 1").is_ok());
        for bad in ["", " k", "k\r\nx", "clé", &"k".repeat(MAX_KEY + 1)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
