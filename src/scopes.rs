//! The scopes an agent can hold. Each MCP tool needs exactly one.

use std::collections::BTreeSet;

/// A scope: a permission an agent holds in a granted project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read projects, their context, and cards.
    CardsRead,
    /// Create cards, change their fields, move them between states.
    CardsWrite,
    /// Add comments.
    CommentsWrite,
    /// Set a card's labels.
    LabelsWrite,
    /// Assign members to a card.
    AssignWrite,
    /// Update a card's structured blocks.
    BlocksWrite,
    /// Report work sessions (reporting mode): start, update and finish them.
    SessionsWrite,
}

impl Scope {
    /// Every scope, in display order.
    pub const ALL: [Scope; 7] = [
        Scope::CardsRead,
        Scope::CardsWrite,
        Scope::CommentsWrite,
        Scope::LabelsWrite,
        Scope::AssignWrite,
        Scope::BlocksWrite,
        Scope::SessionsWrite,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::CardsRead => "cards:read",
            Scope::CardsWrite => "cards:write",
            Scope::CommentsWrite => "comments:write",
            Scope::LabelsWrite => "labels:write",
            Scope::AssignWrite => "assign:write",
            Scope::BlocksWrite => "blocks:write",
            Scope::SessionsWrite => "sessions:write",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Validates a list of scopes into a sorted, de-duplicated list of spellings.
    pub fn parse_set(raw: &[String]) -> Result<Vec<String>, String> {
        if raw.is_empty() {
            return Err(format!(
                "scopes must not be empty; valid scopes: {}",
                Self::valid_list()
            ));
        }
        let mut set = BTreeSet::new();
        for s in raw {
            let scope = Scope::parse(s.trim()).ok_or_else(|| {
                format!("unknown scope {s:?}; valid scopes: {}", Self::valid_list())
            })?;
            set.insert(scope.as_str().to_owned());
        }
        Ok(set.into_iter().collect())
    }

    fn valid_list() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}
