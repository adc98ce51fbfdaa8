//! `GET /healthz` (the process answers) and `GET /readyz` (store reachable, migrations
//! current, actor runtime alive; 503 otherwise).
//!
//! Both are unauthenticated, so `/readyz` names which check failed with a fixed word or
//! two, never a cause's text (a database error can carry host names, paths or SQL): the
//! cause is logged.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::http::extract::Json;

/// Liveness: the process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: every dependency a request needs is in order.
pub async fn readyz(State(gw): State<Gateway>) -> (StatusCode, Json<Value>) {
    let store = match gw.store.ping().await {
        Ok(()) => Ok("reachable".to_owned()),
        Err(e) => {
            tracing::warn!(cause = %e, "readiness: the store is unreachable");
            Err("unreachable".to_owned())
        }
    };
    let migrations = match gw.store.pending_migrations().await {
        Ok(0) => Ok("current".to_owned()),
        Ok(n) => Err(format!("{n} pending; run `agent-gateway migrate`")),
        Err(e) => {
            tracing::warn!(cause = %e, "readiness: the migration state could not be read");
            Err("unknown".to_owned())
        }
    };
    let runtime = if gw.supervisor.is_alive() {
        Ok(format!("alive ({} agent actors)", gw.supervisor.running()))
    } else {
        Err("shutting down".to_owned())
    };
    let ready = store.is_ok() && migrations.is_ok() && runtime.is_ok();
    let show = |r: Result<String, String>| r.unwrap_or_else(|e| e);
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "engine": gw.store.engine(),
        "checks": {"store": show(store), "migrations": show(migrations), "runtime": show(runtime)},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
