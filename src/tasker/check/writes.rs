//! The checks of writes and reads over cards: valid values listed on refusal,
//! idempotent retries, history naming the agent, complete pagination.

use super::{expect_code, Kit};
use crate::tasker::*;

impl Kit {
    pub(super) async fn invalid_values_list_valid_ones(&self) -> Result<String, String> {
        let card = self.card("invalid").await?;
        let key = &card.card.key;
        let e = expect_code(
            self.client
                .move_card(&self.actor, &self.key("bad-state"), key, "No Such State")
                .await,
            ErrorCode::ValidationFailed,
        )?;
        if e.valid.is_empty() {
            return Err("an unknown state must list the valid state names".into());
        }
        let labels = vec!["no-such-label".to_owned()];
        let e2 = expect_code(
            self.client
                .set_labels(&self.actor, &self.key("bad-label"), key, &labels)
                .await,
            ErrorCode::ValidationFailed,
        )?;
        let who = vec!["no-such-member".to_owned()];
        let e3 = expect_code(
            self.client
                .assign(&self.actor, &self.key("bad-assignee"), key, &who)
                .await,
            ErrorCode::ValidationFailed,
        )?;
        let e4 = expect_code(
            self.client
                .update_card(
                    &self.actor,
                    &self.key("bad-priority"),
                    key,
                    &CardPatch {
                        priority: Some("whenever".into()),
                        ..CardPatch::default()
                    },
                )
                .await,
            ErrorCode::ValidationFailed,
        )?;
        if e4.valid.is_empty() {
            return Err("an unknown priority must list the valid priorities".into());
        }
        Ok(format!(
            "state → {} valid, label → {} valid, assignee → {} valid",
            e.valid.len(),
            e2.valid.len(),
            e3.valid.len()
        ))
    }

    pub(super) async fn idempotent_retry_returns_the_same_card(&self) -> Result<String, String> {
        let first = self.card("idem").await?;
        let again = self.card("idem").await?;
        if first.card.id != again.card.id {
            return Err(format!(
                "a retry created a second card: {} and {}",
                first.card.key, again.card.key
            ));
        }
        let changed = NewCard {
            project_id: self.target.project.clone(),
            name: "a different card".into(),
            ..NewCard::default()
        };
        expect_code(
            self.client
                .create_card(&self.actor, &self.key("idem"), &changed)
                .await,
            ErrorCode::Conflict,
        )?;
        let c1 = self
            .client
            .add_comment(
                &self.actor,
                &self.key("idem-comment"),
                &first.card.key,
                "hello",
            )
            .await
            .map_err(|e| e.to_string())?;
        let c2 = self
            .client
            .add_comment(
                &self.actor,
                &self.key("idem-comment"),
                &first.card.key,
                "hello",
            )
            .await
            .map_err(|e| e.to_string())?;
        if c1.id != c2.id {
            return Err("a retried comment was added twice".into());
        }
        Ok(format!(
            "{} returned twice; other input under the same key is a conflict",
            first.card.key
        ))
    }

    pub(super) async fn writes_are_recorded_with_the_agent(&self) -> Result<String, String> {
        let card = self.card("history").await?;
        let key = &card.card.key;
        let ctx = self
            .client
            .project_context(&self.actor, &self.target.project)
            .await
            .map_err(|e| e.to_string())?;
        let state = ctx
            .states
            .iter()
            .find(|s| !s.is_default)
            .ok_or("the project needs two states")?;
        self.client
            .move_card(&self.actor, &self.key("history-move"), key, &state.name)
            .await
            .map_err(|e| e.to_string())?;
        let after = self
            .client
            .update_block(
                &self.actor,
                &self.key("history-block"),
                key,
                "plan",
                "1. check",
            )
            .await
            .map_err(|e| e.to_string())?;
        if after.card.state != state.name {
            return Err(format!(
                "moved to {} but the card is in {}",
                state.name, after.card.state
            ));
        }
        if !after
            .blocks
            .iter()
            .any(|b| b.name == "plan" && b.content == "1. check")
        {
            return Err("the block was not stored".into());
        }
        if after.history.is_empty() {
            return Err("writes must appear in the card's history".into());
        }
        Ok(format!("{} history entries", after.history.len()))
    }

    pub(super) async fn pagination_is_complete(&self) -> Result<String, String> {
        let mut made = Vec::new();
        for i in 0..7 {
            made.push(self.card(&format!("page-{i}")).await?.card.id);
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..1000 {
            let q = CardQuery {
                project_id: Some(self.target.project.clone()),
                text: Some(self.run.clone()),
                cursor: cursor.clone(),
                limit: Some(3),
                ..CardQuery::default()
            };
            let page = self
                .client
                .search_cards(&self.actor, &q)
                .await
                .map_err(|e| e.to_string())?;
            if page.cards.len() > 3 {
                return Err(format!("a page of limit 3 had {} cards", page.cards.len()));
            }
            seen.extend(page.cards.into_iter().map(|c| c.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != seen.len() {
            return Err("a card appeared on two pages".into());
        }
        if let Some(missing) = made.iter().find(|id| !seen.contains(id)) {
            return Err(format!("card {missing} never appeared while paging"));
        }
        Ok(format!(
            "{} cards over pages of 3, none missing or repeated",
            seen.len()
        ))
    }
}
