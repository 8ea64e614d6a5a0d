//! Agent passwords: argon2id PHC strings. Only hashes are stored.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::{Error, Result};

/// Hashes a password with argon2id and a random salt.
pub fn hash(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash password: {e}")))
}

/// Checks a password against a stored PHC string. A malformed stored hash is `false`, not a
/// panic: the login simply fails (and the operator sees the warning).
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::warn!(error = %e, "stored password hash is malformed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_then_verify() {
        let h = super::hash("s3cret-pass").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("s3cret-pass", &h));
        assert!(!super::verify("s3cret-Pass", &h));
        assert!(!super::verify("s3cret-pass", "not a hash"));
    }
}
