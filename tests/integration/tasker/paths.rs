//! Ids never become other paths: the nodedc client checks every card, project and
//! block id against the contract's format before it builds a URL, and percent-encodes
//! each segment with the `url` crate. Run against the reference server (the embedded
//! tracker served over the contract), watched by a layer that records every path the
//! server is asked for.

use std::sync::{Arc, Mutex};

use agent_gateway::tasker::http::{router, ContractState};
use agent_gateway::tasker::nodedc::NodedcTasker;
use agent_gateway::tasker::*;
use agent_gateway::token::TokenHash;
use secrecy::SecretString;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{actor, SERVICE_TOKEN};
use crate::both_engines;
use crate::helpers::{Engine, TestApp};

/// The contract served for a test app's embedded tracker, with every request's method
/// and raw path recorded; stopped (connections closed) by [`Observed::stop`].
pub(super) struct Observed {
    pub(super) url: url::Url,
    pub(super) seen: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Observed {
    pub(super) async fn serve(app: &TestApp) -> Observed {
        let tasker: Arc<dyn Tasker> = Arc::new(app.embedded.clone().unwrap());
        let state = ContractState {
            tasker,
            token: TokenHash::of(SERVICE_TOKEN),
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let observed = router(state).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let line = format!("{} {}", req.method(), req.uri().path());
                record.lock().unwrap().push(line);
                next.run(req)
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, observed)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Observed {
            url,
            seen,
            stop: Some(stop),
            task,
        }
    }

    /// Stops serving: the port refuses connections afterwards.
    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn ids_never_become_other_paths(engine: Engine) {
    let app = TestApp::spawn(engine).await;
    let project = app.project("WEB", &[]).await;
    let server = Observed::serve(&app).await;
    let client = NodedcTasker::new(
        &server.url,
        SecretString::from(SERVICE_TOKEN),
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let me = actor(&[&project]);
    let input = NewCard {
        project_id: project.clone(),
        name: "Fix login".into(),
        ..NewCard::default()
    };
    let card = client.create_card(&me, "k-1", &input).await.unwrap();
    let key = card.card.key.clone();
    server.take();

    let long = "A".repeat(65);
    let bad_ids = [
        "..",
        ".",
        "%2F",
        "/",
        "?",
        "#",
        "",
        " ",
        "a/b",
        "WEB-1/..",
        "WEB-1?x=1",
        "WEB-1#x",
        "%2e%2e",
        "WEB 1",
        &long,
    ];
    let member = NewMember {
        user_id: Uuid::new_v4().to_string(),
        role: 15,
    };
    for bad in bad_ids {
        let labels = vec!["bug".to_owned()];
        let results = [
            client.get_card(&me, bad).await.err(),
            client
                .update_card(&me, "k-2", bad, &CardPatch::default())
                .await
                .err(),
            client.move_card(&me, "k-3", bad, "Done").await.err(),
            client.add_comment(&me, "k-4", bad, "hi").await.err(),
            client.set_labels(&me, "k-5", bad, &labels).await.err(),
            client.assign(&me, "k-6", bad, &labels).await.err(),
            client
                .update_block(&me, "k-7", bad, "plan", "x")
                .await
                .err(),
            client.project_context(&me, bad).await.err(),
            client.add_member(&me, "k-8", bad, &member).await.err(),
        ];
        for (i, error) in results.into_iter().enumerate() {
            let error = error.unwrap_or_else(|| panic!("{bad:?} (call {i}) was accepted"));
            assert_eq!(
                error.code,
                ErrorCode::ValidationFailed,
                "{bad:?} (call {i})"
            );
            assert!(
                error.message.contains("letters, digits, '-' or '_'"),
                "{bad:?}: {}",
                error.message
            );
        }
        assert_eq!(
            server.take(),
            Vec::<String>::new(),
            "{bad:?} reached the server"
        );
    }
    for bad_block in ["..", ".", "a/b", "a\\b", "", "a\u{0}"] {
        let error = client
            .update_block(&me, "k-9", &key, bad_block, "x")
            .await
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::ValidationFailed, "{bad_block:?}");
        assert_eq!(server.take(), Vec::<String>::new(), "{bad_block:?}");
    }

    // What is allowed is one segment, percent-encoded, and arrives intact.
    let odd = "a b?#%2F;";
    let stored = client
        .update_block(&me, "k-10", &key, odd, "1. check")
        .await
        .unwrap();
    assert!(
        stored.blocks.iter().any(|b| b.name == odd),
        "{:?}",
        stored.blocks
    );
    assert_eq!(
        server.take(),
        [format!(
            "PUT /api/internal/nodedc/agent/cards/{key}/blocks/a%20b%3F%23%252F;"
        )]
    );
    server.stop().await;
    app.stop().await;
}
both_engines!(ids_never_become_other_paths_, ids_never_become_other_paths);
