//! The in-process tier in front of Redis: the entries this replica read from Redis lately, kept
//! as Redis holds them (JSON), so that a hot read costs neither a Redis round trip nor Redis'
//! own CPU.
//!
//! Every replica forgets what a write made stale: the writer forgets its own copies as soon as
//! it has deleted the Redis keys, and publishes the keys on a channel every replica follows
//! (`kit::cache::follow`). While a replica is not subscribed it cannot hear of writes, so the
//! tier is dark (empty, and nothing is put in it) from start until the subscription is up and
//! from the moment the subscription breaks until it is up again.
//!
//! A read that started before a write was heard of must not put what it read in the tier
//! afterwards: every fill carries the epoch it started in (a counter moved by every forget), and
//! a fill whose epoch moved before or while it went in is undone. Entries live at most the
//! cache's TTL, as in Redis, which bounds what no invalidation can reach (a read that loaded the
//! old row before a write and stored it in Redis after the write's delete).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kit::cache::Feed;

/// Entries held in this replica's memory, with the state that says whether they may be used.
#[derive(Debug)]
pub(super) struct Local {
    entries: moka::sync::Cache<String, Arc<[u8]>>,
    /// Subscribed to the invalidation channel, so that the entries can be trusted.
    live: AtomicBool,
    /// Moved by every forget: a fill that started in an older epoch may hold a stale value.
    epoch: AtomicU64,
}

/// When a read started: a fill is kept only if no forget happened since.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket(u64);

impl Local {
    /// A dark tier of at most `capacity` entries living at most `ttl` each.
    pub(super) fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            live: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        }
    }

    /// `key`'s entry, when the tier is live and holds it.
    pub(super) fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        self.entries.get(key)
    }

    /// The ticket of a read starting now, or `None` while the tier is dark.
    pub(super) fn ticket(&self) -> Option<Ticket> {
        self.live
            .load(Ordering::SeqCst)
            .then(|| Ticket(self.epoch.load(Ordering::SeqCst)))
    }

    /// Keeps `value`, read under `ticket`, unless something was forgotten since.
    pub(super) fn fill(&self, ticket: Ticket, key: &str, value: Arc<[u8]>) {
        if self.epoch.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        self.entries.insert(key.to_owned(), value);
        // A forget that ran between the check and the insert has already removed the key, so
        // it would stay: undo the fill then.
        if self.epoch.load(Ordering::SeqCst) != ticket.0 {
            self.entries.invalidate(key);
        }
    }

    /// Forgets `keys`, and any read that started before.
    pub(super) fn forget(&self, keys: &[String]) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for key in keys {
            self.entries.invalidate(key);
        }
    }

    /// Forgets everything.
    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Applies what the invalidation channel says.
    pub(super) fn hear(&self, feed: Feed<'_>) {
        match feed {
            Feed::Subscribed => {
                // Writes made while the tier could not hear of them may have left anything stale.
                self.forget_all();
                self.live.store(true, Ordering::SeqCst);
            }
            Feed::Lost => {
                self.live.store(false, Ordering::SeqCst);
                self.forget_all();
            }
            Feed::Message(payload) => match serde_json::from_slice::<Vec<String>>(payload) {
                Ok(keys) => self.forget(&keys),
                Err(error) => {
                    tracing::warn!(%error, "unreadable cache invalidation; forgetting every entry");
                    self.forget_all();
                }
            },
        }
    }

    /// Whether the tier is in use.
    pub(super) fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn value(text: &str) -> Arc<[u8]> {
        Arc::from(text.as_bytes())
    }

    fn live() -> Local {
        let local = Local::new(16, TTL);
        local.hear(Feed::Subscribed);
        local
    }

    #[test]
    fn a_dark_tier_neither_answers_nor_fills() {
        let local = Local::new(16, TTL);
        assert!(local.ticket().is_none());
        let ticket = live().ticket().expect("live");
        local.fill(ticket, "k", value("1"));
        assert!(local.get("k").is_none());
    }

    #[test]
    fn a_fill_answers_until_its_key_is_forgotten() {
        let local = live();
        let ticket = local.ticket().expect("live");
        local.fill(ticket, "k", value("1"));
        assert_eq!(local.get("k").as_deref(), Some(&b"1"[..]));
        local.hear(Feed::Message(br#"["other","k"]"#));
        assert!(local.get("k").is_none());
    }

    #[test]
    fn a_read_that_started_before_a_forget_is_not_kept() {
        let local = live();
        let ticket = local.ticket().expect("live");
        local.forget(&["unrelated".to_owned()]);
        local.fill(ticket, "k", value("old"));
        assert!(local.get("k").is_none());
        let ticket = local.ticket().expect("live");
        local.fill(ticket, "k", value("new"));
        assert_eq!(local.get("k").as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn losing_the_subscription_empties_the_tier_until_it_is_back() {
        let local = live();
        local.fill(local.ticket().expect("live"), "k", value("1"));
        local.hear(Feed::Lost);
        assert!(local.get("k").is_none());
        assert!(local.ticket().is_none());
        local.hear(Feed::Subscribed);
        assert!(local.get("k").is_none(), "nothing from before the outage");
        assert!(local.is_live());
    }

    #[test]
    fn an_unreadable_invalidation_forgets_everything() {
        let local = live();
        local.fill(local.ticket().expect("live"), "k", value("1"));
        local.hear(Feed::Message(b"not json"));
        assert!(local.get("k").is_none());
    }
}
