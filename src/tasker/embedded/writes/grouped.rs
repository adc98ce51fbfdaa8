//! Creates on Postgres, many agents' at once (group commit).
//!
//! A `create_card` with no labels, assignees, parent or blocks (what agents create most)
//! is checked and resolved by its caller as any create is, then handed to a batcher
//! ([`gateway_actors::Batcher`]): the creates queued meanwhile run together in two
//! statements, whatever their number —
//!
//! 1. the replay check of all their idempotency keys, and the card numbers of the
//!    others, each project's counter bumped once for all its new cards (committed
//!    without waiting for the disk, as a lone create's number is: the cards that use
//!    the numbers commit after it, synchronously);
//! 2. one statement inserting the cards, their `created` history entries and their
//!    stored responses (data-modifying `WITH` over `json_to_recordset`): atomic on its
//!    own, one commit, one flush.
//!
//! A lone create took eight statements. Each answer is built from what was inserted, as
//! a lone create's is from what it wrote (`tests/integration/tasker.rs` checks it against
//! `get_card`). A group that fails runs again one create at a time, so a value only one
//! create holds (a character Postgres cannot store) fails that create alone. A key twice
//! in one group runs after the group, and then replays or conflicts as a retry does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gateway_actors::BatchRun;
use serde_json::json;
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use super::stored_answer;
use crate::tasker::embedded::facts::ProjectFacts;
use crate::tasker::embedded::{db_error, now_ms};
use crate::tasker::*;

/// A create ready to run: checked, its project's facts and its state resolved.
#[derive(Debug)]
pub(in crate::tasker::embedded) struct Prepared {
    pub actor: Actor,
    pub key: String,
    pub fp: String,
    pub facts: Arc<ProjectFacts>,
    pub state: State,
    pub name: String,
    pub description: String,
    pub priority: String,
    pub start: Option<String>,
    pub target: Option<String>,
}

impl Prepared {
    /// Whether `input` can be created in a group: nothing to link, no blocks.
    pub fn fits(input: &NewCard) -> bool {
        input.labels.is_empty()
            && input.assignees.is_empty()
            && input.parent.is_none()
            && input.blocks.is_empty()
    }
}

/// The batcher's work: runs groups of [`Prepared`] creates.
#[derive(Debug)]
pub(in crate::tasker::embedded) struct Grouped {
    pub pool: AnyPool,
}

impl BatchRun<Prepared, TaskerResult<CardDetail>> for Grouped {
    async fn run(&self, batch: Vec<Prepared>) -> Vec<TaskerResult<CardDetail>> {
        // A key's second create in this batch waits for the first's commit: each round
        // runs the first create of every key still waiting.
        let mut pending: Vec<(usize, Prepared)> = batch.into_iter().enumerate().collect();
        let mut results: Vec<(usize, TaskerResult<CardDetail>)> = Vec::new();
        while !pending.is_empty() {
            let mut seen = HashSet::new();
            let (group, rest): (Vec<_>, Vec<_>) = pending
                .into_iter()
                .partition(|(_, p)| seen.insert((p.actor.agent_id, p.key.clone())));
            pending = rest;
            let (places, creates): (Vec<usize>, Vec<Prepared>) = group.into_iter().unzip();
            let answers = match self.together(&creates).await {
                Ok(answers) => answers,
                Err(error) if creates.len() > 1 => {
                    tracing::warn!(%error, creates = creates.len(), "a group of creates failed; running them one by one");
                    let mut answers = Vec::with_capacity(creates.len());
                    for create in &creates {
                        answers.push(
                            self.together(std::slice::from_ref(create))
                                .await
                                .and_then(|mut one| one.pop().unwrap_or_else(lost)),
                        );
                    }
                    answers
                }
                Err(error) => vec![Err(error)],
            };
            results.extend(places.into_iter().zip(answers));
        }
        results.sort_by_key(|(place, _)| *place);
        results.into_iter().map(|(_, answer)| answer).collect()
    }
}

/// An answer a run failed to produce (never expected: each create gets one).
fn lost() -> TaskerResult<CardDetail> {
    Err(TaskerError::unavailable("the create was not run; retry"))
}

impl Grouped {
    /// Runs `creates` (distinct keys) in two statements. `Err` means nothing was
    /// created; `Ok` holds each create's answer: a replay, a conflict, or the new card.
    async fn together(&self, creates: &[Prepared]) -> TaskerResult<Vec<TaskerResult<CardDetail>>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // 1 and 2. In one statement: the group's replays (each key looked up on its own
        // through the primary key; the `LIMIT` keeps the planner from turning the lookups
        // into a join that scans the table), and the numbers of the others, each
        // project's counter moved once by its count of new cards.
        let wanted: Vec<_> = creates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"i": i, "agent_id": c.actor.agent_id.to_string(), "key": c.key,
                       "project_id": c.facts.project.id})
            })
            .collect();
        let rows = sqlx::query(
            "WITH x AS (SELECT * FROM json_to_recordset($1::json) \
                 AS x(i bigint, agent_id text, key text, project_id text)), \
             seen AS (SELECT x.i, r.fingerprint, r.response FROM x \
               JOIN LATERAL (SELECT fingerprint, response FROM tracker_requests \
                 WHERE agent_id = x.agent_id AND key = x.key LIMIT 1) AS r ON true), \
             counts AS (SELECT project_id, count(*) AS n FROM x \
               WHERE x.i NOT IN (SELECT i FROM seen) GROUP BY project_id), \
             bumped AS (UPDATE tracker_projects SET next_sequence = next_sequence + counts.n \
               FROM counts, (SELECT set_config('synchronous_commit', 'off', true)) AS lazily \
               WHERE tracker_projects.id = counts.project_id \
               RETURNING tracker_projects.id, next_sequence - counts.n AS first) \
             SELECT i, fingerprint, response, NULL AS project_id, NULL::bigint AS first FROM seen \
             UNION ALL SELECT NULL, NULL, NULL, id, first FROM bumped",
        )
        .bind(serde_json::Value::Array(wanted).to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let mut answers: Vec<Option<TaskerResult<CardDetail>>> =
            creates.iter().map(|_| None).collect();
        let mut next: HashMap<String, i64> = HashMap::new();
        for row in &rows {
            let replayed: Option<i64> = row.try_get("i").map_err(db_error)?;
            match replayed.and_then(|i| usize::try_from(i).ok()) {
                Some(i) if i < creates.len() => {
                    let fp: String = row.try_get("fingerprint").map_err(db_error)?;
                    let response: String = row.try_get("response").map_err(db_error)?;
                    answers[i] = Some(stored_answer(
                        &creates[i].key,
                        &creates[i].fp,
                        &fp,
                        &response,
                    ));
                }
                Some(_) => {
                    return Err(TaskerError::unavailable(
                        "a replay answered an unknown create",
                    ))
                }
                None => {
                    next.insert(
                        row.try_get("project_id").map_err(db_error)?,
                        row.try_get("first").map_err(db_error)?,
                    );
                }
            }
        }
        let fresh: Vec<usize> = (0..creates.len())
            .filter(|i| answers[*i].is_none())
            .collect();
        if fresh.is_empty() {
            return Ok(answers
                .into_iter()
                .map(|a| a.unwrap_or_else(lost))
                .collect());
        }
        // 3. The cards, their history and their stored responses, in one statement.
        let now = now_ms();
        let (mut cards, mut history, mut requests) = (Vec::new(), Vec::new(), Vec::new());
        for &i in &fresh {
            let c = &creates[i];
            let project = &c.facts.project;
            let number = next.get_mut(&project.id).ok_or_else(|| {
                TaskerError::unavailable("a project of this create has no card counter")
            })?;
            let sequence = *number;
            *number += 1;
            let id = Uuid::now_v7().to_string();
            let key_text = format!("{}-{}", project.identifier, sequence);
            let created = HistoryEntry {
                at: now,
                actor: c.actor.display(),
                field: "created".to_owned(),
                work_session: c.actor.work_session.map(|s| s.to_string()),
                old: None,
                new: Some(key_text.clone()),
            };
            cards.push(json!({
                "id": id, "project_id": project.id, "sequence_id": sequence, "name": c.name,
                "description": c.description, "priority": c.priority, "state_id": c.state.id,
                "start_date": c.start, "target_date": c.target, "at": now,
            }));
            history.push(json!({
                "id": Uuid::now_v7().to_string(), "card_id": id, "at": now, "actor": created.actor,
                "agent_id": c.actor.agent_id.to_string(), "owner_id": c.actor.owner_id.to_string(),
                "new_value": key_text, "work_session_id": created.work_session,
            }));
            let detail = CardDetail {
                card: CardSummary {
                    id,
                    key: key_text,
                    project_id: project.id.clone(),
                    name: c.name.clone(),
                    state: c.state.name.clone(),
                    state_group: c.state.group.clone(),
                    priority: c.priority.clone(),
                    labels: Vec::new(),
                    assignees: Vec::new(),
                    parent: None,
                    start_date: c.start.clone(),
                    target_date: c.target.clone(),
                    updated_at: now,
                },
                description: c.description.clone(),
                blocks: Vec::new(),
                comments: Vec::new(),
                history: vec![created],
            };
            let response = serde_json::to_string(&detail)
                .map_err(|e| TaskerError::unavailable(e.to_string()))?;
            requests.push(json!({
                "agent_id": c.actor.agent_id.to_string(), "key": c.key, "fingerprint": c.fp,
                "response": response, "created_at": now,
            }));
            answers[i] = Some(Ok(detail));
        }
        sqlx::query(
            "WITH cards AS (\
               INSERT INTO tracker_cards (id, project_id, sequence_id, name, description, priority, state_id, \
                 start_date, target_date, created_at, updated_at) \
               SELECT id, project_id, sequence_id, name, description, priority, state_id, start_date, target_date, at, at \
               FROM json_to_recordset($1::json) AS x(id text, project_id text, sequence_id bigint, name text, \
                 description text, priority text, state_id text, start_date text, target_date text, at bigint)), \
             history AS (\
               INSERT INTO tracker_history (id, card_id, at, actor, agent_id, owner_id, field, new_value, work_session_id) \
               SELECT id, card_id, at, actor, agent_id, owner_id, 'created', new_value, work_session_id \
               FROM json_to_recordset($2::json) AS x(id text, card_id text, at bigint, actor text, agent_id text, \
                 owner_id text, new_value text, work_session_id text)) \
             INSERT INTO tracker_requests (agent_id, key, fingerprint, response, created_at) \
             SELECT agent_id, key, fingerprint, response, created_at \
             FROM json_to_recordset($3::json) AS x(agent_id text, key text, fingerprint text, response text, created_at bigint)",
        )
        .bind(serde_json::Value::Array(cards).to_string())
        .bind(serde_json::Value::Array(history).to_string())
        .bind(serde_json::Value::Array(requests).to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(answers
            .into_iter()
            .map(|a| a.unwrap_or_else(lost))
            .collect())
    }
}
