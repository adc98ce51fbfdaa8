//! A card is named by its key (`WEB-12`) or by its id, and an id is never read as a key:
//! a UUID whose last group is all digits (about one in 280) looks like `IDENT-N`, and the
//! embedded tracker once looked such a card up as project `01a2…-82e5`, number
//! 837560651999, and answered that it did not exist (found by the occasional failure of
//! `together::every_kind_of_write_at_once_`).

use super::actor;
use crate::both_engines;
use crate::helpers::{Engine, TestApp};
use agent_gateway::tasker::*;

/// Whether `id`'s last group reads as a number.
fn looks_like_a_key(id: &str) -> bool {
    id.rsplit_once('-')
        .is_some_and(|(_, last)| last.chars().all(|c| c.is_ascii_digit()))
}

async fn ids_with_a_numeric_last_group_are_ids(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let web = app.project("WEB", &[]).await;
    let t = app.embedded.clone().unwrap();
    let me = actor(&[&web]);
    // Creates until one card's id ends in digits only: about 280 expected; the chance of
    // none in 20,000 is below e^-70.
    let mut found = None;
    for i in 0..20_000 {
        let card = NewCard {
            project_id: web.clone(),
            name: format!("card {i}"),
            ..NewCard::default()
        };
        let created = t.create_card(&me, &format!("k-{i}"), &card).await.unwrap();
        if looks_like_a_key(&created.card.id) {
            found = Some(created.card);
            break;
        }
    }
    let card = found.expect("a card whose id ends in digits");

    // Read, commented on and moved by its id; and still found by its key.
    assert_eq!(t.get_card(&me, &card.id).await.unwrap().card.id, card.id);
    t.add_comment(&me, "k-comment", &card.id, "found by id")
        .await
        .unwrap();
    let moved = t
        .move_card(&me, "k-move", &card.id, "In Progress")
        .await
        .unwrap();
    assert_eq!(moved.card.id, card.id);
    assert_eq!(moved.card.state, "In Progress");
    let by_key = t.get_card(&me, &card.key).await.unwrap();
    assert_eq!(by_key.card.id, card.id);
    assert_eq!(by_key.comments.len(), 1);
    app.stop().await;
}
both_engines!(
    ids_with_a_numeric_last_group_are_ids_,
    ids_with_a_numeric_last_group_are_ids
);
