//! [`AuthConfig`], the settings of [`Auth`](super::Auth), and [`AuthError`], what making users
//! and keys can fail with.

use super::jwt::OAuthConfig;
use super::sql::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// Passwords longer than this are refused rather than hashed (argon2 cost grows with length).
pub(crate) const MAX_PASSWORD: usize = 1024;
pub(crate) const MIN_PASSWORD: usize = 8;

/// Settings for [`Auth`](super::Auth).
#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub(crate) https: bool,
    pub(crate) session_ttl: Duration,
    pub(crate) cache_ttl: Duration,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) oauth: Option<Arc<OAuthConfig>>,
}

impl Default for AuthConfig {
    /// Plain HTTP, sessions of 7 days, lookups cached for 10 s, no other origins, no OAuth.
    fn default() -> Self {
        AuthConfig {
            https: false,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            cache_ttl: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            oauth: None,
        }
    }
}

impl AuthConfig {
    /// The server is reached over HTTPS: the session cookie gets `Secure` and the `__Host-`
    /// prefix.
    #[must_use]
    pub fn with_https(mut self, https: bool) -> Self {
        self.https = https;
        self
    }

    /// How long a session lasts after login.
    #[must_use]
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// How long a looked-up key or session is trusted without asking the database again: the
    /// bound on how long a key revoked on another server keeps working on this one. Zero turns
    /// the cache off.
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// An origin (`https://app.example.com`) besides the server's own whose cookie-authenticated
    /// requests are accepted.
    #[must_use]
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Accepts OAuth bearer JWTs checked against `oauth`.
    #[must_use]
    pub fn with_oauth(mut self, oauth: OAuthConfig) -> Self {
        self.oauth = Some(Arc::new(oauth));
        self
    }
}

/// What can go wrong making users and keys, or reaching the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Another user has the email.
    #[error("a user with this email exists")]
    EmailTaken,
    /// The email is not an address.
    #[error("`{0}` is not an email address")]
    InvalidEmail(String),
    /// The password is too short or too long.
    #[error("a password must be {MIN_PASSWORD} to {MAX_PASSWORD} bytes")]
    InvalidPassword,
    /// A scope is malformed.
    #[error("{0}")]
    InvalidScopes(String),
    /// A key asked for scopes its owner does not hold.
    #[error("a key cannot have scopes its owner does not hold: {0}")]
    ScopesNotHeld(String),
    /// No user has the email.
    #[error("no user has the email {0}")]
    UnknownUser(String),
    /// A key's name is empty or longer than 100 characters.
    #[error("a key's name must be 1 to 100 characters")]
    InvalidName,
    /// A key's expiry is not in the future.
    #[error("a key's expiry must be in the future")]
    ExpiryInPast,
    /// A key's expiry is not an RFC 3339 time.
    #[error("`{0}` is not an RFC 3339 time such as 2030-01-31T00:00:00Z")]
    InvalidExpiry(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The auth tables could not be created or updated.
    #[error("migrating the auth tables failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Hashing a password failed.
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => AuthError::EmailTaken,
            StoreError::Database(e) => AuthError::Database(e),
        }
    }
}
