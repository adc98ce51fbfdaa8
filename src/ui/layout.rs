//! The page shell, the security headers every page carries, and the one reusable round
//! toggle.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// The Content-Security-Policy of every page: nothing but this origin, no inline script.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; \
     base-uri 'none'; object-src 'none'";

/// htmx's settings: no inline indicator style (the CSP forbids it), and error answers
/// are swapped in like any other, so the page shows what went wrong.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true}]}"#;

/// A rendered page (or fragment) with the headers every `/ui` answer carries.
#[derive(Debug)]
pub struct Page(pub Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = axum::response::Html(self.0.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // `same-origin`, not `no-referrer`: with the latter a browser sends `Origin: null`
        // on a form post, which the CSRF check must refuse.
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        // A token shown once must not come back from the cache or the back button.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
        response
    }
}

/// Who the page is for, shown in the header with a sign-out button.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// "Gateway admin" or the owner's name.
    pub who: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// The active navigation entry.
    pub active: &'a str,
    /// Whether to show the admin navigation.
    pub admin: bool,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="htmx-config" content=(HTMX_CONFIG);
            title { (title) " · NODE.DC Agent Gateway" }
            link rel="stylesheet" href="/ui/assets/app.css";
            script src="/ui/assets/htmx.min.js" defer {}
            script src="/ui/assets/sse.min.js" defer {}
            script src="/ui/assets/app.js" defer {}
        }
    }
}

/// A signed-in page: header with navigation and sign-out, then `body`.
pub fn shell(title: &str, header: &Header<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.topbar {
                    a.brand href=(if header.admin { "/ui/admin" } else { "/ui/agents" }) {
                        span.logo aria-hidden="true" { "◐" } " NODE.DC Agent Gateway"
                    }
                    @if header.admin {
                        nav aria-label="Admin pages" {
                            a href="/ui/admin" aria-current=[(header.active == "admin").then_some("page")] { "Live status" }
                            a href="/ui/admin/audit" aria-current=[(header.active == "audit").then_some("page")] { "Audit log" }
                        }
                    }
                    span.spacer {}
                    span.who { (header.who) }
                    form method="post" action="/ui/sign-out" {
                        input type="hidden" name="csrf" value=(header.csrf);
                        button.ghost type="submit" { "Sign out" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page without a session (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.topbar {
                    span.brand { span.logo aria-hidden="true" { "◐" } " NODE.DC Agent Gateway" }
                }
                main.narrow { (body) }
            }
        }
    }
}

/// What a toggle asks when flipped: an htmx GET of `url` with `vals` (JSON) into
/// `target`.
#[derive(Debug, Clone, Copy)]
pub struct OnFlip<'a> {
    /// The URL asked.
    pub url: &'a str,
    /// Extra values, as a JSON object.
    pub vals: &'a str,
    /// Where the answer goes (a CSS selector).
    pub target: &'a str,
}

/// The round toggle: a real checkbox (keyboard, screen readers) drawn as a switch.
/// `label` is its accessible name; checked, it sends `name=true`.
pub fn toggle(name: &str, label: &str, on: bool, flip: Option<OnFlip<'_>>) -> Markup {
    html! {
        label.toggle {
            @match flip {
                Some(f) => {
                    input type="checkbox" role="switch" name=(name) value="true" aria-label=(label) checked[on]
                        hx-get=(f.url) hx-trigger="change" hx-target=(f.target) hx-vals=(f.vals);
                }
                None => {
                    input type="checkbox" role="switch" name=(name) value="true" aria-label=(label) checked[on];
                }
            }
            span.track aria-hidden="true" { span.knob {} }
        }
    }
}
