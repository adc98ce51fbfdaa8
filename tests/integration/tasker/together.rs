//! Many agents creating at once: on Postgres plain creates run in groups (group commit,
//! `writes/grouped.rs`), on SQLite one by one; either way each create gets exactly the
//! answer a lone create gets, and reading the card back gives the same card.

use std::collections::BTreeSet;

use futures::future::join_all;
use uuid::Uuid;

use super::actor;
use crate::both_engines;
use crate::helpers::{Engine, TestApp};
use agent_gateway::tasker::*;

fn plain(project: &str, name: &str) -> NewCard {
    NewCard {
        project_id: project.into(),
        name: name.into(),
        ..NewCard::default()
    }
}

async fn creates_at_once_answer_as_alone(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let web = app.project("WEB", &[]).await;
    let ops = app.project("OPS", &[]).await;
    let t = app.embedded.clone().unwrap();
    let me = Actor {
        work_session: Some(Uuid::new_v4()),
        ..actor(&[&web, &ops])
    };
    let other = actor(&[&web]);

    // Thirty creates at once over two projects and two agents, every plain field used.
    let inputs: Vec<(Actor, String, NewCard)> = (0..30)
        .map(|i| {
            let who = if i % 3 == 0 {
                other.clone()
            } else {
                me.clone()
            };
            let project = if i % 2 == 0 || i % 3 == 0 { &web } else { &ops };
            let input = NewCard {
                description: (i % 4 == 0).then(|| format!("  body {i}\n")),
                priority: (i % 5 == 0).then(|| "Urgent".into()),
                state: (i % 6 == 1).then(|| "in progress".into()),
                start_date: (i % 7 == 0).then(|| "2026-12-01".into()),
                target_date: (i % 7 == 0).then(|| "2027-01-31".into()),
                ..plain(project, &format!("  card {i} ✓ "))
            };
            (who, format!("k-{i}"), input)
        })
        .collect();
    let created = join_all(
        inputs
            .iter()
            .map(|(who, key, input)| t.create_card(who, key, input)),
    )
    .await;
    let mut keys = BTreeSet::new();
    for ((who, key, input), card) in inputs.iter().zip(created) {
        let card = card.unwrap_or_else(|e| panic!("{key}: {e:?}"));
        assert_eq!(card.card.name, input.name.trim());
        assert_eq!(
            card.description,
            input.description.clone().unwrap_or_default()
        );
        assert_eq!(card.card.project_id, input.project_id);
        assert_eq!(card.history.len(), 1);
        assert_eq!(card.history[0].new.as_deref(), Some(card.card.key.as_str()));
        assert_eq!(
            card.history[0].work_session,
            who.work_session.map(|s| s.to_string())
        );
        assert!(
            keys.insert(card.card.key.clone()),
            "{} twice",
            card.card.key
        );
        // Reading it back gives the very answer the create gave.
        assert_eq!(t.get_card(who, &card.card.key).await.unwrap(), card);
        // A retry replays it; the same key for other input is a conflict.
        assert_eq!(t.create_card(who, key, input).await.unwrap(), card);
        let changed = NewCard {
            name: "changed".into(),
            ..input.clone()
        };
        assert_eq!(
            t.create_card(who, key, &changed).await.unwrap_err().code,
            ErrorCode::Conflict
        );
    }
    // Each project's numbers run 1..=n with no number given twice.
    for (prefix, n) in [("WEB-", 20), ("OPS-", 10)] {
        let numbers: BTreeSet<u32> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(prefix)?.parse().ok())
            .collect();
        assert_eq!(numbers, (1..=n).collect(), "{prefix}");
    }

    // One key sent three times at once: one card. Grouped creates (Postgres) run one
    // agent's creates in turn, so every caller gets it; a lone create (SQLite) may instead tell
    // the later callers to retry, and the retry gets it. One key sent at once with two
    // inputs: one card, and the other caller a conflict (or a retry that is one).
    let same = plain(&web, "same");
    let twice = join_all((0..3).map(|_| t.create_card(&me, "k-twice", &same))).await;
    let first = t.create_card(&me, "k-twice", &same).await.unwrap();
    for result in &twice {
        match result {
            Ok(card) => assert_eq!(card, &first),
            Err(e) => {
                assert_eq!(engine, Engine::Sqlite, "{e:?}");
                assert_eq!(e.code, ErrorCode::Unavailable, "{e:?}");
            }
        }
    }
    let inputs = [plain(&web, "one"), plain(&web, "two")];
    let clash = join_all(
        inputs
            .iter()
            .map(|input| t.create_card(&me, "k-clash", input)),
    )
    .await;
    let won: Vec<_> = clash.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{clash:?}");
    for (input, result) in inputs.iter().zip(&clash) {
        if let Err(e) = result {
            if e.code == ErrorCode::Unavailable && engine == Engine::Sqlite {
                let retried = t.create_card(&me, "k-clash", input).await.unwrap_err();
                assert_eq!(retried.code, ErrorCode::Conflict, "{retried:?}");
            } else {
                assert_eq!(e.code, ErrorCode::Conflict, "{e:?}");
            }
        }
    }

    // A value only one create holds that the database cannot store fails that create
    // alone; its neighbours are created.
    let mut batch = vec![plain(&web, "bad\0name")];
    batch.extend((0..5).map(|i| plain(&web, &format!("neighbour {i}"))));
    let keys: Vec<String> = (0..batch.len()).map(|i| format!("k-n{i}")).collect();
    let results = join_all(
        batch
            .iter()
            .zip(&keys)
            .map(|(input, key)| t.create_card(&me, key, input)),
    )
    .await;
    for (input, result) in batch.iter().zip(&results).skip(1) {
        let card = result.as_ref().unwrap();
        assert_eq!(card.card.name, input.name);
    }
    if let Err(e) = &results[0] {
        assert_eq!(e.code, ErrorCode::ValidationFailed, "{e:?}");
    }

    // Refusals are the lone path's: an ungranted project, an unknown state.
    let e = t
        .create_card(&other, "k-x", &plain(&ops, "no"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ProjectNotGranted);
    let unknown = NewCard {
        state: Some("Nowhere".into()),
        ..plain(&web, "no")
    };
    let e = t.create_card(&me, "k-y", &unknown).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert!(e.valid.contains(&"In Progress".to_owned()), "{e:?}");
    app.stop().await;
}
both_engines!(
    creates_at_once_answer_as_alone_,
    creates_at_once_answer_as_alone
);

/// Writes cut off at any point (a client gone, a timeout) leave no pooled connection
/// stuck inside their transaction: every later write still runs.
async fn cancelled_writes_leave_the_pool_usable(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let web = app.project("WEB", &[]).await;
    let t = app.embedded.clone().unwrap();
    let me = actor(&[&web]);
    let labelled = |i: usize| NewCard {
        description: Some("x".repeat(i % 2000)),
        ..plain(&web, &format!("cut {i}"))
    };
    for i in 0..300usize {
        let input = labelled(i);
        let key = format!("k-cut-{i}");
        let cut = std::time::Duration::from_micros((i as u64 * 37) % 3_000);
        let _ = tokio::time::timeout(cut, t.create_card(&me, &key, &input)).await;
    }
    // More creates at once than the pool has connections: each must find a usable one.
    let inputs: Vec<NewCard> = (0..24)
        .map(|i| plain(&web, &format!("after {i}")))
        .collect();
    let keys: Vec<String> = (0..24).map(|i| format!("k-after-{i}")).collect();
    let after = join_all(
        inputs
            .iter()
            .zip(&keys)
            .map(|(input, key)| t.create_card(&me, key, input)),
    )
    .await;
    for (key, result) in keys.iter().zip(after) {
        result.unwrap_or_else(|e| panic!("{key}: {e:?}"));
    }
    app.stop().await;
}
both_engines!(
    cancelled_writes_leave_the_pool_usable_,
    cancelled_writes_leave_the_pool_usable
);

/// Every kind of tracker write at once, six times as many as the tracker's pool has
/// connections on SQLite: creates with labels (never grouped), comments and moves on eight
/// cards, plain creates. On SQLite each takes the file's write turn before its pooled
/// connection (`store::WriteGate`), so a writer waiting for its turn never holds the
/// connection the writer in its turn needs, and none fails waiting for one; on Postgres
/// they run side by side. Afterwards every card shows exactly the writes made to it.
async fn every_kind_of_write_at_once(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let web = app.project("WEB", &[]).await;
    let t = app.embedded.clone().unwrap();
    let me = actor(&[&web]);
    let mut cards = Vec::new();
    for i in 0..8 {
        let seed = plain(&web, &format!("seed {i}"));
        cards.push(
            t.create_card(&me, &format!("seed-{i}"), &seed)
                .await
                .unwrap(),
        );
    }
    let labelled = NewCard {
        labels: vec!["bug".into()],
        ..plain(&web, "labelled")
    };
    let plain_card = plain(&web, "plain");
    let writes = (0..48usize).map(|i| {
        let (t, me, key) = (&t, &me, format!("mixed-{i}"));
        let card = &cards[i % cards.len()].card;
        let (labelled, plain_card) = (&labelled, &plain_card);
        async move {
            let done = match i % 4 {
                0 => t
                    .create_card(me, &key, labelled)
                    .await
                    .map(|c| c.card.labels),
                1 => t
                    .add_comment(me, &key, &card.id, &format!("note {i}"))
                    .await
                    .map(|c| vec![c.body]),
                2 => t
                    .move_card(me, &key, &card.id, "In Progress")
                    .await
                    .map(|c| vec![c.card.state]),
                _ => t
                    .create_card(me, &key, plain_card)
                    .await
                    .map(|c| c.card.labels),
            };
            (i, done)
        }
    });
    for (i, done) in join_all(writes).await {
        let done = done.unwrap_or_else(|e| panic!("write {i}: {e:?}"));
        let expected: Vec<String> = match i % 4 {
            0 => vec!["bug".into()],
            1 => vec![format!("note {i}")],
            2 => vec!["In Progress".into()],
            _ => vec![],
        };
        assert_eq!(done, expected, "write {i}");
    }
    for (n, seed) in cards.iter().enumerate() {
        let card = t.get_card(&me, &seed.card.id).await.unwrap();
        let mut bodies: Vec<String> = card.comments.iter().map(|c| c.body.clone()).collect();
        bodies.sort();
        let mut expected: Vec<String> = (0..48)
            .filter(|i| i % 4 == 1 && i % 8 == n)
            .map(|i| format!("note {i}"))
            .collect();
        expected.sort();
        assert_eq!(bodies, expected, "comments on seed {n}");
        let moved = (0..48).any(|i| i % 4 == 2 && i % 8 == n);
        assert_eq!(card.card.state == "In Progress", moved, "state of seed {n}");
    }
    app.stop().await;
}
both_engines!(every_kind_of_write_at_once_, every_kind_of_write_at_once);
