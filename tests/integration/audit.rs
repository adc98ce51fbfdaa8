//! Audit batching against the real store: every caller is answered only after its own
//! row is durable, and a failing store acknowledges nobody.

use std::sync::Arc;

use agent_gateway::audit::{AuditEvent, Auditor};
use agent_gateway::store::{AuditQuery, Durability, Outcome};
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

/// An audit page is bounded in bytes as well as rows: rows stored before text was
/// bounded (written here straight to the store) cannot make one answer huge, and paging
/// still reaches every row.
async fn audit_pages_are_bounded_in_bytes(engine: Engine) {
    let app = crate::helpers::TestApp::spawn(engine).await;
    let huge = "r".repeat(400_000);
    let rows: Vec<_> = (0..5)
        .map(|i| {
            let mut row =
                AuditEvent::start(&format!("big-{i}"), "test").finish(Outcome::Failed, None);
            row.reason = Some(huge.clone());
            row
        })
        .collect();
    app.gateway
        .store
        .insert_audit(&rows, Durability::Flushed)
        .await
        .unwrap();
    let mut seen = 0;
    let mut before: Option<i64> = None;
    for _ in 0..10 {
        let path = match before {
            Some(b) => format!("/api/v1/admin/audit?limit=10&before={b}"),
            None => "/api/v1/admin/audit?limit=10".to_owned(),
        };
        let resp = app
            .http
            .get(app.url(&path))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(text.len() < (1 << 20) + 450_000, "{} bytes", text.len());
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        seen += page["items"].as_array().unwrap().len();
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert_eq!(seen, 5, "paging reaches every row");
    app.stop().await;
}
both_engines!(
    audit_pages_are_bounded_in_bytes_,
    audit_pages_are_bounded_in_bytes
);
