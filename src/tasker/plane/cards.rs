//! Reading work items: finding one by key or id, showing it in full (description,
//! blocks, comments, history from Plane's activity), and searching with the port's
//! filters and cursor.
//!
//! Plane's list endpoint (`IssueListCreateAPIEndpoint.get`,
//! `apps/api/plane/api/views/issue.py`) filters by nothing but `external_id`; it pages
//! newest first with `cursor=per_page:page:0`. The adapter filters each page itself and
//! scans at most [`MAX_SCAN`] pages per search, so one search costs a bounded share of
//! the API key's requests; the port's cursor says where to go on.

use std::sync::Arc;

use tokio::time::Instant;

use super::catalog::ProjectData;
use super::client::ITEMS;
use super::text::{footer_actor, footer_session, read_comment, read_description};
use super::{wire, PlaneTasker};
use crate::tasker::*;

/// Plane pages a search reads at most before answering with a cursor.
pub const MAX_SCAN: usize = 5;
const PER_PAGE: usize = 100;

/// How history names a change Plane attributes to the API key's own user, when the
/// adapter cannot tell which agent made it.
pub const GATEWAY_ACTOR: &str = "an agent via Agent Gateway";

impl PlaneTasker {
    /// The granted project `project_id`, as Plane shows it.
    pub(super) async fn granted_project(
        &self,
        d: Instant,
        actor: &Actor,
        project_id: &str,
    ) -> TaskerResult<wire::Project> {
        let id = check_id("project_id", project_id)?;
        if !actor.may(id) {
            return Err(TaskerError::not_granted(id, &actor.granted));
        }
        self.catalog.find_project(d, id).await?.ok_or_else(|| {
            TaskerError::not_found(format!(
                "no project {id} in this Plane workspace, or the gateway's bot user is not a member of it"
            ))
        })
    }

    /// A work item by key (`WEB-12`) or id, in a granted project.
    pub(super) async fn find(
        &self,
        d: Instant,
        actor: &Actor,
        card: &str,
    ) -> TaskerResult<(Arc<ProjectData>, wire::Issue)> {
        let card = check_id("card", card)?;
        let expand = [("expand", "parent")];
        let key = card.rsplit_once('-').filter(|(ident, seq)| {
            uuid::Uuid::parse_str(card).is_err()
                && !ident.is_empty()
                && !seq.is_empty()
                && seq.chars().all(|c| c.is_ascii_digit())
        });
        if let Some((ident, seq)) = key {
            let project = self.catalog.by_identifier(d, ident).await?.ok_or_else(|| {
                TaskerError::not_found(format!("no project with identifier {ident} in this Plane workspace; use a key as search_cards returned it"))
            })?;
            if !actor.may(&project.id) {
                return Err(TaskerError::not_granted(&project.id, &actor.granted));
            }
            let key = format!("{}-{seq}", project.identifier);
            let issue: wire::Issue = self
                .http
                .get(d, &[ITEMS, &key], &expand)
                .await
                .map_err(|e| not_found_card(e, card))?;
            let data = self.catalog.project(d, &project, false).await?;
            return Ok((data, issue));
        }
        for project_id in &actor.granted {
            let Some(project) = self.catalog.find_project(d, project_id).await? else {
                continue;
            };
            match self
                .http
                .get::<wire::Issue>(d, &["projects", &project.id, ITEMS, card], &expand)
                .await
            {
                Ok(issue) => return Ok((self.catalog.project(d, &project, false).await?, issue)),
                Err(e) if e.code == ErrorCode::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(TaskerError::not_found(format!(
            "no card {card} in the granted projects; use a key or id as search_cards returned it"
        )))
    }

    /// A work item in full.
    pub(super) async fn detail(
        &self,
        d: Instant,
        data: &ProjectData,
        issue: &wire::Issue,
    ) -> TaskerResult<CardDetail> {
        let p = data.project.id.as_str();
        let description = read_description(issue.description_html.as_deref().unwrap_or(""));
        let mut comments: Vec<wire::IssueComment> = self
            .catalog
            .all(d, &["projects", p, ITEMS, &issue.id, "comments"], &[])
            .await?;
        comments.sort_by_key(|c| wire::millis(c.created_at.as_deref()));
        let activities: Vec<wire::Activity> = self
            .catalog
            .all(d, &["projects", p, ITEMS, &issue.id, "activities"], &[])
            .await?;
        let me = self.catalog.me(d).await?;
        let mut shown = Vec::with_capacity(comments.len());
        let mut sessions = Vec::with_capacity(comments.len());
        for c in &comments {
            shown.push(self.comment(d, c).await);
            let (_, foot) = read_comment(c.comment_html.as_deref().unwrap_or(""));
            sessions.push(foot.as_deref().and_then(footer_session));
        }
        let creator = description.footer.as_deref().and_then(footer_actor);
        let created_in = description.footer.as_deref().and_then(footer_session);
        let mut history = Vec::new();
        for a in &activities {
            let field = match (a.field.as_deref(), a.verb.as_deref()) {
                (Some(f), _) if !f.is_empty() => f.to_owned(),
                (_, Some("created")) => "created".to_owned(),
                _ => continue,
            };
            let by_gateway = a.actor.as_deref() == Some(me.as_str());
            let actor = match (by_gateway, field.as_str(), &creator) {
                (true, "created", Some(c)) => c.clone(),
                (true, _, _) => GATEWAY_ACTOR.to_owned(),
                (false, _, _) => match a.actor.as_deref() {
                    Some(id) => self.catalog.user_name(d, id).await,
                    None => "Plane".to_owned(),
                },
            };
            let (old, new) = match field.as_str() {
                "created" => (None, Some(data.key(issue.sequence_id))),
                "description" => (None, None),
                _ => (a.old_value.clone(), a.new_value.clone()),
            };
            let work_session = if by_gateway && field == "created" {
                created_in.clone()
            } else {
                None
            };
            history.push(HistoryEntry {
                at: wire::millis(a.created_at.as_deref()),
                actor,
                work_session,
                field,
                old: old.filter(|v| !v.is_empty()),
                new: new.filter(|v| !v.is_empty()),
            });
        }
        // Plane's activity list leaves comments out; the port's history has them.
        history.extend(
            shown
                .iter()
                .zip(sessions)
                .map(|(c, work_session)| HistoryEntry {
                    at: c.created_at,
                    actor: c.actor.clone(),
                    work_session,
                    field: "comment".into(),
                    old: None,
                    new: Some(c.id.clone()),
                }),
        );
        history.sort_by_key(|h| h.at);
        Ok(CardDetail {
            card: data.card(issue),
            description: description.text,
            blocks: description.blocks,
            comments: shown,
            history,
        })
    }

    /// A comment as the port shows it: the footer's agent, else the Plane user.
    pub(super) async fn comment(&self, d: Instant, c: &wire::IssueComment) -> Comment {
        let (body, foot) = read_comment(c.comment_html.as_deref().unwrap_or(""));
        let by = foot.as_deref().and_then(footer_actor);
        let actor = match (by, c.actor.as_deref()) {
            (Some(by), _) => by,
            (None, Some(id)) => self.catalog.user_name(d, id).await,
            (None, None) => "Plane".to_owned(),
        };
        Comment {
            id: c.id.clone(),
            body,
            actor,
            created_at: wire::millis(c.created_at.as_deref()),
        }
    }

    /// One page of cards matching `q`.
    pub(super) async fn search(
        &self,
        d: Instant,
        actor: &Actor,
        q: &CardQuery,
    ) -> TaskerResult<CardPage> {
        check_query(q)?;
        let limit = q.limit.unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(TaskerError::invalid(
                "limit",
                "limit is 1-100 (default 25)",
                vec![],
            ));
        }
        let projects: Vec<wire::Project> = match &q.project_id {
            Some(p) => vec![self.granted_project(d, actor, p).await?],
            None => self
                .catalog
                .projects(d, false)
                .await?
                .iter()
                .filter(|p| actor.may(&p.id))
                .cloned()
                .collect(),
        };
        let (mut at, mut page, mut skip) = match q.cursor.as_deref() {
            Some(c) => parse_cursor(c)?,
            None => (0, 0, 0),
        };
        let mut cards = Vec::new();
        let mut scanned = 0;
        while let Some(project) = projects.get(at) {
            // Bounded per call across projects too: the next call goes on from here.
            if scanned >= MAX_SCAN {
                return Ok(page_of(cards, Some((at, page, skip))));
            }
            let data = self.catalog.project(d, project, false).await?;
            let filter = match Filter::new(&data, q, q.project_id.is_some()) {
                Some(f) => f?,
                None => {
                    (at, page, skip) = (at + 1, 0, 0);
                    continue;
                }
            };
            loop {
                let cursor = format!("{PER_PAGE}:{page}:0");
                let per_page = PER_PAGE.to_string();
                let got: wire::Page<wire::Issue> = self
                    .http
                    .get(
                        d,
                        &["projects", &project.id, ITEMS],
                        &[
                            ("per_page", &per_page),
                            ("cursor", &cursor),
                            ("expand", "parent"),
                        ],
                    )
                    .await?;
                scanned += 1;
                let len = got.results.len();
                for (i, issue) in got.results.iter().enumerate().skip(skip) {
                    if !filter.matches(issue) {
                        continue;
                    }
                    cards.push(data.card(issue));
                    if cards.len() == limit as usize {
                        let next = if i + 1 < len {
                            Some((at, page, i + 1))
                        } else if got.next_page_results {
                            Some((at, page + 1, 0))
                        } else {
                            (at + 1 < projects.len()).then_some((at + 1, 0, 0))
                        };
                        return Ok(page_of(cards, next));
                    }
                }
                skip = 0;
                if !got.next_page_results {
                    break;
                }
                page += 1;
                if scanned >= MAX_SCAN {
                    return Ok(page_of(cards, Some((at, page, 0))));
                }
            }
            (at, page) = (at + 1, 0);
        }
        Ok(page_of(cards, None))
    }
}

fn page_of(cards: Vec<CardSummary>, next: Option<(usize, usize, usize)>) -> CardPage {
    CardPage {
        cards,
        next_cursor: next.map(|(a, p, s)| format!("{a}.{p}.{s}")),
    }
}

fn parse_cursor(c: &str) -> TaskerResult<(usize, usize, usize)> {
    let bad = || {
        TaskerError::invalid("cursor", "cursor is not one this gateway gave; pass next_cursor back unchanged, or leave it out for the first page", vec![])
    };
    let mut parts = c.split('.').map(|p| p.parse::<usize>());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(p)), Some(Ok(s)), None) if s < PER_PAGE => Ok((a, p, s)),
        _ => Err(bad()),
    }
}

fn not_found_card(e: TaskerError, card: &str) -> TaskerError {
    if e.code == ErrorCode::NotFound {
        TaskerError::not_found(format!(
            "no card {card}; use a key or id as search_cards returned it"
        ))
    } else {
        e
    }
}

/// A search's filters, resolved in one project.
struct Filter {
    state: Option<String>,
    label: Option<String>,
    assignees: Option<Vec<String>>,
    text: Option<String>,
}

impl Filter {
    /// `None` when a name does not exist in this project (nothing can match), or an
    /// error listing the valid names when the search named this project.
    fn new(data: &ProjectData, q: &CardQuery, strict: bool) -> Option<TaskerResult<Filter>> {
        let state = match &q.state {
            Some(s) => match data.state_named(s) {
                Ok(s) => Some(s.id.clone()),
                Err(e) if strict => return Some(Err(e)),
                Err(_) => return None,
            },
            None => None,
        };
        let label = match &q.label {
            Some(l) => match data.label_ids("label", std::slice::from_ref(l)) {
                Ok(ids) => ids.into_iter().next(),
                Err(e) if strict => return Some(Err(e)),
                Err(_) => return None,
            },
            None => None,
        };
        let assignees = q.assignee.as_ref().map(|a| {
            data.members
                .iter()
                .filter(|m| m.user_id == *a || m.display_name.eq_ignore_ascii_case(a.trim()))
                .map(|m| m.user_id.clone())
                .collect::<Vec<_>>()
        });
        let text = q.text.as_ref().map(|t| t.to_lowercase());
        Some(Ok(Filter {
            state,
            label,
            assignees,
            text,
        }))
    }

    fn matches(&self, issue: &wire::Issue) -> bool {
        if self
            .state
            .as_ref()
            .is_some_and(|s| issue.state.as_ref() != Some(s))
        {
            return false;
        }
        if self
            .label
            .as_ref()
            .is_some_and(|l| !issue.labels.contains(l))
        {
            return false;
        }
        if self
            .assignees
            .as_ref()
            .is_some_and(|who| !issue.assignees.iter().any(|a| who.contains(a)))
        {
            return false;
        }
        match &self.text {
            None => true,
            Some(t) => {
                issue.name.to_lowercase().contains(t)
                    || read_description(issue.description_html.as_deref().unwrap_or(""))
                        .text
                        .to_lowercase()
                        .contains(t)
            }
        }
    }
}
