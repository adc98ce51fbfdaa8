//! Configuration and startup errors, through the real binary: each names what is wrong
//! and how to fix it.

use std::process::Command;

fn gateway(vars: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-gateway"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn every_bad_value_is_reported_at_once_and_the_process_fails() {
    let out = gateway(&[
        ("GATEWAY_BIND", "localhost"),
        ("GATEWAY_DATABASE_URL", "mysql://root:hunter2secret@db/x"),
        ("GATEWAY_ADMIN_TOKEN", "short-secret"),
        ("GATEWAY_RATE_PER_MINUTE", "-5"),
        ("GATEWAY_TASKER", "jira"),
        ("GATEWAY_PUBLIC_URL", "ftp://x"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "GATEWAY_BIND",
        "GATEWAY_DATABASE_URL",
        "GATEWAY_ADMIN_TOKEN",
        "GATEWAY_RATE_PER_MINUTE",
        "GATEWAY_TASKER",
        "GATEWAY_PUBLIC_URL",
    ] {
        assert!(stderr.contains(var), "{var} is not reported:\n{stderr}");
    }
    assert!(stderr.contains("6 problem"), "{stderr}");
    assert!(
        !stderr.contains("hunter2secret"),
        "a secret was echoed:\n{stderr}"
    );
    assert!(
        !stderr.contains("short-secret"),
        "a secret was echoed:\n{stderr}"
    );
}

#[test]
fn plane_needs_its_three_variables_and_never_echoes_the_key() {
    let out = gateway(&[("GATEWAY_TASKER", "plane")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "GATEWAY_PLANE_URL",
        "GATEWAY_PLANE_WORKSPACE",
        "GATEWAY_PLANE_API_KEY",
    ] {
        assert!(stderr.contains(var), "{var} is not reported:\n{stderr}");
    }
    let out = gateway(&[
        ("GATEWAY_TASKER", "plane"),
        ("GATEWAY_PLANE_URL", "plane.example.com"),
        ("GATEWAY_PLANE_WORKSPACE", "acme/../x"),
        ("GATEWAY_PLANE_API_KEY", "plane_api_very_secret_key"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 problem"), "{stderr}");
    assert!(stderr.contains("not a workspace slug"), "{stderr}");
    assert!(
        !stderr.contains("very_secret"),
        "the key was echoed:\n{stderr}"
    );
}

#[test]
fn postgres_without_an_admin_token_is_refused() {
    let out = gateway(&[("GATEWAY_DATABASE_URL", "postgres://u:p@127.0.0.1:1/db")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GATEWAY_ADMIN_TOKEN") && stderr.contains("required with Postgres"),
        "{stderr}"
    );
}

#[test]
fn flags_override_the_environment() {
    use agent_gateway::config::{Config, Overrides};
    let vars = [("GATEWAY_BIND".to_owned(), "not an address".to_owned())].into();
    let config = Config::from_vars(
        &vars,
        Overrides {
            bind: Some("127.0.0.1:9999".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(config.bind.port(), 9999);
    assert!(config.database.is_sqlite());
    assert_eq!(config.public_url.as_str(), "http://127.0.0.1:9999/");
}

/// `GATEWAY_ALLOWED_ORIGINS` holds each value to the `Origin` rule: exactly
/// `scheme://host[:port]`. A path, userinfo or a shorthand host is a configuration
/// error naming the value and the form to write; good values are kept normalised.
#[test]
fn allowed_origins_must_be_exact_origins() {
    use agent_gateway::config::{Config, Overrides};
    let read = |value: &str| {
        let vars = [("GATEWAY_ALLOWED_ORIGINS".to_owned(), value.to_owned())].into();
        Config::from_vars(&vars, Overrides::default())
    };
    let config = read("https://Tasker.example.com, http://127.0.0.1:3000").unwrap();
    assert_eq!(
        config.allowed_origins,
        ["https://tasker.example.com", "http://127.0.0.1:3000"]
    );
    for bad in [
        "https://tasker.example.com/",
        "https://tasker.example.com/app",
        "https://tasker.example.com?x",
        "https://admin@tasker.example.com",
        "http://127.1:3000",
        "http://2130706433",
        "https://tasker.example.com.",
        "tasker.example.com",
    ] {
        let errors = read(bad).expect_err(bad).to_string();
        assert!(
            errors.contains("GATEWAY_ALLOWED_ORIGINS")
                && errors.contains(&format!("{bad:?}"))
                && errors.contains("scheme://host[:port]"),
            "{bad}: {errors}"
        );
    }
}

/// A corrupt session key is named as the session key, with the fix (not as the admin
/// token hash, which is not involved).
#[tokio::test]
async fn a_corrupt_session_key_is_named_with_its_fix() {
    let (store, db) = crate::helpers::fresh_store(crate::helpers::Engine::Sqlite).await;
    assert!(store
        .init_setting("mcp_session_key", "not-sixty-four-hex-digits")
        .await
        .unwrap());
    drop(store);
    let out = gateway(&[
        ("GATEWAY_BIND", "127.0.0.1:0"),
        ("GATEWAY_DATABASE_URL", db.url.as_str()),
        ("GATEWAY_ADMIN_TOKEN", crate::helpers::ADMIN_TOKEN),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MCP session key") && stderr.contains("delete the `mcp_session_key`"),
        "{stderr}"
    );
    assert!(!stderr.contains("admin token"), "{stderr}");
}

/// A write's intent row skips its own wait for the disk only where a later flushed commit
/// in the same write-ahead log covers it: the embedded tracker on the gateway's Postgres.
/// SQLite, Plane and nodedc each get an intent flushed before the Tasker is called
/// (THREAT_MODEL.md, "an agent's change with no audit row").
#[test]
fn only_the_embedded_tracker_on_postgres_rides_its_commit_for_the_intent() {
    use agent_gateway::config::{Config, Overrides};
    let postgres = ("GATEWAY_DATABASE_URL", "postgres://gw@127.0.0.1/gw");
    let sqlite = ("GATEWAY_DATABASE_URL", "sqlite://data/gateway.db");
    let plane = [
        ("GATEWAY_TASKER", "plane"),
        ("GATEWAY_PLANE_URL", "https://plane.example.com"),
        ("GATEWAY_PLANE_WORKSPACE", "team"),
        ("GATEWAY_PLANE_API_KEY", "plane_api_0123456789"),
    ];
    let nodedc = [
        ("GATEWAY_TASKER", "nodedc"),
        ("GATEWAY_TASKER_URL", "http://127.0.0.1:7000"),
        (
            "GATEWAY_TASKER_TOKEN",
            "an-internal-service-token-0123456789",
        ),
    ];
    let embedded = [("GATEWAY_TASKER", "embedded")];
    type Var = (&'static str, &'static str);
    let cases: [(&[Var], Var, bool); 6] = [
        (&embedded, postgres, true),
        (&[], postgres, true),
        (&embedded, sqlite, false),
        (&plane, postgres, false),
        (&nodedc, postgres, false),
        (&plane, sqlite, false),
    ];
    for (tasker, database, expected) in cases {
        let vars = tasker
            .iter()
            .chain([&database])
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let config = Config::from_vars(&vars, Overrides::default())
            .unwrap_or_else(|e| panic!("{tasker:?} {database:?}: {e}"));
        assert_eq!(
            config.tasker_commit_flushes_intents(),
            expected,
            "{tasker:?} on {database:?}"
        );
    }
}

/// The audit log's writer actors: one on SQLite, which takes one writer at a time (two
/// only alternated, and each batch found the other's pages gone from its connection's
/// cache), two on Postgres, which inserts batches side by side; the variable overrides.
#[test]
fn audit_writers_default_by_engine_and_yield_to_the_variable() {
    use agent_gateway::config::{Config, Overrides};
    let writers = |vars: &[(&str, &str)]| {
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(&vars, Overrides::default())
            .unwrap()
            .audit_writers
    };
    let sqlite = ("GATEWAY_DATABASE_URL", "sqlite://data/gateway.db");
    let postgres = ("GATEWAY_DATABASE_URL", "postgres://gw@127.0.0.1/gw");
    assert_eq!(writers(&[sqlite]), 1);
    assert_eq!(writers(&[]), 1, "the embedded default is SQLite");
    assert_eq!(writers(&[postgres]), 2);
    assert_eq!(writers(&[sqlite, ("GATEWAY_AUDIT_WRITERS", "3")]), 3);
    assert_eq!(writers(&[postgres, ("GATEWAY_AUDIT_WRITERS", "1")]), 1);
}
