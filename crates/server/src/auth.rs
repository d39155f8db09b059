//! Passwords are stored as argon2id PHC strings, never in the clear, never logged.

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
}
