//! Changing work items: one `PATCH` of absolute values per port write (so a retried
//! `PATCH` changes nothing more), the port's patch as Plane's fields, and descriptions
//! rewritten with their blocks and attribution footer kept.

use reqwest::Method;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::catalog::ProjectData;
use super::client::ITEMS;
use super::text::{description_html, footer, read_description};
use super::{resolve, wire, PlaneTasker};
use crate::tasker::*;

impl PlaneTasker {
    /// `PATCH`es a work item found by `card` with what `change` makes of it.
    pub(super) async fn change<F>(
        &self,
        d: Instant,
        actor: &Actor,
        key: &str,
        card: &str,
        change: F,
    ) -> TaskerResult<CardDetail>
    where
        F: Fn(&ProjectData, &wire::Issue) -> TaskerResult<Map<String, Value>>,
    {
        check_key(key)?;
        let (mut data, issue) = self.find(d, actor, card).await?;
        let body = match change(&data, &issue) {
            Ok(b) => b,
            Err(e) if e.code == ErrorCode::ValidationFailed => {
                data = self.catalog.project(d, &data.project, true).await?;
                change(&data, &issue)?
            }
            Err(e) => return Err(e),
        };
        let path = [
            "projects",
            data.project.id.as_str(),
            ITEMS,
            issue.id.as_str(),
        ];
        let _: wire::Issue = self
            .http
            .json(d, Method::PATCH, &path, &[], Some(&Value::Object(body)))
            .await?;
        let updated: wire::Issue = self.http.get(d, &path, &[("expand", "parent")]).await?;
        self.detail(d, &data, &updated).await
    }

    /// A card patch as Plane's fields.
    pub(super) async fn patch_body(
        &self,
        d: Instant,
        actor: &Actor,
        card: &str,
        patch: &CardPatch,
    ) -> TaskerResult<Map<String, Value>> {
        if patch.is_empty() {
            return Err(TaskerError::invalid(
                "patch",
                "the patch changes nothing; give at least one field",
                vec![],
            ));
        }
        let mut body = Map::new();
        if let Some(n) = &patch.name {
            body.insert("name".into(), json!(resolve::name(n)?));
        }
        if let Some(p) = &patch.priority {
            body.insert("priority".into(), json!(resolve::priority(p)?));
        }
        for (field, value) in [
            ("start_date", &patch.start_date),
            ("target_date", &patch.target_date),
        ] {
            if let Some(v) = value {
                body.insert(field.into(), json!(resolve::date(field, v)?));
            }
        }
        if let Some(parent) = &patch.parent {
            let (data, issue) = self.find(d, actor, card).await?;
            let id = if parent.trim().is_empty() {
                None
            } else {
                Some(self.parent(d, actor, &data, parent).await?)
            };
            if id.as_deref() == Some(issue.id.as_str()) {
                return Err(TaskerError::invalid(
                    "parent",
                    "a card cannot be its own parent",
                    vec![],
                ));
            }
            body.insert("parent".into(), json!(id));
        }
        if let Some(text) = &patch.description {
            resolve::text("description", text)?;
        }
        Ok(body)
    }

    /// The description with `text` and/or one block replaced; the footer kept, or this
    /// agent's added when the description had none.
    pub(super) fn rewrite(
        actor: &Actor,
        issue: &wire::Issue,
        text: Option<&str>,
        block: Option<(&str, &str)>,
    ) -> String {
        let mut d = read_description(issue.description_html.as_deref().unwrap_or(""));
        if let Some(t) = text {
            d.text = t.to_owned();
        }
        if let Some((name, content)) = block {
            d.blocks.retain(|b| b.name != name);
            d.blocks.push(Block {
                name: name.to_owned(),
                content: content.to_owned(),
            });
            d.blocks.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let foot = d.footer.unwrap_or_else(|| footer(actor, false));
        description_html(&d.text, &d.blocks, &foot)
    }
}
