//! Access tokens verified recently, so that a signed-in client's requests do not each pay for
//! an Ed25519 signature check: without this cache the check is three quarters of the gateway's
//! CPU per request.
//!
//! An entry is keyed by the whole token, so only the exact bytes that were verified (header,
//! claims and signature) are ever answered from here: a token that differs anywhere, in its
//! signature included, misses and goes to the verifier. An entry lasts until the token's `exp`
//! or [`TokenCache::new`]'s `ttl` after its verification, whichever comes first, so the cache
//! never accepts a token the verifier would refuse as expired. Claims cannot go stale inside a
//! token, so caching changes no answer; a role change shows in the next token the user service
//! issues, as it always did.
//!
//! The cache is bounded by two generations of at most half the capacity each: entries go into
//! the current one, a hit in the previous one moves the entry forward, and when the current one
//! is full it becomes the previous one and the old previous one is dropped. Tokens in use stay,
//! idle ones age out, and no request ever scans the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use contracts::auth::Claims;

/// Verified tokens and their claims, for a while.
#[derive(Debug)]
pub(crate) struct TokenCache {
    generation: usize,
    ttl: Duration,
    entries: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<Box<str>, Entry>,
    previous: HashMap<Box<str>, Entry>,
}

#[derive(Debug)]
struct Entry {
    claims: Arc<Claims>,
    until: Instant,
}

impl TokenCache {
    /// An empty cache holding at most `capacity` tokens (at least two), each for at most `ttl`.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            generation: (capacity / 2).max(1),
            ttl,
            entries: Mutex::new(Generations::default()),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Generations> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The claims of `token` if it was verified and is still within its cache lifetime.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<Claims>> {
        let now = Instant::now();
        let mut entries = self.entries();
        if let Some(entry) = entries.current.get(token) {
            if now < entry.until {
                return Some(entry.claims.clone());
            }
            entries.current.remove(token);
            return None;
        }
        let entry = entries.previous.remove(token)?;
        if now >= entry.until {
            return None;
        }
        let claims = entry.claims.clone();
        entries.insert(token.into(), entry, self.generation);
        Some(claims)
    }

    /// Remembers that `token` verified with `claims`; a token expiring now is not kept.
    pub(crate) fn insert(&self, token: &str, claims: Arc<Claims>) {
        let Some(left) = lifetime_left(claims.exp) else {
            return;
        };
        let entry = Entry {
            claims,
            until: Instant::now() + left.min(self.ttl),
        };
        self.entries().insert(token.into(), entry, self.generation);
    }

    /// Forgets every token, for when the keys they were verified with have changed.
    pub(crate) fn clear(&self) {
        let mut entries = self.entries();
        entries.current.clear();
        entries.previous.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let entries = self.entries();
        entries.current.len() + entries.previous.len()
    }
}

impl Generations {
    fn insert(&mut self, token: Box<str>, entry: Entry, generation: usize) {
        if self.current.len() >= generation {
            // Swapped rather than replaced, so both maps keep their allocations.
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        self.current.insert(token, entry);
    }
}

/// The time from now until `exp` (seconds since the Unix epoch), if it is still ahead.
fn lifetime_left(exp: i64) -> Option<Duration> {
    let exp = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(exp).ok()?);
    exp.duration_since(SystemTime::now())
        .ok()
        .filter(|left| !left.is_zero())
}

#[cfg(test)]
mod tests {
    use contracts::auth::Role;

    use super::*;

    fn claims(exp_in: i64) -> Arc<Claims> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Arc::new(Claims {
            sub: uuid::Uuid::new_v4(),
            roles: vec![Role::Customer],
            iss: "ecommerce".into(),
            aud: "ecommerce-api".into(),
            iat: now,
            exp: now + exp_in,
            jti: uuid::Uuid::new_v4().to_string(),
        })
    }

    #[test]
    fn a_token_is_answered_only_for_its_exact_bytes() {
        let cache = TokenCache::new(8, Duration::from_secs(60));
        let claims = claims(300);
        cache.insert("header.claims.signature", claims.clone());
        assert_eq!(cache.get("header.claims.signature"), Some(claims));
        assert_eq!(cache.get("header.claims.signaturf"), None);
        assert_eq!(cache.get("header.claims."), None);
        assert_eq!(cache.get("header.claims"), None);
    }

    #[test]
    fn an_entry_lasts_no_longer_than_the_ttl() {
        let cache = TokenCache::new(8, Duration::from_millis(50));
        cache.insert("t", claims(300));
        assert!(cache.get("t").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("t"), None);
        assert_eq!(cache.len(), 0, "an expired entry found is dropped");
    }

    #[test]
    fn an_entry_lasts_no_longer_than_the_tokens_exp() {
        let cache = TokenCache::new(8, Duration::from_secs(3600));
        cache.insert("expired", claims(-10));
        assert_eq!(cache.get("expired"), None, "already expired: not kept");
        assert_eq!(cache.len(), 0);

        cache.insert("soon", claims(1));
        let until = cache.entries().current["soon"].until;
        assert!(
            until <= Instant::now() + Duration::from_secs(1),
            "{until:?}"
        );
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_tokens_in_use() {
        let cache = TokenCache::new(4, Duration::from_secs(60));
        let claims = claims(300);
        for i in 0..100 {
            cache.insert(&format!("token-{i}"), claims.clone());
            // One token used all along survives the churn of the others.
            cache.insert_if_missing("in-use", &claims);
            assert!(cache.len() <= 4, "{} entries after {i}", cache.len());
        }
        assert!(cache.get("in-use").is_some());
        assert_eq!(cache.get("token-0"), None);
    }

    #[test]
    fn clear_forgets_everything() {
        let cache = TokenCache::new(8, Duration::from_secs(60));
        cache.insert("a", claims(300));
        cache.insert("b", claims(300));
        cache.clear();
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.get("a"), None);
    }

    impl TokenCache {
        /// What [`crate::auth::Keys::verify`] does for each request: a lookup, an insert on a miss.
        fn insert_if_missing(&self, token: &str, claims: &Arc<Claims>) {
            if self.get(token).is_none() {
                self.insert(token, claims.clone());
            }
        }
    }
}
