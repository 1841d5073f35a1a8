//! Secrets: random tokens from the OS, SHA-256 digests for storing them, constant-time comparison,
//! and argon2id for passwords (which, unlike random tokens, are guessable and need a slow hash).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every API key starts with this, so a Bearer value is known to be a key (never tried as a JWT)
/// and a leaked key is recognisable to secret scanners.
pub(crate) const API_KEY_PREFIX: &str = "plk_";

/// `n` random bytes from the operating system, base64url without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something a server can work around.
    #[allow(
        clippy::expect_used,
        reason = "no randomness means no credentials at all"
    )]
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API key: the prefix and 256 random bits.
pub(crate) fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_token(32))
}

/// The first characters of a key: `plk_` and 36 random bits. Stored in the clear, shown in
/// listings, and what a key is looked up by, so that the secret itself is only ever compared,
/// in constant time, with the digests of the few keys sharing its prefix.
pub(crate) fn key_prefix(key: &str) -> &str {
    let end = key
        .char_indices()
        .nth(API_KEY_PREFIX.len() + 6)
        .map_or(key.len(), |(i, _)| i);
    &key[..end]
}

/// A new session id: 256 random bits.
pub(crate) fn new_session_id() -> String {
    random_token(32)
}

/// A new public id for a row (users, keys): 96 random bits, unguessable but not secret.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_token(12))
}

/// The SHA-256 digest that is stored and looked up in place of a random secret.
pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub(crate) fn digest_hex(secret: &str) -> String {
    hex::encode(digest(secret))
}

/// Compares two digests without leaking where they differ.
pub(crate) fn same_digest(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// An argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) with a fresh salt.
pub(crate) fn hash_password(password: &str) -> Result<String, password_hash::Error> {
    let mut salt = [0u8; 16];
    #[allow(
        clippy::expect_used,
        reason = "no randomness means no credentials at all"
    )]
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the stored PHC string; `None` (no such user) still spends the time
/// of one verification, so response times do not reveal which emails have accounts.
pub(crate) fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let stored = stored.unwrap_or(DUMMY_HASH);
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored != DUMMY_HASH
}

/// An argon2id string with the default parameters and a made-up output no known password
/// produces: verified against when the email is unknown, and never accepted.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5T2yAhV0mJ8bJXk2h1bXo4oNV6s8ZgNfr8c4b9q5mG0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip() {
        let h = hash_password("correct horse").unwrap_or_default();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("correct horse", None));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn keys_have_prefix_and_256_bits() {
        let k = new_api_key();
        assert!(k.starts_with(API_KEY_PREFIX));
        assert_eq!(k.len(), API_KEY_PREFIX.len() + 43);
        assert_ne!(k, new_api_key());
        assert_eq!(digest_hex(&k).len(), 64);
        assert!(same_digest(&digest_hex(&k), &digest_hex(&k)));
        assert!(!same_digest(&digest_hex(&k), &digest_hex(&new_api_key())));
        assert_eq!(key_prefix(&k).len(), API_KEY_PREFIX.len() + 6);
        assert!(k.starts_with(key_prefix(&k)));
        assert_eq!(key_prefix("plk_ab"), "plk_ab");
    }
}
