//! A minimal W3C WebDriver client over reqwest, driving Debian's `chromium` through
//! `chromium-driver` (headless, loopback only). `scripts/test` installs both with apt
//! when they are missing; no tool downloads a browser of its own.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

/// A running chromedriver in a process group of its own, killed on drop with every
/// browser it started (a failed test never leaves a chromium behind).
pub struct Driver {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's pid (`process_group(0)`); chromium inherits it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    for name in names {
        for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
            let p = PathBuf::from(dir).join(name);
            if p.exists() {
                return Some(p);
            }
        }
    }
    None
}

/// Where screenshots go: `$CARGO_TARGET_DIR/ui-screenshots` (or `target/…`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = PathBuf::from(target).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Driver {
    /// Starts chromedriver on a free port. `None` (with a note) when the browser is not
    /// installed and `GATEWAY_TEST_SKIP_BROWSER=1` says that is fine; otherwise a
    /// missing browser fails the test.
    pub async fn start() -> Option<Self> {
        let driver = find(&["chromedriver"]);
        let browser = find(&["chromium", "chromium-browser"]);
        let (Some(driver), Some(_)) = (driver, browser) else {
            if std::env::var("GATEWAY_TEST_SKIP_BROWSER").as_deref() == Ok("1") {
                eprintln!("browser tests skipped: chromium/chromedriver not installed");
                return None;
            }
            panic!("the browser tests need Debian's chromium and chromium-driver: run scripts/test (it installs them) or apt-get install -y chromium chromium-driver; GATEWAY_TEST_SKIP_BROWSER=1 skips them");
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let me = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(r) = me.http.get(format!("{}/status", me.base)).send().await {
                if r.status().is_success() {
                    return Some(me);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up");
    }

    /// A new headless browser window of 1280×800 with its own cookies.
    pub async fn session(&self) -> Browser {
        let binary = find(&["chromium", "chromium-browser"]).unwrap();
        let mut args = vec![
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
            "--no-first-run",
        ];
        // As root, Chromium refuses to start without this.
        if nix_is_root() {
            args.push("--no-sandbox");
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args}
        }}});
        let resp: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {resp}"))
            .to_owned();
        Browser {
            url: format!("{}/session/{id}", self.base),
            http: self.http.clone(),
        }
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// One browser window.
pub struct Browser {
    url: String,
    http: reqwest::Client,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req.send().await.unwrap().json().await.unwrap();
        if resp["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", resp["value"]);
        }
        resp["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn refresh(&self) {
        self.call(reqwest::Method::POST, "/refresh", Some(json!({})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// Clicks the element (a real click, through WebDriver). A live page may replace
    /// the element between finding and clicking it: then it is found again.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            let id = self.element(css).await;
            let resp: Value = self
                .http
                .post(format!("{}/element/{id}/click", self.url))
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match resp["value"]["error"].as_str() {
                None => return,
                Some("stale element reference") => continue,
                Some(_) => panic!("click {css}: {}", resp["value"]),
            }
        }
        panic!("click {css}: the element kept being replaced");
    }

    /// Types into the element.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.js(
            "return document.body ? document.body.innerText : ''",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether `css` matches an element now.
    pub async fn has(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        )
        .await
        .as_bool()
        .unwrap_or(false)
    }

    /// Waits (bounded poll of the DOM) until `css` matches; panics with `what` after
    /// `limit`.
    pub async fn wait_for(&self, css: &str, limit: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.has(css).await {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let text = self.text().await;
                panic!("{what}: `{css}` did not appear within {limit:?}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded poll) until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str, limit: Duration, what: &str) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let page = self.text().await;
            if page.contains(text) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{what}: `{text}` did not appear within {limit:?}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG screenshot under [`screenshot_dir`]; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap();
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Closes the window.
    pub async fn close(self) {
        let _ = self.http.delete(&self.url).send().await;
    }
}
