//! OAuth bearer tokens: JWTs from an authorization server, verified here against keys given at
//! start-up (an HS256 secret, or RS256/ES256 public keys from a PEM or JWKS file). Nothing is
//! fetched from the network. The caller's scopes come from the space-separated `scope` claim.

use crate::declare::AuthMethod;
use crate::request::Principal;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::path::Path;

/// Why OAuth could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key material is not a usable RSA or EC public key, PEM or JWKS.
    #[error("unusable key: {0}")]
    Key(String),
}

struct VerifyKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Issuer, audience and keys that OAuth JWTs are checked against.
pub struct OAuthConfig {
    issuer: String,
    audience: String,
    keys: Vec<VerifyKey>,
    leeway_secs: u64,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
}

impl OAuthConfig {
    /// Tokens must carry `iss == issuer` and `aud` containing `audience`. Add keys with the
    /// `with_*` methods; with none, every token is refused.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        OAuthConfig {
            issuer: issuer.into(),
            audience: audience.into(),
            keys: Vec::new(),
            leeway_secs: 30,
        }
    }

    /// Accepts HS256 tokens signed with `secret`.
    #[must_use]
    pub fn with_hs256_secret(mut self, secret: &[u8]) -> Self {
        self.keys.push(VerifyKey {
            kid: None,
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        });
        self
    }

    /// Accepts RS256 or ES256 (P-256) tokens signed by the private half of a PEM public key.
    ///
    /// # Errors
    /// If the PEM holds neither an RSA nor an EC public key.
    pub fn with_public_pem(mut self, pem: &[u8]) -> Result<Self, OAuthError> {
        let key = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            VerifyKey {
                kid: None,
                algorithm: Algorithm::RS256,
                key,
            }
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            VerifyKey {
                kid: None,
                algorithm: Algorithm::ES256,
                key,
            }
        } else {
            return Err(OAuthError::Key(
                "the PEM holds neither an RSA nor an EC public key".into(),
            ));
        };
        self.keys.push(key);
        Ok(self)
    }

    /// Accepts tokens signed by the RS256/ES256 keys of a JWKS document (`{"keys":[...]}`); a
    /// token's `kid` picks the key.
    ///
    /// # Errors
    /// If the JSON is not a key set or holds no usable RS256/ES256 key.
    pub fn with_jwks(mut self, json: &str) -> Result<Self, OAuthError> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| OAuthError::Key(format!("not a JWKS: {e}")))?;
        let before = self.keys.len();
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| OAuthError::Key(e.to_string()))?;
            self.keys.push(VerifyKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        if self.keys.len() == before {
            return Err(OAuthError::Key(
                "the JWKS holds no RSA or EC (P-256) key".into(),
            ));
        }
        Ok(self)
    }

    /// Reads a key file: a JWKS document if it starts with `{`, else a PEM public key.
    ///
    /// # Errors
    /// If the file cannot be read or holds no usable key.
    pub fn with_key_file(self, path: &Path) -> Result<Self, OAuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| OAuthError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if text.trim_start().starts_with('{') {
            self.with_jwks(&text)
        } else {
            self.with_public_pem(text.as_bytes())
        }
    }

    /// The caller a valid token names; `None` for any token that is not valid, whatever the
    /// reason (the client is told the same thing in every case).
    pub(crate) fn verify(&self, token: &str) -> Option<Principal> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = self.keys.iter().find(|k| {
            k.algorithm == header.alg
                && match (&header.kid, &k.kid) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                }
        })?;
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).ok()?;
        let scopes = data
            .claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .filter(|s| plugin_routes_rules::is_valid_grant(s))
            .map(str::to_owned)
            .collect();
        Some(Principal {
            user_id: format!("oauth|{}", data.claims.sub),
            email: None,
            scheme: AuthMethod::OAuth.scheme(),
            scopes,
        })
    }
}

/// Whether a Bearer value has the shape of a JWT (three base64url parts); only such values are
/// tried as OAuth tokens.
pub(crate) fn looks_like_jwt(value: &str) -> bool {
    value.split('.').count() == 3
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
