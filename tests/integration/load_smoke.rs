//! The load harness (`load/`, `agent-gateway-load`) against a real gateway on SQLite:
//! a short run with three agents sends requests, every one succeeds, and every
//! operation of the mix is timed.

use std::time::Duration;

use agent_gateway_load::{run, Config};

use crate::helpers::{Engine, TestApp, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_for_two_seconds() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    app.project("LOAD", &[]).await;
    let report = run(Config {
        url: app.base.clone(),
        admin_token: ADMIN_TOKEN.into(),
        agents: 3,
        duration: Duration::from_secs(2),
        max_requests: 100_000,
        writes_percent: 30,
        project: Some("LOAD".into()),
        agent_rate: 1_000_000,
    })
    .await
    .unwrap();
    println!("{report}");

    assert!(report.total_requests > 0, "{report}");
    assert_eq!(report.total_errors, 0, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    for op in [
        "initialize",
        "notifications/initialized",
        "tools/list",
        "list_projects",
        "search_cards",
        "create_card",
    ] {
        let stats = report
            .op(op)
            .unwrap_or_else(|| panic!("{op} was not timed: {report}"));
        assert!(stats.count > 0, "{op}: {report}");
        assert!(stats.max_ms > 0.0 && stats.p50_ms <= stats.max_ms, "{op}");
    }
    assert_eq!(report.op("initialize").unwrap().count, 3);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["total_requests"], report.total_requests);

    // The budget bounds the run as well as the clock.
    let bounded = run(Config {
        url: app.base.clone(),
        admin_token: ADMIN_TOKEN.into(),
        agents: 2,
        duration: Duration::from_secs(30),
        max_requests: 20,
        writes_percent: 0,
        project: None,
        agent_rate: 1_000_000,
    })
    .await
    .unwrap();
    assert_eq!(bounded.total_requests, 20, "{bounded}");
    assert_eq!(bounded.total_errors, 0, "{bounded}");
    assert!(bounded.op("create_card").is_none());

    // Not loopback: refused before anything is sent.
    let refused = run(Config {
        url: "http://192.0.2.1:8080".into(),
        admin_token: ADMIN_TOKEN.into(),
        agents: 1,
        duration: Duration::from_secs(1),
        max_requests: 1,
        writes_percent: 0,
        project: None,
        agent_rate: 1_000_000,
    })
    .await;
    assert!(refused.is_err());
    app.stop().await;
}
