//! Opaque bearer tokens: minting, format checks and hashing.
//!
//! A token is `<prefix>_<body>`, where the body is the base58 encoding of 32 bytes from
//! the OS CSPRNG followed by the big-endian CRC-32 of those bytes. The prefix
//! (`ndcag_` for agents, `ndcadm_` for the admin, `ndcown_` for owner sessions) lets
//! secret scanners recognise a leaked token; the checksum lets the gateway and the
//! scanners reject a mistyped or truncated token without a database lookup.
//!
//! At rest only the SHA-256 of the whole token string is stored. A plain (unkeyed) hash
//! is enough because the secret has 256 bits of entropy: there is nothing to brute-force,
//! and unlike a keyed hash it needs no extra secret shared between replicas. Hashes are
//! compared in constant time. The token itself is returned once, at creation, and never
//! logged: [`Token`] has no `Display` and its `Debug` shows only [`Token::display`].

use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Random bytes in a token.
const SECRET_LEN: usize = 32;

/// The kinds of token the gateway issues, each with its own recognisable prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An agent's MCP token.
    Agent,
    /// The gateway administrator's token.
    Admin,
    /// An owner's self-service session token.
    Owner,
}

impl TokenKind {
    /// The prefix, underscore included.
    pub const fn prefix(self) -> &'static str {
        match self {
            TokenKind::Agent => "ndcag_",
            TokenKind::Admin => "ndcadm_",
            TokenKind::Owner => "ndcown_",
        }
    }
}

/// Why a presented token was refused before any lookup.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// The prefix is missing or names another kind of token.
    #[error("the token does not have the expected prefix")]
    Prefix,
    /// The body is not base58, or has the wrong length.
    #[error("the token is malformed")]
    Malformed,
    /// The checksum does not match: a typo or a truncated copy.
    #[error("the token's checksum does not match")]
    Checksum,
    /// The OS random source failed.
    #[error("the system random source failed")]
    Random,
}

/// A freshly minted token. Shown once to its owner, then only its hash is kept.
pub struct Token {
    secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Token").field(&self.display()).finish()
    }
}

impl Token {
    /// Mints a token of `kind` from the OS CSPRNG.
    pub fn mint(kind: TokenKind) -> Result<Self, TokenError> {
        let mut bytes = [0u8; SECRET_LEN + 4];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes[..SECRET_LEN])
            .map_err(|_| TokenError::Random)?;
        let crc = crc32fast::hash(&bytes[..SECRET_LEN]);
        bytes[SECRET_LEN..].copy_from_slice(&crc.to_be_bytes());
        Ok(Self {
            secret: format!("{}{}", kind.prefix(), bs58::encode(bytes).into_string()),
        })
    }

    /// The whole token: to hand to its owner once, never to a log.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    /// The SHA-256 stored at rest.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }

    /// A short, safe-to-show form: the prefix and the first four body characters.
    pub fn display(&self) -> String {
        display_of(&self.secret)
    }
}

/// The display form of a token string: prefix plus four characters and an ellipsis.
pub fn display_of(token: &str) -> String {
    let cut = token
        .char_indices()
        .nth(token.find('_').map_or(0, |i| i + 5))
        .map_or(token.len(), |(i, _)| i);
    format!("{}…", &token[..cut])
}

/// The SHA-256 of a token string.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

impl TokenHash {
    /// Hashes any string (a presented token, or a configured admin token).
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }

    /// Lowercase hex, for storing in a text setting.
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

/// Checks a presented token's prefix, shape and checksum, and returns its hash for the
/// lookup. A token that fails here never reaches the store.
pub fn verify_format(kind: TokenKind, presented: &str) -> Result<TokenHash, TokenError> {
    let body = presented
        .strip_prefix(kind.prefix())
        .ok_or(TokenError::Prefix)?;
    let mut bytes = [0u8; SECRET_LEN + 4];
    let len = bs58::decode(body)
        .onto(&mut bytes[..])
        .map_err(|_| TokenError::Malformed)?;
    if len != bytes.len() {
        return Err(TokenError::Malformed);
    }
    let crc = u32::from_be_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]);
    if crc32fast::hash(&bytes[..SECRET_LEN]) != crc {
        return Err(TokenError::Checksum);
    }
    Ok(TokenHash::of(presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_are_unique() {
        let a = Token::mint(TokenKind::Agent).unwrap();
        let b = Token::mint(TokenKind::Agent).unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("ndcag_"));
        assert_eq!(
            verify_format(TokenKind::Agent, a.expose()).unwrap(),
            a.hash()
        );
    }

    #[test]
    fn wrong_prefix_is_refused() {
        let admin = Token::mint(TokenKind::Admin).unwrap();
        assert_eq!(
            verify_format(TokenKind::Agent, admin.expose()),
            Err(TokenError::Prefix)
        );
    }

    #[test]
    fn a_single_typo_fails_the_checksum() {
        let token = Token::mint(TokenKind::Agent).unwrap();
        let s = token.expose();
        let i = s.len() - 10;
        let c = s.as_bytes()[i];
        let replacement = if c == b'2' { '3' } else { '2' };
        let typo = format!("{}{}{}", &s[..i], replacement, &s[i + 1..]);
        let err = verify_format(TokenKind::Agent, &typo).unwrap_err();
        assert!(
            matches!(err, TokenError::Checksum | TokenError::Malformed),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_and_garbage_tokens_are_malformed() {
        let token = Token::mint(TokenKind::Agent).unwrap();
        let s = token.expose();
        assert_eq!(
            verify_format(TokenKind::Agent, &s[..s.len() - 3]),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify_format(TokenKind::Agent, "ndcag_0OIl"),
            Err(TokenError::Malformed)
        );
        assert_eq!(verify_format(TokenKind::Agent, ""), Err(TokenError::Prefix));
    }

    #[test]
    fn hash_is_sha256_of_the_whole_token_and_compares_in_constant_time() {
        let token = Token::mint(TokenKind::Agent).unwrap();
        let expected: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
        assert_eq!(token.hash().0, expected);
        assert!(token.hash().matches(&expected));
        assert!(!token.hash().matches(&[0u8; 32]));
        assert!(!token.hash().matches(&expected[..31]));
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let token = Token::mint(TokenKind::Agent).unwrap();
        let debug = format!("{token:?}");
        assert!(!debug.contains(token.expose()));
        assert!(token.display().starts_with("ndcag_"));
        assert_eq!(token.display().chars().count(), "ndcag_".len() + 4 + 1);
    }
}
