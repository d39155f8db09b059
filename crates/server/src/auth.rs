//! Passwords are stored as argon2id PHC strings, never in the clear, never logged; personal
//! access tokens as a digest of the raw token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// Checks a password on the blocking pool (argon2 costs tens of ms of CPU that would stall every
/// partition of the shard). `hash: None` (no such user) still costs one verification against a
/// fixed hash, so the time taken does not tell which usernames exist.
pub async fn check_password(password: String, hash: Option<String>) -> bool {
    let checked = monoio::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            let _ = verify_password(&password, &DECOY_HASH);
            false
        }
    });
    checked.await.unwrap_or(false)
}

/// Hashes a password on the blocking pool.
pub async fn hash_password_off_shard(password: String) -> Result<String, String> {
    monoio::spawn_blocking(move || hash_password(&password))
        .await
        .unwrap_or_else(|_| Err("the password hashing thread stopped".to_string()))
}

/// A hash to spend a verification on for logins with an unknown username (its result is
/// ignored), made once.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("whippet-decoy").unwrap_or_default());

/// Addresses tracked at most; beyond it expired entries are dropped, and a new address that
/// still finds no room is not limited (and logged), rather than memory growing without bound.
const TRACKED_ADDRESSES_MAX: usize = 65_536;

/// Failed logins per client address. After `max_failures` within `window` an address's logins
/// are refused without their credentials being checked until the window (counted from its first
/// failure) ends: password guessing slows to `max_failures` per window, and a flood of logins
/// costs no argon2 time. IPv6 addresses count per /64, what one host usually holds.
/// Shared by all shards behind a mutex: logins are rare next to sends and polls.
#[derive(Debug)]
pub struct LoginGuard {
    max_failures: u32,
    window: Duration,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    since: Instant,
    warned: bool,
}

impl LoginGuard {
    /// `max_failures == 0` turns the limit off.
    pub fn new(max_failures: u32, window: Duration) -> LoginGuard {
        LoginGuard { max_failures, window, addresses: Mutex::new(HashMap::new()) }
    }

    fn key(address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(_) => address,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.addresses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `address` may try to log in now.
    pub fn admits(&self, address: IpAddr) -> bool {
        if self.max_failures == 0 {
            return true;
        }
        let key = LoginGuard::key(address);
        let mut addresses = self.lock();
        let Some(failures) = addresses.get_mut(&key) else { return true };
        if failures.since.elapsed() >= self.window {
            addresses.remove(&key);
            return true;
        }
        if failures.count < self.max_failures {
            return true;
        }
        if !failures.warned {
            failures.warned = true;
            tracing::warn!(
                address = %key,
                failures = failures.count,
                window = ?self.window,
                "login attempts from this address refused until its window ends (auth.max_login_failures)"
            );
        }
        false
    }

    /// Counts a failed login from `address`.
    pub fn failed(&self, address: IpAddr) {
        if self.max_failures == 0 {
            return;
        }
        let key = LoginGuard::key(address);
        let window = self.window;
        let mut addresses = self.lock();
        if addresses.len() >= TRACKED_ADDRESSES_MAX && !addresses.contains_key(&key) {
            addresses.retain(|_, failures| failures.since.elapsed() < window);
            if addresses.len() >= TRACKED_ADDRESSES_MAX {
                tracing::warn!(address = %key, "login failure not tracked: too many addresses failing at once");
                return;
            }
        }
        let failures = addresses.entry(key).or_insert(Failures { count: 0, since: Instant::now(), warned: false });
        if failures.since.elapsed() >= window {
            *failures = Failures { count: 0, since: Instant::now(), warned: false };
        }
        failures.count += 1;
    }

    /// A successful login clears the address's failures.
    pub fn succeeded(&self, address: IpAddr) {
        if self.max_failures > 0 {
            self.lock().remove(&LoginGuard::key(address));
        }
    }
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
    fn the_guard_refuses_after_max_failures_until_the_window_ends() {
        let guard = LoginGuard::new(3, Duration::from_millis(200));
        let attacker: IpAddr = "10.0.0.1".parse().unwrap();
        let neighbour: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(guard.admits(attacker));
            guard.failed(attacker);
        }
        assert!(!guard.admits(attacker));
        assert!(guard.admits(neighbour), "limits are per address");
        std::thread::sleep(Duration::from_millis(250));
        assert!(guard.admits(attacker), "the window ended");
        guard.failed(attacker);
        guard.succeeded(attacker);
        for _ in 0..2 {
            guard.failed(attacker);
        }
        assert!(guard.admits(attacker), "a success cleared the earlier failure");
    }

    #[test]
    fn ipv6_counts_per_slash_64_and_zero_turns_the_guard_off() {
        let guard = LoginGuard::new(1, Duration::from_secs(60));
        guard.failed("2001:db8::1".parse().unwrap());
        assert!(!guard.admits("2001:db8::ffff".parse().unwrap()));
        assert!(guard.admits("2001:db8:0:1::1".parse().unwrap()));
        guard.failed("::ffff:10.1.1.1".parse().unwrap());
        assert!(!guard.admits("10.1.1.1".parse().unwrap()), "v4-mapped is the v4 address");
        let off = LoginGuard::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            off.failed("10.0.0.1".parse().unwrap());
        }
        assert!(off.admits("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn token_hashes_are_stable_hex() {
        let hash = hash_token("iggypat-00");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, hash_token("iggypat-00"));
        assert_ne!(hash, hash_token("iggypat-01"));
    }
}
