//! The store suite: the same story on both engines.
//!
//! Longer than 400 lines on purpose: it is one story per store concern (users, agents and
//! tokens, grants, audit, idempotency, settings, standing), each run on both engines
//! through the same trait object, and reads top to bottom as the `Store` contract.

use agent_gateway::store::*;
use chrono::{Duration, Utc};
use uuid::Uuid;

use crate::both_engines;
use crate::helpers::{fresh_db, fresh_store, Engine};

fn user(id: Uuid, entitled: bool) -> UserUpsert {
    UserUpsert {
        id,
        client_id: "client-1".into(),
        display_name: "Ada".into(),
        codex_agents: entitled,
        blocked: false,
    }
}

fn new_agent(owner: Uuid, name: &str) -> NewAgent {
    NewAgent {
        id: Uuid::now_v7(),
        owner_id: owner,
        name: name.into(),
        grants: vec![
            GrantRecord {
                project_id: "p1".into(),
                scopes: vec!["cards:read".into(), "cards:write".into()],
            },
            GrantRecord {
                project_id: "p2".into(),
                scopes: vec!["cards:read".into()],
            },
        ],
        rate_per_minute: Some(60),
        rate_burst: None,
        token_id: Uuid::now_v7(),
        token_hash: *Uuid::new_v4()
            .as_bytes()
            .repeat(2)
            .first_chunk::<32>()
            .unwrap(),
        token_display: "ndcag_abcd…".into(),
        created_at: Utc::now(),
    }
}

async fn migrations_are_tracked(engine: Engine) {
    let db = fresh_db(engine).await;
    let url = agent_gateway::config::Config::from_vars(
        &[
            ("GATEWAY_DATABASE_URL".to_owned(), db.url.clone()),
            ("GATEWAY_ADMIN_TOKEN".to_owned(), "x".repeat(32)),
        ]
        .into(),
        Default::default(),
    )
    .unwrap()
    .database;
    let store = connect(&url).await.unwrap();
    assert!(
        store.pending_migrations().await.unwrap() > 0,
        "a fresh database has pending migrations"
    );
    store.migrate().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    store.migrate().await.unwrap(); // idempotent
    assert_eq!(
        store.engine(),
        if engine == Engine::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
}
both_engines!(migrations_are_tracked_, migrations_are_tracked);

async fn users_upsert_and_report_their_previous_state(engine: Engine) {
    let (store, _db) = fresh_store(engine).await;
    let id = Uuid::new_v4();
    let (before, after) = store
        .upsert_user(&user(id, false), Utc::now())
        .await
        .unwrap();
    assert!(before.is_none());
    assert!(!after.codex_agents);
    let (before, after) = store
        .upsert_user(&user(id, true), Utc::now())
        .await
        .unwrap();
    assert!(!before.unwrap().codex_agents);
    assert!(after.codex_agents);
    assert_eq!(store.get_user(id).await.unwrap().unwrap(), after);
    assert_eq!(store.count_users().await.unwrap(), 1);
    store
        .record_entitlement_change(&EntitlementChange {
            at: Utc::now(),
            user_id: id,
            client_id: "client-1".into(),
            change: "granted".into(),
            source: "admin".into(),
            detail: None,
        })
        .await
        .unwrap();
}
both_engines!(
    users_upsert_and_report_their_previous_state_,
    users_upsert_and_report_their_previous_state
);

async fn agents_tokens_and_grants(engine: Engine) {
    let (store, _db) = fresh_store(engine).await;
    let owner = Uuid::new_v4();
    store
        .upsert_user(&user(owner, true), Utc::now())
        .await
        .unwrap();
    let new = new_agent(owner, "codex-1");
    let agent = store.create_agent(&new).await.unwrap();
    assert_eq!(agent.status, AgentStatus::Active);
    assert_eq!(agent.grants.len(), 2);
    assert_eq!(agent.grants[0].scopes, vec!["cards:read", "cards:write"]);
    assert_eq!(agent.rate_per_minute, Some(60));
    assert_eq!(agent.tokens.len(), 1);
    assert_eq!(agent.tokens[0].display, "ndcag_abcd…");

    // Same name for the same owner is a conflict, not a crash.
    let mut dup = new_agent(owner, "codex-1");
    dup.token_hash = [7; 32];
    assert!(matches!(
        store.create_agent(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    // An unknown owner is refused by the foreign key.
    let mut orphan = new_agent(Uuid::new_v4(), "orphan");
    orphan.token_hash = [8; 32];
    assert!(matches!(
        store.create_agent(&orphan).await,
        Err(StoreError::Conflict(_))
    ));

    let auth = store.authenticate(&new.token_hash).await.unwrap().unwrap();
    assert_eq!(auth.agent_id, agent.id);
    assert!(auth.usable());
    assert!(store.authenticate(&[0; 32]).await.unwrap().is_none());

    store
        .touch_tokens(&[(new.token_id, Utc::now())])
        .await
        .unwrap();
    assert!(store.get_agent(agent.id).await.unwrap().unwrap().tokens[0]
        .last_used_at
        .is_some());

    let other = Uuid::new_v4();
    store
        .upsert_user(&user(other, true), Utc::now())
        .await
        .unwrap();
    let mut second = new_agent(other, "codex-2");
    second.token_hash = [9; 32];
    store.create_agent(&second).await.unwrap();
    assert_eq!(store.list_agents(None).await.unwrap().len(), 2);
    let mine = store.list_agents(Some(owner)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, agent.id);

    let revoked = store
        .set_agent_status(agent.id, AgentStatus::Revoked, "test", Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.status, AgentStatus::Revoked);
    assert!(revoked.tokens[0].revoked_at.is_some());
    let auth = store.authenticate(&new.token_hash).await.unwrap().unwrap();
    assert!(auth.token_revoked && !auth.usable());
    assert!(store
        .set_agent_status(Uuid::new_v4(), AgentStatus::Revoked, "x", Utc::now())
        .await
        .unwrap()
        .is_none());

    let profile = store.agent_profile(agent.id).await.unwrap().unwrap();
    assert_eq!(profile.owner.id, owner);
}
both_engines!(agents_tokens_and_grants_, agents_tokens_and_grants);

fn audit_row(i: i64, agent: Option<Uuid>) -> AuditRow {
    AuditRow {
        work_session: None,
        at: Utc::now(),
        request_id: format!("req-{i}"),
        agent_id: agent,
        owner_id: None,
        action: "get_card".into(),
        project_id: Some("p1".into()),
        target: Some(format!("P-{i}")),
        outcome: if i % 2 == 0 {
            Outcome::Allowed
        } else {
            Outcome::Denied
        },
        reason: (i % 2 == 1).then(|| "scope".to_owned()),
        idempotency_key: None,
        latency_us: i,
    }
}

async fn audit_is_batched_paginated_and_append_only(engine: Engine) {
    let (store, db) = fresh_store(engine).await;
    let agent = Uuid::new_v4();
    let rows: Vec<AuditRow> = (0..25)
        .map(|i| audit_row(i, if i < 20 { Some(agent) } else { None }))
        .collect();
    store
        .insert_audit(&rows, Durability::Flushed)
        .await
        .unwrap();
    store
        .insert_audit(&[], Durability::Committed)
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_audit(&AuditQuery {
                agent_id: Some(agent),
                since: None,
                before,
                limit: 7,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        before = page.last().map(|e| e.id);
        seen.extend(page);
    }
    assert_eq!(seen.len(), 20, "every row of the agent, no more");
    assert_eq!(seen.last().unwrap().request_id, "req-0");
    assert_eq!(seen[0].outcome, "denied");
    assert_eq!(seen[0].reason.as_deref(), Some("scope"));

    let future = store
        .list_audit(&AuditQuery {
            agent_id: None,
            since: Some(Utc::now() + Duration::hours(1)),
            before: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(future.is_empty());

    // Append-only: the database itself refuses updates and deletes.
    let refused = match engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query("DELETE FROM audit")
                .execute(&pool)
                .await
                .is_err()
                && sqlx::query("UPDATE audit SET outcome = 'allowed'")
                    .execute(&pool)
                    .await
                    .is_err()
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query("DELETE FROM audit")
                .execute(&pool)
                .await
                .is_err()
                && sqlx::query("UPDATE audit SET outcome = 'allowed'")
                    .execute(&pool)
                    .await
                    .is_err()
        }
    };
    assert!(refused, "audit rows can be neither updated nor deleted");
}
both_engines!(
    audit_is_batched_paginated_and_append_only_,
    audit_is_batched_paginated_and_append_only
);

/// A batch as large as `GATEWAY_AUDIT_MAX_BATCH` allows (10,000 rows × 11 columns: more
/// than SQLite binds in one statement) is written whole; and a batch whose last row
/// fails leaves no row behind, however many statements it took.
async fn a_full_audit_batch_is_written_all_or_nothing(engine: Engine) {
    let (store, db) = fresh_store(engine).await;
    let count = || async {
        store
            .list_audit(&AuditQuery {
                agent_id: None,
                since: None,
                before: None,
                limit: 30_000,
            })
            .await
            .unwrap()
            .len()
    };
    let agent = Uuid::new_v4();
    let batch: Vec<AuditRow> = (0..10_000).map(|i| audit_row(i, Some(agent))).collect();
    store
        .insert_audit(&batch, Durability::Committed)
        .await
        .unwrap();
    assert_eq!(count().await, 10_000);

    // The database refuses the batch's very last row.
    let refuse_last = match engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_last BEFORE INSERT ON audit \
                 WHEN NEW.request_id = 'req-19999' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .execute(&pool)
            .await
            .map(|_| ())
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(
                "ALTER TABLE audit ADD CONSTRAINT refuse_last CHECK (request_id <> 'req-19999')",
            )
            .execute(&pool)
            .await
            .map(|_| ())
        }
    };
    refuse_last.unwrap();
    let batch: Vec<AuditRow> = (10_000..20_000)
        .map(|i| audit_row(i, Some(agent)))
        .collect();
    assert!(store
        .insert_audit(&batch, Durability::Flushed)
        .await
        .is_err());
    assert_eq!(count().await, 10_000, "a failed batch leaves no row behind");
}
both_engines!(
    a_full_audit_batch_is_written_all_or_nothing_,
    a_full_audit_batch_is_written_all_or_nothing
);

fn claim(agent: Uuid, key: &str, fp: u8, now: chrono::DateTime<Utc>) -> IdempotencyClaim {
    IdempotencyClaim {
        agent_id: agent,
        key: key.into(),
        fingerprint: [fp; 32],
        now,
        expires_at: now + Duration::hours(24),
        stale_before: now - Duration::minutes(2),
    }
}

/// Claims one key alone.
async fn begin(store: &dyn Store, claim: IdempotencyClaim) -> IdempotencyState {
    let mut states = store.idempotency_begin(&[claim]).await.unwrap();
    assert_eq!(states.len(), 1);
    states.remove(0)
}

fn settlement(agent: Uuid, key: &str, response: &str) -> Settlement {
    Settlement {
        claim: claim(agent, key, 1, Utc::now()),
        response: response.into(),
    }
}

async fn idempotency_keys_follow_stripe_semantics(engine: Engine) {
    let (store, _db) = fresh_store(engine).await;
    let agent = Uuid::new_v4();
    let now = Utc::now();
    assert_eq!(
        begin(&*store, claim(agent, "k1", 1, now)).await,
        IdempotencyState::Claimed
    );
    assert_eq!(
        begin(&*store, claim(agent, "k1", 1, now)).await,
        IdempotencyState::InFlight
    );
    assert_eq!(
        begin(&*store, claim(agent, "k1", 2, now)).await,
        IdempotencyState::Mismatch
    );
    // Keys are per agent.
    assert_eq!(
        begin(&*store, claim(Uuid::new_v4(), "k1", 2, now)).await,
        IdempotencyState::Claimed
    );
    store
        .idempotency_finish(&[settlement(agent, "k1", r#"{"ok":1}"#)])
        .await
        .unwrap();
    assert_eq!(
        begin(&*store, claim(agent, "k1", 1, now)).await,
        IdempotencyState::Replay(r#"{"ok":1}"#.into())
    );
    assert_eq!(
        begin(&*store, claim(agent, "k1", 3, now)).await,
        IdempotencyState::Mismatch
    );

    // An abandoned claim frees the key.
    assert_eq!(
        begin(&*store, claim(agent, "k2", 1, now)).await,
        IdempotencyState::Claimed
    );
    store.idempotency_abandon(agent, "k2").await.unwrap();
    assert_eq!(
        begin(&*store, claim(agent, "k2", 1, now)).await,
        IdempotencyState::Claimed
    );

    // An in-flight claim whose holder vanished is taken over after the lease — but only
    // by the same call.
    let later = now + Duration::minutes(5);
    assert_eq!(
        begin(&*store, claim(agent, "k2", 9, later)).await,
        IdempotencyState::Mismatch
    );
    assert_eq!(
        begin(&*store, claim(agent, "k2", 1, later)).await,
        IdempotencyState::Claimed
    );

    // Many claims at once (the gateway groups concurrent calls' claims): each gets what
    // it would alone, in order; a key twice in one group is claimed once, then in flight.
    let group = [
        claim(agent, "k3", 1, later),
        claim(agent, "k3", 1, later),
        claim(agent, "k1", 1, later),
        claim(agent, "k1", 4, later),
        claim(agent, "k4", 1, later),
    ];
    assert_eq!(
        store.idempotency_begin(&group).await.unwrap(),
        [
            IdempotencyState::Claimed,
            IdempotencyState::InFlight,
            IdempotencyState::Replay(r#"{"ok":1}"#.into()),
            IdempotencyState::Mismatch,
            IdempotencyState::Claimed,
        ]
    );
    store
        .idempotency_finish(&[settlement(agent, "k3", "3"), settlement(agent, "k4", "4")])
        .await
        .unwrap();
    assert_eq!(
        store.idempotency_begin(&group[..2]).await.unwrap(),
        [
            IdempotencyState::Replay("3".into()),
            IdempotencyState::Replay("3".into())
        ]
    );
    assert_eq!(
        begin(&*store, claim(agent, "k4", 1, later)).await,
        IdempotencyState::Replay("4".into())
    );

    // A settlement whose key's row is gone stores it, done, as its claim had it.
    store
        .idempotency_finish(&[settlement(agent, "k5", "5")])
        .await
        .unwrap();
    assert_eq!(
        begin(&*store, claim(agent, "k5", 1, later)).await,
        IdempotencyState::Replay("5".into())
    );

    // Expired keys may be reused with anything, and are purged.
    let much_later = now + Duration::hours(25);
    assert_eq!(
        begin(&*store, claim(agent, "k1", 7, much_later)).await,
        IdempotencyState::Claimed
    );
    assert_eq!(
        store
            .purge_idempotency(now + Duration::days(30))
            .await
            .unwrap(),
        6
    );
}
both_engines!(
    idempotency_keys_follow_stripe_semantics_,
    idempotency_keys_follow_stripe_semantics
);

async fn settings_are_set_once(engine: Engine) {
    let (store, _db) = fresh_store(engine).await;
    assert_eq!(store.setting("k").await.unwrap(), None);
    assert!(store.init_setting("k", "v1").await.unwrap());
    assert!(!store.init_setting("k", "v2").await.unwrap());
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("v1"));
}
both_engines!(settings_are_set_once_, settings_are_set_once);

/// Writes a rate the schema forbids, as a hand edit or a bug would: SQLite is told to
/// skip CHECK constraints on this connection, Postgres loses the constraint.
async fn write_bad_rate(engine: Engine, url: &str, agent: Uuid, column: &str, value: i64) {
    use sqlx::Connection;
    match engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(&format!("UPDATE agents SET {column} = $1 WHERE id = $2"))
                .bind(value)
                .bind(agent)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(&format!(
                "ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_{column}_check"
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query(&format!("UPDATE agents SET {column} = $1 WHERE id = $2"))
                .bind(i32::try_from(value).unwrap())
                .bind(agent)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A stored rate is never changed on the way out: one that cannot be a rate makes the
/// row corrupt (it used to come back as its absolute value: -5 became 5).
async fn a_rate_that_is_not_a_rate_is_a_corrupt_row(engine: Engine) {
    let (store, db) = fresh_store(engine).await;
    let owner = Uuid::new_v4();
    store
        .upsert_user(&user(owner, true), Utc::now())
        .await
        .unwrap();
    let agent = store
        .create_agent(&new_agent(owner, "codex-1"))
        .await
        .unwrap();
    assert_eq!(agent.rate_per_minute, Some(60));

    write_bad_rate(engine, &db.url, agent.id, "rate_per_minute", -5).await;
    let expect_corrupt = |result: StoreResult<_>, column: &str| match result {
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains(&agent.id.to_string()), "{message}");
            assert!(message.contains(column), "{message}");
        }
        other => panic!("expected a corrupt {column}, got {other:?}"),
    };
    expect_corrupt(
        store.get_agent(agent.id).await.map(|_| ()),
        "rate_per_minute",
    );
    expect_corrupt(store.list_agents(None).await.map(|_| ()), "rate_per_minute");
    expect_corrupt(
        store.agent_profile(agent.id).await.map(|_| ()),
        "rate_per_minute",
    );

    // Zero is no rate either (the schema says `> 0`).
    write_bad_rate(engine, &db.url, agent.id, "rate_per_minute", 0).await;
    expect_corrupt(
        store.get_agent(agent.id).await.map(|_| ()),
        "rate_per_minute",
    );

    // SQLite's INTEGER holds more than a u32; such a rate is not cut down to one.
    if engine == Engine::Sqlite {
        write_bad_rate(engine, &db.url, agent.id, "rate_per_minute", 60).await;
        write_bad_rate(engine, &db.url, agent.id, "rate_burst", 5_000_000_000).await;
        expect_corrupt(store.get_agent(agent.id).await.map(|_| ()), "rate_burst");
    }
}
both_engines!(
    a_rate_that_is_not_a_rate_is_a_corrupt_row_,
    a_rate_that_is_not_a_rate_is_a_corrupt_row
);
