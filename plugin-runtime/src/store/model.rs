//! What the auth API answers with: users and API keys as clients see them, with times in RFC 3339.

use super::sql::{KeyRow, UserRow};
pub(crate) use crate::database::{now_ms, parse_rfc3339, rfc3339};
use serde::Serialize;

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id.
    pub id: String,
    /// The email they log in with.
    pub email: String,
    /// What they may do: scopes such as `items:read`, or wildcards `items:*` and `*`.
    pub scopes: Vec<String>,
    /// When the account was made, RFC 3339.
    pub created_at: String,
}

/// An API key as listed: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// The key's id, for revoking it.
    pub id: String,
    /// What the user called it.
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    /// What the key may do (never more than its owner).
    pub scopes: Vec<String>,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// When it stops working, RFC 3339; absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When it was last used, RFC 3339, to within a minute; absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

/// A key just made: its description and, this once, the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    /// The key's description.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// The secret, `plk_...`: send it as `Authorization: Bearer <key>`. Shown only now; only its
    /// hash is stored.
    pub key: String,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User {
            id: u.id,
            email: u.email,
            scopes: u.scopes,
            created_at: rfc3339(u.created_at),
        }
    }
}

impl From<KeyRow> for ApiKeyInfo {
    fn from(k: KeyRow) -> Self {
        ApiKeyInfo {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
        }
    }
}
