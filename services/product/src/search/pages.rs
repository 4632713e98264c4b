//! The pages already computed, by request, each with the search generation it was computed at.
//!
//! Ranking a common word reads and ranks every match (`keyboard`: 14,000 of 100,000 products,
//! 30 ms), and shoppers repeat the same searches. A computed page is kept as its rows' ids and
//! rank keys; the same request again reads those rows by primary key, with their current stock,
//! and the search generation in one statement, and serves them while the generation is still the
//! page's. The generation (table `search_generation`) moves on at the commit of every write that
//! can change a search's result: any product or category write, a product going in or out of
//! stock. So a page served from here is the page the search would compute now.
//!
//! The requests for one page share its reads (`rounds`): a request waits for a read that started
//! after it arrived, and every request that arrived meanwhile is answered by the same one. That
//! read computes the page when it is not kept yet or its generation moved on, so a page that
//! many shoppers want at once is computed once, not once per shopper.
//!
//! The pages live in the process rather than in Redis: a hit is one Postgres query by primary
//! key and no Redis round trip, and each replica checks the generation itself, so no write path
//! has to know this cache. It follows the service's cache setting: `CACHE_TTL_SECS=0` turns it
//! off with the Redis cache, so every search is computed (the bench measures both).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use uuid::Uuid;

use super::rounds::Rounds;

/// How many pages are kept. A page takes a few kilobytes at most (101 rows of an id and two rank
/// keys, and the request), so the cache stays within a few megabytes.
const CAPACITY: usize = 4096;

/// What identifies a page: the search's scope (every input that decides which rows come in which
/// order, as the cursor binds them), the cursor as given, and the page size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub(crate) scope: Vec<u8>,
    pub(crate) cursor: Option<String>,
    pub(crate) limit: u32,
}

/// A row of a computed page: the product and its relevance keys, which the cursor carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranked {
    pub(crate) id: Uuid,
    pub(crate) exact: bool,
    pub(crate) rank: f32,
}

/// A computed page: its rows in order (one more than the page size when another page follows),
/// the text it searched for (the query, or its correction), and the generation it was computed at.
#[derive(Debug)]
pub(crate) struct CachedPage {
    pub(crate) generation: i64,
    pub(crate) text: Option<String>,
    pub(crate) rows: Vec<Ranked>,
}

/// What a round's read of a page found, for every request that waited for it.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// The page as the search gives it now: the body of the answer.
    Page(Bytes),
    /// A dependency is down (named): every request waiting for the read answers 503 at once,
    /// rather than waiting for the pool's timeout again on a search of its own.
    Unavailable(String),
    /// Another failure: each request computes the search itself, and answers with its error.
    Failed,
}

/// The pages of one service instance; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageCache {
    pages: Arc<Mutex<Pages>>,
}

#[derive(Debug, Default)]
struct Pages {
    /// The newest generation a page was stored at: pages of older ones can never be served again.
    generation: i64,
    entries: HashMap<PageKey, Entry>,
}

impl Pages {
    /// The entry of `key`, made when missing; a full cache starts over rather than tracking
    /// use: the searches that repeat come back at once.
    fn entry(&mut self, key: &PageKey) -> &mut Entry {
        if !self.entries.contains_key(key) && self.entries.len() >= CAPACITY {
            self.entries.clear();
        }
        self.entries.entry(key.clone()).or_default()
    }
}

/// What is kept for a request: the rounds its requests share, and its page once computed.
#[derive(Debug, Default)]
struct Entry {
    rounds: Rounds<Answer>,
    page: Option<Arc<CachedPage>>,
}

impl PageCache {
    /// The rounds of reads of the page for `key`, which every request for it shares.
    pub(crate) fn rounds(&self, key: &PageKey) -> Rounds<Answer> {
        let mut pages = self.lock();
        // Looked up first, so that a repeat (the hot path) does not copy its key.
        if let Some(entry) = pages.entries.get(key) {
            return entry.rounds.clone();
        }
        pages.entry(key).rounds.clone()
    }

    /// The page computed for `key`, if any; the caller checks its generation.
    pub(crate) fn get(&self, key: &PageKey) -> Option<Arc<CachedPage>> {
        self.lock().entries.get(key)?.page.clone()
    }

    /// Keeps `page` for `key`. A page of a newer generation drops every page of older ones (they
    /// would only miss), but not their rounds, which the requests waiting for them still share;
    /// a page computed before the newest generation seen is not kept. A full cache starts over
    /// rather than tracking use: the searches that repeat come back at once.
    pub(crate) fn put(&self, key: PageKey, page: CachedPage) {
        let mut pages = self.lock();
        if page.generation < pages.generation {
            return;
        }
        if page.generation > pages.generation {
            for entry in pages.entries.values_mut() {
                entry.page = None;
            }
            pages.generation = page.generation;
        }
        pages.entry(&key).page = Some(Arc::new(page));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pages> {
        // Nothing panics while holding the lock, and the map stays valid even if something did.
        self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: &str) -> PageKey {
        PageKey {
            scope: q.as_bytes().to_vec(),
            cursor: None,
            limit: 20,
        }
    }

    fn page(generation: i64) -> CachedPage {
        CachedPage {
            generation,
            text: None,
            rows: Vec::new(),
        }
    }

    #[test]
    fn a_newer_generation_drops_the_older_pages_and_an_older_one_is_not_kept() {
        let cache = PageCache::default();
        cache.put(key("a"), page(2));
        assert_eq!(cache.get(&key("a")).map(|p| p.generation), Some(2));
        cache.put(key("b"), page(3));
        assert!(cache.get(&key("a")).is_none());
        cache.put(key("a"), page(2));
        assert!(cache.get(&key("a")).is_none());
        assert_eq!(cache.get(&key("b")).map(|p| p.generation), Some(3));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = PageCache::default();
        for n in 0..CAPACITY {
            cache.put(key(&n.to_string()), page(1));
        }
        assert!(cache.get(&key("0")).is_some());
        cache.put(key("one more"), page(1));
        assert!(cache.get(&key("0")).is_none());
        assert!(cache.get(&key("one more")).is_some());
    }
}
