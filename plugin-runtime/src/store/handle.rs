//! [`Auth`]: the handle the server and the command line share. It makes users and keys, logs
//! people in and out, and resolves a credential to a [`Principal`] (through the cache).

use super::cache::{Cache, Entry};
use super::config::{AuthConfig, AuthError, MAX_PASSWORD, MIN_PASSWORD};
use super::model::{ApiKeyInfo, CreatedApiKey, User, now_ms, parse_rfc3339};
use super::sql::Store;
use super::{scope, secret};
use crate::declare::{LimitKey, RateLimit};
use crate::policy::{LimitStore, Who};
use crate::request::Principal;
use sqlx::AnyPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A key's last-used time is written at most this often (ms), not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Authentication for a server: the store of users, sessions and keys, the lookup cache, and the
/// OAuth verifier. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct Auth {
    inner: Arc<Inner>,
    /// Where failed logins are counted per email: the server's limit store once mounted.
    limits: LimitStore,
}

/// How many failed logins an email may have: 5 in 15 minutes, then one more every 3 minutes.
/// Past it, logins to that email are refused with 429 without checking the password. Counted
/// in the server's limit store, so across every server that shares one.
pub const LOGIN_FAILURES_PER_EMAIL: RateLimit = RateLimit {
    name: "login-failures",
    quota: 5,
    window_secs: 15 * 60,
    burst: 5,
    key: LimitKey::Caller,
};

const LOGIN_SCOPE: &str = "login-email";

/// What a login attempt came to.
pub(crate) enum Login {
    /// A new session (its id) for the user.
    Admitted(String, User),
    /// The email or the password is wrong.
    Refused,
    /// Too many failures for the email: retry in so many seconds.
    Blocked(u64),
}

#[derive(Debug)]
struct Inner {
    store: Store,
    cache: Cache,
    config: AuthConfig,
    /// Logins since start; every [`SWEEP_EVERY`]th one also deletes expired sessions.
    logins: AtomicU64,
    /// How the last readiness check found the database (0: serving; else the failure's kind):
    /// a failure is logged as a warning when it begins or changes, not at every probe.
    failing: std::sync::atomic::AtomicU8,
}

/// How many logins apart expired sessions are swept from the store (and once at start), so the
/// table does not grow without bound. An expired session is refused whether or not it is swept.
const SWEEP_EVERY: u64 = 64;

fn normalize_email(email: &str) -> Result<String, AuthError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(AuthError::InvalidEmail(email.to_owned()))
    }
}

fn check_grants(scopes: &[String]) -> Result<(), AuthError> {
    match scopes.iter().find(|s| !scope::is_valid_grant(s)) {
        Some(bad) => Err(AuthError::InvalidScopes(format!(
            "malformed scope `{bad}`: expected e.g. `items:read`, `items:*` or `*`"
        ))),
        None => Ok(()),
    }
}

impl Auth {
    /// Creates (or updates) the auth tables in `pool`'s database and returns the handle.
    ///
    /// # Errors
    /// If the migrations fail.
    pub async fn open(pool: AnyPool, config: AuthConfig) -> Result<Self, AuthError> {
        let store = Store::open(pool).await?;
        store.delete_expired_sessions(now_ms()).await?;
        let cache = Cache::new(config.cache_ttl);
        Ok(Auth {
            inner: Arc::new(Inner {
                store,
                cache,
                config,
                logins: AtomicU64::new(0),
                failing: std::sync::atomic::AtomicU8::new(0),
            }),
            limits: LimitStore::memory(),
        })
    }

    /// This handle, counting failed logins in `store`.
    pub(crate) fn counting_in(mut self, store: &LimitStore) -> Self {
        self.limits = store.clone();
        self
    }

    /// Whether the store's database answers, and on PostgreSQL takes writes: for the readiness
    /// route. The error is logged, as a warning when the database begins to fail and at debug
    /// level at each probe after; the route shows only whether it does not answer, refuses
    /// connections or takes no writes (its answer is public: no address, no server's words).
    pub(crate) async fn database_answers(&self) -> Result<(), String> {
        use std::sync::atomic::Ordering::Relaxed;
        let (kind, said, error) = match self.inner.store.ping().await {
            Ok(super::sql::Health::Serving) => {
                self.inner.failing.store(0, Relaxed);
                return Ok(());
            }
            Ok(super::sql::Health::ReadOnly) => (
                1,
                "the database takes no writes",
                "a standby, or read-only sessions".to_owned(),
            ),
            Err(e @ sqlx::Error::Database(_)) => (
                2,
                "the database refuses the server's requests",
                e.to_string(),
            ),
            Err(e) => (3, "the database does not answer", e.to_string()),
        };
        if self.inner.failing.swap(kind, Relaxed) == kind {
            tracing::debug!(error, "the credential store's database: {said}");
        } else {
            tracing::warn!(error, "the credential store's database: {said}");
        }
        Err(said.to_owned())
    }

    pub(crate) fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// How long a lookup is trusted without asking the database (the revocation bound across
    /// servers).
    pub fn cache_ttl(&self) -> Duration {
        self.inner.cache.ttl()
    }

    /// Makes a user with an argon2id hash of `password`.
    ///
    /// # Errors
    /// A malformed email or scope, a password outside 8–1024 bytes, an email in use, or a
    /// database failure.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        scopes: &[String],
    ) -> Result<User, AuthError> {
        let email = normalize_email(email)?;
        if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.len()) {
            return Err(AuthError::InvalidPassword);
        }
        check_grants(scopes)?;
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let id = secret::new_id("usr_");
        let row = self
            .inner
            .store
            .create_user(&id, &email, &hash, scopes, now_ms())
            .await?;
        Ok(row.into())
    }

    /// The user with `email`, if any.
    ///
    /// # Errors
    /// A database failure.
    pub async fn user(&self, email: &str) -> Result<Option<User>, AuthError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .store
            .user_by_email(&email)
            .await?
            .map(|(u, _)| u.into()))
    }

    /// Replaces the scopes of the user with `email`. Their keys are narrowed to match on the
    /// next lookup (within [`Auth::cache_ttl`] where a lookup is cached).
    ///
    /// # Errors
    /// A malformed scope, an unknown user, or a database failure.
    pub async fn set_user_scopes(&self, email: &str, scopes: &[String]) -> Result<User, AuthError> {
        check_grants(scopes)?;
        let email = normalize_email(email)?;
        self.inner
            .store
            .set_scopes(&email, scopes)
            .await?
            .map(Into::into)
            .ok_or(AuthError::UnknownUser(email))
    }

    /// Makes an API key for the user with `email` (the command line's way in).
    ///
    /// # Errors
    /// An unknown user, scopes the user does not hold, a bad name or expiry, or a database
    /// failure.
    pub async fn create_api_key(
        &self,
        email: &str,
        name: &str,
        scopes: &[String],
        expires_at: Option<&str>,
    ) -> Result<CreatedApiKey, AuthError> {
        let user = self
            .user(email)
            .await?
            .ok_or_else(|| AuthError::UnknownUser(email.to_owned()))?;
        let expires_at = match expires_at {
            Some(s) => {
                Some(parse_rfc3339(s).ok_or_else(|| AuthError::InvalidExpiry(s.to_owned()))?)
            }
            None => None,
        };
        self.create_key_for(&user.id, &user.scopes, name, scopes, expires_at)
            .await
    }

    pub(crate) async fn create_key_for(
        &self,
        user_id: &str,
        held: &[String],
        name: &str,
        scopes: &[String],
        expires_at: Option<i64>,
    ) -> Result<CreatedApiKey, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::InvalidName);
        }
        check_grants(scopes)?;
        if !scope::grants_within(scopes, held) {
            let extra: Vec<&str> = scopes
                .iter()
                .filter(|s| !scope::grants_within(std::slice::from_ref(s), held))
                .map(String::as_str)
                .collect();
            return Err(AuthError::ScopesNotHeld(extra.join(", ")));
        }
        let now = now_ms();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::ExpiryInPast);
        }
        let key = secret::new_api_key();
        let row = self
            .inner
            .store
            .create_key(
                &secret::new_id("key_"),
                user_id,
                name,
                &secret::digest_hex(&key),
                secret::key_prefix(&key),
                scopes,
                now,
                expires_at,
            )
            .await?;
        Ok(CreatedApiKey {
            info: row.into(),
            key,
        })
    }

    pub(crate) async fn list_keys(&self, user_id: &str) -> Result<Vec<ApiKeyInfo>, AuthError> {
        Ok(self
            .inner
            .store
            .list_keys(user_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes the user's key; `false` if they have no such active key. Evicted from this
    /// server's cache at once; other servers stop accepting it within [`Auth::cache_ttl`].
    pub(crate) async fn revoke_key(&self, user_id: &str, id: &str) -> Result<bool, AuthError> {
        let revoked = self.inner.store.revoke_key(user_id, id, now_ms()).await;
        // A revocation given up (no answer within the statement's bound) may still have been
        // made: this server no longer trusts its cached entry, and asks the database again.
        if revoked.is_err() {
            self.inner.cache.evict_key(id);
        }
        match revoked? {
            Some(hash_hex) => {
                if let Ok(bytes) = hex::decode(&hash_hex)
                    && let Ok(digest) = <[u8; 32]>::try_from(bytes.as_slice())
                {
                    self.inner.cache.evict(&digest);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Checks the password and, if right, starts a session: its id (the cookie's value) and the
    /// user. `None` for a wrong email or password alike.
    pub(crate) async fn login(&self, email: &str, password: &str) -> Result<Login, AuthError> {
        let email = normalize_email(email).ok();
        // Failures are counted under the email's SHA-256, so a shared store (Redis) never holds
        // the addresses themselves.
        let counted_as = email.as_deref().map(secret::digest_hex);
        if let Some(e) = &counted_as
            && let Some(wait) = self.limits.blocked(LOGIN_SCOPE, Who::Name(e))
        {
            return Ok(Login::Blocked(wait));
        }
        let found = match &email {
            Some(e) if password.len() <= MAX_PASSWORD => self.inner.store.user_by_email(e).await?,
            _ => None,
        };
        let stored = found.as_ref().map(|(_, h)| h.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            secret::verify_password(&password, stored.as_deref())
        })
        .await
        .unwrap_or(false);
        let (Some((user, _)), true) = (found, ok) else {
            if let Some(e) = &counted_as
                && let Some(wait) = self
                    .limits
                    .record_failure(LOGIN_SCOPE, &LOGIN_FAILURES_PER_EMAIL, Who::Name(e))
                    .await
            {
                tracing::warn!("too many failed logins for one email: refused for {wait} s");
                return Ok(Login::Blocked(wait));
            }
            return Ok(Login::Refused);
        };
        let session = secret::new_session_id();
        let now = now_ms();
        let ttl = i64::try_from(self.inner.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
        self.inner
            .store
            .create_session(
                &secret::digest_hex(&session),
                &user.id,
                now,
                now.saturating_add(ttl),
            )
            .await?;
        if self.inner.logins.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let store = self.inner.store.clone();
            tokio::spawn(async move {
                let _ = store.delete_expired_sessions(now).await;
            });
        }
        Ok(Login::Admitted(session, user.into()))
    }

    /// Ends the session everywhere (it is deleted from the store).
    pub(crate) async fn logout(&self, session: &str) -> Result<(), AuthError> {
        let digest = secret::digest(session);
        self.inner.cache.evict(&digest);
        self.inner
            .store
            .delete_session(&hex::encode(digest))
            .await?;
        Ok(())
    }

    /// The caller a credential's digest names, if it is in the cache (and still valid). For an
    /// API key, also records the use (at most once a minute, in the background).
    pub(crate) fn cached(&self, digest: &[u8; 32], is_key: bool) -> Option<Arc<Principal>> {
        let now = now_ms();
        let entry = self.inner.cache.get(digest, now)?;
        if is_key {
            self.touch(&entry, now);
        }
        Some(Arc::clone(&entry.principal))
    }

    /// The caller an API key names, from the store (after [`Auth::cached`] missed); cached.
    pub(crate) async fn lookup_key(
        &self,
        key: &str,
        digest: [u8; 32],
    ) -> Result<Option<Arc<Principal>>, AuthError> {
        let now = now_ms();
        let found = self
            .inner
            .store
            .key(secret::key_prefix(key), &hex::encode(digest), now)
            .await?;
        let Some(found) = found else { return Ok(None) };
        let entry = self.inner.cache.insert(
            digest,
            found.principal,
            found.expires_at,
            found.key_id,
            now,
            now - TOUCH_EVERY_MS,
        );
        self.touch(&entry, now);
        Ok(Some(Arc::clone(&entry.principal)))
    }

    /// The caller a session names, from the store (after [`Auth::cached`] missed); cached.
    pub(crate) async fn lookup_session(
        &self,
        digest: [u8; 32],
    ) -> Result<Option<Arc<Principal>>, AuthError> {
        let now = now_ms();
        let Some(found) = self.inner.store.session(&hex::encode(digest), now).await? else {
            return Ok(None);
        };
        let entry =
            self.inner
                .cache
                .insert(digest, found.principal, found.expires_at, None, now, now);
        Ok(Some(Arc::clone(&entry.principal)))
    }

    /// The caller an OAuth JWT names, if it verifies; `None` also when OAuth is not configured.
    pub(crate) fn oauth_principal(&self, token: &str) -> Option<Principal> {
        self.inner.config.oauth.as_ref()?.verify(token)
    }

    /// Writes the key's last-used time in the background, at most once a minute per key.
    fn touch(&self, entry: &Entry, now: i64) {
        let Some(id) = &entry.key_id else { return };
        if entry.should_touch(now, TOUCH_EVERY_MS) {
            let store = self.inner.store.clone();
            let id = Arc::clone(id);
            tokio::spawn(async move {
                if let Err(e) = store.touch_key(&id, now, TOUCH_EVERY_MS).await {
                    tracing::warn!(error = %e, "recording an API key's last use failed");
                }
            });
        }
    }

    /// The session cookie's name: `__Host-session` over HTTPS (the browser then insists on
    /// `Secure`, `Path=/` and no `Domain`), `session` otherwise.
    pub fn cookie_name(&self) -> &'static str {
        if self.inner.config.https {
            "__Host-session"
        } else {
            "session"
        }
    }

    /// `Set-Cookie` for a new session.
    pub(crate) fn session_cookie(&self, session: &str) -> String {
        let max_age = self.inner.config.session_ttl.as_secs();
        let secure = if self.inner.config.https {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            self.cookie_name()
        )
    }

    /// `Set-Cookie` that removes the session cookie.
    pub(crate) fn clear_cookie(&self) -> String {
        let secure = if self.inner.config.https {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.cookie_name()
        )
    }
}
