//! JSON Schema pieces the tools share. Written by hand and kept small: the whole
//! `tools/list` is part of every agent's context. No `$schema`, so JSON Schema 2020-12
//! applies (MCP 2025-11-25); output schemas have an object at the root, as MCP requires.

use serde_json::{json, Map, Value};

use crate::gateway::{SessionView, Started};
use crate::tasker::{CardDetail, CardPage, Comment, ProjectContext};

/// The output schema of a tool's result type: declared once per type, so every tool that
/// returns a card shares the card's schema.
pub trait OutputSchema {
    /// The JSON Schema of the structured result.
    fn schema() -> Value;
}

impl OutputSchema for CardDetail {
    fn schema() -> Value {
        card_detail()
    }
}

impl OutputSchema for Comment {
    fn schema() -> Value {
        output(
            json!({"id": {"type": "string"}, "body": {"type": "string"}, "actor": {"type": "string"}, "created_at": {"type": "integer"}}),
            &["id", "body", "actor", "created_at"],
        )
    }
}

impl OutputSchema for CardPage {
    fn schema() -> Value {
        output(
            json!({"cards": {"type": "array", "items": card_summary()}, "next_cursor": {"type": "string"}}),
            &["cards"],
        )
    }
}

impl OutputSchema for ProjectContext {
    fn schema() -> Value {
        output(
            json!({"project": {"type": "object"}, "states": {"type": "array"}, "labels": {"type": "array"}, "members": {"type": "array"}}),
            &["project", "states", "labels", "members"],
        )
    }
}

impl OutputSchema for SessionView {
    fn schema() -> Value {
        work_session(Map::new())
    }
}

impl OutputSchema for Started {
    fn schema() -> Value {
        let mut extra = Map::new();
        extra.insert(
            "superseded".into(),
            json!({"type": ["string", "null"], "description": "The open session this start ended"}),
        );
        work_session(extra)
    }
}

/// A work session, as the session tools return it, with `extra` properties.
pub fn work_session(extra: Map<String, Value>) -> Value {
    let mut props = typed(&["id", "card", "intent", "state", "started_at"], "string");
    props.insert(
        "plan".into(),
        json!({"type": "array", "items": plan_step()}),
    );
    props.insert("stop".into(), json!({"type": ["object", "null"]}));
    props.extend(extra);
    output(
        Value::Object(props),
        &["id", "card", "intent", "state", "plan"],
    )
}

/// One step of a work session's plan.
pub fn plan_step() -> Value {
    json!({"type": "object", "properties": {"step": {"type": "string"}, "done": {"type": "boolean"}}, "required": ["step"]})
}

/// A work session id.
pub fn session() -> Value {
    string("The id start_work_session returned")
}

/// An object schema with `properties`, `required`, and no other keys allowed.
pub fn input(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// An output object schema: the listed keys are always present; more may appear.
pub fn output(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

/// A string property with a description.
pub fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// A list of strings.
pub fn strings(description: &str) -> Value {
    json!({"type": "array", "items": {"type": "string"}, "description": description})
}

/// The idempotency key every write requires.
pub fn key() -> Value {
    string("Unique per intended change; reuse it only to retry the same call")
}

/// A card reference.
pub fn card() -> Value {
    string("Card key, e.g. WEB-12")
}

/// Adds the idempotency key to a write tool's properties.
pub fn with_key(mut properties: Value) -> Value {
    if let Some(map) = properties.as_object_mut() {
        map.insert("idempotency_key".into(), key());
    }
    properties
}

fn typed(names: &[&str], ty: &str) -> Map<String, Value> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), json!({"type": ty})))
        .collect()
}

/// A card as summarised in lists.
pub fn card_summary() -> Value {
    let mut props = typed(
        &["id", "key", "project_id", "name", "state", "priority"],
        "string",
    );
    props.insert(
        "labels".into(),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    output(
        Value::Object(props),
        &[
            "id",
            "key",
            "project_id",
            "name",
            "state",
            "priority",
            "labels",
        ],
    )
}

/// A card in full, as every card tool returns it.
pub fn card_detail() -> Value {
    let mut props = typed(
        &[
            "id",
            "key",
            "project_id",
            "name",
            "state",
            "priority",
            "description",
        ],
        "string",
    );
    for list in ["labels", "assignees", "blocks", "comments", "history"] {
        props.insert(list.into(), json!({"type": "array"}));
    }
    output(
        Value::Object(props),
        &[
            "id",
            "key",
            "project_id",
            "name",
            "state",
            "priority",
            "description",
            "labels",
            "blocks",
        ],
    )
}
