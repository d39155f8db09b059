//! Passwords are stored as argon2id PHC strings, never in the clear, never logged; personal
//! access tokens as a digest of the raw token.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

pub fn hash_password(password: &str) -> Result<String, String> {
    // A 16-byte random salt from the kernel (getrandom), as argon2 recommends.
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness for a salt: {e}"))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| format!("cannot encode a salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("cannot hash a password: {e}"))
}

/// The stored form of a raw personal access token: a hex BLAKE2b-256 digest. Tokens carry
/// 256 random bits, so a fast hash is enough (no salt or stretching needed to resist guessing).
pub fn hash_token(token: &str) -> String {
    use blake2::Digest;
    let digest = blake2::Blake2s256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `password` matches the stored hash. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let hash = hash_password("iggy").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("iggy", &hash));
        assert!(!verify_password("iggx", &hash));
        assert_ne!(hash, hash_password("iggy").unwrap(), "salted");
        assert!(!verify_password("iggy", "not a hash"));
    }

    #[test]
    fn token_hashes_are_stable_hex() {
        let hash = hash_token("iggypat-00");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hash_token("iggypat-00"));
        assert_ne!(hash, hash_token("iggypat-01"));
    }
}
