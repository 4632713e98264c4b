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

/// Verified tokens and what their verification found (`V`), for a while.
#[derive(Debug)]
pub(crate) struct TokenCache<V> {
    generation: usize,
    ttl: Duration,
    entries: Mutex<Generations<V>>,
}

#[derive(Debug)]
struct Generations<V> {
    current: Tokens<V>,
    previous: Tokens<V>,
}

/// Hashed with foldhash (randomly seeded) rather than SipHash: a key is a whole token, a few
/// hundred bytes hashed on every request, and only tokens whose signature verified are ever
/// inserted, so no caller can choose the keys to flood a bucket.
type Tokens<V> = HashMap<Box<str>, Entry<V>, foldhash::fast::RandomState>;

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    until: Instant,
}

impl<V> TokenCache<V> {
    /// An empty cache holding at most `capacity` tokens (at least two), each for at most `ttl`.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            generation: (capacity / 2).max(1),
            ttl,
            entries: Mutex::new(Generations {
                current: Tokens::default(),
                previous: Tokens::default(),
            }),
        }
    }

    fn entries(&self) -> MutexGuard<'_, Generations<V>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `token`'s verification found, if it was verified and is still within its cache
    /// lifetime.
    pub(crate) fn get(&self, token: &str) -> Option<Arc<V>> {
        let now = Instant::now();
        let mut entries = self.entries();
        if let Some(entry) = entries.current.get(token) {
            if now < entry.until {
                return Some(entry.value.clone());
            }
            entries.current.remove(token);
            return None;
        }
        let entry = entries.previous.remove(token)?;
        if now >= entry.until {
            return None;
        }
        let value = entry.value.clone();
        entries.insert(token.into(), entry, self.generation);
        Some(value)
    }

    /// Remembers that `token`, which expires at `exp` (seconds since the Unix epoch), verified
    /// and found `value`; a token expiring now is not kept.
    pub(crate) fn insert(&self, token: &str, exp: i64, value: Arc<V>) {
        let Some(left) = lifetime_left(exp) else {
            return;
        };
        let entry = Entry {
            value,
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

impl<V> Generations<V> {
    fn insert(&mut self, token: Box<str>, entry: Entry<V>, generation: usize) {
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
    use super::*;

    /// An `exp` `seconds` from now.
    fn expiring_in(seconds: i64) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + seconds
    }

    #[test]
    fn a_token_is_answered_only_for_its_exact_bytes() {
        let cache = TokenCache::new(8, Duration::from_secs(60));
        let found = Arc::new("alice");
        cache.insert("header.claims.signature", expiring_in(300), found.clone());
        assert_eq!(cache.get("header.claims.signature"), Some(found));
        assert_eq!(cache.get("header.claims.signaturf"), None);
        assert_eq!(cache.get("header.claims."), None);
        assert_eq!(cache.get("header.claims"), None);
    }

    #[test]
    fn an_entry_lasts_no_longer_than_the_ttl() {
        let cache = TokenCache::new(8, Duration::from_millis(50));
        cache.insert("t", expiring_in(300), Arc::new(()));
        assert!(cache.get("t").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("t"), None);
        assert_eq!(cache.len(), 0, "an expired entry found is dropped");
    }

    #[test]
    fn an_entry_lasts_no_longer_than_the_tokens_exp() {
        let cache = TokenCache::new(8, Duration::from_secs(3600));
        cache.insert("expired", expiring_in(-10), Arc::new(()));
        assert_eq!(cache.get("expired"), None, "already expired: not kept");
        assert_eq!(cache.len(), 0);

        cache.insert("soon", expiring_in(1), Arc::new(()));
        let until = cache.entries().current["soon"].until;
        assert!(
            until <= Instant::now() + Duration::from_secs(1),
            "{until:?}"
        );
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_tokens_in_use() {
        let cache = TokenCache::new(4, Duration::from_secs(60));
        let exp = expiring_in(300);
        for i in 0..100 {
            cache.insert(&format!("token-{i}"), exp, Arc::new(i));
            // One token used all along survives the churn of the others, used as
            // [`crate::auth::Keys::verify`] uses the cache: a lookup, an insert on a miss.
            if cache.get("in-use").is_none() {
                cache.insert("in-use", exp, Arc::new(-1));
            }
            assert!(cache.len() <= 4, "{} entries after {i}", cache.len());
        }
        assert_eq!(cache.get("in-use"), Some(Arc::new(-1)));
        assert_eq!(cache.get("token-0"), None);
    }

    #[test]
    fn clear_forgets_everything() {
        let cache = TokenCache::new(8, Duration::from_secs(60));
        cache.insert("a", expiring_in(300), Arc::new(()));
        cache.insert("b", expiring_in(300), Arc::new(()));
        cache.clear();
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.get("a"), None);
    }
}
