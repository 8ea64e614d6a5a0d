//! Password checks for CTI logins with a reusable argon2 memory buffer.
//!
//! `argon2`'s own `verify_password` allocates the whole memory cost (19 MiB with the default
//! parameters) on every check; glibc keeps much of it, so a login storm left the switch at
//! hundreds of MiB resident. A [`Checker`] lives on one thread and reuses its blocks, so a check
//! allocates nothing large. The result is the same as `hotline_store::password::verify`
//! (tested below).

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Largest memory cost accepted from a stored hash (256 MiB): a corrupt or hostile row must not
/// make the switch allocate without bound.
const MAX_BLOCKS: usize = 256 * 1024;

/// One thread's password checker.
#[derive(Default)]
pub struct Checker {
    blocks: Vec<Block>,
    /// A hash to check unknown agents against, so a wrong id costs as much as a wrong password.
    dummy: Option<String>,
}

impl Checker {
    /// Does `password` match the stored argon2 PHC string? A malformed hash is `false`.
    pub fn verify(&mut self, password: &str, stored: &str) -> bool {
        let Ok(hash) = PasswordHash::new(stored) else {
            tracing::warn!("stored password hash is malformed");
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
            return false;
        };
        let version = match hash.version {
            Some(v) => match Version::try_from(v) {
                Ok(v) => v,
                Err(_) => return false,
            },
            None => Version::default(),
        };
        let Ok(params) = Params::try_from(&hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let n = params.block_count();
        if n > MAX_BLOCKS {
            tracing::warn!(blocks = n, "stored password hash asks for too much memory");
            return false;
        }
        if self.blocks.len() < n {
            self.blocks.resize(n, Block::default());
        }
        let mut out = vec![0u8; expected.len()];
        let ok = Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                &mut out,
                &mut self.blocks[..n],
            )
            .is_ok();
        // `Output`'s equality is constant-time.
        ok && Output::try_from(out.as_slice()).is_ok_and(|o| &o == expected)
    }

    /// Spends the time of a real check on a hash nobody has (for unknown agent ids).
    pub fn verify_nobody(&mut self, password: &str) {
        if self.dummy.is_none() {
            self.dummy = hotline_store::password::hash("no agent has this password").ok();
        }
        if let Some(d) = self.dummy.clone() {
            let _ = self.verify(password, &d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_store_and_reuses_its_memory() {
        let stored = hotline_store::password::hash("s3cret pass").expect("hash");
        let mut c = Checker::default();
        assert!(c.verify("s3cret pass", &stored));
        let cap = c.blocks.capacity();
        assert!(!c.verify("s3cret pasS", &stored));
        assert!(!c.verify("", &stored));
        assert_eq!(c.blocks.capacity(), cap, "no new allocation");
        assert!(hotline_store::password::verify("s3cret pass", &stored));
        assert!(!c.verify("x", "not a hash"));
        assert!(!c.verify(
            "x",
            "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
        ));
        c.verify_nobody("x");
    }
}
