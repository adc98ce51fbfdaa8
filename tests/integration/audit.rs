//! Audit batching against the real store: every caller is answered only after its own
//! row is durable, and a failing store acknowledges nobody.

use std::sync::Arc;

use agent_gateway::audit::{AuditEvent, Auditor};
use agent_gateway::store::{AuditQuery, Outcome};
use gateway_actors::WriterConfig;

use crate::both_engines;
use crate::helpers::{fresh_store, Engine};

async fn many_concurrent_writers_all_durable(engine: Engine) {
    let (store, _db) = fresh_store(engine).await;
    let auditor = Auditor::start(Arc::clone(&store), WriterConfig::default());
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (auditor, store) = (auditor.clone(), Arc::clone(&store));
        tasks.push(tokio::spawn(async move {
            let request_id = format!("req-{i}");
            auditor
                .record(AuditEvent::start(&request_id, "test").finish(Outcome::Allowed, None))
                .await
                .unwrap();
            // Acknowledged means durable: the row is readable the moment we are answered.
            let rows = store
                .list_audit(&AuditQuery {
                    agent_id: None,
                    since: None,
                    before: None,
                    limit: 500,
                })
                .await
                .unwrap();
            assert!(
                rows.iter().any(|r| r.request_id == request_id),
                "{request_id} acked before durable"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for i in 0..50 {
        auditor
            .record_later(
                AuditEvent::start(&format!("later-{i}"), "read").finish(Outcome::Allowed, None),
            )
            .await
            .unwrap();
    }
    auditor.shutdown().await; // flushes the rows that rode along
    let all = store
        .list_audit(&AuditQuery {
            agent_id: None,
            since: None,
            before: None,
            limit: 500,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 350);
}
both_engines!(
    many_concurrent_writers_all_durable_,
    many_concurrent_writers_all_durable
);

async fn a_broken_store_acknowledges_nobody(engine: Engine) {
    let (store, db) = fresh_store(engine).await;
    let auditor = Auditor::start(
        Arc::clone(&store),
        WriterConfig {
            retries: 1,
            ..WriterConfig::default()
        },
    );
    auditor
        .record(AuditEvent::start("before", "test").finish(Outcome::Allowed, None))
        .await
        .unwrap();
    // Sabotage: the audit table disappears under the running writers.
    match engine {
        Engine::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query("ALTER TABLE audit RENAME TO audit_gone")
                .execute(&pool)
                .await
                .unwrap();
        }
        Engine::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query("ALTER TABLE audit RENAME TO audit_gone")
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    let results = futures::future::join_all((0..20).map(|i| {
        auditor.record(AuditEvent::start(&format!("r{i}"), "test").finish(Outcome::Allowed, None))
    }))
    .await;
    assert!(
        results.iter().all(Result::is_err),
        "a caller was acknowledged without a durable row"
    );
}
both_engines!(
    a_broken_store_acknowledges_nobody_,
    a_broken_store_acknowledges_nobody
);
