-- Users, server-side sessions and API keys. Plain SQL that SQLite and PostgreSQL both accept;
-- times are milliseconds since the Unix epoch. Secrets are never stored: sessions and keys by
-- their SHA-256 digest (hex), passwords as argon2id PHC strings.
CREATE TABLE auth_users (
    id            TEXT   PRIMARY KEY,
    email         TEXT   NOT NULL UNIQUE,
    password_hash TEXT   NOT NULL,
    scopes        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE auth_sessions (
    token_hash TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE auth_api_keys (
    id           TEXT   PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    key_hash     TEXT   NOT NULL UNIQUE,
    prefix       TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX auth_api_keys_user ON auth_api_keys (user_id);
-- Keys are looked up by their public prefix, then compared by digest in constant time.
CREATE INDEX auth_api_keys_prefix ON auth_api_keys (prefix);
