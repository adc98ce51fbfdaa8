//! What the adapter writes into Plane's HTML fields, and how it reads them back.
//!
//! Plane keeps a work item's description and a comment as HTML (`description_html`,
//! `comment_html`). The port speaks text (Markdown). The adapter writes each line of
//! text as one `<p>`, escaped, so nothing an agent writes is ever interpreted as markup;
//! Plane's sanitiser (nh3) and lxml keep `<p>`, `<h3>` and `<hr>` as they are, though
//! lxml wraps several top-level elements in one `<div>`.
//!
//! A description holds, in order:
//! * the free description, one `<p>` per line;
//! * the structured blocks, each `<h3>Block: NAME</h3>` then its lines (Plane has no
//!   blocks; `docs/DECISIONS.md`, "Stock Plane as a backend");
//! * the attribution footer, `<p>— Created by AGENT on behalf of OWNER, via Agent
//!   Gateway</p>`, kept as written when the gateway later rewrites the description.
//!
//! A comment is its lines plus the footer `<p>— AGENT on behalf of OWNER, via Agent
//! Gateway</p>`. A work session, when the agent is in one, is named in the footer.
//!
//! Reading is lenient: HTML written by people in Plane's editor becomes its text, one
//! line per paragraph, heading, list item or `<br>`.

use crate::tasker::{Actor, Block};

const FOOTER_PREFIX: &str = "— ";
const FOOTER_SUFFIX: &str = ", via Agent Gateway";
const CREATED_BY: &str = "Created by ";
const BLOCK_HEADING: &str = "Block: ";
const SESSION_OPEN: &str = " (work session ";

/// The footer naming the agent and its owner (and work session, when one is set).
pub fn footer(actor: &Actor, created: bool) -> String {
    let by = if created { CREATED_BY } else { "" };
    let session = actor
        .work_session
        .map(|s| format!("{SESSION_OPEN}{s})"))
        .unwrap_or_default();
    format!(
        "{FOOTER_PREFIX}{by}{} on behalf of {}{session}{FOOTER_SUFFIX}",
        actor.agent_name, actor.owner_name
    )
}

/// The work session a footer names, if any.
pub fn footer_session(line: &str) -> Option<String> {
    let inner = line
        .strip_prefix(FOOTER_PREFIX)?
        .strip_suffix(FOOTER_SUFFIX)?;
    let at = inner.rfind(SESSION_OPEN)?;
    inner[at + SESSION_OPEN.len()..]
        .strip_suffix(')')
        .map(str::to_owned)
}

/// `AGENT (on behalf of OWNER)` from a footer's text, if it is one.
pub fn footer_actor(line: &str) -> Option<String> {
    let inner = line
        .strip_prefix(FOOTER_PREFIX)?
        .strip_suffix(FOOTER_SUFFIX)?;
    let inner = inner.strip_prefix(CREATED_BY).unwrap_or(inner);
    let inner = match inner.rfind(SESSION_OPEN) {
        Some(i) if inner.ends_with(')') => &inner[..i],
        _ => inner,
    };
    let (agent, owner) = inner.split_once(" on behalf of ")?;
    Some(format!("{agent} (on behalf of {owner})"))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn paragraphs(text: &str, out: &mut String) {
    for line in text.lines() {
        out.push_str("<p>");
        out.push_str(&escape(line));
        out.push_str("</p>");
    }
}

/// A description's HTML: the text, the blocks and the footer line.
pub fn description_html(text: &str, blocks: &[Block], footer: &str) -> String {
    let mut html = String::new();
    paragraphs(text, &mut html);
    for block in blocks {
        html.push_str("<h3>");
        html.push_str(&escape(&format!("{BLOCK_HEADING}{}", block.name)));
        html.push_str("</h3>");
        paragraphs(&block.content, &mut html);
    }
    html.push_str("<p>");
    html.push_str(&escape(footer));
    html.push_str("</p>");
    html
}

/// A comment's HTML: the body and the footer line.
pub fn comment_html(body: &str, footer: &str) -> String {
    let mut html = String::new();
    paragraphs(body, &mut html);
    html.push_str("<p>");
    html.push_str(&escape(footer));
    html.push_str("</p>");
    html
}

/// A description read back: its free text, its blocks and its footer line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Description {
    pub text: String,
    pub blocks: Vec<Block>,
    pub footer: Option<String>,
}

/// Reads a description written by [`description_html`] (or by a person).
pub fn read_description(html: &str) -> Description {
    let mut d = Description::default();
    let mut text: Vec<String> = Vec::new();
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for (line, heading) in lines(html) {
        if heading {
            if let Some(name) = line.strip_prefix(BLOCK_HEADING) {
                blocks.push((name.trim().to_owned(), Vec::new()));
                continue;
            }
        }
        if footer_actor(&line).is_some() {
            d.footer = Some(line);
            continue;
        }
        match blocks.last_mut() {
            Some((_, content)) => content.push(line),
            None => text.push(line),
        }
    }
    d.text = join(text);
    d.blocks = blocks
        .into_iter()
        .map(|(name, content)| Block {
            name,
            content: join(content),
        })
        .collect();
    d.blocks.sort_by(|a, b| a.name.cmp(&b.name));
    d
}

/// A comment read back: its body and, when the gateway wrote it, its footer line.
pub fn read_comment(html: &str) -> (String, Option<String>) {
    let mut body = Vec::new();
    let mut footer = None;
    for (line, _) in lines(html) {
        match footer_actor(&line) {
            Some(_) => footer = Some(line),
            None => body.push(line),
        }
    }
    (join(body), footer)
}

fn join(mut lines: Vec<String>) -> String {
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// The lines of an HTML fragment, each with whether it was a heading.
fn lines(html: &str) -> Vec<(String, bool)> {
    const BREAKS: [&str; 12] = [
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "pre",
        "blockquote",
        "div",
        "br",
    ];
    let mut out = Vec::new();
    let (mut line, mut heading, mut open) = (String::new(), false, false);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        line.push_str(&unescape(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            rest = &rest[lt..];
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if !BREAKS.contains(&name.as_str()) {
            continue;
        }
        if name == "br" || closing {
            if open || name == "br" || !line.is_empty() {
                out.push((std::mem::take(&mut line), heading));
            }
            open = name == "br" && open;
            heading = false;
        } else if name != "div" {
            if !line.trim().is_empty() {
                out.push((std::mem::take(&mut line), heading));
            }
            line.clear();
            open = true;
            heading = name.starts_with('h') && name.len() == 2;
        }
    }
    line.push_str(&unescape(rest));
    if !line.trim().is_empty() {
        out.push((line, heading));
    }
    out
}

fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|s| *s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn ada() -> Actor {
        Actor {
            agent_id: Uuid::nil(),
            agent_name: "Scout".into(),
            owner_id: Uuid::nil(),
            owner_name: "Ada <Lovelace>".into(),
            granted: vec![],
            work_session: None,
        }
    }

    #[test]
    fn a_description_round_trips_through_plane_s_div_wrapping() {
        let blocks = vec![Block {
            name: "plan".into(),
            content: "1. check <b>\n\n2. ship & tell".into(),
        }];
        let html = description_html("line one\n\nline <three>", &blocks, &footer(&ada(), true));
        let wrapped = format!("<div>{html}</div>");
        for h in [html, wrapped] {
            let d = read_description(&h);
            assert_eq!(d.text, "line one\n\nline <three>");
            assert_eq!(d.blocks, blocks);
            let f = d.footer.unwrap();
            assert_eq!(
                footer_actor(&f).unwrap(),
                "Scout (on behalf of Ada <Lovelace>)"
            );
        }
    }

    #[test]
    fn comments_and_human_html() {
        let (body, foot) = read_comment(&comment_html("hi &amp; bye", &footer(&ada(), false)));
        assert_eq!(body, "hi &amp; bye");
        let foot = foot.unwrap();
        assert_eq!(
            footer_actor(&foot).unwrap(),
            "Scout (on behalf of Ada <Lovelace>)"
        );
        assert_eq!(footer_session(&foot), None);
        let session = uuid::Uuid::new_v4();
        let mut working = ada();
        working.work_session = Some(session);
        let foot = footer(&working, true);
        assert_eq!(
            footer_actor(&foot).unwrap(),
            "Scout (on behalf of Ada <Lovelace>)"
        );
        assert_eq!(footer_session(&foot), Some(session.to_string()));
        let (body, actor) = read_comment("<p>Looks <strong>good</strong>&nbsp;to me<br>thanks</p>");
        assert_eq!(body, "Looks good\u{a0}to me\nthanks");
        assert!(actor.is_none());
        assert_eq!(read_description("plain words").text, "plain words");
    }
}
