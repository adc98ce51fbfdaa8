//! The secrets the gateway keeps in its store, made on first start: the admin token's hash
//! (when `GATEWAY_ADMIN_TOKEN` is not set, on the embedded default) and the key that
//! signs MCP session ids (shared by every replica).

use secrecy::ExposeSecret;

use super::{Announcements, StartError};
use crate::config::Config;
use crate::store::Store;
use crate::token::{Token, TokenHash, TokenKind};

/// The setting holding the generated admin token's hash.
pub(super) const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";
/// The setting holding the key that signs MCP session ids (shared by every replica).
pub(super) const SESSION_KEY_SETTING: &str = "mcp_session_key";

/// The admin token's hash: from `GATEWAY_ADMIN_TOKEN`, or generated once on the embedded
/// default and kept (hashed) in the store.
pub(super) async fn admin_credential(
    config: &Config,
    store: &dyn Store,
    announcements: &mut Announcements,
) -> Result<TokenHash, StartError> {
    if let Some(token) = &config.admin_token {
        return Ok(TokenHash::of(token.expose_secret()));
    }
    if let Some(stored) = store.setting(ADMIN_TOKEN_SETTING).await? {
        return parse_hash(&stored);
    }
    let token = Token::mint(TokenKind::Admin)?;
    let hash = token.hash();
    if store
        .init_setting(ADMIN_TOKEN_SETTING, &hash.to_hex())
        .await?
    {
        announcements.admin_token = Some(token);
        return Ok(hash);
    }
    // Another process generated one first.
    let stored = store
        .setting(ADMIN_TOKEN_SETTING)
        .await?
        .ok_or(StartError::AdminHash)?;
    parse_hash(&stored)
}

/// The key that signs MCP session ids: a random 32-byte secret kept in the store. The
/// first replica to start creates it, every replica reads the same one.
pub(super) async fn session_key(store: &dyn Store) -> Result<[u8; 32], StartError> {
    if store.setting(SESSION_KEY_SETTING).await?.is_none() {
        let fresh = Token::mint(TokenKind::Admin)?.hash();
        store
            .init_setting(SESSION_KEY_SETTING, &fresh.to_hex())
            .await?;
    }
    let stored = store
        .setting(SESSION_KEY_SETTING)
        .await?
        .ok_or(StartError::SessionKey)?;
    decode_32(&stored).ok_or(StartError::SessionKey)
}

fn parse_hash(hex_text: &str) -> Result<TokenHash, StartError> {
    decode_32(hex_text)
        .map(TokenHash)
        .ok_or(StartError::AdminHash)
}

/// 64 hex digits as 32 bytes.
fn decode_32(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}
